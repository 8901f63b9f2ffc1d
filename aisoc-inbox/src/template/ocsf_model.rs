//! What each attribute of an OCSF Detection Finding accepts, read from the vendored JSON schema
//! the tests validate against, so the mapping and the tests cannot disagree about a type.
//!
//! The schema is `tests/fixtures/ocsf/detection_finding-1.5.0.schema.json` (provenance in the
//! README beside it), parsed once on first use. Every keyword in it is understood or the model
//! refuses to build: a newer schema that adds a constraint the coercion does not know about
//! fails the unit test below instead of letting invalid events through.
//!
//! Two things the JSON export loses are restored here:
//! - **Timestamps.** The export types `timestamp_t` as plain `integer`. OCSF names every
//!   timestamp attribute `time` or `*_time` (the one `*_time` string, `metadata.original_time`,
//!   stays a string because its type says so), so an integer attribute with such a name is a
//!   [`AttrType::Timestamp`] and takes the template's time parsing.
//! - **Pattern dialect.** Patterns are ECMA-262; the few constructs whose meaning differs in
//!   the `regex` crate (`.`, `\d`, `\s`, `\w`) are rewritten to their ECMA meaning, and class
//!   syntax the two dialects read differently (`[` inside a class, `&&`, `--`, `~~`) is refused.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

use super::OCSF_VERSION;
use super::path::Segment;

/// The OCSF 1.5.0 Detection Finding JSON schema (draft 2020-12, no profiles) that the typed
/// mapping is derived from and that emitted events validate against.
///
/// ```
/// use aisoc_inbox::template::{DETECTION_FINDING_SCHEMA, OCSF_VERSION};
///
/// let schema: serde_json::Value = serde_json::from_str(DETECTION_FINDING_SCHEMA).unwrap();
/// assert!(schema["$id"].as_str().unwrap().contains(&format!("/{OCSF_VERSION}/")));
/// ```
pub const DETECTION_FINDING_SCHEMA: &str =
    include_str!("../../tests/fixtures/ocsf/detection_finding-1.5.0.schema.json");

/// What one attribute accepts.
#[derive(Debug)]
pub(crate) enum AttrType {
    String(StringRule),
    Integer(IntegerRule),
    /// Epoch milliseconds (`timestamp_t`).
    Timestamp,
    Number,
    Boolean,
    /// Any JSON value (`enrichment.data`, `evidences.data`).
    Any,
    /// An OCSF object, by index into [`OcsfModel::objects`].
    Object(usize),
    Array(Box<AttrType>),
}

/// The constraints on a string attribute.
#[derive(Debug, Default)]
pub(crate) struct StringRule {
    pub(crate) max_chars: Option<usize>,
    pub(crate) pattern: Option<Arc<Regex>>,
    pub(crate) allowed: Option<Vec<String>>,
}

/// The constraints on an integer attribute (enum ids, ports).
#[derive(Debug, Default)]
pub(crate) struct IntegerRule {
    pub(crate) allowed: Option<Vec<i64>>,
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
}

/// One OCSF object: its attributes and which of them must be present.
#[derive(Debug)]
pub(crate) struct ObjectType {
    pub(crate) name: String,
    /// Open objects (`object`, `unmapped`) take any keys and values.
    pub(crate) open: bool,
    pub(crate) attributes: HashMap<String, AttrType>,
    required: Vec<String>,
    /// At least one group present in full (`anyOf` of `required` lists).
    any_of: Vec<Vec<String>>,
    /// Exactly one group present in full (`oneOf` of `required` lists).
    one_of: Vec<Vec<String>>,
}

impl ObjectType {
    /// Whether any presence rule applies, i.e. whether building this object key by key can
    /// leave it invalid.
    pub(crate) fn has_presence_rules(&self) -> bool {
        !(self.required.is_empty() && self.any_of.is_empty() && self.one_of.is_empty())
    }

    /// Whether `object` has the attributes this object requires.
    pub(crate) fn is_complete(&self, object: &Map<String, Value>) -> bool {
        let present = |group: &Vec<String>| group.iter().all(|key| object.contains_key(key));
        present(&self.required)
            && (self.any_of.is_empty() || self.any_of.iter().any(present))
            && (self.one_of.is_empty() || self.one_of.iter().filter(|g| present(g)).count() == 1)
    }
}

/// The typed model of one OCSF class and the objects it reaches.
#[derive(Debug)]
pub(crate) struct OcsfModel {
    objects: Vec<ObjectType>,
    root: usize,
}

/// What a destination path leads to.
pub(crate) struct Resolved<'a> {
    /// The attribute's type.
    pub(crate) ty: &'a AttrType,
    /// Every object on the way (the attribute itself included) that has presence rules, as
    /// (path length, object index): a template building them key by key must check them.
    pub(crate) objects_with_rules: Vec<(usize, usize)>,
}

