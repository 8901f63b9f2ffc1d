//! A template's mapped event as a fixed shape, so an event can be written without building it
//! (issue #17).
//!
//! Mapping builds each event as a `serde_json::Value` tree: an allocation per key, per value
//! and per object, freed again once the event is written. For most templates that tree has
//! the same shape every time, known when the template is loaded: each destination is a leaf,
//! and an event only decides which leaves have a value. The plan is that shape; an event's
//! values are put in a slot per leaf and written into the shape with the ingest's stamps
//! merged in ([`write`](super::write)), the same bytes as the built event.
//!
//! A template has a plan when the shape cannot depend on the event:
//! - each destination reaches its leaf through objects, a list only as `.0` at the end, so
//!   no list is padded;
//! - no destination lies inside another's value (`a` and `a.b`), and none is an object the
//!   ingest stamps (`finding_info`, `metadata`, `metadata.product`) or a `metadata` key it
//!   overwrites, so the stamps can always be written apart;
//! - no object it builds has presence rules but the stamped ones, and no whole object or list
//!   is mapped, so the presence checks never move anything out.
//!
//! A value that coercion rejects still needs the general machinery (it goes under `unmapped`
//! at its OCSF path); the caller then builds the event from the same slots
//! ([`DirectPlan::build`]) and takes the general path. The CEF route uses the plan (see
//! [`cef`](super::cef)), with the stamps merged into it once ([`stamped`]);
//! `tests/cef_direct.rs` compares the output with the built event's.

mod stamped;

use std::sync::OnceLock;

use serde_json::{Map, Value};

pub(crate) use stamped::{Fills, StampedPlan};

use super::path::{Segment, set};
use super::presence::PresenceChecks;
use super::write::Mapped;
use super::{Target, write};

/// The value of one leaf for one event.
#[derive(Debug)]
pub(crate) enum Leaf<'a> {
    /// A string that coercion would keep as it is, borrowed from the payload.
    Text(&'a str),
    /// A coerced value.
    Value(Value),
    /// One of the template's constants.
    Constant(&'a Value),
}

impl Leaf<'_> {
    fn into_value(self) -> Value {
        match self {
            Leaf::Text(text) => Value::String(text.to_owned()),
            Leaf::Value(value) => value,
            Leaf::Constant(value) => value.clone(),
        }
    }
}

/// One position of the shape.
#[derive(Debug, Clone)]
pub(crate) enum PlanNode {
    /// A leaf (its slot).
    Leaf(usize),
    /// A list holding one leaf (`types.0`).
    List(usize),
    /// An object.
    Object(PlanObject),
}

/// An object of the shape: its members by key, in byte order.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanObject {
    members: Vec<(String, PlanNode)>,
}

impl PlanNode {
    /// Whether the node is in this event: it or a leaf below it has a value.
    fn present(&self, leaves: &[Option<Leaf<'_>>]) -> bool {
        match self {
            PlanNode::Leaf(at) | PlanNode::List(at) => leaves[*at].is_some(),
            PlanNode::Object(object) => object.members.iter().any(|(_, m)| m.present(leaves)),
        }
    }
}

impl PlanObject {
    /// The members present in this event, in key order.
    pub(super) fn members<'m>(
        &'m self,
        leaves: &'m [Option<Leaf<'m>>],
    ) -> impl Iterator<Item = (&'m str, Mapped<'m>)> {
        self.members
            .iter()
            .filter(|(_, node)| node.present(leaves))
            .map(move |(key, node)| (key.as_str(), Mapped::Plan(node, leaves)))
    }
}

/// The fixed shape of a template's mapped events (module docs).
#[derive(Debug, Clone)]
pub(crate) struct DirectPlan {
    root: PlanObject,
    /// For each `field_map` entry, the slot of each of its targets.
    pub(super) field_leaves: Vec<Vec<usize>>,
    /// The slot of each constant.
    pub(super) constant_leaves: Vec<usize>,
    /// The path of each slot.
    paths: Vec<Vec<Segment>>,
    /// The plan with the stamps merged in, made on first use ([`stamped`]).
    stamped: OnceLock<Option<StampedPlan>>,
}

impl DirectPlan {
    /// The plan for a template's destinations, or `None` when its events' shape may depend on
    /// the event (module docs).
    pub(super) fn new(
        field_map: &[(Vec<Segment>, Vec<Target>)],
        constants: &[(Vec<Segment>, Value)],
        checks: &PresenceChecks,
        direct: bool,
    ) -> Option<Self> {
        if !direct || !checks.only_stamped() {
            return None;
        }
        let mut plan = Self {
            root: PlanObject::default(),
            field_leaves: Vec::with_capacity(field_map.len()),
            constant_leaves: Vec::with_capacity(constants.len()),
            paths: Vec::new(),
            stamped: OnceLock::new(),
        };
        for (_, targets) in field_map {
            let slots = targets
                .iter()
                .map(|target| plan.slot(&target.path))
                .collect::<Option<Vec<usize>>>()?;
            plan.field_leaves.push(slots);
        }
        for (path, _) in constants {
            let slot = plan.slot(path)?;
            plan.constant_leaves.push(slot);
        }
        Some(plan)
    }

