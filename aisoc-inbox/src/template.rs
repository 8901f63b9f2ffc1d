//! YAML templates that map vendor payloads to OCSF Detection Findings.
//!
//! ```yaml
//! id: my-vendor
//! vendor_name: My Vendor
//! product_name: My Vendor Cloud
//! class_uid: 2004            # Detection Finding (the default)
//! activity_id: 1             # Create (the default)
//! field_map:                 # dotted source path -> dotted OCSF path; arrays by index
//!   alert.id: finding_info.uid
//!   alert.title: finding_info.title
//!   alert.message: message
//! severity_field: alert.priority
//! severity_map: { P1: 5, P2: 4, P3: 3 }
//! time_field: alert.created_at   # RFC 3339, or epoch s / ms / µs / ns (detected)
//! constants:
//!   metadata.product.feature.name: alerts
//! ```
//!
//! Templates are checked when loaded; a template that does not parse, or maps onto a field the
//! ingest stamps itself (`class_uid`, `type_uid`, `metadata.version`, …), stops start-up with an
//! error naming the file and the field. Source fields no mapping consumed are kept under
//! `unmapped`, so nothing a vendor sent is silently lost.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext, MappingError, OcsfEvent};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The OCSF schema version the events declare.
pub const OCSF_VERSION: &str = "1.5.0";
/// Detection Finding.
pub const DETECTION_FINDING: u32 = 2004;

/// A template that could not be loaded; names the file and field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {file}: {field}: {message}")]
pub struct TemplateLoadError {
    /// The file (or `<bundled:id>`).
    pub file: String,
    /// The field at fault (`field_map.alert.id`, `severity_map.P1`, `yaml`…).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    id: String,
    vendor_name: String,
    product_name: String,
    #[serde(default = "default_class")]
    class_uid: u32,
    #[serde(default)]
    class_name: Option<String>,
    #[serde(default = "default_activity")]
    activity_id: u32,
    #[serde(default)]
    field_map: BTreeMap<String, Destinations>,
    #[serde(default)]
    severity_field: Option<String>,
    #[serde(default)]
    severity_map: BTreeMap<String, u32>,
    #[serde(default)]
    default_severity_id: Option<u32>,
    #[serde(default)]
    time_field: Option<String>,
    #[serde(default)]
    constants: BTreeMap<String, Value>,
    #[serde(default)]
    envelope: Option<String>,
    #[serde(default)]
    skip_when: BTreeMap<String, Value>,
}

/// The envelopes the inbox knows how to unwrap.
pub const ENVELOPES: [&str; 3] = ["aws-sns", "github", "defender-email"];

/// One OCSF path, or several for a source field that fills more than one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Destinations {
    One(String),
    Many(Vec<String>),
}

impl Destinations {
    fn paths(&self) -> Vec<&str> {
        match self {
            Destinations::One(path) => vec![path.as_str()],
            Destinations::Many(paths) => paths.iter().map(String::as_str).collect(),
        }
    }
}

fn default_class() -> u32 {
    DETECTION_FINDING
}

fn default_activity() -> u32 {
    1
}

/// OCSF paths the ingest stamps; templates may not write them.
const RESERVED: [&str; 9] = [
    "class_uid",
    "category_uid",
    "type_uid",
    "activity_id",
    "severity_id",
    "time",
    "metadata.version",
    "metadata.uid",
    "unmapped",
];

/// One path segment: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Segment>> {
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

fn get<'a>(value: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |v, segment| match (segment, v) {
            (Segment::Key(k), Value::Object(map)) => map.get(k),
            (Segment::Index(i), Value::Array(items)) => items.get(*i),
            (Segment::Index(i), Value::Object(map)) => map.get(&i.to_string()),
            _ => None,
        })
}

fn take(value: &mut Value, path: &[Segment]) -> Option<Value> {
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

fn set(target: &mut Value, path: &[Segment], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    match first {
        Segment::Key(key) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target.as_object_mut().expect("object");
            let next = map.entry(key.clone()).or_insert(Value::Null);
            set(next, rest, value);
        }
        Segment::Index(index) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let items = target.as_array_mut().expect("array");
            if items.len() <= *index {
                items.resize(*index + 1, Value::Null);
            }
            set(&mut items[*index], rest, value);
        }
    }
}

