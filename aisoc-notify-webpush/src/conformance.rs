//! The [`SubscriptionStore`] contract (feature `test-util`); every backend's tests run it.

use aisoc_notify_core::notification::Target;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::keys::VapidKeyPair;
use crate::store::{StoreError, SubscriptionStore};
use crate::subscription::{PushSubscription, SubscriptionKeys, SubscriptionRecord};

/// A syntactically and cryptographically valid browser subscription for `endpoint`.
pub fn browser_subscription(endpoint: &str) -> PushSubscription {
    let receiver = VapidKeyPair::generate();
    let mut auth = [0u8; 16];
    aws_lc_rs::rand::fill(&mut auth).expect("random");
    PushSubscription {
        endpoint: endpoint.to_owned(),
        expiration_time: None,
        keys: SubscriptionKeys {
            p256dh: receiver.public_key_base64(),
            auth: URL_SAFE_NO_PAD.encode(auth),
        },
    }
}

fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    format!("{prefix}-{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn record(tenant: &str, user: &str, topics: &[&str]) -> SubscriptionRecord {
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    let endpoint = format!("https://push.example.com/send/{}", unique("ep"));
    SubscriptionRecord::new(
        &browser_subscription(&endpoint),
        tenant,
        user,
        &topics,
        chrono::Utc::now(),
    )
    .expect("valid")
}

fn ids(records: &[SubscriptionRecord]) -> Vec<String> {
    let mut ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids
}

/// Tenant, user and topic fan-out sets.
pub async fn fan_out_sets(store: &dyn SubscriptionStore) {
    let tenant = unique("tenant");
    let alice_phone = record(&tenant, "alice", &["p0_alert", "agent_approval"]);
    let alice_laptop = record(&tenant, "alice", &["p0_alert"]);
    let bob = record(&tenant, "bob", &["oncall_handoff"]);
    let other_tenant = record(&unique("tenant"), "alice", &["p0_alert"]);
    for r in [&alice_phone, &alice_laptop, &bob, &other_tenant] {
        store.upsert(r).await.unwrap();
    }
    let tenant_target = Target::Tenant {
        tenant_id: tenant.clone(),
    };
    assert_eq!(
        ids(&store.for_target(&tenant_target).await.unwrap()),
        ids(&[alice_phone.clone(), alice_laptop.clone(), bob.clone()])
    );
    let alice = Target::User {
        tenant_id: tenant.clone(),
        user_id: "alice".into(),
    };
    assert_eq!(
        ids(&store.for_target(&alice).await.unwrap()),
        ids(&[alice_phone.clone(), alice_laptop.clone()])
    );
    let p0 = Target::Topic {
        tenant_id: tenant.clone(),
        topic: "p0_alert".into(),
    };
    assert_eq!(
        ids(&store.for_target(&p0).await.unwrap()),
        ids(&[alice_phone.clone(), alice_laptop.clone()])
    );
    let handoff = Target::Topic {
        tenant_id: tenant.clone(),
        topic: "oncall_handoff".into(),
    };
    assert_eq!(
        ids(&store.for_target(&handoff).await.unwrap()),
        ids(std::slice::from_ref(&bob))
    );
    assert_eq!(store.get(&bob.id).await.unwrap(), Some(bob));
}

/// The same user subscribing the same endpoint again replaces the record and its index entries.
pub async fn resubscribe_replaces(store: &dyn SubscriptionStore) {
    let tenant = unique("tenant");
    let first = record(&tenant, "alice", &["p0_alert"]);
    store.upsert(&first).await.unwrap();
    let mut again = first.clone();
    again.topics = vec!["agent_approval".into()];
    again.updated_at = chrono::Utc::now();
    store.upsert(&again).await.unwrap();

    assert_eq!(store.get(&first.id).await.unwrap(), Some(again.clone()));
    let p0 = Target::Topic {
        tenant_id: tenant.clone(),
        topic: "p0_alert".into(),
    };
    assert!(
        store.for_target(&p0).await.unwrap().is_empty(),
        "the old topic index was cleaned"
    );
    let approvals = Target::Topic {
        tenant_id: tenant.clone(),
        topic: "agent_approval".into(),
    };
    assert_eq!(
        ids(&store.for_target(&approvals).await.unwrap()),
        vec![first.id.clone()]
    );
    assert_eq!(
        store
            .for_target(&Target::Tenant { tenant_id: tenant })
            .await
            .unwrap()
            .len(),
        1,
        "one record, not two"
    );
}

/// An endpoint subscribed by one (tenant, user) is not taken over by another user of the same
/// tenant, nor by another tenant: the record, its indexes and its owner stay as they were.
pub async fn endpoint_is_not_taken_over(store: &dyn SubscriptionStore) {
    let tenant = unique("tenant");
    let alice = record(&tenant, "alice", &["p0_alert"]);
    store.upsert(&alice).await.unwrap();

    let mut by_mallory = alice.clone();
    by_mallory.user_id = "mallory".into();
    let mut by_other_tenant = alice.clone();
    by_other_tenant.tenant_id = unique("tenant");
    for attempt in [&by_mallory, &by_other_tenant] {
        assert_eq!(
            store.upsert(attempt).await,
            Err(StoreError::OwnedByAnother),
            "{}/{}",
            attempt.tenant_id,
            attempt.user_id
        );
        assert!(
            store
                .for_target(&Target::Tenant {
                    tenant_id: attempt.tenant_id.clone()
                })
                .await
                .unwrap()
                .iter()
                .all(|r| r.user_id != attempt.user_id || r.id != alice.id),
            "the attempt indexed nothing"
        );
    }
    assert_eq!(store.get(&alice.id).await.unwrap(), Some(alice.clone()));
    let mallory = Target::User {
        tenant_id: tenant.clone(),
        user_id: "mallory".into(),
    };
    assert!(store.for_target(&mallory).await.unwrap().is_empty());
    let owner = Target::User {
        tenant_id: tenant.clone(),
        user_id: "alice".into(),
    };
    assert_eq!(
        ids(&store.for_target(&owner).await.unwrap()),
        vec![alice.id.clone()]
    );

    // Once the owner lets go, the endpoint may be subscribed again by someone else.
    assert!(store.remove(&alice.id).await.unwrap());
    store.upsert(&by_mallory).await.unwrap();
    assert_eq!(
        ids(&store.for_target(&mallory).await.unwrap()),
        vec![alice.id.clone()]
    );
}

/// Removal cleans every index.
pub async fn remove_cleans_every_index(store: &dyn SubscriptionStore) {
    let tenant = unique("tenant");
    let r = record(&tenant, "alice", &["p0_alert", "agent_approval"]);
    store.upsert(&r).await.unwrap();
    assert!(store.remove(&r.id).await.unwrap());
    assert!(
        !store.remove(&r.id).await.unwrap(),
        "removing twice reports nothing removed"
    );
    assert_eq!(store.get(&r.id).await.unwrap(), None);
    for target in [
        Target::Tenant {
            tenant_id: tenant.clone(),
        },
        Target::User {
            tenant_id: tenant.clone(),
            user_id: "alice".into(),
        },
        Target::Topic {
            tenant_id: tenant.clone(),
            topic: "p0_alert".into(),
        },
        Target::Topic {
            tenant_id: tenant.clone(),
            topic: "agent_approval".into(),
        },
    ] {
        assert!(
            store.for_target(&target).await.unwrap().is_empty(),
            "{target:?}"
        );
    }
}
