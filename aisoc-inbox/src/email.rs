//! E-mail relay shapes, normalised for the `email-forwarded` template.
//!
//! Relays that turn mail into a JSON POST each have their own shape. This module recognises
//! them and produces one canonical object: `from`, `to` (a list), `subject`, `text`,
//! `message_id`, `date` and `files` (OCSF file objects: `name`, `mime_type`, `size`,
//! `type_id`), plus `relay` naming the shape.
//!
//! - **Postmark** inbound webhooks (`FromFull`, `ToFull`, `TextBody`, `Attachments`).
//! - **Amazon SES** receipt notifications (`mail.commonHeaders`), bare or wrapped in an SNS
//!   `Notification` whose `Message` is the JSON; with the `content` action the plain-text part
//!   of a single-part message is read.
//! - **SendGrid Inbound Parse** fields (`from`, `to`, `subject`, `text`, `attachment-info`) posted
//!   as JSON.
//! - Already canonical objects pass through.

use serde_json::{Map, Value, json};

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The bare address of `Name <user@example.com>` (OCSF e-mail fields hold addresses only).
pub fn bare_address(text: &str) -> String {
    let text = text.trim();
    match (text.rfind('<'), text.rfind('>')) {
        (Some(start), Some(end)) if start < end => text[start + 1..end].trim().to_owned(),
        _ => text.trim_matches('"').to_owned(),
    }
}

fn split_addresses(text: &str) -> Vec<Value> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(bare_address(s)))
        .collect()
}

fn file(name: &str, mime: Option<&str>, size: Option<u64>) -> Value {
    let mut file = json!({"name": name, "type_id": 1});
    if let Some(mime) = mime {
        file["mime_type"] = json!(mime);
    }
    if let Some(size) = size {
        file["size"] = json!(size);
    }
    file
}

fn canonical(
    relay: &str,
    from: Option<&str>,
    to: Vec<Value>,
    subject: Option<&str>,
    text: Option<&str>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("relay".into(), json!(relay));
    if let Some(from) = from {
        out.insert("from".into(), json!(bare_address(from)));
    }
    if !to.is_empty() {
        out.insert("to".into(), Value::Array(to));
    }
    out.insert("subject".into(), json!(subject.unwrap_or("(no subject)")));
    if let Some(text) = text {
        out.insert("text".into(), json!(text));
    }
    out
}

fn postmark(payload: &Value) -> Value {
    let to = match payload.get("ToFull").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(|t| t.get("Email").cloned())
            .collect(),
        None => str_field(payload, "To")
            .map(split_addresses)
            .unwrap_or_default(),
    };
    let from = payload
        .pointer("/FromFull/Email")
        .and_then(Value::as_str)
        .or_else(|| str_field(payload, "From"));
    let mut out = canonical(
        "postmark",
        from,
        to,
        str_field(payload, "Subject"),
        str_field(payload, "TextBody"),
    );
    if let Some(id) = str_field(payload, "MessageID") {
        out.insert("message_id".into(), json!(id));
    }
    if let Some(date) = str_field(payload, "Date").and_then(rfc2822_to_rfc3339) {
        out.insert("date".into(), json!(date));
    }
    let files: Vec<Value> = payload
        .get("Attachments")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    let name = str_field(a, "Name")?;
                    Some(file(
                        name,
                        str_field(a, "ContentType"),
                        a.get("ContentLength").and_then(Value::as_u64),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if !files.is_empty() {
        out.insert("files".into(), Value::Array(files));
    }
    Value::Object(out)
}

fn rfc2822_to_rfc3339(date: &str) -> Option<String> {
    let date = date.trim();
    if let Ok(parsed) = chrono::DateTime::parse_from_rfc2822(date) {
        return Some(parsed.to_rfc3339());
    }
    // Postmark writes the offset with a colon (`-04:00`), which RFC 2822 does not allow.
    let (rest, offset) = date.rsplit_once(' ')?;
    let fixed = format!("{rest} {}", offset.replacen(':', "", 1));
    chrono::DateTime::parse_from_rfc2822(&fixed)
        .ok()
        .map(|d| d.to_rfc3339())
}

fn ses(notification: &Value) -> Value {
    let headers = &notification["mail"]["commonHeaders"];
    let from = headers
        .get("from")
        .and_then(Value::as_array)
        .and_then(|f| f.first())
        .and_then(Value::as_str);
    let to: Vec<Value> = headers
        .get("to")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(|a| Value::String(bare_address(a)))
                .collect()
        })
        .unwrap_or_default();
    let text = notification
        .get("content")
        .and_then(Value::as_str)
        .and_then(single_part_text);
    let mut out = canonical(
        "ses",
        from,
        to,
        headers.get("subject").and_then(Value::as_str),
        text.as_deref(),
    );
    if let Some(id) = headers
        .get("messageId")
        .and_then(Value::as_str)
        .or_else(|| notification["mail"]["messageId"].as_str())
    {
        out.insert("message_id".into(), json!(id));
    }
    if let Some(date) = notification["mail"]["timestamp"].as_str() {
        out.insert("date".into(), json!(date));
    }
    Value::Object(out)
}

