//! Slack channel configuration as operators write it, validated into a notifier.
//!
//! A host that stores channels as JSON (the gateway's `/v1/settings/notifications`) reads this
//! shape and calls [`SlackChannelConfig::into_notifier`], so the rules for a Slack channel live
//! here, beside the notifiers. Mattermost's is
//! [`MattermostChannelConfig`](crate::mattermost::MattermostChannelConfig).

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ConfigError, Notifier};
use serde::Deserialize;

use crate::error::SlackError;
use crate::web_api::{SlackBotClient, SlackBotNotifier};
use crate::webhook::SlackWebhookNotifier;

/// The message for a Slack channel configuration that names no destination.
pub const MISSING_DESTINATION: &str =
    "Slack channels require either bot_token + channel_id or webhook_url";

/// A Slack channel: a bot token with a channel id, or an incoming webhook URL.
///
/// `api_base` points the bot at another Web API base URL than [`SLACK_API_BASE`](crate::web_api::SLACK_API_BASE) (a proxy, a
/// test server); it must be https (plain http only to loopback). Unknown keys are refused, so
/// a misspelt setting is not silently ignored.
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
#[serde(deny_unknown_fields)]
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
    /// The Web API base URL for the bot (default [`SLACK_API_BASE`](crate::web_api::SLACK_API_BASE)).
    #[serde(default)]
    pub api_base: Option<String>,
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
        if !(bot || webhook) {
            return Err(SlackError::MissingDestination);
        }
        if let Some(base) = present(self.api_base.as_deref()) {
            check_destination(base).map_err(|e| ConfigError::new("api_base", e))?;
        }
        Ok(())
    }

    /// Builds the notifier: the bot when configured (it can post interactive buttons), else the
    /// webhook.
    pub fn into_notifier(self, delivery: DeliveryClient) -> Result<Arc<dyn Notifier>, SlackError> {
        self.validate()?;
        let token = present(self.bot_token.as_ref().map(|t| t.expose_secret()));
        let channel = present(self.channel_id.as_deref());
        if let (Some(token), Some(channel)) = (token, channel) {
            let mut client = SlackBotClient::new(token)?.with_delivery(delivery);
            if let Some(base) = present(self.api_base.as_deref()) {
                client = client.with_base_url(base)?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<SlackChannelConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_bot_or_a_webhook_builds() {
        let delivery = DeliveryClient::shared_default().unwrap();
        let bot = parse(serde_json::json!({
            "bot_token": "xoxb-1", "channel_id": "C1", "api_base": "http://127.0.0.1:9/api"
        }))
        .unwrap();
        assert_eq!(
            bot.into_notifier(delivery.clone()).unwrap().channel_type(),
            "slack"
        );
        let webhook =
            parse(serde_json::json!({"webhook_url": "https://hooks.slack.com/services/T/B/X"}))
                .unwrap();
        assert!(webhook.into_notifier(delivery).is_ok());
    }

    #[test]
    fn every_invalid_field_is_named() {
        let base = parse(serde_json::json!({
            "bot_token": "xoxb-1", "channel_id": "C1", "api_base": "http://slack.example/api"
        }))
        .unwrap();
        assert!(
            base.validate()
                .unwrap_err()
                .to_string()
                .starts_with("api_base: ")
        );
        let unknown =
            parse(serde_json::json!({"webhook": "https://hooks.slack.com/x"})).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `webhook`"),
            "{unknown}"
        );
        let nothing = parse(serde_json::json!({"channel_id": "C1"})).unwrap();
        assert_eq!(
            nothing.validate().unwrap_err().to_string(),
            MISSING_DESTINATION
        );
    }

    #[test]
    fn debug_hides_the_token_and_the_webhook_url() {
        let config = parse(serde_json::json!({
            "bot_token": "xoxb-SECRET-TOKEN",
            "webhook_url": "https://hooks.slack.com/services/T/B/SECRET-PATH"
        }))
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
