//! Webhook, Web API and Mattermost delivery against local mock servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::{
    DestinationPolicy, EventType, Notification, Notifier, NotifyError, RetryClass, Severity,
};
use aisoc_notify_slack::SlackError;
use aisoc_notify_slack::blocks::SlackMessage;
use aisoc_notify_slack::config::SlackChannelConfig;
use aisoc_notify_slack::mattermost::MattermostWebhookNotifier;
use aisoc_notify_slack::web_api::{PostedMessage, SlackBotClient, SlackBotNotifier};
use aisoc_notify_slack::webhook::SlackWebhookNotifier;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A delivery client with the outbound guard on, allowing only the mock servers' 127.0.0.1.
fn loopback_delivery(retry: RetryPolicy) -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry,
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

fn fast_delivery() -> DeliveryClient {
    loopback_delivery(RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    })
}

/// A pacer that does not slow tests down.
fn no_pacing() -> Arc<Pacer> {
    Arc::new(Pacer::one_per(Duration::from_nanos(1)))
}

fn alert() -> Notification {
    Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
    .with_body("Encryption activity on 3 hosts")
    .with_fact("Host", "web-01")
}

async fn webhook_notifier(server: &MockServer) -> SlackWebhookNotifier {
    SlackWebhookNotifier::builder()
        .webhook_url(format!("{}/services/T000/B000/SECRET", server.uri()))
        .delivery(fast_delivery())
        .pacer(no_pacing())
        .build()
        .unwrap()
}

#[tokio::test]
async fn webhook_posts_a_severity_coloured_block_kit_card() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/SECRET"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let delivered = webhook_notifier(&server)
        .await
        .notify(&alert())
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 1);

    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body["attachments"][0]["color"],
        Severity::Critical.color_hex()
    );
    assert_eq!(body["attachments"][0]["blocks"][0]["type"], "header");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("Ransomware on web-01")
    );
}

#[tokio::test]
async fn every_incoming_webhook_error_maps_to_its_retry_class() {
    let cases: [(u16, &str, Option<&str>, RetryClass); 12] = [
        (
            400,
            "invalid_payload",
            Some("invalid_payload"),
            RetryClass::NonRetryable,
        ),
        (
            400,
            "user_not_found",
            Some("user_not_found"),
            RetryClass::NonRetryable,
        ),
        (
            403,
            "action_prohibited",
            Some("action_prohibited"),
            RetryClass::NonRetryable,
        ),
        (
            403,
            "posting_to_general_channel_denied",
            Some("posting_to_general_channel_denied"),
            RetryClass::NonRetryable,
        ),
        (
            403,
            "invalid_token",
            Some("invalid_token"),
            RetryClass::Gone,
        ),
        (
            404,
            "channel_not_found",
            Some("channel_not_found"),
            RetryClass::Gone,
        ),
        (404, "no_service", Some("no_service"), RetryClass::Gone),
        (
            410,
            "channel_is_archived",
            Some("channel_is_archived"),
            RetryClass::Gone,
        ),
        (
            500,
            "rollup_error",
            Some("rollup_error"),
            RetryClass::Retryable,
        ),
        (404, "", None, RetryClass::Gone),
        (
            404,
            "<html>No such hook SECRET-BODY</html>",
            None,
            RetryClass::Gone,
        ),
        (
            413,
            "Payload Too Large SECRET-BODY",
            None,
            RetryClass::NonRetryable,
        ),
    ];
    for (status, body, code, class) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(&server)
            .await;
        let notifier = webhook_notifier(&server).await;
        let message = SlackMessage::builder("hi").build();
        let err = notifier.send_message(&message).await.unwrap_err();
        assert_eq!(err.code(), code, "{body}");
        assert_eq!(err.retry_class(), class, "{status} {body}");
        assert!(
            matches!(err, SlackError::Webhook { status: s, .. } if s == status),
            "{body}: {err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("SECRET"), "{shown}");

        let mapped = notifier.notify(&alert()).await.unwrap_err();
        assert_eq!(mapped.retry_class(), class, "{status} {body}: {mapped:?}");
        let expected_code = code.map_or_else(|| format!("http_{status}"), str::to_owned);
        match &mapped {
            NotifyError::Rejected { code, .. } | NotifyError::Gone { code, .. } => {
                assert_eq!(code, &expected_code)
            }
            NotifyError::Unavailable { code, .. } => assert_eq!(code, &expected_code),
            other => panic!("{status} {body}: {other:?}"),
        }
        assert!(!format!("{mapped} {mapped:?}").contains("SECRET"));
    }
}

