//! ServiceNow: Table API `POST /api/now/table/incident`, basic auth or an OAuth bearer token.
//!
//! The Table API cannot deduplicate creates, so every incident carries the ticket's correlation
//! key in `correlation_id`, and the executor looks it up
//! (`GET /api/now/table/incident?sysparm_query=correlation_id=<key>`) before creating, and
//! again after a create whose outcome is unknown (see [`create_once`](crate::create_once)). The
//! account needs read access to incidents (the `itil` role) for the lookup to see them.

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{
    ActionError, ActionExecutor, ActionOutput, ActionRequest, ConfigError, RetryPolicy, async_trait,
};
use serde_json::{Value, json};

use crate::answers::{self, Hints};
use crate::create_once::{CreateFailure, LookupThenCreate, find_or_create, send_create};
use crate::endpoint::{api_base, default_client, required, required_secret};
use crate::ticket::{Created, Ticket, TicketSeverity};

const SERVICE: &str = "servicenow";

/// `task.correlation_id` holds 100 characters.
const CORRELATION_CHARS: usize = 100;

const HINTS: Hints = Hints {
    unauthorized: "authentication failed (check the user and password, or the OAuth token)",
    forbidden: "the account may not create or read incidents (it needs the itil role)",
};

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
            .field("assignment_group", &self.assignment_group)
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

/// The correlation key as `correlation_id`: at most 100 characters, and no `^` (the encoded
/// query's separator) or control character, which would change the lookup's query.
fn correlation_id(ticket: &Ticket) -> String {
    ticket.correlation_within(CORRELATION_CHARS, |c| c != '^' && !c.is_control())
}

/// ServiceNow's error body: `{"error": {"message": …, "detail": …}}`.
fn details(body: &Value) -> Vec<String> {
    let message = answers::text(&body["error"]["message"]);
    let detail = answers::text(&body["error"]["detail"]);
    match (message, detail) {
        (Some(m), Some(d)) => vec![format!("{m}: {d}")],
        (m, d) => m.into_iter().chain(d).collect(),
    }
}

impl ServiceNowExecutor {
    /// An executor for `config`; fails naming the setting that is unusable.
    pub fn new(config: ServiceNowConfig) -> Result<Self, ConfigError> {
        let instance_url = api_base(&config.instance_url, "instance_url")?;
        match &config.auth {
            ServiceNowAuth::Basic { user, password } => {
                required("auth.user", user)?;
                required_secret("auth.password", password)?;
            }
            ServiceNowAuth::Bearer(token) => required_secret("auth.token", token)?,
        }
        Ok(Self {
            config: ServiceNowConfig {
                instance_url,
                ..config
            },
            delivery: default_client()?,
        })
    }

    /// Sends through `delivery` (a shared client, or one whose outbound guard allows an
    /// on-prem address).
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    fn host(&self) -> &str {
        self.config.instance_url.host_str().unwrap_or("servicenow")
    }

    fn incidents(&self) -> Result<url::Url, ActionError> {
        self.config
            .instance_url
            .join("api/now/table/incident")
            .map_err(|e| ActionError::Config(ConfigError::new("instance_url", e)))
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let builder = builder.header("Accept", "application/json");
        match &self.config.auth {
            ServiceNowAuth::Basic { user, password } => {
                builder.basic_auth(user, Some(password.expose_secret()))
            }
            ServiceNowAuth::Bearer(token) => builder.bearer_auth(token.expose_secret()),
        }
    }

    /// An incident record (`number`, `sys_id`) as a ticket.
    fn ticket_of(&self, record: &Value) -> Option<Created> {
        let number = answers::text(&record["number"])?;
        let sys_id = answers::text(&record["sys_id"]).unwrap_or_default();
        let link = self
            .config
            .instance_url
            .join(&format!("nav_to.do?uri=incident.do?sys_id={sys_id}"))
            .map(|u| u.to_string())
            .ok();
        Some(Created::new(number, link).with("sys_id", json!(sys_id)))
    }
}

impl LookupThenCreate for ServiceNowExecutor {
    async fn find(&self, ticket: &Ticket) -> Result<Option<Created>, ActionError> {
        let id = correlation_id(ticket);
        let mut url = self.incidents()?;
        url.query_pairs_mut()
            .append_pair("sysparm_query", &format!("correlation_id={id}"))
            .append_pair("sysparm_limit", "1")
            .append_pair("sysparm_fields", "number,sys_id,correlation_id");
        let request = answers::build(self.authorized(self.delivery.http().get(url)), self.host())?;
        let response = self.delivery.send(request).await?;
        if !response.is_success() {
            let body = answers::error_body(&response);
            // Older releases answer an empty query result with 404 "No Record found".
            if response.status.as_u16() == 404
                && answers::text(&body["error"]["message"]).as_deref() == Some("No Record found")
            {
                return Ok(None);
            }
            return Err(answers::refusal(SERVICE, &response, &details(&body), HINTS));
        }
        let body: Value = response.json()?;
        let Some(records) = body["result"].as_array() else {
            return Err(answers::unreadable(
                &response,
                "the incident lookup answered without a result list",
            ));
        };
        // Only a record with our correlation_id counts: an instance ignores a query part it
        // cannot read and would otherwise hand back an unrelated incident.
        Ok(records
            .iter()
            .filter(|record| record["correlation_id"].as_str() == Some(id.as_str()))
            .find_map(|record| self.ticket_of(record)))
    }

    async fn create(&self, ticket: &Ticket) -> Result<Created, CreateFailure> {
        let level = urgency(ticket.severity);
        let mut body = json!({
            "short_description": ticket.summary.chars().take(160).collect::<String>(),
            "description": ticket.description,
            "urgency": level,
            "impact": level,
            "category": "security",
            "correlation_id": correlation_id(ticket),
        });
        if let Some(group) = &self.config.assignment_group {
            body["assignment_group"] = json!(group);
        }
        let url = self.incidents().map_err(CreateFailure::NotCreated)?;
        let builder = self.authorized(self.delivery.http().post(url)).json(&body);
        let request = answers::build(builder, self.host()).map_err(CreateFailure::NotCreated)?;
        let (response, reply) =
            send_create(&self.delivery, request, SERVICE, details, HINTS).await?;
        self.ticket_of(&reply["result"]).ok_or_else(|| {
            CreateFailure::Unknown(answers::unreadable(
                &response,
                "ServiceNow answered without an incident number",
            ))
        })
    }

    fn retry_policy(&self) -> &RetryPolicy {
        &self.delivery.config().retry
    }
}

#[async_trait]
impl ActionExecutor for ServiceNowExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let ticket = Ticket::from_request(request)?;
        let created = find_or_create(self, &ticket).await?;
        Ok(created.into_output(SERVICE))
    }
}
