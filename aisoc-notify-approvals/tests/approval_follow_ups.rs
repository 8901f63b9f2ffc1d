//! Approval decisions are acted on exactly once, under injected faults, on the in-memory store
//! and on the real PostgreSQL server: the decision's resume is retried after its backoff until
//! it is delivered, once; a dispatcher that dies after claiming it is superseded after the
//! lease, delivering at most once more with the same idempotency key; a dead resume is listed
//! and, replayed, delivered; a request nobody decides resumes its run on `expired`; the
//! service wakes the dispatcher when a decision queues a resume.
//!
//! Retry waits and leases run on a [`ManualClock`]: nothing here sleeps to synchronise.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::follow_up::{
    FollowUp, FollowUpDispatcher, FollowUpFlow, FollowUpKind, FollowUpState, HookError,
    ReplayOutcome, default_follow_up_policy,
};
use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::model::{ApprovalRequest, ApprovalStatus, NewApproval};
use aisoc_notify_approvals::postgres::PgApprovalStore;
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_approvals::store::ApprovalStore;
use aisoc_notify_core::clock::{Clock, ManualClock};
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionHandler, DecisionRequest, DecisionSource, Reviewer,
};
use aisoc_notify_core::retry::{RetryClass, RetryPolicy};
use chrono::{DateTime, Utc};
use support::TestDb;
use support::hooks::{Resumer, Timeline};

/// Where the store comes from: the same state each time, like a process that restarts.
enum Backend {
    Memory(Arc<MemoryApprovalStore>),
    Postgres(TestDb),
}

impl Backend {
    fn memory() -> Self {
        Backend::Memory(Arc::new(MemoryApprovalStore::new(Arc::new(
            MemoryAuditLog::new(),
        ))))
    }

    async fn postgres() -> Self {
        Backend::Postgres(TestDb::new("aprf").await)
    }

    /// A store over the backend's state; on PostgreSQL a new pool each time, as a restarted
    /// process would open.
    async fn store(&self) -> Arc<dyn ApprovalStore> {
        match self {
            Backend::Memory(store) => store.clone(),
            Backend::Postgres(db) => {
                Arc::new(PgApprovalStore::new(db.fresh_pool().await).await.unwrap())
            }
        }
    }

    async fn finish(self) {
        if let Backend::Postgres(db) = self {
            db.drop_db().await;
        }
    }
}

/// One deciding "process": the service and its dispatcher over a store.
struct Process {
    store: Arc<dyn ApprovalStore>,
    service: ApprovalService,
    dispatcher: Arc<FollowUpDispatcher>,
}

fn process(
    store: Arc<dyn ApprovalStore>,
    resumer: Arc<Resumer>,
    clock: &Arc<ManualClock>,
    policy: RetryPolicy,
) -> Process {
    let dispatcher = Arc::new(
        FollowUpDispatcher::new(store.clone(), Arc::new(Timeline::default()), resumer)
            .with_clock(clock.clone())
            .with_policy(policy),
    );
    let service = ApprovalService::new(store.clone())
        .with_clock(clock.clone())
        .with_follow_ups(dispatcher.clone());
    Process {
        store,
        service,
        dispatcher,
    }
}

/// Whole microseconds, the precision PostgreSQL keeps.
fn start() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

/// A request the run `run-1` of case `case-7` waits on, open for 30 minutes.
async fn waiting_request(p: &Process) -> ApprovalRequest {
    p.service
        .create(NewApproval {
            id: None,
            tenant_id: "acme".into(),
            summary: "Isolate host web-01".into(),
            risk_score: Some(82),
            requested_action: "isolate_host".into(),
            expires_at: p.service.expires_in(Duration::from_secs(1800)).unwrap(),
            notes: None,
            run_id: Some("run-1".into()),
            case_id: Some("case-7".into()),
        })
        .await
        .unwrap()
}

async fn decide(p: &Process, approval: &ApprovalRequest, decision: Decision) {
    p.service
        .decide(DecisionRequest {
            approval_id: approval.id.clone(),
            decision,
            reviewer: Reviewer {
                id: "U1".into(),
                name: "alice".into(),
            },
            source: DecisionSource::Api,
        })
        .await
        .unwrap();
}

async fn the_resume(p: &Process, approval: &ApprovalRequest) -> FollowUp {
    let follow_ups = p.store.follow_ups(&approval.id).await.unwrap();
    assert_eq!(follow_ups.len(), 1, "{follow_ups:?}");
    follow_ups.into_iter().next().unwrap()
}

