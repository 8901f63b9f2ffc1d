//! The message ids stored recently, so a repeat is acknowledged without being stored twice: what
//! a JetStream stream's duplicate window does for the NATS sink.
//!
//! An id is remembered for the window (24 h by default, the idempotency TTL) or until
//! `max_ids` newer ones push it out, whichever comes first; the count is what bounds memory.
//! Ids are kept as 128-bit hashes under two keys chosen per process, which no sender can aim a
//! collision at, in a [`FifoTable`] that takes its memory when the store opens (36 bytes an id:
//! the default million take 36 MB from the start, and traffic does not grow it).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use crate::fifo_table::FifoTable;
use crate::keyed_hash::KeyedHashes;

/// A message id's hash.
pub(super) type IdHash = u128;

/// A set of [`IdHash`]es: they are keyed hashes already, so the set uses their low 64 bits as
/// they are instead of hashing them again.
pub(super) type IdSet = HashSet<IdHash, KeyedHashes>;

pub(super) struct RecentIds {
    keys: (RandomState, RandomState),
    /// Each id with the time it was stored.
    table: FifoTable<i64, KeyedHashes>,
    window_ms: i64,
}

impl RecentIds {
    /// Takes the memory for `max_ids` ids now (36 bytes each, see [`FifoTable`]).
    pub(super) fn new(max_ids: usize, window: Duration) -> Self {
        Self {
            keys: (RandomState::new(), RandomState::new()),
            table: FifoTable::new(max_ids, KeyedHashes::default()),
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// The hash `msg_id` is remembered by.
    pub(super) fn id(&self, msg_id: &str) -> IdHash {
        (u128::from(self.keys.0.hash_one(msg_id)) << 64) | u128::from(self.keys.1.hash_one(msg_id))
    }

    pub(super) fn contains(&self, id: IdHash) -> bool {
        self.table.get(id).is_some()
    }

    /// Whether an id stored at `at_ms` is still inside the window at `now_ms`.
    pub(super) fn in_window(&self, at_ms: i64, now_ms: i64) -> bool {
        self.table.capacity() > 0 && at_ms > now_ms.saturating_sub(self.window_ms)
    }

    /// Forgets the ids stored before the window.
    pub(super) fn expire(&mut self, now_ms: i64) {
        let oldest_kept = now_ms.saturating_sub(self.window_ms);
        self.table.pop_front_while(|&at| at <= oldest_kept);
    }

    /// Reads ahead what looking up `ids`, then remembering `pushes` new ids, will read (see
    /// [`FifoTable::prefetch`]): call it before a batch of lookups or pushes.
    pub(super) fn prefetch(&self, ids: impl IntoIterator<Item = IdHash>, pushes: usize) {
        self.table.prefetch(ids, pushes);
    }

    /// Remembers `id` as stored at `at_ms` (no earlier than the ids before it); the oldest id
    /// makes room when `max_ids` are remembered.
    pub(super) fn push(&mut self, id: IdHash, at_ms: i64) {
        self.table.insert(id, at_ms);
    }

    /// How many ids are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_leave_the_window_by_age_or_by_count() {
        let mut recent = RecentIds::new(2, Duration::from_secs(60));
        let (a, b, c) = (recent.id("a"), recent.id("b"), recent.id("c"));
        assert_ne!(a, b);
        recent.push(a, 0);
        recent.push(b, 30_000);
        assert!(recent.contains(a) && recent.contains(b));
        recent.expire(60_000);
        assert!(!recent.contains(a), "a minute old");
        assert!(recent.contains(b));
        recent.push(c, 61_000);
        recent.push(a, 62_000);
        assert!(!recent.contains(b), "pushed out by two newer ids");
        assert_eq!(recent.len(), 2);
    }
}
