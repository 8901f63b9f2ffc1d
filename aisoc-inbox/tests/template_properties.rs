//! Every bundled template, fed real-shaped vendor payloads whose fields the template reads are
//! replaced by arbitrary JSON (strings incl. huge and unicode ones, numbers incl. extremes,
//! nested objects, arrays, nulls): the output always validates against the OCSF Detection
//! Finding schema, declares its version and the token's tenant, and mapping never panics.
//!
//! The default case count keeps the file to a few seconds; for a longer run:
//! `PROPTEST_CASES=2000 cargo test -p aisoc-inbox --all-features --test template_properties`

use std::collections::HashMap;
use std::sync::LazyLock;

use aisoc_inbox::envelope::{Unwrapped, unwrap};
use aisoc_inbox::template::{BUNDLED, DETECTION_FINDING_SCHEMA, OCSF_VERSION, YamlTemplate};
use aisoc_inbox::{cef, email, hec};
use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext, MappingError};
use http::HeaderMap;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Cases per template unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 48;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    jsonschema::draft202012::new(&serde_json::from_str::<Value>(DETECTION_FINDING_SCHEMA).unwrap())
        .unwrap()
});

static TEMPLATES: LazyLock<HashMap<String, YamlTemplate>> = LazyLock::new(|| {
    BUNDLED
        .iter()
        .map(|(file, yaml)| {
            let template = YamlTemplate::from_yaml(file, yaml).unwrap();
            (template.id().to_owned(), template)
        })
        .collect()
});

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&read(name)).unwrap()
}

fn unwrapped(envelope: &str, payload: Value, headers: &HeaderMap) -> Value {
    match unwrap(Some(envelope), payload, headers).unwrap() {
        Unwrapped::Event(payload) => payload,
        other => panic!("{envelope}: not an event: {other:?}"),
    }
}

/// A real-shaped payload per template, as the template sees it (after the route's parsing and
/// the envelope); the properties start from it.
static BASES: LazyLock<HashMap<&'static str, Value>> = LazyLock::new(|| {
    let mut github = HeaderMap::new();
    github.insert("x-github-event", "security_advisory".parse().unwrap());
    let none = HeaderMap::new();
    let first_line = |name: &str| -> Value {
        let body = read(name);
        serde_json::from_slice(body.split(|b| *b == b'\n').next().unwrap()).unwrap()
    };
    HashMap::from([
        ("generic-json", json("generic-alert.json")),
        (
            "email-forwarded",
            email::normalize(&json("postmark-inbound.json")),
        ),
        ("pagerduty", json("templates/pagerduty-triggered.json")),
        ("opsgenie", json("templates/opsgenie-create.json")),
        (
            "cloudflare-logpush",
            first_line("templates/cloudflare-logpush.ndjson"),
        ),
        (
            "aws-eventbridge",
            json("templates/eventbridge-guardduty.json"),
        ),
        (
            "aws-sns",
            unwrapped(
                "aws-sns",
                json("templates/sns-cloudwatch-alarm.json"),
                &none,
            ),
        ),
        (
            "github-security-advisory",
            unwrapped(
                "github",
                json("templates/github-advisory-published.json"),
                &github,
            ),
        ),
        (
            "microsoft-defender-email",
            unwrapped(
                "defender-email",
                json("templates/defender-high.json"),
                &none,
            ),
        ),
        (
            "cef-syslog",
            cef::parse_batch(&read("templates/cef-lines.txt"))
                .0
                .remove(0),
        ),
        (
            "splunk-hec",
            hec::parse_events(&read("templates/hec-batch.json"))
                .unwrap()
                .remove(0),
        ),
    ])
});

/// OCSF attribute names, so generated objects sometimes look like what a template expects.
const OCSF_KEYS: [&str; 12] = [
    "uid",
    "name",
    "title",
    "type_id",
    "from",
    "to",
    "subject",
    "base_score",
    "version",
    "message",
    "time",
    "product",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            Number::from_f64(f).map(Value::Number)
        }),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            1e300,
            1.5,
            1_715_158_800.0,
            1_715_158_800_123.0,
            1.715_158_800_123_456_8e18,
        ])
        .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
    ]
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        "[0-9]{1,20}(\\.[0-9]{1,4})?".prop_map(Value::from),
        prop::sample::select(vec![
            "",
            " 42 ",
            "-1",
            "1e400",
            "NaN",
            "true",
            "FALSE",
            "high",
            "CRITICAL",
            "P1",
            "2026-05-08T09:00:00Z",
            "9999-12-31T23:59:59Z",
            "1715158800123",
            "a@b.co",
            "Alice <alice@example.com>",
            "日本語のアラート",
            "🚨🔥",
            "\u{0}\u{202e}",
        ])
        .prop_map(Value::from),
        "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}".prop_map(Value::from),
        // Huge: tens of thousands of one (possibly multi-byte) character.
        (any::<char>(), 1usize..5).prop_map(|(c, n)| Value::from(c.to_string().repeat(n * 12_000))),
    ]
}

