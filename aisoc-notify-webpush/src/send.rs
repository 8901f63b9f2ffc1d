//! Sending one encrypted message to one push service (RFC 8030).
//!
//! Every request carries `TTL`; `Urgency` and `Topic` when set. How each answer is reported,
//! and the [`RetryClass`] a durable outbox reads from [`PushError::retry_class`]:
//!
//! | answer | error | class |
//! |---|---|---|
//! | 201 (any 2xx) | delivered | — |
//! | 404, 410 | [`PushError::Gone`] (the subscription is evicted) | `Gone` |
//! | 413, or a plaintext over [`MAX_PLAINTEXT`](crate::ece::MAX_PLAINTEXT) refused before any request | [`PushError::PayloadTooLarge`], [`PushError::Encrypt`] | `NonRetryable` |
//! | 429 (after the delivery layer's retries) | [`PushError::RateLimited`] | `Throttled(Retry-After)`, `Retryable` without one |
//! | 400, 401, 403 and other 4xx (but 408 and 425, retried like a 5xx) | [`PushError::Rejected`] with the service's short code | `NonRetryable` |
//! | 5xx, timeout, connection failure | [`PushError::Delivery`] | `Retryable` (503 with `Retry-After`: `Throttled`) |
//! | 3xx, a forbidden address | [`PushError::Delivery`] | `NonRetryable` |
//!
//! A push service's answer is never echoed: errors carry its status and, when its JSON body
//! names one, a short code (Apple's `reason`, FCM's `error.status`, Mozilla's `errno`), so a
//! route that reports a failure to a browser cannot be used to read what an endpoint answered.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryError, HttpResponse};
use aisoc_notify_core::retry::RetryClass;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::ece::{self, EncryptError};
use crate::subscription::{SubscriptionError, SubscriptionRecord};
use crate::vapid::{VapidError, VapidSigner};

const TTL: HeaderName = HeaderName::from_static("ttl");
const URGENCY: HeaderName = HeaderName::from_static("urgency");
const TOPIC: HeaderName = HeaderName::from_static("topic");

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

/// Why a push was not delivered. Its `Display` never includes the push service's answer
/// beyond the status and a short code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The payload could not be encrypted (too large for one record, bad receiver key); no
    /// request was made.
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
    /// The request could not be built from the subscription and options.
    #[error("the push request could not be built")]
    InvalidRequest,
    /// The subscription no longer exists (404/410); evict it.
    #[error("subscription is gone (HTTP {status})")]
    Gone {
        /// 404 or 410.
        status: u16,
    },
    /// The push service says the message is too large (413).
    #[error("push service refused the payload as too large (HTTP 413)")]
    PayloadTooLarge,
    /// Throttled (429), after the retries the delivery layer made.
    #[error("push service is rate limiting (HTTP 429){}", retry_after_text(*.retry_after))]
    RateLimited {
        /// The service's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Refused (400, 401, 403, other 4xx): the same request will be refused again.
    #[error("push service refused the message (HTTP {status}{})", code_text(.code.as_deref()))]
    Rejected {
        /// The status.
        status: u16,
        /// The service's short error code (`BadJwtToken`, `INVALID_ARGUMENT`, `errno 102`),
        /// when its JSON answer named one.
        code: Option<String>,
    },
    /// The HTTP exchange failed: a 5xx, a timeout, no connection, a redirect, a forbidden
    /// address.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |wait| {
        format!("; retry after {}s", wait.as_secs())
    })
}

fn code_text(code: Option<&str>) -> String {
    code.map_or_else(String::new, |code| format!(", {code}"))
}

impl PushError {
    /// Whether, and when, sending again can succeed; see the [module docs](self) for the table.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            PushError::Gone { .. } => RetryClass::Gone,
            PushError::RateLimited { retry_after } => RetryClass::throttled(*retry_after),
            PushError::Delivery(err) => err.retry_class(),
            PushError::Encrypt(_)
            | PushError::Subscription(_)
            | PushError::Vapid(_)
            | PushError::InvalidTopic
            | PushError::InvalidRequest
            | PushError::PayloadTooLarge
            | PushError::Rejected { .. } => RetryClass::NonRetryable,
        }
    }

    /// Whether the subscription should be removed.
    pub fn is_gone(&self) -> bool {
        self.retry_class() == RetryClass::Gone
    }

    /// Whether trying again later can succeed; shorthand for
    /// `self.retry_class().is_retryable()`.
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }

    /// The wait the push service asked for, when it is throttling.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PushError::RateLimited { retry_after } => *retry_after,
            PushError::Delivery(err) => err.retry_after(),
            _ => None,
        }
    }

    /// The error for a push service's answer that is not a success.
    fn from_response(response: &HttpResponse) -> Self {
        let status = response.status.as_u16();
        match status {
            404 | 410 => PushError::Gone { status },
            413 => PushError::PayloadTooLarge,
            429 => PushError::RateLimited {
                retry_after: response.retry_after,
            },
            _ if response.retry_class().is_retryable() => {
                PushError::Delivery(response.status_error())
            }
            400..=499 => PushError::Rejected {
                status,
                code: service_code(&response.body),
            },
            _ => PushError::Delivery(response.status_error()),
        }
    }
}

