//! CEF to OCSF for a 1,000-line body, next to a floor that only finds the same bytes' `|`, `=`
//! and line ends with `memchr` (any CEF parser has to find them). The goals (issue #17):
//! at least 100 MB/s for what the inbox does with a CEF body, and within 5x of the floor;
//! after criterion's figures the bench prints each routine's median next to the floor's, and
//! their ratio, from alternating rounds in the same run.
//!
//! The routines, all over the same body:
//! - `parse_line`: the parser proper (fields borrowed from the input, unescaped only where a
//!   backslash is), every line;
//! - `parse_batch`: the routine the figure (about 54 MiB/s, 20x the scan) measured:
//!   every line parsed into its CEF payload as a `serde_json::Value`, as `pycef` parses each
//!   line into a `dict`;
//! - `inbox-cef-to-ocsf`: what the inbox does with a CEF body for a YAML template (the
//!   `cef-syslog` one here): the body as text, each line parsed and written as its finished
//!   OCSF JSON by `YamlTemplate::write_cef_json`, every event's bytes kept;
//! - `before-parse_batch-then-map`: what it did before: `parse_batch` (each line a
//!   `serde_json::Value`) and each value mapped by `YamlTemplate::write_json`. Same output;
//! - `full-pipeline`: the whole `Inbox` (token, template, mapping, event budget, sink that
//!   discards), for the record: it adds each event's random uid and its copy into the
//!   request's chunks.
//!
//! Two floors: `memchr` finding the delimiters (SIMD, the stricter one) and the byte scan the
//! issue's benchmark had (`byte-scan-floor`: every byte looked at once for `|`, `=`, `\` or a
//! line end); each routine's ratio is printed against both.
//!
//! Run: `cargo bench -p aisoc-notify-benches --bench cef -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aisoc_inbox::InboxRoute;
use aisoc_inbox::template::{BUNDLED, YamlTemplate};
use aisoc_notify_benches::{bench_inbox, side_by_side};
use aisoc_notify_core::inbox_template::IngestContext;
use aisoc_notify_core::secret::ExposeSecret;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The body: `benches/peers/pycef_bench.py` builds the same lines.
fn cef_lines(lines: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..lines {
        body.extend_from_slice(
            format!(
                "Sep 29 08:26:10 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|threat|Spyware Detected|8|src=10.0.0.{} dst=198.51.100.7 spt=51514 dpt=443 act=reset-both cs1=corp cs1Label=zone msg=C2 beacon to known bad domain \\= escaped rt=1715158800000\n",
                i % 250
            )
            .as_bytes(),
        );
    }
    body
}

/// The delimiters of every line, found and counted: the least a CEF parser does.
fn memchr_floor(body: &[u8]) -> usize {
    memchr::memchr3_iter(b'|', b'=', b'\n', body).count()
}

/// The issue's own floor: every byte looked at once, the delimiters and backslashes counted.
fn byte_scan_floor(body: &[u8]) -> usize {
    body.iter()
        .filter(|b| matches!(**b, b'|' | b'=' | b'\\' | b'\n'))
        .count()
}

