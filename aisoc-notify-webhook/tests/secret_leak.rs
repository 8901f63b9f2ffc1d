//! The secret-leak test for the webhook crate (issue #15): a webhook signed both ways (an
//! `X-AiSOC-Signature` secret and a Standard Webhooks `whsec_` secret, both markers) to a URL
//! whose path is a secret, driven through the core HTTP contract (2xx, 4xx, 429, 5xx, redirect,
//! timeout, connection refused, forbidden destination) while every line any crate logs is
//! captured at TRACE. No marker may appear in a log line, an error's `Display` or `Debug` (the
//! contract checks those), or the `Debug` of the builder or the notifier.

use std::sync::Arc;

use aisoc_notify_core::Notifier;
use aisoc_notify_core::conformance::{HttpContract, LeakWatch, captured_logs};
use aisoc_notify_webhook::WebhookNotifier;
use wiremock::ResponseTemplate;

const AISOC_SECRET: &str = "LEAKMARK-aisoc-signing-secret";
/// `whsec_` and the base64 of 32 bytes whose base64 text reads as a marker.
const STANDARD_KEY: &str = "LEAKMARKstdLEAKMARKstdLEAKMARKstdLEAKMARKsA=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_webhook_secret_reaches_a_log_line_an_error_or_a_debug_output() {
    captured_logs();
    let seen = LeakWatch::default();
    let standard_secret = format!("whsec_{STANDARD_KEY}");

    HttpContract::new("webhook (both signatures)")
        .success(ResponseTemplate::new(204))
        .secret(AISOC_SECRET)
        .secret(STANDARD_KEY)
        .check_notifier(|endpoint| {
            let builder = WebhookNotifier::builder()
                .url(endpoint.url.as_str())
                .secret(AISOC_SECRET)
                .standard_webhooks_secret(standard_secret.as_str())
                .delivery(endpoint.delivery.clone());
            let builder_debug = format!("{builder:?}");
            let notifier = builder.build()?;
            seen.record(endpoint, format!("{builder_debug} {notifier:?}"));
            Ok(Arc::new(notifier) as Arc<dyn Notifier>)
        })
        .await;

    seen.assert_nothing_leaked(&[AISOC_SECRET, STANDARD_KEY, "LEAKMARK"]);
}
