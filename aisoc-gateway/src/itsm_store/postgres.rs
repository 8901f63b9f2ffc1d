//! The credentials in PostgreSQL (`DATABASE_URL`), shared by every replica on the database.
//!
//! - **Sealed only.** Settings are stored sealed with `AISOC_DATA_KEY` (the table's `CHECK`
//!   refuses anything else). Without a key the gateway starts and saving is refused with a
//!   message naming the setting; deleting needs no key.
//! - **One tenant per transaction.** Every statement runs in a transaction that switches to
//!   role `aisoc_itsm_tenant` and sets `aisoc.tenant_id`; the table's forced row-level security
//!   shows and accepts only that tenant's rows.

use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::sealed::DataKeys;
use aisoc_notify_itsm::credentials::{ItsmCredentials, ItsmSystem};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgPool;
use sqlx::types::Json;

use super::postgres_support::{migrate, tenant_transaction};
use super::{ConfiguredSystem, ItsmStore, ItsmStoreError, configured, open, seal};

fn unavailable(error: sqlx::Error) -> ItsmStoreError {
    // sqlx errors name tables and constraints, never the connection string.
    ItsmStoreError::Unavailable(error.to_string())
}

const ROLE: &str = "aisoc_itsm_tenant";

/// The credentials in table `aisoc_itsm_credentials`.
pub struct PgItsmStore {
    pool: PgPool,
    keys: Option<Arc<DataKeys>>,
}

impl std::fmt::Debug for PgItsmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgItsmStore")
            .field("sealed", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

impl PgItsmStore {
    /// Creates the table when missing.
    pub async fn open(pool: PgPool, keys: Option<Arc<DataKeys>>) -> Result<Self, ItsmStoreError> {
        migrate(&pool).await.map_err(ItsmStoreError::Unavailable)?;
        Ok(Self { pool, keys })
    }
}

#[async_trait]
impl ItsmStore for PgItsmStore {
    async fn put(
        &self,
        tenant_id: &str,
        credentials: &ItsmCredentials,
    ) -> Result<ConfiguredSystem, ItsmStoreError> {
        let keys = self.keys.as_deref().ok_or(ItsmStoreError::KeyRequired)?;
        let sealed = seal(keys, tenant_id, credentials)?;
        let shown = configured(credentials, Utc::now());
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let updated_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO aisoc_itsm_credentials \
             (tenant_id, system, config_sealed, set_fields, updated_at) \
             VALUES ($1, $2, $3, $4, now()) \
             ON CONFLICT (tenant_id, system) DO UPDATE SET config_sealed = EXCLUDED.config_sealed, \
             set_fields = EXCLUDED.set_fields, updated_at = now() \
             RETURNING updated_at",
        )
        .bind(tenant_id)
        .bind(credentials.system().as_str())
        .bind(&sealed)
        .bind(Json(&shown.set_fields))
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(ConfiguredSystem {
            updated_at,
            ..shown
        })
    }

    async fn get(
        &self,
        tenant_id: &str,
        system: ItsmSystem,
    ) -> Result<Option<ItsmCredentials>, ItsmStoreError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let sealed: Option<String> = sqlx::query_scalar(
            "SELECT config_sealed FROM aisoc_itsm_credentials WHERE tenant_id = $1 AND system = $2",
        )
        .bind(tenant_id)
        .bind(system.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        sealed
            .map(|sealed| open(self.keys.as_deref(), tenant_id, system, &sealed))
            .transpose()
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<ConfiguredSystem>, ItsmStoreError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let rows = sqlx::query(
            "SELECT system, set_fields, updated_at FROM aisoc_itsm_credentials \
             WHERE tenant_id = $1 ORDER BY system",
        )
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let Json(set_fields): Json<Vec<String>> =
                    row.try_get("set_fields").map_err(unavailable)?;
                Ok(ConfiguredSystem {
                    system: row.try_get("system").map_err(unavailable)?,
                    set_fields,
                    updated_at: row.try_get("updated_at").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn delete(&self, tenant_id: &str, system: ItsmSystem) -> Result<bool, ItsmStoreError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let deleted =
            sqlx::query("DELETE FROM aisoc_itsm_credentials WHERE tenant_id = $1 AND system = $2")
                .bind(tenant_id)
                .bind(system.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(deleted.rows_affected() > 0)
    }

    fn describe(&self) -> String {
        match &self.keys {
            Some(_) => "PostgreSQL (sealed with AISOC_DATA_KEY)".into(),
            None => "PostgreSQL (no AISOC_DATA_KEY: credentials cannot be saved)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::super::postgres_support::TestDb;
    use super::*;

    const KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[tokio::test]
    async fn the_postgres_store_keeps_the_contract_sealed_and_isolated_by_tenant() {
        let db = TestDb::new().await;
        let pool = db.pool().await;
        let keys = Some(Arc::new(DataKeys::parse(KEY).unwrap()));
        let store = PgItsmStore::open(pool.clone(), keys).await.unwrap();
        conformance::settings_are_kept_per_tenant(&store).await;

        // No row holds a token in clear.
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT row_to_json(c)::text FROM aisoc_itsm_credentials c")
                .fetch_all(&pool)
                .await
                .unwrap();
        // (The test connects as a superuser, who bypasses row-level security: every row.)
        assert_eq!(rows.len(), 2, "{rows:?}");
        for row in &rows {
            assert!(!row.contains("-token"), "{row}");
            assert!(row.contains("sealed:v1:k1:"), "{row}");
        }
        let mut tx = tenant_transaction(&pool, ROLE, "globex").await.unwrap();
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT row_to_json(c)::text FROM aisoc_itsm_credentials c")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        assert_eq!(rows.len(), 1, "globex sees its own row only");
        assert!(!rows[0].contains("globex-token"), "{rows:?}");
        assert!(rows[0].contains("sealed:v1:k1:"), "{rows:?}");
        // Writing another tenant's row is refused by the policy.
        let foreign = sqlx::query(
            "INSERT INTO aisoc_itsm_credentials (tenant_id, system, config_sealed) \
             VALUES ('acme', 'opsgenie', 'sealed:v1:x')",
        )
        .execute(&mut *tx)
        .await;
        assert!(foreign.is_err());
        drop(tx);

        let keyless = PgItsmStore::open(pool, None).await.unwrap();
        let refused = keyless
            .put("acme", &conformance::jira("t"))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("AISOC_DATA_KEY"), "{refused}");
        assert!(keyless.delete("globex", ItsmSystem::Jira).await.unwrap());
        db.drop_db().await;
    }
}
