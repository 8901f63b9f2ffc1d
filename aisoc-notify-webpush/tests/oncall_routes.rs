//! The on-call routes: a user sets their own status, the fan-out skips them while offline, and
//! statuses stay within their tenant.

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::notification::Target;
use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{PushManager, PushMessage};
use aisoc_notify_webpush::oncall::{MemoryOnCallStore, OnCallStore, router};
use aisoc_notify_webpush::routes::PushUser;
use aisoc_notify_webpush::send::{PushOptions, WebPushSender};
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionStore};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use aisoc_notify_webpush::vapid::VapidSigner;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

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

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    caller: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some((tenant, user)) = caller {
        request = request
            .header("x-test-tenant", tenant)
            .header("x-test-user", user);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

#[tokio::test]
async fn users_set_their_status_and_list_their_tenants() {
    let store: Arc<dyn OnCallStore> = Arc::new(MemoryOnCallStore::new());
    let app = axum::Router::new().nest("/api/v1/oncall", router::<TestUser>(store));
    let alice = Some(("acme", "alice"));

    let (status, _) = call(&app, "GET", "/api/v1/oncall", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&app, "GET", "/api/v1/oncall", None, alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "available");
    assert_eq!(body["updated_at"], Value::Null);

    let (status, body) = call(
        &app,
        "PUT",
        "/api/v1/oncall",
        Some(json!({"status": "away"})),
        alice,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].as_str().unwrap().contains("status"), "{body}");

    for (caller, status) in [
        (("acme", "alice"), "offline"),
        (("acme", "bob"), "busy"),
        (("globex", "carol"), "snoozed"),
    ] {
        let (code, body) = call(
            &app,
            "PUT",
            "/api/v1/oncall",
            Some(json!({"status": status})),
            Some(caller),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["status"], status);
    }
    let (_, body) = call(&app, "GET", "/api/v1/oncall", None, alice).await;
    assert_eq!(body["status"], "offline");
    assert!(body["updated_at"].is_string());

    let (status, body) = call(&app, "GET", "/api/v1/oncall/users", None, alice).await;
    assert_eq!(status, StatusCode::OK);
    let users: Vec<(&str, &str)> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user_id"].as_str().unwrap(),
                u["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        users,
        [("alice", "offline"), ("bob", "busy")],
        "no globex user"
    );
}

#[tokio::test]
async fn the_fan_out_skips_a_user_who_set_themselves_offline() {
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push)
        .await;
    let subscriptions = Arc::new(MemorySubscriptionStore::new());
    for user in ["alice", "bob"] {
        let subscription = browser_subscription(&format!("{}/wpush/{user}", push.uri()));
        let record =
            SubscriptionRecord::new(&subscription, "acme", user, &[], chrono::Utc::now()).unwrap();
        subscriptions.upsert(&record).await.unwrap();
    }
    let store = Arc::new(MemoryOnCallStore::new());
    let delivery = DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let sender = WebPushSender::new(
        VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap(),
    )
    .unwrap()
    .with_delivery(delivery);
    let manager = PushManager::new(subscriptions, sender, store.clone());
    let app = axum::Router::new().nest("/api/v1/oncall", router::<TestUser>(store));
    let (status, _) = call(
        &app,
        "PUT",
        "/api/v1/oncall",
        Some(json!({"status": "offline"})),
        Some(("acme", "alice")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let message = PushMessage {
        title: "P0".into(),
        body: "ransomware".into(),
        url: None,
        tag: None,
        topic: None,
        severity: Some("critical".into()),
    };
    let target = Target::Tenant {
        tenant_id: "acme".into(),
    };
    let report = manager
        .send_to_target(&target, &message, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.delivered(), 1);
    assert_eq!(report.skipped_users, ["alice"]);
    let paths: Vec<String> = push
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, ["/wpush/bob"]);
}
