//! Browser push subscriptions: validation and the stored record.
//!
//! A push endpoint comes from an end user's browser, so before it is stored it must be an
//! https URL ([`PushSubscription::validate`]) whose host the outbound guard lets deliveries
//! reach ([`PushSubscription::check_destination`]): a subscription "to"
//! `https://169.254.169.254/…` or to a name that resolves into the private network is refused
//! when it is made, not at the first push.

use aisoc_notify_core::delivery::check_destination;
use aisoc_notify_core::destination::{DestinationPolicy, ForbiddenRange, HostLookup};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ece::ReceiverKeys;
use crate::keys::decode_b64url;

/// The topics a subscription receives when it names none.
pub const DEFAULT_TOPICS: [&str; 4] = [
    "p0_alert",
    "agent_approval",
    "oncall_handoff",
    "connector_health",
];

/// The keys of a browser `PushSubscription`. `Debug` leaves them out: with the endpoint they
/// are what it takes to push to the browser.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    /// The receiver's P-256 public key, URL-safe base64.
    pub p256dh: String,
    /// The 16-byte auth secret, URL-safe base64.
    pub auth: String,
}

/// A browser `PushSubscription` as `JSON.stringify(subscription)` gives it. `Debug` shows the
/// endpoint's host only: the URL is a capability to push to the browser.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// The push service URL.
    pub endpoint: String,
    /// When the browser will drop it, in ms since the epoch, if it said.
    #[serde(default, rename = "expirationTime")]
    pub expiration_time: Option<i64>,
    /// The encryption keys.
    pub keys: SubscriptionKeys,
}

/// Why a subscription is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The endpoint is not an https URL (http is allowed only to loopback, for tests).
    #[error("endpoint must be an https URL")]
    InvalidEndpoint,
    /// `p256dh` is not a 65-byte P-256 public key.
    #[error("keys.p256dh must be a 65-byte uncompressed P-256 public key in URL-safe base64")]
    InvalidP256dh,
    /// `auth` is not 16 bytes.
    #[error("keys.auth must be 16 bytes in URL-safe base64")]
    InvalidAuth,
    /// A topic name is empty or too long.
    #[error("topics must be 1-64 characters of letters, digits, '_', '-' or '.'")]
    InvalidTopic,
    /// The endpoint's host (or every address its name resolves to) is in a range outbound
    /// requests may not reach. The message names the rule, never the endpoint.
    #[error(
        "push endpoint host is {} {rule}, which outbound requests may not reach",
        article(*.rule)
    )]
    ForbiddenEndpoint {
        /// The rule that refused it.
        rule: ForbiddenRange,
    },
}

fn article(rule: ForbiddenRange) -> &'static str {
    // "an unspecified address"; every other rule's text starts with a consonant sound.
    if rule == ForbiddenRange::Unspecified {
        "an"
    } else {
        "a"
    }
}

impl PushSubscription {
    /// Checks the endpoint and keys and returns the parsed receiver keys.
    pub fn validate(&self) -> Result<ReceiverKeys, SubscriptionError> {
        check_destination(&self.endpoint).map_err(|_| SubscriptionError::InvalidEndpoint)?;
        let p256dh = decode_b64url(&self.keys.p256dh).ok_or(SubscriptionError::InvalidP256dh)?;
        if p256dh.len() != 65 {
            return Err(SubscriptionError::InvalidP256dh);
        }
        let auth = decode_b64url(&self.keys.auth).ok_or(SubscriptionError::InvalidAuth)?;
        if auth.len() != 16 {
            return Err(SubscriptionError::InvalidAuth);
        }
        ReceiverKeys::new(&p256dh, &auth).map_err(|_| SubscriptionError::InvalidP256dh)
    }

