//! Jira Cloud: `POST /rest/api/3/issue`, basic auth with an account e-mail and API token, the
//! description as Atlassian Document Format.

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ActionExecutor, ActionRequest, ActionResult, async_trait};
use serde_json::{Map, Value, json};

use crate::common::{Created, Ticket, TicketSeverity, checked_client, finish, send};

/// Jira Cloud settings.
#[derive(Clone)]
pub struct JiraConfig {
    /// `https://<site>.atlassian.net`.
    pub site_url: url::Url,
    /// The account e-mail the API token belongs to.
    pub email: String,
    /// The API token.
    pub api_token: SecretString,
    /// The project key used when the step names none.
    pub default_project: String,
    /// The issue type used when the step names none (`Task`, `Bug`, `Incident`…).
    pub default_issue_type: String,
}

impl std::fmt::Debug for JiraConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraConfig")
            .field("site_url", &self.site_url.as_str())
            .field("email", &self.email)
            .field("default_project", &self.default_project)
            .finish_non_exhaustive()
    }
}

/// Creates Jira issues.
#[derive(Debug)]
pub struct JiraExecutor {
    config: JiraConfig,
    delivery: DeliveryClient,
}

fn priority(severity: TicketSeverity) -> &'static str {
    match severity {
        TicketSeverity::Critical => "Highest",
        TicketSeverity::High => "High",
        TicketSeverity::Medium => "Medium",
        TicketSeverity::Low => "Low",
        TicketSeverity::Info => "Lowest",
    }
}

/// A plain-text description as an Atlassian Document Format document, one paragraph per line.
pub(crate) fn adf(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| json!({"type": "paragraph", "content": [{"type": "text", "text": line}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

impl JiraExecutor {
    /// An executor for `config`.
    pub fn new(config: JiraConfig) -> Result<Self, String> {
        let delivery = checked_client(&config.site_url, "site_url")?;
        Ok(Self { config, delivery })
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    async fn create(&self, ticket: Ticket) -> Result<Created, String> {
        let mut fields = json!({
            "project": {"key": ticket.project.unwrap_or_else(|| self.config.default_project.clone())},
            "issuetype": {"name": ticket.issue_type.unwrap_or_else(|| self.config.default_issue_type.clone())},
            "summary": ticket.summary.chars().take(255).collect::<String>(),
            "description": adf(&ticket.description),
            "priority": {"name": priority(ticket.severity)},
        });
        if let Some(key) = ticket.dedup_key {
            fields["labels"] = json!([format!("aisoc-{}", key.replace(' ', "-"))]);
        }
        let url = self
            .config
            .site_url
            .join("rest/api/3/issue")
            .map_err(|e| e.to_string())?;
        let request = self
            .delivery
            .http()
            .post(url)
            .basic_auth(
                &self.config.email,
                Some(self.config.api_token.expose_secret()),
            )
            .json(&json!({"fields": fields}))
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let response = send(&self.delivery, request, "Jira").await?;
        let body: Value = response.json().unwrap_or(Value::Null);
        if response.is_success() {
            let key = body["key"]
                .as_str()
                .ok_or("Jira answered without an issue key")?
                .to_owned();
            let browse = self
                .config
                .site_url
                .join(&format!("browse/{key}"))
                .map(|u| u.to_string())
                .ok();
            let mut extra = Map::new();
            extra.insert("id".into(), body["id"].clone());
            return Ok(Created {
                key,
                url: browse,
                extra,
            });
        }
        let mut reasons: Vec<String> = body["errorMessages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(errors) = body["errors"].as_object() {
            reasons.extend(errors.iter().map(|(field, message)| {
                format!("{field}: {}", message.as_str().unwrap_or_default())
            }));
        }
        let status = response.status.as_u16();
        let reason = match status {
            401 => "authentication failed (check the e-mail and API token)".to_owned(),
            403 => "the account may not create issues in this project".to_owned(),
            _ if reasons.is_empty() => response.text().chars().take(300).collect(),
            _ => reasons.join("; "),
        };
        Err(format!("Jira rejected the issue (HTTP {status}): {reason}"))
    }
}

#[async_trait]
impl ActionExecutor for JiraExecutor {
    async fn execute(&self, request: &ActionRequest) -> ActionResult {
        let result = match Ticket::from_request(request) {
            Ok(ticket) => self.create(ticket).await,
            Err(error) => Err(error),
        };
        finish("jira", result)
    }
}
