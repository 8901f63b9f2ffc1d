//! What every gateway route shares: the admin bearer check, JSON errors and JSON bodies.

use std::sync::Arc;

use aisoc_notify_core::http::ApiError;
use aisoc_notify_core::secret::{ExposeSecret, SecretString, constant_time_eq};
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// A JSON error body with a status that tells the caller what to fix: the workspace's one
/// [`ApiError`], as a response (the many gateway routes that answer `Response` call this).
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

/// Whether `headers` carry `Authorization: Bearer <token>` (compared in constant time).
pub fn has_bearer(headers: &HeaderMap, token: &SecretString) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.as_bytes(), token.expose_secret().as_bytes()))
}

/// Middleware for routes that need the admin token:
/// `.route_layer(middleware::from_fn_with_state(token, require_admin))`.
pub async fn require_admin(
    State(token): State<Arc<SecretString>>,
    request: Request,
    next: Next,
) -> Response {
    if has_bearer(request.headers(), &token) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

/// 401 with `WWW-Authenticate: Bearer`.
pub fn unauthorized() -> Response {
    ApiError::unauthorized("a valid admin bearer token is required")
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        .into_response()
}

/// A JSON request body whose rejection is answered in the gateway's error shape, with the status
/// axum chose (400 malformed, 413 too large, 415 not JSON, 422 wrong fields).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(error(rejection.status(), rejection.body_text())),
        }
    }
}

pub use aisoc_notify_core::http::TenantParam;
