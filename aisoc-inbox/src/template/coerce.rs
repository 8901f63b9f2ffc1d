//! Making a vendor's value fit the OCSF attribute a template maps it to.
//!
//! Vendors send whatever they like where a template expects a string or a number (issue #15:
//! a HEC `event` object reached OCSF `message`, a string, as an object). Each mapped value is
//! coerced to the attribute's type from the [model](super::ocsf_model):
//!
//! | attribute | accepted | otherwise |
//! |---|---|---|
//! | string | strings; numbers and booleans as text; objects and arrays as compact JSON | — |
//! | integer | integers, whole floats, numeric strings (`" 42 "`), within the enum or range | rejected |
//! | number | numbers, numeric strings | rejected |
//! | boolean | booleans, `"true"` / `"false"` (any case) | rejected |
//! | timestamp | RFC 3339 or epoch s/ms/µs/ns, as the template's `time_field` ([`parse_time_ms`]) | rejected |
//! | object | objects, attribute by attribute; unknown keys rejected one by one | rejected |
//! | list | arrays item by item; a single value becomes a one-item list | rejected items |
//!
//! Strings that break a pattern, an enum or a `maxLength` of the schema are rejected. A string
//! longer than [`MAX_STRING_BYTES`] is cut at a character boundary and ends in `…`; the whole
//! original is kept as well. `null` means "not sent": nothing is written and nothing is kept.
//!
//! A rejected value is never dropped: it is returned with its OCSF path and the template puts
//! it under `unmapped` at that path.

use serde_json::{Map, Number, Value};

use super::ocsf_model::{AttrType, IntegerRule, OcsfModel, StringRule};
use super::parse_time_ms;
use super::path::Segment;

/// The longest string written to an OCSF attribute, in UTF-8 bytes (32 KiB); longer values are
/// cut to fit, ending in `…`, and the whole original is kept under `unmapped`.
pub const MAX_STRING_BYTES: usize = 32 * 1024;

const ELLIPSIS: &str = "…";

/// Values that did not fit, with the OCSF path they were meant for.
pub(crate) type Rejected = Vec<(Vec<Segment>, Value)>;

/// Where in the event a value is being written: the template's target path plus the keys and
/// indices descended into since. Built into a full path only when something is rejected.
pub(crate) struct At<'a> {
    base: &'a [Segment],
    below: Vec<Segment>,
}

impl<'a> At<'a> {
    pub(crate) fn new(base: &'a [Segment]) -> Self {
        Self {
            base,
            below: Vec::new(),
        }
    }

    fn path(&self) -> Vec<Segment> {
        self.base.iter().chain(&self.below).cloned().collect()
    }

    fn reject(&self, rejected: &mut Rejected, value: Value) {
        rejected.push((self.path(), value));
    }
}

/// Coerces `value` to `ty`; `None` when nothing is to be written (null, or rejected).
pub(crate) fn coerce(
    value: Value,
    ty: &AttrType,
    model: &OcsfModel,
    at: &mut At<'_>,
    rejected: &mut Rejected,
) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    let fitted = match ty {
        AttrType::String(rule) => return string(value, rule, at, rejected),
        AttrType::Integer(rule) => integer(&value, rule).map(Value::from),
        AttrType::Timestamp => parse_time_ms(&value).map(Value::from),
        AttrType::Number => number(&value),
        AttrType::Boolean => boolean(&value).map(Value::Bool),
        AttrType::Any => return Some(value),
        AttrType::Object(index) => {
            let object = model.object(*index);
            return match value {
                Value::Object(_) if object.open => Some(value),
                Value::Object(map) => {
                    let mut fitted = Map::new();
                    for (key, item) in map {
                        let Some(item_type) = object.attributes.get(&key) else {
                            at.below.push(Segment::Key(key));
                            at.reject(rejected, item);
                            at.below.pop();
                            continue;
                        };
                        at.below.push(Segment::Key(key));
                        let item = coerce(item, item_type, model, at, rejected);
                        let Some(Segment::Key(key)) = at.below.pop() else {
                            unreachable!("pushed a key above")
                        };
                        if let Some(item) = item {
                            fitted.insert(key, item);
                        }
                    }
                    // Required attributes are checked once the whole event is built (see
                    // the `presence` module): other mappings may still fill them.
                    Some(Value::Object(fitted))
                }
                other => {
                    at.reject(rejected, other);
                    None
                }
            };
        }
        AttrType::Array(item_type) => {
            return match value {
                Value::Array(items) => {
                    let mut fitted = Vec::with_capacity(items.len());
                    for (index, item) in items.into_iter().enumerate() {
                        at.below.push(Segment::Index(index));
                        let item = coerce(item, item_type, model, at, rejected);
                        at.below.pop();
                        fitted.extend(item);
                    }
                    (!fitted.is_empty()).then_some(Value::Array(fitted))
                }
                single => coerce(single, item_type, model, at, rejected)
                    .map(|item| Value::Array(vec![item])),
            };
        }
    };
    if fitted.is_none() {
        at.reject(rejected, value);
    }
    fitted
}

