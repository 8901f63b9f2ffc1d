//! Posting and updating one card in one channel: the channel's stored configuration (the
//! adapter crate's own `…ChannelConfig`) read into the transport that can draw buttons there.

use std::sync::Arc;

use aisoc_notify_approvals::model::ApprovalRequest;
use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::notification::Notification;
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::prompt::{
    ApprovalAsk, PromptError, PromptOutcome, PromptReceipt, PromptTransport, SignedLinks,
};
use aisoc_notify_core::secret::ExposeSecret;
use aisoc_notify_core::token::{CallbackGrant, signed_callback_url};
use aisoc_notify_core::{ConfigError, Notifier, NotifyError, RetryClass};
use aisoc_notify_email::config::EmailChannelConfig;
use aisoc_notify_slack::config::SlackChannelConfig;
use aisoc_notify_slack::prompt::SlackPromptTransport;
use aisoc_notify_slack::web_api::SlackBotClient;
use aisoc_notify_slack::webhook::SlackWebhookNotifier;
use aisoc_notify_teams::bot_framework::connector::BotConnectorClient;
use aisoc_notify_teams::bot_framework::conversation::{
    BotConversation, TRANSPORT as TEAMS_BOT, TeamsBotPromptTransport,
};
use aisoc_notify_teams::config::{MISSING_BOT_CREDENTIALS, TeamsChannelConfig, TeamsTarget};
use aisoc_notify_teams::prompt::TeamsPromptTransport;
use aisoc_notify_teams::webhook::TeamsWebhookNotifier;
use chrono::Utc;
use serde::de::DeserializeOwned;

use super::{AnswerLinks, TOKEN_FLOW};
use crate::channel_store::StoredChannel;

/// The receipt transport name of cards posted through a Slack incoming webhook.
const SLACK_WEBHOOK: &str = "slack-webhook";
/// The receipt transport name of e-mailed cards.
const EMAIL: &str = "email";

/// A card that went out.
pub(super) struct Posted {
    pub(super) receipt: PromptReceipt,
    /// Whether the transport can replace it with the outcome later.
    pub(super) editable: bool,
}

/// Builds each channel's transport per card (channels change at run time; building is cheap).
pub(super) struct Poster {
    delivery: DeliveryClient,
    links: AnswerLinks,
    /// One pacer for every Slack bot client, so cards and updates to one channel are paced
    /// together.
    slack_pacer: Arc<Pacer>,
    /// The Teams bot's client, when the gateway has its app credentials.
    teams_bot: Option<BotConnectorClient>,
}

fn config<T: DeserializeOwned>(channel: &StoredChannel) -> Result<T, PromptError> {
    serde_json::from_value(serde_json::Value::Object(channel.config.clone())).map_err(|e| {
        PromptError::Notify(NotifyError::Config(ConfigError::new(
            "config",
            format!(
                "the {} channel's configuration no longer reads: {e}",
                channel.channel_type
            ),
        )))
    })
}