async fn a_failing_resume_is_retried_after_its_backoff_and_delivered_once(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let resumer = Resumer::failing([
        HookError::retryable("the orchestrator answered HTTP 503"),
        HookError::new(
            "the orchestrator answered HTTP 429",
            RetryClass::Throttled(Duration::from_secs(30)),
        ),
    ]);
    let p = process(
        backend.store().await,
        resumer.clone(),
        &clock,
        default_follow_up_policy(),
    );
    let approval = waiting_request(&p).await;
    decide(&p, &approval, Decision::Approve).await;

    for attempt in 1..=3 {
        let report = p.dispatcher.run_due().await.unwrap();
        assert_eq!(resumer.calls(), attempt, "attempt {attempt}: {report:?}");
        let resume = the_resume(&p, &approval).await;
        assert_eq!(resume.attempts, u32::try_from(attempt).unwrap());
        if attempt == 3 {
            assert_eq!(
                (resume.state, resume.last_error),
                (FollowUpState::Done, None)
            );
            break;
        }
        assert_eq!(resume.state, FollowUpState::Pending);
        let wait = resume.next_attempt_at - clock.now();
        assert!(wait > chrono::Duration::zero(), "a backoff: {wait}");
        if attempt == 2 {
            assert!(
                wait >= chrono::Duration::seconds(30),
                "a throttled resume waits at least as asked: {wait}"
            );
        }
        // Not a moment early.
        clock.set(resume.next_attempt_at - chrono::Duration::milliseconds(1));
        assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);
        clock.set(resume.next_attempt_at);
    }
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);
    let resumed = resumer.resumed();
    assert_eq!(resumed.len(), 1, "resumed exactly once");
    assert_eq!(
        (
            resumed[0].flow,
            resumed[0].run_id.as_str(),
            resumed[0].branch.as_str(),
            resumed[0].idempotency_key.as_str(),
            resumed[0].case_id.as_deref(),
        ),
        (
            FollowUpFlow::Approval,
            "run-1",
            "approve",
            approval.id.as_str(),
            Some("case-7")
        ),
        "the approval id is the idempotency key"
    );
    assert!(
        resumer
            .calls
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.idempotency_key == approval.id),
        "every attempt carries the same key"
    );
    backend.finish().await;
}

async fn a_dispatcher_that_dies_after_claiming_is_superseded_after_the_lease(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let hanging = Resumer::hanging();
    let first = process(
        backend.store().await,
        hanging.clone(),
        &clock,
        default_follow_up_policy(),
    );
    let approval = waiting_request(&first).await;
    decide(&first, &approval, Decision::Deny).await;
    let dispatcher = first.dispatcher.clone();
    let dying = tokio::spawn(async move { dispatcher.run_due().await });
    hanging.called.notified().await;
    dying.abort(); // killed in the middle of the resume request
    assert!(dying.await.unwrap_err().is_cancelled());
    drop(first);

    let resumer = Resumer::failing([]);
    let next = process(
        backend.store().await,
        resumer.clone(),
        &clock,
        default_follow_up_policy(),
    );
    assert_eq!(
        next.dispatcher.run_due().await.unwrap().claimed,
        0,
        "the dead process's lease still holds"
    );
    clock.advance(Duration::from_secs(301));
    let report = next.dispatcher.run_due().await.unwrap();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(next.dispatcher.run_due().await.unwrap().claimed, 0);
    let calls: Vec<_> = hanging
        .calls
        .lock()
        .unwrap()
        .iter()
        .chain(resumer.calls.lock().unwrap().iter())
        .map(|c| (c.idempotency_key.clone(), c.branch.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (approval.id.clone(), "deny".to_owned()),
            (approval.id.clone(), "deny".to_owned())
        ],
        "delivered at most once more, with the same key"
    );
    assert_eq!(resumer.resumed().len(), 1);
    assert_eq!(the_resume(&next, &approval).await.attempts, 2);
    backend.finish().await;
}

