//! Posting into one Teams conversation as the bot: [`TeamsBotPromptTransport`] for approval
//! cards that are edited once decided, and [`TeamsBotNotifier`] for ordinary notifications,
//! so one channel carries both.
//!
//! An approval card the bot posts has `Action.Execute` Approve / Deny buttons (they reach
//! [`router`](super::router) as `adaptiveCard/action` invokes) and a Universal Actions
//! `refresh` block with verb `refresh` and the approval id, so a Teams client that opens the
//! card asks the bot for its current state ([`ApprovalCardSource`](super::ApprovalCardSource)).
//! Its receipt records the service URL, the conversation id and the activity id, and
//! [`update`](PromptTransport::update) replaces that activity with the outcome card
//! ([`outcome_card`]), which has no buttons and no refresh.
//!
//! A verification prompt (`chatops.verify`) is posted with signed-link buttons, as the webhook
//! transport posts it: its answer page is the one place that records the choice, and the links
//! are bound to the person the prompt is for.

use aisoc_notify_core::decision::{Decision, VerificationPrompt};
use aisoc_notify_core::markup::{escape_markdown, truncate_chars};
use aisoc_notify_core::notifier::NotifyError;
use aisoc_notify_core::prompt::{
    ApprovalAsk, PromptError, PromptOutcome, PromptReceipt, PromptTransport, SignedLinks,
};
use aisoc_notify_core::{ConfigError, Delivered, Notification, Notifier, async_trait};
use serde_json::{Value, json};

use super::connector::{BotConnectorClient, ConnectorError};
use crate::card::{AdaptiveCard, Color, ContainerStyle, DEFAULT_VERSION, Element};
use crate::render::{self, ButtonMode, CardError};

/// The transport name in receipts of cards the bot posted.
pub const TRANSPORT: &str = "teams-bot";
/// The `Action.Execute` verb of a Universal Actions refresh.
pub const REFRESH_VERB: &str = "refresh";

/// One conversation the bot posts into: a service URL and a conversation id, checked.
#[derive(Debug, Clone)]
pub struct BotConversation {
    client: BotConnectorClient,
    service_url: String,
    conversation_id: String,
}

impl BotConversation {
    /// Conversation `conversation_id` (`19:…@thread.tacv2`) at `service_url`
    /// (`https://smba.trafficmanager.net/emea/`), reached with `client`. Refuses a service URL
    /// that is not https (plain http only to loopback) or not on a Bot Connector host (see
    /// [`BotConnectorClient::activities_url`]), and an empty conversation id.
    pub fn new(
        client: BotConnectorClient,
        service_url: &str,
        conversation_id: &str,
    ) -> Result<Self, ConfigError> {
        client.activities_url(service_url, conversation_id)?;
        Ok(Self {
            client,
            service_url: service_url.trim().to_owned(),
            conversation_id: conversation_id.trim().to_owned(),
        })
    }

    /// The service URL.
    pub fn service_url(&self) -> &str {
        &self.service_url
    }

    /// The conversation id.
    pub fn conversation_id(&self) -> &str {
        &self.conversation_id
    }

    /// Posts `card` as a message and returns the activity id.
    async fn post(&self, card: &Value) -> Result<String, ConnectorError> {
        self.client
            .post_activity(&self.service_url, &self.conversation_id, &message(card))
            .await
    }
}

/// A bot message carrying `card` (an Adaptive Card as JSON).
fn message(card: &Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": card,
        }],
    })
}

/// The approval card a bot posts: `Action.Execute` Approve / Deny (data `{action,
/// approval_id}`), the deadline as a fact, and a `refresh` block asking for the card's current
/// state (verb [`REFRESH_VERB`], data `{approval_id}`).
pub fn bot_approval_card(ask: &ApprovalAsk) -> Result<Value, CardError> {
    let card = render::approval_card(
        &ask.prompt_with_deadline(),
        ButtonMode::Execute,
        DEFAULT_VERSION,
    )?;
    let mut card = serde_json::to_value(&card).unwrap_or(Value::Null);
    card["refresh"] = json!({
        "action": {
            "type": "Action.Execute",
            "verb": REFRESH_VERB,
            "title": "Refresh",
            "data": {"approval_id": ask.prompt.approval_id},
        },
    });
    Ok(card)
}

