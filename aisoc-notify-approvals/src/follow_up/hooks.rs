//! What the host gives the follow-up dispatcher: the case timeline and the playbook resumer,
//! and [`HookError`], the typed way they (and the `chatops.verify` credential provider) fail.

use aisoc_notify_core::action::ActionError;
use aisoc_notify_core::async_trait;
use aisoc_notify_core::delivery::DeliveryError;
use aisoc_notify_core::retry::RetryClass;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::outbox::FollowUpFlow;

/// Why a host hook failed, and whether trying again can help.
///
/// ```
/// use aisoc_notify_approvals::follow_up::HookError;
/// use aisoc_notify_core::RetryClass;
///
/// let err = HookError::new("the orchestrator answered HTTP 410", RetryClass::for_status(410, None));
/// assert_eq!(err.retry_class(), RetryClass::Gone);
/// assert_eq!(err.to_string(), "the orchestrator answered HTTP 410");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct HookError {
    reason: String,
    class: RetryClass,
}

impl HookError {
    /// A failure of `class`; `reason` says what happened (never a secret or a URL path).
    pub fn new(reason: impl std::fmt::Display, class: RetryClass) -> Self {
        Self {
            reason: reason.to_string(),
            class,
        }
    }

    /// A failure that trying again later can fix (a store or service briefly down).
    pub fn retryable(reason: impl std::fmt::Display) -> Self {
        Self::new(reason, RetryClass::Retryable)
    }

    /// A failure that will repeat (a bad configuration, a refused request).
    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        Self::new(reason, RetryClass::NonRetryable)
    }

    /// What happened.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether, and when, trying again can succeed.
    pub fn retry_class(&self) -> RetryClass {
        self.class
    }

    /// The action error for this failure of `hook` (`credentials`, `timeline`, `resume`).
    pub fn into_action_error(self, hook: &'static str) -> ActionError {
        ActionError::Host {
            hook,
            retryable: self.class.is_retryable(),
            reason: self.reason,
        }
    }
}

impl From<DeliveryError> for HookError {
    fn from(err: DeliveryError) -> Self {
        Self::new(&err, err.retry_class())
    }
}

/// An event for a case's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
    /// Names this event across retries (`<prompt id>:<kind>`): an answer's entry is delivered
    /// from the follow-up outbox at least once, so a timeline that can should keep one entry
    /// per key.
    pub key: String,
    /// The tenant.
    pub tenant_id: String,
    /// The case.
    pub case_id: String,
    /// `chatops.verify.prompted`, `chatops.verify.acknowledge`, …
    pub kind: String,
    /// Details.
    pub data: Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// The host's case timeline.
#[async_trait]
pub trait CaseTimeline: Send + Sync {
    /// Records an event; the same [`key`](TimelineEvent::key) may come again after a crash.
    async fn record(&self, event: TimelineEvent) -> Result<(), HookError>;
}

/// A recorded answer's or decision's request to resume the playbook run waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRequest {
    /// Which flow it comes from: a `chatops.verify` answer or an approval decision.
    pub flow: FollowUpFlow,
    /// The run waiting for the answer or decision.
    pub run_id: String,
    /// The branch to take: `acknowledge`, `deny` or `escalate` for a verify answer; `approve`,
    /// `deny` or `expired` for an approval.
    pub branch: String,
    /// The answered prompt's id or the decided approval's id. Every delivery of this resume
    /// carries the same one, so the orchestrator resumes the run once per key however many
    /// deliveries reach it.
    pub idempotency_key: String,
    /// The tenant.
    pub tenant_id: String,
    /// The case, when known (always for a verify answer).
    pub case_id: Option<String>,
}

/// Resumes a waiting playbook run on a branch.
///
/// Called from a follow-up outbox: at least once per recorded answer or decision, retried while
/// it fails with a retryable [`HookError`], never for a second answer or decision of the same
/// prompt or approval.
#[async_trait]
pub trait PlaybookResumer: Send + Sync {
    /// Resumes `request.run_id` on `request.branch`, keyed by `request.idempotency_key`.
    async fn resume(&self, request: &ResumeRequest) -> Result<(), HookError>;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_hook_failure_becomes_a_host_action_error_that_keeps_whether_to_retry() {
        let throttled = HookError::new("slow down", RetryClass::Throttled(Duration::from_secs(5)));
        let ActionError::Host {
            hook, retryable, ..
        } = throttled.into_action_error("resume")
        else {
            panic!("a host error");
        };
        assert_eq!((hook, retryable), ("resume", true));
        let permanent = HookError::permanent("no such case").into_action_error("timeline");
        assert_eq!(permanent.retry_class(), RetryClass::NonRetryable);
        assert_eq!(permanent.to_string(), "timeline failed: no such case");
    }
}
