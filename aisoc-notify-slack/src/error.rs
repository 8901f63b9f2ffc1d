//! Slack's and Mattermost's errors, typed, and how they map to the core's [`RetryClass`].
//!
//! Slack says what went wrong with a short code: the Web API in `{"ok": false, "error": code}`
//! (usually with HTTP 200), incoming webhooks as the plain-text body (`invalid_payload`,
//! `channel_is_archived`, …); Mattermost as the `id` of a JSON error. A code this crate
//! recognises decides the class; any other answer is classified by its HTTP status
//! ([`RetryClass::for_status`]), so a webhook 404 is `Gone` and a Web API `ok: false` with an
//! unknown code (HTTP 200) is `NonRetryable`.
//!
//! | Slack code | class |
//! |---|---|
//! | `ratelimited`, `rate_limited`, `message_limit_exceeded` | `Throttled` for the `Retry-After` (else `Retryable`) |
//! | `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`, `rollup_error`, `team_added_to_org` | `Retryable` |
//! | `channel_is_archived`, `is_archived`, `no_service`, `no_team`, `team_disabled`, `account_inactive`, `token_revoked`, `token_expired`, `invalid_token`, `app_uninstalled` | `Gone` |
//! | anything else (`channel_not_found`, `invalid_auth`, `invalid_payload`, …) | by HTTP status |
//!
//! | Mattermost `id` | class |
//! |---|---|
//! | `web.incoming_webhook.invalid.app_error` | `Gone` |
//! | `web.incoming_webhook.disabled.app_error` | `NonRetryable` (the server switched webhooks off) |
//! | anything else | by HTTP status |
//!
//! Errors carry the code and the status, never the peer's body: a webhook's answer could be
//! anything, and error messages end up in API responses and logs.

use std::time::Duration;

use aisoc_notify_core::ConfigError;
use aisoc_notify_core::action::ActionError;
use aisoc_notify_core::delivery::DeliveryError;
use aisoc_notify_core::notifier::NotifyError;
use aisoc_notify_core::retry::RetryClass;

use crate::blocks::BlockKitError;

/// The class Slack's error `code` implies, when it is a code this crate recognises;
/// `retry_after` is the answer's `Retry-After`, for the throttling codes.
///
/// ```
/// use aisoc_notify_core::RetryClass;
/// use aisoc_notify_slack::error::slack_code_class;
///
/// assert_eq!(slack_code_class("channel_is_archived", None), Some(RetryClass::Gone));
/// assert_eq!(slack_code_class("internal_error", None), Some(RetryClass::Retryable));
/// assert_eq!(slack_code_class("channel_not_found", None), None);
/// ```
pub fn slack_code_class(code: &str, retry_after: Option<Duration>) -> Option<RetryClass> {
    match code {
        code if is_rate_limit(code) => Some(RetryClass::throttled(retry_after)),
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "rollup_error"
        | "team_added_to_org" => Some(RetryClass::Retryable),
        "channel_is_archived"
        | "is_archived"
        | "no_service"
        | "no_team"
        | "team_disabled"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "invalid_token"
        | "app_uninstalled" => Some(RetryClass::Gone),
        _ => None,
    }
}

fn is_rate_limit(code: &str) -> bool {
    matches!(
        code,
        "ratelimited" | "rate_limited" | "message_limit_exceeded"
    )
}

/// The class a Mattermost error `id` implies, when this crate recognises it.
pub fn mattermost_code_class(id: &str) -> Option<RetryClass> {
    match id {
        "web.incoming_webhook.invalid.app_error" => Some(RetryClass::Gone),
        "web.incoming_webhook.disabled.app_error" => Some(RetryClass::NonRetryable),
        _ => None,
    }
}

/// `text` when it has the shape of a short vendor code (`channel_not_found`,
/// `web.incoming_webhook.invalid.app_error`), so nothing else a peer says reaches an error.
pub(crate) fn short_code(text: &str) -> Option<String> {
    let text = text.trim();
    let shaped = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    shaped.then(|| text.to_owned())
}

