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
//!
//! Idempotency (`X-AiSOC-Idempotency-Key`, else `webhook-id`): a key whose events are stored is
//! answered `200 {"accepted": 0, …, "duplicate": true}`; a key whose first request is still in
//! flight `409 {"error": "a request with this idempotency key is in progress; retry later"}`
//! with `Retry-After`, so the sender retries and learns the first request's real outcome.
//!
//! Failed authentications are charged to the client's address, read from axum's
//! `ConnectInfo<SocketAddr>`: serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`, or every client shares one failure
//! budget. `X-Forwarded-For` is not read (any client can write it).
//!
//! [`token_admin_router`] mints, rotates and revokes inbox tokens; it has no authentication of
//! its own, so the host nests it behind its administrator check (the reference gateway: at
//! `/v1/admin/inbox`, behind its admin bearer token).

use aisoc_notify_core::http::ApiError;
use axum::Router;
use axum::body::Body;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::Query;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

use crate::hec::HecReply;
use serde_json::json;

use crate::hec::HecEnvelope;
use crate::pipeline::{Inbox, InboxRoute, IngestError, Submission};

mod tokens;

pub use tokens::token_admin_router;

/// The client's address when the host serves with `ConnectInfo<SocketAddr>`.
#[derive(Debug, Clone, Copy)]
struct ClientAddr(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reserves in-flight memory for the body, then reads it; the reservation is held (shrunk to
/// what was read) until the request is answered.
async fn read_reserved(
    inbox: &Inbox,
    headers: &HeaderMap,
    body: Body,
) -> Result<(bytes::Bytes, crate::limits::InflightReservation), IngestError> {
    let max = inbox.config().max_body_bytes;
    if declared_length(headers).is_some_and(|len| len > max as u64) {
        return Err(IngestError::BodyTooLarge { max });
    }
    let mut reservation = inbox.reserve_body(declared_length(headers))?;
    let bytes = read_limited(headers, body, max).await?;
    reservation.shrink_to(bytes.len());
    Ok((bytes, reservation))
}

/// The inbox routes, for the host to nest under `/v1/inbox`.
pub fn router(inbox: Inbox) -> Router {
    Router::new()
        .route("/{tenant_token}", post(webhook))
        .route("/email/{tenant_token}", post(email))
        .route("/cef", post(cef_with_header))
        .route("/cef/{tenant_token}", post(cef_with_path))
        .route("/hec", post(hec_event))
        .layer(DefaultBodyLimit::disable())
        .with_state(inbox)
}

/// The standard Splunk HEC paths, for the host to merge at the root so unmodified HEC clients
/// work: `/services/collector`, `/services/collector/event` (and `/1.0`),
/// `/services/collector/raw` (and `/1.0`), `GET /services/collector/health` (and `/1.0`).
pub fn hec_router(inbox: Inbox) -> Router {
    Router::new()
        .route("/services/collector", post(hec_event))
        .route("/services/collector/event", post(hec_event))
        .route("/services/collector/event/1.0", post(hec_event))
        .route("/services/collector/raw", post(hec_raw))
        .route("/services/collector/raw/1.0", post(hec_raw))
        .route("/services/collector/health", get(hec_health))
        .route("/services/collector/health/1.0", get(hec_health))
        .layer(DefaultBodyLimit::disable())
        .with_state(inbox)
}

/// The JSON error response for an ingest error (the shared [`ApiError`] shape), with
/// `Retry-After` for 429 and 409.
pub fn error_response(error: &IngestError) -> Response {
    let response = ApiError::new(error.status(), error.to_string()).into_response();
    with_retry_after(response, error)
}

fn with_retry_after(mut response: Response, error: &IngestError) -> Response {
    if let Some(retry_after) = error.retry_after()
        && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Reads a body up to `max` bytes; `BodyTooLarge` beyond it, without buffering the excess.
///
/// The frames are copied into one buffer as they arrive, sized up front from `Content-Length`
/// (which the caller has reserved), so a 10 MiB request holds about 10 MiB while it is read:
/// collecting the frames and then joining them held the body twice at the join.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<bytes::Bytes, IngestError> {
    use http_body_util::BodyExt as _;

    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > max as u64) {
        return Err(IngestError::BodyTooLarge { max });
    }
    let capacity = declared.map_or(0, |len| usize::try_from(len).unwrap_or(max).min(max));
    // A body of one frame is kept as it came; the second frame starts the joined copy.
    let mut first: Option<bytes::Bytes> = None;
    let mut joined: Option<bytes::BytesMut> = None;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| IngestError::Body(crate::body::BodyError::NoEvents))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry no events
        };
        let read = first.as_ref().map_or(0, bytes::Bytes::len)
            + joined.as_ref().map_or(0, bytes::BytesMut::len);
        if data.len() > max - read {
            return Err(IngestError::BodyTooLarge { max });
        }
        if let Some(joined) = joined.as_mut() {
            joined.extend_from_slice(&data);
        } else if let Some(earlier) = first.take() {
            let mut buffer = bytes::BytesMut::with_capacity(capacity.max(read + data.len()));
            buffer.extend_from_slice(&earlier);
            buffer.extend_from_slice(&data);
            joined = Some(buffer);
        } else {
            first = Some(data);
        }
    }
    Ok(match (joined, first) {
        (Some(joined), _) => joined.freeze(),
        (None, first) => first.unwrap_or_default(),
    })
}

