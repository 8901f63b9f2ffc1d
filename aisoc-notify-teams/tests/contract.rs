//! The core HTTP contract, run for both Teams webhook generations (Workflows and the legacy
//! connector, whose success answer is `200 1`) and for the `notify_teams` action, with the
//! outbound guard on (only the mock's 127.0.0.1 allowed).

use std::sync::Arc;

use aisoc_notify_core::conformance::{Endpoint, FactoryError, HttpContract};
use aisoc_notify_core::{ActionExecutor, ActionRequest, Notifier};
use aisoc_notify_teams::executor::NotifyTeamsExecutor;
use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
use serde_json::json;
use wiremock::ResponseTemplate;

/// A factory for a webhook notifier of `format` on the contract's endpoint.
fn webhook_notifier(
    format: WebhookFormat,
) -> impl Fn(&Endpoint) -> Result<Arc<dyn Notifier>, FactoryError> {
    move |endpoint| {
        let notifier = TeamsWebhookNotifier::builder()
            .webhook_url(endpoint.url.as_str())
            .format(format)
            .delivery(endpoint.delivery.clone())
            .build()?;
        Ok(Arc::new(notifier) as Arc<dyn Notifier>)
    }
}

#[tokio::test]
async fn the_teams_workflows_webhook_passes_the_http_contract() {
    HttpContract::new("teams workflows webhook")
        .success(ResponseTemplate::new(202))
        .check_notifier(webhook_notifier(WebhookFormat::Workflows))
        .await;
}

#[tokio::test]
async fn the_teams_connector_webhook_passes_the_http_contract() {
    HttpContract::new("teams connector webhook")
        .success(ResponseTemplate::new(200).set_body_string("1"))
        .check_notifier(webhook_notifier(WebhookFormat::Connector))
        .await;
}

/// The webhook is a parameter of each request, not of the executor, so both are built per
/// endpoint.
#[tokio::test]
async fn the_notify_teams_action_passes_the_http_contract() {
    for (format, success) in [
        ("workflows", ResponseTemplate::new(202)),
        ("connector", ResponseTemplate::new(200).set_body_string("1")),
    ] {
        HttpContract::new(format!("notify_teams ({format})"))
            .success(success)
            .check_executor_with(|endpoint| {
                let executor = NotifyTeamsExecutor::new()?.with_delivery(endpoint.delivery.clone());
                let request = ActionRequest::new("notify_teams", "acme")
                    .with_parameter("webhook_url", endpoint.url.as_str())
                    .with_parameter("format", format)
                    .with_parameter("title", "Host {{ context.host }} isolated")
                    .with_parameter("message", "By playbook {{ context.playbook }}")
                    .with_context(json!({"host": "web-01", "playbook": "ransomware"}));
                Ok((Arc::new(executor) as Arc<dyn ActionExecutor>, request))
            })
            .await;
    }
}
