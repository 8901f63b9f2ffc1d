//! In-memory stores: the default for development and single-process hosts.
//!
//! They hold everything in the process, so they are bounded rather than durable — PostgreSQL
//! (`postgres`, feature `postgres`) is the durable store and the durable audit trail:
//!
//! - [`MemoryApprovalStore`] drops a decided or expired request, with its follow-up, once
//!   [`MEMORY_RETENTION`] has passed since the decision and no resume of it is still waiting for
//!   delivery (a dead one goes too: replay it within that time). Open requests — pending, or
//!   decided with their resume not yet delivered — are capped
//!   ([`DEFAULT_MAX_OPEN_APPROVALS`]); a request beyond the cap is refused with
//!   [`StoreError::Full`], never silently dropped.
//! - [`MemoryAuditLog`] is a ring: past its capacity ([`DEFAULT_AUDIT_CAPACITY`]) the oldest
//!   entry makes room for the newest. Entry ids keep increasing, so a reader can tell that
//!   entries were dropped.
//!
//! Time comes from the callers (`now` arguments, from the [`Clock`](aisoc_notify_core::clock::Clock)
//! of [`ApprovalService`](crate::service::ApprovalService)), so tests drive retention with a
//! manual clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::DecisionRequest;
use chrono::{DateTime, TimeDelta, Utc};

use crate::follow_up::memory::FollowUpTable;
use crate::follow_up::{AnswerOutbox, FollowUp, FollowUpKind, FollowUpState, ReplayOutcome};
use crate::model::{
    ApprovalRequest, ApprovalStatus, AuditEntry, NewApproval, NewAuditEntry, new_id,
};
use crate::store::{ApprovalStore, AuditLog, DecideError, StoreError, validate_new};

/// How long the in-memory stores keep what is finished (a decided approval, an answered or
/// expired prompt) once nothing of it is still waiting for delivery.
pub const MEMORY_RETENTION: TimeDelta = TimeDelta::days(1);

/// How many open approval requests (pending, or decided with their resume not yet delivered)
/// a [`MemoryApprovalStore`] holds unless told otherwise.
pub const DEFAULT_MAX_OPEN_APPROVALS: usize = 10_000;

/// How many entries a [`MemoryAuditLog`] keeps unless told otherwise.
pub const DEFAULT_AUDIT_CAPACITY: usize = 10_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Default)]
struct AuditRing {
    entries: VecDeque<AuditEntry>,
    last_id: i64,
}

/// An in-memory, append-only audit log that keeps the newest `capacity` entries (see the
/// module docs).
///
/// ```
/// use aisoc_notify_approvals::memory::MemoryAuditLog;
/// use aisoc_notify_approvals::model::NewAuditEntry;
/// use aisoc_notify_approvals::store::AuditLog;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let audit = MemoryAuditLog::with_capacity(2);
/// for n in 0..3 {
///     audit.append(NewAuditEntry {
///         tenant_id: "acme".into(), action: "custom.event".into(), subject_id: format!("s{n}"),
///         actor: "system".into(), details: serde_json::json!({}), created_at: chrono::Utc::now(),
///     }).await.unwrap();
/// }
/// let kept = audit.list("acme", None).await.unwrap();
/// assert_eq!(kept.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3], "the oldest made room");
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryAuditLog {
    ring: Mutex<AuditRing>,
    capacity: usize,
}

impl Default for MemoryAuditLog {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_AUDIT_CAPACITY)
    }
}

impl MemoryAuditLog {
    /// An empty log keeping [`DEFAULT_AUDIT_CAPACITY`] entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log keeping the newest `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(AuditRing::default()),
            capacity: capacity.max(1),
        }
    }

    /// How many entries it holds now.
    pub fn len(&self) -> usize {
        lock(&self.ring).entries.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, entry: NewAuditEntry) -> AuditEntry {
        let mut ring = lock(&self.ring);
        ring.last_id += 1;
        let stored = AuditEntry {
            id: ring.last_id,
            tenant_id: entry.tenant_id,
            action: entry.action,
            subject_id: entry.subject_id,
            actor: entry.actor,
            details: entry.details,
            created_at: entry.created_at,
        };
        if ring.entries.len() >= self.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(stored.clone());
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
        Ok(lock(&self.ring)
            .entries
            .iter()
            .filter(|e| e.tenant_id == tenant_id && subject_id.is_none_or(|s| e.subject_id == s))
            .cloned()
            .collect())
    }
}

#[derive(Debug, Default)]
struct Inner {
    approvals: HashMap<String, ApprovalRequest>,
    follow_ups: FollowUpTable,
}

/// Marks `approval` expired at `now` and queues its `expired` resume when a run waits.
fn expire(approval: &mut ApprovalRequest, follow_ups: &mut FollowUpTable, now: DateTime<Utc>) {
    approval.status = ApprovalStatus::Expired;
    approval.reviewed_at = Some(now);
    if let Some(follow_up) = FollowUp::for_decision(approval) {
        follow_ups.insert(follow_up);
    }
}

impl Inner {
    fn expire_due(&mut self, now: DateTime<Utc>) -> Vec<ApprovalRequest> {
        let mut expired = Vec::new();
        for approval in self.approvals.values_mut() {
            if approval.status == ApprovalStatus::Pending && approval.expires_at <= now {
                expire(approval, &mut self.follow_ups, now);
                expired.push(approval.clone());
            }
        }
        expired
    }