/// Whatever is below an open object or an any-value attribute.
static ANY: AttrType = AttrType::Any;

/// Why a path does not name an attribute.
pub(crate) type PathError = String;

impl OcsfModel {
    /// The Detection Finding model, built from [`DETECTION_FINDING_SCHEMA`] on first use.
    pub(crate) fn detection_finding() -> &'static OcsfModel {
        static MODEL: OnceLock<OcsfModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            OcsfModel::from_schema(DETECTION_FINDING_SCHEMA)
                .unwrap_or_else(|error| panic!("the vendored OCSF schema: {error}"))
        })
    }

    pub(crate) fn object(&self, index: usize) -> &ObjectType {
        &self.objects[index]
    }

    pub(crate) fn root(&self) -> &ObjectType {
        &self.objects[self.root]
    }

    /// The type at `path`, and the objects with presence rules on the way.
    pub(crate) fn resolve(&self, path: &[Segment]) -> Result<Resolved<'_>, PathError> {
        let mut containers = Vec::new();
        let mut object = self.root;
        let mut current: Option<&AttrType> = None;
        for (depth, segment) in path.iter().enumerate() {
            let next = match (current, segment) {
                (None | Some(AttrType::Object(_)), Segment::Key(key)) => {
                    let owner = &self.objects[object];
                    if owner.open {
                        &ANY
                    } else {
                        owner.attributes.get(key).ok_or_else(|| {
                            format!("OCSF object '{}' has no attribute '{key}'", owner.name)
                        })?
                    }
                }
                (Some(AttrType::Any), _) => &ANY,
                (Some(AttrType::Array(item)), Segment::Index(_)) => item.as_ref(),
                (Some(AttrType::Array(_)), Segment::Key(key)) => {
                    return Err(format!("'{key}' follows a list; index it first (`.0`)"));
                }
                (_, Segment::Index(index)) => {
                    return Err(format!("{index} indexes something that is not a list"));
                }
                (Some(other), Segment::Key(key)) => {
                    return Err(format!(
                        "'{key}' follows a {} attribute, which has no attributes",
                        other.describe()
                    ));
                }
            };
            if let AttrType::Object(index) = next {
                object = *index;
                if self.objects[object].has_presence_rules() {
                    containers.push((depth + 1, object));
                }
            }
            current = Some(next);
        }
        current
            .map(|ty| Resolved {
                ty,
                objects_with_rules: containers,
            })
            .ok_or_else(|| "the path is empty".to_owned())
    }

    fn from_schema(schema: &str) -> Result<Self, String> {
        let schema: Value = serde_json::from_str(schema).map_err(|e| e.to_string())?;
        let version = schema["$id"]
            .as_str()
            .and_then(|id| id.split("/schema/").nth(1))
            .and_then(|rest| rest.split('/').next())
            .ok_or("the schema's $id names no version")?;
        if version != OCSF_VERSION {
            return Err(format!(
                "the schema is OCSF {version}, but events declare {OCSF_VERSION}"
            ));
        }
        let defs = schema["$defs"].as_object().ok_or("no $defs")?;
        // Indices first, so objects can refer to each other (and to themselves).
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (position, name) in defs.keys().enumerate() {
            index.insert(name, position);
        }
        let root = defs.len();
        let mut builder = Builder {
            index,
            patterns: HashMap::new(),
        };
        let mut objects = Vec::with_capacity(defs.len() + 1);
        for (name, def) in defs {
            objects.push(builder.object(name, def)?);
        }
        let root_name = schema["title"].as_str().unwrap_or("class").to_owned();
        let root_schema: Map<String, Value> = schema
            .as_object()
            .ok_or("the schema is not an object")?
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "$schema" | "$id" | "$defs"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        objects.push(builder.object(&root_name, &Value::Object(root_schema))?);
        Ok(Self { objects, root })
    }
}

impl AttrType {
    /// A short name for error messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            AttrType::String(_) => "string",
            AttrType::Integer(_) => "integer",
            AttrType::Timestamp => "timestamp",
            AttrType::Number => "number",
            AttrType::Boolean => "boolean",
            AttrType::Any => "any-value",
            AttrType::Object(_) => "object",
            AttrType::Array(_) => "list",
        }
    }
}

struct Builder<'a> {
    index: HashMap<&'a str, usize>,
    patterns: HashMap<String, Arc<Regex>>,
}

const ANNOTATIONS: [&str; 3] = ["title", "description", "deprecated"];

