//! Interactive components: what Slack sends when someone presses a button.
//!
//! Slack POSTs `application/x-www-form-urlencoded` with one field, `payload`, holding JSON. For
//! `block_actions` the payload names the user, the pressed action (`action_id`, `value`) and a
//! `response_url` to which the reply is POSTed. Approve and deny buttons go through the host's
//! [`DecisionHandler`]; the reply replaces the card with the result.

use std::sync::Arc;

use aisoc_notify_core::decision::{
    Decision, DecisionHandler, DecisionRequest, DecisionSource, Reviewer,
};
use serde::Deserialize;

use crate::blocks::SlackMessage;
use crate::render::{decision_text, replacement_message, warning_text};

/// Why an interaction payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InteractionError {
    /// The form has no `payload` field.
    #[error("the form has no payload field")]
    MissingPayload,
    /// The payload is not the JSON Slack documents.
    #[error("the payload is not a valid interaction: {0}")]
    InvalidPayload(String),
}

/// The user who interacted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SlackUser {
    /// The user id (`U…`).
    pub id: String,
    /// The handle.
    #[serde(default)]
    pub username: Option<String>,
    /// The display name, in older payloads.
    #[serde(default)]
    pub name: Option<String>,
    /// The workspace.
    #[serde(default)]
    pub team_id: Option<String>,
}

impl SlackUser {
    /// The best name to show: username, then name, then id.
    pub fn display_name(&self) -> &str {
        self.username
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.id)
    }
}

/// One pressed element.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockAction {
    /// The element's action id.
    pub action_id: String,
    /// The element's block id.
    #[serde(default)]
    pub block_id: Option<String>,
    /// The button value.
    #[serde(default)]
    pub value: Option<String>,
    /// The element type (`button`, …).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A channel reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChannelRef {
    /// The channel id.
    pub id: String,
    /// The channel name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A `block_actions` interaction.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockActions {
    /// Who pressed.
    pub user: SlackUser,
    /// What was pressed (one element for buttons).
    #[serde(default)]
    pub actions: Vec<BlockAction>,
    /// Where to POST the reply.
    #[serde(default)]
    pub response_url: Option<String>,
    /// For opening modals.
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// The channel of the message.
    #[serde(default)]
    pub channel: Option<ChannelRef>,
    /// The message or view the element was in.
    #[serde(default)]
    pub container: Option<serde_json::Value>,
    /// The message the element was in.
    #[serde(default)]
    pub message: Option<serde_json::Value>,
}

/// An interaction payload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InteractionPayload {
    /// Buttons and other block elements.
    BlockActions(Box<BlockActions>),
    /// Anything else (shortcuts, view submissions); acknowledged and ignored.
    #[serde(other)]
    Unsupported,
}

/// Parses the form-encoded request body.
pub fn parse_interaction(form_body: &[u8]) -> Result<InteractionPayload, InteractionError> {
    let payload = url::form_urlencoded::parse(form_body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value)
        .ok_or(InteractionError::MissingPayload)?;
    serde_json::from_str(&payload).map_err(|e| InteractionError::InvalidPayload(e.to_string()))
}

/// What a button is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonIntent {
    /// Approve or deny an approval request.
    Decide(Decision),
    /// A link button; Slack opens the URL, nothing to do here.
    ViewConsole,
    /// Not ours.
    Unknown,
}

/// Maps an action id to its intent (`approve_action`/`platform_approve`,
/// `deny_action`/`platform_deny`, `view_console`/`platform_view_console`).
pub fn intent(action_id: &str) -> ButtonIntent {
    match action_id {
        "approve_action" | "platform_approve" => ButtonIntent::Decide(Decision::Approve),
        "deny_action" | "platform_deny" => ButtonIntent::Decide(Decision::Deny),
        "view_console" | "platform_view_console" => ButtonIntent::ViewConsole,
        _ => ButtonIntent::Unknown,
    }
}

/// Runs the decision for a `block_actions` payload and returns the replacement message, or
/// `None` when the press needs no reply (a link button, an unknown action).
pub async fn handle_block_actions(
    payload: &BlockActions,
    decisions: &Arc<dyn DecisionHandler>,
) -> Option<SlackMessage> {
    let action = payload.actions.first()?;
    let decision = match intent(&action.action_id) {
        ButtonIntent::Decide(decision) => decision,
        ButtonIntent::ViewConsole => return None,
        ButtonIntent::Unknown => {
            tracing::debug!(action_id = %action.action_id, "ignoring an action that is not ours");
            return None;
        }
    };
    let Some(approval_id) = action.value.as_deref().filter(|v| !v.trim().is_empty()) else {
        return Some(replacement_message(&warning_text(
            "The button carries no approval id",
        )));
    };
    let request = DecisionRequest {
        approval_id: approval_id.to_owned(),
        decision,
        reviewer: Reviewer {
            id: payload.user.id.clone(),
            name: payload.user.display_name().to_owned(),
        },
        source: DecisionSource::Slack,
    };
    let result = decisions.decide(request).await;
    Some(replacement_message(&decision_text(&result)))
}
