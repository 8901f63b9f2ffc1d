//! The channels in PostgreSQL (`DATABASE_URL`), shared by every replica on the database.
//!
//! - **Sealed only.** Configurations are stored sealed with `AISOC_DATA_KEY` (the table's
//!   `CHECK` refuses anything else). Without a key the gateway still starts and serves
//!   everything else, and saving a channel is refused with a message naming the setting to add:
//!   refusing at start would take down inbound capture and approvals over a setting only
//!   channels need. Deleting needs no key. A stored channel that cannot be opened (its key is
//!   not configured) stops start-up with the channel and key id named, because running without
//!   it would drop its notifications silently.
//! - **One revision, bumped with every change.** A one-row table holds the revision; every
//!   write bumps it in the same transaction as the change, so a replica polls one number and
//!   reloads only when it moved, and a listing reads revision and channels in one snapshot.
//!   Writers queue on that row's lock.
//! - **Change notices.** Every write also sends `NOTIFY aisoc_notification_channels`, which the
//!   other replicas `LISTEN` to, so they reload within milliseconds; the poll catches anything a
//!   dropped connection missed.
//! - **Rules beside the channels.** Rules are rows of `aisoc_notification_rules`, in clear (no
//!   secrets), written under the same revision row and notice. Because every write holds that
//!   row's lock, checking a rule's channels, or the rules naming a channel about to be
//!   deleted, in the same transaction is race-free across replicas.
//! - **Re-sealing after a rotation.** Opening the store seals again, under the current key,
//!   every configuration sealed under an older one: a compare-and-set on the old ciphertext, so
//!   a replica updating the channel at that moment is never overwritten.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::notification::{EventType, Severity};
use aisoc_notify_core::sealed::DataKeys;
use sqlx::postgres::{PgListener, PgPool, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};
use tokio::sync::Notify;

use super::{
    ChannelSnapshot, ChannelStore, ChannelStoreError, StoredChannel, StoredRule, open_config,
    seal_config,
};

/// The `NOTIFY` channel replicas listen on.
const NOTIFY_CHANNEL: &str = "aisoc_notification_channels";

/// How long to wait before listening again after the listening connection failed.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

fn unavailable(error: sqlx::Error) -> ChannelStoreError {
    // sqlx errors name tables and constraints, never the connection string.
    ChannelStoreError::Unavailable(error.to_string())
}

/// Creates or updates the gateway's tables. Other crates' migrations in the same database are
/// left alone.
pub(super) async fn migrate(pool: &PgPool) -> Result<(), ChannelStoreError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
        .run(pool)
        .await
        .map_err(|e| ChannelStoreError::Unavailable(e.to_string()))
}

/// The channels in table `aisoc_notification_channels`.
pub struct PgChannelStore {
    pool: PgPool,
    keys: Option<Arc<DataKeys>>,
    /// Signalled by the listening task on every change notice (and when it may have missed
    /// one); a permit is kept when nobody is waiting, so a notice is never lost.
    notices: Arc<Notify>,
    /// The listening task, started by the first [`ChannelStore::changed`] and stopped with the
    /// store.
    listening: std::sync::OnceLock<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Listens for change notices on a connection of its own, for as long as the store lives.
async fn listen(pool: PgPool, notices: Arc<Notify>) {
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listening.await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for channel changes; polling only");
                tokio::time::sleep(LISTEN_RETRY).await;
                continue;
            }
        };
        loop {
            match listener.try_recv().await {
                // A change, or a connection lost and made again (which may have hidden one):
                // reload either way.
                Ok(_) => notices.notify_one(),
                Err(error) => {
                    tracing::warn!(%error, "listening for channel changes failed; listening again");
                    notices.notify_one();
                    tokio::time::sleep(LISTEN_RETRY).await;
                    break;
                }
            }
        }
    }
}

