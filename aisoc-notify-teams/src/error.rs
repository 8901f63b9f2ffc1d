//! How Teams webhook responses map to the core's typed errors.
//!
//! Workflows webhooks answer 202 (sometimes 200) on success and JSON errors otherwise. Legacy
//! connector webhooks answer `1` on success and, notoriously, sometimes HTTP 200 with an error
//! text such as `Microsoft Teams endpoint returned HTTP error 429 …`; that text is read, not
//! trusted as success.

use aisoc_notify_core::delivery::HttpResponse;
use aisoc_notify_core::{Delivered, NotifyError};
use serde_json::Value;

use crate::webhook::{MAX_PAYLOAD_BYTES, WebhookFormat};

const SERVICE: &str = "teams";

fn error_message(response: &HttpResponse) -> String {
    let body: Value = response.json().unwrap_or(Value::Null);
    body["error"]["message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| response.text().trim().chars().take(300).collect())
}

fn embedded_status(text: &str) -> Option<u16> {
    let rest = &text[text.find("HTTP error ")? + "HTTP error ".len()..];
    rest.get(..3)?.parse().ok()
}

fn by_status(
    status: u16,
    code: String,
    message: String,
    response: &HttpResponse,
    size: usize,
) -> NotifyError {
    match status {
        413 => NotifyError::PayloadTooLarge {
            size,
            max: MAX_PAYLOAD_BYTES,
        },
        429 => NotifyError::RateLimited {
            service: SERVICE,
            retry_after: response.retry_after,
        },
        404 | 410 => NotifyError::Gone {
            service: SERVICE,
            code,
        },
        500..=599 => NotifyError::Unavailable {
            service: SERVICE,
            code,
            message,
        },
        _ => NotifyError::Rejected {
            service: SERVICE,
            code,
            message,
        },
    }
}

/// Maps a webhook response; `size` is the payload size, for the too-large error.
pub(crate) fn webhook_result(
    format: WebhookFormat,
    response: &HttpResponse,
    size: usize,
) -> Result<Delivered, NotifyError> {
    let status = response.status.as_u16();
    let delivered = || Delivered::default().attempts(response.attempts);
    match format {
        WebhookFormat::Connector if status == 200 => {
            let text = response.text();
            if text.trim() == "1" {
                return Ok(delivered());
            }
            let message = text.trim().chars().take(300).collect::<String>();
            let embedded = embedded_status(&message).unwrap_or(400);
            Err(by_status(
                embedded,
                format!("connector_http_{embedded}"),
                message,
                response,
                size,
            ))
        }
        _ if response.is_success() => Ok(delivered()),
        _ => {
            let message = error_message(response);
            let body: Value = response.json().unwrap_or(Value::Null);
            let code = body["error"]["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("http_{status}"));
            Err(by_status(status, code, message, response, size))
        }
    }
}
