//! chatops.verify end to end through a recording prompt transport: the prompt is posted once
//! with three valid links; opening one shows a confirmation page that records nothing; its
//! button records one answer, whose follow-ups the dispatcher delivers (one timeline entry, one
//! resume) and the posted prompt is updated; failures come back typed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_approvals::routes::router;
use aisoc_notify_approvals::verify::{
    AnswerOutbox, CaseTimeline, ChatopsVerifyConfig, ChatopsVerifyExecutor, CredentialProvider,
    FollowUpDispatcher, HookError, MemoryVerificationStore, PlaybookResumer, ResumeRequest,
    TimelineEvent, VerificationStore, VerifyCallback,
};
use aisoc_notify_core::clock::{Clock, ManualClock};
use aisoc_notify_core::prompt::stub::{PostedPrompt, RecordingPromptTransport};
use aisoc_notify_core::prompt::{PromptError, PromptOutcome, PromptReceipt, PromptTransport};
use aisoc_notify_core::token::CallbackTokenSigner;
use aisoc_notify_core::{
    ActionError, ActionExecutor, ActionRequest, ActionStatus, ExecutorRegistry, NotifyError,
    RetryClass, async_trait,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

const SECRET: &str = "chatops-verify-test-secret-0123456789";
const BASE: &str = "https://aisoc.example.com/v1/chatops/verify/";

/// `acme` chats through the recording transport, `initech` has no chat, `globex`'s vault is down.
struct Credentials(Arc<RecordingPromptTransport>);

#[async_trait]
impl CredentialProvider for Credentials {
    async fn prompt_transport(
        &self,
        tenant_id: &str,
    ) -> Result<Option<Arc<dyn PromptTransport>>, HookError> {
        match tenant_id {
            "acme" => Ok(Some(self.0.clone())),
            "globex" => Err(HookError::retryable("the vault is unavailable")),
            _ => Ok(None),
        }
    }
}

#[derive(Default)]
struct Recorder {
    timeline: Mutex<Vec<TimelineEvent>>,
    resumed: Mutex<Vec<(String, String)>>,
    timeline_down: bool,
}

#[async_trait]
impl CaseTimeline for Recorder {
    async fn record(&self, event: TimelineEvent) -> Result<(), HookError> {
        if self.timeline_down {
            return Err(HookError::retryable("the case service is unavailable"));
        }
        self.timeline.lock().unwrap().push(event);
        Ok(())
    }
}

#[async_trait]
impl PlaybookResumer for Recorder {
    async fn resume(&self, request: &ResumeRequest) -> Result<(), HookError> {
        self.resumed
            .lock()
            .unwrap()
            .push((request.run_id.clone(), request.branch.clone()));
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
    transport: Arc<RecordingPromptTransport>,
    recorder: Arc<Recorder>,
    store: Arc<MemoryVerificationStore>,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new() -> Self {
        Self::with(RecordingPromptTransport::new("chat"), Recorder::default())
    }

    fn with(transport: RecordingPromptTransport, recorder: Recorder) -> Self {
        Self {
            transport: Arc::new(transport),
            recorder: Arc::new(recorder),
            store: Arc::new(MemoryVerificationStore::new()),
            clock: Arc::new(ManualClock::new(chrono::Utc::now())),
        }
    }

    fn credentials(&self) -> Arc<Credentials> {
        Arc::new(Credentials(self.transport.clone()))
    }

    fn executor(&self, enabled: bool) -> ChatopsVerifyExecutor {
        ChatopsVerifyExecutor::new(
            config(enabled),
            self.credentials(),
            self.recorder.clone(),
            self.store.clone(),
        )
        .unwrap()
        .with_clock(self.clock.clone())
        .unwrap()
    }

    fn dispatcher(&self) -> Arc<FollowUpDispatcher> {
        Arc::new(
            FollowUpDispatcher::new(
                self.store.clone(),
                self.recorder.clone(),
                self.recorder.clone(),
            )
            .with_clock(self.clock.clone()),
        )
    }

    fn callback_app(
        &self,
        clock: Arc<ManualClock>,
        dispatcher: Arc<FollowUpDispatcher>,
    ) -> axum::Router {
        let signer: Arc<dyn CallbackTokenSigner> =
            Arc::new(config(true).signer().unwrap().with_clock(clock.clone()));
        let store: Arc<dyn VerificationStore> = self.store.clone();
        router(
            VerifyCallback::new(signer, store, dispatcher)
                .with_prompt_updates(self.credentials())
                .with_clock(clock),
        )
    }

    /// The links of the one verification prompt posted.
    fn links(&self) -> Vec<String> {
        match &self.transport.posted()[..] {
            [PostedPrompt::Verification { links, .. }] => {
                links.iter().map(|(_, url)| url.to_string()).collect()
            }
            other => panic!("one verification prompt, got {other:?}"),
        }
    }

    fn timeline(&self) -> Vec<String> {
        let timeline = self.recorder.timeline.lock().unwrap();
        timeline.iter().map(|e| e.kind.clone()).collect()
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

/// Opens `url` (`GET`, what a link preview does too) or presses the page's button (`POST`).
async fn send(app: &axum::Router, method: &str, url: &str) -> (StatusCode, String) {
    let token = url
        .strip_prefix(BASE)
        .expect("button URL under the public callback base");
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(format!("/chatops/verify/{token}"))
                .header("content-type", "application/x-www-form-urlencoded")
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

/// What a person does: opens the link, then presses the confirmation page's button.
async fn click(app: &axum::Router, url: &str) -> (StatusCode, String) {
    let (status, page) = send(app, "GET", url).await;
    if status != StatusCode::OK || !page.contains("<form method=\"post\"") {
        return (status, page);
    }
    send(app, "POST", url).await
}

#[tokio::test]
async fn a_prompt_is_posted_once_and_its_first_click_records_resumes_and_updates_it() {
    let h = Harness::new();
    let registry = ExecutorRegistry::new();
    registry.register("chatops.verify", Arc::new(h.executor(true)));
    let result = registry.execute(&request("acme")).await;
    assert_eq!(result.status, ActionStatus::Running, "{result:?}");
    assert_eq!(result.output["transport"], "chat");
    let receipt: PromptReceipt = serde_json::from_value(result.output["receipt"].clone()).unwrap();
    assert_eq!(receipt.channel.as_deref(), Some("U0ALICE"));

    let [PostedPrompt::Verification { prompt, .. }] = &h.transport.posted()[..] else {
        panic!("one verification prompt");
    };
    assert_eq!(prompt.user_ref, "U0ALICE");
    assert_eq!(prompt.title, "Sign-in from Portugal");
    assert_eq!(
        prompt.message,
        "Someone signed in as you from Lisbon. Was this you?"
    );
    assert_eq!(result.output["prompt_id"], prompt.prompt_id.as_str());
    let urls = h.links();
    let signer = config(true).signer().unwrap();
    for (url, choice) in urls.iter().zip(["acknowledge", "deny", "escalate"]) {
        let claims = signer.verify(url.strip_prefix(BASE).unwrap()).unwrap();
        assert_eq!(claims.choice, choice);
        assert_eq!(claims.case_id, "case-7");
        assert_eq!(claims.user_ref, "U0ALICE");
        assert_eq!(claims.prompt_id.as_deref(), Some(prompt.prompt_id.as_str()));
        assert_eq!(claims.expires_at - claims.issued_at, 1800);
    }
    assert_eq!(h.timeline(), ["chatops.verify.prompted"]);

    let dispatcher = h.dispatcher();
    let app = h.callback_app(h.clock.clone(), dispatcher.clone());
    // Opening the link, as a mail scanner or a link preview does, shows what was asked and
    // the choice, and records nothing.
    for method in ["GET", "GET", "HEAD"] {
        let (status, page) = send(&app, method, &urls[1]).await;
        assert_eq!(status, StatusCode::OK, "{method}: {page}");
        if method == "GET" {
            assert!(page.contains("Sign-in from Portugal"), "{page}");
            assert!(
                page.contains("Someone signed in as you from Lisbon"),
                "{page}"
            );
            assert!(page.contains("No, this wasn&#39;t me"), "{page}");
            assert!(page.contains("<form method=\"post\""), "{page}");
        }
    }
    assert_eq!(
        h.store
            .prompt(&prompt.tenant_id, &prompt.prompt_id)
            .await
            .unwrap()
            .unwrap()
            .answered,
        None,
        "a GET never records"
    );
    assert!(
        h.store
            .follow_ups(&prompt.prompt_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(dispatcher.run_due().await.unwrap().claimed, 0);

    let (status, page) = send(&app, "POST", &urls[1]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Answer recorded"));
    let report = dispatcher.run_due().await.unwrap();
    assert_eq!((report.claimed, report.delivered), (2, 2), "{report:?}");

    let (status, page) = send(&app, "POST", &urls[1]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("Already answered"), "{page}");
    assert!(page.contains("No, this wasn&#39;t me"), "{page}");

    let (status, page) = send(&app, "POST", &urls[0]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("already answered"), "{page}");
    let (status, page) = send(&app, "GET", &urls[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Already answered"), "{page}");
    assert!(
        !page.contains("<form"),
        "an answered prompt offers no button: {page}"
    );

    let mut forged = urls[0].clone();
    let len = forged.len();
    let replacement = if forged.ends_with("AAA") {
        "BBB"
    } else {
        "AAA"
    };
    forged.replace_range(len - 3..len, replacement);
    for method in ["GET", "POST"] {
        let (status, page) = send(&app, method, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("This link is not valid."), "{page}");
    }
    assert_eq!(
        dispatcher.run_due().await.unwrap().claimed,
        0,
        "nothing more to do"
    );

    assert_eq!(
        h.timeline(),
        ["chatops.verify.prompted", "chatops.verify.deny"],
        "recorded exactly once"
    );
    assert_eq!(
        *h.recorder.resumed.lock().unwrap(),
        [("run-1".to_owned(), "deny".to_owned())],
        "resumed once"
    );
    assert_eq!(
        h.transport.updates(),
        [(
            receipt,
            PromptOutcome::Answered {
                choice: "deny".into()
            }
        )],
        "the posted prompt shows the answer, once"
    );
}

#[tokio::test]
async fn an_expired_link_is_refused_as_expired() {
    let h = Harness::new();
    h.executor(true).execute(&request("acme")).await.unwrap();
    let urls = h.links();

    let later = Arc::new(ManualClock::new(h.clock.now()));
    later.advance(Duration::from_secs(1801));
    let (status, page) = click(&h.callback_app(later, h.dispatcher()), &urls[0]).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This link has expired"), "{page}");
    assert!(h.recorder.resumed.lock().unwrap().is_empty());
    assert!(h.transport.updates().is_empty());
}

#[tokio::test]
async fn a_transport_that_cannot_edit_its_prompt_still_records_and_resumes() {
    let h = Harness::with(
        RecordingPromptTransport::new("chat")
            .then_succeed()
            .then_fail(PromptError::Unsupported {
                transport: "teams",
                operation: "update a card posted through an incoming webhook",
            }),
        Recorder::default(),
    );
    h.executor(true).execute(&request("acme")).await.unwrap();
    let dispatcher = h.dispatcher();
    let (status, page) = click(
        &h.callback_app(h.clock.clone(), dispatcher.clone()),
        &h.links()[2],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Answer recorded"), "{page}");
    dispatcher.run_due().await.unwrap();
    assert_eq!(
        *h.recorder.resumed.lock().unwrap(),
        [("run-1".to_owned(), "escalate".to_owned())]
    );
    assert_eq!(h.transport.updates().len(), 1, "tried once, not retried");
}

#[tokio::test]
async fn with_the_flag_off_the_action_is_unsupported_and_nothing_is_posted() {
    let h = Harness::new();
    let err = h
        .executor(false)
        .execute(&request("acme"))
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::Unsupported(_)), "{err:?}");
    assert!(
        err.to_string().contains("chatops.verify is disabled"),
        "{err}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert!(h.transport.posted().is_empty());
    assert!(h.timeline().is_empty());
}

#[tokio::test]
async fn a_tenant_without_chat_is_unsupported_and_an_unreadable_vault_is_retryable() {
    let h = Harness::new();
    let none = h
        .executor(true)
        .execute(&request("initech"))
        .await
        .unwrap_err();
    assert!(matches!(none, ActionError::Unsupported(_)), "{none:?}");
    assert!(
        none.to_string().contains("no Slack or Teams credentials"),
        "{none}"
    );

    let vault = h
        .executor(true)
        .execute(&request("globex"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            vault,
            ActionError::Host {
                hook: "credentials",
                retryable: true,
                ..
            }
        ),
        "{vault:?}"
    );
    assert_eq!(vault.retry_class(), RetryClass::Retryable);
    assert!(h.transport.posted().is_empty());
    assert!(h.timeline().is_empty());
}

#[tokio::test]
async fn a_throttled_transport_keeps_its_wait_and_leaves_the_timeline_alone() {
    let h = Harness::with(
        RecordingPromptTransport::new("chat").then_fail(
            NotifyError::RateLimited {
                service: "slack",
                retry_after: Some(Duration::from_secs(30)),
            }
            .into(),
        ),
        Recorder::default(),
    );
    let err = h
        .executor(true)
        .execute(&request("acme"))
        .await
        .unwrap_err();
    assert_eq!(
        err.retry_class(),
        RetryClass::Throttled(Duration::from_secs(30))
    );
    assert!(h.timeline().is_empty());
}

#[tokio::test]
async fn a_timeline_failure_after_posting_is_a_retryable_host_error_saying_so() {
    let h = Harness::with(
        RecordingPromptTransport::new("chat"),
        Recorder {
            timeline_down: true,
            ..Recorder::default()
        },
    );
    let err = h
        .executor(true)
        .execute(&request("acme"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ActionError::Host {
                hook: "timeline",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("prompt posted"), "{err}");
    assert_eq!(err.retry_class(), RetryClass::Retryable);
}

#[tokio::test]
async fn a_bad_severity_is_a_parameter_error() {
    let h = Harness::new();
    let err = h
        .executor(true)
        .execute(&request("acme").with_parameter("severity", "apocalyptic"))
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::Parameter(_)), "{err:?}");
    assert!(err.to_string().contains("severity"), "{err}");
    assert!(h.transport.posted().is_empty());
}

#[test]
fn configuration_errors_name_the_variable() {
    let err = ChatopsVerifyConfig::from_lookup(|_| None).unwrap_err();
    assert_eq!(err.field(), "AISOC_ACTIONS_PUBLIC_URL");
    assert_eq!(err.to_string(), "AISOC_ACTIONS_PUBLIC_URL: is not set");
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
    let err = ChatopsVerifyConfig::from_lookup(|name| match name {
        "AISOC_ACTIONS_PUBLIC_URL" => Some("http://aisoc.example.com".into()),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(err.field(), "AISOC_ACTIONS_PUBLIC_URL");
    assert!(err.reason().contains("https"), "{err}");
    let config = config(true);
    assert_eq!(config.callback_base.as_str(), BASE);
    assert_eq!(config.timeout, Duration::from_secs(1800));
    assert!(!format!("{config:?}").contains(SECRET));
}