fn code_or_status(code: &Option<String>, status: &u16) -> String {
    match code {
        Some(code) => format!("{code}, HTTP {status}"),
        None => format!("HTTP {status}"),
    }
}

/// What went wrong talking to Slack or Mattermost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlackError {
    /// A Slack channel configuration names no destination.
    #[error("{}", crate::config::MISSING_DESTINATION)]
    MissingDestination,
    /// A setting is missing or unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The message does not fit Block Kit's structure.
    #[error(transparent)]
    BlockKit(#[from] BlockKitError),
    /// The message could not be encoded into a request.
    #[error("could not encode the request: {0}")]
    Encode(String),
    /// The Web API refused the call: `{"ok": false, "error": code}`, or a status that is not
    /// a success.
    #[error("Slack API error ({})", code_or_status(.code, .status))]
    Api {
        /// Slack's error code (`channel_not_found`, `not_in_channel`, `invalid_auth`, …), when
        /// it gave one.
        code: Option<String>,
        /// The HTTP status.
        status: u16,
        /// Slack's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// An incoming webhook refused the message.
    #[error("Slack webhook refused the message ({})", code_or_status(.code, .status))]
    Webhook {
        /// The error code Slack answered with (`invalid_payload`, `channel_is_archived`, …),
        /// when the body was one.
        code: Option<String>,
        /// The HTTP status.
        status: u16,
        /// Slack's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A Mattermost incoming webhook refused the message.
    #[error("Mattermost webhook refused the message ({})", code_or_status(.code, .status))]
    Mattermost {
        /// The `id` of Mattermost's JSON error, when it sent one.
        code: Option<String>,
        /// The HTTP status.
        status: u16,
        /// Mattermost's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A callback token could not be minted.
    #[error("could not mint a callback token: {0}")]
    Token(#[from] aisoc_notify_core::token::TokenError),
    /// The HTTP exchange failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// Slack answered a success that is not its documented response.
    #[error("unexpected response from Slack: {0}")]
    InvalidResponse(&'static str),
}

impl SlackError {
    /// The vendor's error code, when it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { code, .. }
            | SlackError::Webhook { code, .. }
            | SlackError::Mattermost { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether, and when, trying again can succeed: the vendor's code when this crate
    /// recognises it, otherwise the HTTP status.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            SlackError::Api {
                code,
                status,
                retry_after,
            }
            | SlackError::Webhook {
                code,
                status,
                retry_after,
            } => code
                .as_deref()
                .and_then(|code| slack_code_class(code, *retry_after))
                .unwrap_or_else(|| RetryClass::for_status(*status, *retry_after)),
            SlackError::Mattermost {
                code,
                status,
                retry_after,
            } => code
                .as_deref()
                .and_then(mattermost_code_class)
                .unwrap_or_else(|| RetryClass::for_status(*status, *retry_after)),
            SlackError::Delivery(err) => err.retry_class(),
            SlackError::MissingDestination
            | SlackError::Config(_)
            | SlackError::BlockKit(_)
            | SlackError::Encode(_)
            | SlackError::Token(_)
            | SlackError::InvalidResponse(_) => RetryClass::NonRetryable,
        }
    }

    /// Whether trying again later can succeed; shorthand for
    /// `self.retry_class().is_retryable()`.
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }

    /// Converts into the core error, naming the service (`slack` or `mattermost`); its
    /// [`retry_class`](NotifyError::retry_class) is this error's.
    pub fn into_notify_error(self, service: &'static str) -> NotifyError {
        let class = self.retry_class();
        let (code, status, what) = match self {
            SlackError::Api { code, status, .. } => (code, status, "Web API call"),
            SlackError::Webhook { code, status, .. } => (code, status, "incoming webhook"),
            SlackError::Mattermost { code, status, .. } => (code, status, "incoming webhook"),
            SlackError::MissingDestination => {
                return NotifyError::Config(ConfigError::new("webhook_url", self));
            }
            SlackError::Config(config) => return NotifyError::Config(config),
            SlackError::BlockKit(_) | SlackError::Encode(_) | SlackError::Token(_) => {
                return NotifyError::Render(self.to_string());
            }
            SlackError::InvalidResponse(reason) => {
                return NotifyError::refused(service, class, "invalid_response", reason);
            }
            SlackError::Delivery(err) => return NotifyError::Delivery(err),
        };
        let throttling = status == 429 || code.as_deref().is_some_and(is_rate_limit);
        if throttling && class == RetryClass::Retryable {
            return NotifyError::RateLimited {
                service,
                retry_after: None,
            };
        }
        let message = format!("{what} answered HTTP {status}");
        let code = code.unwrap_or_else(|| format!("http_{status}"));
        NotifyError::refused(service, class, code, message)
    }
}

impl From<SlackError> for NotifyError {
    fn from(err: SlackError) -> Self {
        err.into_notify_error("slack")
    }
}

impl From<SlackError> for ActionError {
    fn from(err: SlackError) -> Self {
        match err {
            SlackError::Config(err) => ActionError::Config(err),
            SlackError::Delivery(err) => ActionError::Delivery(err),
            other => ActionError::Notify(other.into_notify_error("slack")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> SlackError {
        SlackError::Api {
            code: Some(code.into()),
            status,
            retry_after: None,
        }
    }

    #[test]
    fn recognised_codes_decide_the_class_and_others_fall_back_to_the_status() {
        let wait = Some(Duration::from_secs(7));
        let cases = [
            (api("channel_not_found", 200), RetryClass::NonRetryable),
            (api("invalid_auth", 200), RetryClass::NonRetryable),
            (api("is_archived", 200), RetryClass::Gone),
            (api("token_revoked", 200), RetryClass::Gone),
            (api("internal_error", 200), RetryClass::Retryable),
            (
                SlackError::Api {
                    code: Some("ratelimited".into()),
                    status: 429,
                    retry_after: wait,
                },
                RetryClass::Throttled(Duration::from_secs(7)),
            ),
            (
                SlackError::Webhook {
                    code: Some("channel_not_found".into()),
                    status: 404,
                    retry_after: None,
                },
                RetryClass::Gone,
            ),
            (
                SlackError::Webhook {
                    code: Some("rollup_error".into()),
                    status: 500,
                    retry_after: None,
                },
                RetryClass::Retryable,
            ),
            (
                SlackError::Webhook {
                    code: None,
                    status: 413,
                    retry_after: None,
                },
                RetryClass::NonRetryable,
            ),
            (
                SlackError::Mattermost {
                    code: Some("web.incoming_webhook.disabled.app_error".into()),
                    status: 501,
                    retry_after: None,
                },
                RetryClass::NonRetryable,
            ),
            (
                SlackError::Mattermost {
                    code: None,
                    status: 410,
                    retry_after: None,
                },
                RetryClass::Gone,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(error.retry_class(), class, "{error}");
            let shown = error.to_string();
            let mapped = error.into_notify_error("slack");
            assert_eq!(mapped.retry_class(), class, "{shown} became {mapped:?}");
        }
    }

    #[test]
    fn a_rate_limit_without_a_wait_is_still_reported_as_rate_limiting() {
        let error = SlackError::Webhook {
            code: None,
            status: 429,
            retry_after: None,
        };
        let mapped = error.into_notify_error("slack");
        assert!(
            matches!(
                mapped,
                NotifyError::RateLimited {
                    retry_after: None,
                    ..
                }
            ),
            "{mapped:?}"
        );
        assert_eq!(mapped.retry_class(), RetryClass::Retryable);
    }

    #[test]
    fn only_code_shaped_text_is_taken_as_a_code() {
        assert_eq!(
            short_code(" invalid_payload\n").as_deref(),
            Some("invalid_payload")
        );
        assert_eq!(
            short_code("web.incoming_webhook.invalid.app_error").as_deref(),
            Some("web.incoming_webhook.invalid.app_error")
        );
        for text in ["", "<html>oops</html>", "Invalid payload", &"a".repeat(65)] {
            assert_eq!(short_code(text), None, "{text}");
        }
    }
}
