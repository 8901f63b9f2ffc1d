//! Webhook signing and verification, side by side with the `standardwebhooks` crate (the
//! Standard Webhooks project's own Rust library).
//!
//! Run: `cargo bench -p aisoc-notify-benches --bench signing`

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use aisoc_notify_core::signature::{
    SignatureScheme, StandardWebhooksKey, WebhookSigner, WebhookVerifier,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SIZES: [usize; 3] = [256, 4 * 1024, 64 * 1024];

fn body(size: usize) -> Vec<u8> {
    // JSON-looking ASCII, valid UTF-8 (the peer crate refuses other bodies).
    let mut body = br#"{"event":"honeytoken.triggered","data":""#.to_vec();
    body.resize(size - 2, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn standard_webhooks_sign(c: &mut Criterion) {
    let ours = StandardWebhooksKey::from_secret(SECRET).unwrap();
    let peer = standardwebhooks::Webhook::new(SECRET).unwrap();
    let mut group = c.benchmark_group("standard_webhooks_sign");
    for size in SIZES {
        let body = body(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("aisoc-notify-core", size),
            &body,
            |b, body| {
                b.iter(|| ours.sign(black_box(MSG_ID), black_box(1_614_265_330), black_box(body)))
            },
        );
        group.bench_with_input(
            BenchmarkId::new("standardwebhooks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    peer.sign(black_box(MSG_ID), black_box(1_614_265_330), black_box(body))
                        .unwrap()
                })
            },
        );
    }
    group.finish();
}

fn standard_webhooks_verify(c: &mut Criterion) {
    let ours = WebhookVerifier::new(SECRET).with_schemes(&[SignatureScheme::StandardWebhooks]);
    let peer = standardwebhooks::Webhook::new(SECRET).unwrap();
    let signer = WebhookSigner::new(SignatureScheme::StandardWebhooks, SECRET).unwrap();
    let mut group = c.benchmark_group("standard_webhooks_verify");
    for size in SIZES {
        let body = body(size);
        let mut headers = HeaderMap::new();
        for (name, value) in signer.headers(&body, MSG_ID, now()) {
            headers.insert(name, value.parse().unwrap());
        }
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("aisoc-notify-core", size),
            &body,
            |b, body| b.iter(|| ours.verify(black_box(&headers), black_box(body)).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("standardwebhooks", size),
            &body,
            |b, body| b.iter(|| peer.verify(black_box(body), black_box(&headers)).unwrap()),
        );
    }
    group.finish();
}

fn hex_schemes(c: &mut Criterion) {
    let secret = "It's a Secret to Everybody";
    let signer = WebhookSigner::new(SignatureScheme::GitHub, secret).unwrap();
    let verifier = WebhookVerifier::new(secret);
    let mut group = c.benchmark_group("github_hex");
    for size in SIZES {
        let body = body(size);
        let mut headers = HeaderMap::new();
        for (name, value) in signer.headers(&body, "", 0) {
            headers.insert(name, value.parse().unwrap());
        }
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sign", size), &body, |b, body| {
            b.iter(|| signer.headers(black_box(body), "", 0))
        });
        group.bench_with_input(BenchmarkId::new("verify", size), &body, |b, body| {
            b.iter(|| {
                verifier
                    .verify(black_box(&headers), black_box(body))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    standard_webhooks_sign,
    standard_webhooks_verify,
    hex_schemes
);
criterion_main!(benches);
