//! Tenant isolation of the `chatops.verify` prompts and both follow-up outboxes in PostgreSQL
//! (issue #15): the database keeps tenants apart for a role that is not a superuser
//! (superusers bypass row-level security, even FORCEd), including the tables' own owner, while
//! the follow-up dispatcher still claims every tenant's follow-ups.

mod support;

use std::time::Duration as StdDuration;

use aisoc_notify_approvals::follow_up::{AnswerOutbox, FollowUpFlow};
use aisoc_notify_approvals::model::NewApproval;
use aisoc_notify_approvals::postgres::{PgApprovalStore, PgVerificationStore};
use aisoc_notify_approvals::store::ApprovalStore;
use aisoc_notify_approvals::verify::{Answer, AnswerOutcome, PendingPrompt, VerificationStore};
use aisoc_notify_core::decision::{Decision, DecisionRequest, DecisionSource, Reviewer};
use chrono::{Duration, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};
use support::TestDb;

const TENANTS: [&str; 2] = ["acme", "globex"];

fn prompt(tenant: &str) -> PendingPrompt {
    PendingPrompt {
        prompt_id: format!("vfy_{tenant}"),
        tenant_id: tenant.into(),
        case_id: "case-1".into(),
        run_id: Some(format!("run_{tenant}")),
        user_ref: "alice".into(),
        title: "Sign-in from Portugal".into(),
        message: "Was this you?".into(),
        expires_at: Utc::now() + Duration::minutes(30),
        receipt: None,
    }
}

fn answer(tenant: &str, prompt_id: &str) -> Answer {
    Answer {
        prompt_id: prompt_id.into(),
        tenant_id: tenant.into(),
        case_id: "case-1".into(),
        user_ref: "alice".into(),
        choice: "deny".into(),
        token_id: format!("tok_{tenant}"),
    }
}

