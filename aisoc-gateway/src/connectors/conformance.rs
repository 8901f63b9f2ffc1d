//! The contract every connector store keeps, run against the file and the PostgreSQL store.

use aisoc_notify_core::freshness::ConnectorStatus;
use chrono::{DateTime, TimeZone as _, Utc};

use super::store::ConnectorStore;

/// A fixed instant plus `seconds`.
pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
}

/// Registration, conditional flips both ways, one claim per flip, release, tenant scoping.
pub(crate) async fn flips_are_conditional_and_claimed_once(store: &dyn ConnectorStore) {
    store
        .upsert("acme", "okta", "Okta logs", 60, at(0))
        .await
        .unwrap();
    store
        .upsert("acme", "edr", "EDR", 600, at(0))
        .await
        .unwrap();
    store
        .upsert("globex", "okta", "Okta", 60, at(0))
        .await
        .unwrap();
    let renamed = store
        .upsert("acme", "edr", "EDR (prod)", 900, at(5))
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.window_seconds),
        ("EDR (prod)", 900)
    );
    assert_eq!(
        renamed.registered_at,
        at(0),
        "an update keeps the registration"
    );

    assert_eq!(
        store.mark_stale(at(60)).await.unwrap(),
        0,
        "not past the window yet"
    );
    store.heartbeat("acme", "okta", at(50)).await.unwrap();
    assert_eq!(
        store.mark_stale(at(61)).await.unwrap(),
        1,
        "globex's okta only"
    );
    assert_eq!(
        store.mark_stale(at(200)).await.unwrap(),
        1,
        "acme's okta now"
    );
    assert_eq!(
        store.mark_stale(at(300)).await.unwrap(),
        0,
        "stale ones stay stale"
    );

    let claimed = store.claim_changes().await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.generation == 1 && c.notified == 0));
    assert!(claimed.iter().all(|c| c.status == ConnectorStatus::Stale));
    assert!(
        store.claim_changes().await.unwrap().is_empty(),
        "claimed once"
    );

    let back = store
        .heartbeat("acme", "okta", at(301))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (back.status, back.generation),
        (ConnectorStatus::Healthy, 2)
    );
    assert_eq!(back.status_changed_at, at(301));
    let again = store
        .heartbeat("acme", "okta", at(302))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.generation, 2, "a heartbeat while healthy is no flip");
    assert!(
        store
            .heartbeat("acme", "nope", at(301))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .heartbeat("initech", "okta", at(301))
            .await
            .unwrap()
            .is_none(),
        "another tenant's connector is not found"
    );

    let claimed = store.claim_changes().await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].generation, claimed[0].notified), (2, 1));
    store.release(&claimed[0]).await.unwrap();
    let reclaimed = store.claim_changes().await.unwrap();
    assert_eq!(reclaimed, claimed, "released, claimed again");

    let listed = store.list("acme").await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["edr", "okta"]);
    assert!(!store.remove("globex", "edr").await.unwrap());
    assert!(store.remove("acme", "edr").await.unwrap());
    assert!(!store.remove("acme", "edr").await.unwrap());
    assert_eq!(store.list("globex").await.unwrap().len(), 1);
}

/// Two handles on the same backend (two replicas) flip and claim a change once between them.
pub(crate) async fn two_handles_flip_and_claim_once(
    one: &dyn ConnectorStore,
    two: &dyn ConnectorStore,
) {
    one.upsert("acme", "okta", "Okta logs", 1, at(0))
        .await
        .unwrap();
    assert_eq!(
        two.list("acme").await.unwrap().len(),
        1,
        "seen by the other"
    );
    let (a, b) = tokio::join!(one.mark_stale(at(10)), two.mark_stale(at(10)));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    let (a, b) = tokio::join!(one.claim_changes(), two.claim_changes());
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1);
}
