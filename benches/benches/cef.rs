//! CEF parsing of a 1,000-line body, next to a floor that only finds the same bytes' `|`, `=`
//! and line ends with `memchr` (any CEF parser has to find them). The goals (issue #17):
//! at least 100 MB/s, and within 5x of the floor; after criterion's figures the bench prints
//! both medians and their ratio from alternating rounds in the same run.
//!
//! Two figures for the parser: `parse_line` over every line (the parser proper: fields
//! borrowed from the input, unescaped only where a backslash is) and `parse_batch` (what the
//! inbox does: each event as a `serde_json::Value` for the `cef-syslog` template, which costs
//! an allocation per key and value).
//!
//! Run: `cargo bench -p aisoc-notify-benches --bench cef -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aisoc_notify_benches::side_by_side;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

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

fn cef(c: &mut Criterion) {
    let body = cef_lines(1000);
    let text = std::str::from_utf8(&body).unwrap();
    let parse_lines = || {
        black_box(text)
            .lines()
            .map(|line| aisoc_inbox::cef::parse_line(line).unwrap().extensions.len())
            .sum::<usize>()
    };
    let parse_batch = || aisoc_inbox::cef::parse_batch(black_box(&body));
    let floor = || memchr_floor(black_box(&body));
    let mut group = c.benchmark_group("cef_1000_lines");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("aisoc-inbox-parse_line", |b| b.iter(parse_lines));
    group.bench_function("aisoc-inbox-parse_batch-to-json", |b| b.iter(parse_batch));
    group.bench_function("memchr-floor", |b| b.iter(floor));
    group.finish();
    let mb_per_s = |time: std::time::Duration| body.len() as f64 / time.as_secs_f64() / 1e6;
    let measured = side_by_side(10, parse_lines, floor);
    eprintln!(
        "{} — ours {:.0} MB/s",
        measured.report("cef_1000_lines aisoc-inbox-parse_line vs memchr-floor"),
        mb_per_s(measured.ours)
    );
    let measured = side_by_side(10, parse_batch, floor);
    eprintln!(
        "{} — ours {:.0} MB/s",
        measured.report("cef_1000_lines aisoc-inbox-parse_batch-to-json vs memchr-floor"),
        mb_per_s(measured.ours)
    );
}

criterion_group!(benches, cef);
criterion_main!(benches);
