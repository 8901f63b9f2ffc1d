//! The playbook-resume webhook passes the core HTTP contract: every failure keeps its retry
//! class, a redirect is not followed, a forbidden destination is refused, and neither the
//! webhook's path nor the signing secret nor the orchestrator's answer ever prints. Resumes are
//! Standard Webhooks signed with their own key, not the callback tokens' one.

use aisoc_gateway::actions::WebhookResumer;
use aisoc_notify_approvals::follow_up::{FollowUpFlow, PlaybookResumer, ResumeRequest};
use aisoc_notify_core::conformance::{Failure, HttpContract, Subject};
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_core::signature::{SignatureError, SignatureScheme, WebhookVerifier};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The resume key, a Standard Webhooks secret.
const SECRET: &str = "whsec_cmVzdW1lLWNvbnRyYWN0LWtleS0wMTIzNDU2Nzg5YWJj";
/// The callback-token key (`AISOC_CHATOPS_HMAC_SECRET`), which must not sign resumes.
const CALLBACK_SECRET: &str = "an-hmac-secret-of-at-least-32-bytes!";

fn resume(branch: &str) -> ResumeRequest {
    ResumeRequest {
        flow: FollowUpFlow::Verify,
        run_id: "run-1".into(),
        branch: branch.into(),
        idempotency_key: "vfy_1".into(),
        tenant_id: "acme".into(),
        case_id: Some("case-1".into()),
    }
}

#[tokio::test]
async fn the_resume_webhook_passes_the_http_contract() {
    let secret = SecretString::from(SECRET.to_owned());
    HttpContract::new("playbook-resume")
        .secret(SECRET)
        .check(|endpoint| {
            let resumer = WebhookResumer::new(
                Some(endpoint.url.as_str()),
                &secret,
                endpoint.delivery.clone(),
            )?;
            let subject: Subject = Box::new(move || {
                Box::pin(async move {
                    resumer
                        .resume(&resume("acknowledge"))
                        .await
                        .map_err(|error| Failure::of(&error, error.retry_class()))
                })
            });
            Ok(subject)
        })
        .await;
}

#[test]
fn a_resume_url_in_a_forbidden_range_is_refused_at_start_up_naming_the_variable_not_the_path() {
    let delivery = aisoc_notify_core::conformance::contract_delivery();
    let secret = SecretString::from(SECRET.to_owned());
    let err = WebhookResumer::new(
        Some("https://10.1.2.3/resume/path-token-42"),
        &secret,
        delivery,
    )
    .unwrap_err();
    assert_eq!(err.field(), "AISOC_PLAYBOOK_RESUME_URL");
    assert!(!err.to_string().contains("path-token-42"), "{err}");
}

#[tokio::test]
async fn without_a_resume_url_every_resume_fails_for_good_saying_what_to_set() {
    let secret = SecretString::from(SECRET.to_owned());
    let resumer = WebhookResumer::new(
        None,
        &secret,
        aisoc_notify_core::conformance::contract_delivery(),
    )
    .unwrap();
    let err = resumer.resume(&resume("deny")).await.unwrap_err();
    assert_eq!(
        err.retry_class(),
        aisoc_notify_core::RetryClass::NonRetryable
    );
    assert!(
        err.to_string().contains("AISOC_PLAYBOOK_RESUME_URL"),
        "{err}"
    );
}

fn loopback_delivery() -> aisoc_notify_core::delivery::DeliveryClient {
    aisoc_notify_core::delivery::DeliveryClient::new(aisoc_notify_core::delivery::DeliveryConfig {
        destinations: aisoc_notify_core::destination::DestinationPolicy::guarded()
            .allow("127.0.0.1/32")
            .unwrap(),
        ..Default::default()
    })
    .unwrap()
}

/// The one request the orchestrator received: its headers and body.
async fn received(orchestrator: &MockServer) -> (axum::http::HeaderMap, Vec<u8>) {
    let requests = orchestrator.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in &requests[0].headers {
        headers.insert(
            axum::http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            axum::http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    (headers, requests[0].body.clone())
}

#[tokio::test]
async fn a_resume_is_a_standard_webhook_under_the_resume_key_and_not_the_callback_key() {
    let orchestrator = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&orchestrator)
        .await;
    let resumer = WebhookResumer::new(
        Some(&format!("{}/resume", orchestrator.uri())),
        &SecretString::from(SECRET.to_owned()),
        loopback_delivery(),
    )
    .unwrap();
    resumer.resume(&resume("acknowledge")).await.unwrap();
    let (headers, body) = received(&orchestrator).await;

    assert_eq!(headers["webhook-id"], "vfy_1", "the idempotency key");
    let timestamp: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert!(
        headers.get("x-aisoc-signature").is_none(),
        "no untimestamped signature unless the legacy key is configured"
    );
    let standard = [SignatureScheme::StandardWebhooks];
    assert_eq!(
        WebhookVerifier::new(SECRET)
            .with_schemes(&standard)
            .verify(&headers, &body),
        Ok(SignatureScheme::StandardWebhooks)
    );
    let callback_key = aisoc_notify_core::signature::StandardWebhooksKey::from_secret(&format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, CALLBACK_SECRET)
    ))
    .unwrap();
    assert_ne!(
        headers["webhook-signature"].to_str().unwrap(),
        callback_key.sign("vfy_1", timestamp, &body),
        "the callback-token key does not sign resumes"
    );
    assert_eq!(
        WebhookVerifier::new(CALLBACK_SECRET)
            .with_schemes(&[SignatureScheme::Aisoc])
            .verify(&headers, &body),
        Err(SignatureError::Missing)
    );
}

#[tokio::test]
async fn the_old_signature_header_is_sent_only_with_an_explicit_legacy_key() {
    let orchestrator = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&orchestrator)
        .await;
    let legacy = "legacy-orchestrator-key-0123456789abcdef";
    let resumer = WebhookResumer::new(
        Some(&format!("{}/resume", orchestrator.uri())),
        &SecretString::from(SECRET.to_owned()),
        loopback_delivery(),
    )
    .unwrap()
    .with_legacy_signature(&SecretString::from(legacy.to_owned()))
    .unwrap();
    resumer.resume(&resume("deny")).await.unwrap();
    let (headers, body) = received(&orchestrator).await;
    assert_eq!(
        WebhookVerifier::new(legacy)
            .with_schemes(&[SignatureScheme::Aisoc])
            .verify(&headers, &body),
        Ok(SignatureScheme::Aisoc)
    );
    assert_eq!(
        WebhookVerifier::new(SECRET)
            .with_schemes(&[SignatureScheme::StandardWebhooks])
            .verify(&headers, &body),
        Ok(SignatureScheme::StandardWebhooks)
    );
}

#[test]
fn a_resume_key_that_is_not_a_standard_webhooks_secret_is_refused_naming_the_variable() {
    let err = WebhookResumer::new(
        None,
        &SecretString::from("not base64 at all!".to_owned()),
        aisoc_notify_core::conformance::contract_delivery(),
    )
    .unwrap_err();
    assert_eq!(err.field(), "AISOC_PLAYBOOK_RESUME_SECRET");
    assert!(!err.to_string().contains("not base64"), "{err}");
}
