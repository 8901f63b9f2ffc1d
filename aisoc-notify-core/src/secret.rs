//! Secrets that never show in `Debug`, `Display`, logs or error text.
//!
//! Tokens and keys use [`secrecy`]'s types, re-exported here so adapters share one vocabulary.
//! Webhook URLs are a special case: Slack, Teams and Mattermost put the credential in the URL
//! path, so a [`SecretUrl`] prints only its scheme and host.

use std::fmt;
use std::str::FromStr;

pub use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};
use serde::{Deserialize, Deserializer};
use url::Url;

/// Compares two secrets (bearer tokens, API keys) in constant time.
///
/// Both sides are hashed first, so neither the position of the first difference nor the
/// length of the expected secret leaks through timing.
///
/// ```
/// use aisoc_notify_core::secret::constant_time_eq;
/// assert!(constant_time_eq(b"s3cret-token", b"s3cret-token"));
/// assert!(!constant_time_eq(b"s3cret-token", b"s3cret-tokem"));
/// assert!(!constant_time_eq(b"s3cret-token", b"s3cret"));
/// ```
pub fn constant_time_eq(provided: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let provided = Sha256::digest(provided);
    let expected = Sha256::digest(expected);
    bool::from(provided.as_slice().ct_eq(expected.as_slice()))
}

/// A URL whose path or query carries a credential (an incoming-webhook URL, for example).
///
/// `Debug` and `Display` show `https://hooks.slack.com/…` and nothing after the host, so the URL
/// can sit in configuration structs that get logged.
///
/// ```
/// use aisoc_notify_core::secret::SecretUrl;
///
/// let url: SecretUrl = "https://hooks.slack.com/services/T000/B000/XXXX".parse().unwrap();
/// assert_eq!(format!("{url:?}"), "SecretUrl(https://hooks.slack.com/…)");
/// assert_eq!(url.expose().path(), "/services/T000/B000/XXXX");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Wraps a URL, keeping its credential out of formatted output.
    pub fn new(url: Url) -> Self {
        Self(url)
    }

    /// The full URL, credential included; use it only to send the request.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// The host, safe to log.
    pub fn host(&self) -> Option<&str> {
        self.0.host_str()
    }

    /// `scheme://host[:port]/…`, the form that is safe to print.
    pub fn redacted(&self) -> String {
        let mut out = format!("{}://{}", self.0.scheme(), self.0.host_str().unwrap_or(""));
        if let Some(port) = self.0.port() {
            out.push_str(&format!(":{port}"));
        }
        out.push_str("/…");
        out
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl FromStr for SecretUrl {
    type Err = url::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Url::parse(s).map(Self)
    }
}

impl From<Url> for SecretUrl {
    fn from(url: Url) -> Self {
        Self(url)
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Deserialize through a String so a parse error never echoes the URL back.
        let raw = String::deserialize(deserializer)?;
        raw.parse()
            .map_err(|e: url::ParseError| serde::de::Error::custom(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_debug_hide_the_path_and_query() {
        let url: SecretUrl = "https://example.webhook.office.com:8443/webhookb2/abc?sig=zzz"
            .parse()
            .unwrap();
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(!shown.contains("abc"), "{shown}");
            assert!(!shown.contains("zzz"), "{shown}");
            assert!(shown.contains("example.webhook.office.com:8443"), "{shown}");
        }
    }

    #[test]
    fn deserialize_error_does_not_echo_the_input() {
        let err = serde_json::from_str::<SecretUrl>("\"not a url with secret-xyz\"").unwrap_err();
        assert!(!err.to_string().contains("secret-xyz"));
    }
}