/// The card that replaces a prompt once it has an outcome: green approved, red denied, amber
/// expired, blue answered; `approval_id`, when given, as the subtitle. No buttons, no refresh.
pub fn outcome_card(outcome: &PromptOutcome, approval_id: Option<&str>) -> AdaptiveCard {
    let (style, color, emoji) = match outcome {
        PromptOutcome::Decided {
            decision: Decision::Approve,
            ..
        } => (ContainerStyle::Good, Color::Good, "✅"),
        PromptOutcome::Decided {
            decision: Decision::Deny,
            ..
        } => (ContainerStyle::Attention, Color::Attention, "❌"),
        PromptOutcome::Expired => (ContainerStyle::Warning, Color::Warning, "⌛"),
        _ => (ContainerStyle::Accent, Color::Accent, "☑️"),
    };
    let heading = format!(
        "{emoji} {}",
        escape_markdown(&truncate_chars(&outcome.summary(), 200))
    );
    let mut items = vec![Element::heading(heading.clone(), color)];
    if let Some(id) = approval_id {
        items.push(Element::subtle(format!(
            "Approval {}",
            escape_markdown(&truncate_chars(id, 80))
        )));
    }
    let mut card = AdaptiveCard::new(DEFAULT_VERSION);
    card.fallback_text = Some(heading);
    card.body.push(Element::Container {
        items,
        style: Some(style),
        bleed: true,
    });
    card
}

fn card_json(card: &AdaptiveCard) -> Value {
    serde_json::to_value(card).unwrap_or(Value::Null)
}

fn render_error(err: CardError) -> PromptError {
    PromptError::Notify(NotifyError::Render(err.to_string()))
}

fn connector(err: ConnectorError) -> PromptError {
    PromptError::Notify(err.into())
}

/// Posts prompts as bot cards into one conversation and edits them once answered.
///
/// ```no_run
/// use std::sync::Arc;
/// use aisoc_notify_core::delivery::DeliveryClient;
/// use aisoc_notify_core::prompt::PromptTransport;
/// use aisoc_notify_core::secret::SecretString;
/// use aisoc_notify_teams::bot_framework::connector::{BotConnectorClient, BotCredentials};
/// use aisoc_notify_teams::bot_framework::conversation::{BotConversation, TeamsBotPromptTransport};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = BotConnectorClient::new(
///     BotCredentials::new("3f2a9c10-5b7e-4d21-8c3a-0e9f8d7c6b5a", SecretString::from("…".to_owned())),
///     DeliveryClient::shared_default()?,
/// )?;
/// let conversation = BotConversation::new(client, "https://smba.trafficmanager.net/emea/", "19:abc@thread.tacv2")?;
/// let transport: Arc<dyn PromptTransport> = Arc::new(TeamsBotPromptTransport::new(conversation));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TeamsBotPromptTransport {
    conversation: BotConversation,
}

impl TeamsBotPromptTransport {
    /// A transport posting into `conversation`.
    pub fn new(conversation: BotConversation) -> Self {
        Self { conversation }
    }

    async fn post(&self, card: Value) -> Result<PromptReceipt, PromptError> {
        let activity_id = self.conversation.post(&card).await.map_err(connector)?;
        Ok(
            PromptReceipt::message(TRANSPORT, self.conversation.conversation_id(), activity_id)
                .with_service_url(self.conversation.service_url()),
        )
    }
}

#[async_trait]
impl PromptTransport for TeamsBotPromptTransport {
    fn name(&self) -> &str {
        TRANSPORT
    }

    async fn send_verification(
        &self,
        prompt: &VerificationPrompt,
        links: SignedLinks<'_>,
    ) -> Result<PromptReceipt, PromptError> {
        let mode = ButtonMode::SignedLinks {
            signer: links.signer,
            callback_base: links.callback_base,
            user_ref: &prompt.user_ref,
        };
        let card =
            render::verification_card(prompt, mode, DEFAULT_VERSION).map_err(render_error)?;
        self.post(card_json(&card)).await
    }

