//! An approval a playbook run waits on, decided over REST on the real gateway binary, resumes
//! the run through the orchestrator's webhook (a wiremock peer): retried when the orchestrator
//! answers 503, exactly once when it accepts, with the approval id as `Idempotency-Key`. A resume the
//! orchestrator refuses (400) is dead: the admin route and the CLI list it, and once the
//! orchestrator is fixed a replay delivers it — on PostgreSQL, with the same key.
//!
//! The gateway runs in its own process, so waiting for its background delivery is a bounded
//! poll of what the peer received.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::{Gateway, JsonReply};

const ADMIN: &str = "follow-up-admin";
const HMAC_SECRET: &str = "an-hmac-secret-of-at-least-32-bytes!";
const RESUME_PATH: &str = "/orchestrator/resume";
const RESUME_SECRET: &str = "whsec_cmVzdW1lLWtleS1mb3ItdGhlLWZvbGxvdy11cC10ZXN0cw==";

async fn gateway(peer: &MockServer, extra: &[(&str, &str)]) -> Gateway {
    let resume_url = format!("{}{RESUME_PATH}", peer.uri());
    let mut env = vec![
        ("AISOC_PLAYBOOK_RESUME_URL", resume_url.as_str()),
        ("AISOC_CHATOPS_HMAC_SECRET", HMAC_SECRET),
        ("AISOC_PLAYBOOK_RESUME_SECRET", RESUME_SECRET),
    ];
    env.extend_from_slice(extra);
    Gateway::start_with(Some(ADMIN), &[], &env).await.0
}

async fn resumes(peer: &MockServer) -> Vec<wiremock::Request> {
    peer.received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == RESUME_PATH)
        .collect()
}

