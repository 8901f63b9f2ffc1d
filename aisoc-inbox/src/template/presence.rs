//! Objects a template builds key by key, checked for the attributes OCSF requires once the
//! event is complete.
//!
//! A template fills `vulnerabilities.0.cve.uid` and `vulnerabilities.0.cve.cvss.0.base_score`
//! from separate vendor fields; when the vendor sends no CVE id, the `cve` object it built is
//! incomplete (OCSF's `cve` requires `uid`) and the whole event would fail the schema. Such an
//! object is moved to `unmapped` whole, and its parent is checked after it, since losing a
//! child can leave the parent incomplete too (a vulnerability needs one of advisory, cve, cwe).
//!
//! The checks follow a tree built once per template from its destination paths, so an event
//! only visits the objects that have presence rules and their ancestors. Every item of a list
//! is checked, wherever padding put it.

use serde_json::Value;

use super::coerce::Rejected;
use super::ocsf_model::{AttrType, OcsfModel};
use super::path::{Segment, prune};

/// The checks below one position of the event.
#[derive(Debug, Clone, Default)]
pub(crate) struct PresenceChecks {
    /// The object at this position, when it has presence rules.
    object: Option<usize>,
    /// Attributes below this object that lead to more checks.
    attributes: Vec<(String, PresenceChecks)>,
    /// For a list: the checks for every item.
    items: Option<Box<PresenceChecks>>,
    /// A whole object or list is mapped here: everything below is checked by the model.
    mapped_whole: Option<&'static AttrType>,
    /// The ingest stamps this object's required attributes (`finding_info`, `metadata`,
    /// `metadata.product`), so it is complete whatever the mapping put in it.
    stamped: bool,
}

impl PresenceChecks {
    /// Adds the object with presence rules found at `path` (by [`OcsfModel::resolve`]).
    pub(crate) fn add_object(&mut self, path: &[Segment], object: usize) {
        self.at(path).object = Some(object);
    }

    /// Adds a destination that takes a whole object or list (`files: evidences.0.email.files`),
    /// whose insides are only known per event.
    pub(crate) fn add_whole(&mut self, path: &[Segment], ty: &'static AttrType) {
        if matches!(ty, AttrType::Object(_) | AttrType::Array(_)) {
            self.at(path).mapped_whole = Some(ty);
        }
    }

    /// Marks the object at `path` as one the ingest completes with its stamps (see
    /// [`stamp`](super::stamp)): it is never moved out for a missing attribute, whether the
    /// stamps are already in the event or are written alongside it. Adds no checks.
    pub(crate) fn mark_stamped(&mut self, path: &[&str]) {
        let mut node = self;
        for key in path {
            match node.attributes.iter_mut().find(|(k, _)| k == key) {
                Some((_, child)) => node = child,
                None => return,
            }
        }
        node.stamped = true;
    }

    /// Whether [`enforce`](Self::enforce) leaves alone every event built from single values
    /// at these destinations: no object has presence rules but the stamped ones, and no whole
    /// object or list is mapped.
    pub(crate) fn only_stamped(&self) -> bool {
        self.mapped_whole.is_none()
            && (self.object.is_none() || self.stamped)
            && self.items.as_deref().is_none_or(Self::only_stamped)
            && self
                .attributes
                .iter()
                .all(|(_, child)| child.only_stamped())
    }

    /// Whether a whole object or list is mapped at `path` (checked by the model as a whole).
    pub(crate) fn mapped_whole_at(&self, path: &[&str]) -> bool {
        let mut node = self;
        for key in path {
            match node.attributes.iter().find(|(k, _)| k == key) {
                Some((_, child)) => node = child,
                None => return false,
            }
        }
        node.mapped_whole.is_some()
    }

    fn at(&mut self, path: &[Segment]) -> &mut Self {
        let mut node = self;
        for segment in path {
            node = match segment {
                Segment::Key(key) => {
                    let position = match node.attributes.iter().position(|(k, _)| k == key) {
                        Some(position) => position,
                        None => {
                            node.attributes.push((key.clone(), Self::default()));
                            node.attributes.len() - 1
                        }
                    };
                    &mut node.attributes[position].1
                }
                Segment::Index(_) => node.items.get_or_insert_with(Box::default),
            };
        }
        node
    }

