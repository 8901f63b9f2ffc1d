//! The settings routes over a [`ChannelRegistry`]: `/v1/settings/notifications` (admin).
//!
//! `POST …/{id}/test` takes an optional body `{"tenant_id": "acme", "message": "…"}`: the
//! tenant the test notification is for (default `gateway`; a Web Push or in-app channel
//! delivers to that tenant's users) and its text (at most [`MAX_TEST_MESSAGE_CHARS`]
//! characters; 422 naming `message` when longer).

use std::sync::Arc;

use aisoc_notify_core::notifier::DeliveryOutcome;
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_core::tenant::validate_tenant_id;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::json;

use super::{ChannelError, ChannelRegistry, ChannelRequest, ChannelView};
use crate::auth::{ApiJson, error, require_admin};
use crate::channel_store::ChannelStoreError;

/// The longest test message, in characters.
pub const MAX_TEST_MESSAGE_CHARS: usize = 1000;

#[derive(Clone)]
struct SettingsState {
    channels: Arc<ChannelRegistry>,
}

/// The settings routes (admin).
pub fn router(channels: Arc<ChannelRegistry>, admin_token: Arc<SecretString>) -> Router {
    Router::new()
        .route(
            "/v1/settings/notifications",
            get(list_channels).post(create_channel),
        )
        .route(
            "/v1/settings/notifications/{id}",
            axum::routing::put(update_channel).delete(delete_channel),
        )
        .route("/v1/settings/notifications/{id}/test", post(test_channel))
        .route_layer(middleware::from_fn_with_state(admin_token, require_admin))
        .with_state(SettingsState { channels })
}

fn channel_error(failure: ChannelError) -> Response {
    match failure {
        ChannelError::Invalid(message) => error(StatusCode::UNPROCESSABLE_ENTITY, message),
        ChannelError::Forbidden(_) => error(StatusCode::UNPROCESSABLE_ENTITY, failure.to_string()),
        ChannelError::NotFound => error(StatusCode::NOT_FOUND, failure.to_string()),
        // Rules still name the channel: deleting it would silently stop their deliveries.
        ChannelError::Store(failure @ ChannelStoreError::ChannelInUse { .. }) => {
            error(StatusCode::CONFLICT, failure.to_string())
        }
        // Nothing changed: the store is down, or it needs a data key before it keeps secrets.
        ChannelError::Store(failure) => {
            tracing::warn!(%failure, "notification channel change not stored");
            error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string())
        }
    }
}

#[utoipa::path(
    get, path = "/v1/settings/notifications", tag = "channels",
    summary = "Every notification channel (no secret values)",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The channels", body = Vec<crate::openapi::ChannelView>),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
    ),
)]
async fn list_channels(State(state): State<SettingsState>) -> Json<Vec<ChannelView>> {
    Json(state.channels.list())
}

#[utoipa::path(
    post, path = "/v1/settings/notifications", tag = "channels",
    summary = "Add a notification channel",
    security(("admin_bearer" = [])),
    request_body = crate::openapi::ChannelRequest,
    responses(
        (status = 201, description = "Added", body = crate::openapi::ChannelView),
        (status = 400, description = "Malformed JSON", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "Invalid or forbidden configuration (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn create_channel(
    State(state): State<SettingsState>,
    ApiJson(request): ApiJson<ChannelRequest>,
) -> Response {
    match state.channels.create(&request).await {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(failure) => channel_error(failure),
    }
}

#[utoipa::path(
    put, path = "/v1/settings/notifications/{id}", tag = "channels",
    summary = "Replace a notification channel",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The channel id")),
    request_body = crate::openapi::ChannelRequest,
    responses(
        (status = 200, description = "Replaced", body = crate::openapi::ChannelView),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such channel", body = crate::openapi::ApiError),
        (status = 422, description = "Invalid or forbidden configuration (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn update_channel(
    State(state): State<SettingsState>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ChannelRequest>,
) -> Response {
    match state.channels.update(&id, &request).await {
        Ok(view) => Json(view).into_response(),
        Err(failure) => channel_error(failure),
    }
}

#[utoipa::path(
    delete, path = "/v1/settings/notifications/{id}", tag = "channels",
    summary = "Delete a notification channel",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The channel id")),
    responses(
        (status = 204, description = "Deleted (empty body)"),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such channel", body = crate::openapi::ApiError),
        (status = 409, description = "Routing rules still name the channel", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn delete_channel(State(state): State<SettingsState>, Path(id): Path<String>) -> Response {
    match state.channels.delete(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => channel_error(failure),
    }
}

/// `POST …/{id}/test`'s optional body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    #[serde(default = "default_tenant")]
    tenant_id: String,
    #[serde(default)]
    message: Option<String>,
}

fn default_tenant() -> String {
    "gateway".into()
}

#[utoipa::path(
    post, path = "/v1/settings/notifications/{id}/test", tag = "channels",
    summary = "Send a test notification through one channel",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The channel id")),
    request_body(content = Option<crate::openapi::ChannelTestRequest>, description = "Optional: the tenant and text of the test"),
    responses(
        (status = 200, description = "Delivered", body = crate::openapi::ChannelTestResult),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such channel", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id malformed or message too long", body = crate::openapi::ApiError),
        (status = 502, description = "Not delivered", body = crate::openapi::ChannelTestResult),
    ),
)]
async fn test_channel(
    State(state): State<SettingsState>,
    Path(id): Path<String>,
    body: Result<Option<Json<TestRequest>>, JsonRejection>,
) -> Response {
    let (tenant_id, message) = match body {
        Ok(Some(Json(request))) => (request.tenant_id, request.message),
        // No body (or not JSON): a test with the defaults.
        Ok(None) => (default_tenant(), None),
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    if let Err(invalid) = validate_tenant_id(&tenant_id) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("tenant_id: {invalid}"),
        );
    }
    let message = message
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    if let Some(text) = &message
        && text.chars().count() > MAX_TEST_MESSAGE_CHARS
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("message must be at most {MAX_TEST_MESSAGE_CHARS} characters"),
        );
    }
    match state
        .channels
        .test(&id, &tenant_id, message.as_deref())
        .await
    {
        Ok(DeliveryOutcome::Delivered(delivered)) => Json(json!({
            "delivered": true,
            "attempts": delivered.attempts,
        }))
        .into_response(),
        Ok(DeliveryOutcome::Failed { reason, class }) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({
                "delivered": false,
                "retryable": class.is_retryable(),
                "retry_class": class.label(),
                "retry_after_seconds": class.retry_after().map(|wait| wait.as_secs()),
                "error": reason,
            })),
        )
            .into_response(),
        Ok(other) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"delivered": false, "outcome": other.label()})),
        )
            .into_response(),
        Err(failure) => channel_error(failure),
    }
}
