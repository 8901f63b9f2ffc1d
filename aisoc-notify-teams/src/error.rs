//! Teams' errors, typed, and how webhook answers map to the core's [`RetryClass`].
//!
//! Workflows webhooks answer 202 (sometimes 200) on success and a JSON error otherwise
//! (`{"error": {"code": "WorkflowNotFound", "message": …}}`). Legacy connector webhooks answer
//! `1` on success and, notoriously, HTTP 200 with an error text when Teams itself refused the
//! message (`Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP
//! error 429 with ContextId …`): the connector acknowledges first and delivers later, so the
//! real status rides in the text. That text is read, never trusted as success.
//!
//! | answer | class |
//! |---|---|
//! | Workflows code `WorkflowNotFound`, `WorkflowTriggerNotFound` | `Gone` |
//! | connector 200 with `HTTP error 429` in the text | `Throttled` when a `Retry-After` came, else `Retryable` |
//! | connector 200 with `HTTP error 404` / `410` | `Gone` |
//! | connector 200 with `HTTP error 413` | too large (`NonRetryable`) |
//! | connector 200 with `HTTP error 5xx` | `Retryable` |
//! | connector 200 with another 4xx, or any other text but `1` | `NonRetryable` |
//! | any other status | by HTTP status ([`RetryClass::for_status`]); 413 is too large |
//!
//! Errors carry Teams' short code and the status, never the text of the answer.

use std::time::Duration;

use aisoc_notify_core::action::ActionError;
use aisoc_notify_core::delivery::{DeliveryError, HttpResponse};
use aisoc_notify_core::retry::RetryClass;
use aisoc_notify_core::{ConfigError, Delivered, NotifyError};
use serde_json::Value;

use crate::webhook::{MAX_PAYLOAD_BYTES, WebhookFormat};

const SERVICE: &str = "teams";

/// What went wrong delivering to Teams.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TeamsError {
    /// A Teams channel was configured without a webhook URL.
    #[error("A webhook_url is required for Teams channels")]
    MissingWebhookUrl,
    /// A setting is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The payload could not be encoded into a request.
    #[error("could not encode the request: {0}")]
    Encode(String),
    /// The payload is larger than Teams accepts (refused before sending, or by Teams).
    #[error("payload of {size} bytes exceeds Teams' limit of {max} bytes")]
    PayloadTooLarge {
        /// The payload size.
        size: usize,
        /// Teams' limit.
        max: usize,
    },
    /// The webhook refused the message.
    #[error("Teams webhook refused the message ({code}, Teams reported HTTP {status})")]
    Refused {
        /// Teams' short code (`WorkflowNotFound`, `InvalidRequestContent`), or `http_<status>`;
        /// `connector_http_<status>` for a connector's 200 with an error text.
        code: String,
        /// The status: the HTTP status, or the one a connector's error text names.
        status: u16,
        /// The `Retry-After`, when one came.
        retry_after: Option<Duration>,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

impl TeamsError {
    /// Teams' short code, when the webhook refused the message.
    pub fn code(&self) -> Option<&str> {
        match self {
            TeamsError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether, and when, trying again can succeed: Teams' code when this crate recognises
    /// it, otherwise the status.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            TeamsError::Refused {
                code,
                status,
                retry_after,
            } => workflows_code_class(code)
                .unwrap_or_else(|| RetryClass::for_status(*status, *retry_after)),
            TeamsError::Delivery(err) => err.retry_class(),
            TeamsError::MissingWebhookUrl
            | TeamsError::Config(_)
            | TeamsError::Encode(_)
            | TeamsError::PayloadTooLarge { .. } => RetryClass::NonRetryable,
        }
    }

    /// Whether trying again later can succeed; shorthand for
    /// `self.retry_class().is_retryable()`.
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }
}

/// The class a Workflows error code implies, when this crate recognises it.
pub fn workflows_code_class(code: &str) -> Option<RetryClass> {
    match code {
        "WorkflowNotFound" | "WorkflowTriggerNotFound" => Some(RetryClass::Gone),
        _ => None,
    }
}

