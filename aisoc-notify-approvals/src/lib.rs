//! Human-in-the-loop decisions for aisoc-notify: approval requests decided exactly once with an
//! audit trail, and the `chatops.verify` "was this you?" flow; in both, the playbook run waiting
//! on the human is resumed exactly once per answer or decision, through a follow-up outbox.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`model`] | [`ApprovalRequest`](model::ApprovalRequest), [`ApprovalStatus`](model::ApprovalStatus), audit entries |
//! | [`store`] | the [`ApprovalStore`](store::ApprovalStore) and [`AuditLog`](store::AuditLog) traits |
//! | [`memory`] | in-memory stores (the default), bounded |
//! | `postgres` | PostgreSQL stores with migrations (feature `postgres`) |
//! | [`service`] | [`ApprovalService`](service::ApprovalService): the one decision function, a [`DecisionHandler`](aisoc_notify_core::decision::DecisionHandler) for Slack, Teams and REST |
//! | [`follow_up`] | the follow-up outbox both flows share ([`AnswerOutbox`](follow_up::AnswerOutbox)), its [`FollowUpDispatcher`](follow_up::FollowUpDispatcher), and the host's hooks (case timeline, playbook resumer) |
//! | [`verify`] | the `chatops.verify` executor, its callback handler and its credential provider |
//! | `routes` | the axum answer-page route and the approvals REST + audit router (feature `axum`) |
//! | `conformance` | store contracts every backend passes (feature `test-util`) |
//!
//! Chat is reached through core's [`PromptTransport`](aisoc_notify_core::prompt::PromptTransport)
//! (`Arc<dyn …>`, one per tenant, from the host), which the Slack and Teams crates implement:
//! this crate depends on `aisoc-notify-core` only. [`ApprovalRequest::ask`](model::ApprovalRequest::ask)
//! turns a request into the prompt a transport posts.
//!
//! The decision rule: a request that does not exist is "not found"; one already decided is
//! "Already approved" / "Already denied"; one past its expiry is marked `expired` and refused;
//! otherwise the decision, reviewer and source are recorded together with an
//! `approval.reviewed` audit entry and, when a playbook run waits on the request, its resume
//! (branch `approve`, `deny`, or `expired` once the deadline passed). Two reviewers racing:
//! exactly one wins, and one resume is queued, on every store.
//!
//! ## Features
//! - `postgres`: `PgApprovalStore`, `PgAuditLog`, `PgVerificationStore`.
//! - `axum`: `routes::router` for `/chatops/verify/{token}`: `GET` shows the confirmation
//!   page and records nothing, `POST` (its button) records the answer.
//!   `routes::approvals_router` for `/approvals`, `/approvals/{id}`,
//!   `/approvals/{id}/decision` and `/audit`, tenant-scoped; the host adds its authentication.
//! - `test-util`: the `conformance` suites.

#[cfg(feature = "test-util")]
pub mod conformance;
pub mod follow_up;
pub mod memory;
pub mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "axum")]
pub mod routes;
pub mod service;
pub mod store;
pub mod verify;
