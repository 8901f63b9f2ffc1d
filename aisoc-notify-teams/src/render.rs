//! Notifications, approval requests, verification prompts and decision results as Teams cards.
//!
//! Severity shows as the coloured band at the top of the card (a `Container` style: attention
//! for critical and high, warning for medium, accent for low) and the same emoji every channel
//! uses. User text is escaped as Markdown and cut to sizes that keep a card well under the
//! webhook payload limit.
//!
//! Decision buttons come in three forms ([`ButtonMode`]): webhook-posted cards cannot send
//! anything back to us, so their buttons open signed callback URLs; cards a bot posts use
//! `Action.Submit` with `{action, approval_id}`; Universal Actions use `Action.Execute` with the
//! same data and the action as the verb.

use aisoc_notify_core::decision::{
    ApprovalPrompt, Decision, DecisionError, DecisionRecorded, VERIFY_CHOICES, VerificationPrompt,
};
use aisoc_notify_core::markup::{escape_markdown, truncate_chars};
use aisoc_notify_core::notification::{
    ActionTarget, Fact as NotificationFact, Notification, Severity,
};
use aisoc_notify_core::token::{
    CallbackGrant, CallbackTokenSigner, TokenError, signed_callback_url,
};
use serde_json::{Value, json};

use crate::card::{Action, ActionStyle, AdaptiveCard, Color, ContainerStyle, Element, Fact};

/// Most facts shown on one card; the rest are counted.
pub const MAX_FACTS: usize = 30;
/// Most buttons on one card (Teams shows at most six).
pub const MAX_ACTIONS: usize = 6;
const TITLE_CHARS: usize = 200;
const BODY_CHARS: usize = 2000;
const FACT_LABEL_CHARS: usize = 80;
const FACT_VALUE_CHARS: usize = 400;
const BUTTON_TITLE_CHARS: usize = 40;

/// The band style and text colour for a severity.
pub fn severity_style(severity: Severity) -> (ContainerStyle, Color) {
    match severity {
        Severity::Critical | Severity::High => (ContainerStyle::Attention, Color::Attention),
        Severity::Medium => (ContainerStyle::Warning, Color::Warning),
        Severity::Low => (ContainerStyle::Accent, Color::Accent),
        Severity::Info => (ContainerStyle::Emphasis, Color::Default),
    }
}

fn text(raw: &str, max: usize) -> String {
    escape_markdown(&truncate_chars(raw, max))
}

fn band(severity: Severity, title: &str, subtitle: String) -> Element {
    let (style, color) = severity_style(severity);
    Element::Container {
        items: vec![
            Element::heading(
                format!("{} {}", severity.emoji(), text(title, TITLE_CHARS)),
                color,
            ),
            Element::subtle(subtitle),
        ],
        style: Some(style),
        bleed: true,
    }
}

fn fact_set(facts: &[NotificationFact], body: &mut Vec<Element>) {
    if facts.is_empty() {
        return;
    }
    let shown: Vec<Fact> = facts
        .iter()
        .take(MAX_FACTS)
        .map(|f| Fact {
            title: text(&f.label, FACT_LABEL_CHARS),
            value: text(&f.value, FACT_VALUE_CHARS),
        })
        .collect();
    body.push(Element::FactSet { facts: shown });
    if facts.len() > MAX_FACTS {
        body.push(Element::subtle(format!(
            "…and {} more facts not shown",
            facts.len() - MAX_FACTS
        )));
    }
}

/// Renders a notification.
pub fn notification_card(notification: &Notification, version: &str) -> AdaptiveCard {
    let severity = notification.severity;
    let mut card = AdaptiveCard::new(version);
    card.fallback_text = Some(format!(
        "[{}] {}",
        severity.as_str().to_uppercase(),
        text(&notification.title, TITLE_CHARS)
    ));
    card.body.push(band(
        severity,
        &notification.title,
        format!(
            "{} · {} · tenant {}",
            severity.as_str().to_uppercase(),
            escape_markdown(notification.event_type.as_str()),
            text(&notification.tenant_id, 64)
        ),
    ));
    if !notification.body.trim().is_empty() {
        card.body
            .push(Element::text(text(&notification.body, BODY_CHARS)));
    }
    fact_set(&notification.facts, &mut card.body);

    let mut actions = Vec::new();
    for action in &notification.actions {
        let title = truncate_chars(&action.label, BUTTON_TITLE_CHARS).into_owned();
        let style = match action.style {
            aisoc_notify_core::notification::ActionStyle::Primary => ActionStyle::Positive,
            aisoc_notify_core::notification::ActionStyle::Danger => ActionStyle::Destructive,
            aisoc_notify_core::notification::ActionStyle::Default => ActionStyle::Default,
        };
        actions.push(match &action.target {
            ActionTarget::Url(url) => Action::OpenUrl {
                title,
                url: url.to_string(),
                style,
            },
            ActionTarget::Value(value) => Action::Submit {
                title,
                data: json!({"action": action.action_id, "value": value}),
                style,
            },
        });
    }
    for link in &notification.links {
        actions.push(Action::OpenUrl {
            title: truncate_chars(&link.label, BUTTON_TITLE_CHARS).into_owned(),
            url: link.url.to_string(),
            style: ActionStyle::Default,
        });
    }
    if actions.len() > MAX_ACTIONS {
        let overflow: Vec<String> = notification
            .links
            .iter()
            .skip(MAX_ACTIONS.saturating_sub(notification.actions.len()))
            .map(|l| format!("[{}]({})", text(&l.label, BUTTON_TITLE_CHARS), l.url))
            .collect();
        actions.truncate(MAX_ACTIONS);
        if !overflow.is_empty() {
            card.body.push(Element::text(overflow.join(" · ")));
        }
    }
    card.actions = actions;
    card
}

