//! `chatops.verify`: ask the affected person "was this you?" and resume the playbook on their
//! answer.
//!
//! The executor mints three signed tokens (`acknowledge`, `deny`, `escalate`) that share one
//! prompt id, posts a Slack message or Teams card whose buttons open
//! `<public callback base>/<token>`, records `chatops.verify.prompted` on the case timeline and
//! returns `Running`. The callback verifies the token, records the answer once per prompt (a
//! second click, or a click on another choice of the same prompt, is refused), records
//! `chatops.verify.<choice>` and resumes the playbook on the chosen branch.
//!
//! Transport credentials are looked up per tenant at run time ([`CredentialProvider`]), so one
//! deployment can serve many Slack workspaces and Teams tenants.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::decision::{VERIFY_CHOICES, VerificationPrompt};
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::notification::Severity;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::token::{CallbackTokenSigner, HmacCallbackTokenSigner, TokenError};
use aisoc_notify_core::{ActionExecutor, ActionRequest, ActionResult, async_trait};
use aisoc_notify_slack::render::verification_message;
use aisoc_notify_slack::web_api::SlackBotClient;
use aisoc_notify_teams::render::{ButtonMode, verification_card};
use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::model::new_id;
use crate::store::StoreError;

/// The action type this executor is registered under.
pub const ACTION_TYPE: &str = "chatops.verify";
/// The token `action` claim of this flow.
pub const TOKEN_ACTION: &str = "chatops.verify";
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

/// A configuration problem, named after the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable is missing.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable has an unusable value.
    #[error("{name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl ChatopsVerifyConfig {
    /// Reads `AISOC_FEATURE_CHATOPS_VERIFY` (`1`/`true` enables), `AISOC_ACTIONS_PUBLIC_URL`,
    /// `AISOC_CHATOPS_HMAC_SECRET` and `AISOC_CHATOPS_TIMEOUT_SECONDS` (default 1800) through
    /// `lookup` (pass `|name| std::env::var(name).ok()`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let enabled = lookup("AISOC_FEATURE_CHATOPS_VERIFY").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        let public = lookup("AISOC_ACTIONS_PUBLIC_URL")
            .ok_or(ConfigError::Missing("AISOC_ACTIONS_PUBLIC_URL"))?;
        let callback_base = callback_base(&public).map_err(|reason| ConfigError::Invalid {
            name: "AISOC_ACTIONS_PUBLIC_URL",
            reason,
        })?;
        let secret = lookup("AISOC_CHATOPS_HMAC_SECRET")
            .ok_or(ConfigError::Missing("AISOC_CHATOPS_HMAC_SECRET"))?;
        if secret.len() < aisoc_notify_core::token::MIN_KEY_LEN {
            return Err(ConfigError::Invalid {
                name: "AISOC_CHATOPS_HMAC_SECRET",
                reason: "must be at least 32 bytes".into(),
            });
        }
        let timeout = match lookup("AISOC_CHATOPS_TIMEOUT_SECONDS") {
            None => DEFAULT_TIMEOUT,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "AISOC_CHATOPS_TIMEOUT_SECONDS",
                        reason: "must be a positive number of seconds".into(),
                    });
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

/// `<public url>/v1/chatops/verify/` from the public URL of the actions service.
pub fn callback_base(public_url: &str) -> Result<url::Url, String> {
    let mut url = aisoc_notify_core::delivery::check_destination(public_url.trim())
        .map_err(|e| e.to_string())?;
    let path = format!("{}{}", url.path().trim_end_matches('/'), CALLBACK_PATH);
    url.set_path(&path);
    Ok(url)
}

/// How to reach a tenant's users.
#[derive(Clone)]
#[non_exhaustive]
pub enum ChatTransport {
    /// A Slack bot token; the prompt goes to the user as a direct message.
    Slack {
        /// `xoxb-…`.
        bot_token: SecretString,
        /// Another Web API base (tests, proxies); `None` for Slack itself.
        api_base: Option<String>,
    },
    /// A Teams webhook into a chat or channel the user is in.
    Teams {
        /// The webhook URL (a credential).
        webhook_url: SecretString,
    },
}

impl std::fmt::Debug for ChatTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatTransport::Slack { .. } => f.write_str("ChatTransport::Slack"),
            ChatTransport::Teams { .. } => f.write_str("ChatTransport::Teams"),
        }
    }
}