/// Two tenants, each with an answered prompt (two verify follow-ups) and a decided approval
/// whose run waits (one approval follow-up).
async fn two_tenants(db: &TestDb) -> (PgVerificationStore, PgApprovalStore) {
    let verify = PgVerificationStore::new(db.pool.clone()).await.unwrap();
    let approvals = PgApprovalStore::new(db.pool.clone()).await.unwrap();
    let now = Utc::now();
    for tenant in TENANTS {
        verify.create_prompt(&prompt(tenant), now).await.unwrap();
        let recorded = verify
            .answer(&answer(tenant, &format!("vfy_{tenant}")), now)
            .await
            .unwrap();
        assert!(
            matches!(recorded, AnswerOutcome::Recorded(_)),
            "{recorded:?}"
        );
        approvals
            .create(
                NewApproval {
                    id: Some(format!("apr_{tenant}")),
                    tenant_id: tenant.into(),
                    summary: "Isolate host web-01".into(),
                    risk_score: None,
                    requested_action: "isolate_host".into(),
                    expires_at: now + Duration::hours(1),
                    notes: None,
                    run_id: Some(format!("run_{tenant}")),
                    case_id: None,
                },
                now,
            )
            .await
            .unwrap();
        approvals
            .decide(
                tenant,
                &DecisionRequest {
                    approval_id: format!("apr_{tenant}"),
                    decision: Decision::Approve,
                    reviewer: Reviewer {
                        id: "U1".into(),
                        name: "bob".into(),
                    },
                    source: DecisionSource::Api,
                },
                now,
            )
            .await
            .unwrap();
    }
    (verify, approvals)
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
async fn a_tenant_cannot_answer_another_tenants_prompt_even_knowing_its_id() {
    let db = TestDb::new("vfy").await;
    let (verify, _) = two_tenants(&db).await;
    let fresh = prompt("globex");
    let fresh = PendingPrompt {
        prompt_id: "vfy_globex_2".into(),
        ..fresh
    };
    verify.create_prompt(&fresh, Utc::now()).await.unwrap();

    assert_eq!(
        verify
            .answer(&answer("acme", "vfy_globex_2"), Utc::now())
            .await
            .unwrap(),
        AnswerOutcome::UnknownPrompt
    );
    assert_eq!(verify.prompt("acme", "vfy_globex_2").await.unwrap(), None);
    let untouched = verify
        .prompt("globex", "vfy_globex_2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.answered, None);
    assert!(verify.follow_ups("vfy_globex_2").await.unwrap().is_empty());
    db.drop_db().await;
}

#[tokio::test]
async fn the_dispatcher_still_claims_every_tenants_follow_ups() {
    let db = TestDb::new("vfy").await;
    let (verify, approvals) = two_tenants(&db).await;
    let lease = StdDuration::from_secs(60);
    let later = Utc::now() + Duration::seconds(1);

    let claimed = verify.claim_due(later, lease, 10).await.unwrap();
    let mut tenants: Vec<_> = claimed.iter().map(|f| f.tenant_id.as_str()).collect();
    tenants.sort_unstable();
    assert_eq!(tenants, ["acme", "acme", "globex", "globex"]);
    assert!(claimed.iter().all(|f| f.flow == FollowUpFlow::Verify));
    for follow_up in &claimed {
        assert!(verify.complete(follow_up, later).await.unwrap());
    }

    let claimed = approvals.claim_due(later, lease, 10).await.unwrap();
    let mut tenants: Vec<_> = claimed.iter().map(|f| f.tenant_id.as_str()).collect();
    tenants.sort_unstable();
    assert_eq!(tenants, ["acme", "globex"]);
    db.drop_db().await;
}

#[tokio::test]
async fn the_tables_owner_is_held_to_the_tenant_policy_when_not_a_superuser() {
    let db = TestDb::new("vfy").await;
    two_tenants(&db).await;
    let tables = [
        "aisoc_chatops_verify_prompts",
        "aisoc_chatops_verify_follow_ups",
        "aisoc_approval_follow_ups",
    ];

    // A login role that is not a superuser and owns the tables.
    let role = format!("aisoc_owner_{:08x}", rand::random::<u32>());
    let mut statements = vec![format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")];
    statements.extend(
        tables
            .iter()
            .map(|table| format!("ALTER TABLE {table} OWNER TO {role}")),
    );
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let options: PgConnectOptions = support::server_url().parse().unwrap();
    let options = options.database(db.name()).username(&role);
    let mut owner = options.connect().await.expect("the owner role logs in");

    // No tenant set: the owner sees nothing (FORCE ROW LEVEL SECURITY).
    for table in tables {
        assert_eq!(visible(&mut owner, table).await, 0, "{table}");
    }

    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('aisoc.tenant_id', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    for table in tables {
        let tenants: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT tenant_id FROM {table}"
        )))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(tenants, ["acme"], "{table}");
    }
    let reanswered = sqlx::query(
        "UPDATE aisoc_chatops_verify_prompts SET answered_choice = 'acknowledge'
         WHERE prompt_id = 'vfy_globex'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        reanswered.rows_affected(),
        0,
        "another tenant's prompt is not answered"
    );
    let replayed = sqlx::query(
        "UPDATE aisoc_approval_follow_ups SET state = 'pending' WHERE approval_id = 'apr_globex'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        replayed.rows_affected(),
        0,
        "another tenant's follow-up is untouched"
    );
    let moved = sqlx::query(
        "UPDATE aisoc_chatops_verify_prompts SET tenant_id = 'globex' WHERE prompt_id = 'vfy_acme'",
    )
    .execute(&mut *tx)
    .await;
    assert!(
        moved.is_err(),
        "a prompt cannot be moved into another tenant"
    );
    tx.rollback().await.unwrap();

    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('aisoc.tenant_id', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let forged = sqlx::query(
        "INSERT INTO aisoc_chatops_verify_follow_ups
             (prompt_id, kind, tenant_id, case_id, run_id, user_ref, choice, answered_at,
              next_attempt_at, updated_at)
         VALUES ('vfy_acme', 'resume', 'globex', 'case-1', 'run_x', 'mallory', 'deny', now(),
                 now(), now())",
    )
    .execute(&mut *tx)
    .await;
    assert!(forged.is_err(), "no follow-up is queued for another tenant");
    tx.rollback().await.unwrap();
    owner.close().await.unwrap();

    db.drop_db().await;
    let admin: PgConnectOptions = support::server_url().parse().unwrap();
    let mut admin = admin.connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut admin)
        .await
        .unwrap();
}
