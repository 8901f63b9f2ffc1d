//! Writing a mapped event as OCSF JSON straight into a buffer (issue #17).
//!
//! The ingest stamps a dozen fields on every event (`class_uid`, `type_uid`, `time`,
//! `metadata.version`, `metadata.uid`, …). Inserting them into the event's map and serialising
//! the map allocated every key and value again for each event, and dominated the pipeline's
//! cost next to parsing. Here the stamps are written next to the mapped values instead: the
//! mapped map and a sorted list of stamps are merged key by key while writing, so the output
//! is byte for byte what serialising the stamped map gives (same key order, same compact
//! form), without building it.
//!
//! That is only the same event when the stamps cannot interact with the mapping, which holds
//! when (checked once per template, then per event):
//! - no whole object is mapped onto `finding_info`, `metadata` or `metadata.product` (the
//!   objects the ingest stamps), so each is absent or an object the mapping built key by key;
//! - the mapped `metadata` has none of the keys the ingest overwrites (`version`, `uid`,
//!   `tenant_uid`, `logged_time`), so nothing is displaced to `unmapped`.
//!
//! The presence checks treat the three stamped objects as complete (their required
//! attributes are stamped), so they give the same answer with or without the stamps in the
//! map. Anything else takes the general path: stamp the map, then serialise it.

use std::cmp::Ordering;

use aisoc_notify_core::inbox_template::{IngestContext, MappingError};
use serde::Serialize;
use serde_json::{Map, Value};

use super::cef::CefPayload;
use super::coerce::Rejected;
use super::mapping::{Draft, unmapped};
use super::ocsf_model::OcsfModel;
use super::path::drop_nulls_in_arrays;
use super::plan::{Leaf, PlanNode};
use super::{YamlTemplate, severity_name, stamp_ingest_fields};

mod text;

use text::needs_escape;
pub(super) use text::{write_int, write_str};

/// The objects the ingest stamps, whose required attributes are among the stamps.
pub(super) const STAMPED_OBJECTS: [&[&str]; 3] =
    [&["finding_info"], &["metadata"], &["metadata", "product"]];

/// The `metadata` keys the ingest overwrites.
pub(super) const OVERWRITTEN_METADATA: [&str; 4] = ["version", "uid", "tenant_uid", "logged_time"];

/// Why an event could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The template did not map the payload (a non-event, or the wrong shape).
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The event could not be serialised.
    #[error("could not serialise the event: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// One value the ingest writes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scalar<'a> {
    Text(&'a str),
    Int(i64),
}

