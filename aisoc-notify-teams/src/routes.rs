//! The axum route for card interactions (feature `axum`).
//!
//! `POST /interactions` authenticates the request, parses the decision, runs it through the
//! host's decision handler and answers with the updated card.
//!
//! Authentication is explicit and runs in the [`TeamsSigned`] extractor, before the handler:
//! [`TeamsAuth::OutgoingWebhookHmac`] checks Teams' `Authorization: HMAC` signature on the raw
//! body before anything parses it. Bot Framework traffic is
//! authenticated with JWTs issued by the Bot Connector, which belongs in the host's bot stack;
//! a host that has done that in a tower layer in front of this route says so with
//! [`TeamsAuth::VerifiedUpstream`].

use std::sync::Arc;

use aisoc_notify_core::decision::DecisionHandler;
use aisoc_notify_core::http::ApiError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;

use crate::hmac::TeamsHmacVerifier;
use crate::interactions::{handle_interaction, parse_interaction};

/// The largest interaction body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How interaction requests are authenticated.
#[derive(Debug, Clone)]
pub enum TeamsAuth {
    /// Verify `Authorization: HMAC <base64>` (outgoing webhooks).
    OutgoingWebhookHmac(TeamsHmacVerifier),
    /// The host authenticated the request before it reached this route (Bot Framework JWT).
    VerifiedUpstream,
}

/// What the Teams route needs.
#[derive(Clone)]
pub struct TeamsRoutes {
    auth: TeamsAuth,
    decisions: Arc<dyn DecisionHandler>,
}

impl TeamsRoutes {
    /// Routes with an authentication mode and the shared decision handler.
    pub fn new(auth: TeamsAuth, decisions: Arc<dyn DecisionHandler>) -> Self {
        Self { auth, decisions }
    }
}

/// `POST /interactions`, for the host to nest (for example under `/v1/teams`).
pub fn router(routes: TeamsRoutes) -> Router {
    Router::new()
        .route("/interactions", post(interactions))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(routes))
}

/// The raw body of an interaction authenticated the way the routes' [`TeamsAuth`] says: with
/// [`TeamsAuth::OutgoingWebhookHmac`], a missing or wrong `Authorization: HMAC` signature is
/// refused with 401 before the handler runs. The body is read within the route's limit (413
/// beyond it).
#[derive(Debug, Clone)]
pub struct TeamsSigned(pub Bytes);

impl FromRequest<Arc<TeamsRoutes>> for TeamsSigned {
    type Rejection = ApiError;

    async fn from_request(
        request: Request,
        routes: &Arc<TeamsRoutes>,
    ) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let body = read_body(request, routes).await?;
        if let TeamsAuth::OutgoingWebhookHmac(verifier) = &routes.auth {
            verifier
                .verify(&headers, &body)
                .map_err(|error| ApiError::unauthorized(error.to_string()))?;
        }
        Ok(Self(body))
    }
}

/// The body within the route's [`DefaultBodyLimit`], a refusal in the JSON error shape with
/// the status axum chose (413 over the limit) otherwise.
pub(crate) async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/interactions", tag = "teams",
    summary = "Teams card interaction: a decision from an approval or verification card",
    security(("teams_hmac" = [])),
    request_body(description = "The Teams activity carrying the card's `Action.Submit` data", content = serde_json::Value),
    responses(
        (status = 200, description = "The updated card, as a Teams message", body = serde_json::Value),
        (status = 400, description = "Not a card interaction", body = openapi::TeamsError),
        (status = 401, description = "Missing or wrong `Authorization: HMAC` signature", body = openapi::TeamsError),
        (status = 413, description = "Body over the limit"),
    ),
))]
async fn interactions(
    State(routes): State<Arc<TeamsRoutes>>,
    TeamsSigned(body): TeamsSigned,
) -> Response {
    let interaction = match parse_interaction(&body) {
        Ok(interaction) => interaction,
        Err(error) => return ApiError::bad_request(error.to_string()).into_response(),
    };
    let answer = handle_interaction(interaction, &routes.decisions).await;
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// The OpenAPI description of [`router`] (feature `openapi`), paths relative to its nest point.
#[cfg(feature = "openapi")]
pub mod openapi {
    use super::__path_interactions;

    /// `{"error": "..."}`: why the request was refused.
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    pub struct TeamsError {
        /// What went wrong.
        error: String,
    }

    /// The routes of [`router`](super::router).
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(interactions), components(schemas(TeamsError)))]
    pub struct TeamsApi;
}
