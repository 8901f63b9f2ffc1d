//! Delivery to Teams incoming webhooks, in both generations in use.
//!
//! - **Workflows** (Power Automate "When a Teams webhook request is received"), the replacement
//!   for Office 365 connectors: the body is a `message` whose attachment is an Adaptive Card.
//! - **Connector** (legacy Office 365 incoming webhook): the body is a MessageCard.
//!
//! The format is detected from the URL (`*.webhook.office.com` and `outlook.office.com` are
//! connectors; anything else, such as `*.logic.azure.com` or `*.powerplatform.com`, is
//! Workflows) unless set. Payloads over Teams' 28 KB limit are refused before sending, and
//! requests are paced per webhook. Answers are classified as [`error`](crate::error) describes.

use std::num::NonZeroU32;
use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryError, check_destination};
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::secret::SecretUrl;
use aisoc_notify_core::{ConfigError, Delivered, Notification, Notifier, NotifyError, async_trait};
use serde_json::Value;

use crate::card::DEFAULT_VERSION;
use crate::error::{TeamsError, webhook_result};
use crate::render::{message_card, notification_card};

/// Teams' message size limit, in bytes of JSON.
pub const MAX_PAYLOAD_BYTES: usize = 28 * 1024;
/// Requests per second per webhook.
pub const REQUESTS_PER_SECOND: u32 = 4;

/// Which webhook generation a URL belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Workflows: Adaptive Card attachment.
    Workflows,
    /// Legacy Office 365 connector: MessageCard.
    Connector,
}

impl WebhookFormat {
    /// Guesses the format from the webhook host.
    pub fn detect(url: &url::Url) -> Self {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if host.ends_with(".webhook.office.com")
            || host == "outlook.office.com"
            || host == "outlook.office365.com"
        {
            WebhookFormat::Connector
        } else {
            WebhookFormat::Workflows
        }
    }

    /// The format's name, as [`FromStr`](std::str::FromStr) reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Workflows => "workflows",
            WebhookFormat::Connector => "connector",
        }
    }
}

impl std::str::FromStr for WebhookFormat {
    type Err = ConfigError;

    /// Reads `workflows` (or `workflow`) and `connector` (or `messagecard`), in any case.
    ///
    /// ```
    /// use aisoc_notify_teams::webhook::WebhookFormat;
    ///
    /// assert_eq!("Connector".parse::<WebhookFormat>().unwrap(), WebhookFormat::Connector);
    /// assert_eq!(
    ///     "card".parse::<WebhookFormat>().unwrap_err().to_string(),
    ///     "format: must be 'workflows' or 'connector'"
    /// );
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "workflows" | "workflow" => Ok(WebhookFormat::Workflows),
            "connector" | "messagecard" => Ok(WebhookFormat::Connector),
            _ => Err(ConfigError::new(
                "format",
                "must be 'workflows' or 'connector'",
            )),
        }
    }
}

/// The delivery client notifiers and executors use unless given one: built once per process
/// and shared (its connection pool too), since building a client loads the TLS roots.
pub(crate) fn default_delivery() -> Result<DeliveryClient, DeliveryError> {
    DeliveryClient::shared_default()
}

/// The default pacer: a few requests per second per webhook.
pub fn default_pacer() -> Arc<Pacer> {
    Arc::new(Pacer::per_second(
        NonZeroU32::new(REQUESTS_PER_SECOND).unwrap_or(NonZeroU32::MIN),
    ))
}

/// Delivers notifications to a Teams webhook.
///
/// ```
/// use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
///
/// let teams = TeamsWebhookNotifier::builder()
///     .webhook_url("https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456")
///     .build()
///     .unwrap();
/// assert_eq!(teams.format(), WebhookFormat::Connector);
/// assert!(!format!("{teams:?}").contains("IncomingWebhook"));
///
/// let err = TeamsWebhookNotifier::builder().build().unwrap_err();
/// assert_eq!(err.to_string(), "A webhook_url is required for Teams channels");
/// ```
#[derive(Debug, Clone)]
pub struct TeamsWebhookNotifier {
    url: SecretUrl,
    format: WebhookFormat,
    version: String,
    delivery: DeliveryClient,
    pacer: Arc<Pacer>,
}

/// Builds a [`TeamsWebhookNotifier`].
#[derive(Default)]
pub struct TeamsWebhookNotifierBuilder {
    url: Option<String>,
    format: Option<WebhookFormat>,
    version: Option<String>,
    delivery: Option<DeliveryClient>,
    pacer: Option<Arc<Pacer>>,
}

/// The URL's path is the credential: `Debug` says only whether one is set.
impl std::fmt::Debug for TeamsWebhookNotifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsWebhookNotifierBuilder")
            .field("url_set", &self.url.is_some())
            .field("format", &self.format)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl TeamsWebhookNotifierBuilder {
    /// The webhook URL (https; plain http only to loopback).
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Forces the payload format instead of detecting it.
    pub fn format(mut self, format: WebhookFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// The Adaptive Card version to declare (default 1.5).
    pub fn card_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Shares a delivery client.
    pub fn delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// Shares a pacer.
    pub fn pacer(mut self, pacer: Arc<Pacer>) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<TeamsWebhookNotifier, TeamsError> {
        let raw = self
            .url
            .filter(|u| !u.trim().is_empty())
            .ok_or(TeamsError::MissingWebhookUrl)?;
        let url = check_destination(raw.trim()).map_err(|e| ConfigError::new("webhook_url", e))?;
        let delivery = match self.delivery {
            Some(delivery) => delivery,
            None => default_delivery()?,
        };
        Ok(TeamsWebhookNotifier {
            format: self.format.unwrap_or_else(|| WebhookFormat::detect(&url)),
            url: SecretUrl::new(url),
            version: self.version.unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
            delivery,
            pacer: self.pacer.unwrap_or_else(default_pacer),
        })
    }
}

impl TeamsWebhookNotifier {
    /// Starts a builder.
    pub fn builder() -> TeamsWebhookNotifierBuilder {
        TeamsWebhookNotifierBuilder::default()
    }

    /// The payload format in use.
    pub fn format(&self) -> WebhookFormat {
        self.format
    }

    /// The payload for a notification, in this webhook's format.
    pub fn payload(&self, notification: &Notification) -> Value {
        match self.format {
            WebhookFormat::Workflows => notification_card(notification, &self.version).to_message(),
            WebhookFormat::Connector => message_card(notification),
        }
    }

    /// Posts an already-built payload, refusing it before sending when it is too large.
    pub async fn send_payload(&self, payload: &Value) -> Result<Delivered, TeamsError> {
        let body = serde_json::to_vec(payload).map_err(|e| TeamsError::Encode(e.to_string()))?;
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(TeamsError::PayloadTooLarge {
                size: body.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let size = body.len();
        self.pacer.until_ready(self.url.expose().as_str()).await;
        let request = self
            .delivery
            .http()
            .post(self.url.expose().clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .build()
            .map_err(|e| TeamsError::Encode(e.without_url().to_string()))?;
        let response = self.delivery.send(request).await?;
        webhook_result(self.format, &response, size)
    }
}

#[async_trait]
impl Notifier for TeamsWebhookNotifier {
    fn channel_type(&self) -> &str {
        "teams"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        Ok(self.send_payload(&self.payload(notification)).await?)
    }
}
