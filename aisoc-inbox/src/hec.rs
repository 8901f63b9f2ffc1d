//! Splunk HTTP Event Collector compatibility.
//!
//! HEC clients send event objects concatenated, with or without whitespace between them:
//! `{"event": …}{"event": …}`. Each has `event` (a string or an object) and optional `time`
//! (number or string), `host`, `source`, `sourcetype`, `index` and `fields`. Errors are
//! Splunk's own bodies and codes, including `invalid-event-number` (zero-based) for the first
//! bad event, so unmodified HEC clients understand them.
//!
//! Each event is normalised for the `splunk-hec` template: `event` becomes an object (a string
//! event is `{"message": …}`) and the envelope goes under `hec`.
//!
//! The `/raw` endpoint takes its envelope (`host`, `source`, `sourcetype`, `index`, `time`) from
//! the query string. It is validated once ([`HecEnvelope::from_query`]: lengths, a finite
//! `time`) and shared by every line of the body; the pipeline sets it on one event at a time,
//! just before mapping it, so a long query string is never multiplied by the number of lines.

use http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// A Splunk HEC response body: `{"text": …, "code": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HecReply {
    /// The text.
    pub text: &'static str,
    /// The HEC code.
    pub code: u8,
    /// The zero-based index of the first bad event, for codes 6, 12, 13 and 15.
    #[serde(
        rename = "invalid-event-number",
        skip_serializing_if = "Option::is_none"
    )]
    pub invalid_event_number: Option<usize>,
    /// The HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
}

impl HecReply {
    const fn new(status: StatusCode, code: u8, text: &'static str) -> Self {
        Self {
            text,
            code,
            invalid_event_number: None,
            status,
        }
    }

    /// 200, code 0.
    pub const SUCCESS: Self = Self::new(StatusCode::OK, 0, "Success");
    /// 403, code 1.
    pub const TOKEN_DISABLED: Self = Self::new(StatusCode::FORBIDDEN, 1, "Token disabled");
    /// 401, code 2.
    pub const TOKEN_REQUIRED: Self = Self::new(StatusCode::UNAUTHORIZED, 2, "Token is required");
    /// 401, code 3.
    pub const INVALID_AUTHORIZATION: Self =
        Self::new(StatusCode::UNAUTHORIZED, 3, "Invalid authorization");
    /// 403, code 4.
    pub const INVALID_TOKEN: Self = Self::new(StatusCode::FORBIDDEN, 4, "Invalid token");
    /// 400, code 5.
    pub const NO_DATA: Self = Self::new(StatusCode::BAD_REQUEST, 5, "No data");
    /// 400, code 6.
    pub const INVALID_DATA_FORMAT: Self =
        Self::new(StatusCode::BAD_REQUEST, 6, "Invalid data format");
    /// 500, code 8.
    pub const INTERNAL_ERROR: Self = Self::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        8,
        "Internal server error",
    );
    /// 503, code 9.
    pub const SERVER_BUSY: Self = Self::new(StatusCode::SERVICE_UNAVAILABLE, 9, "Server is busy");
    /// 400, code 12.
    pub const EVENT_REQUIRED: Self =
        Self::new(StatusCode::BAD_REQUEST, 12, "Event field is required");
    /// 400, code 13.
    pub const EVENT_BLANK: Self =
        Self::new(StatusCode::BAD_REQUEST, 13, "Event field cannot be blank");
    /// 400, code 15.
    pub const INDEXED_FIELDS: Self = Self::new(
        StatusCode::BAD_REQUEST,
        15,
        "Error in handling indexed fields",
    );
    /// 400, code 16.
    pub const QUERY_AUTH_DISABLED: Self = Self::new(
        StatusCode::BAD_REQUEST,
        16,
        "Query string authorization is not enabled",
    );
    /// 200, code 17.
    pub const HEALTHY: Self = Self::new(StatusCode::OK, 17, "HEC is healthy");

    /// The same reply naming the bad event.
    pub fn at(mut self, index: usize) -> Self {
        self.invalid_event_number = Some(index);
        self
    }
}

