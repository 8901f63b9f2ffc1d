//! The Redis usage budget against a real server: replicas draw from one budget, a look charges
//! nothing, and keys expire when their budget is whole again.

use std::num::NonZeroU64;

use aisoc_inbox::limits::{LimitError, Rate, RedisBudget, UsageBudget};

async fn manager() -> redis::aio::ConnectionManager {
    redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection_manager()
        .await
        .expect("Redis on 127.0.0.1:6379")
}

fn prefix() -> String {
    format!("aisoc:test:budget:{:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn two_replicas_spend_one_budget_and_a_look_charges_nothing() {
    let prefix = prefix();
    let rate =
        Rate::per_second(NonZeroU64::new(100).unwrap()).with_burst(NonZeroU64::new(1_000).unwrap());
    let node_a = RedisBudget::new(manager().await, rate, prefix.clone());
    let node_b = RedisBudget::new(manager().await, rate, prefix.clone());
    for _ in 0..5 {
        node_b.would_admit("tok", 1_000).await.unwrap();
    }
    node_a.spend("tok", 600).await.unwrap();
    node_b.would_admit("tok", 400).await.unwrap();
    let Err(LimitError::Exceeded(wait)) = node_b.spend("tok", 500).await else {
        panic!("the replicas share the budget");
    };
    assert!(wait >= std::time::Duration::from_secs(1));
    node_b.spend("other", 1_000).await.unwrap();

    let mut redis = manager().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:tok"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        (5_000..=6_100).contains(&ttl),
        "the key lives until 600 units have refilled at 100/s, got {ttl} ms"
    );
}
