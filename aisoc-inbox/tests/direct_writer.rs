//! The pipeline writes each event's OCSF JSON directly, the ingest's stamps merged in while
//! writing (`YamlTemplate::write_json`, issue #17). It must write exactly the bytes that
//! serialising the stamped event gives (`map_owned`, then `stamp_ingest_fields`): for every
//! bundled template, payloads whose fields the template reads hold arbitrary JSON, next to
//! arbitrary other fields (some on the keys the ingest stamps).

use std::sync::LazyLock;

use aisoc_inbox::template::{BUNDLED, YamlTemplate, stamp_ingest_fields};
use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext};
use proptest::prelude::*;
use serde_json::{Map, Value};

static TEMPLATES: LazyLock<Vec<YamlTemplate>> = LazyLock::new(|| {
    BUNDLED
        .iter()
        .map(|(file, yaml)| YamlTemplate::from_yaml(file, yaml).unwrap())
        .collect()
});

fn context() -> IngestContext {
    IngestContext {
        tenant_id: "acme".into(),
        received_at: chrono::Utc::now(),
        event_uid: "00112233445566778899aabbccddeeff".into(),
    }
}

/// Any JSON value: strings with escapes, control characters and non-ASCII, extreme numbers,
/// nested objects and arrays, nulls.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9 \"\\\\\t\n\u{1}é€😀-]{0,12}".prop_map(Value::from),
        Just(Value::from("2026-05-08T09:00:00Z")),
        Just(Value::from("HIGH")),
        Just(Value::from(1_715_158_800)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}|uid|version|name|title", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Sets `value` at a dotted `path` of `payload`, building objects on the way.
fn put(payload: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut object = payload;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            object.insert(part.to_owned(), value);
            return;
        }
        let slot = object
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            unreachable!("made an object above")
        };
        object = next;
    }
}

fn general(template: &YamlTemplate, payload: Value, context: &IngestContext) -> Option<Vec<u8>> {
    let mut event = template.map_owned(payload, context).ok()?;
    stamp_ingest_fields(&mut event, context);
    Some(serde_json::to_vec(&event).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_direct_writer_writes_what_serialising_the_stamped_event_gives(
        template in 0..BUNDLED.len(),
        read in proptest::collection::vec(json(), 8),
        others in proptest::collection::btree_map(
            "[a-z]{1,6}|metadata|finding_info|class_uid|time|unmapped|severity",
            json(),
            0..4,
        ),
    ) {
        let template = &TEMPLATES[template];
        let mut payload: Map<String, Value> = others.into_iter().collect();
        let paths: Vec<&str> = template.source_paths().collect();
        for (path, value) in paths.iter().zip(read) {
            put(&mut payload, path, value);
        }
        let payload = Value::Object(payload);
        let context = context();
        let expected = general(template, payload.clone(), &context);
        let mut written = Vec::new();
        let result = template.write_json(payload.clone(), &context, &mut written);
        match expected {
            Some(expected) => {
                prop_assert!(result.is_ok(), "{result:?}");
                prop_assert_eq!(
                    String::from_utf8(written).unwrap(),
                    String::from_utf8(expected).unwrap(),
                    "{}: {}", template.id(), payload
                );
            }
            None => prop_assert!(result.is_err()),
        }
    }
}

#[test]
fn a_template_mapping_a_stamped_object_whole_writes_the_same_bytes() {
    // Such a template takes the general path (the stamps may displace what it maps).
    let yaml = "id: v\nvendor_name: V\nproduct_name: P\nfield_map:\n  meta: metadata\n";
    let template = YamlTemplate::from_yaml("v.yaml", yaml).unwrap();
    let payload = serde_json::json!({"meta": {"version": "0.1", "product": {"vendor_name": "X"}}});
    let context = context();
    let mut written = Vec::new();
    template
        .write_json(payload.clone(), &context, &mut written)
        .unwrap();
    let expected = general(&template, payload, &context).unwrap();
    assert_eq!(
        String::from_utf8(written).unwrap(),
        String::from_utf8(expected).unwrap()
    );
}
