//! Asking a person something in chat: the [`PromptTransport`] trait Slack and Teams implement,
//! so the flows that wait on a human (approvals, `chatops.verify`) depend on this crate only.
//!
//! A flow hands a transport a prompt — a "was this you?" [`VerificationPrompt`] or an approval
//! request ([`ApprovalAsk`]) — and gets a [`PromptReceipt`] back: where the message went and
//! its id, enough to find it again. Once the prompt is answered (or expires) the flow passes
//! the receipt and the [`PromptOutcome`] to [`PromptTransport::update`], which replaces the
//! buttons with the outcome. A transport that cannot edit what it posted (a Teams incoming
//! webhook) answers [`PromptError::Unsupported`] instead of pretending it did.
//!
//! ## Who mints the button links
//!
//! The caller passes [`SignedLinks`] — its token signer and public callback prefix — and the
//! transport's renderer mints one token per button, rather than the caller minting URLs and
//! handing them over:
//!
//! - the buttons and their tokens are one thing: the renderer decides which choices appear,
//!   and each needs its own token bound to the prompt, the person and that choice. Minting
//!   where the buttons are drawn keeps the set of links equal to the set of buttons (the Slack
//!   and Teams renderers already work this way);
//! - the transport only borrows the signer for the one call; the key stays with the flow and
//!   no transport stores it;
//! - a transport that does not render (a test double, a console) gets the same links from
//!   [`SignedLinks::verification_links`].
//!
//! ## Errors
//!
//! Delivery failures are the adapters' [`NotifyError`]s, so they carry
//! [`retry_class`](PromptError::retry_class) like every other delivery; [`PromptError`] adds
//! only what a notifier never says: "this transport cannot do that" and "this receipt is not
//! one of mine". Both are `NonRetryable`.
//!
//! ```
//! use aisoc_notify_core::prompt::{PromptError, PromptOutcome, PromptReceipt, PromptTransport};
//! # use aisoc_notify_core::prompt::{ApprovalAsk, SignedLinks};
//! # use aisoc_notify_core::decision::VerificationPrompt;
//! use aisoc_notify_core::async_trait;
//!
//! /// Prints prompts; handy while developing a flow.
//! struct ConsolePrompts;
//!
//! #[async_trait]
//! impl PromptTransport for ConsolePrompts {
//!     fn name(&self) -> &str {
//!         "console"
//!     }
//!
//!     async fn send_verification(
//!         &self,
//!         prompt: &VerificationPrompt,
//!         links: SignedLinks<'_>,
//!     ) -> Result<PromptReceipt, PromptError> {
//!         println!("{}: {}", prompt.user_ref, prompt.title);
//!         for (choice, url) in links.verification_links(prompt).map_err(PromptError::token)? {
//!             println!("  {choice}: {url}");
//!         }
//!         Ok(PromptReceipt::new("console"))
//!     }
//!
//!     async fn send_approval(
//!         &self,
//!         ask: &ApprovalAsk,
//!         _links: Option<SignedLinks<'_>>,
//!     ) -> Result<PromptReceipt, PromptError> {
//!         println!("approval {}: {}", ask.prompt.approval_id, ask.prompt.title);
//!         Ok(PromptReceipt::new("console"))
//!     }
//!
//!     async fn update(
//!         &self,
//!         _receipt: &PromptReceipt,
//!         _outcome: &PromptOutcome,
//!     ) -> Result<PromptReceipt, PromptError> {
//!         Err(PromptError::Unsupported { transport: "console", operation: "update a printed prompt" })
//!     }
//! }
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::action::ActionError;
use crate::decision::{ApprovalPrompt, Decision, VERIFY_CHOICES, VerificationPrompt};
use crate::notification::Fact;
use crate::notifier::NotifyError;
use crate::retry::RetryClass;
use crate::token::{CallbackGrant, CallbackTokenSigner, TokenError, signed_callback_url};

/// The token `action` claim of verification prompts (`chatops.verify`).
pub const VERIFY_FLOW: &str = "chatops.verify";

/// Posts prompts to people and updates them once answered.
///
/// Object safe (`Arc<dyn PromptTransport>`); a flow gets one per tenant at run time, built from
/// that tenant's credentials.
#[async_trait]
pub trait PromptTransport: Send + Sync {
    /// The transport's name (`slack`, `teams`), recorded in receipts and timelines.
    fn name(&self) -> &str;