async fn handle(
    inbox: Inbox,
    route: InboxRoute,
    token: String,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let record = match inbox.authenticate_from(&token, client.0).await {
        Ok(record) => record,
        Err(error) => return error_response(&error),
    };
    let (bytes, _reservation) = match read_reserved(&inbox, &headers, body).await {
        Ok(read) => read,
        Err(error) => return error_response(&error),
    };
    let submission = Submission {
        client: client.0,
        ..Submission::new(route, &headers, bytes)
    };
    match inbox.submit(&record, submission).await {
        Ok(receipt) => (StatusCode::OK, axum::Json(receipt)).into_response(),
        Err(error) => error_response(&error),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/{tenant_token}", tag = "inbox",
    summary = "Capture a webhook's events for the tenant the token names",
    params(("tenant_token" = String, Path, description = "The tenant's inbox token (minted by the admin API); it authenticates the request")),
    request_body(description = "The event(s): JSON, NDJSON, or what the token's template expects", content((serde_json::Value = "application/json"), (String = "application/x-ndjson"))),
    responses(
        (status = 200, description = "Events accepted (or a repeated idempotency key answered)", body = crate::pipeline::IngestReceipt),
        (status = 401, description = "Unknown or revoked token", body = openapi::InboxError),
        (status = 409, description = "A request with this idempotency key is in progress; retry after `Retry-After`", body = openapi::InboxError),
        (status = 413, description = "Body over the limit", body = openapi::InboxError),
        (status = 422, description = "Body not usable with the token's template", body = openapi::InboxError),
        (status = 429, description = "Rate limited; retry after `Retry-After`", body = openapi::InboxError),
        (status = 503, description = "The event sink is unavailable or full", body = openapi::InboxError),
    ),
))]
async fn webhook(
    State(inbox): State<Inbox>,
    Path(token): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(inbox, InboxRoute::Webhook, token, client, headers, body).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/email/{tenant_token}", tag = "inbox",
    summary = "Capture a relayed e-mail (raw RFC 5322 or a relay's JSON) as an event",
    params(("tenant_token" = String, Path, description = "The tenant's inbox token (minted by the admin API); it authenticates the request")),
    request_body(description = "The e-mail", content((String = "message/rfc822"), (serde_json::Value = "application/json"))),
    responses(
        (status = 200, description = "Events accepted (or a repeated idempotency key answered)", body = crate::pipeline::IngestReceipt),
        (status = 401, description = "Unknown or revoked token", body = openapi::InboxError),
        (status = 409, description = "A request with this idempotency key is in progress; retry after `Retry-After`", body = openapi::InboxError),
        (status = 413, description = "Body over the limit", body = openapi::InboxError),
        (status = 422, description = "Body not usable with the token's template", body = openapi::InboxError),
        (status = 429, description = "Rate limited; retry after `Retry-After`", body = openapi::InboxError),
        (status = 503, description = "The event sink is unavailable or full", body = openapi::InboxError),
    ),
))]
async fn email(
    State(inbox): State<Inbox>,
    Path(token): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(inbox, InboxRoute::Email, token, client, headers, body).await
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/cef", tag = "inbox",
    summary = "Capture CEF lines, the inbox token given as `Authorization: Bearer`",
    security(("inbox_bearer" = [])),
    request_body(description = "CEF lines", content_type = "text/plain", content = String),
    responses(
        (status = 200, description = "Events accepted (or a repeated idempotency key answered)", body = crate::pipeline::IngestReceipt),
        (status = 401, description = "Unknown or revoked token", body = openapi::InboxError),
        (status = 409, description = "A request with this idempotency key is in progress; retry after `Retry-After`", body = openapi::InboxError),
        (status = 413, description = "Body over the limit", body = openapi::InboxError),
        (status = 422, description = "Body not usable with the token's template", body = openapi::InboxError),
        (status = 429, description = "Rate limited; retry after `Retry-After`", body = openapi::InboxError),
        (status = 503, description = "The event sink is unavailable or full", body = openapi::InboxError),
    ),
))]
async fn cef_with_header(
    State(inbox): State<Inbox>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match bearer(&headers) {
        Some(token) => handle(inbox, InboxRoute::Cef, token, client, headers, body).await,
        None => error_response(&IngestError::InvalidToken),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/cef/{tenant_token}", tag = "inbox",
    summary = "Capture CEF lines, the inbox token in the path",
    params(("tenant_token" = String, Path, description = "The tenant's inbox token (minted by the admin API); it authenticates the request")),
    request_body(description = "CEF lines", content_type = "text/plain", content = String),
    responses(
        (status = 200, description = "Events accepted (or a repeated idempotency key answered)", body = crate::pipeline::IngestReceipt),
        (status = 401, description = "Unknown or revoked token", body = openapi::InboxError),
        (status = 409, description = "A request with this idempotency key is in progress; retry after `Retry-After`", body = openapi::InboxError),
        (status = 413, description = "Body over the limit", body = openapi::InboxError),
        (status = 422, description = "Body not usable with the token's template", body = openapi::InboxError),
        (status = 429, description = "Rate limited; retry after `Retry-After`", body = openapi::InboxError),
        (status = 503, description = "The event sink is unavailable or full", body = openapi::InboxError),
    ),
))]
async fn cef_with_path(
    State(inbox): State<Inbox>,
    Path(token): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(inbox, InboxRoute::Cef, token, client, headers, body).await
}

