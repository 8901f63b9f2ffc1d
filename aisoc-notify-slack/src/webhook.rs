//! Incoming-webhook delivery for Slack.
//!
//! An incoming webhook posts to the one channel it was created for. Responses are plain text:
//! `ok`, or an error code such as `invalid_payload` (400), `action_prohibited` (403),
//! `channel_not_found` / `no_service` (404), `channel_is_archived` (410) or `rollup_error`
//! (500); 429 carries `Retry-After`. Each is a [`SlackError::Webhook`] with the code, classified
//! as [`error`](crate::error) describes.

use std::num::NonZeroU32;
use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, HttpResponse, check_destination};
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::secret::SecretUrl;
use aisoc_notify_core::{ConfigError, Delivered, Notification, Notifier, NotifyError, async_trait};
use serde_json::Value;

use crate::blocks::SlackMessage;
use crate::error::{SlackError, short_code};
use crate::render;

/// Slack's documented pace: about one message per second per webhook or channel.
pub fn default_pacer() -> Arc<Pacer> {
    Arc::new(Pacer::per_second(NonZeroU32::MIN))
}

/// The delivery client notifiers and executors use unless given one: built once per process
/// and shared (its connection pool too), since building a client loads the TLS roots.
pub(crate) fn default_delivery() -> Result<DeliveryClient, SlackError> {
    Ok(DeliveryClient::shared_default()?)
}

/// Checks a configured webhook URL: https anywhere, plain http only to loopback.
pub(crate) fn webhook_destination(field: &str, url: &str) -> Result<SecretUrl, SlackError> {
    check_destination(url.trim())
        .map(SecretUrl::new)
        .map_err(|e| SlackError::Config(ConfigError::new(field, e)))
}

/// Maps an incoming-webhook response: 2xx is delivered, anything else a
/// [`SlackError::Webhook`] with Slack's code when the body is one.
pub(crate) fn webhook_result(response: HttpResponse) -> Result<Delivered, SlackError> {
    if response.is_success() {
        return Ok(Delivered::default().attempts(response.attempts));
    }
    Err(SlackError::Webhook {
        code: short_code(&response.text()),
        status: response.status.as_u16(),
        retry_after: response.retry_after,
    })
}

/// Posts a JSON payload to a webhook, paced per webhook.
pub(crate) async fn post_to_webhook(
    delivery: &DeliveryClient,
    pacer: &Pacer,
    url: &SecretUrl,
    payload: &Value,
) -> Result<HttpResponse, SlackError> {
    pacer.until_ready(url.expose().as_str()).await;
    let request = delivery
        .http()
        .post(url.expose().clone())
        .json(payload)
        .build()
        .map_err(|e| SlackError::Encode(e.without_url().to_string()))?;
    Ok(delivery.send(request).await?)
}

/// Delivers notifications to a Slack incoming webhook.
///
/// ```
/// use aisoc_notify_slack::webhook::SlackWebhookNotifier;
///
/// let notifier = SlackWebhookNotifier::builder()
///     .webhook_url("https://hooks.slack.com/services/T000/B000/XXXX")
///     .build()
///     .unwrap();
/// // The webhook URL is a credential: it never shows in Debug output.
/// assert!(!format!("{notifier:?}").contains("XXXX"));
/// ```
#[derive(Debug, Clone)]
pub struct SlackWebhookNotifier {
    url: SecretUrl,
    channel: Option<String>,
    username: Option<String>,
    icon_emoji: Option<String>,
    delivery: DeliveryClient,
    pacer: Arc<Pacer>,
}

/// Builds a [`SlackWebhookNotifier`].
#[derive(Default)]
pub struct SlackWebhookNotifierBuilder {
    url: Option<String>,
    channel: Option<String>,
    username: Option<String>,
    icon_emoji: Option<String>,
    delivery: Option<DeliveryClient>,
    pacer: Option<Arc<Pacer>>,
}

/// The URL's path is the credential: `Debug` says only whether one is set.
impl std::fmt::Debug for SlackWebhookNotifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackWebhookNotifierBuilder")
            .field("url_set", &self.url.is_some())
            .field("channel", &self.channel)
            .field("username", &self.username)
            .field("icon_emoji", &self.icon_emoji)
            .finish_non_exhaustive()
    }
}

impl SlackWebhookNotifierBuilder {
    /// The webhook URL (https; plain http only to loopback, for tests).
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Overrides the channel (honoured by legacy webhooks only).
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Overrides the poster's name (legacy webhooks only).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Overrides the poster's icon (legacy webhooks only).
    pub fn icon_emoji(mut self, icon: impl Into<String>) -> Self {
        self.icon_emoji = Some(icon.into());
        self
    }

    /// Shares a delivery client (connection pool, retry policy).
    pub fn delivery(mut self, client: DeliveryClient) -> Self {
        self.delivery = Some(client);
        self
    }

    /// Shares a pacer (default: one message per second per webhook).
    pub fn pacer(mut self, pacer: Arc<Pacer>) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<SlackWebhookNotifier, SlackError> {
        let raw = self
            .url
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| ConfigError::new("webhook_url", "is required for Slack webhooks"))?;
        let url = webhook_destination("webhook_url", &raw)?;
        Ok(SlackWebhookNotifier {
            url,
            channel: self.channel,
            username: self.username,
            icon_emoji: self.icon_emoji,
            delivery: match self.delivery {
                Some(client) => client,
                None => default_delivery()?,
            },
            pacer: self.pacer.unwrap_or_else(default_pacer),
        })
    }
}

impl SlackWebhookNotifier {
    /// Starts a builder.
    pub fn builder() -> SlackWebhookNotifierBuilder {
        SlackWebhookNotifierBuilder::default()
    }

    /// Posts an already-rendered message.
    pub async fn send_message(&self, message: &SlackMessage) -> Result<Delivered, SlackError> {
        let mut payload =
            serde_json::to_value(message).map_err(|e| SlackError::Encode(e.to_string()))?;
        for (key, value) in [
            ("channel", &self.channel),
            ("username", &self.username),
            ("icon_emoji", &self.icon_emoji),
        ] {
            if let Some(value) = value {
                payload[key] = Value::String(value.clone());
            }
        }
        let response = post_to_webhook(&self.delivery, &self.pacer, &self.url, &payload).await?;
        webhook_result(response)
    }
}

#[async_trait]
impl Notifier for SlackWebhookNotifier {
    fn channel_type(&self) -> &str {
        "slack"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let message = render::notification_message(notification).map_err(SlackError::from)?;
        Ok(self.send_message(&message).await?)
    }
}
