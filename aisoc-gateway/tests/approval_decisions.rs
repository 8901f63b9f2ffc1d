//! Where the adapters meet the approvals crate: the Slack and Teams interaction routes decide
//! through `ApprovalService`, and the replacement message and card show what the store really
//! recorded. (The approvals crate depends on core only, so these live here, in the gateway.)

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::model::ApprovalStatus;
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_approvals::store::AuditLog;
use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::decision::DecisionSource;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_slack::routes::{SlackRoutes, router as slack_router};
use aisoc_notify_slack::signature::SlackSignatureVerifier;
use aisoc_notify_teams::routes::{TeamsAuth, TeamsRoutes, router as teams_router};
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn service(clock: Arc<ManualClock>) -> (ApprovalService, Arc<MemoryAuditLog>) {
    let audit = Arc::new(MemoryAuditLog::new());
    let service =
        ApprovalService::new(Arc::new(MemoryApprovalStore::new(audit.clone()))).with_clock(clock);
    (service, audit)
}

/// The response_url mock listens on loopback, which the outbound guard refuses by default.
fn loopback_responder() -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

fn now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

#[tokio::test]
async fn slack_buttons_record_through_the_store_and_show_its_answer() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let (service, audit) = service(clock);
    let request = service
        .request(
            "acme",
            "Isolate web-01",
            "isolate_host",
            Some(82),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    let response_url = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&response_url)
        .await;
    let app = slack_router(
        SlackRoutes::new(
            SlackSignatureVerifier::new("secret"),
            Arc::new(service.clone()),
        )
        .unwrap()
        .with_responder(loopback_responder()),
    );

    for (n, action) in ["approve_action", "deny_action"].into_iter().enumerate() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U2CERLKJA", "username": "roadrunner"},
            "response_url": response_url.uri(),
            "actions": [{"action_id": action, "value": request.id, "type": "button"}]
        });
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let ts = now();
        let signature = SlackSignatureVerifier::new("secret").sign(&ts, body.as_bytes());
        let http = Request::post("/interactions")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(Body::from(body))
            .unwrap();
        assert_eq!(app.clone().oneshot(http).await.unwrap().status(), 200);
        wait_for(&response_url, n + 1).await;
    }
    let replies: Vec<Value> = response_url
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        replies[0]["text"],
        ":white_check_mark: *APPROVED* by roadrunner"
    );
    assert_eq!(replies[1]["text"], ":warning: Already approved");

    let stored = service
        .store()
        .get(&request.tenant_id, &request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Approved);
    assert_eq!(stored.reviewer.as_deref(), Some("roadrunner"));
    assert_eq!(stored.source, Some(DecisionSource::Slack));
    let entries = audit.list("acme", Some(&request.id)).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].details["source"], "slack");
}

#[tokio::test]
async fn teams_cards_record_through_the_store_and_show_its_answer() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let (service, audit) = service(clock);
    let request = service
        .request(
            "acme",
            "Disable user bob",
            "disable_user",
            Some(55),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    let app = teams_router(TeamsRoutes::new(
        TeamsAuth::VerifiedUpstream,
        Arc::new(service.clone()),
    ));
    let submit = |action: &str| {
        Request::post("/interactions")
            .body(Body::from(
                json!({"type": "message", "from": {"id": "29:1", "name": "Carol"}, "value": {"action": action, "approval_id": request.id}})
                    .to_string(),
            ))
            .unwrap()
    };
    let first = app.clone().oneshot(submit("deny")).await.unwrap();
    let card: Value = serde_json::from_slice(
        &axum::body::to_bytes(first.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        card["attachments"][0]["content"]["body"][0]["items"][0]["text"],
        "❌ Denied by Carol"
    );
    let second = app.clone().oneshot(submit("approve")).await.unwrap();
    let card: Value = serde_json::from_slice(
        &axum::body::to_bytes(second.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        card["attachments"][0]["content"]["body"][0]["items"][0]["text"],
        "⚠️ Already denied"
    );
    assert_eq!(
        service
            .store()
            .get(&request.tenant_id, &request.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Denied
    );
    assert_eq!(audit.list("acme", None).await.unwrap().len(), 1);
}

async fn wait_for(server: &MockServer, count: usize) {
    for _ in 0..200 {
        if server.received_requests().await.unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("response_url did not receive {count} posts");
}
