//! Every status of the inbox routes, through the real router.

mod support;

use std::io::Write;
use std::sync::Arc;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::router::router;
use aisoc_inbox::sink::{EventSink, SinkError, SinkEvent};
use aisoc_inbox::token::mint;
use aisoc_notify_core::async_trait;
use aisoc_notify_core::secret::ExposeSecret;
use aisoc_notify_core::signature::hmac_sha256_hex;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use support::memory_inbox;
use tower::ServiceExt;

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        retry_after,
    )
}

fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

const ALERT: &str = include_str!("fixtures/generic-alert.json");

#[tokio::test]
async fn a_json_object_is_accepted_mapped_and_published() {
    let parts = memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let app = axum::Router::new().nest("/v1/inbox", router(parts.inbox.clone()));
    let (status, body, _) = send(
        &app,
        post(
            &format!("/v1/inbox/{}", token.expose_secret()),
            "application/json",
            ALERT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"accepted": 1, "template": "generic-json", "dropped": 0})
    );
    let events = parts.sink.events();
    assert_eq!(events.len(), 1);
    let event: Value = serde_json::from_slice(&events[0].payload).unwrap();
    assert_eq!(event["class_uid"], 2004);
    assert_eq!(event["type_uid"], 200401);
    assert_eq!(event["severity_id"], 4);
    assert_eq!(event["finding_info"]["uid"], "alrt-8812");
    assert_eq!(
        event["finding_info"]["title"],
        "Impossible travel for alice@example.com"
    );
    assert_eq!(event["time"], 1_778_230_800_000_i64);
    assert_eq!(event["metadata"]["tenant_uid"], "acme");
    assert_eq!(
        event["unmapped"]["user"]["email"], "alice@example.com",
        "unmapped vendor fields are kept"
    );
    assert_eq!(events[0].tenant_id, "acme");
}