    /// Posts a "was this you?" prompt to `prompt.user_ref`; each of its buttons opens a link
    /// minted with `links` for one of [`VERIFY_CHOICES`].
    async fn send_verification(
        &self,
        prompt: &VerificationPrompt,
        links: SignedLinks<'_>,
    ) -> Result<PromptReceipt, PromptError>;

    /// Posts an approval request with Approve / Deny buttons. Transports whose buttons call
    /// back on their own (Slack interactivity) ignore `links`; those that can only open links
    /// (a Teams webhook card) need them and answer [`PromptError::Unsupported`] without.
    async fn send_approval(
        &self,
        ask: &ApprovalAsk,
        links: Option<SignedLinks<'_>>,
    ) -> Result<PromptReceipt, PromptError>;

    /// Replaces the buttons of the prompt `receipt` points at with `outcome`, and returns the
    /// receipt of the updated message.
    async fn update(
        &self,
        receipt: &PromptReceipt,
        outcome: &PromptOutcome,
    ) -> Result<PromptReceipt, PromptError>;
}

/// Where a prompt's link buttons point: `callback_base` followed by a token `signer` mints for
/// one choice.
#[derive(Clone, Copy)]
pub struct SignedLinks<'a> {
    /// Mints the tokens (the flow's key; the transport only borrows it).
    pub signer: &'a dyn CallbackTokenSigner,
    /// The public callback prefix (`https://aisoc.example.com/v1/chatops/verify/`).
    pub callback_base: &'a url::Url,
}

impl std::fmt::Debug for SignedLinks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedLinks")
            .field("callback_base", &self.callback_base.as_str())
            .finish_non_exhaustive()
    }
}

impl<'a> SignedLinks<'a> {
    /// Links minted by `signer` under `callback_base`.
    pub fn new(signer: &'a dyn CallbackTokenSigner, callback_base: &'a url::Url) -> Self {
        Self {
            signer,
            callback_base,
        }
    }

    /// One link per verification choice, in [`VERIFY_CHOICES`] order, each bound to the
    /// prompt, its person and the choice: the links the Slack and Teams renderers put on
    /// their buttons.
    pub fn verification_links(
        &self,
        prompt: &VerificationPrompt,
    ) -> Result<Vec<(&'static str, url::Url)>, TokenError> {
        VERIFY_CHOICES
            .iter()
            .map(|choice| {
                let grant = CallbackGrant {
                    action: VERIFY_FLOW.to_owned(),
                    case_id: prompt.case_id.clone(),
                    tenant_id: prompt.tenant_id.clone(),
                    user_ref: prompt.user_ref.clone(),
                    choice: (*choice).to_owned(),
                    prompt_id: Some(prompt.prompt_id.clone()),
                };
                Ok((
                    *choice,
                    signed_callback_url(self.signer, self.callback_base, &grant)?,
                ))
            })
            .collect()
    }
}

/// An approval request to post: the prompt the renderers draw, its deadline, and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalAsk {
    /// The request as the cards show it (id, tenant, summary, risk score, …).
    pub prompt: ApprovalPrompt,
    /// When the request stops accepting decisions.
    pub expires_at: DateTime<Utc>,
    /// Where to post (a Slack channel or user id); `None` uses the transport's default, and
    /// transports with one fixed destination (a Teams webhook) ignore it.
    pub recipient: Option<String>,
}

impl ApprovalAsk {
    /// An ask for `prompt`, open until `expires_at`, to the transport's default destination.
    pub fn new(prompt: ApprovalPrompt, expires_at: DateTime<Utc>) -> Self {
        Self {
            prompt,
            expires_at,
            recipient: None,
        }
    }

    /// Posts to `recipient` instead of the transport's default.
    pub fn to(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }

    /// The prompt with its deadline as a last fact (`Expires: 2026-11-23 10:30 UTC`), for
    /// renderers that draw facts but know nothing of deadlines.
    pub fn prompt_with_deadline(&self) -> ApprovalPrompt {
        let mut prompt = self.prompt.clone();
        prompt.facts.push(Fact {
            label: "Expires".into(),
            value: self.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        });
        prompt
    }
}

