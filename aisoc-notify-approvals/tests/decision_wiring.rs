//! The shared decision function the Slack and Teams interaction routes call. (The routes
//! themselves, wired to this service, are tested in the gateway crate, where the adapters and
//! this crate meet: `examples/tests/approval_decisions.rs`.)

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::model::ApprovalStatus;
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionHandler, DecisionRequest, DecisionSource, Reviewer,
};

fn service(clock: Arc<ManualClock>) -> (ApprovalService, Arc<MemoryAuditLog>) {
    let audit = Arc::new(MemoryAuditLog::new());
    let service =
        ApprovalService::new(Arc::new(MemoryApprovalStore::new(audit.clone()))).with_clock(clock);
    (service, audit)
}

fn decide(id: &str, decision: Decision) -> DecisionRequest {
    DecisionRequest {
        approval_id: id.into(),
        decision,
        reviewer: Reviewer {
            id: "U1".into(),
            name: "alice".into(),
        },
        source: DecisionSource::Api,
    }
}

#[tokio::test]
async fn a_decision_one_second_after_expiry_marks_the_request_expired() {
    let clock = Arc::new(ManualClock::at_unix(1_790_000_000));
    let (service, _) = service(clock.clone());
    let request = service
        .request(
            "acme",
            "Block 203.0.113.7",
            "block_ip",
            Some(40),
            Duration::from_secs(1800),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1801));
    assert_eq!(
        service.decide(decide(&request.id, Decision::Approve)).await,
        Err(DecisionError::Expired)
    );
    let stored = service
        .store()
        .get(&request.tenant_id, &request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Expired);
}
