//! The secret-leak test for the Teams crate (issue #15): the Workflows and connector webhooks
//! and the `notify_teams` action are configured with webhook URLs whose path is a secret, the
//! outgoing-webhook verifier with a marker security token; every line any crate logs is
//! captured at TRACE while each surface is driven through the core HTTP contract (2xx, 4xx,
//! 429, 5xx, redirect, timeout, connection refused, forbidden destination). No marker may
//! appear in a log line, an error's `Display` or `Debug` (the contract checks those), or the
//! `Debug` of a builder, notifier, executor or verifier.

use std::sync::Arc;

use aisoc_notify_core::conformance::{HttpContract, LeakWatch, captured_logs};
use aisoc_notify_core::{ActionExecutor, ActionRequest, Notifier};
use aisoc_notify_teams::executor::NotifyTeamsExecutor;
use aisoc_notify_teams::hmac::TeamsHmacVerifier;
use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
use wiremock::ResponseTemplate;

/// Base64 of "LEAKMARK-teams-security-token!!" — the marker is the token as configured.
const SECURITY_TOKEN: &str = "TEVBS01BUkstdGVhbXMtc2VjdXJpdHktdG9rZW4hIQ==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_teams_secret_reaches_a_log_line_an_error_or_a_debug_output() {
    captured_logs();
    let seen = LeakWatch::default();

    for (format, success) in [
        (WebhookFormat::Workflows, ResponseTemplate::new(202)),
        (
            WebhookFormat::Connector,
            ResponseTemplate::new(200).set_body_string("1"),
        ),
    ] {
        HttpContract::new(format!("teams webhook ({})", format.as_str()))
            .success(success.clone())
            .check_notifier(|endpoint| {
                let builder = TeamsWebhookNotifier::builder()
                    .webhook_url(endpoint.url.as_str())
                    .format(format)
                    .delivery(endpoint.delivery.clone());
                let builder_debug = format!("{builder:?}");
                let notifier = builder.build()?;
                seen.record(endpoint, format!("{builder_debug} {notifier:?}"));
                Ok(Arc::new(notifier) as Arc<dyn Notifier>)
            })
            .await;

        HttpContract::new(format!("notify_teams ({})", format.as_str()))
            .success(success)
            .check_executor_with(|endpoint| {
                let executor = NotifyTeamsExecutor::new()?.with_delivery(endpoint.delivery.clone());
                seen.record(endpoint, format!("{executor:?}"));
                let request = ActionRequest::new("notify_teams", "acme")
                    .with_parameter("webhook_url", endpoint.url.as_str())
                    .with_parameter("format", format.as_str())
                    .with_parameter("title", "Host web-01 isolated")
                    .with_parameter("message", "By playbook ransomware");
                Ok((Arc::new(executor) as Arc<dyn ActionExecutor>, request))
            })
            .await;
    }

    // Inbound: a refused HMAC says why without the token.
    let verifier = TeamsHmacVerifier::new(SECURITY_TOKEN).expect("a base64 token");
    let refused = verifier
        .verify_authorization("HMAC AAAA", b"{\"text\":\"hi\"}")
        .expect_err("a wrong MAC is refused");
    seen.record_texts([
        format!("{verifier:?}"),
        refused.to_string(),
        format!("{refused:?}"),
    ]);
    tracing::trace!(error = %refused, ?verifier, "teams hmac refused");

    seen.assert_nothing_leaked(&[SECURITY_TOKEN, "LEAKMARK"]);
}
