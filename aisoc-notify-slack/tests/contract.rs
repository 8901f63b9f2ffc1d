//! The core HTTP contract, run for every Slack and Mattermost surface that sends over HTTP:
//! the incoming webhook, the Web API (`chat.postMessage`), the Mattermost webhook and the
//! `notify_slack` action. Each runs with the outbound guard on (only the mock's 127.0.0.1
//! allowed).

use std::sync::Arc;

use aisoc_notify_core::conformance::HttpContract;
use aisoc_notify_core::{ActionExecutor, ActionRequest, Notifier};
use aisoc_notify_slack::executor::NotifySlackExecutor;
use aisoc_notify_slack::mattermost::MattermostWebhookNotifier;
use aisoc_notify_slack::web_api::{SlackBotClient, SlackBotNotifier};
use aisoc_notify_slack::webhook::SlackWebhookNotifier;
use serde_json::json;
use wiremock::ResponseTemplate;

const BOT_TOKEN: &str = "xoxb-contract-bot-token-5e1f";

#[tokio::test]
async fn the_slack_incoming_webhook_passes_the_http_contract() {
    HttpContract::new("slack incoming webhook")
        .check_notifier(|endpoint| {
            let notifier = SlackWebhookNotifier::builder()
                .webhook_url(endpoint.url.as_str())
                .delivery(endpoint.delivery.clone())
                .build()?;
            Ok(Arc::new(notifier) as Arc<dyn Notifier>)
        })
        .await;
}

#[tokio::test]
async fn the_slack_web_api_passes_the_http_contract() {
    HttpContract::new("slack chat.postMessage")
        .success(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.2"})),
        )
        .secret(BOT_TOKEN)
        .check_notifier(|endpoint| {
            let client = SlackBotClient::new(BOT_TOKEN)?
                .with_base_url(endpoint.base.as_str())?
                .with_delivery(endpoint.delivery.clone());
            Ok(Arc::new(SlackBotNotifier::new(client, "C1")?) as Arc<dyn Notifier>)
        })
        .await;
}

#[tokio::test]
async fn the_mattermost_webhook_passes_the_http_contract() {
    HttpContract::new("mattermost incoming webhook")
        .check_notifier(|endpoint| {
            let notifier = MattermostWebhookNotifier::new(endpoint.url.as_str())?
                .with_delivery(endpoint.delivery.clone());
            Ok(Arc::new(notifier) as Arc<dyn Notifier>)
        })
        .await;
}

/// The webhook is a parameter of each request, not of the executor, so both are built per
/// endpoint.
#[tokio::test]
async fn the_notify_slack_action_passes_the_http_contract() {
    HttpContract::new("notify_slack")
        .check_executor_with(|endpoint| {
            let executor = NotifySlackExecutor::new()?.with_delivery(endpoint.delivery.clone());
            let request = ActionRequest::new("notify_slack", "acme")
                .with_parameter("webhook_url", endpoint.url.as_str())
                .with_parameter("message", "Host {{ context.host }} isolated")
                .with_context(json!({"host": "web-01"}));
            Ok((Arc::new(executor) as Arc<dyn ActionExecutor>, request))
        })
        .await;
}