/// How a prompt ended, shown in place of its buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptOutcome {
    /// An approval request was decided.
    Decided {
        /// The decision.
        decision: Decision,
        /// Who decided, as shown.
        reviewer: String,
    },
    /// A verification prompt was answered.
    Answered {
        /// One of [`VERIFY_CHOICES`].
        choice: String,
    },
    /// Nobody answered in time.
    Expired,
}

impl PromptOutcome {
    /// The outcome in a few plain words ("Approved by alice", "Answered: it was me"), for
    /// transports to escape into their markup.
    pub fn summary(&self) -> String {
        match self {
            PromptOutcome::Decided {
                decision: Decision::Approve,
                reviewer,
            } => format!("Approved by {reviewer}"),
            PromptOutcome::Decided {
                decision: Decision::Deny,
                reviewer,
            } => format!("Denied by {reviewer}"),
            PromptOutcome::Answered { choice } => match choice.as_str() {
                "acknowledge" => "Answered: it was me".to_owned(),
                "deny" => "Answered: it wasn't me; your security team has been told".to_owned(),
                "escalate" => "Answered: escalated to your security team".to_owned(),
                other => format!("Answered: {other}"),
            },
            PromptOutcome::Expired => "Expired without an answer".to_owned(),
        }
    }
}

/// What a transport reports for a posted prompt: enough to update it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PromptReceipt {
    /// The transport that posted it (`slack`, `teams`).
    pub transport: String,
    /// The conversation it went to (a Slack channel or DM id), when the transport says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The message's id in that conversation (a Slack `ts`), when the transport has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The API base the conversation is reached through, for transports whose host differs
    /// per conversation (a Teams bot's `serviceUrl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
}

impl PromptReceipt {
    /// A receipt naming only the transport (it posted, but has no id to update by).
    pub fn new(transport: impl Into<String>) -> Self {
        Self {
            transport: transport.into(),
            channel: None,
            message_id: None,
            service_url: None,
        }
    }

    /// A receipt for message `message_id` in `channel`.
    pub fn message(
        transport: impl Into<String>,
        channel: impl Into<String>,
        message_id: impl Into<String>,
    ) -> Self {
        Self {
            transport: transport.into(),
            channel: Some(channel.into()),
            message_id: Some(message_id.into()),
            service_url: None,
        }
    }

    /// The receipt, reached through `service_url` (a Teams bot's `serviceUrl`).
    pub fn with_service_url(mut self, service_url: impl Into<String>) -> Self {
        self.service_url = Some(service_url.into());
        self
    }
}

/// Why a prompt was not posted or updated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Rendering or delivery failed, as a notifier reports it.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// The transport cannot do this at all (edit a message posted through a webhook, draw
    /// approval buttons without links).
    #[error("{transport} cannot {operation}")]
    Unsupported {
        /// The transport.
        transport: &'static str,
        /// What it cannot do.
        operation: &'static str,
    },
    /// The receipt was not issued by this transport, or lacks what an update needs.
    #[error("this {transport} transport cannot update a prompt from that receipt")]
    ForeignReceipt {
        /// The transport asked to update.
        transport: &'static str,
    },
}

impl PromptError {
    /// Whether, and when, trying again can succeed.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            PromptError::Notify(err) => err.retry_class(),
            PromptError::Unsupported { .. } | PromptError::ForeignReceipt { .. } => {
                RetryClass::NonRetryable
            }
        }
    }

    /// A token that could not be minted, as a rendering failure.
    pub fn token(err: TokenError) -> Self {
        PromptError::Notify(NotifyError::Render(format!(
            "could not mint a callback token: {err}"
        )))
    }
}

impl From<PromptError> for ActionError {
    fn from(err: PromptError) -> Self {
        match err {
            PromptError::Notify(err) => ActionError::Notify(err),
            other => ActionError::Unsupported(other.to_string()),
        }
    }
}

