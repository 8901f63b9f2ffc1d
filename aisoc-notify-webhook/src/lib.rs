//! Signed generic webhooks: JSON to a URL, signed so the receiver can trust it.
//!
//! - With a secret, the body carries `X-AiSOC-Signature: sha256=<hex>` (HMAC-SHA256 of the exact
//!   bytes sent).
//! - With a Standard Webhooks secret (`whsec_…`), the `webhook-id`, `webhook-timestamp` and
//!   `webhook-signature` headers are added; receivers verify them with any Standard Webhooks
//!   library or [`aisoc_notify_core::signature::WebhookVerifier`].
//! - Every request carries `Idempotency-Key`. For a notification it is the notification's
//!   `dedupe_key` (the outbox gives every queued notification one, the same on every retry), and
//!   the Standard Webhooks `webhook-id` is the same value, so a receiver that deduplicates on
//!   either sees a redelivered notification once. Without a `dedupe_key` (a direct send, or
//!   [`WebhookNotifier::send_json`]) the id is random per request; use
//!   [`WebhookNotifier::send_json_with_id`] to choose it.
//! - The body is the notification itself, or, as an option, the object-event envelope
//!   `{type, action, attributes, metadata: {version: 2, created_at, community_uuid, event_id}}`
//!   for platforms that expect to call back for details.
//! - An empty URL disables sending without error: the notification is reported delivered to
//!   nobody (receipt `disabled`), so a host can keep recording events with no receiver set up.
//!
//! Receivers have no error codes of their own, so a refusal is classified by its HTTP status
//! ([`RetryClass::for_status`](aisoc_notify_core::RetryClass::for_status)) and reported
//! without the receiver's body:
//!
//! | answer | error | class |
//! |---|---|---|
//! | 2xx | delivered | — |
//! | 404, 410 | [`NotifyError::Gone`] (the receiver was removed) | `Gone` |
//! | 429 | [`NotifyError::RateLimited`] (after the delivery layer's retries) | `Throttled(Retry-After)`, `Retryable` without one |
//! | 5xx, 408 | [`NotifyError::Unavailable`] (503 with `Retry-After`: [`NotifyError::RateLimited`]) | `Retryable` (`Throttled`) |
//! | timeout, connection failure | [`NotifyError::Delivery`] | `Retryable` |
//! | other 4xx | [`NotifyError::Rejected`] | `NonRetryable` |
//! | 3xx (not followed), a forbidden address | [`NotifyError::Delivery`] | `NonRetryable` |
//!
//! The URL is checked when the notifier is built: https (plain http only to loopback) and, for
//! an address literal, the delivery client's outbound guard. A configuration error names the
//! setting (`url: …`, `secret: …`), never its value.
//!
//! [`config::WebhookChannelConfig`] is the channel as an operator writes it (JSON in the
//! gateway's `/v1/settings/notifications`), validated into a notifier.
//!
//! The `webhook` playbook action ([`executor::WebhookActionExecutor`]) sends one such request
//! to a URL the step names.
//!
//! [`HoneytokenTriggered`] is the typed first-touch payload of a honeytoken, sent with
//! [`WebhookNotifier::send_json`].
//!
//! ```no_run
//! use aisoc_notify_webhook::{HoneytokenTriggered, WebhookNotifier};
//!
//! # async fn run() -> Result<(), aisoc_notify_core::NotifyError> {
//! let webhook = WebhookNotifier::builder()
//!     .url("https://hooks.example.com/aisoc")
//!     .secret("shared-secret")
//!     .build()?;
//! webhook
//!     .send_json(&HoneytokenTriggered::new("ht_1", "acme", "aws_key", "prod-backup-creds", "trg_9", "203.0.113.7"))
//!     .await?;
//! # Ok(()) }
//! ```

pub mod config;

pub mod executor;

use std::sync::Arc;

use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::delivery::{DeliveryClient, HttpResponse, check_destination};
use aisoc_notify_core::secret::{ExposeSecret, SecretString, SecretUrl};
use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner};
use aisoc_notify_core::{Delivered, Notification, Notifier, NotifyError, async_trait};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

/// The body shape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Envelope {
    /// The notification as JSON.
    #[default]
    Plain,
    /// `{type, action, attributes, metadata{version: 2, …}}`.
    ObjectEvent {
        /// The receiving community's or tenant's UUID, echoed in `metadata.community_uuid`.
        community_uuid: String,
    },
}

