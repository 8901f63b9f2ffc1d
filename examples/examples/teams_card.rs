//! Posts a [`Notification`] through [`TeamsWebhookNotifier`] in the Workflows format (the
//! replacement for Office 365 connectors) to a local mock webhook, then prints the Adaptive Card
//! the "Teams" side received.
//!
//! A `wiremock` server on 127.0.0.1 answers `202 Accepted`, as a Power Automate Workflows
//! trigger does. In production, pass the `https://….logic.azure.com/workflows/…` URL instead;
//! the format is then detected from the host.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example teams_card
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_core::notifier::Notifier;
use aisoc_notify_teams::webhook::{MAX_PAYLOAD_BYTES, TeamsWebhookNotifier, WebhookFormat};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/workflows/abc/triggers/manual/paths/invoke"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&teams)
        .await;

    // A loopback URL says nothing about the generation, so the format is set explicitly.
    let notifier = TeamsWebhookNotifier::builder()
        .webhook_url(format!(
            "{}/workflows/abc/triggers/manual/paths/invoke",
            teams.uri()
        ))
        .format(WebhookFormat::Workflows)
        .delivery(loopback_delivery()?)
        .build()?;

    let alert = Notification::new(
        "acme",
        EventType::DriftAlert,
        Severity::Medium,
        "Baseline drift on db-03",
    )
    .with_body("`sshd_config` changed: **PermitRootLogin yes**")
    .with_fact("Host", "db-03")
    .with_fact("Detected by", "drift-agent")
    .with_link("Open case", "https://console.example.com/cases/7".parse()?);

    // The payload can be inspected before sending; larger than 28 KB is refused unsent.
    let payload = notifier.payload(&alert);
    let size = serde_json::to_vec(&payload)?.len();
    println!("payload is {size} bytes (limit {MAX_PAYLOAD_BYTES})");

    let delivered = notifier.notify(&alert).await?;
    println!("delivered in {} attempt(s)\n", delivered.attempts);

    let requests = teams.received_requests().await.unwrap_or_default();
    let request = requests
        .first()
        .ok_or("the mock webhook received nothing")?;
    let body: serde_json::Value = serde_json::from_slice(&request.body)?;
    let attachment = &body["attachments"][0];
    println!("message type: {}", body["type"]);
    println!("attachment:   {}", attachment["contentType"]);
    println!("Adaptive Card received by the webhook:");
    println!("{}", serde_json::to_string_pretty(&attachment["content"])?);
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