impl std::fmt::Debug for PgChannelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgChannelStore")
            .field("sealed", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

impl PgChannelStore {
    /// Creates the tables when missing and seals again, under the current key, configurations
    /// sealed under an older one.
    pub async fn open(
        pool: PgPool,
        keys: Option<Arc<DataKeys>>,
    ) -> Result<Self, ChannelStoreError> {
        migrate(&pool).await?;
        let store = Self {
            pool,
            keys,
            notices: Arc::new(Notify::new()),
            listening: std::sync::OnceLock::new(),
        };
        store.reseal().await?;
        Ok(store)
    }

    async fn reseal(&self) -> Result<(), ChannelStoreError> {
        let Some(keys) = self.keys.as_deref() else {
            return Ok(());
        };
        let rows = sqlx::query("SELECT id, config_sealed FROM aisoc_notification_channels")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut resealed = 0;
        for row in rows {
            let id: String = row.try_get("id").map_err(unavailable)?;
            let old: String = row.try_get("config_sealed").map_err(unavailable)?;
            if !keys.needs_reseal(&old) {
                continue;
            }
            let config = open_config(Some(keys), &id, &old)?;
            let new = seal_config(keys, &id, &config)?;
            // Only if nobody changed it meanwhile; the same channel, so no revision bump.
            let done = sqlx::query(
                "UPDATE aisoc_notification_channels SET config_sealed = $2 \
                 WHERE id = $1 AND config_sealed = $3",
            )
            .bind(&id)
            .bind(&new)
            .bind(&old)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            resealed += done.rows_affected();
        }
        if resealed > 0 {
            tracing::info!(
                resealed,
                key = keys.current_key_id(),
                "notification channel configurations sealed under the current data key"
            );
        }
        Ok(())
    }

    /// The channel's configuration sealed for the database, or why it cannot be.
    fn seal(&self, channel: &StoredChannel) -> Result<String, ChannelStoreError> {
        let keys = self.keys.as_deref().ok_or(ChannelStoreError::KeyRequired)?;
        seal_config(keys, &channel.id, &channel.config)
    }

    fn stored_from_row(&self, row: &PgRow) -> Result<StoredChannel, ChannelStoreError> {
        let id: String = row.try_get("id").map_err(unavailable)?;
        let sealed: String = row.try_get("config_sealed").map_err(unavailable)?;
        let Json(event_types): Json<Vec<EventType>> =
            row.try_get("event_types").map_err(unavailable)?;
        Ok(StoredChannel {
            config: open_config(self.keys.as_deref(), &id, &sealed)?,
            channel_type: row.try_get("channel_type").map_err(unavailable)?,
            name: row.try_get("name").map_err(unavailable)?,
            event_types,
            enabled: row.try_get("enabled").map_err(unavailable)?,
            id,
        })
    }
}

fn rule_from_row(row: &PgRow) -> Result<StoredRule, ChannelStoreError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let severity: Option<String> = row.try_get("min_severity").map_err(unavailable)?;
    let min_severity = severity
        .map(|name| name.parse::<Severity>())
        .transpose()
        .map_err(|e| ChannelStoreError::Corrupt {
            location: format!("aisoc_notification_rules '{id}'"),
            reason: e.to_string(),
        })?;
    let Json(event_types): Json<Vec<EventType>> =
        row.try_get("event_types").map_err(unavailable)?;
    let Json(tags): Json<Vec<String>> = row.try_get("tags").map_err(unavailable)?;
    let Json(channels): Json<Vec<String>> = row.try_get("channels").map_err(unavailable)?;
    Ok(StoredRule {
        name: row.try_get("name").map_err(unavailable)?,
        event_types,
        min_severity,
        tenant_id: row.try_get("tenant_id").map_err(unavailable)?,
        tags,
        channels,
        enabled: row.try_get("enabled").map_err(unavailable)?,
        id,
    })
}

/// Refuses `rule` when one of its channels is neither stored nor the console; run inside a
/// write, under the revision row's lock, so no channel can go meanwhile.
async fn check_channels(
    tx: &mut Transaction<'_, Postgres>,
    rule: &StoredRule,
) -> Result<(), ChannelStoreError> {
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT id FROM aisoc_notification_channels WHERE id = ANY($1)")
            .bind(&rule.channels)
            .fetch_all(&mut **tx)
            .await
            .map_err(unavailable)?;
    let missing = rule
        .channels
        .iter()
        .find(|id| id.as_str() != crate::rules::CONSOLE_CHANNEL_ID && !stored.contains(id));
    match missing {
        Some(channel) => Err(ChannelStoreError::NoSuchChannel {
            channel: channel.clone(),
        }),
        None => Ok(()),
    }
}

