//! The in-app store contract against memory and the real PostgreSQL, and the notifier.

use std::sync::Arc;

use aisoc_notify_core::{EventType, Notification, Notifier, NotifyError, RetryClass, Severity};
use aisoc_notify_inapp::{
    FixedRecipients, InAppNotifier, InAppStore, ListQuery, MemoryInAppStore, PgInAppStore,
    conformance,
};
use sqlx::{ConnectOptions, Connection};

async fn pg() -> (PgInAppStore, String) {
    let name = format!("aisoc_inapp_{:016x}", rand::random::<u64>());
    let admin: sqlx::postgres::PgConnectOptions = "postgres://postgres@127.0.0.1:5432/postgres"
        .parse()
        .unwrap();
    let mut conn = admin.connect().await.expect("PostgreSQL on 127.0.0.1:5432");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .connect_with(admin.database(&name))
        .await
        .unwrap();
    (PgInAppStore::new(pool).await.unwrap(), name)
}

async fn drop_db(name: &str) {
    let admin: sqlx::postgres::PgConnectOptions = "postgres://postgres@127.0.0.1:5432/postgres"
        .parse()
        .unwrap();
    let mut conn = admin.connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn memory_read_state() {
    conformance::read_state(&MemoryInAppStore::new()).await;
}

#[tokio::test]
async fn memory_retention() {
    conformance::retention(&MemoryInAppStore::new()).await;
}

#[tokio::test]
async fn memory_tenants_are_isolated() {
    conformance::tenants_are_isolated(&MemoryInAppStore::new()).await;
}

#[tokio::test]
async fn postgres_read_state_and_retention() {
    let (store, name) = pg().await;
    conformance::read_state(&store).await;
    conformance::retention(&store).await;
    conformance::tenants_are_isolated(&store).await;
    drop_db(&name).await;
}

#[tokio::test]
async fn the_notifier_files_one_entry_per_recipient() {
    let store = Arc::new(MemoryInAppStore::new());
    let notifier = InAppNotifier::new(
        store.clone(),
        Arc::new(FixedRecipients(vec!["alice".into(), "bob".into()])),
    );
    let n = Notification::new(
        "acme",
        EventType::AgentApproval,
        Severity::Medium,
        "Agent wants to isolate web-01",
    );
    let delivered = notifier.notify(&n).await.unwrap();
    assert_eq!(delivered.receipt.as_deref(), Some("2 user(s)"));
    for user in ["alice", "bob"] {
        let list = store
            .list("acme", user, ListQuery::default())
            .await
            .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].notification.title, "Agent wants to isolate web-01");
        assert_eq!(store.unread_count("acme", user).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn a_store_that_fails_leaves_the_notification_retryable() {
    let (store, name) = pg().await;
    drop_db(&name).await;
    let notifier = InAppNotifier::new(
        Arc::new(store),
        Arc::new(FixedRecipients(vec!["alice".into()])),
    );
    let n = Notification::new("acme", EventType::P0Alert, Severity::High, "Disk full");
    let err = notifier.notify(&n).await.unwrap_err();
    assert!(
        matches!(
            &err,
            NotifyError::Unavailable {
                service: "inapp",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::Retryable);
}
