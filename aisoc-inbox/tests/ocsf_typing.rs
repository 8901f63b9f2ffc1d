//! OCSF-typed output whatever the vendor sends (issue #15 items 4 and 6): mapped values take
//! the OCSF attribute's type or wait under `unmapped`, templates cannot write what the ingest
//! stamps, and `metadata.version` names the schema the events are validated against.

use std::num::NonZeroU32;
use std::sync::Arc;

use aisoc_inbox::limits::{MemoryIdempotencyStore, MemoryRateLimiter};
use aisoc_inbox::sink::MemorySink;
use aisoc_inbox::template::{
    DETECTION_FINDING_SCHEMA, MAX_STRING_BYTES, OCSF_VERSION, TemplateRegistry, YamlTemplate,
};
use aisoc_inbox::token::{MemoryTokenStore, TokenResolver, mint};
use aisoc_inbox::{Inbox, InboxConfig, InboxRoute};
use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext, MappingError, OcsfEvent};
use aisoc_notify_core::secret::ExposeSecret;
use serde_json::{Value, json};

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&serde_json::from_str::<Value>(DETECTION_FINDING_SCHEMA).unwrap())
        .unwrap()
}

fn assert_valid(event: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
}

fn context() -> IngestContext {
    IngestContext {
        tenant_id: "acme".into(),
        received_at: chrono::Utc::now(),
        event_uid: "evt-0001".into(),
    }
}

fn template(yaml: &str) -> YamlTemplate {
    let yaml = format!("id: typed\nvendor_name: V\nproduct_name: P\n{yaml}");
    YamlTemplate::from_yaml("typed.yaml", &yaml).unwrap()
}

fn load_error(yaml: &str) -> aisoc_inbox::template::TemplateLoadError {
    let yaml = format!("id: typed\nvendor_name: V\nproduct_name: P\n{yaml}");
    YamlTemplate::from_yaml("typed.yaml", &yaml).unwrap_err()
}

/// An inbox over `registry` with one token for `template_id`; returns it, the token and the
/// sink that receives what it publishes.
async fn inbox(registry: TemplateRegistry, template_id: &str) -> (Inbox, String, Arc<MemorySink>) {
    let store = Arc::new(MemoryTokenStore::new());
    let token = mint(store.as_ref(), "acme", template_id, None)
        .await
        .unwrap()
        .token
        .expose_secret()
        .to_owned();
    let sink = Arc::new(MemorySink::new());
    let inbox = Inbox::new(
        TokenResolver::new(store),
        Arc::new(registry),
        Arc::new(MemoryRateLimiter::per_minute(NonZeroU32::MAX)),
        Arc::new(MemoryIdempotencyStore::default()),
        sink.clone(),
        InboxConfig::default(),
    );
    (inbox, token, sink)
}

async fn publish(inbox: &Inbox, token: &str, route: InboxRoute, body: &str) {
    let record = inbox.authenticate(token).await.unwrap();
    let receipt = inbox
        .accept(
            &record,
            route,
            &http::HeaderMap::new(),
            body.to_owned().into(),
        )
        .await
        .unwrap();
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
}

