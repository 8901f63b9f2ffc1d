//! The playbook-resume webhook passes the core HTTP contract: every failure keeps its retry
//! class, a redirect is not followed, a forbidden destination is refused, and neither the
//! webhook's path nor the HMAC secret nor the orchestrator's answer ever prints.

use aisoc_gateway::actions::WebhookResumer;
use aisoc_notify_approvals::follow_up::{FollowUpFlow, PlaybookResumer, ResumeRequest};
use aisoc_notify_core::conformance::{Failure, HttpContract, Subject};
use aisoc_notify_core::secret::SecretString;

const SECRET: &str = "resume-contract-hmac-secret-0123456789";

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
