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

/// A Teams channel: an incoming webhook URL (Workflows or a legacy connector).
///
/// `format` is `workflows` (Adaptive Card) or `connector` (MessageCard); left out, it is
/// detected from the URL as [`WebhookFormat::detect`] describes. Unknown keys are refused, so
/// a misspelt setting is not silently ignored.
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
}

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

    /// Checks that a webhook URL is set and is https (plain http only to loopback).
    pub fn validate(&self) -> Result<(), TeamsError> {
        let url = self.url().ok_or(TeamsError::MissingWebhookUrl)?;
        check_destination(url).map_err(|e| ConfigError::new("webhook_url", e))?;
        Ok(())
    }

    /// Builds the notifier, delivering through `delivery`.
    pub fn into_notifier(
        self,
        delivery: DeliveryClient,
    ) -> Result<std::sync::Arc<dyn Notifier>, TeamsError> {
        self.validate()?;
        let mut builder = TeamsWebhookNotifier::builder()
            .webhook_url(self.url().unwrap_or_default())
            .delivery(delivery);
        if let Some(format) = self.format {
            builder = builder.format(format);
        }
        Ok(std::sync::Arc::new(builder.build()?))
    }
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