impl ChatTransport {
    fn name(&self) -> &'static str {
        match self {
            ChatTransport::Slack { .. } => "slack",
            ChatTransport::Teams { .. } => "teams",
        }
    }
}

/// Looks up a tenant's chat credentials at run time (from the host's vault).
#[async_trait]
pub trait CredentialProvider: Send + Sync {
    /// The tenant's transport, or `None` when it has none configured.
    async fn chat_transport(&self, tenant_id: &str) -> Result<Option<ChatTransport>, String>;
}

/// An event for a case's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
    /// The tenant.
    pub tenant_id: String,
    /// The case.
    pub case_id: String,
    /// `chatops.verify.prompted`, `chatops.verify.acknowledge`, …
    pub kind: String,
    /// Details.
    pub data: Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// The host's case timeline.
#[async_trait]
pub trait CaseTimeline: Send + Sync {
    /// Records an event.
    async fn record(&self, event: TimelineEvent) -> Result<(), String>;
}

/// Resumes a waiting playbook run on a branch.
#[async_trait]
pub trait PlaybookResumer: Send + Sync {
    /// Resumes `run_id` on `branch` (`acknowledge`, `deny` or `escalate`).
    async fn resume(&self, run_id: &str, branch: &str) -> Result<(), String>;
}

/// A prompt waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPrompt {
    /// The prompt id the three tokens share.
    pub prompt_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The case.
    pub case_id: String,
    /// The playbook run to resume, when there is one.
    pub run_id: Option<String>,
    /// The person asked.
    pub user_ref: String,
    /// When the answer window closes.
    pub expires_at: DateTime<Utc>,
}

/// The result of recording an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// First answer: recorded.
    Recorded(PendingPrompt),
    /// The prompt had been answered already, with this choice.
    AlreadyAnswered {
        /// The choice recorded first.
        choice: String,
    },
    /// No such prompt.
    UnknownPrompt,
}

