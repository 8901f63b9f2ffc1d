//! The one JSON error every aisoc-notify router answers with (feature `axum`).
//!
//! Slack, Teams, in-app, Web Push and the gateway all refuse a request the same way: a precise
//! status and `{"error": "<what to fix>"}`. Before this type each router wrote its own
//! three-line helper; one type keeps the shape identical everywhere (clients and the OpenAPI
//! description rely on it) and gives extractors a rejection they can share.
//!
//! ```
//! use aisoc_notify_core::http::ApiError;
//! use axum::http::{StatusCode, header};
//! use axum::response::IntoResponse;
//!
//! let response = ApiError::unauthorized("a valid admin bearer token is required")
//!     .with_header(header::WWW_AUTHENTICATE, "Bearer")
//!     .into_response();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
//! ```
//!
//! The message is shown to the caller as is: it must name what to fix and never carry a
//! secret (the signature and token errors it is built from already hold none).

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A refusal: a status and the message the caller reads in `{"error": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    headers: HeaderMap,
}

/// The body: `{"error": "<message>"}`.
#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
}

impl ApiError {
    /// A refusal with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: HeaderMap::new(),
        }
    }

    /// 400: the request cannot be read (malformed body, wrong shape).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: missing or wrong credentials or signature.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such resource (for this caller).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request conflicts with the resource's state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 422: well-formed, but a field is not acceptable.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 503: a store or upstream the route needs is unavailable; try again.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// Adds a response header, such as `WWW-Authenticate` on a 401 or `Retry-After` on a 429
    /// or 503. A value that is not a valid header value is left out rather than panicking.
    pub fn with_header<V>(mut self, name: HeaderName, value: V) -> Self
    where
        V: TryInto<HeaderValue>,
    {
        if let Ok(value) = value.try_into() {
            self.headers.insert(name, value);
        }
        self
    }

    /// The status the refusal is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message the caller reads.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                error: &self.message,
            }),
        )
            .into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

/// The `?tenant_id=` of a tenant-scoped route, validated by
/// [`validate_tenant_id`](crate::tenant::validate_tenant_id) before the handler runs: a missing
/// or malformed one is refused 422 naming the field, so no handler can forget the tenant or
/// check it differently. Shared by every tenant-scoped router (approvals, inbox tokens, the
/// gateway's settings).
///
/// ```
/// use aisoc_notify_core::http::TenantParam;
/// use axum::extract::FromRequestParts;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tenant = |uri: &str| {
///     let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
///     async move { TenantParam::from_request_parts(&mut parts, &()).await }
/// };
/// assert_eq!(tenant("/v1/audit?tenant_id=acme").await.unwrap().0, "acme");
/// let missing = tenant("/v1/audit").await.unwrap_err();
/// assert_eq!(missing.message(), "tenant_id is required (?tenant_id=…)");
/// assert_eq!(missing.status(), 422);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TenantParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        #[derive(serde::Deserialize)]
        struct TenantQuery {
            #[serde(default)]
            tenant_id: Option<String>,
        }
        let axum::extract::Query(query) =
            axum::extract::Query::<TenantQuery>::try_from_uri(&parts.uri)
                .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        let Some(tenant_id) = query.tenant_id else {
            return Err(ApiError::unprocessable(
                "tenant_id is required (?tenant_id=…)",
            ));
        };
        match crate::tenant::validate_tenant_id(&tenant_id) {
            Ok(_) => Ok(Self(tenant_id)),
            Err(invalid) => Err(ApiError::unprocessable(invalid.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::header;

    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, HeaderMap, String) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_refusal_is_its_status_and_an_error_object_in_json() {
        let (status, headers, body) =
            answer(ApiError::unprocessable("tenant_id is \"required\"")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body, r#"{"error":"tenant_id is \"required\""}"#);
        assert_eq!(
            body,
            serde_json::json!({"error": "tenant_id is \"required\""}).to_string()
        );
    }

    #[tokio::test]
    async fn headers_added_to_a_refusal_are_sent_and_invalid_ones_left_out() {
        let (status, headers, body) = answer(
            ApiError::unavailable("the store is unavailable; try again")
                .with_header(header::RETRY_AFTER, "5")
                .with_header(header::WWW_AUTHENTICATE, "bad\nvalue"),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "5");
        assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body, r#"{"error":"the store is unavailable; try again"}"#);
    }

    #[test]
    fn the_constructors_choose_the_status_their_name_says() {
        for (error, status) in [
            (ApiError::bad_request("x"), StatusCode::BAD_REQUEST),
            (ApiError::unauthorized("x"), StatusCode::UNAUTHORIZED),
            (ApiError::forbidden("x"), StatusCode::FORBIDDEN),
            (ApiError::not_found("x"), StatusCode::NOT_FOUND),
            (ApiError::conflict("x"), StatusCode::CONFLICT),
            (
                ApiError::unprocessable("x"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (ApiError::unavailable("x"), StatusCode::SERVICE_UNAVAILABLE),
        ] {
            assert_eq!(error.status(), status);
            assert_eq!(error.message(), "x");
        }
    }
}
