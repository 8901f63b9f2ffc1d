//! Web Push messages encrypted and signed, per message on one core, side by side:
//!
//! - `aisoc-notify-webpush`: `WebPushSender::build_request` (aes128gcm encryption with a fresh
//!   key and salt, the cached VAPID header, the HTTP request);
//! - `web-push` (crates.io): `VapidSignatureBuilder` + `WebPushMessageBuilder` for the same
//!   subscription and payload, as that crate is used per message;
//! - `primitives-floor`: the bare minimum any sender must do per message with aws-lc-rs: one
//!   P-256 key generation, one ECDH and one AES-128-GCM seal of the same payload.
//!
//! Run: `cargo bench -p aisoc-notify-benches --bench webpush`

use std::hint::black_box;

use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::send::{PushOptions, WebPushSender};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use aisoc_notify_webpush::vapid::VapidSigner;
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, UnparsedPublicKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ENDPOINT: &str = "https://fcm.googleapis.com/fcm/send/bench-device";

fn payload() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "title": "P0: ransomware on web-01",
        "body": "Encryption activity on 3 hosts; isolate?",
        "url": "https://console.example.com/cases/42",
        "severity": "critical"
    }))
    .unwrap()
}

fn per_message(c: &mut Criterion) {
    let payload = payload();
    let subscription = browser_subscription(ENDPOINT);
    let keys = VapidKeyPair::generate();
    let private_key = keys.private_key_base64();
    let sender =
        WebPushSender::new(VapidSigner::new(keys, "mailto:soc@example.com").unwrap()).unwrap();
    let record =
        SubscriptionRecord::new(&subscription, "acme", "alice", &[], chrono::Utc::now()).unwrap();
    let options = PushOptions::default();

    let peer_subscription = web_push::SubscriptionInfo::new(
        ENDPOINT,
        subscription.keys.p256dh.as_str(),
        subscription.keys.auth.as_str(),
    );
    let peer_vapid = web_push::VapidSignatureBuilder::from_base64_no_sub(&private_key).unwrap();

    let receiver_public = aisoc_notify_webpush::keys::VapidKeyPair::generate()
        .public_key_bytes()
        .to_vec();

    let mut group = c.benchmark_group("webpush_message");
    group.throughput(Throughput::Elements(1));
    group.bench_function("aisoc-notify-webpush", |b| {
        b.iter(|| {
            sender
                .build_request(black_box(&record), black_box(&payload), &options)
                .unwrap()
        })
    });
    group.bench_function("web-push", |b| {
        b.iter(|| {
            let mut signature = peer_vapid.clone().add_sub_info(&peer_subscription);
            signature.add_claim("sub", "mailto:soc@example.com");
            let mut builder = web_push::WebPushMessageBuilder::new(&peer_subscription);
            builder.set_payload(web_push::ContentEncoding::Aes128Gcm, black_box(&payload));
            builder.set_vapid_signature(signature.build().unwrap());
            builder.build().unwrap()
        })
    });
    group.bench_function("primitives-floor", |b| {
        b.iter(|| {
            let sender_key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
            let secret: [u8; 16] = agreement::agree(
                &sender_key,
                UnparsedPublicKey::new(&ECDH_P256, &receiver_public),
                (),
                |s| Ok(s[..16].try_into().unwrap()),
            )
            .unwrap();
            let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &secret).unwrap());
            let mut buffer = black_box(&payload).clone();
            key.seal_in_place_append_tag(
                Nonce::assume_unique_for_key([0u8; 12]),
                Aad::empty(),
                &mut buffer,
            )
            .unwrap();
            buffer
        })
    });
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