    /// Posts the card with `Action.Execute` buttons; `links` are not needed (the buttons call
    /// the bot) and are ignored.
    async fn send_approval(
        &self,
        ask: &ApprovalAsk,
        _links: Option<SignedLinks<'_>>,
    ) -> Result<PromptReceipt, PromptError> {
        let card = bot_approval_card(ask).map_err(render_error)?;
        self.post(card).await
    }

    /// Replaces the activity the receipt names (at the receipt's service URL and
    /// conversation) with [`outcome_card`].
    async fn update(
        &self,
        receipt: &PromptReceipt,
        outcome: &PromptOutcome,
    ) -> Result<PromptReceipt, PromptError> {
        let foreign = PromptError::ForeignReceipt {
            transport: TRANSPORT,
        };
        if receipt.transport != TRANSPORT {
            return Err(foreign);
        }
        let (Some(service_url), Some(conversation_id), Some(activity_id)) =
            (&receipt.service_url, &receipt.channel, &receipt.message_id)
        else {
            return Err(foreign);
        };
        let card = card_json(&outcome_card(outcome, None));
        self.conversation
            .client
            .update_activity(service_url, conversation_id, activity_id, &message(&card))
            .await
            .map_err(connector)?;
        Ok(receipt.clone())
    }
}

/// Delivers notifications as bot cards into one conversation.
#[derive(Debug, Clone)]
pub struct TeamsBotNotifier {
    conversation: BotConversation,
}

impl TeamsBotNotifier {
    /// A notifier posting into `conversation`.
    pub fn new(conversation: BotConversation) -> Self {
        Self { conversation }
    }
}

#[async_trait]
impl Notifier for TeamsBotNotifier {
    fn channel_type(&self) -> &str {
        "teams"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let card = render::notification_card(notification, DEFAULT_VERSION);
        let activity_id = self.conversation.post(&card_json(&card)).await?;
        Ok(Delivered::with_receipt(activity_id))
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::decision::ApprovalPrompt;
    use aisoc_notify_core::notification::Severity;

    use super::*;

    fn ask() -> ApprovalAsk {
        ApprovalAsk::new(
            ApprovalPrompt {
                approval_id: "apr_1".into(),
                tenant_id: "contoso".into(),
                title: "Disable user bob".into(),
                summary: "Impossible travel".into(),
                risk_score: Some(55),
                severity: Severity::Medium,
                requested_by: None,
                facts: Vec::new(),
                console_url: None,
            },
            "2026-11-23T10:30:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn a_bot_approval_card_executes_its_buttons_and_asks_to_be_refreshed() {
        let card = bot_approval_card(&ask()).unwrap();
        let verbs: Vec<&str> = card["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                assert_eq!(a["type"], "Action.Execute");
                assert_eq!(a["data"]["approval_id"], "apr_1");
                a["verb"].as_str().unwrap()
            })
            .collect();
        assert_eq!(verbs, ["approve", "deny"]);
        assert_eq!(card["refresh"]["action"]["type"], "Action.Execute");
        assert_eq!(card["refresh"]["action"]["verb"], "refresh");
        assert_eq!(card["refresh"]["action"]["data"]["approval_id"], "apr_1");
        assert!(card.to_string().contains("2026-11-23 10:30 UTC"), "{card}");
    }

    #[test]
    fn the_outcome_card_names_the_decider_and_has_nothing_to_press() {
        let approved = card_json(&outcome_card(
            &PromptOutcome::Decided {
                decision: Decision::Approve,
                reviewer: "alice_b".into(),
            },
            Some("apr_1"),
        ));
        assert_eq!(approved["body"][0]["style"], "good");
        assert_eq!(
            approved["body"][0]["items"][0]["text"],
            "✅ Approved by alice\\_b"
        );
        assert_eq!(approved["body"][0]["items"][1]["text"], "Approval apr\\_1");
        assert!(approved.get("actions").is_none() && approved.get("refresh").is_none());
        let expired = card_json(&outcome_card(&PromptOutcome::Expired, None));
        assert_eq!(expired["body"][0]["style"], "warning");
        assert_eq!(expired["body"][0]["items"].as_array().unwrap().len(), 1);
    }
}