/// Why a `/raw` query parameter is not acceptable: answered 422 naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter '{field}' {problem}")]
pub struct HecFieldError {
    /// The parameter.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// The longest values accepted for the `/raw` envelope. Splunk stores these as indexed
/// metadata: a host is a DNS name (255), an index name is short (80), and sources and
/// sourcetypes are paths and names, not payloads (1,024 and 256).
pub const ENVELOPE_LIMITS: [(&str, usize); 4] = [
    ("host", 255),
    ("source", 1024),
    ("sourcetype", 256),
    ("index", 80),
];

/// The latest event time accepted: the year 3000, in Unix seconds.
const MAX_EVENT_TIME: f64 = 32_503_680_000.0;

/// The `/raw` endpoint's envelope, validated once per request and shared by every line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HecEnvelope {
    fields: Map<String, Value>,
}

impl HecEnvelope {
    /// The envelope from the query string, or the first parameter that is too long or, for
    /// `time`, not a number of seconds from 0 to the year 3000.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use aisoc_inbox::hec::HecEnvelope;
    ///
    /// let query = HashMap::from([("host".to_owned(), "web-1".to_owned())]);
    /// assert!(HecEnvelope::from_query(&query).is_ok());
    /// let query = HashMap::from([("host".to_owned(), "h".repeat(60_000))]);
    /// assert_eq!(HecEnvelope::from_query(&query).unwrap_err().field, "host");
    /// ```
    pub fn from_query(
        query: &std::collections::HashMap<String, String>,
    ) -> Result<Self, HecFieldError> {
        let mut fields = Map::new();
        for (field, max) in ENVELOPE_LIMITS {
            if let Some(value) = query.get(field) {
                if value.len() > max {
                    return Err(HecFieldError {
                        field,
                        problem: format!("is longer than {max} bytes"),
                    });
                }
                fields.insert(field.to_owned(), Value::String(value.clone()));
            }
        }
        if let Some(time) = query.get("time") {
            let seconds = time.trim().parse::<f64>().ok();
            if !seconds.is_some_and(|t| (0.0..=MAX_EVENT_TIME).contains(&t)) {
                return Err(HecFieldError {
                    field: "time",
                    problem: "must be Unix seconds from 0 to 32503680000".into(),
                });
            }
            fields.insert("time".into(), Value::String(time.trim().to_owned()));
        }
        Ok(Self { fields })
    }

    /// Sets this envelope on one normalised `/raw` event (under `hec`).
    pub fn apply(&self, event: &mut Value) {
        if let Some(object) = event.as_object_mut() {
            object.insert("hec".into(), Value::Object(self.fields.clone()));
        }
    }
}

/// Counts the events of an `/event` body up to `max + 1`, allocating nothing; stops at the
/// first value that does not parse (the real parse reports it).
pub fn count_events(body: &[u8], max: usize) -> usize {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<serde::de::IgnoredAny>()
        .take(max.saturating_add(1))
        .take_while(Result::is_ok)
        .count()
}

fn normalize(mut envelope: Map<String, Value>) -> Value {
    let event = match envelope.remove("event") {
        Some(Value::Object(object)) => Value::Object(object),
        Some(Value::String(message)) => json!({ "message": message }),
        Some(other) => json!({ "message": other.to_string() }),
        None => json!({}),
    };
    json!({ "event": event, "hec": envelope })
}