fn hec_reply(reply: HecReply) -> Response {
    (reply.status, axum::Json(reply)).into_response()
}

/// The HEC token: `Authorization: Splunk <token>`, or Basic with the token as the password.
fn hec_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    if let Some(token) = value.strip_prefix("Splunk ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_owned())
}

/// Maps an ingest error to Splunk's reply; a key in progress is "Server is busy" (503, code 9)
/// with `Retry-After`, which HEC clients retry.
pub fn hec_error(error: &IngestError) -> Response {
    let reply = match error {
        IngestError::InvalidToken => HecReply::INVALID_TOKEN,
        IngestError::UnknownTemplate => HecReply::TOKEN_DISABLED,
        IngestError::InvalidSignature => HecReply::INVALID_AUTHORIZATION,
        IngestError::BodyTooLarge { .. }
        | IngestError::Body(crate::body::BodyError::TooLargeDecompressed { .. }) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(json!({"text": "Request entity too large", "code": 6})),
            )
                .into_response();
        }
        // Splunk has no reply naming our caps or fields: its "invalid data format" code with
        // our text, so HEC clients treat it as a bad request and a person can read why.
        IngestError::Body(crate::body::BodyError::TooManyEvents { .. })
        | IngestError::MappedTooLarge { .. }
        | IngestError::InvalidField(_) => {
            return (
                error.status(),
                axum::Json(json!({"text": error.to_string(), "code": 6})),
            )
                .into_response();
        }
        IngestError::Body(crate::body::BodyError::NoEvents) => HecReply::NO_DATA,
        IngestError::Body(_) | IngestError::Unmappable { .. } => HecReply::INVALID_DATA_FORMAT,
        IngestError::Hec(reply) => reply.clone(),
        IngestError::RateLimited { .. }
        | IngestError::InProgress { .. }
        | IngestError::Busy { .. }
        | IngestError::Unavailable(_)
        // Splunk HEC has no "full": busy tells its clients to hold the data and retry.
        | IngestError::StorageFull(_) => HecReply::SERVER_BUSY,
    };
    with_retry_after(hec_reply(reply), error)
}

