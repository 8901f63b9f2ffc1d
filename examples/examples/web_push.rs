//! One encrypted Web Push message: generate a VAPID key pair, build a [`WebPushSender`], take a
//! browser-style subscription whose endpoint is a local mock push service, send, and print what
//! the push service received (TTL, Urgency, Topic, the VAPID `Authorization`, and the
//! `aes128gcm` body's length — the payload itself is unreadable without the browser's key).
//!
//! `conformance::browser_subscription` (feature `test-util`) stands in for the JSON a browser's
//! `pushManager.subscribe()` returns.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example web_push
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use std::time::Duration;

use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::send::{PushOptions, Urgency, WebPushSender};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use aisoc_notify_webpush::vapid::VapidSigner;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Generate once and keep the private key secret; browsers need the public key to subscribe.
    let keys = VapidKeyPair::generate();
    println!("VAPID public key: {}", keys.public_key_base64());
    let sender = WebPushSender::new(VapidSigner::new(keys, "mailto:soc@example.com")?)?
        .with_delivery(loopback_delivery()?);

    // A stand-in for https://fcm.googleapis.com/fcm/send/… or updates.push.services.mozilla.com.
    let push_service = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/push/device-1"))
        .respond_with(ResponseTemplate::new(201).insert_header("Location", "/messages/1"))
        .expect(1)
        .mount(&push_service)
        .await;

    let browser = browser_subscription(&format!("{}/push/device-1", push_service.uri()));
    let subscription = SubscriptionRecord::new(&browser, "acme", "alice", &[], chrono::Utc::now())?;
    println!(
        "subscription {} for topics {:?}",
        subscription.id, subscription.topics
    );

    let payload = serde_json::json!({
        "title": "P0: ransomware on web-01",
        "body": "Encryption activity on 3 hosts",
        "url": "https://console.example.com/cases/42",
    });
    let options = PushOptions {
        ttl: Duration::from_secs(600),
        urgency: Urgency::High,
        topic: Some("case-42".into()),
    };
    let plain = serde_json::to_vec(&payload)?;
    let receipt = sender.send(&subscription, &plain, &options).await?;
    println!(
        "push service answered {} (Location {:?}) after {} attempt(s)\n",
        receipt.status, receipt.location, receipt.attempts
    );

    let requests = push_service.received_requests().await.unwrap_or_default();
    let request = requests
        .first()
        .ok_or("the mock push service received nothing")?;
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let authorization = header("authorization");
    println!("received POST {}", request.url.path());
    println!("  TTL:              {}", header("ttl"));
    println!("  Urgency:          {}", header("urgency"));
    println!("  Topic:            {}", header("topic"));
    println!("  Content-Encoding: {}", header("content-encoding"));
    println!(
        "  Authorization:    {}…",
        authorization.get(..24).unwrap_or(&authorization)
    );
    println!(
        "  body:             {} bytes of ciphertext for a {}-byte payload",
        request.body.len(),
        plain.len()
    );
    Ok(())
}

/// The mock peer listens on loopback, which the outbound guard refuses by default; a deployment
/// allows its on-prem destinations the same way (the gateway's `AISOC_OUTBOUND_ALLOW`).
fn loopback_delivery() -> Result<DeliveryClient, Box<dyn std::error::Error>> {
    Ok(DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32")?,
        ..DeliveryConfig::default()
    })?)
}
