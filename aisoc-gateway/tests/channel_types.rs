//! The HTTP channel types through the real binary: created over
//! `/v1/settings/notifications`, exercised with the channel test endpoint, and judged by what
//! the local (wiremock) peer received. Then the refusals: each of the seven types' invalid
//! configuration is answered 422 naming the key to fix. E-mail, Web Push and in-app deliveries
//! are in `channel_types_beyond_http.rs`.

use aisoc_notify_core::signature::{SignatureScheme, WebhookVerifier};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::{Gateway, JsonReply};

const ADMIN: &str = "channel-types-admin";

async fn gateway() -> Gateway {
    Gateway::start(Some(ADMIN)).await.0
}

fn admin(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.bearer_auth(ADMIN)
}

async fn bodies(server: &MockServer, at: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn slack_channels_post_through_a_webhook_and_through_the_bot_api() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T1/B1/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-bot-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0SOC", "ts": "1700000000.000100"})),
        )
        .mount(&slack)
        .await;
    let gateway = gateway().await;

    let webhook = gateway
        .create_channel(
            ADMIN,
            "slack",
            json!({"webhook_url": format!("{}/services/T1/B1/hook", slack.uri())}),
        )
        .await;
    let bot = gateway.create_channel(ADMIN, "slack",
        json!({"bot_token": "xoxb-bot-token", "channel_id": "C0SOC", "api_base": format!("{}/api", slack.uri())}),
    )
    .await;
    for id in [&webhook, &bot] {
        let tested = gateway
            .test_channel(ADMIN, id, "acme", "slack says hello")
            .await;
        assert_eq!(tested["delivered"], true, "{tested}");
    }
    let hooked = bodies(&slack, "/services/T1/B1/hook").await;
    assert_eq!(hooked.len(), 1);
    assert!(
        hooked[0].to_string().contains("slack says hello"),
        "{}",
        hooked[0]
    );
    let posted = bodies(&slack, "/api/chat.postMessage").await;
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["channel"], "C0SOC");
    assert!(
        posted[0].to_string().contains("slack says hello"),
        "{}",
        posted[0]
    );
}

#[tokio::test]
async fn teams_channels_post_an_adaptive_card_or_a_message_card_as_configured() {
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/workflows/run"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&teams)
        .await;
    Mock::given(method("POST"))
        .and(path("/webhookb2/connector"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .mount(&teams)
        .await;
    let gateway = gateway().await;
    let workflows = gateway
        .create_channel(
            ADMIN,
            "teams",
            json!({"webhook_url": format!("{}/workflows/run", teams.uri()), "format": "workflows"}),
        )
        .await;
    let connector = gateway.create_channel(ADMIN, "teams",
        json!({"webhook_url": format!("{}/webhookb2/connector", teams.uri()), "format": "connector"}),
    )
    .await;
    for id in [&workflows, &connector] {
        let tested = gateway
            .test_channel(ADMIN, id, "acme", "teams says hello")
            .await;
        assert_eq!(tested["delivered"], true, "{tested}");
    }
    let card = &bodies(&teams, "/workflows/run").await[0];
    assert_eq!(card["type"], "message", "{card}");
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(card.to_string().contains("teams says hello"));
    let message_card = &bodies(&teams, "/webhookb2/connector").await[0];
    assert_eq!(message_card["@type"], "MessageCard", "{message_card}");
    assert!(message_card.to_string().contains("teams says hello"));
}

#[tokio::test]
async fn a_mattermost_channel_posts_to_its_webhook_with_the_channel_override() {
    let mattermost = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&mattermost)
        .await;
    let gateway = gateway().await;
    let id = gateway.create_channel(ADMIN, "mattermost",
        json!({"webhook_url": format!("{}/hooks/abc", mattermost.uri()), "channel": "soc-alerts"}),
    )
    .await;
    let tested = gateway
        .test_channel(ADMIN, &id, "acme", "mattermost says hello")
        .await;
    assert_eq!(tested["delivered"], true, "{tested}");
    let posted = &bodies(&mattermost, "/hooks/abc").await[0];
    assert_eq!(posted["channel"], "soc-alerts");
    assert_eq!(posted["props"]["aisoc_tenant_id"], "acme");
    assert!(
        posted.to_string().contains("mattermost says hello"),
        "{posted}"
    );
}

#[tokio::test]
async fn webhook_channels_sign_both_ways_and_send_the_object_envelope() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let gateway = gateway().await;
    let standard_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signed = gateway
        .create_channel(
            ADMIN,
            "webhook",
            json!({
                "url": format!("{}/signed", receiver.uri()),
                "secret": "aisoc-shared-secret",
                "standard_webhooks_secret": standard_secret,
            }),
        )
        .await;
    let community = "c0ffee00-0000-4000-8000-000000000001";
    let object = gateway
        .create_channel(
            ADMIN,
            "webhook",
            json!({
                "url": format!("{}/object", receiver.uri()),
                "envelope": "object_event",
                "community_uuid": community,
            }),
        )
        .await;
    for id in [&signed, &object] {
        let tested = gateway
            .test_channel(ADMIN, id, "acme", "webhook says hello")
            .await;
        assert_eq!(tested["delivered"], true, "{tested}");
    }
    let requests = receiver.received_requests().await.unwrap();
    let signed = requests.iter().find(|r| r.url.path() == "/signed").unwrap();
    let aisoc = WebhookVerifier::new("aisoc-shared-secret").with_schemes(&[SignatureScheme::Aisoc]);
    assert_eq!(
        aisoc.verify(&signed.headers, &signed.body).unwrap(),
        SignatureScheme::Aisoc
    );
    let standard =
        WebhookVerifier::new(standard_secret).with_schemes(&[SignatureScheme::StandardWebhooks]);
    assert_eq!(
        standard.verify(&signed.headers, &signed.body).unwrap(),
        SignatureScheme::StandardWebhooks
    );
    let tampered = [&signed.body[..], b" "].concat();
    assert!(aisoc.verify(&signed.headers, &tampered).is_err());
    let notification: Value = serde_json::from_slice(&signed.body).unwrap();
    assert_eq!(notification["body"], "webhook says hello");

    let object = requests.iter().find(|r| r.url.path() == "/object").unwrap();
    assert!(
        object.headers.get("x-aisoc-signature").is_none(),
        "no secret, no signature"
    );
    let envelope: Value = serde_json::from_slice(&object.body).unwrap();
    assert_eq!(envelope["type"], "notification", "{envelope}");
    assert_eq!(envelope["action"], "channel_test");
    assert_eq!(envelope["attributes"]["body"], "webhook says hello");
    assert_eq!(envelope["metadata"]["version"], 2);
    assert_eq!(envelope["metadata"]["community_uuid"], community);
}

