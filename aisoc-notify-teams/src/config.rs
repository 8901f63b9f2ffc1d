//! Teams channel configuration as operators write it, validated into a notifier.
//!
//! A host that stores channels as JSON (the gateway's `/v1/settings/notifications`) reads this
//! shape and calls [`TeamsChannelConfig::into_notifier`], so the rules for a Teams channel live
//! here, beside the notifier, and not in every host.

use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ConfigError, Notifier};
use serde::{Deserialize, Deserializer};

use crate::error::TeamsError;
use crate::webhook::{TeamsWebhookNotifier, WebhookFormat};

/// A Teams channel: an incoming webhook URL (Workflows or a legacy connector), or a
/// conversation the bot posts into (bot mode).
///
/// Webhook mode: `webhook_url`, and `format` `workflows` (Adaptive Card) or `connector`
/// (MessageCard); left out, it is detected from the URL as [`WebhookFormat::detect`]
/// describes. Bot mode: `service_url` (`https://smba.trafficmanager.net/…`) and
/// `conversation_id` (`19:…@thread.tacv2`), both from an activity the bot received; the bot's
/// app credentials come from the host (feature `bot-framework`, `into_bot_notifier`). Exactly
/// one mode. Unknown keys are refused, so a misspelt setting is not silently ignored.
///
/// ```
/// use aisoc_notify_teams::config::TeamsChannelConfig;
/// use aisoc_notify_teams::webhook::WebhookFormat;
///
/// let config: TeamsChannelConfig = serde_json::from_str(
///     r#"{"webhook_url": "https://prod-00.westus.logic.azure.com/workflows/abc?sig=s3cret", "format": "connector"}"#,
/// )
/// .unwrap();
/// assert!(config.validate().is_ok());
/// assert_eq!(config.format, Some(WebhookFormat::Connector));
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// let missing: TeamsChannelConfig = serde_json::from_str("{}").unwrap();
/// assert_eq!(
///     missing.validate().unwrap_err().to_string(),
///     "A webhook_url is required for Teams channels"
/// );
/// let wrong = serde_json::from_str::<TeamsChannelConfig>(r#"{"webhook_url": "https://x.example/", "format": "card"}"#);
/// assert!(wrong.unwrap_err().to_string().contains("must be 'workflows' or 'connector'"));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsChannelConfig {
    /// The webhook URL; its path and query are the credential.
    #[serde(default)]
    pub webhook_url: Option<SecretString>,
    /// The payload format; detected from the URL when left out.
    #[serde(default, deserialize_with = "format_from_name")]
    pub format: Option<WebhookFormat>,
    /// Bot mode: the Bot Connector service URL of the conversation.
    #[serde(default)]
    pub service_url: Option<String>,
    /// Bot mode: the conversation (a channel, group chat or personal chat) to post into.
    #[serde(default)]
    pub conversation_id: Option<String>,
}

/// Where a valid Teams channel posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamsTarget<'a> {
    /// An incoming webhook.
    Webhook {
        /// The webhook URL (a secret).
        url: &'a str,
        /// The format, when set.
        format: Option<WebhookFormat>,
    },
    /// A conversation the bot posts into.
    Bot {
        /// The Bot Connector service URL.
        service_url: &'a str,
        /// The conversation id.
        conversation_id: &'a str,
    },
}

/// What a bot-mode channel is refused with when the host has no bot credentials.
pub const MISSING_BOT_CREDENTIALS: &str = "a bot-mode Teams channel (service_url + \
    conversation_id) needs the bot's app credentials: set TEAMS_APP_ID and TEAMS_APP_PASSWORD";

/// Reads `format` through [`WebhookFormat`]'s `FromStr`; the error says which values fit (a
/// host that tracks the path, as the gateway does, prefixes `format: `).
fn format_from_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<WebhookFormat>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|name| {
            name.parse()
                .map_err(|e: ConfigError| serde::de::Error::custom(e.reason()))
        })
        .transpose()
}

impl TeamsChannelConfig {
    /// The webhook URL, trimmed, when one is set.
    fn url(&self) -> Option<&str> {
        self.webhook_url
            .as_ref()
            .map(|u| u.expose_secret().trim())
            .filter(|u| !u.is_empty())
    }

