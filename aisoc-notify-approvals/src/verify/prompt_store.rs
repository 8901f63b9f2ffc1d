//! Where prompts wait for their answer: [`VerificationStore`] and its in-memory
//! implementation (PostgreSQL's is `postgres::PgVerificationStore`).
//!
//! Every read and write of a prompt names its tenant (issue #15): a prompt of another tenant is
//! as absent as one that never existed. The answer link carries no more than a signed token,
//! but its claims name the tenant and case it was signed for, so the callback scopes by them
//! and never needs to look a prompt up across tenants. Only the follow-up outbox
//! ([`AnswerOutbox`]) works across tenants: that is the dispatcher's job.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::prompt::PromptReceipt;
use chrono::{DateTime, Utc};

use crate::follow_up::memory::FollowUpTable;
use crate::follow_up::{AnswerOutbox, FollowUp, FollowUpKind, FollowUpState, ReplayOutcome};
use crate::memory::MEMORY_RETENTION;
use crate::store::StoreError;

/// A prompt waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPrompt {
    /// The prompt id the three tokens share.
    pub prompt_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The case.
    pub case_id: String,
    /// The playbook run to resume, when there is one.
    pub run_id: Option<String>,
    /// The person asked.
    pub user_ref: String,
    /// What was asked, in one line ("Sign-in from Portugal"); the answer page repeats it.
    pub title: String,
    /// What happened, as the person was told it; the answer page repeats it.
    pub message: String,
    /// When the answer window closes.
    pub expires_at: DateTime<Utc>,
    /// Where the prompt was posted, once it was ([`VerificationStore::attach_receipt`]); the
    /// answer replaces its buttons through it.
    pub receipt: Option<PromptReceipt>,
}

/// A prompt with its answer, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPrompt {
    /// The prompt.
    pub prompt: PendingPrompt,
    /// The recorded choice.
    pub answered: Option<String>,
}

/// One person's answer to one prompt, from a verified link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The prompt answered.
    pub prompt_id: String,
    /// The tenant the link was signed for; another tenant's prompt is not answered.
    pub tenant_id: String,
    /// The case the link was signed for; another case's prompt is not answered.
    pub case_id: String,
    /// The person the link was signed for.
    pub user_ref: String,
    /// One of the verification choices.
    pub choice: String,
    /// The id of the token used, kept with the answer.
    pub token_id: String,
}

/// The result of recording an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// First answer: recorded, with its follow-ups queued in the same unit.
    Recorded(Box<PendingPrompt>),
    /// The prompt had been answered already, with this choice.
    AlreadyAnswered {
        /// The choice recorded first.
        choice: String,
    },
    /// No such prompt (for this tenant and case).
    UnknownPrompt,
}

/// Stores prompts and records each prompt's first answer together with its follow-ups.
///
/// Prompts are per tenant: every method takes the tenant, and another tenant's prompt reads
/// as `None`, `false` or [`AnswerOutcome::UnknownPrompt`].
///
/// [`answer`](VerificationStore::answer) is atomic: the answer and the [`FollowUp`]s it
/// queues (its timeline entry, and its resume when a run waits) are written together or not
/// at all, and of any number of concurrent answers to one prompt exactly one is recorded.
#[async_trait]
pub trait VerificationStore: AnswerOutbox {
    /// Stores a prompt before its message is posted.
    async fn create_prompt(
        &self,
        prompt: &PendingPrompt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Remembers where the prompt was posted; `Ok(false)` when `tenant_id` has no such prompt.
    async fn attach_receipt(
        &self,
        tenant_id: &str,
        prompt_id: &str,
        receipt: &PromptReceipt,
    ) -> Result<bool, StoreError>;

    /// `tenant_id`'s prompt and its answer, without changing anything.
    async fn prompt(
        &self,
        tenant_id: &str,
        prompt_id: &str,
    ) -> Result<Option<StoredPrompt>, StoreError>;

    /// Records `answer` and queues its follow-ups, unless the prompt has an answer already.
    async fn answer(
        &self,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<AnswerOutcome, StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    prompts: HashMap<String, StoredPrompt>,
    follow_ups: FollowUpTable,
}

impl Inner {
    fn prune(&mut self, now: DateTime<Utc>) {
        let follow_ups = &self.follow_ups;
        self.prompts.retain(|id, stored| {
            stored.prompt.expires_at + MEMORY_RETENTION > now || follow_ups.is_waiting(id)
        });
        let prompts = &self.prompts;
        self.follow_ups.retain_keys(|key| prompts.contains_key(key));
    }
}

/// An in-memory [`VerificationStore`]: prompts, answers and follow-ups under one lock.
///
/// It does not grow without bound: each new prompt drops the prompts whose answer window
/// closed more than [`MEMORY_RETENTION`] ago and none of whose follow-ups is still pending
/// (their links have expired, so nothing can answer them any more); a dead follow-up goes with
/// its prompt, so replay it within that time (PostgreSQL keeps it until it is replayed).
#[derive(Debug, Default)]
pub struct MemoryVerificationStore {
    inner: Mutex<Inner>,
}

impl MemoryVerificationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many prompts the store holds.
    pub fn len(&self) -> usize {
        self.inner().prompts.len()
    }

    /// Whether the store holds no prompt.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl VerificationStore for MemoryVerificationStore {
    async fn create_prompt(
        &self,
        prompt: &PendingPrompt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner();
        inner.prune(now);
        if inner.prompts.contains_key(&prompt.prompt_id) {
            return Err(StoreError::Conflict(format!(
                "prompt '{}'",
                prompt.prompt_id
            )));
        }
        inner.prompts.insert(
            prompt.prompt_id.clone(),
            StoredPrompt {
                prompt: prompt.clone(),
                answered: None,
            },
        );
        Ok(())
    }

    async fn attach_receipt(
        &self,
        tenant_id: &str,
        prompt_id: &str,
        receipt: &PromptReceipt,
    ) -> Result<bool, StoreError> {
        Ok(match self.inner().prompts.get_mut(prompt_id) {
            Some(stored) if stored.prompt.tenant_id == tenant_id => {
                stored.prompt.receipt = Some(receipt.clone());
                true
            }
            _ => false,
        })
    }

    async fn prompt(
        &self,
        tenant_id: &str,
        prompt_id: &str,
    ) -> Result<Option<StoredPrompt>, StoreError> {
        Ok(self
            .inner()
            .prompts
            .get(prompt_id)
            .filter(|stored| stored.prompt.tenant_id == tenant_id)
            .cloned())
    }

    async fn answer(
        &self,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<AnswerOutcome, StoreError> {
        let mut inner = self.inner();
        let Some(stored) = inner.prompts.get_mut(&answer.prompt_id) else {
            return Ok(AnswerOutcome::UnknownPrompt);
        };
        if stored.prompt.tenant_id != answer.tenant_id || stored.prompt.case_id != answer.case_id {
            return Ok(AnswerOutcome::UnknownPrompt);
        }
        if let Some(previous) = &stored.answered {
            return Ok(AnswerOutcome::AlreadyAnswered {
                choice: previous.clone(),
            });
        }
        stored.answered = Some(answer.choice.clone());
        let prompt = stored.prompt.clone();
        // Still under the one lock: the answer and its follow-ups appear together.
        for follow_up in FollowUp::for_answer(&prompt, &answer.choice, &answer.user_ref, now) {
            inner.follow_ups.insert(follow_up);
        }
        Ok(AnswerOutcome::Recorded(Box::new(prompt)))
    }
}

#[async_trait]
impl AnswerOutbox for MemoryVerificationStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        self.inner().follow_ups.claim_due(now, lease, limit)
    }

