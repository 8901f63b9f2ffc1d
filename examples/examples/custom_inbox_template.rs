//! A custom inbox template written in Rust: [Wazuh](https://documentation.wazuh.com/current/user-manual/manager/alert-management.html)
//! alerts (its integrator's JSON) mapped to OCSF Detection Findings.
//!
//! YAML templates map fields; a vendor whose payload needs logic (Wazuh's 0-15 rule levels, an
//! agent that is sometimes the manager itself, rule groups as OCSF types) implements
//! [`InboxTemplate`] in code and is added to the [`TemplateRegistry`] beside the bundled ones.
//! Tokens minted for `wazuh` then accept Wazuh's POSTs like any other source: signatures,
//! limits, idempotency and the sink are the inbox's.
//!
//! Its tests (`cargo test -p aisoc-notify-examples --example custom_inbox_template`) map a
//! real-shaped alert, validate the result against the OCSF 1.5.0 Detection Finding schema, and
//! post it through the real inbox router in process.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example custom_inbox_template
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::num::NonZeroU32;
use std::sync::Arc;

use aisoc_inbox::limits::{MemoryIdempotencyStore, MemoryRateLimiter};
use aisoc_inbox::sink::MemorySink;
use aisoc_inbox::template::{OCSF_VERSION, TemplateRegistry, parse_time_ms};
use aisoc_inbox::token::{MemoryTokenStore, TokenResolver, mint};
use aisoc_inbox::{Inbox, InboxConfig};
use aisoc_notify_core::inbox_template::{InboxTemplate, IngestContext, MappingError, OcsfEvent};
use aisoc_notify_core::secret::ExposeSecret;
use serde_json::{Value, json};

/// Wazuh alerts as OCSF Detection Findings (class 2004, activity 1 "Create").
pub struct WazuhTemplate;

/// Wazuh rule levels (0-15) as OCSF severity ids.
fn severity_id(level: u64) -> u64 {
    match level {
        0..=3 => 2,   // Low
        4..=7 => 3,   // Medium
        8..=11 => 4,  // High
        12..=14 => 5, // Critical
        _ => 6,       // Fatal
    }
}

fn severity_name(id: u64) -> &'static str {
    match id {
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Fatal",
    }
}

/// Wazuh writes `2026-05-08T09:00:00.000+0000`: an offset without a colon, which is not RFC
/// 3339, so the YAML templates' time parsing would fall back to the receive time.
fn wazuh_time_ms(value: &Value) -> Option<i64> {
    parse_time_ms(value).or_else(|| {
        let text = value.as_str()?;
        chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
            .ok()
            .map(|at| at.timestamp_millis())
    })
}

impl InboxTemplate for WazuhTemplate {
    fn id(&self) -> &str {
        "wazuh"
    }

    fn map(&self, alert: &Value, ctx: &IngestContext) -> Result<OcsfEvent, MappingError> {
        let rule = alert
            .get("rule")
            .filter(|rule| rule.is_object())
            .ok_or_else(|| MappingError::MissingField("rule".into()))?;
        let level = rule["level"]
            .as_u64()
            .ok_or_else(|| MappingError::InvalidValue {
                field: "rule.level".into(),
                reason: "must be a number from 0 to 15".into(),
            })?;
        let title = rule["description"]
            .as_str()
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| MappingError::MissingField("rule.description".into()))?;
        let severity = severity_id(level);
        let time = alert
            .get("timestamp")
            .and_then(wazuh_time_ms)
            .unwrap_or_else(|| ctx.received_at.timestamp_millis());
        let types: Vec<&str> = rule["groups"]
            .as_array()
            .map(|groups| groups.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut event = json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "activity_id": 1,
            "type_uid": 200401,
            "severity_id": severity,
            "severity": severity_name(severity),
            "time": time,
            "message": title,
            "metadata": {
                "version": OCSF_VERSION,
                "uid": ctx.event_uid,
                "tenant_uid": ctx.tenant_id,
                "logged_time": ctx.received_at.timestamp_millis(),
                "product": {"name": "Wazuh", "vendor_name": "Wazuh"},
            },
            "finding_info": {
                "uid": alert["id"].as_str().unwrap_or(&ctx.event_uid),
                "title": title,
                "types": types,
                "analytic": {"uid": rule["id"].as_str().unwrap_or_default(), "type_id": 1, "name": title},
            },
            "unmapped": {"rule_level": level, "full_log": alert.get("full_log")},
        });
        if let Some(agent) = alert.get("agent").filter(|a| a.is_object()) {
            let mut device = json!({"type_id": 0});
            if let Some(name) = agent["name"].as_str() {
                device["hostname"] = json!(name);
                device["name"] = json!(name);
            }
            if let Some(ip) = agent["ip"].as_str() {
                device["ip"] = json!(ip);
            }
            if let Some(uid) = agent["id"].as_str() {
                device["uid"] = json!(uid);
            }
            event["device"] = device;
        }
        match event {
            Value::Object(map) => Ok(OcsfEvent(map)),
            _ => unreachable!("built as an object"),
        }
    }
}