/// Removes empty objects and arrays left behind after mapped fields were taken out.
fn prune(value: &mut Value) -> bool {
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

/// Epoch milliseconds from an RFC 3339 string or an epoch number in s, ms, µs or ns.
pub fn parse_time_ms(value: &Value) -> Option<i64> {
    let number = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => {
                return DateTime::parse_from_rfc3339(s.trim())
                    .ok()
                    .map(|t| t.timestamp_millis());
            }
        },
        _ => return None,
    };
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    // Magnitude tells the unit: seconds until year 5138, then ms, µs, ns.
    let ms = if number < 1e11 {
        number * 1000.0
    } else if number < 1e14 {
        number
    } else if number < 1e17 {
        number / 1000.0
    } else {
        number / 1_000_000.0
    };
    Some(ms as i64)
}

fn severity_name(id: u32) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        6 => "Fatal",
        99 => "Other",
        _ => "Unknown",
    }
}

/// A loaded, checked YAML template.
#[derive(Debug, Clone)]
pub struct YamlTemplate {
    file: TemplateFile,
    /// Source path and every destination it fills.
    field_map: Vec<(Vec<Segment>, Vec<Target>)>,
    severity_field: Option<Vec<Segment>>,
    severity_map: HashMap<String, u32>,
    time_field: Option<Vec<Segment>>,
    constants: Vec<(Vec<Segment>, Value)>,
    skip_when: Vec<(Vec<Segment>, Value)>,
    default_title: String,
}

/// A destination path, optionally converting the value to epoch milliseconds (`path:time`).
#[derive(Debug, Clone)]
struct Target {
    path: Vec<Segment>,
    as_time: bool,
}

impl YamlTemplate {
    /// Parses and checks a template; `file` names it in errors.
    pub fn from_yaml(file: &str, yaml: &str) -> Result<Self, TemplateLoadError> {
        let error = |field: &str, message: String| TemplateLoadError {
            file: file.to_owned(),
            field: field.to_owned(),
            message,
        };
        let parsed: TemplateFile =
            serde_norway::from_str(yaml).map_err(|e| error("yaml", e.to_string()))?;
        if parsed.id.trim().is_empty()
            || !parsed
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(error(
                "id",
                "must be lowercase letters, digits and '-'".into(),
            ));
        }
        if parsed.vendor_name.trim().is_empty() {
            return Err(error("vendor_name", "must not be empty".into()));
        }
        if parsed.product_name.trim().is_empty() {
            return Err(error("product_name", "must not be empty".into()));
        }
        if !(1000..100_000).contains(&parsed.class_uid) {
            return Err(error(
                "class_uid",
                format!("{} is not an OCSF class", parsed.class_uid),
            ));
        }
        if parsed.activity_id > 99 {
            return Err(error("activity_id", "must be 0-99".into()));
        }
        let valid_severity = |id: u32| id <= 6 || id == 99;
        let writable = |field: &str, dst: &str| -> Result<Vec<Segment>, TemplateLoadError> {
            let dst = dst.strip_suffix(":time").unwrap_or(dst);
            if RESERVED
                .iter()
                .any(|r| dst == *r || dst.starts_with(&format!("{r}.")))
            {
                return Err(error(
                    field,
                    format!("'{dst}' is set by the ingest and cannot be mapped"),
                ));
            }
            parse_path(dst).ok_or_else(|| error(field, format!("'{dst}' is not a dotted path")))
        };
        let mut field_map = Vec::new();
        for (src, destinations) in &parsed.field_map {
            let field = format!("field_map.{src}");
            let source = parse_path(src)
                .ok_or_else(|| error(&field, format!("'{src}' is not a dotted path")))?;
            let paths = destinations.paths();
            if paths.is_empty() {
                return Err(error(&field, "names no destination".into()));
            }
            let targets = paths
                .into_iter()
                .map(|dst| {
                    Ok(Target {
                        path: writable(&field, dst)?,
                        as_time: dst.ends_with(":time"),
                    })
                })
                .collect::<Result<Vec<_>, TemplateLoadError>>()?;
            field_map.push((source, targets));
        }
        let mut severity_map = HashMap::new();
        for (key, id) in &parsed.severity_map {
            if !valid_severity(*id) {
                return Err(error(
                    &format!("severity_map.{key}"),
                    format!("{id} is not an OCSF severity_id (0-6 or 99)"),
                ));
            }
            severity_map.insert(key.to_ascii_lowercase(), *id);
        }
        if parsed
            .default_severity_id
            .is_some_and(|id| !valid_severity(id))
        {
            return Err(error("default_severity_id", "must be 0-6 or 99".into()));
        }
        let severity_field = match &parsed.severity_field {
            Some(path) => Some(
                parse_path(path)
                    .ok_or_else(|| error("severity_field", "not a dotted path".into()))?,
            ),
            None => None,
        };
        if severity_field.is_some() && severity_map.is_empty() {
            return Err(error(
                "severity_map",
                "severity_field is set, so severity_map must map its values".into(),
            ));
        }
        let time_field = match &parsed.time_field {
            Some(path) => Some(
                parse_path(path).ok_or_else(|| error("time_field", "not a dotted path".into()))?,
            ),
            None => None,
        };
        let mut constants = Vec::new();
        for (dst, value) in &parsed.constants {
            constants.push((writable(&format!("constants.{dst}"), dst)?, value.clone()));
        }
        if let Some(envelope) = &parsed.envelope
            && !ENVELOPES.contains(&envelope.as_str())
        {
            return Err(error(
                "envelope",
                format!("must be one of {}", ENVELOPES.join(", ")),
            ));
        }
        let mut skip_when = Vec::new();
        for (path, value) in &parsed.skip_when {
            let segments = parse_path(path)
                .ok_or_else(|| error(&format!("skip_when.{path}"), "not a dotted path".into()))?;
            skip_when.push((segments, value.clone()));
        }
        let default_title = format!("{} event", parsed.vendor_name);
        Ok(Self {
            file: parsed,
            field_map,
            severity_field,
            severity_map,
            time_field,
            constants,
            skip_when,
            default_title,
        })
    }

    /// Loads a template file.
    pub fn from_file(path: &Path) -> Result<Self, TemplateLoadError> {
        let yaml = std::fs::read_to_string(path).map_err(|e| TemplateLoadError {
            file: path.display().to_string(),
            field: "file".into(),
            message: e.to_string(),
        })?;
        Self::from_yaml(&path.display().to_string(), &yaml)
    }

    fn severity_id(&self, payload: &Value) -> u32 {
        let Some(path) = &self.severity_field else {
            return self.file.default_severity_id.unwrap_or(0);
        };
        let key = match get(payload, path) {
            Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => return self.file.default_severity_id.unwrap_or(0),
        };
        self.severity_map
            .get(&key)
            .copied()
            .or(self.file.default_severity_id)
            .unwrap_or(99)
    }
}

