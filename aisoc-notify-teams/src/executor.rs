//! The `notify_teams` playbook action.
//!
//! | parameter | required | meaning |
//! |---|---|---|
//! | `webhook_url` | yes | a Workflows or connector webhook |
//! | `title` | yes | a template rendered against the playbook context |
//! | `message` | yes | a template rendered against the playbook context |
//! | `format` | no | `workflows` or `connector`; detected from the URL when absent |
//!
//! Values the templates insert are escaped as Markdown. A refusal is
//! [`ActionStatus::Failed`](aisoc_notify_core::ActionStatus::Failed) with the error.

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::markup::escape_markdown;
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::template::TemplateEngine;
use aisoc_notify_core::{ActionExecutor, ActionRequest, ActionResult, NotifyError, async_trait};
use serde_json::{Map, Value, json};

use crate::card::{AdaptiveCard, Color, DEFAULT_VERSION, Element};
use crate::webhook::{TeamsWebhookNotifier, WebhookFormat, default_pacer};

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
    pub fn new() -> Result<Self, NotifyError> {
        Ok(Self {
            delivery: DeliveryClient::new(DeliveryConfig::default())?,
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

    async fn run(&self, request: &ActionRequest) -> Result<Map<String, Value>, String> {
        let url = request
            .require_parameter("webhook_url")
            .map_err(|e| e.to_string())?;
        let title = request
            .require_parameter_with(&self.templates, "title")
            .map_err(|e| e.to_string())?;
        let message = request
            .require_parameter_with(&self.templates, "message")
            .map_err(|e| e.to_string())?;
        let mut builder = TeamsWebhookNotifier::builder()
            .webhook_url(url)
            .delivery(self.delivery.clone())
            .pacer(Arc::clone(&self.pacer));
        if let Some(format) = request
            .render_parameter("format")
            .map_err(|e| e.to_string())?
        {
            builder = builder.format(format.parse::<WebhookFormat>()?);
        }
        let notifier = builder.build().map_err(|e| e.to_string())?;
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
        let delivered = notifier
            .send_payload(&payload)
            .await
            .map_err(|e| e.to_string())?;
        let mut output = Map::new();
        output.insert("delivered".into(), Value::Bool(true));
        output.insert("attempts".into(), json!(delivered.attempts));
        output.insert(
            "format".into(),
            json!(match notifier.format() {
                WebhookFormat::Workflows => "workflows",
                WebhookFormat::Connector => "connector",
            }),
        );
        Ok(output)
    }
}

#[async_trait]
impl ActionExecutor for NotifyTeamsExecutor {
    async fn execute(&self, request: &ActionRequest) -> ActionResult {
        match self.run(request).await {
            Ok(output) => ActionResult::succeeded(output),
            Err(error) => ActionResult::failed(error),
        }
    }
}
