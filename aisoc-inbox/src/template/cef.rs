//! Mapping a parsed CEF line without building its JSON payload first (issue #17).
//!
//! The CEF route turned each line into the `serde_json::Value` that
//! [`CefEvent::into_json`] describes (an allocation per key and per value, about thirty for
//! an ordinary line), handed it to the template, and serialised what the template left under
//! `unmapped`. Most of that payload is never mapped: `cef-syslog` maps seven fields, and the
//! rest of the header and the extensions end up under `unmapped` as they came. That tree cost
//! four times the parsing.
//!
//! Here the parsed line is read *as* that payload, borrowed: [`CefPayload`] answers the
//! template's paths (`name`, `extensions.msg`, `labels.zone`, `severity_id`, …) the way
//! `get` and `take` answer them on the value, and what the template leaves is written as
//! `unmapped` straight from the line. For a template with a fixed shape (a
//! [`plan`](super::plan), as `cef-syslog` has) the mapped event is not built either: a string
//! that coercion would keep as it is stays borrowed in its slot, anything else is coerced as
//! before, and the slots are written into the shape with the stamps. Without a plan the
//! mapped event is built as `draft` builds it. The output is byte for byte what
//! [`YamlTemplate::write_json`] writes for `into_json()`'s value; `tests/cef_direct.rs`
//! checks that over a corpus, every bundled template, templates that read the payload in the
//! unusual ways, and generated lines.
//!
//! Where the shortcut would have to reproduce the general machinery (a mapped value rejected
//! or an incomplete object moved under `unmapped`, or a template whose stamps cannot be
//! written apart), the mapped event and the payload's leftovers are built as values and the
//! general path is taken; those are rare for CEF, whose values are strings.
//!
//! For a template with a plan, the stamps are merged into it once ([`StampedPlan`](super::plan::StampedPlan)), and the
//! event is written by filling that merged shape's holes.
//!
//! Measured by `benches/benches/cef.rs` (1,000 lines through `cef-syslog`): 4-4.7 times as
//! fast as building the payload, and about 230 MB/s of CEF on the development VM (11.4 times
//! the `memchr` floor; `benches/README.md` says where the time goes).

use std::borrow::Cow;
use std::cmp::Ordering;

use aisoc_notify_core::inbox_template::IngestContext;
use serde_json::{Map, Value};

use super::coerce::{At, Rejected, coerce, fits_as_is};
use super::mapping::{Draft, unmapped};
use super::ocsf_model::OcsfModel;
use super::path::{Segment, set};
use super::plan::{Fills, Leaf};
use super::write::{Stamp, WriteError, key_order, members, stamps_apart, write_int, write_str};
use super::{YamlTemplate, epoch_ms, time_ms_from_text};
use crate::cef::{CefEvent, is_labelled, severity_id};

/// The top-level keys of the payload, in the order a `serde_json::Map` keeps them (byte
/// order), which is the order `unmapped` is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    CefVersion,
    DeviceProduct,
    DeviceVendor,
    DeviceVersion,
    Extensions,
    Labels,
    Name,
    Severity,
    SeverityId,
    SignatureId,
    SyslogPrefix,
}

const KEYS: [(&str, Key); 11] = [
    ("cef_version", Key::CefVersion),
    ("device_product", Key::DeviceProduct),
    ("device_vendor", Key::DeviceVendor),
    ("device_version", Key::DeviceVersion),
    ("extensions", Key::Extensions),
    ("labels", Key::Labels),
    ("name", Key::Name),
    ("severity", Key::Severity),
    ("severity_id", Key::SeverityId),
    ("signature_id", Key::SignatureId),
    ("syslog_prefix", Key::SyslogPrefix),
];

/// Each of [`KEYS`] as a JSON member's start, `,"name":` (none needs an escape).
const JSON_KEYS: [&[u8]; 11] = [
    b",\"cef_version\":",
    b",\"device_product\":",
    b",\"device_vendor\":",
    b",\"device_version\":",
    b",\"extensions\":",
    b",\"labels\":",
    b",\"name\":",
    b",\"severity\":",
    b",\"severity_id\":",
    b",\"signature_id\":",
    b",\"syslog_prefix\":",
];

