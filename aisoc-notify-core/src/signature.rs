//! Webhook body signatures: signing for senders, one verifier for receivers.
//!
//! Four header conventions are in common use, and the inbox accepts all of them:
//!
//! | scheme | headers | signed content |
//! |---|---|---|
//! | [`SignatureScheme::Aisoc`] | `X-AiSOC-Signature: sha256=<hex>` | body |
//! | [`SignatureScheme::GitHub`] | `X-Hub-Signature-256: sha256=<hex>` | body |
//! | [`SignatureScheme::Generic`] | `X-Signature: [sha256=]<hex>` | body |
//! | [`SignatureScheme::PagerDuty`] | `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]` | body |
//! | [`SignatureScheme::StandardWebhooks`] | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> …` | `id.timestamp.body` |
//!
//! All are HMAC-SHA256. Comparisons are constant time; several candidate signatures (key
//! rotation on the sender's side) are each compared in full. Standard Webhooks carries a
//! timestamp, checked against a tolerance (five minutes by default) to stop replays; its
//! secrets are base64 with an optional `whsec_` prefix, while the hex schemes use the secret's
//! bytes as given.
//!
//! ```
//! use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner, WebhookVerifier};
//!
//! let body = br#"{"event":"honeytoken.triggered"}"#;
//! let signer = WebhookSigner::new(SignatureScheme::Aisoc, "s3cret")?;
//! let mut headers = http::HeaderMap::new();
//! for (name, value) in signer.headers(body, "msg_1", 1_700_000_000) {
//!     headers.insert(name, value.parse().unwrap());
//! }
//! let verifier = WebhookVerifier::new("s3cret");
//! assert_eq!(verifier.verify(&headers, body)?, SignatureScheme::Aisoc);
//! # Ok::<(), aisoc_notify_core::signature::SignatureError>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretSlice};

use crate::clock::{Clock, SystemClock, within_tolerance};
use crate::hmac_sha256::{self, TAG_LEN};

/// `X-AiSOC-Signature`, this project's own header.
pub const AISOC_SIGNATURE: HeaderName = HeaderName::from_static("x-aisoc-signature");
/// `X-Hub-Signature-256`, GitHub's header.
pub const GITHUB_SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// `X-Signature`, the generic header many tools use.
pub const GENERIC_SIGNATURE: HeaderName = HeaderName::from_static("x-signature");
/// `X-PagerDuty-Signature`.
pub const PAGERDUTY_SIGNATURE: HeaderName = HeaderName::from_static("x-pagerduty-signature");
/// Standard Webhooks `webhook-id`.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
/// Standard Webhooks `webhook-timestamp`.
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// Standard Webhooks `webhook-signature`.
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// The default Standard Webhooks timestamp tolerance.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Header values longer than this are rejected unparsed.
const MAX_HEADER_LEN: usize = 4096;

/// A signature header convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// `X-AiSOC-Signature: sha256=<hex>`.
    Aisoc,
    /// `X-Hub-Signature-256: sha256=<hex>`.
    GitHub,
    /// `X-Signature: <hex>` with an optional `sha256=` prefix.
    Generic,
    /// `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]`.
    PagerDuty,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks,
}

impl SignatureScheme {
    /// Every scheme, in the order a verifier looks for them.
    pub const ALL: [SignatureScheme; 5] = [
        SignatureScheme::StandardWebhooks,
        SignatureScheme::PagerDuty,
        SignatureScheme::Aisoc,
        SignatureScheme::GitHub,
        SignatureScheme::Generic,
    ];

    /// The header that carries the signature.
    pub fn signature_header(self) -> HeaderName {
        match self {
            SignatureScheme::Aisoc => AISOC_SIGNATURE,
            SignatureScheme::GitHub => GITHUB_SIGNATURE,
            SignatureScheme::Generic => GENERIC_SIGNATURE,
            SignatureScheme::PagerDuty => PAGERDUTY_SIGNATURE,
            SignatureScheme::StandardWebhooks => WEBHOOK_SIGNATURE,
        }
    }
}

