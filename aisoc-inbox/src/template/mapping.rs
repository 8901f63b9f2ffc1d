//! Mapping one payload: the template's fields moved out of the payload into a new event
//! (the draft), then the class and ingest fields stamped and what is left kept under
//! `unmapped` (the finished event). [`write`](super::write) writes a draft directly.

use std::borrow::Cow;

use aisoc_notify_core::inbox_template::{IngestContext, MappingError, OcsfEvent};
use serde_json::{Map, Value};

use super::coerce::Rejected;
use super::ocsf_model::OcsfModel;
use super::path::{drop_nulls_in_arrays, get, keep_at, prune, set, take};
use super::stamp::{insert_absent, object_at, stamp_metadata};
use super::{YamlTemplate, parse_time_ms, severity_name};

impl YamlTemplate {
    fn severity_id(&self, payload: &Value) -> u32 {
        let Some(path) = &self.severity_field else {
            return self.severity_of(None);
        };
        match get(payload, path) {
            Some(Value::String(s)) => self.severity_of(Some(s)),
            Some(Value::Number(n)) => self.severity_of(Some(&n.to_string())),
            Some(Value::Bool(b)) => self.severity_of(Some(if *b { "true" } else { "false" })),
            _ => self.severity_of(None),
        }
    }

    /// The `severity_id` for the text found at `severity_field` (a number or boolean as
    /// text), or for nothing usable found there.
    pub(super) fn severity_of(&self, found: Option<&str>) -> u32 {
        let Some(found) = found else {
            return self.file.default_severity_id.unwrap_or(0);
        };
        // Most are lower case already: no copy for those.
        let key: Cow<'_, str> = if found.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(found.trim().to_ascii_lowercase())
        } else {
            Cow::Borrowed(found.trim())
        };
        self.severity_map
            .get(key.as_ref())
            .copied()
            .or(self.file.default_severity_id)
            .unwrap_or(99)
    }

    /// Why a payload that matches `skip_when` is not mapped.
    pub(super) fn skipped(&self) -> MappingError {
        MappingError::Ignored {
            reason: format!("matches skip_when of template '{}'", self.file.id),
        }
    }

    /// The mapping without the ingest's own fields: mapped values moved out of the payload
    /// into a new event, what did not fit, and what the payload has left.
    pub(super) fn draft(
        &self,
        payload: Value,
        context: &IngestContext,
    ) -> Result<Draft, MappingError> {
        if !payload.is_object() {
            return Err(MappingError::UnexpectedShape {
                template: self.file.id.clone(),
                reason: "each event must be a JSON object".into(),
            });
        }
        if !self.skip_when.is_empty()
            && self
                .skip_when
                .iter()
                .all(|(path, value)| get(&payload, path) == Some(value))
        {
            return Err(self.skipped());
        }
        let model = OcsfModel::detection_finding();
        let severity_id = self.severity_id(&payload);
        // A time in an unknown format falls back to the receive time; the raw value stays
        // under `unmapped`, so nothing is lost.
        let parsed_time = self
            .time_field
            .as_ref()
            .and_then(|path| get(&payload, path))
            .and_then(parse_time_ms);
        let time = parsed_time.unwrap_or_else(|| context.received_at.timestamp_millis());

        // Mapped values are moved out of the payload; what remains is `unmapped`.
        let mut event = Value::Object(Map::new());
        let mut rejected = Rejected::new();
        let mut holes = false;
        let mut leftovers = payload;
        for (source, targets) in &self.field_map {
            let Some(value) = take(&mut leftovers, source) else {
                continue;
            };
            let Some((last, others)) = targets.split_last() else {
                continue;
            };
            for target in others {
                holes |= target.write(&mut event, value.clone(), model, &mut rejected);
            }
            holes |= last.write(&mut event, value, model, &mut rejected);
        }
        for (path, value) in &self.constants {
            holes |= set(&mut event, path, value.clone());
        }
        if let Some(path) = &self.severity_field {
            take(&mut leftovers, path);
        }
        // The time field is consumed when it parsed. Taking values out of the payload never
        // changes one, so a value still there is the one parsed above.
        if let Some(path) = &self.time_field
            && parsed_time.is_some()
            && get(&leftovers, path).is_some_and(|value| !value.is_null())
        {
            take(&mut leftovers, path);
        }
        Ok(Draft {
            event,
            rejected,
            holes,
            leftovers,
            severity_id,
            time,
        })
    }

    /// The finished event: the class and ingest fields stamped, incomplete objects moved
    /// out, and what is left of the payload under `unmapped`.
    pub(super) fn finish(&self, draft: Draft, context: &IngestContext) -> OcsfEvent {
        let Draft {
            mut event,
            mut rejected,
            mut holes,
            leftovers,
            severity_id,
            time,
        } = draft;
        let model = OcsfModel::detection_finding();
        {
            let Value::Object(root) = &mut event else {
                unreachable!("built as an object")
            };
            self.stamp_class(root, severity_id, time, context, &mut rejected);
            // Stamped after the mapping, so nothing a template or payload says can replace it.
            stamp_metadata(root, context, &mut rejected);
        }
        holes |= self.checks.enforce(&mut event, model, &mut rejected);
        if holes {
            drop_nulls_in_arrays(&mut event);
        }
        let Value::Object(mut root) = event else {
            unreachable!("built as an object")
        };
        if let Some(unmapped) = unmapped(leftovers, rejected) {
            root.insert("unmapped".into(), unmapped);
        }
        OcsfEvent(root)
    }

    /// The class fields, and the defaults for what the mapping did not fill.
    fn stamp_class(
        &self,
        root: &mut Map<String, Value>,
        severity_id: u32,
        time: i64,
        context: &IngestContext,
        rejected: &mut Rejected,
    ) {
        let class_uid = self.file.class_uid;
        let activity_id = self.file.activity_id;
        root.insert("class_uid".into(), class_uid.into());
        insert_absent(root, "class_name", || {
            self.file
                .class_name
                .as_deref()
                .unwrap_or("Detection Finding")
                .into()
        });
        root.insert("category_uid".into(), (class_uid / 1000).into());
        root.insert("activity_id".into(), activity_id.into());
        root.insert(
            "type_uid".into(),
            (u64::from(class_uid) * 100 + u64::from(activity_id)).into(),
        );
        root.insert("severity_id".into(), severity_id.into());
        insert_absent(root, "severity", || severity_name(severity_id).into());
        root.insert("time".into(), time.into());
        let finding = object_at(root, "finding_info", rejected);
        insert_absent(finding, "uid", || context.event_uid.as_str().into());
        insert_absent(finding, "title", || self.default_title.as_str().into());
        let product = object_at(object_at(root, "metadata", rejected), "product", rejected);
        insert_absent(product, "name", || self.file.product_name.as_str().into());
        insert_absent(product, "vendor_name", || {
            self.file.vendor_name.as_str().into()
        });
    }
}

/// A payload mapped, before the ingest's own fields are stamped ([`YamlTemplate::draft`]).
pub(super) struct Draft {
    /// The mapped values and constants, an object.
    pub(super) event: Value,
    /// Values that did not fit, with the OCSF path they were meant for.
    pub(super) rejected: Rejected,
    /// An array was padded to reach an index.
    pub(super) holes: bool,
    /// What the mapping did not consume.
    pub(super) leftovers: Value,
    /// The OCSF `severity_id`.
    pub(super) severity_id: u32,
    /// The event time, epoch milliseconds.
    pub(super) time: i64,
}

/// What goes under `unmapped`: the payload's leftovers, and the rejected values at their OCSF
/// paths; `None` when there is nothing.
pub(super) fn unmapped(mut leftovers: Value, rejected: Rejected) -> Option<Value> {
    let nothing_left = prune(&mut leftovers);
    if nothing_left && rejected.is_empty() {
        return None;
    }
    let mut unmapped = if nothing_left {
        Value::Object(Map::new())
    } else {
        leftovers
    };
    for (path, value) in rejected {
        keep_at(&mut unmapped, &path, value);
    }
    Some(unmapped)
}
