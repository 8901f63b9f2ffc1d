//! Every vendor's request shape (method, path, auth, JSON body), its error answers as typed
//! errors with their retry class, and the dispatcher's handling of unknown systems.

mod support;

use aisoc_notify_core::{ActionError, ActionRequest, ActionStatus, ConfigError, RetryClass};
use aisoc_notify_itsm::{
    JiraConfig, JiraExecutor, OpsgenieConfig, OpsgenieExecutor, PagerDutyConfig, PagerDutyExecutor,
    ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor,
};
use serde_json::json;
use support::{bodies, registry, step};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn jira_finds_nothing(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/jira/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"issues": [], "isLast": true})),
        )
        .mount(server)
        .await;
}

async fn servicenow_finds_nothing(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/snow/api/now/table/incident"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_jira_issue_is_created_with_its_fields_and_correlation_label() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jira/rest/api/3/search/jql"))
        .and(query_param("jql", "labels = \"aisoc-case-42\""))
        .and(query_param("maxResults", "1"))
        .and(header(
            "authorization",
            "Basic Ym90QGFjbWUuY29tOmppcmEtdG9rZW4=",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"issues": [], "isLast": true})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/jira/rest/api/3/issue"))
        .and(header("authorization", "Basic Ym90QGFjbWUuY29tOmppcmEtdG9rZW4="))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "10000", "key": "SEC-24", "self": "https://acme.atlassian.net/rest/api/3/issue/10000"})))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry(&server).execute(&step("jira")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "SEC-24");
    assert_eq!(result.output["id"], "10000");
    assert_eq!(result.output["existing"], false);
    assert_eq!(
        result.output["url"],
        format!("{}/jira/browse/SEC-24", server.uri())
    );
    let sent = &bodies(&server, "POST").await[0]["fields"];
    assert_eq!(sent["project"]["key"], "SEC");
    assert_eq!(sent["issuetype"]["name"], "Task");
    assert_eq!(sent["summary"], "Ransomware on web-01");
    assert_eq!(sent["priority"]["name"], "Highest");
    assert_eq!(sent["labels"], json!(["aisoc-case-42"]));
    assert_eq!(sent["description"]["type"], "doc");
    assert_eq!(
        sent["description"]["content"][0]["content"][0]["text"],
        "Detected at 09:00"
    );
    assert_eq!(sent["description"]["content"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn jira_field_errors_are_shown_and_not_retried() {
    let server = MockServer::start().await;
    jira_finds_nothing(&server).await;
    Mock::given(method("POST"))
        .and(path("/jira/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"errorMessages": [], "errors": {"project": "valid project is required"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server).run(&step("jira")).await.unwrap_err();
    assert_eq!(error.retry_class(), RetryClass::NonRetryable);
    assert_eq!(
        error.to_string(),
        "jira rejected the action (400): project: valid project is required"
    );
    assert!(!format!("{error:?}").contains("jira-token"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_never_echoed() {
    let server = MockServer::start().await;
    jira_finds_nothing(&server).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string("<html><body>internal proxy page 10.0.0.7</body></html>"),
        )
        .mount(&server)
        .await;
    let error = registry(&server).run(&step("jira")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "jira rejected the action (400): no details given"
    );
    assert!(!format!("{error:?}").contains("proxy"));
}

#[tokio::test]
async fn a_servicenow_incident_is_inserted_with_its_correlation_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/snow/api/now/table/incident"))
        .and(query_param("sysparm_query", "correlation_id=case-42"))
        .and(query_param("sysparm_limit", "1"))
        .and(header(
            "authorization",
            "Basic YWRtaW46c25vdy1wYXNzd29yZA==",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/snow/api/now/table/incident"))
        .and(header("authorization", "Basic YWRtaW46c25vdy1wYXNzd29yZA=="))
        .and(header("accept", "application/json"))
        .and(body_partial_json(json!({"short_description": "Ransomware on web-01", "urgency": "1", "impact": "1", "assignment_group": "SOC", "correlation_id": "case-42"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"result": {"sys_id": "9d385017c611228701d22104cc95c371", "number": "INC0010001"}})))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry(&server).execute(&step("servicenow")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "INC0010001");
    assert_eq!(result.output["sys_id"], "9d385017c611228701d22104cc95c371");
    assert!(
        result.output["url"]
            .as_str()
            .unwrap()
            .ends_with("/snow/nav_to.do?uri=incident.do?sys_id=9d385017c611228701d22104cc95c371")
    );
}

#[tokio::test]
async fn servicenow_refusing_the_credentials_says_which_to_check() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"})))
        .mount(&server)
        .await;
    let error = registry(&server)
        .run(&step("servicenow"))
        .await
        .unwrap_err();
    assert_eq!(error.retry_class(), RetryClass::NonRetryable);
    assert_eq!(
        error.to_string(),
        "servicenow rejected the action (401): authentication failed (check the user and password, or the OAuth token): User Not Authenticated: Required to provide Auth information"
    );
    assert!(!format!("{error:?}").contains("snow-password"));
    assert_eq!(support::count(&server, "POST").await, 0, "nothing created");
}

#[tokio::test]
async fn servicenow_validation_errors_show_the_vendor_message() {
    let server = MockServer::start().await;
    servicenow_finds_nothing(&server).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "Invalid value for urgency", "detail": null}, "status": "failure"})))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server)
        .run(&step("servicenow"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "servicenow rejected the action (400): Invalid value for urgency"
    );
}

#[tokio::test]
async fn a_pagerduty_trigger_carries_the_dedup_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/pd/v2/enqueue"))
        .and(body_partial_json(json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "trigger",
            "dedup_key": "case-42",
            "payload": {"summary": "Ransomware on web-01", "source": "aisoc", "severity": "critical"}
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "success", "message": "Event processed", "dedup_key": "case-42"})))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry(&server).execute(&step("pagerduty")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "case-42");
    assert_eq!(result.output["message"], "Event processed");
}

