//! Approval cards: `POST /v1/approvals` posts the request, with Approve / Deny buttons, to the
//! channels the routing selects for it, and once it is decided (from Slack, Teams, the REST API
//! or an e-mail link) or expires, every card that can be edited is replaced with the outcome
//! ("✅ Approved by alice at 2026-11-28T14:05:00Z").
//!
//! ## Which channels get a card
//!
//! The request is routed as a notification with event type `approval_request`, the request's
//! tenant, and a severity from its risk score (90 and up `critical`, 70-89 `high`, 40-69 or no
//! score `medium`, below 40 `low`: [`ApprovalRequest::ask`]'s mapping), so the channels' event
//! filters and the notification rules choose where approvals go
//! ([`ChannelRegistry::selected`]). Of those:
//!
//! | channel | card | buttons | on decision |
//! |---|---|---|---|
//! | `slack` with `bot_token` + `channel_id` | `chat.postMessage` | interactive (the interactions route decides) | `chat.update` replaces it: `updated` |
//! | `slack` with `webhook_url` | the same card through the webhook | interactive; Slack replaces the clicked message through its `response_url` | a webhook cannot edit what it posted: `unsupported` |
//! | `teams` with `webhook_url` | an Adaptive Card through the webhook | signed links to the answer page | a webhook cannot edit what it posted: `unsupported` |
//! | `teams` with `service_url` + `conversation_id` (the bot) | an Adaptive Card the bot posts, with a Universal Actions `refresh` | `Action.Execute` (the bot's messaging endpoint decides) | the activity is replaced with the outcome: `updated`; a `refresh` shows the approval as it is now ([`ApprovalCards`] is the endpoint's card source) |
//! | `email` | a message whose Approve / Deny links open the answer page | signed links | a sent e-mail cannot change: `unsupported`; its links show the outcome |
//! | any other type | nothing: they cannot carry a decision | | |
//!
//! A card that could not be posted is recorded as `failed` with the reason; posting never
//! fails the create, which answers 201 with `cards: [{channel, type, state, error?}]`.
//!
//! ## The answer links
//!
//! Teams and e-mail buttons open `<public URL>/v1/approvals/answer/<token>`
//! ([`answer::router`]): a token signed with the callback-token key
//! (`AISOC_CHATOPS_HMAC_SECRET`, the `chatops.verify` one), for flow `approval`, one approval
//! and one choice, expiring with the request. `GET` shows a confirmation page and decides
//! nothing (mail scanners and link previews fetch links); its button `POST`s and decides
//! through [`ApprovalService`], like every other path. A request decides once, so every link
//! of a decided request only shows the outcome.
//!
//! ## Updates are durable
//!
//! Each posted card's receipt is kept in an [`ApprovalCardStore`] (PostgreSQL with
//! `DATABASE_URL`, else `<data dir>/approval-cards/cards.json`). [`ApprovalService`] tells
//! [`ApprovalCards`] of every decision ([`DecidedHook`]); the cards are updated in the
//! background. A card whose update failed in a way that can succeed later stays `posted` (with
//! the failure as its reason), and a reconciler ([`ApprovalCards::spawn_reconciler`]) goes
//! over `posted` cards every `AISOC_APPROVAL_CARDS_RECONCILE_SECONDS` (default 30) and on
//! start, updating those whose request is decided or past its deadline, so a crash between the
//! decision and the update leaves no live buttons. Updating twice is harmless
//! (`chat.update` with the same text).

pub mod answer;
mod file;
mod post;
mod postgres;
mod refresh;

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::model::{ApprovalRequest, ApprovalStatus};
use aisoc_notify_approvals::service::{ApprovalService, DecidedHook};
use aisoc_notify_approvals::store::ApprovalStore;
use aisoc_notify_approvals::verify::ChatopsVerifyConfig;
use aisoc_notify_core::async_trait;
use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::decision::Decision;
use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::notification::{EventType, Notification};
use aisoc_notify_core::prompt::{PromptError, PromptOutcome, PromptReceipt};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::token::{HmacCallbackTokenSigner, TokenError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

pub use self::file::FileApprovalCardStore;
pub use self::postgres::PgApprovalCardStore;
use crate::channels::ChannelRegistry;

/// The event type approval requests are routed as.
pub const APPROVAL_EVENT_TYPE: &str = "approval_request";
/// The token `action` claim of approval answer links (what the Teams card renderer mints).
pub const TOKEN_FLOW: &str = "approval";
/// Where answer links point, under the public URL.
pub const ANSWER_PATH: &str = "/v1/approvals/answer/";
/// How often the reconciler looks for cards left with live buttons, unless configured.
pub const DEFAULT_RECONCILE: Duration = Duration::from_secs(30);

/// Where a posted card stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardState {
    /// Posted with live buttons; updated once the request is decided or expires.
    Posted,
    /// Replaced with the outcome.
    Updated,
    /// Posted, but the channel cannot edit it (a webhook, an e-mail); its buttons lead to the
    /// outcome instead.
    Unsupported,
    /// Not posted, or the update failed for good; `reason` says why.
    Failed,
}

