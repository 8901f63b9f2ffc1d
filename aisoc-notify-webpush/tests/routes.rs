//! The push routes a host mounts under /api/v1/push, with a test extractor for the caller.

use std::net::IpAddr;
use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::{DestinationPolicy, StaticLookup};
use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{MemoryOnCallStatus, PushManager};
use aisoc_notify_webpush::routes::{PushRouterState, PushUser, router, router_with};
use aisoc_notify_webpush::send::WebPushSender;
use aisoc_notify_webpush::store::MemorySubscriptionStore;
use aisoc_notify_webpush::vapid::VapidSigner;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The host's authenticated user; here read from test headers.
struct TestUser {
    tenant: String,
    user: String,
}

impl PushUser for TestUser {
    fn tenant_id(&self) -> &str {
        &self.tenant
    }
    fn user_id(&self) -> &str {
        &self.user
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TestUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        match (header("x-test-tenant"), header("x-test-user")) {
            (Some(tenant), Some(user)) => Ok(TestUser { tenant, user }),
            _ => Err(StatusCode::UNAUTHORIZED),
        }
    }
}

/// A manager whose delivery client may reach the mock push services on 127.0.0.1.
fn manager() -> (PushManager, String) {
    let keys = VapidKeyPair::generate();
    let public = keys.public_key_base64();
    let delivery = DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let sender = WebPushSender::new(VapidSigner::new(keys, "mailto:soc@example.com").unwrap())
        .unwrap()
        .with_delivery(delivery);
    let manager = PushManager::new(
        Arc::new(MemorySubscriptionStore::new()),
        sender,
        Arc::new(MemoryOnCallStatus::new()),
    );
    (manager, public)
}

fn app() -> (axum::Router, String) {
    let (manager, public) = manager();
    (
        axum::Router::new().nest("/api/v1/push", router::<TestUser>(manager)),
        public,
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    user: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(user) = user {
        request = request
            .header("x-test-tenant", "acme")
            .header("x-test-user", user);
    }
    let body = body
        .map(|b| Body::from(b.to_string()))
        .unwrap_or_else(Body::empty);
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        },
    )
}

#[tokio::test]
async fn public_key_subscribe_test_and_unsubscribe() {
    let (app, public) = app();
    let (status, body) = call(&app, "GET", "/api/v1/push/public-key", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["publicKey"], public);

    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push)
        .await;
    let subscription =
        serde_json::to_value(browser_subscription(&format!("{}/wpush/1", push.uri()))).unwrap();

    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/push/subscribe",
        Some(subscription.clone()),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the host's extractor guards the route"
    );
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/push/subscribe",
        Some(subscription.clone()),
        Some("alice"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["topics"],
        json!([
            "p0_alert",
            "agent_approval",
            "oncall_handoff",
            "connector_health"
        ])
    );

    let (status, body) = call(&app, "POST", "/api/v1/push/test", None, Some("alice")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sent"], 1);
    assert_eq!(push.received_requests().await.unwrap().len(), 1);

    let endpoint = json!({"endpoint": subscription["endpoint"]});
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/push/unsubscribe",
        Some(endpoint.clone()),
        Some("mallory"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another user cannot remove it"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/push/unsubscribe",
        Some(endpoint.clone()),
        Some("alice"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = call(&app, "POST", "/api/v1/push/test", None, Some("alice")).await;
    assert_eq!(body["sent"], 0);
}

#[tokio::test]
async fn invalid_subscriptions_are_refused_with_what_to_fix() {
    let (app, _) = app();
    let valid = serde_json::to_value(browser_subscription(
        "https://fcm.googleapis.com/fcm/send/abc",
    ))
    .unwrap();
    let mut http = valid.clone();
    http["endpoint"] = json!("http://push.example.com/x");
    let mut short_key = valid.clone();
    short_key["keys"]["p256dh"] = json!("BCVxsr7N");
    let mut bad_auth = valid.clone();
    bad_auth["keys"]["auth"] = json!("AAAA");
    let mut bad_topic = valid.clone();
    bad_topic["topics"] = json!(["has space"]);
    for (body, expected) in [
        (http, "endpoint must be an https URL"),
        (
            short_key,
            "keys.p256dh must be a 65-byte uncompressed P-256 public key in URL-safe base64",
        ),
        (bad_auth, "keys.auth must be 16 bytes in URL-safe base64"),
        (
            bad_topic,
            "topics must be 1-64 characters of letters, digits, '_', '-' or '.'",
        ),
    ] {
        let (status, error) = call(
            &app,
            "POST",
            "/api/v1/push/subscribe",
            Some(body),
            Some("alice"),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["error"], expected);
    }
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/push/subscribe",
        Some(json!({"endpoint": 3})),
        Some("alice"),
    )
    .await;
    assert!(status.is_client_error());
}

async fn subscribe(app: &axum::Router, endpoint: &str) -> (StatusCode, Value) {
    let subscription = serde_json::to_value(browser_subscription(endpoint)).unwrap();
    call(
        app,
        "POST",
        "/api/v1/push/subscribe",
        Some(subscription),
        Some("alice"),
    )
    .await
}

#[tokio::test]
async fn endpoints_in_forbidden_ranges_are_refused_with_the_rule_and_without_the_path() {
    let lookup = StaticLookup::new()
        .with("push.corp.example", ["10.1.2.3".parse::<IpAddr>().unwrap()])
        .with(
            "rebind.example",
            [
                "fd00::1".parse::<IpAddr>().unwrap(),
                "127.0.0.2".parse().unwrap(),
            ],
        );
    let (manager, _) = manager();
    let app = axum::Router::new().nest(
        "/api/v1/push",
        router_with::<TestUser>(PushRouterState::new(manager).lookup(Arc::new(lookup))),
    );
    for (endpoint, rule) in [
        (
            "https://169.254.169.254/latest/secret-path",
            "push endpoint host is a link-local address (169.254.0.0/16, fe80::/10)",
        ),
        (
            "https://10.0.0.7/secret-path",
            "push endpoint host is a private address (RFC 1918)",
        ),
        (
            "https://[::ffff:192.168.1.1]/secret-path",
            "push endpoint host is a private address (RFC 1918)",
        ),
        (
            "https://[fe80::1]/secret-path",
            "push endpoint host is a link-local address",
        ),
        (
            "https://100.64.0.1/secret-path",
            "push endpoint host is a carrier-grade NAT address",
        ),
        (
            "https://push.corp.example/secret-path",
            "push endpoint host is a private address (RFC 1918)",
        ),
        (
            "https://rebind.example/secret-path",
            "push endpoint host is a unique-local address (fc00::/7)",
        ),
        (
            "https://0.0.0.0/secret-path",
            "push endpoint host is an unspecified address",
        ),
        (
            "http://127.0.0.2:9/secret-path",
            "push endpoint host is a loopback address",
        ),
    ] {
        let (status, body) = subscribe(&app, endpoint).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint}: {body}"
        );
        let message = body["error"].as_str().unwrap();
        assert!(message.starts_with(rule), "{endpoint}: {message}");
        assert!(!message.contains("secret-path"), "{message}");
    }
}

