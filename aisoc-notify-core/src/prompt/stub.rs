//! A recording [`PromptTransport`] for flows' tests (feature `test-util`): it posts nothing,
//! remembers every prompt and update, and fails from a script.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{ApprovalAsk, PromptError, PromptOutcome, PromptReceipt, PromptTransport, SignedLinks};
use crate::decision::VerificationPrompt;

/// A prompt the transport was asked to post.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PostedPrompt {
    /// A verification prompt and the links its buttons would open.
    Verification {
        /// The prompt.
        prompt: VerificationPrompt,
        /// `(choice, url)` in display order.
        links: Vec<(&'static str, url::Url)>,
    },
    /// An approval request.
    Approval(ApprovalAsk),
}

/// Records every prompt and update, answers receipts `message(name, <recipient>, msg-<n>)`,
/// and fails calls from a script first, in the spirit of lettre's `StubTransport`.
///
/// ```
/// use aisoc_notify_core::prompt::stub::RecordingPromptTransport;
/// use aisoc_notify_core::prompt::{PromptError, PromptOutcome, PromptReceipt, PromptTransport};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let transport = RecordingPromptTransport::new("chat")
///     .then_succeed()
///     .then_fail(PromptError::Unsupported { transport: "chat", operation: "update" });
/// let receipt = PromptReceipt::message("chat", "D1", "msg-1");
/// assert!(transport.update(&receipt, &PromptOutcome::Expired).await.is_ok());
/// assert!(transport.update(&receipt, &PromptOutcome::Expired).await.is_err());
/// assert!(transport.update(&receipt, &PromptOutcome::Expired).await.is_ok());
/// assert_eq!(transport.updates().len(), 3);
/// # });
/// ```
#[derive(Debug)]
pub struct RecordingPromptTransport {
    name: String,
    script: Mutex<VecDeque<Option<PromptError>>>,
    posted: Mutex<Vec<PostedPrompt>>,
    updates: Mutex<Vec<(PromptReceipt, PromptOutcome)>>,
}

impl RecordingPromptTransport {
    /// A transport called `name` that posts and updates everything.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            script: Mutex::new(VecDeque::new()),
            posted: Mutex::new(Vec::new()),
            updates: Mutex::new(Vec::new()),
        }
    }

    /// Fails the next call not yet scripted (a send or an update) with `error`.
    pub fn then_fail(self, error: PromptError) -> Self {
        lock(&self.script).push_back(Some(error));
        self
    }

    /// Lets the next call not yet scripted succeed (to fail a later one).
    pub fn then_succeed(self) -> Self {
        lock(&self.script).push_back(None);
        self
    }

    /// Every prompt posted (or attempted), in order.
    pub fn posted(&self) -> Vec<PostedPrompt> {
        lock(&self.posted).clone()
    }

    /// Every update asked for (or attempted), in order.
    pub fn updates(&self) -> Vec<(PromptReceipt, PromptOutcome)> {
        lock(&self.updates).clone()
    }

    fn scripted_failure(&self) -> Option<PromptError> {
        lock(&self.script).pop_front().flatten()
    }

    fn answer(&self, recipient: &str) -> Result<PromptReceipt, PromptError> {
        if let Some(error) = self.scripted_failure() {
            return Err(error);
        }
        let n = lock(&self.posted).len();
        Ok(PromptReceipt::message(
            self.name.clone(),
            recipient,
            format!("msg-{n}"),
        ))
    }
}

#[async_trait]
impl PromptTransport for RecordingPromptTransport {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send_verification(
        &self,
        prompt: &VerificationPrompt,
        links: SignedLinks<'_>,
    ) -> Result<PromptReceipt, PromptError> {
        let links = links
            .verification_links(prompt)
            .map_err(PromptError::token)?;
        lock(&self.posted).push(PostedPrompt::Verification {
            prompt: prompt.clone(),
            links,
        });
        self.answer(&prompt.user_ref)
    }

    async fn send_approval(
        &self,
        ask: &ApprovalAsk,
        _links: Option<SignedLinks<'_>>,
    ) -> Result<PromptReceipt, PromptError> {
        lock(&self.posted).push(PostedPrompt::Approval(ask.clone()));
        self.answer(ask.recipient.as_deref().unwrap_or("default"))
    }

    async fn update(
        &self,
        receipt: &PromptReceipt,
        outcome: &PromptOutcome,
    ) -> Result<PromptReceipt, PromptError> {
        lock(&self.updates).push((receipt.clone(), outcome.clone()));
        if let Some(error) = self.scripted_failure() {
            return Err(error);
        }
        Ok(receipt.clone())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