/// How decision buttons reach us.
#[derive(Clone, Copy)]
pub enum ButtonMode<'a> {
    /// Webhook-posted cards: each button opens `callback_base` + a signed token for that choice.
    SignedLinks {
        /// Mints the tokens.
        signer: &'a dyn CallbackTokenSigner,
        /// The public callback prefix (for example `https://aisoc.example.com/v1/chatops/verify/`).
        callback_base: &'a url::Url,
        /// The person the card is for, recorded in the token.
        user_ref: &'a str,
    },
    /// Bot-posted cards: `Action.Submit`.
    Submit,
    /// Universal Actions: `Action.Execute`.
    Execute,
}

impl std::fmt::Debug for ButtonMode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ButtonMode::SignedLinks { callback_base, .. } => f
                .debug_struct("SignedLinks")
                .field("callback_base", &callback_base.as_str())
                .finish_non_exhaustive(),
            ButtonMode::Submit => f.write_str("Submit"),
            ButtonMode::Execute => f.write_str("Execute"),
        }
    }
}

/// Why a card with decision buttons could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// A callback token could not be minted.
    #[error("could not mint a callback token: {0}")]
    Token(#[from] TokenError),
}

struct Choice<'a> {
    key: &'a str,
    title: &'a str,
    style: ActionStyle,
}

