//! Signed webhooks verified by the core verifier, the object-event envelope, the honeytoken
//! payload, and a disabled (empty) URL.

use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::retry::RetryClass;
use aisoc_notify_core::signature::{SignatureScheme, WebhookVerifier};
use aisoc_notify_core::{EventType, Notification, Notifier, NotifyError, Severity};
use aisoc_notify_webhook::{Envelope, HoneytokenTriggered, WebhookNotifier};
use http::HeaderMap;
use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn delivery(attempts: u32) -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy {
            max_attempts: attempts,
            initial_backoff: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(1),
            ..RetryPolicy::default()
        },
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

fn received(request: &wiremock::Request) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    (headers, request.body.clone())
}

fn alert() -> Notification {
    Notification::new(
        "acme",
        EventType::Custom("honeytoken".into()),
        Severity::Critical,
        "Decoy AWS key used",
    )
    .with_fact("Source IP", "203.0.113.7")
    .with_dedupe_key("trg_9")
}

#[tokio::test]
async fn both_signatures_verify_with_the_core_verifier() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let webhook = WebhookNotifier::builder()
        .url(format!("{}/hook", server.uri()))
        .secret("shared-secret-123")
        .standard_webhooks_secret(WHSEC)
        .delivery(delivery(1))
        .build()
        .unwrap();
    webhook.notify(&alert()).await.unwrap();

    let (headers, body) = received(&server.received_requests().await.unwrap()[0]);
    let aisoc = WebhookVerifier::new("shared-secret-123").with_schemes(&[SignatureScheme::Aisoc]);
    assert_eq!(aisoc.verify(&headers, &body), Ok(SignatureScheme::Aisoc));
    let standard = WebhookVerifier::new(WHSEC).with_schemes(&[SignatureScheme::StandardWebhooks]);
    assert_eq!(
        standard.verify(&headers, &body),
        Ok(SignatureScheme::StandardWebhooks)
    );
    assert!(
        WebhookVerifier::new("other")
            .with_schemes(&[SignatureScheme::Aisoc])
            .verify(&headers, &body)
            .is_err()
    );
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["title"], "Decoy AWS key used");
    assert_eq!(sent["event_type"], "honeytoken");
}

#[tokio::test]
async fn the_object_event_envelope_and_the_honeytoken_payload() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let webhook = WebhookNotifier::builder()
        .url(server.uri())
        .envelope(Envelope::ObjectEvent {
            community_uuid: "c0ffee00-0000-4000-8000-000000000001".into(),
        })
        .delivery(delivery(1))
        .build()
        .unwrap();
    webhook.notify(&alert()).await.unwrap();
    webhook
        .send_json(&HoneytokenTriggered::new(
            "ht_1",
            "acme",
            "aws_key",
            "prod-backup-creds",
            "trg_9",
            "203.0.113.7",
        ))
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let envelope: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(envelope["type"], "notification");
    assert_eq!(envelope["action"], "honeytoken");
    assert_eq!(envelope["attributes"]["severity"], "critical");
    assert_eq!(envelope["metadata"]["version"], 2);
    assert_eq!(
        envelope["metadata"]["community_uuid"],
        "c0ffee00-0000-4000-8000-000000000001"
    );
    assert_eq!(envelope["metadata"]["event_id"], "trg_9");
    assert!(
        requests[0].headers.get("x-aisoc-signature").is_none(),
        "no secret, no signature"
    );
    let honeytoken: Value = serde_json::from_slice(&requests[1].body).unwrap();
    for field in [
        "event",
        "honeytoken_id",
        "tenant_id",
        "token_type",
        "token_name",
        "trigger_id",
        "source_ip",
        "triggered_at",
    ] {
        assert!(honeytoken.get(field).is_some(), "{field}");
    }
    assert_eq!(honeytoken["event"], "honeytoken.triggered");
}

