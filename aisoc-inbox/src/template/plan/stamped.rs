//! A template's [plan](super) with the ingest's stamps merged in, once per template (issue #17).
//!
//! [`write_stamped`](crate::template::YamlTemplate) merges the mapped members with the stamps
//! key by key for every event: it compares keys, looks at each for escapes, and writes every
//! constant (`"class_uid":2004`, the product names, `"version":"1.5.0"`) again. With a plan,
//! which members an event can have and where each stamp goes are known when the template is
//! loaded, so the merge is done then: a run of members that are always there with the same
//! value becomes one literal (for `cef-syslog`, `"activity_id":1,…,"class_uid":2004` is one),
//! and what changes per event (a mapped value, a default the mapping may fill, the receive
//! time, the event's uid, `unmapped`) is a hole filled when writing. The bytes are those
//! `write_stamped` writes from the same slots; `tests/cef_direct.rs` compares the two paths
//! over every bundled template and the unusual ones.

use std::ops::Range;

use aisoc_notify_core::inbox_template::IngestContext;
use serde_json::Value;

use super::{DirectPlan, Leaf, PlanNode};
use crate::template::cef::CefPayload;
use crate::template::write::{Mapped, write_int, write_str, write_value};
use crate::template::{OCSF_VERSION, YamlTemplate, severity_name};

/// A value the ingest writes that changes from event to event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    LoggedTime,
    TenantUid,
    EventUid,
    SeverityName,
    SeverityId,
    Time,
}

/// What a stamp writes.
#[derive(Debug, Clone)]
enum StampValue {
    /// The same JSON for every event (rendered into the literals).
    Const(Range<usize>),
    Fill(Fill),
}

/// A stamp as `write_stamped` lays them out, with its values known or to be filled.
enum Stamp {
    /// Written whatever the mapping put there.
    Set(StampValue),
    /// Written unless the mapping filled the key.
    Default(StampValue),
    /// An object merged key by key with the mapped one.
    Object(Vec<(&'static str, Stamp)>),
    /// `unmapped`: what the mapping left of the line, when anything.
    Unmapped,
}

/// One step of writing an event.
#[derive(Debug, Clone)]
enum Op {
    /// Bytes written as they are; `written` tells whether the object they leave open has a
    /// member already (so the next member needs a comma).
    Fixed { bytes: Range<usize>, written: bool },
    /// `,"key":`, the comma only after another member.
    Key(Range<usize>),
    /// A stamp's value filled for this event.
    Fill(Fill),
    /// A mapped member, when this event has it: key and value.
    Mapped { key: Range<usize>, node: PlanNode },
    /// A mapped value, or the stamp's when the mapping left it out (the key is written).
    MappedOr { node: PlanNode, default: StampValue },
    /// `unmapped`, when anything is left.
    Unmapped(Range<usize>),
}

/// The plan with the stamps merged in (module docs).
#[derive(Debug, Clone)]
pub(crate) struct StampedPlan {
    /// The literals and rendered constants the steps point into.
    bytes: Vec<u8>,
    ops: Vec<Op>,
}

/// What an event fills the holes with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fills<'a> {
    /// The request's tenant, event uid and receive time.
    pub(crate) context: &'a IngestContext,
    /// The event's `severity_id`.
    pub(crate) severity_id: u32,
    /// The event's `time` (epoch ms).
    pub(crate) time: i64,
}

/// Builds the steps: literals are gathered in `pending` until a hole needs a step of its own.
struct Compiler<'t> {
    bytes: Vec<u8>,
    ops: Vec<Op>,
    /// Where the literal being gathered starts in `bytes`, and whether the object it leaves
    /// open has a member.
    pending: Option<(usize, bool)>,
    /// Each slot's constant, if it is one.
    constants: Vec<Option<&'t Value>>,
}

