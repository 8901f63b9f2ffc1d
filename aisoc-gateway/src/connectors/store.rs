//! Where connectors and their health live, and the contract every store keeps.
//!
//! A connector's `generation` counts its status flips and `notified` is the generation whose
//! `connector_health` notification was last queued. Every flip is a conditional change
//! (healthy→stale only while healthy and overdue, stale→healthy only while stale), so of any
//! number of monitors exactly one makes it; and a notification is queued only by whoever
//! [claims](ConnectorStore::claim_changes) the generation, so exactly one is queued per flip,
//! however many replicas watch the same store, and a restart does not queue it again.

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

    /// Claims every connector whose flips were not notified yet (sets `notified` to its
    /// `generation`), returning each as it was claimed with `notified` still the previous
    /// value. A connector is claimed by one caller only.
    async fn claim_changes(&self) -> Result<Vec<Connector>, ConnectorStoreError>;

    /// Gives a claim back (its notification could not be queued), unless the connector moved
    /// on meanwhile.
    async fn release(&self, claimed: &Connector) -> Result<(), ConnectorStoreError>;

    /// Where the connectors are, for logs.
    fn describe(&self) -> String;
}
