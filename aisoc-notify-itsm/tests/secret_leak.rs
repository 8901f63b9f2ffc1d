//! The secret-leak test for the ITSM crate (issue #15): Jira (API token), ServiceNow (a
//! password, then a bearer token), PagerDuty (routing key) and Opsgenie (API key) are each
//! configured with a marker secret and driven through the core HTTP contract (2xx, 4xx, 429,
//! 5xx, redirect, timeout, connection refused, forbidden destination) while every line any
//! crate logs is captured at TRACE. No marker may appear in a log line, an error's `Display`
//! or `Debug` (the contract checks those), or the `Debug` of a config or an executor.

use std::sync::Arc;

use aisoc_notify_core::conformance::{HttpContract, LeakWatch, captured_logs};
use aisoc_notify_core::{ActionExecutor, ActionRequest};
use aisoc_notify_itsm::{
    JiraConfig, JiraExecutor, OpsgenieConfig, OpsgenieExecutor, PagerDutyConfig, PagerDutyExecutor,
    ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor,
};
use serde_json::json;
use wiremock::ResponseTemplate;

const JIRA_TOKEN: &str = "LEAKMARK-jira-api-token";
const SNOW_PASSWORD: &str = "LEAKMARK-snow-password";
const SNOW_BEARER: &str = "LEAKMARK-snow-bearer-token";
const ROUTING_KEY: &str = "LEAKMARKROUTINGKEY000000000000000";
const GENIE_KEY: &str = "LEAKMARK-genie-key";

fn step() -> ActionRequest {
    ActionRequest::new("create_ticket", "acme")
        .with_run("run-1")
        .with_parameter("summary", "Ransomware on web-01")
        .with_parameter("description", "Secret-leak check")
        .with_parameter("severity", "critical")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_itsm_secret_reaches_a_log_line_an_error_or_a_debug_output() {
    captured_logs();
    let seen = LeakWatch::default();

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
        .secret(JIRA_TOKEN)
        .check_executor(step(), |endpoint| {
            let config = JiraConfig {
                site_url: endpoint.base.clone(),
                email: "bot@acme.com".into(),
                api_token: JIRA_TOKEN.to_owned().into(),
                default_project: "SEC".into(),
                default_issue_type: "Task".into(),
            };
            let config_debug = format!("{config:?}");
            let executor = JiraExecutor::new(config)?.with_delivery(endpoint.delivery.clone());
            seen.record(endpoint, format!("{config_debug} {executor:?}"));
            Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
        })
        .await;

    for (auth, secret) in [
        (
            ServiceNowAuth::Basic {
                user: "aisoc".into(),
                password: SNOW_PASSWORD.to_owned().into(),
            },
            SNOW_PASSWORD,
        ),
        (
            ServiceNowAuth::Bearer(SNOW_BEARER.to_owned().into()),
            SNOW_BEARER,
        ),
    ] {
        HttpContract::new("servicenow")
            .success(ResponseTemplate::new(201).set_body_json(json!({
                "result": {"number": "INC0010001", "sys_id": "9d385017c611228701d22104cc95c371"},
            })))
            .lookup_before_create(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
            .ambiguous_requests(2)
            .secret(secret)
            .check_executor(step(), |endpoint| {
                let config = ServiceNowConfig {
                    instance_url: endpoint.base.clone(),
                    auth: auth.clone(),
                    assignment_group: None,
                };
                let config_debug = format!("{config:?}");
                let executor =
                    ServiceNowExecutor::new(config)?.with_delivery(endpoint.delivery.clone());
                seen.record(endpoint, format!("{config_debug} {executor:?}"));
                Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
            })
            .await;
    }

    HttpContract::new("pagerduty")
        .success(ResponseTemplate::new(202).set_body_json(json!({
            "status": "success",
            "message": "Event processed",
            "dedup_key": "srv01/HTTP",
        })))
        .secret(ROUTING_KEY)
        .check_executor(step(), |endpoint| {
            let config = PagerDutyConfig {
                routing_key: ROUTING_KEY.to_owned().into(),
                events_url: endpoint.base.clone(),
                source: "aisoc".into(),
            };
            let config_debug = format!("{config:?}");
            let executor = PagerDutyExecutor::new(config)?.with_delivery(endpoint.delivery.clone());
            seen.record(endpoint, format!("{config_debug} {executor:?}"));
            Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
        })
        .await;

    HttpContract::new("opsgenie")
        .success(ResponseTemplate::new(202).set_body_json(json!({
            "result": "Request will be processed",
            "took": 0.1,
            "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120",
        })))
        .secret(GENIE_KEY)
        .check_executor(step(), |endpoint| {
            let config = OpsgenieConfig {
                api_key: GENIE_KEY.to_owned().into(),
                base_url: endpoint.base.clone(),
            };
            let config_debug = format!("{config:?}");
            let executor = OpsgenieExecutor::new(config)?.with_delivery(endpoint.delivery.clone());
            seen.record(endpoint, format!("{config_debug} {executor:?}"));
            Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
        })
        .await;

    seen.assert_nothing_leaked(&[
        JIRA_TOKEN,
        SNOW_PASSWORD,
        SNOW_BEARER,
        ROUTING_KEY,
        GENIE_KEY,
        "LEAKMARK",
    ]);
}
