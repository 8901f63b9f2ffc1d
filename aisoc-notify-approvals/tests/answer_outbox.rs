//! Answers are acted on exactly once, under injected faults, on the in-memory store and on
//! the real PostgreSQL server: a resume that fails is retried until it is delivered, once; a
//! process that dies after the answer is committed, or in the middle of the resume, leaves
//! the resume to the next process, which delivers it once; opening a link never records; of
//! concurrent button presses one records.
//!
//! Retry waits and leases run on a [`ManualClock`]: nothing here sleeps to synchronise.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::postgres::PgVerificationStore;
use aisoc_notify_approvals::routes::router;
use aisoc_notify_approvals::verify::{
    FollowUpDispatcher, FollowUpKind, FollowUpState, HookError, MemoryVerificationStore,
    PendingPrompt, VerificationStore, VerifyCallback, VerifyCallbackError,
};
use aisoc_notify_core::clock::{Clock, ManualClock};
use aisoc_notify_core::retry::{RetryClass, RetryPolicy};
use aisoc_notify_core::token::{CallbackGrant, CallbackTokenSigner, HmacCallbackTokenSigner};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use support::TestDb;
use support::hooks::{Resumer, Timeline};
use tower::ServiceExt;

const SECRET: &[u8] = b"answer-outbox-test-secret-0123456789";

/// Where the stores come from: the same state each time, like a process that restarts.
enum Backend {
    Memory(Arc<MemoryVerificationStore>),
    Postgres(TestDb),
}

impl Backend {
    fn memory() -> Self {
        Backend::Memory(Arc::new(MemoryVerificationStore::new()))
    }

    async fn postgres() -> Self {
        Backend::Postgres(TestDb::new("vfy").await)
    }

    /// A store over the backend's state; on PostgreSQL a new pool each time, as a restarted
    /// process would open.
    async fn store(&self) -> Arc<dyn VerificationStore> {
        match self {
            Backend::Memory(store) => store.clone(),
            Backend::Postgres(db) => Arc::new(
                PgVerificationStore::new(db.fresh_pool().await)
                    .await
                    .unwrap(),
            ),
        }
    }

    async fn finish(self) {
        if let Backend::Postgres(db) = self {
            db.drop_db().await;
        }
    }
}

/// One answering "process": its dispatcher and callback over a store.
struct Process {
    store: Arc<dyn VerificationStore>,
    dispatcher: Arc<FollowUpDispatcher>,
    callback: VerifyCallback,
}

fn signer(clock: &Arc<ManualClock>) -> Arc<dyn CallbackTokenSigner> {
    Arc::new(
        HmacCallbackTokenSigner::new("chatops", SECRET.to_vec())
            .unwrap()
            .with_clock(clock.clone()),
    )
}

fn process(
    store: Arc<dyn VerificationStore>,
    timeline: Arc<Timeline>,
    resumer: Arc<Resumer>,
    clock: &Arc<ManualClock>,
    policy: RetryPolicy,
) -> Process {
    let dispatcher = Arc::new(
        FollowUpDispatcher::new(store.clone(), timeline, resumer)
            .with_clock(clock.clone())
            .with_policy(policy),
    );
    let callback = VerifyCallback::new(signer(clock), store.clone(), dispatcher.clone())
        .with_clock(clock.clone());
    Process {
        store,
        dispatcher,
        callback,
    }
}

/// Whole microseconds, the precision PostgreSQL keeps.
fn start() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

/// Stores a prompt waiting on `run-1` and mints the link token for `choice`.
async fn prompt(store: &dyn VerificationStore, clock: &Arc<ManualClock>) -> PendingPrompt {
    let prompt = PendingPrompt {
        prompt_id: format!("vfy_{:016x}", rand::random::<u64>()),
        tenant_id: "acme".into(),
        case_id: "case-7".into(),
        run_id: Some("run-1".into()),
        user_ref: "U0ALICE".into(),
        title: "Sign-in from Portugal".into(),
        message: "Someone signed in as you from Lisbon. Was this you?".into(),
        expires_at: clock.now() + chrono::Duration::minutes(30),
        receipt: None,
    };
    store.create_prompt(&prompt, clock.now()).await.unwrap();
    prompt
}

fn token(clock: &Arc<ManualClock>, prompt: &PendingPrompt, choice: &str) -> String {
    signer(clock)
        .mint(&CallbackGrant {
            action: "chatops.verify".into(),
            case_id: prompt.case_id.clone(),
            tenant_id: prompt.tenant_id.clone(),
            user_ref: prompt.user_ref.clone(),
            choice: choice.into(),
            prompt_id: Some(prompt.prompt_id.clone()),
        })
        .unwrap()
        .token
}

