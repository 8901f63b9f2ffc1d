//! Every playbook action through the real binary's `POST /v1/actions`, against mock peers:
//! `notify_slack`, `notify_teams`, a signed `webhook`, and `create_ticket` on Jira, ServiceNow,
//! PagerDuty and Opsgenie with each tenant's own credentials set over the admin API (kept in
//! the data directory across a restart, or sealed in PostgreSQL).

mod support;

use aisoc_notify_core::signature::{SignatureScheme, WebhookVerifier};
use base64::Engine as _;
use serde_json::{Value, json};
use support::{Gateway, JsonReply as _};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADMIN: &str = "actions-admin";
const DATA_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn run(gateway: &Gateway, step: Value) -> (u16, Value) {
    let response = http()
        .post(gateway.url("/v1/actions"))
        .bearer_auth(ADMIN)
        .json(&step)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn put_itsm(gateway: &Gateway, tenant: &str, system: &str, body: Value) -> (u16, Value) {
    let response = http()
        .put(gateway.url(&format!("/v1/settings/itsm/{system}?tenant_id={tenant}")))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn fresh_data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "actions-e2e-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

#[tokio::test]
async fn chat_and_webhook_actions_reach_their_peers_and_private_urls_are_refused() {
    let (gateway, _) = Gateway::start(Some(ADMIN)).await;
    let peer = MockServer::start().await;
    for route in ["/slack/T0/B0/hook", "/teams/workflow", "/hook"] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&peer)
            .await;
    }

    let (status, result) = run(
        &gateway,
        json!({
            "action_type": "notify_slack",
            "tenant_id": "acme",
            "parameters": {
                "webhook_url": format!("{}/slack/T0/B0/hook", peer.uri()),
                "message": "Host {{ context.host }} isolated",
            },
            "context": {"host": "web-01"},
        }),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "succeeded");

    let (status, result) = run(
        &gateway,
        json!({
            "action_type": "notify_teams",
            "tenant_id": "acme",
            "parameters": {
                "webhook_url": format!("{}/teams/workflow", peer.uri()),
                "format": "workflows",
                "title": "Case {{ context.case }}",
                "message": "Contained",
            },
            "context": {"case": 42},
        }),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["output"]["format"], "workflows");

    let (status, result) = run(
        &gateway,
        json!({
            "action_type": "webhook",
            "tenant_id": "acme",
            "run_id": "run-1",
            "parameters": {
                "url": format!("{}/hook", peer.uri()),
                "payload": {"event": "contained", "host": "{{ context.host }}"},
                "secret": "shared-secret-123",
                "standard_webhooks_secret": WHSEC,
            },
            "context": {"host": "web-01"},
        }),
    )
    .await;
    assert_eq!(status, 200, "{result}");

    let received = peer.received_requests().await.unwrap();
    let by_path = |p: &str| received.iter().find(|r| r.url.path() == p).unwrap();
    let slack: Value = serde_json::from_slice(&by_path("/slack/T0/B0/hook").body).unwrap();
    assert_eq!(slack["text"], "Host web-01 isolated");
    let teams = String::from_utf8_lossy(&by_path("/teams/workflow").body).into_owned();
    assert!(
        teams.contains("Case 42") && teams.contains("AdaptiveCard"),
        "{teams}"
    );
    let hook = by_path("/hook");
    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body, json!({"event": "contained", "host": "web-01"}));
    assert_eq!(
        WebhookVerifier::new("shared-secret-123")
            .with_schemes(&[SignatureScheme::Aisoc])
            .verify(&hook.headers, &hook.body),
        Ok(SignatureScheme::Aisoc)
    );
    assert_eq!(
        WebhookVerifier::new(WHSEC)
            .with_schemes(&[SignatureScheme::StandardWebhooks])
            .verify(&hook.headers, &hook.body),
        Ok(SignatureScheme::StandardWebhooks)
    );
    assert_eq!(
        WebhookVerifier::new("another-secret")
            .with_schemes(&[SignatureScheme::Aisoc])
            .verify(&hook.headers, &hook.body),
        Err(aisoc_notify_core::SignatureError::Mismatch)
    );

    // The outbound guard applies to every URL a step names: no request, a typed failure.
    let before = peer.received_requests().await.unwrap().len();
    for (action, field, url) in [
        ("webhook", "url", "https://169.254.169.254/latest/meta-data"),
        (
            "notify_slack",
            "webhook_url",
            "https://10.0.0.5/services/T0/B0/x",
        ),
        (
            "notify_teams",
            "webhook_url",
            "https://192.168.1.10/workflow",
        ),
    ] {
        let (status, result) = run(
            &gateway,
            json!({
                "action_type": action,
                "tenant_id": "acme",
                "parameters": {field: url, "message": "m", "title": "t"},
            }),
        )
        .await;
        assert_eq!(status, 502, "{action}: {result}");
        assert_eq!(result["status"], "failed");
        assert_eq!(result["error_class"], "non_retryable", "{action}: {result}");
    }
    assert_eq!(peer.received_requests().await.unwrap().len(), before);

    let (status, result) = run(
        &gateway,
        json!({"action_type": "isolate_host", "tenant_id": "acme"}),
    )
    .await;
    assert_eq!(status, 404);
    let listed = result["error"].as_str().unwrap();
    for action in [
        "chatops.verify",
        "create_ticket",
        "notify_slack",
        "notify_teams",
        "webhook",
    ] {
        assert!(listed.contains(action), "{listed}");
    }
}

