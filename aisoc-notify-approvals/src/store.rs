//! The storage traits: approvals (with their decision rule and the follow-ups it queues) and
//! the audit log.

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{Decision, DecisionError, DecisionRequest};
use chrono::{DateTime, Utc};

use crate::follow_up::AnswerOutbox;
use crate::model::{ApprovalRequest, ApprovalStatus, AuditEntry, NewApproval, NewAuditEntry};

/// A storage failure. Never carries credentials or connection strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record with this id exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The input is not acceptable.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The backend failed.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// A bounded (in-memory) store is full; the sentence says what it holds, its limit and
    /// what frees room.
    #[error("{0}")]
    Full(String),
}

/// Why a decision was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// No such request.
    #[error("Approval request not found")]
    NotFound,
    /// Someone decided first.
    #[error("Already {}", .0.status_word())]
    AlreadyReviewed(Decision),
    /// The deadline passed; the request is now `expired`.
    #[error("Approval request has expired")]
    Expired,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DecideError> for DecisionError {
    fn from(err: DecideError) -> Self {
        match err {
            DecideError::NotFound => DecisionError::NotFound,
            DecideError::AlreadyReviewed(decision) => DecisionError::AlreadyReviewed(decision),
            DecideError::Expired => DecisionError::Expired,
            DecideError::Store(err) => DecisionError::Unavailable(err.to_string()),
        }
    }
}

/// Stores approval requests and records decisions on them, with the follow-ups they queue.
///
/// [`decide`](ApprovalStore::decide) is the decision rule itself, because it must be atomic:
/// not found, already reviewed or past expiry are refused (an expired request is marked
/// `expired`); otherwise the status, reviewer and source are recorded together with an
/// `approval.reviewed` audit entry, in one transaction, and of two racing reviewers exactly one
/// wins (a conditional update, never read-then-write).
///
/// When a playbook run waits on the request ([`NewApproval::run_id`]), the same unit queues
/// its resume in the store's [`AnswerOutbox`]: on `approve` or `deny`, or on `expired` when the
/// request is marked expired (by a late decision, or by [`expire_due`](ApprovalStore::expire_due)).
/// The approval id is the resume's idempotency key; a request has at most one resume, ever.
/// Every implementation's [`claim_due`](AnswerOutbox::claim_due) calls `expire_due` first, so
/// a dispatcher over the store resumes runs whose request nobody decided in time within one
/// pass of the deadline.
#[async_trait]
pub trait ApprovalStore: AnswerOutbox {
    /// Stores a new pending request.
    async fn create(
        &self,
        new: NewApproval,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, StoreError>;

    /// One of `tenant_id`'s requests by id; `None` for an unknown id and for another tenant's
    /// (indistinguishable, so ids cannot be probed across tenants).
    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<ApprovalRequest>, StoreError>;

    /// The tenant a request belongs to. Only for callers that hold an approval id but no tenant:
    /// a chat button carries the id alone (the message was posted into the tenant's own
    /// workspace), so the chat decision path looks the tenant up here, then decides within it.
    async fn tenant_of(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// A tenant's requests, newest first, optionally only those in `status`.
    async fn list(
        &self,
        tenant_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRequest>, StoreError>;

    /// Records a decision made at `now` on one of `tenant_id`'s requests (see the trait docs);
    /// another tenant's request is [`DecideError::NotFound`] and stays as it was.
    async fn decide(
        &self,
        tenant_id: &str,
        request: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, DecideError>;

    /// Marks every pending request whose deadline is at or before `now` expired, queueing the
    /// `expired` resume of each one a run waits on in the same unit; returns those it expired.
    async fn expire_due(&self, now: DateTime<Utc>) -> Result<Vec<ApprovalRequest>, StoreError>;
}

/// An append-only audit trail: entries can be added and read, never changed or removed.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an entry.
    async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// A tenant's entries in order, optionally for one subject.
    async fn list(
        &self,
        tenant_id: &str,
        subject_id: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

pub(crate) fn validate_new(new: &NewApproval) -> Result<(), StoreError> {
    if new.tenant_id.trim().is_empty() {
        return Err(StoreError::Invalid("tenant_id must not be empty".into()));
    }
    if new.summary.trim().is_empty() {
        return Err(StoreError::Invalid("summary must not be empty".into()));
    }
    if new.requested_action.trim().is_empty() {
        return Err(StoreError::Invalid(
            "requested_action must not be empty".into(),
        ));
    }
    if new.risk_score.is_some_and(|r| r > 100) {
        return Err(StoreError::Invalid(
            "risk_score must be between 0 and 100".into(),
        ));
    }
    for (field, value) in [
        ("id", &new.id),
        ("run_id", &new.run_id),
        ("case_id", &new.case_id),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| v.trim().is_empty() || v.chars().count() > 128)
        {
            return Err(StoreError::Invalid(format!(
                "{field} must be 1-128 characters"
            )));
        }
    }
    Ok(())
}
