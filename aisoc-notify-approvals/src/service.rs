//! The one decision function Slack, Teams and the REST API share.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::decision::{
    DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest,
};
use chrono::{DateTime, Utc};

use crate::follow_up::FollowUpDispatcher;
use crate::model::{ApprovalRequest, NewApproval};
use crate::store::{ApprovalStore, DecideError, StoreError};

/// Creates approval requests and records decisions through an [`ApprovalStore`].
///
/// It implements [`DecisionHandler`], so the Slack and Teams interaction routes take it as is.
/// A decision on a request a playbook run waits on queues the run's resume in the store; give
/// the service the [`FollowUpDispatcher`] over the same store
/// ([`with_follow_ups`](ApprovalService::with_follow_ups)) and it wakes it, so the resume goes
/// out at once rather than at the next poll.
///
/// ```
/// use std::sync::Arc;
/// use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
/// use aisoc_notify_approvals::service::ApprovalService;
/// use aisoc_notify_core::decision::{Decision, DecisionError, DecisionHandler, DecisionRequest, DecisionSource, Reviewer};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let service = ApprovalService::new(Arc::new(MemoryApprovalStore::new(Arc::new(MemoryAuditLog::new()))));
/// let request = service
///     .request("acme", "Isolate host web-01", "isolate_host", Some(82), std::time::Duration::from_secs(3600))
///     .await
///     .unwrap();
/// let decide = |decision| DecisionRequest {
///     approval_id: request.id.clone(),
///     decision,
///     reviewer: Reviewer { id: "U1".into(), name: "alice".into() },
///     source: DecisionSource::Slack,
/// };
/// assert!(service.decide(decide(Decision::Approve)).await.is_ok());
/// assert_eq!(
///     service.decide(decide(Decision::Deny)).await,
///     Err(DecisionError::AlreadyReviewed(Decision::Approve))
/// );
/// # });
/// ```
#[derive(Clone)]
pub struct ApprovalService {
    store: Arc<dyn ApprovalStore>,
    clock: Arc<dyn Clock>,
    follow_ups: Option<Arc<FollowUpDispatcher>>,
}

impl std::fmt::Debug for ApprovalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalService").finish_non_exhaustive()
    }
}

impl ApprovalService {
    /// A service over `store` with the system clock.
    pub fn new(store: Arc<dyn ApprovalStore>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            follow_ups: None,
        }
    }

    /// Wakes `dispatcher` (built over the same store) whenever a decision or an expiry queued
    /// a resume. Run its loop ([`FollowUpDispatcher::spawn`]) beside the service.
    pub fn with_follow_ups(mut self, dispatcher: Arc<FollowUpDispatcher>) -> Self {
        self.follow_ups = Some(dispatcher);
        self
    }

    /// Replaces the clock (expiry tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ApprovalStore> {
        &self.store
    }

    /// Creates a request.
    pub async fn create(&self, new: NewApproval) -> Result<ApprovalRequest, StoreError> {
        self.store.create(new, self.clock.now()).await
    }

    /// The deadline of a request created now that accepts decisions for `ttl`.
    pub fn expires_in(&self, ttl: Duration) -> Result<DateTime<Utc>, StoreError> {
        chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| self.clock.now().checked_add_signed(ttl))
            .ok_or_else(|| StoreError::Invalid("ttl is too long".into()))
    }

    /// Creates a request that expires `ttl` from now.
    pub async fn request(
        &self,
        tenant_id: &str,
        summary: &str,
        requested_action: &str,
        risk_score: Option<u8>,
        ttl: Duration,
    ) -> Result<ApprovalRequest, StoreError> {
        self.create(NewApproval {
            id: None,
            tenant_id: tenant_id.to_owned(),
            summary: summary.to_owned(),
            risk_score,
            requested_action: requested_action.to_owned(),
            expires_at: self.expires_in(ttl)?,
            notes: None,
            run_id: None,
            case_id: None,
        })
        .await
    }

    /// Records a decision on one of `tenant_id`'s requests: the REST path, where the caller
    /// names the tenant. Another tenant's request answers [`DecisionError::NotFound`].
    pub async fn decide_for_tenant(
        &self,
        tenant_id: &str,
        request: DecisionRequest,
    ) -> Result<DecisionRecorded, DecisionError> {
        let decided = match self
            .store
            .decide(tenant_id, &request, self.clock.now())
            .await
        {
            Ok(decided) => decided,
            Err(DecideError::Expired) => {
                // Marking it expired may have queued the waiting run's `expired` resume.
                self.wake_follow_ups();
                return Err(DecisionError::Expired);
            }
            Err(other) => return Err(other.into()),
        };
        if decided.run_id.is_some() {
            self.wake_follow_ups();
        }
        tracing::info!(
            approval_id = %decided.id,
            status = %decided.status,
            source = %request.source,
            "approval decided"
        );
        Ok(DecisionRecorded {
            approval_id: decided.id,
            decision: request.decision,
            reviewer_name: request.reviewer.name,
        })
    }

    fn wake_follow_ups(&self) {
        if let Some(dispatcher) = &self.follow_ups {
            dispatcher.wake();
        }
    }
}

/// The chat path (Slack and Teams buttons): a button carries the approval id alone, so the
/// tenant is the request's own, looked up with [`ApprovalStore::tenant_of`]; the decision then
/// runs within that tenant like any other. REST callers name the tenant and use
/// [`ApprovalService::decide_for_tenant`].
#[async_trait]
impl DecisionHandler for ApprovalService {
    async fn decide(&self, request: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
        let tenant_id = self
            .store
            .tenant_of(&request.approval_id)
            .await
            .map_err(|e| DecisionError::Unavailable(e.to_string()))?
            .ok_or(DecisionError::NotFound)?;
        self.decide_for_tenant(&tenant_id, request).await
    }
}
