//! The HTTP contract checks itself: a plain JSON-posting notifier that maps failures through the
//! core classification passes, and notifiers that break a promise are caught.

#![cfg(feature = "test-util")]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use aisoc_notify_core::conformance::{Endpoint, HttpContract};
use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::{Delivered, Notification, Notifier, NotifyError, async_trait};
use futures::FutureExt;

/// The smallest honest HTTP notifier: one POST through the delivery client, the status mapped
/// by the core classification.
struct JsonPost {
    url: url::Url,
    delivery: DeliveryClient,
}

#[async_trait]
impl Notifier for JsonPost {
    fn channel_type(&self) -> &str {
        "json"
    }

    async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let request = self
            .delivery
            .http()
            .post(self.url.clone())
            .json(&serde_json::json!({"title": n.title}))
            .build()
            .map_err(|e| NotifyError::Render(e.without_url().to_string()))?;
        let response = self.delivery.send(request).await?.error_for_status()?;
        Ok(Delivered::default().attempts(response.attempts))
    }
}

/// Breaks the contract: treats every failure as permanent and prints the URL.
struct Careless {
    url: url::Url,
    delivery: DeliveryClient,
}

#[async_trait]
impl Notifier for Careless {
    fn channel_type(&self) -> &str {
        "careless"
    }

    async fn notify(&self, _: &Notification) -> Result<Delivered, NotifyError> {
        let request = self.delivery.http().post(self.url.clone()).build().unwrap();
        match self.delivery.send(request).await {
            Ok(response) if response.is_success() => Ok(Delivered::default()),
            _ => Err(NotifyError::Rejected {
                service: "careless",
                code: "failed".into(),
                message: format!("POST {} failed", self.url),
            }),
        }
    }
}

fn json_post(endpoint: &Endpoint) -> Arc<dyn Notifier> {
    Arc::new(JsonPost {
        url: endpoint.url.clone(),
        delivery: endpoint.delivery.clone(),
    })
}

#[tokio::test]
async fn an_honest_json_notifier_passes_the_contract() {
    HttpContract::new("json-post")
        .check_notifier(|endpoint| Ok(json_post(endpoint)))
        .await;
}

#[tokio::test]
async fn a_notifier_that_misclassifies_and_prints_its_url_fails_the_contract() {
    let contract = HttpContract::new("careless");
    let run = contract.check_notifier(|endpoint| {
        Ok(Arc::new(Careless {
            url: endpoint.url.clone(),
            delivery: endpoint.delivery.clone(),
        }) as Arc<dyn Notifier>)
    });
    let outcome = AssertUnwindSafe(run).catch_unwind().await;
    assert!(outcome.is_err(), "the contract must reject this notifier");
}

#[tokio::test]
async fn a_notifier_that_leaks_a_configured_secret_fails_the_contract() {
    struct Leaky(Arc<dyn Notifier>);

    #[async_trait]
    impl Notifier for Leaky {
        fn channel_type(&self) -> &str {
            "leaky"
        }
        async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
            self.0.notify(n).await.map_err(|e| match e.retry_class() {
                aisoc_notify_core::RetryClass::NonRetryable => {
                    NotifyError::Config(aisoc_notify_core::ConfigError::new(
                        "bot_token",
                        "token xoxb-very-secret rejected",
                    ))
                }
                _ => e,
            })
        }
    }

    let contract = HttpContract::new("leaky").secret("xoxb-very-secret");
    let run = contract
        .check_notifier(|endpoint| Ok(Arc::new(Leaky(json_post(endpoint))) as Arc<dyn Notifier>));
    let outcome = AssertUnwindSafe(run).catch_unwind().await;
    assert!(
        outcome.is_err(),
        "a secret in an error must fail the contract"
    );
}
