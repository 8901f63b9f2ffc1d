//! Idempotency stores (Redis at 127.0.0.1:6379 and memory) and rate limiting on the real Redis.

use std::sync::Arc;
use std::time::Duration;

use aisoc_inbox::conformance;
use aisoc_inbox::limits::{
    ClaimOutcome, IDEMPOTENCY_LEASE, IDEMPOTENCY_TTL, IdempotencyKey, IdempotencyStore, LimitError,
    MemoryIdempotencyStore, RateLimiter, RedisIdempotencyStore, RedisRateLimiter,
};
use aisoc_notify_core::clock::ManualClock;
use redis::AsyncCommands;

async fn manager() -> redis::aio::ConnectionManager {
    redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection_manager()
        .await
        .expect("Redis on 127.0.0.1:6379")
}

fn redis_store(redis: redis::aio::ConnectionManager) -> RedisIdempotencyStore {
    RedisIdempotencyStore::new(redis)
        .with_prefix(format!("aisoc:test:idem:{:016x}", rand::random::<u64>()))
}

#[tokio::test]
async fn the_redis_idempotency_store_meets_the_contract() {
    // Redis keeps its own time: a short lease, waited for for real.
    conformance::idempotency_contract(
        Arc::new(redis_store(manager().await)),
        &conformance::WallClock,
        Duration::from_millis(400),
    )
    .await;
}

#[tokio::test]
async fn the_memory_idempotency_store_meets_the_contract() {
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    conformance::idempotency_contract(
        Arc::new(MemoryIdempotencyStore::default().with_clock(clock.clone())),
        clock.as_ref(),
        IDEMPOTENCY_LEASE,
    )
    .await;
}

#[tokio::test]
async fn the_memory_store_never_keeps_a_key_longer_than_its_cap() {
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let store = MemoryIdempotencyStore::new(Duration::from_secs(3600)).with_clock(clock.clone());
    let key = IdempotencyKey::new("acme", "token-1", "k");
    let ClaimOutcome::Claimed(claim) = store.claim(&key, IDEMPOTENCY_LEASE).await.unwrap() else {
        panic!("fresh key")
    };
    store.complete(&claim, IDEMPOTENCY_TTL).await.unwrap();
    clock.advance(Duration::from_secs(3601));
    assert!(
        matches!(
            store.claim(&key, IDEMPOTENCY_LEASE).await.unwrap(),
            ClaimOutcome::Claimed(_)
        ),
        "a 24 h TTL is cut to the store's one-hour cap"
    );
}

#[tokio::test]
async fn redis_holds_a_claim_for_its_lease_and_a_done_key_for_its_ttl() {
    let redis = manager().await;
    let store = redis_store(redis.clone());
    let key = IdempotencyKey::new("acme", "token-1", &format!("k-{}", rand::random::<u64>()));
    let ClaimOutcome::Claimed(claim) = store.claim(&key, IDEMPOTENCY_LEASE).await.unwrap() else {
        panic!("fresh key")
    };
    let mut conn = redis.clone();
    let held: String = conn.get(store.redis_key(&key)).await.unwrap();
    assert_eq!(held, format!("claim:{}", claim.nonce()));
    let lease: i64 = conn.pttl(store.redis_key(&key)).await.unwrap();
    assert!((59_000..=60_000).contains(&lease), "{lease}");

    assert!(store.complete(&claim, IDEMPOTENCY_TTL).await.unwrap());
    let done: String = conn.get(store.redis_key(&key)).await.unwrap();
    assert_eq!(done, "done");
    let ttl: i64 = conn.ttl(store.redis_key(&key)).await.unwrap();
    assert!((86_300..=86_400).contains(&ttl), "{ttl}");
    let _: () = conn.del(store.redis_key(&key)).await.unwrap();
}

#[tokio::test]
async fn the_redis_limiter_is_shared_between_instances() {
    let tenant = format!("tenant-{}", rand::random::<u64>());
    let prefix = "aisoc:test:rate";
    let node_a = RedisRateLimiter::new(manager().await, 4).with_prefix(prefix);
    let node_b = RedisRateLimiter::new(manager().await, 4).with_prefix(prefix);
    let mut admitted = 0;
    let mut refused = None;
    for i in 0..6 {
        let limiter = if i % 2 == 0 { &node_a } else { &node_b };
        match limiter.check(&tenant).await {
            Ok(()) => admitted += 1,
            Err(LimitError::Exceeded(wait)) => refused = Some(wait),
            Err(other) => panic!("{other:?}"),
        }
    }
    // A minute boundary may fall inside the loop; at most one window reset can add four more.
    assert!((4..=6).contains(&admitted), "{admitted}");
    if admitted == 4 {
        let wait = refused.expect("the fifth request is refused");
        assert!((1..=60).contains(&wait.as_secs()));
    }
}
