//! The HTTP contract every adapter passes, run for the signed webhook in each signing mode it
//! supports: X-AiSOC-Signature, Standard Webhooks, and both at once.

use std::sync::Arc;

use aisoc_notify_core::Notifier;
use aisoc_notify_core::conformance::HttpContract;
use aisoc_notify_webhook::WebhookNotifier;
use wiremock::ResponseTemplate;

const AISOC_SECRET: &str = "aisoc-signing-secret-5e1f";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn contract(name: &str) -> HttpContract {
    HttpContract::new(name).success(ResponseTemplate::new(204))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aisoc_signed_webhook_passes_the_http_contract() {
    contract("webhook (X-AiSOC-Signature)")
        .secret(AISOC_SECRET)
        .check_notifier(|endpoint| {
            let notifier: Arc<dyn Notifier> = Arc::new(
                WebhookNotifier::builder()
                    .url(endpoint.url.as_str())
                    .secret(AISOC_SECRET)
                    .delivery(endpoint.delivery.clone())
                    .build()?,
            );
            Ok(notifier)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_webhooks_signed_webhook_passes_the_http_contract() {
    contract("webhook (Standard Webhooks)")
        .secret(STANDARD_SECRET)
        .check_notifier(|endpoint| {
            let notifier: Arc<dyn Notifier> = Arc::new(
                WebhookNotifier::builder()
                    .url(endpoint.url.as_str())
                    .standard_webhooks_secret(STANDARD_SECRET)
                    .delivery(endpoint.delivery.clone())
                    .build()?,
            );
            Ok(notifier)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_signed_both_ways_passes_the_http_contract() {
    contract("webhook (both signatures)")
        .secret(AISOC_SECRET)
        .secret(STANDARD_SECRET)
        .check_notifier(|endpoint| {
            let notifier: Arc<dyn Notifier> = Arc::new(
                WebhookNotifier::builder()
                    .url(endpoint.url.as_str())
                    .secret(AISOC_SECRET)
                    .standard_webhooks_secret(STANDARD_SECRET)
                    .delivery(endpoint.delivery.clone())
                    .build()?,
            );
            Ok(notifier)
        })
        .await;
}
