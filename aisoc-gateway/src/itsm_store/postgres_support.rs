//! What the gateway's own tenant tables share: the migrations, and a transaction scoped to one
//! tenant by forced row-level security.

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

/// Creates or updates the gateway's tables; other crates' migrations in the same database are
/// left alone.
pub(crate) async fn migrate(pool: &PgPool) -> Result<(), String> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await.map_err(|e| e.to_string())
}

/// A transaction that sees and writes only `tenant_id`'s rows: `SET LOCAL ROLE role` and
/// `aisoc.tenant_id`.
pub(crate) async fn tenant_transaction<'a>(
    pool: &'a PgPool,
    role: &'static str,
    tenant_id: &str,
) -> Result<Transaction<'a, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL ROLE {role}")))
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT set_config('aisoc.tenant_id', $1, true)")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// A database of a test's own, dropped by [`TestDb::drop_db`].
#[cfg(test)]
pub(crate) struct TestDb {
    name: String,
}

#[cfg(test)]
fn server() -> sqlx::postgres::PgConnectOptions {
    std::env::var("AISOC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
        .parse()
        .expect("database URL")
}

#[cfg(test)]
impl TestDb {
    pub(crate) async fn new() -> Self {
        use sqlx::{ConnectOptions as _, Connection as _};
        let name = format!("aisoc_gw_h2_{:016x}", rand::random::<u64>());
        let mut admin = server()
            .connect()
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        Self { name }
    }

    pub(crate) async fn pool(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(server().database(&self.name))
            .await
            .unwrap()
    }

    pub(crate) async fn drop_db(self) {
        use sqlx::ConnectOptions as _;
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