fn config_error(error: impl std::fmt::Display) -> PromptError {
    PromptError::Notify(NotifyError::Config(ConfigError::new(
        "config",
        error.to_string(),
    )))
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl Poster {
    pub(super) fn new(delivery: DeliveryClient, links: AnswerLinks) -> Self {
        Self {
            delivery,
            links,
            slack_pacer: aisoc_notify_slack::webhook::default_pacer(),
            teams_bot: None,
        }
    }

    /// Bot-mode Teams channels post and update through `client`.
    pub(super) fn with_teams_bot(mut self, client: Option<BotConnectorClient>) -> Self {
        self.teams_bot = client;
        self
    }

    /// The Teams bot's client, or why a bot card cannot be posted or updated.
    fn teams_bot(&self, operation: &'static str) -> Result<&BotConnectorClient, PromptError> {
        self.teams_bot.as_ref().ok_or(PromptError::Unsupported {
            transport: TEAMS_BOT,
            operation,
        })
    }

    pub(super) fn links(&self) -> &AnswerLinks {
        &self.links
    }

    /// Posts `approval`'s card to `channel`; `None` for a channel type that cannot carry one.
    pub(super) async fn post(
        &self,
        channel: &StoredChannel,
        approval: &ApprovalRequest,
        ask: &ApprovalAsk,
    ) -> Option<Result<Posted, PromptError>> {
        Some(match channel.channel_type.as_str() {
            "slack" => self.post_slack(channel, ask).await,
            "teams" => self.post_teams(channel, approval, ask).await,
            "email" => self.post_email(channel, approval, ask).await,
            _ => return None,
        })
    }

    fn slack_bot(
        &self,
        config: &SlackChannelConfig,
    ) -> Result<Option<(SlackBotClient, String)>, PromptError> {
        let token = present(config.bot_token.as_ref().map(|t| t.expose_secret()));
        let channel = present(config.channel_id.as_deref());
        let (Some(token), Some(channel)) = (token, channel) else {
            return Ok(None);
        };
        let mut client = SlackBotClient::new(token)
            .map_err(|e| PromptError::Notify(e.into()))?
            .with_delivery(self.delivery.clone())
            .with_pacer(self.slack_pacer.clone());
        if let Some(base) = present(config.api_base.as_deref()) {
            client = client
                .with_base_url(base)
                .map_err(|e| PromptError::Notify(e.into()))?;
        }
        Ok(Some((client, channel.to_owned())))
    }

    async fn post_slack(
        &self,
        channel: &StoredChannel,
        ask: &ApprovalAsk,
    ) -> Result<Posted, PromptError> {
        let config: SlackChannelConfig = config(channel)?;
        if let Some((client, channel_id)) = self.slack_bot(&config)? {
            let receipt = SlackPromptTransport::new(client)
                .send_approval(&ask.clone().to(channel_id), None)
                .await?;
            return Ok(Posted {
                receipt,
                editable: true,
            });
        }
        let url = present(config.webhook_url.as_ref().map(|u| u.expose_secret()))
            .ok_or_else(|| config_error(aisoc_notify_slack::config::MISSING_DESTINATION))?;
        let webhook = SlackWebhookNotifier::builder()
            .webhook_url(url)
            .delivery(self.delivery.clone())
            .pacer(self.slack_pacer.clone())
            .build()
            .map_err(|e| PromptError::Notify(e.into()))?;
        let message = aisoc_notify_slack::render::approval_message(&ask.prompt_with_deadline())
            .map_err(|e| PromptError::Notify(aisoc_notify_slack::SlackError::from(e).into()))?;
        webhook
            .send_message(&message)
            .await
            .map_err(|e| PromptError::Notify(e.into()))?;
        Ok(Posted {
            receipt: PromptReceipt::new(SLACK_WEBHOOK),
            editable: false,
        })
    }

    async fn post_teams(
        &self,
        channel: &StoredChannel,
        approval: &ApprovalRequest,
        ask: &ApprovalAsk,
    ) -> Result<Posted, PromptError> {
        let config: TeamsChannelConfig = config(channel)?;
        let (url, format) = match config.target().map_err(|e| PromptError::Notify(e.into()))? {
            TeamsTarget::Bot {
                service_url,
                conversation_id,
            } => {
                let client = self.teams_bot.clone().ok_or_else(|| {
                    config_error(format!("TEAMS_APP_PASSWORD: {MISSING_BOT_CREDENTIALS}"))
                })?;
                let conversation = BotConversation::new(client, service_url, conversation_id)
                    .map_err(config_error)?;
                let receipt = TeamsBotPromptTransport::new(conversation)
                    .send_approval(ask, None)
                    .await?;
                return Ok(Posted {
                    receipt,
                    editable: true,
                });
            }
            TeamsTarget::Webhook { url, format } => (url, format),
        };
        let mut builder = TeamsWebhookNotifier::builder()
            .webhook_url(url)
            .delivery(self.delivery.clone());
        if let Some(format) = format {
            builder = builder.format(format);
        }
        let webhook = builder.build().map_err(|e| PromptError::Notify(e.into()))?;
        let signer = self
            .links
            .signer_until(approval.expires_at, Utc::now())
            .map_err(PromptError::token)?;
        // The links are minted for whoever reads the channel, named by it.
        let ask = ask.clone().to(format!("teams:{}", channel.name));
        let receipt = TeamsPromptTransport::new(webhook)
            .send_approval(&ask, Some(SignedLinks::new(&signer, self.links.base())))
            .await?;
        Ok(Posted {
            receipt,
            editable: false,
        })
    }

    async fn post_email(
        &self,
        channel: &StoredChannel,
        approval: &ApprovalRequest,
        ask: &ApprovalAsk,
    ) -> Result<Posted, PromptError> {
        let mut config: EmailChannelConfig = config(channel)?;
        // The links are the buttons: always in the body.
        config.enrich = true;
        // Bounded, so a long recipient list cannot push the token past its size limit.
        let audience: String = format!("email:{}", config.to.join(", "))
            .chars()
            .take(200)
            .collect();
        let relay = smtp_destination(config.host());
        let notifier = config.into_notifier().map_err(config_error)?;
        if let Some(relay) = relay {
            let policy = self.delivery.config();
            if let Err(forbidden) = policy
                .destinations
                .check_url_resolved(&relay, policy.lookup.as_ref())
                .await
            {
                return Err(PromptError::Notify(NotifyError::refused(
                    EMAIL,
                    RetryClass::NonRetryable,
                    "forbidden_destination",
                    forbidden.to_string(),
                )));
            }
        }
        let signer = self
            .links
            .signer_until(approval.expires_at, Utc::now())
            .map_err(PromptError::token)?;
        let prompt = ask.prompt_with_deadline();
        let mut notification = Notification::new(
            approval.tenant_id.clone(),
            super::APPROVAL_EVENT_TYPE.into(),
            prompt.severity,
            format!("Approval needed: {}", prompt.title),
        )
        .with_body(format!(
            "{}\n\nChoose below; each link opens a page where you confirm.",
            prompt.summary
        ));
        if let Some(risk) = prompt.risk_score {
            notification = notification.with_fact("Risk score", format!("{risk}/100"));
        }
        for fact in &prompt.facts {
            notification = notification.with_fact(fact.label.clone(), fact.value.clone());
        }
        for (choice, label) in [("approve", "Approve"), ("deny", "Deny")] {
            let grant = CallbackGrant {
                action: TOKEN_FLOW.to_owned(),
                case_id: approval.id.clone(),
                tenant_id: approval.tenant_id.clone(),
                user_ref: audience.clone(),
                choice: choice.to_owned(),
                prompt_id: Some(approval.id.clone()),
            };
            let url = signed_callback_url(&signer, self.links.base(), &grant)
                .map_err(PromptError::token)?;
            notification = notification.with_link(label, url);
        }
        notifier.notify(&notification).await?;
        Ok(Posted {
            receipt: PromptReceipt::new(EMAIL),
            editable: false,
        })
    }

    /// Replaces the card `receipt` points at with `outcome`.
    pub(super) async fn update(
        &self,
        channel: &StoredChannel,
        receipt: &PromptReceipt,
        outcome: &PromptOutcome,
    ) -> Result<PromptReceipt, PromptError> {
        match receipt.transport.as_str() {
            "slack" => {
                let config: SlackChannelConfig = config(channel)?;
                let (client, _) = self.slack_bot(&config)?.ok_or(PromptError::Unsupported {
                    transport: "slack",
                    operation: "update a card once the channel lost its bot token",
                })?;
                SlackPromptTransport::new(client)
                    .update(receipt, outcome)
                    .await
            }
            SLACK_WEBHOOK => Err(PromptError::Unsupported {
                transport: "slack",
                operation: "update a card posted through an incoming webhook (the clicked \
                            message is replaced through its response_url)",
            }),
            EMAIL => Err(PromptError::Unsupported {
                transport: "email",
                operation: "change a sent message (its links show the outcome)",
            }),
            "teams" => Err(PromptError::Unsupported {
                transport: "teams",
                operation: "update a card posted through an incoming webhook",
            }),
            // The receipt says where the card is; the channel may have changed since.
            TEAMS_BOT => {
                let client = self.teams_bot(
                    "update a bot card once the gateway lost its Teams app credentials",
                )?;
                let (Some(service_url), Some(conversation_id)) =
                    (&receipt.service_url, &receipt.channel)
                else {
                    return Err(PromptError::ForeignReceipt {
                        transport: TEAMS_BOT,
                    });
                };
                let conversation =
                    BotConversation::new(client.clone(), service_url, conversation_id)
                        .map_err(config_error)?;
                TeamsBotPromptTransport::new(conversation)
                    .update(receipt, outcome)
                    .await
            }
            _ => Err(PromptError::ForeignReceipt {
                transport: "gateway",
            }),
        }
    }
}

/// An SMTP host as a URL the outbound guard can judge (only its host is read), as the e-mail
/// channel itself is judged.
fn smtp_destination(host: &str) -> Option<url::Url> {
    let host = match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host.to_owned(),
    };
    url::Url::parse(&format!("http://{host}/")).ok()
}
