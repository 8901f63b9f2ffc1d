//! Subscription storage: the trait, the in-memory store, and the shared key layout.
//!
//! Records live 90 days from their last subscribe; subscribing again refreshes the lifetime and
//! replaces the record (the id is a hash of the endpoint). Each record is indexed by tenant,
//! by user and by each of its topics, so a fan-out to a whole tenant, one user or a topic
//! reads one set.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::notification::Target;

use crate::subscription::SubscriptionRecord;

/// How long a subscription lives after its last subscribe.
pub const SUBSCRIPTION_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// A storage failure (never carries connection strings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed.
    #[error("subscription store failed: {0}")]
    Backend(String),
    /// A stored record could not be read.
    #[error("stored subscription is corrupt: {0}")]
    Corrupt(String),
}

/// Stores push subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Stores a record, replacing one with the same id and its index entries.
    async fn upsert(&self, record: &SubscriptionRecord) -> Result<(), StoreError>;

    /// One record by id.
    async fn get(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError>;

    /// Removes a record and every index entry; `false` when there was none.
    async fn remove(&self, id: &str) -> Result<bool, StoreError>;

    /// The live records a target addresses.
    async fn for_target(&self, target: &Target) -> Result<Vec<SubscriptionRecord>, StoreError>;
}

/// The Redis key layout, shared with anything else reading the same data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    prefix: String,
}

impl Default for KeyLayout {
    fn default() -> Self {
        Self {
            prefix: "aisoc:push".into(),
        }
    }
}

impl KeyLayout {
    /// A layout under another prefix than `aisoc:push`.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// `aisoc:push:sub:<id>`: the record.
    pub fn record(&self, id: &str) -> String {
        format!("{}:sub:{id}", self.prefix)
    }

    /// `aisoc:push:tenant:<tenant>`: ids in a tenant.
    pub fn tenant(&self, tenant_id: &str) -> String {
        format!("{}:tenant:{tenant_id}", self.prefix)
    }

    /// `aisoc:push:user:<tenant>:<user>`: ids of a user.
    pub fn user(&self, tenant_id: &str, user_id: &str) -> String {
        format!("{}:user:{tenant_id}:{user_id}", self.prefix)
    }

    /// `aisoc:push:topic:<tenant>:<topic>`: ids subscribed to a topic.
    pub fn topic(&self, tenant_id: &str, topic: &str) -> String {
        format!("{}:topic:{tenant_id}:{topic}", self.prefix)
    }

    /// Every index set a record belongs to.
    pub fn indexes(&self, record: &SubscriptionRecord) -> Vec<String> {
        let mut keys = vec![
            self.tenant(&record.tenant_id),
            self.user(&record.tenant_id, &record.user_id),
        ];
        keys.extend(
            record
                .topics
                .iter()
                .map(|t| self.topic(&record.tenant_id, t)),
        );
        keys
    }

    /// The index set a target reads.
    pub fn for_target(&self, target: &Target) -> String {
        match target {
            Target::Tenant { tenant_id } => self.tenant(tenant_id),
            Target::User { tenant_id, user_id } => self.user(tenant_id, user_id),
            Target::Topic { tenant_id, topic } => self.topic(tenant_id, topic),
        }
    }
}

#[derive(Debug, Default)]
struct MemoryState {
    records: HashMap<String, SubscriptionRecord>,
    indexes: HashMap<String, HashSet<String>>,
}

/// In-memory subscriptions with the same layout and 90-day lifetime as the Redis store.
#[derive(Debug)]
pub struct MemorySubscriptionStore {
    state: Mutex<MemoryState>,
    layout: KeyLayout,
    clock: Arc<dyn Clock>,
}

impl Default for MemorySubscriptionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySubscriptionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(MemoryState::default()),
            layout: KeyLayout::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock that decides expiry.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_live(&self, record: &SubscriptionRecord) -> bool {
        let ttl = chrono::Duration::from_std(SUBSCRIPTION_TTL).expect("90 days fits");
        record.updated_at + ttl > self.clock.now()
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
}

#[async_trait]
impl SubscriptionStore for MemorySubscriptionStore {
    async fn upsert(&self, record: &SubscriptionRecord) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(old) = state.records.remove(&record.id) {
            self.unindex(&mut state, &old);
        }
        for key in self.layout.indexes(record) {
            state
                .indexes
                .entry(key)
                .or_default()
                .insert(record.id.clone());
        }
        state.records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        Ok(self
            .lock()
            .records
            .get(id)
            .filter(|r| self.is_live(r))
            .cloned())
    }

    async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.records.remove(id) {
            Some(old) => {
                self.unindex(&mut state, &old);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn for_target(&self, target: &Target) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let state = self.lock();
        let Some(ids) = state.indexes.get(&self.layout.for_target(target)) else {
            return Ok(Vec::new());
        };
        let mut records: Vec<SubscriptionRecord> = ids
            .iter()
            .filter_map(|id| state.records.get(id))
            .filter(|r| self.is_live(r))
            .cloned()
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }
}
