//! Queues a notification in a [`MemoryOutbox`] whose router has one channel, a
//! [`WebhookNotifier`], and shows the outbox retrying it: the receiver answers `503` the first
//! time and `204` the second, so the notification is delivered on the outbox's second attempt
//! and nothing is dead-lettered.
//!
//! The webhook's own HTTP retries are switched off here so that the retry you see is the
//! outbox's (after `retry_delay`, doubling each attempt). `MemoryOutbox` is not durable; the
//! `nats` feature's `NatsOutbox` applies the same rules across processes.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example outbox_retry
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{EventType, Notification, Severity};
use aisoc_notify_outbox::Outbox;
use aisoc_notify_outbox::envelope::RetrySettings;
use aisoc_notify_outbox::memory::MemoryOutbox;
use aisoc_notify_webhook::WebhookNotifier;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A receiver that is briefly down: one 503, then 204 for everything after.
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;

    let webhook = WebhookNotifier::builder()
        .url(format!("{}/hook", receiver.uri()))
        .secret("shared-secret")
        .delivery(DeliveryClient::new(DeliveryConfig {
            retry: RetryPolicy::no_retries(),
            // The mock receiver is on loopback, which the outbound guard refuses by default.
            destinations: DestinationPolicy::guarded().allow("127.0.0.1/32")?,
            ..DeliveryConfig::default()
        })?)
        .build()?;
    let router = NotificationRouter::builder()
        .channel(Channel::new("soc-webhook", Arc::new(webhook)))
        .build()?;
    let settings = RetrySettings {
        max_attempts: 3,
        retry_delay: Duration::from_millis(200),
        ..RetrySettings::default()
    };
    println!("outbox settings: {settings:?}");
    let outbox = MemoryOutbox::start(Arc::new(router), settings);

    let title = "Beaconing from db-02";
    let alert = Notification::new("acme", EventType::P0Alert, Severity::High, title);
    outbox.enqueue(&alert).await?;
    let started = Instant::now();
    println!("enqueued '{title}'; enqueue returns before delivery");

    // Wait until the receiver has seen the retry (the 204), then let the worker finish.
    let mut seen = 0;
    while started.elapsed() < Duration::from_secs(10) {
        let requests = receiver.received_requests().await.unwrap_or_default();
        if requests.len() > seen {
            seen = requests.len();
            let answer = if seen == 1 { 503 } else { 204 };
            println!(
                "  attempt {seen} reached the receiver at +{:?} -> {answer}",
                started.elapsed()
            );
        }
        if seen >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let dead = outbox.dead_letters();
    println!(
        "delivered after {seen} attempt(s); dead letters: {}",
        dead.len()
    );
    if seen != 2 || !dead.is_empty() {
        return Err("expected delivery on the second attempt".into());
    }
    Ok(())
}
