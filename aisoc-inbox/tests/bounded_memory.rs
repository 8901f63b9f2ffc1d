//! A soak of the inbox's in-memory limits: thousands of distinct idempotency keys from more
//! tenants than the rate limiter may track, through the HTTP routes. The structures stay at
//! their caps, what is beyond them is refused or evicted as documented, and each bound shows in
//! the metrics with its `# HELP`.

mod support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::limits::{MemoryIdempotencyStore, MemoryRateLimiter};
use aisoc_inbox::router::router;
use aisoc_inbox::sink::MemorySink;
use aisoc_inbox::token::mint;
use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::secret::ExposeSecret;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

const TENANTS: usize = 40;
const MAX_TENANTS: usize = 25;
const REQUESTS_PER_TENANT: usize = 100;
const MAX_KEYS: u64 = 500;

#[tokio::test]
async fn distinct_tenants_and_idempotency_keys_never_grow_the_inbox_past_its_caps() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder in this test binary");

    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let limiter = Arc::new(
        MemoryRateLimiter::per_minute(NonZeroU32::new(10_000).unwrap())
            .with_max_tenants(MAX_TENANTS)
            .with_clock(clock.clone()),
    );
    let keys =
        Arc::new(MemoryIdempotencyStore::new(Duration::from_secs(3600)).with_capacity(MAX_KEYS));
    let sink = Arc::new(MemorySink::new());
    let (inbox, store) = support::inbox_with_parts(
        InboxConfig::default(),
        sink.clone(),
        Some(limiter.clone()),
        keys.clone(),
    );
    let app = router(inbox);
    let mut tokens = Vec::new();
    for tenant in 0..TENANTS {
        let minted = mint(
            store.as_ref(),
            &format!("tenant-{tenant}"),
            "generic-json",
            None,
        )
        .await
        .unwrap();
        tokens.push(minted.token.expose_secret().to_owned());
    }

    let (mut accepted, mut refused) = (0usize, 0usize);
    for round in 0..REQUESTS_PER_TENANT {
        for (tenant, token) in tokens.iter().enumerate() {
            let request = Request::post(format!("/{token}"))
                .header("x-aisoc-idempotency-key", format!("{tenant}-{round}"))
                .body(Body::from(r#"{"title":"probe","severity":"low"}"#))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            match response.status() {
                StatusCode::OK => accepted += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert_eq!(response.headers()["retry-after"], "1");
                    refused += 1;
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert!(limiter.tracked_tenants() <= MAX_TENANTS);
    }
    // The first 25 tenants are tracked and keep sending; the other 15 are told to come back.
    assert_eq!(accepted, MAX_TENANTS * REQUESTS_PER_TENANT);
    assert_eq!(refused, (TENANTS - MAX_TENANTS) * REQUESTS_PER_TENANT);
    assert_eq!(sink.events().len(), accepted);
    assert_eq!(limiter.tracked_tenants(), MAX_TENANTS);
    let held = keys.key_count().await;
    assert!(
        (MAX_KEYS - 10..=MAX_KEYS).contains(&held),
        "{held} keys held for {accepted} requests"
    );

    // A minute later every budget is whole again; the idle tenants are forgotten and the
    // refused ones get in.
    clock.advance(Duration::from_secs(61));
    let late = Request::post(format!("/{}", tokens[TENANTS - 1]))
        .body(Body::from(r#"{"title":"late"}"#))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(late).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(limiter.tracked_tenants(), 1);

    let rendered = metrics.render();
    for expected in [
        "# HELP aisoc_ingest_inbox_rate_limit_tenants ",
        "aisoc_ingest_inbox_rate_limit_tenants 1",
        "# HELP aisoc_ingest_inbox_rate_limit_tenants_refused_total ",
        &format!(
            "aisoc_ingest_inbox_rate_limit_tenants_refused_total {}",
            (TENANTS - MAX_TENANTS) * REQUESTS_PER_TENANT
        ),
        "# HELP aisoc_ingest_inbox_idempotency_keys ",
        "# HELP aisoc_ingest_inbox_idempotency_evicted_total ",
    ] {
        assert!(
            rendered.contains(expected),
            "missing {expected}\n{rendered}"
        );
    }
    let evicted: u64 = rendered
        .lines()
        .find_map(|line| line.strip_prefix("aisoc_ingest_inbox_idempotency_evicted_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("evictions counted");
    assert!(
        evicted >= accepted as u64 - MAX_KEYS,
        "{evicted} evicted of {accepted}"
    );
}
