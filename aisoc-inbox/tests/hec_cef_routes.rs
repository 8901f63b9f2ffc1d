//! Splunk HEC and CEF over HTTP: Splunk's replies for every applicable code, gzip,
//! concatenated objects, CEF with header or path tokens, and the vendor non-events.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aisoc_inbox::InboxConfig;
use aisoc_inbox::envelope::SnsSubscriptionHandler;
use aisoc_inbox::router::{hec_router, router};
use aisoc_inbox::sink::{EventSink, SinkError, SinkEvent};
use aisoc_inbox::token::mint;
use aisoc_notify_core::async_trait;
use aisoc_notify_core::secret::ExposeSecret;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn hec(path: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request =
        Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some(token) = token {
        request = request.header("authorization", format!("Splunk {token}"));
    }
    request.body(body.into()).unwrap()
}

struct App {
    app: axum::Router,
    token: String,
    sink: Arc<aisoc_inbox::sink::MemorySink>,
}

async fn app(config: InboxConfig) -> App {
    let parts = support::memory_inbox(config);
    let token = mint(parts.store.as_ref(), "acme", "splunk-hec", None)
        .await
        .unwrap()
        .token
        .expose_secret()
        .to_owned();
    let app = hec_router(parts.inbox.clone()).nest("/v1/inbox", router(parts.inbox.clone()));
    App {
        app,
        token,
        sink: parts.sink,
    }
}

#[tokio::test]
async fn concatenated_events_with_and_without_separators_succeed() {
    let a = app(InboxConfig::default()).await;
    let body = r#"{"event":"one"}{"event":{"title":"two"},"time":"1715158800"} {"event":"three","sourcetype":"syslog"}
{"event":"four"}"#;
    for path in [
        "/services/collector",
        "/services/collector/event",
        "/services/collector/event/1.0",
        "/v1/inbox/hec",
    ] {
        let (status, reply) = send(&a.app, hec(path, Some(&a.token), body)).await;
        assert_eq!(
            (status, reply.clone()),
            (StatusCode::OK, json!({"text": "Success", "code": 0})),
            "{path}"
        );
    }
    assert_eq!(a.sink.events().len(), 16);
}

#[tokio::test]
async fn gzip_and_basic_authentication_work() {
    let a = app(InboxConfig::default()).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"event":"zipped"}"#).unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x:{}", a.token));
    let request = Request::post("/services/collector/event")
        .header("authorization", format!("Basic {basic}"))
        .header("content-encoding", "gzip")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    assert_eq!(
        send(&a.app, request).await,
        (StatusCode::OK, json!({"text": "Success", "code": 0}))
    );
    assert_eq!(a.sink.events().len(), 1);
}

