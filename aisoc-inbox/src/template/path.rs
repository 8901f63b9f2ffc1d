//! Dotted paths (`alert.id`, `finding_info.types.0`) into JSON values: read, move out, write,
//! and the clean-ups that keep what remains tidy.
//!
//! A numeric segment indexes an array. Reading also accepts it as an object key, because
//! vendors do send `{"0": …}`; writing always builds arrays, because OCSF lists are arrays.

use serde_json::{Map, Value};

/// One path segment: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Splits a dotted path; `None` for an empty path or an empty segment (`a..b`).
pub(crate) fn parse_path(path: &str) -> Option<Vec<Segment>> {
    if path.is_empty() {
        return None;
    }
    path.split('.')
        .map(|part| {
            if part.is_empty() {
                None
            } else if let Ok(index) = part.parse::<usize>() {
                Some(Segment::Index(index))
            } else {
                Some(Segment::Key(part.to_owned()))
            }
        })
        .collect()
}

/// The path written back as dotted text.
#[cfg(test)]
pub(crate) fn dotted(path: &[Segment]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|segment| match segment {
            Segment::Key(key) => key.clone(),
            Segment::Index(index) => index.to_string(),
        })
        .collect();
    parts.join(".")
}

pub(crate) fn get<'a>(value: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |v, segment| match (segment, v) {
            (Segment::Key(k), Value::Object(map)) => map.get(k),
            (Segment::Index(i), Value::Array(items)) => items.get(*i),
            (Segment::Index(i), Value::Object(map)) => map.get(&i.to_string()),
            _ => None,
        })
}

/// Moves the value out; an array item is replaced by `null` so later indices keep their place.
pub(crate) fn take(value: &mut Value, path: &[Segment]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut current = value;
    for segment in parents {
        current = match (segment, current) {
            (Segment::Key(k), Value::Object(map)) => map.get_mut(k)?,
            (Segment::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    match (last, current) {
        (Segment::Key(k), Value::Object(map)) => map.remove(k),
        (Segment::Index(i), Value::Array(items)) if *i < items.len() => {
            Some(std::mem::replace(&mut items[*i], Value::Null))
        }
        _ => None,
    }
}

/// Writes `value` at `path`, building objects and arrays on the way. Returns `true` when an
/// array had to be padded with `null` to reach an index (see [`drop_nulls_in_arrays`]).
pub(crate) fn set(target: &mut Value, path: &[Segment], value: Value) -> bool {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return false;
    };
    match first {
        Segment::Key(key) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Value::Object(map) = target else {
                unreachable!("made an object above")
            };
            // Looked up first: `entry` would allocate the key even when it is there.
            if let Some(next) = map.get_mut(key) {
                return set(next, rest, value);
            }
            let mut next = Value::Null;
            let padded = set(&mut next, rest, value);
            map.insert(key.clone(), next);
            padded
        }
        Segment::Index(index) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let Value::Array(items) = target else {
                unreachable!("made an array above")
            };
            let padded = items.len() < *index;
            if items.len() <= *index {
                items.resize(*index + 1, Value::Null);
            }
            set(&mut items[*index], rest, value) || padded
        }
    }
}

/// Removes `null`s, and the objects and arrays left empty, after mapped fields were taken out.
/// Returns `true` when nothing is left.
pub(crate) fn prune(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !prune(v));
            map.is_empty()
        }
        Value::Array(items) => {
            items.iter_mut().for_each(|v| {
                prune(v);
            });
            items.iter().all(Value::is_null)
        }
        Value::Null => true,
        _ => false,
    }
}

/// Removes the `null` items that padding or eviction left in arrays; objects keep their keys.
pub(crate) fn drop_nulls_in_arrays(value: &mut Value) {
    match value {
        Value::Object(map) => map.values_mut().for_each(drop_nulls_in_arrays),
        Value::Array(items) => {
            items.retain(|item| !item.is_null());
            items.iter_mut().for_each(drop_nulls_in_arrays);
        }
        _ => {}
    }
}

/// Puts `value` at `path` inside `unmapped` without overwriting anything already kept there:
/// objects merge key by key, and where two values meet at one place both are kept: an array
/// gains the newcomer as an item, anything else becomes `[earlier, later]`.
pub(crate) fn keep_at(unmapped: &mut Value, path: &[Segment], value: Value) {
    if unmapped.is_null() {
        set(unmapped, path, value);
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        merge(unmapped, value);
        return;
    };
    match (first, &mut *unmapped) {
        (Segment::Key(key), Value::Object(map)) => {
            keep_at(map.entry(key.as_str()).or_insert(Value::Null), rest, value)
        }
        (Segment::Index(index), Value::Array(items)) => {
            if items.len() <= *index {
                items.resize(*index + 1, Value::Null);
            }
            keep_at(&mut items[*index], rest, value)
        }
        _ => {
            // A scalar where the path goes on: keep both, the newcomer under its remaining path.
            let mut nested = Value::Null;
            set(&mut nested, path, value);
            merge(unmapped, nested);
        }
    }
}

fn merge(slot: &mut Value, value: Value) {
    match (&mut *slot, value) {
        (Value::Null, value) => *slot = value,
        (Value::Object(existing), Value::Object(incoming)) => {
            for (key, value) in incoming {
                merge(existing.entry(key).or_insert(Value::Null), value);
            }
        }
        (Value::Array(items), value) => items.push(value),
        (_, value) => {
            let earlier = std::mem::take(slot);
            *slot = Value::Array(vec![earlier, value]);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(p: &str) -> Vec<Segment> {
        parse_path(p).unwrap()
    }

    #[test]
    fn writing_past_the_end_of_an_array_pads_and_says_so() {
        let mut event = json!({});
        assert!(!set(&mut event, &path("types.0"), json!("a")));
        assert!(set(&mut event, &path("other.2"), json!("c")));
        assert_eq!(event, json!({"types": ["a"], "other": [null, null, "c"]}));
        drop_nulls_in_arrays(&mut event);
        assert_eq!(event, json!({"types": ["a"], "other": ["c"]}));
    }

    #[test]
    fn keeping_a_value_never_overwrites_what_is_there() {
        let mut unmapped = json!({"message": "vendor's own", "a": {"b": 1}});
        keep_at(&mut unmapped, &path("a.c"), json!(2));
        keep_at(&mut unmapped, &path("message"), json!({"x": 1}));
        keep_at(&mut unmapped, &path("message.deeper"), json!(3));
        keep_at(&mut unmapped, &path("list.1"), json!("second"));
        assert_eq!(
            unmapped,
            json!({
                "message": ["vendor's own", {"x": 1}, {"deeper": 3}],
                "a": {"b": 1, "c": 2},
                "list": [null, "second"],
            })
        );
    }
}
