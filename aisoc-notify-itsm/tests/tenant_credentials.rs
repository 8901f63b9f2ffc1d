//! `create_ticket` over per-tenant settings: each tenant's step reaches its system with that
//! tenant's own credentials, and a tenant without settings gets a failure naming what to set.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::{ActionExecutor, ActionRequest};
use aisoc_notify_itsm::credentials::{ItsmCredentials, ItsmSystem};
use aisoc_notify_itsm::tenant::{MemoryCredentialSource, TenantTickets};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn step(tenant: &str, system: &str) -> ActionRequest {
    ActionRequest::new("create_ticket", tenant)
        .with_parameter("system", system)
        .with_parameter("summary", "Ransomware on web-01")
        .with_parameter("dedup_key", format!("{tenant}-case-1"))
}

#[tokio::test]
async fn each_tenant_uses_its_own_credentials_and_never_another_tenants() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/pd/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"status": "success", "message": "Event processed", "dedup_key": "k"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/og/v2/alerts"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"requestId": "r-1"})))
        .mount(&server)
        .await;
    let source = Arc::new(MemoryCredentialSource::new());
    let events_url = format!("{}/pd/", server.uri());
    for tenant in ["acme", "globex"] {
        source.set(
            tenant,
            ItsmCredentials::from_json(
                ItsmSystem::PagerDuty,
                json!({"routing_key": format!("{tenant}-routing-key"), "events_url": events_url}),
            )
            .unwrap(),
        );
    }
    source.set(
        "acme",
        ItsmCredentials::from_json(
            ItsmSystem::Opsgenie,
            json!({"api_key": "acme-genie-key", "base_url": format!("{}/og/", server.uri())}),
        )
        .unwrap(),
    );
    let tickets = TenantTickets::new(source.clone(), support::delivery(1, Duration::from_secs(5)));

    tickets.execute(&step("acme", "pagerduty")).await.unwrap();
    tickets.execute(&step("globex", "pagerduty")).await.unwrap();
    tickets.execute(&step("acme", "opsgenie")).await.unwrap();
    let globex_opsgenie = tickets
        .execute(&step("globex", "opsgenie"))
        .await
        .unwrap_err();
    assert_eq!(
        globex_opsgenie.to_string(),
        "no opsgenie credentials are configured for tenant 'globex'"
    );

    let requests = server.received_requests().await.unwrap();
    let pagerduty: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path() == "/pd/v2/enqueue")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(pagerduty.len(), 2);
    for event in &pagerduty {
        let tenant = event["dedup_key"]
            .as_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap();
        assert_eq!(event["routing_key"], format!("{tenant}-routing-key"));
    }
    let opsgenie: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/og/v2/alerts")
        .collect();
    assert_eq!(opsgenie.len(), 1, "globex's step sent nothing");
    assert_eq!(
        opsgenie[0].headers["authorization"],
        "GenieKey acme-genie-key"
    );

    // Changed settings take effect on the next step; removed ones fail it.
    source.set(
        "acme",
        ItsmCredentials::from_json(
            ItsmSystem::PagerDuty,
            json!({"routing_key": "acme-rotated-key", "events_url": events_url}),
        )
        .unwrap(),
    );
    tickets.execute(&step("acme", "pagerduty")).await.unwrap();
    let last: Value = serde_json::from_slice(
        &server
            .received_requests()
            .await
            .unwrap()
            .last()
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(last["routing_key"], "acme-rotated-key");
    assert!(source.remove("acme", ItsmSystem::PagerDuty));
    assert!(tickets.execute(&step("acme", "pagerduty")).await.is_err());
}
