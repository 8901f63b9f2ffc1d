//! The channel types that do not post to an HTTP webhook, through the real binary: e-mail (a
//! loopback SMTP server), Web Push (a mock push service, subscriptions over
//! `/api/v1/push/subscribe`) and in-app (read back over `/api/v1/inapp`), in memory and on
//! PostgreSQL. The HTTP types and every type's refusals are in `channel_types.rs`.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::smtp::smtp_server;
use support::{Gateway, JsonReply, TestDatabase};

const ADMIN: &str = "channel-types-admin";

async fn gateway() -> Gateway {
    Gateway::start(Some(ADMIN)).await.0
}

fn admin(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.bearer_auth(ADMIN)
}

#[tokio::test]
async fn an_email_channel_sends_through_a_loopback_relay_and_private_relays_are_refused() {
    let (mailbox, port) = smtp_server();
    let gateway = gateway().await;
    let id = gateway
        .create_channel(
            ADMIN,
            "email",
            json!({
                "host": "127.0.0.1",
                "port": port,
                "security": "plain_loopback_only",
                "from": "AiSOC <soc-bot@example.com>",
                "to": ["soc@example.com", "Lead <lead@example.com>"],
            }),
        )
        .await;
    let tested = gateway
        .test_channel(ADMIN, &id, "acme", "email says hello")
        .await;
    assert_eq!(tested["delivered"], true, "{tested}");
    let messages = mailbox.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("Subject: [INFO] Test message for email"),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("email says hello"), "{}", messages[0]);
    let mut recipients = mailbox.recipients.lock().unwrap().clone();
    recipients.sort();
    assert_eq!(recipients, ["lead@example.com", "soc@example.com"]);

    // The password is kept, never shown.
    let http = reqwest::Client::new();
    gateway
        .create_channel(
            ADMIN,
            "email",
            json!({
                "host": "smtp.example.com",
                "username": "soc-bot",
                "password": "SMTP-SECRET-PASSWORD",
                "from": "soc-bot@example.com",
                "to": ["soc@example.com"],
            }),
        )
        .await;
    let listed = admin(http.get(gateway.url("/v1/settings/notifications")))
        .json_reply()
        .await;
    assert!(listed.to_string().contains("\"password\""), "{listed}");
    assert!(
        !listed.to_string().contains("SMTP-SECRET-PASSWORD"),
        "{listed}"
    );

    // AISOC_OUTBOUND_ALLOW lists 127.0.0.1 only: another private relay is refused.
    for host in ["10.1.2.3", "192.168.10.20", "169.254.169.254"] {
        let refused = admin(http.post(gateway.url("/v1/settings/notifications")))
            .json(
                &json!({"channel_type": "email", "name": "relay", "config": {
                    "host": host, "from": "soc-bot@example.com", "to": ["soc@example.com"],
                }}),
            )
            .json_reply()
            .await;
        let message = refused["error"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("destination {host} is a ")),
            "{message}"
        );
        assert!(
            message.ends_with("list it in AISOC_OUTBOUND_ALLOW to allow it"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_loopback_relay_is_refused_unless_the_allow_list_names_it() {
    let (_mailbox, port) = smtp_server();
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &[("AISOC_OUTBOUND_ALLOW", "")]).await;
    let refused = admin(reqwest::Client::new().post(gateway.url("/v1/settings/notifications")))
        .json(
            &json!({"channel_type": "email", "name": "relay", "config": {
                "host": "127.0.0.1", "port": port, "security": "plain_loopback_only",
                "from": "soc-bot@example.com", "to": ["soc@example.com"],
            }}),
        )
        .json_reply()
        .await;
    assert_eq!(
        refused["error"],
        "destination 127.0.0.1 is a loopback address, which outbound requests may not reach; \
         list it in AISOC_OUTBOUND_ALLOW to allow it"
    );
}

#[tokio::test]
async fn a_webpush_channel_pushes_to_its_users_devices_in_the_notifications_tenant_only() {
    let push_service = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/push/alice-phone"))
        .and(header("content-encoding", "aes128gcm"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&push_service)
        .await;
    let gateway = gateway().await;
    let http = reqwest::Client::new();
    let subscription = aisoc_notify_webpush::conformance::browser_subscription(&format!(
        "{}/push/alice-phone",
        push_service.uri()
    ));
    let subscribed = admin(http.post(gateway.url("/api/v1/push/subscribe")))
        .header("x-aisoc-tenant", "acme")
        .header("x-aisoc-user", "alice")
        .json(&subscription)
        .send()
        .await
        .unwrap();
    assert_eq!(subscribed.status(), 201);

    let id = gateway
        .create_channel(
            ADMIN,
            "webpush",
            json!({"kind": "users", "user_ids": ["alice", "bob"]}),
        )
        .await;
    let tested = gateway
        .test_channel(ADMIN, &id, "acme", "push says hello")
        .await;
    assert_eq!(tested["delivered"], true, "{tested}");
    let pushed = push_service.received_requests().await.unwrap();
    assert_eq!(pushed.len(), 1, "alice's one device");
    assert!(
        pushed[0].headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("vapid t="),
        "VAPID-signed"
    );

    // The same user id in another tenant has no devices: nothing is pushed.
    let elsewhere = gateway
        .test_channel(ADMIN, &id, "globex", "push says hello")
        .await;
    assert_eq!(elsewhere["delivered"], true, "{elsewhere}");
    assert_eq!(push_service.received_requests().await.unwrap().len(), 1);

    // A topic channel without a topic pushes to subscribers of the event type.
    let topic = gateway
        .create_channel(ADMIN, "webpush", json!({"kind": "topic"}))
        .await;
    let queued = admin(http.post(gateway.url("/v1/notifications")))
        .json(&json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "critical", "title": "Ransomware"}))
        .json_reply()
        .await;
    let outcome = queued["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == topic.as_str())
        .unwrap();
    assert_eq!(outcome["outcome"], "delivered", "{queued}");
    assert_eq!(
        push_service.received_requests().await.unwrap().len(),
        3,
        "p0_alert is a default topic of alice's device: the users channel and the topic channel"
    );
}

#[tokio::test]
async fn an_inapp_channel_files_into_each_recipients_list_which_only_they_read() {
    let gateway = gateway().await;
    let http = reqwest::Client::new();
    gateway
        .create_channel(ADMIN, "inapp", json!({"recipients": ["alice", "bob"]}))
        .await;
    let sent = admin(http.post(gateway.url("/v1/notifications")))
        .json(&json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "high", "title": "Impossible travel"}))
        .json_reply()
        .await;
    assert_eq!(sent["delivered"], true, "{sent}");

    let as_user = |request: reqwest::RequestBuilder, tenant: &str, user: &str| {
        admin(request)
            .header("x-aisoc-tenant", tenant)
            .header("x-aisoc-user", user)
    };
    let inapp = |path: &str| gateway.url(&format!("/api/v1/inapp/notifications{path}"));
    let listed = as_user(http.get(inapp("")), "acme", "alice")
        .json_reply()
        .await;
    let items = listed["notifications"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["notification"]["title"], "Impossible travel");
    let alices = items[0]["id"].as_i64().unwrap();

    let anonymous = http.get(inapp("")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let elsewhere = as_user(http.get(inapp("")), "globex", "alice")
        .json_reply()
        .await;
    assert_eq!(
        elsewhere["notifications"],
        json!([]),
        "another tenant's alice"
    );
    let bobs_try = as_user(http.post(inapp(&format!("/{alices}/read"))), "acme", "bob")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bobs_try.status(),
        404,
        "bob cannot mark alice's notification"
    );

    let read = as_user(
        http.post(inapp(&format!("/{alices}/read"))),
        "acme",
        "alice",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(read.status(), 204);
    let unread = as_user(http.get(inapp("/unread-count")), "acme", "alice")
        .json_reply()
        .await;
    assert_eq!(unread["unread"], 0);
    let unread = as_user(http.get(inapp("/unread-count")), "acme", "bob")
        .json_reply()
        .await;
    assert_eq!(unread["unread"], 1, "bob's copy is his own");
    let all = as_user(http.post(inapp("/read-all")), "acme", "bob")
        .json_reply()
        .await;
    assert_eq!(all["marked_read"], 1);
    let bad = as_user(http.get(inapp("?limit=500")), "acme", "bob")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn with_a_database_inapp_lists_and_their_read_state_survive_a_restart() {
    let database = TestDatabase::create("aisoc_channel_types").await;
    let url = database.url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        (
            "AISOC_DATA_KEY",
            "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ];
    let http = reqwest::Client::new();
    let as_alice = |request: reqwest::RequestBuilder| {
        admin(request)
            .header("x-aisoc-tenant", "acme")
            .header("x-aisoc-user", "alice")
    };
    let (first, _) = Gateway::start_with(Some(ADMIN), &[], &env).await;
    first
        .create_channel(ADMIN, "inapp", json!({"recipients": ["alice"]}))
        .await;
    for title in ["Impossible travel", "Ransomware on web-01"] {
        let sent = admin(http.post(first.url("/v1/notifications")))
            .json(&json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "high", "title": title}))
            .json_reply()
            .await;
        assert_eq!(sent["delivered"], true, "{sent}");
    }
    let listed = as_alice(http.get(first.url("/api/v1/inapp/notifications")))
        .json_reply()
        .await;
    let newest = listed["notifications"][0]["id"].as_i64().unwrap();
    assert_eq!(
        listed["notifications"][0]["notification"]["title"],
        "Ransomware on web-01"
    );
    let read =
        as_alice(http.post(first.url(&format!("/api/v1/inapp/notifications/{newest}/read"))))
            .send()
            .await
            .unwrap();
    assert_eq!(read.status(), 204);
    drop(first);

    let (second, _) = Gateway::start_with(Some(ADMIN), &[], &env).await;
    let listed = as_alice(http.get(second.url("/api/v1/inapp/notifications")))
        .json_reply()
        .await;
    let titles: Vec<&str> = listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notification"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Ransomware on web-01", "Impossible travel"]);
    assert!(
        !listed["notifications"][0]["read_at"].is_null(),
        "read before the restart"
    );
    let unread = as_alice(http.get(second.url("/api/v1/inapp/notifications/unread-count")))
        .json_reply()
        .await;
    assert_eq!(unread["unread"], 1);
    let globex = admin(http.get(second.url("/api/v1/inapp/notifications")))
        .header("x-aisoc-tenant", "globex")
        .header("x-aisoc-user", "alice")
        .json_reply()
        .await;
    assert_eq!(globex["notifications"], json!([]));
    drop(second);
    database.drop_database().await;
}
