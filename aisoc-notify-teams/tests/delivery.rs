//! Workflows and connector webhook delivery against local mock servers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_notify_core::ActionExecutor;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::{
    ActionRequest, DestinationPolicy, EventType, Notification, Notifier, NotifyError, RetryClass,
    Severity,
};
use aisoc_notify_teams::TeamsError;
use aisoc_notify_teams::executor::NotifyTeamsExecutor;
use aisoc_notify_teams::webhook::{MAX_PAYLOAD_BYTES, TeamsWebhookNotifier, WebhookFormat};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn delivery(max_attempts: u32) -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
        },
        // The mocks listen on 127.0.0.1, which the outbound guard refuses by default.
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

fn notifier(server: &MockServer, format: WebhookFormat, max_attempts: u32) -> TeamsWebhookNotifier {
    TeamsWebhookNotifier::builder()
        .webhook_url(format!("{}/webhook/SECRET", server.uri()))
        .format(format)
        .delivery(delivery(max_attempts))
        .pacer(Arc::new(Pacer::one_per(Duration::from_nanos(1))))
        .build()
        .unwrap()
}

#[tokio::test]
async fn workflows_webhooks_get_an_adaptive_card_attachment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook/SECRET"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    notifier(&server, WebhookFormat::Workflows, 1)
        .notify(&common::alert())
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(body["attachments"][0]["content"]["type"], "AdaptiveCard");
    assert_eq!(body["attachments"][0]["content"]["version"], "1.5");
}

#[tokio::test]
async fn connector_webhooks_get_a_message_card_and_answer_1() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .expect(1)
        .mount(&server)
        .await;
    notifier(&server, WebhookFormat::Connector, 1)
        .notify(&common::alert())
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(body["@type"], "MessageCard");
}

#[tokio::test]
async fn a_connector_200_with_an_error_text_is_classified_by_the_status_it_names() {
    let text = |status: u16| {
        format!(
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status} with ContextId tcid=0,server=SECRET-BODY"
        )
    };
    for (body, class, kind) in [
        (text(429), RetryClass::Retryable, "limited"),
        (text(400), RetryClass::NonRetryable, "rejected"),
        (text(403), RetryClass::NonRetryable, "rejected"),
        (text(404), RetryClass::Gone, "gone"),
        (text(413), RetryClass::NonRetryable, "too_large"),
        (text(502), RetryClass::Retryable, "unavailable"),
        (
            "Summary or Text is required. SECRET-BODY".to_owned(),
            RetryClass::NonRetryable,
            "rejected",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(&body))
            .expect(1)
            .mount(&server)
            .await;
        let err = notifier(&server, WebhookFormat::Connector, 3)
            .notify(&common::alert())
            .await
            .unwrap_err();
        assert_eq!(err.retry_class(), class, "{body}: {err:?}");
        let actual = match &err {
            NotifyError::RateLimited {
                service: "teams", ..
            } => "limited",
            NotifyError::Rejected { .. } => "rejected",
            NotifyError::Gone { .. } => "gone",
            NotifyError::PayloadTooLarge { .. } => "too_large",
            NotifyError::Unavailable { .. } => "unavailable",
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(actual, kind, "{body}");
        assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
    }
}

#[tokio::test]
async fn error_responses_map_to_their_retry_class_without_the_peers_message() {
    let cases: Vec<(u16, Value, &str, RetryClass)> = vec![
        (
            400,
            json!({"error": {"code": "InvalidRequestContent", "message": "The input body SECRET-BODY did not match its schema definition."}}),
            "InvalidRequestContent",
            RetryClass::NonRetryable,
        ),
        (
            401,
            json!({"error": {"code": "DirectApiAuthorizationRequired", "message": "SECRET-BODY"}}),
            "DirectApiAuthorizationRequired",
            RetryClass::NonRetryable,
        ),
        (
            404,
            json!({"error": {"code": "WorkflowNotFound", "message": "SECRET-BODY"}}),
            "WorkflowNotFound",
            RetryClass::Gone,
        ),
        (
            400,
            json!({"error": {"code": "WorkflowTriggerNotFound", "message": "SECRET-BODY"}}),
            "WorkflowTriggerNotFound",
            RetryClass::Gone,
        ),
        (
            410,
            json!("<html>SECRET-BODY</html>"),
            "http_410",
            RetryClass::Gone,
        ),
        (
            503,
            json!({"error": {"code": "ServiceUnavailable", "message": "SECRET-BODY"}}),
            "ServiceUnavailable",
            RetryClass::Retryable,
        ),
        (
            400,
            json!({"error": {"code": "<b>not a code</b>", "message": "SECRET-BODY"}}),
            "http_400",
            RetryClass::NonRetryable,
        ),
    ];
    for (status, body, code, class) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(&body))
            .mount(&server)
            .await;
        let teams = notifier(&server, WebhookFormat::Workflows, 1);
        let err = teams
            .send_payload(&json!({"type": "message"}))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code), "{status}");
        assert_eq!(err.retry_class(), class, "{status}: {err:?}");
        let mapped = teams.notify(&common::alert()).await.unwrap_err();
        assert_eq!(mapped.retry_class(), class, "{status}: {mapped:?}");
        for shown in [format!("{err} {err:?}"), format!("{mapped} {mapped:?}")] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }
}

