//! A fixed-capacity table of 128-bit keys, the oldest pushed out first, whose memory is taken
//! whole when it is made: what the inbox's two duplicate windows (the file store's recent
//! message ids and the memory idempotency store's keys) are built on.
//!
//! Why not a general-purpose cache: a duplicate window remembers the last N keys by age, not
//! by how often they are asked for, and the two windows are what in the gateway grows with
//! the traffic. A cache that grows into its bound made the gateway's resident memory
//! climb for the first million requests (~150 MB over a minute of load, see
//! `benches/README.md`); this table writes every page it owns at creation, so resident memory
//! does not move with the traffic, and a host that cannot spare the window fails at start, not
//! an hour into a busy day. It also costs less: a key's slot is the key and its value (24 or
//! 32 bytes here) plus 12 bytes of index, against ~50-90 bytes in the structures it replaced.
//!
//! Layout: the slots are a ring in insertion order; the index is an open-addressing table
//! (linear probing, at most two thirds full, deletion by backward shift) of slot positions,
//! each with 32 bits of its key's hash, so a probe compares the hash bits beside it and reads a
//! slot (a cache miss in a table of many megabytes) only when they match. A key inserted
//! again, or removed, leaves its old slot behind as stale (the index no longer points at it);
//! stale slots are skipped when they reach the front, and count against the capacity until
//! then.

use std::hash::BuildHasher;

/// A slot position that is no slot: the index entry is free.
const EMPTY: u32 = u32::MAX;

/// The most keys a table holds: its index (one and a half entries a key) stays within `u32`.
const MAX_CAPACITY: usize = (u32::MAX / 2) as usize;

/// An index entry: a slot's position and the high 32 bits of its key's hash, which also say
/// where in the index the key belongs.
#[derive(Clone, Copy)]
struct Entry {
    slot: u32,
    hash: u32,
}

const FREE: Entry = Entry {
    slot: EMPTY,
    hash: 0,
};

#[derive(Clone, Copy)]
struct Slot<V> {
    /// The key as two halves: a `u128` would align the slot to 16 bytes.
    key: [u64; 2],
    value: V,
}

fn halves(key: u128) -> [u64; 2] {
    [(key >> 64) as u64, key as u64]
}

fn whole([high, low]: [u64; 2]) -> u128 {
    (u128::from(high) << 64) | u128::from(low)
}

/// At most `capacity` keys with a `V` each, in the order they were inserted.
pub(crate) struct FifoTable<V, S> {
    slots: Box<[Slot<V>]>,
    index: Box<[Entry]>,
    /// The position of the oldest slot in use.
    head: usize,
    /// Slots in use, stale ones included.
    used: usize,
    /// Keys the index holds.
    live: usize,
    hasher: S,
}

impl<V: Copy + Default, S: BuildHasher> FifoTable<V, S> {
    /// A table for `capacity` keys (at most two billion), all its memory written now.
    /// `hasher` places keys in the index: keyed, unless the keys are keyed hashes already.
    pub(crate) fn new(capacity: usize, hasher: S) -> Self {
        let capacity = capacity.min(MAX_CAPACITY);
        let index_len = capacity + capacity / 2 + 1;
        // A filler that is not all zeros: a zeroed allocation would be mapped lazily, and the
        // point is to take the memory now.
        let filler = Slot {
            key: [u64::MAX; 2],
            value: V::default(),
        };
        Self {
            slots: vec![filler; capacity].into_boxed_slice(),
            index: vec![FREE; index_len].into_boxed_slice(),
            head: 0,
            used: 0,
            live: 0,
            hasher,
        }
    }

