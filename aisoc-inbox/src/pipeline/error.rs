//! Why a request was not accepted, and the HTTP status that tells the caller what to fix.

use std::time::Duration;

use http::StatusCode;

use crate::body::BodyError;

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Unknown or revoked token.
    #[error("invalid token")]
    InvalidToken,
    /// The body is over the limit.
    #[error("body too large (limit {max} bytes)")]
    BodyTooLarge {
        /// The limit.
        max: usize,
    },
    /// The tenant or token is over its rate, or the client over its budget for failed
    /// authentications.
    #[error("too many requests")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The token's template is no longer accepted.
    #[error("unknown template")]
    UnknownTemplate,
    /// The token requires a signature and it is missing or wrong.
    #[error("invalid signature")]
    InvalidSignature,
    /// The body could not be read, or carries more events than one request may.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A Splunk HEC body problem, with Splunk's own reply.
    #[error("{}", .0.text)]
    Hec(crate::hec::HecReply),
    /// A request parameter is out of range; the message names it.
    #[error("{0}")]
    InvalidField(#[from] crate::hec::HecFieldError),
    /// The events of the request map to more bytes than a request may produce.
    #[error(
        "the events in this request map to more than {max} bytes; send fewer events per request"
    )]
    MappedTooLarge {
        /// The limit for this request.
        max: usize,
    },
    /// Every event failed to map.
    #[error("no event in the body fits template '{template}': {reason}")]
    Unmappable {
        /// The template.
        template: String,
        /// The first mapping failure.
        reason: String,
    },
    /// Another request with the same idempotency key is in flight; its outcome decides.
    #[error("a request with this idempotency key is in progress; retry later")]
    InProgress {
        /// When to try again.
        retry_after: Duration,
    },
    /// The requests in flight hold all the memory the inbox may use; nothing was accepted.
    #[error("the inbox is busy with other requests; retry later")]
    Busy {
        /// When to try again.
        retry_after: Duration,
    },
    /// The sink (or a store) cannot take events now; nothing was accepted.
    #[error("inbox temporarily unavailable: {0}")]
    Unavailable(String),
    /// The event store is full; nothing was accepted until an operator frees space.
    #[error("inbox storage is full: {0}")]
    StorageFull(String),
}

impl IngestError {
    /// The HTTP status that tells the caller what to fix.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::InvalidToken | IngestError::InvalidSignature => StatusCode::UNAUTHORIZED,
            IngestError::BodyTooLarge { .. }
            | IngestError::MappedTooLarge { .. }
            | IngestError::Body(
                BodyError::TooLargeDecompressed { .. } | BodyError::TooManyEvents { .. },
            ) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Body(BodyError::UnsupportedEncoding(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::UnknownTemplate
            | IngestError::Body(_)
            | IngestError::Unmappable { .. } => StatusCode::BAD_REQUEST,
            IngestError::InProgress { .. } => StatusCode::CONFLICT,
            IngestError::Busy { .. } | IngestError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            IngestError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            IngestError::Hec(reply) => reply.status,
        }
    }

    /// The wait to announce in `Retry-After`, for the answers a sender should retry later.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::RateLimited { retry_after }
            | IngestError::InProgress { retry_after }
            | IngestError::Busy { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The metric outcome label.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::InvalidToken => "invalid_token",
            IngestError::BodyTooLarge { .. }
            | IngestError::MappedTooLarge { .. }
            | IngestError::Body(
                BodyError::TooLargeDecompressed { .. } | BodyError::TooManyEvents { .. },
            ) => "too_large",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::UnknownTemplate => "unknown_template",
            IngestError::InvalidSignature => "invalid_signature",
            IngestError::Body(_)
            | IngestError::Unmappable { .. }
            | IngestError::Hec(_)
            | IngestError::InvalidField(_) => "malformed",
            IngestError::InProgress { .. } => "in_progress",
            IngestError::Busy { .. } => "busy",
            IngestError::Unavailable(_) => "unavailable",
            IngestError::StorageFull(_) => "storage_full",
        }
    }
}