fn check(index: usize, value: Value) -> Result<Value, HecReply> {
    let Value::Object(envelope) = value else {
        return Err(HecReply::INVALID_DATA_FORMAT.at(index));
    };
    match envelope.get("event") {
        None => return Err(HecReply::EVENT_REQUIRED.at(index)),
        Some(Value::Null) => return Err(HecReply::EVENT_BLANK.at(index)),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(HecReply::EVENT_BLANK.at(index));
        }
        Some(_) => {}
    }
    if let Some(fields) = envelope.get("fields") {
        let flat = fields
            .as_object()
            .is_some_and(|f| f.values().all(|v| !v.is_object()));
        if !flat {
            return Err(HecReply::INDEXED_FIELDS.at(index));
        }
    }
    if let Some(time) = envelope.get("time")
        && !(time.is_number()
            || time
                .as_str()
                .is_some_and(|t| t.trim().parse::<f64>().is_ok()))
    {
        return Err(HecReply::INVALID_DATA_FORMAT.at(index));
    }
    Ok(normalize(envelope))
}

/// Splits an `/event` body into normalised events, or the reply for the first bad one.
pub fn parse_events(body: &[u8]) -> Result<Vec<Value>, HecReply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(HecReply::NO_DATA);
    }
    let mut events = Vec::new();
    for (index, item) in serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .enumerate()
    {
        match item {
            Ok(value) => events.push(check(index, value)?),
            Err(_) => return Err(HecReply::INVALID_DATA_FORMAT.at(index)),
        }
    }
    Ok(events)
}

/// One `/raw` line as the normalised event [`parse_raw`] makes of it, without an envelope
/// (the pipeline sets that with [`HecEnvelope::apply`]).
pub fn raw_event(line: &[u8]) -> Value {
    let mut event = Map::new();
    event.insert(
        "event".into(),
        Value::String(String::from_utf8_lossy(line).into_owned()),
    );
    normalize(event)
}

/// A `/raw` body: one event per non-empty line, with envelope values from the query string.
pub fn parse_raw(body: &[u8], envelope: &Map<String, Value>) -> Result<Vec<Value>, HecReply> {
    let events: Vec<Value> = body
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            let mut event = envelope.clone();
            event.insert(
                "event".into(),
                Value::String(String::from_utf8_lossy(line).into_owned()),
            );
            normalize(event)
        })
        .collect();
    if events.is_empty() {
        return Err(HecReply::NO_DATA);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_objects_with_and_without_separators() {
        let body = br#"{"event":"a"}{"event":{"x":1},"time":"1715158800.5"}
  {"event":"c","host":"h1","sourcetype":"auth"}"#;
        let events = parse_events(body).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["event"]["message"], "a");
        assert_eq!(events[1]["event"]["x"], 1);
        assert_eq!(events[2]["hec"]["host"], "h1");
    }

    #[test]
    fn the_first_bad_event_is_named() {
        let body = br#"{"event":"a"}{"event":"b"}{"noevent":1}{"event":"d"}"#;
        assert_eq!(
            parse_events(body).unwrap_err(),
            HecReply::EVENT_REQUIRED.at(2)
        );
        assert_eq!(
            parse_events(br#"{"event":"a"}{"event":""}"#).unwrap_err(),
            HecReply::EVENT_BLANK.at(1)
        );
        assert_eq!(
            parse_events(br#"{"event":"a"}{"event":"b""#).unwrap_err(),
            HecReply::INVALID_DATA_FORMAT.at(1)
        );
        assert_eq!(
            parse_events(br#"{"event":"a","fields":{"n":{"x":1}}}"#).unwrap_err(),
            HecReply::INDEXED_FIELDS.at(0)
        );
        assert_eq!(parse_events(b"  \n").unwrap_err(), HecReply::NO_DATA);
        assert_eq!(
            parse_events(b"[1]").unwrap_err(),
            HecReply::INVALID_DATA_FORMAT.at(0)
        );
    }

    #[test]
    fn replies_serialize_like_splunk() {
        assert_eq!(
            serde_json::to_value(HecReply::SUCCESS).unwrap(),
            json!({"text": "Success", "code": 0})
        );
        assert_eq!(
            serde_json::to_value(HecReply::EVENT_BLANK.at(3)).unwrap(),
            json!({"text": "Event field cannot be blank", "code": 13, "invalid-event-number": 3})
        );
    }
}
