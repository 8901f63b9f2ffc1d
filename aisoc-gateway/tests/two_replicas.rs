//! Two `aisoc-gateway` replicas behave as one (issue #16 item 8), through the real binaries on
//! one PostgreSQL database of the test's own, one Redis and one NATS JetStream (an outbox stream
//! of the test's own), with the same admin token, data key and shared keys:
//!
//! 1. a webhook channel created over the admin API on replica A is used, at once, by a
//!    notification POSTed to replica B, and by one queued on B;
//! 2. an answer link minted by A (a `chatops.verify` prompt on Slack) is accepted by B: B shows
//!    the page and records the answer, and a second press on A is 409;
//! 3. a tenant's inbox rate limit is one budget: `N` requests alternating between A and B pass
//!    and the next, on either, is 429;
//! 4. 500 notifications queued alternately on A and B reach the webhook exactly once each.
//!
//! That a replica on a database refuses to generate the shared keys is shown in
//! `gateway_binary.rs` (`a_gateway_on_a_database_refuses_generated_keys_naming_every_setting`).
//! No assertion is timed; waits have deadlines only so that a failure ends the test.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::Connection as _;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod support;
use support::{Gateway, JsonReply};

const ADMIN: &str = "two-replicas-admin";
const DATA_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const NATS: &str = "nats://127.0.0.1:4222";

/// The backends both replicas share, removed when the test ends.
struct Shared {
    database_url: String,
    database: String,
    stream: String,
}

impl Shared {
    async fn create(label: &str) -> Self {
        let database_url = support::fresh_database(&format!("aisoc_two_{label}")).await;
        let database = database_url.rsplit('/').next().unwrap().to_owned();
        Self {
            database_url,
            database,
            stream: format!("AISOC_OUTBOX_TWO_{:08x}", rand::random::<u32>()),
        }
    }

    /// Starts two replicas on these backends, each with `extra` settings as well.
    async fn replicas(&self, extra: &[(&str, &str)]) -> (Replica, Replica) {
        let mut envs = vec![
            ("DATABASE_URL", self.database_url.as_str()),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("NATS_URL", NATS),
            ("AISOC_OUTBOX_STREAM", self.stream.as_str()),
            ("AISOC_DATA_KEY", DATA_KEY),
        ];
        envs.extend_from_slice(extra);
        // One after the other: both run the migrations on the fresh database at start-up.
        let a = Replica::start(&envs).await;
        let b = Replica::start(&envs).await;
        (a, b)
    }

    async fn remove(self) {
        let nats = async_nats::connect(NATS).await.unwrap();
        let js = async_nats::jetstream::new(nats);
        let _ = js.delete_stream(&self.stream).await;
        let _ = js.delete_stream(format!("{}_DEAD", self.stream)).await;
        let mut server = sqlx::PgConnection::connect(POSTGRES).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.database
        )))
        .execute(&mut server)
        .await
        .unwrap();
    }
}

/// A gateway whose stdout (the console channel's lines) is drained so it never blocks.
struct Replica {
    base: String,
    _child: tokio::process::Child,
}

