//! The outbox's dead letters, for an operator: list them with their reason, replay one once the
//! destination is fixed. Admin bearer token required.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/outbox/dead-letters[?after=<id>&limit=<n>]` | dead letters, oldest first (default 100, at most 1000) |
//! | `POST /v1/outbox/dead-letters/{id}/replay` | queue it again for its channels and remove it (202); 404 when unknown or already replayed |
//!
//! Each letter is `{id, notification, channels, attempts, last_error, class, dead_at}`:
//! `last_error` is the reason per channel, `class` is `gone`, `non_retryable`, or
//! `retryable`/`throttled` for attempts exhausted. A replay keeps the notification's
//! idempotency key (`notification.dedupe_key`).

use std::sync::Arc;

use aisoc_notify_core::secret::SecretString;
use aisoc_notify_outbox::{Outbox, OutboxError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;

use crate::auth::{error, require_admin};

/// How many letters a page holds unless asked.
const DEFAULT_LIMIT: usize = 100;
/// The most a page holds.
const MAX_LIMIT: usize = 1000;

/// The dead-letter routes (admin).
pub fn router(outbox: Arc<dyn Outbox>, admin_token: Arc<SecretString>) -> Router {
    Router::new()
        .route("/v1/outbox/dead-letters", get(list))
        .route("/v1/outbox/dead-letters/{id}/replay", post(replay))
        .route_layer(middleware::from_fn_with_state(admin_token, require_admin))
        .with_state(outbox)
}

fn outbox_error(failure: OutboxError) -> Response {
    match failure {
        OutboxError::DeadLetterNotFound { .. } => error(StatusCode::NOT_FOUND, failure.to_string()),
        other => error(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[utoipa::path(
    get, path = "/v1/outbox/dead-letters", tag = "dead-letters",
    summary = "List the outbox's dead letters",
    security(("admin_bearer" = [])),
    params(("after" = Option<String>, Query, description = "The id after which the page starts"), ("limit" = Option<usize>, Query, description = "Page size, 1 to 1000 (default 100)")),
    responses(
        (status = 200, description = "One page of dead letters", body = Vec<crate::openapi::DeadLetter>),
        (status = 400, description = "limit out of range", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn list(State(outbox): State<Arc<dyn Outbox>>, Query(page): Query<Page>) -> Response {
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        );
    }
    match outbox.list_dead_letters(page.after.as_deref(), limit).await {
        Ok(letters) => Json(letters).into_response(),
        Err(failure) => outbox_error(failure),
    }
}

#[utoipa::path(
    post, path = "/v1/outbox/dead-letters/{id}/replay", tag = "dead-letters",
    summary = "Queue a dead letter again",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 202, description = "Queued again", body = crate::openapi::DeadLetter),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such dead letter", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn replay(State(outbox): State<Arc<dyn Outbox>>, Path(id): Path<String>) -> Response {
    match outbox.replay_dead_letter(&id).await {
        Ok(replayed) => (StatusCode::ACCEPTED, Json(replayed)).into_response(),
        Err(failure) => outbox_error(failure),
    }
}
