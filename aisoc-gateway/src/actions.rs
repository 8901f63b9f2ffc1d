//! Playbook actions over HTTP (`POST /v1/actions`) and the `chatops.verify` wiring: where the
//! approvals crate's hooks meet the Slack and Teams crates.
//!
//! The gateway registers `chatops.verify`. Its prompts go through a [`PromptTransport`] built
//! once, at start-up, from the environment (`SLACK_BOT_TOKEN`, or `AISOC_TEAMS_WEBHOOK_URL`) for
//! every tenant; a multi-tenant service implements [`CredentialProvider`] over its vault
//! instead. Case timeline events go to the audit trail
//! (`GET /v1/audit?tenant_id=…&subject_id=<case>`), one entry per event key. A waiting
//! playbook run is resumed by a POST to `AISOC_PLAYBOOK_RESUME_URL`, the orchestrator's
//! webhook ([`WebhookResumer`]), signed as a Standard Webhook under its own key
//! (`AISOC_PLAYBOOK_RESUME_SECRET`; the callback tokens keep `AISOC_CHATOPS_HMAC_SECRET`, so
//! holding one key never lets anyone forge the other's messages), which passes the core HTTP contract like every adapter. The
//! follow-up outboxes deliver both at least once — a `chatops.verify` answer's and an approval
//! decision's resume alike; the prompt id or the approval id travels as the resume's
//! idempotency key.
//!
//! Every outbound request goes through the [`DeliveryClient`] the gateway passes in, so the
//! outbound guard (and the host's allow-list) applies to chat and to the orchestrator alike.
//!
//! [`register_playbook_actions`] adds the other actions, each sending through the same client
//! (a private or metadata address in a step's URL is a failed action, and no request is made):
//!
//! | `action_type` | parameters |
//! |---|---|
//! | `notify_slack` | `webhook_url`, `message` (template), `channel` |
//! | `notify_teams` | `webhook_url`, `title`, `message` (templates), `format` |
//! | `webhook` | `url`, `payload` (JSON, string values are templates) or `message`, `secret`, `standard_webhooks_secret`, `idempotency_key` |
//! | `create_ticket` | `system` (`jira`, `servicenow`, `pagerduty`, `opsgenie`), `summary`, `description`, `severity`, `dedup_key`, `project`, `issue_type`; run with the step's tenant's own credentials ([`crate::itsm_store`]) |

use std::sync::Arc;

use aisoc_notify_approvals::model::NewAuditEntry;
use aisoc_notify_approvals::store::{AuditLog, StoreError};
use aisoc_notify_approvals::verify::{
    CaseTimeline, CredentialProvider, HookError, PlaybookResumer, ResumeRequest, TimelineEvent,
};
use aisoc_notify_core::action::{ActionRequest, ActionResult, ActionStatus, ExecutorRegistry};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use aisoc_notify_core::prompt::PromptTransport;
use aisoc_notify_core::secret::{ExposeSecret, SecretString, SecretUrl};
use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner};
use aisoc_notify_itsm::tenant::TenantTickets;
use aisoc_notify_slack::executor::NotifySlackExecutor;
use aisoc_notify_slack::prompt::SlackPromptTransport;
use aisoc_notify_slack::web_api::SlackBotClient;
use aisoc_notify_teams::executor::NotifyTeamsExecutor;
use aisoc_notify_teams::prompt::TeamsPromptTransport;
use aisoc_notify_teams::webhook::TeamsWebhookNotifier;
use aisoc_notify_webhook::executor::WebhookActionExecutor;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use serde_json::json;

use crate::auth::{ApiJson, error, require_admin};
use crate::itsm_store::{ItsmStore, StoreCredentials};

/// One chat transport for every tenant, built from the environment at start-up.
pub struct EnvCredentials {
    transport: Option<Arc<dyn PromptTransport>>,
}

impl std::fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvCredentials")
            .field("transport", &self.transport.as_ref().map(|t| t.name()))
            .finish()
    }
}

