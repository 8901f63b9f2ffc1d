//! The secret-leak test for the Slack crate (issue #15): every Slack and Mattermost surface is
//! configured with marker secrets (a bot token, a signing secret, webhook URLs whose path is a
//! secret), every line any crate logs is captured at TRACE, and each surface is driven through
//! the core HTTP contract (2xx, 4xx, 429, 5xx, redirect, timeout, connection refused, forbidden
//! destination). No marker may appear in a log line, an error's `Display` or `Debug` (the
//! contract checks those), or the `Debug` of a builder, client, notifier or verifier.

use std::sync::Arc;

use aisoc_notify_core::conformance::{HttpContract, LeakWatch, captured_logs};
use aisoc_notify_core::{ActionExecutor, ActionRequest, Notifier};
use aisoc_notify_slack::executor::NotifySlackExecutor;
use aisoc_notify_slack::mattermost::MattermostWebhookNotifier;
use aisoc_notify_slack::signature::SlackSignatureVerifier;
use aisoc_notify_slack::web_api::{SlackBotClient, SlackBotNotifier};
use aisoc_notify_slack::webhook::SlackWebhookNotifier;
use serde_json::json;
use wiremock::ResponseTemplate;

const BOT_TOKEN: &str = "xoxb-LEAKMARK-slack-bot-token";
const SIGNING_SECRET: &str = "LEAKMARKslackSigningSecret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_slack_secret_reaches_a_log_line_an_error_or_a_debug_output() {
    captured_logs();
    let seen = LeakWatch::default();

    HttpContract::new("slack incoming webhook")
        .check_notifier(|endpoint| {
            let builder = SlackWebhookNotifier::builder()
                .webhook_url(endpoint.url.as_str())
                .delivery(endpoint.delivery.clone());
            let builder_debug = format!("{builder:?}");
            let notifier = builder.build()?;
            seen.record(endpoint, format!("{builder_debug} {notifier:?}"));
            Ok(Arc::new(notifier) as Arc<dyn Notifier>)
        })
        .await;

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
            let client_debug = format!("{client:?}");
            let notifier = SlackBotNotifier::new(client, "C1")?;
            seen.record(endpoint, format!("{client_debug} {notifier:?}"));
            Ok(Arc::new(notifier) as Arc<dyn Notifier>)
        })
        .await;

    HttpContract::new("mattermost incoming webhook")
        .check_notifier(|endpoint| {
            let notifier = MattermostWebhookNotifier::new(endpoint.url.as_str())?
                .with_delivery(endpoint.delivery.clone());
            seen.record(endpoint, format!("{notifier:?}"));
            Ok(Arc::new(notifier) as Arc<dyn Notifier>)
        })
        .await;

    HttpContract::new("notify_slack")
        .check_executor_with(|endpoint| {
            let executor = NotifySlackExecutor::new()?.with_delivery(endpoint.delivery.clone());
            seen.record(endpoint, format!("{executor:?}"));
            let request = ActionRequest::new("notify_slack", "acme")
                .with_parameter("webhook_url", endpoint.url.as_str())
                .with_parameter("message", "Host web-01 isolated");
            Ok((Arc::new(executor) as Arc<dyn ActionExecutor>, request))
        })
        .await;

    // Inbound: a refused signature says why without the secret or the expected MAC.
    let verifier = SlackSignatureVerifier::new(SIGNING_SECRET);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string();
    let expected = verifier.sign(&now, b"payload=1");
    let refused = verifier
        .verify_parts(Some(&now), Some("v0=00"), b"payload=1")
        .expect_err("a wrong signature is refused");
    seen.record_texts([
        format!("{verifier:?}"),
        refused.to_string(),
        format!("{refused:?}"),
    ]);
    tracing::trace!(error = %refused, ?verifier, "slack signature refused");

    seen.assert_nothing_leaked(&[BOT_TOKEN, SIGNING_SECRET, &expected]);
}
