//! The follow-up record and the [`AnswerOutbox`] trait every store that records answers or
//! decisions implements.
//!
//! A follow-up is named by its key (the prompt id or the approval id) and its [`FollowUpKind`]:
//! a prompt records one answer and an approval one decision, so each has at most one resume,
//! ever.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::hooks::{ResumeRequest, TimelineEvent};
use crate::model::{ApprovalRequest, ApprovalStatus};
use crate::store::StoreError;

/// Which decision flow a follow-up belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum FollowUpFlow {
    /// A `chatops.verify` answer; the key is the prompt id.
    #[serde(rename = "chatops.verify")]
    Verify,
    /// An approval decision (or expiry); the key is the approval id.
    #[serde(rename = "approval")]
    Approval,
}

impl FollowUpFlow {
    /// `chatops.verify` or `approval`, as shown and sent to the orchestrator.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpFlow::Verify => "chatops.verify",
            FollowUpFlow::Approval => "approval",
        }
    }

    /// What the flow's key is called in JSON: `prompt_id` or `approval_id`.
    pub fn key_name(self) -> &'static str {
        match self {
            FollowUpFlow::Verify => "prompt_id",
            FollowUpFlow::Approval => "approval_id",
        }
    }
}

impl fmt::Display for FollowUpFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a follow-up does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
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
            other => Err(StoreError::Invalid(format!(
                "follow-up kind must be 'timeline' or 'resume' (got '{other}')"
            ))),
        }
    }
}

/// Where a follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpState {
    /// Waiting for (another) attempt.
    Pending,
    /// Delivered; never attempted again.
    Done,
    /// Given up on; [`FollowUp::last_error`] says why. An operator can
    /// [replay](AnswerOutbox::replay) it.
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

impl fmt::Display for FollowUpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FollowUpState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(FollowUpState::Pending),
            "done" => Ok(FollowUpState::Done),
            "dead" => Ok(FollowUpState::Dead),
            other => Err(StoreError::Invalid(format!(
                "follow-up state must be 'pending', 'done' or 'dead' (got '{other}')"
            ))),
        }
    }
}

/// The branch an approval's waiting run resumes on when nobody decided in time.
pub const EXPIRED_BRANCH: &str = "expired";
/// Who "decided" an approval that expired: the follow-up's actor.
pub const EXPIRY_ACTOR: &str = "system";

/// One thing a recorded answer or decision still has to do, with its delivery bookkeeping.
///
/// Serialized (for operators) as `{flow, id, kind, tenant_id, case_id, run_id, actor, choice,
/// answered_at, state, attempts, next_attempt_at, last_error, updated_at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    /// The flow it belongs to.
    pub flow: FollowUpFlow,
    /// The answered prompt's id or the decided approval's id: with [`kind`](Self::kind) it
    /// names the follow-up, and it is the resume's idempotency key.
    #[serde(rename = "id")]
    pub key: String,
    /// What to do.
    pub kind: FollowUpKind,
    /// The tenant.
    pub tenant_id: String,
    /// The case, when known (always for a verify answer).
    pub case_id: Option<String>,
    /// The playbook run to resume (always set for [`FollowUpKind::Resume`]).
    pub run_id: Option<String>,
    /// Who answered or decided: the person asked, the reviewer, or `system` for an expiry.
    pub actor: String,
    /// The recorded choice or decision: the branch to resume on.
    pub choice: String,
    /// When the answer or decision was recorded.
    pub answered_at: DateTime<Utc>,
    /// Where it stands.
    pub state: FollowUpState,
    /// Attempts claimed so far (since it was queued or last replayed).
    pub attempts: u32,
    /// When it may be claimed next (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed; kept through a replay until an attempt succeeds.
    pub last_error: Option<String>,
    /// When its state last changed (for a dead one: when it was given up on).
    pub updated_at: DateTime<Utc>,
}

impl FollowUp {
    fn queued(
        flow: FollowUpFlow,
        key: &str,
        kind: FollowUpKind,
        tenant_id: &str,
        at: DateTime<Utc>,
    ) -> Self {
        FollowUp {
            flow,
            key: key.to_owned(),
            kind,
            tenant_id: tenant_id.to_owned(),
            case_id: None,
            run_id: None,
            actor: String::new(),
            choice: String::new(),
            answered_at: at,
            state: FollowUpState::Pending,
            attempts: 0,
            next_attempt_at: at,
            last_error: None,
            updated_at: at,
        }
    }

