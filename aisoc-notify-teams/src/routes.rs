//! The axum route for card interactions (feature `axum`).
//!
//! `POST /interactions` authenticates the request, parses the decision, runs it through the
//! host's decision handler and answers with the updated card.
//!
//! Authentication is explicit: [`TeamsAuth::OutgoingWebhookHmac`] checks Teams'
//! `Authorization: HMAC` signature on the raw body before parsing. Bot Framework traffic is
//! authenticated with JWTs issued by the Bot Connector, which belongs in the host's bot stack;
//! a host that has done that in a tower layer in front of this route says so with
//! [`TeamsAuth::VerifiedUpstream`].

use std::sync::Arc;

use aisoc_notify_core::decision::DecisionHandler;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

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

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn interactions(
    State(routes): State<Arc<TeamsRoutes>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let TeamsAuth::OutgoingWebhookHmac(verifier) = &routes.auth
        && let Err(error) = verifier.verify(&headers, &body)
    {
        return json_error(StatusCode::UNAUTHORIZED, &error.to_string());
    }
    let interaction = match parse_interaction(&body) {
        Ok(interaction) => interaction,
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let answer = handle_interaction(interaction, &routes.decisions).await;
    (StatusCode::OK, axum::Json(answer)).into_response()
}
