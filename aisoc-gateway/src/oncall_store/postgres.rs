//! On-call statuses in PostgreSQL (`DATABASE_URL`), shared by every replica.
//!
//! Table `aisoc_oncall_status`, with forced row-level security: every statement runs in a
//! transaction as role `aisoc_oncall_tenant` with `aisoc.tenant_id` set, so it sees and writes
//! one tenant's rows only.

use aisoc_notify_core::async_trait;
use aisoc_notify_webpush::manager::{OnCallStatus, OnCallStatusProvider};
use aisoc_notify_webpush::oncall::{OnCallEntry, OnCallStore, OnCallStoreError, on_call};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::Row;

use crate::itsm_store::postgres_support::{migrate, tenant_transaction};

const ROLE: &str = "aisoc_oncall_tenant";

fn unavailable(error: sqlx::Error) -> OnCallStoreError {
    // sqlx errors name tables and constraints, never the connection string.
    OnCallStoreError(error.to_string())
}

fn as_text(status: OnCallStatus) -> &'static str {
    match status {
        OnCallStatus::Available => "available",
        OnCallStatus::Busy => "busy",
        OnCallStatus::Offline => "offline",
        OnCallStatus::Snoozed => "snoozed",
    }
}

fn from_text(text: &str) -> Result<OnCallStatus, OnCallStoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        OnCallStoreError(format!(
            "aisoc_oncall_status holds an unknown status '{text}'"
        ))
    })
}

/// On-call statuses in table `aisoc_oncall_status`.
#[derive(Debug, Clone)]
pub struct PgOnCallStore {
    pool: PgPool,
}

impl PgOnCallStore {
    /// Creates the table when missing.
    pub async fn open(pool: PgPool) -> Result<Self, String> {
        migrate(&pool).await?;
        Ok(Self { pool })
    }

    async fn entry(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<OnCallEntry>, OnCallStoreError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let row = sqlx::query(
            "SELECT status, updated_at FROM aisoc_oncall_status \
             WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        row.map(|row| {
            let status: String = row.try_get("status").map_err(unavailable)?;
            Ok(OnCallEntry {
                user_id: user_id.to_owned(),
                status: from_text(&status)?,
                updated_at: row.try_get("updated_at").map_err(unavailable)?,
            })
        })
        .transpose()
    }
}

#[async_trait]
impl OnCallStatusProvider for PgOnCallStore {
    async fn status(&self, tenant_id: &str, user_id: &str) -> OnCallStatus {
        match self.entry(tenant_id, user_id).await {
            Ok(entry) => entry.map(|e| e.status).unwrap_or_default(),
            Err(error) => {
                // An outage must not silence a page: the user counts as available.
                tracing::warn!(%error, "on-call status unreadable; pushing as if available");
                OnCallStatus::Available
            }
        }
    }

    async fn on_call_users(&self, tenant_id: &str) -> Result<Vec<String>, OnCallStoreError> {
        Ok(on_call(&self.list(tenant_id).await?))
    }
}

#[async_trait]
impl OnCallStore for PgOnCallStore {
    async fn set(
        &self,
        tenant_id: &str,
        user_id: &str,
        status: OnCallStatus,
    ) -> Result<OnCallEntry, OnCallStoreError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let updated_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO aisoc_oncall_status (tenant_id, user_id, status, updated_at) \
             VALUES ($1, $2, $3, now()) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET status = EXCLUDED.status, \
             updated_at = now() RETURNING updated_at",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(as_text(status))
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(OnCallEntry {
            user_id: user_id.to_owned(),
            status,
            updated_at,
        })
    }

    async fn get(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<OnCallEntry>, OnCallStoreError> {
        self.entry(tenant_id, user_id).await
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<OnCallEntry>, OnCallStoreError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let rows = sqlx::query(
            "SELECT user_id, status, updated_at FROM aisoc_oncall_status \
             WHERE tenant_id = $1 ORDER BY user_id",
        )
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status").map_err(unavailable)?;
                Ok(OnCallEntry {
                    user_id: row.try_get("user_id").map_err(unavailable)?,
                    status: from_text(&status)?,
                    updated_at: row.try_get("updated_at").map_err(unavailable)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm_store::postgres_support::TestDb;

    #[tokio::test]
    async fn statuses_are_kept_per_tenant_behind_row_level_security() {
        let db = TestDb::new().await;
        let pool = db.pool().await;
        let store = PgOnCallStore::open(pool.clone()).await.unwrap();
        store
            .set("acme", "alice", OnCallStatus::Offline)
            .await
            .unwrap();
        store
            .set("acme", "alice", OnCallStatus::Snoozed)
            .await
            .unwrap();
        store.set("acme", "bob", OnCallStatus::Busy).await.unwrap();
        store
            .set("globex", "alice", OnCallStatus::Available)
            .await
            .unwrap();
        assert_eq!(store.status("acme", "alice").await, OnCallStatus::Snoozed);
        assert_eq!(
            store.status("globex", "alice").await,
            OnCallStatus::Available
        );
        assert_eq!(
            store.status("globex", "carol").await,
            OnCallStatus::Available
        );
        let acme: Vec<String> = store
            .list("acme")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.user_id)
            .collect();
        assert_eq!(acme, ["alice", "bob"]);
        assert_eq!(store.on_call_users("acme").await.unwrap(), ["bob"]);
        assert_eq!(store.on_call_users("globex").await.unwrap(), ["alice"]);

        // Within globex's transaction, acme's rows are neither visible nor writable.
        let mut tx = tenant_transaction(&pool, ROLE, "globex").await.unwrap();
        let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM aisoc_oncall_status")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(visible, 1);
        let foreign = sqlx::query(
            "UPDATE aisoc_oncall_status SET status = 'offline' WHERE tenant_id = 'acme'",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        assert_eq!(foreign.rows_affected(), 0);
        drop(tx);
        assert_eq!(store.status("acme", "bob").await, OnCallStatus::Busy);

        // A restart (another store on the database) reads the same statuses.
        let again = PgOnCallStore::open(db.pool().await).await.unwrap();
        assert_eq!(again.status("acme", "alice").await, OnCallStatus::Snoozed);
        drop((store, again, pool));
        db.drop_db().await;
    }
}