#[tokio::test]
async fn each_types_invalid_configuration_is_refused_naming_the_key_to_fix() {
    let gateway = gateway().await;
    let http = reqwest::Client::new();
    let cases = [
        (
            "slack",
            json!({"channel_id": "C1"}),
            "Slack channels require either bot_token + channel_id or webhook_url",
        ),
        (
            "slack",
            json!({"bot_token": "xoxb-1", "channel_id": "C1", "api_base": "http://slack.example/api"}),
            "api_base: ",
        ),
        (
            "teams",
            json!({}),
            "A webhook_url is required for Teams channels",
        ),
        (
            "teams",
            json!({"webhook_url": "https://teams.example/x", "format": "card"}),
            "invalid Teams configuration: format: must be 'workflows' or 'connector'",
        ),
        (
            "mattermost",
            json!({"channel": "soc"}),
            "webhook_url: is required for Mattermost channels",
        ),
        (
            "mattermost",
            json!({"webhook_url": "https://chat.example/hooks/x", "channel": "SOC Alerts"}),
            "channel: must be a channel name",
        ),
        (
            "webhook",
            json!({"secret": "s"}),
            "url: is required for webhook channels",
        ),
        (
            "webhook",
            json!({"url": "https://hooks.example/x", "envelope": "object_event"}),
            "community_uuid: is required for the object_event envelope",
        ),
        (
            "webhook",
            json!({"url": "https://hooks.example/x", "secrte": "s"}),
            "invalid webhook configuration: secrte: unknown field `secrte`",
        ),
        (
            "email",
            json!({"host": "smtp.example.com", "from": "soc@example.com", "to": []}),
            "to: needs at least one recipient",
        ),
        (
            "email",
            json!({"host": "smtp.example.com", "from": "soc@example.com", "to": ["soc@example.com"], "port": 70000}),
            "invalid email configuration: port: invalid value: integer `70000`",
        ),
        (
            "email",
            json!({"host": "smtp.example.com", "from": "soc@example.com", "to": ["soc@example.com"], "username": "bot"}),
            "password: is required with username",
        ),
        (
            "email",
            json!({"host": "smtp.example.com", "from": "soc@example.com", "to": ["soc@example.com"], "security": "plain_loopback_only"}),
            "security: plain_loopback_only is allowed only with a loopback host",
        ),
        (
            "webpush",
            json!({"kind": "users", "user_ids": []}),
            "user_ids: needs at least one user",
        ),
        (
            "webpush",
            json!({"kind": "everyone"}),
            "invalid Web Push configuration: kind: unknown variant `everyone`",
        ),
        (
            "inapp",
            json!({"recipients": []}),
            "recipients: needs at least one user id",
        ),
        (
            "inapp",
            json!({"recipients": ["alice", ""]}),
            "recipients[1]: must be 1-128 characters",
        ),
    ];
    for (channel_type, config, message) in cases {
        let response = admin(http.post(gateway.url("/v1/settings/notifications")))
            .json(&json!({"channel_type": channel_type, "name": "bad", "config": config}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{channel_type} {config}");
        let answer: Value = response.json().await.unwrap();
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.starts_with(message),
            "{channel_type} {config}: {error}"
        );
        assert!(!error.contains("xoxb-1"), "{error}");
    }
    let listed: Value = admin(http.get(gateway.url("/v1/settings/notifications")))
        .json_reply()
        .await;
    assert_eq!(listed, json!([]), "nothing refused was saved");
}

#[tokio::test]
async fn a_test_message_longer_than_the_limit_is_refused() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let gateway = gateway().await;
    let id = gateway
        .create_channel(
            ADMIN,
            "webhook",
            json!({"url": format!("{}/hook", receiver.uri())}),
        )
        .await;
    let http = reqwest::Client::new();
    let test = gateway.url(&format!("/v1/settings/notifications/{id}/test"));
    let long = "x".repeat(aisoc_gateway::channels::MAX_TEST_MESSAGE_CHARS + 1);
    let refused = admin(http.post(&test))
        .json(&json!({"message": long}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(answer["error"], "message must be at most 1000 characters");
    let bad_tenant = admin(http.post(&test))
        .json(&json!({"tenant_id": "no spaces allowed"}))
        .json_reply()
        .await;
    assert!(
        bad_tenant["error"]
            .as_str()
            .unwrap()
            .starts_with("tenant_id: "),
        "{bad_tenant}"
    );
    assert!(
        receiver.received_requests().await.unwrap().is_empty(),
        "nothing was sent"
    );

    let plain = admin(http.post(&test)).send().await.unwrap();
    assert_eq!(plain.status(), 200, "no body: the standard test message");
    let sent: Value =
        serde_json::from_slice(&receiver.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent["body"],
        "If you can read this, the channel is configured correctly."
    );
}