impl Replica {
    async fn start(envs: &[(&str, &str)]) -> Self {
        let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], envs).await;
        let Gateway {
            child,
            base,
            mut stdout,
        } = gateway;
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self {
            base,
            _child: child,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// One request as the webhook peer saw it.
#[derive(Debug, Clone)]
struct Arrival {
    key: String,
    title: String,
}

/// Records every request to the webhook and answers 200.
#[derive(Clone, Default)]
struct Recorder {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl Recorder {
    fn titles(&self) -> Vec<String> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.iter().map(|a| a.title.clone()).collect()
    }

    /// Waits (up to `limit`, so a failure ends) until `count` requests arrived.
    async fn wait_for(&self, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.arrivals.lock().unwrap().len() < count {
            assert!(
                Instant::now() < deadline,
                "{} of {count} deliveries arrived within {limit:?}",
                self.arrivals.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.arrivals.lock().unwrap().push(Arrival {
            key: request
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            title: body["title"].as_str().unwrap_or_default().to_owned(),
        });
        ResponseTemplate::new(200)
    }
}

/// A wiremock webhook peer on `/hook`, recording what it receives.
async fn webhook_peer() -> (MockServer, Recorder) {
    let recorder = Recorder::default();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(recorder.clone())
        .mount(&server)
        .await;
    (server, recorder)
}

/// Creates a webhook channel for `event_type` on `replica`; its id.
async fn add_webhook(
    http: &reqwest::Client,
    replica: &Replica,
    url: String,
    event_type: &str,
) -> String {
    let answer = http
        .post(replica.url("/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "channel_type": "webhook",
            "name": format!("{event_type} hook"),
            "config": {"url": url},
            "event_types": [event_type],
        }))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("the channel's id").to_owned()
}

fn notification(event_type: &str, title: &str) -> Value {
    json!({
        "tenant_id": "acme",
        "event_type": event_type,
        "severity": "high",
        "title": title,
    })
}

#[tokio::test]
async fn a_channel_created_on_one_replica_delivers_from_the_other_now_and_queued() {
    let shared = Shared::create("channel").await;
    let (a, b) = shared.replicas(&[]).await;
    let (peer, recorder) = webhook_peer().await;
    let http = reqwest::Client::new();

    let id = add_webhook(&http, &a, format!("{}/hook", peer.uri()), "case_opened").await;

    // Delivered now, by B, straight after A answered 201: no waiting for B to catch up.
    let answer = http
        .post(b.url("/v1/notifications"))
        .bearer_auth(ADMIN)
        .json(&notification("case_opened", "direct on B"))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let channels: Vec<&str> = body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.contains(&id.as_str()),
        "B used A's channel: {body}"
    );
    assert_eq!(recorder.titles(), ["direct on B"]);

    // Queued on B: whichever replica's worker takes it delivers through A's channel.
    let queued = http
        .post(b.url("/v1/notifications?delivery=queued"))
        .bearer_auth(ADMIN)
        .json(&notification("case_opened", "queued on B"))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    recorder.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(recorder.titles(), ["direct on B", "queued on B"]);

    drop((a, b));
    shared.remove().await;
}

#[tokio::test]
async fn an_answer_link_minted_by_one_replica_is_answered_on_the_other_and_only_once() {
    let peer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "D0ALICE", "ts": "1700000000.000100"}),
            ),
        )
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path("/orchestrator/resume"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&peer)
        .await;
    let api_base = format!("{}/api/", peer.uri());
    let resume_url = format!("{}/orchestrator/resume", peer.uri());
    let shared = Shared::create("verify").await;
    let (a, b) = shared
        .replicas(&[
            ("AISOC_FEATURE_CHATOPS_VERIFY", "true"),
            ("SLACK_BOT_TOKEN", "xoxb-two-replicas"),
            ("SLACK_API_BASE", &api_base),
            ("AISOC_PLAYBOOK_RESUME_URL", &resume_url),
        ])
        .await;
    let http = reqwest::Client::new();

    let started = http
        .post(a.url("/v1/actions"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "action_type": "chatops.verify",
            "tenant_id": "acme",
            "case_id": "case-2r",
            "run_id": "run-2r",
            "parameters": {"user": "U0ALICE", "message": "Someone signed in as you from Lisbon. Was this you?"},
            "context": {}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202, "{:?}", started.text().await);

    let posted = peer.received_requests().await.unwrap();
    let prompt = posted
        .iter()
        .find(|r| r.url.path() == "/api/chat.postMessage")
        .expect("A posted the prompt to Slack");
    let message: Value = serde_json::from_slice(&prompt.body).unwrap();
    let blocks = message["attachments"][0]["blocks"].as_array().unwrap();
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    let links: Vec<String> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|button| button["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(links.len(), 3, "{message}");
    let on_a = a.url("/v1/chatops/verify/");
    assert!(links.iter().all(|l| l.starts_with(&on_a)), "{links:?}");
    let on_b = |link: &str| link.replacen(&a.base, &b.base, 1);

    let page = http.get(on_b(&links[0])).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Yes, this was me") && page.contains("<form method=\"post\""),
        "{page}"
    );
    let answered = http.post(on_b(&links[0])).send().await.unwrap();
    assert_eq!(answered.status(), 200);
    let answered = answered.text().await.unwrap();
    assert!(answered.contains("Answer recorded"), "{answered}");

    // A second press, on the replica that minted the links: already answered.
    for link in [&links[0], &links[1]] {
        let again = http.post(link.as_str()).send().await.unwrap();
        assert_eq!(again.status(), 409, "{link}");
        assert!(again.text().await.unwrap().contains("Already answered"));
    }

    // The playbook is resumed with B's answer (bounded wait).
    let resumes = || async {
        let received = peer.received_requests().await.unwrap();
        received
            .into_iter()
            .filter(|r| r.url.path() == "/orchestrator/resume")
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while resumes().await.is_empty() {
        assert!(Instant::now() < deadline, "no resume within 15 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed = resumes().await;
    assert_eq!(resumed.len(), 1);
    let body: Value = serde_json::from_slice(&resumed[0].body).unwrap();
    assert_eq!(body["branch"], "acknowledge", "{body}");
    assert_eq!(body["run_id"], "run-2r", "{body}");

    // Both replicas read the same audit trail.
    for replica in [&a, &b] {
        let timeline: Value = http
            .get(replica.url("/v1/audit?tenant_id=acme&subject_id=case-2r"))
            .bearer_auth(ADMIN)
            .json_reply()
            .await;
        let kinds: Vec<&str> = timeline
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"chatops.verify.acknowledge"), "{timeline}");
    }

    drop((a, b));
    shared.remove().await;
}