#[tokio::test]
async fn an_empty_url_disables_sending_without_error() {
    let webhook = WebhookNotifier::builder()
        .url("")
        .secret("s")
        .build()
        .unwrap();
    assert!(!webhook.is_enabled());
    let delivered = webhook.notify(&alert()).await.unwrap();
    assert_eq!(delivered.receipt.as_deref(), Some("disabled"));
}

#[tokio::test]
async fn failures_are_typed_and_classified_by_status_and_5xx_is_retried() {
    let server = MockServer::start().await;
    for (route, status) in [("/missing", 404), ("/gone", 410), ("/bad", 400)] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(status).set_body_string("receiver-internal-text"))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/busy"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "90"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let build = |path: &str| {
        WebhookNotifier::builder()
            .url(format!("{}{path}", server.uri()))
            .delivery(delivery(3))
            .build()
            .unwrap()
    };
    for (route, status) in [("/missing", "404"), ("/gone", "410")] {
        let err = build(route).notify(&alert()).await.unwrap_err();
        assert!(
            matches!(&err, NotifyError::Gone { service: "webhook", code } if code == status),
            "{err:?}"
        );
        assert_eq!(err.retry_class(), RetryClass::Gone);
    }
    let err = build("/bad").notify(&alert()).await.unwrap_err();
    assert!(
        matches!(&err, NotifyError::Rejected { service: "webhook", code, .. } if code == "400"),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert!(!format!("{err} {err:?}").contains("receiver-internal-text"));
    let err = build("/busy").notify(&alert()).await.unwrap_err();
    assert_eq!(
        err.retry_class(),
        RetryClass::Throttled(Duration::from_secs(90))
    );
    assert_eq!(build("/flaky").notify(&alert()).await.unwrap().attempts, 2);
}

#[test]
fn bad_configurations_are_refused_naming_the_setting() {
    let refused = |builder: aisoc_notify_webhook::WebhookNotifierBuilder| match builder.build() {
        Err(NotifyError::Config(error)) => error.to_string(),
        other => panic!("expected a configuration error, got {other:?}"),
    };
    let insecure = refused(WebhookNotifier::builder().url("http://example.com/x"));
    assert!(insecure.starts_with("url: "), "{insecure}");
    let metadata = refused(
        WebhookNotifier::builder()
            .url("https://169.254.169.254/latest/meta-data/secret-path")
            .delivery(delivery(1)),
    );
    assert!(metadata.starts_with("url: "), "{metadata}");
    assert!(metadata.contains("link-local"), "{metadata}");
    assert!(!metadata.contains("secret-path"), "{metadata}");
    let standard = refused(
        WebhookNotifier::builder()
            .url("https://hooks.example.com/x")
            .standard_webhooks_secret("whsec_not-base64-secret-value!")
            .delivery(delivery(1)),
    );
    assert!(
        standard.starts_with("standard_webhooks_secret: "),
        "{standard}"
    );
    assert!(!standard.contains("not-base64-secret-value"), "{standard}");
}

#[test]
fn the_builder_and_the_notifier_never_show_the_url_or_the_secrets_in_debug() {
    let builder = WebhookNotifier::builder()
        .url("https://hooks.example.com/in/MARKER-URL-TOKEN")
        .secret("MARKER-AISOC-SECRET")
        .standard_webhooks_secret(WHSEC);
    let shown = format!("{builder:?}");
    for marker in ["MARKER-URL-TOKEN", "MARKER-AISOC-SECRET", WHSEC] {
        assert!(
            !shown.contains(marker),
            "builder Debug shows {marker}: {shown}"
        );
    }
    let notifier = builder.build().unwrap();
    let shown = format!("{notifier:?}");
    for marker in ["MARKER-URL-TOKEN", "MARKER-AISOC-SECRET", WHSEC] {
        assert!(
            !shown.contains(marker),
            "notifier Debug shows {marker}: {shown}"
        );
    }
}