impl Builder<'_> {
    fn object(&mut self, name: &str, def: &Value) -> Result<ObjectType, String> {
        let def = def.as_object().ok_or(format!("{name}: not an object"))?;
        let mut object = ObjectType {
            name: name.to_owned(),
            open: def.get("additionalProperties") != Some(&Value::Bool(false)),
            attributes: HashMap::new(),
            required: names(def.get("required"))?,
            any_of: Vec::new(),
            one_of: Vec::new(),
        };
        for (keyword, value) in def {
            match keyword.as_str() {
                "type" if value == "object" => {}
                "properties" => {
                    for (attribute, schema) in value.as_object().ok_or("properties")? {
                        let ty = self
                            .attribute(attribute, schema)
                            .map_err(|e| format!("{name}.{attribute}: {e}"))?;
                        object.attributes.insert(attribute.clone(), ty);
                    }
                }
                "anyOf" | "oneOf" => {
                    let mut groups = Vec::new();
                    for group in value.as_array().ok_or(format!("{name}: {keyword}"))? {
                        match group.as_object() {
                            Some(g) if g.len() == 1 && g.contains_key("required") => {
                                groups.push(names(g.get("required"))?);
                            }
                            _ => return Err(format!("{name}: {keyword} other than `required`")),
                        }
                    }
                    if keyword == "anyOf" {
                        object.any_of = groups;
                    } else {
                        object.one_of = groups;
                    }
                }
                "required" | "additionalProperties" => {}
                other if ANNOTATIONS.contains(&other) => {}
                other => return Err(format!("{name}: unknown keyword '{other}'")),
            }
        }
        Ok(object)
    }

    fn attribute(&mut self, name: &str, schema: &Value) -> Result<AttrType, String> {
        let schema = schema.as_object().ok_or("not an object")?;
        if let Some(reference) = schema.get("$ref") {
            let target = reference
                .as_str()
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .ok_or("a $ref outside #/$defs")?;
            let index = self
                .index
                .get(target)
                .ok_or(format!("$ref to unknown '{target}'"))?;
            return Ok(AttrType::Object(*index));
        }
        for keyword in schema.keys() {
            let known = [
                "type",
                "items",
                "enum",
                "const",
                "pattern",
                "maxLength",
                "minimum",
                "maximum",
            ];
            if !known.contains(&keyword.as_str()) && !ANNOTATIONS.contains(&keyword.as_str()) {
                return Err(format!("unknown keyword '{keyword}'"));
            }
        }
        // A `const` is an enum of one.
        let allowed: Option<Vec<Value>> = match (schema.get("enum"), schema.get("const")) {
            (Some(Value::Array(values)), None) => Some(values.clone()),
            (None, Some(value)) => Some(vec![value.clone()]),
            (None, None) => None,
            _ => return Err("enum and const together".into()),
        };
        let ty = match schema.get("type") {
            Some(Value::Array(types)) if types.len() == 7 => AttrType::Any,
            Some(Value::String(kind)) => match kind.as_str() {
                "string" => AttrType::String(StringRule {
                    max_chars: schema
                        .get("maxLength")
                        .map(|n| n.as_u64().map(|n| n as usize).ok_or("maxLength"))
                        .transpose()?,
                    pattern: match schema.get("pattern") {
                        Some(p) => Some(self.pattern(p.as_str().ok_or("pattern")?)?),
                        None => None,
                    },
                    allowed: allowed
                        .map(|values| {
                            values
                                .iter()
                                .map(|v| v.as_str().map(str::to_owned).ok_or("string enum"))
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .transpose()?,
                }),
                "integer" if (name == "time" || name.ends_with("_time")) && allowed.is_none() => {
                    AttrType::Timestamp
                }
                "integer" => AttrType::Integer(IntegerRule {
                    allowed: allowed
                        .map(|values| {
                            values
                                .iter()
                                .map(|v| v.as_i64().ok_or("integer enum"))
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .transpose()?,
                    min: schema.get("minimum").and_then(Value::as_i64),
                    max: schema.get("maximum").and_then(Value::as_i64),
                }),
                "number" => AttrType::Number,
                "boolean" => AttrType::Boolean,
                "array" => {
                    let items = schema.get("items").ok_or("an array without items")?;
                    AttrType::Array(Box::new(self.attribute(name, items)?))
                }
                other => return Err(format!("type '{other}'")),
            },
            other => return Err(format!("type {other:?}")),
        };
        Ok(ty)
    }

    fn pattern(&mut self, pattern: &str) -> Result<Arc<Regex>, String> {
        if let Some(regex) = self.patterns.get(pattern) {
            return Ok(Arc::clone(regex));
        }
        let regex = Regex::new(&ecma_to_rust(pattern)?).map_err(|e| e.to_string())?;
        let regex = Arc::new(regex);
        self.patterns.insert(pattern.to_owned(), Arc::clone(&regex));
        Ok(regex)
    }
}

fn names(value: Option<&Value>) -> Result<Vec<String>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or("a non-string name".into())
            })
            .collect(),
        Some(_) => Err("required is not a list".into()),
    }
}