    fn service_url(&self) -> Option<&str> {
        present(self.service_url.as_deref())
    }

    fn conversation_id(&self) -> Option<&str> {
        present(self.conversation_id.as_deref())
    }

    /// Whether the channel is in bot mode (names a service URL or a conversation).
    pub fn is_bot(&self) -> bool {
        self.service_url().is_some() || self.conversation_id().is_some()
    }

    /// Where the channel posts, checked: exactly one of `webhook_url` and `service_url` +
    /// `conversation_id`, and https URLs (plain http only to loopback).
    pub fn target(&self) -> Result<TeamsTarget<'_>, TeamsError> {
        match (self.url(), self.service_url(), self.conversation_id()) {
            (None, None, None) => Err(TeamsError::MissingWebhookUrl),
            (Some(url), None, None) => {
                check_destination(url).map_err(|e| ConfigError::new("webhook_url", e))?;
                Ok(TeamsTarget::Webhook {
                    url,
                    format: self.format,
                })
            }
            (Some(_), _, _) => Err(ConfigError::new(
                "webhook_url",
                "set either webhook_url or service_url + conversation_id, not both",
            )
            .into()),
            (None, Some(_), None) => Err(ConfigError::new(
                "conversation_id",
                "is required with service_url (the conversation the bot posts into, like 19:…@thread.tacv2)",
            )
            .into()),
            (None, None, Some(_)) => Err(ConfigError::new(
                "service_url",
                "is required with conversation_id (the serviceUrl of the bot's activities, like https://smba.trafficmanager.net/emea/)",
            )
            .into()),
            (None, Some(service_url), Some(conversation_id)) => {
                if self.format.is_some() {
                    return Err(ConfigError::new("format", "applies to webhook_url only").into());
                }
                check_service_url(service_url)?;
                if conversation_id.chars().count() > 1024
                    || conversation_id.chars().any(char::is_control)
                {
                    return Err(ConfigError::new(
                        "conversation_id",
                        "is not a Teams conversation id (like 19:…@thread.tacv2)",
                    )
                    .into());
                }
                Ok(TeamsTarget::Bot {
                    service_url,
                    conversation_id,
                })
            }
        }
    }

    /// Checks the channel as [`target`](Self::target) does.
    pub fn validate(&self) -> Result<(), TeamsError> {
        self.target().map(drop)
    }

    /// Builds the notifier, delivering through `delivery`. A bot-mode channel needs the bot's
    /// credentials and is refused here with [`MISSING_BOT_CREDENTIALS`] (naming
    /// `TEAMS_APP_PASSWORD`); build it with `into_bot_notifier` (feature `bot-framework`).
    pub fn into_notifier(
        self,
        delivery: DeliveryClient,
    ) -> Result<std::sync::Arc<dyn Notifier>, TeamsError> {
        if let TeamsTarget::Bot { .. } = self.target()? {
            return Err(ConfigError::new("TEAMS_APP_PASSWORD", MISSING_BOT_CREDENTIALS).into());
        }
        let mut builder = TeamsWebhookNotifier::builder()
            .webhook_url(self.url().unwrap_or_default())
            .delivery(delivery);
        if let Some(format) = self.format {
            builder = builder.format(format);
        }
        Ok(std::sync::Arc::new(builder.build()?))
    }

    /// Builds the notifier of either mode: a bot-mode channel posts through `client`, a webhook
    /// channel through `delivery`.
    #[cfg(feature = "bot-framework")]
    pub fn into_bot_notifier(
        self,
        delivery: DeliveryClient,
        client: &crate::bot_framework::connector::BotConnectorClient,
    ) -> Result<std::sync::Arc<dyn Notifier>, TeamsError> {
        use crate::bot_framework::conversation::{BotConversation, TeamsBotNotifier};
        match self.target()? {
            TeamsTarget::Bot {
                service_url,
                conversation_id,
            } => {
                let conversation =
                    BotConversation::new(client.clone(), service_url, conversation_id)?;
                Ok(std::sync::Arc::new(TeamsBotNotifier::new(conversation)))
            }
            TeamsTarget::Webhook { .. } => self.into_notifier(delivery),
        }
    }
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A service URL is https (plain http only to loopback), without a query or fragment.
fn check_service_url(service_url: &str) -> Result<(), ConfigError> {
    let url = check_destination(service_url).map_err(|e| ConfigError::new("service_url", e))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            "service_url",
            "must be a base URL without a query (like https://smba.trafficmanager.net/emea/)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<TeamsChannelConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    fn delivery() -> DeliveryClient {
        DeliveryClient::shared_default().unwrap()
    }

    #[test]
    fn a_workflows_url_builds_a_workflows_notifier_unless_told_otherwise() {
        let url = "https://prod-00.westus.logic.azure.com/workflows/abc/invoke?sig=zzz";
        let detected = parse(serde_json::json!({"webhook_url": url})).unwrap();
        assert_eq!(detected.format, None);
        assert!(detected.into_notifier(delivery()).is_ok());
        let forced = parse(serde_json::json!({"webhook_url": url, "format": "connector"})).unwrap();
        assert_eq!(forced.format, Some(WebhookFormat::Connector));
        assert!(forced.into_notifier(delivery()).is_ok());
    }

    #[test]
    fn every_invalid_field_is_named() {
        let missing = parse(serde_json::json!({"webhook_url": "  "})).unwrap();
        assert_eq!(
            missing.validate().unwrap_err().to_string(),
            "A webhook_url is required for Teams channels"
        );
        let insecure =
            parse(serde_json::json!({"webhook_url": "http://teams.example/hook"})).unwrap();
        assert!(
            insecure
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("webhook_url: ")
        );
        let format =
            parse(serde_json::json!({"webhook_url": "https://x.example/", "format": "card"}))
                .unwrap_err();
        assert!(
            format
                .to_string()
                .contains("must be 'workflows' or 'connector'"),
            "{format}"
        );
        let unknown = parse(serde_json::json!({"webhookurl": "https://x.example/"})).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `webhookurl`"),
            "{unknown}"
        );
    }

    #[test]
    fn a_bot_channel_names_one_conversation_and_every_mistake_names_its_field() {
        let bot = parse(serde_json::json!({
            "service_url": "https://smba.trafficmanager.net/emea/",
            "conversation_id": "19:abc@thread.tacv2"
        }))
        .unwrap();
        assert!(bot.is_bot());
        assert_eq!(
            bot.target().unwrap(),
            TeamsTarget::Bot {
                service_url: "https://smba.trafficmanager.net/emea/",
                conversation_id: "19:abc@thread.tacv2"
            }
        );
        let refused = bot.into_notifier(delivery()).err().unwrap().to_string();
        assert!(refused.starts_with("TEAMS_APP_PASSWORD: "), "{refused}");

        let cases = [
            (
                serde_json::json!({"service_url": "https://smba.trafficmanager.net/emea/"}),
                "conversation_id: ",
            ),
            (
                serde_json::json!({"conversation_id": "19:abc@thread.tacv2"}),
                "service_url: ",
            ),
            (
                serde_json::json!({"service_url": "http://smba.example/", "conversation_id": "19:a"}),
                "service_url: ",
            ),
            (
                serde_json::json!({"service_url": "https://smba.example/?a=1", "conversation_id": "19:a"}),
                "service_url: ",
            ),
            (
                serde_json::json!({
                    "webhook_url": "https://x.example/hook",
                    "service_url": "https://smba.example/",
                    "conversation_id": "19:a"
                }),
                "webhook_url: ",
            ),
            (
                serde_json::json!({
                    "service_url": "https://smba.example/",
                    "conversation_id": "19:a",
                    "format": "workflows"
                }),
                "format: ",
            ),
        ];
        for (config, field) in cases {
            let error = parse(config.clone())
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(field), "{config}: {error}");
        }
    }

    #[test]
    fn debug_hides_the_url() {
        let config = parse(serde_json::json!({
            "webhook_url": "https://contoso.webhook.office.com/webhookb2/SECRET-PATH"
        }))
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET-PATH"), "{shown}");
        assert!(!shown.contains("contoso"), "{shown}");
    }
}