    /// Moves every incomplete object out of `event` into `rejected`, children before parents.
    /// Returns `true` when something was moved (list items leave `null`s behind to drop).
    pub(crate) fn enforce(
        &self,
        event: &mut Value,
        model: &OcsfModel,
        rejected: &mut Rejected,
    ) -> bool {
        let mut moved = false;
        self.complete(event, None, model, rejected, &mut moved);
        moved
    }

    /// Whether `value` may stay where it is.
    fn complete(
        &self,
        value: &mut Value,
        trail: Option<&Trail<'_>>,
        model: &OcsfModel,
        rejected: &mut Rejected,
        moved: &mut bool,
    ) -> bool {
        if let Some(ty) = self.mapped_whole
            && !by_model(value, ty, trail, model, rejected, moved)
        {
            return false;
        }
        match value {
            Value::Object(map) => {
                for (key, checks) in &self.attributes {
                    let Some(child) = map.get_mut(key) else {
                        continue;
                    };
                    let here = Trail::key(trail, key);
                    if !checks.complete(child, Some(&here), model, rejected, moved) {
                        if let Some(child) = map.remove(key) {
                            keep(&here, child, rejected);
                        }
                        *moved = true;
                    }
                }
                self.stamped
                    || self
                        .object
                        .is_none_or(|object| model.object(object).is_complete(map))
            }
            Value::Array(list) => {
                let Some(checks) = &self.items else {
                    return true;
                };
                let had_items = list.iter().any(|item| !item.is_null());
                for (index, item) in list.iter_mut().enumerate() {
                    let here = Trail::index(trail, index);
                    if !item.is_null()
                        && !checks.complete(item, Some(&here), model, rejected, moved)
                    {
                        keep(&here, std::mem::take(item), rejected);
                        *moved = true;
                    }
                }
                // A list whose every item moved out goes too, rather than stay as `[]`.
                !had_items || list.iter().any(|item| !item.is_null())
            }
            _ => true,
        }
    }
}

/// Whether `value`, of type `ty`, may stay, walking it by the model; incomplete objects below
/// it are moved out first.
fn by_model(
    value: &mut Value,
    ty: &AttrType,
    trail: Option<&Trail<'_>>,
    model: &OcsfModel,
    rejected: &mut Rejected,
    moved: &mut bool,
) -> bool {
    match (ty, value) {
        (AttrType::Object(index), Value::Object(map)) => {
            let object = model.object(*index);
            if object.open {
                return true;
            }
            let mut incomplete = Vec::new();
            for (key, child) in map.iter_mut() {
                let Some(child_ty) = object.attributes.get(key) else {
                    continue;
                };
                let here = Trail::key(trail, key);
                if matches!(child_ty, AttrType::Object(_) | AttrType::Array(_))
                    && !by_model(child, child_ty, Some(&here), model, rejected, moved)
                {
                    incomplete.push(key.clone());
                }
            }
            for key in incomplete {
                if let Some(child) = map.remove(&key) {
                    keep(&Trail::key(trail, &key), child, rejected);
                }
                *moved = true;
            }
            object.is_complete(map)
        }
        (AttrType::Array(item_ty), Value::Array(list)) => {
            let had_items = list.iter().any(|item| !item.is_null());
            for (index, item) in list.iter_mut().enumerate() {
                let here = Trail::index(trail, index);
                if !item.is_null() && !by_model(item, item_ty, Some(&here), model, rejected, moved)
                {
                    keep(&here, std::mem::take(item), rejected);
                    *moved = true;
                }
            }
            !had_items || list.iter().any(|item| !item.is_null())
        }
        _ => true,
    }
}

/// Records a moved-out value under its path, without the `null`s and empty containers its own
/// moved-out children left behind.
fn keep(trail: &Trail<'_>, mut value: Value, rejected: &mut Rejected) {
    if !prune(&mut value) {
        rejected.push((trail.path(), value));
    }
}