impl InboxTemplate for YamlTemplate {
    fn id(&self) -> &str {
        &self.file.id
    }

    fn envelope(&self) -> Option<&str> {
        self.file.envelope.as_deref()
    }

    fn map(&self, payload: &Value, context: &IngestContext) -> Result<OcsfEvent, MappingError> {
        self.map_owned(payload.clone(), context)
    }

    fn map_owned(
        &self,
        payload: Value,
        context: &IngestContext,
    ) -> Result<OcsfEvent, MappingError> {
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
            return Err(MappingError::Ignored {
                reason: format!("matches skip_when of template '{}'", self.file.id),
            });
        }
        let class_uid = self.file.class_uid;
        let activity_id = self.file.activity_id;
        let severity_id = self.severity_id(&payload);
        let time = match &self.time_field {
            // A time in an unknown format falls back to the receive time; the raw value stays
            // under `unmapped`, so nothing is lost.
            Some(path) => get(&payload, path)
                .and_then(parse_time_ms)
                .unwrap_or_else(|| context.received_at.timestamp_millis()),
            None => context.received_at.timestamp_millis(),
        };

        let mut event = json!({
            "class_uid": class_uid,
            "class_name": self.file.class_name.clone().unwrap_or_else(|| "Detection Finding".into()),
            "category_uid": class_uid / 1000,
            "activity_id": activity_id,
            "type_uid": u64::from(class_uid) * 100 + u64::from(activity_id),
            "severity_id": severity_id,
            "severity": severity_name(severity_id),
            "time": time,
            "metadata": {
                "product": {"name": self.file.product_name, "vendor_name": self.file.vendor_name},
                "tenant_uid": context.tenant_id,
                "logged_time": context.received_at.timestamp_millis(),
            },
            "finding_info": {"uid": context.event_uid, "title": self.default_title},
        });

