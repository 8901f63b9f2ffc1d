//! Events per second through the whole inbox pipeline (token, HMAC, template to OCSF, sink)
//! for a 1,000-line NDJSON body, next to the floor: what `serde_json` alone needs to parse the
//! same body into values and collect them. The goal (issue #17) is the pipeline within 2x of
//! the floor; after criterion's figures the bench prints both medians and their ratio from
//! alternating rounds in the same run. CEF has its own bench (`cef`).
//!
//! Run: `cargo bench -p aisoc-notify-benches --bench inbox -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aisoc_inbox::InboxRoute;
use aisoc_notify_benches::{bench_inbox, side_by_side};
use aisoc_notify_core::secret::ExposeSecret;
use aisoc_notify_core::signature::hmac_sha256_hex;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn body(lines: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let severities = ["low", "medium", "high", "critical"];
    for i in 0..lines {
        let severity = severities[i % 4];
        let line = serde_json::json!({
            "id": format!("alrt-{i}"),
            "title": "Impossible travel for alice@example.com",
            "description": "Sign-ins from Lisbon and Sydney 20 minutes apart",
            "severity": severity,
            "timestamp": "2026-05-08T09:00:00Z",
            "user": {"email": "alice@example.com", "ip": "203.0.113.7", "country": "PT"},
            "tags": ["identity", "travel"]
        });
        serde_json::to_writer(&mut body, &line).unwrap();
        body.push(b'\n');
    }
    body
}

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secret = "vendor-webhook-secret-123";
    let (inbox, token) = runtime.block_on(bench_inbox("generic-json", Some(secret)));
    let body = bytes::Bytes::from(body(1000));
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/x-ndjson".parse().unwrap());
    headers.insert(
        "x-signature",
        hmac_sha256_hex(secret.as_bytes(), &body).parse().unwrap(),
    );

    let full_pipeline = || {
        runtime.block_on(async {
            let record = inbox.authenticate(token.expose_secret()).await.unwrap();
            let receipt = inbox
                .accept(&record, InboxRoute::Webhook, &headers, body.clone())
                .await
                .unwrap();
            assert_eq!(receipt.accepted, 1000);
            receipt
        })
    };
    let parse_only = || {
        let events: Vec<serde_json::Value> = body
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        events
    };

    let mut group = c.benchmark_group("inbox_ndjson_1000");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("full-pipeline", |b| b.iter(full_pipeline));
    group.bench_function("serde_json-parse-only", |b| b.iter(parse_only));
    group.finish();
    eprintln!(
        "{}",
        side_by_side(10, full_pipeline, parse_only)
            .report("inbox_ndjson_1000 full-pipeline vs serde_json-parse-only")
    );
}

fn hec(c: &mut Criterion) {
    let mut body = Vec::new();
    for i in 0..1000 {
        body.extend_from_slice(
            format!(r#"{{"time":"1715158800.{i}","host":"web-{i}","sourcetype":"linux_secure","event":{{"title":"Failed SSH login","message":"Failed password for root","severity":"medium"}}}}"#)
                .as_bytes(),
        );
    }
    let mut group = c.benchmark_group("hec_1000_events");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("aisoc-inbox-split", |b| {
        b.iter(|| aisoc_inbox::hec::parse_events(black_box(&body)).unwrap())
    });
    group.bench_function("serde_json-stream-floor", |b| {
        b.iter(|| {
            serde_json::Deserializer::from_slice(black_box(&body))
                .into_iter::<serde_json::Value>()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline, hec);
criterion_main!(benches);
