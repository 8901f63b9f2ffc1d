//! Fan-out: one message to every device of a tenant, a user or a topic.
//!
//! Users whose on-call status is `offline` or `snoozed` are skipped (their devices are not
//! contacted at all). Sends run concurrently up to a bound ([`PushManager::with_concurrency`]),
//! each device's push a task of its own, so that encrypting for many devices (a P-256 key
//! generation and ECDH each) uses every worker thread of the runtime and not only the caller's;
//! subscriptions the push service reports gone are evicted from the store; every device gets an
//! outcome in the report.
//!
//! ## One outcome for many devices
//!
//! [`WebPushNotifier`] answers for a whole target, so it folds the devices' outcomes into one
//! ([`FanOutReport::failure_class`]):
//!
//! | devices | the notifier reports | class |
//! |---|---|---|
//! | none (or every user offline/snoozed) | delivered to 0 devices | — |
//! | at least one delivered | delivered (failed devices are in the report, not retried) | — |
//! | none delivered, any throttled | [`NotifyError::RateLimited`] with the longest `Retry-After` | `Throttled` |
//! | none delivered, any retryable (5xx, timeout, connect) | [`NotifyError::Unavailable`] | `Retryable` |
//! | none delivered, every one gone (404/410, all evicted) | [`NotifyError::Gone`] | `Gone` |
//! | none delivered, only permanent refusals (with or without gone ones) | [`NotifyError::Rejected`] | `NonRetryable` |
//!
//! A partial delivery is a delivery: retrying the whole target would push the same message
//! again to the devices that already showed it. Retryable wins over permanent when nothing got
//! through, because a retry then reaches only the devices that can still take it (gone ones
//! are evicted by then).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aisoc_notify_core::notification::{Notification, Target};
use aisoc_notify_core::retry::RetryClass;
use aisoc_notify_core::{Delivered, Notifier, NotifyError, async_trait};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::oncall::OnCallStoreError;
use crate::send::{PushError, PushOptions, PushReceipt, Urgency, WebPushSender};
use crate::store::{StoreError, SubscriptionStore};
use crate::subscription::SubscriptionRecord;

/// A responder's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnCallStatus {
    /// Reachable.
    #[default]
    Available,
    /// Reachable, but busy.
    Busy,
    /// Not reachable; no pushes.
    Offline,
    /// Paused notifications; no pushes.
    Snoozed,
}

impl OnCallStatus {
    /// Whether pushes should reach this user.
    pub fn receives_pushes(self) -> bool {
        matches!(self, OnCallStatus::Available | OnCallStatus::Busy)
    }
}

/// Where users' on-call statuses come from.
#[async_trait]
pub trait OnCallStatusProvider: Send + Sync {
    /// A user's status (`Available` when unknown).
    async fn status(&self, tenant_id: &str, user_id: &str) -> OnCallStatus;

    /// The users of `tenant_id` on call now: those who set a status that takes pushes
    /// (`available` or `busy`). A user who never set one is not listed — being on call is
    /// something a responder declares — though [`status`](Self::status) lets them receive
    /// other pushes. The default says it cannot list anyone, so an `on_call` channel over a
    /// source that cannot answer fails instead of pushing to nobody.
    async fn on_call_users(&self, tenant_id: &str) -> Result<Vec<String>, OnCallStoreError> {
        let _ = tenant_id;
        Err(OnCallStoreError(
            "this on-call status source cannot list who is on call".into(),
        ))
    }
}

/// On-call statuses in memory.
#[derive(Debug, Default)]
pub struct MemoryOnCallStatus {
    statuses: Mutex<HashMap<(String, String), OnCallStatus>>,
}

impl MemoryOnCallStatus {
    /// Everyone available.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a user's status.
    pub fn set(&self, tenant_id: &str, user_id: &str, status: OnCallStatus) {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((tenant_id.into(), user_id.into()), status);
    }
}