        // Mapped values are moved out of the payload; what remains is `unmapped`.
        let mut leftovers = payload;
        for (source, destinations) in &self.field_map {
            if let Some(value) = take(&mut leftovers, source) {
                for target in destinations {
                    let converted = if target.as_time {
                        parse_time_ms(&value).map(Value::from)
                    } else {
                        Some(value.clone())
                    };
                    if let Some(converted) = converted {
                        set(&mut event, &target.path, converted);
                    }
                }
            }
        }
        for (path, value) in &self.constants {
            set(&mut event, path, value.clone());
        }
        if let Some(path) = &self.severity_field {
            take(&mut leftovers, path);
        }
        if let Some(path) = &self.time_field
            && get(&leftovers, path).and_then(parse_time_ms).is_some()
        {
            take(&mut leftovers, path);
        }
        // Stamped last, so nothing a template or payload says can replace them.
        event["metadata"]["version"] = json!(OCSF_VERSION);
        event["metadata"]["uid"] = json!(context.event_uid);
        if !prune(&mut leftovers) {
            event["unmapped"] = leftovers;
        }
        match event {
            Value::Object(map) => Ok(OcsfEvent(map)),
            _ => unreachable!("built as an object"),
        }
    }
}

/// The templates a deployment accepts, by id.
#[derive(Clone, Default)]
pub struct TemplateRegistry {
    templates: HashMap<String, Arc<dyn InboxTemplate>>,
}

impl std::fmt::Debug for TemplateRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.templates.keys().collect();
        ids.sort();
        f.debug_struct("TemplateRegistry")
            .field("templates", &ids)
            .finish()
    }
}

/// The templates shipped in the crate, as `(file name, YAML)`.
pub const BUNDLED: [(&str, &str); 11] = [
    (
        "generic-json.yaml",
        include_str!("../templates/generic-json.yaml"),
    ),
    (
        "email-forwarded.yaml",
        include_str!("../templates/email-forwarded.yaml"),
    ),
    (
        "pagerduty.yaml",
        include_str!("../templates/pagerduty.yaml"),
    ),
    ("opsgenie.yaml", include_str!("../templates/opsgenie.yaml")),
    (
        "cloudflare-logpush.yaml",
        include_str!("../templates/cloudflare-logpush.yaml"),
    ),
    (
        "aws-eventbridge.yaml",
        include_str!("../templates/aws-eventbridge.yaml"),
    ),
    ("aws-sns.yaml", include_str!("../templates/aws-sns.yaml")),
    (
        "github-security-advisory.yaml",
        include_str!("../templates/github-security-advisory.yaml"),
    ),
    (
        "microsoft-defender-email.yaml",
        include_str!("../templates/microsoft-defender-email.yaml"),
    ),
    (
        "cef-syslog.yaml",
        include_str!("../templates/cef-syslog.yaml"),
    ),
    (
        "splunk-hec.yaml",
        include_str!("../templates/splunk-hec.yaml"),
    ),
];

impl TemplateRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bundled templates.
    pub fn bundled() -> Result<Self, TemplateLoadError> {
        let mut registry = Self::new();
        for (file, yaml) in BUNDLED {
            registry.add(Arc::new(YamlTemplate::from_yaml(
                &format!("<bundled:{file}>"),
                yaml,
            )?));
        }
        Ok(registry)
    }

    /// Adds every `*.yaml` / `*.yml` file of a directory; the first bad file stops loading.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, TemplateLoadError> {
        let entries = std::fs::read_dir(dir).map_err(|e| TemplateLoadError {
            file: dir.display().to_string(),
            field: "directory".into(),
            message: e.to_string(),
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        for path in &paths {
            self.add(Arc::new(YamlTemplate::from_file(path)?));
        }
        Ok(paths.len())
    }

    /// Adds (or replaces) a template, YAML or code.
    pub fn add(&mut self, template: Arc<dyn InboxTemplate>) {
        self.templates.insert(template.id().to_owned(), template);
    }

    /// Keeps only the listed template ids: the deployment's allow-list.
    pub fn allow_only(&mut self, ids: &[&str]) {
        self.templates.retain(|id, _| ids.contains(&id.as_str()));
    }

    /// A template by id.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn InboxTemplate>> {
        self.templates.get(id)
    }

    /// The ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.templates.keys().cloned().collect();
        ids.sort();
        ids
    }
}
