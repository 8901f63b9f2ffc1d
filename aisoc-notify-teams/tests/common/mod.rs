//! Shared fixtures for the Teams tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use aisoc_notify_core::decision::{ApprovalPrompt, VerificationPrompt};
use aisoc_notify_core::{EventType, Notification, Severity};

pub fn alert() -> Notification {
    Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
    .with_body("Encryption activity on **3** hosts")
    .with_fact("Host", "web-01")
    .with_link(
        "Open case",
        "https://console.example.com/cases/42".parse().unwrap(),
    )
}

pub fn approval() -> ApprovalPrompt {
    ApprovalPrompt {
        approval_id: "apr-42".into(),
        tenant_id: "acme".into(),
        title: "Isolate host web-01".into(),
        summary: "The triage agent wants to isolate web-01 after C2 beaconing.".into(),
        risk_score: Some(82),
        severity: Severity::High,
        requested_by: Some("triage-agent".into()),
        facts: vec![],
        console_url: Some(
            "https://console.example.com/approvals/apr-42"
                .parse()
                .unwrap(),
        ),
    }
}

pub fn verification() -> VerificationPrompt {
    VerificationPrompt {
        prompt_id: "prompt-7".into(),
        case_id: "case-7".into(),
        tenant_id: "acme".into(),
        user_ref: "alice@example.com".into(),
        title: "Sign-in from a new country".into(),
        message: "Someone signed in as you from Lisbon, Portugal at 03:12 UTC.".into(),
        severity: Severity::Medium,
        facts: vec![aisoc_notify_core::notification::Fact {
            label: "IP".into(),
            value: "203.0.113.7".into(),
        }],
    }
}