#[tokio::test]
async fn pagerduty_event_errors_are_shown_and_throttling_is_typed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["'routing_key' is invalid"]})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "90"))
        .mount(&server)
        .await;
    let registry = registry(&server);
    let invalid = registry.run(&step("pagerduty")).await.unwrap_err();
    assert_eq!(
        invalid.to_string(),
        "pagerduty rejected the action (400): Event object is invalid: 'routing_key' is invalid"
    );
    let throttled = registry.execute(&step("pagerduty")).await;
    assert_eq!(throttled.error_class.as_deref(), Some("throttled"));
    assert_eq!(throttled.retry_after_seconds, Some(90));
}

#[tokio::test]
async fn an_opsgenie_alert_carries_the_alias() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/og/v2/alerts"))
        .and(header("authorization", "GenieKey genie-key"))
        .and(body_partial_json(json!({"message": "Ransomware on web-01", "alias": "case-42", "priority": "P1"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"})))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry(&server).execute(&step("opsgenie")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "case-42");
    assert_eq!(
        result.output["request_id"],
        "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"
    );
}

#[tokio::test]
async fn opsgenie_errors_are_shown_and_a_missing_integration_is_gone() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"message": "Request body is not processable.", "errors": {"message": "Message can not be empty."}, "took": 0.01, "requestId": "x"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"message": "Integration not found", "took": 0.0, "requestId": "y"}),
        ))
        .mount(&server)
        .await;
    let registry = registry(&server);
    let invalid = registry.run(&step("opsgenie")).await.unwrap_err();
    assert_eq!(
        invalid.to_string(),
        "opsgenie rejected the action (422): Request body is not processable. (message: Message can not be empty.)"
    );
    let gone = registry.run(&step("opsgenie")).await.unwrap_err();
    assert_eq!(gone.retry_class(), RetryClass::Gone);
}

#[tokio::test]
async fn unknown_systems_and_bad_parameters_fail_before_anything_is_sent() {
    let server = MockServer::start().await;
    let registry = registry(&server);
    let unknown = registry.run(&step("remedy")).await.unwrap_err();
    assert!(
        matches!(unknown, ActionError::Unsupported(_)),
        "{unknown:?}"
    );
    assert_eq!(
        unknown.to_string(),
        "unknown ticketing system 'remedy' (configured: jira, opsgenie, pagerduty, servicenow)"
    );
    let no_summary = ActionRequest::new("create_ticket", "acme").with_parameter("system", "jira");
    let missing = registry.run(&no_summary).await.unwrap_err();
    assert!(matches!(missing, ActionError::Parameter(_)), "{missing:?}");
    assert_eq!(missing.to_string(), "parameter 'summary' is required");
    let bad_severity = step("jira").with_parameter("severity", "apocalyptic");
    let invalid = registry.run(&bad_severity).await.unwrap_err();
    assert!(matches!(invalid, ActionError::Parameter(_)), "{invalid:?}");
    assert_eq!(invalid.retry_class(), RetryClass::NonRetryable);
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing was sent"
    );
}

#[test]
fn constructors_name_the_setting_to_fix() {
    fn field<T>(result: Result<T, ConfigError>) -> String {
        match result {
            Ok(_) => panic!("the configuration was accepted"),
            Err(error) => error.field().to_owned(),
        }
    }
    let jira = |site: &str, email: &str| {
        JiraExecutor::new(JiraConfig {
            site_url: site.parse().unwrap(),
            email: email.into(),
            api_token: "t".to_owned().into(),
            default_project: "SEC".into(),
            default_issue_type: "Task".into(),
        })
    };
    assert_eq!(
        field(jira("http://jira.example", "bot@acme.com")),
        "site_url"
    );
    assert_eq!(field(jira("https://acme.atlassian.net", " ")), "email");
    assert!(jira("https://acme.atlassian.net", "bot@acme.com").is_ok());
    assert_eq!(
        field(ServiceNowExecutor::new(ServiceNowConfig {
            instance_url: "ftp://acme.service-now.com".parse().unwrap(),
            auth: ServiceNowAuth::Bearer("token".to_owned().into()),
            assignment_group: None,
        })),
        "instance_url"
    );
    assert_eq!(
        field(ServiceNowExecutor::new(ServiceNowConfig {
            instance_url: "https://acme.service-now.com".parse().unwrap(),
            auth: ServiceNowAuth::Bearer(String::new().into()),
            assignment_group: None,
        })),
        "auth.token"
    );
    assert_eq!(
        field(PagerDutyExecutor::new(PagerDutyConfig {
            routing_key: String::new().into(),
            events_url: "https://events.pagerduty.com".parse().unwrap(),
            source: "aisoc".into(),
        })),
        "routing_key"
    );
    assert_eq!(
        field(OpsgenieExecutor::new(OpsgenieConfig {
            api_key: "k".to_owned().into(),
            base_url: "https://user:pw@api.opsgenie.com".parse().unwrap(),
        })),
        "base_url"
    );
}
