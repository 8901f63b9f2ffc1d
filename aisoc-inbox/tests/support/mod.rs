//! Shared set-up for the inbox tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::num::NonZeroU32;
use std::sync::Arc;

use aisoc_inbox::limits::{
    IdempotencyStore, MemoryIdempotencyStore, MemoryRateLimiter, RateLimiter,
};
use aisoc_inbox::sink::{EventSink, MemorySink};
use aisoc_inbox::template::TemplateRegistry;
use aisoc_inbox::token::{MemoryTokenStore, TokenResolver, TokenStore};
use aisoc_inbox::{Inbox, InboxConfig};

pub struct Parts {
    pub inbox: Inbox,
    pub store: Arc<MemoryTokenStore>,
    pub sink: Arc<MemorySink>,
}

pub fn inbox_with(
    config: InboxConfig,
    sink: Arc<dyn EventSink>,
    limiter: Option<Arc<dyn RateLimiter>>,
) -> (Inbox, Arc<MemoryTokenStore>) {
    inbox_with_parts(
        config,
        sink,
        limiter,
        Arc::new(MemoryIdempotencyStore::default()),
    )
}

pub fn inbox_with_parts(
    config: InboxConfig,
    sink: Arc<dyn EventSink>,
    limiter: Option<Arc<dyn RateLimiter>>,
    idempotency: Arc<dyn IdempotencyStore>,
) -> (Inbox, Arc<MemoryTokenStore>) {
    let store = Arc::new(MemoryTokenStore::new());
    let store_dyn: Arc<dyn TokenStore> = store.clone();
    let limiter = limiter.unwrap_or_else(|| {
        Arc::new(MemoryRateLimiter::per_minute(
            NonZeroU32::new(config.rate_limit_per_minute).unwrap(),
        ))
    });
    let inbox = Inbox::new(
        TokenResolver::new(store_dyn),
        Arc::new(TemplateRegistry::bundled().unwrap()),
        limiter,
        idempotency,
        sink,
        config,
    );
    (inbox, store)
}

pub fn memory_inbox(config: InboxConfig) -> Parts {
    let sink = Arc::new(MemorySink::new());
    let (inbox, store) = inbox_with(config, sink.clone(), None);
    Parts { inbox, store, sink }
}

/// A fresh PostgreSQL database on the local server, dropped by [`TestDb::drop_db`].
pub struct TestDb {
    pub pool: sqlx::PgPool,
    name: String,
}

pub fn server_url() -> String {
    std::env::var("AISOC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDb {
    pub async fn new() -> Self {
        use sqlx::{ConnectOptions, Connection};
        let name = format!("aisoc_inbox_{:016x}", rand::random::<u64>());
        let admin: sqlx::postgres::PgConnectOptions = server_url().parse().unwrap();
        let mut conn = admin
            .connect()
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .connect_with(admin.database(&name))
            .await
            .unwrap();
        Self { pool, name }
    }

    pub async fn drop_db(self) {
        use sqlx::ConnectOptions;
        self.pool.close().await;
        let admin: sqlx::postgres::PgConnectOptions = server_url().parse().unwrap();
        let mut conn = admin.connect().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// A data key for sealing signing secrets in tests (`k1`, bytes 0..32).
pub const DATA_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// [`DATA_KEY`] parsed.
pub fn data_keys() -> Arc<aisoc_notify_core::sealed::DataKeys> {
    Arc::new(aisoc_notify_core::sealed::DataKeys::parse(DATA_KEY).unwrap())
}
