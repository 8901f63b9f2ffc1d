//! The token administration router through its public API, on the in-memory token store:
//! mint, rotate and revoke, each scoped to the tenant it names; the token it answers works at
//! the inbox, the replaced or revoked one stops working.

mod support;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::router::token_admin_router;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use support::memory_inbox;
use tower::ServiceExt;

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

fn post_json(uri: &str, body: Value) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn post(uri: &str) -> Request<Body> {
    Request::post(uri).body(Body::empty()).unwrap()
}

fn delete(uri: &str) -> Request<Body> {
    Request::delete(uri).body(Body::empty()).unwrap()
}

struct Fixture {
    app: Router,
    inbox: aisoc_inbox::Inbox,
    template: String,
}

fn fixture() -> Fixture {
    let parts = memory_inbox(InboxConfig::default());
    let template = parts.inbox.templates().ids()[0].clone();
    Fixture {
        app: token_admin_router(parts.inbox.clone()),
        inbox: parts.inbox,
        template,
    }
}

async fn mint(fixture: &Fixture, tenant: &str) -> Value {
    let (status, body) = send(
        &fixture.app,
        post_json(
            "/tokens",
            json!({"tenant_id": tenant, "template": fixture.template}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn resolves(fixture: &Fixture, token: &Value) -> bool {
    fixture
        .inbox
        .resolver()
        .resolve(token.as_str().unwrap())
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_minted_token_is_shown_once_with_its_tenant_and_template_and_works() {
    let fixture = fixture();
    let minted = mint(&fixture, "acme").await;
    assert_eq!(minted["tenant_id"], "acme");
    assert_eq!(minted["template"], fixture.template.as_str());
    assert!(minted["id"].is_string());
    assert_eq!(minted["signature_schemes"], Value::Null);
    assert!(resolves(&fixture, &minted["token"]).await);
}

#[tokio::test]
async fn minting_names_what_to_fix() {
    let fixture = fixture();
    let (status, body) = send(
        &fixture.app,
        post_json(
            "/tokens",
            json!({"tenant_id": "acme", "template": "no-such-template"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.starts_with("unknown template 'no-such-template' (available: "),
        "{message}"
    );
    assert!(message.contains(&fixture.template), "{message}");

    let (status, body) = send(
        &fixture.app,
        post_json(
            "/tokens",
            json!({"tenant_id": "bad tenant", "template": fixture.template}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("tenant_id"),
        "{body}"
    );

    let (status, body) = send(
        &fixture.app,
        post_json(
            "/tokens",
            json!({"tenant_id": "acme", "template": fixture.template, "signature_schemes": ["rot13"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("signature_schemes: "),
        "{body}"
    );

    let (status, body) = send(
        &fixture.app,
        post_json("/tokens", json!({"tenant_id": "acme"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("template"),
        "{body}"
    );
}

#[tokio::test]
async fn a_token_limited_to_named_schemes_says_so() {
    let fixture = fixture();
    let (status, body) = send(
        &fixture.app,
        post_json(
            "/tokens",
            json!({
                "tenant_id": "acme",
                "template": fixture.template,
                "signing_secret": "whsec_dGVzdC1zZWNyZXQtZm9yLXRoZS1yb3V0ZXI=",
                "signature_schemes": ["github"],
            }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["signature_schemes"], json!(["github"]));
}

#[tokio::test]
async fn rotation_replaces_the_token_for_its_own_tenant_only() {
    let fixture = fixture();
    let minted = mint(&fixture, "acme").await;
    let id = minted["id"].as_str().unwrap();

    // Another tenant's id is exactly an unknown one, and changes nothing.
    let (status, body) = send(
        &fixture.app,
        post(&format!("/tokens/{id}/rotate?tenant_id=globex")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "token not found"}));
    assert!(resolves(&fixture, &minted["token"]).await);

    let (status, rotated) = send(
        &fixture.app,
        post(&format!("/tokens/{id}/rotate?tenant_id=acme")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    assert_eq!(rotated["replaces"], id);
    assert_ne!(rotated["id"], id);
    assert_ne!(rotated["token"], minted["token"]);
    assert!(resolves(&fixture, &rotated["token"]).await);
    assert!(!resolves(&fixture, &minted["token"]).await);
}

#[tokio::test]
async fn revocation_stops_the_token_for_its_own_tenant_only() {
    let fixture = fixture();
    let minted = mint(&fixture, "acme").await;
    let id = minted["id"].as_str().unwrap();

    let (status, body) = send(
        &fixture.app,
        delete(&format!("/tokens/{id}?tenant_id=globex")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "token not found"}));
    assert!(resolves(&fixture, &minted["token"]).await);

    let response = fixture
        .app
        .clone()
        .oneshot(delete(&format!("/tokens/{id}?tenant_id=acme")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let bytes = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert!(bytes.is_empty());
    assert!(!resolves(&fixture, &minted["token"]).await);

    let (status, _) = send(&fixture.app, delete("/tokens/tk_unknown?tenant_id=acme")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rotation_and_revocation_need_a_well_formed_tenant_id() {
    let fixture = fixture();
    let id = mint(&fixture, "acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for request in [
        post(&format!("/tokens/{id}/rotate")),
        delete(&format!("/tokens/{id}")),
    ] {
        let uri = request.uri().to_string();
        let (status, body) = send(&fixture.app, request).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(
            body,
            json!({"error": "tenant_id is required (?tenant_id=…)"}),
            "{uri}"
        );
    }
    let (status, body) = send(
        &fixture.app,
        delete(&format!("/tokens/{id}?tenant_id=a%20b")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("tenant_id"),
        "{body}"
    );
}
