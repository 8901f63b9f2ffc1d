//! Test support: a fresh PostgreSQL database per test on the local server.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod hooks;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// The server the test command starts (`scripts/services`): loopback, user postgres, trust.
pub fn server_url() -> String {
    std::env::var("AISOC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test and dropped by [`TestDb::drop_db`].
pub struct TestDb {
    pub pool: PgPool,
    name: String,
}

impl TestDb {
    pub async fn new(prefix: &str) -> Self {
        let name = format!("aisoc_{prefix}_{:016x}", rand::random::<u64>());
        let admin: PgConnectOptions = server_url().parse().expect("database URL");
        let mut conn = admin
            .connect()
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(admin.database(&name))
            .await
            .unwrap();
        Self { pool, name }
    }

    /// Another pool on the same database, as a restarted process opens.
    pub async fn fresh_pool(&self) -> PgPool {
        let admin: PgConnectOptions = server_url().parse().expect("database URL");
        PgPoolOptions::new()
            .max_connections(20)
            .connect_with(admin.database(&self.name))
            .await
            .unwrap()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn drop_db(self) {
        self.pool.close().await;
        let admin: PgConnectOptions = server_url().parse().unwrap();
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