fn cef(c: &mut Criterion) {
    let body = cef_lines(1000);
    let text = std::str::from_utf8(&body).unwrap();
    let (_, yaml) = BUNDLED
        .iter()
        .find(|(file, _)| *file == "cef-syslog.yaml")
        .unwrap();
    let template = YamlTemplate::from_yaml("cef-syslog.yaml", yaml).unwrap();
    let context = IngestContext {
        tenant_id: "acme".into(),
        received_at: chrono::Utc::now(),
        event_uid: "00112233445566778899aabbccddeeff".into(),
    };

    let parse_lines = || {
        black_box(text)
            .lines()
            .map(|line| aisoc_inbox::cef::parse_line(line).unwrap().extensions.len())
            .sum::<usize>()
    };
    // As the pipeline does: each event written into a reused buffer, then copied out (there
    // into shared 64 KiB chunks, here into one buffer allocated up front).
    let inbox_path = || {
        let text = aisoc_inbox::cef::body_text(black_box(&body));
        let (mut json, mut events) = (Vec::new(), Vec::with_capacity(body.len() * 4));
        for line in aisoc_inbox::cef::lines(&text) {
            let event = aisoc_inbox::cef::parse_line(line).unwrap();
            json.clear();
            template
                .write_cef_json(&event, &context, &mut json)
                .unwrap();
            events.extend_from_slice(&json);
        }
        events
    };
    let before = || {
        let (values, _) = aisoc_inbox::cef::parse_batch(black_box(&body));
        let (mut json, mut events) = (Vec::new(), Vec::with_capacity(body.len() * 4));
        for value in values {
            json.clear();
            template.write_json(value, &context, &mut json).unwrap();
            events.extend_from_slice(&json);
        }
        events
    };
    let parse_batch = || aisoc_inbox::cef::parse_batch(black_box(&body));
    let floor = || memchr_floor(black_box(&body));
    let scan_floor = || byte_scan_floor(black_box(&body));
    assert_eq!(inbox_path(), before(), "both paths write the same OCSF");
    let ocsf_bytes = inbox_path().len();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (inbox, token) = runtime.block_on(bench_inbox("cef-syslog", None));
    let shared_body = bytes::Bytes::from(body.clone());
    let headers = http::HeaderMap::new();
    let full_pipeline = || {
        runtime.block_on(async {
            let record = inbox.authenticate(token.expose_secret()).await.unwrap();
            let receipt = inbox
                .accept(&record, InboxRoute::Cef, &headers, shared_body.clone())
                .await
                .unwrap();
            assert_eq!(receipt.accepted, 1000);
            receipt
        })
    };

    let mut group = c.benchmark_group("cef_1000_lines");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("aisoc-inbox-parse_line", |b| b.iter(parse_lines));
    group.bench_function("aisoc-inbox-parse_batch", |b| b.iter(parse_batch));
    group.bench_function("aisoc-inbox-cef-to-ocsf", |b| b.iter(inbox_path));
    group.bench_function("before-parse_batch-then-map", |b| b.iter(before));
    group.bench_function("full-pipeline", |b| b.iter(full_pipeline));
    group.bench_function("memchr-floor", |b| b.iter(floor));
    group.bench_function("byte-scan-floor", |b| b.iter(scan_floor));
    group.finish();

    let mb_per_s = |time: std::time::Duration| body.len() as f64 / time.as_secs_f64() / 1e6;
    eprintln!(
        "cef_1000_lines: {} body bytes, {ocsf_bytes} OCSF bytes written",
        body.len()
    );
    let report = |name: &str, floor_name: &str, measured: aisoc_notify_benches::SideBySide| {
        eprintln!(
            "{} — ours {:.0} MB/s median, {:.0} MB/s fastest round",
            measured.report(&format!("cef_1000_lines {name} vs {floor_name}")),
            mb_per_s(measured.ours),
            mb_per_s(measured.ours_best)
        );
    };
    let routines: [(&str, &mut dyn FnMut()); 5] = [
        ("aisoc-inbox-parse_line", &mut || {
            black_box(parse_lines());
        }),
        ("aisoc-inbox-parse_batch", &mut || {
            black_box(parse_batch());
        }),
        ("aisoc-inbox-cef-to-ocsf", &mut || {
            black_box(inbox_path());
        }),
        ("before-parse_batch-then-map", &mut || {
            black_box(before());
        }),
        ("full-pipeline", &mut || {
            black_box(full_pipeline());
        }),
    ];
    for (name, routine) in routines {
        report(name, "memchr-floor", side_by_side(10, &mut *routine, floor));
        report(
            name,
            "byte-scan-floor",
            side_by_side(10, routine, scan_floor),
        );
    }
}

criterion_group!(benches, cef);
criterion_main!(benches);
