//! Signed, expiring callback tokens for human decisions (SPEC 4.1).
//!
//! A verification prompt ("was this you?") or an approval card carries buttons whose URLs hold
//! a token. The token names the action, case, tenant, user and choice, expires (30 minutes by
//! default) and is signed with HMAC-SHA256, so the callback endpoint can trust what the button
//! says without a database lookup.
//!
//! Format: `v1.<key id>.<claims>.<tag>`, where claims are base64url JSON and the tag is the
//! base64url HMAC-SHA256 of `v1.<key id>.<claims>`. The key id lets operators rotate keys:
//! sign with the new key, keep verifying with the old one until its tokens have expired, then
//! drop it. Verification checks structure, key, tag (in constant time) and only then reads
//! the claims and expiry; each failure has its own [`TokenError`].
//!
//! Single use is the caller's concern: the claims carry a unique
//! [`token_id`](CallbackClaims::token_id) to record as consumed.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::hmac_sha256;

/// The token format version this module writes and reads.
const VERSION: &str = "v1";
/// Tokens longer than this are rejected before any decoding.
const MAX_TOKEN_LEN: usize = 4096;
/// The shortest signing key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// The default token lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1800);

/// What a token grants: the decision a specific person may make on a specific case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackGrant {
    /// The flow the token belongs to (`chatops.verify`, `approval`…).
    pub action: String,
    /// The case or approval the decision is about.
    pub case_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The person asked (a user id or e-mail).
    pub user_ref: String,
    /// The choice this token records (`acknowledge`, `deny`, `escalate`, `approve`…).
    pub choice: String,
    /// The prompt the token's buttons belong to; tokens of one prompt share it, so answering
    /// with one can invalidate the others.
    pub prompt_id: Option<String>,
}

/// The verified contents of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackClaims {
    /// The flow the token belongs to.
    #[serde(rename = "act")]
    pub action: String,
    /// The case or approval.
    #[serde(rename = "case")]
    pub case_id: String,
    /// The tenant.
    #[serde(rename = "ten")]
    pub tenant_id: String,
    /// The person asked.
    #[serde(rename = "usr")]
    pub user_ref: String,
    /// The choice.
    #[serde(rename = "ch")]
    pub choice: String,
    /// The prompt the token belongs to, when the flow groups tokens.
    #[serde(rename = "pid", default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// A unique id, for single-use bookkeeping.
    #[serde(rename = "jti")]
    pub token_id: String,
    /// Issued at, seconds since the Unix epoch.
    #[serde(rename = "iat")]
    pub issued_at: i64,
    /// Expires at, seconds since the Unix epoch.
    #[serde(rename = "exp")]
    pub expires_at: i64,
}

/// A freshly minted token and what it says.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedCallback {
    /// The URL-safe token to put in a callback URL.
    pub token: String,
    /// Its claims.
    pub claims: CallbackClaims,
}