#[async_trait]
impl OnCallStatusProvider for MemoryOnCallStatus {
    async fn status(&self, tenant_id: &str, user_id: &str) -> OnCallStatus {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(tenant_id.to_owned(), user_id.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    async fn on_call_users(&self, tenant_id: &str) -> Result<Vec<String>, OnCallStoreError> {
        let mut users: Vec<String> = self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((tenant, _), status)| tenant == tenant_id && status.receives_pushes())
            .map(|((_, user), _)| user.clone())
            .collect();
        users.sort();
        Ok(users)
    }
}

/// What a service worker receives: the notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMessage {
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
    /// Where a tap goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Replaces an earlier notification with the same tag on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

impl PushMessage {
    /// The message and delivery options for a notification: critical and high are `Urgency:
    /// high`, the dedupe key becomes the tag (and, when short enough, the `Topic`).
    pub fn from_notification(notification: &Notification) -> (Self, PushOptions) {
        let body = if notification.body.is_empty() {
            notification
                .facts
                .iter()
                .map(|f| format!("{}: {}", f.label, f.value))
                .collect::<Vec<_>>()
                .join(" · ")
        } else {
            notification.body.clone()
        };
        let message = Self {
            title: format!("{} {}", notification.severity.emoji(), notification.title),
            body: body.chars().take(1000).collect(),
            url: notification.links.first().map(|l| l.url.to_string()),
            tag: notification.dedupe_key.clone(),
            topic: Some(notification.event_type.as_str().to_owned()),
            severity: Some(notification.severity.as_str().to_owned()),
        };
        let urgency = match notification.severity {
            aisoc_notify_core::Severity::Critical | aisoc_notify_core::Severity::High => {
                Urgency::High
            }
            aisoc_notify_core::Severity::Medium => Urgency::Normal,
            _ => Urgency::Low,
        };
        let topic = notification
            .dedupe_key
            .clone()
            .filter(|k| crate::send::valid_topic_header(k));
        (
            message,
            PushOptions {
                urgency,
                topic,
                ..PushOptions::default()
            },
        )
    }
}

/// One device's outcome.
#[derive(Debug)]
pub struct DeviceOutcome {
    /// The subscription.
    pub subscription_id: String,
    /// Its user.
    pub user_id: String,
    /// What happened.
    pub result: Result<PushReceipt, PushError>,
    /// Whether it was removed from the store because the service said it is gone.
    pub evicted: bool,
}

/// The result of a fan-out.
#[derive(Debug, Default)]
pub struct FanOutReport {
    /// One outcome per device contacted.
    pub outcomes: Vec<DeviceOutcome>,
    /// Users skipped because they are offline or snoozed.
    pub skipped_users: Vec<String>,
}

impl FanOutReport {
    /// Devices delivered to.
    pub fn delivered(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }

    /// Devices evicted.
    pub fn evicted(&self) -> usize {
        self.outcomes.iter().filter(|o| o.evicted).count()
    }

    /// The class of the fan-out as a whole, when it failed: `None` when a device was delivered
    /// to or none was contacted; otherwise `Throttled` (the longest wait asked) when any device
    /// was throttled, `Retryable` when any can succeed later, `Gone` when every one is gone,
    /// and `NonRetryable` for the rest (see the [module docs](self)).
    pub fn failure_class(&self) -> Option<RetryClass> {
        if self.outcomes.is_empty() || self.delivered() > 0 {
            return None;
        }
        let classes = || {
            self.outcomes
                .iter()
                .filter_map(|o| o.result.as_ref().err())
                .map(PushError::retry_class)
        };
        let longest_wait = classes().filter_map(RetryClass::retry_after).max();
        let class = if let Some(wait) = longest_wait {
            RetryClass::Throttled(wait)
        } else if classes().any(RetryClass::is_retryable) {
            RetryClass::Retryable
        } else if classes().all(|class| class == RetryClass::Gone) {
            RetryClass::Gone
        } else {
            RetryClass::NonRetryable
        };
        Some(class)
    }

    /// The notifier's error for a fan-out that reached no device, of the class
    /// [`failure_class`](Self::failure_class) gives; `None` when a device was delivered to or
    /// none was contacted. Its message counts the failures and quotes one of the deciding
    /// class (a status and a short code, never what the push service answered).
    pub fn failure(&self) -> Option<NotifyError> {
        let class = self.failure_class()?;
        let failures: Vec<&PushError> = self
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err())
            .collect();
        let example = failures
            .iter()
            .find(|error| same_kind(error.retry_class(), class))
            .or(failures.first())
            .map(ToString::to_string)
            .unwrap_or_default();
        let message = format!(
            "{} device(s) failed; for example: {example}",
            failures.len()
        );
        let code = if class == RetryClass::Gone {
            "all_devices_gone"
        } else {
            "no_device_delivered"
        };
        Some(NotifyError::refused(SERVICE, class, code, message))
    }
}

const SERVICE: &str = "webpush";

fn same_kind(a: RetryClass, b: RetryClass) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

/// The default number of pushes in flight at once.
///
/// A push service is tens of milliseconds away, so the pushes in flight, not the CPU, bound a
/// fan-out's rate: 64 at a 50 ms round trip is 1,280 pushes a second. Pushes beyond what the
/// service lets one connection carry at once (at least 100, RFC 9113's recommended minimum)
/// are encrypted ahead and wait for a stream: on the two-core development VM, with the mock
/// push service on the same cores, 256 took a 10,000-device fan-out from 450-458 ms to
/// 433-435 ms against 64 (`AISOC_BENCH_FANOUT_CONCURRENCY`, `cargo bench -p
/// aisoc-notify-benches --bench fanout`), the CPU a push unchanged.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// Sends to targets through a store, a sender and on-call statuses.
#[derive(Clone)]
pub struct PushManager {
    store: Arc<dyn SubscriptionStore>,
    sender: WebPushSender,
    oncall: Arc<dyn OnCallStatusProvider>,
    concurrency: usize,
}

