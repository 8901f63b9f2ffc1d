//! PagerDuty Events API v2: `POST /v2/enqueue` with a `trigger` event.
//!
//! Every event carries a `dedup_key` (the ticket's correlation key): PagerDuty folds a trigger
//! with the key of an open incident into that incident, so the delivery client's ordinary
//! retries after a timeout or a 5xx cannot open a second one.

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{
    ActionError, ActionExecutor, ActionOutput, ActionRequest, ConfigError, async_trait,
};
use serde_json::{Value, json};

use crate::answers::{self, Hints};
use crate::endpoint::{api_base, default_client, required, required_secret};
use crate::ticket::{Created, Ticket, TicketSeverity};

const SERVICE: &str = "pagerduty";

/// The Events API takes a `dedup_key` of at most 255 characters.
const DEDUP_KEY_CHARS: usize = 255;

const HINTS: Hints = Hints {
    unauthorized: "the routing key was refused (check the integration's routing key)",
    forbidden: "the routing key may not send events to this service",
};

/// PagerDuty Events API settings.
#[derive(Clone)]
pub struct PagerDutyConfig {
    /// The service integration's routing key.
    pub routing_key: SecretString,
    /// `https://events.pagerduty.com` (or `events.eu.pagerduty.com`).
    pub events_url: url::Url,
    /// The `source` field (the affected system, by default this service).
    pub source: String,
}

impl std::fmt::Debug for PagerDutyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDutyConfig")
            .field("events_url", &self.events_url.as_str())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Triggers PagerDuty incidents.
#[derive(Debug)]
pub struct PagerDutyExecutor {
    config: PagerDutyConfig,
    delivery: DeliveryClient,
}

fn severity(severity: TicketSeverity) -> &'static str {
    match severity {
        TicketSeverity::Critical => "critical",
        TicketSeverity::High => "error",
        TicketSeverity::Medium => "warning",
        TicketSeverity::Low | TicketSeverity::Info => "info",
    }
}

/// PagerDuty's error body: `{"message": …, "errors": [...]}`.
fn details(body: &Value) -> Vec<String> {
    let errors = answers::strings(&body["errors"]);
    match answers::text(&body["message"]) {
        Some(message) if errors.is_empty() => vec![message],
        Some(message) => vec![format!("{message}: {}", errors.join("; "))],
        None => errors,
    }
}

impl PagerDutyExecutor {
    /// An executor for `config`; fails naming the setting that is unusable.
    pub fn new(config: PagerDutyConfig) -> Result<Self, ConfigError> {
        let events_url = api_base(&config.events_url, "events_url")?;
        required_secret("routing_key", &config.routing_key)?;
        required("source", &config.source)?;
        Ok(Self {
            config: PagerDutyConfig {
                events_url,
                ..config
            },
            delivery: default_client()?,
        })
    }

    /// Sends through `delivery` (a shared client, or one whose outbound guard allows a relay
    /// on the LAN).
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    async fn trigger(&self, ticket: Ticket) -> Result<Created, ActionError> {
        let dedup_key = ticket.correlation_within(DEDUP_KEY_CHARS, |_| true);
        let event = json!({
            "routing_key": self.config.routing_key.expose_secret(),
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": ticket.summary.chars().take(1024).collect::<String>(),
                "source": self.config.source,
                "severity": severity(ticket.severity),
                "custom_details": {"description": ticket.description},
            },
        });
        let url = self
            .config
            .events_url
            .join("v2/enqueue")
            .map_err(|e| ActionError::Config(ConfigError::new("events_url", e)))?;
        let host = self.config.events_url.host_str().unwrap_or(SERVICE);
        let request = answers::build(self.delivery.http().post(url).json(&event), host)?;
        // Safe to retry: the dedup_key makes a repeated trigger the same incident.
        let response = self.delivery.send(request).await?;
        let reply = answers::error_body(&response);
        if !response.is_success() {
            return Err(answers::refusal(
                SERVICE,
                &response,
                &details(&reply),
                HINTS,
            ));
        }
        if reply["status"] != "success" {
            return Err(answers::unreadable(
                &response,
                "PagerDuty accepted the event without reporting success",
            ));
        }
        // The Events API queues the event; the incident URL is known only to the REST API.
        let key = answers::text(&reply["dedup_key"]).unwrap_or(dedup_key);
        Ok(Created::new(key, None).with("message", reply["message"].clone()))
    }
}

#[async_trait]
impl ActionExecutor for PagerDutyExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let ticket = Ticket::from_request(request)?;
        Ok(self.trigger(ticket).await?.into_output(SERVICE))
    }
}