/// The token is a bearer capability (whoever holds it may answer): `Debug` shows its claims
/// only.
impl std::fmt::Debug for SignedCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedCallback")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Why a token was not minted or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not in the expected shape (wrong parts, bad encoding, wrong length).
    #[error("malformed callback token: {0}")]
    Malformed(&'static str),
    /// The token names a key this signer does not hold (never held, or retired).
    #[error("callback token was signed with unknown key '{key_id}'")]
    UnknownKey {
        /// The key id the token names.
        key_id: String,
    },
    /// The signature does not match: the token was altered or signed with another secret.
    #[error("callback token signature is invalid")]
    InvalidSignature,
    /// The token is authentic but past its expiry.
    #[error("callback token expired at {expires_at} (unix seconds)")]
    Expired {
        /// When it expired.
        expires_at: i64,
    },
    /// A claim is not acceptable for minting (empty, or contains control characters).
    #[error("invalid claim '{field}': {reason}")]
    InvalidClaim {
        /// The claim.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A signing key is not acceptable (too short, bad key id).
    #[error("invalid signing key: {0}")]
    InvalidKey(&'static str),
    /// The public callback base URL cannot carry a token.
    #[error("callback base URL cannot take a token")]
    InvalidCallbackBase,
}

/// Mints a token for `grant` and appends it to `callback_base` as the last path segment:
/// `https://aisoc.example.com/v1/chatops/verify/` + token. A base without a trailing slash gets
/// one.
///
/// ```
/// use aisoc_notify_core::token::{signed_callback_url, CallbackGrant, CallbackTokenSigner, HmacCallbackTokenSigner};
///
/// let signer = HmacCallbackTokenSigner::new("k1", b"0123456789abcdef0123456789abcdef".to_vec())?;
/// let base = "https://aisoc.example.com/v1/chatops/verify".parse().unwrap();
/// let grant = CallbackGrant {
///     action: "chatops.verify".into(), case_id: "case-1".into(), tenant_id: "acme".into(),
///     user_ref: "alice".into(), choice: "deny".into(), prompt_id: Some("p1".into()),
/// };
/// let url = signed_callback_url(&signer, &base, &grant)?;
/// let token = url.path().rsplit('/').next().unwrap();
/// assert_eq!(signer.verify(token)?.choice, "deny");
/// assert!(url.as_str().starts_with("https://aisoc.example.com/v1/chatops/verify/v1."));
/// # Ok::<(), aisoc_notify_core::token::TokenError>(())
/// ```
pub fn signed_callback_url(
    signer: &dyn CallbackTokenSigner,
    callback_base: &url::Url,
    grant: &CallbackGrant,
) -> Result<url::Url, TokenError> {
    let minted = signer.mint(grant)?;
    let mut base = callback_base.clone();
    if base.cannot_be_a_base() {
        return Err(TokenError::InvalidCallbackBase);
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(&minted.token)
        .map_err(|_| TokenError::InvalidCallbackBase)
}

/// Mints and verifies callback tokens.
///
/// The trait is object safe so hosts can swap in a KMS-backed signer.
pub trait CallbackTokenSigner: Send + Sync {
    /// Signs a grant, with a fresh token id and the signer's lifetime.
    fn mint(&self, grant: &CallbackGrant) -> Result<SignedCallback, TokenError>;

    /// Checks a token and returns its claims.
    fn verify(&self, token: &str) -> Result<CallbackClaims, TokenError>;
}

/// An HMAC-SHA256 [`CallbackTokenSigner`] with key ids for rotation.
///
/// ```
/// use aisoc_notify_core::token::{CallbackGrant, CallbackTokenSigner, HmacCallbackTokenSigner, TokenError};
///
/// let old = HmacCallbackTokenSigner::new("2026-01", b"an old secret of at least 32 bytes!!".to_vec())?;
/// let grant = CallbackGrant {
///     action: "chatops.verify".into(),
///     case_id: "case-42".into(),
///     tenant_id: "acme".into(),
///     user_ref: "alice@example.com".into(),
///     choice: "acknowledge".into(),
///     prompt_id: None,
/// };
/// let minted = old.mint(&grant)?;
///
/// // Rotate: sign with the new key, still accept the old one.
/// let rotated = HmacCallbackTokenSigner::new("2026-06", b"a brand new secret, 32+ bytes long".to_vec())?
///     .with_verification_key("2026-01", b"an old secret of at least 32 bytes!!".to_vec())?;
/// assert_eq!(rotated.verify(&minted.token)?.choice, "acknowledge");
///
/// // Retire the old key: its tokens are refused.
/// let retired = HmacCallbackTokenSigner::new("2026-06", b"a brand new secret, 32+ bytes long".to_vec())?;
/// assert_eq!(
///     retired.verify(&minted.token),
///     Err(TokenError::UnknownKey { key_id: "2026-01".into() })
/// );
/// # Ok::<(), TokenError>(())
/// ```
pub struct HmacCallbackTokenSigner {
    signing_key_id: String,
    keys: HashMap<String, SecretSlice<u8>>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for HmacCallbackTokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key_ids: Vec<&String> = self.keys.keys().collect();
        key_ids.sort();
        f.debug_struct("HmacCallbackTokenSigner")
            .field("signing_key_id", &self.signing_key_id)
            .field("key_ids", &key_ids)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl HmacCallbackTokenSigner {
    /// A signer that signs (and verifies) with `secret` under `key_id`.
    ///
    /// Key ids are 1-32 characters of `A-Z a-z 0-9 _ -`; secrets are at least
    /// [`MIN_KEY_LEN`] bytes.
    pub fn new(key_id: impl Into<String>, secret: Vec<u8>) -> Result<Self, TokenError> {
        let key_id = key_id.into();
        check_key(&key_id, &secret)?;
        let mut keys = HashMap::new();
        keys.insert(key_id.clone(), SecretSlice::from(secret));
        Ok(Self {
            signing_key_id: key_id,
            keys,
            ttl: DEFAULT_TTL,
            clock: Arc::new(SystemClock),
        })
    }

    /// Also accepts tokens signed with `secret` under `key_id` (a previous key during
    /// rotation).
    pub fn with_verification_key(
        mut self,
        key_id: impl Into<String>,
        secret: Vec<u8>,
    ) -> Result<Self, TokenError> {
        let key_id = key_id.into();
        check_key(&key_id, &secret)?;
        if key_id == self.signing_key_id {
            return Err(TokenError::InvalidKey(
                "verification key id repeats the signing key id",
            ));
        }
        self.keys.insert(key_id, SecretSlice::from(secret));
        Ok(self)
    }

    /// Sets the lifetime of minted tokens (default [`DEFAULT_TTL`]).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Replaces the clock (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The lifetime of minted tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs already-complete claims; [`mint`](CallbackTokenSigner::mint) is the usual entry.
    pub fn sign_claims(&self, claims: &CallbackClaims) -> Result<String, TokenError> {
        let key = &self.keys[&self.signing_key_id];
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::InvalidClaim {
            field: "claims",
            reason: "not serializable",
        })?;
        let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
        let tag = signing_tag(key, &self.signing_key_id, &payload_b64);
        Ok(format!(
            "{VERSION}.{}.{payload_b64}.{}",
            self.signing_key_id,
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }
}

impl CallbackTokenSigner for HmacCallbackTokenSigner {
    fn mint(&self, grant: &CallbackGrant) -> Result<SignedCallback, TokenError> {
        for (field, value) in [
            ("action", &grant.action),
            ("case_id", &grant.case_id),
            ("tenant_id", &grant.tenant_id),
            ("user_ref", &grant.user_ref),
            ("choice", &grant.choice),
        ] {
            if value.trim().is_empty() {
                return Err(TokenError::InvalidClaim {
                    field,
                    reason: "must not be empty",
                });
            }
            if value.chars().any(char::is_control) {
                return Err(TokenError::InvalidClaim {
                    field,
                    reason: "must not contain control characters",
                });
            }
        }
        let issued_at = self.clock.unix_seconds();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let mut id = [0u8; 16];
        rand::fill(&mut id);
        let claims = CallbackClaims {
            action: grant.action.clone(),
            case_id: grant.case_id.clone(),
            tenant_id: grant.tenant_id.clone(),
            user_ref: grant.user_ref.clone(),
            choice: grant.choice.clone(),
            prompt_id: grant.prompt_id.clone(),
            token_id: URL_SAFE_NO_PAD.encode(id),
            issued_at,
            expires_at: issued_at.saturating_add(ttl),
        };
        let token = self.sign_claims(&claims)?;
        Ok(SignedCallback { token, claims })
    }

    fn verify(&self, token: &str) -> Result<CallbackClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token is too long"));
        }
        let mut parts = token.split('.');
        let (Some(version), Some(key_id), Some(payload_b64), Some(tag_b64), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed("expected four dot-separated parts"));
        };
        if version != VERSION {
            return Err(TokenError::Malformed("unsupported token version"));
        }
        if !is_valid_key_id(key_id) {
            return Err(TokenError::Malformed("invalid key id"));
        }
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| TokenError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        let provided = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        if provided.len() != hmac_sha256::TAG_LEN {
            return Err(TokenError::Malformed("signature has the wrong length"));
        }
        let expected = signing_tag(key, key_id, payload_b64);
        if !hmac_sha256::tags_match(&expected, &provided) {
            return Err(TokenError::InvalidSignature);
        }
        // Authentic from here on: decoding problems would be a signer bug, still reported.
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed("claims are not base64url"))?;
        let claims: CallbackClaims = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Malformed("claims are not valid JSON"))?;
        if self.clock.unix_seconds() >= claims.expires_at {
            return Err(TokenError::Expired {
                expires_at: claims.expires_at,
            });
        }
        Ok(claims)
    }
}

fn signing_tag(
    key: &SecretSlice<u8>,
    key_id: &str,
    payload_b64: &str,
) -> [u8; hmac_sha256::TAG_LEN] {
    hmac_sha256::tag(
        key.expose_secret(),
        &[
            VERSION.as_bytes(),
            b".",
            key_id.as_bytes(),
            b".",
            payload_b64.as_bytes(),
        ],
    )
}

fn is_valid_key_id(key_id: &str) -> bool {
    (1..=32).contains(&key_id.len())
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_key(key_id: &str, secret: &[u8]) -> Result<(), TokenError> {
    if !is_valid_key_id(key_id) {
        return Err(TokenError::InvalidKey(
            "key id must be 1-32 characters of A-Z a-z 0-9 _ -",
        ));
    }
    if secret.len() < MIN_KEY_LEN {
        return Err(TokenError::InvalidKey("secret must be at least 32 bytes"));
    }
    Ok(())
}
