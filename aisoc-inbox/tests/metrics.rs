//! The inbox's Prometheus metrics, rendered by the exporter a host installs.

mod support;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::router::router;
use aisoc_inbox::token::mint;
use aisoc_notify_core::secret::ExposeSecret;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

#[tokio::test]
async fn requests_events_and_cache_size_are_counted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder in this test binary");

    let parts = support::memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let opsgenie = mint(parts.store.as_ref(), "acme", "opsgenie", None)
        .await
        .unwrap()
        .token;
    let app = router(parts.inbox.clone());
    let post = |token: &str, body: &'static str| {
        Request::post(format!("/{token}"))
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body))
            .unwrap()
    };
    // Counted twice: the second count goes through the handle the first one took.
    for _ in 0..2 {
        let ok = post(token.expose_secret(), "{\"a\":1}\n{\"b\":2}\n");
        app.clone().oneshot(ok).await.unwrap();
    }
    let malformed = post(token.expose_secret(), "nope");
    app.clone().oneshot(malformed).await.unwrap();
    let other_template = post(opsgenie.expose_secret(), "{\"action\":\"Create\"}\n");
    app.clone().oneshot(other_template).await.unwrap();

    let rendered = handle.render();
    for expected in [
        r#"aisoc_ingest_inbox_requests_total{route="webhook",template="generic-json",outcome="ok"} 2"#,
        r#"aisoc_ingest_inbox_requests_total{route="webhook",template="generic-json",outcome="malformed"} 1"#,
        r#"aisoc_ingest_inbox_events_total{template="generic-json"} 4"#,
        r#"aisoc_ingest_inbox_requests_total{route="webhook",template="opsgenie",outcome="ok"} 1"#,
        r#"aisoc_ingest_inbox_events_total{template="opsgenie"} 1"#,
        "aisoc_ingest_inbox_token_cache_size 2",
        // Every reservation was given back, and the gauge says so.
        "aisoc_ingest_inbox_inflight_bytes 0",
    ] {
        assert!(
            rendered.contains(expected),
            "missing {expected}\n{rendered}"
        );
    }
}
