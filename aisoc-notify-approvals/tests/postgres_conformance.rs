//! The store contracts against the real PostgreSQL server on 127.0.0.1:5432.

mod support;

use std::sync::Arc;

use aisoc_notify_approvals::conformance;
use aisoc_notify_approvals::postgres::{PgApprovalStore, PgAuditLog, PgVerificationStore};
use support::TestDb;

async fn stores(db: &TestDb) -> (Arc<PgApprovalStore>, PgAuditLog) {
    (
        Arc::new(PgApprovalStore::new(db.pool.clone()).await.unwrap()),
        PgAuditLog::new(db.pool.clone()).await.unwrap(),
    )
}

#[tokio::test]
async fn create_get_list() {
    let db = TestDb::new("apr").await;
    conformance::create_get_list(stores(&db).await.0.as_ref()).await;
    db.drop_db().await;
}

#[tokio::test]
async fn decision_rule() {
    let db = TestDb::new("apr").await;
    let (store, audit) = stores(&db).await;
    conformance::decision_rule(store.as_ref(), &audit).await;
    db.drop_db().await;
}

#[tokio::test]
async fn expiry() {
    let db = TestDb::new("apr").await;
    let (store, audit) = stores(&db).await;
    conformance::expiry(store.as_ref(), &audit).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_concurrent_decisions_one_winner_one_audit_entry() {
    let db = TestDb::new("apr").await;
    let (store, audit) = stores(&db).await;
    conformance::concurrent_decisions(store, &audit, 100).await;
    db.drop_db().await;
}

#[tokio::test]
async fn audit_append_and_list() {
    let db = TestDb::new("apr").await;
    conformance::audit_append_and_list(&stores(&db).await.1).await;
    db.drop_db().await;
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_or_deleted() {
    let db = TestDb::new("apr").await;
    let (_, audit) = stores(&db).await;
    conformance::audit_append_and_list(&audit).await;
    let update = sqlx::query("UPDATE aisoc_audit_log SET actor = 'mallory'")
        .execute(&db.pool)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM aisoc_audit_log")
        .execute(&db.pool)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    db.drop_db().await;
}

#[tokio::test]
async fn verification_answers_once() {
    let db = TestDb::new("apr").await;
    conformance::verification_answers_once(
        &PgVerificationStore::new(db.pool.clone()).await.unwrap(),
    )
    .await;
    db.drop_db().await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = TestDb::new("apr").await;
    for _ in 0..3 {
        PgApprovalStore::new(db.pool.clone()).await.unwrap();
        PgVerificationStore::new(db.pool.clone()).await.unwrap();
    }
    db.drop_db().await;
}