    /// Refuses an endpoint whose host `policy` forbids: an address literal in a forbidden
    /// range, or a name every address of which (resolved through `lookup`) is. A name that
    /// does not resolve now passes; delivery checks again when it connects.
    pub async fn check_destination(
        &self,
        policy: &DestinationPolicy,
        lookup: &dyn HostLookup,
    ) -> Result<(), SubscriptionError> {
        let url =
            url::Url::parse(&self.endpoint).map_err(|_| SubscriptionError::InvalidEndpoint)?;
        policy
            .check_url_resolved(&url, lookup)
            .await
            .map_err(|refused| SubscriptionError::ForbiddenEndpoint { rule: refused.rule })
    }
}

/// The stable id of a subscription: a hash of its endpoint, so subscribing again replaces it.
pub fn subscription_id(endpoint: &str) -> String {
    let digest = Sha256::digest(endpoint.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// A stored subscription. `Debug` shows the endpoint's host and leaves the keys out.
///
/// ```
/// # use aisoc_notify_webpush::subscription::{PushSubscription, SubscriptionKeys, SubscriptionRecord};
/// # let subscription = PushSubscription {
/// #     endpoint: "https://push.example.net/send/capability-path".into(),
/// #     expiration_time: None,
/// #     keys: SubscriptionKeys {
/// #         p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".into(),
/// #         auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
/// #     },
/// # };
/// let record = SubscriptionRecord::new(&subscription, "acme", "alice", &[], chrono::Utc::now()).unwrap();
/// let shown = format!("{record:?}");
/// assert!(shown.contains("https://push.example.net/…"));
/// assert!(!shown.contains("capability-path") && !shown.contains("BTBZMqHH6r4Tts7J"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// [`subscription_id`] of the endpoint.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The user who subscribed.
    pub user_id: String,
    /// The topics it receives.
    pub topics: Vec<String>,
    /// The push service URL.
    pub endpoint: String,
    /// The receiver's public key.
    pub p256dh: String,
    /// The auth secret.
    pub auth: String,
    /// The browser's user agent, when known.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last (re)subscribed.
    pub updated_at: DateTime<Utc>,
}

/// `scheme://host[:port]/…` of an endpoint, the part that is safe to print.
fn redacted_endpoint(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(url) => aisoc_notify_core::secret::SecretUrl::new(url).redacted(),
        Err(_) => "(not a URL)".to_owned(),
    }
}

impl std::fmt::Debug for SubscriptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionKeys").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSubscription")
            .field("endpoint", &redacted_endpoint(&self.endpoint))
            .field("expiration_time", &self.expiration_time)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SubscriptionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRecord")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("topics", &self.topics)
            .field("endpoint", &redacted_endpoint(&self.endpoint))
            .field("user_agent", &self.user_agent)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

pub(crate) fn valid_topic(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl SubscriptionRecord {
    /// A record for a validated browser subscription; `topics` empty means the defaults.
    pub fn new(
        subscription: &PushSubscription,
        tenant_id: &str,
        user_id: &str,
        topics: &[String],
        now: DateTime<Utc>,
    ) -> Result<Self, SubscriptionError> {
        subscription.validate()?;
        let topics: Vec<String> = if topics.is_empty() {
            DEFAULT_TOPICS.iter().map(|t| (*t).to_owned()).collect()
        } else {
            if !topics.iter().all(|t| valid_topic(t)) {
                return Err(SubscriptionError::InvalidTopic);
            }
            let mut topics = topics.to_vec();
            topics.sort();
            topics.dedup();
            topics
        };
        Ok(Self {
            id: subscription_id(&subscription.endpoint),
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            topics,
            endpoint: subscription.endpoint.clone(),
            p256dh: subscription.keys.p256dh.trim_end_matches('=').to_owned(),
            auth: subscription.keys.auth.trim_end_matches('=').to_owned(),
            user_agent: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// The receiver keys for encryption.
    pub fn receiver_keys(&self) -> Result<ReceiverKeys, SubscriptionError> {
        let p256dh = decode_b64url(&self.p256dh).ok_or(SubscriptionError::InvalidP256dh)?;
        let auth = decode_b64url(&self.auth).ok_or(SubscriptionError::InvalidAuth)?;
        ReceiverKeys::new(&p256dh, &auth).map_err(|_| SubscriptionError::InvalidP256dh)
    }
}
