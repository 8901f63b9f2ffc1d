//! Tenant isolation in PostgreSQL (issue #15): the store keeps tenants apart, and the database
//! does too for a role that is not a superuser (superusers bypass row-level security, even
//! FORCEd), including the tables' own owner.

mod support;

use aisoc_notify_approvals::conformance;
use aisoc_notify_approvals::model::{NewApproval, NewAuditEntry};
use aisoc_notify_approvals::postgres::{PgApprovalStore, PgAuditLog};
use aisoc_notify_approvals::store::{ApprovalStore, AuditLog};
use chrono::{Duration, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};
use support::TestDb;

fn approval(tenant: &str, id: &str) -> NewApproval {
    NewApproval {
        id: Some(id.into()),
        tenant_id: tenant.into(),
        summary: "Isolate host web-01".into(),
        risk_score: None,
        requested_action: "isolate_host".into(),
        expires_at: Utc::now() + Duration::hours(1),
        notes: None,
        run_id: None,
        case_id: None,
    }
}

/// Rows of `table` the connection sees.
async fn visible(conn: &mut sqlx::PgConnection, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(conn)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

#[tokio::test]
async fn a_tenant_cannot_read_or_decide_another_tenants_request() {
    let db = TestDb::new("apr").await;
    let store = PgApprovalStore::new(db.pool.clone()).await.unwrap();
    let audit = PgAuditLog::new(db.pool.clone()).await.unwrap();
    conformance::tenants_are_isolated(&store, &audit).await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_tables_owner_is_held_to_the_tenant_policy_when_not_a_superuser() {
    let db = TestDb::new("apr").await;
    let store = PgApprovalStore::new(db.pool.clone()).await.unwrap();
    let audit = PgAuditLog::new(db.pool.clone()).await.unwrap();
    let now = Utc::now();
    store
        .create(approval("acme", "apr_acme"), now)
        .await
        .unwrap();
    store
        .create(approval("globex", "apr_globex"), now)
        .await
        .unwrap();
    for tenant in ["acme", "globex"] {
        audit
            .append(NewAuditEntry {
                tenant_id: tenant.into(),
                action: "approval.created".into(),
                subject_id: format!("apr_{tenant}"),
                actor: "test".into(),
                details: serde_json::json!({}),
                created_at: now,
            })
            .await
            .unwrap();
    }

    // A login role that is not a superuser and owns the tables.
    let role = format!("aisoc_owner_{:08x}", rand::random::<u32>());
    for statement in [
        format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"),
        format!("ALTER TABLE aisoc_approvals OWNER TO {role}"),
        format!("ALTER TABLE aisoc_audit_log OWNER TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let options: PgConnectOptions = support::server_url().parse().unwrap();
    let options = options.database(db.name()).username(&role);
    let mut owner = options.connect().await.expect("the owner role logs in");

    // No tenant set: the owner sees nothing (FORCE ROW LEVEL SECURITY).
    assert_eq!(visible(&mut owner, "aisoc_approvals").await, 0);
    assert_eq!(visible(&mut owner, "aisoc_audit_log").await, 0);

    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('aisoc.tenant_id', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM aisoc_approvals ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(ids, ["apr_acme"]);
    let decided = sqlx::query(
        "UPDATE aisoc_approvals SET status = 'approved', reviewer = 'mallory' WHERE id = 'apr_globex'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        decided.rows_affected(),
        0,
        "another tenant's row is not updated"
    );
    let moved =
        sqlx::query("UPDATE aisoc_approvals SET tenant_id = 'globex' WHERE id = 'apr_acme'")
            .execute(&mut *tx)
            .await;
    assert!(moved.is_err(), "a row cannot be moved into another tenant");
    tx.rollback().await.unwrap();
    owner.close().await.unwrap();

    assert_eq!(
        store
            .get("globex", "apr_globex")
            .await
            .unwrap()
            .unwrap()
            .reviewer,
        None
    );
    db.drop_db().await;
    let admin: PgConnectOptions = support::server_url().parse().unwrap();
    let mut admin = admin.connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_audit_trigger_function_has_a_safe_search_path_and_no_public_execute() {
    let db = TestDb::new("apr").await;
    PgAuditLog::new(db.pool.clone()).await.unwrap();
    let row = sqlx::query(
        "SELECT array_to_string(proconfig, ';') AS config,
                has_function_privilege('public', oid, 'EXECUTE') AS public_execute
         FROM pg_proc WHERE proname = 'aisoc_audit_log_append_only'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        row.get::<Option<String>, _>("config").as_deref(),
        Some("search_path=pg_catalog, public, pg_temp")
    );
    assert!(!row.get::<bool, _>("public_execute"));
    db.drop_db().await;
}