async fn resume_follow_up(
    store: &dyn VerificationStore,
    prompt: &PendingPrompt,
) -> aisoc_notify_approvals::verify::FollowUp {
    store
        .follow_ups(&prompt.prompt_id)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.kind == FollowUpKind::Resume)
        .expect("a resume is queued with the answer")
}

async fn a_failing_resume_is_retried_on_schedule_and_delivered_once(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let resumer = Resumer::failing([
        HookError::retryable("the orchestrator answered HTTP 503"),
        HookError::new(
            "the orchestrator answered HTTP 429",
            RetryClass::Throttled(Duration::from_secs(30)),
        ),
        HookError::retryable("connection refused"),
    ]);
    let timeline = Arc::new(Timeline::default());
    let p = process(
        backend.store().await,
        timeline.clone(),
        resumer.clone(),
        &clock,
        RetryPolicy {
            max_attempts: 10,
            ..aisoc_notify_approvals::verify::default_follow_up_policy()
        },
    );
    let prompt = prompt(p.store.as_ref(), &clock).await;
    let answered = p
        .callback
        .answer(&token(&clock, &prompt, "deny"))
        .await
        .unwrap();
    assert!(answered.resume_queued);

    for attempt in 1..=4 {
        let report = p.dispatcher.run_due().await.unwrap();
        assert_eq!(resumer.calls(), attempt, "attempt {attempt}: {report:?}");
        let follow_up = resume_follow_up(p.store.as_ref(), &prompt).await;
        assert_eq!(follow_up.attempts, u32::try_from(attempt).unwrap());
        if attempt == 4 {
            assert_eq!(follow_up.state, FollowUpState::Done);
            break;
        }
        assert_eq!(follow_up.state, FollowUpState::Pending);
        assert!(follow_up.last_error.is_some());
        let wait = follow_up.next_attempt_at - clock.now();
        if attempt == 2 {
            assert!(
                wait >= chrono::Duration::seconds(30),
                "a throttled resume waits at least as asked: {wait}"
            );
        }
        // Not a moment early.
        clock.set(follow_up.next_attempt_at - chrono::Duration::milliseconds(1));
        assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);
        clock.set(follow_up.next_attempt_at);
    }
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);
    let resumed = resumer.resumed();
    assert_eq!(resumed.len(), 1, "resumed exactly once");
    assert_eq!(
        (
            resumed[0].run_id.as_str(),
            resumed[0].branch.as_str(),
            resumed[0].idempotency_key.as_str()
        ),
        ("run-1", "deny", prompt.prompt_id.as_str()),
        "the prompt id is the idempotency key"
    );
    assert!(
        resumer
            .calls
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.idempotency_key == prompt.prompt_id),
        "every attempt carries the same key"
    );
    assert_eq!(timeline.events.lock().unwrap().len(), 1);
    backend.finish().await;
}

async fn a_permanent_failure_and_an_exhausted_one_are_dead_ended_with_their_reason(
    backend: Backend,
) {
    let clock = Arc::new(ManualClock::new(start()));
    let policy = RetryPolicy {
        max_attempts: 3,
        ..aisoc_notify_approvals::verify::default_follow_up_policy()
    };
    // A refused resume stops at once; the timeline is delivered independently of it.
    let refused = Resumer::failing([HookError::permanent("the orchestrator answered HTTP 400")]);
    let p = process(
        backend.store().await,
        Arc::new(Timeline::default()),
        refused.clone(),
        &clock,
        policy.clone(),
    );
    let first = prompt(p.store.as_ref(), &clock).await;
    p.callback
        .answer(&token(&clock, &first, "acknowledge"))
        .await
        .unwrap();
    let report = p.dispatcher.run_due().await.unwrap();
    assert_eq!((report.delivered, report.dead), (1, 1), "{report:?}");
    let dead = resume_follow_up(p.store.as_ref(), &first).await;
    assert_eq!(dead.state, FollowUpState::Dead);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("non_retryable: the orchestrator answered HTTP 400")
    );

    // A resume that keeps failing is given up after the policy's attempts, saying so.
    let down = Resumer::failing((0..10).map(|_| HookError::retryable("HTTP 503")));
    let q = process(
        backend.store().await,
        Arc::new(Timeline::default()),
        down.clone(),
        &clock,
        policy,
    );
    let second = prompt(q.store.as_ref(), &clock).await;
    q.callback
        .answer(&token(&clock, &second, "deny"))
        .await
        .unwrap();
    for _ in 0..3 {
        q.dispatcher.run_due().await.unwrap();
        clock.advance(Duration::from_secs(3600));
    }
    assert_eq!(q.dispatcher.run_due().await.unwrap().claimed, 0);
    let dead = resume_follow_up(q.store.as_ref(), &second).await;
    assert_eq!(dead.state, FollowUpState::Dead);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("gave up after 3 attempts: HTTP 503")
    );
    assert_eq!(refused.calls() + down.calls(), 1 + 3);
    backend.finish().await;
}

