//! Webhook channel configuration as operators write it, validated into a notifier.
//!
//! A host that stores channels as JSON (the gateway's `/v1/settings/notifications`) reads this
//! shape and calls [`WebhookChannelConfig::into_notifier`], so the rules for a webhook channel
//! live here, beside the notifier, and not in every host.

use aisoc_notify_core::NotifyError;
use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner};
use serde::Deserialize;

use crate::{Envelope, WebhookNotifier};

/// The body shape, as a configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeKind {
    /// The notification as JSON ([`Envelope::Plain`]), signed with `X-AiSOC-Signature` when a
    /// `secret` is set.
    #[default]
    #[serde(alias = "plain")]
    Aisoc,
    /// `{type, action, attributes, metadata{version: 2, created_at, community_uuid, event_id}}`
    /// ([`Envelope::ObjectEvent`]); needs `community_uuid`.
    #[serde(alias = "object")]
    ObjectEvent,
}

/// A webhook channel: a receiver URL, optional signing secrets, and the body shape.
///
/// | key | what |
/// |---|---|
/// | `url` | the receiver (required; https, plain http only to loopback) |
/// | `secret` | signs the body: `X-AiSOC-Signature: sha256=<hex>` |
/// | `standard_webhooks_secret` | adds Standard Webhooks headers (`whsec_…` secret) |
/// | `envelope` | `aisoc` (default: the notification) or `object_event` |
/// | `community_uuid` | echoed in `metadata.community_uuid`; required for `object_event` |
///
/// Unknown keys are refused, so a misspelt secret never leaves webhooks unsigned silently.
///
/// ```
/// use aisoc_notify_webhook::config::{EnvelopeKind, WebhookChannelConfig};
///
/// let config: WebhookChannelConfig = serde_json::from_str(
///     r#"{"url": "https://hooks.example.com/aisoc", "secret": "s3cret", "envelope": "object_event",
///         "community_uuid": "c0ffee00-0000-4000-8000-000000000001"}"#,
/// )
/// .unwrap();
/// assert_eq!(config.envelope, EnvelopeKind::ObjectEvent);
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// let missing: WebhookChannelConfig = serde_json::from_str(r#"{"envelope": "object_event"}"#).unwrap();
/// assert_eq!(missing.validate().unwrap_err().to_string(), "url: is required for webhook channels");
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannelConfig {
    /// The receiver; it often carries a token, so it is held as a secret.
    #[serde(default)]
    pub url: Option<SecretString>,
    /// The `X-AiSOC-Signature` secret.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// The Standard Webhooks secret (`whsec_` and base64).
    #[serde(default)]
    pub standard_webhooks_secret: Option<SecretString>,
    /// The body shape.
    #[serde(default)]
    pub envelope: EnvelopeKind,
    /// The receiving community's or tenant's UUID, for the object-event envelope.
    #[serde(default)]
    pub community_uuid: Option<String>,
}

fn present(value: Option<&SecretString>) -> Option<&str> {
    value
        .map(|v| v.expose_secret().trim())
        .filter(|v| !v.is_empty())
}

