//! `chatops.verify`: ask the affected person "was this you?" and resume the playbook on their
//! answer.
//!
//! The executor stores a pending prompt, posts it through the tenant's
//! [`PromptTransport`](aisoc_notify_core::prompt::PromptTransport) with [`SignedLinks`] — three
//! signed tokens (`acknowledge`, `deny`, `escalate`) that share the prompt id, each button
//! opening `<public callback base>/<token>` — keeps the transport's receipt, records
//! `chatops.verify.prompted` on the case timeline and returns `Running`.
//!
//! A link opens a confirmation page ([`VerifyCallback::preview`]: what was asked, the choice,
//! one button) that records nothing, so mail scanners and link previews that fetch it cannot
//! answer for the person. The button ([`VerifyCallback::answer`]) records the answer once per
//! prompt (a second click, or a click on another choice of the same prompt, is refused) and,
//! in the same unit, queues its follow-ups in the store's [answer outbox](AnswerOutbox): the
//! `chatops.verify.<choice>` timeline entry and the playbook resume on the chosen branch. The
//! [`FollowUpDispatcher`] delivers them through the host's hooks, retrying what can succeed
//! later, at most one resume per prompt, with the prompt id as the orchestrator's idempotency
//! key; after a crash it picks up what was left. (The outbox, its dispatcher and the hooks live
//! in [`follow_up`](crate::follow_up), which approvals share; they are re-exported here.) The
//! posted prompt's buttons can be replaced with the answer (best effort).
//!
//! Transports are looked up per tenant at run time ([`CredentialProvider`]), so one deployment
//! can serve many Slack workspaces and Teams tenants; this crate knows neither: the Slack and
//! Teams crates implement the transport, the host builds it from the tenant's credentials.
//!
//! Failures are typed: the executor answers [`ActionError`]s (a disabled flag is
//! `Unsupported`, a delivery failure keeps its [`RetryClass`](aisoc_notify_core::RetryClass)),
//! and the host's hooks fail with [`HookError`].

mod callback;
mod hooks;
mod prompt_store;

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::action::{ActionParameterError, ActionRequest};
use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::decision::{VERIFY_CHOICES, VerificationPrompt};
use aisoc_notify_core::notification::Severity;
use aisoc_notify_core::prompt::{SignedLinks, VERIFY_FLOW};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::token::{HmacCallbackTokenSigner, TokenError};
use aisoc_notify_core::{ActionError, ActionExecutor, ActionOutput, async_trait};
use serde_json::{Map, json};

pub use self::callback::{AnswerPreview, VerifyAnswered, VerifyCallback, VerifyCallbackError};
pub use self::hooks::CredentialProvider;
pub use self::prompt_store::{
    Answer, AnswerOutcome, MemoryVerificationStore, PendingPrompt, StoredPrompt, VerificationStore,
};
pub use crate::follow_up::{
    AnswerOutbox, CaseTimeline, DispatchReport, FollowUp, FollowUpDispatcher, FollowUpFlow,
    FollowUpKind, FollowUpState, HookError, PlaybookResumer, ReplayOutcome, ResumeRequest,
    TimelineEvent, default_follow_up_policy,
};
pub use crate::memory::MEMORY_RETENTION;
use crate::model::new_id;

/// The action type this executor is registered under.
pub const ACTION_TYPE: &str = "chatops.verify";
/// The token `action` claim of this flow.
pub const TOKEN_ACTION: &str = VERIFY_FLOW;
/// The default time a person has to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// The path the callback route answers on, under the public base URL.
pub const CALLBACK_PATH: &str = "/v1/chatops/verify/";

/// Configuration of the flow.
#[derive(Clone)]
pub struct ChatopsVerifyConfig {
    /// The feature flag; when off the executor fails loudly.
    pub enabled: bool,
    /// The public prefix button URLs start with (ends with `/`).
    pub callback_base: url::Url,
    /// The HMAC secret tokens are signed with (at least 32 bytes).
    pub hmac_secret: SecretString,
    /// How long a person has to answer.
    pub timeout: Duration,
}

