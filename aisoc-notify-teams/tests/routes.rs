//! The interactions route with real signed requests: approve, deny, already decided, expired.
#![cfg(feature = "axum")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest, DecisionSource,
};
use aisoc_notify_teams::hmac::TeamsHmacVerifier;
use aisoc_notify_teams::routes::{TeamsAuth, TeamsRoutes, router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN_B64: &str = "dGVhbXMtaG1hYy10ZXN0LXNlY3JldC0xMjM0NTY3ODkw";

enum State {
    Pending,
    Decided(Decision),
    Expired,
}

#[derive(Default)]
struct Approvals {
    state: Mutex<HashMap<String, State>>,
    seen: Mutex<Vec<DecisionRequest>>,
}

#[async_trait]
impl DecisionHandler for Approvals {
    async fn decide(&self, request: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
        self.seen.lock().unwrap().push(request.clone());
        let mut state = self.state.lock().unwrap();
        let entry = state
            .get_mut(&request.approval_id)
            .ok_or(DecisionError::NotFound)?;
        match entry {
            State::Decided(previous) => return Err(DecisionError::AlreadyReviewed(*previous)),
            State::Expired => return Err(DecisionError::Expired),
            State::Pending => *entry = State::Decided(request.decision),
        }
        Ok(DecisionRecorded {
            approval_id: request.approval_id,
            decision: request.decision,
            reviewer_name: request.reviewer.name,
        })
    }
}

fn app() -> (axum::Router, Arc<Approvals>) {
    let approvals = Arc::new(Approvals::default());
    {
        let mut state = approvals.state.lock().unwrap();
        state.insert("apr-1".into(), State::Pending);
        state.insert("apr-2".into(), State::Pending);
        state.insert("apr-old".into(), State::Expired);
    }
    let auth = TeamsAuth::OutgoingWebhookHmac(TeamsHmacVerifier::new(TOKEN_B64).unwrap());
    let app = axum::Router::new().nest(
        "/v1/teams",
        router(TeamsRoutes::new(auth, approvals.clone())),
    );
    (app, approvals)
}

fn signed(body: &Value) -> Request<Body> {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(TOKEN_B64).unwrap()).unwrap();
    mac.update(&bytes);
    Request::post("/v1/teams/interactions")
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("HMAC {}", STANDARD.encode(mac.finalize().into_bytes())),
        )
        .body(Body::from(bytes))
        .unwrap()
}

fn submit(action: &str, approval_id: &str) -> Value {
    json!({
        "type": "message",
        "from": {"id": "29:1Xbnc", "name": "Alice Example", "aadObjectId": "6e3c-aad"},
        "conversation": {"id": "19:abc@thread.tacv2"},
        "value": {"action": action, "approval_id": approval_id}
    })
}

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn card_of(answer: &Value) -> &Value {
    &answer["attachments"][0]["content"]
}

#[tokio::test]
async fn approve_answers_with_a_green_card() {
    let (app, approvals) = app();
    let (status, answer) = call(&app, signed(&submit("approve", "apr-1"))).await;
    assert_eq!(status, StatusCode::OK);
    let card = card_of(&answer);
    assert_eq!(card["body"][0]["style"], "good");
    assert_eq!(
        card["body"][0]["items"][0]["text"],
        "✅ Approved by Alice Example"
    );
    let seen = approvals.seen.lock().unwrap().clone();
    assert_eq!(seen[0].source, DecisionSource::Teams);
    assert_eq!(seen[0].reviewer.id, "6e3c-aad");
}

#[tokio::test]
async fn deny_answers_with_a_red_card() {
    let (app, _) = app();
    let (_, answer) = call(&app, signed(&submit("deny", "apr-2"))).await;
    let card = card_of(&answer);
    assert_eq!(card["body"][0]["style"], "attention");
    assert_eq!(
        card["body"][0]["items"][0]["text"],
        "❌ Denied by Alice Example"
    );
}

#[tokio::test]
async fn already_decided_and_expired_answer_with_a_warning() {
    let (app, _) = app();
    call(&app, signed(&submit("approve", "apr-1"))).await;
    let (status, answer) = call(&app, signed(&submit("deny", "apr-1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(card_of(&answer)["body"][0]["style"], "warning");
    assert_eq!(
        card_of(&answer)["body"][0]["items"][0]["text"],
        "⚠️ Already approved"
    );

    let (_, answer) = call(&app, signed(&submit("approve", "apr-old"))).await;
    assert_eq!(
        card_of(&answer)["body"][0]["items"][0]["text"],
        "⚠️ Approval request has expired"
    );
}

#[tokio::test]
async fn universal_action_invokes_get_an_invoke_response() {
    let (app, _) = app();
    let invoke = json!({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "from": {"id": "29:2", "name": "Bob"},
        "value": {"action": {"type": "Action.Execute", "verb": "approve", "data": {"action": "approve", "approval_id": "apr-2"}}}
    });
    let (_, answer) = call(&app, signed(&invoke)).await;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(
        answer["value"]["body"][0]["items"][0]["text"],
        "✅ Approved by Bob"
    );
}

#[tokio::test]
async fn unsigned_tampered_and_malformed_requests_are_refused() {
    let (app, approvals) = app();
    let unsigned = Request::post("/v1/teams/interactions")
        .body(Body::from(submit("approve", "apr-1").to_string()))
        .unwrap();
    let (status, body) = call(&app, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "missing Authorization header");

    let mut tampered = signed(&submit("approve", "apr-1"));
    *tampered.body_mut() = Body::from(submit("approve", "apr-2").to_string());
    let (status, _) = call(&app, tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(approvals.seen.lock().unwrap().is_empty());

    let (status, body) = call(&app, signed(&submit("delete", "apr-1"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "action must be 'approve' or 'deny'");
    let (status, body) = call(&app, signed(&submit("approve", ""))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "approval_id is required");
}
