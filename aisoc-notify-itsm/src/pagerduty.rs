//! PagerDuty Events API v2: `POST /v2/enqueue` with a `trigger` event and a `dedup_key`.

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ActionExecutor, ActionRequest, ActionResult, async_trait};
use serde_json::{Map, Value, json};

use crate::common::{Created, Ticket, TicketSeverity, checked_client, finish, send};

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

impl PagerDutyExecutor {
    /// An executor for `config`.
    pub fn new(config: PagerDutyConfig) -> Result<Self, String> {
        let delivery = checked_client(&config.events_url, "events_url")?;
        Ok(Self { config, delivery })
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    async fn create(&self, ticket: Ticket) -> Result<Created, String> {
        let mut event = json!({
            "routing_key": self.config.routing_key.expose_secret(),
            "event_action": "trigger",
            "payload": {
                "summary": ticket.summary.chars().take(1024).collect::<String>(),
                "source": self.config.source,
                "severity": severity(ticket.severity),
                "custom_details": {"description": ticket.description},
            },
        });
        if let Some(key) = &ticket.dedup_key {
            event["dedup_key"] = json!(key);
        }
        let url = self
            .config
            .events_url
            .join("v2/enqueue")
            .map_err(|e| e.to_string())?;
        let request = self
            .delivery
            .http()
            .post(url)
            .json(&event)
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let response = send(&self.delivery, request, "PagerDuty").await?;
        let reply: Value = response.json().unwrap_or(Value::Null);
        if response.is_success() && reply["status"] == "success" {
            let key = reply["dedup_key"]
                .as_str()
                .ok_or("PagerDuty answered without a dedup_key")?
                .to_owned();
            let mut extra = Map::new();
            extra.insert("message".into(), reply["message"].clone());
            // The Events API queues the event; the incident URL is known only to the REST API.
            return Ok(Created {
                key,
                url: None,
                extra,
            });
        }
        let status = response.status.as_u16();
        let errors: Vec<&str> = reply["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let message = reply["message"].as_str().unwrap_or("no message");
        let reason = if errors.is_empty() {
            message.to_owned()
        } else {
            format!("{message}: {}", errors.join("; "))
        };
        Err(format!(
            "PagerDuty rejected the event (HTTP {status}): {reason}"
        ))
    }
}

#[async_trait]
impl ActionExecutor for PagerDutyExecutor {
    async fn execute(&self, request: &ActionRequest) -> ActionResult {
        let result = match Ticket::from_request(request) {
            Ok(ticket) => self.create(ticket).await,
            Err(error) => Err(error),
        };
        finish("pagerduty", result)
    }
}