impl Compiler<'_> {
    /// Appends literal bytes to the run being gathered.
    fn literal(&mut self, bytes: &[u8], written: bool) {
        let start = self.pending.map_or(self.bytes.len(), |(start, _)| start);
        self.bytes.extend_from_slice(bytes);
        self.pending = Some((start, written));
    }

    /// Ends the literal being gathered, if any, before a step of another kind.
    fn flush(&mut self) {
        if let Some((start, written)) = self.pending.take() {
            self.ops.push(Op::Fixed {
                bytes: start..self.bytes.len(),
                written,
            });
        }
    }

    fn push(&mut self, op: Op) {
        self.flush();
        self.ops.push(op);
    }

    /// `bytes` kept apart from the literals (a key or value a step points at).
    fn stored(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Range<usize> {
        self.flush();
        let start = self.bytes.len();
        write(&mut self.bytes);
        start..self.bytes.len()
    }

    /// `"key":`, and the comma before it when `comma`.
    fn key_bytes(key: &str, comma: bool) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(key.len() + 4);
        if comma {
            out.push(b',');
        }
        write_str(&mut out, key).ok()?;
        out.push(b':');
        Some(out)
    }

    /// The key of a member always present: in the literal when whether a member came before
    /// is known, else a step.
    fn always_key(&mut self, key: &str, known: &mut Option<bool>) -> Option<()> {
        match *known {
            Some(written) => {
                let bytes = Self::key_bytes(key, written)?;
                self.literal(&bytes, true);
            }
            None => {
                let bytes = Self::key_bytes(key, true)?;
                let range = self.stored(|out| out.extend_from_slice(&bytes));
                self.push(Op::Key(range));
            }
        }
        *known = Some(true);
        Some(())
    }

    /// A stamp's value after its key.
    fn stamp_value(&mut self, value: StampValue) {
        match value {
            StampValue::Const(range) => {
                let bytes = self.bytes[range].to_vec();
                self.literal(&bytes, true);
            }
            StampValue::Fill(fill) => self.push(Op::Fill(fill)),
        }
    }

    /// The JSON of a planned node whose leaves are all constants, or `None`.
    fn constant_json(&self, node: &PlanNode) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match node {
            PlanNode::Leaf(slot) => write_value(&mut out, self.constants[*slot]?).ok()?,
            PlanNode::List(slot) => {
                out.push(b'[');
                write_value(&mut out, self.constants[*slot]?).ok()?;
                out.push(b']');
            }
            PlanNode::Object(_) => return None,
        }
        Some(out)
    }

    /// Whether a planned node is in every event: it holds a constant.
    fn always(&self, node: &PlanNode) -> bool {
        match node {
            PlanNode::Leaf(slot) | PlanNode::List(slot) => self.constants[*slot].is_some(),
            PlanNode::Object(object) => object.members.iter().any(|(_, m)| self.always(m)),
        }
    }

    /// A member the mapping writes, with no stamp of its own.
    fn mapped(&mut self, key: &str, node: &PlanNode, known: &mut Option<bool>) -> Option<()> {
        if let Some(json) = self.constant_json(node) {
            self.always_key(key, known)?;
            self.literal(&json, true);
            return Some(());
        }
        match node {
            PlanNode::Object(object) if self.always(node) => {
                self.always_key(key, known)?;
                let members: Vec<(&str, &PlanNode)> = object
                    .members
                    .iter()
                    .map(|(k, m)| (k.as_str(), m))
                    .collect();
                self.object(&members, &[])
            }
            _ => {
                let bytes = Self::key_bytes(key, true)?;
                let range = self.stored(|out| out.extend_from_slice(&bytes));
                self.push(Op::Mapped {
                    key: range,
                    node: node.clone(),
                });
                if *known != Some(true) {
                    *known = None;
                }
                Some(())
            }
        }
    }

    /// An object always present: `{`, its mapped members merged with its stamps, `}`.
    fn object(&mut self, mapped: &[(&str, &PlanNode)], stamps: &[(&str, &Stamp)]) -> Option<()> {
        self.literal(b"{", false);
        let mut known = Some(false);
        let (mut m, mut s) = (0, 0);
        loop {
            let order = match (mapped.get(m), stamps.get(s)) {
                (None, None) => break,
                (Some((key, _)), Some((stamp_key, _))) => key.as_bytes().cmp(stamp_key.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    let (key, node) = mapped[m];
                    m += 1;
                    self.mapped(key, node, &mut known)?;
                }
                std::cmp::Ordering::Greater => {
                    let (key, stamp) = stamps[s];
                    s += 1;
                    self.stamp(key, stamp, None, &mut known)?;
                }
                std::cmp::Ordering::Equal => {
                    let (key, node) = mapped[m];
                    let (_, stamp) = stamps[s];
                    m += 1;
                    s += 1;
                    self.stamp(key, stamp, Some(node), &mut known)?;
                }
            }
        }
        self.literal(b"}", true);
        Some(())
    }

    /// A stamp, and what the mapping put under the same key (as `write_stamp` meets them).
    fn stamp(
        &mut self,
        key: &str,
        stamp: &Stamp,
        mapped: Option<&PlanNode>,
        known: &mut Option<bool>,
    ) -> Option<()> {
        match (stamp, mapped) {
            (Stamp::Set(value), _) | (Stamp::Default(value), None) => {
                self.always_key(key, known)?;
                self.stamp_value(value.clone());
            }
            (Stamp::Default(value), Some(node)) => {
                self.always_key(key, known)?;
                match self.constant_json(node) {
                    Some(json) => self.literal(&json, true),
                    None if self.always(node) => return None,
                    None => self.push(Op::MappedOr {
                        node: node.clone(),
                        default: value.clone(),
                    }),
                }
            }
            (Stamp::Object(stamps), mapped) => {
                let members: Vec<(&str, &PlanNode)> = match mapped {
                    None => Vec::new(),
                    Some(PlanNode::Object(object)) => object
                        .members
                        .iter()
                        .map(|(k, m)| (k.as_str(), m))
                        .collect(),
                    // A plan never maps a value onto a stamped object.
                    Some(_) => return None,
                };
                let stamps: Vec<(&str, &Stamp)> = stamps.iter().map(|(k, s)| (*k, s)).collect();
                self.always_key(key, known)?;
                self.object(&members, &stamps)?;
            }
            (Stamp::Unmapped, None) => {
                let bytes = Self::key_bytes(key, true)?;
                let range = self.stored(|out| out.extend_from_slice(&bytes));
                self.push(Op::Unmapped(range));
                if *known != Some(true) {
                    *known = None;
                }
            }
            // `unmapped` is reserved: no template maps it.
            (Stamp::Unmapped, Some(_)) => return None,
        }
        Some(())
    }
}

