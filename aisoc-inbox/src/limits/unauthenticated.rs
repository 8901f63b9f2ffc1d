//! Limits for requests that have not proved who they are.
//!
//! Charging a tenant's quota for a request that failed authentication lets anyone who knows a
//! token's URL (not its secret) spend that tenant's budget until its real sources get 429. So
//! the tenant quota is charged only after the token and its signature check out, and failures
//! are charged here instead, to their own budget:
//!
//! | failure | charged to | checked before |
//! |---|---|---|
//! | unknown or revoked token | `unknown:<client address>` | looking the token up |
//! | bad or missing signature | `signature:<token id>:<client address>` | verifying the signature |
//!
//! A key whose failure budget is spent is answered 429 without the database round trip or the
//! HMAC over the body, and a sender at another address is not affected. Unknown token
//! fingerprints are also remembered for [`NEGATIVE_CACHE_TTL`], so a repeated unknown token
//! costs no database round trip at all. A token minted afterwards cannot have been probed
//! before (tokens are 256 random bits), so the negative cache never hides a real token.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{LimitError, UsageBudget};

/// How long an unknown token fingerprint is remembered.
pub const NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(30);
const NEGATIVE_CACHE_CAPACITY: u64 = 100_000;

/// The failure budget and the negative token cache, shared by an inbox's routes.
#[derive(Clone)]
pub struct UnauthenticatedGuard {
    failures: Arc<dyn UsageBudget>,
    unknown_tokens: moka::sync::Cache<String, ()>,
}

impl std::fmt::Debug for UnauthenticatedGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnauthenticatedGuard")
            .field("unknown_tokens", &self.unknown_tokens.entry_count())
            .finish_non_exhaustive()
    }
}

fn client_label(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "unknown-address".to_owned(), |ip| ip.to_string())
}

impl UnauthenticatedGuard {
    /// Failures charged to `failures` (one unit each); unknown tokens remembered for
    /// [`NEGATIVE_CACHE_TTL`].
    pub fn new(failures: Arc<dyn UsageBudget>) -> Self {
        Self::with_negative_ttl(failures, NEGATIVE_CACHE_TTL)
    }

    /// Like [`new`](Self::new), remembering unknown tokens for `ttl`.
    pub fn with_negative_ttl(failures: Arc<dyn UsageBudget>, ttl: Duration) -> Self {
        Self {
            failures,
            unknown_tokens: moka::sync::Cache::builder()
                .max_capacity(NEGATIVE_CACHE_CAPACITY)
                .time_to_live(ttl)
                .build(),
        }
    }

    fn unknown_key(client: Option<IpAddr>) -> String {
        format!("unknown:{}", client_label(client))
    }

    fn signature_key(token_id: &str, client: Option<IpAddr>) -> String {
        format!("signature:{token_id}:{}", client_label(client))
    }

    /// `Err` when `client` has spent its budget for unknown tokens.
    pub async fn may_try_token(&self, client: Option<IpAddr>) -> Result<(), LimitError> {
        self.failures
            .would_admit(&Self::unknown_key(client), 1)
            .await
    }

    /// Whether this fingerprint was looked up and unknown recently.
    pub fn known_unknown(&self, fingerprint: &str) -> bool {
        self.unknown_tokens.contains_key(fingerprint)
    }

    /// Charges an unknown token to `client` and remembers its fingerprint.
    pub async fn unknown_token(&self, fingerprint: &str, client: Option<IpAddr>) {
        self.unknown_tokens.insert(fingerprint.to_owned(), ());
        self.charge(&Self::unknown_key(client)).await;
    }

    /// `Err` when `client` has spent its budget for bad signatures on this token.
    pub async fn may_try_signature(
        &self,
        token_id: &str,
        client: Option<IpAddr>,
    ) -> Result<(), LimitError> {
        self.failures
            .would_admit(&Self::signature_key(token_id, client), 1)
            .await
    }

    /// Charges a bad signature on `token_id` to `client`.
    pub async fn bad_signature(&self, token_id: &str, client: Option<IpAddr>) {
        self.charge(&Self::signature_key(token_id, client)).await;
    }

    async fn charge(&self, key: &str) {
        match self.failures.spend(key, 1).await {
            Ok(()) | Err(LimitError::Exceeded(_)) => {}
            Err(error) => tracing::warn!(%error, "could not count an authentication failure"),
        }
    }
}