#[tokio::test]
async fn ndjson_and_gzip_batches_count_dropped_lines() {
    let parts = memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let app = router(parts.inbox.clone());
    let ndjson = format!(
        "{}\nnot json\n{{\"title\":\"second\"}}\n\n[1]\n",
        ALERT.trim()
    );
    let (status, body, _) = send(
        &app,
        post(
            &format!("/{}", token.expose_secret()),
            "application/x-ndjson",
            ndjson.clone(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"accepted": 2, "template": "generic-json", "dropped": 2})
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(ndjson.as_bytes()).unwrap();
    let request = Request::post(format!("/{}", token.expose_secret()))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    let (status, body, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["accepted"], 2);
    assert_eq!(parts.sink.events().len(), 4);

    let (status, body, _) = send(
        &app,
        post(
            &format!("/{}", token.expose_secret()),
            "application/x-ndjson",
            "nope\n[]\n",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "no valid JSON events in the body");
}

#[tokio::test]
async fn unknown_and_revoked_tokens_are_401() {
    let parts = memory_inbox(InboxConfig::default());
    let minted = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let app = router(parts.inbox.clone());
    for token in [
        "aisoc_inbox_doesnotexist",
        "garbage",
        &format!("{}x", minted.token.expose_secret()),
    ] {
        let (status, body, _) =
            send(&app, post(&format!("/{token}"), "application/json", ALERT)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(body["error"], "invalid token");
    }
    let path = format!("/{}", minted.token.expose_secret());
    assert_eq!(
        send(&app, post(&path, "application/json", ALERT)).await.0,
        StatusCode::OK
    );
    parts
        .inbox
        .resolver()
        .revoke("acme", &minted.record.id)
        .await
        .unwrap();
    let (status, _, _) = send(&app, post(&path, "application/json", ALERT)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revocation takes effect on the next request"
    );
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_413() {
    let limit = 4096;
    let parts = memory_inbox(InboxConfig {
        max_body_bytes: limit,
        ..InboxConfig::default()
    });
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let app = router(parts.inbox.clone());
    let prefix = "{\"title\":\"";
    let suffix = "\"}";
    let exact = format!(
        "{prefix}{}{suffix}",
        "x".repeat(limit - prefix.len() - suffix.len())
    );
    assert_eq!(exact.len(), limit);
    let path = format!("/{}", token.expose_secret());
    let (status, body, _) = send(&app, post(&path, "application/json", exact.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let over = format!(
        "{prefix}{}{suffix}",
        "x".repeat(limit - prefix.len() - suffix.len() + 1)
    );
    let (status, body, _) = send(&app, post(&path, "application/json", over.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "body too large (limit 4096 bytes)");

    // Without Content-Length (a stream), the limit holds too.
    let stream = futures_stream(over.into_bytes());
    let request = Request::post(&path)
        .header("content-type", "application/json")
        .body(stream)
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(parts.sink.events().len(), 1);
}

fn futures_stream(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(1000)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn a_tenant_over_its_rate_gets_429_with_retry_after() {
    let parts = memory_inbox(InboxConfig {
        rate_limit_per_minute: 3,
        ..InboxConfig::default()
    });
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let other = mint(parts.store.as_ref(), "globex", "generic-json", None)
        .await
        .unwrap()
        .token;
    let app = router(parts.inbox.clone());
    for _ in 0..3 {
        assert_eq!(
            send(
                &app,
                post(
                    &format!("/{}", token.expose_secret()),
                    "application/json",
                    ALERT
                )
            )
            .await
            .0,
            StatusCode::OK
        );
    }
    let (status, body, retry_after) = send(
        &app,
        post(
            &format!("/{}", token.expose_secret()),
            "application/json",
            ALERT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "too many requests");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    assert_eq!(
        send(
            &app,
            post(
                &format!("/{}", other.expose_secret()),
                "application/json",
                ALERT
            )
        )
        .await
        .0,
        StatusCode::OK,
        "other tenants are unaffected"
    );
}

#[tokio::test]
async fn a_token_whose_template_is_gone_gets_400() {
    let parts = memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "retired-vendor", None)
        .await
        .unwrap()
        .token;
    let (status, body, _) = send(
        &router(parts.inbox.clone()),
        post(
            &format!("/{}", token.expose_secret()),
            "application/json",
            ALERT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unknown template");
}

#[tokio::test]
async fn signed_tokens_require_a_valid_signature_in_any_accepted_form() {
    let secret = "vendor-webhook-secret-123";
    let parts = memory_inbox(InboxConfig::default());
    let token = mint(
        parts.store.as_ref(),
        "acme",
        "generic-json",
        Some(secret.into()),
    )
    .await
    .unwrap()
    .token;
    let app = router(parts.inbox.clone());
    let path = format!("/{}", token.expose_secret());
    let signature = hmac_sha256_hex(secret.as_bytes(), ALERT.as_bytes());

    let (status, body, _) = send(&app, post(&path, "application/json", ALERT)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid signature"))
    );
    let wrong = hmac_sha256_hex(b"other", ALERT.as_bytes());
    let request = Request::post(&path)
        .header("x-signature", wrong)
        .body(Body::from(ALERT))
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::UNAUTHORIZED);

    for (header, value) in [
        ("x-signature", signature.clone()),
        ("x-signature", format!("sha256={signature}")),
        ("x-hub-signature-256", format!("sha256={signature}")),
        ("x-pagerduty-signature", format!("v1={signature}")),
    ] {
        let request = Request::post(&path)
            .header(header, value)
            .body(Body::from(ALERT))
            .unwrap();
        assert_eq!(send(&app, request).await.0, StatusCode::OK, "{header}");
    }
}

#[tokio::test]
async fn a_repeated_idempotency_key_is_acknowledged_not_republished() {
    let parts = memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let app = router(parts.inbox.clone());
    let request = || {
        Request::post(format!("/{}", token.expose_secret()))
            .header("x-aisoc-idempotency-key", "delivery-42")
            .body(Body::from(ALERT))
            .unwrap()
    };
    assert_eq!(send(&app, request()).await.1["accepted"], 1);
    let (status, body, _) = send(&app, request()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"accepted": 0, "template": "generic-json", "dropped": 0, "duplicate": true})
    );
    assert_eq!(parts.sink.events().len(), 1);
}

struct DownSink;

#[async_trait]
impl EventSink for DownSink {
    async fn publish(&self, _: &[SinkEvent]) -> Result<(), SinkError> {
        Err(SinkError::Unavailable("stream offline".into()))
    }
}

#[tokio::test]
async fn when_the_sink_fails_nothing_is_accepted_and_a_retry_is_not_deduped() {
    let (inbox, store) = support::inbox_with(InboxConfig::default(), Arc::new(DownSink), None);
    let token = mint(store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let app = router(inbox);
    let request = || {
        Request::post(format!("/{}", token.expose_secret()))
            .header("x-aisoc-idempotency-key", "k1")
            .body(Body::from(ALERT))
            .unwrap()
    };
    for _ in 0..2 {
        let (status, body, _) = send(&app, request()).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a retry is tried again, not taken for a duplicate"
        );
        assert!(body["error"].as_str().unwrap().contains("stream offline"));
    }
}

#[tokio::test]
async fn relayed_email_shapes_are_normalised_and_mapped() {
    let parts = memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "email-forwarded", None)
        .await
        .unwrap()
        .token;
    let app = axum::Router::new().nest("/v1/inbox", router(parts.inbox.clone()));
    let path = format!("/v1/inbox/email/{}", token.expose_secret());
    for fixture in [
        include_str!("fixtures/postmark-inbound.json"),
        include_str!("fixtures/ses-notification.json"),
        include_str!("fixtures/sendgrid-parse.json"),
    ] {
        let (status, body, _) = send(&app, post(&path, "application/json", fixture)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["template"], "email-forwarded");
    }
    let events: Vec<Value> = parts
        .sink
        .events()
        .iter()
        .map(|e| serde_json::from_slice(&e.payload).unwrap())
        .collect();
    assert_eq!(
        events[0]["finding_info"]["title"],
        "[CrowdStrike] Detection: credential dumping on host fin-07"
    );
    assert_eq!(
        events[0]["message"],
        "Falcon detected credential dumping (lsass access) on fin-07 at 16:40 UTC."
    );
    assert_eq!(
        events[0]["evidences"][0]["email"]["from"],
        "support@postmarkapp.com"
    );
    assert_eq!(
        events[0]["evidences"][0]["email"]["files"][0]["name"],
        "detection.json"
    );
    assert_eq!(
        events[0]["metadata"]["product"]["feature"]["name"],
        "postmark"
    );
    assert_eq!(
        events[1]["finding_info"]["title"],
        "[Tenable] Critical vulnerability on web-01"
    );
    assert_eq!(
        events[1]["message"],
        "CVE-2026-1234 (CVSS 9.8) found on web-01."
    );
    assert_eq!(
        events[2]["evidences"][0]["email"]["files"][0]["mime_type"],
        "message/rfc822"
    );
}
