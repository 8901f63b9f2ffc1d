//! `WebPushNotifier` folds many devices' outcomes into one class the outbox can act on.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::notification::Target;
use aisoc_notify_core::retry::RetryClass;
use aisoc_notify_core::{EventType, Notification, Notifier, NotifyError, Severity};
use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{MemoryOnCallStatus, PushManager, WebPushNotifier};
use aisoc_notify_webpush::send::WebPushSender;
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionStore};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use aisoc_notify_webpush::vapid::VapidSigner;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PEER_TEXT: &str = "internal-detail-from-the-push-service";

/// A notifier for alice, whose devices answer as `devices` say (one path and answer each).
async fn alice_with_devices(
    devices: &[(&str, ResponseTemplate)],
) -> (WebPushNotifier, Arc<MemorySubscriptionStore>, MockServer) {
    let server = MockServer::start().await;
    let store = Arc::new(MemorySubscriptionStore::new());
    for (device, answer) in devices {
        Mock::given(method("POST"))
            .and(path(*device))
            .respond_with(answer.clone())
            .mount(&server)
            .await;
        let record = SubscriptionRecord::new(
            &browser_subscription(&format!("{}{device}", server.uri())),
            "acme",
            "alice",
            &[],
            chrono::Utc::now(),
        )
        .unwrap();
        store.upsert(&record).await.unwrap();
    }
    let delivery = DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy {
            max_attempts: 1,
            max_retry_after: Duration::from_secs(1),
            ..RetryPolicy::default()
        },
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let vapid = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap();
    let manager = PushManager::new(
        store.clone(),
        WebPushSender::new(vapid).unwrap().with_delivery(delivery),
        Arc::new(MemoryOnCallStatus::new()),
    );
    let notifier = WebPushNotifier::new(
        manager,
        Target::User {
            tenant_id: "acme".into(),
            user_id: "alice".into(),
        },
    );
    (notifier, store, server)
}

fn answer(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(PEER_TEXT)
}

fn throttled(seconds: u64) -> ResponseTemplate {
    answer(429).insert_header("Retry-After", seconds.to_string().as_str())
}

fn alert() -> Notification {
    Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
}

async fn remaining_devices(store: &MemorySubscriptionStore) -> usize {
    store
        .for_target(&Target::User {
            tenant_id: "acme".into(),
            user_id: "alice".into(),
        })
        .await
        .unwrap()
        .len()
}

fn assert_quiet(err: &NotifyError) {
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(PEER_TEXT),
        "the push service's body leaked: {shown}"
    );
}

#[tokio::test]
async fn a_target_whose_devices_are_all_gone_is_gone_and_its_subscriptions_are_evicted() {
    let (notifier, store, _server) =
        alice_with_devices(&[("/phone", answer(404)), ("/laptop", answer(410))]).await;
    let err = notifier.notify(&alert()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            NotifyError::Gone {
                service: "webpush",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::Gone);
    assert_eq!(remaining_devices(&store).await, 0);
}

#[tokio::test]
async fn a_throttled_device_makes_the_target_throttled_for_the_longest_wait() {
    let (notifier, _store, _server) = alice_with_devices(&[
        ("/phone", throttled(120)),
        ("/tablet", throttled(30)),
        ("/laptop", answer(503)),
        ("/desktop", answer(400)),
    ])
    .await;
    let err = notifier.notify(&alert()).await.unwrap_err();
    assert_eq!(
        err.retry_class(),
        RetryClass::Throttled(Duration::from_secs(120))
    );
    assert_quiet(&err);
}

#[tokio::test]
async fn a_failing_push_service_makes_the_target_retryable_and_gone_devices_still_go() {
    let (notifier, store, _server) =
        alice_with_devices(&[("/phone", answer(503)), ("/laptop", answer(410))]).await;
    let err = notifier.notify(&alert()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            NotifyError::Unavailable {
                service: "webpush",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::Retryable);
    assert_eq!(
        remaining_devices(&store).await,
        1,
        "the gone laptop is evicted"
    );
    assert_quiet(&err);
}

#[tokio::test]
async fn a_target_refused_permanently_is_not_retried() {
    let (notifier, _store, _server) = alice_with_devices(&[
        ("/phone", answer(400)),
        ("/laptop", answer(410)),
        ("/tablet", answer(413)),
    ])
    .await;
    let err = notifier.notify(&alert()).await.unwrap_err();
    assert!(
        matches!(&err, NotifyError::Rejected { code, .. } if code == "no_device_delivered"),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert!(err.to_string().contains("3 device(s) failed"), "{err}");
    assert_quiet(&err);
}

#[tokio::test]
async fn one_delivered_device_makes_a_delivery_even_when_another_fails() {
    let (notifier, _store, server) = alice_with_devices(&[
        ("/phone", ResponseTemplate::new(201)),
        ("/laptop", answer(503)),
    ])
    .await;
    let delivered = notifier.notify(&alert()).await.unwrap();
    assert_eq!(delivered.receipt.as_deref(), Some("1 device(s)"));
    assert_eq!(delivered.attempts, 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_target_without_devices_is_delivered_to_nobody() {
    let (notifier, _store, _server) = alice_with_devices(&[]).await;
    let delivered = notifier.notify(&alert()).await.unwrap();
    assert_eq!(delivered.receipt.as_deref(), Some("0 device(s)"));
}
