//! The answer to a verification prompt: a click on one of its signed links, then on the
//! confirmation page's button.

use std::sync::Arc;

use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::decision::VERIFY_CHOICES;
use aisoc_notify_core::prompt::{PromptError, PromptOutcome, PromptReceipt};
use aisoc_notify_core::token::{CallbackClaims, CallbackTokenSigner, TokenError};

use super::TOKEN_ACTION;
use super::hooks::CredentialProvider;
use super::prompt_store::{Answer, AnswerOutcome, VerificationStore};
use crate::follow_up::FollowUpDispatcher;

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

/// What an answer link asks, read without recording anything: the confirmation page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPreview {
    /// The choice the link would record.
    pub choice: String,
    /// What was asked, in one line.
    pub title: String,
    /// What happened, as the person was told it.
    pub message: String,
    /// The case.
    pub case_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The choice already recorded for the prompt, if any: the link can no longer answer.
    pub answered: Option<String>,
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyAnswered {
    /// The prompt.
    pub prompt_id: String,
    /// The choice.
    pub choice: String,
    /// The case.
    pub case_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Whether a playbook run waits: its resume was queued with the answer and is delivered
    /// by the [`FollowUpDispatcher`].
    pub resume_queued: bool,
}

/// Handles clicks on verification links: [`preview`](VerifyCallback::preview) for the page a
/// link opens (records nothing), [`answer`](VerifyCallback::answer) for its button.
#[derive(Clone)]
pub struct VerifyCallback {
    signer: Arc<dyn CallbackTokenSigner>,
    store: Arc<dyn VerificationStore>,
    dispatcher: Arc<FollowUpDispatcher>,
    transports: Option<Arc<dyn CredentialProvider>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for VerifyCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCallback").finish_non_exhaustive()
    }
}

impl VerifyCallback {
    /// A handler verifying with `signer` (the executor's configuration builds the same one),
    /// recording in `store` and waking `dispatcher` (built over the same store) when an answer
    /// queued follow-ups. Run the dispatcher's loop ([`FollowUpDispatcher::spawn`]) beside it.
    pub fn new(
        signer: Arc<dyn CallbackTokenSigner>,
        store: Arc<dyn VerificationStore>,
        dispatcher: Arc<FollowUpDispatcher>,
    ) -> Self {
        Self {
            signer,
            store,
            dispatcher,
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

    fn claims(&self, token: &str) -> Result<(CallbackClaims, String), VerifyCallbackError> {
        let claims = self.signer.verify(token).map_err(|e| match e {
            TokenError::Expired { .. } => VerifyCallbackError::Expired,
            _ => VerifyCallbackError::InvalidLink,
        })?;
        if claims.action != TOKEN_ACTION || !VERIFY_CHOICES.contains(&claims.choice.as_str()) {
            return Err(VerifyCallbackError::InvalidLink);
        }
        let prompt_id = claims
            .prompt_id
            .clone()
            .ok_or(VerifyCallbackError::InvalidLink)?;
        Ok((claims, prompt_id))
    }

    /// Verifies the token and reads what it would answer. Never records anything: this is
    /// what a GET of the link (a person, a mail scanner, a link preview) gets.
    pub async fn preview(&self, token: &str) -> Result<AnswerPreview, VerifyCallbackError> {
        let (claims, prompt_id) = self.claims(token)?;
        let stored = self
            .store
            .prompt(&claims.tenant_id, &prompt_id)
            .await
            .map_err(|e| VerifyCallbackError::Unavailable(e.to_string()))?
            .filter(|s| s.prompt.case_id == claims.case_id)
            .ok_or(VerifyCallbackError::InvalidLink)?;
        Ok(AnswerPreview {
            choice: claims.choice,
            title: stored.prompt.title,
            message: stored.prompt.message,
            case_id: stored.prompt.case_id,
            tenant_id: stored.prompt.tenant_id,
            answered: stored.answered,
        })
    }

    /// Verifies the token and records its answer once per prompt, together with the answer's
    /// follow-ups (timeline entry, playbook resume), then wakes the dispatcher and (when
    /// enabled) updates the posted prompt. A second answer, the same choice or another, is
    /// refused and queues nothing.
    pub async fn answer(&self, token: &str) -> Result<VerifyAnswered, VerifyCallbackError> {
        let (claims, prompt_id) = self.claims(token)?;
        let answer = Answer {
            prompt_id,
            tenant_id: claims.tenant_id,
            case_id: claims.case_id,
            user_ref: claims.user_ref,
            choice: claims.choice,
            token_id: claims.token_id,
        };
        let prompt = match self
            .store
            .answer(&answer, self.clock.now())
            .await
            .map_err(|e| VerifyCallbackError::Unavailable(e.to_string()))?
        {
            AnswerOutcome::Recorded(prompt) => *prompt,
            AnswerOutcome::AlreadyAnswered { choice } if choice == answer.choice => {
                return Err(VerifyCallbackError::AlreadyAnswered { choice });
            }
            AnswerOutcome::AlreadyAnswered { choice } => {
                return Err(VerifyCallbackError::AnsweredOtherwise { recorded: choice });
            }
            AnswerOutcome::UnknownPrompt => return Err(VerifyCallbackError::InvalidLink),
        };
        self.dispatcher.wake();
        if let Some(receipt) = &prompt.receipt {
            self.show_answer(&prompt.tenant_id, receipt, &answer.choice)
                .await;
        }
        Ok(VerifyAnswered {
            prompt_id: prompt.prompt_id,
            choice: answer.choice,
            case_id: prompt.case_id,
            tenant_id: prompt.tenant_id,
            resume_queued: prompt.run_id.is_some(),
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