impl From<TeamsError> for NotifyError {
    fn from(err: TeamsError) -> Self {
        let class = err.retry_class();
        match err {
            TeamsError::Refused { status: 429, .. } if class == RetryClass::Retryable => {
                NotifyError::RateLimited {
                    service: SERVICE,
                    retry_after: None,
                }
            }
            TeamsError::Refused { code, status, .. } => NotifyError::refused(
                SERVICE,
                class,
                code,
                format!("Teams reported HTTP {status}"),
            ),
            TeamsError::PayloadTooLarge { size, max } => NotifyError::PayloadTooLarge { size, max },
            TeamsError::Delivery(err) => NotifyError::Delivery(err),
            TeamsError::Encode(reason) => NotifyError::Render(reason),
            TeamsError::MissingWebhookUrl => NotifyError::Config(ConfigError::new(
                "webhook_url",
                TeamsError::MissingWebhookUrl,
            )),
            TeamsError::Config(config) => NotifyError::Config(config),
        }
    }
}

impl From<TeamsError> for ActionError {
    fn from(err: TeamsError) -> Self {
        match err {
            TeamsError::Config(err) => ActionError::Config(err),
            TeamsError::Delivery(err) => ActionError::Delivery(err),
            other => ActionError::Notify(other.into()),
        }
    }
}

/// `text` when it has the shape of a short vendor code (`WorkflowNotFound`,
/// `InvalidRequestContent`).
pub(crate) fn short_code(text: &str) -> Option<String> {
    let shaped = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    shaped.then(|| text.to_owned())
}

/// The status a connector's error text names (`… returned HTTP error 429 with …`).
fn embedded_status(text: &str) -> Option<u16> {
    let rest = &text[text.find("HTTP error ")? + "HTTP error ".len()..];
    rest.get(..3)?
        .parse()
        .ok()
        .filter(|status| (400..=599).contains(status))
}

/// Maps a webhook response; `size` is the payload size, for the too-large error.
pub(crate) fn webhook_result(
    format: WebhookFormat,
    response: &HttpResponse,
    size: usize,
) -> Result<Delivered, TeamsError> {
    let http_status = response.status.as_u16();
    let too_large = TeamsError::PayloadTooLarge {
        size,
        max: MAX_PAYLOAD_BYTES,
    };
    match format {
        WebhookFormat::Connector if http_status == 200 => {
            let text = response.text();
            if text.trim() == "1" {
                return Ok(Delivered::default().attempts(response.attempts));
            }
            let status = embedded_status(&text).unwrap_or(400);
            if status == 413 {
                return Err(too_large);
            }
            Err(TeamsError::Refused {
                code: format!("connector_http_{status}"),
                status,
                retry_after: response.retry_after,
            })
        }
        _ if response.is_success() => Ok(Delivered::default().attempts(response.attempts)),
        _ if http_status == 413 => Err(too_large),
        _ => {
            let body: Value = response.json().unwrap_or(Value::Null);
            let code = body["error"]["code"]
                .as_str()
                .and_then(short_code)
                .unwrap_or_else(|| format!("http_{http_status}"));
            Err(TeamsError::Refused {
                code,
                status: http_status,
                retry_after: response.retry_after,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str, status: u16) -> TeamsError {
        TeamsError::Refused {
            code: code.into(),
            status,
            retry_after: None,
        }
    }

    #[test]
    fn codes_and_statuses_map_to_one_class_and_the_core_error_agrees() {
        let cases = [
            (refused("WorkflowNotFound", 400), RetryClass::Gone),
            (
                refused("InvalidRequestContent", 400),
                RetryClass::NonRetryable,
            ),
            (refused("http_410", 410), RetryClass::Gone),
            (refused("connector_http_429", 429), RetryClass::Retryable),
            (refused("connector_http_503", 503), RetryClass::Retryable),
            (refused("connector_http_400", 400), RetryClass::NonRetryable),
            (
                TeamsError::Refused {
                    code: "http_429".into(),
                    status: 429,
                    retry_after: Some(Duration::from_secs(9)),
                },
                RetryClass::Throttled(Duration::from_secs(9)),
            ),
            (
                TeamsError::PayloadTooLarge {
                    size: 30_000,
                    max: MAX_PAYLOAD_BYTES,
                },
                RetryClass::NonRetryable,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(error.retry_class(), class, "{error}");
            let shown = error.to_string();
            let mapped = NotifyError::from(error);
            assert_eq!(mapped.retry_class(), class, "{shown} became {mapped:?}");
        }
    }

    #[test]
    fn only_a_status_in_the_error_range_is_read_from_a_connector_text() {
        let text = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0";
        assert_eq!(embedded_status(text), Some(429));
        assert_eq!(embedded_status("HTTP error 200 with"), None);
        assert_eq!(embedded_status("Summary or Text is required."), None);
        assert_eq!(short_code("<html>"), None);
        assert_eq!(
            short_code("WorkflowNotFound").as_deref(),
            Some("WorkflowNotFound")
        );
    }
}
