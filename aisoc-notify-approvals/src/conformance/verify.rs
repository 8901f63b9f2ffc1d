//! The [`VerificationStore`] contracts: one answer per prompt, its follow-ups queued in the
//! same unit, and the answer outbox's leases and fences.
//!
//! [`claims_are_leased_and_fenced`] claims every due follow-up in the store, so give it a
//! store (a database) of its own.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use aisoc_notify_core::prompt::PromptReceipt;
use chrono::{DateTime, Duration, Utc};

use super::now;
use crate::model::new_id;
use crate::store::StoreError;
use crate::verify::{
    Answer, AnswerOutcome, FollowUp, FollowUpFlow, FollowUpKind, FollowUpState, PendingPrompt,
    StoredPrompt, VerificationStore,
};

fn pending(run_id: Option<&str>) -> PendingPrompt {
    PendingPrompt {
        prompt_id: new_id("vfy"),
        tenant_id: "acme".into(),
        case_id: "case-1".into(),
        run_id: run_id.map(str::to_owned),
        user_ref: "alice".into(),
        title: "Sign-in from Portugal".into(),
        message: "Someone signed in as you from Lisbon. Was this you?".into(),
        expires_at: now() + Duration::minutes(30),
        receipt: None,
    }
}

fn answer(prompt: &PendingPrompt, choice: &str, token_id: &str) -> Answer {
    Answer {
        prompt_id: prompt.prompt_id.clone(),
        tenant_id: prompt.tenant_id.clone(),
        case_id: prompt.case_id.clone(),
        user_ref: prompt.user_ref.clone(),
        choice: choice.to_owned(),
        token_id: token_id.to_owned(),
    }
}

/// A prompt records its first answer only, the answer comes back with where the prompt was
/// posted, and reading a prompt changes nothing.
pub async fn verification_answers_once(store: &dyn VerificationStore) {
    let mut prompt = pending(Some("run-1"));
    store.create_prompt(&prompt, now()).await.unwrap();
    assert!(matches!(
        store.create_prompt(&prompt, now()).await,
        Err(StoreError::Conflict(_))
    ));
    let receipt = PromptReceipt::message("slack", "D0ALICE", "1700000000.000100");
    assert!(
        store
            .attach_receipt(&prompt.tenant_id, &prompt.prompt_id, &receipt)
            .await
            .unwrap()
    );
    let elsewhere = PromptReceipt::message("slack", "D0MALLORY", "1700000000.000200");
    assert!(
        !store
            .attach_receipt("initech", &prompt.prompt_id, &elsewhere)
            .await
            .unwrap(),
        "another tenant cannot re-point this prompt's receipt"
    );
    assert!(
        !store
            .attach_receipt(&prompt.tenant_id, "vfy_missing", &receipt)
            .await
            .unwrap()
    );
    prompt.receipt = Some(receipt);
    let unanswered = StoredPrompt {
        prompt: prompt.clone(),
        answered: None,
    };
    for _ in 0..2 {
        assert_eq!(
            store
                .prompt(&prompt.tenant_id, &prompt.prompt_id)
                .await
                .unwrap()
                .as_ref(),
            Some(&unanswered),
            "reading a prompt records nothing"
        );
    }
    assert_eq!(
        store
            .prompt(&prompt.tenant_id, "vfy_missing")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.prompt("initech", &prompt.prompt_id).await.unwrap(),
        None,
        "another tenant does not read this prompt"
    );

    let mut other_tenant = answer(&prompt, "deny", "t0");
    other_tenant.tenant_id = "initech".into();
    let mut other_case = answer(&prompt, "deny", "t0");
    other_case.case_id = "case-2".into();
    for wrong in [other_tenant, other_case] {
        assert_eq!(
            store.answer(&wrong, now()).await.unwrap(),
            AnswerOutcome::UnknownPrompt,
            "a link for another tenant or case does not answer this prompt"
        );
    }

    assert_eq!(
        store
            .answer(&answer(&prompt, "deny", "t1"), now())
            .await
            .unwrap(),
        AnswerOutcome::Recorded(Box::new(prompt.clone()))
    );
    assert_eq!(
        store
            .prompt(&prompt.tenant_id, &prompt.prompt_id)
            .await
            .unwrap()
            .and_then(|p| p.answered),
        Some("deny".to_owned())
    );
    assert_eq!(
        store
            .answer(&answer(&prompt, "acknowledge", "t2"), now())
            .await
            .unwrap(),
        AnswerOutcome::AlreadyAnswered {
            choice: "deny".into()
        }
    );
    let mut missing = answer(&prompt, "deny", "t3");
    missing.prompt_id = "vfy_missing".into();
    assert_eq!(
        store.answer(&missing, now()).await.unwrap(),
        AnswerOutcome::UnknownPrompt
    );
}

