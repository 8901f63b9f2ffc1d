//! Tenant isolation over REST on the real gateway binary (issue #15): id-addressed approval
//! routes require the tenant, another tenant's id is 404 like an unknown one, and a malformed
//! tenant is 422 naming the field.

use serde_json::{Value, json};

mod support;
use support::Gateway;

const ADMIN: &str = "tenant-isolation-admin";

#[tokio::test]
async fn another_tenants_approval_cannot_be_read_or_decided_over_rest() {
    let (gateway, _) = Gateway::start(Some(ADMIN)).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "summary": "Isolate host web-01",
            "requested_action": "isolate_host",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let get = |tenant: &str| {
        http.get(gateway.url(&format!("/v1/approvals/{id}?tenant_id={tenant}")))
            .bearer_auth(ADMIN)
            .send()
    };
    assert_eq!(get("acme").await.unwrap().status(), 200);
    assert_eq!(get("globex").await.unwrap().status(), 404);

    let decide = |query: &str| {
        http.post(gateway.url(&format!("/v1/approvals/{id}/decision{query}")))
            .bearer_auth(ADMIN)
            .json(&json!({"decision": "approve", "reviewer": "mallory"}))
            .send()
    };
    let refused = decide("?tenant_id=globex").await.unwrap();
    assert_eq!(refused.status(), 404);
    let missing = decide("").await.unwrap();
    assert_eq!(missing.status(), 422);
    let body: Value = missing.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("tenant_id"),
        "{body}"
    );
    let malformed = decide("?tenant_id=acme%3Aops").await.unwrap();
    assert_eq!(malformed.status(), 422);
    let body: Value = malformed.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("tenant_id"),
        "{body}"
    );

    let still: Value = get("acme").await.unwrap().json().await.unwrap();
    assert_eq!(still["status"], "pending", "{still}");
    let audit: Value = http
        .get(gateway.url(&format!("/v1/audit?tenant_id=globex&subject_id={id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit, json!([]));

    let decided = decide("?tenant_id=acme").await.unwrap();
    assert_eq!(decided.status(), 200);
}

#[tokio::test]
async fn a_malformed_tenant_is_refused_when_creating_an_approval() {
    let (gateway, _) = Gateway::start(Some(ADMIN)).await;
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme ops",
            "summary": "Isolate host web-01",
            "requested_action": "isolate_host",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().starts_with("tenant_id"),
        "{body}"
    );
}

/// Issue #15: `ttl_seconds` of 1e13 panicked the handler (the connection dropped); it is a 422
/// naming the field, and nothing is stored.
#[tokio::test]
async fn an_absurd_ttl_is_a_422_naming_the_field_not_a_dropped_connection() {
    let (gateway, _) = Gateway::start(Some(ADMIN)).await;
    let http = reqwest::Client::new();
    let answer = http
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "summary": "Isolate host web-01",
            "requested_action": "isolate_host",
            "ttl_seconds": 10_000_000_000_000_u64,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("ttl_seconds"),
        "{body}"
    );
    let listed: Value = http
        .get(gateway.url("/v1/approvals?tenant_id=acme"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
}
