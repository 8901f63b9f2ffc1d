//! Approval requests and audit entries.

use std::fmt;
use std::str::FromStr;

use aisoc_notify_core::decision::{ApprovalPrompt, Decision, DecisionSource};
use aisoc_notify_core::notification::{Fact, Severity};
use aisoc_notify_core::prompt::ApprovalAsk;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a reviewer.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Nobody decided before the deadline.
    Expired,
}

impl ApprovalStatus {
    /// The lowercase name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }

    /// The status a decision leads to.
    pub fn from_decision(decision: Decision) -> Self {
        match decision {
            Decision::Approve => ApprovalStatus::Approved,
            Decision::Deny => ApprovalStatus::Denied,
        }
    }

    /// The decision behind a reviewed status.
    pub fn decision(self) -> Option<Decision> {
        match self {
            ApprovalStatus::Approved => Some(Decision::Approve),
            ApprovalStatus::Denied => Some(Decision::Deny),
            ApprovalStatus::Pending | ApprovalStatus::Expired => None,
        }
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(ApprovalStatus::Pending),
            "approved" => Ok(ApprovalStatus::Approved),
            "denied" => Ok(ApprovalStatus::Denied),
            "expired" => Ok(ApprovalStatus::Expired),
            other => Err(format!(
                "status must be pending, approved, denied or expired (got '{other}')"
            )),
        }
    }
}

/// What a new approval request needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApproval {
    /// The id; generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// The tenant.
    pub tenant_id: String,
    /// What is being asked.
    pub summary: String,
    /// How risky, 0-100.
    #[serde(default)]
    pub risk_score: Option<u8>,
    /// The action that runs when approved (`isolate_host`, …).
    pub requested_action: String,
    /// When the request stops accepting decisions.
    pub expires_at: DateTime<Utc>,
    /// Free-text notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// The playbook run waiting on the decision (1-128 characters): deciding the request
    /// queues its resume, on `approve`, `deny` or `expired`.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The case the request is about (1-128 characters), passed on with the resume.
    #[serde(default)]
    pub case_id: Option<String>,
}

/// An approval request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// What is being asked.
    pub summary: String,
    /// How risky, 0-100.
    pub risk_score: Option<u8>,
    /// The action that runs when approved.
    pub requested_action: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// Who decided.
    pub reviewer: Option<String>,
    /// Where they decided.
    pub source: Option<DecisionSource>,
    /// Free-text notes.
    pub notes: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops accepting decisions.
    pub expires_at: DateTime<Utc>,
    /// When it was decided (or marked expired).
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The playbook run waiting on the decision, if any.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The case the request is about, if known.
    #[serde(default)]
    pub case_id: Option<String>,
}

impl ApprovalRequest {
    /// The request as a chat prompt asks it: its id, tenant, summary, notes (or the action),
    /// risk score and deadline, for any [`PromptTransport`](aisoc_notify_core::prompt::PromptTransport)'s
    /// `send_approval`. The severity follows the risk score: 90 and up critical, 70 high, 40
    /// medium, below that low; medium when unknown.
    pub fn ask(&self) -> ApprovalAsk {
        let severity = match self.risk_score {
            Some(90..) => Severity::Critical,
            Some(70..=89) => Severity::High,
            Some(40..=69) | None => Severity::Medium,
            Some(_) => Severity::Low,
        };
        let prompt = ApprovalPrompt {
            approval_id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            title: self.summary.clone(),
            summary: self
                .notes
                .clone()
                .unwrap_or_else(|| format!("Requested action: {}", self.requested_action)),
            risk_score: self.risk_score,
            severity,
            requested_by: None,
            facts: vec![Fact {
                label: "Action".into(),
                value: self.requested_action.clone(),
            }],
            console_url: None,
        };
        ApprovalAsk::new(prompt, self.expires_at)
    }
}

/// The audit action recorded for a decision.
pub const APPROVAL_REVIEWED: &str = "approval.reviewed";

/// One append-only audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number, increasing.
    pub id: i64,
    /// The tenant.
    pub tenant_id: String,
    /// What happened (`approval.reviewed`).
    pub action: String,
    /// What it happened to (the approval id).
    pub subject_id: String,
    /// Who did it.
    pub actor: String,
    /// Details (risk score, reviewer, source, decision).
    pub details: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An audit record to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// The tenant.
    pub tenant_id: String,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub subject_id: String,
    /// Who did it.
    pub actor: String,
    /// Details.
    pub details: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl NewAuditEntry {
    /// The `approval.reviewed` entry for a decided request.
    pub fn reviewed(approval: &ApprovalRequest, reviewer_id: &str) -> Self {
        Self {
            tenant_id: approval.tenant_id.clone(),
            action: APPROVAL_REVIEWED.to_owned(),
            subject_id: approval.id.clone(),
            actor: approval.reviewer.clone().unwrap_or_default(),
            details: serde_json::json!({
                "decision": approval.status.as_str(),
                "risk_score": approval.risk_score,
                "reviewer": approval.reviewer,
                "reviewer_id": reviewer_id,
                "source": approval.source.map(DecisionSource::as_str),
            }),
            created_at: approval.reviewed_at.unwrap_or(approval.created_at),
        }
    }
}

/// A new random id with a readable prefix (`apr_…`).
pub fn new_id(prefix: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(risk_score: Option<u8>, notes: Option<&str>) -> ApprovalRequest {
        ApprovalRequest {
            id: "apr_1".into(),
            tenant_id: "acme".into(),
            summary: "Isolate host web-01".into(),
            risk_score,
            requested_action: "isolate_host".into(),
            status: ApprovalStatus::Pending,
            reviewer: None,
            source: None,
            notes: notes.map(str::to_owned),
            created_at: "2026-11-23T10:00:00Z".parse().unwrap(),
            expires_at: "2026-11-23T10:30:00Z".parse().unwrap(),
            reviewed_at: None,
            run_id: None,
            case_id: None,
        }
    }

    #[test]
    fn a_request_asks_with_its_id_tenant_summary_risk_and_deadline() {
        let ask = request(Some(82), Some("C2 beaconing from web-01")).ask();
        assert_eq!(ask.prompt.approval_id, "apr_1");
        assert_eq!(ask.prompt.tenant_id, "acme");
        assert_eq!(ask.prompt.title, "Isolate host web-01");
        assert_eq!(ask.prompt.summary, "C2 beaconing from web-01");
        assert_eq!(ask.prompt.risk_score, Some(82));
        assert_eq!(ask.prompt.severity, Severity::High);
        assert_eq!(ask.expires_at, request(None, None).expires_at);
        assert_eq!(ask.recipient, None);
    }

    #[test]
    fn without_notes_the_prompt_says_which_action_waits() {
        let ask = request(None, None).ask();
        assert_eq!(ask.prompt.summary, "Requested action: isolate_host");
        assert_eq!(ask.prompt.severity, Severity::Medium);
        assert_eq!(
            request(Some(95), None).ask().prompt.severity,
            Severity::Critical
        );
        assert_eq!(request(Some(10), None).ask().prompt.severity, Severity::Low);
    }
}
