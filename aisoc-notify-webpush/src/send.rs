//! Sending one encrypted message to one push service (RFC 8030).
//!
//! Every request carries `TTL`; `Urgency` and `Topic` when set. Answers: 201 (and any other
//! 2xx) is delivered; 404 and 410 mean the subscription is gone and should be evicted; 413 is
//! too large; 429 is retried by the delivery layer honouring `Retry-After`, then reported;
//! other 4xx are typed errors carrying the service's explanation.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, DeliveryError};
use serde::{Deserialize, Serialize};

use crate::ece::{self, EncryptError};
use crate::subscription::{SubscriptionError, SubscriptionRecord};
use crate::vapid::{VapidError, VapidSigner};

/// How urgent a message is to the push service (battery use on the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// Deliver when convenient.
    VeryLow,
    /// Deliver soon-ish.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Deliver now (incoming calls, P0 alerts).
    High,
}

impl Urgency {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// Per-message delivery options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// How long the service keeps an undelivered message.
    pub ttl: Duration,
    /// Urgency.
    pub urgency: Urgency,
    /// A collapse key: a newer message with the same topic replaces an undelivered older one.
    pub topic: Option<String>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            urgency: Urgency::Normal,
            topic: None,
        }
    }
}

/// Checks a `Topic` header value: at most 32 characters of the URL-safe base64 alphabet.
pub fn valid_topic_header(topic: &str) -> bool {
    (1..=32).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a push was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The payload could not be encrypted (too large, bad receiver key).
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    /// The stored subscription is unusable.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    /// VAPID failed.
    #[error(transparent)]
    Vapid(#[from] VapidError),
    /// The `Topic` is not at most 32 URL-safe base64 characters.
    #[error("Topic must be 1-32 characters of the URL-safe base64 alphabet")]
    InvalidTopic,
    /// The subscription no longer exists (404/410); evict it.
    #[error("subscription is gone (HTTP {status})")]
    Gone {
        /// 404 or 410.
        status: u16,
    },
    /// The push service says the message is too large (413).
    #[error("push service refused the payload as too large")]
    PayloadTooLarge,
    /// Throttled (429), after the retries the delivery layer made.
    #[error("push service is rate limiting; retry after {retry_after:?}")]
    RateLimited {
        /// The service's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Refused (400, 401, 403, …) with the service's explanation.
    #[error("push service refused the message (HTTP {status}): {body}")]
    Rejected {
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

impl PushError {
    /// Whether the subscription should be removed.
    pub fn is_gone(&self) -> bool {
        matches!(self, PushError::Gone { .. })
    }

    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::RateLimited { .. } => true,
            PushError::Delivery(err) => err.is_retryable(),
            _ => false,
        }
    }
}

/// A delivered push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReceipt {
    /// The status (usually 201).
    pub status: u16,
    /// The message URL the service returned in `Location`, if any.
    pub location: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

/// Encrypts, signs and sends pushes.
#[derive(Debug, Clone)]
pub struct WebPushSender {
    vapid: Arc<VapidSigner>,
    delivery: DeliveryClient,
}

impl WebPushSender {
    /// A sender with its own delivery client.
    pub fn new(vapid: VapidSigner) -> Result<Self, DeliveryError> {
        Ok(Self {
            vapid: Arc::new(vapid),
            delivery: DeliveryClient::new(DeliveryConfig::default())?,
        })
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    /// The VAPID signer (for the public key).
    pub fn vapid(&self) -> &VapidSigner {
        &self.vapid
    }

    /// Builds the request for one message without sending it: encryption and VAPID happen here.
    pub fn build_request(
        &self,
        subscription: &SubscriptionRecord,
        payload: &[u8],
        options: &PushOptions,
    ) -> Result<reqwest::Request, PushError> {
        if let Some(topic) = &options.topic
            && !valid_topic_header(topic)
        {
            return Err(PushError::InvalidTopic);
        }
        let receiver = subscription.receiver_keys()?;
        let body = ece::encrypt(payload, &receiver)?;
        let authorization = self.vapid.authorization(&subscription.endpoint)?;
        let mut builder = self
            .delivery
            .http()
            .post(&subscription.endpoint)
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::CONTENT_ENCODING, "aes128gcm")
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header("TTL", options.ttl.as_secs().to_string())
            .header("Urgency", options.urgency.as_str())
            .body(body);
        if let Some(topic) = &options.topic {
            builder = builder.header("Topic", topic.as_str());
        }
        builder.build().map_err(|e| PushError::Rejected {
            status: 0,
            body: e.without_url().to_string(),
        })
    }

    /// Sends one message to one subscription.
    pub async fn send(
        &self,
        subscription: &SubscriptionRecord,
        payload: &[u8],
        options: &PushOptions,
    ) -> Result<PushReceipt, PushError> {
        let request = self.build_request(subscription, payload, options)?;
        let response = self.delivery.send(request).await?;
        let status = response.status.as_u16();
        match status {
            200..=299 => Ok(PushReceipt {
                status,
                location: response
                    .headers
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                attempts: response.attempts,
            }),
            404 | 410 => Err(PushError::Gone { status }),
            413 => Err(PushError::PayloadTooLarge),
            429 => Err(PushError::RateLimited {
                retry_after: response.retry_after,
            }),
            _ => match response.error_for_status() {
                Err(DeliveryError::Status { status, body, .. }) if status < 500 => {
                    Err(PushError::Rejected { status, body })
                }
                Err(other) => Err(PushError::Delivery(other)),
                Ok(_) => Err(PushError::Rejected {
                    status,
                    body: String::new(),
                }),
            },
        }
    }
}