/// Stores prompts and records each prompt's first answer, atomically.
#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// Stores a prompt before its message is posted.
    async fn create_prompt(
        &self,
        prompt: &PendingPrompt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records `choice` for the prompt unless it has an answer already.
    async fn answer(
        &self,
        prompt_id: &str,
        choice: &str,
        token_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AnswerOutcome, StoreError>;
}

/// An in-memory [`VerificationStore`].
#[derive(Debug, Default)]
pub struct MemoryVerificationStore {
    prompts: std::sync::Mutex<std::collections::HashMap<String, (PendingPrompt, Option<String>)>>,
}

impl MemoryVerificationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl VerificationStore for MemoryVerificationStore {
    async fn create_prompt(
        &self,
        prompt: &PendingPrompt,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut prompts = self.prompts.lock().unwrap_or_else(|p| p.into_inner());
        if prompts.contains_key(&prompt.prompt_id) {
            return Err(StoreError::Conflict(format!(
                "prompt '{}'",
                prompt.prompt_id
            )));
        }
        prompts.insert(prompt.prompt_id.clone(), (prompt.clone(), None));
        Ok(())
    }

    async fn answer(
        &self,
        prompt_id: &str,
        choice: &str,
        _token_id: &str,
        _now: DateTime<Utc>,
    ) -> Result<AnswerOutcome, StoreError> {
        let mut prompts = self.prompts.lock().unwrap_or_else(|p| p.into_inner());
        let Some((prompt, answer)) = prompts.get_mut(prompt_id) else {
            return Ok(AnswerOutcome::UnknownPrompt);
        };
        if let Some(previous) = answer {
            return Ok(AnswerOutcome::AlreadyAnswered {
                choice: previous.clone(),
            });
        }
        *answer = Some(choice.to_owned());
        Ok(AnswerOutcome::Recorded(prompt.clone()))
    }
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
    delivery: DeliveryClient,
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
            delivery: DeliveryClient::new(DeliveryConfig::default())
                .map_err(|_| TokenError::InvalidKey("no HTTP client"))?,
            clock: Arc::new(SystemClock),
        })
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    /// Replaces the clock (the signer's too).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Result<Self, TokenError> {
        self.signer = Arc::new(self.config.signer()?.with_clock(Arc::clone(&clock)));
        self.clock = clock;
        Ok(self)
    }

    async fn run(&self, request: &ActionRequest) -> Result<Map<String, Value>, String> {
        if !self.config.enabled {
            return Err("chatops.verify is disabled".into());
        }
        let user = request
            .require_parameter("user")
            .map_err(|e| e.to_string())?;
        let case_id = match &request.case_id {
            Some(case) if !case.trim().is_empty() => case.clone(),
            _ => request
                .require_parameter("case_id")
                .map_err(|e| e.to_string())?,
        };
        let message = request
            .require_parameter("message")
            .map_err(|e| e.to_string())?;
        let title = request
            .render_parameter("title")
            .map_err(|e| e.to_string())?
            .unwrap_or_else(|| "Unusual activity on your account".into());
        let severity = match request.parameter_str("severity") {
            Some(raw) => raw.parse::<Severity>().map_err(|e| e.to_string())?,
            None => Severity::High,
        };
        let transport = self
            .credentials
            .chat_transport(&request.tenant_id)
            .await
            .map_err(|e| format!("could not read chat credentials: {e}"))?
            .ok_or_else(|| {
                format!(
                    "no Slack or Teams credentials are configured for tenant '{}'",
                    request.tenant_id
                )
            })?;

        let now = self.clock.now();
        let expires_at =
            now + chrono::Duration::from_std(self.config.timeout).unwrap_or(chrono::Duration::MAX);
        let prompt = VerificationPrompt {
            prompt_id: new_id("vfy"),
            case_id: case_id.clone(),
            tenant_id: request.tenant_id.clone(),
            user_ref: user.clone(),
            title,
            message,
            severity,
            facts: Vec::new(),
        };
        self.store
            .create_prompt(
                &PendingPrompt {
                    prompt_id: prompt.prompt_id.clone(),
                    tenant_id: prompt.tenant_id.clone(),
                    case_id: case_id.clone(),
                    run_id: request.run_id.clone(),
                    user_ref: user.clone(),
                    expires_at,
                },
                now,
            )
            .await
            .map_err(|e| e.to_string())?;

        let receipt = match &transport {
            ChatTransport::Slack {
                bot_token,
                api_base,
            } => {
                let message =
                    verification_message(&prompt, self.signer.as_ref(), &self.config.callback_base)
                        .map_err(|e| e.to_string())?;
                let mut client = SlackBotClient::new(bot_token.expose_secret())
                    .map_err(|e| e.to_string())?
                    .with_delivery(self.delivery.clone());
                if let Some(base) = api_base {
                    client = client.with_base_url(base).map_err(|e| e.to_string())?;
                }
                client
                    .post_message(&user, &message)
                    .await
                    .map_err(|e| e.to_string())?
                    .ts
            }
            ChatTransport::Teams { webhook_url } => {
                let mode = ButtonMode::SignedLinks {
                    signer: self.signer.as_ref(),
                    callback_base: &self.config.callback_base,
                    user_ref: &user,
                };
                let card =
                    verification_card(&prompt, mode, aisoc_notify_teams::card::DEFAULT_VERSION)
                        .map_err(|e| e.to_string())?;
                let teams = TeamsWebhookNotifier::builder()
                    .webhook_url(webhook_url.expose_secret())
                    .format(WebhookFormat::Workflows)
                    .delivery(self.delivery.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
                teams
                    .send_payload(&card.to_message())
                    .await
                    .map_err(|e| e.to_string())?;
                String::new()
            }
        };

        self.timeline
            .record(TimelineEvent {
                tenant_id: request.tenant_id.clone(),
                case_id,
                kind: "chatops.verify.prompted".into(),
                data: json!({
                    "prompt_id": prompt.prompt_id,
                    "user": user,
                    "transport": transport.name(),
                    "expires_at": expires_at,
                }),
                at: now,
            })
            .await
            .map_err(|e| {
                format!("prompt posted but the case timeline could not be updated: {e}")
            })?;

        let mut output = Map::new();
        output.insert("prompt_id".into(), json!(prompt.prompt_id));
        output.insert("transport".into(), json!(transport.name()));
        output.insert("expires_at".into(), json!(expires_at));
        if !receipt.is_empty() {
            output.insert("message_ts".into(), json!(receipt));
        }
        output.insert("choices".into(), json!(VERIFY_CHOICES));
        Ok(output)
    }
}

#[async_trait]
impl ActionExecutor for ChatopsVerifyExecutor {
    async fn execute(&self, request: &ActionRequest) -> ActionResult {
        match self.run(request).await {
            Ok(output) => ActionResult::running(output),
            Err(error) => ActionResult::failed(error),
        }
    }
}

