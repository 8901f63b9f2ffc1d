//! Connector freshness through the real `aisoc-gateway` binary (issue #16): a connector that
//! misses its window produces exactly one `connector_health` notification at a webhook
//! channel, a heartbeat exactly one "healthy again"; a restart on the same data directory
//! repeats neither; two gateways on one PostgreSQL database produce one per change in total.
//! The routes check the admin token, the tenant and every field.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection as _;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::{Gateway, JsonReply};

const ADMIN: &str = "connector-admin";
const DATA_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn data_dir(label: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "connectors-{label}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// Starts a gateway checking connectors every second, its stdout drained.
async fn start(envs: &[(&str, &str)]) -> (String, tokio::process::Child) {
    let mut all = vec![("AISOC_CONNECTOR_CHECK_SECONDS", "1")];
    all.extend_from_slice(envs);
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &all).await;
    let Gateway {
        child,
        base,
        mut stdout,
    } = gateway;
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (base, child)
}

async fn webhook_channel(http: &reqwest::Client, base: &str, url: &str) {
    let created = http
        .post(format!("{base}/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({"channel_type": "webhook", "name": "SOC webhook", "config": {"url": url}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
}

async fn register(http: &reqwest::Client, base: &str, id: &str, window: u64) -> reqwest::Response {
    http.put(format!("{base}/v1/connectors/{id}?tenant_id=acme"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "Okta logs", "window_seconds": window}))
        .send()
        .await
        .unwrap()
}

async fn heartbeat(http: &reqwest::Client, base: &str, id: &str) -> Value {
    let response = http
        .post(format!(
            "{base}/v1/connectors/{id}/heartbeat?tenant_id=acme"
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn status(http: &reqwest::Client, base: &str) -> Vec<Value> {
    http.get(format!("{base}/v1/connectors?tenant_id=acme"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await["connectors"]
        .as_array()
        .cloned()
        .unwrap()
}

/// The `connector_health` notifications the webhook received, as (title, severity).
async fn received(destination: &MockServer) -> Vec<(String, String)> {
    destination
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| serde_json::from_slice::<Value>(&request.body).unwrap())
        .inspect(|body| assert_eq!(body["event_type"], "connector_health", "{body}"))
        .map(|body| {
            (
                body["title"].as_str().unwrap().to_owned(),
                body["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until the webhook received `count` notifications, then a little longer to see that
/// no more come.
async fn expect_notifications(destination: &MockServer, count: usize) -> Vec<(String, String)> {
    let started = Instant::now();
    while received(destination).await.len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{count} notification(s) within 15 s; got {:?}",
            received(destination).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Three more checks: nothing else is said.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let all = received(destination).await;
    assert_eq!(all.len(), count, "{all:?}");
    all
}

async fn webhook() -> MockServer {
    let destination = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&destination)
        .await;
    destination
}

const STALE: &str = "Connector Okta logs is stale";
const HEALTHY: &str = "Connector Okta logs is healthy again";

#[tokio::test]
async fn one_notification_per_change_and_a_restart_repeats_none() {
    let destination = webhook().await;
    let dir = data_dir("restart");
    let dir_text = dir.display().to_string();
    let env = [("AISOC_DATA_DIR", dir_text.as_str())];
    let http = reqwest::Client::new();

    let (base, mut first) = start(&env).await;
    webhook_channel(&http, &base, &format!("{}/hook", destination.uri())).await;
    let registered = register(&http, &base, "okta", 2).await;
    assert_eq!(registered.status(), 200);
    let registered: Value = registered.json().await.unwrap();
    assert_eq!(registered["status"], "healthy");
    assert_eq!(registered["window_seconds"], 2);
    let beat = heartbeat(&http, &base, "okta").await;
    assert!(beat["last_heartbeat"].is_string(), "{beat}");

    let told = expect_notifications(&destination, 1).await;
    assert_eq!(told[0], (STALE.to_owned(), "high".to_owned()));
    assert_eq!(status(&http, &base).await[0]["status"], "stale");

    // A restart while stale: the change was already notified.
    first.kill().await.unwrap();
    assert!(dir.join("connectors").join("connectors.json").exists());
    let (base, mut second) = start(&env).await;
    let listed = status(&http, &base).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "stale");
    assert_eq!(listed[0]["name"], "Okta logs");
    expect_notifications(&destination, 1).await;

    // Back: one "healthy again", at once; a longer window keeps it healthy from here on.
    let beat = heartbeat(&http, &base, "okta").await;
    assert_eq!(beat["status"], "healthy");
    assert_eq!(register(&http, &base, "okta", 3600).await.status(), 200);
    let told = expect_notifications(&destination, 2).await;
    assert_eq!(told[1], (HEALTHY.to_owned(), "info".to_owned()));

    second.kill().await.unwrap();
    let (base, mut third) = start(&env).await;
    assert_eq!(status(&http, &base).await[0]["status"], "healthy");
    expect_notifications(&destination, 2).await;
    third.kill().await.unwrap();
}

#[tokio::test]
async fn the_routes_check_the_token_the_tenant_and_every_field() {
    let (base, mut gateway) = start(&[]).await;
    let http = reqwest::Client::new();
    let put = |path: &str, body: Value| {
        http.put(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let unauthenticated = http
        .get(format!("{base}/v1/connectors?tenant_id=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let no_tenant = put(
        "/v1/connectors/okta",
        json!({"name": "Okta", "window_seconds": 60}),
    )
    .await
    .unwrap();
    assert_eq!(no_tenant.status(), 422);
    assert!(no_tenant.text().await.unwrap().contains("tenant_id"));
    for (body, field) in [
        (
            json!({"name": "Okta", "window_seconds": 0}),
            "window_seconds",
        ),
        (
            json!({"name": "Okta", "window_seconds": 2_592_001}),
            "window_seconds",
        ),
        (
            json!({"name": "Okta", "window_seconds": -5}),
            "window_seconds",
        ),
        (json!({"name": "Okta"}), "window_seconds"),
        (json!({"name": "  ", "window_seconds": 60}), "name"),
        (json!({"window_seconds": 60}), "name"),
        (
            json!({"name": "x".repeat(201), "window_seconds": 60}),
            "name",
        ),
    ] {
        let refused = put("/v1/connectors/okta?tenant_id=acme", body.clone())
            .await
            .unwrap();
        assert_eq!(refused.status(), 422, "{body}");
        let text = refused.text().await.unwrap();
        assert!(text.contains(field), "{body}: {text}");
    }
    let bad_id = put(
        "/v1/connectors/bad%20id?tenant_id=acme",
        json!({"name": "Okta", "window_seconds": 60}),
    )
    .await
    .unwrap();
    assert_eq!(bad_id.status(), 422);
    assert!(bad_id.text().await.unwrap().contains("connector id"));

    let unknown = http
        .post(format!(
            "{base}/v1/connectors/okta/heartbeat?tenant_id=acme"
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    assert_eq!(register(&http, &base, "okta", 600).await.status(), 200);
    assert_eq!(status(&http, &base).await.len(), 1);
    // Another tenant sees nothing, and cannot heartbeat or remove it.
    let other: Value = http
        .get(format!("{base}/v1/connectors?tenant_id=globex"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    assert_eq!(other["connectors"], json!([]));
    for request in [
        http.post(format!(
            "{base}/v1/connectors/okta/heartbeat?tenant_id=globex"
        )),
        http.delete(format!("{base}/v1/connectors/okta?tenant_id=globex")),
    ] {
        assert_eq!(
            request.bearer_auth(ADMIN).send().await.unwrap().status(),
            404
        );
    }
    let removed = http
        .delete(format!("{base}/v1/connectors/okta?tenant_id=acme"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert!(status(&http, &base).await.is_empty());
    gateway.kill().await.unwrap();
}

#[tokio::test]
async fn two_gateways_on_one_database_notify_once_per_change() {
    let database = support::TestDatabase::create("aisoc_connectors_gw").await;
    let url = database.url();
    let env = [("DATABASE_URL", url.as_str()), ("AISOC_DATA_KEY", DATA_KEY)];
    let destination = webhook().await;
    let http = reqwest::Client::new();
    // One after the other, so the migrations are not raced by the test itself.
    let (one, mut first) = start(&env).await;
    let (two, mut second) = start(&env).await;
    webhook_channel(&http, &one, &format!("{}/hook", destination.uri())).await;
    // Both replicas deliver to the channel (the second picks it up from the database).
    let started = Instant::now();
    loop {
        let listed: Value = http
            .get(format!("{two}/v1/settings/notifications"))
            .bearer_auth(ADMIN)
            .json_reply()
            .await;
        if listed.as_array().is_some_and(|l| l.len() == 1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(register(&http, &one, "okta", 2).await.status(), 200);
    heartbeat(&http, &two, "okta").await;
    let told = expect_notifications(&destination, 1).await;
    assert_eq!(told[0].0, STALE);
    assert_eq!(status(&http, &two).await[0]["status"], "stale");

    let beat = heartbeat(&http, &two, "okta").await;
    assert_eq!(beat["status"], "healthy");
    assert_eq!(register(&http, &one, "okta", 3600).await.status(), 200);
    let told = expect_notifications(&destination, 2).await;
    assert_eq!(told[1].0, HEALTHY);

    // Row-level security holds the table to the tenant even for the owner's connection.
    let mut owner = sqlx::PgConnection::connect(&url).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM aisoc_connectors")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(seen, 1, "the postgres superuser bypasses RLS");
    sqlx::query("SET ROLE aisoc_connectors_tenant")
        .execute(&mut owner)
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM aisoc_connectors")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(seen, 0, "no tenant set, no rows");
    drop(owner);

    first.kill().await.unwrap();
    second.kill().await.unwrap();
    database.drop_database().await;
}

#[tokio::test]
async fn concurrent_monitors_on_postgres_flip_and_claim_each_change_once() {
    use aisoc_gateway::connectors::{ConnectorStore as _, PgConnectorStore};
    let database = support::TestDatabase::create("aisoc_connectors_gw").await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&database.url())
        .await
        .unwrap();
    let store = PgConnectorStore::open(pool.clone()).await.unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::seconds(3600);
    for id in ["okta", "edr", "m365"] {
        store.upsert("acme", id, id, 60, long_ago).await.unwrap();
    }
    store
        .upsert("globex", "okta", "Okta", 60, long_ago)
        .await
        .unwrap();
    // Eight monitors at once, each flipping and claiming.
    let monitors = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let flipped = store.mark_stale(chrono::Utc::now()).await.unwrap();
            let claimed = store
                .claim_changes(chrono::Utc::now(), chrono::Duration::seconds(60))
                .await
                .unwrap();
            (flipped, claimed)
        })
    });
    let mut flipped = 0;
    let mut claimed = Vec::new();
    for monitor in monitors {
        let (f, c) = monitor.await.unwrap();
        flipped += f;
        claimed.extend(c.into_iter().map(|c| (c.tenant_id, c.id, c.generation)));
    }
    // A claim may come before the flips of another monitor land; claim what is left.
    claimed.extend(
        store
            .claim_changes(chrono::Utc::now(), chrono::Duration::seconds(60))
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.tenant_id, c.id, c.generation)),
    );
    claimed.sort();
    assert_eq!(flipped, 4, "each connector flipped once");
    assert_eq!(
        claimed,
        vec![
            ("acme".into(), "edr".into(), 1),
            ("acme".into(), "m365".into(), 1),
            ("acme".into(), "okta".into(), 1),
            ("globex".into(), "okta".into(), 1),
        ],
        "each flip claimed once"
    );
    // The API's tenant role sees its own tenant only.
    assert_eq!(store.list("acme").await.unwrap().len(), 3);
    assert_eq!(store.list("globex").await.unwrap().len(), 1);
    assert!(!store.remove("globex", "edr").await.unwrap());
    pool.close().await;
    database.drop_database().await;
}
