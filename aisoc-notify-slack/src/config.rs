//! Slack channel configuration as operators write it, validated into a notifier.

use std::sync::Arc;

use aisoc_notify_core::Notifier;
use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::SlackError;
use crate::web_api::{SlackBotClient, SlackBotNotifier};
use crate::webhook::SlackWebhookNotifier;

/// The message for a Slack channel configuration that names no destination.
pub const MISSING_DESTINATION: &str =
    "Slack channels require either bot_token + channel_id or webhook_url";

/// A Slack channel: a bot token with a channel id, or an incoming webhook URL.
///
/// ```
/// use aisoc_notify_slack::config::SlackChannelConfig;
///
/// let config: SlackChannelConfig = serde_json::from_str(r#"{"bot_token": "xoxb-1"}"#).unwrap();
/// assert_eq!(
///     config.validate().unwrap_err().to_string(),
///     "Slack channels require either bot_token + channel_id or webhook_url"
/// );
/// assert!(!format!("{config:?}").contains("xoxb-1"));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlackChannelConfig {
    /// A bot token (`xoxb-…`).
    #[serde(default)]
    pub bot_token: Option<SecretString>,
    /// The channel the bot posts to.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// An incoming webhook URL.
    #[serde(default)]
    pub webhook_url: Option<SecretString>,
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl SlackChannelConfig {
    /// Checks that the configuration names a destination.
    pub fn validate(&self) -> Result<(), SlackError> {
        let bot = present(self.bot_token.as_ref().map(|t| t.expose_secret())).is_some()
            && present(self.channel_id.as_deref()).is_some();
        let webhook = present(self.webhook_url.as_ref().map(|u| u.expose_secret())).is_some();
        if bot || webhook {
            Ok(())
        } else {
            Err(SlackError::MissingDestination)
        }
    }

    /// Builds the notifier: the bot when configured (it can post interactive buttons), else the
    /// webhook.
    pub fn into_notifier(self, delivery: DeliveryClient) -> Result<Arc<dyn Notifier>, SlackError> {
        self.validate()?;
        let token = present(self.bot_token.as_ref().map(|t| t.expose_secret()));
        let channel = present(self.channel_id.as_deref());
        if let (Some(token), Some(channel)) = (token, channel) {
            let client = SlackBotClient::new(token)?.with_delivery(delivery);
            return Ok(Arc::new(SlackBotNotifier::new(client, channel)?));
        }
        let url = present(self.webhook_url.as_ref().map(|u| u.expose_secret())).unwrap_or_default();
        Ok(Arc::new(
            SlackWebhookNotifier::builder()
                .webhook_url(url)
                .delivery(delivery)
                .build()?,
        ))
    }
}
