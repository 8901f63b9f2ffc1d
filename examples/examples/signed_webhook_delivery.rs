//! Delivers a [`Notification`] through [`WebhookNotifier`] signed two ways at once — the AiSOC
//! header (`X-AiSOC-Signature: sha256=<hex>`, from `secret`) and Standard Webhooks
//! (`webhook-id` / `webhook-timestamp` / `webhook-signature`, from a `whsec_…` secret) — to a
//! local mock receiver, prints the headers it received, and verifies them as a receiver would
//! with [`WebhookVerifier`]. A body changed in transit is refused.
//!
//! No receiver is needed: a `wiremock` server on 127.0.0.1 plays it. Real URLs must be https.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example signed_webhook_delivery
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::signature::{SignatureScheme, WebhookVerifier};
use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
use aisoc_notify_webhook::WebhookNotifier;
use axum::http::HeaderMap;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AISOC_SECRET: &str = "shared-secret-123";
/// Standard Webhooks secrets are base64, optionally prefixed `whsec_`.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/aisoc"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&receiver)
        .await;

    let webhook = WebhookNotifier::builder()
        .url(format!("{}/aisoc", receiver.uri()))
        .secret(AISOC_SECRET)
        .standard_webhooks_secret(STANDARD_SECRET)
        .delivery(loopback_delivery()?)
        .build()?;
    let alert = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Decoy AWS key used",
    )
    .with_fact("Source IP", "203.0.113.7")
    .with_dedupe_key("trg_9");
    let delivered = webhook.notify(&alert).await?;
    println!(
        "delivered, message id {}\n",
        delivered.receipt.as_deref().unwrap_or("?")
    );

    let requests = receiver.received_requests().await.unwrap_or_default();
    let request = requests
        .first()
        .ok_or("the mock receiver received nothing")?;
    let mut headers = HeaderMap::new();
    println!("headers received:");
    for (name, value) in request.headers.iter() {
        println!("  {name}: {}", value.to_str().unwrap_or("<binary>"));
        headers.append(name.clone(), value.clone());
    }
    println!("body: {}\n", String::from_utf8_lossy(&request.body));

    // A receiver checks the scheme it was configured for, with its copy of the secret.
    let body = &request.body;
    let aisoc = WebhookVerifier::new(AISOC_SECRET).with_schemes(&[SignatureScheme::Aisoc]);
    let standard =
        WebhookVerifier::new(STANDARD_SECRET).with_schemes(&[SignatureScheme::StandardWebhooks]);
    let checks = [
        ("AiSOC signature", aisoc.verify(&headers, body)),
        (
            "Standard Webhooks signature",
            standard.verify(&headers, body),
        ),
    ];
    for (what, outcome) in &checks {
        println!("{what:<28} -> {outcome:?}");
    }
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let refused = standard.verify(&headers, &tampered);
    println!("{:<28} -> {refused:?}", "tampered body");
    if checks.iter().any(|(_, outcome)| outcome.is_err()) || refused.is_ok() {
        return Err("verification did not behave as expected".into());
    }
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
