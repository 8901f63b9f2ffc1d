//! On-call status through the real binary: a user who sets themselves offline gets no push
//! while an available colleague does, the status survives a restart, and statuses stay in
//! their tenant.

mod support;

use serde_json::{Value, json};
use support::{Gateway, JsonReply as _};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADMIN: &str = "oncall-admin";

fn as_user(request: reqwest::RequestBuilder, tenant: &str, user: &str) -> reqwest::RequestBuilder {
    request
        .bearer_auth(ADMIN)
        .header("x-aisoc-tenant", tenant)
        .header("x-aisoc-user", user)
}

async fn subscribe(gateway: &Gateway, push: &MockServer, tenant: &str, user: &str) {
    let subscription = aisoc_notify_webpush::conformance::browser_subscription(&format!(
        "{}/push/{tenant}-{user}",
        push.uri()
    ));
    let response = as_user(
        reqwest::Client::new().post(gateway.url("/api/v1/push/subscribe")),
        tenant,
        user,
    )
    .json(&subscription)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
}

async fn set_status(gateway: &Gateway, tenant: &str, user: &str, status: &str) -> (u16, Value) {
    let response = as_user(
        reqwest::Client::new().put(gateway.url("/api/v1/oncall")),
        tenant,
        user,
    )
    .json(&json!({"status": status}))
    .send()
    .await
    .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn test_push(gateway: &Gateway, tenant: &str, user: &str) -> Value {
    as_user(
        reqwest::Client::new().post(gateway.url("/api/v1/push/test")),
        tenant,
        user,
    )
    .json_reply()
    .await
}

async fn own_status(gateway: &Gateway, tenant: &str, user: &str) -> Value {
    as_user(
        reqwest::Client::new().get(gateway.url("/api/v1/oncall")),
        tenant,
        user,
    )
    .json_reply()
    .await
}

#[tokio::test]
async fn an_offline_user_gets_no_push_an_available_one_does_and_the_status_survives_a_restart() {
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push)
        .await;
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "oncall-e2e-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let dir_arg = data_dir.to_str().unwrap().to_owned();
    let args = ["--data-dir", dir_arg.as_str()];
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &args, &[]).await;

    let anonymous = reqwest::Client::new()
        .get(gateway.url("/api/v1/oncall"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let fresh = own_status(&gateway, "acme", "alice").await;
    assert_eq!(fresh["status"], "available", "{fresh}");

    subscribe(&gateway, &push, "acme", "alice").await;
    subscribe(&gateway, &push, "acme", "bob").await;
    let (status, answer) = set_status(&gateway, "acme", "alice", "away").await;
    assert_eq!(status, 422);
    assert!(
        answer["error"].as_str().unwrap().contains("status"),
        "{answer}"
    );
    let (status, answer) = set_status(&gateway, "acme", "alice", "offline").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "offline");

    let alice = test_push(&gateway, "acme", "alice").await;
    assert_eq!(alice["sent"], 0, "{alice}");
    assert_eq!(alice["skipped"], true, "{alice}");
    let bob = test_push(&gateway, "acme", "bob").await;
    assert_eq!(bob["sent"], 1, "{bob}");
    let paths: Vec<String> = push
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        ["/push/acme-bob"],
        "alice's device was not contacted"
    );

    // A P0 notification to the whole tenant through a webpush channel: bob's device only.
    let http = reqwest::Client::new();
    let created = http
        .post(gateway.url("/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(
            &json!({"channel_type": "webpush", "name": "SOC pushes", "config": {"kind": "tenant"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let sent = http
        .post(gateway.url("/v1/notifications"))
        .bearer_auth(ADMIN)
        .json(
            &json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "critical",
                      "title": "Ransomware on web-01"}),
        )
        .json_reply()
        .await;
    assert!(
        sent["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "webpush" && c["outcome"] == "delivered"),
        "{sent}"
    );
    let paths: Vec<String> = push
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, ["/push/acme-bob", "/push/acme-bob"], "{sent}");

    // The same user id in another tenant is another person.
    subscribe(&gateway, &push, "globex", "alice").await;
    let other = test_push(&gateway, "globex", "alice").await;
    assert_eq!(other["sent"], 1, "{other}");
    let (status, _) = set_status(&gateway, "globex", "carol", "snoozed").await;
    assert_eq!(status, 200);
    let listed = as_user(
        reqwest::Client::new().get(gateway.url("/api/v1/oncall/users")),
        "acme",
        "bob",
    )
    .json_reply()
    .await;
    let users: Vec<(&str, &str)> = listed["users"]
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
    assert_eq!(users, [("alice", "offline")], "{listed}");

    // A restart on the same data directory keeps the status (subscriptions are in memory
    // without REDIS_URL, so alice subscribes again).
    drop(gateway);
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &args, &[]).await;
    assert_eq!(
        own_status(&gateway, "acme", "alice").await["status"],
        "offline"
    );
    subscribe(&gateway, &push, "acme", "alice").await;
    let alice = test_push(&gateway, "acme", "alice").await;
    assert_eq!(alice["sent"], 0, "{alice}");
    let (status, _) = set_status(&gateway, "acme", "alice", "available").await;
    assert_eq!(status, 200);
    let alice = test_push(&gateway, "acme", "alice").await;
    assert_eq!(alice["sent"], 1, "{alice}");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn with_postgresql_the_status_is_kept_in_the_database() {
    let database = support::TestDatabase::create("aisoc_oncall_e2e").await;
    let url = database.url();
    let envs = [("DATABASE_URL", url.as_str())];
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push)
        .await;

    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &envs).await;
    let (status, _) = set_status(&gateway, "acme", "alice", "snoozed").await;
    assert_eq!(status, 200);
    drop(gateway);
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &envs).await;
    assert_eq!(
        own_status(&gateway, "acme", "alice").await["status"],
        "snoozed"
    );
    subscribe(&gateway, &push, "acme", "alice").await;
    assert_eq!(test_push(&gateway, "acme", "alice").await["sent"], 0);
    assert!(push.received_requests().await.unwrap().is_empty());
    drop(gateway);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    database.drop_database().await;
}
