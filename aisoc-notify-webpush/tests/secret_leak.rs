//! The secret-leak test for the Web Push crate (issue #15): a notifier signing with a marker
//! VAPID private key sends to a subscription whose endpoint path is a secret and whose
//! `p256dh`/`auth` keys are markers, driven through the core HTTP contract (2xx, 4xx, 429, 5xx,
//! redirect, timeout, connection refused, forbidden destination) while every line any crate
//! logs is captured at TRACE. No marker may appear in a log line, an error's `Display` or
//! `Debug`, or the `Debug` of the key pair, signer, sender, manager, notifier, subscription or
//! its stored record.

use std::sync::Arc;

use aisoc_notify_core::conformance::{Failure, HttpContract, LeakWatch, Subject, captured_logs};
use aisoc_notify_core::notification::Target;
use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{MemoryOnCallStatus, PushManager, WebPushNotifier};
use aisoc_notify_webpush::send::WebPushSender;
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionStore};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use aisoc_notify_webpush::subscription::{PushSubscription, SubscriptionKeys};
use aisoc_notify_webpush::vapid::VapidSigner;
use wiremock::ResponseTemplate;

/// A valid P-256 private scalar (URL-safe base64) whose text is a marker.
const VAPID_PRIVATE_KEY: &str = "LEAKMARKvapidLEAKMARKvapidLEAKMARKvapidLEAA";
/// The subscription's 16-byte auth secret: "LEAKMARKauth1234", URL-safe base64.
const AUTH_SECRET: &str = "TEVBS01BUkthdXRoMTIzNA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_web_push_secret_reaches_a_log_line_an_error_or_a_debug_output() {
    captured_logs();
    let seen = LeakWatch::default();
    // The receiver's public key must be a real point; it is the same for every scenario.
    let p256dh = browser_subscription("https://push.example.com/")
        .keys
        .p256dh;

    HttpContract::new("webpush")
        .success(ResponseTemplate::new(201))
        .secret(VAPID_PRIVATE_KEY)
        .secret(AUTH_SECRET)
        .secret(p256dh.as_str())
        .check(|endpoint| {
            let subscription = PushSubscription {
                endpoint: endpoint.url.to_string(),
                expiration_time: None,
                keys: SubscriptionKeys {
                    p256dh: p256dh.clone(),
                    auth: AUTH_SECRET.into(),
                },
            };
            let record =
                SubscriptionRecord::new(&subscription, "acme", "alice", &[], chrono::Utc::now())?;
            let keys = VapidKeyPair::from_base64(VAPID_PRIVATE_KEY)?;
            let keys_debug = format!("{keys:?}");
            let vapid = VapidSigner::new(keys, "mailto:soc@example.com")?;
            let vapid_debug = format!("{vapid:?}");
            let sender = WebPushSender::with_client(vapid, endpoint.delivery.clone());
            let sender_debug = format!("{sender:?}");
            let store = Arc::new(MemorySubscriptionStore::new());
            let manager =
                PushManager::new(store.clone(), sender, Arc::new(MemoryOnCallStatus::new()));
            let manager_debug = format!("{manager:?}");
            let notifier = WebPushNotifier::new(
                manager,
                Target::User {
                    tenant_id: "acme".into(),
                    user_id: "alice".into(),
                },
            );
            seen.record(
                endpoint,
                format!(
                    "{subscription:?} {record:?} {keys_debug} {vapid_debug} {sender_debug} \
                     {manager_debug} {notifier:?}"
                ),
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

    seen.assert_nothing_leaked(&[VAPID_PRIVATE_KEY, AUTH_SECRET, &p256dh, "LEAKMARK"]);
}
