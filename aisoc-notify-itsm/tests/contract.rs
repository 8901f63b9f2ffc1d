//! The HTTP contract every adapter passes (`aisoc_notify_core::conformance`), run for the four
//! ticketing executors with each vendor's real-shaped success answer.
//!
//! Request counts: PagerDuty and Opsgenie send their create with the ordinary idempotent
//! retries (their `dedup_key` / `alias` folds repeats), so a 5xx or a timeout costs every
//! attempt (2). ServiceNow and Jira look the ticket up (a `GET`) before creating it; the suite
//! answers every request with the scenario's answer, so in the failure scenarios it is that
//! lookup that fails, retried like any read: 2 requests, and no create is sent. In the 2xx
//! scenario the lookup gets the vendor's empty search result and the create follows: 2
//! requests.

use std::sync::Arc;

use aisoc_notify_core::conformance::HttpContract;
use aisoc_notify_core::{ActionExecutor, ActionRequest};
use aisoc_notify_itsm::{
    JiraConfig, JiraExecutor, OpsgenieConfig, OpsgenieExecutor, PagerDutyConfig, PagerDutyExecutor,
    ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor,
};
use serde_json::json;
use wiremock::ResponseTemplate;

const TOKEN: &str = "jira-api-token-5ecret";
const PASSWORD: &str = "snow-password-5ecret";
const ROUTING_KEY: &str = "R0UT1NGKEY5ECRET";
const GENIE_KEY: &str = "genie-key-5ecret";

fn step() -> ActionRequest {
    ActionRequest::new("create_ticket", "acme")
        .with_run("run-1")
        .with_parameter("summary", "Ransomware on web-01")
        .with_parameter("description", "Contract check")
        .with_parameter("severity", "critical")
}

#[tokio::test]
async fn jira_passes_the_http_contract() {
    HttpContract::new("jira")
        .success(ResponseTemplate::new(201).set_body_json(json!({
            "id": "10000",
            "key": "SEC-1",
            "self": "https://acme.atlassian.net/rest/api/3/issue/10000",
        })))
        .lookup_before_create(
            ResponseTemplate::new(200).set_body_json(json!({"issues": [], "isLast": true})),
        )
        .ambiguous_requests(2)
        .secret(TOKEN)
        .check_executor(step(), |endpoint| {
            let executor = JiraExecutor::new(JiraConfig {
                site_url: endpoint.base.clone(),
                email: "bot@acme.com".into(),
                api_token: TOKEN.to_owned().into(),
                default_project: "SEC".into(),
                default_issue_type: "Task".into(),
            })?
            .with_delivery(endpoint.delivery.clone());
            Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
        })
        .await;
}

#[tokio::test]
async fn servicenow_passes_the_http_contract() {
    HttpContract::new("servicenow")
        .success(ResponseTemplate::new(201).set_body_json(json!({
            "result": {"number": "INC0010001", "sys_id": "9d385017c611228701d22104cc95c371"},
        })))
        .lookup_before_create(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
        .ambiguous_requests(2)
        .secret(PASSWORD)
        .check_executor(step(), |endpoint| {
            let executor = ServiceNowExecutor::new(ServiceNowConfig {
                instance_url: endpoint.base.clone(),
                auth: ServiceNowAuth::Basic {
                    user: "aisoc".into(),
                    password: PASSWORD.to_owned().into(),
                },
                assignment_group: None,
            })?
            .with_delivery(endpoint.delivery.clone());
            Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
        })
        .await;
}

#[tokio::test]
async fn pagerduty_passes_the_http_contract() {
    HttpContract::new("pagerduty")
        .success(ResponseTemplate::new(202).set_body_json(json!({
            "status": "success",
            "message": "Event processed",
            "dedup_key": "srv01/HTTP",
        })))
        .secret(ROUTING_KEY)
        .check_executor(step(), |endpoint| {
            let executor = PagerDutyExecutor::new(PagerDutyConfig {
                routing_key: ROUTING_KEY.to_owned().into(),
                events_url: endpoint.base.clone(),
                source: "aisoc".into(),
            })?
            .with_delivery(endpoint.delivery.clone());
            Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
        })
        .await;
}

#[tokio::test]
async fn opsgenie_passes_the_http_contract() {
    HttpContract::new("opsgenie")
        .success(ResponseTemplate::new(202).set_body_json(json!({
            "result": "Request will be processed",
            "took": 0.1,
            "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120",
        })))
        .secret(GENIE_KEY)
        .check_executor(step(), |endpoint| {
            let executor = OpsgenieExecutor::new(OpsgenieConfig {
                api_key: GENIE_KEY.to_owned().into(),
                base_url: endpoint.base.clone(),
            })?
            .with_delivery(endpoint.delivery.clone());
            Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
        })
        .await;
}