#[cfg(feature = "test-util")]
pub mod stub;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::Severity;
    use crate::token::HmacCallbackTokenSigner;

    fn prompt() -> VerificationPrompt {
        VerificationPrompt {
            prompt_id: "vfy_1".into(),
            case_id: "case-7".into(),
            tenant_id: "acme".into(),
            user_ref: "U0ALICE".into(),
            title: "Sign-in from Portugal".into(),
            message: "Was this you?".into(),
            severity: Severity::High,
            facts: Vec::new(),
        }
    }

    #[test]
    fn verification_links_carry_one_token_per_choice_bound_to_the_prompt_and_person() {
        let signer = HmacCallbackTokenSigner::new("k1", vec![7; 32]).unwrap();
        let base: url::Url = "https://aisoc.example.com/v1/chatops/verify/"
            .parse()
            .unwrap();
        let links = SignedLinks::new(&signer, &base)
            .verification_links(&prompt())
            .unwrap();
        let choices: Vec<&str> = links.iter().map(|(choice, _)| *choice).collect();
        assert_eq!(choices, VERIFY_CHOICES);
        for (choice, url) in links {
            let token = url.as_str().strip_prefix(base.as_str()).unwrap();
            let claims = signer.verify(token).unwrap();
            assert_eq!(claims.action, VERIFY_FLOW);
            assert_eq!(claims.choice, choice);
            assert_eq!(claims.user_ref, "U0ALICE");
            assert_eq!(claims.case_id, "case-7");
            assert_eq!(claims.prompt_id.as_deref(), Some("vfy_1"));
        }
    }

    #[test]
    fn a_transport_that_cannot_update_fails_for_good_and_says_so() {
        let err = PromptError::Unsupported {
            transport: "teams",
            operation: "update a card posted through an incoming webhook",
        };
        assert_eq!(err.retry_class(), RetryClass::NonRetryable);
        assert_eq!(
            err.to_string(),
            "teams cannot update a card posted through an incoming webhook"
        );
        let action: ActionError = err.into();
        assert!(matches!(action, ActionError::Unsupported(_)));
    }

    #[test]
    fn delivery_failures_keep_their_class_through_the_action_error() {
        let throttled = PromptError::from(NotifyError::RateLimited {
            service: "slack",
            retry_after: Some(std::time::Duration::from_secs(3)),
        });
        assert_eq!(
            throttled.retry_class(),
            RetryClass::Throttled(std::time::Duration::from_secs(3))
        );
        let action: ActionError = throttled.into();
        assert_eq!(
            action.retry_class(),
            RetryClass::Throttled(std::time::Duration::from_secs(3))
        );
    }

    #[test]
    fn an_ask_shows_its_deadline_as_the_last_fact() {
        let ask = ApprovalAsk::new(
            ApprovalPrompt {
                approval_id: "apr_1".into(),
                tenant_id: "acme".into(),
                title: "Isolate web-01".into(),
                summary: "C2 beaconing".into(),
                risk_score: Some(82),
                severity: Severity::High,
                requested_by: None,
                facts: Vec::new(),
                console_url: None,
            },
            "2026-11-23T10:30:00Z".parse().unwrap(),
        )
        .to("C0APPROVERS");
        let prompt = ask.prompt_with_deadline();
        let last = prompt.facts.last().unwrap();
        assert_eq!(
            (last.label.as_str(), last.value.as_str()),
            ("Expires", "2026-11-23 10:30 UTC")
        );
        assert_eq!(ask.recipient.as_deref(), Some("C0APPROVERS"));
    }

    #[test]
    fn outcomes_read_as_the_person_should_see_them() {
        let approved = PromptOutcome::Decided {
            decision: Decision::Approve,
            reviewer: "alice".into(),
        };
        assert_eq!(approved.summary(), "Approved by alice");
        let answered = PromptOutcome::Answered {
            choice: "acknowledge".into(),
        };
        assert_eq!(answered.summary(), "Answered: it was me");
        assert_eq!(
            PromptOutcome::Expired.summary(),
            "Expired without an answer"
        );
    }

    #[test]
    fn receipts_round_trip_through_json_without_empty_fields() {
        let receipt = PromptReceipt::message("slack", "D0ALICE", "1700000000.000100");
        let json = serde_json::to_value(&receipt).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"transport": "slack", "channel": "D0ALICE", "message_id": "1700000000.000100"})
        );
        assert_eq!(
            serde_json::to_value(PromptReceipt::new("teams")).unwrap(),
            serde_json::json!({"transport": "teams"})
        );
        assert_eq!(
            serde_json::from_value::<PromptReceipt>(json).unwrap(),
            receipt
        );
    }
}