impl std::fmt::Debug for ChatopsVerifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatopsVerifyConfig")
            .field("enabled", &self.enabled)
            .field("callback_base", &self.callback_base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ChatopsVerifyConfig {
    /// Reads `AISOC_FEATURE_CHATOPS_VERIFY` (`1`/`true` enables), `AISOC_ACTIONS_PUBLIC_URL`,
    /// `AISOC_CHATOPS_HMAC_SECRET` and `AISOC_CHATOPS_TIMEOUT_SECONDS` (default 1800) through
    /// `lookup` (pass `|name| std::env::var(name).ok()`). Errors name the variable to fix.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let enabled = lookup("AISOC_FEATURE_CHATOPS_VERIFY").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        let public = lookup("AISOC_ACTIONS_PUBLIC_URL")
            .ok_or_else(|| ConfigError::new("AISOC_ACTIONS_PUBLIC_URL", "is not set"))?;
        let callback_base = callback_base(&public)
            .map_err(|e| ConfigError::new("AISOC_ACTIONS_PUBLIC_URL", e.reason()))?;
        let secret = lookup("AISOC_CHATOPS_HMAC_SECRET")
            .ok_or_else(|| ConfigError::new("AISOC_CHATOPS_HMAC_SECRET", "is not set"))?;
        if secret.len() < aisoc_notify_core::token::MIN_KEY_LEN {
            return Err(ConfigError::new(
                "AISOC_CHATOPS_HMAC_SECRET",
                "must be at least 32 bytes",
            ));
        }
        let timeout = match lookup("AISOC_CHATOPS_TIMEOUT_SECONDS") {
            None => DEFAULT_TIMEOUT,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    return Err(ConfigError::new(
                        "AISOC_CHATOPS_TIMEOUT_SECONDS",
                        "must be a positive number of seconds",
                    ));
                }
            },
        };
        Ok(Self {
            enabled,
            callback_base,
            hmac_secret: SecretString::from(secret),
            timeout,
        })
    }

    /// The signer for this flow's tokens.
    pub fn signer(&self) -> Result<HmacCallbackTokenSigner, TokenError> {
        Ok(HmacCallbackTokenSigner::new(
            "chatops",
            self.hmac_secret.expose_secret().as_bytes().to_vec(),
        )?
        .with_ttl(self.timeout))
    }
}

/// `<public url>/v1/chatops/verify/` from the public URL of the actions service (https, or
/// plain http to loopback); the error names `public_url`.
///
/// ```
/// use aisoc_notify_approvals::verify::callback_base;
///
/// let base = callback_base("https://aisoc.example.com/soc/").unwrap();
/// assert_eq!(base.as_str(), "https://aisoc.example.com/soc/v1/chatops/verify/");
/// let err = callback_base("http://aisoc.example.com").unwrap_err();
/// assert_eq!(err.field(), "public_url");
/// ```
pub fn callback_base(public_url: &str) -> Result<url::Url, ConfigError> {
    let mut url = aisoc_notify_core::delivery::check_destination(public_url.trim())
        .map_err(|e| ConfigError::new("public_url", e))?;
    let path = format!("{}{}", url.path().trim_end_matches('/'), CALLBACK_PATH);
    url.set_path(&path);
    Ok(url)
}

/// Runs `chatops.verify`.
///
/// Parameters: `user` (required: the person asked; for Slack their user id, to which the bot
/// sends a direct message), `message` (required template), `title` (template, default "Unusual
/// activity on your account"), `case_id` (when the request has no case), `severity`.
pub struct ChatopsVerifyExecutor {
    config: ChatopsVerifyConfig,
    signer: Arc<HmacCallbackTokenSigner>,
    credentials: Arc<dyn CredentialProvider>,
    timeline: Arc<dyn CaseTimeline>,
    store: Arc<dyn VerificationStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ChatopsVerifyExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatopsVerifyExecutor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ChatopsVerifyExecutor {
    /// An executor for `config`.
    pub fn new(
        config: ChatopsVerifyConfig,
        credentials: Arc<dyn CredentialProvider>,
        timeline: Arc<dyn CaseTimeline>,
        store: Arc<dyn VerificationStore>,
    ) -> Result<Self, TokenError> {
        let signer = Arc::new(config.signer()?);
        Ok(Self {
            config,
            signer,
            credentials,
            timeline,
            store,
            clock: Arc::new(SystemClock),
        })
    }

    /// Replaces the clock (the signer's too).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Result<Self, TokenError> {
        self.signer = Arc::new(self.config.signer()?.with_clock(Arc::clone(&clock)));
        self.clock = clock;
        Ok(self)
    }