#[tokio::test]
async fn every_applicable_error_code() {
    let a = app(InboxConfig::default()).await;
    let cases: Vec<(Request<Body>, StatusCode, Value)> = vec![
        (
            hec("/services/collector", None, r#"{"event":"x"}"#),
            StatusCode::UNAUTHORIZED,
            json!({"text": "Token is required", "code": 2}),
        ),
        (
            hec(
                "/services/collector",
                Some("aisoc_inbox_wrong"),
                r#"{"event":"x"}"#,
            ),
            StatusCode::FORBIDDEN,
            json!({"text": "Invalid token", "code": 4}),
        ),
        (
            hec(
                &format!("/services/collector?token={}", a.token),
                None,
                r#"{"event":"x"}"#,
            ),
            StatusCode::BAD_REQUEST,
            json!({"text": "Query string authorization is not enabled", "code": 16}),
        ),
        (
            hec("/services/collector", Some(&a.token), "  "),
            StatusCode::BAD_REQUEST,
            json!({"text": "No data", "code": 5}),
        ),
        (
            hec(
                "/services/collector",
                Some(&a.token),
                r#"{"event":"a"}{"event":"b"}{"event":"c""#,
            ),
            StatusCode::BAD_REQUEST,
            json!({"text": "Invalid data format", "code": 6, "invalid-event-number": 2}),
        ),
        (
            hec(
                "/services/collector",
                Some(&a.token),
                r#"{"event":"a"}{"event":"b"}{"host":"h"}"#,
            ),
            StatusCode::BAD_REQUEST,
            json!({"text": "Event field is required", "code": 12, "invalid-event-number": 2}),
        ),
        (
            hec(
                "/services/collector",
                Some(&a.token),
                r#"{"event":"a"}{"event":""}"#,
            ),
            StatusCode::BAD_REQUEST,
            json!({"text": "Event field cannot be blank", "code": 13, "invalid-event-number": 1}),
        ),
        (
            hec(
                "/services/collector",
                Some(&a.token),
                r#"{"event":"a","fields":{"x":{"y":1}}}"#,
            ),
            StatusCode::BAD_REQUEST,
            json!({"text": "Error in handling indexed fields", "code": 15, "invalid-event-number": 0}),
        ),
    ];
    for (request, status, body) in cases {
        assert_eq!(
            send(&a.app, request).await,
            (status, body.clone()),
            "{body}"
        );
    }
    assert!(
        a.sink.events().is_empty(),
        "a batch with a bad event publishes nothing"
    );
    let health = Request::get("/services/collector/health")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&a.app, health).await,
        (
            StatusCode::OK,
            json!({"text": "HEC is healthy", "code": 17})
        )
    );
}

#[tokio::test]
async fn a_disabled_template_and_a_busy_server_use_splunk_codes() {
    let parts = support::memory_inbox(InboxConfig {
        rate_limit_per_minute: 1,
        ..InboxConfig::default()
    });
    let retired = mint(parts.store.as_ref(), "initech", "retired", None)
        .await
        .unwrap()
        .token;
    let token = mint(parts.store.as_ref(), "acme", "splunk-hec", None)
        .await
        .unwrap()
        .token;
    let app = hec_router(parts.inbox.clone());
    let (status, body) = send(
        &app,
        hec(
            "/services/collector",
            Some(retired.expose_secret()),
            r#"{"event":"x"}"#,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"text": "Token disabled", "code": 1})
        )
    );
    assert_eq!(
        send(
            &app,
            hec(
                "/services/collector",
                Some(token.expose_secret()),
                r#"{"event":"x"}"#
            )
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body) = send(
        &app,
        hec(
            "/services/collector",
            Some(token.expose_secret()),
            r#"{"event":"x"}"#,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"text": "Server is busy", "code": 9})
        )
    );
}

struct DownSink;

#[async_trait]
impl EventSink for DownSink {
    async fn publish(&self, _: &[SinkEvent]) -> Result<(), SinkError> {
        Err(SinkError::Unavailable("offline".into()))
    }
}

#[tokio::test]
async fn when_the_sink_is_down_hec_clients_are_told_the_server_is_busy() {
    let (inbox, store) = support::inbox_with(InboxConfig::default(), Arc::new(DownSink), None);
    let token = mint(store.as_ref(), "acme", "splunk-hec", None)
        .await
        .unwrap()
        .token;
    let (status, body) = send(
        &hec_router(inbox),
        hec(
            "/services/collector",
            Some(token.expose_secret()),
            r#"{"event":"x"}"#,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"text": "Server is busy", "code": 9})
        )
    );
}

#[tokio::test]
async fn raw_events_take_their_envelope_from_the_query() {
    let a = app(InboxConfig::default()).await;
    let request = hec(
        "/services/collector/raw?host=fw01&sourcetype=pan:traffic",
        Some(&a.token),
        "line one\nline two\n\n",
    );
    assert_eq!(send(&a.app, request).await.0, StatusCode::OK);
    let events: Vec<Value> = a
        .sink
        .events()
        .iter()
        .map(|e| serde_json::from_slice(&e.payload).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["message"], "line one");
    assert_eq!(events[0]["finding_info"]["types"][0], "pan:traffic");
    assert_eq!(events[0]["unmapped"]["hec"]["host"], "fw01");
}

#[tokio::test]
async fn cef_lines_with_a_header_or_path_token() {
    let parts = support::memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "cef-syslog", None)
        .await
        .unwrap()
        .token;
    let app = axum::Router::new().nest("/v1/inbox", router(parts.inbox.clone()));
    let lines = "CEF:0|security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232\nnot cef\nSep 29 08:26:10 host CEF:1|Security|threatmanager|1.0|100|trojan stopped|3|msg=ok\n";
    let request = Request::post("/v1/inbox/cef")
        .header("authorization", format!("Bearer {}", token.expose_secret()))
        .body(Body::from(lines))
        .unwrap();
    assert_eq!(
        send(&app, request).await,
        (
            StatusCode::OK,
            json!({"accepted": 2, "template": "cef-syslog", "dropped": 1})
        )
    );
    let request = Request::post(format!("/v1/inbox/cef/{}", token.expose_secret()))
        .body(Body::from(lines))
        .unwrap();
    assert_eq!(send(&app, request).await.1["accepted"], 2);
    let unauthenticated = Request::post("/v1/inbox/cef")
        .body(Body::from(lines))
        .unwrap();
    assert_eq!(
        send(&app, unauthenticated).await.0,
        StatusCode::UNAUTHORIZED
    );
    let events: Vec<Value> = parts
        .sink
        .events()
        .iter()
        .map(|e| serde_json::from_slice(&e.payload).unwrap())
        .collect();
    assert_eq!(
        events[0]["finding_info"]["title"],
        "worm successfully stopped"
    );
    assert_eq!(events[0]["severity_id"], 5);
}

