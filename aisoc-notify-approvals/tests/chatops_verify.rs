//! chatops.verify end to end: the prompt goes out through mock Slack and Teams, the buttons
//! carry valid tokens, and clicking them through the callback route records one answer and
//! resumes the playbook once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_approvals::routes::router;
use aisoc_notify_approvals::verify::{
    CaseTimeline, ChatTransport, ChatopsVerifyConfig, ChatopsVerifyExecutor, CredentialProvider,
    MemoryVerificationStore, PlaybookResumer, TimelineEvent, VerificationStore, VerifyCallback,
};
use aisoc_notify_core::clock::{Clock, ManualClock};
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_core::token::CallbackTokenSigner;
use aisoc_notify_core::{ActionExecutor, ActionRequest, ActionStatus, async_trait};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "chatops-verify-test-secret-0123456789";
const BASE: &str = "https://aisoc.example.com/v1/chatops/verify/";

struct Credentials {
    slack_api: String,
    teams_webhook: String,
}

#[async_trait]
impl CredentialProvider for Credentials {
    async fn chat_transport(&self, tenant_id: &str) -> Result<Option<ChatTransport>, String> {
        Ok(match tenant_id {
            "acme" => Some(ChatTransport::Slack {
                bot_token: SecretString::from("xoxb-acme".to_owned()),
                api_base: Some(self.slack_api.clone()),
            }),
            "contoso" => Some(ChatTransport::Teams {
                webhook_url: SecretString::from(self.teams_webhook.clone()),
            }),
            _ => None,
        })
    }
}

#[derive(Default)]
struct Recorder {
    timeline: Mutex<Vec<TimelineEvent>>,
    resumed: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl CaseTimeline for Recorder {
    async fn record(&self, event: TimelineEvent) -> Result<(), String> {
        self.timeline.lock().unwrap().push(event);
        Ok(())
    }
}

#[async_trait]
impl PlaybookResumer for Recorder {
    async fn resume(&self, run_id: &str, branch: &str) -> Result<(), String> {
        self.resumed
            .lock()
            .unwrap()
            .push((run_id.to_owned(), branch.to_owned()));
        Ok(())
    }
}

fn config(enabled: bool) -> ChatopsVerifyConfig {
    ChatopsVerifyConfig::from_lookup(|name| match name {
        "AISOC_FEATURE_CHATOPS_VERIFY" => Some(if enabled { "1" } else { "0" }.into()),
        "AISOC_ACTIONS_PUBLIC_URL" => Some("https://aisoc.example.com".into()),
        "AISOC_CHATOPS_HMAC_SECRET" => Some(SECRET.into()),
        _ => None,
    })
    .unwrap()
}

struct Harness {
    slack: MockServer,
    teams: MockServer,
    recorder: Arc<Recorder>,
    store: Arc<MemoryVerificationStore>,
    clock: Arc<ManualClock>,
}

impl Harness {
    async fn new() -> Self {
        let slack = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(
                    json!({"ok": true, "channel": "D0USER", "ts": "1700000000.000100"}),
                ),
            )
            .mount(&slack)
            .await;
        let teams = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(202))
            .mount(&teams)
            .await;
        Self {
            slack,
            teams,
            recorder: Arc::new(Recorder::default()),
            store: Arc::new(MemoryVerificationStore::new()),
            clock: Arc::new(ManualClock::new(chrono::Utc::now())),
        }
    }

    fn executor(&self, enabled: bool) -> ChatopsVerifyExecutor {
        let credentials = Credentials {
            slack_api: format!("{}/api/", self.slack.uri()),
            teams_webhook: format!("{}/workflows/hook", self.teams.uri()),
        };
        ChatopsVerifyExecutor::new(
            config(enabled),
            Arc::new(credentials),
            self.recorder.clone(),
            self.store.clone(),
        )
        .unwrap()
        .with_clock(self.clock.clone())
        .unwrap()
    }

    fn callback_app(&self, clock: Arc<ManualClock>) -> axum::Router {
        let signer: Arc<dyn CallbackTokenSigner> =
            Arc::new(config(true).signer().unwrap().with_clock(clock));
        let store: Arc<dyn VerificationStore> = self.store.clone();
        router(VerifyCallback::new(
            signer,
            store,
            self.recorder.clone(),
            self.recorder.clone(),
        ))
    }
}

fn request(tenant: &str) -> ActionRequest {
    ActionRequest::new("chatops.verify", tenant)
        .with_case("case-7")
        .with_parameter("user", "U0ALICE")
        .with_parameter("title", "Sign-in from {{ context.country }}")
        .with_parameter(
            "message",
            "Someone signed in as you from {{ context.city }}. Was this you?",
        )
        .with_context(json!({"country": "Portugal", "city": "Lisbon"}))
        .with_run("run-1")
}

