//! The `webhook` playbook action: one signed JSON POST to a URL the step names.
//!
//! | parameter | required | meaning |
//! |---|---|---|
//! | `url` | yes | the receiver (a template); https, or http to loopback |
//! | `payload` | one of the two | any JSON; its string values are templates rendered against the playbook context |
//! | `message` | one of the two | a template; the body is then `{"message", "tenant_id", "case_id", "run_id"}` |
//! | `secret` | no | signs with `X-AiSOC-Signature: sha256=<hex>` |
//! | `standard_webhooks_secret` | no | adds the Standard Webhooks headers (`whsec_…`) |
//! | `idempotency_key` | no | the `Idempotency-Key` and `webhook-id` (default: derived from the tenant, run, case and URL, so a step run again sends the same key) |
//!
//! The request is the [`WebhookNotifier`]'s, so it is signed and classified the same way (see
//! the [crate docs](crate)): a receiver verifies it with
//! [`WebhookVerifier`](aisoc_notify_core::signature::WebhookVerifier). It goes through the
//! executor's delivery client, so the outbound guard applies to the URL: an address in a
//! private or metadata range is a typed failure, and no request is made.
//!
//! The output holds `delivered: true`, the `idempotency_key` sent and the `attempts` made.

use aisoc_notify_core::action::ActionParameterError;
use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::signature::hmac_sha256;
use aisoc_notify_core::template::TemplateEngine;
use aisoc_notify_core::{ActionError, ActionExecutor, ActionOutput, ActionRequest, async_trait};
use serde_json::{Value, json};

use crate::WebhookNotifier;

/// The action type this executor is registered under.
pub const ACTION_TYPE: &str = "webhook";

/// Runs `webhook`.
///
/// ```
/// use std::sync::Arc;
/// use aisoc_notify_core::ExecutorRegistry;
/// use aisoc_notify_webhook::executor::{WebhookActionExecutor, ACTION_TYPE};
///
/// let registry = ExecutorRegistry::new();
/// registry.register(ACTION_TYPE, Arc::new(WebhookActionExecutor::new().unwrap()));
/// assert_eq!(registry.action_types(), vec!["webhook".to_owned()]);
/// ```
#[derive(Debug, Clone)]
pub struct WebhookActionExecutor {
    delivery: DeliveryClient,
}

impl WebhookActionExecutor {
    /// An executor on the shared default delivery client (outbound guard on).
    pub fn new() -> Result<Self, aisoc_notify_core::DeliveryError> {
        Ok(Self {
            delivery: DeliveryClient::shared_default()?,
        })
    }

    /// Sends through `delivery` (the host's client and its outbound policy).
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }
}

/// `value` with every string rendered as a template against `context`; `at` names the place
/// for errors (`payload.alert.title`).
fn render_json(value: &Value, context: &Value, at: &str) -> Result<Value, ActionParameterError> {
    Ok(match value {
        Value::String(source) => Value::String(
            TemplateEngine::shared()
                .render_with_context(source, context)
                .map_err(|source| ActionParameterError::Template {
                    name: at.to_owned(),
                    source,
                })?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| render_json(item, context, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, context, &format!("{at}.{k}"))?)))
                .collect::<Result<_, ActionParameterError>>()?,
        ),
        other => other.clone(),
    })
}

/// The default idempotency key: the same for the same step of the same run, different across
/// tenants, runs, cases and receivers.
fn derived_key(request: &ActionRequest, url: &str) -> String {
    let mut message = Vec::new();
    for part in [
        request.tenant_id.as_str(),
        request.run_id.as_deref().unwrap_or(""),
        request.case_id.as_deref().unwrap_or(""),
        url,
    ] {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    let digest = hmac_sha256(b"aisoc-notify webhook action", &message);
    format!(
        "act_{}",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[async_trait]
impl ActionExecutor for WebhookActionExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let url = request.require_parameter("url")?;
        let payload = match (
            request.parameters.get("payload"),
            request.parameters.get("message"),
        ) {
            (Some(payload), _) => render_json(payload, &request.context, "payload")?,
            (None, Some(_)) => json!({
                "message": request.require_parameter("message")?,
                "tenant_id": request.tenant_id,
                "case_id": request.case_id,
                "run_id": request.run_id,
            }),
            (None, None) => {
                return Err(ActionParameterError::Missing {
                    name: "payload".to_owned(),
                }
                .into());
            }
        };
        let mut builder = WebhookNotifier::builder()
            .url(url.trim())
            .delivery(self.delivery.clone());
        if let Some(secret) = request.render_parameter("secret")? {
            builder = builder.secret(secret);
        }
        if let Some(secret) = request.render_parameter("standard_webhooks_secret")? {
            builder = builder.standard_webhooks_secret(secret);
        }
        let notifier = builder.build()?;
        let key = match request.render_parameter("idempotency_key")? {
            Some(key) if !key.trim().is_empty() => key.trim().to_owned(),
            _ => derived_key(request, url.trim()),
        };
        let delivered = notifier.send_json_with_id(&payload, &key).await?;
        Ok(ActionOutput::default()
            .with("delivered", true)
            .with("idempotency_key", delivered.receipt.unwrap_or(key))
            .with("attempts", delivered.attempts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_strings_render_against_the_context_and_errors_name_the_place() {
        let context = json!({"host": "web-01"});
        let rendered = render_json(
            &json!({"text": "isolate {{ context.host }}", "n": 3, "tags": ["{{ context.host }}"]}),
            &context,
            "payload",
        )
        .unwrap();
        assert_eq!(
            rendered,
            json!({"text": "isolate web-01", "n": 3, "tags": ["web-01"]})
        );
        let broken = render_json(&json!({"a": ["{{ context.user }}"]}), &context, "payload")
            .unwrap_err()
            .to_string();
        assert!(broken.starts_with("parameter 'payload.a[0]'"), "{broken}");
    }

    #[test]
    fn derived_keys_are_stable_per_step_and_differ_across_tenants() {
        let a = ActionRequest::new("webhook", "acme").with_run("run-1");
        let b = ActionRequest::new("webhook", "globex").with_run("run-1");
        assert_eq!(derived_key(&a, "https://x"), derived_key(&a, "https://x"));
        assert_ne!(derived_key(&a, "https://x"), derived_key(&b, "https://x"));
        assert_ne!(derived_key(&a, "https://x"), derived_key(&a, "https://y"));
    }
}
