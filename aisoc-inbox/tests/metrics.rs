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
    let app = router(parts.inbox.clone());
    let ok = Request::post(format!("/{}", token.expose_secret()))
        .header("content-type", "application/x-ndjson")
        .body(Body::from("{\"a\":1}\n{\"b\":2}\n"))
        .unwrap();
    app.clone().oneshot(ok).await.unwrap();
    let malformed = Request::post(format!("/{}", token.expose_secret()))
        .body(Body::from("nope"))
        .unwrap();
    app.clone().oneshot(malformed).await.unwrap();

    let rendered = handle.render();
    for expected in [
        r#"aisoc_ingest_inbox_requests_total{route="webhook",template="generic-json",outcome="ok"} 1"#,
        r#"aisoc_ingest_inbox_requests_total{route="webhook",template="generic-json",outcome="malformed"} 1"#,
        r#"aisoc_ingest_inbox_events_total{template="generic-json"} 2"#,
        "aisoc_ingest_inbox_token_cache_size 1",
    ] {
        assert!(
            rendered.contains(expected),
            "missing {expected}\n{rendered}"
        );
    }
}
