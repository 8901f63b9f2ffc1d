//! Every vendor's request shape (method, path, auth, JSON body) and error bodies against mock
//! servers, and the dispatcher's handling of unknown systems.

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::{ActionRequest, ActionStatus, ExecutorRegistry};
use aisoc_notify_itsm::{
    CreateTicket, JiraConfig, JiraExecutor, OpsgenieConfig, OpsgenieExecutor, PagerDutyConfig,
    PagerDutyExecutor, ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn delivery() -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy::no_retries(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

async fn registry(server: &MockServer) -> Arc<ExecutorRegistry> {
    let base: url::Url = format!("{}/", server.uri()).parse().unwrap();
    let registry = Arc::new(ExecutorRegistry::new());
    registry.register_live(
        "jira",
        "create_ticket",
        Arc::new(
            JiraExecutor::new(JiraConfig {
                site_url: base.join("jira/").unwrap(),
                email: "bot@acme.com".into(),
                api_token: "jira-token".to_owned().into(),
                default_project: "SEC".into(),
                default_issue_type: "Task".into(),
            })
            .unwrap()
            .with_delivery(delivery()),
        ),
    );
    registry.register_live(
        "servicenow",
        "create_ticket",
        Arc::new(
            ServiceNowExecutor::new(ServiceNowConfig {
                instance_url: base.join("snow/").unwrap(),
                auth: ServiceNowAuth::Basic {
                    user: "admin".into(),
                    password: "pw".to_owned().into(),
                },
                assignment_group: Some("SOC".into()),
            })
            .unwrap()
            .with_delivery(delivery()),
        ),
    );
    registry.register_live(
        "pagerduty",
        "create_ticket",
        Arc::new(
            PagerDutyExecutor::new(PagerDutyConfig {
                routing_key: "R0UT1NGKEY".to_owned().into(),
                events_url: base.join("pd/").unwrap(),
                source: "aisoc".into(),
            })
            .unwrap()
            .with_delivery(delivery()),
        ),
    );
    registry.register_live(
        "opsgenie",
        "create_ticket",
        Arc::new(
            OpsgenieExecutor::new(OpsgenieConfig {
                api_key: "genie-key".to_owned().into(),
                base_url: base.join("og/").unwrap(),
            })
            .unwrap()
            .with_delivery(delivery()),
        ),
    );
    CreateTicket::register(&registry);
    registry
}

fn ticket(system: &str) -> ActionRequest {
    ActionRequest::new("create_ticket", "acme")
        .with_parameter("system", system)
        .with_parameter("summary", "{{ context.alert.title }} on {{ context.host }}")
        .with_parameter(
            "description",
            "Detected at {{ context.alert.time }}\nSee the case.",
        )
        .with_parameter("severity", "critical")
        .with_parameter("dedup_key", "case-42")
        .with_context(json!({"host": "web-01", "alert": {"title": "Ransomware", "time": "09:00"}}))
}

fn body(server_requests: &[wiremock::Request]) -> Value {
    serde_json::from_slice(&server_requests[0].body).unwrap()
}

#[tokio::test]
async fn jira_issue_create() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/jira/rest/api/3/issue"))
        .and(header("authorization", "Basic Ym90QGFjbWUuY29tOmppcmEtdG9rZW4="))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "10000", "key": "SEC-24", "self": "https://acme.atlassian.net/rest/api/3/issue/10000"})))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry(&server).await.execute(&ticket("jira")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "SEC-24");
    assert_eq!(
        result.output["url"],
        format!("{}/jira/browse/SEC-24", server.uri())
    );
    let sent = body(&server.received_requests().await.unwrap());
    assert_eq!(sent["fields"]["project"]["key"], "SEC");
    assert_eq!(sent["fields"]["issuetype"]["name"], "Task");
    assert_eq!(sent["fields"]["summary"], "Ransomware on web-01");
    assert_eq!(sent["fields"]["priority"]["name"], "Highest");
    assert_eq!(sent["fields"]["description"]["type"], "doc");
    assert_eq!(
        sent["fields"]["description"]["content"][0]["content"][0]["text"],
        "Detected at 09:00"
    );
    assert_eq!(
        sent["fields"]["description"]["content"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn jira_errors_are_readable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/jira/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"errorMessages": [], "errors": {"project": "valid project is required"}}),
        ))
        .mount(&server)
        .await;
    let result = registry(&server).await.execute(&ticket("jira")).await;
    assert_eq!(result.status, ActionStatus::Failed);
    assert_eq!(
        result.error.as_deref(),
        Some("Jira rejected the issue (HTTP 400): project: valid project is required")
    );
    assert!(!format!("{result:?}").contains("jira-token"));
}

