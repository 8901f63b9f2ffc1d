//! What a recorded answer or decision still has to do, kept durably beside it until it is done:
//! the follow-up outbox both decision flows share, and the dispatcher that delivers it.
//!
//! A `chatops.verify` answer ([`VerificationStore::answer`](crate::verify::VerificationStore::answer))
//! and an approval decision ([`ApprovalStore::decide`](crate::store::ApprovalStore::decide)) are
//! each written together with their [`FollowUp`]s — one PostgreSQL transaction, one lock in
//! memory — so neither exists without what it still has to do, and a failed or interrupted
//! resume is retried instead of forgotten:
//!
//! | flow | follow-ups | key |
//! |---|---|---|
//! | [`FollowUpFlow::Verify`] | the `chatops.verify.<choice>` case-timeline entry; the resume of the waiting run on the chosen branch | the prompt id |
//! | [`FollowUpFlow::Approval`] | the resume of the waiting run on `approve`, `deny` or `expired` | the approval id |
//!
//! Each store is its own [`AnswerOutbox`]; a [`FollowUpDispatcher`] over it claims due
//! follow-ups with a lease, calls the host's hook ([`CaseTimeline`], [`PlaybookResumer`]) and
//! marks them done, reschedules them, or dead-ends them with the reason. A dead follow-up stays
//! listed ([`AnswerOutbox::list_follow_ups`]) until an operator replays it
//! ([`AnswerOutbox::replay`]).
//!
//! Delivery is at least once (a process that dies between the hook's success and
//! [`AnswerOutbox::complete`] delivers again after the lease), which is why every resume
//! carries its key as the idempotency key ([`ResumeRequest::idempotency_key`]) and timeline
//! events theirs ([`TimelineEvent::key`]).
//!
//! An approval a run waits on, decided, resumes the run once:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use aisoc_notify_approvals::follow_up::{
//!     CaseTimeline, FollowUpDispatcher, HookError, PlaybookResumer, ResumeRequest, TimelineEvent,
//! };
//! use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
//! use aisoc_notify_approvals::model::NewApproval;
//! use aisoc_notify_approvals::service::ApprovalService;
//! use aisoc_notify_core::async_trait;
//! use aisoc_notify_core::decision::{Decision, DecisionHandler, DecisionRequest, DecisionSource, Reviewer};
//!
//! #[derive(Default)]
//! struct Orchestrator(Mutex<Vec<String>>);
//!
//! #[async_trait]
//! impl PlaybookResumer for Orchestrator {
//!     async fn resume(&self, request: &ResumeRequest) -> Result<(), HookError> {
//!         let resumed = format!("{} -> {} ({})", request.run_id, request.branch, request.flow);
//!         self.0.lock().unwrap().push(resumed);
//!         Ok(())
//!     }
//! }
//!
//! #[async_trait]
//! impl CaseTimeline for Orchestrator {
//!     async fn record(&self, _event: TimelineEvent) -> Result<(), HookError> {
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryApprovalStore::new(Arc::new(MemoryAuditLog::new())));
//! let orchestrator = Arc::new(Orchestrator::default());
//! let dispatcher = Arc::new(FollowUpDispatcher::new(store.clone(), orchestrator.clone(), orchestrator.clone()));
//! let service = ApprovalService::new(store).with_follow_ups(dispatcher.clone());
//! let approval = service.create(NewApproval {
//!     id: None, tenant_id: "acme".into(), summary: "Isolate host web-01".into(), risk_score: Some(82),
//!     requested_action: "isolate_host".into(),
//!     expires_at: service.expires_in(std::time::Duration::from_secs(3600)).unwrap(),
//!     notes: None, run_id: Some("run-7".into()), case_id: Some("case-1".into()),
//! }).await.unwrap();
//! service.decide(DecisionRequest {
//!     approval_id: approval.id.clone(),
//!     decision: Decision::Deny,
//!     reviewer: Reviewer { id: "U1".into(), name: "alice".into() },
//!     source: DecisionSource::Api,
//! }).await.unwrap();
//! // The decision queued the resume in the same unit; the dispatcher delivers it, once.
//! assert_eq!(dispatcher.run_due().await.unwrap().delivered, 1);
//! assert_eq!(dispatcher.run_due().await.unwrap().claimed, 0);
//! assert_eq!(*orchestrator.0.lock().unwrap(), ["run-7 -> deny (approval)"]);
//! # });
//! ```

mod dispatcher;
mod hooks;
pub(crate) mod memory;
mod outbox;

pub use self::dispatcher::{DispatchReport, FollowUpDispatcher, default_follow_up_policy};
pub use self::hooks::{CaseTimeline, HookError, PlaybookResumer, ResumeRequest, TimelineEvent};
pub use self::outbox::{
    AnswerOutbox, EXPIRED_BRANCH, EXPIRY_ACTOR, FollowUp, FollowUpFlow, FollowUpKind,
    FollowUpState, ReplayOutcome,
};
