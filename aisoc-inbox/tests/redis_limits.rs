//! Idempotency and rate limiting on the real Redis at 127.0.0.1:6379.

use std::time::Duration;

use aisoc_inbox::conformance;
use aisoc_inbox::limits::{
    LimitError, MemoryIdempotencyStore, RateLimiter, RedisIdempotencyStore, RedisRateLimiter,
};
use redis::AsyncCommands;

async fn manager() -> redis::aio::ConnectionManager {
    redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection_manager()
        .await
        .expect("Redis on 127.0.0.1:6379")
}

#[tokio::test]
async fn redis_idempotency_claims() {
    conformance::idempotency_claims(&RedisIdempotencyStore::new(manager().await)).await;
}

#[tokio::test]
async fn memory_idempotency_claims() {
    conformance::idempotency_claims(&MemoryIdempotencyStore::default()).await;
}

#[tokio::test]
async fn redis_keys_use_set_nx_with_the_ttl() {
    let store = RedisIdempotencyStore::new(manager().await).with_prefix("aisoc:test:idem");
    let key = format!("k-{}", rand::random::<u64>());
    assert!(
        aisoc_inbox::limits::IdempotencyStore::claim(&store, &key, Duration::from_secs(86_400))
            .await
            .unwrap()
    );
    let ttl: i64 = manager()
        .await
        .ttl(format!("aisoc:test:idem:{key}"))
        .await
        .unwrap();
    assert!((86_300..=86_400).contains(&ttl), "{ttl}");
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
