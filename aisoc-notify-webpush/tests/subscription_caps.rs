//! `POST /subscribe` against a memory store at its caps: a user's newest device replaces the
//! oldest, and a full tenant answers 507 with a message naming the cap.

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::notification::Target;
use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{MemoryOnCallStatus, PushManager};
use aisoc_notify_webpush::routes::{PushUser, router};
use aisoc_notify_webpush::send::WebPushSender;
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionLimits, SubscriptionStore};
use aisoc_notify_webpush::vapid::VapidSigner;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// The caller, named by a test header.
struct TestUser(String);

impl PushUser for TestUser {
    fn tenant_id(&self) -> &str {
        "acme"
    }
    fn user_id(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TestUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get("x-test-user")
            .and_then(|v| v.to_str().ok())
            .map(|user| TestUser(user.to_owned()))
            .ok_or(StatusCode::UNAUTHORIZED)
    }
}

async fn subscribe(app: &axum::Router, user: &str, device: usize) -> (StatusCode, Value) {
    let subscription = browser_subscription(&format!("http://127.0.0.1:9/wpush/{device}"));
    let request = Request::post("/api/v1/push/subscribe")
        .header("content-type", "application/json")
        .header("x-test-user", user)
        .body(Body::from(serde_json::to_vec(&subscription).unwrap()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn subscribing_past_the_caps_evicts_a_users_oldest_device_or_answers_507() {
    let store = Arc::new(
        MemorySubscriptionStore::new().with_limits(SubscriptionLimits {
            per_user: 1,
            per_tenant: 2,
            total: 100,
        }),
    );
    let delivery = DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let signer = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap();
    let manager = PushManager::new(
        store.clone(),
        WebPushSender::new(signer).unwrap().with_delivery(delivery),
        Arc::new(MemoryOnCallStatus::new()),
    );
    let app = axum::Router::new().nest("/api/v1/push", router::<TestUser>(manager));

    assert_eq!(subscribe(&app, "alice", 1).await.0, StatusCode::CREATED);
    let (status, newer) = subscribe(&app, "alice", 2).await;
    assert_eq!(status, StatusCode::CREATED);
    let alice = Target::User {
        tenant_id: "acme".into(),
        user_id: "alice".into(),
    };
    let devices = store.for_target(&alice).await.unwrap();
    assert_eq!(devices.len(), 1, "the older device made room");
    assert_eq!(devices[0].id, newer["id"].as_str().unwrap());

    assert_eq!(subscribe(&app, "bob", 3).await.0, StatusCode::CREATED);
    let (status, refused) = subscribe(&app, "carol", 4).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    let message = refused["error"].as_str().unwrap();
    assert!(message.contains("2 push subscriptions"), "{message}");
    assert!(!message.contains("127.0.0.1"), "no endpoint: {message}");
    assert_eq!(store.subscription_count(), 2);
}
