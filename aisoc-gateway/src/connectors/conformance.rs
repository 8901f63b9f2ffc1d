//! The contract every connector store keeps, run against the file and the PostgreSQL store.

use aisoc_notify_core::freshness::ConnectorStatus;
use chrono::{DateTime, TimeZone as _, Utc};

use super::store::ConnectorStore;

/// The lease the contract's claims take.
pub(crate) fn lease() -> chrono::Duration {
    chrono::Duration::seconds(60)
}

/// A fixed instant plus `seconds`.
pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
}

/// Registration, conditional flips both ways, one claim per flip while its lease holds,
/// acknowledgement, release, a claim lapsing when its holder died, tenant scoping.
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

    let claimed = store.claim_changes(at(300), lease()).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.generation == 1 && c.notified == 0));
    assert!(claimed.iter().all(|c| c.status == ConnectorStatus::Stale));
    assert!(
        claimed
            .iter()
            .all(|c| c.claimed_until == Some(at(300) + lease()))
    );
    assert!(
        store
            .claim_changes(at(300), lease())
            .await
            .unwrap()
            .is_empty(),
        "claimed once"
    );
    assert!(
        store
            .claim_changes(at(359), lease())
            .await
            .unwrap()
            .is_empty(),
        "not again while the lease holds"
    );
    for claim in &claimed {
        store.acknowledge(claim).await.unwrap();
    }
    let globex_claim = claimed
        .iter()
        .find(|c| c.tenant_id == "globex")
        .unwrap()
        .clone();
    assert!(
        store
            .claim_changes(at(10_000), lease())
            .await
            .unwrap()
            .is_empty(),
        "acknowledged: notified, never claimed again"
    );
    let listed = store.list("acme").await.unwrap();
    let okta = listed.iter().find(|c| c.id == "okta").unwrap();
    assert_eq!((okta.notified, okta.claimed_until), (1, None));

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

    let claimed = store.claim_changes(at(303), lease()).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].generation, claimed[0].notified), (2, 1));
    store.release(&claimed[0]).await.unwrap();
    let reclaimed = store.claim_changes(at(304), lease()).await.unwrap();
    assert_eq!(reclaimed.len(), 1, "released, claimed again at once");
    assert_eq!((reclaimed[0].generation, reclaimed[0].notified), (2, 1));

    // The holder dies before acknowledging: once the lease lapses, the same flip (the same
    // generation, so the same dedupe key) is claimed again.
    assert!(
        store
            .claim_changes(at(363), lease())
            .await
            .unwrap()
            .is_empty(),
        "the lease holds until it expires"
    );
    let after_crash = store.claim_changes(at(364), lease()).await.unwrap();
    assert_eq!(after_crash.len(), 1, "the lapsed claim is claimed again");
    assert_eq!((after_crash[0].generation, after_crash[0].notified), (2, 1));
    assert_eq!(after_crash[0].claimed_until, Some(at(424)));
    // A late release by the lapsed holder does not end the new lease.
    store.release(&reclaimed[0]).await.unwrap();
    assert!(
        store
            .claim_changes(at(365), lease())
            .await
            .unwrap()
            .is_empty(),
        "the new lease still holds"
    );

    // A flip while the lease is held: acknowledging the claimed generation ends the lease,
    // and the newer flip is claimed at once.
    assert_eq!(store.mark_stale(at(400)).await.unwrap(), 1);
    store.acknowledge(&after_crash[0]).await.unwrap();
    let newer = store.claim_changes(at(401), lease()).await.unwrap();
    assert_eq!(newer.len(), 1);
    assert_eq!((newer[0].generation, newer[0].notified), (3, 2));
    // The lapsed holder's late acknowledgement counts but never lowers `notified`.
    store.acknowledge(&reclaimed[0]).await.unwrap();
    store.acknowledge(&newer[0]).await.unwrap();
    assert!(
        store
            .claim_changes(at(10_000), lease())
            .await
            .unwrap()
            .is_empty()
    );

    // A claim on a connector that was removed and registered again acknowledges nothing.
    assert!(store.remove("globex", "okta").await.unwrap());
    store
        .upsert("globex", "okta", "Okta", 60, at(500))
        .await
        .unwrap();
    assert_eq!(store.mark_stale(at(600)).await.unwrap(), 1);
    store.acknowledge(&globex_claim).await.unwrap();
    let fresh = store.claim_changes(at(601), lease()).await.unwrap();
    assert_eq!(fresh.len(), 1, "the new registration's flip is still due");
    assert_eq!(
        (fresh[0].tenant_id.as_str(), fresh[0].generation),
        ("globex", 1)
    );
    store.acknowledge(&fresh[0]).await.unwrap();

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
    let (a, b) = tokio::join!(
        one.claim_changes(at(10), lease()),
        two.claim_changes(at(10), lease())
    );
    let claims: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(claims.len(), 1);
    // The holder dies; one of the replicas claims the same flip once the lease lapses.
    let (a, b) = tokio::join!(
        one.claim_changes(at(70), lease()),
        two.claim_changes(at(70), lease())
    );
    let again: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(again.len(), 1, "claimed again by one of them");
    assert_eq!(again[0].generation, claims[0].generation);
    two.acknowledge(&again[0]).await.unwrap();
    assert!(
        one.claim_changes(at(1000), lease())
            .await
            .unwrap()
            .is_empty()
    );
}
