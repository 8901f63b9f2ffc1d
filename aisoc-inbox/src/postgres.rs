//! The PostgreSQL token store (feature `postgres`): table `tenant_inbox_tokens` with
//! row-level security by `tenant_id`.
//!
//! Tenant operations (mint, list, revoke) run in a transaction that switches to the
//! `aisoc_inbox_tenant` role and sets `aisoc.tenant_id`, so the database itself keeps one
//! tenant from touching another's tokens. Resolving a token, which happens before the tenant is
//! known, uses the `aisoc_resolve_inbox_token(fingerprint)` function and nothing else.
//! The migration creates the role; the connecting user needs `CREATEROLE` once, or an operator
//! creates the role beforehand.
//!
//! ## Signing secrets are sealed
//!
//! A token's signing secret is stored sealed with AES-256-GCM under the data key in
//! `AISOC_DATA_KEY` ([`aisoc_notify_core::sealed`]), bound to the token's id
//! (`inbox-token:<id>`), so a database dump, a backup or the resolver function hands out only
//! ciphertext, and a sealed secret copied onto another token does not open. The store opens it
//! in the process. Without data keys ([`PgTokenStore::with_data_keys`]) a token with a signing
//! secret is refused with [`TokenStoreError::KeyRequired`], which names the setting; tokens
//! without one still work. A trigger refuses any plaintext secret written from another
//! version.
//!
//! Secrets written in clear before sealing existed (or sealed under a key since rotated out of
//! first place) are sealed again under the current key **on first read**: when the token is
//! resolved, listed or revoked. Not at start-up, because row-level security (forced for the
//! table owner too) keeps a process from scanning every tenant's rows; a read always has the
//! tenant at hand. Until a key is configured such a legacy secret keeps working as it is.

use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::sealed::{self, DataKeys, SealError};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool, PgRow};
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

/// What a token's signing secret is sealed for: its token, so it cannot be moved to another.
fn seal_context(token_id: &str) -> String {
    format!("inbox-token:{token_id}")
}

/// A row as read: the record with its secret opened, and the stored text when it should be
/// sealed again under the current key.
struct ReadRow {
    record: TokenRecord,
    reseal: Option<String>,
}

