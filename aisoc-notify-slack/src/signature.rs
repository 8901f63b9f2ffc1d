//! Slack request signatures (the `v0` scheme).
//!
//! Slack signs every request it sends us: `X-Slack-Signature: v0=<hex>` is HMAC-SHA256 of
//! `v0:<X-Slack-Request-Timestamp>:<raw body>` with the app's signing secret. A request is
//! accepted only when both headers are present, the timestamp is within five minutes of now
//! (either way, against replays and clock games) and the signature matches in constant time.
//! Verification runs on the raw bytes, before any parsing.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::{Clock, SystemClock, within_tolerance};
use aisoc_notify_core::secret::{ExposeSecret, SecretString, constant_time_eq};
use aisoc_notify_core::signature::hmac_sha256_hex;
use http::HeaderMap;

/// `X-Slack-Request-Timestamp`.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// `X-Slack-Signature`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The accepted clock difference either way.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(300);

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlackSignatureError {
    /// A signing header is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The timestamp is not a number of seconds.
    #[error("X-Slack-Request-Timestamp is not a Unix timestamp")]
    InvalidTimestamp,
    /// The timestamp is more than five minutes from now.
    #[error("request timestamp is outside the five-minute window")]
    StaleTimestamp,
    /// The signature does not match the body.
    #[error("invalid signature")]
    BadSignature,
}

/// Verifies Slack request signatures.
///
/// ```
/// use std::sync::Arc;
/// use aisoc_notify_core::clock::ManualClock;
/// use aisoc_notify_slack::signature::SlackSignatureVerifier;
///
/// // Slack's documented example; its timestamp is from 2018, so the clock is pinned to it.
/// let verifier = SlackSignatureVerifier::new("8f742231b10e8888abcd99yyyzzz85a5")
///     .with_clock(Arc::new(ManualClock::at_unix(1531420618)));
/// let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
/// verifier.verify_parts(
///     Some("1531420618"),
///     Some("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
///     body.as_bytes(),
/// ).unwrap();
/// ```
#[derive(Clone)]
pub struct SlackSignatureVerifier {
    secret: SecretString,
    clock: Arc<dyn Clock>,
    window: Duration,
}

impl std::fmt::Debug for SlackSignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSignatureVerifier")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl SlackSignatureVerifier {
    /// A verifier for the app's signing secret.
    pub fn new(signing_secret: impl Into<String>) -> Self {
        Self {
            secret: SecretString::from(signing_secret.into()),
            clock: Arc::new(SystemClock),
            window: REPLAY_WINDOW,
        }
    }

    /// Replaces the clock (tests with Slack's published example).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies a request from its headers and raw body.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SlackSignatureError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        self.verify_parts(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), body)
    }

    /// Verifies the two header values and the raw body.
    pub fn verify_parts(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SlackSignatureError> {
        let timestamp = timestamp.ok_or(SlackSignatureError::MissingHeader(
            "X-Slack-Request-Timestamp",
        ))?;
        let signature = signature.ok_or(SlackSignatureError::MissingHeader("X-Slack-Signature"))?;
        let seconds: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SlackSignatureError::InvalidTimestamp)?;
        if !within_tolerance(self.clock.unix_seconds(), seconds, self.window) {
            return Err(SlackSignatureError::StaleTimestamp);
        }
        let expected = self.sign(timestamp.trim(), body);
        if constant_time_eq(signature.trim().as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(SlackSignatureError::BadSignature)
        }
    }

    /// The `X-Slack-Signature` value for a timestamp and body (for tests and replaying tools).
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut base = Vec::with_capacity(body.len() + timestamp.len() + 4);
        base.extend_from_slice(b"v0:");
        base.extend_from_slice(timestamp.as_bytes());
        base.push(b':');
        base.extend_from_slice(body);
        format!(
            "v0={}",
            hmac_sha256_hex(self.secret.expose_secret().as_bytes(), &base)
        )
    }
}