/// How a stamp meets what the mapping put under the same key.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stamp<'a> {
    /// Written instead of the mapped value.
    Set(Scalar<'a>),
    /// Written unless the mapping filled the key.
    Default(Scalar<'a>),
    /// An object, merged key by key with the mapped object (these stamps sorted by key).
    Object(&'a [(&'a str, Stamp<'a>)]),
    /// A value the ingest built (`unmapped`), under a key the mapping cannot write.
    Value(&'a Value),
    /// What the mapping left of a CEF line (`unmapped`), written from the line itself.
    Cef(&'a CefPayload<'a>),
    /// Nothing to write.
    Absent,
}

impl YamlTemplate {
    /// Maps `payload` and appends the finished OCSF event to `out` as compact JSON: the same
    /// bytes as serialising [`map_owned`](aisoc_notify_core::InboxTemplate::map_owned)'s event
    /// after [`stamp_ingest_fields`], written without building the stamped map when the
    /// template allows it (module docs).
    pub fn write_json(
        &self,
        payload: Value,
        context: &IngestContext,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        let draft = self.draft(payload, context)?;
        self.write_draft(draft, context, out)
    }

    /// Writes a mapped draft: directly when the stamps can be written next to it (the
    /// template allows it and [`stamps_apart`]), else as the stamped event serialised.
    pub(super) fn write_draft(
        &self,
        draft: Draft,
        context: &IngestContext,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        if self.direct && stamps_apart(&draft.event) {
            let Draft {
                event,
                mut rejected,
                holes,
                leftovers,
                severity_id,
                time,
            } = draft;
            let root = self.enforced(event, &mut rejected, holes);
            let unmapped = unmapped(leftovers, rejected);
            let unmapped = unmapped.as_ref().map_or(Stamp::Absent, Stamp::Value);
            return self.write_stamped(members(&root), severity_id, time, unmapped, context, out);
        }
        let mut event = self.finish(draft, context);
        stamp_ingest_fields(&mut event, context);
        serde_json::to_writer(out, &event)?;
        Ok(())
    }

    /// The mapped event once incomplete objects are moved to `rejected` (and the `null`s
    /// they or padding left in arrays dropped), as the object it was built as.
    pub(super) fn enforced(
        &self,
        mut event: Value,
        rejected: &mut Rejected,
        mut holes: bool,
    ) -> Map<String, Value> {
        holes |= self
            .checks
            .enforce(&mut event, OcsfModel::detection_finding(), rejected);
        if holes {
            drop_nulls_in_arrays(&mut event);
        }
        let Value::Object(root) = event else {
            unreachable!("built as an object")
        };
        root
    }

    /// Writes the mapped, enforced event (the members of its root, in key order) with the
    /// stamps merged in and `unmapped` last: only when the template is `direct` and the event
    /// [`stamps_apart`].
    pub(super) fn write_stamped<'m>(
        &self,
        root: impl Iterator<Item = (&'m str, Mapped<'m>)>,
        severity_id: u32,
        time: i64,
        unmapped: Stamp<'_>,
        context: &IngestContext,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        let class_uid = self.file.class_uid;
        let activity_id = self.file.activity_id;
        let product = [
            (
                "name",
                Stamp::Default(Scalar::Text(&self.file.product_name)),
            ),
            (
                "vendor_name",
                Stamp::Default(Scalar::Text(&self.file.vendor_name)),
            ),
        ];
        let metadata = [
            (
                "logged_time",
                Stamp::Set(Scalar::Int(context.received_at.timestamp_millis())),
            ),
            ("product", Stamp::Object(&product)),
            ("tenant_uid", Stamp::Set(Scalar::Text(&context.tenant_id))),
            ("uid", Stamp::Set(Scalar::Text(&context.event_uid))),
            ("version", Stamp::Set(Scalar::Text(super::OCSF_VERSION))),
        ];
        let finding_info = [
            ("title", Stamp::Default(Scalar::Text(&self.default_title))),
            ("uid", Stamp::Default(Scalar::Text(&context.event_uid))),
        ];
        let class_name = self
            .file
            .class_name
            .as_deref()
            .unwrap_or("Detection Finding");
        let stamps = [
            ("activity_id", Stamp::Set(Scalar::Int(activity_id.into()))),
            (
                "category_uid",
                Stamp::Set(Scalar::Int((class_uid / 1000).into())),
            ),
            ("class_name", Stamp::Default(Scalar::Text(class_name))),
            ("class_uid", Stamp::Set(Scalar::Int(class_uid.into()))),
            ("finding_info", Stamp::Object(&finding_info)),
            ("metadata", Stamp::Object(&metadata)),
            (
                "severity",
                Stamp::Default(Scalar::Text(severity_name(severity_id))),
            ),
            ("severity_id", Stamp::Set(Scalar::Int(severity_id.into()))),
            ("time", Stamp::Set(Scalar::Int(time))),
            (
                "type_uid",
                Stamp::Set(Scalar::Int(
                    i64::from(class_uid) * 100 + i64::from(activity_id),
                )),
            ),
            // Last in key order; `unmapped` is reserved, so the mapping never has it.
            ("unmapped", unmapped),
        ];
        write_object(out, root, &stamps)?;
        Ok(())
    }
}

/// Whether the stamps can be written next to `event` (see the module docs).
pub(super) fn stamps_apart(event: &Value) -> bool {
    let object_or_absent = |value: Option<&Value>| value.is_none_or(Value::is_object);
    if !object_or_absent(event.get("finding_info")) {
        return false;
    }
    match event.get("metadata") {
        None => true,
        Some(Value::Object(metadata)) => {
            object_or_absent(metadata.get("product"))
                && OVERWRITTEN_METADATA
                    .iter()
                    .all(|key| !metadata.contains_key(*key))
        }
        Some(_) => false,
    }
}

/// Writes a stamp's key, one of the constant keys above, none of which needs an escape.
fn write_stamp_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    debug_assert!(!needs_escape(key.as_bytes()));
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &str) -> serde_json::Result<()> {
    if !std::mem::take(first) {
        out.push(b',');
    }
    write_str(out, key)?;
    out.push(b':');
    Ok(())
}

/// Writes `value` as `serde_json` does in compact form, strings that need no escape copied
/// as they are (`serde_json` looks at each byte against a table, which showed in profiles).
pub(super) fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
            Ok(())
        }
        Value::Object(map) => {
            out.push(b'{');
            let mut first = true;
            for (key, item) in map {
                write_key(out, &mut first, key)?;
                write_value(out, item)?;
            }
            out.push(b'}');
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            value.serialize(&mut serde_json::Serializer::new(out))
        }
    }
}