impl EnvCredentials {
    /// Reads `SLACK_BOT_TOKEN` (with `SLACK_API_BASE` for a proxy or a test double) or
    /// `AISOC_TEAMS_WEBHOOK_URL` through `lookup` and builds the transport, sending through
    /// `delivery`. A value that cannot work fails here, naming the variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        delivery: &DeliveryClient,
    ) -> Result<Self, ConfigError> {
        let present = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let transport: Option<Arc<dyn PromptTransport>> =
            if let Some(token) = present("SLACK_BOT_TOKEN") {
                let mut client = SlackBotClient::new(token)
                    .map_err(|e| ConfigError::new("SLACK_BOT_TOKEN", e))?
                    .with_delivery(delivery.clone());
                if let Some(base) = present("SLACK_API_BASE") {
                    client = client
                        .with_base_url(&base)
                        .map_err(|e| ConfigError::new("SLACK_API_BASE", e))?;
                }
                Some(Arc::new(SlackPromptTransport::new(client)))
            } else if let Some(url) = present("AISOC_TEAMS_WEBHOOK_URL") {
                let webhook = TeamsWebhookNotifier::builder()
                    .webhook_url(url)
                    .delivery(delivery.clone())
                    .build()
                    .map_err(|e| ConfigError::new("AISOC_TEAMS_WEBHOOK_URL", e))?;
                Some(Arc::new(TeamsPromptTransport::new(webhook)))
            } else {
                None
            };
        Ok(Self { transport })
    }
}

#[async_trait]
impl CredentialProvider for EnvCredentials {
    async fn prompt_transport(
        &self,
        _tenant_id: &str,
    ) -> Result<Option<Arc<dyn PromptTransport>>, HookError> {
        Ok(self.transport.clone())
    }
}

/// Case timeline events, appended to the audit trail with the case as subject, the event's
/// key kept in the details as `event_key`. An event whose key the case already has is not
/// appended again: the answer outbox may deliver an entry twice after a crash.
pub struct AuditTimeline(pub Arc<dyn AuditLog>);

fn timeline_failure(error: StoreError) -> HookError {
    match error {
        StoreError::Backend(_) => HookError::retryable(error),
        _ => HookError::permanent(error),
    }
}

#[async_trait]
impl CaseTimeline for AuditTimeline {
    async fn record(&self, event: TimelineEvent) -> Result<(), HookError> {
        let recorded = self
            .0
            .list(&event.tenant_id, Some(&event.case_id))
            .await
            .map_err(timeline_failure)?;
        if recorded
            .iter()
            .any(|entry| entry.details["event_key"] == event.key.as_str())
        {
            return Ok(());
        }
        let mut details = event.data;
        if let Some(fields) = details.as_object_mut() {
            fields.insert("event_key".into(), json!(event.key));
        }
        self.0
            .append(NewAuditEntry {
                tenant_id: event.tenant_id,
                action: event.kind,
                subject_id: event.case_id,
                actor: "chatops.verify".into(),
                details,
                created_at: event.at,
            })
            .await
            .map(|_| ())
            .map_err(timeline_failure)
    }
}

/// The variable holding the playbook-resume signing key (a Standard Webhooks `whsec_` secret).
pub const RESUME_SECRET_VAR: &str = "AISOC_PLAYBOOK_RESUME_SECRET";
/// The variable that, when set, also signs resumes the old way (`X-AiSOC-Signature`).
pub const RESUME_LEGACY_SECRET_VAR: &str = "AISOC_PLAYBOOK_RESUME_LEGACY_SECRET";

