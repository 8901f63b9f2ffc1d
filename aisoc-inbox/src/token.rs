//! Inbox tokens: minting, fingerprints, storage and cached resolution.
//!
//! A token is `aisoc_inbox_` + 32 random bytes in lowercase base32: about 256 bits, shown once
//! at mint time. Only its SHA-256 fingerprint is stored, with the tenant, the one template it
//! may write through, an optional signing secret and its created/revoked times. A token grants
//! nothing but "write events through this template into this tenant".
//!
//! Signing secrets are secrets at rest: the PostgreSQL store keeps them sealed under
//! `AISOC_DATA_KEY` ([`crate::postgres`]); the in-memory store holds them only in the process.
//!
//! A token with a signing secret also names the signature schemes it accepts
//! ([`TokenRecord::signature_schemes`]); a request is checked against those only, so a sender
//! that signs with Standard Webhooks (timestamped, replay-safe) cannot be downgraded to a
//! timestamp-less hex scheme by someone who strips the `webhook-*` headers. By default a token
//! accepts the family its secret was minted for ([`default_schemes`]).
//!
//! Resolution goes through a concurrent 60-second cache; [`TokenResolver::invalidate`] drops a
//! rotated or revoked token at once on this node, and every other node forgets it within the
//! TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::sealed::{DATA_KEY_VARIABLE, SealError};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::signature::{SignatureScheme, StandardWebhooksKey};
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
    /// The signature schemes a request may use; `None` for a token minted before tokens named
    /// them, which accepts every scheme (Standard Webhooks first).
    pub signature_schemes: Option<Vec<SignatureScheme>>,
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
            .field("signature_schemes", &self.signature_schemes)
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
    /// This store keeps signing secrets only sealed, and no data key is configured. Tokens
    /// without a signing secret still work.
    #[error(
        "inbox signing secrets are stored only encrypted: set {DATA_KEY_VARIABLE} to \
         k1:<base64 of 32 random bytes> (head -c 32 /dev/urandom | base64) and restart, or \
         mint the token without a signing secret"
    )]
    KeyRequired,
    /// A stored signing secret could not be sealed or opened (a missing key names its id).
    #[error("inbox token '{id}': signing secret: {source}")]
    Sealed {
        /// The token's id.
        id: String,
        /// Why.
        source: SealError,
    },
}

/// SHA-256 fingerprint (hex) of a token.
pub fn fingerprint(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
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

/// The hex (timestamp-less) schemes: they sign the body alone.
pub const HEX_SCHEMES: [SignatureScheme; 4] = [
    SignatureScheme::Aisoc,
    SignatureScheme::GitHub,
    SignatureScheme::Generic,
    SignatureScheme::PagerDuty,
];

/// The schemes a token accepts when minted without a list: Standard Webhooks alone for a
/// `whsec_` secret (that is what the prefix announces), else the hex schemes. Never both
/// families, so a request cannot fall back from a timestamped scheme to one without a
/// timestamp.
pub fn default_schemes(signing_secret: &str) -> Vec<SignatureScheme> {
    if signing_secret.starts_with("whsec_") {
        vec![SignatureScheme::StandardWebhooks]
    } else {
        HEX_SCHEMES.to_vec()
    }
}

/// The name a scheme is stored and configured by (`standard`, `aisoc`, `github`, `generic`,
/// `pagerduty`); [`SignatureScheme`]'s `FromStr` reads it back.
pub fn scheme_name(scheme: SignatureScheme) -> &'static str {
    match scheme {
        SignatureScheme::StandardWebhooks => "standard",
        SignatureScheme::Aisoc => "aisoc",
        SignatureScheme::GitHub => "github",
        SignatureScheme::Generic => "generic",
        SignatureScheme::PagerDuty => "pagerduty",
        _ => "unknown",
    }
}

