//! What every ticketing executor shares: parameters, severity, error reporting, the dispatcher.

use std::sync::{Arc, Weak};

use aisoc_notify_core::delivery::{
    DeliveryClient, DeliveryConfig, HttpResponse, check_destination,
};
use aisoc_notify_core::{
    ActionExecutor, ActionRequest, ActionResult, ExecutorRegistry, async_trait,
};
use serde_json::{Map, Value, json};

/// The capability every executor here registers under.
pub const CAPABILITY: &str = "create_ticket";

/// Ticket severity as playbooks write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSeverity {
    /// Wake someone up.
    Critical,
    /// Urgent.
    High,
    /// Normal.
    Medium,
    /// Whenever.
    Low,
    /// For the record.
    Info,
}

impl TicketSeverity {
    /// Parses `critical|high|medium|low|info` (default `high`).
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("high") => Ok(TicketSeverity::High),
            Some("critical") => Ok(TicketSeverity::Critical),
            Some("medium") => Ok(TicketSeverity::Medium),
            Some("low") => Ok(TicketSeverity::Low),
            Some("info") | Some("informational") => Ok(TicketSeverity::Info),
            Some(other) => Err(format!(
                "severity must be critical, high, medium, low or info (got '{other}')"
            )),
        }
    }
}

/// Checks the configured API address (named `field` in the error) and makes the executor's
/// delivery client.
pub(crate) fn checked_client(url: &url::Url, field: &str) -> Result<DeliveryClient, String> {
    check_destination(url.as_str()).map_err(|e| format!("{field}: {e}"))?;
    DeliveryClient::new(DeliveryConfig::default()).map_err(|e| e.to_string())
}

/// The rendered, checked parameters of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) summary: String,
    pub(crate) description: String,
    pub(crate) severity: TicketSeverity,
    pub(crate) dedup_key: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) issue_type: Option<String>,
}

impl Ticket {
    pub(crate) fn from_request(request: &ActionRequest) -> Result<Self, String> {
        let optional = |name: &str| -> Result<Option<String>, String> {
            Ok(request
                .render_parameter(name)
                .map_err(|e| e.to_string())?
                .filter(|v| !v.trim().is_empty()))
        };
        Ok(Self {
            summary: request
                .require_parameter("summary")
                .map_err(|e| e.to_string())?,
            description: optional("description")?.unwrap_or_default(),
            severity: TicketSeverity::parse(optional("severity")?.as_deref())?,
            dedup_key: optional("dedup_key")?,
            project: optional("project")?,
            issue_type: optional("issue_type")?,
        })
    }
}

/// A created ticket.
pub(crate) struct Created {
    pub(crate) key: String,
    pub(crate) url: Option<String>,
    pub(crate) extra: Map<String, Value>,
}

impl Created {
    pub(crate) fn into_result(self, system: &str) -> ActionResult {
        let mut output = self.extra;
        output.insert("system".into(), json!(system));
        output.insert("key".into(), json!(self.key));
        output.insert("url".into(), json!(self.url));
        ActionResult::succeeded(output)
    }
}

/// Sends a request and returns the response or a readable failure naming the vendor.
pub(crate) async fn send(
    delivery: &DeliveryClient,
    request: reqwest::Request,
    vendor: &str,
) -> Result<HttpResponse, String> {
    delivery
        .send(request)
        .await
        .map_err(|e| format!("{vendor}: {e}"))
}

/// Runs a vendor call and turns every failure into `Failed`.
pub(crate) fn finish(system: &str, result: Result<Created, String>) -> ActionResult {
    match result {
        Ok(created) => created.into_result(system),
        Err(error) => ActionResult::failed(error),
    }
}

/// `create_ticket`: dispatches on the `system` parameter to the live executor registered as
/// `(system, "create_ticket")`.
#[derive(Debug)]
pub struct CreateTicket {
    registry: Weak<ExecutorRegistry>,
}

impl CreateTicket {
    /// Registers the dispatcher as the `create_ticket` action of `registry`.
    pub fn register(registry: &Arc<ExecutorRegistry>) {
        registry.register(
            CAPABILITY,
            Arc::new(CreateTicket {
                registry: Arc::downgrade(registry),
            }),
        );
    }
}

#[async_trait]
impl ActionExecutor for CreateTicket {
    async fn execute(&self, request: &ActionRequest) -> ActionResult {
        let Some(registry) = self.registry.upgrade() else {
            return ActionResult::failed("the executor registry is gone");
        };
        let system = match request.require_parameter("system") {
            Ok(system) => system.trim().to_ascii_lowercase(),
            Err(error) => return ActionResult::failed(error.to_string()),
        };
        if registry.resolve_live(&system, CAPABILITY).is_none() {
            let known: Vec<String> = registry
                .live_executors()
                .into_iter()
                .filter(|(_, capability)| capability == CAPABILITY)
                .map(|(vendor, _)| vendor)
                .collect();
            return ActionResult::failed(format!(
                "unknown ticketing system '{system}' (configured: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        }
        registry.execute_live(&system, CAPABILITY, request).await
    }
}