impl StampedPlan {
    /// The steps for `template`'s events, or `None` where the plan and the stamps do not
    /// merge the way `write_stamped` expects (then the caller writes as before).
    pub(crate) fn compile(template: &YamlTemplate, plan: &DirectPlan) -> Option<Self> {
        let mut constants = vec![None; plan.slots()];
        for ((_, value), slot) in template.constants.iter().zip(&plan.constant_leaves) {
            constants[*slot] = Some(value);
        }
        let mut compiler = Compiler {
            bytes: Vec::new(),
            ops: Vec::new(),
            pending: None,
            constants,
        };
        let mut constant = |json: Vec<u8>| {
            let start = compiler.bytes.len();
            compiler.bytes.extend_from_slice(&json);
            StampValue::Const(start..compiler.bytes.len())
        };
        let text = |text: &str| {
            let mut out = Vec::new();
            write_str(&mut out, text).ok().map(|()| out)
        };
        let int = |n: i64| {
            let mut out = Vec::new();
            write_int(&mut out, n);
            out
        };
        let file = &template.file;
        let class_uid = file.class_uid;
        let activity_id = file.activity_id;
        let class_name = file.class_name.as_deref().unwrap_or("Detection Finding");
        // The stamps of `write_stamped`, in the same order.
        let stamps = vec![
            ("activity_id", Stamp::Set(constant(int(activity_id.into())))),
            (
                "category_uid",
                Stamp::Set(constant(int((class_uid / 1000).into()))),
            ),
            ("class_name", Stamp::Default(constant(text(class_name)?))),
            ("class_uid", Stamp::Set(constant(int(class_uid.into())))),
            (
                "finding_info",
                Stamp::Object(vec![
                    (
                        "title",
                        Stamp::Default(constant(text(&template.default_title)?)),
                    ),
                    ("uid", Stamp::Default(StampValue::Fill(Fill::EventUid))),
                ]),
            ),
            (
                "metadata",
                Stamp::Object(vec![
                    (
                        "logged_time",
                        Stamp::Set(StampValue::Fill(Fill::LoggedTime)),
                    ),
                    (
                        "product",
                        Stamp::Object(vec![
                            ("name", Stamp::Default(constant(text(&file.product_name)?))),
                            (
                                "vendor_name",
                                Stamp::Default(constant(text(&file.vendor_name)?)),
                            ),
                        ]),
                    ),
                    ("tenant_uid", Stamp::Set(StampValue::Fill(Fill::TenantUid))),
                    ("uid", Stamp::Set(StampValue::Fill(Fill::EventUid))),
                    ("version", Stamp::Set(constant(text(OCSF_VERSION)?))),
                ]),
            ),
            (
                "severity",
                Stamp::Default(StampValue::Fill(Fill::SeverityName)),
            ),
            (
                "severity_id",
                Stamp::Set(StampValue::Fill(Fill::SeverityId)),
            ),
            ("time", Stamp::Set(StampValue::Fill(Fill::Time))),
            (
                "type_uid",
                Stamp::Set(constant(int(
                    i64::from(class_uid) * 100 + i64::from(activity_id)
                ))),
            ),
            ("unmapped", Stamp::Unmapped),
        ];
        let mapped: Vec<(&str, &PlanNode)> = plan
            .root
            .members
            .iter()
            .map(|(key, node)| (key.as_str(), node))
            .collect();
        let stamps: Vec<(&str, &Stamp)> = stamps.iter().map(|(key, s)| (*key, s)).collect();
        compiler.object(&mapped, &stamps)?;
        compiler.flush();
        Some(Self {
            bytes: compiler.bytes,
            ops: compiler.ops,
        })
    }

