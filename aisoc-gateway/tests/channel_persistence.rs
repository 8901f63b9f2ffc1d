//! Notification channels that outlive the process and are shared by every replica (issues #14,
//! #16), through the real `aisoc-gateway` binary:
//!
//! - a channel created on a gateway is still there, under the same id, after a restart on the
//!   same data directory, and still delivers; its secrets are not in the file in clear, and
//!   without the data key the gateway refuses to start rather than run without it;
//! - two gateways on one PostgreSQL: a channel created on one is listed by the other and
//!   delivers from it, and changes and removals travel too (polled with a bounded deadline);
//! - a queued notification whose first attempt failed on replica 1 is delivered by replica 2
//!   after replica 1 is killed (the retry names the channel's id, which replica 2 shares);
//! - PostgreSQL without `AISOC_DATA_KEY`: saving a channel is refused with 503 naming it.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod support;
use support::{Gateway, JsonReply, TestDatabase};

const ADMIN: &str = "channel-admin";
const DATA_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A data directory of the test's own, under cargo's scratch space.
fn data_dir(label: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "channels-{label}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

async fn start(envs: &[(&str, &str)]) -> Gateway {
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], envs).await;
    gateway
}

/// Starts a gateway and keeps its stdout (the console channel's lines) drained.
async fn start_drained(envs: &[(&str, &str)]) -> (String, tokio::process::Child) {
    let Gateway {
        child,
        base,
        mut stdout,
    } = start(envs).await;
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (base, child)
}

async fn create_webhook(http: &reqwest::Client, base: &str, url: &str) -> reqwest::Response {
    http.post(format!("{base}/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "channel_type": "webhook",
            "name": "SOC webhook",
            "config": {"url": url, "secret": "signing-secret-of-the-test"},
        }))
        .send()
        .await
        .unwrap()
}

