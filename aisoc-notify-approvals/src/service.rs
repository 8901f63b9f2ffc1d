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

/// Told of every request that stopped taking decisions through this service: decided, or found
/// expired by a late decision. The host shows the outcome where the request was posted (chat
/// cards); the store has already recorded it, so a hook that fails changes nothing there.
#[async_trait]
pub trait DecidedHook: Send + Sync {
    /// `approval` as the store now holds it (`approved`, `denied` or `expired`).
    async fn decided(&self, approval: &ApprovalRequest);
}

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
    decided: Option<Arc<dyn DecidedHook>>,
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
            decided: None,
        }
    }

    /// Calls `hook` after the store accepted each decision (and when a late decision found the
    /// request expired), before the decision is answered.
    pub fn with_decided_hook(mut self, hook: Arc<dyn DecidedHook>) -> Self {
        self.decided = Some(hook);
        self
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
                self.tell_expired(tenant_id, &request.approval_id).await;
                return Err(DecisionError::Expired);
            }
            Err(other) => return Err(other.into()),
        };
        if decided.run_id.is_some() {
            self.wake_follow_ups();
        }
        if let Some(hook) = &self.decided {
            hook.decided(&decided).await;
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

    async fn tell_expired(&self, tenant_id: &str, approval_id: &str) {
        let Some(hook) = &self.decided else {
            return;
        };
        match self.store.get(tenant_id, approval_id).await {
            Ok(Some(expired)) => hook.decided(&expired).await,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%approval_id, %error, "could not read an expired request to show its outcome");
            }
        }
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aisoc_notify_core::clock::ManualClock;
    use aisoc_notify_core::decision::{Decision, DecisionSource, Reviewer};

    use super::*;
    use crate::memory::{MemoryApprovalStore, MemoryAuditLog};
    use crate::model::ApprovalStatus;

    #[derive(Default)]
    struct Recording(Mutex<Vec<(String, ApprovalStatus)>>);

    #[async_trait]
    impl DecidedHook for Recording {
        async fn decided(&self, approval: &ApprovalRequest) {
            self.0
                .lock()
                .unwrap()
                .push((approval.id.clone(), approval.status));
        }
    }

    fn decide(approval_id: &str, decision: Decision) -> DecisionRequest {
        DecisionRequest {
            approval_id: approval_id.to_owned(),
            decision,
            reviewer: Reviewer {
                id: "U1".into(),
                name: "alice".into(),
            },
            source: DecisionSource::Api,
        }
    }

    #[tokio::test]
    async fn the_hook_hears_each_accepted_decision_and_each_late_one_that_found_it_expired() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let hook = Arc::new(Recording::default());
        let service = ApprovalService::new(Arc::new(MemoryApprovalStore::new(Arc::new(
            MemoryAuditLog::new(),
        ))))
        .with_clock(clock.clone())
        .with_decided_hook(hook.clone());
        let ttl = Duration::from_secs(60);
        let first = service
            .request("acme", "Isolate web-01", "isolate_host", None, ttl)
            .await
            .unwrap();
        let late = service
            .request("acme", "Block 203.0.113.9", "block_ip", None, ttl)
            .await
            .unwrap();

        service
            .decide_for_tenant("acme", decide(&first.id, Decision::Approve))
            .await
            .unwrap();
        let refused = service
            .decide_for_tenant("acme", decide(&first.id, Decision::Deny))
            .await;
        assert_eq!(
            refused,
            Err(DecisionError::AlreadyReviewed(Decision::Approve))
        );
        clock.advance(Duration::from_secs(61));
        assert_eq!(
            service
                .decide_for_tenant("acme", decide(&late.id, Decision::Approve))
                .await,
            Err(DecisionError::Expired)
        );
        assert_eq!(
            *hook.0.lock().unwrap(),
            [
                (first.id.clone(), ApprovalStatus::Approved),
                (late.id.clone(), ApprovalStatus::Expired)
            ],
            "a refused second decision is not reported"
        );
    }
}
