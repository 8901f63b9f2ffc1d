//! The recent-events index in this process, for a gateway without a database.
//!
//! Bounded twice: at most `per_tenant` events per tenant, and at most [`MAX_TENANTS`] tenants;
//! when a new tenant would exceed that, the tenant that has been quiet longest is dropped. The
//! index is a convenience for chat, so forgetting is the right failure, never refusing events.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use aisoc_notify_core::async_trait;
use chrono::{DateTime, Utc};

use super::{RecentEvent, RecentEventIndex, RecentEventsError};

/// The most tenants the in-memory index holds.
pub const MAX_TENANTS: usize = 1024;

/// The newest events per tenant, in memory (oldest first in each queue).
#[derive(Debug)]
pub struct MemoryRecentEvents {
    per_tenant: usize,
    tenants: Mutex<HashMap<String, TenantEvents>>,
}

/// One tenant's newest events, oldest first, and their message ids (so a repeat is found
/// without reading the queue: the index is written on every accepted request).
#[derive(Debug, Default)]
struct TenantEvents {
    queue: VecDeque<RecentEvent>,
    msg_ids: HashSet<String>,
}

impl TenantEvents {
    fn iter(&self) -> std::collections::vec_deque::Iter<'_, RecentEvent> {
        self.queue.iter()
    }
}

impl MemoryRecentEvents {
    /// An empty index keeping `per_tenant` events per tenant (at least one).
    pub fn new(per_tenant: usize) -> Self {
        Self {
            per_tenant: per_tenant.max(1),
            tenants: Mutex::new(HashMap::new()),
        }
    }
}

fn last_seen(events: &TenantEvents) -> Option<DateTime<Utc>> {
    events.queue.back().map(|event| event.received_at)
}

#[async_trait]
impl RecentEventIndex for MemoryRecentEvents {
    async fn record(&self, events: &[RecentEvent]) -> Result<(), RecentEventsError> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            if !tenants.contains_key(&event.tenant_id) && tenants.len() >= MAX_TENANTS {
                let quietest = tenants
                    .iter()
                    .min_by_key(|(_, queue)| last_seen(queue))
                    .map(|(tenant, _)| tenant.clone());
                if let Some(quietest) = quietest {
                    tenants.remove(&quietest);
                }
            }
            let kept = match tenants.get_mut(&event.tenant_id) {
                Some(kept) => kept,
                None => tenants.entry(event.tenant_id.clone()).or_default(),
            };
            if !kept.msg_ids.insert(event.msg_id.clone()) {
                continue;
            }
            kept.queue.push_back(event.clone());
            while kept.queue.len() > self.per_tenant {
                if let Some(oldest) = kept.queue.pop_front() {
                    kept.msg_ids.remove(&oldest.msg_id);
                }
            }
        }
        Ok(())
    }

    async fn list(
        &self,
        tenant_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecentEvent>, RecentEventsError> {
        let tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tenants
            .get(tenant_id)
            .map(|queue| {
                queue
                    .iter()
                    .rev()
                    .filter(|event| event.received_at >= since)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn find(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<RecentEvent>, RecentEventsError> {
        let tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tenants.get(tenant_id).and_then(|queue| {
            queue
                .iter()
                .rev()
                .find(|event| event.event_id == id || event.source_uid.as_deref() == Some(id))
                .cloned()
        }))
    }

    fn per_tenant(&self) -> usize {
        self.per_tenant
    }

    fn describe(&self) -> String {
        format!("in memory, newest {} per tenant", self.per_tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    #[tokio::test]
    async fn the_memory_index_keeps_the_contract() {
        conformance::newest_kept_once_per_tenant(&MemoryRecentEvents::new(conformance::PER_TENANT))
            .await;
    }

    #[tokio::test]
    async fn the_quietest_tenant_makes_room_for_a_new_one() {
        let index = MemoryRecentEvents::new(2);
        for n in 0..=MAX_TENANTS {
            let mut event = conformance::event(&format!("t{n}"), &format!("m{n}"), n as i64);
            event.event_id = format!("e{n}");
            index.record(&[event]).await.unwrap();
        }
        let tenants = index.tenants.lock().unwrap();
        assert_eq!(tenants.len(), MAX_TENANTS);
        assert!(!tenants.contains_key("t0"), "the quietest tenant went");
        assert!(tenants.contains_key(&format!("t{MAX_TENANTS}")));
    }
}
