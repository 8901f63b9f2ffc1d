//! Hash sets and tables whose keys are keyed hashes already (of message ids, idempotency keys):
//! they place a key by its own bits instead of hashing it again.
//!
//! Why: the keys come out of a keyed hash (`RandomState`, a new key per process), so they are
//! as well spread and as unpredictable to a sender as a second hashing would make them; SipHash
//! over each of them again was a few percent of a 100-event request in the file store's
//! duplicate window and in the gateway's ChatOps index.
//!
//! ```
//! use std::collections::HashSet;
//! use std::hash::{BuildHasher, RandomState};
//!
//! use aisoc_inbox::keyed_hash::KeyedHashes;
//!
//! let key = RandomState::new();
//! let mut seen: HashSet<u64, KeyedHashes> = HashSet::default();
//! assert!(seen.insert(key.hash_one("msg-1")));
//! assert!(!seen.insert(key.hash_one("msg-1")));
//! ```

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`PassThroughHasher`]s: the `S` of a `HashSet<u64, S>` or `HashSet<u128, S>` of keyed
/// hashes.
pub type KeyedHashes = BuildHasherDefault<PassThroughHasher>;

/// Passes a `u64` key through as its hash, and a `u128` key's low 64 bits.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys of other types; fold them in so it stays a hash.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write_u128(&mut self, hash: u128) {
        self.0 = hash as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_keyed_hash_is_its_own_hash() {
        let hashes = KeyedHashes::default();
        assert_eq!(hashes.hash_one(0xDEAD_BEEF_u64), 0xDEAD_BEEF);
        assert_eq!(hashes.hash_one((7_u128 << 64) | 42), 42);
        assert_ne!(
            hashes.hash_one("a"),
            hashes.hash_one("b"),
            "other keys still hash"
        );
    }
}