fn write_scalar(out: &mut Vec<u8>, scalar: Scalar<'_>) -> serde_json::Result<()> {
    match scalar {
        Scalar::Text(text) => write_str(out, text),
        Scalar::Int(n) => {
            write_int(out, n);
            Ok(())
        }
    }
}

/// One member of the mapped event: a value the mapping built, or a node of a template's
/// [`DirectPlan`](super::plan::DirectPlan) with the values it was given for this event.
#[derive(Debug, Clone, Copy)]
pub(super) enum Mapped<'m> {
    /// A built value.
    Value(&'m Value),
    /// A planned node, present (it or something below it has a value).
    Plan(&'m PlanNode, &'m [Option<Leaf<'m>>]),
}

/// The members of a built object.
pub(super) fn members(map: &Map<String, Value>) -> impl Iterator<Item = (&str, Mapped<'_>)> {
    map.iter()
        .map(|(key, value)| (key.as_str(), Mapped::Value(value)))
}

impl Mapped<'_> {
    /// Writes the member's value.
    pub(super) fn write(self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            Mapped::Value(value) => write_value(out, value),
            Mapped::Plan(node, leaves) => match node {
                PlanNode::Leaf(at) => write_leaf(out, leaves[*at].as_ref()),
                PlanNode::List(at) => {
                    out.push(b'[');
                    write_leaf(out, leaves[*at].as_ref())?;
                    out.push(b']');
                    Ok(())
                }
                PlanNode::Object(object) => write_object(out, object.members(leaves), &[]),
            },
        }
    }
}

fn write_leaf(out: &mut Vec<u8>, leaf: Option<&Leaf<'_>>) -> serde_json::Result<()> {
    match leaf {
        Some(Leaf::Text(text)) => write_str(out, text),
        Some(Leaf::Value(value)) => write_value(out, value),
        Some(Leaf::Constant(value)) => write_value(out, value),
        None => Err(serde::ser::Error::custom(
            "an absent planned value was written",
        )),
    }
}

