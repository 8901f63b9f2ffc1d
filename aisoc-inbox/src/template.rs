//! YAML templates that map vendor payloads to OCSF Detection Findings.
//!
//! ```yaml
//! id: my-vendor
//! vendor_name: My Vendor
//! product_name: My Vendor Cloud
//! class_uid: 2004            # Detection Finding (the default, and the only class emitted)
//! activity_id: 1             # Create (the default)
//! field_map:                 # dotted source path -> dotted OCSF path; arrays by index
//!   alert.id: finding_info.uid
//!   alert.title: finding_info.title
//!   alert.message: message
//!   alert.updated: finding_info.modified_time   # timestamps are parsed like time_field
//! severity_field: alert.priority
//! severity_map: { P1: 5, P2: 4, P3: 3 }
//! time_field: alert.created_at   # RFC 3339, or epoch s / ms / µs / ns (detected)
//! constants:
//!   metadata.product.feature.name: alerts
//! ```
//!
//! A `:time` suffix on a destination (`finding_info.modified_time:time`), which earlier
//! versions needed, is still accepted on timestamp attributes and refused elsewhere.
//!
//! Templates are checked when loaded; a template that does not parse, maps to a path that is
//! not an OCSF Detection Finding attribute, has a constant of the wrong type, or maps onto a
//! field the ingest stamps itself (`class_uid`, `type_uid`, `time`, `metadata.version`,
//! `metadata.tenant_uid`, …) stops start-up with an error naming the file and the field.
//!
//! ## Typed output, whatever the vendor sends
//! The template knows the OCSF type of every attribute it writes, from the schema the tests
//! validate against ([`DETECTION_FINDING_SCHEMA`], version [`OCSF_VERSION`]); each mapped value
//! is coerced to it (objects to compact JSON where a string is expected, numeric strings to
//! numbers, strings cut at [`MAX_STRING_BYTES`], …; the table is in the `coerce` module). A
//! value that cannot be coerced is left out and kept under `unmapped` at the OCSF path it was
//! meant for; an object the mapping built that lacks a required attribute (a `cve` without its
//! `uid`) is moved there whole. Source fields no mapping consumed are kept under `unmapped` at
//! their own path, so nothing a vendor sent is silently lost. Where two kept values meet at
//! one place under `unmapped`, both are kept (see `keep_at` in the `path` module).
//!
//! The facts only the inbox knows (`metadata.version`, `metadata.uid`, `metadata.tenant_uid`,
//! `metadata.logged_time`) are stamped last by [`stamp_ingest_fields`], which the pipeline
//! also applies to templates written in code: a template cannot claim another tenant.

mod cef;
mod coerce;
mod mapping;
mod ocsf_model;
mod path;
mod plan;
mod presence;
mod registry;
mod stamp;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext, MappingError, OcsfEvent};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::Value;

pub use coerce::MAX_STRING_BYTES;
use coerce::{At, Rejected, coerce};
pub use ocsf_model::DETECTION_FINDING_SCHEMA;
use ocsf_model::{AttrType, OcsfModel};
use path::{Segment, parse_path, set};
use presence::PresenceChecks;
pub use registry::{BUNDLED, TemplateRegistry};
pub use stamp::stamp_ingest_fields;
pub use write::WriteError;

/// The OCSF schema version the events declare in `metadata.version`: the version of
/// [`DETECTION_FINDING_SCHEMA`], which the typed mapping is derived from.
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
const RESERVED: [&str; 11] = [
    "class_uid",
    "category_uid",
    "type_uid",
    "activity_id",
    "severity_id",
    "time",
    "metadata.version",
    "metadata.uid",
    "metadata.tenant_uid",
    "metadata.logged_time",
    "unmapped",
];

/// The highest array index a path may name; OCSF lists written by index are short, and the
/// bound keeps a template from allocating a huge padded array.
/// The largest template file accepted (bundled ones are about 1 KiB).
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// The deepest `[`/`{` nesting a template may use. Templates are flat; the YAML parser takes
/// time quadratic in flow nesting before its own recursion limit refuses it (100,000 levels:
/// about 100 s), so deeper files are refused before parsing.
pub const MAX_TEMPLATE_NESTING: usize = 64;

