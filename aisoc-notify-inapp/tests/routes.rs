//! The in-app HTTP API through its router, with a header-named caller standing in for a host's
//! session check: each caller sees and changes only their own list.

use std::sync::Arc;

use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_inapp::routes::{InAppUser, router};
use aisoc_notify_inapp::{InAppStore, MemoryInAppStore};
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

/// The caller, as `x-tenant` and `x-user` name it.
struct HeaderUser {
    tenant_id: String,
    user_id: String,
}

impl InAppUser for HeaderUser {
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

impl<S: Send + Sync> FromRequestParts<S> for HeaderUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or(StatusCode::UNAUTHORIZED)
        };
        Ok(Self {
            tenant_id: header("x-tenant")?,
            user_id: header("x-user")?,
        })
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    (tenant, user): (&str, &str),
) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .header("x-tenant", tenant)
                .header("x-user", user)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

fn alert(title: &str) -> Notification {
    Notification::new("acme", EventType::P0Alert, Severity::High, title)
}

const ALICE: (&str, &str) = ("acme", "alice");
const BOB: (&str, &str) = ("acme", "bob");
const OTHER_ALICE: (&str, &str) = ("globex", "alice");

async fn seeded() -> (axum::Router, Arc<MemoryInAppStore>) {
    let store = Arc::new(MemoryInAppStore::new());
    for title in ["first", "second", "third"] {
        store.add("acme", "alice", &alert(title)).await.unwrap();
    }
    store.add("acme", "bob", &alert("bob's")).await.unwrap();
    (router::<HeaderUser>(store.clone()), store)
}

fn titles(body: &Value) -> Vec<String> {
    body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notification"]["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_caller_lists_their_own_notifications_newest_first_in_pages() {
    let (app, _) = seeded().await;
    let (status, page) = call(&app, "GET", "/notifications?limit=2", ALICE).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(titles(&page), ["third", "second"]);
    let next = page["next_before"].as_i64().unwrap();
    let (_, rest) = call(
        &app,
        "GET",
        &format!("/notifications?limit=2&before={next}"),
        ALICE,
    )
    .await;
    assert_eq!(titles(&rest), ["first"]);
    assert!(rest["next_before"].is_null(), "a short page is the last");

    let (_, bobs) = call(&app, "GET", "/notifications", BOB).await;
    assert_eq!(titles(&bobs), ["bob's"]);
    let (_, elsewhere) = call(&app, "GET", "/notifications", OTHER_ALICE).await;
    assert!(titles(&elsewhere).is_empty(), "same user id, other tenant");
}

#[tokio::test]
async fn marking_read_changes_only_the_callers_own_notifications() {
    let (app, store) = seeded().await;
    let bobs_id = store.list("acme", "bob", Default::default()).await.unwrap()[0].id;
    let alices = store
        .list("acme", "alice", Default::default())
        .await
        .unwrap();

    for caller in [ALICE, OTHER_ALICE] {
        let (status, answer) = call(
            &app,
            "POST",
            &format!("/notifications/{bobs_id}/read"),
            caller,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
        assert_eq!(
            answer["error"],
            format!("no unread notification {bobs_id} for this user")
        );
    }
    let (_, unread) = call(&app, "GET", "/notifications/unread-count", BOB).await;
    assert_eq!(unread["unread"], 1, "Bob's notification is still unread");

    let (status, _) = call(
        &app,
        "POST",
        &format!("/notifications/{}/read", alices[0].id),
        ALICE,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        "POST",
        &format!("/notifications/{}/read", alices[0].id),
        ALICE,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "read already");
    let (_, unread) = call(&app, "GET", "/notifications/unread-count", ALICE).await;
    assert_eq!(unread["unread"], 2);
    let (_, listed) = call(&app, "GET", "/notifications?unread_only=true", ALICE).await;
    assert_eq!(titles(&listed), ["second", "first"]);

    let (status, all) = call(&app, "POST", "/notifications/read-all", ALICE).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["marked_read"], 2);
    let (_, unread) = call(&app, "GET", "/notifications/unread-count", ALICE).await;
    assert_eq!(unread["unread"], 0);
    let (_, unread) = call(&app, "GET", "/notifications/unread-count", BOB).await;
    assert_eq!(unread["unread"], 1, "read-all is the caller's all");
}

#[tokio::test]
async fn a_bad_parameter_is_refused_naming_it() {
    let (app, _) = seeded().await;
    for (uri, message) in [
        (
            "/notifications?limit=0",
            "limit must be a whole number from 1 to 200",
        ),
        (
            "/notifications?limit=201",
            "limit must be a whole number from 1 to 200",
        ),
        (
            "/notifications?limit=ten",
            "limit must be a whole number from 1 to 200",
        ),
        (
            "/notifications?before=-3",
            "before must be a notification id",
        ),
        (
            "/notifications?unread_only=maybe",
            "unread_only must be true or false",
        ),
    ] {
        let (status, answer) = call(&app, "GET", uri, ALICE).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert!(
            answer["error"].as_str().unwrap().starts_with(message),
            "{uri}: {answer}"
        );
    }
    let (status, answer) = call(&app, "POST", "/notifications/abc/read", ALICE).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}