#[tokio::test]
async fn servicenow_incident_insert() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/snow/api/now/table/incident"))
        .and(header("authorization", "Basic YWRtaW46cHc="))
        .and(header("accept", "application/json"))
        .and(body_partial_json(json!({"short_description": "Ransomware on web-01", "urgency": "1", "impact": "1", "assignment_group": "SOC", "correlation_id": "case-42"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"result": {"sys_id": "9d385017c611228701d22104cc95c371", "number": "INC0010001"}})))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry(&server).await.execute(&ticket("servicenow")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "INC0010001");
    assert!(
        result.output["url"]
            .as_str()
            .unwrap()
            .ends_with("/snow/nav_to.do?uri=incident.do?sys_id=9d385017c611228701d22104cc95c371")
    );
}

#[tokio::test]
async fn servicenow_errors_are_readable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"})))
        .mount(&server)
        .await;
    let result = registry(&server).await.execute(&ticket("servicenow")).await;
    assert_eq!(
        result.error.as_deref(),
        Some(
            "ServiceNow rejected the incident (HTTP 401): User Not Authenticated: Required to provide Auth information"
        )
    );
}

#[tokio::test]
async fn pagerduty_trigger_with_dedup_key() {
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
    let result = registry(&server).await.execute(&ticket("pagerduty")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "case-42");
}

#[tokio::test]
async fn pagerduty_errors_are_readable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["'routing_key' is invalid"]})))
        .mount(&server)
        .await;
    let result = registry(&server).await.execute(&ticket("pagerduty")).await;
    assert_eq!(
        result.error.as_deref(),
        Some(
            "PagerDuty rejected the event (HTTP 400): Event object is invalid: 'routing_key' is invalid"
        )
    );
}

#[tokio::test]
async fn opsgenie_alert_with_alias() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/og/v2/alerts"))
        .and(header("authorization", "GenieKey genie-key"))
        .and(body_partial_json(json!({"message": "Ransomware on web-01", "alias": "case-42", "priority": "P1"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"})))
        .expect(1)
        .mount(&server)
        .await;
    let result = registry(&server).await.execute(&ticket("opsgenie")).await;
    assert_eq!(result.status, ActionStatus::Succeeded, "{result:?}");
    assert_eq!(result.output["key"], "case-42");
    assert_eq!(
        result.output["request_id"],
        "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"
    );
}

#[tokio::test]
async fn opsgenie_errors_are_readable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"message": "Request body is not processable.", "errors": {"message": "Message can not be empty."}, "took": 0.01, "requestId": "x"})))
        .mount(&server)
        .await;
    let result = registry(&server).await.execute(&ticket("opsgenie")).await;
    assert_eq!(
        result.error.as_deref(),
        Some(
            "Opsgenie rejected the alert (HTTP 422): Request body is not processable. (message: Message can not be empty.)"
        )
    );
}

#[tokio::test]
async fn unknown_systems_and_missing_parameters_fail_loudly() {
    let server = MockServer::start().await;
    let registry = registry(&server).await;
    let result = registry.execute(&ticket("remedy")).await;
    assert_eq!(result.status, ActionStatus::Failed);
    assert_eq!(
        result.error.as_deref(),
        Some(
            "unknown ticketing system 'remedy' (configured: jira, opsgenie, pagerduty, servicenow)"
        )
    );
    let no_summary = ActionRequest::new("create_ticket", "acme").with_parameter("system", "jira");
    assert_eq!(
        registry.execute(&no_summary).await.error.as_deref(),
        Some("parameter 'summary' is required")
    );
    let bad_severity = ticket("jira").with_parameter("severity", "apocalyptic");
    assert!(
        registry
            .execute(&bad_severity)
            .await
            .error
            .unwrap()
            .starts_with("severity must be")
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing was sent"
    );
}