/// An alert as Wazuh's integrator posts it.
const ALERT: &str = r#"{"timestamp":"2026-05-08T09:00:00.000+0000","rule":{"level":12,"description":"sshd: brute force trying to get access to the system","id":"5712","groups":["syslog","sshd","authentication_failures"]},"agent":{"id":"001","name":"web-01","ip":"10.0.0.5"},"manager":{"name":"wazuh-manager"},"id":"1715158800.1234","full_log":"May  8 09:00:00 web-01 sshd[4211]: Failed password for root from 203.0.113.9 port 52311 ssh2"}"#;

/// The inbox with the bundled templates plus Wazuh, all in memory.
async fn inbox_with_wazuh()
-> Result<(Inbox, Arc<MemoryTokenStore>, Arc<MemorySink>), Box<dyn std::error::Error>> {
    let mut templates = TemplateRegistry::bundled()?;
    templates.add(Arc::new(WazuhTemplate));
    let tokens = Arc::new(MemoryTokenStore::new());
    let sink = Arc::new(MemorySink::new());
    let config = InboxConfig::default();
    let inbox = Inbox::new(
        TokenResolver::new(tokens.clone()),
        Arc::new(templates),
        Arc::new(MemoryRateLimiter::per_minute(
            NonZeroU32::new(config.rate_limit_per_minute).ok_or("rate limit must not be 0")?,
        )),
        Arc::new(MemoryIdempotencyStore::default()),
        sink.clone(),
        config,
    );
    Ok((inbox, tokens, sink))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use tower::ServiceExt as _;

    let (inbox, tokens, sink) = inbox_with_wazuh().await?;
    let minted = mint(tokens.as_ref(), "acme", "wazuh", None).await?;
    let app = axum::Router::new().nest("/v1/inbox", aisoc_inbox::router::router(inbox));
    let request = axum::http::Request::post(format!("/v1/inbox/{}", minted.token.expose_secret()))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(ALERT))?;
    let response = app.oneshot(request).await?;
    println!("HTTP {}", response.status());
    for event in sink.events() {
        let ocsf: Value = serde_json::from_slice(&event.payload)?;
        println!("{}", serde_json::to_string_pretty(&ocsf)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    const SCHEMA: &str =
        include_str!("../../aisoc-inbox/tests/fixtures/ocsf/detection_finding-1.5.0.schema.json");

    fn context() -> IngestContext {
        IngestContext {
            tenant_id: "acme".into(),
            received_at: chrono::Utc::now(),
            event_uid: "evt-1".into(),
        }
    }

    #[test]
    fn a_wazuh_alert_maps_to_a_detection_finding_that_validates_against_ocsf() {
        let alert: Value = serde_json::from_str(ALERT).unwrap();
        let event = WazuhTemplate.map(&alert, &context()).unwrap().into_value();
        let schema = jsonschema::draft202012::new(&serde_json::from_str(SCHEMA).unwrap()).unwrap();
        let errors: Vec<String> = schema.iter_errors(&event).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
        assert_eq!(event["severity_id"], 5);
        assert_eq!(event["time"], 1_778_230_800_000_i64);
        assert_eq!(event["device"]["hostname"], "web-01");
        assert_eq!(event["finding_info"]["analytic"]["uid"], "5712");
    }

    #[test]
    fn rule_levels_map_onto_ocsf_severities_at_their_boundaries() {
        for (level, id) in [
            (0, 2),
            (3, 2),
            (4, 3),
            (7, 3),
            (8, 4),
            (11, 4),
            (12, 5),
            (14, 5),
            (15, 6),
        ] {
            assert_eq!(severity_id(level), id, "level {level}");
        }
    }

    #[test]
    fn an_alert_without_a_rule_or_a_usable_level_is_refused_by_name() {
        let missing = WazuhTemplate.map(&json!({"agent": {}}), &context());
        assert_eq!(missing, Err(MappingError::MissingField("rule".into())));
        let bad_level = WazuhTemplate.map(
            &json!({"rule": {"level": "high", "description": "x"}}),
            &context(),
        );
        assert!(
            matches!(bad_level, Err(MappingError::InvalidValue { field, .. }) if field == "rule.level")
        );
    }

    #[tokio::test]
    async fn the_inbox_accepts_wazuh_posts_with_a_token_scoped_to_the_template() {
        let (inbox, tokens, sink) = inbox_with_wazuh().await.unwrap();
        let minted = mint(tokens.as_ref(), "acme", "wazuh", None).await.unwrap();
        let app = axum::Router::new().nest("/v1/inbox", aisoc_inbox::router::router(inbox));
        let request =
            axum::http::Request::post(format!("/v1/inbox/{}", minted.token.expose_secret()))
                .header("content-type", "application/x-ndjson")
                .body(axum::body::Body::from(format!(
                    "{ALERT}\n{{\"no\":\"rule\"}}\n"
                )))
                .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let receipt: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(receipt["accepted"], 1, "{receipt}");
        assert_eq!(receipt["template"], "wazuh");
        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].template_id, "wazuh");
        let ocsf: Value = serde_json::from_slice(&events[0].payload).unwrap();
        assert_eq!(ocsf["metadata"]["product"]["name"], "Wazuh");
    }
}
