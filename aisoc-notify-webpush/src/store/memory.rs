//! In-memory subscriptions, with the Redis store's layout and lifetime, and caps so that
//! subscribing cannot grow a process's memory without bound.
//!
//! # Caps, and what happens at each
//!
//! | cap ([`SubscriptionLimits`]) | default | when a new subscription would pass it |
//! |---|---|---|
//! | per user | 20 | the user's **oldest** subscription (least recently re-subscribed) is evicted to make room |
//! | per tenant | 10 000 | **refused**: [`StoreError::TenantFull`] (the push routes answer 507) |
//! | in total | 100 000 | **refused**: [`StoreError::StoreFull`] (507) |
//!
//! Why evict for a user but refuse for a tenant: browsers replace their push subscription (a new
//! endpoint when the old one expires or site data is cleared) and the old endpoint lingers until
//! a push reports it gone, so a user's newest subscription is the one most likely alive, and
//! evicting the oldest only touches the caller's own devices. Across a tenant, evicting would let
//! one caller's churn push out colleagues' devices, so the tenant and the store refuse instead
//! and an operator decides.
//!
//! Re-subscribing an endpoint replaces its record and takes no new room. Expired records (90
//! days after their last subscribe) are never returned, and are dropped from a tenant whenever
//! that tenant subscribes a new device, and from the whole store when it is full.
//!
//! Metrics (with `# HELP`): `aisoc_push_subscriptions` (gauge, records held),
//! `aisoc_push_subscriptions_evicted_total` (counter, oldest devices evicted by the per-user
//! cap), `aisoc_push_subscriptions_refused_total{cap="tenant"|"store"}` (counter).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::notification::Target;
use chrono::{DateTime, Utc};

use super::{KeyLayout, SUBSCRIPTION_TTL, StoreError, SubscriptionStore};
use crate::metrics::{SUBSCRIPTIONS, SUBSCRIPTIONS_EVICTED, SUBSCRIPTIONS_REFUSED};
use crate::subscription::SubscriptionRecord;

/// The caps of a [`MemorySubscriptionStore`]; each is at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionLimits {
    /// Subscriptions per user; the oldest is evicted to add another.
    pub per_user: usize,
    /// Subscriptions per tenant; another is refused.
    pub per_tenant: usize,
    /// Subscriptions in the store; another is refused.
    pub total: usize,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        Self {
            per_user: 20,
            per_tenant: 10_000,
            total: 100_000,
        }
    }
}

#[derive(Debug, Default)]
struct MemoryState {
    records: HashMap<String, SubscriptionRecord>,
    /// Each target's subscription ids, in order: a fan-out reads them sorted without sorting.
    indexes: HashMap<String, BTreeSet<String>>,
}

/// In-memory subscriptions with the same layout and 90-day lifetime as the Redis store, within
/// [`SubscriptionLimits`] (see [`crate::store`]).
///
/// ```
/// use aisoc_notify_webpush::store::{MemorySubscriptionStore, StoreError, SubscriptionLimits, SubscriptionStore};
/// use aisoc_notify_webpush::subscription::{PushSubscription, SubscriptionKeys, SubscriptionRecord};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let limits = SubscriptionLimits { per_user: 1, per_tenant: 1, total: 10 };
/// let store = MemorySubscriptionStore::new().with_limits(limits);
/// let device = |endpoint: &str, user: &str| {
///     let subscription = PushSubscription {
///         endpoint: endpoint.into(),
///         expiration_time: None,
///         keys: SubscriptionKeys {
///             p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".into(),
///             auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
///         },
///     };
///     SubscriptionRecord::new(&subscription, "acme", user, &[], chrono::Utc::now()).unwrap()
/// };
/// store.upsert(&device("https://push.example.com/1", "alice")).await.unwrap();
/// // Alice's newer device takes the place of her older one.
/// store.upsert(&device("https://push.example.com/2", "alice")).await.unwrap();
/// assert_eq!(store.subscription_count(), 1);
/// // The tenant is full: Bob's device is refused.
/// let refused = store.upsert(&device("https://push.example.com/3", "bob")).await;
/// assert_eq!(refused, Err(StoreError::TenantFull { cap: 1 }));
/// # });
/// ```
#[derive(Debug)]
pub struct MemorySubscriptionStore {
    state: Mutex<MemoryState>,
    layout: KeyLayout,
    limits: SubscriptionLimits,
    clock: Arc<dyn Clock>,
}

