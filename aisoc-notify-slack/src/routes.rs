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
//! Both routes take a [`SlackSigned`] body: the extractor verifies the Slack signature on the
//! raw body before anything parses it (401 with a JSON error otherwise), so no handler can
//! forget the check or run it differently. The routes acknowledge at once and finish the work
//! in the background, posting the result to the request's `response_url`, so Slack's
//! three-second deadline is always met.

use std::sync::Arc;

use aisoc_notify_core::decision::DecisionHandler;
use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use aisoc_notify_core::http::ApiError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;

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

/// The raw body of a request whose Slack `v0` signature verified against the routes'
/// [`SlackSignatureVerifier`]. The body is read within the route's limit (413 beyond it) and a
/// missing, stale or wrong signature is refused with 401 before the handler runs.
#[derive(Debug, Clone)]
pub struct SlackSigned(pub Bytes);

impl FromRequest<Arc<SlackRoutes>> for SlackSigned {
    type Rejection = ApiError;

    async fn from_request(
        request: Request,
        routes: &Arc<SlackRoutes>,
    ) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, routes)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        routes
            .verifier
            .verify(&headers, &body)
            .map_err(|error| ApiError::unauthorized(error.to_string()))?;
        Ok(Self(body))
    }
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
    SlackSigned(body): SlackSigned,
) -> Response {
    let payload = match parse_interaction(&body) {
        Ok(payload) => payload,
        Err(error) => return ApiError::bad_request(error.to_string()).into_response(),
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
    SlackSigned(body): SlackSigned,
) -> Response {
    let request = match SlashCommandRequest::from_form(&body) {
        Ok(request) => request,
        Err(error) => return ApiError::bad_request(error.to_string()).into_response(),
    };
    let command = match AisocCommand::parse(&request.text) {
        Ok(command) => command,
        Err(CommandError::Usage(usage)) => {
            return reply(&ephemeral(&format!("{usage}\n\n{}", help_text())));
        }
        Err(other) => return ApiError::bad_request(other.to_string()).into_response(),
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

#[cfg(test)]
mod tests {
    use aisoc_notify_core::async_trait;
    use aisoc_notify_core::clock::ManualClock;
    use aisoc_notify_core::decision::{DecisionError, DecisionRecorded, DecisionRequest};
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    const NOW: i64 = 1_531_420_618;

    struct NoApprovals;

    #[async_trait]
    impl DecisionHandler for NoApprovals {
        async fn decide(&self, _: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
            Err(DecisionError::NotFound)
        }
    }

    fn verifier() -> SlackSignatureVerifier {
        SlackSignatureVerifier::new("signing-secret")
            .with_clock(Arc::new(ManualClock::at_unix(NOW)))
    }

    /// A host route of its own behind the same check: it echoes the body it was given.
    fn echo() -> Router {
        let routes = SlackRoutes::new(verifier(), Arc::new(NoApprovals)).unwrap();
        Router::new()
            .route(
                "/echo",
                post(|SlackSigned(body): SlackSigned| async move { body }),
            )
            .layer(DefaultBodyLimit::max(64))
            .with_state(Arc::new(routes))
    }

    async fn send(body: &str, signature: &str) -> (StatusCode, String) {
        let request = Request::post("/echo")
            .header("x-slack-request-timestamp", NOW.to_string())
            .header("x-slack-signature", signature)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = echo().oneshot(request).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_handler_taking_slack_signed_sees_only_bodies_whose_signature_verified() {
        let signature = verifier().sign(&NOW.to_string(), b"text=list");
        assert_eq!(
            send("text=list", &signature).await,
            (StatusCode::OK, "text=list".to_owned())
        );
        assert_eq!(
            send("text=lust", &signature).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"error":"invalid signature"}"#.to_owned()
            )
        );
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_413_in_the_json_error_shape() {
        let body = "a".repeat(65);
        let signature = verifier().sign(&NOW.to_string(), body.as_bytes());
        let (status, answer) = send(&body, &signature).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(
            answer["error"].as_str().unwrap().contains("length limit"),
            "{answer}"
        );
    }
}
