//! The approvals REST router through its public API, on the in-memory stores: create, list,
//! get, decide and the audit trail, each scoped to the tenant it names, and the creation hook's
//! report answered as `cards`.

use std::sync::{Arc, Mutex};

use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::model::ApprovalRequest;
use aisoc_notify_approvals::routes::{ApprovalCreated, ApprovalRoutes, approvals_router};
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_core::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Remembers the requests it was told of and reports one card per request.
#[derive(Default)]
struct RecordingHook(Mutex<Vec<String>>);

#[async_trait]
impl ApprovalCreated for RecordingHook {
    async fn created(&self, approval: &ApprovalRequest) -> Value {
        self.0.lock().unwrap().push(approval.id.clone());
        json!([{"channel": "ch_1", "type": "slack", "state": "posted"}])
    }
}

fn routes(max_open: usize) -> (ApprovalRoutes, Arc<RecordingHook>) {
    let audit = Arc::new(MemoryAuditLog::new());
    let store = Arc::new(MemoryApprovalStore::new(audit.clone()).with_max_open(max_open));
    let hook = Arc::new(RecordingHook::default());
    let routes = ApprovalRoutes::new(ApprovalService::new(store), audit).on_created(hook.clone());
    (routes, hook)
}

fn app() -> (Router, Arc<RecordingHook>) {
    let (routes, hook) = routes(100);
    (approvals_router(routes), hook)
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_json(uri: &str, body: Value) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn create(app: &Router, tenant: &str) -> Value {
    let (status, body) = send(
        app,
        post_json(
            "/approvals",
            json!({
                "tenant_id": tenant,
                "summary": "Isolate host web-01",
                "requested_action": "isolate_host",
                "risk_score": 82,
                "case_id": "case-7",
            }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn a_created_request_is_answered_with_the_hooks_cards_and_is_pending() {
    let (app, hook) = app();
    let created = create(&app, "acme").await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["tenant_id"], "acme");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["risk_score"], 82);
    assert_eq!(created["case_id"], "case-7");
    assert_eq!(
        created["cards"],
        json!([{"channel": "ch_1", "type": "slack", "state": "posted"}])
    );
    assert_eq!(*hook.0.lock().unwrap(), vec![id.to_owned()]);
}

#[tokio::test]
async fn without_a_hook_cards_is_an_empty_list() {
    let audit = Arc::new(MemoryAuditLog::new());
    let store = Arc::new(MemoryApprovalStore::new(audit.clone()));
    let app = approvals_router(ApprovalRoutes::new(ApprovalService::new(store), audit));
    let created = create(&app, "acme").await;
    assert_eq!(created["cards"], json!([]));
}

#[tokio::test]
async fn create_refuses_a_malformed_tenant_a_bad_body_and_an_endless_ttl() {
    let (app, hook) = app();
    let (status, body) = send(
        &app,
        post_json(
            "/approvals",
            json!({"tenant_id": "no spaces", "summary": "s", "requested_action": "a"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("tenant_id"),
        "{body}"
    );

    let (status, body) = send(&app, post_json("/approvals", json!({"tenant_id": "acme"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("summary"),
        "{body}"
    );

    let malformed = Request::post("/approvals")
        .header("content-type", "application/json")
        .body(Body::from("{"))
        .unwrap();
    let (status, body) = send(&app, malformed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string(), "{body}");

    let (status, body) = send(
        &app,
        post_json(
            "/approvals",
            json!({"tenant_id": "acme", "summary": "s", "requested_action": "a", "ttl_seconds": u64::MAX}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("ttl_seconds"),
        "{body}"
    );
    assert!(hook.0.lock().unwrap().is_empty(), "nothing was created");
}

#[tokio::test]
async fn a_full_store_answers_507() {
    let (routes, _) = routes(1);
    let app = approvals_router(routes);
    create(&app, "acme").await;
    let (status, body) = send(
        &app,
        post_json(
            "/approvals",
            json!({"tenant_id": "acme", "summary": "s", "requested_action": "a"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn list_and_get_show_only_the_named_tenants_requests() {
    let (app, _) = app();
    let mine = create(&app, "acme").await;
    let theirs = create(&app, "globex").await;
    let mine_id = mine["id"].as_str().unwrap();
    let theirs_id = theirs["id"].as_str().unwrap();

    let (status, list) = send(&app, get("/approvals?tenant_id=acme")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine_id]);

    let (status, list) = send(&app, get("/approvals?tenant_id=acme&status=approved")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));

    let (status, body) = send(&app, get("/approvals?tenant_id=acme&status=maybe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());

    let (status, one) = send(&app, get(&format!("/approvals/{mine_id}?tenant_id=acme"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["summary"], "Isolate host web-01");
    assert!(
        one.get("cards").is_none(),
        "cards are the create's answer only"
    );

    // Another tenant's id is exactly an unknown one.
    let (status, body) = send(&app, get(&format!("/approvals/{theirs_id}?tenant_id=acme"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "Approval request not found"}));
    let (status, unknown) = send(&app, get("/approvals/apr_nope?tenant_id=acme")).await;
    assert_eq!((status, unknown), (StatusCode::NOT_FOUND, body));
}

#[tokio::test]
async fn every_tenant_scoped_route_needs_a_well_formed_tenant_id() {
    let (app, _) = app();
    let id = create(&app, "acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for request in [
        get("/approvals"),
        get(&format!("/approvals/{id}")),
        get("/audit"),
        post_json(
            &format!("/approvals/{id}/decision"),
            json!({"decision": "approve", "reviewer": "alice"}),
        ),
    ] {
        let uri = request.uri().to_string();
        let (status, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(
            body,
            json!({"error": "tenant_id is required (?tenant_id=…)"}),
            "{uri}"
        );
    }
    let (status, body) = send(&app, get("/approvals?tenant_id=a%2Fb")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("tenant_id"),
        "{body}"
    );
}

#[tokio::test]
async fn a_decision_is_recorded_once_for_its_own_tenant_and_audited() {
    let (app, _) = app();
    let id = create(&app, "acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let decide = |tenant: &str, decision: &str, reviewer: &str| {
        post_json(
            &format!("/approvals/{id}/decision?tenant_id={tenant}"),
            json!({"decision": decision, "reviewer": reviewer}),
        )
    };

    // Another tenant cannot decide it, and learns nothing about it.
    let (status, body) = send(&app, decide("globex", "approve", "mallory")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "Approval request not found"}));

    let (status, body) = send(&app, decide("acme", "maybe", "alice")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"error": "decision must be 'approve' or 'deny'"})
    );
    let (status, body) = send(&app, decide("acme", "approve", "  ")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body, json!({"error": "reviewer must not be empty"}));

    let (status, recorded) = send(&app, decide("acme", "approve", "alice")).await;
    assert_eq!(status, StatusCode::OK, "{recorded}");
    assert_eq!(recorded["approval_id"], id.as_str());
    assert_eq!(recorded["reviewer_name"], "alice");

    let (status, body) = send(&app, decide("acme", "deny", "bob")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body, json!({"error": "Already approved"}));

    let (_, stored) = send(&app, get(&format!("/approvals/{id}?tenant_id=acme"))).await;
    assert_eq!(stored["status"], "approved");
    assert_eq!(stored["reviewer"], "alice");
    assert_eq!(stored["source"], "api");

    // The audit trail: the tenant's own, optionally for one subject; another tenant's is empty.
    let (status, trail) = send(&app, get("/audit?tenant_id=acme")).await;
    assert_eq!(status, StatusCode::OK);
    let reviewed: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approval.reviewed")
        .collect();
    assert_eq!(reviewed.len(), 1, "{trail}");
    assert_eq!(reviewed[0]["subject_id"], id.as_str());
    assert_eq!(reviewed[0]["tenant_id"], "acme");

    let (_, for_subject) = send(&app, get(&format!("/audit?tenant_id=acme&subject_id={id}"))).await;
    assert!(!for_subject.as_array().unwrap().is_empty());
    assert!(
        for_subject
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["subject_id"] == id.as_str())
    );
    let (_, none) = send(&app, get("/audit?tenant_id=acme&subject_id=apr_other")).await;
    assert_eq!(none, json!([]));
    let (status, theirs) = send(&app, get("/audit?tenant_id=globex")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs, json!([]));
}

#[tokio::test]
async fn a_decision_after_the_deadline_answers_410_and_marks_the_request_expired() {
    let clock = Arc::new(aisoc_notify_core::clock::ManualClock::new(
        chrono::Utc::now(),
    ));
    let audit = Arc::new(MemoryAuditLog::new());
    let store = Arc::new(MemoryApprovalStore::new(audit.clone()));
    let service = ApprovalService::new(store).with_clock(clock.clone());
    let app = approvals_router(ApprovalRoutes::new(service, audit));
    let (status, created) = send(
        &app,
        post_json(
            "/approvals",
            json!({"tenant_id": "acme", "summary": "s", "requested_action": "a", "ttl_seconds": 60}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    clock.advance(std::time::Duration::from_secs(61));
    let (status, body) = send(
        &app,
        post_json(
            &format!("/approvals/{id}/decision?tenant_id=acme"),
            json!({"decision": "approve", "reviewer": "alice"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body, json!({"error": "Approval request has expired"}));
    let (_, stored) = send(&app, get(&format!("/approvals/{id}?tenant_id=acme"))).await;
    assert_eq!(stored["status"], "expired");
}