/// Why a verification click was not recorded. Each reads as the page the person sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyCallbackError {
    /// The token is forged, altered, truncated or for another flow.
    #[error("This link is not valid.")]
    InvalidLink,
    /// The token expired.
    #[error("This link has expired; contact your security team if you still need to answer.")]
    Expired,
    /// The same choice was recorded before.
    #[error("You already answered '{choice}'; nothing more to do.")]
    AlreadyAnswered {
        /// The recorded choice.
        choice: String,
    },
    /// Another choice of the same prompt was recorded before.
    #[error(
        "This prompt was already answered with '{recorded}'; your new answer was not recorded."
    )]
    AnsweredOtherwise {
        /// The recorded choice.
        recorded: String,
    },
    /// Recording failed.
    #[error("Your answer could not be recorded right now: {0}")]
    Unavailable(String),
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyAnswered {
    /// The choice.
    pub choice: String,
    /// The case.
    pub case_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Whether a playbook run was resumed.
    pub resumed: bool,
}

/// Handles clicks on verification buttons.
#[derive(Clone)]
pub struct VerifyCallback {
    signer: Arc<dyn CallbackTokenSigner>,
    store: Arc<dyn VerificationStore>,
    timeline: Arc<dyn CaseTimeline>,
    resumer: Arc<dyn PlaybookResumer>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for VerifyCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCallback").finish_non_exhaustive()
    }
}

impl VerifyCallback {
    /// A handler verifying with `signer` (the executor's configuration builds the same one).
    pub fn new(
        signer: Arc<dyn CallbackTokenSigner>,
        store: Arc<dyn VerificationStore>,
        timeline: Arc<dyn CaseTimeline>,
        resumer: Arc<dyn PlaybookResumer>,
    ) -> Self {
        Self {
            signer,
            store,
            timeline,
            resumer,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock used for the answer time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies the token, records the answer once, updates the timeline and resumes the run.
    pub async fn handle(&self, token: &str) -> Result<VerifyAnswered, VerifyCallbackError> {
        let claims = self.signer.verify(token).map_err(|e| match e {
            TokenError::Expired { .. } => VerifyCallbackError::Expired,
            _ => VerifyCallbackError::InvalidLink,
        })?;
        if claims.action != TOKEN_ACTION || !VERIFY_CHOICES.contains(&claims.choice.as_str()) {
            return Err(VerifyCallbackError::InvalidLink);
        }
        let prompt_id = claims
            .prompt_id
            .as_deref()
            .ok_or(VerifyCallbackError::InvalidLink)?;
        let now = self.clock.now();
        let prompt = match self
            .store
            .answer(prompt_id, &claims.choice, &claims.token_id, now)
            .await
            .map_err(|e| VerifyCallbackError::Unavailable(e.to_string()))?
        {
            AnswerOutcome::Recorded(prompt) => prompt,
            AnswerOutcome::AlreadyAnswered { choice } if choice == claims.choice => {
                return Err(VerifyCallbackError::AlreadyAnswered { choice });
            }
            AnswerOutcome::AlreadyAnswered { choice } => {
                return Err(VerifyCallbackError::AnsweredOtherwise { recorded: choice });
            }
            AnswerOutcome::UnknownPrompt => return Err(VerifyCallbackError::InvalidLink),
        };
        if prompt.case_id != claims.case_id || prompt.tenant_id != claims.tenant_id {
            return Err(VerifyCallbackError::InvalidLink);
        }
        self.timeline
            .record(TimelineEvent {
                tenant_id: prompt.tenant_id.clone(),
                case_id: prompt.case_id.clone(),
                kind: format!("chatops.verify.{}", claims.choice),
                data: json!({"prompt_id": prompt.prompt_id, "user": claims.user_ref}),
                at: now,
            })
            .await
            .map_err(VerifyCallbackError::Unavailable)?;
        let resumed = match &prompt.run_id {
            Some(run_id) => {
                self.resumer
                    .resume(run_id, &claims.choice)
                    .await
                    .map_err(VerifyCallbackError::Unavailable)?;
                true
            }
            None => false,
        };
        Ok(VerifyAnswered {
            choice: claims.choice,
            case_id: prompt.case_id,
            tenant_id: prompt.tenant_id,
            resumed,
        })
    }
}
