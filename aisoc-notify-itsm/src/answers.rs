//! Vendor answers as typed errors: the HTTP status picks the retry class, the vendor's short
//! JSON error messages say what to fix, and nothing else of the body is ever shown.
//!
//! | answer | [`RetryClass`](aisoc_notify_core::RetryClass) |
//! |---|---|
//! | 400, 422 and other 4xx (the vendor's field errors in the message) | `NonRetryable` |
//! | 401, 403 (a sentence about credentials or permissions) | `NonRetryable` |
//! | 404, 410 | `Gone` |
//! | 429 (`Retry-After` kept) | `Throttled` |
//! | 408, 5xx, timeouts, connect errors | `Retryable` |
//!
//! A body that is not JSON (an HTML error page from a proxy, a load balancer's text) is never
//! quoted: the status alone speaks.

use aisoc_notify_core::ActionError;
use aisoc_notify_core::delivery::{DeliveryError, HttpResponse};
use serde_json::Value;

/// The most characters of one vendor message shown, and of all of them together.
const MESSAGE_CHARS: usize = 200;
const DETAIL_CHARS: usize = 500;

/// What to tell the operator when a vendor refuses the credentials or the permission.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hints {
    /// For 401.
    pub(crate) unauthorized: &'static str,
    /// For 403.
    pub(crate) forbidden: &'static str,
}

/// The typed error for a vendor's answer that is not a success; `details` are the vendor's
/// short error messages read from its JSON error body (empty when it sent none).
pub(crate) fn refusal(
    service: &str,
    response: &HttpResponse,
    details: &[String],
    hints: Hints,
) -> ActionError {
    let detail = joined(details);
    let status = response.status.as_u16();
    let message = match (status, detail.is_empty()) {
        (401, true) => hints.unauthorized.to_owned(),
        (401, false) => format!("{}: {detail}", hints.unauthorized),
        (403, true) => hints.forbidden.to_owned(),
        (403, false) => format!("{}: {detail}", hints.forbidden),
        (_, true) => "no details given".to_owned(),
        (_, false) => detail,
    };
    ActionError::from_status(service, status, response.retry_after, message)
}

/// The vendor's error body as JSON, when it is JSON.
pub(crate) fn error_body(response: &HttpResponse) -> Value {
    response.json().unwrap_or(Value::Null)
}

/// The strings of a JSON array (`["'routing_key' is invalid"]`).
pub(crate) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The `field: message` pairs of a JSON object (`{"project": "valid project is required"}`).
pub(crate) fn field_messages(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|(field, message)| Some(format!("{field}: {}", message.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A string field of a JSON answer, when present and not blank.
pub(crate) fn text(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn joined(details: &[String]) -> String {
    let mut out = String::new();
    for detail in details.iter().map(|d| d.trim()).filter(|d| !d.is_empty()) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.extend(detail.chars().take(MESSAGE_CHARS));
    }
    if out.chars().count() > DETAIL_CHARS {
        out = out.chars().take(DETAIL_CHARS).collect::<String>() + "…";
    }
    out
}

/// A 2xx answer the executor cannot read (not JSON, or without the field it needs).
pub(crate) fn unreadable(response: &HttpResponse, what: &str) -> ActionError {
    ActionError::Delivery(DeliveryError::InvalidResponse {
        host: response.host().to_owned(),
        reason: what.to_owned(),
    })
}

/// A request built from `builder`; a failure names the host only, never the URL.
pub(crate) fn build(
    builder: reqwest::RequestBuilder,
    host: &str,
) -> Result<reqwest::Request, ActionError> {
    builder.build().map_err(|e| {
        ActionError::Delivery(DeliveryError::Request {
            host: host.to_owned(),
            reason: e.without_url().to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_messages_are_cut_to_a_short_summary() {
        let long = "x".repeat(1000);
        let summary = joined(&[long.clone(), long.clone(), long]);
        assert_eq!(summary.chars().count(), DETAIL_CHARS + 1);
        assert_eq!(joined(&[" a ".into(), String::new(), "b".into()]), "a; b");
    }
}
