//! Rendered messages stay within every Block Kit limit, whatever the input, and user text
//! can neither mention anyone nor break formatting.

use aisoc_notify_core::notification::{ActionStyle, ActionTarget, InteractiveAction};
use aisoc_notify_core::{EventType, Notification, Severity};
use aisoc_notify_slack::render::{ApprovalPrompt, approval_message, notification_message};
use serde_json::Value;

fn chars(value: &Value) -> usize {
    value.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

/// Checks a rendered message against Slack's published limits; returns the block count.
fn assert_within_limits(message: &Value) -> usize {
    assert!(chars(&message["text"]) <= 3000);
    let mut all_blocks: Vec<&Value> = message["blocks"]
        .as_array()
        .map(|b| b.iter().collect())
        .unwrap_or_default();
    for attachment in message["attachments"].as_array().into_iter().flatten() {
        all_blocks.extend(attachment["blocks"].as_array().into_iter().flatten());
    }
    assert!(all_blocks.len() <= 50, "{} blocks", all_blocks.len());
    for block in &all_blocks {
        match block["type"].as_str().unwrap() {
            "header" => {
                assert_eq!(block["text"]["type"], "plain_text");
                assert!(chars(&block["text"]["text"]) <= 150);
            }
            "section" => {
                assert!(chars(&block["text"]["text"]) <= 3000);
                let fields = block["fields"].as_array().cloned().unwrap_or_default();
                assert!(fields.len() <= 10);
                assert!(fields.iter().all(|f| chars(&f["text"]) <= 2000));
                assert!(
                    block.get("text").is_some() || !fields.is_empty(),
                    "empty section"
                );
            }
            "context" => {
                let elements = block["elements"].as_array().unwrap();
                assert!(!elements.is_empty() && elements.len() <= 10);
            }
            "actions" => {
                let elements = block["elements"].as_array().unwrap();
                assert!(!elements.is_empty() && elements.len() <= 25);
                for button in elements {
                    assert!(chars(&button["text"]["text"]) <= 75);
                    assert!(chars(&button["action_id"]) <= 255);
                    assert!(chars(&button["value"]) <= 2000);
                    assert!(chars(&button["url"]) <= 3000);
                }
            }
            "divider" => {}
            other => panic!("unexpected block type {other}"),
        }
    }
    all_blocks.len()
}

#[test]
fn a_10000_character_title_and_60_facts_fit_every_limit() {
    let mut n = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "T".repeat(10_000),
    )
    .with_body("B".repeat(10_000));
    for i in 0..60 {
        n = n.with_fact(
            format!("Label {i} {}", "l".repeat(3000)),
            format!("Value {i} {}", "v".repeat(3000)),
        );
    }
    for i in 0..30 {
        n = n.with_link(
            format!("Link {i} {}", "x".repeat(100)),
            format!("https://console.example.com/{i}").parse().unwrap(),
        );
    }
    let message = serde_json::to_value(notification_message(&n).unwrap()).unwrap();
    assert_within_limits(&message);

    // All 60 facts are shown (six sections of ten), nothing is silently dropped.
    let blocks = message["attachments"][0]["blocks"].as_array().unwrap();
    let fields: usize = blocks
        .iter()
        .filter_map(|b| b["fields"].as_array())
        .map(Vec::len)
        .sum();
    assert_eq!(fields, 60);
    let header = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(header.ends_with('…'));
}

#[test]
fn facts_beyond_the_block_budget_are_summarised_not_dropped_silently() {
    let mut n = Notification::new("acme", EventType::DriftAlert, Severity::Low, "Drift");
    for i in 0..1000 {
        n = n.with_fact(format!("k{i}"), "v");
    }
    let message = serde_json::to_value(notification_message(&n).unwrap()).unwrap();
    assert_eq!(assert_within_limits(&message), 50);
    let text = message.to_string();
    assert!(
        text.contains("more facts not shown"),
        "the overflow is stated"
    );
}

#[test]
fn user_text_cannot_mention_link_or_break_formatting() {
    let hostile = "<!channel> <!here> <@U123> <https://evil.example|click> & done";
    let n = Notification::new("acme", EventType::P0Alert, Severity::High, hostile)
        .with_body(hostile)
        .with_fact(hostile, hostile);
    let message = serde_json::to_value(notification_message(&n).unwrap()).unwrap();
    assert_within_limits(&message);

    let mut mrkdwn_texts = Vec::new();
    collect_mrkdwn(&message, &mut mrkdwn_texts);
    mrkdwn_texts.push(message["text"].as_str().unwrap().to_owned());
    assert!(mrkdwn_texts.len() >= 3);
    for text in &mrkdwn_texts {
        assert!(
            !text.contains('<') && !text.contains('>'),
            "unescaped control characters in {text:?}"
        );
        assert!(
            !text
                .replace("&amp;", "")
                .replace("&lt;", "")
                .replace("&gt;", "")
                .contains('&'),
            "{text:?}"
        );
    }
    assert!(message.to_string().contains("&lt;!channel&gt;"));
}

fn collect_mrkdwn(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("mrkdwn") {
                out.push(map["text"].as_str().unwrap().to_owned());
            }
            map.values().for_each(|v| collect_mrkdwn(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_mrkdwn(v, out)),
        _ => {}
    }
}

#[test]
fn notification_actions_become_buttons() {
    let n = Notification::new(
        "acme",
        EventType::AgentApproval,
        Severity::Medium,
        "Agent wants to act",
    )
    .with_action(InteractiveAction {
        action_id: "approve_action".into(),
        label: "Approve".into(),
        style: ActionStyle::Primary,
        target: ActionTarget::Value("apr-9".into()),
    });
    let message = serde_json::to_value(notification_message(&n).unwrap()).unwrap();
    let blocks = message["attachments"][0]["blocks"].as_array().unwrap();
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(actions["elements"][0]["action_id"], "approve_action");
    assert_eq!(actions["elements"][0]["value"], "apr-9");
    assert_eq!(actions["elements"][0]["style"], "primary");
}

#[test]
fn an_approval_request_has_approve_deny_and_console_buttons() {
    let prompt = ApprovalPrompt {
        approval_id: "apr-42".into(),
        tenant_id: "acme".into(),
        title: "Isolate host web-01".into(),
        summary: "The agent wants to isolate <web-01> after beaconing".into(),
        risk_score: Some(82),
        severity: Severity::High,
        requested_by: Some("triage-agent".into()),
        facts: vec![],
        console_url: Some(
            "https://console.example.com/approvals/apr-42"
                .parse()
                .unwrap(),
        ),
    };
    let message = serde_json::to_value(approval_message(&prompt).unwrap()).unwrap();
    assert_within_limits(&message);
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["color"], Severity::High.color_hex());
    let actions = attachment["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    let buttons = actions["elements"].as_array().unwrap();
    assert_eq!(buttons[0]["action_id"], "approve_action");
    assert_eq!(buttons[0]["value"], "apr-42");
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[1]["action_id"], "deny_action");
    assert_eq!(buttons[1]["value"], "apr-42");
    assert_eq!(buttons[1]["style"], "danger");
    assert_eq!(buttons[2]["action_id"], "view_console");
    assert_eq!(
        buttons[2]["url"],
        "https://console.example.com/approvals/apr-42"
    );
    assert!(message.to_string().contains("82/100"));
    assert!(message.to_string().contains("&lt;web-01&gt;"));
}
