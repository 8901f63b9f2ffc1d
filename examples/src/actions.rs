//! Playbook actions over HTTP (`POST /v1/actions`) and the `chatops.verify` answer page
//! (`GET /v1/chatops/verify/{token}`).
//!
//! The gateway registers `chatops.verify`. Its chat credentials come from the environment
//! (`SLACK_BOT_TOKEN`, or `AISOC_TEAMS_WEBHOOK_URL`) for every tenant; a multi-tenant service
//! implements [`CredentialProvider`] over its vault instead. Case timeline events go to the audit
//! trail (`GET /v1/audit?tenant_id=…&subject_id=<case>`). A waiting playbook run is resumed by a
//! signed POST to `AISOC_PLAYBOOK_RESUME_URL`, the orchestrator's webhook.

use std::sync::Arc;

use aisoc_notify_approvals::model::NewAuditEntry;
use aisoc_notify_approvals::store::AuditLog;
use aisoc_notify_approvals::verify::{
    CaseTimeline, ChatTransport, CredentialProvider, PlaybookResumer, TimelineEvent,
};
use aisoc_notify_core::action::{ActionRequest, ActionStatus, ExecutorRegistry};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, check_destination};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use serde_json::json;

use crate::auth::{ApiJson, error, require_admin};

/// One chat transport for every tenant, from the environment.
#[derive(Debug)]
pub struct EnvCredentials {
    transport: Option<ChatTransport>,
}

impl EnvCredentials {
    /// Reads `SLACK_BOT_TOKEN` (with `SLACK_API_BASE` for a proxy or a test double) or
    /// `AISOC_TEAMS_WEBHOOK_URL` through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let present = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let transport = if let Some(token) = present("SLACK_BOT_TOKEN") {
            Some(ChatTransport::Slack {
                bot_token: SecretString::from(token),
                api_base: present("SLACK_API_BASE"),
            })
        } else {
            present("AISOC_TEAMS_WEBHOOK_URL").map(|url| ChatTransport::Teams {
                webhook_url: SecretString::from(url),
            })
        };
        Self { transport }
    }
}

#[async_trait]
impl CredentialProvider for EnvCredentials {
    async fn chat_transport(&self, _tenant_id: &str) -> Result<Option<ChatTransport>, String> {
        Ok(self.transport.clone())
    }
}

/// Case timeline events, appended to the audit trail with the case as subject.
pub struct AuditTimeline(pub Arc<dyn AuditLog>);

#[async_trait]
impl CaseTimeline for AuditTimeline {
    async fn record(&self, event: TimelineEvent) -> Result<(), String> {
        self.0
            .append(NewAuditEntry {
                tenant_id: event.tenant_id,
                action: event.kind,
                subject_id: event.case_id,
                actor: "chatops.verify".into(),
                details: event.data,
                created_at: event.at,
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Resumes runs by POSTing `{"run_id", "branch"}` to the orchestrator, signed with
/// `X-AiSOC-Signature` under the chatops HMAC secret.
pub struct WebhookResumer {
    target: Option<url::Url>,
    signer: WebhookSigner,
    delivery: DeliveryClient,
}

impl WebhookResumer {
    /// A resumer posting to `target` (none: every resume fails, saying what to set).
    pub fn new(
        target: Option<&str>,
        secret: &SecretString,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let target = target
            .map(|url| {
                check_destination(url).map_err(|e| format!("AISOC_PLAYBOOK_RESUME_URL: {e}"))
            })
            .transpose()?;
        Ok(Self {
            target,
            signer: WebhookSigner::new(SignatureScheme::Aisoc, secret.expose_secret())?,
            delivery: DeliveryClient::new(DeliveryConfig::default())?,
        })
    }
}

#[async_trait]
impl PlaybookResumer for WebhookResumer {
    async fn resume(&self, run_id: &str, branch: &str) -> Result<(), String> {
        let target = self.target.as_ref().ok_or(
            "cannot resume the playbook run: set AISOC_PLAYBOOK_RESUME_URL to the orchestrator's webhook",
        )?;
        let body = serde_json::to_vec(&json!({"run_id": run_id, "branch": branch}))
            .map_err(|e| e.to_string())?;
        let mut request = self
            .delivery
            .http()
            .post(target.clone())
            .header("content-type", "application/json");
        for (name, value) in self
            .signer
            .headers(&body, run_id, chrono::Utc::now().timestamp())
        {
            request = request.header(name, value);
        }
        let request = request
            .body(body)
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let response = self
            .delivery
            .send(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.is_success() {
            Ok(())
        } else {
            Err(format!("the orchestrator answered {}", response.status))
        }
    }
}

#[derive(Clone)]
struct ActionsState {
    admin_token: Arc<SecretString>,
    registry: Arc<ExecutorRegistry>,
}

/// `POST /v1/actions` (admin): runs one [`ActionRequest`]. 200 succeeded, 202 running (a
/// prompt waits for its answer), 404 unknown action, 502 failed (the body says why).
pub fn router(registry: Arc<ExecutorRegistry>, admin_token: Arc<SecretString>) -> Router {
    let state = ActionsState {
        admin_token,
        registry,
    };
    Router::new()
        .route("/v1/actions", post(run_action))
        .route_layer(middleware::from_fn_with_state(
            state.admin_token.clone(),
            require_admin,
        ))
        .with_state(state)
}

async fn run_action(
    State(state): State<ActionsState>,
    ApiJson(request): ApiJson<ActionRequest>,
) -> Response {
    let Some(executor) = state.registry.resolve(&request.action_type) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "unknown action_type '{}' (available: {})",
                request.action_type,
                state.registry.action_types().join(", ")
            ),
        );
    };
    let result = executor.execute(&request).await;
    let status = match result.status {
        ActionStatus::Succeeded => StatusCode::OK,
        ActionStatus::Running => StatusCode::ACCEPTED,
        ActionStatus::Failed => StatusCode::BAD_GATEWAY,
    };
    (status, Json(result)).into_response()
}
