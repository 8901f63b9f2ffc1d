//! Jira Cloud: `POST /rest/api/3/issue`, basic auth with an account e-mail and API token, the
//! description as Atlassian Document Format.
//!
//! Jira cannot deduplicate creates, so every issue carries a correlation label
//! (`aisoc-<key>`, spaces in the key become `-`; labels cannot hold spaces), and the executor
//! searches for it (`GET /rest/api/3/search/jql`, the enhanced search that replaces
//! `/rest/api/3/search`) before creating, and again after a create whose outcome is unknown
//! (see [`create_once`](crate::create_once)). The account needs the Browse Projects permission
//! for the search to see the issue.

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

const SERVICE: &str = "jira";

/// Jira labels hold at most 255 characters.
const LABEL_CHARS: usize = 255;
const LABEL_PREFIX: &str = "aisoc-";

const HINTS: Hints = Hints {
    unauthorized: "authentication failed (check the account e-mail and API token)",
    forbidden: "the account may not create or browse issues in this project",
};

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
fn adf(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| json!({"type": "paragraph", "content": [{"type": "text", "text": line}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

/// The ticket's correlation label: `aisoc-` and the key with whitespace as `-`, or the key's
/// hash when it would not fit.
fn correlation_label(ticket: &Ticket) -> String {
    let dashed = Ticket {
        correlation: ticket
            .correlation
            .chars()
            .map(|c| if c.is_whitespace() { '-' } else { c })
            .collect(),
        ..ticket.clone()
    };
    let key = dashed.correlation_within(LABEL_CHARS - LABEL_PREFIX.len(), |_| true);
    format!("{LABEL_PREFIX}{key}")
}

/// A JQL string literal: quoted, with `"` and `\` escaped.
fn jql_string(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Jira's error body: `errorMessages` and the per-field `errors`.
fn details(body: &Value) -> Vec<String> {
    let mut details = answers::strings(&body["errorMessages"]);
    details.extend(answers::field_messages(&body["errors"]));
    details
}

impl JiraExecutor {
    /// An executor for `config`; fails naming the setting that is unusable.
    pub fn new(config: JiraConfig) -> Result<Self, ConfigError> {
        let site_url = api_base(&config.site_url, "site_url")?;
        required("email", &config.email)?;
        required_secret("api_token", &config.api_token)?;
        required("default_project", &config.default_project)?;
        required("default_issue_type", &config.default_issue_type)?;
        Ok(Self {
            config: JiraConfig { site_url, ..config },
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
        self.config.site_url.host_str().unwrap_or("jira")
    }

    fn endpoint(&self, path: &str) -> Result<url::Url, ActionError> {
        self.config
            .site_url
            .join(path)
            .map_err(|e| ActionError::Config(ConfigError::new("site_url", e)))
    }

    fn browse_url(&self, key: &str) -> Option<String> {
        self.config
            .site_url
            .join(&format!("browse/{key}"))
            .map(|u| u.to_string())
            .ok()
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        builder
            .basic_auth(
                &self.config.email,
                Some(self.config.api_token.expose_secret()),
            )
            .header("Accept", "application/json")
    }
}

impl LookupThenCreate for JiraExecutor {
    async fn find(&self, ticket: &Ticket) -> Result<Option<Created>, ActionError> {
        let label = correlation_label(ticket);
        let mut url = self.endpoint("rest/api/3/search/jql")?;
        url.query_pairs_mut()
            .append_pair("jql", &format!("labels = {}", jql_string(&label)))
            .append_pair("maxResults", "1")
            .append_pair("fields", "labels");
        let request = answers::build(self.authorized(self.delivery.http().get(url)), self.host())?;
        let response = self.delivery.send(request).await?;
        if !response.is_success() {
            let body = answers::error_body(&response);
            return Err(answers::refusal(SERVICE, &response, &details(&body), HINTS));
        }
        let body: Value = response.json()?;
        let Some(issues) = body["issues"].as_array() else {
            return Err(answers::unreadable(
                &response,
                "the issue search answered without an issues list",
            ));
        };
        // Only an issue that carries the label counts: a search that ignored the query must
        // not return someone else's issue.
        let found = issues.iter().find(|issue| {
            issue["fields"]["labels"]
                .as_array()
                .is_some_and(|labels| labels.iter().any(|l| l.as_str() == Some(label.as_str())))
        });
        Ok(found.and_then(|issue| {
            let key = answers::text(&issue["key"])?;
            Some(Created::new(key.clone(), self.browse_url(&key)).with("id", issue["id"].clone()))
        }))
    }

    async fn create(&self, ticket: &Ticket) -> Result<Created, CreateFailure> {
        let project = ticket
            .project
            .clone()
            .unwrap_or_else(|| self.config.default_project.clone());
        let issue_type = ticket
            .issue_type
            .clone()
            .unwrap_or_else(|| self.config.default_issue_type.clone());
        let fields = json!({
            "project": {"key": project},
            "issuetype": {"name": issue_type},
            "summary": ticket.summary.chars().take(255).collect::<String>(),
            "description": adf(&ticket.description),
            "priority": {"name": priority(ticket.severity)},
            "labels": [correlation_label(ticket)],
        });
        let url = self
            .endpoint("rest/api/3/issue")
            .map_err(CreateFailure::NotCreated)?;
        let builder = self
            .authorized(self.delivery.http().post(url))
            .json(&json!({"fields": fields}));
        let request = answers::build(builder, self.host()).map_err(CreateFailure::NotCreated)?;
        let (response, body) =
            send_create(&self.delivery, request, SERVICE, details, HINTS).await?;
        let Some(key) = answers::text(&body["key"]) else {
            return Err(CreateFailure::Unknown(answers::unreadable(
                &response,
                "Jira answered without an issue key",
            )));
        };
        Ok(Created::new(key.clone(), self.browse_url(&key)).with("id", body["id"].clone()))
    }

    fn retry_policy(&self) -> &RetryPolicy {
        &self.delivery.config().retry
    }
}

#[async_trait]
impl ActionExecutor for JiraExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let ticket = Ticket::from_request(request)?;
        let created = find_or_create(self, &ticket).await?;
        Ok(created.into_output(SERVICE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_hold_no_spaces_and_jql_strings_are_escaped() {
        let ticket = Ticket {
            summary: "s".into(),
            description: String::new(),
            severity: TicketSeverity::High,
            correlation: "case 42".into(),
            project: None,
            issue_type: None,
        };
        assert_eq!(correlation_label(&ticket), "aisoc-case-42");
        let long = Ticket {
            correlation: "k".repeat(300),
            ..ticket
        };
        assert_eq!(correlation_label(&long).len(), LABEL_PREFIX.len() + 32);
        assert_eq!(jql_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn descriptions_become_one_paragraph_per_line() {
        let doc = adf("first\n\n second ");
        assert_eq!(doc["content"].as_array().unwrap().len(), 2);
        assert_eq!(doc["content"][1]["content"][0]["text"], " second ");
    }
}
