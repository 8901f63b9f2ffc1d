//! The [`InAppStore`] contract (feature `test-util`).

use aisoc_notify_core::{EventType, Notification, Severity};

use crate::{InAppStore, ListQuery};

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// List, unread count, mark read, mark all read, per user and tenant.
pub async fn read_state(store: &dyn InAppStore) {
    let tenant = unique("tenant");
    let n = |title: &str| Notification::new(&tenant, EventType::P0Alert, Severity::High, title);
    let first = store.add(&tenant, "alice", &n("one")).await.unwrap();
    let second = store.add(&tenant, "alice", &n("two")).await.unwrap();
    store.add(&tenant, "bob", &n("bob's")).await.unwrap();
    assert!(second.id > first.id);

    let list = store
        .list(&tenant, "alice", ListQuery::default())
        .await
        .unwrap();
    assert_eq!(
        list.iter()
            .map(|r| r.notification.title.as_str())
            .collect::<Vec<_>>(),
        ["two", "one"],
        "newest first"
    );
    assert_eq!(store.unread_count(&tenant, "alice").await.unwrap(), 2);

    assert!(store.mark_read(&tenant, "alice", first.id).await.unwrap());
    assert!(
        !store.mark_read(&tenant, "alice", first.id).await.unwrap(),
        "already read"
    );
    assert!(
        !store.mark_read(&tenant, "bob", second.id).await.unwrap(),
        "not bob's"
    );
    assert_eq!(store.unread_count(&tenant, "alice").await.unwrap(), 1);
    let unread = store
        .list(
            &tenant,
            "alice",
            ListQuery {
                unread_only: true,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(unread.len(), 1);
    assert_eq!(unread[0].id, second.id);

    let page = store
        .list(
            &tenant,
            "alice",
            ListQuery {
                limit: 1,
                before_id: Some(second.id),
                unread_only: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [first.id]);

    assert_eq!(store.mark_all_read(&tenant, "alice").await.unwrap(), 1);
    assert_eq!(store.unread_count(&tenant, "alice").await.unwrap(), 0);
    assert_eq!(
        store.unread_count(&tenant, "bob").await.unwrap(),
        1,
        "bob is untouched"
    );
}

/// Retention deletes what is older than the cutoff and nothing newer.
pub async fn retention(store: &dyn InAppStore) {
    let tenant = unique("tenant");
    let old = store
        .add(
            &tenant,
            "alice",
            &Notification::new(&tenant, EventType::DriftAlert, Severity::Low, "old"),
        )
        .await
        .unwrap();
    let cutoff = chrono::Utc::now() + chrono::Duration::milliseconds(1);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .add(
            &tenant,
            "alice",
            &Notification::new(&tenant, EventType::DriftAlert, Severity::Low, "new"),
        )
        .await
        .unwrap();
    assert!(store.purge_before(cutoff).await.unwrap() >= 1);
    let left = store
        .list(&tenant, "alice", ListQuery::default())
        .await
        .unwrap();
    assert_eq!(
        left.iter()
            .map(|r| r.notification.title.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );
    assert!(left.iter().all(|r| r.id != old.id));
}

/// Tenants are apart: a user id that exists in two tenants has two lists, and one tenant can
/// neither list, count nor mark (one or all) another tenant's notifications, even by their id.
pub async fn tenants_are_isolated(store: &dyn InAppStore) {
    let acme = unique("acme");
    let globex = unique("globex");
    let n = |tenant: &str| Notification::new(tenant, EventType::P0Alert, Severity::High, "alert");
    let acme_row = store.add(&acme, "alice", &n(&acme)).await.unwrap();
    let globex_row = store.add(&globex, "alice", &n(&globex)).await.unwrap();

    let listed = store
        .list(&acme, "alice", ListQuery::default())
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        [acme_row.id],
        "the same user id in another tenant is another list"
    );
    assert!(
        !store
            .mark_read(&acme, "alice", globex_row.id)
            .await
            .unwrap(),
        "another tenant's notification is not marked by its id"
    );
    assert_eq!(store.mark_all_read(&acme, "alice").await.unwrap(), 1);
    assert_eq!(
        store.unread_count(&globex, "alice").await.unwrap(),
        1,
        "marking all of one tenant's leaves the other's unread"
    );
    assert!(
        store
            .mark_read(&globex, "alice", globex_row.id)
            .await
            .unwrap()
    );
}