/// The deepest `[`/`{` nesting outside quoted scalars and comments. Approximate on purpose
/// (a plain scalar with an apostrophe reads as a quote): it errs towards less depth, and
/// [`MAX_TEMPLATE_BYTES`] bounds what the parser is handed anyway.
fn flow_nesting(yaml: &str) -> usize {
    let bytes = yaml.as_bytes();
    let (mut depth, mut deepest, mut quote, mut i) = (0usize, 0usize, None::<u8>, 0usize);
    while i < bytes.len() {
        let byte = bytes[i];
        match quote {
            Some(b'"') if byte == b'\\' => i += 1,
            Some(q) if byte == q => {
                // `''` inside a single-quoted scalar is an escaped quote.
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => match byte {
                b'"' | b'\'' => quote = Some(byte),
                b'[' | b'{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    deepest
}

const MAX_PATH_INDEX: usize = 255;

/// The latest time accepted: 9999-12-31T23:59:59.999Z, the end of RFC 3339's range.
const MAX_TIME_MS: f64 = 253_402_300_799_999.0;

/// Epoch milliseconds from an RFC 3339 string or an epoch number in s, ms, µs or ns; `None`
/// for anything else, a negative time, or one past the year 9999.
pub fn parse_time_ms(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => epoch_ms(n.as_f64()?),
        Value::String(s) => time_ms_from_text(s),
        _ => None,
    }
}

/// [`parse_time_ms`] of a string.
fn time_ms_from_text(text: &str) -> Option<i64> {
    match text.trim().parse::<f64>() {
        Ok(n) => epoch_ms(n),
        Err(_) => DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| t.timestamp_millis())
            .filter(|ms| *ms >= 0),
    }
}

/// [`parse_time_ms`] of a number.
fn epoch_ms(number: f64) -> Option<i64> {
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
    (ms <= MAX_TIME_MS).then_some(ms as i64)
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
    /// Already coerced to their attributes' types when loaded.
    constants: Vec<(Vec<Segment>, Value)>,
    skip_when: Vec<(Vec<Segment>, Value)>,
    /// Objects this template builds key by key that have required attributes.
    checks: PresenceChecks,
    default_title: String,
    /// The stamps can be written next to the mapped event instead of into it: no whole
    /// object is mapped onto an object the ingest stamps (see [`write`]).
    direct: bool,
    /// The fixed shape of the mapped events, when they have one (see [`plan`]).
    plan: Option<plan::DirectPlan>,
}

/// A destination path and the OCSF type found there.
#[derive(Debug, Clone)]
struct Target {
    path: Vec<Segment>,
    ty: &'static AttrType,
}

impl Target {
    /// Coerces and writes `value`; returns `true` when an array was padded to reach an index.
    fn write(
        &self,
        event: &mut Value,
        value: Value,
        model: &OcsfModel,
        rejected: &mut Rejected,
    ) -> bool {
        match coerce(value, self.ty, model, &mut At::new(&self.path), rejected) {
            Some(value) => set(event, &self.path, value),
            None => false,
        }
    }
}

impl YamlTemplate {
    /// Parses and checks a template; `file` names it in errors.
    pub fn from_yaml(file: &str, yaml: &str) -> Result<Self, TemplateLoadError> {
        let error = |field: &str, message: String| TemplateLoadError {
            file: file.to_owned(),
            field: field.to_owned(),
            message,
        };
        if yaml.len() > MAX_TEMPLATE_BYTES {
            return Err(error(
                "yaml",
                format!(
                    "the file is {} bytes; templates may be at most {MAX_TEMPLATE_BYTES}",
                    yaml.len()
                ),
            ));
        }
        if flow_nesting(yaml) > MAX_TEMPLATE_NESTING {
            return Err(error(
                "yaml",
                format!("[ and {{ nest more than {MAX_TEMPLATE_NESTING} deep"),
            ));
        }
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
        let model = OcsfModel::detection_finding();
        if parsed.class_uid != DETECTION_FINDING {
            return Err(error(
                "class_uid",
                format!(
                    "{} is not {DETECTION_FINDING}: the inbox emits OCSF Detection Findings only",
                    parsed.class_uid
                ),
            ));
        }
        if let Some(AttrType::Integer(rule)) = model.root().attributes.get("activity_id")
            && let Some(allowed) = &rule.allowed
            && !allowed.contains(&i64::from(parsed.activity_id))
        {
            let mut allowed = allowed.clone();
            allowed.sort_unstable();
            return Err(error(
                "activity_id",
                format!("must be one of {allowed:?} for a Detection Finding"),
            ));
        }
        let valid_severity = |id: u32| id <= 6 || id == 99;
        let mut checks = PresenceChecks::default();
        let mut writable = |field: &str, dst: &str| -> Result<Target, TemplateLoadError> {
            let (dst, as_time) = match dst.strip_suffix(":time") {
                Some(dst) => (dst, true),
                None => (dst, false),
            };
            if RESERVED
                .iter()
                .any(|r| dst == *r || dst.starts_with(&format!("{r}.")))
            {
                return Err(error(
                    field,
                    format!("'{dst}' is set by the ingest and cannot be mapped"),
                ));
            }
            let path = parse_path(dst)
                .ok_or_else(|| error(field, format!("'{dst}' is not a dotted path")))?;
            if path
                .iter()
                .any(|s| matches!(s, Segment::Index(i) if *i > MAX_PATH_INDEX))
            {
                return Err(error(
                    field,
                    format!("'{dst}': list indices go up to {MAX_PATH_INDEX}"),
                ));
            }
            let resolved = model.resolve(&path).map_err(|reason| {
                error(
                    field,
                    format!("'{dst}' is not an OCSF {OCSF_VERSION} Detection Finding attribute: {reason}"),
                )
            })?;
            let ty = resolved.ty;
            if as_time && !matches!(ty, AttrType::Timestamp) {
                return Err(error(
                    field,
                    format!(
                        "':time' converts to epoch milliseconds, but '{dst}' is a {}",
                        ty.describe()
                    ),
                ));
            }
            for (depth, object) in resolved.objects_with_rules {
                checks.add_object(&path[..depth], object);
            }
            checks.add_whole(&path, ty);
            Ok(Target { path, ty })
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
                .map(|dst| writable(&field, dst))
                .collect::<Result<Vec<_>, TemplateLoadError>>()?;
            field_map.push((source, targets));
        }
        let mut constants = Vec::new();
        for (dst, value) in &parsed.constants {
            let field = format!("constants.{dst}");
            let target = writable(&field, dst)?;
            let mut rejected = Rejected::new();
            let fitted = coerce(
                value.clone(),
                target.ty,
                model,
                &mut At::new(&target.path),
                &mut rejected,
            );
            match fitted {
                Some(fitted) if rejected.is_empty() => constants.push((target.path, fitted)),
                _ => {
                    return Err(error(
                        &field,
                        format!(
                            "{value} does not fit the {} attribute '{dst}'",
                            target.ty.describe()
                        ),
                    ));
                }
            }
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
        // The objects the ingest stamps are complete once stamped (see `write`).
        for path in write::STAMPED_OBJECTS {
            checks.mark_stamped(path);
        }
        let direct = write::STAMPED_OBJECTS
            .iter()
            .all(|path| !checks.mapped_whole_at(path));
        let plan = plan::DirectPlan::new(&field_map, &constants, &checks, direct);
        Ok(Self {
            file: parsed,
            plan,
            field_map,
            severity_field,
            severity_map,
            time_field,
            constants,
            skip_when,
            checks,
            default_title,
            direct,
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

    /// The dotted payload paths this template reads (`field_map` sources, `severity_field`,
    /// `time_field`, `skip_when`), e.g. to generate test payloads.
    ///
    /// ```
    /// use aisoc_inbox::template::YamlTemplate;
    ///
    /// let yaml = "id: v\nvendor_name: V\nproduct_name: P\nfield_map:\n  alert.title: finding_info.title\ntime_field: at\n";
    /// let template = YamlTemplate::from_yaml("v.yaml", yaml).unwrap();
    /// assert_eq!(template.source_paths().collect::<Vec<_>>(), ["alert.title", "at"]);
    /// ```
    pub fn source_paths(&self) -> impl Iterator<Item = &str> {
        self.file
            .field_map
            .keys()
            .map(String::as_str)
            .chain(self.file.severity_field.as_deref())
            .chain(self.file.time_field.as_deref())
            .chain(self.file.skip_when.keys().map(String::as_str))
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
        let draft = self.draft(payload, context)?;
        Ok(self.finish(draft, context))
    }
}
