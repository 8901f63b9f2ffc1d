//! The HTTP contract every adapter passes, run for Web Push: a `WebPushNotifier` whose one
//! subscription's endpoint is the contract's mock (a push service answers 201 Created).

use std::sync::Arc;

use aisoc_notify_core::conformance::{Failure, HttpContract, Subject};
use aisoc_notify_core::notification::Target;
use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{MemoryOnCallStatus, PushManager, WebPushNotifier};
use aisoc_notify_webpush::send::WebPushSender;
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionStore};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use aisoc_notify_webpush::vapid::VapidSigner;
use wiremock::ResponseTemplate;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_push_notifier_passes_the_http_contract() {
    HttpContract::new("webpush")
        .success(ResponseTemplate::new(201))
        .check(|endpoint| {
            let record = SubscriptionRecord::new(
                &browser_subscription(endpoint.url.as_str()),
                "acme",
                "alice",
                &[],
                chrono::Utc::now(),
            )?;
            let store = Arc::new(MemorySubscriptionStore::new());
            let vapid = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com")?;
            let manager = PushManager::new(
                store.clone(),
                WebPushSender::with_client(vapid, endpoint.delivery.clone()),
                Arc::new(MemoryOnCallStatus::new()),
            );
            let notifier = WebPushNotifier::new(
                manager,
                Target::User {
                    tenant_id: "acme".into(),
                    user_id: "alice".into(),
                },
            );
            let subject: Subject = Box::new(move || {
                Box::pin(async move {
                    store
                        .upsert(&record)
                        .await
                        .expect("the memory store takes the subscription");
                    let notification = Notification::new(
                        "acme",
                        EventType::P0Alert,
                        Severity::Critical,
                        "Ransomware on web-01",
                    );
                    notifier
                        .notify(&notification)
                        .await
                        .map(drop)
                        .map_err(|error| Failure::of(&error, error.retry_class()))
                })
            });
            Ok(subject)
        })
        .await;
}