/// An answer queues its timeline entry and (when a run waits) its resume with it; nothing is
/// queued before the answer, and a refused second answer queues nothing more.
pub async fn answer_and_follow_ups_are_one_unit(store: &dyn VerificationStore) {
    let prompt = pending(Some("run-7"));
    store.create_prompt(&prompt, now()).await.unwrap();
    assert!(
        store
            .follow_ups(&prompt.prompt_id)
            .await
            .unwrap()
            .is_empty()
    );
    let answered_at = now();
    store
        .answer(&answer(&prompt, "escalate", "t1"), answered_at)
        .await
        .unwrap();
    store
        .answer(&answer(&prompt, "acknowledge", "t2"), answered_at)
        .await
        .unwrap();
    let follow_ups = store.follow_ups(&prompt.prompt_id).await.unwrap();
    assert_eq!(
        follow_ups.iter().map(|f| f.kind).collect::<Vec<_>>(),
        [FollowUpKind::Timeline, FollowUpKind::Resume]
    );
    for follow_up in &follow_ups {
        assert_eq!(follow_up.state, FollowUpState::Pending);
        assert_eq!(follow_up.attempts, 0);
        assert_eq!(follow_up.next_attempt_at, answered_at, "due at once");
        assert_eq!(follow_up.choice, "escalate", "the first answer's choice");
        assert_eq!(follow_up.last_error, None);
    }
    let event = follow_ups[0]
        .timeline_event()
        .expect("a verify answer has a case");
    assert_eq!(event.kind, "chatops.verify.escalate");
    assert_eq!(
        (event.tenant_id.as_str(), event.case_id.as_str()),
        ("acme", "case-1")
    );
    assert_eq!(event.data["prompt_id"], prompt.prompt_id.as_str());
    assert_eq!(event.data["user"], "alice");
    assert_eq!(event.at, answered_at);
    let resume = follow_ups[1].resume_request().expect("a run waits");
    assert_eq!(
        (
            resume.run_id.as_str(),
            resume.branch.as_str(),
            resume.idempotency_key.as_str()
        ),
        ("run-7", "escalate", prompt.prompt_id.as_str())
    );
    assert_eq!(resume.flow, FollowUpFlow::Verify);
    assert_eq!(resume.case_id.as_deref(), Some("case-1"));

    let without_run = pending(None);
    store.create_prompt(&without_run, now()).await.unwrap();
    store
        .answer(&answer(&without_run, "acknowledge", "t3"), now())
        .await
        .unwrap();
    assert_eq!(
        store
            .follow_ups(&without_run.prompt_id)
            .await
            .unwrap()
            .iter()
            .map(|f| f.kind)
            .collect::<Vec<_>>(),
        [FollowUpKind::Timeline],
        "no run waits, so there is nothing to resume"
    );
}

async fn claim(
    store: &dyn VerificationStore,
    at: DateTime<Utc>,
    lease: StdDuration,
) -> Vec<FollowUp> {
    store.claim_due(at, lease, 100).await.unwrap()
}