    /// The follow-ups of a `chatops.verify` answer: its timeline entry, and its resume when a
    /// run waits.
    pub fn for_answer(
        prompt: &crate::verify::PendingPrompt,
        choice: &str,
        user_ref: &str,
        answered_at: DateTime<Utc>,
    ) -> Vec<FollowUp> {
        let follow_up = |kind| FollowUp {
            case_id: Some(prompt.case_id.clone()),
            run_id: prompt.run_id.clone(),
            actor: user_ref.to_owned(),
            choice: choice.to_owned(),
            ..Self::queued(
                FollowUpFlow::Verify,
                &prompt.prompt_id,
                kind,
                &prompt.tenant_id,
                answered_at,
            )
        };
        let mut follow_ups = vec![follow_up(FollowUpKind::Timeline)];
        if prompt.run_id.is_some() {
            follow_ups.push(follow_up(FollowUpKind::Resume));
        }
        follow_ups
    }

    /// The follow-up of an approval that was just decided or expired: the resume of the run
    /// waiting on it, on `approve`, `deny` or `expired`; `None` when no run waits (or the
    /// approval is still pending).
    pub fn for_decision(approval: &ApprovalRequest) -> Option<FollowUp> {
        let run_id = approval.run_id.clone()?;
        let (choice, actor) = match approval.status {
            ApprovalStatus::Pending => return None,
            ApprovalStatus::Expired => (EXPIRED_BRANCH, EXPIRY_ACTOR.to_owned()),
            status => (
                status.decision().map_or(EXPIRED_BRANCH, decision_branch),
                approval.reviewer.clone().unwrap_or_default(),
            ),
        };
        let at = approval.reviewed_at.unwrap_or(approval.created_at);
        Some(FollowUp {
            case_id: approval.case_id.clone(),
            run_id: Some(run_id),
            actor,
            choice: choice.to_owned(),
            ..Self::queued(
                FollowUpFlow::Approval,
                &approval.id,
                FollowUpKind::Resume,
                &approval.tenant_id,
                at,
            )
        })
    }

    /// The timeline entry this follow-up records (`<flow>.<choice>`, as
    /// `chatops.verify.deny`); `None` without a case to record it on.
    pub fn timeline_event(&self) -> Option<TimelineEvent> {
        let case_id = self.case_id.clone()?;
        let kind = format!("{}.{}", self.flow.as_str(), self.choice);
        Some(TimelineEvent {
            key: format!("{}:{kind}", self.key),
            tenant_id: self.tenant_id.clone(),
            case_id,
            kind,
            data: json!({self.flow.key_name(): self.key, "user": self.actor}),
            at: self.answered_at,
        })
    }

    /// The resume this follow-up asks for, when a run waits.
    pub fn resume_request(&self) -> Option<ResumeRequest> {
        Some(ResumeRequest {
            flow: self.flow,
            run_id: self.run_id.clone()?,
            branch: self.choice.clone(),
            idempotency_key: self.key.clone(),
            tenant_id: self.tenant_id.clone(),
            case_id: self.case_id.clone(),
        })
    }
}

/// The branch a decision resumes a run on: `approve` or `deny`.
fn decision_branch(decision: aisoc_notify_core::decision::Decision) -> &'static str {
    match decision {
        aisoc_notify_core::decision::Decision::Approve => "approve",
        aisoc_notify_core::decision::Decision::Deny => "deny",
    }
}

/// What [`AnswerOutbox::replay`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// The dead follow-up is pending again, due now, with its attempts reset.
    Replayed(Box<FollowUp>),
    /// The follow-up is not dead (it is pending or done); nothing changed.
    NotDead(FollowUpState),
    /// No follow-up has this key and kind here.
    Unknown,
}

/// Where recorded answers' and decisions' follow-ups wait. Every
/// [`VerificationStore`](crate::verify::VerificationStore) and every
/// [`ApprovalStore`](crate::store::ApprovalStore) is one, since it writes them in the same unit
/// as the answer or decision.
///
/// Claims are leases: a claimed follow-up is hidden from other claims until `now + lease`, so
/// several dispatchers (replicas) can share one store, and one that died mid-attempt is
/// retried once its lease runs out. Updates are fenced: [`complete`](AnswerOutbox::complete)
/// only moves a pending follow-up to done; [`retry_at`](AnswerOutbox::retry_at) and
/// [`dead_end`](AnswerOutbox::dead_end) only apply to the claim they were given (the same
/// attempt number and lease), so a slow, superseded attempt cannot undo a newer outcome.
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

    /// The follow-ups of one prompt or approval, timeline first (for inspection and tests).
    async fn follow_ups(&self, key: &str) -> Result<Vec<FollowUp>, StoreError>;

    /// Up to `limit` follow-ups in `state`, the most recently changed first: what an operator
    /// looks at, dead ones above all.
    async fn list_follow_ups(
        &self,
        state: FollowUpState,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError>;

    /// Puts the dead follow-up `key`/`kind` back in line: pending, due at `now`, attempts reset
    /// (a full retry budget), its last error kept until an attempt succeeds. A follow-up that
    /// is not dead is left alone ([`ReplayOutcome::NotDead`]).
    async fn replay(
        &self,
        key: &str,
        kind: FollowUpKind,
        now: DateTime<Utc>,
    ) -> Result<ReplayOutcome, StoreError>;
}
