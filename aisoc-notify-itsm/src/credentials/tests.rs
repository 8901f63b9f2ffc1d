//! Settings validation, redaction and round trips for every system.

use super::*;

fn delivery() -> DeliveryClient {
    DeliveryClient::shared_default().unwrap()
}

fn error_of(system: ItsmSystem, value: Value) -> String {
    match ItsmCredentials::from_json(system, value) {
        Ok(credentials) => credentials.validate(&delivery()).unwrap_err().to_string(),
        Err(error) => error.to_string(),
    }
}

#[test]
fn systems_parse_by_name_and_unknown_ones_list_the_known() {
    assert_eq!(
        ItsmSystem::parse(" ServiceNow ").unwrap(),
        ItsmSystem::ServiceNow
    );
    let unknown = ItsmSystem::parse("remedy").unwrap_err().to_string();
    assert!(
        unknown.contains("remedy") && unknown.contains("opsgenie"),
        "{unknown}"
    );
}

#[test]
fn every_system_names_the_field_to_fix_and_never_the_secret() {
    let cases = [
        (
            ItsmSystem::Jira,
            json!({"site_url": "http://jira.example", "email": "a@b", "api_token": "SECRET-1", "default_project": "SEC"}),
            "site_url",
        ),
        (
            ItsmSystem::Jira,
            json!({"site_url": "https://acme.atlassian.net", "email": " ", "api_token": "SECRET-1", "default_project": "SEC"}),
            "email",
        ),
        (
            ItsmSystem::Jira,
            json!({"site_url": "https://acme.atlassian.net", "email": "a@b", "default_project": "SEC"}),
            "api_token",
        ),
        (
            ItsmSystem::ServiceNow,
            json!({"instance_url": "https://x.service-now.com", "password": "SECRET-1"}),
            "user",
        ),
        (
            ItsmSystem::ServiceNow,
            json!({"instance_url": "https://x.service-now.com", "user": "u", "password": "SECRET-1", "token": "SECRET-2"}),
            "token",
        ),
        (
            ItsmSystem::ServiceNow,
            json!({"instance_url": "https://x.service-now.com", "user": "bot"}),
            "password",
        ),
        (
            ItsmSystem::PagerDuty,
            json!({"routing_key": "SECRET-1", "events_url": "not a url"}),
            "events_url",
        ),
        (
            ItsmSystem::PagerDuty,
            json!({"routing_key": ""}),
            "routing_key",
        ),
        (
            ItsmSystem::Opsgenie,
            json!({"api_key": "SECRET-1", "region": "mars"}),
            "region",
        ),
        (
            ItsmSystem::Opsgenie,
            json!({"api_key": "SECRET-1", "regoin": "eu"}),
            "regoin",
        ),
        (ItsmSystem::Opsgenie, json!({"api_key": 42}), "invalid type"),
    ];
    for (system, value, field) in cases {
        let message = error_of(system, value.clone());
        assert!(message.contains(field), "{system} {value}: {message}");
        assert!(!message.contains("SECRET"), "{message}");
    }
}

#[test]
fn an_address_the_outbound_guard_refuses_is_refused_when_configured() {
    let metadata = ItsmCredentials::from_json(
        ItsmSystem::Opsgenie,
        json!({"api_key": "k", "base_url": "https://169.254.169.254/"}),
    )
    .unwrap();
    let error = metadata.validate(&delivery()).unwrap_err();
    assert_eq!(error.field(), Some("base_url"), "{error}");
}

#[test]
fn debug_shows_which_fields_are_set_never_their_values() {
    let credentials = ItsmCredentials::from_json(
        ItsmSystem::ServiceNow,
        json!({"instance_url": "https://x.service-now.com", "token": "oauth-SECRET"}),
    )
    .unwrap();
    let shown = format!("{credentials:?}");
    assert!(!shown.contains("oauth-SECRET"), "{shown}");
    assert!(
        shown.contains("token") && shown.contains("ServiceNow"),
        "{shown}"
    );
    assert_eq!(credentials.set_fields(), ["instance_url", "token"]);
    credentials.validate(&delivery()).unwrap();
}

#[test]
fn stored_json_reads_back_to_the_same_settings() {
    for (system, value) in [
        (
            ItsmSystem::Jira,
            json!({"site_url": "https://acme.atlassian.net", "email": "a@b", "api_token": "t", "default_project": "SEC", "default_issue_type": "Bug"}),
        ),
        (
            ItsmSystem::ServiceNow,
            json!({"instance_url": "https://x.service-now.com", "user": "u", "password": "p", "assignment_group": "SOC"}),
        ),
        (
            ItsmSystem::PagerDuty,
            json!({"routing_key": "r", "source": "soc"}),
        ),
        (
            ItsmSystem::Opsgenie,
            json!({"api_key": "k", "region": "eu"}),
        ),
    ] {
        let first = ItsmCredentials::from_json(system, value).unwrap();
        let again = ItsmCredentials::from_json(system, first.to_stored_json()).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint(), "{system}");
        assert_eq!(first.set_fields(), again.set_fields());
        again.validate(&delivery()).unwrap();
    }
    let one = ItsmCredentials::from_json(ItsmSystem::PagerDuty, json!({"routing_key": "a"}));
    let two = ItsmCredentials::from_json(ItsmSystem::PagerDuty, json!({"routing_key": "b"}));
    assert_ne!(one.unwrap().fingerprint(), two.unwrap().fingerprint());
}
