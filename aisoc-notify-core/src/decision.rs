//! The shared decision path's interface: how Slack, Teams and REST hand a human's approve/deny
//! to the host.
//!
//! Every channel that can carry an approval button turns a click into a [`DecisionRequest`] and
//! passes it to one [`DecisionHandler`]. The handler (the approvals store in a real deployment)
//! enforces "not found", "already reviewed" and "expired", records the decision exactly once,
//! and its answer, or its [`DecisionError`], is what the channel shows in place of the buttons.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What the reviewer chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Go ahead.
    Approve,
    /// Do not.
    Deny,
}

impl Decision {
    /// `approved` or `denied`, the status the decision leads to.
    pub fn status_word(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Deny => "denied",
        }
    }
}

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionSource {
    /// A Slack button.
    Slack,
    /// A Teams card.
    Teams,
    /// The REST API.
    Api,
}

impl DecisionSource {
    /// `slack`, `teams` or `api`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Slack => "slack",
            DecisionSource::Teams => "teams",
            DecisionSource::Api => "api",
        }
    }
}

impl fmt::Display for DecisionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewer {
    /// The reviewer's id on the source platform (a Slack user id, an AAD object id…).
    pub id: String,
    /// The name to show and record.
    pub name: String,
}

/// One reviewer's decision on one approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRequest {
    /// The approval request decided on.
    pub approval_id: String,
    /// The choice.
    pub decision: Decision,
    /// Who chose.
    pub reviewer: Reviewer,
    /// Where.
    pub source: DecisionSource,
}

/// The recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecorded {
    /// The approval request.
    pub approval_id: String,
    /// The choice that was recorded.
    pub decision: Decision,
    /// The reviewer's name as recorded.
    pub reviewer_name: String,
}

/// Why a decision was not recorded. The `Display` text is shown to the reviewer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionError {
    /// No approval request has this id.
    #[error("Approval request not found")]
    NotFound,
    /// Someone decided first.
    #[error("Already {}", .0.status_word())]
    AlreadyReviewed(Decision),
    /// The request expired before the decision.
    #[error("Approval request has expired")]
    Expired,
    /// The decision could not be recorded (storage failure); safe to show, never a secret.
    #[error("Could not record the decision: {0}")]
    Unavailable(String),
}

/// An approval request as the chat cards show it (Slack and Teams render the same prompt).
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPrompt {
    /// The approval request id; the buttons carry it back.
    pub approval_id: String,
    /// The tenant the request belongs to.
    pub tenant_id: String,
    /// One-line summary ("Isolate host web-01").
    pub title: String,
    /// Why approval is needed.
    pub summary: String,
    /// How risky the action is, 0-100, when known.
    pub risk_score: Option<u8>,
    /// Severity, for colour and emoji.
    pub severity: crate::notification::Severity,
    /// Who or what asked.
    pub requested_by: Option<String>,
    /// Extra facts.
    pub facts: Vec<crate::notification::Fact>,
    /// Deep link to the approval in the console.
    pub console_url: Option<url::Url>,
}

/// The choices of a "was this you?" verification prompt, in display order.
pub const VERIFY_CHOICES: [&str; 3] = ["acknowledge", "deny", "escalate"];

/// A "was this you?" prompt to one person about one case (`chatops.verify`).
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationPrompt {
    /// This prompt's unique id; its three choice tokens share it.
    pub prompt_id: String,
    /// The case the activity belongs to.
    pub case_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The person asked (their e-mail or user id).
    pub user_ref: String,
    /// One-line summary ("Sign-in from a new country").
    pub title: String,
    /// What happened, in words the user recognises.
    pub message: String,
    /// Severity, for colour and emoji.
    pub severity: crate::notification::Severity,
    /// Details (time, location, device…).
    pub facts: Vec<crate::notification::Fact>,
}

/// Records decisions; implemented by the host (or the approvals crate).
#[async_trait]
pub trait DecisionHandler: Send + Sync {
    /// Records one decision, exactly once per approval request.
    async fn decide(&self, request: DecisionRequest) -> Result<DecisionRecorded, DecisionError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_the_reviewer_should_see_them() {
        assert_eq!(
            DecisionError::AlreadyReviewed(Decision::Approve).to_string(),
            "Already approved"
        );
        assert_eq!(
            DecisionError::AlreadyReviewed(Decision::Deny).to_string(),
            "Already denied"
        );
        assert_eq!(
            DecisionError::Expired.to_string(),
            "Approval request has expired"
        );
    }
}