impl Default for MemorySubscriptionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySubscriptionStore {
    /// An empty store with the default [`SubscriptionLimits`].
    pub fn new() -> Self {
        crate::metrics::describe_metrics();
        Self {
            state: Mutex::new(MemoryState::default()),
            layout: KeyLayout::default(),
            limits: SubscriptionLimits::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Keeps within `limits` (each raised to at least one).
    pub fn with_limits(mut self, limits: SubscriptionLimits) -> Self {
        self.limits = SubscriptionLimits {
            per_user: limits.per_user.max(1),
            per_tenant: limits.per_tenant.max(1),
            total: limits.total.max(1),
        };
        self
    }

    /// Replaces the clock that decides expiry.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Records held now, expired ones not yet dropped included.
    pub fn subscription_count(&self) -> usize {
        self.lock().records.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_live(&self, record: &SubscriptionRecord, now: DateTime<Utc>) -> bool {
        let ttl = chrono::Duration::from_std(SUBSCRIPTION_TTL).expect("90 days fits");
        record.updated_at + ttl > now
    }

    fn unindex(&self, state: &mut MemoryState, record: &SubscriptionRecord) {
        for key in self.layout.indexes(record) {
            if let Some(set) = state.indexes.get_mut(&key) {
                set.remove(&record.id);
                if set.is_empty() {
                    state.indexes.remove(&key);
                }
            }
        }
    }

    fn drop_record(&self, state: &mut MemoryState, id: &str) -> Option<SubscriptionRecord> {
        let record = state.records.remove(id)?;
        self.unindex(state, &record);
        Some(record)
    }

    /// Drops the expired records among `ids`.
    fn drop_expired(&self, state: &mut MemoryState, ids: Vec<String>, now: DateTime<Utc>) {
        for id in ids {
            if state
                .records
                .get(&id)
                .is_some_and(|r| !self.is_live(r, now))
            {
                self.drop_record(state, &id);
            }
        }
    }

    /// How many ids index `key` holds, `except` not counted.
    fn count_indexed(state: &MemoryState, key: &str, except: &str) -> usize {
        state
            .indexes
            .get(key)
            .map(|ids| ids.len() - usize::from(ids.contains(except)))
            .unwrap_or_default()
    }

    /// The ids in index `key`, `except` left out.
    fn indexed(state: &MemoryState, key: &str, except: &str) -> Vec<String> {
        state
            .indexes
            .get(key)
            .map(|ids| ids.iter().filter(|id| *id != except).cloned().collect())
            .unwrap_or_default()
    }

    /// Makes room for `record` within the caps, or says which cap refuses it.
    fn make_room(
        &self,
        state: &mut MemoryState,
        record: &SubscriptionRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tenant_key = self.layout.tenant(&record.tenant_id);

        let user_key = self.layout.user(&record.tenant_id, &record.user_id);
        let mut devices: Vec<(DateTime<Utc>, String)> = Self::indexed(state, &user_key, &record.id)
            .into_iter()
            .filter_map(|id| state.records.get(&id).map(|r| (r.updated_at, id)))
            .collect();
        if devices.len() >= self.limits.per_user {
            devices.sort();
            let surplus = devices.len() + 1 - self.limits.per_user;
            for (_, id) in devices.into_iter().take(surplus) {
                self.drop_record(state, &id);
                metrics::counter!(SUBSCRIPTIONS_EVICTED).increment(1);
                tracing::info!(
                    subscription = %id,
                    per_user = self.limits.per_user,
                    "evicted a user's oldest push subscription to keep within the cap"
                );
            }
        }

        // Counted from the index (no copy per insert); expired records are only swept when the
        // count reaches the cap, so filling a tenant stays linear.
        if Self::count_indexed(state, &tenant_key, &record.id) >= self.limits.per_tenant {
            let in_tenant = Self::indexed(state, &tenant_key, &record.id);
            self.drop_expired(state, in_tenant, now);
            if Self::count_indexed(state, &tenant_key, &record.id) >= self.limits.per_tenant {
                metrics::counter!(SUBSCRIPTIONS_REFUSED, "cap" => "tenant").increment(1);
                return Err(StoreError::TenantFull {
                    cap: self.limits.per_tenant,
                });
            }
        }
        let others = |state: &MemoryState| {
            state.records.len() - usize::from(state.records.contains_key(&record.id))
        };
        if others(state) >= self.limits.total {
            let everyone: Vec<String> = state.records.keys().cloned().collect();
            self.drop_expired(state, everyone, now);
            if others(state) >= self.limits.total {
                metrics::counter!(SUBSCRIPTIONS_REFUSED, "cap" => "store").increment(1);
                return Err(StoreError::StoreFull {
                    cap: self.limits.total,
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SubscriptionStore for MemorySubscriptionStore {
    async fn upsert(&self, record: &SubscriptionRecord) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        if state.records.get(&record.id).is_some_and(|old| {
            self.is_live(old, now)
                && (old.tenant_id != record.tenant_id || old.user_id != record.user_id)
        }) {
            return Err(StoreError::OwnedByAnother);
        }
        let result = self.make_room(&mut state, record, now).map(|()| {
            self.drop_record(&mut state, &record.id);
            for key in self.layout.indexes(record) {
                state
                    .indexes
                    .entry(key)
                    .or_default()
                    .insert(record.id.clone());
            }
            state.records.insert(record.id.clone(), record.clone());
        });
        metrics::gauge!(SUBSCRIPTIONS).set(state.records.len() as f64);
        result
    }

    async fn get(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .records
            .get(id)
            .filter(|r| self.is_live(r, now))
            .cloned())
    }

    async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let removed = self.drop_record(&mut state, id).is_some();
        metrics::gauge!(SUBSCRIPTIONS).set(state.records.len() as f64);
        Ok(removed)
    }

    async fn for_target(&self, target: &Target) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let now = self.clock.now();
        let state = self.lock();
        let Some(ids) = state.indexes.get(&self.layout.for_target(target)) else {
            return Ok(Vec::new());
        };
        let records = ids
            .iter()
            .filter_map(|id| state.records.get(id))
            .filter(|r| self.is_live(r, now))
            .cloned()
            .collect();
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aisoc_notify_core::clock::ManualClock;

    use super::*;
    use crate::subscription::{PushSubscription, SubscriptionKeys};

    /// A record for `endpoint` (keys are only checked for shape here).
    fn device(n: usize, tenant: &str, user: &str, at: DateTime<Utc>) -> SubscriptionRecord {
        let subscription = PushSubscription {
            endpoint: format!("https://push.example.com/send/{n}"),
            expiration_time: None,
            keys: SubscriptionKeys {
                p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".into(),
                auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
            },
        };
        SubscriptionRecord::new(&subscription, tenant, user, &[], at).unwrap()
    }

    fn user(tenant: &str, user: &str) -> Target {
        Target::User {
            tenant_id: tenant.into(),
            user_id: user.into(),
        }
    }

    fn store(limits: SubscriptionLimits, clock: &Arc<ManualClock>) -> MemorySubscriptionStore {
        MemorySubscriptionStore::new()
            .with_limits(limits)
            .with_clock(clock.clone())
    }

    fn ids(records: Vec<SubscriptionRecord>) -> Vec<String> {
        let mut ids: Vec<String> = records
            .into_iter()
            .map(|r| r.endpoint.rsplit('/').next().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_users_newest_devices_push_out_the_oldest() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let limits = SubscriptionLimits {
            per_user: 2,
            ..SubscriptionLimits::default()
        };
        let store = store(limits, &clock);
        for n in 1..=3 {
            store
                .upsert(&device(n, "acme", "alice", clock.now()))
                .await
                .unwrap();
            clock.advance(Duration::from_secs(60));
        }
        assert_eq!(
            ids(store.for_target(&user("acme", "alice")).await.unwrap()),
            ["2", "3"]
        );

        // Re-subscribing device 2 makes it the newest; device 3 is then the oldest.
        store
            .upsert(&device(2, "acme", "alice", clock.now()))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(60));
        store
            .upsert(&device(4, "acme", "alice", clock.now()))
            .await
            .unwrap();
        assert_eq!(
            ids(store.for_target(&user("acme", "alice")).await.unwrap()),
            ["2", "4"]
        );
        assert_eq!(store.subscription_count(), 2, "no index keeps the evicted");
        let tenant = Target::Tenant {
            tenant_id: "acme".into(),
        };
        assert_eq!(ids(store.for_target(&tenant).await.unwrap()), ["2", "4"]);
    }

    #[tokio::test]
    async fn a_full_tenant_refuses_new_devices_but_takes_re_subscriptions() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let limits = SubscriptionLimits {
            per_user: 5,
            per_tenant: 3,
            total: 100,
        };
        let store = store(limits, &clock);
        for (n, who) in [(1, "alice"), (2, "bob"), (3, "carol")] {
            store
                .upsert(&device(n, "acme", who, clock.now()))
                .await
                .unwrap();
        }
        let refused = store.upsert(&device(4, "acme", "dave", clock.now())).await;
        assert_eq!(refused, Err(StoreError::TenantFull { cap: 3 }));
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("3 push subscriptions"), "{message}");
        assert!(
            !message.contains("push.example.com"),
            "no endpoint: {message}"
        );

        store
            .upsert(&device(2, "acme", "bob", clock.now()))
            .await
            .expect("re-subscribing takes no new room");
        store
            .upsert(&device(5, "globex", "erin", clock.now()))
            .await
            .expect("another tenant has its own cap");
        assert_eq!(store.subscription_count(), 4);
    }

    #[tokio::test]
    async fn expired_devices_make_room_and_a_full_store_refuses() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let limits = SubscriptionLimits {
            per_user: 5,
            per_tenant: 5,
            total: 2,
        };
        let store = store(limits, &clock);
        store
            .upsert(&device(1, "acme", "alice", clock.now()))
            .await
            .unwrap();
        store
            .upsert(&device(2, "globex", "bob", clock.now()))
            .await
            .unwrap();
        assert_eq!(
            store
                .upsert(&device(3, "initech", "carol", clock.now()))
                .await,
            Err(StoreError::StoreFull { cap: 2 })
        );

        clock.advance(SUBSCRIPTION_TTL + Duration::from_secs(1));
        store
            .upsert(&device(3, "initech", "carol", clock.now()))
            .await
            .expect("the expired two made room");
        assert_eq!(store.subscription_count(), 1);
    }
}
