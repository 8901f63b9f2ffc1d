//! Inbox tokens: minting, fingerprints, storage and cached resolution.
//!
//! A token is `aisoc_inbox_` + 32 random bytes in lowercase base32: about 256 bits, shown once
//! at mint time. Only its SHA-256 fingerprint is stored, with the tenant, the one template it
//! may write through, an optional signing secret and its created/revoked times. A token grants
//! nothing but "write events through this template into this tenant".
//!
//! Resolution goes through a concurrent 60-second cache; [`TokenResolver::invalidate`] drops a
//! rotated or revoked token at once on this node, and every other node forgets it within the
//! TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The prefix every inbox token starts with.
pub const TOKEN_PREFIX: &str = "aisoc_inbox_";
/// How long a resolved token is cached.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// A stored token (never the token itself).
#[derive(Clone)]
pub struct TokenRecord {
    /// The token's id, for rotation and revocation.
    pub id: String,
    /// The tenant it writes into.
    pub tenant_id: String,
    /// The one template it writes through.
    pub template_id: String,
    /// SHA-256 of the token, hex.
    pub fingerprint: String,
    /// When set, requests must be signed with it.
    pub signing_secret: Option<SecretString>,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("template_id", &self.template_id)
            .field("signed", &self.signing_secret.is_some())
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A freshly minted token: the only time the full token exists.
#[derive(Debug)]
pub struct MintedToken {
    /// The token to give the operator once.
    pub token: SecretString,
    /// What was stored.
    pub record: TokenRecord,
}

/// A token store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenStoreError {
    /// No such token for this tenant.
    #[error("token not found")]
    NotFound,
    /// The input is not acceptable.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The backend failed.
    #[error("token store failed: {0}")]
    Backend(String),
}

/// SHA-256 fingerprint (hex) of a token.
pub fn fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token: the prefix and 32 random bytes in lowercase base32 without padding.
pub fn generate_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let encoded = data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase();
    SecretString::from(format!("{TOKEN_PREFIX}{encoded}"))
}

/// Stores token records.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new record.
    async fn insert(&self, record: &TokenRecord) -> Result<(), TokenStoreError>;

    /// The live (not revoked) record with this fingerprint.
    async fn find_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<TokenRecord>, TokenStoreError>;

    /// Marks a tenant's token revoked; revoking twice is fine.
    async fn revoke(
        &self,
        tenant_id: &str,
        token_id: &str,
        at: DateTime<Utc>,
    ) -> Result<TokenRecord, TokenStoreError>;

    /// A tenant's tokens, newest first (revoked ones included).
    async fn list(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, TokenStoreError>;
}

fn new_token_id() -> String {
    let mut bytes = [0u8; 10];
    rand::fill(&mut bytes);
    format!(
        "tok_{}",
        data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase()
    )
}

/// Mints a token for a tenant and template and stores its record.
pub async fn mint(
    store: &dyn TokenStore,
    tenant_id: &str,
    template_id: &str,
    signing_secret: Option<String>,
) -> Result<MintedToken, TokenStoreError> {
    if tenant_id.trim().is_empty() {
        return Err(TokenStoreError::Invalid(
            "tenant_id must not be empty".into(),
        ));
    }
    if template_id.trim().is_empty() {
        return Err(TokenStoreError::Invalid(
            "template must not be empty".into(),
        ));
    }
    if signing_secret.as_deref().is_some_and(|s| s.len() < 16) {
        return Err(TokenStoreError::Invalid(
            "signing_secret must be at least 16 characters".into(),
        ));
    }
    let token = generate_token();
    let record = TokenRecord {
        id: new_token_id(),
        tenant_id: tenant_id.to_owned(),
        template_id: template_id.to_owned(),
        fingerprint: fingerprint(token.expose_secret()),
        signing_secret: signing_secret.map(SecretString::from),
        created_at: Utc::now(),
        revoked_at: None,
    };
    store.insert(&record).await?;
    Ok(MintedToken { token, record })
}

