//! Mattermost incoming webhooks.
//!
//! Mattermost accepts Slack's incoming-webhook payload with some differences this notifier
//! accounts for:
//!
//! - **No Block Kit.** Mattermost renders the `text` (Markdown) and Slack-style `attachments`
//!   (`color`, `title`, `text`, `fields` with `short`, `title_link`), not `blocks`. Notifications
//!   are rendered as one attachment with the severity colour and facts as fields.
//! - **Markdown, not mrkdwn.** User text is escaped as Markdown, and `@channel`, `@all`,
//!   `@here` and `@user` mentions are neutralised with a zero-width space, since Mattermost turns
//!   them into notifications.
//! - **`props`.** Extra data rides in `props`; `props.card` is Markdown shown in the message's
//!   side panel. The notifier puts the full details there and the event type and severity in
//!   `props.aisoc_*` for integrations to read.
//! - **Overrides work.** `channel`, `username`, `icon_url` and `icon_emoji` are honoured when the
//!   server allows integrations to override them.
//! - **Errors are JSON** (`{"id": "...app_error", "message": ..., "status_code": ...}`) rather
//!   than Slack's plain-text codes. The `id` is kept as the error's code (the `message` is not:
//!   a peer's words do not reach error messages) and classified as [`error`](crate::error)
//!   describes; a removed webhook answers 404 and is reported as gone.
//!
//! [`MattermostChannelConfig`] is the channel as an operator writes it (JSON in the gateway's
//! `/v1/settings/notifications`), validated into this notifier.

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, HttpResponse};
pub use aisoc_notify_core::markup::escape_markdown;
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::secret::SecretUrl;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ConfigError, Delivered, Notification, Notifier, NotifyError, async_trait};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{SlackError, short_code};
use crate::webhook::{default_delivery, default_pacer, post_to_webhook, webhook_destination};

const SERVICE: &str = "mattermost";

/// Delivers notifications to a Mattermost incoming webhook.
#[derive(Debug, Clone)]
pub struct MattermostWebhookNotifier {
    url: SecretUrl,
    channel: Option<String>,
    username: Option<String>,
    icon_url: Option<String>,
    icon_emoji: Option<String>,
    delivery: DeliveryClient,
    pacer: Arc<Pacer>,
}

impl MattermostWebhookNotifier {
    /// A notifier for `webhook_url` (https; plain http only to loopback).
    pub fn new(webhook_url: &str) -> Result<Self, SlackError> {
        if webhook_url.trim().is_empty() {
            return Err(
                ConfigError::new("webhook_url", "is required for Mattermost webhooks").into(),
            );
        }
        Ok(Self {
            url: webhook_destination("webhook_url", webhook_url)?,
            channel: None,
            username: None,
            icon_url: None,
            icon_emoji: None,
            delivery: default_delivery()?,
            pacer: default_pacer(),
        })
    }

    /// Posts to another channel than the webhook's own (name, not display name).
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Overrides the poster's name.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Overrides the poster's icon with an image URL.
    pub fn with_icon_url(mut self, icon_url: impl Into<String>) -> Self {
        self.icon_url = Some(icon_url.into());
        self
    }

    /// Overrides the poster's icon with an emoji name.
    pub fn with_icon_emoji(mut self, icon_emoji: impl Into<String>) -> Self {
        self.icon_emoji = Some(icon_emoji.into());
        self
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    /// Shares a pacer.
    pub fn with_pacer(mut self, pacer: Arc<Pacer>) -> Self {
        self.pacer = pacer;
        self
    }

    /// The payload for `notification`.
    pub fn payload(&self, notification: &Notification) -> Value {
        let severity = notification.severity;
        let title = escape_markdown(&notification.title);
        let fields: Vec<Value> = notification
            .facts
            .iter()
            .map(|fact| {
                json!({
                    "title": escape_markdown(&fact.label),
                    "value": escape_markdown(&fact.value),
                    "short": fact.value.chars().count() <= 40,
                })
            })
            .collect();
        let links: Vec<String> = notification
            .links
            .iter()
            .map(|link| format!("[{}]({})", escape_markdown(&link.label), link.url))
            .collect();
        let mut text = escape_markdown(&notification.body);
        if !links.is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&links.join(" · "));
        }
        let mut card = format!(
            "### {} {}\n**Severity:** {}  \n**Event:** {}  \n**Tenant:** {}",
            severity.emoji(),
            title,
            severity.as_str(),
            escape_markdown(notification.event_type.as_str()),
            escape_markdown(&notification.tenant_id)
        );
        for fact in &notification.facts {
            card.push_str(&format!(
                "  \n**{}:** {}",
                escape_markdown(&fact.label),
                escape_markdown(&fact.value)
            ));
        }
        let mut attachment = json!({
            "fallback": format!("[{}] {}", severity.as_str().to_uppercase(), title),
            "color": severity.color_hex(),
            "title": format!("{} {}", severity.emoji(), title),
            "text": text,
            "fields": fields,
            "footer": format!("aisoc-notify · {} · {}", notification.event_type, severity),
        });
        if let Some(first) = notification.links.first() {
            attachment["title_link"] = Value::String(first.url.to_string());
        }
        let mut payload = json!({
            "text": format!("{} **[{}]** {}", severity.emoji(), severity.as_str().to_uppercase(), title),
            "attachments": [attachment],
            "props": {
                "card": card,
                "aisoc_event_type": notification.event_type.as_str(),
                "aisoc_severity": severity.as_str(),
                "aisoc_tenant_id": notification.tenant_id,
            },
        });
        for (key, value) in [
            ("channel", &self.channel),
            ("username", &self.username),
            ("icon_url", &self.icon_url),
            ("icon_emoji", &self.icon_emoji),
        ] {
            if let Some(value) = value {
                payload[key] = Value::String(value.clone());
            }
        }
        payload
    }
}