    /// The plan with `template`'s stamps merged in, or `None` when they do not merge.
    pub(super) fn stamped(&self, template: &super::YamlTemplate) -> Option<&StampedPlan> {
        self.stamped
            .get_or_init(|| StampedPlan::compile(template, self))
            .as_ref()
    }

    /// The number of slots.
    pub(super) fn slots(&self) -> usize {
        self.paths.len()
    }

    /// The root's members present in this event.
    pub(super) fn members<'m>(
        &'m self,
        leaves: &'m [Option<Leaf<'m>>],
    ) -> impl Iterator<Item = (&'m str, Mapped<'m>)> {
        self.root.members(leaves)
    }

    /// The event built from the slots, as mapping builds it (each value set at its path).
    pub(super) fn build(&self, leaves: &mut [Option<Leaf<'_>>]) -> Value {
        let mut event = Value::Object(Map::new());
        for (path, leaf) in self.paths.iter().zip(leaves) {
            if let Some(leaf) = leaf.take() {
                // No padding: a list is only ever reached at `.0`.
                set(&mut event, path, leaf.into_value());
            }
        }
        event
    }

    /// The slot for a destination, made if new; `None` when the destination does not fit a
    /// fixed shape.
    fn slot(&mut self, path: &[Segment]) -> Option<usize> {
        let (keys, list) = match path.split_last()? {
            (Segment::Index(0), keys) => (keys, true),
            (Segment::Index(_), _) => return None,
            (Segment::Key(_), _) => (path, false),
        };
        let mut names = Vec::with_capacity(keys.len());
        for segment in keys {
            let Segment::Key(key) = segment else {
                return None;
            };
            names.push(key.as_str());
        }
        let stamped = write::STAMPED_OBJECTS.contains(&names.as_slice())
            || matches!(names.as_slice(), ["metadata", key] if write::OVERWRITTEN_METADATA.contains(key));
        if stamped {
            return None;
        }
        let (last, parents) = names.split_last()?;
        let mut object = &mut self.root;
        for key in parents {
            let at = match object
                .members
                .binary_search_by(|(k, _)| k.as_str().cmp(key))
            {
                Ok(at) => at,
                Err(at) => {
                    let node = PlanNode::Object(PlanObject::default());
                    object.members.insert(at, ((*key).to_owned(), node));
                    at
                }
            };
            object = match &mut object.members[at].1 {
                PlanNode::Object(child) => child,
                PlanNode::Leaf(_) | PlanNode::List(_) => return None,
            };
        }
        match object
            .members
            .binary_search_by(|(k, _)| k.as_str().cmp(last))
        {
            Ok(at) => match object.members[at].1 {
                PlanNode::Leaf(slot) if !list => Some(slot),
                PlanNode::List(slot) if list => Some(slot),
                _ => None,
            },
            Err(at) => {
                let slot = self.paths.len();
                self.paths.push(path.to_vec());
                let node = if list {
                    PlanNode::List(slot)
                } else {
                    PlanNode::Leaf(slot)
                };
                object.members.insert(at, ((*last).to_owned(), node));
                Some(slot)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::template::{BUNDLED, YamlTemplate};

    fn template(field_map: &str) -> YamlTemplate {
        let yaml = format!("id: t\nvendor_name: V\nproduct_name: P\nfield_map:\n{field_map}");
        YamlTemplate::from_yaml("t.yaml", &yaml).unwrap()
    }

    #[test]
    fn templates_of_single_values_have_a_fixed_shape() {
        let cef = BUNDLED
            .iter()
            .find(|(file, _)| *file == "cef-syslog.yaml")
            .unwrap();
        let cef = YamlTemplate::from_yaml(cef.0, cef.1).unwrap();
        let plan = cef.plan.as_ref().unwrap();
        // name, signature_id, the three device fields, msg, externalId.
        assert_eq!(plan.slots(), 7);
        let same_leaf = template("  a: message\n  b: message\n  c: finding_info.types.0\n");
        assert_eq!(same_leaf.plan.as_ref().unwrap().slots(), 2);
    }

    #[test]
    fn shapes_that_depend_on_the_event_have_no_plan() {
        for field_map in [
            // Padding a list.
            "  a: finding_info.types.1\n",
            // Inside a list item.
            "  a: evidences.0.email.from\n",
            // A destination inside another's value.
            "  a: finding_info.types\n  b: finding_info.types.0\n",
            // Presence rules (a `cve` needs its `uid`).
            "  a: vulnerabilities.0.cve.uid\n",
            // A stamped object mapped whole.
            "  a: finding_info\n",
        ] {
            assert!(template(field_map).plan.is_none(), "{field_map}");
        }
    }
}
