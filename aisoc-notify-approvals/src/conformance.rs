//! Backend-agnostic contracts for [`ApprovalStore`], [`AuditLog`] and
//! [`VerificationStore`](crate::verify::VerificationStore), with the follow-up outbox
//! ([`AnswerOutbox`](crate::follow_up::AnswerOutbox)) both stores are (feature `test-util`).
//! Every backend's tests call these; a new backend, the host's own included, is done when they
//! pass.
//!
//! Each function uses fresh random ids, so it can run against a shared database, except those
//! that claim every due follow-up in the store (they say so): give them a store of their own.

use std::sync::Arc;

use aisoc_notify_core::decision::{Decision, DecisionRequest, DecisionSource, Reviewer};
use chrono::{DateTime, Duration, Utc};

use crate::model::{APPROVAL_REVIEWED, ApprovalStatus, NewApproval, new_id};
use crate::store::{ApprovalStore, AuditLog, DecideError, StoreError};

mod follow_ups;
mod verify;

pub use self::follow_ups::{
    a_decision_with_a_waiting_run_queues_one_resume,
    an_approval_nobody_decides_resumes_its_run_on_expired,
    approval_dead_follow_ups_are_listed_and_replayed, racing_reviewers_queue_one_resume,
    verify_dead_follow_ups_are_listed_and_replayed,
};
pub use self::verify::{
    answer_and_follow_ups_are_one_unit, claims_are_leased_and_fenced,
    concurrent_answers_record_once, verification_answers_once,
};

fn now() -> DateTime<Utc> {
    // Whole microseconds, the precision PostgreSQL keeps.
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("in range")
}

fn new_approval(tenant: &str, expires_at: DateTime<Utc>) -> NewApproval {
    NewApproval {
        id: Some(new_id("apr")),
        tenant_id: tenant.to_owned(),
        summary: "Isolate host web-01".into(),
        risk_score: Some(82),
        requested_action: "isolate_host".into(),
        expires_at,
        notes: Some("requested by the triage agent".into()),
        run_id: None,
        case_id: None,
    }
}

fn decision(approval_id: &str, decision: Decision, reviewer: &str) -> DecisionRequest {
    DecisionRequest {
        approval_id: approval_id.to_owned(),
        decision,
        reviewer: Reviewer {
            id: format!("id-{reviewer}"),
            name: reviewer.to_owned(),
        },
        source: DecisionSource::Slack,
    }
}

/// One tenant can neither read nor decide another's request: it looks like an unknown id, and
/// the request stays pending with no audit entry for the intruder; its own tenant still decides
/// it.
pub async fn tenants_are_isolated(store: &dyn ApprovalStore, audit: &dyn AuditLog) {
    let owner = new_id("tenant");
    let intruder = new_id("tenant");
    let t0 = now();
    let approval = store
        .create(new_approval(&owner, t0 + Duration::hours(1)), t0)
        .await
        .unwrap();

    assert_eq!(store.get(&intruder, &approval.id).await.unwrap(), None);
    assert_eq!(
        store
            .decide(
                &intruder,
                &decision(&approval.id, Decision::Approve, "mallory"),
                t0
            )
            .await,
        Err(DecideError::NotFound)
    );
    assert!(store.list(&intruder, None).await.unwrap().is_empty());
    assert!(
        audit
            .list(&intruder, Some(&approval.id))
            .await
            .unwrap()
            .is_empty()
    );
    let untouched = store.get(&owner, &approval.id).await.unwrap().unwrap();
    assert_eq!(untouched.status, ApprovalStatus::Pending);
    assert_eq!(untouched.reviewer, None);
    assert!(
        audit
            .list(&owner, Some(&approval.id))
            .await
            .unwrap()
            .is_empty(),
        "no audit entry was written for the refused decision"
    );
    assert_eq!(
        store.tenant_of(&approval.id).await.unwrap().as_deref(),
        Some(owner.as_str())
    );

    let decided = store
        .decide(&owner, &decision(&approval.id, Decision::Deny, "alice"), t0)
        .await
        .unwrap();
    assert_eq!(decided.status, ApprovalStatus::Denied);
}

/// Creating, reading and listing requests.
pub async fn create_get_list(store: &dyn ApprovalStore) {
    let tenant = new_id("tenant");
    let t0 = now();
    let first = store
        .create(new_approval(&tenant, t0 + Duration::hours(1)), t0)
        .await
        .unwrap();
    assert_eq!(first.status, ApprovalStatus::Pending);
    assert_eq!(first.risk_score, Some(82));
    assert_eq!(
        store
            .get(&first.tenant_id, &first.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&first)
    );
    assert_eq!(store.get(&tenant, "apr_missing").await.unwrap(), None);

    let later = t0 + Duration::seconds(1);
    let second = store
        .create(new_approval(&tenant, later + Duration::hours(1)), later)
        .await
        .unwrap();
    let listed = store.list(&tenant, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        [second.id.as_str(), first.id.as_str()]
    );
    assert!(
        store
            .list(&tenant, Some(ApprovalStatus::Approved))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store.list(&new_id("other"), None).await.unwrap().is_empty(),
        "tenants are separate"
    );

    let mut duplicate = new_approval(&tenant, t0 + Duration::hours(1));
    duplicate.id = Some(first.id.clone());
    assert!(matches!(
        store.create(duplicate, t0).await,
        Err(StoreError::Conflict(_))
    ));
    let mut bad = new_approval(&tenant, t0);
    bad.risk_score = Some(101);
    assert!(matches!(
        store.create(bad, t0).await,
        Err(StoreError::Invalid(_))
    ));
}

