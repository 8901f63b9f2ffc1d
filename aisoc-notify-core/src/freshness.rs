//! Connector freshness: a connector that has not sent a heartbeat within its window is `stale`.
//!
//! [`FreshnessMonitor::check`] flips connectors between `healthy` and `stale` and returns one
//! [`StatusChange`] per flip, never one per check, so a connector that stays stale for a day
//! produces one `connector_health` notification, and another when it recovers. A heartbeat
//! recovers a stale connector at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::notification::{EventType, Notification, Severity};
use crate::routing::{DispatchReport, NotificationRouter};

/// A connector's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorStatus {
    /// Heartbeats arrive within the window.
    Healthy,
    /// No heartbeat within the window.
    Stale,
}

/// One flip of a connector's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The connector.
    pub connector_id: String,
    /// Its display name.
    pub name: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The new status.
    pub status: ConnectorStatus,
    /// The last heartbeat, if any.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// When the flip was noticed.
    pub at: DateTime<Utc>,
}

impl StatusChange {
    /// The `connector_health` notification for this change.
    pub fn notification(&self) -> Notification {
        let (severity, title) = match self.status {
            ConnectorStatus::Stale => (Severity::High, format!("Connector {} is stale", self.name)),
            ConnectorStatus::Healthy => (
                Severity::Info,
                format!("Connector {} is healthy again", self.name),
            ),
        };
        let last = self
            .last_heartbeat
            .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
        Notification::new(&self.tenant_id, EventType::ConnectorHealth, severity, title)
            .with_fact("Connector", &self.connector_id)
            .with_fact("Last heartbeat", last)
            .with_dedupe_key(format!(
                "connector-health:{}:{:?}",
                self.connector_id, self.status
            ))
            .with_created_at(self.at)
    }
}

#[derive(Debug, Clone)]
struct Connector {
    name: String,
    tenant_id: String,
    window: chrono::Duration,
    registered_at: DateTime<Utc>,
    last_heartbeat: Option<DateTime<Utc>>,
    status: ConnectorStatus,
}

/// Tracks connectors' heartbeats.
#[derive(Debug)]
pub struct FreshnessMonitor {
    connectors: Mutex<HashMap<String, Connector>>,
    clock: Arc<dyn Clock>,
}

impl Default for FreshnessMonitor {
    fn default() -> Self {
        Self::new()
    }
}

impl FreshnessMonitor {
    /// A monitor on the system clock.
    pub fn new() -> Self {
        Self {
            connectors: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Connector>> {
        self.connectors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching a connector, healthy until its window passes without a heartbeat.
    pub fn register(&self, connector_id: &str, name: &str, tenant_id: &str, window: Duration) {
        let now = self.clock.now();
        self.lock().insert(
            connector_id.to_owned(),
            Connector {
                name: name.to_owned(),
                tenant_id: tenant_id.to_owned(),
                window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX),
                registered_at: now,
                last_heartbeat: None,
                status: ConnectorStatus::Healthy,
            },
        );
    }

    /// Records a heartbeat; returns the change when it revives a stale connector.
    pub fn heartbeat(&self, connector_id: &str) -> Option<StatusChange> {
        let now = self.clock.now();
        let mut connectors = self.lock();
        let connector = connectors.get_mut(connector_id)?;
        connector.last_heartbeat = Some(now);
        if connector.status == ConnectorStatus::Stale {
            connector.status = ConnectorStatus::Healthy;
            return Some(StatusChange {
                connector_id: connector_id.to_owned(),
                name: connector.name.clone(),
                tenant_id: connector.tenant_id.clone(),
                status: ConnectorStatus::Healthy,
                last_heartbeat: Some(now),
                at: now,
            });
        }
        None
    }

    /// A connector's current status.
    pub fn status(&self, connector_id: &str) -> Option<ConnectorStatus> {
        self.lock().get(connector_id).map(|c| c.status)
    }

    /// Flips connectors whose window passed without a heartbeat; one change per flip.
    pub fn check(&self) -> Vec<StatusChange> {
        let now = self.clock.now();
        let mut changes = Vec::new();
        for (id, connector) in self.lock().iter_mut() {
            let since = connector.last_heartbeat.unwrap_or(connector.registered_at);
            let stale = now - since > connector.window;
            if stale && connector.status == ConnectorStatus::Healthy {
                connector.status = ConnectorStatus::Stale;
                changes.push(StatusChange {
                    connector_id: id.clone(),
                    name: connector.name.clone(),
                    tenant_id: connector.tenant_id.clone(),
                    status: ConnectorStatus::Stale,
                    last_heartbeat: connector.last_heartbeat,
                    at: now,
                });
            }
        }
        changes.sort_by(|a, b| a.connector_id.cmp(&b.connector_id));
        changes
    }

    /// Checks and dispatches one `connector_health` notification per change.
    pub async fn check_and_notify(&self, router: &NotificationRouter) -> Vec<DispatchReport> {
        let mut reports = Vec::new();
        for change in self.check() {
            reports.push(router.dispatch(&change.notification()).await);
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn one_change_per_flip_not_per_check() {
        let clock = Arc::new(ManualClock::at_unix(1_790_000_000));
        let monitor = FreshnessMonitor::new().with_clock(clock.clone());
        monitor.register("okta", "Okta logs", "acme", Duration::from_secs(300));
        monitor.register("edr", "EDR", "acme", Duration::from_secs(600));

        clock.advance(Duration::from_secs(200));
        assert!(monitor.check().is_empty());
        assert_eq!(
            monitor.heartbeat("okta"),
            None,
            "a heartbeat while healthy is no change"
        );

        clock.advance(Duration::from_secs(250));
        monitor.heartbeat("okta");
        clock.advance(Duration::from_secs(200));
        let changes = monitor.check();
        assert_eq!(
            changes.len(),
            1,
            "EDR went stale; Okta's heartbeat keeps it healthy"
        );
        assert_eq!(changes[0].connector_id, "edr");
        assert_eq!(changes[0].status, ConnectorStatus::Stale);
        for _ in 0..5 {
            clock.advance(Duration::from_secs(60));
            let again: Vec<String> = monitor
                .check()
                .into_iter()
                .map(|c| c.connector_id)
                .collect();
            assert!(
                !again.contains(&"edr".to_owned()),
                "no repeat while it stays stale"
            );
        }
        assert_eq!(
            monitor.status("okta"),
            Some(ConnectorStatus::Stale),
            "okta's window passed meanwhile"
        );

        let recovered = monitor.heartbeat("edr").expect("a heartbeat revives it");
        assert_eq!(recovered.status, ConnectorStatus::Healthy);
        let n = recovered.notification();
        assert_eq!(n.event_type, EventType::ConnectorHealth);
        assert_eq!(n.severity, Severity::Info);
        assert!(monitor.check().is_empty());
    }

    #[test]
    fn stale_notifications_say_which_connector_and_when_it_was_last_seen() {
        let clock = Arc::new(ManualClock::at_unix(1_790_000_000));
        let monitor = FreshnessMonitor::new().with_clock(clock.clone());
        monitor.register("okta", "Okta logs", "acme", Duration::from_secs(60));
        clock.advance(Duration::from_secs(61));
        let n = monitor.check()[0].notification();
        assert_eq!(n.title, "Connector Okta logs is stale");
        assert_eq!(n.severity, Severity::High);
        assert_eq!(n.facts[1].value, "never");
        assert_eq!(n.tenant_id, "acme");
    }
}