impl std::str::FromStr for SignatureScheme {
    type Err = SignatureError;

    /// Parses `aisoc`, `github`, `generic`, `pagerduty` or `standard`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "aisoc" => Ok(SignatureScheme::Aisoc),
            "github" => Ok(SignatureScheme::GitHub),
            "generic" => Ok(SignatureScheme::Generic),
            "pagerduty" => Ok(SignatureScheme::PagerDuty),
            "standard" | "standard-webhooks" => Ok(SignatureScheme::StandardWebhooks),
            _ => Err(SignatureError::UnknownScheme),
        }
    }
}

/// Why a signature was not produced or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No signature header of an accepted scheme is present.
    #[error("no signature header")]
    Missing,
    /// A header is present but cannot be parsed.
    #[error("malformed {header} header: {reason}")]
    Malformed {
        /// The header.
        header: HeaderName,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signature does not match the body.
    #[error("signature does not match")]
    Mismatch,
    /// The Standard Webhooks timestamp is too old or too far in the future.
    #[error("webhook timestamp is outside the accepted window of {tolerance_secs} seconds")]
    TimestampOutOfTolerance {
        /// The window, in seconds either side of now.
        tolerance_secs: u64,
    },
    /// The secret is not usable for the scheme (a Standard Webhooks secret that is not base64).
    #[error(
        "signing secret is not a valid Standard Webhooks secret (base64, optional whsec_ prefix)"
    )]
    InvalidSecret,
    /// The scheme name is not one of `aisoc`, `github`, `generic`, `pagerduty`, `standard`.
    #[error("signature scheme must be one of aisoc, github, generic, pagerduty, standard")]
    UnknownScheme,
}

/// HMAC-SHA256 of `message` with `key`, for schemes this module does not cover (Slack's
/// basestring, Teams' base64 `Authorization: HMAC`).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    hmac_sha256::tag(key, &[message])
}

/// Hex HMAC-SHA256 of `body`.
///
/// ```
/// // GitHub's documented example.
/// let hex = aisoc_notify_core::signature::hmac_sha256_hex(b"It's a Secret to Everybody", b"Hello, World!");
/// assert_eq!(hex, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
/// ```
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_sha256::tag(secret, &[body]))
}

/// A Standard Webhooks signing key, decoded from `whsec_<base64>` (the prefix is optional).
#[derive(Clone)]
pub struct StandardWebhooksKey(SecretSlice<u8>);

impl fmt::Debug for StandardWebhooksKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StandardWebhooksKey([REDACTED])")
    }
}

impl StandardWebhooksKey {
    /// Decodes a secret in the Standard Webhooks format.
    pub fn from_secret(secret: &str) -> Result<Self, SignatureError> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SignatureError::InvalidSecret)?;
        if key.is_empty() {
            return Err(SignatureError::InvalidSecret);
        }
        Ok(Self(SecretSlice::from(key)))
    }

    fn tag(&self, message_id: &str, timestamp: i64, body: &[u8]) -> [u8; TAG_LEN] {
        let timestamp = timestamp.to_string();
        hmac_sha256::tag(
            self.0.expose_secret(),
            &[
                message_id.as_bytes(),
                b".",
                timestamp.as_bytes(),
                b".",
                body,
            ],
        )
    }

    /// The `webhook-signature` value: `v1,<base64>`.
    ///
    /// ```
    /// use aisoc_notify_core::signature::StandardWebhooksKey;
    /// // The Standard Webhooks specification's example.
    /// let key = StandardWebhooksKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    /// assert_eq!(
    ///     key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#),
    ///     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    /// );
    /// # Ok::<(), aisoc_notify_core::signature::SignatureError>(())
    /// ```
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            STANDARD.encode(self.tag(message_id, timestamp, body))
        )
    }
}

