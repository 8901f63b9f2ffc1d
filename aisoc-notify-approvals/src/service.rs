//! The one decision function Slack, Teams and the REST API share.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::decision::{
    DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest,
};

use crate::model::{ApprovalRequest, NewApproval};
use crate::store::{ApprovalStore, StoreError};

/// Creates approval requests and records decisions through an [`ApprovalStore`].
///
/// It implements [`DecisionHandler`], so the Slack and Teams interaction routes take it as is.
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
        }
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

    /// Creates a request that expires `ttl` from now.
    pub async fn request(
        &self,
        tenant_id: &str,
        summary: &str,
        requested_action: &str,
        risk_score: Option<u8>,
        ttl: Duration,
    ) -> Result<ApprovalRequest, StoreError> {
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|_| StoreError::Invalid("ttl is too long".into()))?;
        self.store
            .create(
                NewApproval {
                    id: None,
                    tenant_id: tenant_id.to_owned(),
                    summary: summary.to_owned(),
                    risk_score,
                    requested_action: requested_action.to_owned(),
                    expires_at: now + ttl,
                    notes: None,
                },
                now,
            )
            .await
    }
}

#[async_trait]
impl DecisionHandler for ApprovalService {
    async fn decide(&self, request: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
        let decided = self.store.decide(&request, self.clock.now()).await?;
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
}