/// Starts a write: takes the revision row's lock and bumps it.
async fn begin_write(pool: &PgPool) -> Result<(Transaction<'_, Postgres>, i64), ChannelStoreError> {
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let revision: i64 = sqlx::query_scalar(
        "UPDATE aisoc_notification_channels_revision SET revision = revision + 1 \
         RETURNING revision",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(unavailable)?;
    Ok((tx, revision))
}

/// Tells the other replicas (on commit) and commits.
async fn commit_write(
    mut tx: Transaction<'_, Postgres>,
    revision: i64,
) -> Result<(), ChannelStoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(revision.to_string())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)
}

/// Binds a rule's columns as `$1` (id) to `$8` (enabled), in table order.
fn bind_rule<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    rule: &'q StoredRule,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&rule.id)
        .bind(&rule.name)
        .bind(Json(&rule.event_types))
        .bind(rule.min_severity.map(Severity::as_str))
        .bind(rule.tenant_id.as_deref())
        .bind(Json(&rule.tags))
        .bind(Json(&rule.channels))
        .bind(rule.enabled)
}

fn revision_of(revision: i64) -> u64 {
    u64::try_from(revision).unwrap_or_default()
}

#[async_trait]
impl ChannelStore for PgChannelStore {
    async fn list(&self) -> Result<ChannelSnapshot, ChannelStoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let revision: i64 =
            sqlx::query_scalar("SELECT revision FROM aisoc_notification_channels_revision")
                .fetch_one(&mut *tx)
                .await
                .map_err(unavailable)?;
        let rows = sqlx::query(
            "SELECT id, channel_type, name, event_types, enabled, config_sealed \
             FROM aisoc_notification_channels ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let rule_rows = sqlx::query(
            "SELECT id, name, event_types, min_severity, tenant_id, tags, channels, enabled \
             FROM aisoc_notification_rules ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        let channels = rows
            .iter()
            .map(|row| self.stored_from_row(row))
            .collect::<Result<_, _>>()?;
        let rules = rule_rows
            .iter()
            .map(rule_from_row)
            .collect::<Result<_, _>>()?;
        Ok(ChannelSnapshot {
            revision: revision_of(revision),
            channels,
            rules,
        })
    }

    async fn revision(&self) -> Result<u64, ChannelStoreError> {
        let revision: i64 =
            sqlx::query_scalar("SELECT revision FROM aisoc_notification_channels_revision")
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(revision_of(revision))
    }