/// A fresh Standard Webhooks secret, `whsec_` and 32 random bytes in base64, for a gateway
/// started without [`RESUME_SECRET_VAR`] (printed once at start-up, like the admin token).
pub fn generate_resume_secret() -> SecretString {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    SecretString::from(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// Resumes runs by POSTing JSON to the orchestrator, signed as a Standard Webhook under its own
/// key (`AISOC_PLAYBOOK_RESUME_SECRET`, never the callback-token key):
/// `webhook-id` is the idempotency key, `webhook-timestamp` the Unix time of the attempt, and
/// `webhook-signature` `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, so the
/// orchestrator can refuse replays outside its tolerance with any Standard Webhooks library.
/// The body:
///
/// | field | value |
/// |---|---|
/// | `run_id`, `branch` | the run and the branch to take (`acknowledge`/`deny`/`escalate` for a verify answer; `approve`/`deny`/`expired` for an approval) |
/// | `flow` | `chatops.verify` or `approval` |
/// | `prompt_id` or `approval_id` | the answered prompt or the decided approval |
/// | `idempotency_key` | the same id, also sent as the `Idempotency-Key` header |
/// | `case_id` | the case, when known |
///
/// Orchestrators written against the old `X-AiSOC-Signature: sha256=<hex>` header (no
/// timestamp) keep working only when an operator sets `AISOC_PLAYBOOK_RESUME_LEGACY_SECRET`
/// ([`with_legacy_signature`](WebhookResumer::with_legacy_signature)); without it the header is
/// not sent.
///
/// Every delivery of one answer's or decision's resume carries the same key, so the
/// orchestrator can resume the run once however many deliveries reach it.
///
/// A failure keeps its [`RetryClass`](aisoc_notify_core::RetryClass): the status is classified
/// by [`RetryClass::for_status`](aisoc_notify_core::RetryClass::for_status) (404/410 `Gone`, 429
/// `Throttled` for its `Retry-After`, 5xx `Retryable`, other 4xx `NonRetryable`), a transport
/// failure as the delivery client reports it, a redirect is not followed. 5xx answers and
/// timeouts are retried: a run waits once, so however many posts reach the orchestrator it
/// resumes the run once.
pub struct WebhookResumer {
    target: Option<SecretUrl>,
    signer: WebhookSigner,
    legacy_signer: Option<WebhookSigner>,
    delivery: DeliveryClient,
}

impl std::fmt::Debug for WebhookResumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookResumer")
            .field("target", &self.target)
            .field("legacy_signature", &self.legacy_signer.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookResumer {
    /// A resumer posting to `target` through `delivery` (none: every resume fails, saying what
    /// to set), signing with `resume_secret`, a Standard Webhooks secret (`whsec_<base64>`, the
    /// prefix optional). The target must be https (or http to loopback) and not in a range
    /// `delivery`'s guard refuses; errors name `AISOC_PLAYBOOK_RESUME_URL` (never its path) or
    /// `AISOC_PLAYBOOK_RESUME_SECRET` (never its value).
    pub fn new(
        target: Option<&str>,
        resume_secret: &SecretString,
        delivery: DeliveryClient,
    ) -> Result<Self, ConfigError> {
        let field = "AISOC_PLAYBOOK_RESUME_URL";
        let target = target
            .map(|raw| {
                let url = check_destination(raw.trim()).map_err(|e| ConfigError::new(field, e))?;
                delivery
                    .config()
                    .destinations
                    .check_url(&url)
                    .map_err(|e| ConfigError::new(field, e))?;
                Ok::<_, ConfigError>(SecretUrl::new(url))
            })
            .transpose()?;
        let signer = WebhookSigner::new(
            SignatureScheme::StandardWebhooks,
            resume_secret.expose_secret().trim(),
        )
        .map_err(|e| ConfigError::new(RESUME_SECRET_VAR, e))?;
        Ok(Self {
            target,
            signer,
            legacy_signer: None,
            delivery,
        })
    }

    /// Also sends `X-AiSOC-Signature: sha256=<hex HMAC of the body>` under `secret`, for an
    /// orchestrator not yet verifying Standard Webhooks. Only for an explicitly configured
    /// `AISOC_PLAYBOOK_RESUME_LEGACY_SECRET`: that header has no timestamp, so a captured
    /// resume can be replayed.
    pub fn with_legacy_signature(mut self, secret: &SecretString) -> Result<Self, ConfigError> {
        if secret.expose_secret().trim().is_empty() {
            return Err(ConfigError::new(
                RESUME_LEGACY_SECRET_VAR,
                "must not be empty when set",
            ));
        }
        self.legacy_signer = Some(
            WebhookSigner::new(SignatureScheme::Aisoc, secret.expose_secret())
                .map_err(|e| ConfigError::new(RESUME_LEGACY_SECRET_VAR, e))?,
        );
        Ok(self)
    }
}

#[async_trait]
impl PlaybookResumer for WebhookResumer {
    async fn resume(&self, resume: &ResumeRequest) -> Result<(), HookError> {
        let target = self.target.as_ref().ok_or_else(|| {
            HookError::permanent(
                "cannot resume the playbook run: set AISOC_PLAYBOOK_RESUME_URL to the orchestrator's webhook",
            )
        })?;
        let key = &resume.idempotency_key;
        let mut fields = json!({
            "run_id": resume.run_id,
            "branch": resume.branch,
            "flow": resume.flow.as_str(),
            "idempotency_key": key,
        });
        fields[resume.flow.key_name()] = json!(key);
        if let Some(case_id) = &resume.case_id {
            fields["case_id"] = json!(case_id);
        }
        let body = serde_json::to_vec(&fields).map_err(HookError::permanent)?;
        let mut request = self
            .delivery
            .http()
            .post(target.expose().clone())
            .header("content-type", "application/json")
            .header("idempotency-key", key);
        let timestamp = chrono::Utc::now().timestamp();
        let signers = std::iter::once(&self.signer).chain(self.legacy_signer.as_ref());
        for (name, value) in signers.flat_map(|signer| signer.headers(&body, key, timestamp)) {
            request = request.header(name, value);
        }
        let request = request
            .body(body)
            .build()
            .map_err(|e| HookError::permanent(e.without_url()))?;
        let response = self.delivery.send(request).await?;
        if response.is_success() {
            return Ok(());
        }
        Err(HookError::new(
            format!(
                "the orchestrator answered HTTP {}",
                response.status.as_u16()
            ),
            response.retry_class(),
        ))
    }
}

/// Registers `notify_slack`, `notify_teams`, `webhook` and `create_ticket` on `registry`, all
/// sending through `outbound`; `create_ticket` runs with the credentials the step's tenant
/// keeps in `itsm` (a tenant with none is told which route sets them).
pub fn register_playbook_actions(
    registry: &ExecutorRegistry,
    outbound: &DeliveryClient,
    itsm: Arc<dyn ItsmStore>,
) -> Result<(), ConfigError> {
    let slack = NotifySlackExecutor::new()
        .map_err(|e| ConfigError::new(aisoc_notify_slack::executor::ACTION_TYPE, e))?
        .with_delivery(outbound.clone());
    registry.register(aisoc_notify_slack::executor::ACTION_TYPE, Arc::new(slack));
    let teams = NotifyTeamsExecutor::new()
        .map_err(|e| ConfigError::new(aisoc_notify_teams::executor::ACTION_TYPE, e))?
        .with_delivery(outbound.clone());
    registry.register(aisoc_notify_teams::executor::ACTION_TYPE, Arc::new(teams));
    let webhook = WebhookActionExecutor::new()
        .map_err(|e| ConfigError::new(aisoc_notify_webhook::executor::ACTION_TYPE, e))?
        .with_delivery(outbound.clone());
    registry.register(
        aisoc_notify_webhook::executor::ACTION_TYPE,
        Arc::new(webhook),
    );
    let tickets = TenantTickets::new(Arc::new(StoreCredentials(itsm)), outbound.clone())
        .with_setup_hint(crate::itsm_store::SETUP_HINT);
    registry.register(aisoc_notify_itsm::CAPABILITY, Arc::new(tickets));
    Ok(())
}

#[derive(Clone)]
struct ActionsState {
    admin_token: Arc<SecretString>,
    registry: Arc<ExecutorRegistry>,
}

/// `POST /v1/actions` (admin): runs one [`ActionRequest`]. 200 succeeded, 202 running (a
/// prompt waits for its answer), 404 unknown action, 502 failed (the body says why, and its
/// `error_class` whether trying again can help).
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

#[utoipa::path(
    post, path = "/v1/actions", tag = "actions",
    summary = "Run a playbook action (`chatops.verify`, `notify_slack`, `notify_teams`, `webhook`, `create_ticket`)",
    security(("admin_bearer" = [])),
    request_body = crate::openapi::ActionRequest,
    responses(
        (status = 200, description = "Succeeded", body = crate::openapi::ActionResult),
        (status = 202, description = "Running (an answer is awaited)", body = crate::openapi::ActionResult),
        (status = 400, description = "Malformed JSON", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "Unknown action_type (the available ones are named)", body = crate::openapi::ApiError),
        (status = 422, description = "Missing fields", body = crate::openapi::ApiError),
        (status = 502, description = "Failed", body = crate::openapi::ActionResult),
    ),
)]
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
    let result = ActionResult::from(executor.execute(&request).await);
    let status = match result.status {
        ActionStatus::Succeeded => StatusCode::OK,
        ActionStatus::Running => StatusCode::ACCEPTED,
        ActionStatus::Failed => StatusCode::BAD_GATEWAY,
    };
    (status, Json(result)).into_response()
}

#[cfg(test)]
mod tests {
    use aisoc_notify_approvals::memory::MemoryAuditLog;

    use super::*;

    fn event(key: &str) -> TimelineEvent {
        TimelineEvent {
            key: key.into(),
            tenant_id: "acme".into(),
            case_id: "case-1".into(),
            kind: "chatops.verify.deny".into(),
            data: json!({"prompt_id": "vfy_1", "user": "U0ALICE"}),
            at: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_timeline_event_delivered_twice_is_recorded_once() {
        let audit = Arc::new(MemoryAuditLog::new());
        let timeline = AuditTimeline(audit.clone());
        for _ in 0..2 {
            timeline
                .record(event("vfy_1:chatops.verify.deny"))
                .await
                .unwrap();
        }
        timeline
            .record(event("vfy_2:chatops.verify.deny"))
            .await
            .unwrap();
        let entries = audit.list("acme", Some("case-1")).await.unwrap();
        assert_eq!(
            entries
                .iter()
                .map(|e| e.details["event_key"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["vfy_1:chatops.verify.deny", "vfy_2:chatops.verify.deny"]
        );
        assert_eq!(entries[0].details["user"], "U0ALICE");
    }
}
