//! The in-memory stores do not grow with traffic: finished approvals go after the retention
//! unless their resume still waits, open ones are capped with an error that says so, and the
//! audit log is a ring. Time is the `now` each call passes, as the service's clock gives it.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::follow_up::{AnswerOutbox, FollowUpState};
use aisoc_notify_approvals::memory::{MEMORY_RETENTION, MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::model::{ApprovalRequest, NewApproval};
use aisoc_notify_approvals::store::{ApprovalStore, AuditLog, StoreError};
use aisoc_notify_core::decision::{Decision, DecisionRequest, DecisionSource, Reviewer};
use chrono::{DateTime, TimeDelta, Utc};

const LEASE: Duration = Duration::from_secs(60);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

async fn create(
    store: &MemoryApprovalStore,
    id: &str,
    run: bool,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ApprovalRequest, StoreError> {
    store
        .create(
            NewApproval {
                id: Some(id.into()),
                tenant_id: "acme".into(),
                summary: format!("Isolate host {id}"),
                risk_score: None,
                requested_action: "isolate_host".into(),
                expires_at,
                notes: None,
                run_id: run.then(|| format!("run-{id}")),
                case_id: None,
            },
            now,
        )
        .await
}

async fn decide(store: &MemoryApprovalStore, id: &str, now: DateTime<Utc>) {
    store
        .decide(
            "acme",
            &DecisionRequest {
                approval_id: id.into(),
                decision: Decision::Approve,
                reviewer: Reviewer {
                    id: "U1".into(),
                    name: "alice".into(),
                },
                source: DecisionSource::Api,
            },
            now,
        )
        .await
        .unwrap();
}

async fn delivers(store: &MemoryApprovalStore, id: &str, now: DateTime<Utc>) {
    let claimed = store.claim_due(now, LEASE, 100).await.unwrap();
    let resume = claimed
        .iter()
        .find(|f| f.key == id)
        .expect("its resume is due");
    assert!(store.complete(resume, now).await.unwrap());
}

#[tokio::test]
async fn finished_approvals_go_after_the_retention_unless_their_resume_still_waits() {
    let store = MemoryApprovalStore::new(Arc::new(MemoryAuditLog::new()));
    let t0 = t0();
    let far = t0 + TimeDelta::days(30);
    for (id, run) in [
        ("delivered", true),
        ("unwatched", true),
        ("waiting", true),
        ("dead", true),
        ("pending", false),
    ] {
        create(&store, id, run && id != "unwatched", far, t0)
            .await
            .unwrap();
    }
    let decided_at = t0 + TimeDelta::minutes(1);
    for id in ["delivered", "unwatched", "waiting", "dead"] {
        decide(&store, id, decided_at).await;
    }
    let claimed = store.claim_due(decided_at, LEASE, 100).await.unwrap();
    assert_eq!(claimed.len(), 3, "{claimed:?}");
    for resume in &claimed {
        match resume.key.as_str() {
            "delivered" => assert!(store.complete(resume, decided_at).await.unwrap()),
            "dead" => assert!(
                store
                    .dead_end(resume, "HTTP 400", decided_at)
                    .await
                    .unwrap()
            ),
            _ => {} // "waiting": its claimer died; the resume is still pending
        }
    }

    let just_before = decided_at + MEMORY_RETENTION - TimeDelta::seconds(1);
    create(&store, "new-1", false, far, just_before)
        .await
        .unwrap();
    assert_eq!(store.len(), 6, "nothing is dropped before the retention");

    let after = decided_at + MEMORY_RETENTION;
    create(&store, "new-2", false, far, after).await.unwrap();
    for gone in ["delivered", "unwatched", "dead"] {
        assert!(
            store.get("acme", gone).await.unwrap().is_none(),
            "{gone} is dropped"
        );
        assert!(store.follow_ups(gone).await.unwrap().is_empty());
    }
    for kept in ["waiting", "pending", "new-1", "new-2"] {
        assert!(
            store.get("acme", kept).await.unwrap().is_some(),
            "{kept} is kept"
        );
    }
    assert_eq!(
        store.follow_ups("waiting").await.unwrap()[0].state,
        FollowUpState::Pending,
        "a resume still waiting for delivery is kept"
    );
    assert!(
        store
            .list_follow_ups(FollowUpState::Dead, 10)
            .await
            .unwrap()
            .is_empty(),
        "a dead resume goes with its approval after the retention"
    );
    assert_eq!(store.len(), 4);
}

#[tokio::test]
async fn open_requests_are_capped_with_an_error_that_says_what_frees_room() {
    let store = MemoryApprovalStore::new(Arc::new(MemoryAuditLog::new())).with_max_open(2);
    let t0 = t0();
    let deadline = t0 + TimeDelta::hours(1);
    create(&store, "a", false, deadline, t0).await.unwrap();
    create(&store, "b", true, deadline, t0).await.unwrap();
    let Err(StoreError::Full(message)) = create(&store, "c", false, deadline, t0).await else {
        panic!("the third open request is refused");
    };
    assert!(
        message.contains("2 open requests") && message.contains("limit"),
        "{message}"
    );
    assert!(
        store.get("acme", "c").await.unwrap().is_none(),
        "nothing half-written"
    );

    decide(&store, "a", t0).await;
    create(&store, "c", false, deadline, t0)
        .await
        .expect("a decision frees room");

    decide(&store, "b", t0).await;
    assert!(
        matches!(
            create(&store, "d", false, deadline, t0).await,
            Err(StoreError::Full(_))
        ),
        "a decided request whose run is not resumed yet is still open"
    );
    delivers(&store, "b", t0).await;
    create(&store, "d", true, deadline, t0)
        .await
        .expect("its delivered resume frees room");

    assert!(matches!(
        create(&store, "e", false, deadline, t0).await,
        Err(StoreError::Full(_))
    ));
    // "c" expires unanswered (no run waits) and "d" expires with its `expired` resume queued:
    // only the resume keeps "d" open.
    create(&store, "e", false, deadline + TimeDelta::hours(1), deadline)
        .await
        .expect("an expired request frees room");
    delivers(&store, "d", deadline).await;
    create(&store, "f", false, deadline + TimeDelta::hours(1), deadline)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_audit_log_keeps_the_newest_entries_with_increasing_ids() {
    let audit = Arc::new(MemoryAuditLog::with_capacity(3));
    let store = MemoryApprovalStore::new(audit.clone());
    let t0 = t0();
    for n in 0..5 {
        let id = format!("apr-{n}");
        create(&store, &id, false, t0 + TimeDelta::hours(1), t0)
            .await
            .unwrap();
        decide(&store, &id, t0).await;
    }
    let kept = audit.list("acme", None).await.unwrap();
    assert_eq!(
        kept.iter()
            .map(|e| (e.id, e.subject_id.as_str()))
            .collect::<Vec<_>>(),
        [(3, "apr-2"), (4, "apr-3"), (5, "apr-4")]
    );
    assert_eq!(audit.len(), 3);
}
