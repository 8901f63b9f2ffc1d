//! The `notify_slack` playbook action against a mock incoming webhook.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::{ActionRequest, ActionStatus, DestinationPolicy, ExecutorRegistry};
use aisoc_notify_slack::executor::{ACTION_TYPE, NotifySlackExecutor};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn registry() -> ExecutorRegistry {
    let delivery = DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy::no_retries(),
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..Default::default()
    })
    .unwrap();
    let executor = NotifySlackExecutor::new()
        .unwrap()
        .with_delivery(delivery)
        .with_pacer(Arc::new(Pacer::one_per(Duration::from_nanos(1))));
    let registry = ExecutorRegistry::new();
    registry.register(ACTION_TYPE, Arc::new(executor));
    registry
}

fn request(webhook_url: &str) -> ActionRequest {
    ActionRequest::new("notify_slack", "acme")
        .with_parameter("webhook_url", webhook_url)
        .with_parameter("channel", "#security-alerts")
        .with_parameter(
            "message",
            "AiSOC isolated host {{ context.host }} after P0 alert {{ context.alert_id }}.",
        )
        .with_context(json!({"host": "web-01", "alert_id": "<!channel> A-17"}))
}

#[tokio::test]
async fn posts_the_rendered_message_with_context_values_escaped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T/B/X"))
        .and(body_json(json!({
            "text": "AiSOC isolated host web-01 after P0 alert &lt;!channel&gt; A-17.",
            "channel": "#security-alerts"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry()
        .execute(&request(&format!("{}/services/T/B/X", server.uri())))
        .await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["delivered"], Value::Bool(true));
    assert_eq!(result.output["channel"], "#security-alerts");
}

#[tokio::test]
async fn a_non_2xx_answer_is_failed_with_slacks_code_and_class() {
    for (status, body, class, code) in [
        (404, "channel_not_found", "gone", "channel_not_found"),
        (400, "invalid_payload", "non_retryable", "invalid_payload"),
        (429, "rate_limited", "retryable", "rate_limited"),
        (503, "<html>SECRET-BODY</html>", "retryable", "http_503"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(&server)
            .await;
        let result = registry()
            .execute(&request(&format!("{}/services/T/B/SECRET", server.uri())))
            .await;
        assert_eq!(result.status, ActionStatus::Failed);
        assert_eq!(result.error_class.as_deref(), Some(class), "{result:?}");
        let error = result.error.unwrap();
        assert!(status == 429 || error.contains(code), "{status}: {error}");
        assert!(
            !error.contains("SECRET"),
            "neither the webhook URL nor Slack's answer is shown: {error}"
        );
    }
}

#[tokio::test]
async fn missing_parameters_and_undefined_variables_fail_clearly() {
    let no_url = ActionRequest::new("notify_slack", "acme").with_parameter("message", "hi");
    let result = registry().execute(&no_url).await;
    assert_eq!(result.status, ActionStatus::Failed);
    assert_eq!(
        result.error.as_deref(),
        Some("parameter 'webhook_url' is required")
    );

    let undefined =
        request("https://hooks.slack.com/services/T/B/X").with_context(json!({"host": "web-01"}));
    let result = registry().execute(&undefined).await;
    assert_eq!(
        result.error.as_deref(),
        Some("parameter 'message': template variable 'context.alert_id' is not defined")
    );

    let insecure = request("http://hooks.example.com/services/T/B/X");
    let result = registry().execute(&insecure).await;
    assert_eq!(result.status, ActionStatus::Failed);
    assert!(
        result
            .error
            .unwrap()
            .starts_with("webhook_url: destination must use https")
    );
}

#[tokio::test]
async fn an_unreachable_webhook_is_failed_not_silent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = registry()
        .execute(&request(&format!("http://127.0.0.1:{port}/hook")))
        .await;
    assert_eq!(result.status, ActionStatus::Failed);
    assert!(result.error.unwrap().contains("could not connect"));
}
