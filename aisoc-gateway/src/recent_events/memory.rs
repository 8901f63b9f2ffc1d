//! The recent-events index in this process, for a gateway without a database.
//!
//! Bounded twice: at most `per_tenant` events per tenant, and at most [`MAX_TENANTS`] tenants;
//! when a new tenant would exceed that, the tenant that has been quiet longest is dropped. The
//! index is a convenience for chat, so forgetting is the right failure, never refusing events.
//!
//! It keeps what the inbox accepted as the payload's bytes and reads them only when chat asks
//! ([`RecentEventIndex::record_accepted`]): under load a tenant's newest 500 change every few
//! milliseconds, so reading each event as it came in was a third of an NDJSON request's CPU
//! for entries nobody looked at. A payload over [`MAX_UNREAD_BYTES`] is read at once, so an
//! entry never holds more than a read one may. The payload is the sink's own `Bytes`, shared
//! with the request's chunk of mapped events: a chunk is sized for its request's events and
//! at most 64 KiB, and only a batch's tail is indexed, so a tenant's entries pin at most about
//! one chunk beyond what they hold.
//!
//! Message ids are remembered as keyed 64-bit hashes (`RandomState`, a new key per process),
//! not copies: two of a tenant's newest 500 ids that collide would index only the first, a
//! chance under 10^-14 that nobody outside the process can steer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use aisoc_inbox::keyed_hash::KeyedHashes;
use aisoc_inbox::sink::SinkEvent;
use aisoc_notify_core::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Accepted, RecentEvent, RecentEventIndex, RecentEventsError, is_object};

/// The most tenants the in-memory index holds.
pub const MAX_TENANTS: usize = 1024;

/// The largest payload kept unread; about what a read entry's clipped fields may hold.
pub const MAX_UNREAD_BYTES: usize = 4096;

/// The newest events per tenant, in memory (oldest first in each queue).
#[derive(Debug)]
pub struct MemoryRecentEvents {
    per_tenant: usize,
    tenants: Mutex<HashMap<String, TenantEvents>>,
    /// Keys the message-id hashes.
    ids: RandomState,
}

/// One tenant's newest events, oldest first, each with its message id's hash, and the set of
/// those hashes (so a repeat is found without reading the queue: the index is written on every
/// accepted request). An id is hashed once, when it comes in: the set and the queue both keep
/// the hash, and the set uses it as it is.
#[derive(Debug, Default)]
struct TenantEvents {
    queue: VecDeque<(u64, Entry)>,
    msg_ids: HashSet<u64, KeyedHashes>,
}

/// One kept event.
#[derive(Debug, Clone)]
enum Entry {
    /// Read when it was indexed. Boxed: an unread entry is a third of a read one's size, and
    /// entries are moved into and out of the queue on every indexed event.
    Read(Box<RecentEvent>),
    /// Read when asked for.
    Unread(Unread),
}

/// An accepted event as the sink took it.
#[derive(Debug, Clone)]
struct Unread {
    template_id: Arc<str>,
    msg_id: String,
    payload: Bytes,
    indexed_at: DateTime<Utc>,
}

impl Entry {
    fn msg_id(&self) -> &str {
        match self {
            Entry::Read(event) => &event.msg_id,
            Entry::Unread(unread) => &unread.msg_id,
        }
    }

    /// When it came in, as far as the index knows without reading it.
    fn seen_at(&self) -> DateTime<Utc> {
        match self {
            Entry::Read(event) => event.received_at,
            Entry::Unread(unread) => unread.indexed_at,
        }
    }

    /// The event; `None` for a payload that does not read as one (logged).
    fn read(&self, tenant_id: &str) -> Option<RecentEvent> {
        match self {
            Entry::Read(event) => Some(RecentEvent::clone(event)),
            Entry::Unread(unread) => {
                let accepted = Accepted {
                    tenant_id,
                    template_id: &unread.template_id,
                    msg_id: &unread.msg_id,
                    payload: &unread.payload,
                };
                RecentEvent::from_payload(accepted, unread.indexed_at)
                    .inspect_err(|error| tracing::warn!(%error, "an indexed event is unreadable"))
                    .ok()
            }
        }
    }
}

impl MemoryRecentEvents {
    /// An empty index keeping `per_tenant` events per tenant (at least one).
    pub fn new(per_tenant: usize) -> Self {
        Self {
            per_tenant: per_tenant.max(1),
            tenants: Mutex::new(HashMap::new()),
            ids: RandomState::new(),
        }
    }