    async fn insert(&self, channel: &StoredChannel) -> Result<(), ChannelStoreError> {
        let sealed = self.seal(channel)?;
        let (mut tx, revision) = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO aisoc_notification_channels \
             (id, channel_type, name, event_types, enabled, config_sealed) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&channel.id)
        .bind(&channel.channel_type)
        .bind(&channel.name)
        .bind(Json(&channel.event_types))
        .bind(channel.enabled)
        .bind(&sealed)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        commit_write(tx, revision).await
    }

    async fn update(&self, channel: &StoredChannel) -> Result<bool, ChannelStoreError> {
        let sealed = self.seal(channel)?;
        let (mut tx, revision) = begin_write(&self.pool).await?;
        let updated = sqlx::query(
            "UPDATE aisoc_notification_channels SET channel_type = $2, name = $3, \
             event_types = $4, enabled = $5, config_sealed = $6, updated_at = now() \
             WHERE id = $1",
        )
        .bind(&channel.id)
        .bind(&channel.channel_type)
        .bind(&channel.name)
        .bind(Json(&channel.event_types))
        .bind(channel.enabled)
        .bind(&sealed)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if updated.rows_affected() == 0 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        commit_write(tx, revision).await?;
        Ok(true)
    }

    async fn delete(&self, id: &str) -> Result<bool, ChannelStoreError> {
        let (mut tx, revision) = begin_write(&self.pool).await?;
        let naming: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.id, r.name FROM aisoc_notification_rules r \
             WHERE r.channels ? $1 \
             AND EXISTS (SELECT 1 FROM aisoc_notification_channels c WHERE c.id = $1) \
             ORDER BY r.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        if !naming.is_empty() {
            tx.rollback().await.map_err(unavailable)?;
            return Err(ChannelStoreError::ChannelInUse {
                channel: id.to_owned(),
                rules: naming
                    .iter()
                    .map(|(id, name)| crate::rules::rule_label(id, name))
                    .collect(),
            });
        }
        let deleted = sqlx::query("DELETE FROM aisoc_notification_channels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        commit_write(tx, revision).await?;
        Ok(true)
    }

    async fn insert_rule(&self, rule: &StoredRule) -> Result<(), ChannelStoreError> {
        let (mut tx, revision) = begin_write(&self.pool).await?;
        check_channels(&mut tx, rule).await?;
        bind_rule(
            sqlx::query(
                "INSERT INTO aisoc_notification_rules \
             (id, name, event_types, min_severity, tenant_id, tags, channels, enabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ),
            rule,
        )
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        commit_write(tx, revision).await
    }

    async fn update_rule(&self, rule: &StoredRule) -> Result<bool, ChannelStoreError> {
        let (mut tx, revision) = begin_write(&self.pool).await?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM aisoc_notification_rules WHERE id = $1)",
        )
        .bind(&rule.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        if !exists {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        check_channels(&mut tx, rule).await?;
        bind_rule(
            sqlx::query(
                "UPDATE aisoc_notification_rules SET name = $2, event_types = $3, \
             min_severity = $4, tenant_id = $5, tags = $6, channels = $7, enabled = $8, \
             updated_at = now() WHERE id = $1",
            ),
            rule,
        )
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        commit_write(tx, revision).await?;
        Ok(true)
    }

    async fn delete_rule(&self, id: &str) -> Result<bool, ChannelStoreError> {
        let (mut tx, revision) = begin_write(&self.pool).await?;
        let deleted = sqlx::query("DELETE FROM aisoc_notification_rules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        commit_write(tx, revision).await?;
        Ok(true)
    }

    async fn changed(&self) {
        self.listening.get_or_init(|| {
            AbortOnDrop(tokio::spawn(listen(
                self.pool.clone(),
                Arc::clone(&self.notices),
            )))
        });
        self.notices.notified().await;
    }

    fn describe(&self) -> String {
        match &self.keys {
            Some(_) => "PostgreSQL (sealed with AISOC_DATA_KEY)".into(),
            None => "PostgreSQL (no AISOC_DATA_KEY: channels cannot be saved)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sqlx::{ConnectOptions as _, Connection as _};

    const KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn keys(value: &str) -> Option<Arc<DataKeys>> {
        Some(Arc::new(DataKeys::parse(value).unwrap()))
    }

    fn server() -> PgConnectOptions {
        std::env::var("AISOC_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
            .parse()
            .expect("database URL")
    }

    /// A database of this test's own, dropped at the end.
    struct TestDb {
        name: String,
    }

    impl TestDb {
        async fn new() -> Self {
            let name = format!("aisoc_channels_{:016x}", rand::random::<u64>());
            let mut admin = server()
                .connect()
                .await
                .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            admin.close().await.unwrap();
            Self { name }
        }

        /// A pool of its own, as another process (a replica, a restart) opens.
        async fn pool(&self) -> PgPool {
            PgPoolOptions::new()
                .max_connections(4)
                .connect_with(server().database(&self.name))
                .await
                .unwrap()
        }

        async fn drop_db(self) {
            let mut admin = server().connect().await.unwrap();
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
        let store = PgChannelStore::open(db.pool().await, keys(KEY))
            .await
            .unwrap();
        conformance::writes_read_back_and_move_the_revision(&store).await;
        conformance::rules_move_the_revision_and_keep_their_channels(&store).await;
        db.drop_db().await;
    }

    #[tokio::test]
    async fn another_replica_or_a_restart_sees_the_channels_and_is_told_of_changes() {
        let db = TestDb::new().await;
        let first = PgChannelStore::open(db.pool().await, keys(KEY))
            .await
            .unwrap();
        let second = PgChannelStore::open(db.pool().await, keys(KEY))
            .await
            .unwrap();
        conformance::another_handle_sees_the_writes(&first, &second).await;

        // The second replica waits for a change notice; the first one's writes wake it. It
        // starts listening inside `changed`, so keep writing until it has heard one.
        let mut channel = conformance::channel("ch_notice", "https://hooks.example/n");
        first.insert(&channel).await.unwrap();
        let woken = tokio::spawn(async move {
            second.changed().await;
            second
        });
        for write in 0.. {
            if woken.is_finished() {
                break;
            }
            assert!(write < 50, "a change notice within 50 writes");
            channel.name = format!("renamed {write}");
            assert!(first.update(&channel).await.unwrap());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let second = woken.await.unwrap();
        assert_eq!(second.list().await.unwrap().channels, [channel]);
        db.drop_db().await;
    }

    #[tokio::test]
    async fn the_row_holds_the_configuration_sealed_never_in_clear() {
        let db = TestDb::new().await;
        let pool = db.pool().await;
        let store = PgChannelStore::open(pool.clone(), keys(KEY)).await.unwrap();
        let marker = "marker-token-9d41e7";
        let channel = conformance::channel("ch_m", &format!("https://hooks.example/T0/{marker}"));
        store.insert(&channel).await.unwrap();
        let row: String = sqlx::query_scalar(
            "SELECT row_to_json(c)::text FROM aisoc_notification_channels c WHERE id = 'ch_m'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(!row.contains(marker), "{row}");
        assert!(!row.contains("s3cr3t-signing"), "{row}");
        assert!(row.contains("sealed:v1:k1:"), "{row}");
        assert_eq!(store.list().await.unwrap().channels, [channel]);

        // The table itself refuses a configuration in clear.
        let clear = sqlx::query(
            "INSERT INTO aisoc_notification_channels (id, channel_type, name, config_sealed) \
             VALUES ('ch_clear', 'webhook', 'x', '{\"url\":\"https://hooks.example/t\"}')",
        )
        .execute(&pool)
        .await;
        assert!(clear.is_err());
        db.drop_db().await;
    }

    #[tokio::test]
    async fn without_a_key_saving_is_refused_naming_the_setting_and_sealed_rows_do_not_load() {
        let db = TestDb::new().await;
        let keyless = PgChannelStore::open(db.pool().await, None).await.unwrap();
        let channel = conformance::channel("ch_k", "https://hooks.example/k");
        let refused = keyless.insert(&channel).await.unwrap_err();
        assert!(
            matches!(refused, ChannelStoreError::KeyRequired),
            "{refused}"
        );
        assert!(refused.to_string().contains("AISOC_DATA_KEY"), "{refused}");
        assert!(matches!(
            keyless.update(&channel).await,
            Err(ChannelStoreError::KeyRequired)
        ));
        assert_eq!(keyless.revision().await.unwrap(), 0, "nothing was written");

        let keyed = PgChannelStore::open(db.pool().await, keys(KEY))
            .await
            .unwrap();
        keyed.insert(&channel).await.unwrap();
        let unreadable = keyless.list().await.unwrap_err();
        let message = unreadable.to_string();
        assert!(
            message.contains("AISOC_DATA_KEY") && message.contains("'k1'"),
            "{message}"
        );
        assert!(message.contains("ch_k"), "{message}");
        // Removing a channel needs no key.
        assert!(keyless.delete("ch_k").await.unwrap());
        db.drop_db().await;
    }

    #[tokio::test]
    async fn after_a_rotation_opening_the_store_seals_every_row_under_the_new_key() {
        let db = TestDb::new().await;
        let pool = db.pool().await;
        let old = PgChannelStore::open(pool.clone(), keys(KEY)).await.unwrap();
        let channel = conformance::channel("ch_r", "https://hooks.example/r");
        old.insert(&channel).await.unwrap();
        let revision = old.revision().await.unwrap();

        let rotated = format!("k2://////////////////////////////////////////8=,{KEY}");
        let new = PgChannelStore::open(pool.clone(), keys(&rotated))
            .await
            .unwrap();
        let sealed: String = sqlx::query_scalar(
            "SELECT config_sealed FROM aisoc_notification_channels WHERE id = 'ch_r'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(sealed.starts_with("sealed:v1:k2:"), "{sealed}");
        assert_eq!(new.revision().await.unwrap(), revision);
        let only_new = PgChannelStore::open(
            pool,
            keys("k2://////////////////////////////////////////8="),
        )
        .await
        .unwrap();
        assert_eq!(only_new.list().await.unwrap().channels, [channel]);
        db.drop_db().await;
    }
}
