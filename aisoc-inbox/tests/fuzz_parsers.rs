//! Fuzzing every parser the inbox runs on untrusted input, through the public functions the
//! routes call: gzip framing and JSON / NDJSON bodies ([`body`]), Splunk HEC `/event` and
//! `/raw` bodies with their query parameters ([`hec`]), CEF lines ([`cef`]), relayed e-mail
//! (SES, SendGrid, Postmark, raw MIME; [`email`]), SNS messages ([`envelope`], [`sns`]) and YAML
//! templates ([`YamlTemplate`], admin input, but still never allowed to panic or hang).
//!
//! Strategies produce arbitrary bytes and structure-aware changes to the real-shaped fixtures
//! under `tests/fixtures`: fields replaced by arbitrary JSON, lines cut, duplicated or bent,
//! deep nesting, huge values, non-UTF-8 bytes, gzip bombs. The properties: nothing panics,
//! every refusal is a typed error (HEC ones with Splunk's codes), and work is bounded by the
//! input (a gzip body never decompresses past the limit; parsed output is at most a constant
//! times the input). `parser_properties.rs` has the first, smaller set for CEF and HEC; these
//! extend it rather than repeat it.
//!
//! The case count keeps this file to a few seconds in debug builds. Proptest reads
//! `PROPTEST_CASES` on top of the configured count, so a longer run is:
//! `PROPTEST_CASES=100000 cargo test -p aisoc-inbox --all-features --test fuzz_parsers --release`

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use aisoc_inbox::body::{self, BodyError};
use aisoc_inbox::envelope::{EnvelopeError, Unwrapped, unwrap};
use aisoc_inbox::hec::{self, HecReply};
use aisoc_inbox::sns::{CertificateFetcher, FetchError, SnsVerifier, string_to_sign};
use aisoc_inbox::template::{BUNDLED, YamlTemplate, parse_time_ms};
use aisoc_inbox::{cef, email};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext};
use http::HeaderMap;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// Cases per property; `PROPTEST_CASES` overrides it.
const CASES: u32 = 128;

/// Parsed output may be this many times the input's size (escaping, number formatting)...
const GROWTH: usize = 8;
/// ...plus this much per event for the keys every normalised event carries.
const PER_EVENT: usize = 512;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn json_size(values: &[Value]) -> usize {
    values
        .iter()
        .map(|v| serde_json::to_vec(v).unwrap().len())
        .sum()
}

// ---- mutation machinery -------------------------------------------------------------------

/// One structure-aware change to a byte string; positions scale with its length.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Duplicate(Index, usize, usize),
    Replace(Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..16),
        proptest::sample::select(vec![
            b"\n".to_vec(),
            b"\r\n".to_vec(),
            b"\\".to_vec(),
            b"|".to_vec(),
            b"=".to_vec(),
            b" k=".to_vec(),
            b"{".to_vec(),
            b"}{".to_vec(),
            b"\"".to_vec(),
            b"[".repeat(200),
            b"\xff\xfe".to_vec(),
            b"\xe9".to_vec(),
            b"%".to_vec(),
            b"CEF:".to_vec(),
            b"*a".to_vec(),
            b"&a [*a,*a]".to_vec(),
        ]),
    ];
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), interesting).prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<Index>(), 1usize..32).prop_map(|(at, n)| Edit::Remove(at, n)),
        (any::<Index>(), 1usize..64, 1usize..64)
            .prop_map(|(at, n, times)| Edit::Duplicate(at, n, times)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
    ]
}

fn apply(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = base.to_vec();
    for edit in edits {
        let at = |i: &Index| i.index(out.len() + 1);
        match edit {
            Edit::Truncate(i) => out.truncate(at(i)),
            Edit::Insert(i, bytes) => {
                let at = at(i);
                out.splice(at..at, bytes.iter().copied());
            }
            Edit::Remove(i, n) => {
                let at = at(i);
                out.drain(at..(at + n).min(out.len()));
            }
            Edit::Duplicate(i, n, times) => {
                let at = at(i);
                let piece = out[at..(at + n).min(out.len())].to_vec();
                out.splice(at..at, piece.repeat(*times));
            }
            Edit::Replace(i, b) if !out.is_empty() => {
                let at = i.index(out.len());
                out[at] = *b;
            }
            Edit::Replace(..) => {}
        }
    }
    out
}

fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(edit(), 1..5).prop_map(move |edits| apply(&base, &edits))
}

/// Arbitrary JSON: scalars of every kind (huge and unicode strings, extreme numbers), nested.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[<>\"@ ,a-z]{0,16}".prop_map(Value::String),
        "Content-Type: (multipart/mixed|text/plain)\r?\n(Content-Transfer-Encoding: base64\r?\n)?\r?\n.{0,40}"
            .prop_map(Value::String),
        (1usize..10_000).prop_map(|n| Value::String("<a@b>,".repeat(n))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_]{1,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `value` (objects and arrays), the root included.
fn pointers(value: &Value) -> Vec<String> {
    fn walk(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                    out.push(path.clone());
                    walk(child, path, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let path = format!("{at}/{i}");
                    out.push(path.clone());
                    walk(child, path, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

/// `base` with some of its fields replaced by arbitrary JSON or removed.
fn mutated_json(base: Value) -> impl Strategy<Value = Value> {
    let paths = pointers(&base);
    proptest::collection::vec(
        (
            proptest::sample::select(paths),
            proptest::option::of(json_value()),
        ),
        1..4,
    )
    .prop_map(move |changes| {
        let mut value = base.clone();
        for (pointer, replacement) in changes {
            let Some(target) = value.pointer_mut(&pointer) else {
                continue; // removed by an earlier change
            };
            *target = replacement.unwrap_or(Value::Null);
        }
        value
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// One gzip member of 1 MiB of zeros (about 1 KiB compressed); concatenated members are a
/// cheap bomb, and the decoder reads multi-member streams.
static MIB_OF_ZEROS_GZ: LazyLock<Vec<u8>> = LazyLock::new(|| gzip(&vec![0u8; 1 << 20]));

// ---- fixtures -----------------------------------------------------------------------------

static NDJSON: LazyLock<Vec<u8>> = LazyLock::new(|| fixture("templates/cloudflare-logpush.ndjson"));
static HEC_BATCH: LazyLock<Vec<u8>> = LazyLock::new(|| fixture("templates/hec-batch.json"));
static CEF_LINES: LazyLock<Vec<u8>> = LazyLock::new(|| fixture("templates/cef-lines.txt"));

fn email_fixtures() -> impl Strategy<Value = Value> {
    let ses = fixture_json("ses-notification.json");
    let sns_wrapped = json!({
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:inbound-mail",
        "Message": ses.to_string(),
    });
    let mut ses_with_content = ses.clone();
    ses_with_content["content"] =
        json!("From: a@b.example\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\nThe body.\r\n");
    prop_oneof![
        mutated_json(ses),
        mutated_json(ses_with_content),
        mutated_json(sns_wrapped),
        mutated_json(fixture_json("sendgrid-parse.json")),
        mutated_json(fixture_json("postmark-inbound.json")),
        mutated_json(fixture_json("templates/defender-high.json")),
    ]
}

fn sns_fixtures() -> impl Strategy<Value = Value> {
    prop_oneof![
        mutated_json(fixture_json("templates/sns-cloudwatch-alarm.json")),
        mutated_json(fixture_json("templates/sns-subscription-confirmation.json")),
        mutated_json(fixture_json("templates/sns-text-message.json")),
    ]
}

/// The query map the HEC router hands to `parse_raw`, from an arbitrary query string.
fn raw_envelope(query: &str) -> Map<String, Value> {
    let query: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    ["host", "source", "sourcetype", "index", "time"]
        .iter()
        .filter_map(|key| {
            query
                .get(*key)
                .map(|v| ((*key).to_owned(), Value::String(v.clone())))
        })
        .collect()
}

fn non_blank_lines(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .count()
}

fn context() -> IngestContext {
    IngestContext {
        tenant_id: "acme".into(),
        received_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        event_uid: "evt-1".into(),
    }
}

/// A fetcher serving whatever text the test chose as the certificate.
struct ServedPem(Result<String, String>);

#[async_trait]
impl CertificateFetcher for ServedPem {
    async fn fetch(&self, _url: &str) -> Result<String, FetchError> {
        self.0.clone().map_err(FetchError::from)
    }
}

static REAL_PEM: LazyLock<String> = LazyLock::new(|| {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    rcgen::CertificateParams::new(vec!["sns.amazonaws.com".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem()
});

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A bundled template's YAML with lines cut, repeated or bent.
fn mutated_template() -> impl Strategy<Value = String> {
    let line_edit = prop_oneof![
        (any::<Index>()).prop_map(|i| (i, None)),
        (
            any::<Index>(),
            proptest::option::of(prop_oneof![
                "  [a-z_.0-9]{1,20}: [a-z_.0-9]{1,20}".prop_map(Some),
                "[a-z_]{1,12}: (\\[|\\{|&a|\\*a|!!binary|~|-?[0-9]{1,30}|'.{0,8})".prop_map(Some),
                Just(Some(
                    "constants: {metadata.product.feature.name: [[[[[[x]]]]]]}".into()
                )),
                Just(Some("  ? [a, b]\n  : c".into())),
                Just(Some("\t- x".into())),
            ])
            .prop_map(Option::flatten)
        )
            .prop_map(|(i, line)| (i, line.or(Some(String::new())))),
    ];
    (
        proptest::sample::select(BUNDLED.to_vec()),
        proptest::collection::vec(line_edit, 1..5),
        proptest::collection::vec(edit(), 0..2),
    )
        .prop_map(|((_, yaml), line_edits, byte_edits)| {
            let mut lines: Vec<String> = yaml.lines().map(str::to_owned).collect();
            for (at, replacement) in line_edits {
                let i = at.index(lines.len().max(1));
                match replacement {
                    None if !lines.is_empty() => drop(lines.remove(i)),
                    None => {}
                    Some(line) if line.is_empty() => {
                        let copy = lines.get(i).cloned().unwrap_or_default();
                        lines.insert(i, copy);
                    }
                    Some(line) => lines.insert(i, line),
                }
            }
            let bytes = apply(lines.join("\n").as_bytes(), &byte_edits);
            String::from_utf8_lossy(&bytes).into_owned()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    // ---- gzip framing ----

    #[test]
    fn gzip_of_arbitrary_bytes_is_refused_or_bounded(
        raw in proptest::collection::vec(any::<u8>(), 0..512),
        max in 0usize..4096,
        encoding in "(gzip|x-gzip|GZIP| gzip |identity||br|deflate)",
    ) {
        match body::decode(Some(&encoding), raw.into(), max) {
            Ok(out) => prop_assert!(out.len() <= max || !encoding.to_ascii_lowercase().contains("gzip")),
            Err(BodyError::BadGzip | BodyError::TooLargeDecompressed { .. } | BodyError::UnsupportedEncoding(_)) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn a_damaged_gzip_body_never_decompresses_past_the_limit(
        data in mutated(NDJSON.clone()),
        edits in proptest::collection::vec(edit(), 0..3),
        max in 1usize..(1 << 16),
    ) {
        let compressed = apply(&gzip(&data), &edits);
        match body::decode(Some("gzip"), compressed.into(), max) {
            Ok(out) => {
                prop_assert!(out.len() <= max);
                if edits.is_empty() {
                    prop_assert_eq!(&out[..], &data[..]);
                }
            }
            Err(BodyError::TooLargeDecompressed { max: reported }) => {
                prop_assert_eq!(reported, max);
                if edits.is_empty() {
                    prop_assert!(data.len() > max);
                }
            }
            Err(BodyError::BadGzip) => prop_assert!(!edits.is_empty(), "an intact stream was refused"),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn gzip_bombs_are_refused_with_the_limit_error(members in 2usize..12, max_kib in 64usize..1024) {
        let bomb = MIB_OF_ZEROS_GZ.repeat(members);
        let max = max_kib * 1024;
        prop_assert_eq!(
            body::decode(Some("gzip"), bomb.into(), max),
            Err(BodyError::TooLargeDecompressed { max })
        );
    }

    // ---- JSON and NDJSON bodies ----

    #[test]
    fn bodies_of_arbitrary_bytes_parse_bounded_or_fail_typed(
        raw in proptest::collection::vec(any::<u8>(), 0..1024),
        content_type in proptest::option::of("application/(json|x-ndjson|ndjson|jsonl)(; charset=utf-8)?|text/plain"),
    ) {
        check_body(content_type.as_deref(), &raw)?;
    }

    #[test]
    fn bent_ndjson_keeps_every_good_line_and_counts_the_rest(
        data in mutated(NDJSON.clone()),
        content_type in proptest::option::of("application/(json|x-ndjson)"),
    ) {
        check_body(content_type.as_deref(), &data)?;
        if content_type.as_deref() == Some("application/x-ndjson")
            && let Ok(parsed) = body::parse(content_type.as_deref(), &data)
        {
            prop_assert_eq!(parsed.events.len() + parsed.dropped, non_blank_lines(&data));
        }
    }

    #[test]
    fn json_bodies_with_bent_fields_parse(event in mutated_json(fixture_json("generic-alert.json"))) {
        let text = serde_json::to_vec(&event).unwrap();
        match body::parse(Some("application/json"), &text) {
            Ok(parsed) => prop_assert!(event.is_object() && parsed.events == vec![event]),
            Err(error) => prop_assert!(!event.is_object() && error == BodyError::NoEvents),
        }
    }

    // ---- Splunk HEC ----

    #[test]
    fn hec_event_bodies_parse_bounded_or_name_the_bad_event(data in mutated(HEC_BATCH.clone())) {
        let items = serde_json::Deserializer::from_slice(&data).into_iter::<Value>().count();
        match hec::parse_events(&data) {
            Ok(events) => {
                prop_assert!(!events.is_empty());
                for event in &events {
                    prop_assert!(event["event"].is_object() && event["hec"].is_object());
                }
                prop_assert!(json_size(&events) <= GROWTH * data.len() + PER_EVENT * events.len());
            }
            Err(reply) => {
                prop_assert!(matches!(reply.code, 5 | 6 | 12 | 13 | 15), "{reply:?}");
                prop_assert_eq!(reply.status, http::StatusCode::BAD_REQUEST);
                if let Some(index) = reply.invalid_event_number {
                    prop_assert!(index <= items, "event {index} of {items}");
                }
            }
        }
    }

    #[test]
    fn hec_raw_bodies_are_one_event_per_line_whatever_the_query(
        data in prop_oneof![mutated(CEF_LINES.clone()), proptest::collection::vec(any::<u8>(), 0..512)],
        query in "((host|source|sourcetype|index|time|token|x)=[a-z%0-9+&=]{0,24}&?){0,6}",
    ) {
        let envelope = raw_envelope(&query);
        let envelope_size = serde_json::to_vec(&envelope).unwrap().len();
        match hec::parse_raw(&data, &envelope) {
            Ok(events) => {
                prop_assert_eq!(events.len(), non_blank_lines(&data));
                for event in &events {
                    prop_assert!(event["event"]["message"].is_string());
                    prop_assert_eq!(event["hec"].as_object().unwrap(), &envelope);
                }
                // Each line costs its own size (escaped) plus one copy of the envelope.
                prop_assert!(
                    json_size(&events) <= GROWTH * data.len() + (PER_EVENT + envelope_size) * events.len()
                );
            }
            Err(reply) => {
                prop_assert_eq!(reply, HecReply::NO_DATA);
                prop_assert_eq!(non_blank_lines(&data), 0);
            }
        }
    }

    // ---- CEF ----

    #[test]
    fn bent_cef_lines_parse_bounded_or_are_counted_as_dropped(data in mutated(CEF_LINES.clone())) {
        let (events, dropped) = cef::parse_batch(&data);
        prop_assert_eq!(events.len() + dropped, non_blank_lines(&data));
        prop_assert!(json_size(&events) <= GROWTH * data.len() + PER_EVENT * events.len());
    }

    // ---- e-mail relays and raw MIME ----

    #[test]
    fn bent_email_relay_payloads_normalise_bounded(payload in email_fixtures()) {
        let input = serde_json::to_vec(&payload).unwrap().len();
        let normalised = email::normalize(&payload);
        prop_assert!(serde_json::to_vec(&normalised).unwrap().len() <= 2 * input + 1024);
        // The Defender envelope reads the normalised subject; any shape is an event.
        let unwrapped = unwrap(Some("defender-email"), payload, &HeaderMap::new());
        prop_assert!(matches!(unwrapped, Ok(Unwrapped::Event(_))));
    }

    #[test]
    fn raw_mime_in_ses_content_never_panics(
        headers in proptest::collection::vec("[A-Za-z-]{1,20}: .{0,30}", 0..5),
        separator in "(\r\n\r\n|\n\n|\r\n|\n|)",
        body in ".{0,200}",
        content_type in proptest::option::of("Content-Type: (multipart/alternative; boundary=x|text/plain; charset=utf-8)"),
    ) {
        let mut raw = headers.join("\r\n");
        if let Some(content_type) = content_type {
            raw = format!("{content_type}\r\n{raw}");
        }
        raw.push_str(&separator);
        raw.push_str(&body);
        let mut ses = fixture_json("ses-notification.json");
        ses["content"] = json!(raw);
        let normalised = email::normalize(&ses);
        if let Some(text) = normalised.get("text").and_then(Value::as_str) {
            prop_assert!(text.len() <= raw.len());
        }
    }

    // ---- SNS ----

    #[test]
    fn bent_sns_messages_unwrap_or_fail_typed(message in sns_fixtures()) {
        match unwrap(Some("aws-sns"), message.clone(), &HeaderMap::new()) {
            Ok(Unwrapped::Event(event)) => prop_assert!(event["sns"].is_object()),
            Ok(Unwrapped::SnsConfirmation { kind, .. }) => {
                prop_assert!(kind == "SubscriptionConfirmation" || kind == "UnsubscribeConfirmation");
            }
            Err(EnvelopeError::NotEnvelope(_) | EnvelopeError::UntrustedCertUrl) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        if let Value::Object(map) = &message {
            let _ = string_to_sign(map);
        }
    }

    #[test]
    fn sns_signatures_over_bent_messages_and_certificates_never_verify(
        message in sns_fixtures(),
        pem in prop_oneof![
            mutated(REAL_PEM.as_bytes().to_vec()).prop_map(|b| Ok(String::from_utf8_lossy(&b).into_owned())),
            ".{0,200}".prop_map(Ok),
            Just(Err("connection refused".to_owned())),
        ],
        version in "(1|2|3|)",
        signature in "[A-Za-z0-9+/=]{0,64}",
    ) {
        let Value::Object(mut message) = message else {
            return Ok(());
        };
        message.insert("SignatureVersion".into(), json!(version));
        message.insert("Signature".into(), json!(signature));
        message.insert(
            "SigningCertURL".into(),
            json!("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem"),
        );
        let verifier = SnsVerifier::new(Arc::new(ServedPem(pem)));
        let result = runtime().block_on(verifier.verify(&message));
        prop_assert!(result.is_err(), "an unsigned message verified");
    }

    // ---- templates (admin input) ----

    #[test]
    fn bent_templates_load_or_name_the_field_and_loaded_ones_map(yaml in mutated_template()) {
        match YamlTemplate::from_yaml("fuzz.yaml", &yaml) {
            Ok(template) => {
                let payload = fixture_json("generic-alert.json");
                let _ = template.map(&payload, &context());
            }
            Err(error) => {
                prop_assert_eq!(error.file.as_str(), "fuzz.yaml");
                prop_assert!(!error.field.is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_text_is_not_a_template(yaml in ".{0,300}") {
        prop_assert!(YamlTemplate::from_yaml("fuzz.yaml", &yaml).is_err());
    }

    #[test]
    fn times_of_any_shape_are_epoch_ms_in_range_or_none(value in json_value()) {
        if let Some(ms) = parse_time_ms(&value) {
            prop_assert!((0..=253_402_300_799_999).contains(&ms));
        }
    }
}

/// Checks one body the way the webhook route parses it. The per-request event cap counts
/// before parsing, so the count must never be lower than what parsing then finds.
fn check_body(content_type: Option<&str>, data: &[u8]) -> Result<(), TestCaseError> {
    let counted = body::count_items(content_type, data, usize::MAX - 1);
    match body::parse(content_type, data) {
        Ok(parsed) => {
            prop_assert!(
                parsed.events.len() + parsed.dropped <= counted,
                "counted {counted}, parsed {} + {} dropped",
                parsed.events.len(),
                parsed.dropped
            );
            prop_assert!(!parsed.events.is_empty());
            prop_assert!(parsed.events.iter().all(Value::is_object));
            prop_assert!(
                json_size(&parsed.events) <= GROWTH * data.len() + PER_EVENT * parsed.events.len()
            );
        }
        Err(error) => prop_assert_eq!(error, BodyError::NoEvents),
    }
    Ok(())
}

#[test]
fn deep_nesting_is_refused_by_serde_json_recursion_limit_everywhere() {
    let deep = "[".repeat(200_000);
    let deep_object = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    for body in [deep.as_bytes(), deep_object.as_bytes()] {
        assert_eq!(body::parse(None, body), Err(BodyError::NoEvents));
        assert_eq!(
            body::parse(Some("application/x-ndjson"), body),
            Err(BodyError::NoEvents)
        );
        assert_eq!(
            hec::parse_events(body),
            Err(HecReply::INVALID_DATA_FORMAT.at(0))
        );
    }
    let wrapped = format!("{{\"event\":{deep_object}}}");
    assert_eq!(
        hec::parse_events(wrapped.as_bytes()),
        Err(HecReply::INVALID_DATA_FORMAT.at(0))
    );
    let nested_message = json!({"Type": "Notification", "Message": deep_object});
    let Ok(Unwrapped::Event(event)) = unwrap(Some("aws-sns"), nested_message, &HeaderMap::new())
    else {
        panic!("an SNS notification with unparseable text is still an event");
    };
    assert!(event["message"]["text"].is_string());
}

#[test]
fn a_ten_mib_limit_stops_a_hundred_mib_bomb_after_reading_past_the_limit_only() {
    let bomb = MIB_OF_ZEROS_GZ.repeat(100);
    assert!(bomb.len() < 256 * 1024, "{} bytes", bomb.len());
    let started = Instant::now();
    assert_eq!(
        body::decode(Some("gzip"), bomb.into(), 10 << 20),
        Err(BodyError::TooLargeDecompressed { max: 10 << 20 })
    );
    // Inflating all 100 MiB would take many times longer in a debug build.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn yaml_alias_expansion_in_templates_is_bounded() {
    // "Billion laughs": nine levels of nine aliases each would be 9^9 nodes.
    let mut yaml =
        String::from("id: laughs\nvendor_name: v\nproduct_name: p\nconstants:\n  a0: &a0 [lol]\n");
    for level in 1..10 {
        let refs = vec![format!("*a{}", level - 1); 9].join(", ");
        yaml.push_str(&format!("  a{level}: &a{level} [{refs}]\n"));
    }
    let started = Instant::now();
    let error = YamlTemplate::from_yaml("laughs.yaml", &yaml).unwrap_err();
    assert_eq!(error.field, "yaml");
    assert!(error.message.contains("repetition limit"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn nested_yaml_flow_collections_in_templates_are_refused_before_parsing() {
    let deep = format!(
        "id: deep\nvendor_name: v\nproduct_name: p\nconstants:\n  x: {}{}\n",
        "[".repeat(2_000),
        "]".repeat(2_000)
    );
    let error = YamlTemplate::from_yaml("deep.yaml", &deep).unwrap_err();
    assert_eq!(error.field, "yaml");
    assert!(error.message.contains("nest more than"), "{error}");

    // Brackets inside quoted scalars and comments are text, not nesting: this file loads.
    let quoted = format!(
        "id: quoted # {}\nvendor_name: '{}'\nproduct_name: \"{}\"\n",
        "[".repeat(200),
        "{".repeat(200),
        "[".repeat(200)
    );
    if let Err(error) = YamlTemplate::from_yaml("quoted.yaml", &quoted) {
        panic!("a template with brackets only in quotes and comments was refused: {error}");
    }
}

/// Found by this file: libyaml's scanner is quadratic in the depth of flow collections, so a
/// 200 KB template of nested `[` took about 100 s (debug) before the recursion limit refused
/// it, and a few MB would have held start-up for hours. `YamlTemplate::from_yaml` now refuses
/// files past `MAX_TEMPLATE_BYTES` and flow nesting past `MAX_TEMPLATE_NESTING` before parsing.
#[test]
fn deeply_nested_yaml_in_templates_is_refused_quickly() {
    let started = Instant::now();
    let deep = format!(
        "id: deep\nvendor_name: v\nproduct_name: p\nconstants:\n  x: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let error = YamlTemplate::from_yaml("deep.yaml", &deep).unwrap_err();
    assert_eq!(error.field, "yaml");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