impl std::fmt::Debug for PushManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushManager")
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl PushManager {
    /// A manager; everyone counts as available unless `oncall` says otherwise.
    pub fn new(
        store: Arc<dyn SubscriptionStore>,
        sender: WebPushSender,
        oncall: Arc<dyn OnCallStatusProvider>,
    ) -> Self {
        Self {
            store,
            sender,
            oncall,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Sets how many pushes may be in flight.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SubscriptionStore> {
        &self.store
    }

    /// The sender.
    pub fn sender(&self) -> &WebPushSender {
        &self.sender
    }

    /// Sends `message` to the devices of every user of `tenant_id` who is on call now
    /// ([`OnCallStatusProvider::on_call_users`]); nobody on call is an empty report.
    pub async fn send_to_on_call(
        &self,
        tenant_id: &str,
        message: &PushMessage,
        options: &PushOptions,
    ) -> Result<FanOutReport, StoreError> {
        let users = self
            .oncall
            .on_call_users(tenant_id)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut report = FanOutReport::default();
        for user_id in users {
            let target = Target::User {
                tenant_id: tenant_id.to_owned(),
                user_id,
            };
            let part = self.send_to_target(&target, message, options).await?;
            report.outcomes.extend(part.outcomes);
            report.skipped_users.extend(part.skipped_users);
        }
        Ok(report)
    }

    /// Sends `message` to every live device `target` addresses.
    pub async fn send_to_target(
        &self,
        target: &Target,
        message: &PushMessage,
        options: &PushOptions,
    ) -> Result<FanOutReport, StoreError> {
        let records = self.store.for_target(target).await?;
        let tenant_id = target.tenant_id();
        let users: HashSet<&str> = records.iter().map(|r| r.user_id.as_str()).collect();
        let mut skipped = Vec::new();
        for user in users {
            if !self.oncall.status(tenant_id, user).await.receives_pushes() {
                skipped.push(user.to_owned());
            }
        }
        skipped.sort();
        let payload: Arc<[u8]> = serde_json::to_vec(message)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .into();
        let options = Arc::new(options.clone());
        let mut devices = records
            .into_iter()
            .filter(|r| skipped.binary_search(&r.user_id).is_err());
        let mut outcomes = Vec::with_capacity(devices.size_hint().0);
        // Each device is its own task so the encryption (most of a push's CPU) runs on every
        // worker thread rather than all in the caller's. Dropping this future drops the set,
        // which aborts the pushes still in flight.
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            while in_flight.len() < self.concurrency {
                let Some(record) = devices.next() else { break };
                let push =
                    self.clone()
                        .push_to_device(record, Arc::clone(&payload), Arc::clone(&options));
                in_flight.spawn(push.in_current_span());
            }
            match in_flight.join_next().await {
                Some(Ok(outcome)) => outcomes.push(outcome),
                Some(Err(failed)) => match failed.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Cancelled: the runtime is shutting down, and this future with it.
                    Err(_) => break,
                },
                None => break,
            }
        }
        Ok(FanOutReport {
            outcomes,
            skipped_users: skipped,
        })
    }

    /// One device's push, and its eviction when the push service says it is gone.
    async fn push_to_device(
        self,
        record: SubscriptionRecord,
        payload: Arc<[u8]>,
        options: Arc<PushOptions>,
    ) -> DeviceOutcome {
        let result = self.sender.send(&record, &payload, &options).await;
        let evicted = match &result {
            Err(error) if error.is_gone() => match self.store.remove(&record.id).await {
                Ok(removed) => removed,
                Err(store_error) => {
                    tracing::warn!(%store_error, "could not evict a gone subscription");
                    false
                }
            },
            _ => false,
        };
        DeviceOutcome {
            subscription_id: record.id,
            user_id: record.user_id,
            result,
            evicted,
        }
    }
}

/// A [`Notifier`] that pushes notifications to a fixed target (a tenant's on-call user, say).
#[derive(Debug, Clone)]
pub struct WebPushNotifier {
    manager: PushManager,
    target: Target,
}

impl WebPushNotifier {
    /// Pushes to `target` through `manager`.
    pub fn new(manager: PushManager, target: Target) -> Self {
        Self { manager, target }
    }
}

#[async_trait]
impl Notifier for WebPushNotifier {
    fn channel_type(&self) -> &str {
        "webpush"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let (message, options) = PushMessage::from_notification(notification);
        let report = self
            .manager
            .send_to_target(&self.target, &message, &options)
            .await
            .map_err(|e| NotifyError::Unavailable {
                service: SERVICE,
                code: "store".into(),
                message: e.to_string(),
            })?;
        if let Some(failure) = report.failure() {
            return Err(failure);
        }
        let attempts = report
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .map(|receipt| receipt.attempts)
            .max()
            .unwrap_or(0);
        let delivered = report.delivered();
        Ok(Delivered::with_receipt(format!("{delivered} device(s)")).attempts(attempts))
    }
}