/// Produces the signature headers of one scheme for outgoing webhooks.
#[derive(Clone)]
pub struct WebhookSigner {
    scheme: SignatureScheme,
    hex_key: SecretSlice<u8>,
    standard_key: Option<StandardWebhooksKey>,
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSigner")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl WebhookSigner {
    /// A signer for `scheme`; a Standard Webhooks secret must be base64 (`whsec_` optional).
    pub fn new(scheme: SignatureScheme, secret: &str) -> Result<Self, SignatureError> {
        let standard_key = match scheme {
            SignatureScheme::StandardWebhooks => Some(StandardWebhooksKey::from_secret(secret)?),
            _ => None,
        };
        Ok(Self {
            scheme,
            hex_key: SecretSlice::from(secret.as_bytes().to_vec()),
            standard_key,
        })
    }

    /// The scheme this signer writes.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// The headers to send with `body`. `message_id` and `timestamp` (Unix seconds) are used by
    /// Standard Webhooks only.
    pub fn headers(
        &self,
        body: &[u8],
        message_id: &str,
        timestamp: i64,
    ) -> Vec<(HeaderName, String)> {
        if let Some(key) = &self.standard_key {
            return vec![
                (WEBHOOK_ID, message_id.to_owned()),
                (WEBHOOK_TIMESTAMP, timestamp.to_string()),
                (WEBHOOK_SIGNATURE, key.sign(message_id, timestamp, body)),
            ];
        }
        let hex = hmac_sha256_hex(self.hex_key.expose_secret(), body);
        let value = match self.scheme {
            SignatureScheme::PagerDuty => format!("v1={hex}"),
            _ => format!("sha256={hex}"),
        };
        vec![(self.scheme.signature_header(), value)]
    }
}

/// Verifies signed webhook requests in any accepted scheme; the inbox's one verifier.
///
/// The schemes are tried in the order of [`SignatureScheme::ALL`]; the first whose header is
/// present decides. A request carrying none of them is [`SignatureError::Missing`].
#[derive(Clone)]
pub struct WebhookVerifier {
    hex_key: SecretSlice<u8>,
    standard_key: Option<StandardWebhooksKey>,
    schemes: Vec<SignatureScheme>,
    tolerance: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("schemes", &self.schemes)
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier accepting every scheme with `secret`.
    pub fn new(secret: &str) -> Self {
        Self {
            hex_key: SecretSlice::from(secret.as_bytes().to_vec()),
            standard_key: StandardWebhooksKey::from_secret(secret).ok(),
            schemes: SignatureScheme::ALL.to_vec(),
            tolerance: DEFAULT_TOLERANCE,
            clock: Arc::new(SystemClock),
        }
    }

    /// Restricts the accepted schemes.
    pub fn with_schemes(mut self, schemes: &[SignatureScheme]) -> Self {
        self.schemes = SignatureScheme::ALL
            .into_iter()
            .filter(|s| schemes.contains(s))
            .collect();
        self
    }

