//! Slack's errors, typed, and how they map to the core's retry classification.

use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryError, DestinationError};
use aisoc_notify_core::notifier::NotifyError;

use crate::blocks::BlockKitError;

/// How a Slack error code should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Permanent for this request (bad payload, missing scope, unknown channel).
    Rejected,
    /// The destination no longer exists (archived channel, removed webhook, revoked token).
    Gone,
    /// Throttled; retry after the indicated wait.
    RateLimited,
    /// Slack-side trouble; retry later.
    Unavailable,
}

/// Classifies a Web API `error` or incoming-webhook error code.
pub fn classify(code: &str) -> ErrorClass {
    match code {
        "ratelimited" | "rate_limited" => ErrorClass::RateLimited,
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "rollup_error"
        | "http_5xx" => ErrorClass::Unavailable,
        "channel_is_archived"
        | "is_archived"
        | "no_service"
        | "team_disabled"
        | "account_inactive"
        | "token_revoked"
        | "invalid_token"
        | "app_uninstalled" => ErrorClass::Gone,
        _ => ErrorClass::Rejected,
    }
}

/// What went wrong talking to Slack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlackError {
    /// The channel configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// A destination URL is unusable.
    #[error("invalid Slack destination: {0}")]
    Destination(#[from] DestinationError),
    /// The message does not fit Block Kit's structure.
    #[error(transparent)]
    BlockKit(#[from] BlockKitError),
    /// The Web API answered `{"ok": false, "error": code}`.
    #[error("Slack API error: {code}")]
    Api {
        /// Slack's error code (`channel_not_found`, `not_in_channel`, `invalid_auth`, …).
        code: String,
        /// Slack's `Retry-After`, for `ratelimited`.
        retry_after: Option<Duration>,
    },
    /// An incoming webhook refused the message.
    #[error("Slack webhook refused the message (HTTP {status}): {code}")]
    Webhook {
        /// The HTTP status.
        status: u16,
        /// The error text Slack returned (`invalid_payload`, `channel_is_archived`, …).
        code: String,
        /// Slack's `Retry-After`, for 429.
        retry_after: Option<Duration>,
    },
    /// A callback token could not be minted.
    #[error("could not mint a callback token: {0}")]
    Token(#[from] aisoc_notify_core::token::TokenError),
    /// The HTTP exchange failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// Slack answered something that is not its documented response.
    #[error("unexpected response from Slack: {0}")]
    InvalidResponse(String),
}

impl SlackError {
    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { code, .. } | SlackError::Webhook { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SlackError::Api { code, .. } | SlackError::Webhook { code, .. } => {
                matches!(
                    classify(code),
                    ErrorClass::RateLimited | ErrorClass::Unavailable
                )
            }
            SlackError::Delivery(err) => err.is_retryable(),
            _ => false,
        }
    }

    /// Converts into the core error, naming the service (`slack` or `mattermost`).
    pub fn into_notify_error(self, service: &'static str) -> NotifyError {
        let (code, retry_after, message) = match self {
            SlackError::Api { code, retry_after } => {
                let message = format!("Web API error {code}");
                (code, retry_after, message)
            }
            SlackError::Webhook {
                status,
                code,
                retry_after,
            } => {
                let message = format!("incoming webhook answered HTTP {status}");
                (code, retry_after, message)
            }
            SlackError::Config(message) => return NotifyError::Config(message),
            SlackError::Destination(err) => return NotifyError::Config(err.to_string()),
            SlackError::BlockKit(err) => return NotifyError::Render(err.to_string()),
            SlackError::Token(err) => return NotifyError::Render(err.to_string()),
            SlackError::Delivery(err) => return NotifyError::Delivery(err),
            SlackError::InvalidResponse(reason) => {
                return NotifyError::Unavailable {
                    service,
                    code: "invalid_response".into(),
                    message: reason,
                };
            }
        };
        match classify(&code) {
            ErrorClass::RateLimited => NotifyError::RateLimited {
                service,
                retry_after,
            },
            ErrorClass::Unavailable => NotifyError::Unavailable {
                service,
                code,
                message,
            },
            ErrorClass::Gone => NotifyError::Gone { service, code },
            ErrorClass::Rejected => NotifyError::Rejected {
                service,
                code,
                message,
            },
        }
    }
}

impl From<SlackError> for NotifyError {
    fn from(err: SlackError) -> Self {
        err.into_notify_error("slack")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_core_classification() {
        let cases = [
            ("channel_not_found", false, "rejected"),
            ("not_in_channel", false, "rejected"),
            ("invalid_auth", false, "rejected"),
            ("ratelimited", true, "limited"),
            ("internal_error", true, "unavailable"),
            ("channel_is_archived", false, "gone"),
            ("no_service", false, "gone"),
        ];
        for (code, retryable, kind) in cases {
            let err = SlackError::Api {
                code: code.into(),
                retry_after: None,
            };
            assert_eq!(err.is_retryable(), retryable, "{code}");
            let mapped = err.into_notify_error("slack");
            let actual = match mapped {
                NotifyError::Rejected { .. } => "rejected",
                NotifyError::RateLimited { .. } => "limited",
                NotifyError::Unavailable { .. } => "unavailable",
                NotifyError::Gone { .. } => "gone",
                other => panic!("{other:?}"),
            };
            assert_eq!(actual, kind, "{code}");
        }
    }
}