    /// Writes one event: the slots' values and the fills in the steps' holes, `unmapped` from
    /// what the mapping left of the line.
    pub(crate) fn write(
        &self,
        leaves: &[Option<Leaf<'_>>],
        fills: &Fills<'_>,
        unmapped: Option<&CefPayload<'_>>,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        let bytes = self.bytes.as_slice();
        let mut written = false;
        let key = |out: &mut Vec<u8>, written: &mut bool, key: &Range<usize>| {
            let key = &bytes[key.clone()];
            out.extend_from_slice(if std::mem::replace(written, true) {
                key
            } else {
                &key[1..]
            });
        };
        for op in &self.ops {
            match op {
                Op::Fixed {
                    bytes: range,
                    written: after,
                } => {
                    out.extend_from_slice(&bytes[range.clone()]);
                    written = *after;
                }
                Op::Key(range) => key(out, &mut written, range),
                Op::Fill(fill) => fill_value(out, *fill, fills)?,
                Op::Mapped { key: range, node } => {
                    if node.present(leaves) {
                        key(out, &mut written, range);
                        Mapped::Plan(node, leaves).write(out)?;
                    }
                }
                Op::MappedOr { node, default } => {
                    if node.present(leaves) {
                        Mapped::Plan(node, leaves).write(out)?;
                    } else {
                        match default {
                            StampValue::Const(range) => {
                                out.extend_from_slice(&bytes[range.clone()]);
                            }
                            StampValue::Fill(fill) => fill_value(out, *fill, fills)?,
                        }
                    }
                }
                Op::Unmapped(range) => {
                    if let Some(payload) = unmapped {
                        key(out, &mut written, range);
                        payload.write_leftovers(out)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn fill_value(out: &mut Vec<u8>, fill: Fill, fills: &Fills<'_>) -> serde_json::Result<()> {
    match fill {
        Fill::LoggedTime => write_int(out, fills.context.received_at.timestamp_millis()),
        Fill::TenantUid => write_str(out, &fills.context.tenant_id)?,
        Fill::EventUid => write_str(out, &fills.context.event_uid)?,
        Fill::SeverityName => write_str(out, severity_name(fills.severity_id))?,
        Fill::SeverityId => write_int(out, fills.severity_id.into()),
        Fill::Time => write_int(out, fills.time),
    }
    Ok(())
}