/// The path to the current position, on the stack: nothing is allocated unless an object
/// is moved out.
struct Trail<'a> {
    parent: Option<&'a Trail<'a>>,
    key: Option<&'a str>,
    index: usize,
}

impl<'a> Trail<'a> {
    fn key(parent: Option<&'a Trail<'a>>, key: &'a str) -> Self {
        Self {
            parent,
            key: Some(key),
            index: 0,
        }
    }

    fn index(parent: Option<&'a Trail<'a>>, index: usize) -> Self {
        Self {
            parent,
            key: None,
            index,
        }
    }

    fn path(&self) -> Vec<Segment> {
        let mut path = Vec::new();
        let mut at = Some(self);
        while let Some(trail) = at {
            path.push(match trail.key {
                Some(key) => Segment::Key(key.to_owned()),
                None => Segment::Index(trail.index),
            });
            at = trail.parent;
        }
        path.reverse();
        path
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::path::{dotted, parse_path};

    fn checks_for(paths: &[&str]) -> PresenceChecks {
        let model = OcsfModel::detection_finding();
        let mut checks = PresenceChecks::default();
        for path in paths {
            let path = parse_path(path).unwrap();
            let resolved = model.resolve(&path).unwrap();
            for (depth, object) in resolved.objects_with_rules {
                checks.add_object(&path[..depth], object);
            }
            checks.add_whole(&path, resolved.ty);
        }
        checks
    }

    #[test]
    fn an_incomplete_child_moves_out_first_and_can_take_its_parent_with_it() {
        let model = OcsfModel::detection_finding();
        let checks = checks_for(&[
            "vulnerabilities.0.title",
            "vulnerabilities.0.cve.uid",
            "vulnerabilities.0.cve.cvss.0.version",
        ]);
        let mut event = json!({
            "vulnerabilities": [
                {"title": "no cve id", "cve": {"cvss": [{"version": "3.1"}]}},
                {"title": "complete", "cve": {"uid": "CVE-1", "cvss": [{"version": "3.1", "base_score": 5.0}]}},
            ],
        });
        let mut rejected = Rejected::new();
        assert!(checks.enforce(&mut event, model, &mut rejected));
        assert_eq!(
            event,
            json!({"vulnerabilities": [
                null,
                {"title": "complete", "cve": {"uid": "CVE-1", "cvss": [{"version": "3.1", "base_score": 5.0}]}},
            ]})
        );
        let kept: Vec<(String, Value)> =
            rejected.into_iter().map(|(p, v)| (dotted(&p), v)).collect();
        assert_eq!(
            kept,
            [
                (
                    "vulnerabilities.0.cve.cvss.0".to_owned(),
                    json!({"version": "3.1"})
                ),
                (
                    "vulnerabilities.0".to_owned(),
                    json!({"title": "no cve id"})
                ),
            ]
        );
    }

    #[test]
    fn objects_mapped_whole_are_checked_all_the_way_down() {
        let model = OcsfModel::detection_finding();
        let checks = checks_for(&["evidences.0.email.files"]);
        let mut event = json!({"evidences": [{"email": {
            "to": ["soc@example.com"],
            "files": [{"name": "a.pdf", "type_id": 1}, {"name": "no type id"}],
        }}]});
        let mut rejected = Rejected::new();
        assert!(checks.enforce(&mut event, model, &mut rejected));
        assert_eq!(
            event["evidences"][0]["email"]["files"],
            json!([{"name": "a.pdf", "type_id": 1}, null]),
            "the caller drops the nulls"
        );
        assert_eq!(dotted(&rejected[0].0), "evidences.0.email.files.1");
    }

    #[test]
    fn a_list_whose_items_all_moved_out_goes_too() {
        let model = OcsfModel::detection_finding();
        let checks = checks_for(&["evidences.0.email.subject"]);
        let mut event = json!({"evidences": [{"email": {"subject": "no sender, no recipient"}}]});
        let mut rejected = Rejected::new();
        assert!(checks.enforce(&mut event, model, &mut rejected));
        assert_eq!(event, json!({}));
        assert_eq!(rejected.len(), 1);
    }
}
