//! The file store's contract and the monitor's check, without the HTTP layer.

use std::sync::Mutex;

use aisoc_notify_core::notification::EventType;
use aisoc_notify_outbox::OutboxError;
use aisoc_notify_outbox::envelope::StoredDeadLetter;

use super::conformance;
use super::*;

/// An outbox that records what is queued, or refuses while `refuse` is set.
#[derive(Default)]
struct Recording {
    queued: Mutex<Vec<Notification>>,
    refuse: std::sync::atomic::AtomicBool,
}

#[aisoc_notify_core::async_trait]
impl Outbox for Recording {
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError> {
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(OutboxError::Full { capacity: 1 });
        }
        self.queued.lock().unwrap().push(notification.clone());
        Ok(())
    }

    async fn list_dead_letters(
        &self,
        _after: Option<&str>,
        _limit: usize,
    ) -> Result<Vec<StoredDeadLetter>, OutboxError> {
        Ok(Vec::new())
    }

    async fn replay_dead_letter(&self, id: &str) -> Result<StoredDeadLetter, OutboxError> {
        Err(OutboxError::DeadLetterNotFound { id: id.to_owned() })
    }
}

fn scratch() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "aisoc-connectors-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

#[tokio::test]
async fn the_file_store_keeps_the_contract_and_its_state_on_disk() {
    let dir = scratch();
    let store = FileConnectorStore::open(dir.clone()).await.unwrap();
    conformance::flips_are_conditional_and_claimed_once(&store).await;
    let reopened = FileConnectorStore::open(dir.clone()).await.unwrap();
    assert_eq!(
        reopened.list("acme").await.unwrap(),
        store.list("acme").await.unwrap()
    );
    assert!(
        reopened
            .claim_changes(conformance::at(100_000), conformance::lease())
            .await
            .unwrap()
            .is_empty(),
        "nothing claimed twice"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_check_queues_one_notification_per_flip_and_retries_refused_ones() {
    let dir = scratch();
    let store = FileConnectorStore::open(dir.clone()).await.unwrap();
    let outbox = Recording::default();
    // Registered a minute ago with a one-second window: overdue at once.
    store
        .upsert(
            "acme",
            "okta",
            "Okta logs",
            1,
            Utc::now() - chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
    outbox
        .refuse
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(check(&store, &outbox).await.unwrap(), 0);
    outbox
        .refuse
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        check(&store, &outbox).await.unwrap(),
        1,
        "given back, queued next time"
    );
    assert_eq!(check(&store, &outbox).await.unwrap(), 0);
    {
        let queued = outbox.queued.lock().unwrap();
        assert_eq!(queued[0].event_type, EventType::ConnectorHealth);
        assert_eq!(queued[0].title, "Connector Okta logs is stale");
        assert_eq!(queued[0].tenant_id, "acme");
        assert_eq!(
            queued[0].dedupe_key.as_deref(),
            Some("connector-health:acme:okta:1")
        );
    }

    // Healthy and stale again before a check: nothing to say (it is as last told).
    store.heartbeat("acme", "okta", Utc::now()).await.unwrap();
    store
        .mark_stale(Utc::now() + chrono::Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(check(&store, &outbox).await.unwrap(), 0);

    store.heartbeat("acme", "okta", Utc::now()).await.unwrap();
    assert_eq!(check(&store, &outbox).await.unwrap(), 1);
    let queued = outbox.queued.lock().unwrap();
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[1].title, "Connector Okta logs is healthy again");
    assert_eq!(
        queued[1].dedupe_key.as_deref(),
        Some("connector-health:acme:okta:4"),
        "each flip its own key"
    );
    drop(queued);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_monitor_that_died_before_marking_a_flip_notified_is_followed_by_one_that_queues_it() {
    let dir = scratch();
    let store = FileConnectorStore::open(dir.clone()).await.unwrap();
    let outbox = Recording::default();
    let long_ago = Utc::now() - chrono::Duration::seconds(600);
    store
        .upsert("acme", "okta", "Okta logs", 1, long_ago)
        .await
        .unwrap();
    // The dead monitor: it flipped and claimed the connector (its lease long lapsed), queued
    // the notification and died before acknowledging it.
    assert_eq!(
        store
            .mark_stale(long_ago + chrono::Duration::seconds(5))
            .await
            .unwrap(),
        1
    );
    let claimed = store
        .claim_changes(
            long_ago + chrono::Duration::seconds(5),
            conformance::lease(),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    outbox.enqueue(&notification(&claimed[0])).await.unwrap();

    // The next monitor queues it again, under the same dedupe key, and marks it notified.
    assert_eq!(check(&store, &outbox).await.unwrap(), 1);
    assert_eq!(
        check(&store, &outbox).await.unwrap(),
        0,
        "once marked, done"
    );
    {
        let queued = outbox.queued.lock().unwrap();
        assert_eq!(queued.len(), 2);
        assert_eq!(queued[0].dedupe_key, queued[1].dedupe_key);
        assert_eq!(
            queued[1].dedupe_key.as_deref(),
            Some("connector-health:acme:okta:1")
        );
    }
    let listed = store.list("acme").await.unwrap();
    assert_eq!((listed[0].notified, listed[0].claimed_until), (1, None));

    // A live monitor's lease is respected: a flip claimed just now is not queued by another.
    store.heartbeat("acme", "okta", Utc::now()).await.unwrap();
    let held = store
        .claim_changes(Utc::now(), conformance::lease())
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        check(&store, &outbox).await.unwrap(),
        0,
        "held by the other"
    );
    assert_eq!(outbox.queued.lock().unwrap().len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn gateways_sharing_a_data_directory_flip_and_claim_once() {
    let dir = scratch();
    let one = FileConnectorStore::open(dir.clone()).await.unwrap();
    let two = FileConnectorStore::open(dir.clone()).await.unwrap();
    conformance::two_handles_flip_and_claim_once(&one, &two).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("connectors.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(dir.join("connectors.json"), b"{not json").unwrap();
    let error = FileConnectorStore::open(dir.clone()).await.unwrap_err();
    assert!(
        error.to_string().contains("not a connector file"),
        "{error}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A database of the test's own, dropped at the end.
struct TestDb {
    name: String,
}

impl TestDb {
    fn server() -> String {
        std::env::var("AISOC_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    async fn new() -> Self {
        use sqlx::Connection as _;
        let name = format!("aisoc_connectors_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&Self::server())
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        Self { name }
    }

    /// A pool of its own, as another replica opens.
    async fn store(&self) -> PgConnectorStore {
        let options: sqlx::postgres::PgConnectOptions = Self::server().parse().unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options.database(&self.name))
            .await
            .unwrap();
        PgConnectorStore::open(pool).await.unwrap()
    }

    async fn drop_db(self) {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&Self::server()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    let db = TestDb::new().await;
    conformance::flips_are_conditional_and_claimed_once(&db.store().await).await;
    db.drop_db().await;
    let db = TestDb::new().await;
    let one = db.store().await;
    let two = db.store().await;
    conformance::two_handles_flip_and_claim_once(&one, &two).await;
    db.drop_db().await;
}
