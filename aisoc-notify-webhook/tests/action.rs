//! The `webhook` playbook action: a signed POST the receiver verifies, the same idempotency key
//! for the same step, and a forbidden address refused without a request.

use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::signature::{SignatureScheme, WebhookVerifier};
use aisoc_notify_core::{ActionError, ActionExecutor, ActionRequest, RetryClass};
use aisoc_notify_webhook::executor::WebhookActionExecutor;
use http::HeaderMap;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn executor() -> WebhookActionExecutor {
    WebhookActionExecutor::new().unwrap().with_delivery(
        DeliveryClient::new(DeliveryConfig {
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            request_timeout: Duration::from_secs(5),
            destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
            ..DeliveryConfig::default()
        })
        .unwrap(),
    )
}

#[tokio::test]
async fn a_payload_is_rendered_signed_and_verifiable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&server)
        .await;
    let step = ActionRequest::new("webhook", "acme")
        .with_run("run-7")
        .with_parameter("url", format!("{}/hook", server.uri()))
        .with_parameter(
            "payload",
            json!({"text": "isolate {{ context.host }}", "level": 3}),
        )
        .with_parameter("secret", "shared-secret-123")
        .with_parameter("standard_webhooks_secret", WHSEC)
        .with_context(json!({"host": "web-01"}));
    let executor = executor();
    let first = executor.execute(&step).await.unwrap();
    let again = executor.execute(&step).await.unwrap();
    assert_eq!(first.data["delivered"], true);
    assert_eq!(first.data["idempotency_key"], again.data["idempotency_key"]);

    let request = &server.received_requests().await.unwrap()[0];
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({"text": "isolate web-01", "level": 3}));
    assert_eq!(
        WebhookVerifier::new("shared-secret-123")
            .with_schemes(&[SignatureScheme::Aisoc])
            .verify(&headers, &request.body),
        Ok(SignatureScheme::Aisoc)
    );
    assert_eq!(
        WebhookVerifier::new(WHSEC)
            .with_schemes(&[SignatureScheme::StandardWebhooks])
            .verify(&headers, &request.body),
        Ok(SignatureScheme::StandardWebhooks)
    );
    assert_eq!(
        headers["idempotency-key"].to_str().unwrap(),
        first.data["idempotency_key"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a_message_becomes_a_small_envelope_and_refusals_are_typed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/ok"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let step = |url: String| {
        ActionRequest::new("webhook", "acme")
            .with_case("case-1")
            .with_parameter("url", url)
            .with_parameter("message", "Case {{ context.case }} closed")
            .with_context(json!({"case": 42}))
    };
    executor()
        .execute(&step(format!("{}/ok", server.uri())))
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        body,
        json!({"message": "Case 42 closed", "tenant_id": "acme", "case_id": "case-1", "run_id": null})
    );
    let gone = executor()
        .execute(&step(format!("{}/gone", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(gone.retry_class(), RetryClass::Gone, "{gone}");

    let neither = executor()
        .execute(&ActionRequest::new("webhook", "acme").with_parameter("url", server.uri()))
        .await
        .unwrap_err();
    assert_eq!(neither.to_string(), "parameter 'payload' is required");
}

#[tokio::test]
async fn a_private_or_metadata_address_is_refused_without_a_request() {
    for url in [
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/hook",
        "http://192.168.1.1/hook",
    ] {
        let step = ActionRequest::new("webhook", "acme")
            .with_parameter("url", url)
            .with_parameter("message", "hi");
        let refused = executor().execute(&step).await.unwrap_err();
        assert!(matches!(refused, ActionError::Notify(_)), "{refused:?}");
        assert_eq!(refused.retry_class(), RetryClass::NonRetryable, "{refused}");
        assert!(refused.to_string().contains("url"), "{refused}");
    }
}
