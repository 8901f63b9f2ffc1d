//! Interaction and slash-command routes, driven with real signed requests through the axum
//! router; replies arrive at a mock `response_url`.
#![cfg(feature = "axum")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest, DecisionSource,
};
use aisoc_notify_core::{DeliveryClient, DeliveryConfig, DestinationPolicy, Severity, async_trait};
use aisoc_notify_slack::commands::{
    BackendError, CaseCard, CaseSummary, ChatOpsBackend, CommandContext, GatedActionKind,
    GatedActionRequest, InvestigationStarted, PendingApproval,
};
use aisoc_notify_slack::routes::{SlackRoutes, router};
use aisoc_notify_slack::signature::SlackSignatureVerifier;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "test-signing-secret";

/// The shared decision rules, in memory, recording every request it saw.
#[derive(Default)]
struct Approvals {
    status: Mutex<HashMap<String, Option<Decision>>>,
    seen: Mutex<Vec<DecisionRequest>>,
}

#[async_trait]
impl DecisionHandler for Approvals {
    async fn decide(&self, request: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
        self.seen.lock().unwrap().push(request.clone());
        let mut status = self.status.lock().unwrap();
        let entry = status
            .get_mut(&request.approval_id)
            .ok_or(DecisionError::NotFound)?;
        if let Some(previous) = entry {
            return Err(DecisionError::AlreadyReviewed(*previous));
        }
        *entry = Some(request.decision);
        Ok(DecisionRecorded {
            approval_id: request.approval_id,
            decision: request.decision,
            reviewer_name: request.reviewer.name,
        })
    }
}

#[derive(Default)]
struct Backend {
    gated: Mutex<Vec<GatedActionRequest>>,
}

#[async_trait]
impl ChatOpsBackend for Backend {
    async fn list_open_cases(&self, _: &CommandContext) -> Result<Vec<CaseCard>, BackendError> {
        let severities = [
            Severity::Low,
            Severity::Critical,
            Severity::Medium,
            Severity::High,
        ];
        Ok((0..12)
            .map(|i| CaseCard {
                id: format!("CASE-{i}"),
                title: format!("Case number {i}"),
                severity: severities[i % 4],
                status: "open".into(),
                url: Some(
                    format!("https://console.example.com/cases/{i}")
                        .parse()
                        .unwrap(),
                ),
            })
            .collect())
    }

    async fn start_investigation(
        &self,
        _: &CommandContext,
        case_id: &str,
    ) -> Result<InvestigationStarted, BackendError> {
        if case_id == "CASE-404" {
            return Err(BackendError("Case CASE-404 not found".into()));
        }
        Ok(InvestigationStarted {
            run_id: "run-7".into(),
            url: None,
            details: None,
        })
    }

    async fn case_summary(
        &self,
        _: &CommandContext,
        case_id: &str,
    ) -> Result<CaseSummary, BackendError> {
        Ok(CaseSummary {
            case_id: case_id.into(),
            title: "Beaconing from web-01".into(),
            summary: "web-01 contacted a known C2 domain 40 times.".into(),
            severity: Severity::High,
            url: None,
        })
    }

    async fn submit_gated_action(
        &self,
        _: &CommandContext,
        action: GatedActionRequest,
    ) -> Result<PendingApproval, BackendError> {
        self.gated.lock().unwrap().push(action);
        Ok(PendingApproval {
            approval_id: "apr-100".into(),
            summary: "Isolating cuts the host off the network until released.".into(),
            risk_score: Some(70),
            console_url: None,
        })
    }
}

struct Harness {
    app: axum::Router,
    approvals: Arc<Approvals>,
    backend: Arc<Backend>,
    response_url: MockServer,
}

async fn harness() -> Harness {
    let approvals = Arc::new(Approvals::default());
    for id in ["apr-1", "apr-2"] {
        approvals.status.lock().unwrap().insert(id.into(), None);
    }
    let backend = Arc::new(Backend::default());
    let response_url = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&response_url)
        .await;
    // The response_url mock listens on 127.0.0.1, which the outbound guard refuses by default.
    let responder = DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let routes = SlackRoutes::new(SlackSignatureVerifier::new(SECRET), approvals.clone())
        .unwrap()
        .with_backend(backend.clone())
        .with_responder(responder);
    Harness {
        app: axum::Router::new().nest("/v1/slack", router(routes)),
        approvals,
        backend,
        response_url,
    }
}

fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn signed(path: &str, body: String, timestamp: &str) -> Request<Body> {
    let signature = SlackSignatureVerifier::new(SECRET).sign(timestamp, body.as_bytes());
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp)
        .header("x-slack-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn block_actions(action_id: &str, value: &str, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U2CERLKJA", "username": "roadrunner", "team_id": "T1DC2JH3J"},
        "api_app_id": "A123",
        "container": {"type": "message_attachment", "message_ts": "1548261231.000200", "attachment_id": 1},
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "channel": {"id": "CBR2V3XEX", "name": "security-alerts"},
        "response_url": response_url,
        "actions": [{
            "action_id": action_id, "block_id": "b1", "type": "button",
            "value": value, "action_ts": "1548426417.840180"
        }]
    });
    form(&[("payload", &payload.to_string())])
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

/// Waits for the mock response_url to have received `count` posts, and returns their bodies.
async fn replies(server: &MockServer, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        let requests = server.received_requests().await.unwrap();
        if requests.len() >= count {
            return requests
                .iter()
                .map(|r| serde_json::from_slice(&r.body).unwrap())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("expected {count} response_url posts");
}

#[tokio::test]
async fn approve_and_deny_replace_the_card_with_the_result() {
    let h = harness().await;
    let url = format!("{}/actions/T1/1/abc", h.response_url.uri());

    let (status, body) = send(
        &h.app,
        signed(
            "/v1/slack/interactions",
            block_actions("approve_action", "apr-1", &url),
            &now(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        Value::Null,
        "acknowledged at once, with an empty body"
    );
    let first = &replies(&h.response_url, 1).await[0];
    assert_eq!(first["replace_original"], true);
    assert_eq!(first["text"], ":white_check_mark: *APPROVED* by roadrunner");

    send(
        &h.app,
        signed(
            "/v1/slack/interactions",
            block_actions("platform_deny", "apr-2", &url),
            &now(),
        ),
    )
    .await;
    let second = &replies(&h.response_url, 2).await[1];
    assert_eq!(second["text"], ":x: *DENIED* by roadrunner");

    let seen = h.approvals.seen.lock().unwrap().clone();
    assert_eq!(seen[0].decision, Decision::Approve);
    assert_eq!(seen[0].source, DecisionSource::Slack);
    assert_eq!(seen[0].reviewer.id, "U2CERLKJA");
    assert_eq!(seen[1].decision, Decision::Deny);
}

#[tokio::test]
async fn a_second_decision_shows_the_reviewer_why_it_did_not_count() {
    let h = harness().await;
    let url = h.response_url.uri();
    send(
        &h.app,
        signed(
            "/v1/slack/interactions",
            block_actions("approve_action", "apr-1", &url),
            &now(),
        ),
    )
    .await;
    replies(&h.response_url, 1).await;
    send(
        &h.app,
        signed(
            "/v1/slack/interactions",
            block_actions("deny_action", "apr-1", &url),
            &now(),
        ),
    )
    .await;
    replies(&h.response_url, 2).await;
    send(
        &h.app,
        signed(
            "/v1/slack/interactions",
            block_actions("approve_action", "apr-missing", &url),
            &now(),
        ),
    )
    .await;
    let texts: Vec<String> = replies(&h.response_url, 3)
        .await
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            ":white_check_mark: *APPROVED* by roadrunner",
            ":warning: Already approved",
            ":warning: Approval request not found"
        ]
    );
}

#[tokio::test]
async fn link_buttons_need_no_reply() {
    let h = harness().await;
    let (status, _) = send(
        &h.app,
        signed(
            "/v1/slack/interactions",
            block_actions("view_console", "", &h.response_url.uri()),
            &now(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.response_url.received_requests().await.unwrap().is_empty());
    assert!(h.approvals.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unsigned_stale_or_forged_requests_are_401_before_parsing() {
    let h = harness().await;
    let body = block_actions("approve_action", "apr-1", &h.response_url.uri());

    let unsigned = Request::post("/v1/slack/interactions")
        .body(Body::from(body.clone()))
        .unwrap();
    let (status, error) = send(&h.app, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "missing X-Slack-Request-Timestamp header");

    let old = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 600)
        .to_string();
    let (status, error) = send(&h.app, signed("/v1/slack/interactions", body.clone(), &old)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        error["error"],
        "request timestamp is outside the five-minute window"
    );

    let mut forged = signed("/v1/slack/interactions", body.clone(), &now());
    *forged.body_mut() = Body::from(body.replace("apr-1", "apr-2"));
    let (status, error) = send(&h.app, forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "invalid signature");

    let (status, _) = send(
        &h.app,
        signed("/v1/slack/commands", form(&[("text", "list")]), "1"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        h.approvals.seen.lock().unwrap().is_empty(),
        "nothing reached the decision path"
    );
}

fn command(text: &str, response_url: &str) -> String {
    form(&[
        ("token", "legacy-token"),
        ("team_id", "T1DC2JH3J"),
        ("channel_id", "G8PSS9T3V"),
        ("user_id", "U2CERLKJA"),
        ("user_name", "roadrunner"),
        ("command", "/aisoc"),
        ("text", text),
        ("response_url", response_url),
        (
            "trigger_id",
            "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        ),
    ])
}

#[tokio::test]
async fn help_unknown_and_bad_arguments_are_answered_immediately() {
    let h = harness().await;
    let url = h.response_url.uri();
    for text in ["help", "", "reboot the world"] {
        let (status, body) = send(
            &h.app,
            signed("/v1/slack/commands", command(text, &url), &now()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["response_type"], "ephemeral");
        assert!(
            body["text"].as_str().unwrap().contains("/aisoc list"),
            "{text}: {body}"
        );
    }
    let (_, body) = send(
        &h.app,
        signed(
            "/v1/slack/commands",
            command("isolate bad_host!", &url),
            &now(),
        ),
    )
    .await;
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("`bad_host!` is not a valid host name"),
        "{body}"
    );
    let (_, body) = send(
        &h.app,
        signed(
            "/v1/slack/commands",
            command("block 999.1.1.1", &url),
            &now(),
        ),
    )
    .await;
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("is not an IPv4 or IPv6 address"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.response_url.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn list_is_acknowledged_then_the_top_ten_arrive_most_severe_first() {
    let h = harness().await;
    let (status, ack) = send(
        &h.app,
        signed(
            "/v1/slack/commands",
            command("list", &h.response_url.uri()),
            &now(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ack["text"]
            .as_str()
            .unwrap()
            .contains("Working on `/aisoc list`")
    );

    let reply = &replies(&h.response_url, 1).await[0];
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with("Top 10 of 12 open cases")
    );
    let attachments = reply["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 10);
    assert_eq!(attachments[0]["color"], Severity::Critical.color_hex());
    assert_eq!(attachments[9]["color"], Severity::Low.color_hex());
    let text = attachments[0]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains(":red_circle:") && text.contains("CASE-1"),
        "{text}"
    );
}

#[tokio::test]
async fn gated_actions_post_an_approval_card_and_never_execute() {
    let h = harness().await;
    send(
        &h.app,
        signed(
            "/v1/slack/commands",
            command("isolate web-01.corp", &h.response_url.uri()),
            &now(),
        ),
    )
    .await;
    let reply = &replies(&h.response_url, 1).await[0];
    assert_eq!(reply["response_type"], "in_channel");
    let blocks = reply["attachments"][0]["blocks"].as_array().unwrap();
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Isolate host web-01.corp")
    );
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(actions["elements"][0]["action_id"], "approve_action");
    assert_eq!(actions["elements"][0]["value"], "apr-100");
    assert_eq!(actions["elements"][1]["action_id"], "deny_action");

    let gated = h.backend.gated.lock().unwrap().clone();
    assert_eq!(gated.len(), 1);
    assert_eq!(gated[0].kind, GatedActionKind::IsolateHost);
    assert_eq!(gated[0].target, "web-01.corp");
    assert_eq!(gated[0].requested_by.name, "roadrunner");
}

#[tokio::test]
async fn investigate_explain_and_backend_errors_reach_the_response_url() {
    let h = harness().await;
    let url = h.response_url.uri();
    send(
        &h.app,
        signed(
            "/v1/slack/commands",
            command("investigate CASE-7", &url),
            &now(),
        ),
    )
    .await;
    let reply = &replies(&h.response_url, 1).await[0];
    assert_eq!(reply["response_type"], "in_channel");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("Investigation `run-7` started for case `CASE-7`")
    );

    send(
        &h.app,
        signed(
            "/v1/slack/commands",
            command("explain CASE-7", &url),
            &now(),
        ),
    )
    .await;
    let reply = &replies(&h.response_url, 2).await[1];
    assert!(reply.to_string().contains("contacted a known C2 domain"));

    send(
        &h.app,
        signed(
            "/v1/slack/commands",
            command("investigate CASE-404", &url),
            &now(),
        ),
    )
    .await;
    let reply = &replies(&h.response_url, 3).await[2];
    assert_eq!(reply["text"], ":warning: Case CASE-404 not found");
}
