//! The secret-leak test for the Teams crate (issue #15): the Workflows and connector webhooks
//! and the `notify_teams` action are configured with webhook URLs whose path is a secret, the
//! outgoing-webhook verifier with a marker security token; every line any crate logs is
//! captured at TRACE while each surface is driven through the core HTTP contract (2xx, 4xx,
//! 429, 5xx, redirect, timeout, connection refused, forbidden destination). No marker may
//! appear in a log line, an error's `Display` or `Debug` (the contract checks those), or the
//! `Debug` of a builder, notifier, executor or verifier.

use std::sync::{Arc, Mutex};

use aisoc_notify_core::conformance::{Endpoint, HttpContract, captured_logs};
use aisoc_notify_core::{ActionExecutor, ActionRequest, Notifier};
use aisoc_notify_teams::executor::NotifyTeamsExecutor;
use aisoc_notify_teams::hmac::TeamsHmacVerifier;
use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
use wiremock::ResponseTemplate;

/// Base64 of "LEAKMARK-teams-security-token!!" — the marker is the token as configured.
const SECURITY_TOKEN: &str = "TEVBS01BUkstdGVhbXMtc2VjdXJpdHktdG9rZW4hIQ==";

/// Markers seen by the factories and the `Debug` texts they printed.
#[derive(Default)]
struct Seen {
    markers: Mutex<Vec<String>>,
    debugs: Mutex<Vec<String>>,
}

impl Seen {
    fn record(&self, endpoint: &Endpoint, debug: String) {
        self.markers.lock().unwrap().push(endpoint.path_secret());
        self.debugs.lock().unwrap().push(debug);
    }

    /// Panics naming the first marker found in a `Debug` text or a log line.
    fn assert_nothing_leaked(&self, fixed: &[&str]) {
        let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
        assert!(
            logs.contains("retrying after status"),
            "the TRACE capture saw the delivery layer"
        );
        let markers = self.markers.lock().unwrap();
        let markers = markers
            .iter()
            .map(String::as_str)
            .chain(fixed.iter().copied());
        for marker in markers {
            for debug in self.debugs.lock().unwrap().iter() {
                assert!(!debug.contains(marker), "Debug shows '{marker}': {debug}");
            }
            if let Some(line) = logs.lines().find(|line| line.contains(marker)) {
                panic!("a log line shows '{marker}': {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_teams_secret_reaches_a_log_line_an_error_or_a_debug_output() {
    captured_logs();
    let seen = Seen::default();

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
    seen.debugs.lock().unwrap().extend([
        format!("{verifier:?}"),
        refused.to_string(),
        format!("{refused:?}"),
    ]);
    tracing::trace!(error = %refused, ?verifier, "teams hmac refused");

    seen.assert_nothing_leaked(&[SECURITY_TOKEN, "LEAKMARK"]);
}
