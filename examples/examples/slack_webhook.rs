//! Renders a [`Notification`] as a Slack Block Kit message and posts it through
//! [`SlackWebhookNotifier`] to a local mock of a Slack incoming webhook, then prints the JSON the
//! "Slack" side received.
//!
//! No Slack workspace is needed: a `wiremock` server on 127.0.0.1 plays the webhook and answers
//! `ok`, as Slack does. In production, pass the `https://hooks.slack.com/services/…` URL instead.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example slack_webhook
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_core::notifier::Notifier;
use aisoc_notify_slack::webhook::SlackWebhookNotifier;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A stand-in for https://hooks.slack.com/services/T000/B000/XXXX.
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/XXXX"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&slack)
        .await;

    // Plain http is accepted for loopback only; real webhooks must be https.
    let notifier = SlackWebhookNotifier::builder()
        .webhook_url(format!("{}/services/T000/B000/XXXX", slack.uri()))
        .delivery(loopback_delivery()?)
        .build()?;
    // The webhook URL is a credential: Debug output and errors never show its path.
    let shown = format!("{notifier:?}");
    println!(
        "Debug output hides the URL path: {}",
        !shown.contains("XXXX")
    );

    let alert = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
    .with_body("Encryption activity on *3* hosts in the last 5 minutes")
    .with_fact("Host", "web-01")
    .with_fact("User", "svc-backup")
    .with_link("Open case", "https://console.example.com/cases/42".parse()?);

    let delivered = notifier.notify(&alert).await?;
    println!(
        "delivered via {} in {} attempt(s)\n",
        notifier.channel_type(),
        delivered.attempts
    );

    let requests = slack.received_requests().await.unwrap_or_default();
    let request = requests
        .first()
        .ok_or("the mock webhook received nothing")?;
    let body: serde_json::Value = serde_json::from_slice(&request.body)?;
    println!("Block Kit payload received by the webhook:");
    println!("{}", serde_json::to_string_pretty(&body)?);
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
