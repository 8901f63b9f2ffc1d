//! Card interactions: `Action.Submit` and Universal Action (`Action.Execute`) invokes.
//!
//! Three shapes arrive, all carrying `action` (`approve` | `deny`) and `approval_id`:
//!
//! - a bot `message` activity whose `value` is the submitted data (`Action.Submit`);
//! - an `invoke` activity named `adaptiveCard/action` whose `value.action` holds the verb and
//!   data (`Action.Execute`);
//! - the bare submitted JSON, for hosts that unwrap activities themselves.
//!
//! The decision goes to the host's [`DecisionHandler`]; the answer is the updated card (green
//! approved, red denied, amber warning), in the envelope the request shape expects.

use std::sync::Arc;

use aisoc_notify_core::decision::{
    Decision, DecisionHandler, DecisionRequest, DecisionSource, Reviewer,
};
use serde_json::{Value, json};

use crate::card::DEFAULT_VERSION;
use crate::render::decision_card;

/// Why an interaction could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InteractionError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// `action` is missing or not `approve` / `deny`.
    #[error("action must be 'approve' or 'deny'")]
    UnknownAction,
    /// `approval_id` is missing or empty.
    #[error("approval_id is required")]
    MissingApprovalId,
}

/// Where the interaction came from, which decides the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionKind {
    /// `Action.Submit` (a message activity, or bare JSON).
    Submit,
    /// `Action.Execute` (an `adaptiveCard/action` invoke).
    Invoke,
}

/// A parsed decision from a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsInteraction {
    /// Approve or deny.
    pub decision: Decision,
    /// The approval request.
    pub approval_id: String,
    /// Who pressed the button.
    pub reviewer: Reviewer,
    /// The request shape.
    pub kind: InteractionKind,
}

/// Parses an interaction body.
pub fn parse_interaction(body: &[u8]) -> Result<TeamsInteraction, InteractionError> {
    let activity: Value =
        serde_json::from_slice(body).map_err(|e| InteractionError::NotJson(e.to_string()))?;
    let (data, verb, kind) =
        if activity["type"] == "invoke" && activity["name"] == "adaptiveCard/action" {
            let action = &activity["value"]["action"];
            (
                &action["data"],
                action["verb"].as_str(),
                InteractionKind::Invoke,
            )
        } else if activity["type"] == "message" && activity["value"].is_object() {
            (&activity["value"], None, InteractionKind::Submit)
        } else {
            (&activity, None, InteractionKind::Submit)
        };
    let action = data["action"].as_str().or(verb).unwrap_or_default();
    let decision = match action.to_ascii_lowercase().as_str() {
        "approve" => Decision::Approve,
        "deny" => Decision::Deny,
        _ => return Err(InteractionError::UnknownAction),
    };
    let approval_id = data["approval_id"]
        .as_str()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or(InteractionError::MissingApprovalId)?
        .to_owned();
    let from = &activity["from"];
    let id = from["aadObjectId"]
        .as_str()
        .or_else(|| from["id"].as_str())
        .unwrap_or("unknown");
    let name = from["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or("Teams user");
    Ok(TeamsInteraction {
        decision,
        approval_id,
        reviewer: Reviewer {
            id: id.to_owned(),
            name: name.to_owned(),
        },
        kind,
    })
}

/// Runs the decision and returns the answer body: an invoke response carrying the updated card
/// for `Action.Execute`, a message with the card attached for `Action.Submit`.
pub async fn handle_interaction(
    interaction: TeamsInteraction,
    decisions: &Arc<dyn DecisionHandler>,
) -> Value {
    let kind = interaction.kind;
    let result = decisions
        .decide(DecisionRequest {
            approval_id: interaction.approval_id,
            decision: interaction.decision,
            reviewer: interaction.reviewer,
            source: DecisionSource::Teams,
        })
        .await;
    let card = decision_card(&result, DEFAULT_VERSION);
    match kind {
        InteractionKind::Invoke => json!({
            "statusCode": 200,
            "type": "application/vnd.microsoft.card.adaptive",
            "value": card,
        }),
        InteractionKind::Submit => card.to_message(),
    }
}