async fn click(app: &axum::Router, url: &str) -> (StatusCode, String) {
    let token = url
        .strip_prefix(BASE)
        .expect("button URL under the public callback base");
    let response = app
        .clone()
        .oneshot(
            Request::get(format!("/chatops/verify/{token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn slack_button_urls(body: &Value) -> Vec<String> {
    let blocks = body["attachments"][0]["blocks"].as_array().unwrap();
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["url"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn slack_prompt_click_once_then_every_other_click_fails_distinctly() {
    let h = Harness::new().await;
    let result = h.executor(true).execute(&request("acme")).await;
    assert_eq!(result.status, ActionStatus::Running, "{result:?}");
    assert_eq!(result.output["transport"], "slack");

    let posted = &h.slack.received_requests().await.unwrap()[0];
    assert_eq!(posted.headers["authorization"], "Bearer xoxb-acme");
    let body: Value = serde_json::from_slice(&posted.body).unwrap();
    assert_eq!(
        body["channel"], "U0ALICE",
        "a direct message to the affected user"
    );
    assert!(body.to_string().contains("Sign-in from Portugal"));
    let urls = slack_button_urls(&body);
    assert_eq!(urls.len(), 3);
    let signer = config(true).signer().unwrap();
    let prompt_id = result.output["prompt_id"].as_str().unwrap();
    for (url, choice) in urls.iter().zip(["acknowledge", "deny", "escalate"]) {
        let claims = signer.verify(url.strip_prefix(BASE).unwrap()).unwrap();
        assert_eq!(claims.choice, choice);
        assert_eq!(claims.case_id, "case-7");
        assert_eq!(claims.user_ref, "U0ALICE");
        assert_eq!(claims.prompt_id.as_deref(), Some(prompt_id));
        assert_eq!(claims.expires_at - claims.issued_at, 1800);
    }
    {
        let timeline = h.recorder.timeline.lock().unwrap();
        assert_eq!(timeline.len(), 1);
        assert_eq!(timeline[0].kind, "chatops.verify.prompted");
        assert_eq!(timeline[0].case_id, "case-7");
    }

    let app = h.callback_app(h.clock.clone());
    let (status, page) = click(&app, &urls[1]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Answer recorded"));

    let (status, page) = click(&app, &urls[1]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("You already answered 'deny'"), "{page}");

    let (status, page) = click(&app, &urls[0]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("already answered with 'deny'"), "{page}");

    let mut forged = urls[0].clone();
    let len = forged.len();
    forged.replace_range(
        len - 3..len,
        if forged.ends_with("AAA") {
            "BBB"
        } else {
            "AAA"
        },
    );
    let (status, page) = click(&app, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("This link is not valid."), "{page}");

    let timeline: Vec<String> = h
        .recorder
        .timeline
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(
        timeline,
        ["chatops.verify.prompted", "chatops.verify.deny"],
        "recorded exactly once"
    );
    assert_eq!(
        *h.recorder.resumed.lock().unwrap(),
        [("run-1".to_owned(), "deny".to_owned())],
        "resumed once"
    );
}

#[tokio::test]
async fn an_expired_link_is_refused_as_expired() {
    let h = Harness::new().await;
    let result = h.executor(true).execute(&request("acme")).await;
    assert_eq!(result.status, ActionStatus::Running);
    let body: Value =
        serde_json::from_slice(&h.slack.received_requests().await.unwrap()[0].body).unwrap();
    let urls = slack_button_urls(&body);

    let later = Arc::new(ManualClock::new(h.clock.now()));
    later.advance(Duration::from_secs(1801));
    let (status, page) = click(&h.callback_app(later), &urls[0]).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This link has expired"), "{page}");
    assert!(h.recorder.resumed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn teams_prompt_is_a_card_with_three_signed_links() {
    let h = Harness::new().await;
    let result = h.executor(true).execute(&request("contoso")).await;
    assert_eq!(result.status, ActionStatus::Running, "{result:?}");
    assert_eq!(result.output["transport"], "teams");
    let body: Value =
        serde_json::from_slice(&h.teams.received_requests().await.unwrap()[0].body).unwrap();
    let card = &body["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    let actions = card["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 3);
    let signer = config(true).signer().unwrap();
    for (action, choice) in actions.iter().zip(["acknowledge", "deny", "escalate"]) {
        assert_eq!(action["type"], "Action.OpenUrl");
        let token = action["url"].as_str().unwrap().strip_prefix(BASE).unwrap();
        assert_eq!(signer.verify(token).unwrap().choice, choice);
    }
    let (status, _) = click(
        &h.callback_app(h.clock.clone()),
        actions[2]["url"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        *h.recorder.resumed.lock().unwrap(),
        [("run-1".to_owned(), "escalate".to_owned())]
    );
}

#[tokio::test]
async fn with_the_flag_off_or_no_credentials_the_action_fails_loudly() {
    let h = Harness::new().await;
    let off = h.executor(false).execute(&request("acme")).await;
    assert_eq!(off.status, ActionStatus::Failed);
    assert_eq!(off.error.as_deref(), Some("chatops.verify is disabled"));

    let unknown = h.executor(true).execute(&request("initech")).await;
    assert_eq!(unknown.status, ActionStatus::Failed);
    assert!(
        unknown
            .error
            .unwrap()
            .contains("no Slack or Teams credentials")
    );
    assert!(h.slack.received_requests().await.unwrap().is_empty());
    assert!(h.recorder.timeline.lock().unwrap().is_empty());
}

#[test]
fn configuration_errors_name_the_variable() {
    let err = ChatopsVerifyConfig::from_lookup(|_| None).unwrap_err();
    assert_eq!(err.to_string(), "AISOC_ACTIONS_PUBLIC_URL is not set");
    let err = ChatopsVerifyConfig::from_lookup(|name| match name {
        "AISOC_ACTIONS_PUBLIC_URL" => Some("https://x.example".into()),
        "AISOC_CHATOPS_HMAC_SECRET" => Some("short".into()),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "AISOC_CHATOPS_HMAC_SECRET: must be at least 32 bytes"
    );
    let config = config(true);
    assert_eq!(config.callback_base.as_str(), BASE);
    assert_eq!(config.timeout, Duration::from_secs(1800));
    assert!(!format!("{config:?}").contains(SECRET));
}
