//! The storage traits: approvals (with their decision rule) and the audit log.

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{Decision, DecisionError, DecisionRequest};
use chrono::{DateTime, Utc};

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

/// Stores approval requests and records decisions on them.
///
/// [`decide`](ApprovalStore::decide) is the decision rule itself, because it must be atomic:
/// not found, already reviewed or past expiry are refused (an expired request is marked
/// `expired`); otherwise the status, reviewer and source are recorded together with an
/// `approval.reviewed` audit entry, in one transaction, and of two racing reviewers exactly one
/// wins (a conditional update, never read-then-write).
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Stores a new pending request.
    async fn create(
        &self,
        new: NewApproval,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, StoreError>;

    /// One request by id.
    async fn get(&self, id: &str) -> Result<Option<ApprovalRequest>, StoreError>;

    /// A tenant's requests, newest first, optionally only those in `status`.
    async fn list(
        &self,
        tenant_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRequest>, StoreError>;

    /// Records a decision made at `now` (see the trait docs).
    async fn decide(
        &self,
        request: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, DecideError>;
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
    if new
        .id
        .as_deref()
        .is_some_and(|id| id.trim().is_empty() || id.len() > 128)
    {
        return Err(StoreError::Invalid("id must be 1-128 characters".into()));
    }
    Ok(())
}
