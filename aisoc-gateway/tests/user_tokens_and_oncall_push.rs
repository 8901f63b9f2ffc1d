//! Through the real binary: a browser page reaches its own push, in-app and on-call routes with
//! a short-lived user token instead of the admin token, and a `webpush` channel of kind
//! `on_call` pages exactly the users on call when a P0 arrives.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::{Gateway, JsonReply};

const ADMIN: &str = "user-tokens-admin";

async fn mint(gateway: &Gateway, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/admin/user-tokens"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn token_for(gateway: &Gateway, tenant: &str, user: &str) -> String {
    let (status, minted) = mint(gateway, json!({"tenant_id": tenant, "user_id": user})).await;
    assert_eq!(status, 201, "{minted}");
    minted["token"].as_str().unwrap().to_owned()
}

async fn subscribe_with_token(gateway: &Gateway, token: &str, endpoint: &str) -> u16 {
    reqwest::Client::new()
        .post(gateway.url("/api/v1/push/subscribe"))
        .bearer_auth(token)
        .json(&aisoc_notify_webpush::conformance::browser_subscription(
            endpoint,
        ))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn set_status(gateway: &Gateway, token: &str, status: &str) {
    let response = reqwest::Client::new()
        .put(gateway.url("/api/v1/oncall"))
        .bearer_auth(token)
        .json(&json!({"status": status}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_user_token_names_its_user_and_nobody_else_and_only_an_admin_mints_one() {
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push)
        .await;
    let (gateway, _) = Gateway::start(Some(ADMIN)).await;
    let http = reqwest::Client::new();

    // Only the admin mints, and every field is checked.
    let refused = http
        .post(gateway.url("/v1/admin/user-tokens"))
        .json(&json!({"tenant_id": "acme", "user_id": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    for (body, field) in [
        (json!({"tenant_id": "", "user_id": "alice"}), "tenant_id: "),
        (json!({"tenant_id": "acme", "user_id": ""}), "user_id: "),
        (
            json!({"tenant_id": "acme", "user_id": "alice", "ttl_seconds": 10}),
            "ttl_seconds: ",
        ),
        (
            json!({"tenant_id": "acme", "user_id": "alice", "ttl_seconds": 999_999}),
            "ttl_seconds: ",
        ),
    ] {
        let (status, answer) = mint(&gateway, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().starts_with(field),
            "{answer}"
        );
    }
    let (status, unknown) = mint(
        &gateway,
        json!({"tenant_id": "acme", "user_id": "alice", "role": "admin"}),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused: {unknown}");

    let (status, minted) = mint(
        &gateway,
        json!({"tenant_id": "acme", "user_id": "alice", "ttl_seconds": 900}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(minted["tenant_id"], "acme");
    assert_eq!(minted["user_id"], "alice");
    assert!(minted["expires_at"].is_string(), "{minted}");
    let alice = minted["token"].as_str().unwrap().to_owned();

    // The page subscribes and reads its own lists with the token alone: no admin token, no
    // headers.
    assert_eq!(
        subscribe_with_token(&gateway, &alice, &format!("{}/push/alice", push.uri())).await,
        201
    );
    let unread = http
        .get(gateway.url("/api/v1/inapp/notifications/unread-count"))
        .bearer_auth(&alice)
        .json_reply()
        .await;
    assert_eq!(unread["unread"], 0, "{unread}");
    let tested = http
        .post(gateway.url("/api/v1/push/test"))
        .bearer_auth(&alice)
        .json_reply()
        .await;
    assert_eq!(tested["sent"], 1, "{tested}");
    assert_eq!(push.received_requests().await.unwrap().len(), 1);

    // Headers may repeat who the token names, never someone else.
    let same = http
        .get(gateway.url("/api/v1/oncall"))
        .bearer_auth(&alice)
        .header("x-aisoc-tenant", "acme")
        .header("x-aisoc-user", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    for (name, value) in [("x-aisoc-user", "bob"), ("x-aisoc-tenant", "globex")] {
        let other = http
            .get(gateway.url("/api/v1/oncall"))
            .bearer_auth(&alice)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 403, "{name}: {value}");
    }

    // A tampered token, a token that is not one, and none at all are refused.
    let mut tampered = alice.clone();
    tampered.pop();
    tampered.push(if alice.ends_with('A') { 'B' } else { 'A' });
    for bearer in [tampered.as_str(), "v1.u1.e30.AAAA", "not-a-token"] {
        let refused = http
            .get(gateway.url("/api/v1/oncall"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{bearer}");
        let body: Value = refused.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("user token"),
            "{body}"
        );
    }
    let anonymous = http
        .get(gateway.url("/api/v1/oncall"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // A user token is not an admin token.
    let not_admin = http
        .get(gateway.url("/v1/settings/notifications"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(not_admin.status(), 401);

    // Another admin token (a rotation, or another deployment) does not accept it.
    let (rotated, _) = Gateway::start(Some("a-rotated-admin-token")).await;
    let stale = http
        .get(rotated.url("/api/v1/oncall"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}

#[tokio::test]
async fn a_p0_reaches_the_devices_of_the_users_on_call_and_no_one_else() {
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push)
        .await;
    let (gateway, _) = Gateway::start(Some(ADMIN)).await;
    let http = reqwest::Client::new();

    // alice is on call, bob is off, carol never said; dave is on call in another tenant.
    let mut tokens = Vec::new();
    for (tenant, user, status) in [
        ("acme", "alice", Some("available")),
        ("acme", "bob", Some("offline")),
        ("acme", "carol", None),
        ("globex", "dave", Some("busy")),
    ] {
        let token = token_for(&gateway, tenant, user).await;
        let endpoint = format!("{}/push/{tenant}-{user}", push.uri());
        assert_eq!(subscribe_with_token(&gateway, &token, &endpoint).await, 201);
        if let Some(status) = status {
            set_status(&gateway, &token, status).await;
        }
        tokens.push(token);
    }
    let pager = http
        .post(gateway.url("/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "channel_type": "webpush", "name": "P0 pager",
            "config": {"kind": "on_call"}, "event_types": ["p0_alert"],
        }))
        .json_reply()
        .await;
    let pager_id = pager["id"].as_str().unwrap().to_owned();

    let page = || {
        http.post(gateway.url("/v1/notifications"))
            .bearer_auth(ADMIN)
            .json(&json!({
                "tenant_id": "acme", "event_type": "p0_alert", "severity": "critical",
                "title": "Ransomware on web-01",
            }))
            .json_reply()
    };
    let pushed_to = || async {
        let mut paths: Vec<String> = push
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect();
        paths.sort();
        paths
    };

    let answer = page().await;
    let outcome = answer["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == pager_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(outcome["outcome"], "delivered", "{answer}");
    assert_eq!(pushed_to().await, ["/push/acme-alice"]);

    // The rota changes: bob takes over, alice goes off; the next page follows it.
    set_status(&gateway, &tokens[1], "busy").await;
    set_status(&gateway, &tokens[0], "snoozed").await;
    page().await;
    assert_eq!(pushed_to().await, ["/push/acme-alice", "/push/acme-bob"]);

    // A notification of another type is not a page.
    http.post(gateway.url("/v1/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme", "event_type": "connector_health", "severity": "low",
            "title": "Okta connector is fresh again",
        }))
        .json_reply()
        .await;
    assert_eq!(pushed_to().await.len(), 2);

    // The unknown kind is refused with the accepted ones named.
    let refused = http
        .post(gateway.url("/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "channel_type": "webpush", "name": "typo", "config": {"kind": "oncall"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("on_call"),
        "{body}"
    );
}