    /// Drops finished requests older than `retention` whose resume is not waiting.
    fn prune(&mut self, now: DateTime<Utc>, retention: TimeDelta) {
        let follow_ups = &self.follow_ups;
        self.approvals.retain(|id, approval| {
            approval.status == ApprovalStatus::Pending
                || follow_ups.is_waiting(id)
                || approval.reviewed_at.unwrap_or(now) + retention > now
        });
        let approvals = &self.approvals;
        self.follow_ups
            .retain_keys(|key| approvals.contains_key(key));
    }

    /// Requests still in play: pending, or decided with their resume waiting for delivery.
    fn open(&self) -> usize {
        self.approvals
            .iter()
            .filter(|(id, a)| a.status == ApprovalStatus::Pending || self.follow_ups.is_waiting(id))
            .count()
    }
}

/// In-memory approvals and their follow-ups under one lock; decisions append to the given
/// audit log under the same lock. Bounded: see the module docs.
#[derive(Debug)]
pub struct MemoryApprovalStore {
    inner: Mutex<Inner>,
    audit: Arc<MemoryAuditLog>,
    max_open: usize,
    retention: TimeDelta,
}

impl MemoryApprovalStore {
    /// A store writing its audit entries to `audit`, holding at most
    /// [`DEFAULT_MAX_OPEN_APPROVALS`] open requests and keeping finished ones for
    /// [`MEMORY_RETENTION`].
    pub fn new(audit: Arc<MemoryAuditLog>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            audit,
            max_open: DEFAULT_MAX_OPEN_APPROVALS,
            retention: MEMORY_RETENTION,
        }
    }

    /// Replaces how many open requests it holds before refusing new ones (at least one).
    pub fn with_max_open(mut self, max_open: usize) -> Self {
        self.max_open = max_open.max(1);
        self
    }

    /// Replaces how long a finished request is kept.
    pub fn with_retention(mut self, retention: TimeDelta) -> Self {
        self.retention = retention;
        self
    }

    /// How many requests it holds, open or finished.
    pub fn len(&self) -> usize {
        lock(&self.inner).approvals.len()
    }

    /// Whether it holds no request.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
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
        let mut inner = self.inner();
        inner.expire_due(now);
        inner.prune(now, self.retention);
        if inner.approvals.contains_key(&id) {
            return Err(StoreError::Conflict(format!("approval request '{id}'")));
        }
        let open = inner.open();
        if open >= self.max_open {
            return Err(StoreError::Full(format!(
                "the in-memory approval store holds {open} open requests (pending, or waiting \
                 for their run to be resumed), its limit: decide some or let them expire, or \
                 keep approvals in PostgreSQL"
            )));
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
            run_id: new.run_id,
            case_id: new.case_id,
        };
        inner.approvals.insert(id, approval.clone());
        Ok(approval)
    }

    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
        Ok(self
            .inner()
            .approvals
            .get(id)
            .filter(|a| a.tenant_id == tenant_id)
            .cloned())
    }

    async fn tenant_of(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.inner().approvals.get(id).map(|a| a.tenant_id.clone()))
    }

    async fn list(
        &self,
        tenant_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRequest>, StoreError> {
        let mut list: Vec<ApprovalRequest> = self
            .inner()
            .approvals
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
        tenant_id: &str,
        request: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, DecideError> {
        let mut inner = self.inner();
        let Inner {
            approvals,
            follow_ups,
        } = &mut *inner;
        let approval = approvals
            .get_mut(&request.approval_id)
            .filter(|a| a.tenant_id == tenant_id)
            .ok_or(DecideError::NotFound)?;
        match approval.status {
            ApprovalStatus::Approved | ApprovalStatus::Denied => {
                let decision = approval.status.decision().ok_or(DecideError::NotFound)?;
                return Err(DecideError::AlreadyReviewed(decision));
            }
            ApprovalStatus::Expired => return Err(DecideError::Expired),
            ApprovalStatus::Pending if approval.expires_at <= now => {
                expire(approval, follow_ups, now);
                return Err(DecideError::Expired);
            }
            ApprovalStatus::Pending => {}
        }
        approval.status = ApprovalStatus::from_decision(request.decision);
        approval.reviewer = Some(request.reviewer.name.clone());
        approval.source = Some(request.source);
        approval.reviewed_at = Some(now);
        let decided = approval.clone();
        // Still under the approvals lock: the decision, its audit entry and its resume appear
        // together.
        self.audit
            .push(NewAuditEntry::reviewed(&decided, &request.reviewer.id));
        if let Some(follow_up) = FollowUp::for_decision(&decided) {
            follow_ups.insert(follow_up);
        }
        Ok(decided)
    }

    async fn expire_due(&self, now: DateTime<Utc>) -> Result<Vec<ApprovalRequest>, StoreError> {
        Ok(self.inner().expire_due(now))
    }
}

#[async_trait]
impl AnswerOutbox for MemoryApprovalStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let mut inner = self.inner();
        inner.expire_due(now);
        inner.follow_ups.claim_due(now, lease, limit)
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
