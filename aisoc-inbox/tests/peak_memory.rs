//! Peak memory per request, measured: a counting global allocator records the most bytes held
//! at once while one request runs through the router, for hostile and ordinary bodies. Every
//! request must stay within a small multiple of its (decoded) body, plus the fixed floor a
//! small request may use ([`MAPPED_BYTES_FLOOR`]), whether it is accepted or refused.
//!
//! One test in this binary, so nothing else allocates while it measures; the request to
//! measure is built before the profiler starts.

use std::io::Write;
use std::sync::Arc;

use aisoc_inbox::limits::{MemoryIdempotencyStore, MemoryRateLimiter};
use aisoc_inbox::pipeline::MAPPED_BYTES_FLOOR;
use aisoc_inbox::router::{hec_router, router};
use aisoc_inbox::sink::{EventSink, SinkError, SinkEvent};
use aisoc_inbox::template::TemplateRegistry;
use aisoc_inbox::token::{MemoryTokenStore, TokenResolver, TokenStore, mint};
use aisoc_inbox::{Inbox, InboxConfig};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::secret::ExposeSecret;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

// dhat counts every allocation (the workspace forbids our own `unsafe` allocator).
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// A sink that acknowledges and forgets, so stored events do not count as request memory.
struct Discard;

#[async_trait]
impl EventSink for Discard {
    async fn publish(&self, _: &[SinkEvent]) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The most bytes allocated during `run` and held at once (a profiler per run, so each
/// counts from zero).
async fn peak_during<F: std::future::Future<Output = StatusCode>>(run: F) -> (StatusCode, usize) {
    let profiler = dhat::Profiler::builder().testing().build();
    let status = run.await;
    let peak = dhat::HeapStats::get().max_bytes;
    drop(profiler);
    (status, peak)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

struct Case {
    name: &'static str,
    request: Request<Body>,
    decoded_len: usize,
}

#[tokio::test(flavor = "current_thread")]
async fn no_request_holds_more_than_a_small_multiple_of_its_body() {
    let store = Arc::new(MemoryTokenStore::new());
    let store_dyn: Arc<dyn TokenStore> = store.clone();
    let inbox = Inbox::new(
        TokenResolver::new(store_dyn),
        Arc::new(TemplateRegistry::bundled().unwrap()),
        Arc::new(MemoryRateLimiter::per_minute(std::num::NonZeroU32::MAX)),
        Arc::new(MemoryIdempotencyStore::default()),
        Arc::new(Discard),
        InboxConfig {
            events_per_second: u32::MAX,
            bytes_per_second: u64::MAX,
            ..InboxConfig::default()
        },
    );
    let webhook = router(inbox.clone());
    let hec = hec_router(inbox);
    let json = mint(store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let json = json.token.expose_secret().to_owned();
    let splunk = mint(store.as_ref(), "acme", "splunk-hec", None)
        .await
        .unwrap();
    let splunk = splunk.token.expose_secret().to_owned();

    let post = |token: &str, content_type: &str, body: Vec<u8>| {
        Request::post(format!("/{token}"))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let realistic = br#"{"title":"Impossible travel","severity":"high","user":"alice@example.com","src_ip":"203.0.113.7","message":"sign-in from two countries within ten minutes","tags":["identity","travel"]}"#;
    let ndjson: Vec<u8> = std::iter::repeat_n(&realistic[..], 5_000)
        .flat_map(|line| line.iter().copied().chain([b'\n']))
        .collect();
    let empty_objects = b"{}\n".repeat(10_000);
    let raw_lines = b"Failed password for root from 203.0.113.7 port 22\n".repeat(2_000);
    let long_host = "h".repeat(255);
    let cases = vec![
        Case {
            name: "one JSON object",
            decoded_len: realistic.len(),
            request: post(&json, "application/json", realistic.to_vec()),
        },
        Case {
            name: "5,000 NDJSON events",
            decoded_len: ndjson.len(),
            request: post(&json, "application/x-ndjson", ndjson.clone()),
        },
        Case {
            name: "5,000 NDJSON events, gzip",
            decoded_len: ndjson.len(),
            request: Request::post(format!("/{json}"))
                .header("content-type", "application/x-ndjson")
                .header("content-encoding", "gzip")
                .body(Body::from(gzip(&ndjson)))
                .unwrap(),
        },
        Case {
            name: "10,000 `{}` lines",
            decoded_len: empty_objects.len(),
            request: post(&json, "application/x-ndjson", empty_objects.clone()),
        },
        Case {
            name: "HEC /raw, 2,000 lines, longest host",
            decoded_len: raw_lines.len(),
            request: Request::post(format!(
                "/services/collector/raw?host={long_host}&source=/var/log/auth.log"
            ))
            .header("authorization", format!("Splunk {splunk}"))
            .body(Body::from(raw_lines.clone()))
            .unwrap(),
        },
        Case {
            name: "HEC /raw, 60 KB host (refused)",
            decoded_len: raw_lines.len(),
            request: Request::post(format!(
                "/services/collector/raw?host={}",
                "h".repeat(60_000)
            ))
            .header("authorization", format!("Splunk {splunk}"))
            .body(Body::from(raw_lines.clone()))
            .unwrap(),
        },
    ];
    let mut report = Vec::new();
    for case in cases {
        let is_hec = case.request.uri().path().starts_with("/services");
        let app = if is_hec { hec.clone() } else { webhook.clone() };
        let (status, peak) =
            peak_during(async { app.oneshot(case.request).await.unwrap().status() }).await;
        let bound = 24 * case.decoded_len + 2 * MAPPED_BYTES_FLOOR;
        report.push(format!(
            "{:<40} {status} body {:>9} B, peak {:>10} B ({:.1}x body), bound {bound} B",
            case.name,
            case.decoded_len,
            peak,
            peak as f64 / case.decoded_len as f64
        ));
        assert!(
            peak <= bound,
            "{}: peak {peak} bytes is over {bound} (body {})\n{}",
            case.name,
            case.decoded_len,
            report.join("\n")
        );
    }
    // The measured table, for `--nocapture` (issue #15 asks for the numbers).
    eprintln!("{}", report.join("\n"));
}