#[tokio::test]
async fn a_hec_event_whose_message_is_an_object_publishes_a_valid_finding_with_a_string_message() {
    let (inbox, token, sink) = inbox(TemplateRegistry::bundled().unwrap(), "splunk-hec").await;
    let body = r#"{"time": 1715158800.25, "sourcetype": ["not", "a", "string"], "event": {
        "message": {"action": "blocked", "src": {"ip": "203.0.113.7"}, "ports": [22, 443]},
        "title": {"en": "Failed SSH login"},
        "id": 4242,
        "severity": "high"
    }}"#;
    publish(&inbox, &token, InboxRoute::Hec, body).await;
    let event: Value = serde_json::from_slice(&sink.events()[0].payload).unwrap();
    assert_valid(&event);
    assert_eq!(
        event["message"],
        r#"{"action":"blocked","ports":[22,443],"src":{"ip":"203.0.113.7"}}"#
    );
    assert_eq!(
        event["finding_info"]["title"],
        r#"{"en":"Failed SSH login"}"#
    );
    assert_eq!(event["finding_info"]["uid"], "4242");
    assert_eq!(
        event["finding_info"]["types"],
        json!([r#"["not","a","string"]"#])
    );
    assert_eq!(event["severity_id"], 4);
    assert_eq!(event["time"], 1_715_158_800_250_i64);
}

#[test]
fn numbers_that_do_not_parse_are_left_unmapped_at_their_ocsf_path() {
    let template = template(
        "field_map:\n  score: risk_score\n  count: count\n  alert: is_alert\n  seen: finding_info.first_seen_time\n",
    );
    let event = template
        .map(
            &json!({"score": "high", "count": " 17 ", "alert": "TRUE", "seen": "2026-05-08T09:00:00Z"}),
            &context(),
        )
        .unwrap()
        .into_value();
    assert_valid(&event);
    assert!(event.get("risk_score").is_none());
    assert_eq!(event["unmapped"]["risk_score"], "high");
    assert!(
        event["unmapped"].get("score").is_none(),
        "kept once, at its OCSF path"
    );
    assert_eq!(event["count"], 17);
    assert_eq!(event["is_alert"], true);
    assert_eq!(
        event["finding_info"]["first_seen_time"], 1_778_230_800_000_i64,
        "timestamps take the template's time parsing"
    );
}

#[test]
fn an_object_missing_a_required_attribute_is_kept_whole_under_unmapped() {
    // GitHub advisories without a CVE id: OCSF's cve requires uid, a vulnerability needs one of
    // advisory/cve/cwe, so the partial vulnerability moves to `unmapped`.
    let template = TemplateRegistry::bundled()
        .unwrap()
        .get("github-security-advisory")
        .unwrap()
        .clone();
    let payload = json!({
        "github_event": "security_advisory",
        "action": "published",
        "security_advisory": {
            "ghsa_id": "GHSA-xxxx-yyyy-zzzz",
            "summary": "Prototype pollution",
            "cve_id": null,
            "cvss": {"score": "n/a", "vector_string": null},
            "severity": "high",
        },
    });
    let event = template.map(&payload, &context()).unwrap().into_value();
    assert_valid(&event);
    assert!(event.get("vulnerabilities").is_none(), "{event:#}");
    assert_eq!(
        event["unmapped"]["vulnerabilities"][0]["title"],
        "Prototype pollution"
    );
    assert_eq!(
        event["unmapped"]["vulnerabilities"][0]["cve"]["cvss"][0]["base_score"],
        "n/a"
    );
    assert_eq!(event["finding_info"]["title"], "Prototype pollution");
}

#[test]
fn strings_longer_than_the_bound_are_cut_and_kept_whole() {
    let template = template("field_map:\n  text: message\n");
    let long = "日本語".repeat(MAX_STRING_BYTES);
    let event = template
        .map(&json!({"text": long}), &context())
        .unwrap()
        .into_value();
    assert_valid(&event);
    let message = event["message"].as_str().unwrap();
    assert!(message.len() <= MAX_STRING_BYTES && message.ends_with('…'));
    assert_eq!(event["unmapped"]["message"], long);
}

#[test]
fn a_yaml_template_cannot_map_onto_the_stamped_tenant() {
    for (yaml, field) in [
        (
            "field_map:\n  tenant: metadata.tenant_uid\n",
            "field_map.tenant",
        ),
        (
            "constants:\n  metadata.tenant_uid: other\n",
            "constants.metadata.tenant_uid",
        ),
        ("field_map:\n  at: metadata.logged_time\n", "field_map.at"),
    ] {
        let error = load_error(yaml);
        assert_eq!(error.field, field, "{error}");
        assert!(error.message.contains("set by the ingest"), "{error}");
    }
}

#[test]
fn a_payload_cannot_smuggle_a_tenant_through_an_object_mapping() {
    let template = template("field_map:\n  meta: metadata\n");
    let event = template
        .map(
            &json!({"meta": {"tenant_uid": "victim", "version": "0.1", "log_name": "audit"}}),
            &context(),
        )
        .unwrap()
        .into_value();
    assert_valid(&event);
    assert_eq!(event["metadata"]["tenant_uid"], "acme");
    assert_eq!(event["metadata"]["version"], OCSF_VERSION);
    assert_eq!(event["metadata"]["log_name"], "audit");
    assert_eq!(event["unmapped"]["metadata"]["tenant_uid"], "victim");
    assert_eq!(event["unmapped"]["metadata"]["version"], "0.1");
}

/// A template written in code that claims another tenant and schema version.
struct Overreaching;

impl InboxTemplate for Overreaching {
    fn id(&self) -> &str {
        "overreaching"
    }

    fn map(&self, payload: &Value, ctx: &IngestContext) -> Result<OcsfEvent, MappingError> {
        let event = json!({
            "class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200401,
            "severity_id": 1, "time": ctx.received_at.timestamp_millis(),
            "finding_info": {"uid": ctx.event_uid, "title": payload["title"]},
            "metadata": {
                "tenant_uid": payload["tenant"], "version": "9.9.9",
                "product": {"name": "P", "vendor_name": "V"},
            },
        });
        Ok(serde_json::from_value(event).unwrap())
    }
}

#[tokio::test]
async fn a_code_template_cannot_override_the_stamped_tenant_either() {
    let mut registry = TemplateRegistry::new();
    registry.add(Arc::new(Overreaching));
    let (inbox, token, sink) = inbox(registry, "overreaching").await;
    publish(
        &inbox,
        &token,
        InboxRoute::Webhook,
        r#"{"title": "hi", "tenant": "victim"}"#,
    )
    .await;
    let published = &sink.events()[0];
    assert_eq!(published.tenant_id, "acme");
    let event: Value = serde_json::from_slice(&published.payload).unwrap();
    assert_valid(&event);
    assert_eq!(event["metadata"]["tenant_uid"], "acme");
    assert_eq!(event["metadata"]["version"], OCSF_VERSION);
    assert_eq!(event["metadata"]["uid"], event["finding_info"]["uid"]);
    assert_eq!(event["unmapped"]["metadata"]["tenant_uid"], "victim");
    assert_eq!(event["unmapped"]["metadata"]["version"], "9.9.9");
}

#[test]
fn the_declared_version_is_the_version_of_the_schema_events_are_validated_against() {
    let schema: Value = serde_json::from_str(DETECTION_FINDING_SCHEMA).unwrap();
    let id = schema["$id"].as_str().unwrap();
    assert_eq!(
        id,
        format!("https://schema.ocsf.io/schema/{OCSF_VERSION}/classes/detection_finding")
    );
    let event = template("")
        .map(&json!({}), &context())
        .unwrap()
        .into_value();
    assert_eq!(event["metadata"]["version"], OCSF_VERSION);
    assert_valid(&event);
}

#[test]
fn the_earlier_time_suffix_still_loads_on_timestamp_attributes() {
    let template = template("field_map:\n  at: finding_info.modified_time:time\n");
    let event = template
        .map(&json!({"at": "1715158800"}), &context())
        .unwrap()
        .into_value();
    assert_eq!(
        event["finding_info"]["modified_time"],
        1_715_158_800_000_i64
    );
}

#[test]
fn impossible_mappings_stop_loading_with_the_field_named() {
    for (yaml, field, says) in [
        (
            "field_map:\n  a: finding_info.colour\n",
            "field_map.a",
            "no attribute 'colour'",
        ),
        (
            "field_map:\n  a: message.text\n",
            "field_map.a",
            "string attribute",
        ),
        (
            "field_map:\n  a: finding_info.types.x\n",
            "field_map.a",
            "index it",
        ),
        (
            "field_map:\n  a: finding_info.types.100000\n",
            "field_map.a",
            "indices go up to",
        ),
        (
            "field_map:\n  a: message:time\n",
            "field_map.a",
            "is a string",
        ),
        (
            "constants:\n  risk_score: high\n",
            "constants.risk_score",
            "does not fit the integer",
        ),
        (
            "constants:\n  evidences.0.email.from: not-an-address\n",
            "constants.evidences.0.email.from",
            "does not fit",
        ),
        ("class_uid: 3002\n", "class_uid", "Detection Findings only"),
        ("activity_id: 7\n", "activity_id", "must be one of"),
    ] {
        let error = load_error(yaml);
        assert_eq!(error.field, field, "{yaml}: {error}");
        assert!(error.message.contains(says), "{yaml}: {error}");
    }
}
