//! Every bundled template, on at least two real-shaped fixtures: the OCSF output validates
//! against the Detection Finding 1.5.0 schema and the key fields (title, uid, severity, time)
//! are what the vendor sent.

use std::sync::Arc;

use aisoc_inbox::envelope::{Unwrapped, unwrap};
use aisoc_inbox::template::TemplateRegistry;
use aisoc_inbox::{cef, email, hec};
use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext, MappingError};
use http::HeaderMap;
use serde_json::Value;

const SCHEMA: &str = include_str!("fixtures/ocsf/detection_finding-1.5.0.schema.json");

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&serde_json::from_str::<Value>(SCHEMA).unwrap()).unwrap()
}

fn template(id: &str) -> Arc<dyn InboxTemplate> {
    TemplateRegistry::bundled()
        .unwrap()
        .get(id)
        .unwrap()
        .clone()
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

/// Maps like the pipeline: envelope, then template; checks the schema.
fn map(id: &str, payload: Value, headers: &HeaderMap) -> Result<Value, MappingError> {
    let template = template(id);
    let payload = match unwrap(template.envelope(), payload, headers).unwrap() {
        Unwrapped::Event(payload) => payload,
        other => panic!("{id}: not an event: {other:?}"),
    };
    let event = template.map_owned(payload, &context())?.into_value();
    let errors: Vec<String> = validator()
        .iter_errors(&event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{id}: {errors:#?}\n{event:#}");
    Ok(event)
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/templates/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

fn key_fields(event: &Value, title: &str, uid: &str, severity_id: u64, time: i64) {
    assert_eq!(event["finding_info"]["title"], title);
    assert_eq!(event["finding_info"]["uid"], uid);
    assert_eq!(event["severity_id"], severity_id, "{event:#}");
    assert_eq!(event["time"], time);
}

#[test]
fn the_registry_holds_every_bundled_template_and_can_be_restricted() {
    let mut registry = TemplateRegistry::bundled().unwrap();
    assert_eq!(
        registry.ids(),
        [
            "aws-eventbridge",
            "aws-sns",
            "cef-syslog",
            "cloudflare-logpush",
            "email-forwarded",
            "generic-json",
            "github-security-advisory",
            "microsoft-defender-email",
            "opsgenie",
            "pagerduty",
            "splunk-hec"
        ]
    );
    registry.allow_only(&["generic-json", "pagerduty"]);
    assert_eq!(registry.ids(), ["generic-json", "pagerduty"]);
}

#[test]
fn pagerduty() {
    let none = HeaderMap::new();
    let e = map("pagerduty", fixture("pagerduty-triggered.json"), &none).unwrap();
    key_fields(
        &e,
        "A little bump in the road",
        "PGR0VU2",
        4,
        ms("2020-10-02T18:45:22.169Z"),
    );
    assert_eq!(e["finding_info"]["types"][0], "incident.triggered");
    let e = map("pagerduty", fixture("pagerduty-resolved.json"), &none).unwrap();
    key_fields(
        &e,
        "Database CPU > 90%",
        "Q1234ABCD",
        2,
        ms("2021-03-14T07:09:12Z"),
    );
    assert_eq!(e["status"], "resolved");
}

#[test]
fn opsgenie_converts_milliseconds_and_nanoseconds() {
    let none = HeaderMap::new();
    let e = map("opsgenie", fixture("opsgenie-create.json"), &none).unwrap();
    key_fields(
        &e,
        "CPU usage is above 90% on prod-db-01",
        "70413a06-38d6-4c85-92b8-5ebc900d42e2",
        5,
        1_686_579_960_123,
    );
    assert_eq!(
        e["finding_info"]["modified_time"], 1_686_579_960_123_i64,
        "updatedAt ns to ms"
    );
    let e = map("opsgenie", fixture("opsgenie-acknowledge.json"), &none).unwrap();
    key_fields(
        &e,
        "Disk almost full on fileserver-02",
        "a1b2c3d4-0000-4000-8000-000000000001",
        3,
        1_700_000_000_000,
    );
    assert_eq!(e["finding_info"]["modified_time"], 1_700_000_300_000_i64);
}

#[test]
fn cloudflare_logpush_and_its_validation_upload() {
    let none = HeaderMap::new();
    let body = std::fs::read(format!(
        "{}/tests/fixtures/templates/cloudflare-logpush.ndjson",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let e = map("cloudflare-logpush", lines[0].clone(), &none).unwrap();
    key_fields(
        &e,
        "Block WordPress login brute force",
        "7b2a1c3d4e5f6a7b",
        3,
        ms("2026-05-08T09:00:00Z"),
    );
    let e = map("cloudflare-logpush", lines[1].clone(), &none).unwrap();
    key_fields(
        &e,
        "Bot fight mode challenge",
        "7b2a1c3d4e5f6a7c",
        2,
        1_715_158_800_000,
    );
    assert!(matches!(
        template("cloudflare-logpush").map(&serde_json::json!({"content": "tests"}), &context()),
        Err(MappingError::Ignored { .. })
    ));
}

#[test]
fn aws_eventbridge() {
    let none = HeaderMap::new();
    let e = map(
        "aws-eventbridge",
        fixture("eventbridge-guardduty.json"),
        &none,
    )
    .unwrap();
    key_fields(
        &e,
        "Unprotected port on EC2 instance i-99999999 is being probed.",
        "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
        4,
        ms("2026-05-08T09:00:00Z"),
    );
    let e = map(
        "aws-eventbridge",
        fixture("eventbridge-securityhub.json"),
        &none,
    )
    .unwrap();
    key_fields(
        &e,
        "S3 bucket allows public read access",
        "8e5622f9-d81c-4d81-612a-9319e7ee2506",
        4,
        ms("2026-05-08T10:15:00Z"),
    );
    assert_eq!(
        e["finding_info"]["types"][0],
        "Security Hub Findings - Imported"
    );
}

#[test]
fn aws_sns_notifications_unwrap_and_confirmations_do_not_map() {
    let none = HeaderMap::new();
    let e = map("aws-sns", fixture("sns-cloudwatch-alarm.json"), &none).unwrap();
    key_fields(
        &e,
        "ALARM: \"HighFailedLogins\" in US East (N. Virginia)",
        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        4,
        ms("2026-05-08T09:00:01.123Z"),
    );
    assert_eq!(
        e["finding_info"]["desc"],
        "More than 50 failed console logins in 5 minutes"
    );
    let e = map("aws-sns", fixture("sns-text-message.json"), &none).unwrap();
    key_fields(
        &e,
        "Vendor alert",
        "da41e39f-ea4d-435a-b922-c6aae3915ebe",
        0,
        ms("2026-05-08T11:30:00Z"),
    );
    assert_eq!(e["message"], "Suspicious OAuth grant by bob@example.com");

    match unwrap(
        Some("aws-sns"),
        fixture("sns-subscription-confirmation.json"),
        &none,
    )
    .unwrap()
    {
        Unwrapped::SnsConfirmation {
            kind,
            topic_arn,
            subscribe_url,
        } => {
            assert_eq!(kind, "SubscriptionConfirmation");
            assert_eq!(topic_arn, "arn:aws:sns:us-west-2:123456789012:MyTopic");
            assert!(
                subscribe_url
                    .starts_with("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription")
            );
        }
        other => panic!("{other:?}"),
    }
    let mut forged = fixture("sns-cloudwatch-alarm.json");
    forged["SigningCertURL"] = "https://evil.example/cert.pem".into();
    assert!(unwrap(Some("aws-sns"), forged, &none).is_err());
}

#[test]
fn github_security_advisory() {
    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", "security_advisory".parse().unwrap());
    let e = map(
        "github-security-advisory",
        fixture("github-advisory-published.json"),
        &headers,
    )
    .unwrap();
    key_fields(
        &e,
        "Moderate severity vulnerability that affects django",
        "GHSA-rf4j-j272-fj86",
        3,
        ms("2018-10-03T21:13:54Z"),
    );
    assert_eq!(e["vulnerabilities"][0]["cve"]["uid"], "CVE-2018-6188");
    assert_eq!(e["vulnerabilities"][0]["cve"]["cvss"][0]["base_score"], 5.3);
    assert_eq!(e["finding_info"]["types"][0], "security_advisory");
    let e = map(
        "github-security-advisory",
        fixture("github-advisory-critical.json"),
        &headers,
    )
    .unwrap();
    key_fields(
        &e,
        "Remote code injection in Log4j",
        "GHSA-jfh8-c2jp-5v3q",
        5,
        ms("2021-12-10T00:40:56Z"),
    );
}

#[test]
fn microsoft_defender_email() {
    let none = HeaderMap::new();
    let e = map(
        "microsoft-defender-email",
        fixture("defender-high.json"),
        &none,
    )
    .unwrap();
    key_fields(
        &e,
        "Email messages containing malicious URL removed after delivery",
        "b7a1e2c0-0000-4000-8000-defender0001",
        4,
        ms("2026-05-07T22:15:00Z"),
    );
    let e = map(
        "microsoft-defender-email",
        fixture("defender-medium.json"),
        &none,
    )
    .unwrap();
    assert_eq!(
        e["finding_info"]["title"],
        "Email reported by user as malware or phish"
    );
    assert_eq!(e["severity_id"], 3);
    assert_eq!(
        e["time"],
        context().received_at.timestamp_millis(),
        "no date in the relay: receive time"
    );
}

#[test]
fn cef_syslog() {
    let none = HeaderMap::new();
    let body = std::fs::read(format!(
        "{}/tests/fixtures/templates/cef-lines.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (events, dropped) = cef::parse_batch(&body);
    assert_eq!((events.len(), dropped), (2, 0));
    let e = map("cef-syslog", events[0].clone(), &none).unwrap();
    key_fields(&e, "Eicar_test_file", "DSA-77", 3, 1_715_158_800_000);
    assert_eq!(e["metadata"]["product"]["name"], "Deep Security Agent");
    assert_eq!(e["unmapped"]["labels"]["Quarantine Status"], "quarantined");
    let e = map("cef-syslog", events[1].clone(), &none).unwrap();
    assert_eq!(e["finding_info"]["title"], "Spyware Detected");
    assert_eq!(e["severity_id"], 5);
    assert_eq!(e["message"], "C2 beacon to known bad domain");
    assert_eq!(e["unmapped"]["syslog_prefix"], "Sep 29 08:26:10 fw01");
}

#[test]
fn splunk_hec() {
    let none = HeaderMap::new();
    let body = std::fs::read(format!(
        "{}/tests/fixtures/templates/hec-batch.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let events = hec::parse_events(&body).unwrap();
    let e = map("splunk-hec", events[0].clone(), &none).unwrap();
    key_fields(&e, "Failed SSH login", "ssh-1", 3, 1_715_158_800_250);
    assert_eq!(e["finding_info"]["types"][0], "linux_secure");
    let e = map("splunk-hec", events[1].clone(), &none).unwrap();
    assert_eq!(e["message"], "kernel: possible SYN flooding on port 443");
    assert_eq!(e["time"], 1_715_158_801_000_i64);
    assert_eq!(e["finding_info"]["uid"], "evt-1");
}

#[test]
fn email_forwarded_keeps_its_two_relay_fixtures() {
    let none = HeaderMap::new();
    let postmark: Value =
        serde_json::from_str(include_str!("fixtures/postmark-inbound.json")).unwrap();
    let e = map("email-forwarded", email::normalize(&postmark), &none).unwrap();
    key_fields(
        &e,
        "[CrowdStrike] Detection: credential dumping on host fin-07",
        "73e6d360-66eb-11e1-8e72-a8904824019b",
        1,
        ms("2014-08-01T20:45:32Z"),
    );
}

#[test]
fn email_forwarded_ses_relay() {
    let none = HeaderMap::new();
    let ses: Value = serde_json::from_str(include_str!("fixtures/ses-notification.json")).unwrap();
    let e = map("email-forwarded", email::normalize(&ses), &none).unwrap();
    key_fields(
        &e,
        "[Tenable] Critical vulnerability on web-01",
        "<0123456789@vendor.example>",
        1,
        ms("2026-05-08T09:00:00.123Z"),
    );
    assert_eq!(e["evidences"][0]["email"]["from"], "alerts@vendor.example");
}

#[test]
fn generic_json_two_fixtures() {
    let none = HeaderMap::new();
    let e = map(
        "generic-json",
        serde_json::from_str(include_str!("fixtures/generic-alert.json")).unwrap(),
        &none,
    )
    .unwrap();
    key_fields(
        &e,
        "Impossible travel for alice@example.com",
        "alrt-8812",
        4,
        ms("2026-05-08T09:00:00Z"),
    );
    let second = serde_json::json!({"id": "n-2", "title": "New admin role granted", "severity": "critical", "timestamp": 1_715_158_800});
    let e = map("generic-json", second, &none).unwrap();
    key_fields(&e, "New admin role granted", "n-2", 5, 1_715_158_800_000);
}
