//! What an idempotency key costs in memory, measured: a counting global allocator records the
//! bytes the memory store holds after 100,000 requests claimed and completed their keys. The
//! store must keep each within [`MAX_BYTES_PER_KEY`], so its default million keys stay under
//! about 100 MB; the general-purpose cache it replaced held about 800 bytes a key, which the
//! load benchmark saw as resident memory growing by ~450 MB in a minute of signed requests.
//!
//! One test in this binary, so nothing else allocates while it measures.

use std::time::Duration;

use aisoc_inbox::limits::{ClaimOutcome, IdempotencyKey, IdempotencyStore, MemoryIdempotencyStore};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const KEYS: u64 = 100_000;
/// The bound per key: the 16-byte key and 16-byte state plus the cache's own bookkeeping.
const MAX_BYTES_PER_KEY: u64 = 100;

#[tokio::test]
async fn a_remembered_key_costs_less_than_a_hundred_bytes() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let keys: Vec<IdempotencyKey> = (0..KEYS)
        .map(|n| IdempotencyKey::new("acme", "token-1", &format!("delivery-{n}")))
        .collect();
    let before = dhat::HeapStats::get().curr_bytes as u64;
    // Room to spare: the capacity is split between shards, and a shard that is full evicts
    // even while others have room; the slack is counted in the bytes a key.
    let store =
        MemoryIdempotencyStore::new(Duration::from_secs(3600)).with_capacity(KEYS + KEYS / 8);
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
    let held = dhat::HeapStats::get().curr_bytes as u64 - before;
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
