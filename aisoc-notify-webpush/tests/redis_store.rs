//! The Redis store on the real server at 127.0.0.1:6379: the shared contract, the documented
//! key layout and the 90-day lifetime.

use aisoc_notify_core::notification::Target;
use aisoc_notify_webpush::conformance::{self, browser_subscription};
use aisoc_notify_webpush::redis_store::RedisSubscriptionStore;
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionStore};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use redis::AsyncCommands;

const REDIS: &str = "redis://127.0.0.1:6379";

async fn store() -> RedisSubscriptionStore {
    RedisSubscriptionStore::connect(REDIS)
        .await
        .expect("Redis on 127.0.0.1:6379 (run ./scripts/services)")
}

#[tokio::test]
async fn redis_fan_out_sets() {
    conformance::fan_out_sets(&store().await).await;
}

#[tokio::test]
async fn redis_resubscribe_replaces() {
    conformance::resubscribe_replaces(&store().await).await;
}

#[tokio::test]
async fn redis_remove_cleans_every_index() {
    conformance::remove_cleans_every_index(&store().await).await;
}

#[tokio::test]
async fn redis_endpoint_is_not_taken_over() {
    conformance::endpoint_is_not_taken_over(&store().await).await;
}

#[tokio::test]
async fn memory_endpoint_is_not_taken_over() {
    conformance::endpoint_is_not_taken_over(&MemorySubscriptionStore::new()).await;
}

#[tokio::test]
async fn memory_fan_out_sets() {
    conformance::fan_out_sets(&MemorySubscriptionStore::new()).await;
}

#[tokio::test]
async fn memory_resubscribe_replaces() {
    conformance::resubscribe_replaces(&MemorySubscriptionStore::new()).await;
}

#[tokio::test]
async fn memory_remove_cleans_every_index() {
    conformance::remove_cleans_every_index(&MemorySubscriptionStore::new()).await;
}

#[tokio::test]
async fn keys_follow_the_documented_layout_with_a_90_day_ttl() {
    let store = store().await;
    let tenant = format!("layout-{}", rand_suffix());
    let endpoint = format!("https://push.example.com/send/{}", rand_suffix());
    let record = SubscriptionRecord::new(
        &browser_subscription(&endpoint),
        &tenant,
        "alice",
        &["p0_alert".to_owned()],
        chrono::Utc::now(),
    )
    .unwrap();
    store.upsert(&record).await.unwrap();

    let mut redis = redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let json: String = redis
        .get(format!("aisoc:push:sub:{}", record.id))
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<SubscriptionRecord>(&json).unwrap(),
        record
    );
    let ninety_days = 90 * 24 * 3600;
    for key in [
        format!("aisoc:push:sub:{}", record.id),
        format!("aisoc:push:tenant:{tenant}"),
        format!("aisoc:push:user:{tenant}:alice"),
        format!("aisoc:push:topic:{tenant}:p0_alert"),
    ] {
        let ttl: i64 = redis.ttl(&key).await.unwrap();
        assert!(
            (ninety_days - 60..=ninety_days).contains(&ttl),
            "{key}: ttl {ttl}"
        );
        if !key.contains(":sub:") {
            let members: Vec<String> = redis.smembers(&key).await.unwrap();
            assert_eq!(members, vec![record.id.clone()], "{key}");
        }
    }

    // An index entry whose record expired is pruned when read.
    let _: () = redis
        .del(format!("aisoc:push:sub:{}", record.id))
        .await
        .unwrap();
    assert!(
        store
            .for_target(&Target::Tenant {
                tenant_id: tenant.clone()
            })
            .await
            .unwrap()
            .is_empty()
    );
    let members: Vec<String> = redis
        .smembers(format!("aisoc:push:tenant:{tenant}"))
        .await
        .unwrap();
    assert!(members.is_empty());
    store.remove(&record.id).await.unwrap();
}

fn rand_suffix() -> String {
    aisoc_notify_webpush::subscription::subscription_id(&format!("{:?}", std::time::Instant::now()))
        .replace(['-', '_'], "x")
}
