//! Subscription storage: the trait, the in-memory store, and the shared key layout.
//!
//! Records live 90 days from their last subscribe; subscribing again refreshes the lifetime and
//! replaces the record (the id is a hash of the endpoint). A record belongs to the (tenant, user)
//! that first subscribed its endpoint: while it lives, a subscribe of the same endpoint by anyone
//! else is refused ([`StoreError::OwnedByAnother`]) rather than moving another user's device,
//! and its pushes, to the caller. The owner unsubscribes (or the record expires, or a push finds
//! the endpoint gone) before someone else may subscribe it. Each record is indexed by tenant,
//! by user and by each of its topics, so a fan-out to a whole tenant, one user or a topic
//! reads one set.

use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::notification::Target;

use crate::subscription::SubscriptionRecord;

/// How long a subscription lives after its last subscribe.
pub const SUBSCRIPTION_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

mod memory;
pub use memory::{MemorySubscriptionStore, SubscriptionLimits};

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
    /// The tenant has as many subscriptions as it may; nothing was stored.
    #[error(
        "this tenant already has {cap} push subscriptions, the most it may have; unsubscribe devices no longer used before adding more"
    )]
    TenantFull {
        /// The most subscriptions per tenant.
        cap: usize,
    },
    /// The endpoint is subscribed by another tenant or user; nothing was stored. The message
    /// never names the endpoint or its owner.
    #[error(
        "this push endpoint is already subscribed by another user; it must be unsubscribed by its owner first"
    )]
    OwnedByAnother,
    /// The store holds as many subscriptions as it may; nothing was stored.
    #[error(
        "the subscription store already holds {cap} push subscriptions, the most it may hold; unsubscribe devices no longer used before adding more"
    )]
    StoreFull {
        /// The most subscriptions in the store.
        cap: usize,
    },
}

impl StoreError {
    /// Whether the store refused because a cap is reached (not a failure of the backend).
    pub fn is_full(&self) -> bool {
        matches!(
            self,
            StoreError::TenantFull { .. } | StoreError::StoreFull { .. }
        )
    }
}

/// Stores push subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Stores a record, replacing one with the same id and its index entries when that one has
    /// the same tenant and user; a live record of another owner is left as it is and
    /// [`StoreError::OwnedByAnother`] answered (checked and written atomically). A store with
    /// caps answers [`StoreError::TenantFull`] or [`StoreError::StoreFull`] when it is full.
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