#[tokio::test]
async fn cloudflares_validation_upload_is_acknowledged_and_publishes_nothing() {
    let parts = support::memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "cloudflare-logpush", None)
        .await
        .unwrap()
        .token;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"content":"tests"}"#).unwrap();
    let request = Request::post(format!("/{}", token.expose_secret()))
        .header("content-encoding", "gzip")
        .header("content-type", "application/json")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    let (status, body) = send(&router(parts.inbox.clone()), request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"accepted": 0, "template": "cloudflare-logpush", "dropped": 0, "ignored": 1})
    );
    assert!(parts.sink.events().is_empty());
}

#[derive(Default)]
struct Confirmations(Mutex<Vec<(String, String, String)>>);

#[async_trait]
impl SnsSubscriptionHandler for Confirmations {
    async fn confirmation_requested(&self, tenant_id: &str, topic_arn: &str, subscribe_url: &str) {
        self.0
            .lock()
            .unwrap()
            .push((tenant_id.into(), topic_arn.into(), subscribe_url.into()));
    }
}

#[tokio::test]
async fn sns_subscription_confirmations_go_to_the_host_not_the_stream() {
    let parts = support::memory_inbox(InboxConfig::default());
    let confirmations = Arc::new(Confirmations::default());
    let inbox = parts
        .inbox
        .clone()
        .with_sns_confirmations(confirmations.clone());
    let token = mint(parts.store.as_ref(), "acme", "aws-sns", None)
        .await
        .unwrap()
        .token;
    let body = include_str!("fixtures/templates/sns-subscription-confirmation.json");
    let request = Request::post(format!("/{}", token.expose_secret()))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(Body::from(body))
        .unwrap();
    let (status, reply) = send(&router(inbox.clone()), request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["accepted"], 0);
    assert_eq!(reply["ignored"], 1);
    let seen = confirmations.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, "arn:aws:sns:us-west-2:123456789012:MyTopic");
    assert!(parts.sink.events().is_empty());

    let alarm = include_str!("fixtures/templates/sns-cloudwatch-alarm.json");
    let request = Request::post(format!("/{}", token.expose_secret()))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(Body::from(alarm))
        .unwrap();
    assert_eq!(send(&router(inbox), request).await.1["accepted"], 1);
}