/// The first touch of a honeytoken: what a receiver gets when a decoy credential, file or URL
/// is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoneytokenTriggered {
    /// Always `honeytoken.triggered`.
    pub event: &'static str,
    /// The honeytoken.
    pub honeytoken_id: String,
    /// The tenant that planted it.
    pub tenant_id: String,
    /// Its kind (`aws_key`, `url`, `document`, …).
    pub token_type: String,
    /// Its display name.
    pub token_name: String,
    /// This trigger's id.
    pub trigger_id: String,
    /// Where the touch came from.
    pub source_ip: String,
    /// When.
    pub triggered_at: DateTime<Utc>,
}

impl HoneytokenTriggered {
    /// A trigger happening now.
    pub fn new(
        honeytoken_id: impl Into<String>,
        tenant_id: impl Into<String>,
        token_type: impl Into<String>,
        token_name: impl Into<String>,
        trigger_id: impl Into<String>,
        source_ip: impl Into<String>,
    ) -> Self {
        Self {
            event: "honeytoken.triggered",
            honeytoken_id: honeytoken_id.into(),
            tenant_id: tenant_id.into(),
            token_type: token_type.into(),
            token_name: token_name.into(),
            trigger_id: trigger_id.into(),
            source_ip: source_ip.into(),
            triggered_at: Utc::now(),
        }
    }
}

/// Delivers signed JSON webhooks.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    url: Option<SecretUrl>,
    aisoc: Option<Arc<WebhookSigner>>,
    standard: Option<Arc<WebhookSigner>>,
    envelope: Envelope,
    delivery: DeliveryClient,
}

/// Builds a [`WebhookNotifier`].
///
/// The URL (which often carries a token) and both secrets are held as secrets from the first
/// call, so the builder's `Debug` shows `[REDACTED]` for them.
#[derive(Debug, Default)]
pub struct WebhookNotifierBuilder {
    url: Option<SecretString>,
    secret: Option<SecretString>,
    standard_secret: Option<SecretString>,
    envelope: Envelope,
    delivery: Option<DeliveryClient>,
}

impl WebhookNotifierBuilder {
    /// The receiver; an empty URL disables sending.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(SecretString::from(url.into()));
        self
    }

    /// Signs with `X-AiSOC-Signature: sha256=<hex>`.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into())
            .filter(|s: &String| !s.is_empty())
            .map(SecretString::from);
        self
    }

    /// Adds Standard Webhooks headers, signed with a `whsec_…` secret.
    pub fn standard_webhooks_secret(mut self, secret: impl Into<String>) -> Self {
        self.standard_secret = Some(secret.into())
            .filter(|s: &String| !s.is_empty())
            .map(SecretString::from);
        self
    }

    /// The body shape.
    pub fn envelope(mut self, envelope: Envelope) -> Self {
        self.envelope = envelope;
        self
    }

    /// Shares a delivery client.
    pub fn delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// Validates and builds; a [`NotifyError::Config`] names the setting that is wrong.
    pub fn build(self) -> Result<WebhookNotifier, NotifyError> {
        let config = NotifyError::Config;
        let delivery = match self.delivery {
            Some(delivery) => delivery,
            None => DeliveryClient::shared_default()?,
        };
        let url = match self
            .url
            .as_ref()
            .map(|u| u.expose_secret().trim())
            .filter(|u| !u.is_empty())
        {
            Some(url) => {
                let url = check_destination(url).map_err(|e| config(ConfigError::new("url", e)))?;
                delivery
                    .config()
                    .destinations
                    .check_url(&url)
                    .map_err(|e| config(ConfigError::new("url", e)))?;
                Some(SecretUrl::new(url))
            }
            None => None,
        };
        let signer = |field: &str, scheme, secret: Option<SecretString>| {
            secret
                .map(|s| {
                    WebhookSigner::new(scheme, s.expose_secret())
                        .map(Arc::new)
                        .map_err(|e| config(ConfigError::new(field, e)))
                })
                .transpose()
        };
        Ok(WebhookNotifier {
            url,
            aisoc: signer("secret", SignatureScheme::Aisoc, self.secret)?,
            standard: signer(
                "standard_webhooks_secret",
                SignatureScheme::StandardWebhooks,
                self.standard_secret,
            )?,
            envelope: self.envelope,
            delivery,
        })
    }
}

