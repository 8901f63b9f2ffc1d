//! Peak memory per request, measured: a counting global allocator records the most bytes held
//! at once while one request runs through the router, for hostile and ordinary bodies. Every
//! request must stay within a small multiple of its (decoded) body, plus the fixed floor a
//! small request may use ([`MAPPED_BYTES_FLOOR`]), whether it is accepted or refused; a
//! 10 MiB NDJSON request within [`NDJSON_10_MIB_BOUND`] times its body (issue #17 asks for at
//! most 4x). The bounds are set close enough to what is measured that holding a copy of every
//! line again (every parsed line at once, as the pipeline once did, or a copy per event) fails.
//!
//! One test in this binary, so nothing else allocates while it measures; the request to
//! measure is built before the profiler starts.

use std::io::Write;
use std::sync::Arc;

use aisoc_inbox::limits::{MemoryIdempotencyStore, MemoryRateLimiter};
use aisoc_inbox::pipeline::MAPPED_BYTES_FLOOR;
use aisoc_inbox::router::{hec_router, router};
use aisoc_inbox::sink::SinkEvent as Event;
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
    /// Events (lines) in the body: each accepted one costs its entry in the batch.
    events: usize,
    /// The most heap growth allowed, as a multiple of the decoded body, on top of the floor.
    per_body_byte: f64,
    /// Whether the fixed [`floor`] is added (for bodies too small for a multiple to mean much).
    with_floor: bool,
}

/// Any request may use [`MAPPED_BYTES_FLOOR`] of mapped events however small its body, and
/// each of its events an entry in the batch handed to the sink (the event's struct, tenant,
/// template and message id).
fn floor(events: usize) -> usize {
    MAPPED_BYTES_FLOOR + events * (std::mem::size_of::<Event>() + 64)
}

/// The bound for the 10 MiB NDJSON request, in bodies and with no floor: measured 1.5x (the
/// OCSF events, each somewhat larger than its 1 KiB line, plus the batch); holding every line
/// again, parsed or copied, goes past it. Issue #17 asks for at most 4x.
const NDJSON_10_MIB_BOUND: f64 = 2.0;

/// Every other request: a small multiple of its body, on top of [`floor`].
const PER_BODY_BYTE: f64 = 6.0;

/// One realistic vendor alert of exactly `len` bytes (without its newline).
fn alert_line(i: usize, len: usize) -> Vec<u8> {
    let severities = ["low", "medium", "high", "critical"];
    let mut alert = serde_json::json!({
        "id": format!("alrt-{i:06}"),
        "title": "Impossible travel for alice@example.com",
        "description": "Sign-ins from Lisbon and Sydney 20 minutes apart",
        "severity": severities[i % 4],
        "timestamp": "2026-05-08T09:00:00Z",
        "user": {"email": "alice@example.com", "ip": "203.0.113.7", "country": "PT"},
        "device": {"hostname": format!("laptop-{i}"), "os": "macOS 15.4", "managed": true},
        "tags": ["identity", "travel"],
        "details": "",
    });
    let unpadded = serde_json::to_vec(&alert).unwrap().len();
    alert["details"] = "x".repeat(len - unpadded).into();
    let line = serde_json::to_vec(&alert).unwrap();
    assert_eq!(line.len(), len);
    line
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
            max_events_per_request: 20_000,
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
    // 10 MiB of 1 KiB alerts, the default body limit.
    let big: Vec<u8> = (0..10 * 1024)
        .flat_map(|i| alert_line(i, 1023).into_iter().chain([b'\n']))
        .collect();
    assert_eq!(big.len(), 10 * 1024 * 1024);
    let cases = vec![
        Case {
            name: "10 MiB NDJSON, 10,240 events",
            decoded_len: big.len(),
            events: 10 * 1024,
            per_body_byte: NDJSON_10_MIB_BOUND,
            with_floor: false,
            request: post(&json, "application/x-ndjson", big.clone()),
        },
        Case {
            name: "one JSON object",
            decoded_len: realistic.len(),
            events: 1,
            per_body_byte: PER_BODY_BYTE,
            with_floor: true,
            request: post(&json, "application/json", realistic.to_vec()),
        },
        Case {
            name: "5,000 NDJSON events",
            events: 5_000,
            per_body_byte: PER_BODY_BYTE,
            with_floor: true,
            decoded_len: ndjson.len(),
            request: post(&json, "application/x-ndjson", ndjson.clone()),
        },
        Case {
            name: "5,000 NDJSON events, gzip",
            events: 5_000,
            per_body_byte: PER_BODY_BYTE,
            with_floor: true,
            decoded_len: ndjson.len(),
            request: Request::post(format!("/{json}"))
                .header("content-type", "application/x-ndjson")
                .header("content-encoding", "gzip")
                .body(Body::from(gzip(&ndjson)))
                .unwrap(),
        },
        Case {
            name: "10,000 `{}` lines",
            events: 10_000,
            per_body_byte: PER_BODY_BYTE,
            with_floor: true,
            decoded_len: empty_objects.len(),
            request: post(&json, "application/x-ndjson", empty_objects.clone()),
        },
        Case {
            name: "HEC /raw, 2,000 lines, longest host",
            events: 2_000,
            per_body_byte: PER_BODY_BYTE,
            with_floor: true,
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
            events: 2_000,
            per_body_byte: PER_BODY_BYTE,
            with_floor: true,
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
        let floor = if case.with_floor {
            floor(case.events)
        } else {
            0
        };
        let bound = (case.per_body_byte * case.decoded_len as f64) as usize + floor;
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
