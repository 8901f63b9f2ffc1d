//! The store contracts against the in-memory stores.

use std::sync::Arc;

use aisoc_notify_approvals::conformance;
use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::verify::MemoryVerificationStore;

fn stores() -> (Arc<MemoryApprovalStore>, Arc<MemoryAuditLog>) {
    let audit = Arc::new(MemoryAuditLog::new());
    (Arc::new(MemoryApprovalStore::new(audit.clone())), audit)
}

#[tokio::test]
async fn create_get_list() {
    conformance::create_get_list(stores().0.as_ref()).await;
}

#[tokio::test]
async fn tenants_are_isolated() {
    let (store, audit) = stores();
    conformance::tenants_are_isolated(store.as_ref(), audit.as_ref()).await;
}

#[tokio::test]
async fn decision_rule() {
    let (store, audit) = stores();
    conformance::decision_rule(store.as_ref(), audit.as_ref()).await;
}

#[tokio::test]
async fn expiry() {
    let (store, audit) = stores();
    conformance::expiry(store.as_ref(), audit.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_concurrent_decisions() {
    let (store, audit) = stores();
    conformance::concurrent_decisions(store, audit.as_ref(), 100).await;
}

#[tokio::test]
async fn audit_append_and_list() {
    conformance::audit_append_and_list(&MemoryAuditLog::new()).await;
}

#[tokio::test]
async fn verification_answers_once() {
    conformance::verification_answers_once(&MemoryVerificationStore::new()).await;
}

#[tokio::test]
async fn answer_and_follow_ups_are_one_unit() {
    conformance::answer_and_follow_ups_are_one_unit(&MemoryVerificationStore::new()).await;
}

#[tokio::test]
async fn claims_are_leased_and_fenced() {
    conformance::claims_are_leased_and_fenced(&MemoryVerificationStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_answers_record_once() {
    conformance::concurrent_answers_record_once(Arc::new(MemoryVerificationStore::new()), 50).await;
}

#[tokio::test]
async fn a_decision_with_a_waiting_run_queues_one_resume() {
    conformance::a_decision_with_a_waiting_run_queues_one_resume(stores().0.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_racing_reviewers_queue_one_resume() {
    conformance::racing_reviewers_queue_one_resume(stores().0, 100).await;
}

#[tokio::test]
async fn an_approval_nobody_decides_resumes_its_run_on_expired() {
    conformance::an_approval_nobody_decides_resumes_its_run_on_expired(stores().0.as_ref()).await;
}

#[tokio::test]
async fn approval_dead_follow_ups_are_listed_and_replayed() {
    conformance::approval_dead_follow_ups_are_listed_and_replayed(stores().0.as_ref()).await;
}

#[tokio::test]
async fn verify_dead_follow_ups_are_listed_and_replayed() {
    conformance::verify_dead_follow_ups_are_listed_and_replayed(&MemoryVerificationStore::new())
        .await;
}
