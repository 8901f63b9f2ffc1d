//! The answer outbox: what an answer still has to do — its case-timeline entry and its
//! playbook resume — kept durably beside the answer until it is done.
//!
//! Recording an answer writes the answer and its [`FollowUp`]s in one unit (one PostgreSQL
//! transaction, one lock in memory), so an answer never exists without them and a failed or
//! interrupted resume is retried instead of forgotten. The
//! [`FollowUpDispatcher`](super::FollowUpDispatcher) claims due follow-ups with a lease, calls
//! the host's hook and marks them done, reschedules them, or dead-ends them with the reason.
//!
//! A follow-up is keyed by its prompt and its [`FollowUpKind`]: a prompt records one answer,
//! so it has at most one resume, ever. Delivery is at least once (a process that dies between
//! the hook's success and [`AnswerOutbox::complete`] delivers again after the lease), which is
//! why the resume carries the prompt id as its idempotency key and timeline events their
//! [`key`](super::TimelineEvent::key).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::hooks::{ResumeRequest, TimelineEvent};
use crate::store::StoreError;

/// What a follow-up does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FollowUpKind {
    /// Records `chatops.verify.<choice>` on the case timeline.
    Timeline,
    /// Resumes the waiting playbook run on the chosen branch.
    Resume,
}

impl FollowUpKind {
    /// `timeline` or `resume`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpKind::Timeline => "timeline",
            FollowUpKind::Resume => "resume",
        }
    }
}

impl fmt::Display for FollowUpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FollowUpKind {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "timeline" => Ok(FollowUpKind::Timeline),
            "resume" => Ok(FollowUpKind::Resume),
            other => Err(StoreError::Backend(format!(
                "unknown follow-up kind '{other}'"
            ))),
        }
    }
}

/// Where a follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FollowUpState {
    /// Waiting for (another) attempt.
    Pending,
    /// Delivered; never attempted again.
    Done,
    /// Given up on; [`FollowUp::last_error`] says why.
    Dead,
}

impl FollowUpState {
    /// `pending`, `done` or `dead`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpState::Pending => "pending",
            FollowUpState::Done => "done",
            FollowUpState::Dead => "dead",
        }
    }
}

impl FromStr for FollowUpState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(FollowUpState::Pending),
            "done" => Ok(FollowUpState::Done),
            "dead" => Ok(FollowUpState::Dead),
            other => Err(StoreError::Backend(format!(
                "unknown follow-up state '{other}'"
            ))),
        }
    }
}

/// One thing an answer still has to do, with its delivery bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// The answered prompt.
    pub prompt_id: String,
    /// What to do.
    pub kind: FollowUpKind,
    /// The tenant.
    pub tenant_id: String,
    /// The case.
    pub case_id: String,
    /// The playbook run to resume (always set for [`FollowUpKind::Resume`]).
    pub run_id: Option<String>,
    /// The person who answered.
    pub user_ref: String,
    /// The recorded choice: the branch to resume on.
    pub choice: String,
    /// When the answer was recorded.
    pub answered_at: DateTime<Utc>,
    /// Where it stands.
    pub state: FollowUpState,
    /// Attempts claimed so far.
    pub attempts: u32,
    /// When it may be claimed next (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl FollowUp {
    /// The follow-ups of an answer: its timeline entry, and its resume when a run waits.
    pub fn for_answer(
        prompt: &super::PendingPrompt,
        choice: &str,
        user_ref: &str,
        answered_at: DateTime<Utc>,
    ) -> Vec<FollowUp> {
        let follow_up = |kind| FollowUp {
            prompt_id: prompt.prompt_id.clone(),
            kind,
            tenant_id: prompt.tenant_id.clone(),
            case_id: prompt.case_id.clone(),
            run_id: prompt.run_id.clone(),
            user_ref: user_ref.to_owned(),
            choice: choice.to_owned(),
            answered_at,
            state: FollowUpState::Pending,
            attempts: 0,
            next_attempt_at: answered_at,
            last_error: None,
        };
        let mut follow_ups = vec![follow_up(FollowUpKind::Timeline)];
        if prompt.run_id.is_some() {
            follow_ups.push(follow_up(FollowUpKind::Resume));
        }
        follow_ups
    }

    /// The timeline entry this answer records: `chatops.verify.<choice>`.
    pub fn timeline_event(&self) -> TimelineEvent {
        let kind = format!("chatops.verify.{}", self.choice);
        TimelineEvent {
            key: format!("{}:{kind}", self.prompt_id),
            tenant_id: self.tenant_id.clone(),
            case_id: self.case_id.clone(),
            kind,
            data: json!({"prompt_id": self.prompt_id, "user": self.user_ref}),
            at: self.answered_at,
        }
    }

    /// The resume this answer asks for, when a run waits.
    pub fn resume_request(&self) -> Option<ResumeRequest> {
        Some(ResumeRequest {
            run_id: self.run_id.clone()?,
            branch: self.choice.clone(),
            prompt_id: self.prompt_id.clone(),
            tenant_id: self.tenant_id.clone(),
            case_id: self.case_id.clone(),
        })
    }
}

/// Where answers' follow-ups wait; every [`VerificationStore`](super::VerificationStore) is
/// one, since its `answer` writes them in the same unit as the answer.
///
/// Claims are leases: a claimed follow-up is hidden from other claims until `now + lease`, so
/// several dispatchers (replicas) can share one store, and one that died mid-attempt is
/// retried once its lease runs out. Updates are fenced: [`complete`](AnswerOutbox::complete)
/// only moves a pending follow-up to done; [`retry_at`](AnswerOutbox::retry_at) and
/// [`dead_end`](AnswerOutbox::dead_end) only apply to the claim they were given (the same
/// attempt number), so a slow, superseded attempt cannot undo a newer outcome.
#[async_trait]
pub trait AnswerOutbox: Send + Sync {
    /// Claims up to `limit` pending follow-ups due at `now`, oldest first, each counting as
    /// one more attempt and leased until `now + lease`.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError>;

    /// Marks a claimed follow-up delivered; `Ok(false)` when it was no longer pending.
    async fn complete(&self, claimed: &FollowUp, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Schedules another attempt at `at`, keeping `reason`; `Ok(false)` when the claim was
    /// superseded or the follow-up is no longer pending.
    async fn retry_at(
        &self,
        claimed: &FollowUp,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Gives up on a claimed follow-up, keeping `reason`; `Ok(false)` as for `retry_at`.
    async fn dead_end(
        &self,
        claimed: &FollowUp,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// A prompt's follow-ups, timeline first (for inspection and tests).
    async fn follow_ups(&self, prompt_id: &str) -> Result<Vec<FollowUp>, StoreError>;
}
