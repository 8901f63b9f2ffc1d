//! `POST /messages`: the bot's messaging endpoint.
//!
//! | activity | answer |
//! |---|---|
//! | `invoke` `adaptiveCard/action`, `Action.Execute` verb `approve` / `deny` | 200, the invoke response carrying the updated card |
//! | the same with verb `refresh` | 200, the card as it is now (from the host's [`ApprovalCardSource`]); without one, or for an approval it does not know, a message response that leaves the card as it is |
//! | another `invoke` | 501 (what the Bot Framework SDKs answer for an invoke no handler takes) |
//! | any other type (`message`, `conversationUpdate`…) | 200, empty; its conversation id and service URL are logged at info level |
//! | a body that is not a JSON activity, or a card action without a decision | 400 |
//! | a missing or invalid token | 401 (503 when the signing keys cannot be fetched) |
//!
//! A Universal Actions `refresh` asks for the card as it is now. [`DecisionHandler`] can only
//! decide, not read an approval's state, so the host that wants refreshes answered gives the
//! routes an [`ApprovalCardSource`] ([`BotRoutes::with_cards`]): a pending approval shows its
//! buttons again, a decided one the outcome.
//!
//! Logging the conversation of ordinary activities is how an operator finds the
//! `conversation_id` and `service_url` of a bot-mode channel: add the bot to the team or chat
//! (Teams sends a `conversationUpdate`) or @mention it, and copy both from the log line.

use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::DecisionHandler;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};

use super::conversation::REFRESH_VERB;
use super::{BotAuthError, BotFrameworkAuth};
use crate::interactions::{InteractionKind, handle_interaction, parse_interaction};
use crate::routes::{MAX_BODY_BYTES, json_error};

/// The invoke name of Universal Actions.
const CARD_ACTION_INVOKE: &str = "adaptiveCard/action";
/// Longest approval id a refresh is looked up for.
const MAX_APPROVAL_ID_CHARS: usize = 200;

/// Where a `refresh` finds an approval card as it is now: the host reads its approval store.
#[async_trait]
pub trait ApprovalCardSource: Send + Sync {
    /// The card approval `approval_id` shows now (an Adaptive Card as JSON): the buttons while
    /// it is pending, the outcome once decided or expired; `None` when there is no such
    /// approval or it cannot be read now (the card is then left as it is).
    async fn current_card(&self, approval_id: &str) -> Option<Value>;
}

/// What the messaging endpoint needs: how to authenticate the Bot Connector, the shared
/// decision path, and optionally where refreshed cards come from.
#[derive(Clone)]
pub struct BotRoutes {
    auth: BotFrameworkAuth,
    decisions: Arc<dyn DecisionHandler>,
    cards: Option<Arc<dyn ApprovalCardSource>>,
}

impl BotRoutes {
    /// The endpoint for the bot `auth` verifies tokens for, deciding through `decisions`.
    pub fn new(auth: BotFrameworkAuth, decisions: Arc<dyn DecisionHandler>) -> Self {
        Self {
            auth,
            decisions,
            cards: None,
        }
    }

    /// Answers `refresh` with the card `cards` says the approval shows now.
    pub fn with_cards(mut self, cards: Arc<dyn ApprovalCardSource>) -> Self {
        self.cards = Some(cards);
        self
    }
}

/// `POST /messages`, for the host to nest (for example under `/v1/teams`, making the bot's
/// messaging endpoint `https://<host>/v1/teams/messages`).
pub fn router(routes: BotRoutes) -> Router {
    Router::new()
        .route("/messages", post(messages))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(routes))
}