/// Waits (at most 20 s) until the peer received `count` resume requests.
async fn wait_for_resumes(peer: &MockServer, count: usize) -> Vec<wiremock::Request> {
    let started = Instant::now();
    loop {
        let received = resumes(peer).await;
        if received.len() >= count {
            return received;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{count} resume request(s) within 20 s, got {}",
            received.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_waiting_approval(gateway: &Gateway, http: &reqwest::Client) -> String {
    let response = http
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "summary": "Isolate host web-01",
            "requested_action": "isolate_host",
            "risk_score": 82,
            "run_id": "run-42",
            "case_id": "case-7",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        (&created["run_id"], &created["case_id"], &created["status"]),
        (&json!("run-42"), &json!("case-7"), &json!("pending")),
        "{created}"
    );
    created["id"].as_str().unwrap().to_owned()
}

async fn decide(gateway: &Gateway, http: &reqwest::Client, id: &str, decision: &str) {
    let decided = http
        .post(gateway.url(&format!("/v1/approvals/{id}/decision?tenant_id=acme")))
        .bearer_auth(ADMIN)
        .json(&json!({"decision": decision, "reviewer": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 200, "{:?}", decided.text().await);
}

#[tokio::test]
async fn an_approval_decided_over_rest_resumes_its_run_once_after_a_503() {
    let peer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(RESUME_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path(RESUME_PATH))
        .respond_with(ResponseTemplate::new(204))
        .mount(&peer)
        .await;
    let gateway = gateway(&peer, &[]).await;
    let http = reqwest::Client::new();

    for (field, value) in [("run_id", String::new()), ("case_id", "c".repeat(129))] {
        let refused = http
            .post(gateway.url("/v1/approvals"))
            .bearer_auth(ADMIN)
            .json(&json!({"tenant_id": "acme", "summary": "Block 203.0.113.7",
                "requested_action": "block_ip", field: value}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422, "{field}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(
            body["error"],
            format!("invalid input: {field} must be 1-128 characters")
        );
    }

    let id = create_waiting_approval(&gateway, &http).await;
    assert!(
        resumes(&peer).await.is_empty(),
        "nothing before the decision"
    );
    decide(&gateway, &http, &id, "approve").await;

    let received = wait_for_resumes(&peer, 2).await;
    // The resume is done once the orchestrator accepted it: nothing more will be sent.
    let done: Value = http
        .get(gateway.url("/v1/admin/follow-ups?state=done"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    let done = done
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the resume is done: {done}"))
        .clone();
    // The 503 is retried by the delivery client within the attempt, or by the dispatcher after
    // its backoff; either way the resume is delivered once.
    assert_eq!(
        (
            &done["flow"],
            &done["kind"],
            &done["choice"],
            &done["last_error"]
        ),
        (
            &json!("approval"),
            &json!("resume"),
            &json!("approve"),
            &Value::Null
        ),
        "{done}"
    );
    let received_after_done = resumes(&peer).await;
    assert_eq!(
        received_after_done.len(),
        2,
        "one refused attempt, one delivery"
    );
    for request in &received {
        assert_eq!(request.headers["idempotency-key"], id.as_str());
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"run_id": "run-42", "branch": "approve", "flow": "approval",
                "approval_id": id, "idempotency_key": id, "case_id": "case-7"})
        );
        // Signed as a Standard Webhook under the resume key; the callback key signs nothing.
        assert_eq!(request.headers["webhook-id"], id.as_str());
        let stamp = request.headers["webhook-timestamp"].to_str().unwrap();
        let key =
            aisoc_notify_core::signature::StandardWebhooksKey::from_secret(RESUME_SECRET).unwrap();
        assert_eq!(
            request.headers["webhook-signature"].to_str().unwrap(),
            key.sign(&id, stamp.parse().unwrap(), &request.body)
        );
        assert!(request.headers.get("x-aisoc-signature").is_none());
    }

    // With the orchestrator answering, the next decision reaches it exactly once.
    let second = create_waiting_approval(&gateway, &http).await;
    decide(&gateway, &http, &second, "deny").await;
    wait_for_resumes(&peer, 3).await;
    let started = Instant::now();
    loop {
        let done: Value = http
            .get(gateway.url("/v1/admin/follow-ups?state=done"))
            .bearer_auth(ADMIN)
            .json_reply()
            .await;
        if done
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == second.as_str())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "done within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let keyed: Vec<Value> = resumes(&peer)
        .await
        .iter()
        .filter(|r| r.headers["idempotency-key"] == second.as_str())
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(keyed.len(), 1, "exactly once: {keyed:?}");
    assert_eq!(keyed[0]["branch"], "deny");
}

async fn cli(args: &[&str]) -> (i32, Value, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_aisoc-notify"))
            .args(args)
            .env_remove("AISOC_ADMIN_TOKEN")
            .env_remove("AISOC_GATEWAY_URL")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the CLI finishes within 60 s")
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (
        output.status.code().expect("exited"),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8(output.stderr).unwrap(),
    )
}

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[tokio::test]
async fn a_refused_resume_is_dead_listed_and_replayed_by_the_cli_once_the_orchestrator_is_fixed() {
    use sqlx::Connection as _;
    let database = format!("aisoc_follow_ups_{:016x}", rand::random::<u64>());
    let mut admin_db = sqlx::PgConnection::connect(POSTGRES)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin_db)
        .await
        .unwrap();
    let database_url = format!("postgres://postgres@127.0.0.1:5432/{database}");

    let peer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(RESUME_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_string("unknown run"))
        .mount(&peer)
        .await;
    let gateway = gateway(&peer, &[("DATABASE_URL", database_url.as_str())]).await;
    let http = reqwest::Client::new();
    let id = create_waiting_approval(&gateway, &http).await;
    decide(&gateway, &http, &id, "deny").await;
    wait_for_resumes(&peer, 1).await;

    let started = Instant::now();
    let dead = loop {
        let dead: Value = http
            .get(gateway.url("/v1/admin/follow-ups?state=dead"))
            .bearer_auth(ADMIN)
            .json_reply()
            .await;
        if !dead.as_array().unwrap().is_empty() {
            break dead;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dead within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead.as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(
        (
            &dead[0]["flow"],
            &dead[0]["id"],
            &dead[0]["kind"],
            &dead[0]["choice"]
        ),
        (
            &json!("approval"),
            &json!(id),
            &json!("resume"),
            &json!("deny")
        ),
        "{dead}"
    );
    assert_eq!(
        dead[0]["last_error"],
        "non_retryable: the orchestrator answered HTTP 400"
    );

    let base = gateway.base.clone();
    let connection = ["--gateway", base.as_str(), "--admin-token", ADMIN];
    let follow_ups = |verb: &'static str, extra: &[&str]| {
        let args: Vec<String> = ["follow-ups", verb]
            .iter()
            .chain(connection.iter())
            .chain(extra.iter())
            .map(|s| (*s).to_owned())
            .collect();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&refs).await
        }
    };
    let (code, listed, stderr) = follow_ups("list", &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(listed, dead, "the CLI lists dead follow-ups by default");
    let (code, _, stderr) = follow_ups("replay", &["apr_unknown", "resume"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("404"), "{stderr}");

    // The orchestrator is fixed; the operator replays the resume.
    peer.reset().await;
    Mock::given(method("POST"))
        .and(path(RESUME_PATH))
        .respond_with(ResponseTemplate::new(204))
        .mount(&peer)
        .await;
    let (code, replayed, stderr) = follow_ups("replay", &[&id, "resume"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (&replayed["state"], &replayed["attempts"]),
        (&json!("pending"), &json!(0)),
        "{replayed}"
    );
    let delivered = wait_for_resumes(&peer, 1).await;
    assert_eq!(delivered[0].headers["idempotency-key"], id.as_str());
    let started = Instant::now();
    loop {
        let (code, done, stderr) = follow_ups("list", &["--state", "done"]).await;
        assert_eq!(code, 0, "{stderr}");
        if done
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == id.as_str())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "done within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, dead, _) = follow_ups("list", &[]).await;
    assert_eq!(dead, json!([]));
    let (code, _, stderr) = follow_ups("replay", &[&id, "resume"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("409"), "{stderr}");
    let (code, _, stderr) = follow_ups("list", &["--state", "stuck"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("400"), "{stderr}");

    drop(gateway);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
    )))
    .execute(&mut admin_db)
    .await
    .unwrap();
}