async fn hec(
    inbox: Inbox,
    route: InboxRoute,
    client: ClientAddr,
    headers: HeaderMap,
    query: std::collections::HashMap<String, String>,
    body: Body,
) -> Response {
    let Some(token) = hec_token(&headers) else {
        return hec_reply(if query.contains_key("token") {
            HecReply::QUERY_AUTH_DISABLED
        } else {
            HecReply::TOKEN_REQUIRED
        });
    };
    let record = match inbox.authenticate_from(&token, client.0).await {
        Ok(record) => record,
        Err(error) => return hec_error(&error),
    };
    let envelope = match route {
        InboxRoute::HecRaw => match HecEnvelope::from_query(&query) {
            Ok(envelope) => Some(Arc::new(envelope)),
            Err(invalid) => return hec_error(&IngestError::InvalidField(invalid)),
        },
        _ => None,
    };
    let (bytes, _reservation) = match read_reserved(&inbox, &headers, body).await {
        Ok(read) => read,
        Err(error) => return hec_error(&error),
    };
    let submission = Submission {
        hec_envelope: envelope,
        client: client.0,
        ..Submission::new(route, &headers, bytes)
    };
    match inbox.submit(&record, submission).await {
        Ok(_) => hec_reply(HecReply::SUCCESS),
        Err(error) => hec_error(&error),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/hec", tag = "hec",
    summary = "Splunk HEC event endpoint: JSON event envelopes",
    security(("hec_token" = [])),
    request_body(description = "One or more concatenated HEC event envelopes", content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "Events accepted (`{\"text\":\"Success\",\"code\":0}`)", body = crate::hec::HecReply),
        (status = 400, description = "Invalid data format, no data, or an invalid field", body = crate::hec::HecReply),
        (status = 401, description = "Token missing or invalid", body = crate::hec::HecReply),
        (status = 403, description = "Token disabled or authorization invalid", body = crate::hec::HecReply),
        (status = 413, description = "Body over the limit", body = crate::hec::HecReply),
        (status = 503, description = "Server busy; retry after `Retry-After`", body = crate::hec::HecReply),
    ),
))]
async fn hec_event(
    State(inbox): State<Inbox>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    hec(inbox, InboxRoute::Hec, client, headers, query, body).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/services/collector/raw", tag = "hec",
    summary = "Splunk HEC raw endpoint: one event per line",
    security(("hec_token" = [])),
    params(("channel" = Option<String>, Query, description = "HEC channel"), ("sourcetype" = Option<String>, Query, description = "Sourcetype of the events"), ("source" = Option<String>, Query, description = "Source of the events"), ("host" = Option<String>, Query, description = "Host of the events"), ("index" = Option<String>, Query, description = "Index of the events")),
    request_body(description = "Raw lines", content_type = "text/plain", content = String),
    responses(
        (status = 200, description = "Events accepted (`{\"text\":\"Success\",\"code\":0}`)", body = crate::hec::HecReply),
        (status = 400, description = "Invalid data format, no data, or an invalid field", body = crate::hec::HecReply),
        (status = 401, description = "Token missing or invalid", body = crate::hec::HecReply),
        (status = 403, description = "Token disabled or authorization invalid", body = crate::hec::HecReply),
        (status = 413, description = "Body over the limit", body = crate::hec::HecReply),
        (status = 503, description = "Server busy; retry after `Retry-After`", body = crate::hec::HecReply),
    ),
))]
async fn hec_raw(
    State(inbox): State<Inbox>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    hec(inbox, InboxRoute::HecRaw, client, headers, query, body).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/services/collector/health", tag = "hec",
    summary = "Splunk HEC health check",
    responses((status = 200, description = "HEC is healthy", body = crate::hec::HecReply)),
))]
async fn hec_health() -> Response {
    hec_reply(HecReply::HEALTHY)
}

