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
//! Authentication is the [`BotVerified`] extractor: it verifies the Bot Connector's JWT before
//! the body is read, then binds the token to the activity (endorsed `channelId`, the token's
//! `serviceUrl`), so the handler only ever sees an activity the Bot Connector sent this bot.
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
use aisoc_notify_core::http::ApiError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};

use super::conversation::REFRESH_VERB;
use super::{BotAuthError, BotFrameworkAuth, VerifiedBotToken};
use crate::interactions::{InteractionKind, handle_interaction, parse_interaction};
use crate::routes::{MAX_BODY_BYTES, read_body};

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

impl From<BotAuthError> for ApiError {
    fn from(error: BotAuthError) -> Self {
        ApiError::new(error.status(), error.to_string())
    }
}

impl IntoResponse for BotAuthError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// An activity the Bot Connector sent this bot: the `Authorization` JWT verified (before the
/// body is read), the body a JSON object, and the token bound to it by
/// [`VerifiedBotToken::check_activity`]. A refusal is 401 (503 when the signing keys cannot
/// be fetched), 413 over the body limit, or 400 when the body is not an activity.
#[derive(Debug, Clone)]
pub struct BotVerified {
    /// The verified token, already checked against [`activity`](Self::activity).
    pub token: VerifiedBotToken,
    /// The activity, a JSON object.
    pub activity: Value,
    /// The raw body the activity was read from.
    pub body: Bytes,
}

impl FromRequest<Arc<BotRoutes>> for BotVerified {
    type Rejection = ApiError;

    async fn from_request(
        request: Request,
        routes: &Arc<BotRoutes>,
    ) -> Result<Self, Self::Rejection> {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = routes.auth.verify(authorization).await.map_err(|error| {
            tracing::info!(%error, "Bot Framework request refused");
            ApiError::from(error)
        })?;
        let body = read_body(request, routes).await?;
        let activity = match serde_json::from_slice(&body) {
            Ok(activity @ Value::Object(_)) => activity,
            _ => {
                return Err(ApiError::bad_request(
                    "the body must be a Bot Framework activity (a JSON object)",
                ));
            }
        };
        if let Err(error) = token.check_activity(
            activity["channelId"].as_str(),
            activity["serviceUrl"].as_str(),
        ) {
            tracing::info!(%error, "Bot Framework activity refused");
            return Err(error.into());
        }
        Ok(Self {
            token,
            activity,
            body,
        })
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
    BotVerified { activity, body, .. }: BotVerified,
) -> Response {
    match (activity["type"].as_str(), activity["name"].as_str()) {
        (Some("invoke"), Some(CARD_ACTION_INVOKE)) => card_action(&routes, &activity, &body).await,
        (Some("invoke"), _) => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "only adaptiveCard/action invokes are handled",
        )
        .into_response(),
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
        return ApiError::bad_request("value.action.type must be 'Action.Execute'").into_response();
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
            return ApiError::bad_request("the activity is not an adaptiveCard/action invoke")
                .into_response();
        }
        Err(error) => return ApiError::bad_request(error.to_string()).into_response(),
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

#[cfg(test)]
mod tests {
    use aisoc_notify_core::decision::{DecisionError, DecisionRecorded, DecisionRequest};
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    struct NoApprovals;

    #[async_trait]
    impl DecisionHandler for NoApprovals {
        async fn decide(&self, _: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
            Err(DecisionError::NotFound)
        }
    }

    #[tokio::test]
    async fn an_oversized_body_without_a_token_is_refused_401_before_it_is_read() {
        // The token is checked first, so no signing key is ever fetched here.
        let auth = BotFrameworkAuth::builder("app-id").build().unwrap();
        let app = router(BotRoutes::new(auth, Arc::new(NoApprovals)));
        let request = Request::post("/messages")
            .body(Body::from("a".repeat(MAX_BODY_BYTES + 1)))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        assert_eq!(
            &body[..],
            br#"{"error":"an Authorization: Bearer token from the Bot Connector is required"}"#
        );
    }
}
