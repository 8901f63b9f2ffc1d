//! The secret-leak test for the approvals crate (issue #15): `chatops.verify` is configured
//! with a marker HMAC secret, run through success and each error path (flag off, no chat, the
//! vault down, a timeline failure is left to `chatops_verify.rs`), and its callback route is
//! driven with a genuine link (confirmation page, answer, second click) and a forged, a
//! truncated and a garbage token, while every line any crate logs is captured at TRACE. The
//! secret may appear in no log line, no error's `Display` or `Debug`, no response body and no
//! `Debug` of the config, the executor or the signer; a secret too short to use is refused
//! without being echoed.

use aisoc_notify_core::conformance::captured_logs;
use std::sync::Arc;

use aisoc_notify_approvals::routes::router;
use aisoc_notify_approvals::verify::{
    CaseTimeline, ChatopsVerifyConfig, ChatopsVerifyExecutor, CredentialProvider,
    FollowUpDispatcher, HookError, MemoryVerificationStore, PlaybookResumer, ResumeRequest,
    TimelineEvent, VerificationStore, VerifyCallback,
};
use aisoc_notify_core::prompt::PromptTransport;
use aisoc_notify_core::prompt::stub::{PostedPrompt, RecordingPromptTransport};
use aisoc_notify_core::token::CallbackTokenSigner;
use aisoc_notify_core::{ActionExecutor, ActionRequest, async_trait};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

const SECRET: &str = "LEAKMARK-chatops-hmac-secret-0123456789";
const SHORT_SECRET: &str = "LEAKMARK-short";
const BASE: &str = "https://aisoc.example.com/v1/chatops/verify/";

/// `acme` chats through the recording transport, `initech` has no chat, `globex`'s vault is
/// down.
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

/// Accepts every timeline entry and resume.
struct Hooks;

#[async_trait]
impl CaseTimeline for Hooks {
    async fn record(&self, _event: TimelineEvent) -> Result<(), HookError> {
        Ok(())
    }
}

#[async_trait]
impl PlaybookResumer for Hooks {
    async fn resume(&self, _request: &ResumeRequest) -> Result<(), HookError> {
        Ok(())
    }
}

fn config(enabled: bool, secret: &str) -> Result<ChatopsVerifyConfig, String> {
    ChatopsVerifyConfig::from_lookup(|name| match name {
        "AISOC_FEATURE_CHATOPS_VERIFY" => Some(if enabled { "1" } else { "0" }.into()),
        "AISOC_ACTIONS_PUBLIC_URL" => Some("https://aisoc.example.com".into()),
        "AISOC_CHATOPS_HMAC_SECRET" => Some(secret.into()),
        _ => None,
    })
    .map_err(|error| format!("{error} {error:?}"))
}

fn request(tenant: &str) -> ActionRequest {
    ActionRequest::new("chatops.verify", tenant)
        .with_case("case-7")
        .with_parameter("user", "U0ALICE")
        .with_parameter("message", "Someone signed in as you. Was this you?")
        .with_run("run-1")
}

/// Sends `token` to the callback route; returns the status and the body.
async fn send(app: &axum::Router, method: &str, token: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(format!("/chatops/verify/{token}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await
        .expect("the router answers");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("a small body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chatops_hmac_secret_reaches_no_log_line_error_response_or_debug_output() {
    captured_logs();
    let mut printed = Vec::new();

    let too_short = config(true, SHORT_SECRET).expect_err("a short secret is refused");
    assert!(
        too_short.contains("AISOC_CHATOPS_HMAC_SECRET"),
        "{too_short}"
    );
    printed.push(too_short);

    let transport = Arc::new(RecordingPromptTransport::new("chat"));
    let store = Arc::new(MemoryVerificationStore::new());
    let credentials = Arc::new(Credentials(transport.clone()));
    let executor = |enabled: bool| {
        ChatopsVerifyExecutor::new(
            config(enabled, SECRET).expect("a valid config"),
            credentials.clone(),
            Arc::new(Hooks),
            store.clone(),
        )
        .expect("a valid signer")
    };
    let enabled = executor(true);
    let config = config(true, SECRET).expect("a valid config");
    let signer = config.signer().expect("a valid signer");
    printed.extend([
        format!("{config:?}"),
        format!("{enabled:?}"),
        format!("{signer:?}"),
    ]);

    let posted = enabled
        .execute(&request("acme"))
        .await
        .expect("the prompt is posted");
    printed.push(format!("{posted:?}"));
    for (executor, tenant) in [
        (executor(false), "acme"),
        (executor(true), "initech"),
        (executor(true), "globex"),
    ] {
        let error = executor
            .execute(&request(tenant))
            .await
            .expect_err("refused");
        tracing::trace!(%error, ?error, ?executor, "chatops.verify refused");
        printed.extend([error.to_string(), format!("{error:?}")]);
    }

    let [PostedPrompt::Verification { links, .. }] = &transport.posted()[..] else {
        panic!("one verification prompt");
    };
    let token = links[0]
        .1
        .as_str()
        .strip_prefix(BASE)
        .expect("a link under the callback base")
        .to_owned();
    let dispatcher = Arc::new(FollowUpDispatcher::new(
        store.clone(),
        Arc::new(Hooks),
        Arc::new(Hooks),
    ));
    let store: Arc<dyn VerificationStore> = store;
    let app = router(VerifyCallback::new(
        Arc::new(signer) as Arc<dyn CallbackTokenSigner>,
        store,
        dispatcher,
    ));
    let forged = {
        let (claims, mac) = token.rsplit_once('.').expect("a signed token");
        let flipped = if mac.starts_with('A') { "B" } else { "A" };
        format!("{claims}.{flipped}{}", &mac[1..])
    };
    for (method, token, expected) in [
        ("GET", token.as_str(), StatusCode::OK),
        ("POST", token.as_str(), StatusCode::OK),
        ("POST", token.as_str(), StatusCode::CONFLICT),
        ("GET", forged.as_str(), StatusCode::FORBIDDEN),
        ("GET", &token[..token.len() / 2], StatusCode::FORBIDDEN),
        ("GET", "not-a-token", StatusCode::FORBIDDEN),
    ] {
        let (status, body) = send(&app, method, token).await;
        assert_eq!(status, expected, "{method} {body}");
        printed.push(body);
    }

    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(
        logs.contains("chatops.verify refused"),
        "the TRACE capture works"
    );
    for marker in [SECRET, SHORT_SECRET, "LEAKMARK"] {
        for text in &printed {
            assert!(!text.contains(marker), "'{marker}' printed: {text}");
        }
        if let Some(line) = logs.lines().find(|line| line.contains(marker)) {
            panic!("a log line shows '{marker}': {line}");
        }
    }
}