impl Key {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "cef_version" => Key::CefVersion,
            "device_product" => Key::DeviceProduct,
            "device_vendor" => Key::DeviceVendor,
            "device_version" => Key::DeviceVersion,
            "extensions" => Key::Extensions,
            "labels" => Key::Labels,
            "name" => Key::Name,
            "severity" => Key::Severity,
            "severity_id" => Key::SeverityId,
            "signature_id" => Key::SignatureId,
            "syslog_prefix" => Key::SyslogPrefix,
            _ => return None,
        })
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// One pair of `extensions` or `labels`.
#[derive(Debug, Clone, Copy)]
struct Entry<'e> {
    key: &'e str,
    value: &'e str,
    /// [`key_prefix`] of the key, which orders most keys without comparing them.
    prefix: u64,
    /// Moved out by the mapping.
    taken: bool,
}

impl<'e> Entry<'e> {
    fn new(key: &'e str, value: &'e str) -> Self {
        Self {
            key,
            value,
            prefix: key_prefix(key),
            taken: false,
        }
    }

    /// The byte order of this entry's key and the key with `prefix`.
    fn order(&self, key: &str, prefix: u64) -> Ordering {
        self.prefix
            .cmp(&prefix)
            .then_with(|| key_order(self.key, key))
    }
}

/// The first eight bytes of `key` as one big-endian number, zero-padded: where two keys'
/// numbers differ, they order the keys as their bytes do (a shorter key is smaller where the
/// bytes agree).
fn key_prefix(key: &str) -> u64 {
    let bytes = key.as_bytes();
    if let Some(word) = bytes.first_chunk::<8>() {
        return u64::from_be_bytes(*word);
    }
    // Byte by byte: copying a slice of unknown length into the word called `memcpy`, and
    // reading the word back waited for its stores (both showed in profiles).
    bytes
        .iter()
        .zip((0..8).rev())
        .fold(0, |word, (byte, place)| {
            word | u64::from(*byte) << (place * 8)
        })
}

/// Pairs sorted by key in byte order, keeping the last value of a repeated key.
///
/// Keys are compared by their prefixes, and as strings only where those are equal: sorting a
/// line's dozen pairs by comparing strings showed in profiles. The sort is stable, so of
/// repeated keys the last written is last.
fn sorted_entries(mut entries: Vec<Entry<'_>>) -> Vec<Entry<'_>> {
    entries.sort_by(|a, b| a.order(b.key, b.prefix));
    entries.dedup_by(|later, earlier| {
        let same = later.prefix == earlier.prefix && later.key == earlier.key;
        if same {
            earlier.value = later.value;
        }
        same
    });
    entries
}

/// What a path finds in the payload.
#[derive(Debug, Clone, Copy)]
enum Node<'p> {
    Text(&'p str),
    Number(u32),
    /// `extensions` or `labels`: the pairs not taken yet are its members.
    Object(&'p [Entry<'p>]),
}

impl Node<'_> {
    fn to_value(self) -> Value {
        match self {
            Node::Text(text) => Value::String(text.to_owned()),
            Node::Number(n) => Value::from(n),
            Node::Object(entries) => Value::Object(
                entries
                    .iter()
                    .filter(|entry| !entry.taken)
                    .map(|entry| (entry.key.to_owned(), Value::String(entry.value.to_owned())))
                    .collect(),
            ),
        }
    }
}

/// A value moved out of the payload: text borrowed from the line, or built.
#[derive(Debug, Clone)]
enum Taken<'e> {
    Text(&'e str),
    Number(u32),
    Object(Value),
}

impl Taken<'_> {
    fn into_value(self) -> Value {
        match self {
            Taken::Text(text) => Value::String(text.to_owned()),
            Taken::Number(n) => Value::from(n),
            Taken::Object(value) => value,
        }
    }
}

/// A parsed CEF line read as the JSON payload [`CefEvent::into_json`] builds, with what the
/// mapping has taken out of it so far.
#[derive(Debug)]
pub(super) struct CefPayload<'e> {
    event: &'e CefEvent<'e>,
    severity_id: u8,
    /// One pair per key (the last one written), sorted by key, labelled pairs removed.
    extensions: Vec<Entry<'e>>,
    /// `csN` values by their `csNLabel` (the later key's wins a clash), sorted by label.
    labels: Vec<Entry<'e>>,
    /// The top-level keys taken out ([`Key::bit`]).
    taken: u16,
}