impl CardState {
    /// The lowercase name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            CardState::Posted => "posted",
            CardState::Updated => "updated",
            CardState::Unsupported => "unsupported",
            CardState::Failed => "failed",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            CardState::Posted,
            CardState::Updated,
            CardState::Unsupported,
            CardState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// One approval request's card in one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalCard {
    /// The request's tenant.
    pub tenant_id: String,
    /// The request.
    pub approval_id: String,
    /// The channel it went to.
    pub channel_id: String,
    /// The channel's type (`slack`, `teams`, `email`).
    pub channel_type: String,
    /// What the transport reported, to update the card by; `None` when nothing was posted.
    pub receipt: Option<PromptReceipt>,
    /// Where it stands.
    pub state: CardState,
    /// Why it failed, or why it is left as posted.
    pub reason: Option<String>,
    /// When it was last posted or updated.
    pub updated_at: DateTime<Utc>,
}

/// Where [`ApprovalCardStore::posted`] resumes: the last card of the previous page.
pub type CardCursor = (String, String, String);

/// Why the card store did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardStoreError {
    /// The backend failed (the message names no secret).
    #[error("approval card store unavailable: {0}")]
    Unavailable(String),
}

/// Where the cards' receipts are kept. Tenant-scoped except [`posted`](Self::posted), the
/// reconciler's scan.
#[async_trait]
pub trait ApprovalCardStore: Send + Sync {
    /// What the store is, for the start-up log.
    fn describe(&self) -> String;

    /// Stores `card`, replacing the one of the same tenant, approval and channel.
    async fn save(&self, card: &ApprovalCard) -> Result<(), CardStoreError>;

    /// The cards of one request, by channel id.
    async fn list(
        &self,
        tenant_id: &str,
        approval_id: &str,
    ) -> Result<Vec<ApprovalCard>, CardStoreError>;

    /// Up to `limit` cards in state `posted`, of every tenant, ordered by (tenant, approval,
    /// channel) and starting after `after`.
    async fn posted(
        &self,
        after: Option<&CardCursor>,
        limit: usize,
    ) -> Result<Vec<ApprovalCard>, CardStoreError>;
}

/// The card store for this gateway: PostgreSQL when `pool` is given, else the file in
/// `<data_dir>/approval-cards`.
pub async fn open_store(
    pool: Option<PgPool>,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn ApprovalCardStore>, CardStoreError> {
    Ok(match pool {
        Some(pool) => Arc::new(PgApprovalCardStore::open(pool).await?),
        None => Arc::new(FileApprovalCardStore::open(data_dir.join("approval-cards")).await?),
    })
}

/// How often to reconcile: `AISOC_APPROVAL_CARDS_RECONCILE_SECONDS` (1 to 86400), else
/// [`DEFAULT_RECONCILE`].
pub fn reconcile_interval(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Duration, ConfigError> {
    let seconds =
        crate::config::count_setting(lookup, "AISOC_APPROVAL_CARDS_RECONCILE_SECONDS", 1..=86_400)?;
    Ok(seconds.map_or(DEFAULT_RECONCILE, |s| Duration::from_secs(s as u64)))
}

/// Mints and checks answer-link tokens: the callback-token key, tokens for flow `approval`
/// expiring with the request.
#[derive(Clone)]
pub struct AnswerLinks {
    secret: SecretString,
    base: url::Url,
}

impl std::fmt::Debug for AnswerLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerLinks")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl AnswerLinks {
    /// Links under the verify flow's public URL, signed with its key.
    pub fn from_verify_config(config: &ChatopsVerifyConfig) -> Self {
        let mut base = config.callback_base.clone();
        let root = base
            .path()
            .strip_suffix(aisoc_notify_approvals::verify::CALLBACK_PATH)
            .unwrap_or("")
            .to_owned();
        base.set_path(&format!("{root}{ANSWER_PATH}"));
        Self {
            secret: config.hmac_secret.clone(),
            base,
        }
    }

    /// The prefix links start with (`https://aisoc.example.com/v1/approvals/answer/`).
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// A signer whose tokens last until `expires_at` (at least a second).
    pub fn signer_until(
        &self,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<HmacCallbackTokenSigner, TokenError> {
        let ttl = (expires_at - now).to_std().unwrap_or_default();
        Ok(self.verifier()?.with_ttl(ttl.max(Duration::from_secs(1))))
    }

    /// A signer to verify tokens with.
    pub fn verifier(&self) -> Result<HmacCallbackTokenSigner, TokenError> {
        HmacCallbackTokenSigner::new("chatops", self.secret.expose_secret().as_bytes().to_vec())
    }
}

/// What `POST /v1/approvals` reports of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardReport {
    /// The channel id.
    pub channel: String,
    /// Its type.
    #[serde(rename = "type")]
    pub channel_type: String,
    /// `posted`, `unsupported`, `failed`, or `skipped` (a type that cannot carry buttons).
    pub state: String,
    /// Why it was not posted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Posts approval cards and shows decisions on them.
#[derive(Clone)]
pub struct ApprovalCards {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ApprovalCardStore>,
    channels: Arc<ChannelRegistry>,
    approvals: Arc<dyn ApprovalStore>,
    poster: post::Poster,
}

impl std::fmt::Debug for ApprovalCards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalCards")
            .field("store", &self.inner.store.describe())
            .finish_non_exhaustive()
    }
}