#[async_trait]
impl Notifier for MattermostWebhookNotifier {
    fn channel_type(&self) -> &str {
        SERVICE
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let payload = self.payload(notification);
        let response = post_to_webhook(&self.delivery, &self.pacer, &self.url, &payload)
            .await
            .map_err(|e| e.into_notify_error(SERVICE))?;
        mattermost_result(&response).map_err(|e| e.into_notify_error(SERVICE))
    }
}

/// The longest channel name Mattermost allows.
const MAX_CHANNEL_NAME: usize = 64;

/// A Mattermost channel: an incoming webhook URL and, optionally, the channel to post in
/// instead of the webhook's own.
///
/// `channel` is the channel's name as in its URL (`town-square`), not its display name, or
/// `@username` for a direct message; the server must allow integrations to override it.
/// Unknown keys are refused, so a misspelt setting is not silently ignored.
///
/// ```
/// use aisoc_notify_slack::mattermost::MattermostChannelConfig;
///
/// let config: MattermostChannelConfig = serde_json::from_str(
///     r#"{"webhook_url": "https://chat.example.com/hooks/s3cret", "channel": "soc-alerts"}"#,
/// )
/// .unwrap();
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// let missing: MattermostChannelConfig = serde_json::from_str("{}").unwrap();
/// assert_eq!(
///     missing.validate().unwrap_err().to_string(),
///     "webhook_url: is required for Mattermost channels"
/// );
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostChannelConfig {
    /// The incoming webhook URL; its path is the credential.
    #[serde(default)]
    pub webhook_url: Option<SecretString>,
    /// The channel to post in instead of the webhook's own.
    #[serde(default)]
    pub channel: Option<String>,
}

impl MattermostChannelConfig {
    fn url(&self) -> &str {
        self.webhook_url
            .as_ref()
            .map_or("", |u| u.expose_secret().trim())
    }

    fn channel(&self) -> Option<&str> {
        self.channel
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }

    /// Checks the webhook URL (required; https, plain http only to loopback) and the channel
    /// name.
    pub fn validate(&self) -> Result<(), SlackError> {
        if self.url().is_empty() {
            return Err(
                ConfigError::new("webhook_url", "is required for Mattermost channels").into(),
            );
        }
        webhook_destination("webhook_url", self.url())?;
        if let Some(channel) = self.channel() {
            let name = channel.strip_prefix('@').unwrap_or(channel);
            let valid = !name.is_empty()
                && name.chars().count() <= MAX_CHANNEL_NAME
                && name.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                });
            if !valid {
                return Err(ConfigError::new(
                    "channel",
                    "must be a channel name as in its URL (lowercase letters, digits, '-', '_', \
                     up to 64) or @username, not a display name",
                )
                .into());
            }
        }
        Ok(())
    }

    /// Builds the notifier, delivering through `delivery`.
    pub fn into_notifier(self, delivery: DeliveryClient) -> Result<Arc<dyn Notifier>, SlackError> {
        self.validate()?;
        let mut notifier = MattermostWebhookNotifier::new(self.url())?.with_delivery(delivery);
        if let Some(channel) = self.channel() {
            notifier = notifier.with_channel(channel);
        }
        Ok(Arc::new(notifier))
    }
}

/// Maps a Mattermost webhook response: 2xx is delivered, anything else a
/// [`SlackError::Mattermost`] with the error's `id` when it sent one.
fn mattermost_result(response: &HttpResponse) -> Result<Delivered, SlackError> {
    if response.is_success() {
        return Ok(Delivered::default().attempts(response.attempts));
    }
    let body: Value = response.json().unwrap_or(Value::Null);
    Err(SlackError::Mattermost {
        code: body["id"].as_str().and_then(short_code),
        status: response.status.as_u16(),
        retry_after: response.retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: Value) -> Result<MattermostChannelConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_webhook_with_or_without_a_channel_builds() {
        let delivery = DeliveryClient::shared_default().unwrap();
        for config in [
            json!({"webhook_url": "https://chat.example.com/hooks/abc"}),
            json!({"webhook_url": "https://chat.example.com/hooks/abc", "channel": "town-square"}),
            json!({"webhook_url": "https://chat.example.com/hooks/abc", "channel": "@alice.b"}),
        ] {
            let parsed = parse(config.clone()).unwrap();
            assert!(parsed.into_notifier(delivery.clone()).is_ok(), "{config}");
        }
    }

    #[test]
    fn every_invalid_field_is_named() {
        let cases = [
            (
                json!({}),
                "webhook_url: is required for Mattermost channels",
            ),
            (
                json!({"webhook_url": "ftp://chat.example.com/hooks/abc"}),
                "webhook_url: ",
            ),
            (
                json!({"webhook_url": "https://chat.example.com/hooks/abc", "channel": "SOC Alerts"}),
                "channel: must be a channel name",
            ),
        ];
        for (config, message) in cases {
            let error = parse(config.clone()).unwrap().validate().unwrap_err();
            assert!(error.to_string().starts_with(message), "{config}: {error}");
        }
        let unknown = parse(json!({"url": "https://chat.example.com/hooks/abc"})).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `url`"),
            "{unknown}"
        );
    }

    #[test]
    fn debug_hides_the_webhook_url() {
        let config =
            parse(json!({"webhook_url": "https://chat.example.com/hooks/SECRET-PATH"})).unwrap();
        assert!(!format!("{config:?}").contains("SECRET-PATH"));
    }
}