#[tokio::test]
async fn the_default_router_judges_endpoints_by_the_delivery_clients_guard() {
    let keys = VapidKeyPair::generate();
    let guarded = PushManager::new(
        Arc::new(MemorySubscriptionStore::new()),
        WebPushSender::new(VapidSigner::new(keys, "mailto:soc@example.com").unwrap()).unwrap(),
        Arc::new(MemoryOnCallStatus::new()),
    );
    let app = axum::Router::new().nest("/api/v1/push", router::<TestUser>(guarded.clone()));
    let (status, body) = subscribe(&app, "http://127.0.0.1:9/push/1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"],
        "push endpoint host is a loopback address, which outbound requests may not reach"
    );

    let allowed = PushRouterState::new(guarded)
        .destinations(DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap());
    let app = axum::Router::new().nest("/api/v1/push", router_with::<TestUser>(allowed));
    let (status, body) = subscribe(&app, "http://127.0.0.1:9/push/1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_test_push_reports_the_status_and_class_but_not_what_the_endpoint_answered() {
    let (app, _) = app();
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_string(
                "{\"reason\":\"BadDeviceToken\",\"detail\":\"SECRET-INTERNAL-PAGE\"}",
            ),
        )
        .mount(&push)
        .await;
    let (status, _) = subscribe(&app, &format!("{}/wpush/1", push.uri())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(&app, "POST", "/api/v1/push/test", None, Some("alice")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sent"], 0);
    let device = &body["devices"][0];
    assert_eq!(
        device["error"],
        "push service refused the message (HTTP 400, BadDeviceToken)"
    );
    assert_eq!(device["retry_class"], "non_retryable");
    assert!(!body.to_string().contains("SECRET-INTERNAL-PAGE"), "{body}");
}

#[tokio::test]
async fn subscribing_another_users_endpoint_is_refused_and_their_pushes_stay_theirs() {
    let (app, _) = app();
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push)
        .await;
    let subscription =
        serde_json::to_value(browser_subscription(&format!("{}/wpush/alice", push.uri()))).unwrap();
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/push/subscribe",
        Some(subscription.clone()),
        Some("alice"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/push/subscribe",
        Some(subscription.clone()),
        Some("mallory"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("another user"), "{message}");
    assert!(
        !message.contains("wpush"),
        "the endpoint is not echoed: {message}"
    );

    let (_, body) = call(&app, "POST", "/api/v1/push/test", None, Some("mallory")).await;
    assert_eq!(body["sent"], 0, "mallory received nothing");
    let (_, body) = call(&app, "POST", "/api/v1/push/test", None, Some("alice")).await;
    assert_eq!(body["sent"], 1, "alice still receives her pushes");
}
