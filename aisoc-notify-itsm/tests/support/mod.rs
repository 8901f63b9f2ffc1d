//! What the behaviour tests share: a delivery client that may reach the local mock, the four
//! executors configured against one mock server, and a playbook step.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses part of the support module"
)]

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::{
    ActionRequest, DeliveryClient, DeliveryConfig, DestinationPolicy, ExecutorRegistry, RetryPolicy,
};
use aisoc_notify_itsm::{
    CreateTicket, JiraConfig, JiraExecutor, OpsgenieConfig, OpsgenieExecutor, PagerDutyConfig,
    PagerDutyExecutor, ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor,
};
use serde_json::{Value, json};
use wiremock::MockServer;

/// A client with the outbound guard on, allowing only the mock on 127.0.0.1, `attempts`
/// attempts with millisecond backoff and a `timeout` per request.
pub fn delivery(attempts: u32, timeout: Duration) -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        request_timeout: timeout,
        retry: RetryPolicy {
            max_attempts: attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        destinations: DestinationPolicy::guarded()
            .allow("127.0.0.1/32")
            .expect("a valid CIDR"),
        ..DeliveryConfig::default()
    })
    .expect("the test client builds")
}

/// The mock's root joined with `prefix` (`jira/`, `snow/`…).
pub fn base(server: &MockServer, prefix: &str) -> url::Url {
    format!("{}/{prefix}", server.uri()).parse().unwrap()
}

pub fn jira(server: &MockServer, delivery: DeliveryClient) -> JiraExecutor {
    JiraExecutor::new(JiraConfig {
        site_url: base(server, "jira/"),
        email: "bot@acme.com".into(),
        api_token: "jira-token".to_owned().into(),
        default_project: "SEC".into(),
        default_issue_type: "Task".into(),
    })
    .unwrap()
    .with_delivery(delivery)
}

pub fn servicenow(server: &MockServer, delivery: DeliveryClient) -> ServiceNowExecutor {
    ServiceNowExecutor::new(ServiceNowConfig {
        instance_url: base(server, "snow/"),
        auth: ServiceNowAuth::Basic {
            user: "admin".into(),
            password: "snow-password".to_owned().into(),
        },
        assignment_group: Some("SOC".into()),
    })
    .unwrap()
    .with_delivery(delivery)
}

pub fn pagerduty(server: &MockServer, delivery: DeliveryClient) -> PagerDutyExecutor {
    PagerDutyExecutor::new(PagerDutyConfig {
        routing_key: "R0UT1NGKEY".to_owned().into(),
        events_url: base(server, "pd/"),
        source: "aisoc".into(),
    })
    .unwrap()
    .with_delivery(delivery)
}

pub fn opsgenie(server: &MockServer, delivery: DeliveryClient) -> OpsgenieExecutor {
    OpsgenieExecutor::new(OpsgenieConfig {
        api_key: "genie-key".to_owned().into(),
        base_url: base(server, "og/"),
    })
    .unwrap()
    .with_delivery(delivery)
}

/// All four executors and the dispatcher, against `server`, without retries.
pub fn registry(server: &MockServer) -> Arc<ExecutorRegistry> {
    let once = || delivery(1, Duration::from_secs(5));
    let registry = Arc::new(ExecutorRegistry::new());
    registry.register_live("jira", "create_ticket", Arc::new(jira(server, once())));
    registry.register_live(
        "servicenow",
        "create_ticket",
        Arc::new(servicenow(server, once())),
    );
    registry.register_live(
        "pagerduty",
        "create_ticket",
        Arc::new(pagerduty(server, once())),
    );
    registry.register_live(
        "opsgenie",
        "create_ticket",
        Arc::new(opsgenie(server, once())),
    );
    CreateTicket::register(&registry);
    registry
}

/// A `create_ticket` step for `system` with templated parameters and `dedup_key` `case-42`.
pub fn step(system: &str) -> ActionRequest {
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

/// The JSON bodies of the requests `server` received with `method`, in order.
pub async fn bodies(server: &MockServer, method: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == method)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

/// How many requests with `method` reached `server`.
pub async fn count(server: &MockServer, method: &str) -> usize {
    bodies(server, method).await.len()
}