    /// How many keys it can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many keys it holds.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The bytes the table took when it was made.
    #[cfg(test)]
    pub(crate) fn reserved_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots) + std::mem::size_of_val(&*self.index)
    }

    pub(crate) fn get(&self, key: u128) -> Option<&V> {
        let slot = self.index[self.find(key)?].slot;
        Some(&self.slots[slot as usize].value)
    }

    pub(crate) fn get_mut(&mut self, key: u128) -> Option<&mut V> {
        let slot = self.index[self.find(key)?].slot;
        Some(&mut self.slots[slot as usize].value)
    }

    /// Inserts `key` as the newest key (moving it there if it was held) and returns the key
    /// pushed out to make room, if one was. With no capacity, nothing is kept.
    pub(crate) fn insert(&mut self, key: u128, value: V) -> Option<(u128, V)> {
        if self.capacity() == 0 {
            return None;
        }
        self.remove(key);
        // One slot freed is room enough; a stale one pushes out nobody.
        let evicted = if self.used == self.capacity() {
            self.pop_front()
        } else {
            None
        };
        let position = (self.head + self.used) % self.capacity();
        self.slots[position] = Slot {
            key: halves(key),
            value,
        };
        self.used += 1;
        let hash = self.hash(key);
        let mut at = self.ideal(hash);
        while self.index[at].slot != EMPTY {
            at = self.next(at);
        }
        self.index[at] = Entry {
            slot: u32::try_from(position).expect("the capacity fits in u32"),
            hash,
        };
        self.live += 1;
        evicted
    }

    /// Reads ahead the index entries that looking up or inserting `keys` will read, and those of
    /// the `inserts` oldest keys that as many inserts push out of a full table. Changes nothing.
    ///
    /// Why: in a table of tens of megabytes each of those entries is a cache miss, and a lookup
    /// waits for its miss before the next lookup starts; these reads do not depend on one
    /// another, so the processor has many of them in flight at once, and the lookups that follow
    /// find the entries in cache. For a request of 100 keyed events this took the file store's
    /// duplicate checks from about a tenth of its writer's time to a few percent.
    pub(crate) fn prefetch(&self, keys: impl IntoIterator<Item = u128>, inserts: usize) {
        if self.capacity() == 0 {
            return;
        }
        let mut read = 0u32;
        for key in keys {
            read = read.wrapping_add(self.index[self.ideal(self.hash(key))].slot);
        }
        let free = self.capacity() - self.used;
        for ahead in 0..inserts.saturating_sub(free).min(self.used) {
            let front = self.slots[(self.head + ahead) % self.capacity()];
            read = read.wrapping_add(self.index[self.ideal(self.hash(whole(front.key)))].slot);
        }
        std::hint::black_box(read);
    }

    /// Forgets `key`; its value, if it was held.
    pub(crate) fn remove(&mut self, key: u128) -> Option<V> {
        let at = self.find(key)?;
        let value = self.slots[self.index[at].slot as usize].value;
        self.unindex(at);
        Some(value)
    }

    /// Pushes out the oldest keys while `expired` says so of them.
    pub(crate) fn pop_front_while(&mut self, mut expired: impl FnMut(&V) -> bool) {
        while self.used > 0 {
            let front = self.slots[self.head];
            let at = self.index_of(whole(front.key), self.head);
            if at.is_some() && !expired(&front.value) {
                return;
            }
            self.free_front(at);
        }
    }

    /// Frees the oldest slot; its key and value if it was not stale.
    fn pop_front(&mut self) -> Option<(u128, V)> {
        let front = self.slots[self.head];
        let key = whole(front.key);
        let at = self.index_of(key, self.head);
        self.free_front(at);
        at.map(|_| (key, front.value))
    }

    /// Frees the oldest slot, found in the index at `at` unless it is stale.
    fn free_front(&mut self, at: Option<usize>) {
        if let Some(at) = at {
            self.unindex(at);
        }
        self.head = (self.head + 1) % self.capacity();
        self.used -= 1;
    }

    /// The high 32 bits of `key`'s hash.
    fn hash(&self, key: u128) -> u32 {
        (self.hasher.hash_one(key) >> 32) as u32
    }

    /// Where in the index a key with `hash` belongs: the hash scaled to the index's length.
    fn ideal(&self, hash: u32) -> usize {
        ((u64::from(hash) * self.index.len() as u64) >> 32) as usize
    }

    fn next(&self, at: usize) -> usize {
        if at + 1 == self.index.len() {
            0
        } else {
            at + 1
        }
    }

    /// How far `to` is after `from`, going round the index.
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.index.len() - from
        }
    }

    /// Where in the index `key` is.
    fn find(&self, key: u128) -> Option<usize> {
        let wanted = halves(key);
        let hash = self.hash(key);
        let mut at = self.ideal(hash);
        loop {
            let entry = self.index[at];
            if entry.slot == EMPTY {
                return None;
            }
            if entry.hash == hash && self.slots[entry.slot as usize].key == wanted {
                return Some(at);
            }
            at = self.next(at);
        }
    }

    /// Where in the index `key` is, if it points at `slot` (else that slot is stale).
    fn index_of(&self, key: u128, slot: usize) -> Option<usize> {
        self.find(key)
            .filter(|&at| self.index[at].slot as usize == slot)
    }

    /// Empties index entry `at`, moving later entries of its probe run back into the gap so
    /// every key stays reachable from its ideal position.
    fn unindex(&mut self, at: usize) {
        let mut hole = at;
        let mut next = at;
        loop {
            next = self.next(next);
            let entry = self.index[next];
            if entry.slot == EMPTY {
                break;
            }
            // Moved back when the hole lies between its ideal position and where it is.
            let ideal = self.ideal(entry.hash);
            if self.distance(ideal, next) >= self.distance(hole, next) {
                self.index[hole] = entry;
                hole = next;
            }
        }
        self.index[hole] = FREE;
        self.live -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};
    use std::hash::{BuildHasherDefault, DefaultHasher, RandomState};

    use super::*;

    #[test]
    fn the_oldest_key_is_pushed_out_and_reported() {
        let mut table = FifoTable::<i64, _>::new(3, RandomState::new());
        for key in 1..=3 {
            assert_eq!(table.insert(key, key as i64 * 10), None);
        }
        assert_eq!(table.insert(4, 40), Some((1, 10)));
        assert_eq!(table.get(1), None);
        assert_eq!(table.get(4), Some(&40));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn a_key_inserted_again_becomes_the_newest_and_its_old_slot_is_skipped() {
        let mut table = FifoTable::<i64, _>::new(3, RandomState::new());
        table.insert(1, 1);
        table.insert(2, 2);
        table.insert(1, 11);
        assert_eq!(table.len(), 2);
        // Slots: 1 (stale), 2, 1. Making room frees the stale slot, which pushes out nobody.
        assert_eq!(table.insert(3, 3), None);
        assert_eq!(table.insert(4, 4), Some((2, 2)));
        assert_eq!(table.get(1), Some(&11));
        table.remove(1);
        table.pop_front_while(|_| false);
        assert_eq!(
            table.get(3),
            Some(&3),
            "a stale front does not stop the scan"
        );
    }

    #[test]
    fn the_front_is_popped_while_it_is_expired() {
        let mut table = FifoTable::<i64, _>::new(8, RandomState::new());
        for at in [10, 20, 30, 40] {
            table.insert(at as u128, at);
        }
        table.pop_front_while(|at| *at < 25);
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(20), None);
        assert_eq!(table.get(30), Some(&30));
    }

    #[test]
    fn no_capacity_keeps_nothing() {
        let mut table = FifoTable::<i64, _>::new(0, RandomState::new());
        assert_eq!(table.insert(1, 1), None);
        assert_eq!(table.get(1), None);
        table.prefetch([1], 5);
        table.pop_front_while(|_| true);
    }

    #[test]
    fn a_key_of_capacity_takes_36_bytes_with_an_eight_byte_value() {
        // 24 bytes of slot, one and a half index entries of 8.
        let table = FifoTable::<i64, RandomState>::new(1 << 20, RandomState::new());
        assert!(
            table.reserved_bytes() <= (36 << 20) + 8,
            "{}",
            table.reserved_bytes()
        );
    }

    /// Every key has one of four hashes (one at the index's last position), so probe runs are
    /// long, share their hash bits and wrap around the index: a random walk of inserts,
    /// removals and reads ahead checked against a map and a queue.
    #[test]
    fn colliding_keys_stay_findable_through_inserts_evictions_and_removals() {
        #[derive(Default)]
        struct FourBuckets(u64);
        impl std::hash::Hasher for FourBuckets {
            fn finish(&self) -> u64 {
                [0, 0x8000_0000, 0xF000_0000, 0xFFFF_FFFF][(self.0 % 4) as usize] << 32
            }
            fn write(&mut self, bytes: &[u8]) {
                for byte in bytes {
                    self.0 = self.0.wrapping_mul(31).wrapping_add(u64::from(*byte));
                }
            }
        }
        let capacity = 16;
        let mut table =
            FifoTable::<u64, _>::new(capacity, BuildHasherDefault::<FourBuckets>::default());
        let mut model: HashMap<u128, u64> = HashMap::new();
        let mut order: VecDeque<u128> = VecDeque::new();
        let mut state = DefaultHasher::new();
        for step in 0u64..20_000 {
            std::hash::Hasher::write_u64(&mut state, step);
            let roll = std::hash::Hasher::finish(&state);
            let key = u128::from(roll % 40);
            // Reading ahead, for any number of inserts (past the capacity too), changes nothing
            // and reads nothing out of range, wherever the ring's head is.
            table.prefetch([key, key + 1], (roll % 40) as usize);
            if roll.is_multiple_of(5) {
                assert_eq!(table.remove(key), model.remove(&key));
                order.retain(|k| *k != key);
            } else {
                let evicted = table.insert(key, step);
                order.retain(|k| *k != key);
                model.insert(key, step);
                order.push_back(key);
                // Whatever is pushed out is the oldest key held, with its value.
                if let Some((old, value)) = evicted {
                    assert_eq!(order.pop_front(), Some(old));
                    assert_eq!(model.remove(&old), Some(value));
                }
            }
            assert_eq!(table.len(), model.len());
            for (key, value) in &model {
                assert_eq!(table.get(*key), Some(value), "step {step}");
            }
            assert!(table.len() <= capacity);
        }
    }
}