/// The schemes to store for a new token, or why they are not acceptable.
fn scheme_policy(
    signing_secret: Option<&str>,
    schemes: Option<Vec<SignatureScheme>>,
) -> Result<Option<Vec<SignatureScheme>>, TokenStoreError> {
    let invalid = |message: &str| Err(TokenStoreError::Invalid(message.to_owned()));
    match (signing_secret, schemes) {
        (None, None) => Ok(None),
        (None, Some(_)) => invalid("signature_schemes needs a signing_secret"),
        (Some(secret), None) => Ok(Some(default_schemes(secret))),
        (Some(_), Some(schemes)) if schemes.is_empty() => {
            invalid("signature_schemes must name at least one scheme")
        }
        (Some(secret), Some(mut schemes)) => {
            if schemes.contains(&SignatureScheme::StandardWebhooks)
                && StandardWebhooksKey::from_secret(secret).is_err()
            {
                return invalid(
                    "signature_schemes includes standard, so signing_secret must be a Standard \
                     Webhooks secret (whsec_ followed by base64)",
                );
            }
            schemes.sort_by_key(|s| SignatureScheme::ALL.iter().position(|a| a == s));
            schemes.dedup();
            Ok(Some(schemes))
        }
    }
}

/// Mints a token for a tenant and template and stores its record; a signed token accepts
/// [`default_schemes`].
pub async fn mint(
    store: &dyn TokenStore,
    tenant_id: &str,
    template_id: &str,
    signing_secret: Option<String>,
) -> Result<MintedToken, TokenStoreError> {
    mint_with_schemes(store, tenant_id, template_id, signing_secret, None).await
}

/// Like [`mint`], naming the signature schemes the token accepts (`None`: the default for its
/// secret). A list without a secret, an empty list, or `standard` with a secret that is not a
/// Standard Webhooks key is [`TokenStoreError::Invalid`].
///
/// ```
/// use aisoc_inbox::token::{MemoryTokenStore, mint_with_schemes};
/// use aisoc_notify_core::signature::SignatureScheme;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryTokenStore::new();
/// let minted = mint_with_schemes(
///     &store, "acme", "generic-json",
///     Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
///     Some(vec![SignatureScheme::StandardWebhooks]),
/// ).await.unwrap();
/// assert_eq!(minted.record.signature_schemes, Some(vec![SignatureScheme::StandardWebhooks]));
/// # });
/// ```
pub async fn mint_with_schemes(
    store: &dyn TokenStore,
    tenant_id: &str,
    template_id: &str,
    signing_secret: Option<String>,
    schemes: Option<Vec<SignatureScheme>>,
) -> Result<MintedToken, TokenStoreError> {
    let schemes = scheme_policy(signing_secret.as_deref(), schemes)?;
    mint_record(store, tenant_id, template_id, signing_secret, schemes).await
}

/// Mints with exactly `schemes` stored.
async fn mint_record(
    store: &dyn TokenStore,
    tenant_id: &str,
    template_id: &str,
    signing_secret: Option<String>,
    signature_schemes: Option<Vec<SignatureScheme>>,
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
        signature_schemes,
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
        self.resolve_fingerprinted(token, &fingerprint(token)).await
    }

    /// [`resolve`](Self::resolve) for a caller that already holds the token's [`fingerprint`].
    pub async fn resolve_fingerprinted(
        &self,
        token: &str,
        fingerprint: &str,
    ) -> Result<Option<TokenRecord>, TokenStoreError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        if let Some(record) = self.cache.get(fingerprint).await {
            return Ok(Some(record));
        }
        let found = self.store.find_by_fingerprint(fingerprint).await?;
        if let Some(record) = &found {
            self.cache
                .insert(fingerprint.to_owned(), record.clone())
                .await;
            self.report_size().await;
        }
        Ok(found)
    }

    async fn report_size(&self) {
        // Misses and invalidations are rare next to hits; settling the count there is cheap.
        self.cache.run_pending_tasks().await;
        metrics::gauge!(crate::metrics::TOKEN_CACHE_SIZE).set(self.cache.entry_count() as f64);
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

    /// Mints a replacement with the same template, secret and schemes, then revokes the old
    /// token.
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
        let minted = mint_record(
            self.store.as_ref(),
            tenant_id,
            &old.template_id,
            secret,
            old.signature_schemes.clone(),
        )
        .await?;
        self.revoke(tenant_id, token_id).await?;
        Ok(minted)
    }
}
