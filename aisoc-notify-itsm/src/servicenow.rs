//! ServiceNow: Table API `POST /api/now/table/incident`, basic auth or an OAuth bearer token.

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ActionExecutor, ActionRequest, ActionResult, async_trait};
use serde_json::{Map, Value, json};

use crate::common::{Created, Ticket, TicketSeverity, checked_client, finish, send};

/// How to authenticate to ServiceNow.
#[derive(Clone)]
pub enum ServiceNowAuth {
    /// A user and password.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// An OAuth access token.
    Bearer(SecretString),
}

/// ServiceNow settings.
#[derive(Clone)]
pub struct ServiceNowConfig {
    /// `https://<instance>.service-now.com`.
    pub instance_url: url::Url,
    /// Credentials.
    pub auth: ServiceNowAuth,
    /// The assignment group for new incidents, if any.
    pub assignment_group: Option<String>,
}

impl std::fmt::Debug for ServiceNowConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowConfig")
            .field("instance_url", &self.instance_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Creates ServiceNow incidents.
#[derive(Debug)]
pub struct ServiceNowExecutor {
    config: ServiceNowConfig,
    delivery: DeliveryClient,
}

/// ServiceNow's urgency and impact: 1 (high) to 3 (low).
fn urgency(severity: TicketSeverity) -> &'static str {
    match severity {
        TicketSeverity::Critical | TicketSeverity::High => "1",
        TicketSeverity::Medium => "2",
        TicketSeverity::Low | TicketSeverity::Info => "3",
    }
}

impl ServiceNowExecutor {
    /// An executor for `config`.
    pub fn new(config: ServiceNowConfig) -> Result<Self, String> {
        let delivery = checked_client(&config.instance_url, "instance_url")?;
        Ok(Self { config, delivery })
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    async fn create(&self, ticket: Ticket) -> Result<Created, String> {
        let level = urgency(ticket.severity);
        let mut body = json!({
            "short_description": ticket.summary.chars().take(160).collect::<String>(),
            "description": ticket.description,
            "urgency": level,
            "impact": level,
            "category": "security",
        });
        if let Some(group) = &self.config.assignment_group {
            body["assignment_group"] = json!(group);
        }
        if let Some(key) = &ticket.dedup_key {
            body["correlation_id"] = json!(key);
        }
        let url = self
            .config
            .instance_url
            .join("api/now/table/incident")
            .map_err(|e| e.to_string())?;
        let builder = self
            .delivery
            .http()
            .post(url)
            .header("Accept", "application/json")
            .json(&body);
        let builder = match &self.config.auth {
            ServiceNowAuth::Basic { user, password } => {
                builder.basic_auth(user, Some(password.expose_secret()))
            }
            ServiceNowAuth::Bearer(token) => builder.bearer_auth(token.expose_secret()),
        };
        let request = builder.build().map_err(|e| e.without_url().to_string())?;
        let response = send(&self.delivery, request, "ServiceNow").await?;
        let reply: Value = response.json().unwrap_or(Value::Null);
        if response.is_success() {
            let result = &reply["result"];
            let number = result["number"]
                .as_str()
                .ok_or("ServiceNow answered without an incident number")?
                .to_owned();
            let sys_id = result["sys_id"].as_str().unwrap_or_default().to_owned();
            let link = self
                .config
                .instance_url
                .join(&format!("nav_to.do?uri=incident.do?sys_id={sys_id}"))
                .map(|u| u.to_string())
                .ok();
            let mut extra = Map::new();
            extra.insert("sys_id".into(), json!(sys_id));
            return Ok(Created {
                key: number,
                url: link,
                extra,
            });
        }
        let status = response.status.as_u16();
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        let detail = reply["error"]["detail"].as_str().unwrap_or_default();
        let reason = match (message, detail) {
            ("", "") => response.text().chars().take(300).collect(),
            (m, "") => m.to_owned(),
            (m, d) => format!("{m}: {d}"),
        };
        Err(format!(
            "ServiceNow rejected the incident (HTTP {status}): {reason}"
        ))
    }
}

#[async_trait]
impl ActionExecutor for ServiceNowExecutor {
    async fn execute(&self, request: &ActionRequest) -> ActionResult {
        let result = match Ticket::from_request(request) {
            Ok(ticket) => self.create(ticket).await,
            Err(error) => Err(error),
        };
        finish("servicenow", result)
    }
}