#[tokio::test]
async fn a_413_from_teams_is_too_large() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(413).set_body_string("too large"))
        .mount(&server)
        .await;
    let err = notifier(&server, WebhookFormat::Workflows, 1)
        .notify(&common::alert())
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::PayloadTooLarge { .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let delivered = notifier(&server, WebhookFormat::Workflows, 3)
        .notify(&common::alert())
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 2);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn payloads_over_the_size_limit_are_refused_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&server)
        .await;
    let teams = notifier(&server, WebhookFormat::Workflows, 1);
    let oversized = json!({"type": "message", "text": "x".repeat(MAX_PAYLOAD_BYTES)});
    let err = teams.send_payload(&oversized).await.unwrap_err();
    assert!(
        matches!(err, TeamsError::PayloadTooLarge { max: MAX_PAYLOAD_BYTES, size } if size > MAX_PAYLOAD_BYTES)
    );

    // A notification with huge content is rendered to fit instead.
    let mut big = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::High,
        "t".repeat(50_000),
    )
    .with_body("b".repeat(50_000));
    for i in 0..200 {
        big = big.with_fact(format!("k{i}"), "v".repeat(5_000));
    }
    assert!(serde_json::to_vec(&teams.payload(&big)).unwrap().len() <= MAX_PAYLOAD_BYTES);
}

#[test]
fn the_format_is_detected_from_the_url() {
    for (url, format) in [
        (
            "https://contoso.webhook.office.com/webhookb2/a/IncomingWebhook/b/c",
            WebhookFormat::Connector,
        ),
        (
            "https://outlook.office.com/webhook/a/IncomingWebhook/b/c",
            WebhookFormat::Connector,
        ),
        (
            "https://prod-11.westus.logic.azure.com:443/workflows/a/triggers/manual/paths/invoke?sig=x",
            WebhookFormat::Workflows,
        ),
        (
            "https://default123.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/a",
            WebhookFormat::Workflows,
        ),
    ] {
        let notifier = TeamsWebhookNotifier::builder()
            .webhook_url(url)
            .build()
            .unwrap();
        assert_eq!(notifier.format(), format, "{url}");
    }
}

#[tokio::test]
async fn notify_teams_posts_the_rendered_card_and_fails_with_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ok"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/gone"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": {"code": "WorkflowNotFound", "message": "gone"}})),
        )
        .mount(&server)
        .await;
    let executor = NotifyTeamsExecutor::new()
        .unwrap()
        .with_delivery(delivery(1))
        .with_pacer(Arc::new(Pacer::one_per(Duration::from_nanos(1))));
    let request = |url: String| {
        ActionRequest::new("notify_teams", "acme")
            .with_parameter("webhook_url", url)
            .with_parameter("title", "Host {{ context.host }} isolated")
            .with_parameter("message", "Alert {{ context.alert }}")
            .with_context(json!({"host": "web-01", "alert": "[phish](https://evil.example)"}))
    };
    let ok = executor
        .execute(&request(format!("{}/ok", server.uri())))
        .await
        .unwrap();
    assert_eq!(ok.data["format"], "workflows");
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    let card = &sent["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "Host web-01 isolated");
    assert_eq!(
        card["body"][1]["text"],
        "Alert \\[phish\\]\\(https://evil.example\\)"
    );

    let failed = executor
        .execute(&request(format!("{}/gone", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(failed.retry_class(), RetryClass::Gone);
    assert!(failed.to_string().contains("WorkflowNotFound"), "{failed}");

    let bad_format = executor
        .execute(&request(format!("{}/ok", server.uri())).with_parameter("format", "card"))
        .await
        .unwrap_err();
    assert_eq!(
        bad_format.to_string(),
        "format: must be 'workflows' or 'connector'"
    );
}