fn vendor_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        3 => number(),
        4 => text(),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        let key = prop_oneof![
            "[a-z_]{1,8}".prop_map(String::from),
            prop::sample::select(OCSF_KEYS.to_vec()).prop_map(String::from),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// What happens to one field the template reads.
#[derive(Debug, Clone)]
enum Edit {
    Keep,
    Remove,
    Replace(Value),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        1 => Just(Edit::Keep),
        1 => Just(Edit::Remove),
        4 => vendor_value().prop_map(Edit::Replace),
    ];
    prop::collection::vec(edit, MAX_SOURCE_PATHS)
}

/// More than any bundled template reads.
const MAX_SOURCE_PATHS: usize = 16;

fn segments(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

/// Writes `value` at the dotted `path`, turning whatever is in the way into objects (an
/// existing array is indexed when the segment is a number).
fn put(target: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    if let (Value::Array(items), Ok(index)) = (&mut *target, first.parse::<usize>())
        && index < items.len()
    {
        return put(&mut items[index], rest, value);
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().unwrap();
    put(
        map.entry(first.to_string()).or_insert(Value::Null),
        rest,
        value,
    );
}

fn remove(target: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = target;
    for segment in parents {
        current = match current {
            Value::Object(map) => match map.get_mut(*segment) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => {
                match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(next) => next,
                    None => return,
                }
            }
            _ => return,
        };
    }
    if let Value::Object(map) = current {
        map.remove(*last);
    }
}

fn context() -> IngestContext {
    IngestContext {
        tenant_id: "acme".into(),
        received_at: chrono::DateTime::parse_from_rfc3339("2026-05-08T12:00:00Z")
            .unwrap()
            .to_utc(),
        event_uid: "evt-1".into(),
    }
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(3000) {
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
        None => text,
    }
}

fn check(id: &str, edits: &[Edit]) -> Result<(), TestCaseError> {
    let template = &TEMPLATES[id];
    let paths: Vec<&str> = template.source_paths().collect();
    assert!(
        paths.len() <= MAX_SOURCE_PATHS,
        "{id} reads more than {MAX_SOURCE_PATHS} fields"
    );
    let mut payload = BASES[id].clone();
    for (path, edit) in paths.iter().zip(edits) {
        match edit {
            Edit::Keep => {}
            Edit::Remove => remove(&mut payload, &segments(path)),
            Edit::Replace(value) => put(&mut payload, &segments(path), value.clone()),
        }
    }
    let event = match template.map_owned(payload.clone(), &context()) {
        Ok(event) => event.into_value(),
        Err(MappingError::Ignored { .. }) => return Ok(()),
        Err(other) => {
            return Err(TestCaseError::fail(format!(
                "{id}: {other}\npayload: {}",
                shorten(&payload)
            )));
        }
    };
    let errors: Vec<String> = VALIDATOR
        .iter_errors(&event)
        .map(|e| format!("{} at {}", shorten(e.instance()), e.instance_path()))
        .collect();
    prop_assert!(
        errors.is_empty(),
        "{id}: {errors:#?}\nevent: {}\npayload: {}",
        shorten(&event),
        shorten(&payload)
    );
    prop_assert_eq!(&event["metadata"]["version"], OCSF_VERSION);
    prop_assert_eq!(&event["metadata"]["tenant_uid"], "acme");
    Ok(())
}

macro_rules! template_properties {
    ($($test:ident => $id:literal,)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $test(edits in edits()) {
                    check($id, &edits)?;
                }
            )*
        }

        #[test]
        fn every_bundled_template_has_a_property_test_and_every_template_file_is_bundled() {
            let mut tested = vec![$($id),*];
            tested.sort_unstable();
            let mut bundled: Vec<&str> = TEMPLATES.keys().map(String::as_str).collect();
            bundled.sort_unstable();
            assert_eq!(tested, bundled);
            let mut bases: Vec<&str> = BASES.keys().copied().collect();
            bases.sort_unstable();
            assert_eq!(bases, bundled);
            let dir = format!("{}/templates", env!("CARGO_MANIFEST_DIR"));
            let mut files: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort_unstable();
            let mut shipped: Vec<&str> = BUNDLED.iter().map(|(file, _)| *file).collect();
            shipped.sort_unstable();
            assert_eq!(files, shipped, "templates/ and BUNDLED list the same files");
        }
    };
}

template_properties! {
    generic_json_output_is_always_a_valid_detection_finding => "generic-json",
    email_forwarded_output_is_always_a_valid_detection_finding => "email-forwarded",
    pagerduty_output_is_always_a_valid_detection_finding => "pagerduty",
    opsgenie_output_is_always_a_valid_detection_finding => "opsgenie",
    cloudflare_logpush_output_is_always_a_valid_detection_finding => "cloudflare-logpush",
    aws_eventbridge_output_is_always_a_valid_detection_finding => "aws-eventbridge",
    aws_sns_output_is_always_a_valid_detection_finding => "aws-sns",
    github_security_advisory_output_is_always_a_valid_detection_finding => "github-security-advisory",
    microsoft_defender_email_output_is_always_a_valid_detection_finding => "microsoft-defender-email",
    cef_syslog_output_is_always_a_valid_detection_finding => "cef-syslog",
    splunk_hec_output_is_always_a_valid_detection_finding => "splunk-hec",
}