/// Whether `value` is a UUID in its 8-4-4-4-12 hexadecimal form.
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl WebhookChannelConfig {
    /// Checks every setting; the error names the one to fix (never its value).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = present(self.url.as_ref())
            .ok_or_else(|| ConfigError::new("url", "is required for webhook channels"))?;
        check_destination(url).map_err(|e| ConfigError::new("url", e))?;
        for (field, scheme, secret) in [
            ("secret", SignatureScheme::Aisoc, &self.secret),
            (
                "standard_webhooks_secret",
                SignatureScheme::StandardWebhooks,
                &self.standard_webhooks_secret,
            ),
        ] {
            if let Some(secret) = present(secret.as_ref()) {
                WebhookSigner::new(scheme, secret).map_err(|e| ConfigError::new(field, e))?;
            }
        }
        let uuid = self.community_uuid.as_deref().map(str::trim);
        match (self.envelope, uuid) {
            (EnvelopeKind::ObjectEvent, None | Some("")) => Err(ConfigError::new(
                "community_uuid",
                "is required for the object_event envelope",
            )),
            (_, Some(uuid)) if !uuid.is_empty() && !is_uuid(uuid) => Err(ConfigError::new(
                "community_uuid",
                "must be a UUID (8-4-4-4-12 hexadecimal digits)",
            )),
            _ => Ok(()),
        }
    }

    /// The envelope the notifier uses.
    fn envelope(&self) -> Envelope {
        match self.envelope {
            EnvelopeKind::Aisoc => Envelope::Plain,
            EnvelopeKind::ObjectEvent => Envelope::ObjectEvent {
                community_uuid: self
                    .community_uuid
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_owned(),
            },
        }
    }

    /// Builds the notifier, delivering through `delivery` (whose outbound guard also judges an
    /// address literal in the URL).
    pub fn into_notifier(self, delivery: DeliveryClient) -> Result<WebhookNotifier, NotifyError> {
        self.validate().map_err(NotifyError::Config)?;
        let mut builder = WebhookNotifier::builder()
            .url(present(self.url.as_ref()).unwrap_or_default())
            .envelope(self.envelope())
            .delivery(delivery);
        if let Some(secret) = present(self.secret.as_ref()) {
            builder = builder.secret(secret);
        }
        if let Some(secret) = present(self.standard_webhooks_secret.as_ref()) {
            builder = builder.standard_webhooks_secret(secret);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::notification::{EventType, Notification, Severity};
    use serde_json::json;

    use super::*;

    fn parse(config: serde_json::Value) -> Result<WebhookChannelConfig, serde_json::Error> {
        serde_json::from_value(config)
    }

    const UUID: &str = "c0ffee00-0000-4000-8000-000000000001";

    #[test]
    fn each_envelope_builds_its_body() {
        let delivery = DeliveryClient::shared_default().unwrap();
        let alert = Notification::new("acme", EventType::P0Alert, Severity::Critical, "Ransomware");
        let plain = parse(json!({"url": "https://hooks.example.com/a", "secret": "s"}))
            .unwrap()
            .into_notifier(delivery.clone())
            .unwrap();
        assert_eq!(plain.payload(&alert)["title"], "Ransomware");
        let object = parse(json!({
            "url": "https://hooks.example.com/a",
            "envelope": "object_event",
            "community_uuid": UUID,
        }))
        .unwrap()
        .into_notifier(delivery)
        .unwrap();
        let body = object.payload(&alert);
        assert_eq!(body["metadata"]["version"], 2);
        assert_eq!(body["metadata"]["community_uuid"], UUID);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let cases = [
            (json!({}), "url: is required for webhook channels"),
            (json!({"url": "ftp://hooks.example.com/a"}), "url: "),
            (
                json!({"url": "https://hooks.example.com/a", "standard_webhooks_secret": "%%% not base64"}),
                "standard_webhooks_secret: ",
            ),
            (
                json!({"url": "https://hooks.example.com/a", "envelope": "object_event"}),
                "community_uuid: is required for the object_event envelope",
            ),
            (
                json!({"url": "https://hooks.example.com/a", "envelope": "object_event", "community_uuid": "acme"}),
                "community_uuid: must be a UUID",
            ),
        ];
        for (config, message) in cases {
            let error = parse(config.clone()).unwrap().validate().unwrap_err();
            assert!(error.to_string().starts_with(message), "{config}: {error}");
        }
        for (config, message) in [
            (
                json!({"url": "https://a.example/", "envelope": "xml"}),
                "unknown variant `xml`",
            ),
            (
                json!({"url": "https://a.example/", "secrett": "s"}),
                "unknown field `secrett`",
            ),
        ] {
            let error = parse(config.clone()).unwrap_err();
            assert!(error.to_string().contains(message), "{config}: {error}");
        }
    }

    #[test]
    fn debug_hides_the_url_and_both_secrets() {
        let config = parse(json!({
            "url": "https://hooks.example.com/SECRET-PATH",
            "secret": "SECRET-ONE",
            "standard_webhooks_secret": "whsec_U0VDUkVULVRXTw==",
        }))
        .unwrap();
        let shown = format!("{config:?}");
        for secret in ["SECRET-PATH", "SECRET-ONE", "whsec_U0VDUkVULVRXTw"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
