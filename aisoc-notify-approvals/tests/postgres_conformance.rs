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
async fn answer_and_follow_ups_are_one_unit() {
    let db = TestDb::new("apr").await;
    conformance::answer_and_follow_ups_are_one_unit(
        &PgVerificationStore::new(db.pool.clone()).await.unwrap(),
    )
    .await;
    db.drop_db().await;
}

#[tokio::test]
async fn claims_are_leased_and_fenced() {
    let db = TestDb::new("apr").await;
    conformance::claims_are_leased_and_fenced(
        &PgVerificationStore::new(db.pool.clone()).await.unwrap(),
    )
    .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_answers_record_once() {
    let db = TestDb::new("apr").await;
    conformance::concurrent_answers_record_once(
        Arc::new(PgVerificationStore::new(db.pool.clone()).await.unwrap()),
        50,
    )
    .await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_decision_with_a_waiting_run_queues_one_resume() {
    let db = TestDb::new("apr").await;
    conformance::a_decision_with_a_waiting_run_queues_one_resume(stores(&db).await.0.as_ref())
        .await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_racing_reviewers_queue_one_resume() {
    let db = TestDb::new("apr").await;
    conformance::racing_reviewers_queue_one_resume(stores(&db).await.0, 100).await;
    db.drop_db().await;
}

#[tokio::test]
async fn an_approval_nobody_decides_resumes_its_run_on_expired() {
    let db = TestDb::new("apr").await;
    conformance::an_approval_nobody_decides_resumes_its_run_on_expired(
        stores(&db).await.0.as_ref(),
    )
    .await;
    db.drop_db().await;
}

#[tokio::test]
async fn approval_dead_follow_ups_are_listed_and_replayed() {
    let db = TestDb::new("apr").await;
    conformance::approval_dead_follow_ups_are_listed_and_replayed(stores(&db).await.0.as_ref())
        .await;
    db.drop_db().await;
}

#[tokio::test]
async fn verify_dead_follow_ups_are_listed_and_replayed() {
    let db = TestDb::new("apr").await;
    conformance::verify_dead_follow_ups_are_listed_and_replayed(
        &PgVerificationStore::new(db.pool.clone()).await.unwrap(),
    )
    .await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_decision_whose_resume_cannot_be_queued_is_not_recorded() {
    use aisoc_notify_approvals::model::{ApprovalStatus, NewApproval};
    use aisoc_notify_approvals::store::{ApprovalStore, AuditLog};
    use aisoc_notify_approvals::verify::AnswerOutbox;
    use aisoc_notify_core::decision::{Decision, DecisionRequest, DecisionSource, Reviewer};
    let db = TestDb::new("apr").await;
    let (store, audit) = stores(&db).await;
    let now = chrono::Utc::now();
    let approval = store
        .create(
            NewApproval {
                id: None,
                tenant_id: "acme".into(),
                summary: "Isolate host web-01".into(),
                risk_score: Some(82),
                requested_action: "isolate_host".into(),
                expires_at: now + chrono::Duration::hours(1),
                notes: None,
                run_id: Some("run-1".into()),
                case_id: None,
            },
            now,
        )
        .await
        .unwrap();
    sqlx::query(
        "CREATE FUNCTION refuse_resume() RETURNS trigger AS $$
         BEGIN RAISE EXCEPTION 'follow-up outbox unavailable'; END; $$ LANGUAGE plpgsql",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_resume BEFORE INSERT ON aisoc_approval_follow_ups
         FOR EACH ROW EXECUTE FUNCTION refuse_resume()",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let decide = DecisionRequest {
        approval_id: approval.id.clone(),
        decision: Decision::Deny,
        reviewer: Reviewer {
            id: "U1".into(),
            name: "alice".into(),
        },
        source: DecisionSource::Api,
    };
    let err = store
        .decide(&approval.tenant_id, &decide, now)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("follow-up outbox unavailable"),
        "{err:?}"
    );
    assert_eq!(
        store
            .get(&approval.tenant_id, &approval.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Pending,
        "no decision without its resume"
    );
    assert!(
        audit
            .list("acme", Some(&approval.id))
            .await
            .unwrap()
            .is_empty(),
        "nor its audit entry"
    );
    sqlx::query("DROP TRIGGER refuse_resume ON aisoc_approval_follow_ups")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(
        store
            .decide(&approval.tenant_id, &decide, now)
            .await
            .is_ok()
    );
    assert_eq!(store.follow_ups(&approval.id).await.unwrap().len(), 1);
    db.drop_db().await;
}

#[tokio::test]
async fn an_answer_whose_follow_ups_cannot_be_written_is_not_recorded() {
    use aisoc_notify_approvals::verify::{
        Answer, AnswerOutbox, AnswerOutcome, PendingPrompt, VerificationStore,
    };
    let db = TestDb::new("apr").await;
    let store = PgVerificationStore::new(db.pool.clone()).await.unwrap();
    let prompt = PendingPrompt {
        prompt_id: "vfy_fault".into(),
        tenant_id: "acme".into(),
        case_id: "case-1".into(),
        run_id: Some("run-1".into()),
        user_ref: "alice".into(),
        title: "Sign-in".into(),
        message: "Was this you?".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
        receipt: None,
    };
    store
        .create_prompt(&prompt, chrono::Utc::now())
        .await
        .unwrap();
    let answer = Answer {
        prompt_id: prompt.prompt_id.clone(),
        tenant_id: "acme".into(),
        case_id: "case-1".into(),
        user_ref: "alice".into(),
        choice: "deny".into(),
        token_id: "t1".into(),
    };
    // The outbox refuses the resume row: the answer must not be recorded without it.
    sqlx::query(
        "CREATE FUNCTION refuse_resume() RETURNS trigger AS $$
         BEGIN IF NEW.kind = 'resume' THEN RAISE EXCEPTION 'outbox unavailable'; END IF;
         RETURN NEW; END; $$ LANGUAGE plpgsql",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_resume BEFORE INSERT ON aisoc_chatops_verify_follow_ups
         FOR EACH ROW EXECUTE FUNCTION refuse_resume()",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let err = store.answer(&answer, chrono::Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("outbox unavailable"), "{err}");
    let stored = store
        .prompt(&prompt.tenant_id, &prompt.prompt_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.answered, None, "rolled back with its follow-ups");
    assert!(
        store
            .follow_ups(&prompt.prompt_id)
            .await
            .unwrap()
            .is_empty()
    );

    sqlx::query("DROP TRIGGER refuse_resume ON aisoc_chatops_verify_follow_ups")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(matches!(
        store.answer(&answer, chrono::Utc::now()).await.unwrap(),
        AnswerOutcome::Recorded(_)
    ));
    assert_eq!(store.follow_ups(&prompt.prompt_id).await.unwrap().len(), 2);
    db.drop_db().await;
}

#[tokio::test]
async fn a_decision_whose_audit_entry_cannot_be_written_is_not_recorded() {
    use aisoc_notify_approvals::model::{ApprovalStatus, NewApproval};
    use aisoc_notify_approvals::store::{ApprovalStore, AuditLog, DecideError};
    use aisoc_notify_core::decision::{Decision, DecisionRequest, DecisionSource, Reviewer};
    let db = TestDb::new("apr").await;
    let (store, audit) = stores(&db).await;
    let now = chrono::Utc::now();
    let approval = store
        .create(
            NewApproval {
                id: None,
                tenant_id: "acme".into(),
                summary: "Isolate host web-01".into(),
                risk_score: Some(82),
                requested_action: "isolate_host".into(),
                expires_at: now + chrono::Duration::hours(1),
                notes: None,
                run_id: None,
                case_id: None,
            },
            now,
        )
        .await
        .unwrap();
    sqlx::query(
        "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$
         BEGIN RAISE EXCEPTION 'audit trail unavailable'; END; $$ LANGUAGE plpgsql",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON aisoc_audit_log
         FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let decide = DecisionRequest {
        approval_id: approval.id.clone(),
        decision: Decision::Approve,
        reviewer: Reviewer {
            id: "U1".into(),
            name: "alice".into(),
        },
        source: DecisionSource::Slack,
    };
    let err = store
        .decide(&approval.tenant_id, &decide, now)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DecideError::Store(e) if e.to_string().contains("audit trail unavailable")),
        "{err:?}"
    );
    assert_eq!(
        store
            .get(&approval.tenant_id, &approval.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Pending,
        "no decision without its audit entry"
    );
    sqlx::query("DROP TRIGGER refuse_audit ON aisoc_audit_log")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(
        store
            .decide(&approval.tenant_id, &decide, now)
            .await
            .is_ok()
    );
    assert_eq!(
        audit.list("acme", Some(&approval.id)).await.unwrap().len(),
        1
    );
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
