//! What an idempotency key costs in memory, measured: a counting global allocator records the
//! bytes the memory store takes when it is made for 100,000 keys, and what 100,000 requests
//! that claim and complete their keys add to that. The store must take at most
//! [`MAX_BYTES_PER_KEY`] a key, so its default million stay under about 48 MB, and take all of
//! it at once, so traffic does not grow it: the general-purpose cache of an earlier version
//! held about 800 bytes a key, which the load benchmark saw as resident memory growing by
//! ~450 MB in a minute of signed requests, and the bounded one after it ~90 bytes a key that
//! were taken as the keys came.
//!
//! One test in this binary, so nothing else allocates while it measures.

use std::time::Duration;

use aisoc_inbox::limits::{ClaimOutcome, IdempotencyKey, IdempotencyStore, MemoryIdempotencyStore};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const KEYS: u64 = 100_000;
/// The bound per key: the 16-byte key and 16-byte state plus the table's index (one and a half
/// entries of 8 bytes a key).
const MAX_BYTES_PER_KEY: u64 = 48;

#[tokio::test]
async fn a_key_costs_under_48_bytes_all_taken_when_the_store_is_made() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let keys: Vec<IdempotencyKey> = (0..KEYS)
        .map(|n| IdempotencyKey::new("acme", "token-1", &format!("delivery-{n}")))
        .collect();
    let before = dhat::HeapStats::get().curr_bytes as u64;
    let store = MemoryIdempotencyStore::new(Duration::from_secs(3600)).with_capacity(KEYS);
    let made = dhat::HeapStats::get().curr_bytes as u64;
    for key in &keys {
        let ClaimOutcome::Claimed(claim) = store.claim(key, Duration::from_secs(30)).await.unwrap()
        else {
            panic!("a fresh key is claimed");
        };
        assert!(
            store
                .complete(&claim, Duration::from_secs(3600))
                .await
                .unwrap()
        );
    }
    let after = dhat::HeapStats::get().curr_bytes as u64;
    let held = after - before;
    // A few hundred bytes are the random generator's thread state, made at the first claim.
    assert!(
        after - made < 4096,
        "{} bytes taken by {KEYS} keys beyond what the store was made with",
        after - made
    );
    assert_eq!(store.key_count().await, KEYS, "every key is remembered");
    for key in keys.iter().step_by(997) {
        assert_eq!(
            store.claim(key, Duration::from_secs(30)).await.unwrap(),
            ClaimOutcome::Done,
            "a completed key is answered done"
        );
    }
    let per_key = held / KEYS;
    eprintln!("{KEYS} keys: {held} bytes held, {per_key} bytes a key");
    assert!(
        per_key <= MAX_BYTES_PER_KEY,
        "{per_key} bytes a key (bound {MAX_BYTES_PER_KEY})"
    );
}