/// The pair with `key` among pairs sorted by key, taken or not.
fn find(entries: &[Entry<'_>], key: &str) -> Option<usize> {
    let prefix = key_prefix(key);
    entries
        .binary_search_by(|entry| entry.order(key, prefix))
        .ok()
}

impl<'e> CefPayload<'e> {
    pub(super) fn new(event: &'e CefEvent<'e>) -> Self {
        let mut extensions = sorted_entries(
            event
                .extensions
                .iter()
                .map(|(key, value)| Entry::new(key, value))
                .collect(),
        );
        // A labelled pair and its label move to `labels` (`taken` marks them here).
        let mut labels = Vec::new();
        for at in 0..extensions.len() {
            let key = extensions[at].key;
            if !is_labelled(key) {
                continue;
            }
            let label_key = extensions.binary_search_by(|entry| {
                entry
                    .key
                    .bytes()
                    .cmp(key.bytes().chain(b"Label".iter().copied()))
            });
            if let Ok(label_at) = label_key {
                labels.push(Entry::new(extensions[label_at].value, extensions[at].value));
                extensions[at].taken = true;
                extensions[label_at].taken = true;
            }
        }
        if !labels.is_empty() {
            extensions.retain(|entry| !entry.taken);
            labels = sorted_entries(labels);
        }
        Self {
            event,
            severity_id: severity_id(&event.severity),
            extensions,
            labels,
            taken: 0,
        }
    }

    /// The top-level value under `key`, unless absent or taken.
    fn node(&self, key: Key) -> Option<Node<'_>> {
        if self.taken & key.bit() != 0 {
            return None;
        }
        let event = self.event;
        Some(match key {
            Key::CefVersion => Node::Number(event.version),
            Key::DeviceProduct => Node::Text(&event.device_product),
            Key::DeviceVendor => Node::Text(&event.device_vendor),
            Key::DeviceVersion => Node::Text(&event.device_version),
            Key::Extensions => Node::Object(&self.extensions),
            Key::Labels if self.labels.is_empty() => return None,
            Key::Labels => Node::Object(&self.labels),
            Key::Name => Node::Text(&event.name),
            Key::Severity => Node::Text(&event.severity),
            Key::SeverityId => Node::Number(u32::from(self.severity_id)),
            Key::SignatureId => Node::Text(&event.signature_id),
            Key::SyslogPrefix => Node::Text(event.syslog_prefix?),
        })
    }

    fn entries_mut(&mut self, key: Key) -> Option<&mut Vec<Entry<'e>>> {
        match key {
            Key::Extensions => Some(&mut self.extensions),
            Key::Labels => Some(&mut self.labels),
            _ => None,
        }
    }

    /// What `path::get` finds at `path` in the payload (a numeric segment reads as a key).
    fn get(&self, path: &[Segment]) -> Option<Node<'_>> {
        let (Segment::Key(first), rest) = path.split_first()? else {
            // No top-level key is a number.
            return None;
        };
        let node = self.node(Key::named(first)?)?;
        match (node, rest) {
            (node, []) => Some(node),
            (Node::Object(entries), [member]) => {
                let name: Cow<'_, str> = match member {
                    Segment::Key(key) => Cow::Borrowed(key),
                    Segment::Index(index) => Cow::Owned(index.to_string()),
                };
                let entry = entries[find(entries, &name)?];
                (!entry.taken).then_some(Node::Text(entry.value))
            }
            _ => None,
        }
    }

    /// A header text, borrowed from the line.
    fn text(&self, key: Key) -> Option<&'e str> {
        let event: &'e CefEvent<'e> = self.event;
        Some(match key {
            Key::DeviceProduct => &event.device_product,
            Key::DeviceVendor => &event.device_vendor,
            Key::DeviceVersion => &event.device_version,
            Key::Name => &event.name,
            Key::Severity => &event.severity,
            Key::SignatureId => &event.signature_id,
            Key::SyslogPrefix => event.syslog_prefix?,
            Key::CefVersion | Key::Extensions | Key::Labels | Key::SeverityId => return None,
        })
    }

    /// What `path::take` moves out of the payload at `path`.
    // Inlined: returned through memory, the value was read back before all its parts were
    // written (a stalled store forward on every mapped field in profiles).
    #[inline(always)]
    fn take(&mut self, path: &[Segment]) -> Option<Taken<'e>> {
        let (Segment::Key(first), rest) = path.split_first()? else {
            return None;
        };
        let key = Key::named(first)?;
        let node = self.node(key)?;
        match rest {
            [] => {
                let taken = match node {
                    Node::Text(_) => Taken::Text(self.text(key)?),
                    Node::Number(n) => Taken::Number(n),
                    Node::Object(_) => Taken::Object(node.to_value()),
                };
                self.taken |= key.bit();
                Some(taken)
            }
            [Segment::Key(member)] => {
                let entries = self.entries_mut(key)?;
                let at = find(entries, member)?;
                let entry = &mut entries[at];
                if entry.taken {
                    return None;
                }
                entry.taken = true;
                Some(Taken::Text(entry.value))
            }
            _ => None,
        }
    }

    /// The payload's leftovers as a value (before pruning).
    fn into_value(self) -> Value {
        let map: Map<String, Value> = KEYS
            .iter()
            .filter_map(|(name, key)| Some(((*name).to_owned(), self.node(*key)?.to_value())))
            .collect();
        Value::Object(map)
    }

    /// Whether a leftover top-level key is written: `extensions` and `labels` only with a
    /// member left, as pruning drops empty objects.
    fn kept(node: &Node<'_>) -> bool {
        match node {
            Node::Object(entries) => entries.iter().any(|entry| !entry.taken),
            Node::Text(_) | Node::Number(_) => true,
        }
    }

    /// Whether nothing is left for `unmapped`.
    fn is_spent(&self) -> bool {
        KEYS.iter()
            .filter_map(|(_, key)| self.node(*key))
            .all(|node| !Self::kept(&node))
    }

    /// Writes the leftovers as serialising the pruned payload would.
    pub(super) fn write_leftovers(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.push(b'{');
        let mut first = true;
        for ((_, key), json_key) in KEYS.iter().zip(JSON_KEYS) {
            let Some(node) = self.node(*key).filter(Self::kept) else {
                continue;
            };
            out.extend_from_slice(if std::mem::take(&mut first) {
                &json_key[1..]
            } else {
                json_key
            });
            match node {
                Node::Text(text) => write_str(out, text)?,
                Node::Number(n) => write_int(out, n.into()),
                Node::Object(entries) => {
                    out.push(b'{');
                    let mut first = true;
                    for entry in entries.iter().filter(|entry| !entry.taken) {
                        if !std::mem::take(&mut first) {
                            out.push(b',');
                        }
                        write_str(out, entry.key)?;
                        out.push(b':');
                        write_str(out, entry.value)?;
                    }
                    out.push(b'}');
                }
            }
        }
        out.push(b'}');
        Ok(())
    }
}

