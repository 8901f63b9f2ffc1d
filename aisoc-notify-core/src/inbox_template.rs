//! The [`InboxTemplate`] trait: one vendor payload in, one OCSF event out.
//!
//! The inbox crate loads templates from YAML; hosts can implement this trait in code for a
//! vendor whose payload needs more than field mapping. Mapping is synchronous and pure: it
//! sees the payload and the ingest context, nothing else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the inbox knows about a payload besides its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestContext {
    /// The tenant the inbox token belongs to.
    pub tenant_id: String,
    /// When the inbox received the payload.
    pub received_at: DateTime<Utc>,
    /// A unique id the inbox assigned to this event.
    pub event_uid: String,
}

/// An OCSF event as a JSON object (`class_uid`, `type_uid`, `severity_id`, `time`,
/// `metadata`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OcsfEvent(pub Map<String, Value>);

impl OcsfEvent {
    /// The OCSF class (`2004` for Detection Finding).
    pub fn class_uid(&self) -> Option<u64> {
        self.0.get("class_uid").and_then(Value::as_u64)
    }

    /// The OCSF severity id (0-6 or 99).
    pub fn severity_id(&self) -> Option<u64> {
        self.0.get("severity_id").and_then(Value::as_u64)
    }

    /// The event as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Why a payload could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The payload lacks a field the template requires.
    #[error("required field '{0}' is missing from the payload")]
    MissingField(String),
    /// A field has a value the template cannot use.
    #[error("field '{field}' has an invalid value: {reason}")]
    InvalidValue {
        /// The source field.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The payload is a known non-event (a vendor's connectivity test); acknowledge it, publish
    /// nothing, and do not count it as malformed.
    #[error("ignored: {reason}")]
    Ignored {
        /// Why.
        reason: String,
    },
    /// The payload is not what the template expects at all (not an object, wrong vendor).
    #[error("payload does not fit template '{template}': {reason}")]
    UnexpectedShape {
        /// The template id.
        template: String,
        /// Why.
        reason: String,
    },
}

/// Maps one vendor payload to an OCSF event.
///
/// ```
/// use aisoc_notify_core::inbox_template::{IngestContext, InboxTemplate, MappingError, OcsfEvent};
/// use serde_json::{json, Value};
///
/// struct Minimal;
///
/// impl InboxTemplate for Minimal {
///     fn id(&self) -> &str {
///         "minimal"
///     }
///
///     fn map(&self, payload: &Value, ctx: &IngestContext) -> Result<OcsfEvent, MappingError> {
///         let title = payload
///             .get("title")
///             .and_then(Value::as_str)
///             .ok_or_else(|| MappingError::MissingField("title".into()))?;
///         let event = json!({
///             "class_uid": 2004, "activity_id": 1, "type_uid": 200401, "severity_id": 1,
///             "time": ctx.received_at.timestamp_millis(),
///             "finding_info": {"uid": ctx.event_uid, "title": title},
///         });
///         Ok(OcsfEvent(event.as_object().cloned().unwrap_or_default()))
///     }
/// }
///
/// let ctx = IngestContext {
///     tenant_id: "acme".into(),
///     received_at: chrono::Utc::now(),
///     event_uid: "evt-1".into(),
/// };
/// let event = Minimal.map(&json!({"title": "Port scan"}), &ctx).unwrap();
/// assert_eq!(event.class_uid(), Some(2004));
/// assert!(Minimal.map(&json!({}), &ctx).is_err());
/// ```
pub trait InboxTemplate: Send + Sync {
    /// The template id a token is scoped to (`generic-json`, `pagerduty`, …).
    fn id(&self) -> &str;

    /// The envelope payloads arrive in, which the inbox unwraps before mapping (`aws-sns`,
    /// `github`, `defender-email`); `None` for plain JSON.
    fn envelope(&self) -> Option<&str> {
        None
    }

    /// Maps one payload.
    fn map(&self, payload: &Value, context: &IngestContext) -> Result<OcsfEvent, MappingError>;

    /// Maps one payload the caller no longer needs; templates that can reuse its parts
    /// (moving fields instead of copying them) override this.
    fn map_owned(
        &self,
        payload: Value,
        context: &IngestContext,
    ) -> Result<OcsfEvent, MappingError> {
        self.map(&payload, context)
    }
}
