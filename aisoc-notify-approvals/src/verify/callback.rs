//! The answer to a verification prompt: a click on one of its signed links.

use std::sync::Arc;

use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::decision::VERIFY_CHOICES;
use aisoc_notify_core::prompt::{PromptError, PromptOutcome, PromptReceipt};
use aisoc_notify_core::token::{CallbackTokenSigner, TokenError};
use serde_json::json;

use super::TOKEN_ACTION;
use super::hooks::{CaseTimeline, CredentialProvider, PlaybookResumer, TimelineEvent};
use super::prompt_store::{AnswerOutcome, VerificationStore};

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
    transports: Option<Arc<dyn CredentialProvider>>,
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
            transports: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces each answered prompt's buttons with the answer, through the tenant's transport
    /// from `credentials` (the executor's). Best effort: the answer counts either way, and a
    /// transport that cannot edit what it posted (a Teams webhook) is left as it is.
    pub fn with_prompt_updates(mut self, credentials: Arc<dyn CredentialProvider>) -> Self {
        self.transports = Some(credentials);
        self
    }

    /// Replaces the clock used for the answer time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies the token, records the answer once, updates the timeline, resumes the run and
    /// (when enabled) the posted prompt.
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
            .map_err(|e| VerifyCallbackError::Unavailable(e.to_string()))?;
        let resumed = match &prompt.run_id {
            Some(run_id) => self
                .resumer
                .resume(run_id, &claims.choice)
                .await
                .map(|()| true)
                .map_err(|e| VerifyCallbackError::Unavailable(e.to_string())),
            None => Ok(false),
        };
        if let Some(receipt) = &prompt.receipt {
            self.show_answer(&prompt.tenant_id, receipt, &claims.choice)
                .await;
        }
        Ok(VerifyAnswered {
            choice: claims.choice,
            case_id: prompt.case_id,
            tenant_id: prompt.tenant_id,
            resumed: resumed?,
        })
    }

    async fn show_answer(&self, tenant_id: &str, receipt: &PromptReceipt, choice: &str) {
        let Some(transports) = &self.transports else {
            return;
        };
        let transport = match transports.prompt_transport(tenant_id).await {
            Ok(Some(transport)) => transport,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%tenant_id, %error, "could not look up the chat transport to update an answered prompt");
                return;
            }
        };
        let outcome = PromptOutcome::Answered {
            choice: choice.to_owned(),
        };
        match transport.update(receipt, &outcome).await {
            Ok(_) => {}
            Err(PromptError::Unsupported { transport, .. }) => {
                tracing::debug!(%transport, "answered prompt left as posted: the transport cannot edit it");
            }
            Err(error) => {
                tracing::warn!(%tenant_id, %error, class = %error.retry_class(), "could not update an answered prompt");
            }
        }
    }
}
