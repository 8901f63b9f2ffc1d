//! Verification of Teams outgoing-webhook requests.
//!
//! Teams signs each request to an outgoing webhook with the security token shown when the
//! webhook was created: `Authorization: HMAC <base64>`, where the MAC is HMAC-SHA256 over the
//! raw request body, keyed with the base64-decoded token. The comparison is constant time.

use aisoc_notify_core::secret::{ExposeSecret, SecretSlice, constant_time_eq};
use aisoc_notify_core::signature::hmac_sha256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

/// Why a request's HMAC was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TeamsHmacError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    MissingHeader,
    /// The header is not `HMAC <base64>`.
    #[error("Authorization header is not 'HMAC <base64>'")]
    Malformed,
    /// The MAC does not match the body.
    #[error("invalid HMAC signature")]
    BadSignature,
    /// The configured security token is not base64.
    #[error("the outgoing-webhook security token is not valid base64")]
    InvalidSecret,
}

/// Verifies `Authorization: HMAC <base64>` on outgoing-webhook requests.
///
/// ```
/// use aisoc_notify_teams::hmac::TeamsHmacVerifier;
/// let verifier = TeamsHmacVerifier::new("c2VjcmV0LXRva2VuLWZyb20tdGVhbXM=").unwrap();
/// assert!(TeamsHmacVerifier::new("not base64!").is_err());
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct TeamsHmacVerifier {
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for TeamsHmacVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TeamsHmacVerifier([REDACTED])")
    }
}

impl TeamsHmacVerifier {
    /// A verifier for the base64 security token Teams showed when the webhook was created.
    pub fn new(security_token_b64: &str) -> Result<Self, TeamsHmacError> {
        let key = STANDARD
            .decode(security_token_b64.trim())
            .map_err(|_| TeamsHmacError::InvalidSecret)?;
        if key.is_empty() {
            return Err(TeamsHmacError::InvalidSecret);
        }
        Ok(Self {
            key: SecretSlice::from(key),
        })
    }

    /// Verifies a request from its headers and raw body.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), TeamsHmacError> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(TeamsHmacError::MissingHeader)?
            .to_str()
            .map_err(|_| TeamsHmacError::Malformed)?;
        self.verify_authorization(value, body)
    }

    /// Verifies an `Authorization` header value and the raw body.
    pub fn verify_authorization(
        &self,
        authorization: &str,
        body: &[u8],
    ) -> Result<(), TeamsHmacError> {
        let (scheme, encoded) = authorization
            .trim()
            .split_once(' ')
            .ok_or(TeamsHmacError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("HMAC") {
            return Err(TeamsHmacError::Malformed);
        }
        let provided = STANDARD
            .decode(encoded.trim())
            .map_err(|_| TeamsHmacError::Malformed)?;
        let expected = hmac_sha256(self.key.expose_secret(), body);
        if constant_time_eq(&provided, &expected) {
            Ok(())
        } else {
            Err(TeamsHmacError::BadSignature)
        }
    }
}
