//! Decisions under a crash: the gateway is killed with SIGKILL after a person's
//! `chatops.verify` answer and a reviewer's approval decision are recorded, while both playbook
//! resumes are in flight; after a restart each run must be resumed exactly once (one answered
//! resume per idempotency key: the prompt id and the approval id).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::HarnessError;
use crate::gateway::{ADMIN_TOKEN, Gateway};
use crate::report::Row;
use crate::services::PrivateDatabase;

/// What the stand-ins for Slack and the orchestrator saw.
#[derive(Default)]
struct Seen {
    /// Slack messages posted (the prompt with its answer links).
    slack: Vec<Value>,
    /// Resume requests received, by idempotency key.
    received: HashMap<String, usize>,
    /// Resume requests answered 2xx, by idempotency key.
    answered: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Seen>>;

async fn slack_post(State(seen): State<Shared>, body: axum::body::Bytes) -> Response {
    let message: Value = serde_json::from_slice(&body).unwrap_or_default();
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .slack
        .push(message);
    axum::Json(json!({"ok": true, "channel": "D0CHAOS", "ts": "1700000000.000100"})).into_response()
}

/// The first resume for a key hangs (the gateway is killed meanwhile); later ones are answered.
async fn resume(State(seen): State<Shared>, headers: HeaderMap) -> Response {
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let first = {
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        let count = seen.received.entry(key.clone()).or_default();
        *count += 1;
        *count == 1
    };
    if first {
        // Longer than the whole run: this one is never answered.
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    *seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .answered
        .entry(key)
        .or_default() += 1;
    StatusCode::NO_CONTENT.into_response()
}

/// Finds the first answer link in the posted Slack message.
fn answer_link(message: &Value) -> Option<String> {
    let text = message.to_string();
    let start = text.find("http://")?;
    let link: String = text[start..]
        .chars()
        .take_while(|c| !matches!(c, '"' | '\\' | '>' | '|'))
        .collect();
    link.contains("/v1/chatops/verify/").then_some(link)
}

async fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// The answer and the decision are recorded, their resumes are in flight, the gateway is
/// killed -9 and restarted.
pub(crate) async fn killed_between_answer_and_resume() -> Result<Row, HarnessError> {
    let started = Instant::now();
    let database = PrivateDatabase::create().await?;
    let seen: Shared = Arc::default();
    let app = Router::new()
        .route("/api/chat.postMessage", post(slack_post))
        .route("/resume", post(resume))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let peer = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut gateway = Gateway::start(&[
        ("DATABASE_URL", database.url()),
        ("AISOC_FEATURE_CHATOPS_VERIFY", "1".to_owned()),
        ("SLACK_BOT_TOKEN", "xoxb-chaos-token".to_owned()),
        ("SLACK_API_BASE", format!("http://{peer}/api/")),
        ("AISOC_PLAYBOOK_RESUME_URL", format!("http://{peer}/resume")),
        // Kept across the restart, so the answer link stays valid.
        (
            "AISOC_CHATOPS_HMAC_SECRET",
            "chaos-harness-hmac-secret-of-at-least-32-bytes".to_owned(),
        ),
        // A claimed resume whose process died is free again after 3 s instead of 5 minutes.
        ("AISOC_CHATOPS_FOLLOW_UP_LEASE_SECONDS", "3".to_owned()),
    ])
    .await?;
    let http = reqwest::Client::new();
    let prompted = http
        .post(gateway.url("/v1/actions"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "action_type": "chatops.verify",
            "tenant_id": "chaos",
            "case_id": "case-1",
            "run_id": "run-1",
            "parameters": {"user": "U0CHAOS", "message": "Did you sign in from Lisbon?"}
        }))
        .send()
        .await?;
    if prompted.status() != StatusCode::ACCEPTED {
        return Err(HarnessError::new(format!(
            "chatops.verify was not prompted: {} {}",
            prompted.status(),
            prompted.text().await.unwrap_or_default()
        )));
    }
    let link = {
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.slack.first().and_then(answer_link)
    }
    .ok_or_else(|| HarnessError::new("no answer link in the Slack message"))?;

    let answered = http.post(&link).send().await?.status().is_success();

    // An approval the run `run-2` waits on, decided over REST.
    let created = http
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "tenant_id": "chaos",
            "summary": "Isolate host web-01",
            "requested_action": "isolate_host",
            "run_id": "run-2",
            "case_id": "case-1"
        }))
        .send()
        .await?;
    if created.status() != StatusCode::CREATED {
        return Err(HarnessError::new(format!(
            "the approval was not created: {} {}",
            created.status(),
            created.text().await.unwrap_or_default()
        )));
    }
    let approval: Value = created.json().await?;
    let approval_id = approval["id"].as_str().unwrap_or_default().to_owned();
    let decision = http
        .post(gateway.url(&format!(
            "/v1/approvals/{approval_id}/decision?tenant_id=chaos"
        )))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"decision": "approve", "reviewer": "chaos"}))
        .send()
        .await?;
    // Both must be recorded for the scenario to mean anything: a refusal is a harness error,
    // not a quietly smaller "acknowledged" count.
    if !answered || !decision.status().is_success() {
        return Err(HarnessError::new(format!(
            "not recorded: the answer {}, the decision {} {}",
            if answered { "was" } else { "was not" },
            decision.status(),
            decision.text().await.unwrap_or_default()
        )));
    }
    let recorded = 2;

    let in_flight = wait_until(Duration::from_secs(15), || {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .received
            .len()
            >= recorded
    })
    .await;
    if !in_flight {
        return Err(HarnessError::new(
            "the resumes never reached the orchestrator",
        ));
    }
    gateway.kill9().await?;
    gateway.restart().await?;
    wait_until(Duration::from_secs(30), || {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .answered
            .len()
            >= recorded
    })
    .await;
    // Long enough for a second resume to show up if one were coming (lease 3 s, poll 1 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (resumed, duplicated, received) = {
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        (
            seen.answered.len(),
            seen.answered.values().map(|n| n.saturating_sub(1)).sum(),
            seen.received.values().sum::<usize>(),
        )
    };
    println!(
        "decisions: the orchestrator received {received} resume request(s), answered {} of them",
        resumed + duplicated
    );
    gateway.kill9().await?;
    server.abort();
    database.drop_database().await?;
    Ok(Row {
        scenario: "decisions: killed before the resume",
        sent: 2,
        acknowledged: recorded,
        stored: resumed,
        lost: recorded.saturating_sub(resumed),
        duplicated,
        exactly_once: true,
        wall: started.elapsed(),
    })
}