    fn prompt(&self, request: &ActionRequest) -> Result<VerificationPrompt, ActionError> {
        let user_ref = request.require_parameter("user")?;
        let case_id = match &request.case_id {
            Some(case) if !case.trim().is_empty() => case.clone(),
            _ => request.require_parameter("case_id")?,
        };
        let message = request.require_parameter("message")?;
        let title = request
            .render_parameter("title")?
            .unwrap_or_else(|| "Unusual activity on your account".into());
        let severity = match request.parameter_str("severity") {
            Some(raw) => raw
                .parse::<Severity>()
                .map_err(|e| ActionParameterError::Invalid {
                    name: "severity".into(),
                    reason: e.to_string(),
                })?,
            None => Severity::High,
        };
        Ok(VerificationPrompt {
            prompt_id: new_id("vfy"),
            case_id,
            tenant_id: request.tenant_id.clone(),
            user_ref,
            title,
            message,
            severity,
            facts: Vec::new(),
        })
    }
}

/// A verification store failure as an action error: a backend failure can pass, anything else
/// (an id collision, a refused value) will repeat.
fn store_failure(error: crate::store::StoreError) -> ActionError {
    let hook = match error {
        crate::store::StoreError::Backend(_) => HookError::retryable(error),
        _ => HookError::permanent(error),
    };
    hook.into_action_error("verification store")
}

#[async_trait]
impl ActionExecutor for ChatopsVerifyExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        if !self.config.enabled {
            return Err(ActionError::Unsupported(
                "chatops.verify is disabled (set AISOC_FEATURE_CHATOPS_VERIFY=1 to enable it)"
                    .into(),
            ));
        }
        let prompt = self.prompt(request)?;
        let transport = self
            .credentials
            .prompt_transport(&request.tenant_id)
            .await
            .map_err(|e| e.into_action_error("credentials"))?
            .ok_or_else(|| {
                ActionError::Unsupported(format!(
                    "no Slack or Teams credentials are configured for tenant '{}'",
                    request.tenant_id
                ))
            })?;

        let now = self.clock.now();
        let expires_at =
            now + chrono::Duration::from_std(self.config.timeout).unwrap_or(chrono::Duration::MAX);
        self.store
            .create_prompt(
                &PendingPrompt {
                    prompt_id: prompt.prompt_id.clone(),
                    tenant_id: prompt.tenant_id.clone(),
                    case_id: prompt.case_id.clone(),
                    run_id: request.run_id.clone(),
                    user_ref: prompt.user_ref.clone(),
                    title: prompt.title.clone(),
                    message: prompt.message.clone(),
                    expires_at,
                    receipt: None,
                },
                now,
            )
            .await
            .map_err(store_failure)?;

        let links = SignedLinks::new(self.signer.as_ref(), &self.config.callback_base);
        let receipt = transport.send_verification(&prompt, links).await?;
        if let Err(error) = self
            .store
            .attach_receipt(&prompt.tenant_id, &prompt.prompt_id, &receipt)
            .await
        {
            tracing::warn!(prompt_id = %prompt.prompt_id, %error, "prompt posted, but its receipt was not kept: the answer will not update it");
        }

        self.timeline
            .record(TimelineEvent {
                key: format!("{}:chatops.verify.prompted", prompt.prompt_id),
                tenant_id: request.tenant_id.clone(),
                case_id: prompt.case_id.clone(),
                kind: "chatops.verify.prompted".into(),
                data: json!({
                    "prompt_id": prompt.prompt_id,
                    "user": prompt.user_ref,
                    "transport": transport.name(),
                    "expires_at": expires_at,
                }),
                at: now,
            })
            .await
            .map_err(|e| {
                HookError::new(
                    format!("prompt posted, but the case timeline was not updated: {e}"),
                    e.retry_class(),
                )
                .into_action_error("timeline")
            })?;

        let mut output = Map::new();
        output.insert("prompt_id".into(), json!(prompt.prompt_id));
        output.insert("transport".into(), json!(transport.name()));
        output.insert("expires_at".into(), json!(expires_at));
        output.insert("receipt".into(), json!(receipt));
        output.insert("choices".into(), json!(VERIFY_CHOICES));
        Ok(ActionOutput::running(output))
    }
}
