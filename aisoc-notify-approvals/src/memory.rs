//! In-memory stores: the default for development and single-process hosts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::DecisionRequest;
use chrono::{DateTime, Utc};

use crate::model::{
    ApprovalRequest, ApprovalStatus, AuditEntry, NewApproval, NewAuditEntry, new_id,
};
use crate::store::{ApprovalStore, AuditLog, DecideError, StoreError, validate_new};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An in-memory, append-only audit log.
#[derive(Debug, Default)]
pub struct MemoryAuditLog {
    entries: Mutex<Vec<AuditEntry>>,
}

impl MemoryAuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, entry: NewAuditEntry) -> AuditEntry {
        let mut entries = lock(&self.entries);
        let stored = AuditEntry {
            id: i64::try_from(entries.len()).unwrap_or(i64::MAX) + 1,
            tenant_id: entry.tenant_id,
            action: entry.action,
            subject_id: entry.subject_id,
            actor: entry.actor,
            details: entry.details,
            created_at: entry.created_at,
        };
        entries.push(stored.clone());
        stored
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        Ok(self.push(entry))
    }

    async fn list(
        &self,
        tenant_id: &str,
        subject_id: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(lock(&self.entries)
            .iter()
            .filter(|e| e.tenant_id == tenant_id && subject_id.is_none_or(|s| e.subject_id == s))
            .cloned()
            .collect())
    }
}

/// In-memory approvals; decisions append to the given audit log under the same lock.
#[derive(Debug)]
pub struct MemoryApprovalStore {
    approvals: Mutex<HashMap<String, ApprovalRequest>>,
    audit: Arc<MemoryAuditLog>,
}

impl MemoryApprovalStore {
    /// A store writing its audit entries to `audit`.
    pub fn new(audit: Arc<MemoryAuditLog>) -> Self {
        Self {
            approvals: Mutex::new(HashMap::new()),
            audit,
        }
    }
}

#[async_trait]
impl ApprovalStore for MemoryApprovalStore {
    async fn create(
        &self,
        new: NewApproval,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, StoreError> {
        validate_new(&new)?;
        let id = new.id.unwrap_or_else(|| new_id("apr"));
        let mut approvals = lock(&self.approvals);
        if approvals.contains_key(&id) {
            return Err(StoreError::Conflict(format!("approval request '{id}'")));
        }
        let approval = ApprovalRequest {
            id: id.clone(),
            tenant_id: new.tenant_id,
            summary: new.summary,
            risk_score: new.risk_score,
            requested_action: new.requested_action,
            status: ApprovalStatus::Pending,
            reviewer: None,
            source: None,
            notes: new.notes,
            created_at: now,
            expires_at: new.expires_at,
            reviewed_at: None,
        };
        approvals.insert(id, approval.clone());
        Ok(approval)
    }

    async fn get(&self, id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
        Ok(lock(&self.approvals).get(id).cloned())
    }

    async fn list(
        &self,
        tenant_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRequest>, StoreError> {
        let mut list: Vec<ApprovalRequest> = lock(&self.approvals)
            .values()
            .filter(|a| a.tenant_id == tenant_id && status.is_none_or(|s| a.status == s))
            .cloned()
            .collect();
        list.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(list)
    }

    async fn decide(
        &self,
        request: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, DecideError> {
        let mut approvals = lock(&self.approvals);
        let approval = approvals
            .get_mut(&request.approval_id)
            .ok_or(DecideError::NotFound)?;
        match approval.status {
            ApprovalStatus::Approved | ApprovalStatus::Denied => {
                let decision = approval.status.decision().ok_or(DecideError::NotFound)?;
                return Err(DecideError::AlreadyReviewed(decision));
            }
            ApprovalStatus::Expired => return Err(DecideError::Expired),
            ApprovalStatus::Pending if approval.expires_at <= now => {
                approval.status = ApprovalStatus::Expired;
                approval.reviewed_at = Some(now);
                return Err(DecideError::Expired);
            }
            ApprovalStatus::Pending => {}
        }
        approval.status = ApprovalStatus::from_decision(request.decision);
        approval.reviewer = Some(request.reviewer.name.clone());
        approval.source = Some(request.source);
        approval.reviewed_at = Some(now);
        let decided = approval.clone();
        // Still under the approvals lock: the decision and its audit entry appear together.
        self.audit
            .push(NewAuditEntry::reviewed(&decided, &request.reviewer.id));
        Ok(decided)
    }
}
