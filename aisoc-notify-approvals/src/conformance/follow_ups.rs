//! The follow-up contracts of approvals (a decision and its resume are one unit; one resume
//! per approval, ever; an approval nobody decides resumes its run on `expired`) and of every
//! [`AnswerOutbox`]: dead follow-ups are listed newest first and can be replayed.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use aisoc_notify_core::decision::Decision;
use chrono::{DateTime, Duration, Utc};

use super::{decision, new_approval, now};
use crate::follow_up::{
    AnswerOutbox, EXPIRED_BRANCH, FollowUp, FollowUpFlow, FollowUpKind, FollowUpState,
    ReplayOutcome,
};
use crate::model::{ApprovalRequest, ApprovalStatus, NewApproval, new_id};
use crate::store::{ApprovalStore, DecideError, StoreError};
use crate::verify::{Answer, PendingPrompt, VerificationStore};

const LEASE: StdDuration = StdDuration::from_secs(60);

fn waiting(tenant: &str, run_id: &str, expires_at: DateTime<Utc>) -> NewApproval {
    NewApproval {
        run_id: Some(run_id.to_owned()),
        case_id: Some("case-42".into()),
        ..new_approval(tenant, expires_at)
    }
}

async fn the_resume(store: &dyn ApprovalStore, approval: &ApprovalRequest) -> Vec<FollowUp> {
    store.follow_ups(&approval.id).await.unwrap()
}

/// A decision on a request a run waits on queues exactly one resume with it: the approval id
/// as key, the decision as branch, due at once; a refused second decision queues nothing, and
/// a request no run waits on has nothing to resume. `run_id` and `case_id` are kept and
/// validated (1-128 characters).
pub async fn a_decision_with_a_waiting_run_queues_one_resume(store: &dyn ApprovalStore) {
    let tenant = new_id("tenant");
    let t0 = now();
    let approval = store
        .create(waiting(&tenant, "run-1", t0 + Duration::hours(1)), t0)
        .await
        .unwrap();
    assert_eq!(
        (approval.run_id.as_deref(), approval.case_id.as_deref()),
        (Some("run-1"), Some("case-42"))
    );
    assert_eq!(
        store
            .get(&approval.tenant_id, &approval.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&approval)
    );
    assert!(
        the_resume(store, &approval).await.is_empty(),
        "nothing to resume before the decision"
    );

    let decided_at = t0 + Duration::minutes(5);
    store
        .decide(
            &approval.tenant_id,
            &decision(&approval.id, Decision::Approve, "alice"),
            decided_at,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .decide(
                &approval.tenant_id,
                &decision(&approval.id, Decision::Deny, "bob"),
                decided_at + Duration::seconds(1)
            )
            .await,
        Err(DecideError::AlreadyReviewed(Decision::Approve))
    );
    let follow_ups = the_resume(store, &approval).await;
    assert_eq!(
        follow_ups.len(),
        1,
        "one decision, one resume: {follow_ups:?}"
    );
    let resume = &follow_ups[0];
    assert_eq!(
        (resume.flow, resume.kind, resume.key.as_str()),
        (
            FollowUpFlow::Approval,
            FollowUpKind::Resume,
            approval.id.as_str()
        )
    );
    assert_eq!(
        (resume.state, resume.attempts, resume.next_attempt_at),
        (FollowUpState::Pending, 0, decided_at),
        "pending and due at once"
    );
    assert_eq!(
        (resume.choice.as_str(), resume.actor.as_str()),
        ("approve", "alice")
    );
    assert_eq!(resume.last_error, None);
    let request = resume.resume_request().expect("a run waits");
    assert_eq!(
        (
            request.flow,
            request.run_id.as_str(),
            request.branch.as_str(),
            request.idempotency_key.as_str(),
            request.case_id.as_deref()
        ),
        (
            FollowUpFlow::Approval,
            "run-1",
            "approve",
            approval.id.as_str(),
            Some("case-42")
        )
    );

    let denied = store
        .create(waiting(&tenant, "run-2", t0 + Duration::hours(1)), t0)
        .await
        .unwrap();
    store
        .decide(
            &denied.tenant_id,
            &decision(&denied.id, Decision::Deny, "bob"),
            decided_at,
        )
        .await
        .unwrap();
    assert_eq!(the_resume(store, &denied).await[0].choice, "deny");

    let unwatched = store
        .create(new_approval(&tenant, t0 + Duration::hours(1)), t0)
        .await
        .unwrap();
    store
        .decide(
            &unwatched.tenant_id,
            &decision(&unwatched.id, Decision::Approve, "alice"),
            decided_at,
        )
        .await
        .unwrap();
    assert!(
        the_resume(store, &unwatched).await.is_empty(),
        "no run waits, so there is nothing to resume"
    );

    for (run_id, case_id) in [
        (Some(String::new()), None),
        (Some("  ".to_owned()), None),
        (Some("r".repeat(129)), None),
        (None, Some("c".repeat(129))),
    ] {
        let bad = NewApproval {
            run_id,
            case_id,
            ..new_approval(&tenant, t0 + Duration::hours(1))
        };
        assert!(
            matches!(store.create(bad, t0).await, Err(StoreError::Invalid(_))),
            "run_id and case_id are 1-128 characters"
        );
    }
    let longest = NewApproval {
        run_id: Some("r".repeat(128)),
        ..new_approval(&tenant, t0 + Duration::hours(1))
    };
    assert!(store.create(longest, t0).await.is_ok());
}