fn message_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!(
        "msg_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// `Idempotency-Key`, the header receivers deduplicate deliveries on (IETF draft
/// `draft-ietf-httpapi-idempotency-key-header`).
pub const IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static("idempotency-key");

/// `key` as a header value that reads the same every time: letters, digits and `-._~:` as
/// they are, every other byte as `%XX`.
fn header_safe(key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut safe = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                safe.push(char::from(b));
            }
            other => {
                safe.push('%');
                safe.push(char::from(HEX[usize::from(other >> 4)]));
                safe.push(char::from(HEX[usize::from(other & 0x0f)]));
            }
        }
    }
    safe
}

/// The delivery id for `notification`: its `dedupe_key`, else random.
fn delivery_id(notification: &Notification) -> String {
    match notification.dedupe_key.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => message_id(),
    }
}

impl WebhookNotifier {
    /// Starts a builder.
    pub fn builder() -> WebhookNotifierBuilder {
        WebhookNotifierBuilder::default()
    }

    /// Whether a URL is configured.
    pub fn is_enabled(&self) -> bool {
        self.url.is_some()
    }

    /// The body for a notification.
    pub fn payload(&self, notification: &Notification) -> Value {
        match &self.envelope {
            Envelope::Plain => serde_json::to_value(notification).unwrap_or(Value::Null),
            Envelope::ObjectEvent { community_uuid } => json!({
                "type": "notification",
                "action": notification.event_type.as_str(),
                "attributes": {
                    "tenant_id": notification.tenant_id,
                    "severity": notification.severity,
                    "title": notification.title,
                    "body": notification.body,
                    "facts": notification.facts,
                    "links": notification.links,
                    "dedupe_key": notification.dedupe_key,
                },
                "metadata": {
                    "version": 2,
                    "created_at": notification.created_at,
                    "community_uuid": community_uuid,
                    "event_id": notification.dedupe_key.clone().unwrap_or_else(message_id),
                },
            }),
        }
    }

    /// Sends any JSON payload, signed as configured, under a random delivery id.
    pub async fn send_json(&self, payload: &impl Serialize) -> Result<Delivered, NotifyError> {
        self.send_json_with_id(payload, &message_id()).await
    }

    /// Sends any JSON payload, signed as configured, with `id` as its `Idempotency-Key` and
    /// Standard Webhooks `webhook-id` (the receipt is `id`). Use the same id for every retry of
    /// one delivery.
    pub async fn send_json_with_id(
        &self,
        payload: &impl Serialize,
        id: &str,
    ) -> Result<Delivered, NotifyError> {
        let Some(url) = &self.url else {
            tracing::info!("webhook disabled (no URL); nothing sent");
            return Ok(Delivered::with_receipt("disabled"));
        };
        let body = serde_json::to_vec(payload).map_err(|e| NotifyError::Render(e.to_string()))?;
        let mut builder = self
            .delivery
            .http()
            .post(url.expose().clone())
            .header(http::header::CONTENT_TYPE, "application/json");
        let id = header_safe(id);
        builder = builder.header(IDEMPOTENCY_KEY, &id);
        let timestamp = Utc::now().timestamp();
        for signer in self.aisoc.iter().chain(self.standard.iter()) {
            for (name, value) in signer.headers(&body, &id, timestamp) {
                builder = builder.header(name, value);
            }
        }
        let request = builder
            .body(body)
            .build()
            .map_err(|e| NotifyError::Render(e.without_url().to_string()))?;
        let response = self.delivery.send(request).await?;
        if !response.is_success() {
            return Err(refusal(&response));
        }
        Ok(Delivered::with_receipt(id).attempts(response.attempts))
    }
}

/// The error for a receiver's answer that is not a success, classified by its status
/// ([`NotifyError::from_status`]: 404 and 410 are `Gone`); the receiver's body is never carried.
fn refusal(response: &HttpResponse) -> NotifyError {
    let status = response.status.as_u16();
    NotifyError::from_status(
        SERVICE,
        status,
        response.retry_after,
        format!("the receiver answered HTTP {status}"),
    )
}

const SERVICE: &str = "webhook";

#[async_trait]
impl Notifier for WebhookNotifier {
    fn channel_type(&self) -> &str {
        "webhook"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let id = delivery_id(notification);
        match &self.envelope {
            // The JSON `payload` gives (keys in field order), written straight from the
            // notification rather than through a `Value` tree.
            Envelope::Plain => self.send_json_with_id(notification, &id).await,
            Envelope::ObjectEvent { .. } => {
                self.send_json_with_id(&self.payload(notification), &id)
                    .await
            }
        }
    }
}