/// The outcome a request's cards show, or `None` while it still takes decisions.
pub fn outcome_of(approval: &ApprovalRequest, now: DateTime<Utc>) -> Option<PromptOutcome> {
    let decision = match approval.status {
        ApprovalStatus::Approved => Decision::Approve,
        ApprovalStatus::Denied => Decision::Deny,
        ApprovalStatus::Expired => return Some(PromptOutcome::Expired),
        ApprovalStatus::Pending if approval.expires_at <= now => {
            return Some(PromptOutcome::Expired);
        }
        ApprovalStatus::Pending => return None,
    };
    let reviewer = approval.reviewer.as_deref().unwrap_or("someone");
    let reviewer = match approval.reviewed_at {
        Some(at) => format!(
            "{reviewer} at {}",
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        None => reviewer.to_owned(),
    };
    Some(PromptOutcome::Decided { decision, reviewer })
}

impl ApprovalCards {
    /// Cards for the channels in `channels`, kept in `store`, with buttons deciding on requests
    /// in `approvals`; HTTP goes through `delivery` (the outbound guard), links are `links`.
    pub fn new(
        store: Arc<dyn ApprovalCardStore>,
        channels: Arc<ChannelRegistry>,
        approvals: Arc<dyn ApprovalStore>,
        delivery: DeliveryClient,
        links: AnswerLinks,
    ) -> Self {
        let poster = post::Poster::new(delivery, links)
            .with_teams_bot(channels.context().teams_bot().cloned());
        Self {
            inner: Arc::new(Inner {
                store,
                channels,
                approvals,
                poster,
            }),
        }
    }

    /// The card store.
    pub fn store(&self) -> &Arc<dyn ApprovalCardStore> {
        &self.inner.store
    }

    /// The answer links.
    pub fn links(&self) -> &AnswerLinks {
        self.inner.poster.links()
    }

    /// Posts `approval`'s card to every channel the routing selects for it and records each
    /// receipt; never fails, reporting each channel's result instead.
    pub async fn post(&self, approval: &ApprovalRequest) -> Vec<CardReport> {
        let ask = approval.ask();
        let notification = Notification::new(
            approval.tenant_id.clone(),
            EventType::from(APPROVAL_EVENT_TYPE),
            ask.prompt.severity,
            approval.summary.clone(),
        );
        let selected = match self.inner.channels.selected(&notification) {
            Ok(selected) => selected,
            Err(error) => {
                tracing::warn!(approval_id = %approval.id, %error, "cannot route an approval card");
                return Vec::new();
            }
        };
        let mut reports = Vec::with_capacity(selected.len());
        for channel in selected {
            let Some(posted) = self.inner.poster.post(&channel, approval, &ask).await else {
                reports.push(CardReport {
                    channel: channel.id,
                    channel_type: channel.channel_type,
                    state: "skipped".into(),
                    error: None,
                });
                continue;
            };
            let (state, receipt, reason) = match posted {
                Ok(post::Posted { receipt, editable }) => {
                    let state = if editable {
                        CardState::Posted
                    } else {
                        CardState::Unsupported
                    };
                    (state, Some(receipt), None)
                }
                Err(error) => (CardState::Failed, None, Some(error.to_string())),
            };
            let card = ApprovalCard {
                tenant_id: approval.tenant_id.clone(),
                approval_id: approval.id.clone(),
                channel_id: channel.id.clone(),
                channel_type: channel.channel_type.clone(),
                receipt,
                state,
                reason: reason.clone(),
                updated_at: Utc::now(),
            };
            if let Err(error) = self.inner.store.save(&card).await {
                tracing::warn!(approval_id = %approval.id, channel = %channel.id, %error, "could not record an approval card");
            }
            reports.push(CardReport {
                channel: channel.id,
                channel_type: channel.channel_type,
                state: state.as_str().into(),
                error: reason,
            });
        }
        reports
    }

    /// Replaces the buttons of every `posted` card of `approval` with its outcome; nothing
    /// while it still takes decisions.
    pub async fn show_outcome(&self, approval: &ApprovalRequest) -> Result<(), CardStoreError> {
        let Some(outcome) = outcome_of(approval, Utc::now()) else {
            return Ok(());
        };
        let cards = self
            .inner
            .store
            .list(&approval.tenant_id, &approval.id)
            .await?;
        for card in cards
            .into_iter()
            .filter(|card| card.state == CardState::Posted)
        {
            self.update(card, &outcome).await?;
        }
        Ok(())
    }

    async fn update(
        &self,
        mut card: ApprovalCard,
        outcome: &PromptOutcome,
    ) -> Result<(), CardStoreError> {
        let channel = self.inner.channels.stored(&card.channel_id);
        let result = match (&channel, &card.receipt) {
            (Some(channel), Some(receipt)) => {
                self.inner.poster.update(channel, receipt, outcome).await
            }
            (None, _) => Err(PromptError::Unsupported {
                transport: "gateway",
                operation: "update a card whose channel was removed",
            }),
            (_, None) => Err(PromptError::Unsupported {
                transport: "gateway",
                operation: "update a card that has no receipt",
            }),
        };
        match result {
            Ok(receipt) => {
                card.receipt = Some(receipt);
                card.state = CardState::Updated;
                card.reason = None;
            }
            Err(error @ PromptError::Unsupported { .. }) => {
                card.state = CardState::Unsupported;
                card.reason = Some(error.to_string());
            }
            Err(error) if error.retry_class().is_retryable() => {
                // Left `posted`: the reconciler tries again.
                tracing::warn!(approval_id = %card.approval_id, channel = %card.channel_id, %error, "could not update an approval card; will retry");
                card.reason = Some(error.to_string());
            }
            Err(error) => {
                card.state = CardState::Failed;
                card.reason = Some(error.to_string());
            }
        }
        card.updated_at = Utc::now();
        self.inner.store.save(&card).await
    }

    /// One pass over every `posted` card: those whose request is decided, expired or gone are
    /// updated (a gone request's card shows it expired). Returns how many cards it looked at.
    pub async fn reconcile(&self) -> Result<usize, CardStoreError> {
        const PAGE: usize = 200;
        let mut after: Option<CardCursor> = None;
        let mut seen = 0;
        loop {
            let page = self.inner.store.posted(after.as_ref(), PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(seen);
            };
            after = Some((
                last.tenant_id.clone(),
                last.approval_id.clone(),
                last.channel_id.clone(),
            ));
            seen += page.len();
            let now = Utc::now();
            for card in page {
                let approval = match self
                    .inner
                    .approvals
                    .get(&card.tenant_id, &card.approval_id)
                    .await
                {
                    Ok(approval) => approval,
                    Err(error) => {
                        tracing::warn!(%error, "reconciling approval cards: cannot read a request");
                        continue;
                    }
                };
                let outcome = match &approval {
                    Some(approval) => outcome_of(approval, now),
                    None => Some(PromptOutcome::Expired),
                };
                if let Some(outcome) = outcome {
                    self.update(card, &outcome).await?;
                }
            }
        }
    }

    /// Reconciles now and then every `every`, for as long as the process runs.
    pub fn spawn_reconciler(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let cards = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = cards.reconcile().await {
                    tracing::warn!(%error, "reconciling approval cards failed");
                }
            }
        })
    }

    /// `service` telling these cards of its decisions.
    pub fn observe(&self, service: ApprovalService) -> ApprovalService {
        service.with_decided_hook(Arc::new(self.clone()))
    }
}

/// Updates the cards in the background: the decision is answered without waiting for chat
/// services, and the reconciler covers a process that dies first.
#[async_trait]
impl DecidedHook for ApprovalCards {
    async fn decided(&self, approval: &ApprovalRequest) {
        let cards = self.clone();
        let approval = approval.clone();
        tokio::spawn(async move {
            if let Err(error) = cards.show_outcome(&approval).await {
                tracing::warn!(approval_id = %approval.id, %error, "could not show a decision on its cards");
            }
        });
    }
}

/// Posts each request `POST /v1/approvals` creates to the selected channels; the answer's
/// `cards` is one [`CardReport`] per channel. Posting never fails the create.
#[async_trait]
impl aisoc_notify_approvals::routes::ApprovalCreated for ApprovalCards {
    async fn created(&self, approval: &ApprovalRequest) -> serde_json::Value {
        serde_json::json!(self.post(approval).await)
    }
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
