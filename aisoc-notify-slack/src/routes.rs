//! Axum routes for Slack's interaction and slash-command requests (feature `axum`).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use aisoc_notify_core::decision::DecisionHandler;
//! # fn host(decisions: Arc<dyn DecisionHandler>) -> Result<(), Box<dyn std::error::Error>> {
//! use aisoc_notify_slack::routes::{router, SlackRoutes};
//! use aisoc_notify_slack::signature::SlackSignatureVerifier;
//!
//! let slack = SlackRoutes::new(SlackSignatureVerifier::new("signing-secret"), decisions)?;
//! let app: axum::Router = axum::Router::new().nest("/v1/slack", router(slack));
//! # Ok(()) }
//! ```
//!
//! Both routes verify the Slack signature on the raw body before reading it (401 with a JSON
//! error otherwise), acknowledge at once, and finish the work in the background, posting the
//! result to the request's `response_url`, so Slack's three-second deadline is always met.

use std::sync::Arc;

use aisoc_notify_core::decision::DecisionHandler;
use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

use crate::blocks::SlackMessage;
use crate::commands::{
    AisocCommand, ChatOpsBackend, CommandError, SlashCommandRequest, answer, ephemeral, help_text,
};
use crate::error::SlackError;
use crate::interactions::{InteractionPayload, handle_block_actions, parse_interaction};
use crate::mrkdwn;
use crate::signature::SlackSignatureVerifier;
use crate::webhook::default_delivery;

/// The largest request body accepted from Slack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the Slack routes need.
#[derive(Clone)]
pub struct SlackRoutes {
    verifier: SlackSignatureVerifier,
    decisions: Arc<dyn DecisionHandler>,
    backend: Option<Arc<dyn ChatOpsBackend>>,
    responder: DeliveryClient,
}

impl SlackRoutes {
    /// Routes that verify with `verifier` and send decisions to `decisions`.
    pub fn new(
        verifier: SlackSignatureVerifier,
        decisions: Arc<dyn DecisionHandler>,
    ) -> Result<Self, SlackError> {
        Ok(Self {
            verifier,
            decisions,
            backend: None,
            responder: default_delivery()?,
        })
    }