/// The byte order of two keys, as `str`'s `Ord` gives it. Keys are short and mostly differ in
/// their first bytes, where a call to `memcmp` for each comparison showed in profiles.
#[inline]
pub(super) fn key_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Writes `mapped` (members in key order) merged with `stamps` as one object, keys in the
/// order a `serde_json::Map` keeps them (byte order).
fn write_object<'m>(
    out: &mut Vec<u8>,
    mapped: impl Iterator<Item = (&'m str, Mapped<'m>)>,
    stamps: &[(&str, Stamp<'_>)],
) -> serde_json::Result<()> {
    debug_assert!(stamps.windows(2).all(|pair| pair[0].0 < pair[1].0));
    out.push(b'{');
    let mut first = true;
    let mut mapped = mapped.peekable();
    let mut stamps = stamps.iter().peekable();
    loop {
        let order = match (mapped.peek(), stamps.peek()) {
            (None, None) => break,
            (Some((key, _)), Some((stamp_key, _))) => key_order(key, stamp_key),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                let Some((key, value)) = mapped.next() else {
                    break;
                };
                write_key(out, &mut first, key)?;
                value.write(out)?;
            }
            Ordering::Greater => {
                let Some((key, stamp)) = stamps.next() else {
                    break;
                };
                if matches!(stamp, Stamp::Absent) {
                    continue;
                }
                write_stamp_key(out, &mut first, key);
                write_stamp(out, None, *stamp)?;
            }
            Ordering::Equal => {
                let (Some((key, value)), Some((_, stamp))) = (mapped.next(), stamps.next()) else {
                    break;
                };
                write_key(out, &mut first, key)?;
                write_stamp(out, Some(value), *stamp)?;
            }
        }
    }
    out.push(b'}');
    Ok(())
}

