//! What every gateway route shares: the admin bearer check, JSON errors and JSON bodies.

use std::sync::Arc;

use aisoc_notify_core::secret::{ExposeSecret, SecretString, constant_time_eq};
use aisoc_notify_core::tenant::validate_tenant_id;
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A JSON error body with a status that tells the caller what to fix.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
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
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "a valid admin bearer token is required",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
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

/// The `?tenant_id=` of a tenant-scoped route, validated by
/// [`validate_tenant_id`]: a missing or malformed one is answered 422 naming the field before
/// the handler runs, so no handler can forget the tenant or check it differently.
pub struct TenantParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TenantParam {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        #[derive(serde::Deserialize)]
        struct TenantQuery {
            #[serde(default)]
            tenant_id: Option<String>,
        }
        let query = Query::<TenantQuery>::try_from_uri(&parts.uri)
            .map_err(|rejection| error(rejection.status(), rejection.body_text()))?;
        let Some(tenant_id) = query.0.tenant_id else {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "tenant_id is required (?tenant_id=…)",
            ));
        };
        match validate_tenant_id(&tenant_id) {
            Ok(_) => Ok(Self(tenant_id)),
            Err(invalid) => Err(error(StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string())),
        }
    }
}
