//! Where prompts wait for their answer: [`VerificationStore`] and its in-memory
//! implementation (PostgreSQL's is `postgres::PgVerificationStore`).

use std::collections::HashMap;
use std::sync::Mutex;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::prompt::PromptReceipt;
use chrono::{DateTime, Utc};

use crate::store::StoreError;

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
    /// Where the prompt was posted, once it was ([`VerificationStore::attach_receipt`]); the
    /// answer replaces its buttons through it.
    pub receipt: Option<PromptReceipt>,
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

    /// Remembers where the prompt was posted; `Ok(false)` when there is no such prompt.
    async fn attach_receipt(
        &self,
        prompt_id: &str,
        receipt: &PromptReceipt,
    ) -> Result<bool, StoreError>;

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
    prompts: Mutex<HashMap<String, (PendingPrompt, Option<String>)>>,
}

impl MemoryVerificationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn prompts(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (PendingPrompt, Option<String>)>> {
        self.prompts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl VerificationStore for MemoryVerificationStore {
    async fn create_prompt(
        &self,
        prompt: &PendingPrompt,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut prompts = self.prompts();
        if prompts.contains_key(&prompt.prompt_id) {
            return Err(StoreError::Conflict(format!(
                "prompt '{}'",
                prompt.prompt_id
            )));
        }
        prompts.insert(prompt.prompt_id.clone(), (prompt.clone(), None));
        Ok(())
    }

    async fn attach_receipt(
        &self,
        prompt_id: &str,
        receipt: &PromptReceipt,
    ) -> Result<bool, StoreError> {
        Ok(match self.prompts().get_mut(prompt_id) {
            Some((prompt, _)) => {
                prompt.receipt = Some(receipt.clone());
                true
            }
            None => false,
        })
    }

    async fn answer(
        &self,
        prompt_id: &str,
        choice: &str,
        _token_id: &str,
        _now: DateTime<Utc>,
    ) -> Result<AnswerOutcome, StoreError> {
        let mut prompts = self.prompts();
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
