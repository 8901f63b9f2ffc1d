//! The `notify_slack` playbook action: one incoming-webhook post, no bot required.
//!
//! Parameters:
//!
//! | name | required | meaning |
//! |---|---|---|
//! | `webhook_url` | yes | the incoming webhook |
//! | `channel` | no | channel override (legacy webhooks) |
//! | `message` | yes | a template rendered against the playbook context |
//!
//! Values the template inserts are escaped for mrkdwn, so an alert title cannot mention
//! `<!channel>`; the template's own text may use links and formatting. A refusal from Slack is
//! an [`ActionError`] with Slack's code and its [`retry_class`](ActionError::retry_class)
//! (an archived channel is `Gone`, a 429 `Throttled`), so a playbook can branch on it.

use std::sync::Arc;

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::template::TemplateEngine;
use aisoc_notify_core::{ActionError, ActionExecutor, ActionOutput, ActionRequest, async_trait};
use serde_json::{Value, json};

use crate::error::SlackError;
use crate::mrkdwn;
use crate::webhook::{
    default_delivery, default_pacer, post_to_webhook, webhook_destination, webhook_result,
};

/// The action type this executor is registered under.
pub const ACTION_TYPE: &str = "notify_slack";

/// Runs `notify_slack`.
///
/// ```
/// use std::sync::Arc;
/// use aisoc_notify_core::ExecutorRegistry;
/// use aisoc_notify_slack::executor::{NotifySlackExecutor, ACTION_TYPE};
///
/// let registry = ExecutorRegistry::new();
/// registry.register(ACTION_TYPE, Arc::new(NotifySlackExecutor::new().unwrap()));
/// assert_eq!(registry.action_types(), vec!["notify_slack".to_owned()]);
/// ```
pub struct NotifySlackExecutor {
    delivery: DeliveryClient,
    pacer: Arc<Pacer>,
    templates: TemplateEngine,
}

impl std::fmt::Debug for NotifySlackExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySlackExecutor")
            .finish_non_exhaustive()
    }
}

impl NotifySlackExecutor {
    /// An executor with its own delivery client.
    pub fn new() -> Result<Self, SlackError> {
        Ok(Self {
            delivery: default_delivery()?,
            pacer: default_pacer(),
            templates: TemplateEngine::with_value_escaper(|s| mrkdwn::escape(s).into_owned()),
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
impl ActionExecutor for NotifySlackExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let url = request.require_parameter("webhook_url")?;
        let url = webhook_destination("webhook_url", &url)?;
        let channel = request.render_parameter("channel")?;
        let message = request.require_parameter_with(&self.templates, "message")?;

        let mut payload = json!({ "text": message });
        if let Some(channel) = channel.as_deref().filter(|c| !c.trim().is_empty()) {
            payload["channel"] = Value::String(channel.trim().to_owned());
        }
        let response = post_to_webhook(&self.delivery, &self.pacer, &url, &payload).await?;
        let delivered = webhook_result(response)?;

        let mut output = ActionOutput::default()
            .with("delivered", true)
            .with("attempts", delivered.attempts);
        if let Some(channel) = channel {
            output = output.with("channel", channel);
        }
        Ok(output)
    }
}
