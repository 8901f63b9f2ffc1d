//! A custom channel written against the core traits only: a [`Notifier`] for
//! [ntfy](https://docs.ntfy.sh/publish/), the push-notification service the workspace does not
//! ship.
//!
//! It renders a [`Notification`] into ntfy's publish request (`POST /<topic>`, the body is the
//! message, `Title`/`Priority`/`Tags`/`Click` headers, an optional access token), sends it
//! through the shared [`DeliveryClient`] and maps failures with [`NotifyError::from_status`], so
//! the router and the durable outbox treat it exactly like Slack or Teams: a 429 waits, a 404
//! topic is gone, a 5xx is retried with backoff.
//!
//! Its tests (`cargo test -p aisoc-notify-examples --example custom_notifier`) run the core HTTP
//! contract against a mock ntfy, and fan-out through the router beside a `mockall` mock and a
//! recording stub.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example custom_notifier
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::secret::{ExposeSecret, SecretString, SecretUrl};
use aisoc_notify_core::{
    ConfigError, Delivered, EventType, Notification, Notifier, NotifyError, Severity, async_trait,
};

/// Publishes notifications to one ntfy topic.
pub struct NtfyNotifier {
    /// `https://ntfy.sh/<topic>`: the topic name is the credential on the public server, so the
    /// URL never prints.
    topic_url: SecretUrl,
    token: Option<SecretString>,
    delivery: DeliveryClient,
}

impl NtfyNotifier {
    /// A notifier for `topic_url`, checked now (https, or http to loopback for development).
    pub fn new(
        topic_url: &str,
        token: Option<SecretString>,
        delivery: DeliveryClient,
    ) -> Result<Self, ConfigError> {
        let url = check_destination(topic_url).map_err(|e| ConfigError::new("topic_url", e))?;
        if url.path().trim_matches('/').is_empty() {
            return Err(ConfigError::new("topic_url", "must name a topic"));
        }
        Ok(Self {
            topic_url: SecretUrl::new(url),
            token,
            delivery,
        })
    }
}

/// ntfy's priorities: 5 max … 1 min.
fn priority(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "5",
        Severity::High => "4",
        Severity::Medium => "3",
        Severity::Low => "2",
        Severity::Info => "1",
    }
}

#[async_trait]
impl Notifier for NtfyNotifier {
    fn channel_type(&self) -> &str {
        "ntfy"
    }

    async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let mut body = n.body.clone();
        for fact in &n.facts {
            body.push_str(&format!("\n{}: {}", fact.label, fact.value));
        }
        let mut request = self
            .delivery
            .http()
            .post(self.topic_url.expose().clone())
            .header("Title", &n.title)
            .header("Priority", priority(n.severity))
            .header("Tags", n.event_type.as_str())
            .body(body);
        if let Some(link) = n.links.first() {
            request = request.header("Click", link.url.as_str());
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        let request = request
            .build()
            .map_err(|e| NotifyError::Render(e.without_url().to_string()))?;
        let response = self.delivery.send(request).await?;
        if !response.is_success() {
            // ntfy's JSON error (`{"code":40301,"error":"forbidden"}`) names the problem in a
            // word; anything else is summed up by the status.
            let reason = response
                .json::<serde_json::Value>()
                .ok()
                .and_then(|e| e["error"].as_str().map(|s| s.chars().take(100).collect()))
                .unwrap_or_else(|| format!("HTTP {}", response.status.as_u16()));
            return Err(NotifyError::from_status(
                "ntfy",
                response.status.as_u16(),
                response.retry_after,
                reason,
            ));
        }
        let id = response
            .json::<serde_json::Value>()
            .ok()
            .and_then(|m| m["id"].as_str().map(str::to_owned));
        let delivered = Delivered::default().attempts(response.attempts);
        Ok(match id {
            Some(id) => Delivered::with_receipt(id).attempts(response.attempts),
            None => delivered,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    // A stand-in for https://ntfy.sh.
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/soc-alerts-7f3a"))
        .and(header("priority", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "sPs0Zf6ckxT4", "event": "message", "topic": "soc-alerts-7f3a",
        })))
        .mount(&ntfy)
        .await;
    let delivery = DeliveryClient::new(aisoc_notify_core::DeliveryConfig {
        destinations: aisoc_notify_core::DestinationPolicy::guarded().allow("127.0.0.1/32")?,
        ..Default::default()
    })?;
    let ntfy = NtfyNotifier::new(&format!("{}/soc-alerts-7f3a", ntfy.uri()), None, delivery)?;
    let router = NotificationRouter::builder()
        .channel(Channel::new("phone", Arc::new(ntfy)).with_name("On-call phone"))
        .build()?;
    let alert = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
    .with_body("Encryption activity on 3 shares.");
    for outcome in router.dispatch(&alert).await.outcomes {
        println!("{}: {}", outcome.channel_id, outcome.outcome().label());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisoc_notify_core::conformance::HttpContract;
    use aisoc_notify_core::conformance::stub::RecordingNotifier;
    use wiremock::ResponseTemplate;

    fn alert() -> Notification {
        Notification::new("acme", EventType::P0Alert, Severity::High, "Disk full")
    }

    #[tokio::test]
    async fn the_ntfy_notifier_passes_the_http_contract() {
        HttpContract::new("ntfy")
            .success(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"id": "abc", "event": "message"})),
            )
            .secret("tk_ntfy_access_token")
            .check_notifier(|endpoint| {
                let notifier = NtfyNotifier::new(
                    endpoint.url.as_str(),
                    Some("tk_ntfy_access_token".to_owned().into()),
                    endpoint.delivery.clone(),
                )?;
                Ok(Arc::new(notifier) as Arc<dyn Notifier>)
            })
            .await;
    }

    #[test]
    fn a_url_without_a_topic_is_refused_naming_the_field() {
        let delivery = aisoc_notify_core::conformance::contract_delivery();
        let error = NtfyNotifier::new("https://ntfy.sh/", None, delivery)
            .err()
            .unwrap();
        assert_eq!(error.field(), "topic_url");
    }

    mockall::mock! {
        Pager {}
        #[async_trait]
        impl Notifier for Pager {
            fn channel_type(&self) -> &str;
            async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError>;
        }
    }

    #[tokio::test]
    async fn a_throttled_ntfy_does_not_hold_back_the_other_channels() {
        let ntfy = Arc::new(
            RecordingNotifier::new("ntfy").then_fail(NotifyError::from_status(
                "ntfy",
                429,
                Some(std::time::Duration::from_secs(60)),
                "too many requests",
            )),
        );
        let mut pager = MockPager::new();
        pager.expect_channel_type().return_const("pager".to_owned());
        pager
            .expect_notify()
            .times(1)
            .returning(|_| Ok(Delivered::with_receipt("PD-1")));
        let router = NotificationRouter::builder()
            .channel(Channel::new("phone", ntfy.clone()))
            .channel(Channel::new("pager", Arc::new(pager)))
            .build()
            .unwrap();

        let report = router.dispatch(&alert()).await;
        assert_eq!(report.get("pager").unwrap().outcome().label(), "delivered");
        let phone = report.get("phone").unwrap().outcome();
        assert_eq!(phone.label(), "retryable");
        assert_eq!(
            phone.retry_class(),
            Some(aisoc_notify_core::RetryClass::Throttled(
                std::time::Duration::from_secs(60)
            ))
        );
        assert_eq!(ntfy.sent().len(), 1);
    }
}
