//! The PostgreSQL token store (feature `postgres`): table `tenant_inbox_tokens` with
//! row-level security by `tenant_id`.
//!
//! Tenant operations (mint, list, revoke) run in a transaction that switches to the
//! `aisoc_inbox_tenant` role and sets `aisoc.tenant_id`, so the database itself keeps one
//! tenant from touching another's tokens. Resolving a token, which happens before the tenant is
//! known, uses the `aisoc_resolve_inbox_token(fingerprint)` function and nothing else.
//! The migration creates the role; the connecting user needs `CREATEROLE` once, or an operator
//! creates the role beforehand.

use aisoc_notify_core::async_trait;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::token::{TokenRecord, TokenStore, TokenStoreError};

fn backend(err: sqlx::Error) -> TokenStoreError {
    TokenStoreError::Backend(err.to_string())
}

/// Creates or updates the inbox tables.
pub async fn migrate(pool: &PgPool) -> Result<(), TokenStoreError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
        .run(pool)
        .await
        .map_err(|e| TokenStoreError::Backend(e.to_string()))
}

fn record_from_row(row: &PgRow) -> Result<TokenRecord, TokenStoreError> {
    let secret: Option<String> = row.try_get("signing_secret").map_err(backend)?;
    Ok(TokenRecord {
        id: row.try_get("id").map_err(backend)?,
        tenant_id: row.try_get("tenant_id").map_err(backend)?,
        template_id: row.try_get("template_id").map_err(backend)?,
        fingerprint: row.try_get("fingerprint").map_err(backend)?,
        signing_secret: secret.map(SecretString::from),
        created_at: row.try_get("created_at").map_err(backend)?,
        revoked_at: row.try_get("revoked_at").map_err(backend)?,
    })
}

/// Opens a transaction scoped to one tenant: `SET LOCAL ROLE` and `aisoc.tenant_id`.
pub async fn tenant_transaction<'a>(
    pool: &'a PgPool,
    tenant_id: &str,
) -> Result<Transaction<'a, Postgres>, TokenStoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SET LOCAL ROLE aisoc_inbox_tenant")
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

/// Inbox tokens in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgTokenStore {
    pool: PgPool,
}

impl PgTokenStore {
    /// Runs the migrations and returns the store.
    pub async fn new(pool: PgPool) -> Result<Self, TokenStoreError> {
        migrate(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl TokenStore for PgTokenStore {
    async fn insert(&self, record: &TokenRecord) -> Result<(), TokenStoreError> {
        let mut tx = tenant_transaction(&self.pool, &record.tenant_id).await?;
        sqlx::query(
            "INSERT INTO tenant_inbox_tokens (id, tenant_id, template_id, fingerprint, signing_secret, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&record.id)
        .bind(&record.tenant_id)
        .bind(&record.template_id)
        .bind(&record.fingerprint)
        .bind(record.signing_secret.as_ref().map(|s| s.expose_secret().to_owned()))
        .bind(record.created_at)
        .bind(record.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn find_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<TokenRecord>, TokenStoreError> {
        let row = sqlx::query("SELECT * FROM aisoc_resolve_inbox_token($1)")
            .bind(fingerprint)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn revoke(
        &self,
        tenant_id: &str,
        token_id: &str,
        at: DateTime<Utc>,
    ) -> Result<TokenRecord, TokenStoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let row = sqlx::query(
            "UPDATE tenant_inbox_tokens SET revoked_at = COALESCE(revoked_at, $2)
             WHERE id = $1 RETURNING *",
        )
        .bind(token_id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let record = row
            .as_ref()
            .map(record_from_row)
            .transpose()?
            .ok_or(TokenStoreError::NotFound)?;
        tx.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, TokenStoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let rows = sqlx::query("SELECT * FROM tenant_inbox_tokens ORDER BY created_at DESC, id")
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        rows.iter().map(record_from_row).collect()
    }
}