/// ECMA-262 whitespace and line terminators: what `\s` means in a JSON Schema pattern.
const ECMA_SPACE: &str = r"\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";

/// Rewrites an ECMA-262 pattern into the `regex` crate's syntax with the same meaning.
fn ecma_to_rust(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().ok_or("a trailing backslash")?;
                let class = match escaped {
                    'd' => "0-9".to_owned(),
                    'w' => "A-Za-z0-9_".to_owned(),
                    's' => ECMA_SPACE.to_owned(),
                    'D' | 'W' | 'S' => {
                        return Err(format!("'\\{escaped}' is not translated"));
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                        continue;
                    }
                };
                out.push('[');
                out.push_str(&class);
                out.push(']');
            }
            '[' if in_class => return Err("'[' inside a character class".into()),
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '&' | '-' | '~' if in_class && chars.peek() == Some(&c) => {
                return Err(format!("'{c}{c}' inside a character class"));
            }
            '.' if !in_class => out.push_str(r"[^\n\r\x{2028}\x{2029}]"),
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::path::parse_path;

    #[test]
    fn the_vendored_schema_builds_a_model_of_the_version_events_declare() {
        let model = OcsfModel::detection_finding();
        assert_eq!(
            model.root().attributes.len(),
            49,
            "Detection Finding 1.5.0 has 49 attributes"
        );
        let older =
            DETECTION_FINDING_SCHEMA.replace(&format!("/schema/{OCSF_VERSION}/"), "/schema/1.4.0/");
        let error = OcsfModel::from_schema(&older).unwrap_err();
        assert!(error.contains("1.4.0"), "{error}");
    }

    #[test]
    fn paths_resolve_to_their_ocsf_types() {
        let model = OcsfModel::detection_finding();
        let ty = |p: &str| {
            model
                .resolve(&parse_path(p).unwrap())
                .map(|r| r.ty.describe())
        };
        assert_eq!(ty("message"), Ok("string"));
        assert_eq!(ty("finding_info.types.0"), Ok("string"));
        assert_eq!(ty("finding_info.types"), Ok("list"));
        assert_eq!(ty("finding_info.created_time"), Ok("timestamp"));
        assert_eq!(ty("metadata.original_time"), Ok("string"));
        assert_eq!(ty("risk_score"), Ok("integer"));
        assert_eq!(ty("vulnerabilities.0.cve.cvss.0.base_score"), Ok("number"));
        assert_eq!(ty("is_alert"), Ok("boolean"));
        assert_eq!(ty("evidences.0.data"), Ok("any-value"));
        assert!(ty("message.text").unwrap_err().contains("string attribute"));
        assert!(
            ty("finding_info.nope")
                .unwrap_err()
                .contains("no attribute 'nope'")
        );
        assert!(
            ty("finding_info.types.x")
                .unwrap_err()
                .contains("index it first")
        );
        assert!(ty("message.0").is_err());
    }

    #[test]
    fn objects_built_piecemeal_report_their_presence_rules() {
        let model = OcsfModel::detection_finding();
        let path = parse_path("vulnerabilities.0.cve.cvss.0.version").unwrap();
        let names: Vec<(usize, &str)> = model
            .resolve(&path)
            .unwrap()
            .objects_with_rules
            .iter()
            .map(|(depth, object)| (*depth, model.object(*object).name.as_str()))
            .collect();
        // vulnerability: exactly one of advisory/cve/cwe; cve: uid; cvss: base_score, version.
        assert_eq!(
            names,
            [(2, "vulnerability"), (3, "cve"), (5, "cvss")],
            "depths count path segments"
        );
    }

    #[test]
    fn ecma_patterns_keep_their_ecma_meaning() {
        let translated = ecma_to_rust(r"^\d.\s$").unwrap();
        let regex = Regex::new(&translated).unwrap();
        assert!(regex.is_match("1x "));
        assert!(!regex.is_match("\u{0661}x "), "\\d is ASCII in ECMA");
        assert!(
            !regex.is_match("1\rx"),
            "'.' excludes line terminators in ECMA"
        );
        assert!(regex.is_match("1x\u{FEFF}"), "\\s includes U+FEFF in ECMA");
        assert!(ecma_to_rust("[a-z--b]").is_err());
        assert!(
            ecma_to_rust(r"[\d.]").is_ok(),
            "a class escape inside a class"
        );
    }
}
