//! Opens a Jira issue the way a playbook step does: a `create_ticket` [`ActionRequest`] with
//! templated parameters goes through the [`CreateTicket`] dispatcher to the [`JiraExecutor`],
//! which first searches for the step's correlation label (`GET /rest/api/3/search/jql`, so a
//! step run again finds its issue instead of opening a second one), then calls
//! `POST /rest/api/3/issue` on a local mock of Jira Cloud. Prints the requests the mock received
//! (basic auth, the fields, the description as Atlassian Document Format) and the
//! [`ActionResult`](aisoc_notify_core::ActionResult) the step gets back.
//!
//! No Jira site is needed: a `wiremock` server on 127.0.0.1 finds nothing and answers the create
//! with `201` and an issue key. The outbound guard refuses loopback by default, so the example
//! gives the executor a delivery client that allows `127.0.0.1`; in production, set `site_url`
//! to `https://<site>.atlassian.net` and keep the default client.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example jira_ticket
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::sync::Arc;

use aisoc_notify_core::{
    ActionRequest, DeliveryClient, DeliveryConfig, DestinationPolicy, ExecutorRegistry,
};
use aisoc_notify_itsm::{CreateTicket, JiraConfig, JiraExecutor};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A stand-in for https://acme.atlassian.net.
    let jira = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"issues": [], "isLast": true})),
        )
        .expect(1)
        .mount(&jira)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "10042",
            "key": "SEC-42",
            "self": format!("{}/rest/api/3/issue/10042", jira.uri()),
        })))
        .expect(1)
        .mount(&jira)
        .await;

    // The executor is registered for ("jira", "create_ticket"); the dispatcher routes on `system`.
    let registry = Arc::new(ExecutorRegistry::new());
    let executor = JiraExecutor::new(JiraConfig {
        site_url: format!("{}/", jira.uri()).parse()?,
        email: "soc-bot@acme.com".into(),
        api_token: "jira-api-token".to_owned().into(),
        default_project: "SEC".into(),
        default_issue_type: "Task".into(),
    })?
    .with_delivery(DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32")?,
        ..DeliveryConfig::default()
    })?);
    registry.register_live("jira", "create_ticket", Arc::new(executor));
    CreateTicket::register(&registry);

    let step = ActionRequest::new("create_ticket", "acme")
        .with_parameter("system", "jira")
        .with_parameter("summary", "{{ context.alert.title }} on {{ context.host }}")
        .with_parameter(
            "description",
            "Detected at {{ context.alert.time }}\nIsolate the host and open the case.",
        )
        .with_parameter("severity", "critical")
        .with_parameter("dedup_key", "case 42")
        .with_context(
            json!({"host": "web-01", "alert": {"title": "Ransomware", "time": "09:00Z"}}),
        );
    let result = registry.execute(&step).await;

    let requests = jira.received_requests().await.unwrap_or_default();
    let [search, create] = requests.as_slice() else {
        return Err(format!("the mock Jira received {} requests", requests.len()).into());
    };
    // The label comes from the step's dedup_key, spaces as dashes: labels cannot hold spaces.
    println!(
        "{} {}?{}\n",
        search.method,
        search.url.path(),
        search.url.query().unwrap_or("")
    );
    println!("{} {}", create.method, create.url.path());
    // Basic auth: base64 of `e-mail:API token` (a made-up token here).
    for name in ["authorization", "content-type"] {
        if let Some(value) = create.headers.get(name) {
            println!("{name}: {}", value.to_str()?);
        }
    }
    let body: serde_json::Value = serde_json::from_slice(&create.body)?;
    println!("{}\n", serde_json::to_string_pretty(&body)?);

    println!("ActionResult: {:?}", result.status);
    println!("{}", serde_json::to_string_pretty(&result.output)?);
    if let Some(error) = &result.error {
        return Err(error.clone().into());
    }
    Ok(())
}