/// The decision rule: recorded once with an audit entry; then "already"; unknown; expired.
pub async fn decision_rule(store: &dyn ApprovalStore, audit: &dyn AuditLog) {
    let tenant = new_id("tenant");
    let t0 = now();
    let approval = store
        .create(new_approval(&tenant, t0 + Duration::hours(1)), t0)
        .await
        .unwrap();

    let decided = store
        .decide(
            &approval.tenant_id,
            &decision(&approval.id, Decision::Approve, "alice"),
            t0 + Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.reviewer.as_deref(), Some("alice"));
    assert_eq!(decided.source, Some(DecisionSource::Slack));
    assert_eq!(decided.reviewed_at, Some(t0 + Duration::minutes(5)));

    assert_eq!(
        store
            .decide(
                &approval.tenant_id,
                &decision(&approval.id, Decision::Deny, "bob"),
                t0 + Duration::minutes(6)
            )
            .await,
        Err(DecideError::AlreadyReviewed(Decision::Approve))
    );
    assert_eq!(
        store
            .decide(
                &approval.tenant_id,
                &decision("apr_missing", Decision::Approve, "bob"),
                t0
            )
            .await,
        Err(DecideError::NotFound)
    );
    let stored = store
        .get(&approval.tenant_id, &approval.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.status,
        ApprovalStatus::Approved,
        "the refused decision changed nothing"
    );
    assert_eq!(stored.reviewer.as_deref(), Some("alice"));

    let entries = audit.list(&tenant, Some(&approval.id)).await.unwrap();
    assert_eq!(entries.len(), 1, "one decision, one audit entry");
    assert_eq!(entries[0].action, APPROVAL_REVIEWED);
    assert_eq!(entries[0].actor, "alice");
    assert_eq!(entries[0].details["risk_score"], 82);
    assert_eq!(entries[0].details["reviewer"], "alice");
    assert_eq!(entries[0].details["source"], "slack");
    assert_eq!(entries[0].details["decision"], "approved");
}

/// A decision one second after expiry marks the request expired, and it stays so.
pub async fn expiry(store: &dyn ApprovalStore, audit: &dyn AuditLog) {
    let tenant = new_id("tenant");
    let t0 = now();
    let expires_at = t0 + Duration::minutes(30);
    let approval = store
        .create(new_approval(&tenant, expires_at), t0)
        .await
        .unwrap();

    assert_eq!(
        store
            .decide(
                &approval.tenant_id,
                &decision(&approval.id, Decision::Approve, "alice"),
                expires_at + Duration::seconds(1)
            )
            .await,
        Err(DecideError::Expired)
    );
    let stored = store
        .get(&approval.tenant_id, &approval.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Expired);
    assert_eq!(stored.reviewer, None);
    assert_eq!(
        store
            .decide(
                &approval.tenant_id,
                &decision(&approval.id, Decision::Deny, "bob"),
                expires_at - Duration::minutes(1)
            )
            .await,
        Err(DecideError::Expired),
        "once expired, always expired"
    );
    assert!(
        audit
            .list(&tenant, Some(&approval.id))
            .await
            .unwrap()
            .is_empty()
    );

    // Exactly at the deadline is already too late.
    let edge = store
        .create(new_approval(&tenant, expires_at), t0)
        .await
        .unwrap();
    assert_eq!(
        store
            .decide(
                &edge.tenant_id,
                &decision(&edge.id, Decision::Approve, "alice"),
                expires_at
            )
            .await,
        Err(DecideError::Expired)
    );
}

/// Many reviewers at once: exactly one wins, with exactly one audit entry.
pub async fn concurrent_decisions(
    store: Arc<dyn ApprovalStore>,
    audit: &dyn AuditLog,
    reviewers: usize,
) {
    let tenant = new_id("tenant");
    let t0 = now();
    let approval = store
        .create(new_approval(&tenant, t0 + Duration::hours(1)), t0)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..reviewers)
        .map(|i| {
            let store = Arc::clone(&store);
            let tenant = approval.tenant_id.clone();
            let request = decision(
                &approval.id,
                if i % 2 == 0 {
                    Decision::Approve
                } else {
                    Decision::Deny
                },
                &format!("reviewer-{i}"),
            );
            tokio::spawn(async move {
                store
                    .decide(&tenant, &request, t0 + Duration::seconds(1))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(DecideError::AlreadyReviewed(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1, "exactly one reviewer wins");
    assert_eq!(
        audit.list(&tenant, Some(&approval.id)).await.unwrap().len(),
        1,
        "exactly one audit entry"
    );
}

/// The audit log keeps entries in order and per tenant.
pub async fn audit_append_and_list(audit: &dyn AuditLog) {
    let tenant = new_id("tenant");
    for i in 0..3 {
        audit
            .append(crate::model::NewAuditEntry {
                tenant_id: tenant.clone(),
                action: "custom.event".into(),
                subject_id: format!("s{i}"),
                actor: "system".into(),
                details: serde_json::json!({"n": i}),
                created_at: now(),
            })
            .await
            .unwrap();
    }
    let all = audit.list(&tenant, None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|e| e.details["n"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(audit.list(&tenant, Some("s1")).await.unwrap().len(), 1);
}
