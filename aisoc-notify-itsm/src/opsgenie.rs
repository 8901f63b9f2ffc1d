//! Opsgenie: `POST /v2/alerts` with `Authorization: GenieKey …`, on the US or EU API.
//!
//! Every alert carries an `alias` (the ticket's correlation key): Opsgenie folds an alert with
//! the alias of an open one into it, so the delivery client's ordinary retries after a timeout
//! or a 5xx cannot open a second alert.

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{
    ActionError, ActionExecutor, ActionOutput, ActionRequest, ConfigError, async_trait,
};
use serde_json::{Value, json};

use crate::answers::{self, Hints};
use crate::endpoint::{api_base, default_client, required_secret};
use crate::ticket::{Created, Ticket, TicketSeverity};

const SERVICE: &str = "opsgenie";

/// Opsgenie takes an `alias` of at most 512 characters.
const ALIAS_CHARS: usize = 512;

const HINTS: Hints = Hints {
    unauthorized: "authentication failed (check the API key)",
    forbidden: "the API key may not create alerts (check the integration's access rights)",
};

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

/// Opsgenie's error body: `{"message": …, "errors": {"field": "…"}}`.
fn details(body: &Value) -> Vec<String> {
    let fields = answers::field_messages(&body["errors"]);
    match answers::text(&body["message"]) {
        Some(message) if fields.is_empty() => vec![message],
        Some(message) => vec![format!("{message} ({})", fields.join("; "))],
        None => fields,
    }
}

impl OpsgenieExecutor {
    /// An executor for `config`; fails naming the setting that is unusable.
    pub fn new(config: OpsgenieConfig) -> Result<Self, ConfigError> {
        let base_url = api_base(&config.base_url, "base_url")?;
        required_secret("api_key", &config.api_key)?;
        Ok(Self {
            config: OpsgenieConfig { base_url, ..config },
            delivery: default_client()?,
        })
    }

    /// Sends through `delivery` (a shared client, or one whose outbound guard allows a proxy
    /// on the LAN).
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    async fn create_alert(&self, ticket: Ticket) -> Result<Created, ActionError> {
        let alias = ticket.correlation_within(ALIAS_CHARS, |_| true);
        let alert = json!({
            "message": ticket.summary.chars().take(130).collect::<String>(),
            "description": ticket.description.chars().take(15_000).collect::<String>(),
            "priority": priority(ticket.severity),
            "source": "aisoc-notify",
            "tags": ["aisoc"],
            "alias": alias,
        });
        let url = self
            .config
            .base_url
            .join("v2/alerts")
            .map_err(|e| ActionError::Config(ConfigError::new("base_url", e)))?;
        let host = self.config.base_url.host_str().unwrap_or(SERVICE);
        let builder = self
            .delivery
            .http()
            .post(url)
            .header(
                "Authorization",
                format!("GenieKey {}", self.config.api_key.expose_secret()),
            )
            .json(&alert);
        let request = answers::build(builder, host)?;
        // Safe to retry: the alias makes a repeated create the same alert.
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
        let Some(request_id) = answers::text(&reply["requestId"]) else {
            return Err(answers::unreadable(
                &response,
                "Opsgenie answered without a requestId",
            ));
        };
        // Alert creation is asynchronous: the alias names the alert, the request id tracks the
        // creation.
        Ok(Created::new(alias.clone(), None)
            .with("request_id", json!(request_id))
            .with("alias", json!(alias)))
    }
}

#[async_trait]
impl ActionExecutor for OpsgenieExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let ticket = Ticket::from_request(request)?;
        Ok(self.create_alert(ticket).await?.into_output(SERVICE))
    }
}