#[tokio::test]
async fn a_429_from_a_webhook_is_retried_after_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string("rate_limited"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let delivered = webhook_notifier(&server)
        .await
        .notify(&alert())
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 2);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_429_that_persists_is_reported_as_rate_limited_with_its_wait() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_string("rate_limited"),
        )
        .mount(&server)
        .await;
    let delivery = loopback_delivery(RetryPolicy::no_retries());
    let notifier = SlackWebhookNotifier::builder()
        .webhook_url(server.uri())
        .delivery(delivery)
        .pacer(no_pacing())
        .build()
        .unwrap();
    let err = notifier.notify(&alert()).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::RateLimited { service: "slack", retry_after: Some(d) } if d == Duration::from_secs(30))
    );
    assert_eq!(
        err.retry_class(),
        RetryClass::Throttled(Duration::from_secs(30))
    );
}

#[tokio::test]
async fn webhook_messages_to_one_destination_are_paced() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let notifier = SlackWebhookNotifier::builder()
        .webhook_url(server.uri())
        .delivery(fast_delivery())
        .pacer(Arc::new(Pacer::one_per(Duration::from_millis(150))))
        .build()
        .unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        notifier.notify(&alert()).await.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn legacy_webhook_overrides_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(
            json!({"channel": "#security-alerts", "username": "AiSOC", "icon_emoji": ":shield:"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let notifier = SlackWebhookNotifier::builder()
        .webhook_url(server.uri())
        .channel("#security-alerts")
        .username("AiSOC")
        .icon_emoji(":shield:")
        .delivery(fast_delivery())
        .pacer(no_pacing())
        .build()
        .unwrap();
    notifier.notify(&alert()).await.unwrap();
}

fn bot(server: &MockServer) -> SlackBotClient {
    SlackBotClient::new("xoxb-test-token")
        .unwrap()
        .with_base_url(&format!("{}/api", server.uri()))
        .unwrap()
        .with_delivery(fast_delivery())
        .with_pacer(no_pacing())
}

#[tokio::test]
async fn chat_post_message_sends_the_bearer_token_and_returns_the_ts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-test-token"))
        .and(body_partial_json(json!({"channel": "C0123"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "channel": "C0123", "ts": "1503435956.000247", "message": {"text": "x"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let notifier = SlackBotNotifier::new(bot(&server), "C0123").unwrap();
    let delivered = notifier.notify(&alert()).await.unwrap();
    assert_eq!(delivered.receipt.as_deref(), Some("1503435956.000247"));
}

#[tokio::test]
async fn chat_update_replaces_a_message_by_channel_and_ts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .and(body_partial_json(
            json!({"channel": "C0123", "ts": "1503435956.000247", "text": "Resolved"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "channel": "C0123", "ts": "1503435956.000247", "text": "Resolved"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let updated = bot(&server)
        .update_message(
            "C0123",
            "1503435956.000247",
            &SlackMessage::builder("Resolved").build(),
        )
        .await
        .unwrap();
    assert_eq!(
        updated,
        PostedMessage {
            channel: "C0123".into(),
            ts: "1503435956.000247".into()
        }
    );
}

#[tokio::test]
async fn web_api_error_codes_map_to_their_retry_class() {
    let cases = [
        ("channel_not_found", "rejected", RetryClass::NonRetryable),
        ("not_in_channel", "rejected", RetryClass::NonRetryable),
        ("invalid_auth", "rejected", RetryClass::NonRetryable),
        ("msg_too_long", "rejected", RetryClass::NonRetryable),
        (
            "some_code_slack_adds_later",
            "rejected",
            RetryClass::NonRetryable,
        ),
        ("is_archived", "gone", RetryClass::Gone),
        ("token_revoked", "gone", RetryClass::Gone),
        ("internal_error", "unavailable", RetryClass::Retryable),
        ("ratelimited", "limited", RetryClass::Retryable),
    ];
    for (code, kind, class) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": code})),
            )
            .mount(&server)
            .await;
        let client = bot(&server);
        let err = client
            .post_message("C1", &SlackMessage::builder("x").build())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.retry_class(), class, "{code}");
        assert!(!format!("{err} {err:?}").contains("xoxb-test-token"));
        let mapped = SlackBotNotifier::new(client, "C1")
            .unwrap()
            .notify(&alert())
            .await
            .unwrap_err();
        assert_eq!(mapped.retry_class(), class, "{code}");
        let actual = match mapped {
            NotifyError::Rejected { .. } => "rejected",
            NotifyError::Gone { .. } => "gone",
            NotifyError::Unavailable { .. } => "unavailable",
            NotifyError::RateLimited { .. } => "limited",
            other => panic!("{code}: {other:?}"),
        };
        assert_eq!(actual, kind, "{code}");
    }
}

#[tokio::test]
async fn web_api_answers_without_a_slack_code_are_classified_by_status() {
    for (status, class) in [
        (404, RetryClass::Gone),
        (410, RetryClass::Gone),
        (413, RetryClass::NonRetryable),
        (502, RetryClass::Retryable),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string("<html>SECRET-BODY</html>"))
            .mount(&server)
            .await;
        let client = bot(&server).with_delivery(loopback_delivery(RetryPolicy::no_retries()));
        let err = client
            .post_message("C1", &SlackMessage::builder("x").build())
            .await
            .unwrap_err();
        assert_eq!(err.code(), None);
        assert_eq!(err.retry_class(), class, "{status}");
        assert!(!format!("{err} {err:?}").contains("SECRET-BODY"));
    }
}

#[tokio::test]
async fn web_api_http_429_is_retried_honouring_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.2"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let posted = bot(&server)
        .post_message("C1", &SlackMessage::builder("x").build())
        .await
        .unwrap();
    assert_eq!(posted.ts, "1.2");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn mattermost_gets_attachments_props_and_overrides() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/xyz"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let notifier = MattermostWebhookNotifier::new(&format!("{}/hooks/xyz", server.uri()))
        .unwrap()
        .with_channel("town-square")
        .with_username("aisoc")
        .with_icon_url("https://example.com/icon.png")
        .with_delivery(fast_delivery())
        .with_pacer(no_pacing());
    let hostile = alert().with_fact("User", "@channel [click](https://evil.example)");
    notifier.notify(&hostile).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["channel"], "town-square");
    assert_eq!(body["username"], "aisoc");
    assert_eq!(body["icon_url"], "https://example.com/icon.png");
    assert!(
        body.get("blocks").is_none(),
        "Mattermost does not render Block Kit"
    );
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["color"], Severity::Critical.color_hex());
    assert_eq!(attachment["fields"][0]["title"], "Host");
    assert_eq!(
        attachment["fields"][1]["value"],
        "@\u{200b}channel \\[click\\]\\(https://evil.example\\)"
    );
    assert_eq!(body["props"]["aisoc_event_type"], "p0_alert");
    assert!(
        body["props"]["card"]
            .as_str()
            .unwrap()
            .contains("**Severity:** critical")
    );
}

#[tokio::test]
async fn mattermost_errors_keep_the_id_and_map_to_their_retry_class() {
    for (status, id, class) in [
        (
            400,
            Some("web.incoming_webhook.parse.app_error"),
            RetryClass::NonRetryable,
        ),
        (
            404,
            Some("web.incoming_webhook.invalid.app_error"),
            RetryClass::Gone,
        ),
        (
            501,
            Some("web.incoming_webhook.disabled.app_error"),
            RetryClass::NonRetryable,
        ),
        (500, Some("app.post.save.app_error"), RetryClass::Retryable),
        (410, None, RetryClass::Gone),
        (413, None, RetryClass::NonRetryable),
    ] {
        let server = MockServer::start().await;
        let body = match id {
            Some(id) => json!({
                "id": id, "message": "Unable to process SECRET-BODY", "detailed_error": "", "status_code": status
            }),
            None => json!("<html>SECRET-BODY</html>"),
        };
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let notifier = MattermostWebhookNotifier::new(&server.uri())
            .unwrap()
            .with_delivery(loopback_delivery(RetryPolicy::no_retries()))
            .with_pacer(no_pacing());
        let err = notifier.notify(&alert()).await.unwrap_err();
        assert_eq!(err.retry_class(), class, "{status}: {err:?}");
        let expected_code = id.map_or_else(|| format!("http_{status}"), str::to_owned);
        match &err {
            NotifyError::Rejected {
                service: "mattermost",
                code,
                ..
            }
            | NotifyError::Gone {
                service: "mattermost",
                code,
            }
            | NotifyError::Unavailable {
                service: "mattermost",
                code,
                ..
            } => assert_eq!(code, &expected_code),
            other => panic!("{other:?}"),
        }
        assert!(
            !format!("{err} {err:?}").contains("SECRET-BODY"),
            "Mattermost's message is not echoed: {err}"
        );
    }
}

#[test]
fn channel_configuration_is_validated_with_the_user_facing_message() {
    let none = SlackChannelConfig::default();
    assert_eq!(
        none.validate().unwrap_err().to_string(),
        "Slack channels require either bot_token + channel_id or webhook_url"
    );
    let token_without_channel: SlackChannelConfig =
        serde_json::from_value(json!({"bot_token": "xoxb-1", "channel_id": " "})).unwrap();
    assert!(token_without_channel.validate().is_err());
    let webhook: SlackChannelConfig =
        serde_json::from_value(json!({"webhook_url": "https://hooks.slack.com/services/T/B/X"}))
            .unwrap();
    assert!(webhook.validate().is_ok());
    let insecure: SlackChannelConfig =
        serde_json::from_value(json!({"webhook_url": "http://hooks.example.com/services/T/B/X"}))
            .unwrap();
    let err = insecure.into_notifier(fast_delivery()).err().unwrap();
    assert!(err.to_string().contains("must use https"), "{err}");
}