fn string(value: Value, rule: &StringRule, at: &At<'_>, rejected: &mut Rejected) -> Option<Value> {
    let (text, original) = match value {
        Value::String(text) => (text, None),
        Value::Number(n) => (n.to_string(), Some(Value::Number(n))),
        Value::Bool(b) => (b.to_string(), Some(Value::Bool(b))),
        composite => (composite.to_string(), Some(composite)),
    };
    let (text, cut) = bounded(text);
    if !fits(&text, rule) {
        at.reject(
            rejected,
            original.unwrap_or_else(|| cut.map_or(Value::String(text), Value::String)),
        );
        return None;
    }
    if let Some(whole) = cut {
        at.reject(rejected, original.unwrap_or(Value::String(whole)));
    }
    Some(Value::String(text))
}

/// Whether `text` keeps to `rule` (its enum, length and pattern).
fn fits(text: &str, rule: &StringRule) -> bool {
    rule.allowed
        .as_ref()
        .is_none_or(|allowed| allowed.iter().any(|one| one == text))
        && rule
            .max_chars
            .is_none_or(|max| text.chars().nth(max).is_none())
        && rule.pattern.as_ref().is_none_or(|p| p.is_match(text))
}

/// Whether [`coerce`] writes the string `text` to an attribute of type `ty` as it is, with
/// nothing rejected: so it may be written without being made a value.
pub(crate) fn fits_as_is(text: &str, ty: &AttrType) -> bool {
    match ty {
        AttrType::String(rule) => text.len() <= MAX_STRING_BYTES && fits(text, rule),
        AttrType::Any => true,
        _ => false,
    }
}

/// Cuts `text` to [`MAX_STRING_BYTES`]; returns the (maybe cut) text and the whole original
/// when it was cut.
fn bounded(text: String) -> (String, Option<String>) {
    if text.len() <= MAX_STRING_BYTES {
        return (text, None);
    }
    let mut end = MAX_STRING_BYTES - ELLIPSIS.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = format!("{}{ELLIPSIS}", &text[..end]);
    (cut, Some(text))
}

/// `i64` bounds as `f64`: the largest `f64` below 2^63 is in range, 2^63 itself is not.
const I64_RANGE: std::ops::Range<f64> = -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;

fn whole(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && I64_RANGE.contains(&f)).then_some(f as i64)
}

fn integer(value: &Value, rule: &IntegerRule) -> Option<i64> {
    let n = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole))?,
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))?
        }
        _ => return None,
    };
    let fits = rule
        .allowed
        .as_ref()
        .is_none_or(|allowed| allowed.contains(&n))
        && rule.min.is_none_or(|min| n >= min)
        && rule.max.is_none_or(|max| n <= max);
    fits.then_some(n)
}