fn choice_actions(
    mode: ButtonMode<'_>,
    flow: &str,
    prompt_id: &str,
    subject_id: &str,
    subject_field: &str,
    tenant_id: &str,
    choices: &[Choice<'_>],
) -> Result<Vec<Action>, CardError> {
    choices
        .iter()
        .map(|choice| {
            let data = json!({ "action": choice.key, subject_field: subject_id });
            Ok(match mode {
                ButtonMode::SignedLinks {
                    signer,
                    callback_base,
                    user_ref,
                } => {
                    let grant = CallbackGrant {
                        action: flow.to_owned(),
                        case_id: subject_id.to_owned(),
                        tenant_id: tenant_id.to_owned(),
                        user_ref: user_ref.to_owned(),
                        choice: choice.key.to_owned(),
                        prompt_id: Some(prompt_id.to_owned()),
                    };
                    let url = signed_callback_url(signer, callback_base, &grant)?;
                    Action::OpenUrl {
                        title: choice.title.to_owned(),
                        url: url.to_string(),
                        style: choice.style,
                    }
                }
                ButtonMode::Submit => Action::Submit {
                    title: choice.title.to_owned(),
                    data,
                    style: choice.style,
                },
                ButtonMode::Execute => Action::Execute {
                    title: choice.title.to_owned(),
                    verb: choice.key.to_owned(),
                    data,
                    style: choice.style,
                },
            })
        })
        .collect()
}

/// Renders an approval request with Approve / Deny (and a console link).
pub fn approval_card(
    prompt: &ApprovalPrompt,
    mode: ButtonMode<'_>,
    version: &str,
) -> Result<AdaptiveCard, CardError> {
    let mut card = AdaptiveCard::new(version);
    card.fallback_text = Some(format!(
        "Approval needed: {}",
        text(&prompt.title, TITLE_CHARS)
    ));
    card.body.push(band(
        prompt.severity,
        &format!("Approval needed: {}", prompt.title),
        format!("Approval {}", text(&prompt.approval_id, 80)),
    ));
    card.body
        .push(Element::text(text(&prompt.summary, BODY_CHARS)));
    let mut facts = Vec::new();
    if let Some(risk) = prompt.risk_score {
        facts.push(NotificationFact {
            label: "Risk score".into(),
            value: format!("{risk}/100"),
        });
    }
    facts.push(NotificationFact {
        label: "Severity".into(),
        value: prompt.severity.as_str().into(),
    });
    if let Some(by) = &prompt.requested_by {
        facts.push(NotificationFact {
            label: "Requested by".into(),
            value: by.clone(),
        });
    }
    facts.extend(prompt.facts.iter().cloned());
    fact_set(&facts, &mut card.body);

    card.actions = choice_actions(
        mode,
        "approval",
        &prompt.approval_id,
        &prompt.approval_id,
        "approval_id",
        &prompt.tenant_id,
        &[
            Choice {
                key: "approve",
                title: "Approve",
                style: ActionStyle::Positive,
            },
            Choice {
                key: "deny",
                title: "Deny",
                style: ActionStyle::Destructive,
            },
        ],
    )?;
    if let Some(url) = &prompt.console_url {
        card.actions.push(Action::OpenUrl {
            title: "View in console".into(),
            url: url.to_string(),
            style: ActionStyle::Default,
        });
    }
    Ok(card)
}

/// Renders a "was this you?" prompt with Yes, it was me / No, it wasn't me / Escalate.
pub fn verification_card(
    prompt: &VerificationPrompt,
    mode: ButtonMode<'_>,
    version: &str,
) -> Result<AdaptiveCard, CardError> {
    let mut card = AdaptiveCard::new(version);
    card.fallback_text = Some(format!(
        "Was this you? {}",
        text(&prompt.title, TITLE_CHARS)
    ));
    card.body.push(band(
        prompt.severity,
        &format!("Was this you? {}", prompt.title),
        format!("Case {}", text(&prompt.case_id, 80)),
    ));
    card.body
        .push(Element::text(text(&prompt.message, BODY_CHARS)));
    fact_set(&prompt.facts, &mut card.body);
    let titles = ["Yes, it was me", "No, it wasn't me", "Escalate to security"];
    let styles = [
        ActionStyle::Positive,
        ActionStyle::Destructive,
        ActionStyle::Default,
    ];
    let choices: Vec<Choice<'_>> = VERIFY_CHOICES
        .iter()
        .zip(titles)
        .zip(styles)
        .map(|((key, title), style)| Choice { key, title, style })
        .collect();
    card.actions = choice_actions(
        mode,
        "chatops.verify",
        &prompt.prompt_id,
        &prompt.case_id,
        "case_id",
        &prompt.tenant_id,
        &choices,
    )?;
    Ok(card)
}

/// The card that replaces an approval card once decided: green "Approved by …", red "Denied
/// by …", or a warning with the reason.
pub fn decision_card(
    result: &Result<DecisionRecorded, DecisionError>,
    version: &str,
) -> AdaptiveCard {
    let (style, color, heading, detail) = match result {
        Ok(recorded) => {
            let reviewer = text(&recorded.reviewer_name, 120);
            match recorded.decision {
                Decision::Approve => (
                    ContainerStyle::Good,
                    Color::Good,
                    format!("✅ Approved by {reviewer}"),
                    &recorded.approval_id,
                ),
                Decision::Deny => (
                    ContainerStyle::Attention,
                    Color::Attention,
                    format!("❌ Denied by {reviewer}"),
                    &recorded.approval_id,
                ),
            }
        }
        Err(error) => {
            let card_text = format!("⚠️ {}", escape_markdown(&error.to_string()));
            let mut card = AdaptiveCard::new(version);
            card.fallback_text = Some(card_text.clone());
            card.body.push(Element::Container {
                items: vec![Element::heading(card_text, Color::Warning)],
                style: Some(ContainerStyle::Warning),
                bleed: true,
            });
            return card;
        }
    };
    let mut card = AdaptiveCard::new(version);
    card.fallback_text = Some(heading.clone());
    card.body.push(Element::Container {
        items: vec![
            Element::heading(heading, color),
            Element::subtle(format!("Approval {}", text(detail, 80))),
        ],
        style: Some(style),
        bleed: true,
    });
    card
}

/// A legacy Office 365 connector MessageCard for a notification.
pub fn message_card(notification: &Notification) -> Value {
    let severity = notification.severity;
    let facts: Vec<Value> = notification
        .facts
        .iter()
        .take(MAX_FACTS)
        .map(|f| json!({"name": text(&f.label, FACT_LABEL_CHARS), "value": text(&f.value, FACT_VALUE_CHARS)}))
        .collect();
    let mut section = json!({
        "activityTitle": format!("{} · {}", severity.as_str().to_uppercase(), escape_markdown(notification.event_type.as_str())),
        "activitySubtitle": format!("tenant {}", text(&notification.tenant_id, 64)),
        "facts": facts,
        "markdown": true,
    });
    if !notification.body.trim().is_empty() {
        section["text"] = Value::String(text(&notification.body, BODY_CHARS));
    }
    // Connector cards cannot call back; only URL buttons make sense here.
    let url_actions = notification.actions.iter().filter_map(|a| match &a.target {
        ActionTarget::Url(url) => Some((a.label.as_str(), url)),
        ActionTarget::Value(_) => None,
    });
    let links = notification
        .links
        .iter()
        .map(|l| (l.label.as_str(), &l.url));
    let actions: Vec<Value> = url_actions
        .chain(links)
        .take(4)
        .map(|(label, url)| {
            json!({
                "@type": "OpenUri",
                "name": truncate_chars(label, BUTTON_TITLE_CHARS),
                "targets": [{"os": "default", "uri": url.to_string()}]
            })
        })
        .collect();
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": truncate_chars(&notification.title, TITLE_CHARS),
        "themeColor": severity.color_hex().trim_start_matches('#'),
        "title": format!("{} {}", severity.emoji(), text(&notification.title, TITLE_CHARS)),
        "sections": [section],
    });
    if !actions.is_empty() {
        card["potentialAction"] = Value::Array(actions);
    }
    card
}