    /// Enables `/aisoc` with the host's backend.
    pub fn with_backend(mut self, backend: Arc<dyn ChatOpsBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Shares a delivery client for `response_url` posts (the default one refuses private and
    /// loopback addresses, as every delivery does; Slack's response URLs are public).
    pub fn with_responder(mut self, responder: DeliveryClient) -> Self {
        self.responder = responder;
        self
    }
}

/// `POST /interactions` and `POST /commands`, for the host to nest.
pub fn router(routes: SlackRoutes) -> Router {
    Router::new()
        .route("/interactions", post(interactions))
        .route("/commands", post(commands))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(routes))
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn reply(message: &SlackMessage) -> Response {
    (StatusCode::OK, axum::Json(message)).into_response()
}

/// POSTs `message` to a `response_url`, logging (never returning) failures.
async fn respond(responder: DeliveryClient, response_url: String, message: SlackMessage) {
    let url = match check_destination(&response_url) {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(%error, "refusing to post to the response_url");
            return;
        }
    };
    let request = match responder.http().post(url).json(&message).build() {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(error = %error.without_url(), "could not build the response_url request");
            return;
        }
    };
    match responder
        .send(request)
        .await
        .and_then(|r| r.error_for_status())
    {
        Ok(_) => tracing::debug!("response_url reply delivered"),
        Err(error) => tracing::warn!(%error, "response_url reply failed"),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/interactions", tag = "slack",
    summary = "Slack interactivity: a button pressed on an approval or verification card",
    security(("slack_signature" = [])),
    request_body(description = "Slack's form post: `payload=<JSON interaction>`", content_type = "application/x-www-form-urlencoded", content = String),
    responses(
        (status = 200, description = "Acknowledged; the updated card goes to the interaction's `response_url`"),
        (status = 400, description = "The payload is not a Slack interaction", body = openapi::SlackError),
        (status = 401, description = "Missing, stale or wrong Slack signature", body = openapi::SlackError),
        (status = 413, description = "Body over the limit"),
    ),
))]
async fn interactions(
    State(routes): State<Arc<SlackRoutes>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(error) = routes.verifier.verify(&headers, &body) {
        return json_error(StatusCode::UNAUTHORIZED, &error.to_string());
    }
    let payload = match parse_interaction(&body) {
        Ok(payload) => payload,
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    if let InteractionPayload::BlockActions(actions) = payload {
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let Some(message) = handle_block_actions(&actions, &routes.decisions).await else {
                return;
            };
            match actions.response_url {
                Some(url) => respond(routes.responder.clone(), url, message).await,
                None => tracing::warn!(
                    "block_actions without a response_url; the card cannot be replaced"
                ),
            }
        });
    }
    StatusCode::OK.into_response()
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/commands", tag = "slack",
    summary = "The `/aisoc` slash command",
    security(("slack_signature" = [])),
    request_body(description = "Slack's slash-command form post (`text`, `response_url`, `user_id`, …)", content_type = "application/x-www-form-urlencoded", content = String),
    responses(
        (status = 200, description = "An ephemeral reply (help, or an acknowledgement while the answer goes to `response_url`)", body = openapi::SlackReply),
        (status = 400, description = "Not a slash-command form, or an unusable command", body = openapi::SlackError),
        (status = 401, description = "Missing, stale or wrong Slack signature", body = openapi::SlackError),
        (status = 413, description = "Body over the limit"),
    ),
))]
async fn commands(
    State(routes): State<Arc<SlackRoutes>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(error) = routes.verifier.verify(&headers, &body) {
        return json_error(StatusCode::UNAUTHORIZED, &error.to_string());
    }
    let request = match SlashCommandRequest::from_form(&body) {
        Ok(request) => request,
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let command = match AisocCommand::parse(&request.text) {
        Ok(command) => command,
        Err(CommandError::Usage(usage)) => {
            return reply(&ephemeral(&format!("{usage}\n\n{}", help_text())));
        }
        Err(other) => return json_error(StatusCode::BAD_REQUEST, &other.to_string()),
    };
    if !command.needs_backend() {
        return reply(&ephemeral(help_text()));
    }
    let Some(backend) = routes.backend.clone() else {
        return reply(&ephemeral(
            ":warning: ChatOps is not configured on this server",
        ));
    };
    let acknowledgement = ephemeral(&format!(
        ":hourglass_flowing_sand: Working on `/aisoc {}`…",
        mrkdwn::escape(&command.to_string())
    ));
    let responder = routes.responder.clone();
    tokio::spawn(async move {
        let message = answer(&command, &request.context(), backend.as_ref()).await;
        respond(responder, request.response_url, message).await;
    });
    reply(&acknowledgement)
}

/// The OpenAPI description of [`router`] (feature `openapi`), paths relative to its nest point.
#[cfg(feature = "openapi")]
pub mod openapi {
    use super::{__path_commands, __path_interactions};

    /// `{"error": "..."}`: why the request was refused.
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    pub struct SlackError {
        /// What went wrong.
        error: String,
    }

    /// A Slack message answered to a slash command (Block Kit; see Slack's message reference).
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    pub struct SlackReply {
        /// Fallback and notification text.
        text: String,
        /// Block Kit blocks.
        blocks: Option<Vec<serde_json::Value>>,
        /// Attachments.
        attachments: Option<Vec<serde_json::Value>>,
        /// `ephemeral`: only the person who typed the command sees it.
        response_type: Option<String>,
        /// Whether the reply replaces the message it came from.
        replace_original: Option<bool>,
    }

    /// The routes of [`router`](super::router).
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(interactions, commands),
        components(schemas(SlackError, SlackReply))
    )]
    pub struct SlackApi;
}
