//! The `notify_teams` playbook action.
//!
//! | parameter | required | meaning |
//! |---|---|---|
//! | `webhook_url` | yes | a Workflows or connector webhook |
//! | `title` | yes | a template rendered against the playbook context |
//! | `message` | yes | a template rendered against the playbook context |
//! | `format` | no | `workflows` or `connector`; detected from the URL when absent |
//!
//! Values the templates insert are escaped as Markdown. A refusal is an [`ActionError`] with
//! Teams' short code and its [`retry_class`](ActionError::retry_class), as
//! [`error`](crate::error) describes.

use std::sync::Arc;

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::markup::escape_markdown;
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::template::TemplateEngine;
use aisoc_notify_core::{ActionError, ActionExecutor, ActionOutput, ActionRequest, async_trait};
use serde_json::json;

use crate::card::{AdaptiveCard, Color, DEFAULT_VERSION, Element};
use crate::error::TeamsError;
use crate::webhook::{TeamsWebhookNotifier, WebhookFormat, default_delivery, default_pacer};

/// The action type this executor is registered under.
pub const ACTION_TYPE: &str = "notify_teams";

/// Runs `notify_teams`.
pub struct NotifyTeamsExecutor {
    delivery: DeliveryClient,
    pacer: Arc<Pacer>,
    templates: TemplateEngine,
}

impl std::fmt::Debug for NotifyTeamsExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyTeamsExecutor")
            .finish_non_exhaustive()
    }
}

impl NotifyTeamsExecutor {
    /// An executor with its own delivery client.
    pub fn new() -> Result<Self, TeamsError> {
        Ok(Self {
            delivery: default_delivery()?,
            pacer: default_pacer(),
            templates: TemplateEngine::with_value_escaper(escape_markdown),
        })
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    /// Shares a pacer.
    pub fn with_pacer(mut self, pacer: Arc<Pacer>) -> Self {
        self.pacer = pacer;
        self
    }
}

#[async_trait]
impl ActionExecutor for NotifyTeamsExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let url = request.require_parameter("webhook_url")?;
        let title = request.require_parameter_with(&self.templates, "title")?;
        let message = request.require_parameter_with(&self.templates, "message")?;
        let mut builder = TeamsWebhookNotifier::builder()
            .webhook_url(url)
            .delivery(self.delivery.clone())
            .pacer(Arc::clone(&self.pacer));
        if let Some(format) = request.render_parameter("format")? {
            builder = builder.format(format.parse::<WebhookFormat>()?);
        }
        let notifier = builder.build()?;
        let payload = match notifier.format() {
            WebhookFormat::Workflows => {
                let mut card = AdaptiveCard::new(DEFAULT_VERSION);
                card.fallback_text = Some(title.clone());
                card.body
                    .push(Element::heading(title.clone(), Color::Default));
                card.body.push(Element::text(message));
                card.to_message()
            }
            WebhookFormat::Connector => json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": title,
                "title": title,
                "text": message,
            }),
        };
        let delivered = notifier.send_payload(&payload).await?;
        Ok(ActionOutput::default()
            .with("delivered", true)
            .with("attempts", delivered.attempts)
            .with("format", notifier.format().as_str()))
    }
}