    /// Keeps `entries` (tenant, entry) in order, each message id once per tenant.
    fn insert<'a>(&self, entries: impl IntoIterator<Item = (&'a str, Entry)>) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        for (tenant_id, entry) in entries {
            if !tenants.contains_key(tenant_id) && tenants.len() >= MAX_TENANTS {
                let quietest = tenants
                    .iter()
                    .min_by_key(|(_, queue)| last_seen(queue))
                    .map(|(tenant, _)| tenant.clone());
                if let Some(quietest) = quietest {
                    tenants.remove(&quietest);
                }
            }
            let kept = match tenants.get_mut(tenant_id) {
                Some(kept) => kept,
                None => tenants.entry(tenant_id.to_owned()).or_default(),
            };
            let id = self.ids.hash_one(entry.msg_id());
            if !kept.msg_ids.insert(id) {
                continue;
            }
            kept.queue.push_back((id, entry));
            while kept.queue.len() > self.per_tenant {
                if let Some((oldest, _)) = kept.queue.pop_front() {
                    kept.msg_ids.remove(&oldest);
                }
            }
        }
    }

    /// `tenant_id`'s entries, newest first, copied out so that they are read without the lock
    /// (a copy shares the payloads).
    fn newest_first(&self, tenant_id: &str) -> Vec<Entry> {
        let tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        tenants
            .get(tenant_id)
            .map(|kept| {
                kept.queue
                    .iter()
                    .rev()
                    .map(|(_, entry)| entry.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn last_seen(events: &TenantEvents) -> Option<DateTime<Utc>> {
    events.queue.back().map(|(_, entry)| entry.seen_at())
}

#[async_trait]
impl RecentEventIndex for MemoryRecentEvents {
    async fn record(&self, events: &[RecentEvent]) -> Result<(), RecentEventsError> {
        self.insert(events.iter().map(|event| {
            (
                event.tenant_id.as_str(),
                Entry::Read(Box::new(event.clone())),
            )
        }));
        Ok(())
    }

    async fn record_accepted(
        &self,
        events: &[SinkEvent],
        now: DateTime<Utc>,
    ) -> Result<(), RecentEventsError> {
        let mut entries = Vec::with_capacity(events.len());
        let mut template: Option<Arc<str>> = None;
        for event in events {
            let entry = if !is_object(&event.payload) {
                tracing::warn!(msg_id = %event.msg_id, "event not indexed for ChatOps: not a JSON object");
                continue;
            } else if event.payload.len() > MAX_UNREAD_BYTES {
                match RecentEvent::from_sink_event(event, now) {
                    Ok(event) => Entry::Read(Box::new(event)),
                    Err(error) => {
                        tracing::warn!(%error, "event not indexed for ChatOps");
                        continue;
                    }
                }
            } else {
                // A request's events share their template: one copy of its name.
                let template_id = match &template {
                    Some(name) if **name == *event.template_id => Arc::clone(name),
                    _ => template
                        .insert(Arc::from(event.template_id.as_str()))
                        .clone(),
                };
                Entry::Unread(Unread {
                    template_id,
                    msg_id: event.msg_id.clone(),
                    payload: event.payload.clone(),
                    indexed_at: now,
                })
            };
            entries.push((event.tenant_id.as_str(), entry));
        }
        self.insert(entries);
        Ok(())
    }

    async fn list(
        &self,
        tenant_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecentEvent>, RecentEventsError> {
        Ok(self
            .newest_first(tenant_id)
            .iter()
            .filter_map(|entry| entry.read(tenant_id))
            .filter(|event| event.received_at >= since)
            .collect())
    }

    async fn find(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<RecentEvent>, RecentEventsError> {
        Ok(self
            .newest_first(tenant_id)
            .iter()
            .filter_map(|entry| entry.read(tenant_id))
            .find(|event| event.event_id == id || event.source_uid.as_deref() == Some(id)))
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
        conformance::accepted_events_read_back(&MemoryRecentEvents::new(conformance::PER_TENANT))
            .await;
    }

    #[tokio::test]
    async fn small_payloads_are_kept_unread_and_large_ones_read_at_once() {
        let index = MemoryRecentEvents::new(10);
        let small = conformance::accepted(&conformance::event("acme", "m1", 1));
        let mut large = conformance::event("acme", "m2", 2);
        large.description = Some("d".repeat(MAX_UNREAD_BYTES));
        let large = conformance::accepted(&large);
        assert!(large.payload.len() > MAX_UNREAD_BYTES);
        let not_an_object = SinkEvent {
            payload: Bytes::from_static(b"[1, 2]"),
            msg_id: "m3".into(),
            ..small.clone()
        };
        index
            .record_accepted(&[small, large, not_an_object], conformance::at(0))
            .await
            .unwrap();
        let tenants = index.tenants.lock().unwrap();
        let kinds: Vec<_> = tenants["acme"]
            .queue
            .iter()
            .map(|(_, entry)| matches!(entry, Entry::Unread(_)))
            .collect();
        assert_eq!(kinds, [true, false], "the array is not indexed at all");
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
