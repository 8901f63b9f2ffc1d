//! Tenant isolation of in-app notifications in PostgreSQL (issue #15): the database keeps
//! tenants apart for a role that is not a superuser (superusers bypass row-level security,
//! even FORCEd), including the table's own owner, while retention still purges every tenant.

use aisoc_notify_core::{EventType, Notification, Severity};
use aisoc_notify_inapp::{InAppStore, ListQuery, PgInAppStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Row};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database with the store's tables, and its name.
async fn fresh_store() -> (PgInAppStore, sqlx::PgPool, String) {
    let name = format!("aisoc_inapp_{:016x}", rand::random::<u64>());
    let admin: PgConnectOptions = SERVER.parse().unwrap();
    let mut conn = admin.connect().await.expect("PostgreSQL on 127.0.0.1:5432");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(3)
        .connect_with(admin.database(&name))
        .await
        .unwrap();
    (PgInAppStore::new(pool.clone()).await.unwrap(), pool, name)
}

async fn admin_execute(statement: String) {
    let admin: PgConnectOptions = SERVER.parse().unwrap();
    let mut conn = admin.connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn alert(tenant: &str) -> Notification {
    Notification::new(tenant, EventType::P0Alert, Severity::High, "Disk full")
}

#[tokio::test]
async fn the_tables_owner_is_held_to_the_tenant_policy_when_not_a_superuser() {
    let (store, pool, name) = fresh_store().await;
    let acme = store.add("acme", "alice", &alert("acme")).await.unwrap();
    let globex = store
        .add("globex", "alice", &alert("globex"))
        .await
        .unwrap();

    // A login role that is not a superuser and owns the table.
    let role = format!("aisoc_owner_{:08x}", rand::random::<u32>());
    for statement in [
        format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"),
        format!("ALTER TABLE aisoc_inapp_notifications OWNER TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .unwrap();
    }
    let options: PgConnectOptions = SERVER.parse().unwrap();
    let mut owner = options
        .database(&name)
        .username(&role)
        .connect()
        .await
        .expect("the owner role logs in");

    // No tenant set: the owner sees nothing (FORCE ROW LEVEL SECURITY).
    let seen: i64 = sqlx::query("SELECT count(*) FROM aisoc_inapp_notifications")
        .fetch_one(&mut owner)
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);

    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('aisoc.tenant_id', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM aisoc_inapp_notifications")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(ids, [acme.id]);
    let marked = sqlx::query("UPDATE aisoc_inapp_notifications SET read_at = now() WHERE id = $1")
        .bind(globex.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        marked.rows_affected(),
        0,
        "another tenant's row is not marked"
    );
    let moved =
        sqlx::query("UPDATE aisoc_inapp_notifications SET tenant_id = 'globex' WHERE id = $1")
            .bind(acme.id)
            .execute(&mut *tx)
            .await;
    assert!(moved.is_err(), "a row cannot be moved into another tenant");
    tx.rollback().await.unwrap();
    owner.close().await.unwrap();

    assert_eq!(store.unread_count("globex", "alice").await.unwrap(), 1);
    pool.close().await;
    admin_execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    admin_execute(format!("DROP ROLE IF EXISTS {role}")).await;
}

#[tokio::test]
async fn retention_purges_every_tenant() {
    let (store, pool, name) = fresh_store().await;
    for tenant in ["acme", "globex"] {
        store.add(tenant, "alice", &alert(tenant)).await.unwrap();
    }
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(store.purge_before(cutoff).await.unwrap(), 2);
    for tenant in ["acme", "globex"] {
        let left = store
            .list(tenant, "alice", ListQuery::default())
            .await
            .unwrap();
        assert!(left.is_empty(), "{tenant}: {left:?}");
    }
    pool.close().await;
    admin_execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}
