//! What the host gives the flow: a chat transport per tenant, the case timeline and the
//! playbook resumer, and [`HookError`], the typed way they fail.

use std::sync::Arc;

use aisoc_notify_core::action::ActionError;
use aisoc_notify_core::async_trait;
use aisoc_notify_core::delivery::DeliveryError;
use aisoc_notify_core::prompt::PromptTransport;
use aisoc_notify_core::retry::RetryClass;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Why a host hook failed, and whether trying again can help.
///
/// ```
/// use aisoc_notify_approvals::verify::HookError;
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

/// Finds a tenant's chat transport at run time (from the host's vault), so one deployment can
/// serve many Slack workspaces and Teams tenants.
#[async_trait]
pub trait CredentialProvider: Send + Sync {
    /// The transport built from the tenant's chat credentials, or `None` when it has none.
    async fn prompt_transport(
        &self,
        tenant_id: &str,
    ) -> Result<Option<Arc<dyn PromptTransport>>, HookError>;
}

/// An event for a case's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
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
    /// Records an event.
    async fn record(&self, event: TimelineEvent) -> Result<(), HookError>;
}

/// Resumes a waiting playbook run on a branch.
#[async_trait]
pub trait PlaybookResumer: Send + Sync {
    /// Resumes `run_id` on `branch` (`acknowledge`, `deny` or `escalate`).
    async fn resume(&self, run_id: &str, branch: &str) -> Result<(), HookError>;
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