/// The `signature_schemes` column (`NULL` for tokens minted before it: every scheme).
fn read_schemes(
    row: &PgRow,
) -> Result<Option<Vec<aisoc_notify_core::signature::SignatureScheme>>, TokenStoreError> {
    let names: Option<Vec<String>> = row.try_get("signature_schemes").map_err(backend)?;
    names
        .map(|names| {
            names
                .iter()
                .map(|name| {
                    name.parse().map_err(|_| {
                        TokenStoreError::Backend(format!(
                            "unknown stored signature scheme '{name}'"
                        ))
                    })
                })
                .collect()
        })
        .transpose()
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

/// Inbox tokens in PostgreSQL, signing secrets sealed.
#[derive(Debug, Clone)]
pub struct PgTokenStore {
    pool: PgPool,
    keys: Option<Arc<DataKeys>>,
}

impl PgTokenStore {
    /// Runs the migrations and returns the store, without data keys: tokens with a signing
    /// secret are refused until [`with_data_keys`](Self::with_data_keys) gives it some.
    pub async fn new(pool: PgPool) -> Result<Self, TokenStoreError> {
        migrate(&pool).await?;
        Ok(Self { pool, keys: None })
    }

    /// Seals signing secrets under `keys`' current key and opens them under any of them.
    pub fn with_data_keys(mut self, keys: Arc<DataKeys>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The record's signing secret sealed for the table, or why it cannot be.
    fn seal_secret(&self, record: &TokenRecord) -> Result<Option<String>, TokenStoreError> {
        let Some(secret) = &record.signing_secret else {
            return Ok(None);
        };
        let keys = self.keys.as_deref().ok_or(TokenStoreError::KeyRequired)?;
        keys.seal(secret.expose_secret().as_bytes(), &seal_context(&record.id))
            .map(Some)
            .map_err(|source| TokenStoreError::Sealed {
                id: record.id.clone(),
                source,
            })
    }

    /// Token `id`'s stored signing secret opened: sealed text under a configured key, or a
    /// legacy plaintext one as it is.
    fn open_secret(&self, id: &str, stored: &str) -> Result<SecretString, TokenStoreError> {
        let failed = |source| TokenStoreError::Sealed {
            id: id.to_owned(),
            source,
        };
        if !sealed::is_sealed(stored) {
            return Ok(SecretString::from(stored.to_owned()));
        }
        let Some(keys) = self.keys.as_deref() else {
            let key_id = sealed::key_id_of(stored).map_err(failed)?;
            return Err(failed(SealError::UnknownKey {
                key_id: key_id.to_owned(),
            }));
        };
        let opened = keys.open(stored, &seal_context(id)).map_err(failed)?;
        String::from_utf8(opened)
            .map(SecretString::from)
            .map_err(|_| failed(SealError::Malformed("the opened secret is not UTF-8")))
    }

    fn read_row_without_secret(&self, row: &PgRow) -> Result<TokenRecord, TokenStoreError> {
        Ok(TokenRecord {
            id: row.try_get("id").map_err(backend)?,
            tenant_id: row.try_get("tenant_id").map_err(backend)?,
            template_id: row.try_get("template_id").map_err(backend)?,
            fingerprint: row.try_get("fingerprint").map_err(backend)?,
            signing_secret: None,
            signature_schemes: read_schemes(row)?,
            created_at: row.try_get("created_at").map_err(backend)?,
            revoked_at: row.try_get("revoked_at").map_err(backend)?,
        })
    }

    fn read_row(&self, row: &PgRow) -> Result<ReadRow, TokenStoreError> {
        let id: String = row.try_get("id").map_err(backend)?;
        let stored: Option<String> = row.try_get("signing_secret").map_err(backend)?;
        let signing_secret = stored
            .as_deref()
            .map(|text| self.open_secret(&id, text))
            .transpose()?;
        let reseal = stored.filter(|text| {
            self.keys
                .as_deref()
                .is_some_and(|keys| keys.needs_reseal(text))
        });
        Ok(ReadRow {
            record: TokenRecord {
                signing_secret,
                ..self.read_row_without_secret(row)?
            },
            reseal,
        })
    }

    /// Seals `read`'s secret again under the current key, in `conn` (a tenant transaction),
    /// unless someone changed it meanwhile. Returns the record.
    async fn reseal(
        &self,
        conn: &mut PgConnection,
        read: ReadRow,
    ) -> Result<TokenRecord, TokenStoreError> {
        let Some(old) = read.reseal else {
            return Ok(read.record);
        };
        let new = self.seal_secret(&read.record)?;
        sqlx::query(
            "UPDATE tenant_inbox_tokens SET signing_secret = $2 \
             WHERE id = $1 AND signing_secret = $3",
        )
        .bind(&read.record.id)
        .bind(new)
        .bind(old)
        .execute(conn)
        .await
        .map_err(backend)?;
        tracing::info!(
            token = %read.record.id,
            key = self.keys.as_deref().map(DataKeys::current_key_id),
            "inbox token signing secret sealed under the current data key"
        );
        Ok(read.record)
    }

    /// After a resolve, outside any transaction: reseals in the token's own tenant
    /// transaction. A failure here leaves the stored value as it was and only logs, since the
    /// read itself succeeded.
    async fn reseal_resolved(&self, read: ReadRow) -> TokenRecord {
        if read.reseal.is_none() {
            return read.record;
        }
        let record = read.record.clone();
        let id = record.id.clone();
        let attempt = async {
            let mut tx = tenant_transaction(&self.pool, &record.tenant_id).await?;
            self.reseal(&mut tx, read).await?;
            tx.commit().await.map_err(backend)
        };
        if let Err(error) = attempt.await {
            tracing::warn!(token = %id, %error, "could not seal an inbox token's signing secret again; it stays as stored");
        }
        record
    }
}

#[async_trait]
impl TokenStore for PgTokenStore {
    async fn insert(&self, record: &TokenRecord) -> Result<(), TokenStoreError> {
        let mut tx = tenant_transaction(&self.pool, &record.tenant_id).await?;
        sqlx::query(
            "INSERT INTO tenant_inbox_tokens (id, tenant_id, template_id, fingerprint, signing_secret, created_at, revoked_at, signature_schemes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&record.id)
        .bind(&record.tenant_id)
        .bind(&record.template_id)
        .bind(&record.fingerprint)
        .bind(self.seal_secret(record)?)
        .bind(record.created_at)
        .bind(record.revoked_at)
        .bind(record.signature_schemes.as_ref().map(|schemes| {
            schemes
                .iter()
                .map(|s| crate::token::scheme_name(*s))
                .collect::<Vec<_>>()
        }))
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
        match row.as_ref().map(|row| self.read_row(row)).transpose()? {
            Some(read) => Ok(Some(self.reseal_resolved(read).await)),
            None => Ok(None),
        }
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
        let row = row.ok_or(TokenStoreError::NotFound)?;
        // Revoking must not depend on the secret: one that cannot be opened (its key was
        // dropped) is left as stored and not returned, since a revoked token verifies nothing.
        let record = match self.read_row(&row) {
            Ok(read) => self.reseal(&mut tx, read).await?,
            Err(TokenStoreError::Sealed { id, source }) => {
                tracing::warn!(token = %id, %source, "revoked an inbox token whose signing secret cannot be opened");
                self.read_row_without_secret(&row)?
            }
            Err(other) => return Err(other),
        };
        tx.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, TokenStoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let rows = sqlx::query("SELECT * FROM tenant_inbox_tokens ORDER BY created_at DESC, id")
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let read = self.read_row(row)?;
            records.push(self.reseal(&mut tx, read).await?);
        }
        tx.commit().await.map_err(backend)?;
        Ok(records)
    }
}
