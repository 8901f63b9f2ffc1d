//! The facts only the inbox knows, stamped over whatever a template wrote (issue #15 item 6):
//! a template, YAML or code, must not be able to name another tenant or another schema
//! version, so these are written last and what they replace is kept under `unmapped`.

use aisoc_notify_core::inbox_template::{IngestContext, OcsfEvent};
use serde_json::{Map, Value};

use super::OCSF_VERSION;
use super::coerce::Rejected;
use super::path::{Segment, keep_at};

/// The object under `key`, made one if absent; a non-object found there is displaced to
/// `rejected` (only code templates can put one there).
pub(super) fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
    rejected: &mut Rejected,
) -> &'a mut Map<String, Value> {
    // Looked up before `entry`, which allocates its key even when the object is there.
    if !matches!(map.get(key), Some(Value::Object(_))) {
        let displaced = map.insert(key.to_owned(), Value::Object(Map::new()));
        if let Some(displaced) = displaced.filter(|v| !v.is_null()) {
            rejected.push((vec![Segment::Key(key.to_owned())], displaced));
        }
    }
    match map.get_mut(key) {
        Some(Value::Object(object)) => object,
        _ => unreachable!("made an object above"),
    }
}

/// Inserts `value()` under `key` unless something is there already.
pub(super) fn insert_absent(
    map: &mut Map<String, Value>,
    key: &str,
    value: impl FnOnce() -> Value,
) {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), value());
    }
}

/// One stamped value, compared without building a JSON value first.
enum Stamp<'a> {
    Text(&'a str),
    Millis(i64),
}

impl Stamp<'_> {
    fn is(&self, value: &Value) -> bool {
        match self {
            Stamp::Text(text) => value.as_str() == Some(*text),
            Stamp::Millis(ms) => value.as_i64() == Some(*ms),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Stamp::Text(text) => Value::from(*text),
            Stamp::Millis(ms) => Value::from(*ms),
        }
    }
}

/// The metadata only the ingest knows, written over whatever is there; what it replaces goes
/// to `rejected` under its path.
pub(super) fn stamp_metadata(
    root: &mut Map<String, Value>,
    context: &IngestContext,
    rejected: &mut Rejected,
) {
    let metadata = object_at(root, "metadata", rejected);
    let stamps = [
        ("version", Stamp::Text(OCSF_VERSION)),
        ("uid", Stamp::Text(&context.event_uid)),
        ("tenant_uid", Stamp::Text(&context.tenant_id)),
        (
            "logged_time",
            Stamp::Millis(context.received_at.timestamp_millis()),
        ),
    ];
    for (key, stamp) in stamps {
        match metadata.get_mut(key) {
            Some(current) if stamp.is(current) => {}
            Some(current) => {
                let displaced = std::mem::replace(current, stamp.to_value());
                if !displaced.is_null() {
                    let path = vec![Segment::Key("metadata".into()), Segment::Key(key.into())];
                    rejected.push((path, displaced));
                }
            }
            None => {
                metadata.insert(key.to_owned(), stamp.to_value());
            }
        }
    }
}

/// Stamps the facts only the inbox knows over whatever a template wrote: `metadata.version`
/// ([`OCSF_VERSION`]), `metadata.uid` (the event uid), `metadata.tenant_uid` (the token's
/// tenant) and `metadata.logged_time` (receive time, epoch ms). A value it replaces is kept
/// under `unmapped.metadata`. The pipeline applies it to every template's output, YAML or code.
///
/// ```
/// use aisoc_inbox::template::{OCSF_VERSION, stamp_ingest_fields};
/// use aisoc_notify_core::inbox_template::{IngestContext, OcsfEvent};
/// use serde_json::json;
///
/// let context = IngestContext {
///     tenant_id: "acme".into(),
///     received_at: chrono::Utc::now(),
///     event_uid: "evt-1".into(),
/// };
/// let mut event: OcsfEvent = serde_json::from_value(json!({
///     "class_uid": 2004,
///     "metadata": {"tenant_uid": "someone-else", "product": {"name": "P"}},
/// }))
/// .unwrap();
/// stamp_ingest_fields(&mut event, &context);
/// let event = event.into_value();
/// assert_eq!(event["metadata"]["tenant_uid"], "acme");
/// assert_eq!(event["metadata"]["version"], OCSF_VERSION);
/// assert_eq!(event["unmapped"]["metadata"]["tenant_uid"], "someone-else");
/// ```
pub fn stamp_ingest_fields(event: &mut OcsfEvent, context: &IngestContext) {
    let mut displaced = Rejected::new();
    stamp_metadata(&mut event.0, context, &mut displaced);
    if !displaced.is_empty() {
        let unmapped = event.0.entry("unmapped").or_insert(Value::Null);
        for (path, value) in displaced {
            keep_at(unmapped, &path, value);
        }
    }
}