impl axum::response::IntoResponse for BotAuthError {
    fn into_response(self) -> Response {
        json_error(self.status(), &self.to_string())
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/messages", tag = "teams",
    summary = "Teams bot messaging endpoint: Bot Connector activities, card buttons (Action.Execute) among them",
    security(("bot_framework_jwt" = [])),
    request_body(description = "A Bot Framework activity; `invoke` `adaptiveCard/action` with verb `approve`, `deny` or `refresh` and data `{approval_id}` is acted on", content = serde_json::Value),
    responses(
        (status = 200, description = "An invoke's answer `{statusCode, type, value}` with the updated Adaptive Card; other activities an empty body", body = serde_json::Value),
        (status = 400, description = "Not an activity, or a card action without a known verb or approval id", body = crate::routes::openapi::TeamsError),
        (status = 401, description = "The Bot Connector JWT is missing or not valid for this bot", body = crate::routes::openapi::TeamsError),
        (status = 413, description = "Body over the limit"),
        (status = 501, description = "An invoke other than adaptiveCard/action", body = crate::routes::openapi::TeamsError),
        (status = 503, description = "The Bot Connector's signing keys cannot be fetched", body = crate::routes::openapi::TeamsError),
    ),
))]
async fn messages(
    State(routes): State<Arc<BotRoutes>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = match routes.auth.verify(authorization).await {
        Ok(token) => token,
        Err(error) => {
            tracing::info!(%error, "Bot Framework request refused");
            return error.into_response();
        }
    };
    let activity: Value = match serde_json::from_slice(&body) {
        Ok(activity @ Value::Object(_)) => activity,
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the body must be a Bot Framework activity (a JSON object)",
            );
        }
    };
    if let Err(error) = token.check_activity(
        activity["channelId"].as_str(),
        activity["serviceUrl"].as_str(),
    ) {
        tracing::info!(%error, "Bot Framework activity refused");
        return error.into_response();
    }
    match (activity["type"].as_str(), activity["name"].as_str()) {
        (Some("invoke"), Some(CARD_ACTION_INVOKE)) => card_action(&routes, &activity, &body).await,
        (Some("invoke"), _) => json_error(
            StatusCode::NOT_IMPLEMENTED,
            "only adaptiveCard/action invokes are handled",
        ),
        // Messages, conversation updates and the rest are acknowledged and otherwise ignored;
        // where they came from is what an operator needs to configure a bot-mode channel.
        (kind, _) => {
            tracing::info!(
                activity = kind.unwrap_or("unknown"),
                conversation_id = activity["conversation"]["id"].as_str().unwrap_or(""),
                conversation_type = activity["conversation"]["conversationType"]
                    .as_str()
                    .unwrap_or(""),
                service_url = activity["serviceUrl"].as_str().unwrap_or(""),
                "Teams bot activity (a bot-mode channel posts to this service_url and conversation_id)"
            );
            StatusCode::OK.into_response()
        }
    }
}

async fn card_action(routes: &BotRoutes, activity: &Value, body: &[u8]) -> Response {
    let action = &activity["value"]["action"];
    if action["type"] != "Action.Execute" {
        return json_error(
            StatusCode::BAD_REQUEST,
            "value.action.type must be 'Action.Execute'",
        );
    }
    if action["verb"] == REFRESH_VERB {
        return (
            StatusCode::OK,
            axum::Json(refresh(routes, &action["data"]).await),
        )
            .into_response();
    }
    let interaction = match parse_interaction(body) {
        Ok(interaction) if interaction.kind == InteractionKind::Invoke => interaction,
        Ok(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the activity is not an adaptiveCard/action invoke",
            );
        }
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let answer = handle_interaction(interaction, &routes.decisions).await;
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// The answer to a `refresh`: the card as it is now, when the host can say.
async fn refresh(routes: &BotRoutes, data: &Value) -> Value {
    let approval_id = data["approval_id"]
        .as_str()
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.chars().count() <= MAX_APPROVAL_ID_CHARS);
    let card = match (&routes.cards, approval_id) {
        (Some(cards), Some(id)) => cards.current_card(id).await,
        _ => None,
    };
    match card {
        Some(card) => json!({
            "statusCode": 200,
            "type": "application/vnd.microsoft.card.adaptive",
            "value": card,
        }),
        None => refresh_unchanged(),
    }
}

/// A message response, which leaves the card as it is.
fn refresh_unchanged() -> Value {
    json!({
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "This card shows the approval as it was last decided here.",
    })
}

/// The OpenAPI description of [`router`] (feature `openapi`).
#[cfg(feature = "openapi")]
pub(crate) mod openapi {
    use super::__path_messages;

    /// The routes of [`router`](super::router).
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(messages))]
    pub struct BotApi;
}