/// Claims are leases that count attempts; a claim whose lease ran out (its process died) is
/// claimed again; `complete` is terminal; `retry_at` and `dead_end` only apply to the current
/// claim; done and dead follow-ups are never claimed again.
pub async fn claims_are_leased_and_fenced(store: &dyn VerificationStore) {
    let lease = StdDuration::from_secs(60);
    let prompt = pending(Some("run-9"));
    store.create_prompt(&prompt, now()).await.unwrap();
    let t0 = now();
    store
        .answer(&answer(&prompt, "deny", "t1"), t0)
        .await
        .unwrap();

    assert!(
        claim(store, t0 - Duration::seconds(1), lease)
            .await
            .is_empty()
    );
    let first = store.claim_due(t0, lease, 1).await.unwrap();
    assert_eq!(first.len(), 1, "the limit holds");
    let rest = claim(store, t0, lease).await;
    assert_eq!(rest.len(), 1);
    let mut first_claims = [first, rest].concat();
    first_claims.sort_by_key(|f| f.kind);
    assert!(first_claims.iter().all(|f| f.attempts == 1));
    assert!(
        claim(store, t0 + Duration::seconds(30), lease)
            .await
            .is_empty(),
        "claimed follow-ups are hidden while leased"
    );

    // The first claimer "died"; after its lease the follow-ups are claimed again.
    let mut second = claim(store, t0 + Duration::seconds(61), lease).await;
    second.sort_by_key(|f| f.kind);
    assert_eq!(second.len(), 2);
    assert!(second.iter().all(|f| f.attempts == 2));
    assert!(
        !store
            .retry_at(&first_claims[1], t0 + Duration::hours(1), "stale")
            .await
            .unwrap(),
        "a superseded claim cannot reschedule"
    );
    assert!(!store.dead_end(&first_claims[1], "stale", t0).await.unwrap());

    let (timeline, resume) = (&second[0], &second[1]);
    assert!(store.complete(timeline, t0).await.unwrap());
    assert!(
        !store.complete(timeline, t0).await.unwrap(),
        "done is terminal"
    );
    let retry = t0 + Duration::seconds(120);
    assert!(
        store
            .retry_at(resume, retry, "the orchestrator answered HTTP 503")
            .await
            .unwrap()
    );
    let stored = store.follow_ups(&prompt.prompt_id).await.unwrap();
    assert_eq!(stored[0].state, FollowUpState::Done);
    assert_eq!(stored[1].state, FollowUpState::Pending);
    assert_eq!(stored[1].next_attempt_at, retry);
    assert_eq!(
        stored[1].last_error.as_deref(),
        Some("the orchestrator answered HTTP 503")
    );

    assert!(
        claim(store, retry - Duration::seconds(1), lease)
            .await
            .is_empty()
    );
    let third = claim(store, retry, lease).await;
    assert_eq!(third.len(), 1);
    assert_eq!(
        (third[0].kind, third[0].attempts),
        (FollowUpKind::Resume, 3)
    );
    assert!(
        store
            .dead_end(&third[0], "non_retryable: HTTP 400", retry)
            .await
            .unwrap()
    );
    assert!(
        !store.complete(&third[0], retry).await.unwrap(),
        "dead stays dead"
    );
    let stored = store.follow_ups(&prompt.prompt_id).await.unwrap();
    assert_eq!(stored[1].state, FollowUpState::Dead);
    assert_eq!(
        stored[1].last_error.as_deref(),
        Some("non_retryable: HTTP 400")
    );
    assert!(
        claim(store, retry + Duration::days(1), lease)
            .await
            .is_empty(),
        "done and dead follow-ups are never claimed again"
    );
}

/// Many answers to one prompt at once, with different choices: exactly one is recorded, the
/// others see its choice, and exactly one set of follow-ups is queued.
pub async fn concurrent_answers_record_once(store: Arc<dyn VerificationStore>, answers: usize) {
    let prompt = pending(Some("run-3"));
    store.create_prompt(&prompt, now()).await.unwrap();
    let choices = ["acknowledge", "deny", "escalate"];
    let tasks: Vec<_> = (0..answers)
        .map(|i| {
            let store = Arc::clone(&store);
            let answer = answer(&prompt, choices[i % 3], &format!("t{i}"));
            tokio::spawn(async move { (answer.choice.clone(), store.answer(&answer, now()).await) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (choice, Ok(AnswerOutcome::Recorded(_))) => winners.push(choice),
            (_, Ok(AnswerOutcome::AlreadyAnswered { choice })) => seen.push(choice),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one answer is recorded");
    assert!(
        seen.iter().all(|c| *c == winners[0]),
        "the others see the winner"
    );
    let follow_ups = store.follow_ups(&prompt.prompt_id).await.unwrap();
    assert_eq!(follow_ups.len(), 2, "one timeline entry, one resume");
    assert!(follow_ups.iter().all(|f| f.choice == winners[0]));
}