/// Tokens in memory.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    records: Mutex<HashMap<String, TokenRecord>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TokenRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn insert(&self, record: &TokenRecord) -> Result<(), TokenStoreError> {
        let mut records = self.lock();
        if records
            .values()
            .any(|r| r.fingerprint == record.fingerprint)
        {
            return Err(TokenStoreError::Invalid("duplicate token".into()));
        }
        records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn find_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<TokenRecord>, TokenStoreError> {
        Ok(self
            .lock()
            .values()
            .find(|r| r.fingerprint == fingerprint && r.revoked_at.is_none())
            .cloned())
    }

    async fn revoke(
        &self,
        tenant_id: &str,
        token_id: &str,
        at: DateTime<Utc>,
    ) -> Result<TokenRecord, TokenStoreError> {
        let mut records = self.lock();
        let record = records
            .get_mut(token_id)
            .filter(|r| r.tenant_id == tenant_id)
            .ok_or(TokenStoreError::NotFound)?;
        record.revoked_at.get_or_insert(at);
        Ok(record.clone())
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, TokenStoreError> {
        let mut list: Vec<TokenRecord> = self
            .lock()
            .values()
            .filter(|r| r.tenant_id == tenant_id)
            .cloned()
            .collect();
        list.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(list)
    }
}

/// Resolves tokens through a 60-second cache.
#[derive(Clone)]
pub struct TokenResolver {
    store: Arc<dyn TokenStore>,
    cache: moka::future::Cache<String, TokenRecord>,
}

impl std::fmt::Debug for TokenResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResolver")
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl TokenResolver {
    /// A resolver with the default 60-second TTL.
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Self::with_ttl(store, CACHE_TTL)
    }

    /// A resolver with another TTL.
    pub fn with_ttl(store: Arc<dyn TokenStore>, ttl: Duration) -> Self {
        Self {
            store,
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The store behind the cache.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The live record for a token. Unknown tokens are not cached, so a newly minted token works
    /// at once.
    pub async fn resolve(&self, token: &str) -> Result<Option<TokenRecord>, TokenStoreError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let fingerprint = fingerprint(token);
        if let Some(record) = self.cache.get(&fingerprint).await {
            return Ok(Some(record));
        }
        let found = self.store.find_by_fingerprint(&fingerprint).await?;
        if let Some(record) = &found {
            self.cache.insert(fingerprint, record.clone()).await;
            self.report_size().await;
        }
        Ok(found)
    }

    async fn report_size(&self) {
        // Misses and invalidations are rare next to hits; settling the count there is cheap.
        self.cache.run_pending_tasks().await;
        metrics::gauge!("aisoc_ingest_inbox_token_cache_size").set(self.cache.entry_count() as f64);
    }

    /// Drops a token from this node's cache (after rotation or revocation).
    pub async fn invalidate(&self, token: &str) {
        self.invalidate_fingerprint(&fingerprint(token)).await;
    }

    /// Drops a record from this node's cache by its fingerprint.
    pub async fn invalidate_fingerprint(&self, fingerprint: &str) {
        self.cache.invalidate(fingerprint).await;
        self.report_size().await;
    }

    /// Entries currently cached.
    pub async fn cache_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// Revokes a token and drops it from this node's cache at once.
    pub async fn revoke(
        &self,
        tenant_id: &str,
        token_id: &str,
    ) -> Result<TokenRecord, TokenStoreError> {
        let record = self.store.revoke(tenant_id, token_id, Utc::now()).await?;
        self.invalidate_fingerprint(&record.fingerprint).await;
        Ok(record)
    }

    /// Mints a replacement with the same template and secret, then revokes the old token.
    pub async fn rotate(
        &self,
        tenant_id: &str,
        token_id: &str,
    ) -> Result<MintedToken, TokenStoreError> {
        let old = self
            .store
            .list(tenant_id)
            .await?
            .into_iter()
            .find(|r| r.id == token_id && r.revoked_at.is_none())
            .ok_or(TokenStoreError::NotFound)?;
        let secret = old
            .signing_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned());
        let minted = mint(self.store.as_ref(), tenant_id, &old.template_id, secret).await?;
        self.revoke(tenant_id, token_id).await?;
        Ok(minted)
    }
}
