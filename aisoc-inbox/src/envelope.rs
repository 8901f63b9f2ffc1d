//! Envelopes some vendors wrap their events in, unwrapped before a template maps them.
//!
//! - `aws-sns`: an SNS `Notification`'s `Message` (JSON when it parses, text otherwise) becomes
//!   the event, with the SNS envelope under `sns`. A `SubscriptionConfirmation` is never an
//!   event: it is handed to the host's [`SnsSubscriptionHandler`] to confirm (or not), and
//!   acknowledged. The `SigningCertURL` must be https on `sns.<region>.amazonaws.com`.
//! - `github`: the `X-GitHub-Event` header is added as `github_event`.
//! - `defender-email`: a relayed Microsoft Defender alert mail; the subject
//!   `<Severity>-severity alert: <policy>` gives `alert_severity` and `alert_policy`.

use aisoc_notify_core::async_trait;
use http::HeaderMap;
use serde_json::{Map, Value, json};

/// What unwrapping produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Unwrapped {
    /// An event to map.
    Event(Value),
    /// An SNS subscription (or unsubscription) confirmation request.
    SnsConfirmation {
        /// `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
        kind: String,
        /// The topic.
        topic_arn: String,
        /// The URL that confirms.
        subscribe_url: String,
    },
}

/// Why an envelope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not a message of this envelope.
    #[error("not an {0} message")]
    NotEnvelope(&'static str),
    /// The SNS signing certificate URL is not an AWS SNS https URL.
    #[error("SigningCertURL must be https://sns.<region>.amazonaws.com/…")]
    UntrustedCertUrl,
}

/// Receives SNS subscription confirmation requests; the host confirms them (by fetching the
/// `SubscribeURL`) after checking that it expects the topic.
#[async_trait]
pub trait SnsSubscriptionHandler: Send + Sync {
    /// A confirmation was requested for `topic_arn` on behalf of `tenant_id`.
    async fn confirmation_requested(&self, tenant_id: &str, topic_arn: &str, subscribe_url: &str);
}

/// Whether `url` is an https URL on an SNS host (`sns.<region>.amazonaws.com[.cn]`): the
/// one rule, [`crate::sns::is_aws_sns_url`].
pub fn is_sns_cert_url(url: &str) -> bool {
    crate::sns::is_aws_sns_url(url)
}

fn sns(payload: Value) -> Result<Unwrapped, EnvelopeError> {
    let Value::Object(mut message) = payload else {
        return Err(EnvelopeError::NotEnvelope("SNS"));
    };
    let kind = message
        .get("Type")
        .and_then(Value::as_str)
        .ok_or(EnvelopeError::NotEnvelope("SNS"))?
        .to_owned();
    if let Some(cert) = message.get("SigningCertURL").and_then(Value::as_str)
        && !is_sns_cert_url(cert)
    {
        return Err(EnvelopeError::UntrustedCertUrl);
    }
    let text = |m: &Map<String, Value>, key: &str| {
        m.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match kind.as_str() {
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => Ok(Unwrapped::SnsConfirmation {
            topic_arn: text(&message, "TopicArn"),
            subscribe_url: text(&message, "SubscribeURL"),
            kind,
        }),
        "Notification" => {
            let body = message.remove("Message").unwrap_or(Value::Null);
            let event = match body {
                Value::String(text) => serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({ "text": text })),
                other => json!({ "value": other }),
            };
            for key in [
                "Signature",
                "SignatureVersion",
                "SigningCertURL",
                "UnsubscribeURL",
            ] {
                message.remove(key);
            }
            Ok(Unwrapped::Event(
                json!({ "sns": message, "message": event }),
            ))
        }
        _ => Err(EnvelopeError::NotEnvelope("SNS")),
    }
}

fn defender(mut payload: Value) -> Value {
    let subject = payload
        .get("subject")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some((severity, policy)) = subject.split_once("-severity alert:")
        && let Value::Object(map) = &mut payload
    {
        map.insert(
            "alert_severity".into(),
            json!(severity.trim().to_ascii_lowercase()),
        );
        map.insert("alert_policy".into(), json!(policy.trim()));
    }
    payload
}

/// Unwraps one payload for a template's envelope.
pub fn unwrap(
    envelope: Option<&str>,
    payload: Value,
    headers: &HeaderMap,
) -> Result<Unwrapped, EnvelopeError> {
    match envelope {
        Some("aws-sns") => sns(payload),
        Some("github") => {
            let mut payload = payload;
            if let (Value::Object(map), Some(event)) = (
                &mut payload,
                headers.get("x-github-event").and_then(|v| v.to_str().ok()),
            ) {
                map.insert("github_event".into(), json!(event));
            }
            Ok(Unwrapped::Event(payload))
        }
        Some("defender-email") => Ok(Unwrapped::Event(defender(crate::email::normalize(
            &payload,
        )))),
        _ => Ok(Unwrapped::Event(payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sns_hosts_may_sign() {
        assert!(is_sns_cert_url(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"
        ));
        assert!(is_sns_cert_url(
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem"
        ));
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://s3.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        ] {
            assert!(!is_sns_cert_url(bad), "{bad}");
        }
    }
}
