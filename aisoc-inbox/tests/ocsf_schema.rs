//! What the bundled templates produce from the fixtures validates against the OCSF 1.5.0
//! Detection Finding schema.

use aisoc_inbox::email;
use aisoc_inbox::template::{TemplateRegistry, YamlTemplate};
use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext};
use serde_json::{Value, json};

const SCHEMA: &str = include_str!("fixtures/ocsf/detection_finding-1.5.0.schema.json");

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&serde_json::from_str::<Value>(SCHEMA).unwrap()).unwrap()
}

fn context() -> IngestContext {
    IngestContext {
        tenant_id: "acme".into(),
        received_at: chrono::Utc::now(),
        event_uid: "evt-0001".into(),
    }
}

fn assert_valid(validator: &jsonschema::Validator, event: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{event:#}");
}

#[test]
fn the_schema_rejects_what_it_should() {
    let validator = validator();
    assert!(
        !validator.is_valid(&json!({"class_uid": 2004})),
        "required fields are enforced"
    );
}

#[test]
fn generic_json_fixtures_validate() {
    let validator = validator();
    let registry = TemplateRegistry::bundled().unwrap();
    let template = registry.get("generic-json").unwrap();
    for payload in [
        serde_json::from_str::<Value>(include_str!("fixtures/generic-alert.json")).unwrap(),
        json!({}),
        json!({"severity": "weird", "timestamp": 1_715_158_800, "nested": {"deep": [1, 2, {"x": null}]}}),
        json!({"title": "epoch ns", "timestamp": "1715158800123456789"}),
    ] {
        let event = template.map(&payload, &context()).unwrap().into_value();
        assert_valid(&validator, &event, &payload.to_string());
    }
}

#[test]
fn email_forwarded_fixtures_validate() {
    let validator = validator();
    let registry = TemplateRegistry::bundled().unwrap();
    let template = registry.get("email-forwarded").unwrap();
    for fixture in [
        include_str!("fixtures/postmark-inbound.json"),
        include_str!("fixtures/ses-notification.json"),
        include_str!("fixtures/sendgrid-parse.json"),
    ] {
        let normalized = email::normalize(&serde_json::from_str(fixture).unwrap());
        let event = template.map(&normalized, &context()).unwrap().into_value();
        assert_valid(&validator, &event, fixture);
    }
}

#[test]
fn templates_with_impossible_mappings_stop_loading_with_the_field_named() {
    let cases = [
        (
            "id: x\nvendor_name: V\nproduct_name: P\nfield_map:\n  a.b: class_uid\n",
            "field_map.a.b",
        ),
        (
            "id: x\nvendor_name: V\nproduct_name: P\nconstants:\n  metadata.version: '9'\n",
            "constants.metadata.version",
        ),
        (
            "id: x\nvendor_name: V\nproduct_name: P\nseverity_field: s\nseverity_map:\n  hi: 7\n",
            "severity_map.hi",
        ),
        (
            "id: x\nvendor_name: V\nproduct_name: P\nfield_map:\n  a..b: message\n",
            "field_map.a..b",
        ),
        ("id: Bad Id\nvendor_name: V\nproduct_name: P\n", "id"),
        (
            "id: x\nvendor_name: V\nproduct_name: P\nunknown_key: 1\n",
            "yaml",
        ),
        ("id: x\nvendor_name: V\n", "yaml"),
    ];
    for (yaml, field) in cases {
        let err = YamlTemplate::from_yaml("templates/x.yaml", yaml).unwrap_err();
        assert_eq!(err.file, "templates/x.yaml");
        assert_eq!(err.field, field, "{yaml}: {err}");
        assert!(err.to_string().starts_with("template templates/x.yaml: "));
    }
}

#[test]
fn metadata_constants_merge_without_clobbering_the_stamped_version_and_uid() {
    let yaml = "id: merge\nvendor_name: V\nproduct_name: P\nconstants:\n  metadata.product.feature.name: alerts\n  metadata.labels: [a]\n";
    let template = YamlTemplate::from_yaml("merge.yaml", yaml).unwrap();
    let event = template
        .map(&json!({"metadata": {"version": "evil"}}), &context())
        .unwrap()
        .into_value();
    assert_eq!(event["metadata"]["version"], "1.5.0");
    assert_eq!(event["metadata"]["uid"], "evt-0001");
    assert_eq!(event["metadata"]["product"]["name"], "P");
    assert_eq!(event["metadata"]["product"]["feature"]["name"], "alerts");
    assert_eq!(
        event["unmapped"]["metadata"]["version"], "evil",
        "the payload's own field is kept, not applied"
    );
    assert_valid(&validator(), &event, "merge");
}
