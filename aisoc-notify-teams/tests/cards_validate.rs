//! Every card this crate renders validates against the official Adaptive Card 1.5 schema, and
//! every MessageCard carries the fields connectors require.

mod common;

use aisoc_notify_core::decision::{Decision, DecisionError, DecisionRecorded};
use aisoc_notify_core::token::{CallbackTokenSigner, HmacCallbackTokenSigner};
use aisoc_notify_core::{EventType, Notification, Severity};
use aisoc_notify_teams::card::AdaptiveCard;
use aisoc_notify_teams::render::{
    ButtonMode, approval_card, decision_card, message_card, notification_card, verification_card,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const SCHEMA: &str = include_str!("fixtures/adaptive-card-schema/adaptive-card-1.5.json");
const SCHEMA_SHA256: &str = "6f4f958f6c0937c04926e4c4928fdeee4a9955a879e3ed248ae4df7bea9abc35";

fn validator() -> jsonschema::Validator {
    assert_eq!(
        hex(&Sha256::digest(SCHEMA.as_bytes())),
        SCHEMA_SHA256,
        "the shipped schema was altered"
    );
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    jsonschema::draft6::new(&schema).expect("the official schema compiles")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_valid(validator: &jsonschema::Validator, card: &AdaptiveCard, what: &str) {
    let json = serde_json::to_value(card).unwrap();
    assert_eq!(json["version"], "1.5", "{what}");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate: {errors:#?}\n{json:#}"
    );
}

#[test]
fn the_validator_rejects_an_invalid_card() {
    // Guards the guard: a card with an unknown element type must fail.
    let validator = validator();
    let bad = serde_json::json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Blink", "text": "x"}]});
    assert!(!validator.is_valid(&bad));
    let bad_action = serde_json::json!({"type": "AdaptiveCard", "version": "1.5", "actions": [{"type": "Action.OpenUrl", "title": "x"}]});
    assert!(
        !validator.is_valid(&bad_action),
        "Action.OpenUrl requires url"
    );
}

#[test]
fn notification_cards_validate_for_every_severity_and_size() {
    let validator = validator();
    for severity in Severity::ALL {
        let n = common::alert();
        let n = Notification { severity, ..n };
        assert_valid(
            &validator,
            &notification_card(&n, "1.5"),
            &format!("notification {severity}"),
        );
    }
    let mut huge = Notification::new(
        "acme",
        EventType::DriftAlert,
        Severity::Low,
        "T".repeat(10_000),
    )
    .with_body("B".repeat(10_000));
    for i in 0..60 {
        huge = huge.with_fact(format!("label {i}"), "v".repeat(1000));
    }
    for i in 0..10 {
        huge = huge.with_link(
            format!("link {i}"),
            format!("https://example.com/{i}").parse().unwrap(),
        );
    }
    let card = notification_card(&huge, "1.5");
    assert_valid(&validator, &card, "huge notification");
    assert!(card.actions.len() <= 6);
    assert!(
        serde_json::to_vec(&card.to_message()).unwrap().len() < 28 * 1024,
        "fits the webhook limit"
    );
}

#[test]
fn approval_and_verification_cards_validate_in_every_button_mode() {
    let validator = validator();
    let signer =
        HmacCallbackTokenSigner::new("k1", b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    let base: url::Url = "https://aisoc.example.com/v1/chatops/verify/"
        .parse()
        .unwrap();
    let links = ButtonMode::SignedLinks {
        signer: &signer,
        callback_base: &base,
        user_ref: "alice@example.com",
    };
    for (name, mode) in [
        ("links", links),
        ("submit", ButtonMode::Submit),
        ("execute", ButtonMode::Execute),
    ] {
        let card = approval_card(&common::approval(), mode, "1.5").unwrap();
        assert_valid(&validator, &card, &format!("approval/{name}"));
        let card = verification_card(&common::verification(), mode, "1.5").unwrap();
        assert_valid(&validator, &card, &format!("verification/{name}"));
    }
}

#[test]
fn webhook_cards_open_signed_callback_urls_and_bot_cards_submit_data() {
    let signer =
        HmacCallbackTokenSigner::new("k1", b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    let base: url::Url = "https://aisoc.example.com/v1/chatops/verify/"
        .parse()
        .unwrap();
    let links = ButtonMode::SignedLinks {
        signer: &signer,
        callback_base: &base,
        user_ref: "alice@example.com",
    };

    let card =
        serde_json::to_value(verification_card(&common::verification(), links, "1.5").unwrap())
            .unwrap();
    let actions = card["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 3);
    for (action, choice) in actions.iter().zip(["acknowledge", "deny", "escalate"]) {
        assert_eq!(action["type"], "Action.OpenUrl");
        let url = action["url"].as_str().unwrap();
        let token = url
            .strip_prefix("https://aisoc.example.com/v1/chatops/verify/")
            .unwrap();
        let claims = signer.verify(token).unwrap();
        assert_eq!(claims.choice, choice);
        assert_eq!(claims.case_id, "case-7");
        assert_eq!(claims.user_ref, "alice@example.com");
        assert_eq!(claims.action, "chatops.verify");
        assert_eq!(claims.prompt_id.as_deref(), Some("prompt-7"));
    }

    let card = serde_json::to_value(
        approval_card(&common::approval(), ButtonMode::Submit, "1.5").unwrap(),
    )
    .unwrap();
    assert_eq!(card["actions"][0]["type"], "Action.Submit");
    assert_eq!(
        card["actions"][0]["data"],
        serde_json::json!({"action": "approve", "approval_id": "apr-42"})
    );
    assert_eq!(
        card["actions"][1]["data"],
        serde_json::json!({"action": "deny", "approval_id": "apr-42"})
    );
    assert_eq!(card["actions"][2]["type"], "Action.OpenUrl");

    let card = serde_json::to_value(
        approval_card(&common::approval(), ButtonMode::Execute, "1.5").unwrap(),
    )
    .unwrap();
    assert_eq!(card["actions"][0]["type"], "Action.Execute");
    assert_eq!(card["actions"][0]["verb"], "approve");
}

#[test]
fn decision_cards_validate_and_are_coloured_by_outcome() {
    let validator = validator();
    let approved = Ok(DecisionRecorded {
        approval_id: "apr-1".into(),
        decision: Decision::Approve,
        reviewer_name: "Alice".into(),
    });
    let denied = Ok(DecisionRecorded {
        approval_id: "apr-1".into(),
        decision: Decision::Deny,
        reviewer_name: "Bob".into(),
    });
    let already = Err(DecisionError::AlreadyReviewed(Decision::Approve));
    for (result, style, text) in [
        (approved, "good", "Approved by Alice"),
        (denied, "attention", "Denied by Bob"),
        (already, "warning", "Already approved"),
    ] {
        let card = decision_card(&result, "1.5");
        assert_valid(&validator, &card, text);
        let json = serde_json::to_value(&card).unwrap();
        assert_eq!(json["body"][0]["style"], style);
        assert!(json.to_string().contains(text), "{json}");
    }
}

#[test]
fn user_text_is_escaped_as_markdown() {
    let n = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::High,
        "[click](https://evil.example) @channel",
    );
    let json = serde_json::to_value(notification_card(&n, "1.5")).unwrap();
    let heading = json["body"][0]["items"][0]["text"].as_str().unwrap();
    assert!(
        heading.contains("\\[click\\]\\(https://evil.example\\)"),
        "{heading}"
    );
    assert!(heading.contains("@\u{200b}channel"), "{heading}");
}

#[test]
fn message_cards_carry_the_required_connector_fields() {
    let card = message_card(&common::alert());
    assert_eq!(card["@type"], "MessageCard");
    assert_eq!(card["@context"], "https://schema.org/extensions");
    assert!(
        !card["summary"].as_str().unwrap().is_empty(),
        "summary (or text) is required"
    );
    assert_eq!(
        card["themeColor"],
        Severity::Critical.color_hex().trim_start_matches('#')
    );
    let section = &card["sections"][0];
    assert_eq!(
        section["facts"][0],
        serde_json::json!({"name": "Host", "value": "web-01"})
    );
    let action = &card["potentialAction"][0];
    assert_eq!(action["@type"], "OpenUri");
    assert_eq!(
        action["targets"][0],
        serde_json::json!({"os": "default", "uri": "https://console.example.com/cases/42"})
    );
    assert!(
        card["themeColor"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_hexdigit())
    );
}