async fn a_process_that_dies_after_the_answer_is_committed_resumes_once_after_restart(
    backend: Backend,
) {
    let clock = Arc::new(ManualClock::new(start()));
    let policy = aisoc_notify_approvals::verify::default_follow_up_policy();
    let before = Resumer::failing([]);
    let prompt = {
        let p = process(
            backend.store().await,
            Arc::new(Timeline::default()),
            before.clone(),
            &clock,
            policy.clone(),
        );
        let prompt = prompt(p.store.as_ref(), &clock).await;
        p.callback
            .answer(&token(&clock, &prompt, "escalate"))
            .await
            .unwrap();
        prompt
        // The process dies here: the answer is committed, its dispatcher never ran.
    };
    assert_eq!(before.calls(), 0);

    let after = Resumer::failing([]);
    let timeline = Arc::new(Timeline::default());
    let p = process(
        backend.store().await,
        timeline.clone(),
        after.clone(),
        &clock,
        policy,
    );
    // The restarted process's worker, as the gateway runs it, picks the resume up on start.
    let worker = p.dispatcher.clone().spawn();
    tokio::time::timeout(Duration::from_secs(10), async {
        // The resumer was called; the worker marks the resume done right after.
        after.called.notified().await;
        while resume_follow_up(p.store.as_ref(), &prompt).await.state != FollowUpState::Done {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the restarted worker resumes within 10 s");
    worker.abort();
    let _ = worker.await;
    assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);
    assert_eq!(after.resumed().len(), 1, "resumed exactly once");
    assert_eq!(after.resumed()[0].branch, "escalate");
    assert_eq!(
        resume_follow_up(p.store.as_ref(), &prompt).await.state,
        FollowUpState::Done
    );
    assert_eq!(
        timeline.events.lock().unwrap()[0].kind,
        "chatops.verify.escalate"
    );
    assert!(
        p.callback
            .answer(&token(&clock, &prompt, "escalate"))
            .await
            .is_err(),
        "the answer stays recorded across the restart"
    );
    backend.finish().await;
}

async fn a_process_that_dies_during_the_resume_leaves_it_to_the_next_after_the_lease(
    backend: Backend,
) {
    let clock = Arc::new(ManualClock::new(start()));
    let policy = aisoc_notify_approvals::verify::default_follow_up_policy();
    let hanging = Resumer::hanging();
    let timeline = Arc::new(Timeline::default());
    let first = process(
        backend.store().await,
        timeline.clone(),
        hanging.clone(),
        &clock,
        policy.clone(),
    );
    let prompt = prompt(first.store.as_ref(), &clock).await;
    first
        .callback
        .answer(&token(&clock, &prompt, "deny"))
        .await
        .unwrap();
    let dispatcher = first.dispatcher.clone();
    let dying = tokio::spawn(async move { dispatcher.run_due().await });
    hanging.called.notified().await;
    dying.abort(); // killed in the middle of the resume request
    assert!(dying.await.unwrap_err().is_cancelled());
    drop(first);

    let resumer = Resumer::failing([]);
    let next = process(
        backend.store().await,
        timeline.clone(),
        resumer.clone(),
        &clock,
        policy,
    );
    assert_eq!(
        next.dispatcher.run_due().await.unwrap().claimed,
        0,
        "the dead process's lease still holds"
    );
    clock.advance(Duration::from_secs(301));
    let report = next.dispatcher.run_due().await.unwrap();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    assert_eq!(resumer.resumed().len(), 1, "resumed exactly once");
    assert_eq!(hanging.resumed().len(), 0);
    assert_eq!(
        resume_follow_up(next.store.as_ref(), &prompt)
            .await
            .attempts,
        2
    );
    assert_eq!(
        timeline.events.lock().unwrap().len(),
        1,
        "the timeline entry was delivered before the death, and not again"
    );
    backend.finish().await;
}

async fn opening_a_link_never_records_and_of_concurrent_presses_one_records(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let resumer = Resumer::failing([]);
    let timeline = Arc::new(Timeline::default());
    let p = process(
        backend.store().await,
        timeline.clone(),
        resumer.clone(),
        &clock,
        aisoc_notify_approvals::verify::default_follow_up_policy(),
    );
    let prompt = prompt(p.store.as_ref(), &clock).await;
    let tokens: Vec<String> = ["acknowledge", "deny", "escalate"]
        .iter()
        .map(|choice| token(&clock, &prompt, choice))
        .collect();

    let preview = p.callback.preview(&tokens[0]).await.unwrap();
    assert_eq!(
        (
            preview.choice.as_str(),
            preview.title.as_str(),
            preview.answered
        ),
        ("acknowledge", "Sign-in from Portugal", None)
    );
    let app = router(p.callback.clone());
    let request = |method: &str, token: &str| {
        Request::builder()
            .method(method)
            .uri(format!("/chatops/verify/{token}"))
            .body(Body::empty())
            .unwrap()
    };
    for token in &tokens {
        for method in ["GET", "HEAD", "GET"] {
            let response = app.clone().oneshot(request(method, token)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    let stored = p
        .store
        .prompt(&prompt.tenant_id, &prompt.prompt_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.answered, None, "nine fetches recorded nothing");
    assert!(
        p.store
            .follow_ups(&prompt.prompt_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(p.dispatcher.run_due().await.unwrap().claimed, 0);

    // Two people (or one double-click) press at once, on every choice.
    let presses: Vec<_> = (0..12)
        .map(|i| {
            let app = app.clone();
            let request = request("POST", &tokens[i % 3]);
            tokio::spawn(async move { app.oneshot(request).await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for press in presses {
        statuses.push(press.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        11,
        "{statuses:?}"
    );
    let report = p.dispatcher.run_due().await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(resumer.resumed().len(), 1, "resumed exactly once");
    assert_eq!(timeline.events.lock().unwrap().len(), 1);
    let recorded = p
        .store
        .prompt(&prompt.tenant_id, &prompt.prompt_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        recorded.answered.as_deref(),
        Some(resumer.resumed()[0].branch.as_str())
    );
    assert!(matches!(
        p.callback.answer(&tokens[0]).await,
        Err(VerifyCallbackError::AlreadyAnswered { .. }
            | VerifyCallbackError::AnsweredOtherwise { .. })
    ));
    backend.finish().await;
}

async fn a_timeline_that_refuses_does_not_hold_back_the_resume(backend: Backend) {
    let clock = Arc::new(ManualClock::new(start()));
    let resumer = Resumer::failing([]);
    let p = process(
        backend.store().await,
        Arc::new(Timeline {
            down: true,
            ..Timeline::default()
        }),
        resumer.clone(),
        &clock,
        aisoc_notify_approvals::verify::default_follow_up_policy(),
    );
    let prompt = prompt(p.store.as_ref(), &clock).await;
    p.callback
        .answer(&token(&clock, &prompt, "acknowledge"))
        .await
        .unwrap();
    let report = p.dispatcher.run_due().await.unwrap();
    assert_eq!((report.delivered, report.dead), (1, 1), "{report:?}");
    assert_eq!(resumer.resumed().len(), 1);
    let follow_ups = p.store.follow_ups(&prompt.prompt_id).await.unwrap();
    assert_eq!(
        follow_ups.iter().map(|f| f.state).collect::<Vec<_>>(),
        [FollowUpState::Dead, FollowUpState::Done]
    );
    backend.finish().await;
}

/// Runs each scenario on the in-memory store and on PostgreSQL; `multi_thread` for those
/// that race.
macro_rules! on_both_backends {
    ($($scenario:ident $(($flavor:tt))?),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test$(($flavor = "multi_thread", worker_threads = 4))?]
                async fn $scenario() {
                    super::$scenario(Backend::memory()).await;
                }
            )*
        }

        mod postgres {
            use super::*;
            $(
                #[tokio::test$(($flavor = "multi_thread", worker_threads = 4))?]
                async fn $scenario() {
                    super::$scenario(Backend::postgres().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_failing_resume_is_retried_on_schedule_and_delivered_once,
    a_permanent_failure_and_an_exhausted_one_are_dead_ended_with_their_reason,
    a_process_that_dies_after_the_answer_is_committed_resumes_once_after_restart,
    a_process_that_dies_during_the_resume_leaves_it_to_the_next_after_the_lease,
    opening_a_link_never_records_and_of_concurrent_presses_one_records(flavor),
    a_timeline_that_refuses_does_not_hold_back_the_resume,
);