async fn list(http: &reqwest::Client, base: &str) -> Vec<Value> {
    http.get(format!("{base}/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await
        .as_array()
        .cloned()
        .unwrap()
}

/// Polls `done` every 50 ms until it holds, failing after `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_channel_survives_a_restart_on_the_same_data_directory_sealed_at_rest() {
    let destination = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&destination)
        .await;
    let dir = data_dir("restart");
    let dir_text = dir.display().to_string();
    let env = [
        ("AISOC_DATA_DIR", dir_text.as_str()),
        ("AISOC_DATA_KEY", DATA_KEY),
    ];
    let http = reqwest::Client::new();

    let mut first = start(&env).await;
    let marker = "marker-token-7c3e91";
    let created = create_webhook(
        &http,
        &first.base,
        &format!("{}/hook/{marker}", destination.uri()),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    first.child.kill().await.unwrap();

    let file = dir.join("channels").join("channels.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&id), "{text}");
    assert!(!text.contains(marker), "the URL's token is sealed: {text}");
    assert!(!text.contains("signing-secret-of-the-test"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads the channel file");
    }

    let (base, mut second) = start_drained(&env).await;
    let listed = list(&http, &base).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["name"], "SOC webhook");
    let tested: Value = http
        .post(format!("{base}/v1/settings/notifications/{id}/test"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    assert_eq!(tested["delivered"], true, "{tested}");
    let received = destination.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].url.path(), format!("/hook/{marker}"));

    second.kill().await.unwrap();

    // Without the key the channel cannot be opened: the gateway says so and does not start.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
        .args(["--listen", "127.0.0.1:0"])
        .env("AISOC_DATA_DIR", &dir)
        .env("AISOC_ADMIN_TOKEN", ADMIN)
        .env_remove("AISOC_DATA_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let refused = tokio::time::timeout(Duration::from_secs(30), refused)
        .await
        .unwrap()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("AISOC_DATA_KEY"), "{stderr}");
    assert!(stderr.contains(&id), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_database_share_channels_under_the_same_ids() {
    let destination = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/shared"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&destination)
        .await;
    let database = TestDatabase::create("aisoc_channels_gw").await;
    let database_url = database.url();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("AISOC_DATA_KEY", DATA_KEY),
        // Longer than the test takes: changes must travel by the change notice, or by the
        // re-read before an id is treated as unknown.
        ("AISOC_CONFIG_REFRESH_SECONDS", "3600"),
    ];
    let http = reqwest::Client::new();
    let ((a, _a), (b, _b)) = tokio::join!(start_drained(&env), start_drained(&env));

    let created = create_webhook(&http, &a, &format!("{}/shared", destination.uri())).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "the other gateway lists the channel",
        Duration::from_secs(10),
        || async { list(&http, &b).await.iter().any(|c| c["id"] == id.as_str()) },
    )
    .await;

    let sent = http
        .post(format!("{b}/v1/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "high", "title": "Shared channel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let report: Value = sent.json().await.unwrap();
    let outcome = report["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == id.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(outcome["outcome"], "delivered", "{report}");
    assert_eq!(destination.received_requests().await.unwrap().len(), 1);

    // A change on the second travels back to the first; so does a removal.
    let renamed = http
        .put(format!("{b}/v1/settings/notifications/{id}"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "channel_type": "webhook",
            "name": "Renamed on b",
            "config": {"url": format!("{}/shared", destination.uri())},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    eventually(
        "the first gateway sees the new name",
        Duration::from_secs(10),
        || async {
            list(&http, &a)
                .await
                .iter()
                .any(|c| c["name"] == "Renamed on b")
        },
    )
    .await;
    let deleted = http
        .delete(format!("{a}/v1/settings/notifications/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    eventually(
        "the second gateway drops the channel",
        Duration::from_secs(10),
        || async { list(&http, &b).await.is_empty() },
    )
    .await;
    database.drop_database().await;
}

/// Answers 503 while `failing`, then 200.
#[derive(Clone)]
struct Flaky {
    failing: Arc<AtomicBool>,
}

impl Respond for Flaky {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.failing.load(Ordering::SeqCst) {
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(200)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_left_by_a_killed_replica_is_delivered_by_the_other() {
    let failing = Arc::new(AtomicBool::new(true));
    let destination = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/flaky"))
        .respond_with(Flaky {
            failing: Arc::clone(&failing),
        })
        .mount(&destination)
        .await;
    let database = TestDatabase::create("aisoc_channels_gw").await;
    let database_url = database.url();
    let stream = format!("AISOC_OUTBOX_CH{:08x}", rand::random::<u32>());
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("AISOC_DATA_KEY", DATA_KEY),
        ("NATS_URL", "nats://127.0.0.1:4222"),
        ("AISOC_OUTBOX_STREAM", stream.as_str()),
    ];
    let nats = async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let js = async_nats::jetstream::new(nats);
    let http = reqwest::Client::new();

    // Replica 1 alone, so the first attempt is certainly its own.
    let (first, mut first_child) = start_drained(&env).await;
    let created = create_webhook(&http, &first, &format!("{}/flaky", destination.uri())).await;
    assert_eq!(created.status(), 201);
    let queued = http
        .post(format!("{first}/v1/notifications?delivery=queued"))
        .bearer_auth(ADMIN)
        .json(&json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "critical", "title": "Retried elsewhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    let key = queued.json::<Value>().await.unwrap()["dedupe_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The first attempt used up the delivery layer's own retries and queued an outbox retry
    // for the channel (the stream's second message).
    let stream_state = || async {
        let mut pending = js.get_stream(&stream).await.unwrap();
        pending.info().await.unwrap().state.clone()
    };
    eventually(
        "replica 1 queues a retry",
        Duration::from_secs(30),
        || async { stream_state().await.last_sequence >= 2 },
    )
    .await;
    let failed_attempts = destination.received_requests().await.unwrap().len();
    assert!(failed_attempts >= 1);
    first_child.kill().await.unwrap();

    failing.store(false, Ordering::SeqCst);
    let (second, _second_child) = start_drained(&env).await;
    eventually(
        "replica 2 delivers the retry",
        Duration::from_secs(60),
        || async { destination.received_requests().await.unwrap().len() > failed_attempts },
    )
    .await;
    let requests = destination.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            == Some(key.as_str())),
        "every attempt carries the notification's key"
    );
    let dead: Value = http
        .get(format!("{second}/v1/outbox/dead-letters"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    assert_eq!(dead, json!([]), "nothing dead-lettered as gone");
    eventually(
        "the retry is acknowledged",
        Duration::from_secs(10),
        || async { stream_state().await.messages == 0 },
    )
    .await;
    let _ = js.delete_stream(&stream).await;
    let _ = js.delete_stream(format!("{stream}_DEAD")).await;
    database.drop_database().await;
}

#[tokio::test]
async fn with_postgres_and_no_data_key_saving_a_channel_is_refused_naming_the_setting() {
    let database = TestDatabase::create("aisoc_channels_gw").await;
    let database_url = database.url();
    let (base, _child) = start_drained(&[("DATABASE_URL", database_url.as_str())]).await;
    let http = reqwest::Client::new();
    let refused = create_webhook(&http, &base, "http://127.0.0.1:9/hook").await;
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("AISOC_DATA_KEY"), "{message}");
    assert!(list(&http, &base).await.is_empty(), "nothing half-saved");
    database.drop_database().await;
}