/// The four ticketing APIs on one mock server, under `/jira/`, `/snow/`, `/pd/` and `/og/`.
async fn ticketing_peer() -> MockServer {
    let peer = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jira/rest/api/3/search/jql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issues": []})))
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path("/jira/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "10001", "key": "SEC-1"})),
        )
        .mount(&peer)
        .await;
    Mock::given(method("GET"))
        .and(path("/snow/api/now/table/incident"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path("/snow/api/now/table/incident"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"result": {"number": "INC0010001", "sys_id": "abc123"}})),
        )
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path("/pd/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"status": "success", "message": "Event processed", "dedup_key": "dk"}),
        ))
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path("/og/v2/alerts"))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(
                json!({"result": "Request will be processed", "requestId": "req-1"}),
            ),
        )
        .mount(&peer)
        .await;
    peer
}

fn ticket(tenant: &str, system: &str) -> Value {
    json!({
        "action_type": "create_ticket",
        "tenant_id": tenant,
        "parameters": {
            "system": system,
            "summary": "Ransomware on {{ context.host }}",
            "dedup_key": format!("{tenant}-{system}-case-1"),
        },
        "context": {"host": "web-01"},
    })
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn create_ticket_uses_each_tenants_own_credentials_and_they_survive_a_restart() {
    let peer = ticketing_peer().await;
    let data_dir = fresh_data_dir();
    let dir_arg = data_dir.to_str().unwrap().to_owned();
    let envs = [("AISOC_DATA_KEY", DATA_KEY)];
    let (gateway, _) =
        Gateway::start_with(Some(ADMIN), &["--data-dir", dir_arg.as_str()], &envs).await;
    let base = peer.uri();

    // Settings are checked before they are kept: 422 naming the field, never echoing a secret.
    for (system, body, field) in [
        (
            "jira",
            json!({"site_url": format!("{base}/jira/"), "email": "soc@acme.com", "default_project": "SEC"}),
            "api_token",
        ),
        (
            "jira",
            json!({"site_url": "http://jira.example", "email": "soc@acme.com", "api_token": "SECRET-x", "default_project": "SEC"}),
            "site_url",
        ),
        (
            "opsgenie",
            json!({"api_key": "SECRET-x", "base_url": "https://169.254.169.254/"}),
            "base_url",
        ),
        (
            "pagerduty",
            json!({"routing_key": "SECRET-x", "routing": 1}),
            "routing",
        ),
    ] {
        let (status, answer) = put_itsm(&gateway, "acme", system, body).await;
        assert_eq!(status, 422, "{system}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
        assert!(!message.contains("SECRET"), "{message}");
    }
    let (status, _) = put_itsm(&gateway, "acme", "remedy", json!({})).await;
    assert_eq!(status, 404);
    let anonymous = http()
        .put(gateway.url("/v1/settings/itsm/jira?tenant_id=acme"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let no_tenant = http()
        .get(gateway.url("/v1/settings/itsm"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(no_tenant.status(), 422);

    for (system, body) in [
        (
            "jira",
            json!({"site_url": format!("{base}/jira/"), "email": "soc@acme.com",
                   "api_token": "acme-jira-token", "default_project": "SEC"}),
        ),
        (
            "servicenow",
            json!({"instance_url": format!("{base}/snow/"), "user": "acme-bot",
                   "password": "acme-snow-password"}),
        ),
        (
            "pagerduty",
            json!({"routing_key": "acme-routing-key", "events_url": format!("{base}/pd/")}),
        ),
        (
            "opsgenie",
            json!({"api_key": "acme-genie-key", "base_url": format!("{base}/og/")}),
        ),
    ] {
        let (status, answer) = put_itsm(&gateway, "acme", system, body).await;
        assert_eq!(status, 200, "{system}: {answer}");
        assert_eq!(answer["system"], system);
    }
    let (status, _) = put_itsm(
        &gateway,
        "globex",
        "pagerduty",
        json!({"routing_key": "globex-routing-key", "events_url": format!("{base}/pd/")}),
    )
    .await;
    assert_eq!(status, 200);

    let listing = http()
        .get(gateway.url("/v1/settings/itsm?tenant_id=acme"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    let shown = listing.to_string();
    for secret in [
        "acme-jira-token",
        "acme-snow-password",
        "acme-routing-key",
        "acme-genie-key",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        listing["systems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["configured"] == true)
    );
    assert_eq!(listing["systems"][0]["system"], "jira");
    assert!(
        listing["systems"][0]["set_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("api_token"))
    );

    for (system, key) in [
        ("jira", "SEC-1"),
        ("servicenow", "INC0010001"),
        ("pagerduty", "dk"),
        ("opsgenie", "acme-opsgenie-case-1"),
    ] {
        let (status, result) = run(&gateway, ticket("acme", system)).await;
        assert_eq!(status, 200, "{system}: {result}");
        assert_eq!(result["output"]["key"], key, "{system}: {result}");
    }
    let (status, result) = run(&gateway, ticket("globex", "pagerduty")).await;
    assert_eq!(status, 200, "{result}");
    // globex configured no Jira: a clear failure naming what to set, and nothing sent.
    let before = peer.received_requests().await.unwrap().len();
    let (status, result) = run(&gateway, ticket("globex", "jira")).await;
    assert_eq!(status, 502, "{result}");
    assert_eq!(
        result["error"],
        "no jira credentials are configured for tenant 'globex' (configure them with \
         PUT /v1/settings/itsm/jira?tenant_id=globex)"
    );
    assert_eq!(peer.received_requests().await.unwrap().len(), before);

    // Each request carried its own tenant's credentials.
    let received = peer.received_requests().await.unwrap();
    let header = |r: &wiremock::Request, name: &str| {
        r.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    for request in &received {
        match request.url.path() {
            p if p.starts_with("/jira/") => assert_eq!(
                header(request, "authorization"),
                basic("soc@acme.com", "acme-jira-token")
            ),
            p if p.starts_with("/snow/") => assert_eq!(
                header(request, "authorization"),
                basic("acme-bot", "acme-snow-password")
            ),
            "/og/v2/alerts" => {
                assert_eq!(header(request, "authorization"), "GenieKey acme-genie-key")
            }
            "/pd/v2/enqueue" => {
                let event: Value = serde_json::from_slice(&request.body).unwrap();
                let tenant = event["dedup_key"]
                    .as_str()
                    .unwrap()
                    .split('-')
                    .next()
                    .unwrap();
                assert_eq!(
                    event["routing_key"],
                    format!("{tenant}-routing-key"),
                    "{event}"
                );
            }
            other => panic!("unexpected request to {other}"),
        }
    }
    let pagerduty_tenants: Vec<String> = received
        .iter()
        .filter(|r| r.url.path() == "/pd/v2/enqueue")
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["routing_key"].to_string())
        .collect();
    assert_eq!(pagerduty_tenants.len(), 2, "{pagerduty_tenants:?}");

    // Removing one system leaves the others.
    let delete = |system: &str| {
        http()
            .delete(gateway.url(&format!("/v1/settings/itsm/{system}?tenant_id=acme")))
            .bearer_auth(ADMIN)
            .send()
    };
    assert_eq!(delete("opsgenie").await.unwrap().status(), 204);
    assert_eq!(delete("opsgenie").await.unwrap().status(), 404);
    let (status, result) = run(&gateway, ticket("acme", "opsgenie")).await;
    assert_eq!(status, 502, "{result}");

    // Sealed in the data directory: no secret in the file.
    let file = std::fs::read_to_string(data_dir.join("itsm/credentials.json")).unwrap();
    assert!(
        !file.contains("acme-jira-token") && !file.contains("globex-routing-key"),
        "{file}"
    );
    assert!(file.contains("sealed:v1:k1:"), "{file}");

    // A restart on the same data directory keeps them.
    drop(gateway);
    let (gateway, _) =
        Gateway::start_with(Some(ADMIN), &["--data-dir", dir_arg.as_str()], &envs).await;
    let (status, result) = run(&gateway, ticket("acme", "jira")).await;
    assert_eq!(status, 200, "{result}");
    let last = peer.received_requests().await.unwrap();
    assert_eq!(
        header(last.last().unwrap(), "authorization"),
        basic("soc@acme.com", "acme-jira-token")
    );
    let (status, _) = run(&gateway, ticket("acme", "opsgenie")).await;
    assert_eq!(status, 502, "the removed system stays removed");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn with_postgresql_credentials_are_sealed_in_the_row_and_refused_without_a_key() {
    let database = support::TestDatabase::create("aisoc_actions_e2e").await;
    let url = database.url();
    let peer = ticketing_peer().await;

    let keyless = [("DATABASE_URL", url.as_str())];
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &keyless).await;
    let (status, answer) = put_itsm(
        &gateway,
        "acme",
        "pagerduty",
        json!({"routing_key": "pg-routing-key", "events_url": format!("{}/pd/", peer.uri())}),
    )
    .await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("AISOC_DATA_KEY"),
        "{answer}"
    );
    drop(gateway);

    let keyed = [("DATABASE_URL", url.as_str()), ("AISOC_DATA_KEY", DATA_KEY)];
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &keyed).await;
    let (status, answer) = put_itsm(
        &gateway,
        "acme",
        "jira",
        json!({"site_url": format!("{}/jira/", peer.uri()), "email": "soc@acme.com",
               "api_token": "pg-jira-token", "default_project": "SEC"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, result) = run(&gateway, ticket("acme", "jira")).await;
    assert_eq!(status, 200, "{result}");
    let (status, _) = run(&gateway, ticket("globex", "jira")).await;
    assert_eq!(status, 502);

    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(c)::text FROM aisoc_itsm_credentials c")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(!rows[0].contains("pg-jira-token"), "{rows:?}");
    assert!(rows[0].contains("sealed:v1:k1:"), "{rows:?}");
    let forced: bool = sqlx::query_scalar(
        "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'aisoc_itsm_credentials'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(forced);
    db.close().await.unwrap();

    // A restart on the same database keeps them.
    drop(gateway);
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &keyed).await;
    let (status, result) = run(&gateway, ticket("acme", "jira")).await;
    assert_eq!(status, 200, "{result}");
    drop(gateway);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    database.drop_database().await;
}
