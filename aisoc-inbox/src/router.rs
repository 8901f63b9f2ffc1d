//! The axum router for the inbox routes (feature `axum`).
//!
//! ```no_run
//! # fn host(inbox: aisoc_inbox::pipeline::Inbox) {
//! let app: axum::Router = axum::Router::new().nest("/v1/inbox", aisoc_inbox::router::router(inbox));
//! # }
//! ```
//!
//! `POST /{tenant_token}` takes JSON or NDJSON; `POST /email/{tenant_token}` takes relayed
//! e-mail. The token is checked before the body is read, and the body is read only up to the
//! limit: a larger one is refused with 413 without being buffered.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use crate::pipeline::{Inbox, InboxRoute, IngestError};

/// The inbox routes, for the host to nest under `/v1/inbox`.
pub fn router(inbox: Inbox) -> Router {
    Router::new()
        .route("/{tenant_token}", post(webhook))
        .route("/email/{tenant_token}", post(email))
        .layer(DefaultBodyLimit::disable())
        .with_state(inbox)
}

/// The JSON error response for an ingest error, with `Retry-After` for 429.
pub fn error_response(error: &IngestError) -> Response {
    let mut response = (
        error.status(),
        axum::Json(json!({"error": error.to_string()})),
    )
        .into_response();
    if let IngestError::RateLimited { retry_after } = error {
        let seconds = retry_after.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// Reads a body up to `max` bytes; `BodyTooLarge` beyond it, without buffering the excess.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<bytes::Bytes, IngestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(IngestError::BodyTooLarge { max });
    }
    axum::body::to_bytes(body, max).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
            || error.into_inner().is::<http_body_util::LengthLimitError>();
        if too_large {
            IngestError::BodyTooLarge { max }
        } else {
            IngestError::Body(crate::body::BodyError::NoEvents)
        }
    })
}

async fn handle(
    inbox: Inbox,
    route: InboxRoute,
    token: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let record = match inbox.authenticate(&token).await {
        Ok(record) => record,
        Err(error) => return error_response(&error),
    };
    let bytes = match read_limited(&headers, body, inbox.config().max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => return error_response(&error),
    };
    match inbox.accept(&record, route, &headers, bytes).await {
        Ok(receipt) => (StatusCode::OK, axum::Json(receipt)).into_response(),
        Err(error) => error_response(&error),
    }
}

async fn webhook(
    State(inbox): State<Inbox>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(inbox, InboxRoute::Webhook, token, headers, body).await
}

async fn email(
    State(inbox): State<Inbox>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(inbox, InboxRoute::Email, token, headers, body).await
}
