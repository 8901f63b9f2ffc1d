//! Opsgenie: `POST /v2/alerts` with `Authorization: GenieKey …`, `alias` for deduplication, on
//! the US or EU API.

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ActionExecutor, ActionRequest, ActionResult, async_trait};
use serde_json::{Map, Value, json};

use crate::common::{Created, Ticket, TicketSeverity, checked_client, finish, send};

/// Which Opsgenie API an account lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsgenieRegion {
    /// `https://api.opsgenie.com`.
    Us,
    /// `https://api.eu.opsgenie.com`.
    Eu,
}

impl OpsgenieRegion {
    /// The API base URL.
    pub fn base_url(self) -> url::Url {
        let url = match self {
            OpsgenieRegion::Us => "https://api.opsgenie.com/",
            OpsgenieRegion::Eu => "https://api.eu.opsgenie.com/",
        };
        url::Url::parse(url).expect("static URL")
    }
}

/// Opsgenie settings.
#[derive(Clone)]
pub struct OpsgenieConfig {
    /// The API integration key.
    pub api_key: SecretString,
    /// The API base (from [`OpsgenieRegion::base_url`], or a proxy).
    pub base_url: url::Url,
}

impl std::fmt::Debug for OpsgenieConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsgenieConfig")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Creates Opsgenie alerts.
#[derive(Debug)]
pub struct OpsgenieExecutor {
    config: OpsgenieConfig,
    delivery: DeliveryClient,
}

fn priority(severity: TicketSeverity) -> &'static str {
    match severity {
        TicketSeverity::Critical => "P1",
        TicketSeverity::High => "P2",
        TicketSeverity::Medium => "P3",
        TicketSeverity::Low => "P4",
        TicketSeverity::Info => "P5",
    }
}

impl OpsgenieExecutor {
    /// An executor for `config`.
    pub fn new(config: OpsgenieConfig) -> Result<Self, String> {
        let delivery = checked_client(&config.base_url, "base_url")?;
        Ok(Self { config, delivery })
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    async fn create(&self, ticket: Ticket) -> Result<Created, String> {
        let mut alert = json!({
            "message": ticket.summary.chars().take(130).collect::<String>(),
            "description": ticket.description.chars().take(15_000).collect::<String>(),
            "priority": priority(ticket.severity),
            "source": "aisoc-notify",
            "tags": ["aisoc"],
        });
        if let Some(alias) = &ticket.dedup_key {
            alert["alias"] = json!(alias.chars().take(512).collect::<String>());
        }
        let url = self
            .config
            .base_url
            .join("v2/alerts")
            .map_err(|e| e.to_string())?;
        let request = self
            .delivery
            .http()
            .post(url)
            .header(
                "Authorization",
                format!("GenieKey {}", self.config.api_key.expose_secret()),
            )
            .json(&alert)
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let response = send(&self.delivery, request, "Opsgenie").await?;
        let reply: Value = response.json().unwrap_or(Value::Null);
        if response.is_success() {
            let request_id = reply["requestId"]
                .as_str()
                .ok_or("Opsgenie answered without a requestId")?
                .to_owned();
            let mut extra = Map::new();
            extra.insert("request_id".into(), json!(request_id));
            extra.insert(
                "alias".into(),
                alert.get("alias").cloned().unwrap_or(Value::Null),
            );
            // Alert creation is asynchronous: the request id is the handle until it is processed.
            return Ok(Created {
                key: ticket.dedup_key.unwrap_or(request_id),
                url: None,
                extra,
            });
        }
        let status = response.status.as_u16();
        let message = reply["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| response.text().chars().take(300).collect());
        let details: Vec<String> = reply["errors"]
            .as_object()
            .map(|e| {
                e.iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let reason = if details.is_empty() {
            message
        } else {
            format!("{message} ({})", details.join("; "))
        };
        Err(format!(
            "Opsgenie rejected the alert (HTTP {status}): {reason}"
        ))
    }
}

#[async_trait]
impl ActionExecutor for OpsgenieExecutor {
    async fn execute(&self, request: &ActionRequest) -> ActionResult {
        let result = match Ticket::from_request(request) {
            Ok(ticket) => self.create(ticket).await,
            Err(error) => Err(error),
        };
        finish("opsgenie", result)
    }
}