async fn a_dead_resume_is_listed_replayed_and_delivered(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let resumer = Resumer::failing([HookError::permanent("the orchestrator answered HTTP 400")]);
    let p = process(
        backend.store().await,
        resumer.clone(),
        &clock,
        default_follow_up_policy(),
    );
    let approval = waiting_request(&p).await;
    decide(&p, &approval, Decision::Approve).await;
    let report = p.dispatcher.run_due().await.unwrap();
    assert_eq!(report.dead, 1, "{report:?}");
    let dead = p
        .store
        .list_follow_ups(FollowUpState::Dead, 10)
        .await
        .unwrap();
    assert_eq!(
        dead.iter()
            .map(|f| (f.key.as_str(), f.last_error.as_deref()))
            .collect::<Vec<_>>(),
        [(
            approval.id.as_str(),
            Some("non_retryable: the orchestrator answered HTTP 400")
        )]
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        p.dispatcher.run_due().await.unwrap().claimed,
        0,
        "dead stays dead until replayed"
    );

    // The orchestrator is fixed; an operator replays the resume.
    let replayed = p
        .store
        .replay(&approval.id, FollowUpKind::Resume, clock.now())
        .await
        .unwrap();
    assert!(
        matches!(replayed, ReplayOutcome::Replayed(_)),
        "{replayed:?}"
    );
    let report = p.dispatcher.run_due().await.unwrap();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    assert_eq!(resumer.calls(), 2);
    assert_eq!(resumer.resumed()[0].idempotency_key, approval.id);
    let resume = the_resume(&p, &approval).await;
    assert_eq!((resume.state, resume.attempts), (FollowUpState::Done, 1));
    assert!(
        p.store
            .list_follow_ups(FollowUpState::Dead, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        p.store
            .replay(&approval.id, FollowUpKind::Resume, clock.now())
            .await
            .unwrap(),
        ReplayOutcome::NotDead(FollowUpState::Done)
    );
    backend.finish().await;
}

async fn a_request_nobody_decides_resumes_its_run_on_expired(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let resumer = Resumer::failing([]);
    let p = process(
        backend.store().await,
        resumer.clone(),
        &clock,
        default_follow_up_policy(),
    );
    let approval = waiting_request(&p).await;
    clock.set(approval.expires_at - chrono::Duration::seconds(1));
    assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);
    clock.set(approval.expires_at);
    let report = p.dispatcher.run_due().await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    let resumed = resumer.resumed();
    assert_eq!(
        (
            resumed[0].branch.as_str(),
            resumed[0].idempotency_key.as_str()
        ),
        ("expired", approval.id.as_str())
    );
    assert_eq!(
        p.store
            .get(&approval.tenant_id, &approval.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Expired
    );
    let late = p
        .service
        .decide(DecisionRequest {
            approval_id: approval.id.clone(),
            decision: Decision::Approve,
            reviewer: Reviewer {
                id: "U1".into(),
                name: "alice".into(),
            },
            source: DecisionSource::Slack,
        })
        .await;
    assert_eq!(late, Err(DecisionError::Expired));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);
    assert_eq!(resumer.calls(), 1, "resumed once");
    backend.finish().await;
}

async fn a_decision_wakes_the_running_dispatcher(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let resumer = Resumer::failing([]);
    let store = backend.store().await;
    let dispatcher = Arc::new(
        FollowUpDispatcher::new(
            store.clone(),
            Arc::new(Timeline::default()),
            resumer.clone(),
        )
        .with_clock(clock.clone())
        // Far longer than the test may take: only the wake-up can deliver in time.
        .with_poll_interval(Duration::from_secs(3600)),
    );
    let p = Process {
        service: ApprovalService::new(store.clone())
            .with_clock(clock.clone())
            .with_follow_ups(dispatcher.clone()),
        store,
        dispatcher,
    };
    // A resume queued before the worker starts goes out in its first pass; once it is called,
    // that pass claims nothing more.
    let before = waiting_request(&p).await;
    decide(&p, &before, Decision::Approve).await;
    let worker = p.dispatcher.clone().spawn();
    tokio::time::timeout(Duration::from_secs(10), resumer.called.notified())
        .await
        .expect("the first pass resumes what was queued");

    let approval = waiting_request(&p).await;
    decide(&p, &approval, Decision::Deny).await;
    tokio::time::timeout(Duration::from_secs(10), resumer.called.notified())
        .await
        .expect("the decision woke the dispatcher");
    worker.abort();
    let _ = worker.await;
    assert_eq!(
        resumer
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        [before.id.as_str(), approval.id.as_str()]
    );
    backend.finish().await;
}

/// Runs each scenario on the in-memory store and on PostgreSQL.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(Backend::memory()).await;
                }
            )*
        }

        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(Backend::postgres().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_failing_resume_is_retried_after_its_backoff_and_delivered_once,
    a_dispatcher_that_dies_after_claiming_is_superseded_after_the_lease,
    a_dead_resume_is_listed_replayed_and_delivered,
    a_request_nobody_decides_resumes_its_run_on_expired,
    a_decision_wakes_the_running_dispatcher,
);