/// The short error code in a push service's JSON answer, if it names one: Apple's `reason`
/// (`BadJwtToken`), FCM's `error.status` (`INVALID_ARGUMENT`), Mozilla's `errno` (`errno 102`).
/// Anything that is not a short identifier is dropped: free text is never carried.
fn service_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(errno) = value.get("errno").and_then(|v| v.as_u64()) {
        return Some(format!("errno {errno}"));
    }
    let code = value
        .get("reason")
        .or_else(|| value.pointer("/error/status"))
        .and_then(|v| v.as_str())?;
    let short = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    short.then(|| code.to_owned())
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

/// One message encrypted and signed, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedPush {
    /// The subscription's endpoint.
    pub url: url::Url,
    /// `Authorization` (VAPID, marked sensitive), `Content-Encoding`, `Content-Type`, `TTL`,
    /// `Urgency` and, when set, `Topic`.
    pub headers: HeaderMap,
    /// The `aes128gcm` body.
    pub body: Bytes,
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
            delivery: DeliveryClient::shared_default()?,
        })
    }

    /// A sender over a shared delivery client (building a client loads the TLS roots; share
    /// one rather than building one per sender).
    pub fn with_client(vapid: VapidSigner, delivery: DeliveryClient) -> Self {
        Self {
            vapid: Arc::new(vapid),
            delivery,
        }
    }

    /// Replaces the delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    /// The delivery client; the push routes check new subscriptions against its
    /// [`DestinationPolicy`](aisoc_notify_core::destination::DestinationPolicy) too.
    pub fn delivery(&self) -> &DeliveryClient {
        &self.delivery
    }

    /// The VAPID signer (for the public key).
    pub fn vapid(&self) -> &VapidSigner {
        &self.vapid
    }

    /// Encrypts and signs one message without sending it: its URL, headers and body.
    pub fn prepare(
        &self,
        subscription: &SubscriptionRecord,
        payload: &[u8],
        options: &PushOptions,
    ) -> Result<PreparedPush, PushError> {
        if let Some(topic) = &options.topic
            && !valid_topic_header(topic)
        {
            return Err(PushError::InvalidTopic);
        }
        let receiver = subscription.receiver_keys()?;
        let body = ece::encrypt(payload, &receiver)?;
        let url =
            url::Url::parse(&subscription.endpoint).map_err(|_| VapidError::InvalidEndpoint)?;
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(
            http::header::AUTHORIZATION,
            self.vapid.authorization_header(&url)?,
        );
        headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("aes128gcm"),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(TTL, HeaderValue::from(options.ttl.as_secs()));
        headers.insert(URGENCY, HeaderValue::from_static(options.urgency.as_str()));
        if let Some(topic) = &options.topic {
            let topic = HeaderValue::from_str(topic).map_err(|_| PushError::InvalidTopic)?;
            headers.insert(TOPIC, topic);
        }
        Ok(PreparedPush {
            url,
            headers,
            body: Bytes::from(body),
        })
    }

    /// Builds the request for one message without sending it: encryption and VAPID happen here.
    /// [`send`](Self::send) does not go through it (it sends [`prepare`](Self::prepare)'s parts
    /// over a direct HTTP/2 connection where it can).
    pub fn build_request(
        &self,
        subscription: &SubscriptionRecord,
        payload: &[u8],
        options: &PushOptions,
    ) -> Result<reqwest::Request, PushError> {
        let push = self.prepare(subscription, payload, options)?;
        let mut request = reqwest::Request::new(http::Method::POST, push.url);
        *request.headers_mut() = push.headers;
        *request.body_mut() = Some(push.body.into());
        Ok(request)
    }

    /// Sends one message to one subscription.
    pub async fn send(
        &self,
        subscription: &SubscriptionRecord,
        payload: &[u8],
        options: &PushOptions,
    ) -> Result<PushReceipt, PushError> {
        let push = self.prepare(subscription, payload, options)?;
        let response = self
            .delivery
            .send_bytes(http::Method::POST, push.url, push.headers, push.body)
            .await?;
        if !response.is_success() {
            return Err(PushError::from_response(&response));
        }
        Ok(PushReceipt {
            status: response.status.as_u16(),
            location: response
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            attempts: response.attempts,
        })
    }
}