/// The current calendar minute (the Redis rate limiter's window).
fn minute() -> i64 {
    chrono::Utc::now().timestamp() / 60
}

#[tokio::test]
async fn a_tenants_inbox_rate_limit_is_one_budget_across_replicas() {
    const LIMIT: usize = 6;
    let limit = LIMIT.to_string();
    let shared = Shared::create("rate").await;
    let (a, b) = shared
        .replicas(&[("AISOC_INBOX_RATE_LIMIT_PER_MIN", &limit)])
        .await;
    let replicas = [&a, &b];
    let http = reqwest::Client::new();

    // The limit counts per calendar minute; a run that straddles a minute boundary is not
    // evidence either way, so it is repeated with a fresh tenant (at most three runs).
    let mut decided = false;
    for _ in 0..3 {
        let tenant = format!("rate{:08x}", rand::random::<u32>());
        let minted: Value = http
            .post(a.url("/v1/admin/inbox/tokens"))
            .bearer_auth(ADMIN)
            .json(&json!({"tenant_id": tenant, "template": "generic-json"}))
            .json_reply()
            .await;
        let token = minted["token"].as_str().expect("an inbox token").to_owned();
        let window = minute();
        let mut statuses = Vec::new();
        for i in 0..=LIMIT + 1 {
            let replica = replicas[i % 2];
            let answer = http
                .post(replica.url(&format!("/v1/inbox/{token}")))
                .json(&json!({"title": format!("event {i}")}))
                .send()
                .await
                .unwrap();
            statuses.push(answer.status().as_u16());
        }
        if minute() != window {
            continue;
        }
        let passed = vec![200; LIMIT];
        assert_eq!(statuses[..LIMIT], passed, "{statuses:?}");
        assert_eq!(
            statuses[LIMIT..],
            [429, 429],
            "over the limit on B then on A: {statuses:?}"
        );
        decided = true;
        break;
    }
    assert!(decided, "three runs each straddled a minute boundary");

    drop((a, b));
    shared.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_queued_notifications_alternating_replicas_arrive_once_each() {
    const QUEUED: usize = 500;
    let shared = Shared::create("bulk").await;
    let (a, b) = shared.replicas(&[]).await;
    let replicas = [&a, &b];
    let (peer, recorder) = webhook_peer().await;
    let http = reqwest::Client::new();
    add_webhook(&http, &b, format!("{}/hook", peer.uri()), "bulk_lane").await;
    // No waiting for A to load B's channel: a first attempt re-reads the stored channels, so
    // A's worker uses the channel even when it takes a notification before A's refresh.

    futures::stream::iter(0..QUEUED)
        .for_each_concurrent(16, |i| {
            let (http, replica) = (&http, replicas[i % 2]);
            async move {
                let answer = http
                    .post(replica.url("/v1/notifications?delivery=queued"))
                    .bearer_auth(ADMIN)
                    .json(&notification("bulk_lane", &format!("bulk-{i:03}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 202, "{i}");
            }
        })
        .await;

    recorder.wait_for(QUEUED, Duration::from_secs(60)).await;
    // Every delivery acknowledged: the work queue is empty, so nothing more is on its way.
    let nats = async_nats::connect(NATS).await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let mut stream = js.get_stream(&shared.stream).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stream.info().await.unwrap().state.messages > 0 {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let arrivals = recorder.arrivals.lock().unwrap().clone();
    let keys: HashSet<&str> = arrivals.iter().map(|a| a.key.as_str()).collect();
    let titles: HashSet<&str> = arrivals.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(arrivals.len(), QUEUED, "500 requests in total, none twice");
    assert!(!keys.contains(""), "every delivery carries its key");
    assert_eq!(keys.len(), QUEUED, "500 distinct idempotency keys");
    assert_eq!(titles.len(), QUEUED, "500 distinct notifications");

    drop((a, b));
    shared.remove().await;
}
