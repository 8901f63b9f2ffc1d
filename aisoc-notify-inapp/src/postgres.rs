//! In-app notifications in PostgreSQL (feature `postgres`).
//!
//! ## Tenant isolation
//!
//! `aisoc_inapp_notifications` has row-level security keyed on the transaction's
//! `aisoc.tenant_id` setting, FORCEd so that the table's owner is held to it too (issue #15; the
//! approvals tables work the same way). Every tenant operation runs in a tenant transaction:
//! `SET LOCAL ROLE aisoc_inapp_tenant` and `set_config('aisoc.tenant_id', …, true)`, and its
//! queries name the tenant (and user) as well. The retention purge is the one path that crosses
//! tenants on purpose: it runs as `aisoc_inapp_retention`, which may only read and delete. The
//! migration creates both roles and grants them to the connecting role (which needs
//! `CREATEROLE` once, or an operator creates the roles beforehand).

use aisoc_notify_core::{Notification, async_trait};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::{InAppError, InAppNotification, InAppStore, ListQuery};

fn backend(err: sqlx::Error) -> InAppError {
    InAppError::Backend(err.to_string())
}

fn from_row(row: &PgRow) -> Result<InAppNotification, InAppError> {
    let notification: serde_json::Value = row.try_get("notification").map_err(backend)?;
    Ok(InAppNotification {
        id: row.try_get("id").map_err(backend)?,
        tenant_id: row.try_get("tenant_id").map_err(backend)?,
        user_id: row.try_get("user_id").map_err(backend)?,
        notification: serde_json::from_value(notification)
            .map_err(|e| InAppError::Backend(e.to_string()))?,
        created_at: row.try_get("created_at").map_err(backend)?,
        read_at: row.try_get("read_at").map_err(backend)?,
    })
}

/// Opens a transaction scoped to one tenant: `SET LOCAL ROLE aisoc_inapp_tenant` and
/// `aisoc.tenant_id`, so row-level security holds every statement in it to `tenant_id`.
async fn tenant_transaction<'a>(
    pool: &'a PgPool,
    tenant_id: &str,
) -> Result<Transaction<'a, Postgres>, InAppError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SET LOCAL ROLE aisoc_inapp_tenant")
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query("SELECT set_config('aisoc.tenant_id', $1, true)")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(tx)
}

/// Opens a transaction as `aisoc_inapp_retention`, the deliberate cross-tenant bypass (see the
/// module docs): only the retention purge uses it.
async fn retention_transaction(pool: &PgPool) -> Result<Transaction<'_, Postgres>, InAppError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SET LOCAL ROLE aisoc_inapp_retention")
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(tx)
}

/// In-app notifications in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgInAppStore {
    pool: PgPool,
}

impl PgInAppStore {
    /// Runs the migrations and returns the store.
    pub async fn new(pool: PgPool) -> Result<Self, InAppError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|e| InAppError::Backend(e.to_string()))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl InAppStore for PgInAppStore {
    async fn add(
        &self,
        tenant_id: &str,
        user_id: &str,
        notification: &Notification,
    ) -> Result<InAppNotification, InAppError> {
        let json =
            serde_json::to_value(notification).map_err(|e| InAppError::Backend(e.to_string()))?;
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let row = sqlx::query(
            "INSERT INTO aisoc_inapp_notifications (tenant_id, user_id, event_type, severity, title, notification, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(notification.event_type.as_str())
        .bind(notification.severity.as_str())
        .bind(&notification.title)
        .bind(json)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        from_row(&row)
    }

    async fn list(
        &self,
        tenant_id: &str,
        user_id: &str,
        query: ListQuery,
    ) -> Result<Vec<InAppNotification>, InAppError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let rows = sqlx::query(
            "SELECT * FROM aisoc_inapp_notifications
             WHERE tenant_id = $1 AND user_id = $2
               AND (NOT $3 OR read_at IS NULL)
               AND ($4::bigint IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(query.unread_only)
        .bind(query.before_id)
        .bind(i64::from(query.limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        rows.iter().map(from_row).collect()
    }

    async fn unread_count(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM aisoc_inapp_notifications WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(count.max(0) as u64)
    }

    async fn mark_read(&self, tenant_id: &str, user_id: &str, id: i64) -> Result<bool, InAppError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let done = sqlx::query(
            "UPDATE aisoc_inapp_notifications SET read_at = now()
             WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND read_at IS NULL",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_all_read(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let done = sqlx::query(
            "UPDATE aisoc_inapp_notifications SET read_at = now() WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<u64, InAppError> {
        let mut tx = retention_transaction(&self.pool).await?;
        let done = sqlx::query("DELETE FROM aisoc_inapp_notifications WHERE created_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected())
    }
}
