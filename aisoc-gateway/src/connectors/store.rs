//! Where connectors and their health live, and the contract every store keeps.
//!
//! A connector's `generation` counts its status flips and `notified` is the generation whose
//! `connector_health` notification was last queued. Every flip is a conditional change
//! (healthy→stale only while healthy and overdue, stale→healthy only while stale), so of any
//! number of monitors exactly one makes it.
//!
//! Notifying is at least once, and once in effect. A monitor [claims](ConnectorStore::claim_changes)
//! the unnotified flips: a claim is a *lease* (`claimed_until`), not a mark, and while it holds no
//! other monitor claims the connector. The monitor queues the notification and only then
//! [acknowledges](ConnectorStore::acknowledge) it, which raises `notified` and ends the lease.
//! A monitor that crashes between queueing and acknowledging leaves the lease to lapse, and the
//! next claim (by any replica) queues the same flip again under the same dedupe key
//! (`connector-health:<tenant>:<id>:<generation>`), which the outbox and the destinations use to
//! treat it as the one notification. With replicas that do not crash, exactly one notification
//! is queued per flip. A lease is named by its expiry, which only grows (a connector is claimed
//! again only at or after the old expiry), so a late release by a monitor whose lease lapsed
//! cannot end a newer lease.

use aisoc_notify_core::async_trait;
use aisoc_notify_core::freshness::ConnectorStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a connector store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorStoreError {
    /// The backend could not be reached or refused the statement.
    #[error("the connector store is unavailable: {0}")]
    Unavailable(String),
    /// The connector file cannot be read or written.
    #[error("the connector file {location}: {reason}")]
    File {
        /// The file.
        location: String,
        /// What went wrong.
        reason: String,
    },
}

/// One watched connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connector {
    /// Its tenant.
    pub tenant_id: String,
    /// Its id, unique within the tenant.
    pub id: String,
    /// Its display name (in notifications).
    pub name: String,
    /// How long it may go without a heartbeat before it is stale.
    pub window_seconds: u32,
    /// When it was first registered.
    pub registered_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// Its status.
    #[serde(with = "status_text")]
    pub status: ConnectorStatus,
    /// When the status last changed (registration, if never).
    pub status_changed_at: DateTime<Utc>,
    /// How many times the status flipped.
    pub generation: u64,
    /// The generation whose notification was last queued.
    pub notified: u64,
    /// Until when a monitor holds the claim on its pending notification (`None` when no claim
    /// is held); once past, another monitor may claim it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
}

impl Connector {
    /// Whether it is healthy but its window passed at `now` without a heartbeat.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        let since = self.last_heartbeat.unwrap_or(self.registered_at);
        self.status == ConnectorStatus::Healthy
            && now - since > chrono::Duration::seconds(i64::from(self.window_seconds))
    }
}

/// `healthy` / `stale`.
pub(crate) mod status_text {
    use aisoc_notify_core::freshness::ConnectorStatus;

    pub(crate) fn label(status: ConnectorStatus) -> &'static str {
        match status {
            ConnectorStatus::Healthy => "healthy",
            ConnectorStatus::Stale => "stale",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<ConnectorStatus> {
        match text {
            "healthy" => Some(ConnectorStatus::Healthy),
            "stale" => Some(ConnectorStatus::Stale),
            _ => None,
        }
    }

    pub(crate) fn serialize<S: serde::Serializer>(
        status: &ConnectorStatus,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(label(*status))
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<ConnectorStatus, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom("status is healthy or stale"))
    }
}

/// Connectors and their health, shared by every replica on the same backend.
#[async_trait]
pub trait ConnectorStore: Send + Sync {
    /// Registers a connector (healthy, its window starting now) or changes its name and
    /// window, keeping its heartbeat and status.
    async fn upsert(
        &self,
        tenant_id: &str,
        id: &str,
        name: &str,
        window_seconds: u32,
        now: DateTime<Utc>,
    ) -> Result<Connector, ConnectorStoreError>;

    /// Records a heartbeat; a stale connector becomes healthy (one flip). `None` when the
    /// tenant has no such connector.
    async fn heartbeat(
        &self,
        tenant_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Connector>, ConnectorStoreError>;

    /// The tenant's connectors, by id.
    async fn list(&self, tenant_id: &str) -> Result<Vec<Connector>, ConnectorStoreError>;

    /// Removes a connector; whether there was one.
    async fn remove(&self, tenant_id: &str, id: &str) -> Result<bool, ConnectorStoreError>;

    /// Flips every [overdue](Connector::overdue) connector, of every tenant, to stale; how
    /// many flipped.
    async fn mark_stale(&self, now: DateTime<Utc>) -> Result<usize, ConnectorStoreError>;

    /// Claims, until `now + lease`, every connector whose flips were not notified yet and
    /// that no unexpired claim holds (one whose `claimed_until` is after `now`), returning each
    /// with `claimed_until` set. `notified` is left as it was: only
    /// [`acknowledge`](Self::acknowledge) raises it, so a claim that is neither acknowledged
    /// nor released lapses and the flip is claimed again. A connector is claimed by one caller
    /// at a time.
    async fn claim_changes(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Vec<Connector>, ConnectorStoreError>;

    /// Records that the claimed generation's notification was queued (or needed none):
    /// `notified` becomes at least `claimed.generation`, and the lease ends if it is still
    /// this claim's. Applies even when the lease lapsed meanwhile, and not to a connector
    /// removed and registered again since.
    async fn acknowledge(&self, claimed: &Connector) -> Result<(), ConnectorStoreError>;

    /// Gives a claim back (its notification could not be queued) so the next check claims it
    /// again, unless the lease already lapsed and another claim holds it.
    async fn release(&self, claimed: &Connector) -> Result<(), ConnectorStoreError>;

    /// Where the connectors are, for logs.
    fn describe(&self) -> String;
}