    /// Sets the Standard Webhooks timestamp tolerance (default five minutes).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Replaces the clock (for tests with published vectors).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies `body` against the signature headers and returns the scheme that matched.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<SignatureScheme, SignatureError> {
        for &scheme in &self.schemes {
            let header = scheme.signature_header();
            let Some(value) = headers.get(&header) else {
                continue;
            };
            let value = header_str(&header, value)?;
            match scheme {
                SignatureScheme::StandardWebhooks => self.verify_standard(headers, value, body)?,
                SignatureScheme::PagerDuty => self.verify_pagerduty(value, body)?,
                SignatureScheme::Aisoc | SignatureScheme::GitHub | SignatureScheme::Generic => {
                    self.verify_hex(&header, value, body)?
                }
            }
            return Ok(scheme);
        }
        Err(SignatureError::Missing)
    }

    fn verify_hex(
        &self,
        header: &HeaderName,
        value: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let hex = value.trim();
        let hex = hex.strip_prefix("sha256=").unwrap_or(hex);
        let provided = decode_hex_tag(header, hex)?;
        let expected = hmac_sha256::tag(self.hex_key.expose_secret(), &[body]);
        if hmac_sha256::tags_match(&expected, &provided) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    fn verify_pagerduty(&self, value: &str, body: &[u8]) -> Result<(), SignatureError> {
        let expected = hmac_sha256::tag(self.hex_key.expose_secret(), &[body]);
        let mut matched = false;
        let mut saw_v1 = false;
        for candidate in value.split(',').map(str::trim) {
            let Some(hex) = candidate.strip_prefix("v1=") else {
                continue; // other versions are not ours to judge
            };
            saw_v1 = true;
            let provided = decode_hex_tag(&PAGERDUTY_SIGNATURE, hex)?;
            // Compare every candidate fully; no early exit that could leak which one matched.
            matched |= hmac_sha256::tags_match(&expected, &provided);
        }
        if !saw_v1 {
            return Err(SignatureError::Malformed {
                header: PAGERDUTY_SIGNATURE,
                reason: "no v1= signature",
            });
        }
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    fn verify_standard(
        &self,
        headers: &HeaderMap,
        value: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let key = self
            .standard_key
            .as_ref()
            .ok_or(SignatureError::InvalidSecret)?;
        let id = required_header(headers, &WEBHOOK_ID)?;
        let timestamp_raw = required_header(headers, &WEBHOOK_TIMESTAMP)?;
        let timestamp: i64 =
            timestamp_raw
                .trim()
                .parse()
                .map_err(|_| SignatureError::Malformed {
                    header: WEBHOOK_TIMESTAMP,
                    reason: "not an integer number of seconds",
                })?;
        if !within_tolerance(self.clock.unix_seconds(), timestamp, self.tolerance) {
            return Err(SignatureError::TimestampOutOfTolerance {
                tolerance_secs: self.tolerance.as_secs(),
            });
        }
        let expected = key.tag(id, timestamp, body);
        let mut matched = false;
        let mut saw_v1 = false;
        for candidate in value.split_whitespace() {
            let Some(encoded) = candidate.strip_prefix("v1,") else {
                continue; // v1a (asymmetric) and future versions are not HMAC
            };
            saw_v1 = true;
            let provided = STANDARD
                .decode(encoded)
                .map_err(|_| SignatureError::Malformed {
                    header: WEBHOOK_SIGNATURE,
                    reason: "signature is not base64",
                })?;
            matched |= hmac_sha256::tags_match(&expected, &provided);
        }
        if !saw_v1 {
            return Err(SignatureError::Malformed {
                header: WEBHOOK_SIGNATURE,
                reason: "no v1 signature",
            });
        }
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

fn header_str<'a>(
    header: &HeaderName,
    value: &'a http::HeaderValue,
) -> Result<&'a str, SignatureError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed {
            header: header.clone(),
            reason: "value is too long",
        });
    }
    value.to_str().map_err(|_| SignatureError::Malformed {
        header: header.clone(),
        reason: "value is not ASCII",
    })
}

fn required_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<&'a str, SignatureError> {
    let value = headers.get(name).ok_or(SignatureError::Malformed {
        header: name.clone(),
        reason: "header is missing",
    })?;
    header_str(name, value)
}

fn decode_hex_tag(header: &HeaderName, hex: &str) -> Result<Vec<u8>, SignatureError> {
    let bytes = hex::decode(hex).map_err(|_| SignatureError::Malformed {
        header: header.clone(),
        reason: "signature is not hex",
    })?;
    if bytes.len() != TAG_LEN {
        return Err(SignatureError::Malformed {
            header: header.clone(),
            reason: "signature is not 32 bytes",
        });
    }
    Ok(bytes)
}