    async fn complete(&self, claimed: &FollowUp, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.inner().follow_ups.complete(claimed, now))
    }

    async fn retry_at(
        &self,
        claimed: &FollowUp,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.inner().follow_ups.retry_at(claimed, at, reason))
    }

    async fn dead_end(
        &self,
        claimed: &FollowUp,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.inner().follow_ups.dead_end(claimed, reason, now))
    }

    async fn follow_ups(&self, key: &str) -> Result<Vec<FollowUp>, StoreError> {
        Ok(self.inner().follow_ups.follow_ups(key))
    }

    async fn list_follow_ups(
        &self,
        state: FollowUpState,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        Ok(self.inner().follow_ups.list(state, limit))
    }

    async fn replay(
        &self,
        key: &str,
        kind: FollowUpKind,
        now: DateTime<Utc>,
    ) -> Result<ReplayOutcome, StoreError> {
        Ok(self.inner().follow_ups.replay(key, kind, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(id: &str, expires_at: DateTime<Utc>) -> PendingPrompt {
        PendingPrompt {
            prompt_id: id.into(),
            tenant_id: "acme".into(),
            case_id: "case-1".into(),
            run_id: Some("run-1".into()),
            user_ref: "alice".into(),
            title: "Sign-in".into(),
            message: "Was this you?".into(),
            expires_at,
            receipt: None,
        }
    }

    fn answer(id: &str) -> Answer {
        Answer {
            prompt_id: id.into(),
            tenant_id: "acme".into(),
            case_id: "case-1".into(),
            user_ref: "alice".into(),
            choice: "deny".into(),
            token_id: "t".into(),
        }
    }

    #[tokio::test]
    async fn old_prompts_are_dropped_unless_a_follow_up_still_waits() {
        let store = MemoryVerificationStore::new();
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let expires = t0 + chrono::TimeDelta::minutes(30);
        for id in ["delivered", "waiting", "unanswered"] {
            store.create_prompt(&prompt(id, expires), t0).await.unwrap();
        }
        for id in ["delivered", "waiting"] {
            store.answer(&answer(id), t0).await.unwrap();
        }
        let lease = Duration::from_secs(60);
        for claimed in store.claim_due(t0, lease, 10).await.unwrap() {
            if claimed.key == "delivered" {
                store.complete(&claimed, t0).await.unwrap();
            }
        }

        let later = expires + MEMORY_RETENTION;
        store
            .create_prompt(
                &prompt("new", later + chrono::TimeDelta::minutes(30)),
                later,
            )
            .await
            .unwrap();
        assert!(store.prompt("acme", "delivered").await.unwrap().is_none());
        assert!(store.prompt("acme", "unanswered").await.unwrap().is_none());
        assert!(store.follow_ups("delivered").await.unwrap().is_empty());
        assert!(
            store.prompt("acme", "waiting").await.unwrap().is_some(),
            "a resume still waiting for delivery is kept"
        );
        assert_eq!(store.follow_ups("waiting").await.unwrap().len(), 2);
        assert_eq!(store.len(), 2);
    }
}