/// Many reviewers deciding at once: one wins, and exactly one resume is queued, on the
/// winner's branch.
pub async fn racing_reviewers_queue_one_resume(store: Arc<dyn ApprovalStore>, reviewers: usize) {
    let tenant = new_id("tenant");
    let t0 = now();
    let approval = store
        .create(waiting(&tenant, "run-race", t0 + Duration::hours(1)), t0)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..reviewers)
        .map(|i| {
            let store = Arc::clone(&store);
            let choice = if i % 2 == 0 {
                Decision::Approve
            } else {
                Decision::Deny
            };
            let request = decision(&approval.id, choice, &format!("reviewer-{i}"));
            let tenant = approval.tenant_id.clone();
            tokio::spawn(async move {
                store
                    .decide(&tenant, &request, t0 + Duration::seconds(1))
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(decided) => winners.push(decided),
            Err(DecideError::AlreadyReviewed(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one reviewer wins");
    let follow_ups = store.follow_ups(&approval.id).await.unwrap();
    assert_eq!(follow_ups.len(), 1, "exactly one resume: {follow_ups:?}");
    let branch = match winners[0].status {
        ApprovalStatus::Approved => "approve",
        _ => "deny",
    };
    assert_eq!(follow_ups[0].choice, branch);
    assert_eq!(Some(&follow_ups[0].actor), winners[0].reviewer.as_ref());
}

/// A request a run waits on that nobody decides in time resumes the run on `expired`: once
/// the deadline passes, a claim (what the dispatcher does each pass) marks it expired and
/// claims its resume; a decision that comes too late does the same. Claims every due
/// follow-up in the store.
pub async fn an_approval_nobody_decides_resumes_its_run_on_expired(store: &dyn ApprovalStore) {
    let tenant = new_id("tenant");
    let t0 = now();
    let deadline = t0 + Duration::minutes(30);
    let forgotten = store
        .create(waiting(&tenant, "run-forgotten", deadline), t0)
        .await
        .unwrap();
    let late = store
        .create(waiting(&tenant, "run-late", deadline), t0)
        .await
        .unwrap();
    let unwatched = store
        .create(new_approval(&tenant, deadline), t0)
        .await
        .unwrap();

    assert!(
        store
            .claim_due(deadline - Duration::seconds(1), LEASE, 100)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due before the deadline"
    );
    assert_eq!(
        store
            .get(&forgotten.tenant_id, &forgotten.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Pending
    );

    let too_late = deadline + Duration::seconds(1);
    assert_eq!(
        store
            .decide(
                &late.tenant_id,
                &decision(&late.id, Decision::Approve, "alice"),
                too_late
            )
            .await,
        Err(DecideError::Expired)
    );
    let claimed = store.claim_due(too_late, LEASE, 100).await.unwrap();
    let mut resumed: Vec<(&str, &str, &str)> = claimed
        .iter()
        .map(|f| (f.key.as_str(), f.choice.as_str(), f.actor.as_str()))
        .collect();
    resumed.sort_unstable();
    let mut expected = vec![
        (forgotten.id.as_str(), EXPIRED_BRANCH, "system"),
        (late.id.as_str(), EXPIRED_BRANCH, "system"),
    ];
    expected.sort_unstable();
    assert_eq!(
        resumed, expected,
        "each waiting run resumes on `expired`, once"
    );
    for approval in [&forgotten, &late, &unwatched] {
        let stored = store
            .get(&approval.tenant_id, &approval.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, ApprovalStatus::Expired);
        assert_eq!(stored.reviewer, None);
    }
    assert!(store.follow_ups(&unwatched.id).await.unwrap().is_empty());
    assert!(
        store
            .expire_due(too_late + Duration::hours(1))
            .await
            .unwrap()
            .is_empty(),
        "expired once"
    );
    assert!(
        store
            .claim_due(too_late + Duration::hours(1), LEASE, 100)
            .await
            .unwrap()
            .iter()
            .all(|f| f.key != unwatched.id),
    );
}

/// Dead-ends the due follow-ups `first` and `second` (of `kind`), completes every other due
/// one, then checks listing and replay. Claims every due follow-up in the store.
async fn dead_end_list_and_replay(
    outbox: &dyn AnswerOutbox,
    kind: FollowUpKind,
    first: &str,
    second: &str,
    t0: DateTime<Utc>,
) {
    let claimed = outbox.claim_due(t0, LEASE, 100).await.unwrap();
    let wanted = |f: &FollowUp, key: &str| f.kind == kind && f.key == key;
    assert!(claimed.iter().any(|f| wanted(f, first)) && claimed.iter().any(|f| wanted(f, second)));
    let mut done = None;
    for follow_up in &claimed {
        if wanted(follow_up, first) {
            assert!(
                outbox
                    .dead_end(
                        follow_up,
                        "non_retryable: HTTP 400",
                        t0 + Duration::seconds(1)
                    )
                    .await
                    .unwrap()
            );
        } else if wanted(follow_up, second) {
            assert!(
                outbox
                    .dead_end(
                        follow_up,
                        "gave up after 15 attempts: HTTP 503",
                        t0 + Duration::seconds(2)
                    )
                    .await
                    .unwrap()
            );
        } else {
            assert!(outbox.complete(follow_up, t0).await.unwrap());
            done = Some(follow_up.clone());
        }
    }

    let dead = outbox
        .list_follow_ups(FollowUpState::Dead, 10)
        .await
        .unwrap();
    assert_eq!(
        dead.iter()
            .map(|f| (f.key.as_str(), f.kind))
            .collect::<Vec<_>>(),
        [(second, kind), (first, kind)],
        "newest first"
    );
    assert_eq!(
        dead[0].updated_at,
        t0 + Duration::seconds(2),
        "when it was given up on"
    );
    assert_eq!(
        dead[1].last_error.as_deref(),
        Some("non_retryable: HTTP 400")
    );
    assert_eq!(
        outbox
            .list_follow_ups(FollowUpState::Dead, 1)
            .await
            .unwrap()
            .len(),
        1,
        "the limit holds"
    );
    assert!(
        outbox
            .list_follow_ups(FollowUpState::Pending, 100)
            .await
            .unwrap()
            .iter()
            .all(|f| f.key != first && f.key != second)
    );

    let replayed_at = t0 + Duration::minutes(10);
    assert_eq!(
        outbox.replay("missing", kind, replayed_at).await.unwrap(),
        ReplayOutcome::Unknown
    );
    if let Some(done) = &done {
        assert_eq!(
            outbox
                .replay(&done.key, done.kind, replayed_at)
                .await
                .unwrap(),
            ReplayOutcome::NotDead(FollowUpState::Done),
            "a delivered follow-up is not replayed"
        );
    }
    let ReplayOutcome::Replayed(replayed) = outbox.replay(first, kind, replayed_at).await.unwrap()
    else {
        panic!("a dead follow-up is replayed");
    };
    assert_eq!(
        (replayed.state, replayed.attempts, replayed.next_attempt_at),
        (FollowUpState::Pending, 0, replayed_at),
        "pending again, due now, with a fresh retry budget"
    );
    assert_eq!(
        replayed.last_error.as_deref(),
        Some("non_retryable: HTTP 400"),
        "the reason stays until an attempt succeeds"
    );
    assert_eq!(
        outbox.replay(first, kind, replayed_at).await.unwrap(),
        ReplayOutcome::NotDead(FollowUpState::Pending),
        "replaying twice changes nothing"
    );
    assert!(
        outbox
            .claim_due(replayed_at - Duration::seconds(1), LEASE, 100)
            .await
            .unwrap()
            .is_empty(),
        "due from the replay on"
    );
    let again = outbox.claim_due(replayed_at, LEASE, 100).await.unwrap();
    assert_eq!(
        again
            .iter()
            .map(|f| (f.key.as_str(), f.kind, f.attempts))
            .collect::<Vec<_>>(),
        [(first, kind, 1)]
    );
    assert!(outbox.complete(&again[0], replayed_at).await.unwrap());
    let delivered = outbox.follow_ups(first).await.unwrap();
    let delivered = delivered.iter().find(|f| f.kind == kind).unwrap();
    assert_eq!(
        (delivered.state, delivered.last_error.as_deref()),
        (FollowUpState::Done, None)
    );
    assert_eq!(
        outbox
            .list_follow_ups(FollowUpState::Dead, 10)
            .await
            .unwrap()
            .iter()
            .map(|f| f.key.as_str())
            .collect::<Vec<_>>(),
        [second]
    );
}

/// Dead approval resumes are listed newest first and replayed once: pending, due now,
/// attempts reset, the last error kept until delivered. Claims every due follow-up in the
/// store.
pub async fn approval_dead_follow_ups_are_listed_and_replayed(store: &dyn ApprovalStore) {
    let tenant = new_id("tenant");
    let t0 = now();
    let mut ids = Vec::new();
    for run in ["run-a", "run-b", "run-c"] {
        let approval = store
            .create(waiting(&tenant, run, t0 + Duration::hours(1)), t0)
            .await
            .unwrap();
        store
            .decide(
                &approval.tenant_id,
                &decision(&approval.id, Decision::Deny, "alice"),
                t0,
            )
            .await
            .unwrap();
        ids.push(approval.id);
    }
    dead_end_list_and_replay(store, FollowUpKind::Resume, &ids[0], &ids[1], t0).await;
    let listed = store
        .list_follow_ups(FollowUpState::Done, 10)
        .await
        .unwrap();
    assert!(listed.iter().all(|f| f.flow == FollowUpFlow::Approval));
}

/// Dead `chatops.verify` follow-ups are listed and replayed the same way. Claims every due
/// follow-up in the store.
pub async fn verify_dead_follow_ups_are_listed_and_replayed(store: &dyn VerificationStore) {
    let mut ids = Vec::new();
    for run in ["run-a", "run-b"] {
        let prompt = PendingPrompt {
            prompt_id: new_id("vfy"),
            tenant_id: "acme".into(),
            case_id: "case-1".into(),
            run_id: Some(run.into()),
            user_ref: "alice".into(),
            title: "Sign-in".into(),
            message: "Was this you?".into(),
            expires_at: now() + Duration::minutes(30),
            receipt: None,
        };
        store.create_prompt(&prompt, now()).await.unwrap();
        let answer = Answer {
            prompt_id: prompt.prompt_id.clone(),
            tenant_id: prompt.tenant_id.clone(),
            case_id: prompt.case_id.clone(),
            user_ref: prompt.user_ref.clone(),
            choice: "deny".into(),
            token_id: new_id("tok"),
        };
        store.answer(&answer, now()).await.unwrap();
        ids.push(prompt.prompt_id);
    }
    dead_end_list_and_replay(store, FollowUpKind::Resume, &ids[0], &ids[1], now()).await;
    let timeline = store.follow_ups(&ids[0]).await.unwrap();
    assert_eq!(
        (timeline[0].kind, timeline[0].state),
        (FollowUpKind::Timeline, FollowUpState::Done)
    );
    assert!(
        store
            .list_follow_ups(FollowUpState::Done, 10)
            .await
            .unwrap()
            .iter()
            .all(|f| f.flow == FollowUpFlow::Verify)
    );
}