/// The body of a single-part `text/plain` MIME message; `None` for multipart mail.
fn single_part_text(raw: &str) -> Option<String> {
    let (headers, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))?;
    let headers = headers.to_ascii_lowercase();
    if headers.contains("content-type: multipart")
        || headers.contains("content-transfer-encoding: base64")
    {
        return None;
    }
    Some(body.trim().to_owned())
}

fn sendgrid(payload: &Value) -> Value {
    let mut out = canonical(
        "sendgrid",
        str_field(payload, "from"),
        str_field(payload, "to")
            .map(split_addresses)
            .unwrap_or_default(),
        str_field(payload, "subject"),
        str_field(payload, "text"),
    );
    // `attachment-info` is itself JSON text: {"attachment1": {"filename": …, "type": …}}.
    let info: Option<Value> = match payload.get("attachment-info") {
        Some(Value::String(text)) => serde_json::from_str(text).ok(),
        Some(other) => Some(other.clone()),
        None => None,
    };
    if let Some(Value::Object(attachments)) = info {
        let files: Vec<Value> = attachments
            .values()
            .filter_map(|a| {
                Some(file(
                    str_field(a, "filename").or_else(|| str_field(a, "name"))?,
                    str_field(a, "type"),
                    None,
                ))
            })
            .collect();
        if !files.is_empty() {
            out.insert("files".into(), Value::Array(files));
        }
    }
    Value::Object(out)
}

/// Normalises one relayed e-mail. Unknown shapes pass through unchanged (the template keeps
/// their fields under `unmapped`).
pub fn normalize(payload: &Value) -> Value {
    if payload.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(message) = payload.get("Message").and_then(Value::as_str)
        && let Ok(inner) = serde_json::from_str::<Value>(message)
    {
        return normalize(&inner);
    }
    if payload.get("FromFull").is_some() || payload.get("TextBody").is_some() {
        return postmark(payload);
    }
    if payload.pointer("/mail/commonHeaders").is_some() {
        return ses(payload);
    }
    if payload.get("attachment-info").is_some()
        || (payload.get("envelope").is_some() && payload.get("from").is_some())
    {
        return sendgrid(payload);
    }
    payload.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postmark_dates_with_a_colon_in_the_offset_parse() {
        assert_eq!(
            rfc2822_to_rfc3339("Fri, 1 Aug 2014 16:45:32 -04:00").as_deref(),
            Some("2014-08-01T16:45:32-04:00")
        );
        assert_eq!(
            bare_address("Vendor Alerts <alerts@vendor.example>"),
            "alerts@vendor.example"
        );
    }
}