/// The OpenAPI description of the routes (feature `openapi`): [`openapi::InboxApi`] for
/// [`router`] (paths relative to where the host nests it), [`openapi::HecApi`] for
/// [`hec_router`] and [`openapi::TokenAdminApi`] for [`token_admin_router`].
#[cfg(feature = "openapi")]
pub mod openapi {
    use super::{
        __path_cef_with_header, __path_cef_with_path, __path_email, __path_hec_event,
        __path_hec_health, __path_hec_raw, __path_webhook,
    };
    use crate::hec::HecReply;
    use crate::pipeline::IngestReceipt;

    pub use super::tokens::openapi::{MintedToken, RotatedToken, TokenAdminApi};

    /// `{"error": "..."}`: what went wrong, in words the sender can act on.
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    pub struct InboxError {
        /// What went wrong.
        error: String,
    }

    /// The routes of [`router`](super::router), relative to its nest point.
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(webhook, email, cef_with_header, cef_with_path, hec_event),
        components(schemas(IngestReceipt, HecReply, InboxError))
    )]
    pub struct InboxApi;

    /// The routes of [`hec_router`](super::hec_router), at the root.
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            hec_collector,
            hec_collector_event,
            hec_collector_event_1_0,
            hec_raw,
            hec_collector_raw_1_0,
            hec_health,
            hec_collector_health_1_0
        ),
        components(schemas(HecReply))
    )]
    pub struct HecApi;

    // `hec_router` serves one handler on several paths; each alias is described here,
    // with the same contract as the handler it routes to.

    #[utoipa::path(post, path = "/services/collector", tag = "hec",
        summary = "Splunk HEC event endpoint (alias of `/services/collector/event`)",
        security(("hec_token" = [])),
        request_body(description = "One or more concatenated HEC event envelopes", content = serde_json::Value, content_type = "application/json"),
        responses((status = 200, description = "Events accepted", body = HecReply), (status = 400, description = "Invalid data", body = HecReply), (status = 401, description = "Token missing or invalid", body = HecReply)))]
    #[allow(dead_code)]
    fn hec_collector() {}

    #[utoipa::path(post, path = "/services/collector/event", tag = "hec",
        summary = "Splunk HEC event endpoint: JSON event envelopes",
        security(("hec_token" = [])),
        request_body(description = "One or more concatenated HEC event envelopes", content = serde_json::Value, content_type = "application/json"),
        responses((status = 200, description = "Events accepted", body = HecReply), (status = 400, description = "Invalid data", body = HecReply), (status = 401, description = "Token missing or invalid", body = HecReply)))]
    #[allow(dead_code)]
    fn hec_collector_event() {}

    #[utoipa::path(post, path = "/services/collector/event/1.0", tag = "hec",
        summary = "Splunk HEC event endpoint (versioned alias)",
        security(("hec_token" = [])),
        request_body(description = "One or more concatenated HEC event envelopes", content = serde_json::Value, content_type = "application/json"),
        responses((status = 200, description = "Events accepted", body = HecReply), (status = 400, description = "Invalid data", body = HecReply), (status = 401, description = "Token missing or invalid", body = HecReply)))]
    #[allow(dead_code)]
    fn hec_collector_event_1_0() {}

    #[utoipa::path(post, path = "/services/collector/raw/1.0", tag = "hec",
        summary = "Splunk HEC raw endpoint (versioned alias)",
        security(("hec_token" = [])),
        request_body(description = "Raw lines", content_type = "text/plain", content = String),
        responses((status = 200, description = "Events accepted", body = HecReply), (status = 400, description = "Invalid data", body = HecReply), (status = 401, description = "Token missing or invalid", body = HecReply)))]
    #[allow(dead_code)]
    fn hec_collector_raw_1_0() {}

    #[utoipa::path(get, path = "/services/collector/health/1.0", tag = "hec",
        summary = "Splunk HEC health check (versioned alias)",
        responses((status = 200, description = "HEC is healthy", body = HecReply)))]
    #[allow(dead_code)]
    fn hec_collector_health_1_0() {}
}