fn number(value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) => Some(value.clone()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::path::{dotted, parse_path};

    /// Coerces `value` for the attribute at `path`; returns what is written and what is kept.
    fn fit(path: &str, value: Value) -> (Option<Value>, Vec<(String, Value)>) {
        let model = OcsfModel::detection_finding();
        let path = parse_path(path).unwrap();
        let ty = model.resolve(&path).unwrap().ty;
        let mut rejected = Rejected::new();
        let written = coerce(value, ty, model, &mut At::new(&path), &mut rejected);
        let kept = rejected.into_iter().map(|(p, v)| (dotted(&p), v)).collect();
        (written, kept)
    }

    #[test]
    fn objects_and_arrays_become_compact_json_where_a_string_is_expected() {
        let (written, kept) = fit("message", json!({"a": [1, "two"], "b": null}));
        assert_eq!(written, Some(json!(r#"{"a":[1,"two"],"b":null}"#)));
        assert!(kept.is_empty());
        assert_eq!(fit("message", json!(42.5)).0, Some(json!("42.5")));
        assert_eq!(fit("message", json!(true)).0, Some(json!("true")));
    }

    #[test]
    fn numbers_are_parsed_or_the_original_is_kept_at_its_ocsf_path() {
        assert_eq!(fit("risk_score", json!(" 42 ")).0, Some(json!(42)));
        assert_eq!(fit("risk_score", json!(7.0)).0, Some(json!(7)));
        assert_eq!(fit("risk_score", json!("1e3")).0, Some(json!(1000)));
        for bad in [
            json!("high"),
            json!(7.5),
            json!(1e300),
            json!([1]),
            json!(true),
        ] {
            let (written, kept) = fit("risk_score", bad.clone());
            assert_eq!(written, None, "{bad}");
            assert_eq!(kept, [("risk_score".to_owned(), bad)]);
        }
        assert_eq!(
            fit("vulnerabilities.0.cve.cvss.0.base_score", json!("9.8")).0,
            Some(json!(9.8))
        );
        assert_eq!(fit("status_id", json!("4")).0, Some(json!(4)));
        assert_eq!(fit("status_id", json!(7)).0, None, "outside the OCSF enum");
    }

    #[test]
    fn booleans_timestamps_and_lists() {
        assert_eq!(fit("is_alert", json!(" TRUE ")).0, Some(json!(true)));
        assert_eq!(fit("is_alert", json!("yes")).0, None);
        assert_eq!(
            fit("finding_info.created_time", json!("2026-05-08T09:00:00Z")).0,
            Some(json!(1_778_230_800_000_i64))
        );
        assert_eq!(
            fit("finding_info.created_time", json!(1_778_230_800)).0,
            Some(json!(1_778_230_800_000_i64)),
            "epoch seconds to milliseconds"
        );
        assert_eq!(fit("finding_info.created_time", json!(-1)).0, None);
        assert_eq!(
            fit("finding_info.types", json!("one")).0,
            Some(json!(["one"]))
        );
        let (written, kept) = fit("finding_info.types", json!(["a", {"b": 1}, null]));
        assert_eq!(written, Some(json!(["a", r#"{"b":1}"#])));
        assert!(kept.is_empty());
    }

    #[test]
    fn objects_fit_attribute_by_attribute_and_unknown_keys_are_kept_apart() {
        let (written, kept) = fit(
            "evidences.0.email",
            json!({"subject": {"x": 1}, "size": "12", "from": "not an address", "to": "soc@example.com", "bogus": 1}),
        );
        assert_eq!(
            written,
            Some(json!({"subject": r#"{"x":1}"#, "size": 12, "to": ["soc@example.com"]}))
        );
        let mut kept = kept;
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            kept,
            [
                ("evidences.0.email.bogus".to_owned(), json!(1)),
                ("evidences.0.email.from".to_owned(), json!("not an address")),
            ]
        );
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary_and_kept_whole() {
        let long = "é".repeat(MAX_STRING_BYTES);
        let (written, kept) = fit("message", json!(long));
        let written = written.unwrap();
        let written = written.as_str().unwrap();
        assert!(written.len() <= MAX_STRING_BYTES);
        assert!(written.ends_with('…'));
        assert_eq!(kept, [("message".to_owned(), json!(long))]);
    }

    #[test]
    fn null_is_not_sent() {
        assert_eq!(fit("message", Value::Null), (None, vec![]));
    }
}