/// Writes `stamp` where the mapping put `mapped` (or nothing).
fn write_stamp(
    out: &mut Vec<u8>,
    mapped: Option<Mapped<'_>>,
    stamp: Stamp<'_>,
) -> serde_json::Result<()> {
    match (stamp, mapped) {
        (Stamp::Set(scalar), _) | (Stamp::Default(scalar), None) => write_scalar(out, scalar),
        (Stamp::Default(_) | Stamp::Absent, Some(value)) => value.write(out),
        (Stamp::Value(value), _) => write_value(out, value),
        (Stamp::Cef(payload), _) => payload.write_leftovers(out),
        // `write_object` skips these.
        (Stamp::Absent, None) => Err(serde::ser::Error::custom("an absent stamp was written")),
        (Stamp::Object(stamps), None) => write_object(out, std::iter::empty(), stamps),
        (Stamp::Object(stamps), Some(Mapped::Value(Value::Object(object)))) => {
            write_object(out, members(object), stamps)
        }
        (Stamp::Object(stamps), Some(Mapped::Plan(PlanNode::Object(object), leaves))) => {
            write_object(out, object.members(leaves), stamps)
        }
        // `stamps_apart` (and a plan, by construction) let only objects through here.
        (Stamp::Object(_), Some(_)) => Err(serde::ser::Error::custom(
            "a stamped object is not an object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::BUNDLED;
    use aisoc_notify_core::InboxTemplate;

    fn context() -> IngestContext {
        IngestContext {
            tenant_id: "acme".into(),
            received_at: chrono::Utc::now(),
            event_uid: "0123456789abcdef0123456789abcdef".into(),
        }
    }

    /// What the general path writes: the stamped map, serialised.
    fn general(template: &YamlTemplate, payload: Value, context: &IngestContext) -> Vec<u8> {
        let mut event = template.map_owned(payload, context).unwrap();
        stamp_ingest_fields(&mut event, context);
        serde_json::to_vec(&event).unwrap()
    }

    fn direct(template: &YamlTemplate, payload: Value, context: &IngestContext) -> Vec<u8> {
        let mut out = Vec::new();
        template.write_json(payload, context, &mut out).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped_exactly_where_serde_json_escapes_them() {
        let mut samples: Vec<String> = (0u8..=127).map(|b| char::from(b).to_string()).collect();
        for b in 0u8..=127 {
            // At every position of every length up to two words and a tail.
            for len in 1..=17 {
                for at in 0..len {
                    let mut text = "a".repeat(len);
                    text.replace_range(at..=at, &char::from(b).to_string());
                    samples.push(text);
                }
            }
        }
        samples
            .extend(["", "plain text", "caf\u{e9} \u{1F600} \u{7f}", "\u{2028}"].map(String::from));
        for text in samples {
            let mut out = Vec::new();
            write_str(&mut out, &text).unwrap();
            assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn integers_are_written_as_serde_json_writes_them() {
        let mut samples = vec![0, 1, -1, 9, 10, 99, 100, i64::MAX, i64::MIN, i64::MIN + 1];
        let mut power = 1i64;
        while let Some(next) = power.checked_mul(10) {
            samples.extend([
                power - 1,
                power,
                power + 1,
                -power,
                -(power - 1),
                next / 2 + 7,
            ]);
            power = next;
        }
        samples.extend([1_715_158_800_000, 200_401, 2004]);
        for n in samples {
            let mut out = Vec::new();
            write_int(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap(), "{n}");
        }
    }

    #[test]
    fn the_stamps_make_the_stamped_objects_complete() {
        let model = OcsfModel::detection_finding();
        let root = model.root();
        let object_of =
            |attribute: &str, parent: &super::super::ocsf_model::ObjectType| match parent
                .attributes
                .get(attribute)
            {
                Some(super::super::ocsf_model::AttrType::Object(index)) => model.object(*index),
                other => panic!("{attribute}: {other:?}"),
            };
        let finding_info = object_of("finding_info", root);
        let metadata = object_of("metadata", root);
        let product = object_of("product", metadata);
        let stamped = |keys: &[&str]| -> Map<String, Value> {
            keys.iter().map(|k| ((*k).to_owned(), json!("x"))).collect()
        };
        assert!(finding_info.is_complete(&stamped(&["title", "uid"])));
        assert!(metadata.is_complete(&stamped(&[
            "logged_time",
            "product",
            "tenant_uid",
            "uid",
            "version"
        ])));
        assert!(product.is_complete(&stamped(&["name", "vendor_name"])));
        // Whatever else the mapping adds, they stay complete (no "exactly one of" rule).
        for object in [finding_info, metadata, product] {
            let every: Map<String, Value> = object
                .attributes
                .keys()
                .map(|k| (k.clone(), json!("x")))
                .collect();
            assert!(object.is_complete(&every), "{}", object.name);
        }
    }

    #[test]
    fn every_bundled_template_writes_what_serialising_the_stamped_event_gives() {
        let payloads = [
            json!({}),
            json!({"id": "a-1", "title": "T", "severity": "HIGH", "timestamp": "2026-05-08T09:00:00Z",
                   "user": {"email": "a@example.com"}, "tags": ["x", null, {}], "description": 7}),
            json!({"metadata": {"version": "9", "tenant_uid": "other"}, "finding_info": "flat",
                   "class_uid": 1, "time": "yesterday", "unmapped": {"a": 1}}),
            json!({"alert": {"id": 1, "severity": "P1", "created_at": 1_715_158_800}, "message": {"nested": [1, 2]},
                   "event": {"message": "m", "severity": "critical"}, "detail": {"severity": "high"}}),
        ];
        let context = context();
        for (file, yaml) in BUNDLED {
            let template = YamlTemplate::from_yaml(file, yaml).unwrap();
            for payload in &payloads {
                let expected = general(&template, payload.clone(), &context);
                let written = direct(&template, payload.clone(), &context);
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    String::from_utf8(expected).unwrap(),
                    "{file}: {payload}"
                );
            }
        }
    }

    #[test]
    fn a_whole_object_mapped_onto_a_stamped_object_takes_the_general_path() {
        let yaml = "id: v\nvendor_name: V\nproduct_name: P\nfield_map:\n  meta: metadata\n  info: finding_info\n";
        let template = YamlTemplate::from_yaml("v.yaml", yaml).unwrap();
        assert!(!template.direct);
        let context = context();
        let payload = json!({"meta": {"version": "0.1", "product": {"vendor_name": "X"}}, "info": {"desc": "d"}});
        assert_eq!(
            direct(&template, payload.clone(), &context),
            general(&template, payload, &context)
        );
        let generic = YamlTemplate::from_yaml(BUNDLED[0].0, BUNDLED[0].1).unwrap();
        assert!(generic.direct);
    }
}