impl YamlTemplate {
    /// Maps one parsed CEF line and appends the finished OCSF event to `out` as compact JSON:
    /// the same bytes as [`write_json`](Self::write_json) of
    /// [`event.to_json()`](CefEvent::to_json), without building that value (module docs).
    pub fn write_cef_json(
        &self,
        event: &CefEvent<'_>,
        context: &IngestContext,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        let mut payload = CefPayload::new(event);
        if !self.skip_when.is_empty()
            && self.skip_when.iter().all(|(path, value)| {
                payload
                    .get(path)
                    .is_some_and(|node| node.to_value() == *value)
            })
        {
            return Err(self.skipped().into());
        }
        let severity_id = match &self.severity_field {
            None => self.severity_of(None),
            Some(path) => match payload.get(path) {
                Some(Node::Text(text)) => self.severity_of(Some(text)),
                Some(Node::Number(n)) => self.severity_of(Some(decimal(n, &mut [0; 10]))),
                Some(Node::Object(_)) | None => self.severity_of(None),
            },
        };
        let parsed_time = self
            .time_field
            .as_ref()
            .and_then(|path| payload.get(path))
            .and_then(|node| match node {
                Node::Text(text) => cef_time_ms(text),
                Node::Number(n) => epoch_ms(f64::from(n)),
                Node::Object(_) => None,
            });
        let time = parsed_time.unwrap_or_else(|| context.received_at.timestamp_millis());

        // What `draft` does, with the payload's paths answered by the line.
        let model = OcsfModel::detection_finding();
        let mut rejected = Rejected::new();
        let mut holes = false;
        let event = match &self.plan {
            Some(plan) => {
                // A slot per destination (on the stack for most templates); strings that fit
                // stay borrowed.
                let mut on_stack: [Option<Leaf<'_>>; 16] = Default::default();
                let mut on_heap = Vec::new();
                let leaves = match on_stack.get_mut(..plan.slots()) {
                    Some(leaves) => leaves,
                    None => {
                        on_heap.resize_with(plan.slots(), || None);
                        on_heap.as_mut_slice()
                    }
                };
                for ((source, targets), slots) in self.field_map.iter().zip(&plan.field_leaves) {
                    let Some(taken) = payload.take(source) else {
                        continue;
                    };
                    for (target, slot) in targets.iter().zip(slots) {
                        // Each leaf written where it goes: moved there from a local, it was
                        // read back before all its parts were written (a stalled store
                        // forward on every mapped field in profiles).
                        match taken {
                            Taken::Text(text) if fits_as_is(text, target.ty) => {
                                leaves[*slot] = Some(Leaf::Text(text));
                            }
                            _ => {
                                let at = &mut At::new(&target.path);
                                if let Some(value) = coerce(
                                    taken.clone().into_value(),
                                    target.ty,
                                    model,
                                    at,
                                    &mut rejected,
                                ) {
                                    leaves[*slot] = Some(Leaf::Value(value));
                                }
                            }
                        }
                    }
                }
                for ((_, value), slot) in self.constants.iter().zip(&plan.constant_leaves) {
                    leaves[*slot] = Some(Leaf::Constant(value));
                }
                consume_severity_and_time(self, &mut payload, parsed_time.is_some());
                if rejected.is_empty() {
                    let spent = payload.is_spent();
                    if let Some(stamped) = plan.stamped(self) {
                        let fills = Fills {
                            context,
                            severity_id,
                            time,
                        };
                        let unmapped = (!spent).then_some(&payload);
                        stamped.write(leaves, &fills, unmapped, out)?;
                        return Ok(());
                    }
                    let unmapped = if spent {
                        Stamp::Absent
                    } else {
                        Stamp::Cef(&payload)
                    };
                    let root = plan.members(leaves);
                    return self.write_stamped(root, severity_id, time, unmapped, context, out);
                }
                // A value went under `unmapped`: the event as mapping builds it, and the
                // general machinery from there.
                plan.build(leaves)
            }
            None => {
                let mut event = Value::Object(Map::new());
                for (source, targets) in &self.field_map {
                    let Some(value) = payload.take(source) else {
                        continue;
                    };
                    let value = value.into_value();
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
                consume_severity_and_time(self, &mut payload, parsed_time.is_some());
                event
            }
        };

        if !(self.direct && stamps_apart(&event)) {
            let draft = Draft {
                event,
                rejected,
                holes,
                leftovers: payload.into_value(),
                severity_id,
                time,
            };
            return self.write_draft(draft, context, out);
        }
        let root = self.enforced(event, &mut rejected, holes);
        if rejected.is_empty() {
            let unmapped = if payload.is_spent() {
                Stamp::Absent
            } else {
                Stamp::Cef(&payload)
            };
            return self.write_stamped(members(&root), severity_id, time, unmapped, context, out);
        }
        let unmapped = unmapped(payload.into_value(), rejected);
        let unmapped = unmapped.as_ref().map_or(Stamp::Absent, Stamp::Value);
        self.write_stamped(members(&root), severity_id, time, unmapped, context, out)
    }
}

/// Takes the severity field out of the payload, and the time field when it parsed (and is
/// still there), as `draft` does after the field map.
fn consume_severity_and_time(template: &YamlTemplate, payload: &mut CefPayload<'_>, parsed: bool) {
    if let Some(path) = &template.severity_field {
        payload.take(path);
    }
    if let Some(path) = &template.time_field
        && parsed
        && payload.get(path).is_some()
    {
        payload.take(path);
    }
}

/// `n` in decimal, written into `digits`.
fn decimal(n: u32, digits: &mut [u8; 10]) -> &str {
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        // `rest % 10` is below 10.
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&digits[at..]).unwrap_or_default()
}

/// [`time_ms_from_text`], answered without parsing a float where the text is at most 15
/// digits (CEF's `rt` in epoch milliseconds): such a number is exact as an `f64`, so it gives
/// the same time as the float the general parser makes of it.
fn cef_time_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if (1..=15).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_digit) {
        let n = bytes
            .iter()
            .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
        // Below 10^15 < 2^53: exact.
        return epoch_ms(n as f64);
    }
    time_ms_from_text(text)
}
