//! The card stores' contract, and the outcome and links the cards show.

use aisoc_notify_approvals::model::{ApprovalRequest, ApprovalStatus};
use aisoc_notify_approvals::verify::ChatopsVerifyConfig;
use aisoc_notify_core::decision::Decision;
use aisoc_notify_core::prompt::PromptOutcome;
use aisoc_notify_core::token::CallbackTokenSigner as _;

use super::*;

fn scratch() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "aisoc-approval-cards-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

#[tokio::test]
async fn the_file_store_keeps_the_contract_and_its_cards_across_a_reopen() {
    let dir = scratch();
    let store = FileApprovalCardStore::open(&dir).await.unwrap();
    conformance::cards_are_kept_per_request_and_channel(&store).await;
    let reopened = FileApprovalCardStore::open(&dir).await.unwrap();
    assert_eq!(reopened.list("acme", "apr_1").await.unwrap().len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    use sqlx::Connection as _;
    let server = "postgres://postgres@127.0.0.1:5432/postgres";
    let name = format!("aisoc_cards_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let options: sqlx::postgres::PgConnectOptions = server.parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.database(&name))
        .await
        .unwrap();
    let store = PgApprovalCardStore::open(pool.clone()).await.unwrap();
    conformance::cards_are_kept_per_request_and_channel(&store).await;

    // Row-level security, not only the queries' filters, keeps tenants apart; the
    // reconciler's role reads every tenant's cards and cannot write.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE aisoc_approval_cards_tenant")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT set_config('aisoc.tenant_id', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let tenants: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT tenant_id FROM aisoc_approval_cards")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(tenants, ["acme"]);
    tx.rollback().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE aisoc_approval_cards_reconciler")
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused = sqlx::query("UPDATE aisoc_approval_cards SET state = 'failed'")
        .execute(&mut *tx)
        .await;
    assert!(refused.is_err(), "the reconciler's role cannot write");
    tx.rollback().await.unwrap();
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

fn request(status: ApprovalStatus) -> ApprovalRequest {
    ApprovalRequest {
        id: "apr_1".into(),
        tenant_id: "acme".into(),
        summary: "Isolate web-01".into(),
        risk_score: Some(82),
        requested_action: "isolate_host".into(),
        status,
        reviewer: Some("alice".into()),
        source: None,
        notes: None,
        created_at: "2026-11-28T10:00:00Z".parse().unwrap(),
        expires_at: "2026-11-28T11:00:00Z".parse().unwrap(),
        reviewed_at: Some("2026-11-28T10:05:00Z".parse().unwrap()),
        run_id: None,
        case_id: None,
    }
}

#[test]
fn a_card_shows_who_decided_and_when_or_that_it_expired() {
    let before = "2026-11-28T10:30:00Z".parse().unwrap();
    let after = "2026-11-28T11:00:00Z".parse().unwrap();
    let approved = outcome_of(&request(ApprovalStatus::Approved), before).unwrap();
    assert_eq!(
        approved,
        PromptOutcome::Decided {
            decision: Decision::Approve,
            reviewer: "alice at 2026-11-28T10:05:00Z".into()
        }
    );
    assert_eq!(
        approved.summary(),
        "Approved by alice at 2026-11-28T10:05:00Z"
    );
    assert_eq!(outcome_of(&request(ApprovalStatus::Pending), before), None);
    assert_eq!(
        outcome_of(&request(ApprovalStatus::Pending), after),
        Some(PromptOutcome::Expired),
        "a pending request past its deadline shows as expired"
    );
    assert_eq!(
        outcome_of(&request(ApprovalStatus::Expired), before),
        Some(PromptOutcome::Expired)
    );
}

#[test]
fn answer_links_live_beside_the_verify_links_and_expire_with_the_request() {
    let config = ChatopsVerifyConfig::from_lookup(|name| match name {
        "AISOC_ACTIONS_PUBLIC_URL" => Some("https://soc.example.com/aisoc".into()),
        "AISOC_CHATOPS_HMAC_SECRET" => Some("k".repeat(32)),
        _ => None,
    })
    .unwrap();
    let links = AnswerLinks::from_verify_config(&config);
    assert_eq!(
        links.base().as_str(),
        "https://soc.example.com/aisoc/v1/approvals/answer/"
    );
    assert!(!format!("{links:?}").contains("kkkk"));
    let now = Utc::now();
    let signer = links
        .signer_until(now + chrono::Duration::seconds(600), now)
        .unwrap();
    let minted = signer
        .mint(&aisoc_notify_core::token::CallbackGrant {
            action: TOKEN_FLOW.into(),
            case_id: "apr_1".into(),
            tenant_id: "acme".into(),
            user_ref: "soc@example.com".into(),
            choice: "approve".into(),
            prompt_id: Some("apr_1".into()),
        })
        .unwrap();
    let lifetime = minted.claims.expires_at - minted.claims.issued_at;
    assert!((599..=600).contains(&lifetime), "{lifetime}");
    assert_eq!(
        links.verifier().unwrap().verify(&minted.token).unwrap(),
        minted.claims
    );
}
