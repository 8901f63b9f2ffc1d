//! A tenant's ticketing-system settings as an operator enters them at run time, checked and
//! turned into the system's executor.
//!
//! The static configs ([`JiraConfig`], [`ServiceNowConfig`], …) suit one set of credentials
//! known at start-up. A multi-tenant host instead stores each tenant's settings (an admin
//! `PUT`, a vault) and builds the executor when a playbook asks for a ticket: these types are
//! what it stores. Each system's settings deserialize from JSON with unknown fields refused, so
//! a misspelt field is named instead of silently ignored:
//!
//! | system | fields (`*` required) |
//! |---|---|
//! | `jira` | `site_url`*, `email`*, `api_token`*, `default_project`*, `default_issue_type` (default `Task`) |
//! | `servicenow` | `instance_url`*, and either `user`* + `password`* or `token`* (OAuth); `assignment_group` |
//! | `pagerduty` | `routing_key`*, `events_url` (default `https://events.pagerduty.com`), `source` (default `aisoc-notify`) |
//! | `opsgenie` | `api_key`*, and `region` (`us`, the default, or `eu`) or `base_url` (a proxy) |
//!
//! Secrets (`api_token`, `password`, `token`, `routing_key`, `api_key`) are
//! [`SecretString`]s: `Debug` and every error shows the field names, never their values.
//! [`ItsmCredentials::to_stored_json`] is the one way to get them back out, for a store that
//! seals them.
//!
//! ```
//! use aisoc_notify_itsm::credentials::{ItsmCredentials, ItsmSystem};
//! use serde_json::json;
//!
//! let jira = ItsmCredentials::from_json(
//!     ItsmSystem::Jira,
//!     json!({"site_url": "https://acme.atlassian.net", "email": "soc@acme.com",
//!            "api_token": "tok-123", "default_project": "SEC"}),
//! )
//! .unwrap();
//! assert_eq!(jira.set_fields(), ["site_url", "email", "api_token", "default_project", "default_issue_type"]);
//! assert!(!format!("{jira:?}").contains("tok-123"));
//!
//! let typo = ItsmCredentials::from_json(
//!     ItsmSystem::Jira,
//!     json!({"site_url": "https://acme.atlassian.net", "email": "soc@acme.com",
//!            "api_tokn": "tok-123", "default_project": "SEC"}),
//! )
//! .unwrap_err();
//! assert!(typo.to_string().contains("api_tokn"), "{typo}");
//! assert!(!typo.to_string().contains("tok-123"));
//! ```

use std::sync::Arc;

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ActionExecutor, ConfigError};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    JiraConfig, JiraExecutor, OpsgenieConfig, OpsgenieExecutor, OpsgenieRegion, PagerDutyConfig,
    PagerDutyExecutor, ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor,
};

/// The ticketing systems a tenant can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItsmSystem {
    /// Jira Cloud.
    Jira,
    /// ServiceNow.
    ServiceNow,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// Opsgenie.
    Opsgenie,
}

impl ItsmSystem {
    /// Every system, in the order listings show them.
    pub const ALL: [ItsmSystem; 4] = [
        ItsmSystem::Jira,
        ItsmSystem::ServiceNow,
        ItsmSystem::PagerDuty,
        ItsmSystem::Opsgenie,
    ];

    /// The name playbooks and routes use: `jira`, `servicenow`, `pagerduty`, `opsgenie`.
    pub fn as_str(self) -> &'static str {
        match self {
            ItsmSystem::Jira => "jira",
            ItsmSystem::ServiceNow => "servicenow",
            ItsmSystem::PagerDuty => "pagerduty",
            ItsmSystem::Opsgenie => "opsgenie",
        }
    }

    /// The system named `name` (case and surrounding spaces ignored).
    pub fn parse(name: &str) -> Result<Self, CredentialsError> {
        let wanted = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|system| system.as_str() == wanted)
            .ok_or_else(|| CredentialsError::UnknownSystem(wanted.chars().take(40).collect()))
    }

    /// `jira, servicenow, pagerduty, opsgenie`, for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl std::fmt::Display for ItsmSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why settings cannot be used. Names the field; never carries a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// No such ticketing system.
    #[error("unknown ticketing system '{0}' (one of jira, servicenow, pagerduty, opsgenie)")]
    UnknownSystem(String),
    /// The JSON does not have the system's shape (a missing or unknown field, a wrong type).
    #[error("{system} settings: {reason}")]
    Malformed {
        /// The system.
        system: ItsmSystem,
        /// serde's account, which names the field.
        reason: String,
    },
    /// A field's value is unusable.
    #[error("{system} settings: {source}")]
    Invalid {
        /// The system.
        system: ItsmSystem,
        /// The field and why.
        source: ConfigError,
    },
}

impl CredentialsError {
    /// The field to fix, when one field is at fault.
    pub fn field(&self) -> Option<&str> {
        match self {
            CredentialsError::Invalid { source, .. } => Some(source.field()),
            _ => None,
        }
    }
}

fn default_issue_type() -> String {
    "Task".to_owned()
}

/// Jira Cloud settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraCredentials {
    /// `https://<site>.atlassian.net`.
    pub site_url: String,
    /// The account e-mail the API token belongs to.
    pub email: String,
    /// The API token.
    pub api_token: SecretString,
    /// The project key used when the step names none.
    pub default_project: String,
    /// The issue type used when the step names none (default `Task`).
    #[serde(default = "default_issue_type")]
    pub default_issue_type: String,
}

/// ServiceNow settings: a user and password, or an OAuth token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowCredentials {
    /// `https://<instance>.service-now.com`.
    pub instance_url: String,
    /// The user, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// The password, with `user`.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// An OAuth access token, instead of `user` and `password`.
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The assignment group for new incidents.
    #[serde(default)]
    pub assignment_group: Option<String>,
}

/// PagerDuty Events API settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyCredentials {
    /// The service integration's routing key.
    pub routing_key: SecretString,
    /// The Events API base (default `https://events.pagerduty.com`).
    #[serde(default)]
    pub events_url: Option<String>,
    /// The `source` of triggered events (default `aisoc-notify`).
    #[serde(default)]
    pub source: Option<String>,
}

/// Opsgenie settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieCredentials {
    /// The API integration key.
    pub api_key: SecretString,
    /// `us` (default) or `eu`.
    #[serde(default)]
    pub region: Option<String>,
    /// The API base instead of the region's (a proxy).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// One tenant's settings for one ticketing system.
#[derive(Clone)]
#[non_exhaustive]
pub enum ItsmCredentials {
    /// Jira Cloud.
    Jira(JiraCredentials),
    /// ServiceNow.
    ServiceNow(ServiceNowCredentials),
    /// PagerDuty.
    PagerDuty(PagerDutyCredentials),
    /// Opsgenie.
    Opsgenie(OpsgenieCredentials),
}

impl std::fmt::Debug for ItsmCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItsmCredentials")
            .field("system", &self.system())
            .field("set_fields", &self.set_fields())
            .finish_non_exhaustive()
    }
}

fn present(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

fn present_secret(value: &Option<SecretString>) -> bool {
    value
        .as_ref()
        .is_some_and(|v| !v.expose_secret().trim().is_empty())
}

fn parse_url(field: &str, value: &str) -> Result<url::Url, ConfigError> {
    url::Url::parse(value.trim())
        .map_err(|e| ConfigError::new(field, format!("is not a URL ({e})")))
}

/// Refuses, before any request, an address literal the outbound guard would refuse.
fn guarded(field: &str, url: &url::Url, delivery: &DeliveryClient) -> Result<(), ConfigError> {
    delivery
        .config()
        .destinations
        .check_url(url)
        .map_err(|e| ConfigError::new(field, e))
}

impl ItsmCredentials {
    /// Reads `system`'s settings from JSON. Unknown, missing and mistyped fields are named;
    /// values are checked by [`validate`](Self::validate) and [`into_executor`](Self::into_executor).
    pub fn from_json(system: ItsmSystem, value: Value) -> Result<Self, CredentialsError> {
        fn read<T: serde::de::DeserializeOwned>(
            system: ItsmSystem,
            value: Value,
        ) -> Result<T, CredentialsError> {
            // serde_json's messages name the field and the expected type, never the value.
            serde_json::from_value(value).map_err(|e| CredentialsError::Malformed {
                system,
                reason: e.to_string(),
            })
        }
        Ok(match system {
            ItsmSystem::Jira => ItsmCredentials::Jira(read(system, value)?),
            ItsmSystem::ServiceNow => ItsmCredentials::ServiceNow(read(system, value)?),
            ItsmSystem::PagerDuty => ItsmCredentials::PagerDuty(read(system, value)?),
            ItsmSystem::Opsgenie => ItsmCredentials::Opsgenie(read(system, value)?),
        })
    }

    /// The system these settings are for.
    pub fn system(&self) -> ItsmSystem {
        match self {
            ItsmCredentials::Jira(_) => ItsmSystem::Jira,
            ItsmCredentials::ServiceNow(_) => ItsmSystem::ServiceNow,
            ItsmCredentials::PagerDuty(_) => ItsmSystem::PagerDuty,
            ItsmCredentials::Opsgenie(_) => ItsmSystem::Opsgenie,
        }
    }

    /// The fields that hold a value, for a listing that must not show the values.
    pub fn set_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut mark = |name: &'static str, set: bool| {
            if set {
                fields.push(name);
            }
        };
        match self {
            ItsmCredentials::Jira(c) => {
                mark("site_url", !c.site_url.trim().is_empty());
                mark("email", !c.email.trim().is_empty());
                mark("api_token", !c.api_token.expose_secret().trim().is_empty());
                mark("default_project", !c.default_project.trim().is_empty());
                mark(
                    "default_issue_type",
                    !c.default_issue_type.trim().is_empty(),
                );
            }
            ItsmCredentials::ServiceNow(c) => {
                mark("instance_url", !c.instance_url.trim().is_empty());
                mark("user", present(&c.user));
                mark("password", present_secret(&c.password));
                mark("token", present_secret(&c.token));
                mark("assignment_group", present(&c.assignment_group));
            }
            ItsmCredentials::PagerDuty(c) => {
                mark(
                    "routing_key",
                    !c.routing_key.expose_secret().trim().is_empty(),
                );
                mark("events_url", present(&c.events_url));
                mark("source", present(&c.source));
            }
            ItsmCredentials::Opsgenie(c) => {
                mark("api_key", !c.api_key.expose_secret().trim().is_empty());
                mark("region", present(&c.region));
                mark("base_url", present(&c.base_url));
            }
        }
        fields
    }

    /// Checks every value as the executor would, and the API address against `delivery`'s
    /// outbound guard (an address literal in a private or metadata range is refused here).
    pub fn validate(&self, delivery: &DeliveryClient) -> Result<(), CredentialsError> {
        self.build(delivery).map(|_| ())
    }

    /// The system's executor, sending through `delivery`.
    pub fn into_executor(
        &self,
        delivery: DeliveryClient,
    ) -> Result<Arc<dyn ActionExecutor>, CredentialsError> {
        self.build(&delivery)
    }

    fn build(
        &self,
        delivery: &DeliveryClient,
    ) -> Result<Arc<dyn ActionExecutor>, CredentialsError> {
        let system = self.system();
        let invalid = |source: ConfigError| CredentialsError::Invalid { system, source };
        let executor: Arc<dyn ActionExecutor> = match self {
            ItsmCredentials::Jira(c) => {
                let site_url = parse_url("site_url", &c.site_url).map_err(invalid)?;
                guarded("site_url", &site_url, delivery).map_err(invalid)?;
                let config = JiraConfig {
                    site_url,
                    email: c.email.trim().to_owned(),
                    api_token: c.api_token.clone(),
                    default_project: c.default_project.trim().to_owned(),
                    default_issue_type: c.default_issue_type.trim().to_owned(),
                };
                Arc::new(
                    JiraExecutor::new(config)
                        .map_err(invalid)?
                        .with_delivery(delivery.clone()),
                )
            }
            ItsmCredentials::ServiceNow(c) => {
                let instance_url = parse_url("instance_url", &c.instance_url).map_err(invalid)?;
                guarded("instance_url", &instance_url, delivery).map_err(invalid)?;
                let basic = present(&c.user) || present_secret(&c.password);
                let auth = match (basic, &c.token) {
                    (true, Some(_)) => {
                        return Err(invalid(ConfigError::new(
                            "token",
                            "give either user and password, or token, not both",
                        )));
                    }
                    (false, Some(token)) => ServiceNowAuth::Bearer(token.clone()),
                    (_, None) => {
                        if !basic {
                            return Err(invalid(ConfigError::new(
                                "user",
                                "is required with password (or give token, an OAuth access token)",
                            )));
                        }
                        ServiceNowAuth::Basic {
                            user: c.user.clone().unwrap_or_default().trim().to_owned(),
                            password: c
                                .password
                                .clone()
                                .unwrap_or_else(|| SecretString::from(String::new())),
                        }
                    }
                };
                let config = ServiceNowConfig {
                    instance_url,
                    auth,
                    assignment_group: c.assignment_group.clone().filter(|g| !g.trim().is_empty()),
                };
                // The executor names `auth.user`; the settings call it `user`.
                let executor = ServiceNowExecutor::new(config).map_err(|e| {
                    let field = e.field().strip_prefix("auth.").unwrap_or(e.field());
                    invalid(ConfigError::new(field, e.reason()))
                })?;
                Arc::new(executor.with_delivery(delivery.clone()))
            }
            ItsmCredentials::PagerDuty(c) => {
                let events_url = parse_url(
                    "events_url",
                    c.events_url
                        .as_deref()
                        .filter(|u| !u.trim().is_empty())
                        .unwrap_or("https://events.pagerduty.com"),
                )
                .map_err(invalid)?;
                guarded("events_url", &events_url, delivery).map_err(invalid)?;
                let config = PagerDutyConfig {
                    routing_key: c.routing_key.clone(),
                    events_url,
                    source: c
                        .source
                        .clone()
                        .filter(|s| !s.trim().is_empty())
                        .unwrap_or_else(|| "aisoc-notify".to_owned()),
                };
                Arc::new(
                    PagerDutyExecutor::new(config)
                        .map_err(invalid)?
                        .with_delivery(delivery.clone()),
                )
            }
            ItsmCredentials::Opsgenie(c) => {
                let base_url = match (c.region.as_deref().map(str::trim), &c.base_url) {
                    (Some(region), Some(_)) if !region.is_empty() => {
                        return Err(invalid(ConfigError::new(
                            "base_url",
                            "give region or base_url, not both",
                        )));
                    }
                    (_, Some(base)) if !base.trim().is_empty() => {
                        parse_url("base_url", base).map_err(invalid)?
                    }
                    (region, _) => match region.map(str::to_ascii_lowercase).as_deref() {
                        None | Some("") | Some("us") => OpsgenieRegion::Us.base_url(),
                        Some("eu") => OpsgenieRegion::Eu.base_url(),
                        Some(_) => {
                            return Err(invalid(ConfigError::new("region", "must be us or eu")));
                        }
                    },
                };
                guarded("base_url", &base_url, delivery).map_err(invalid)?;
                let config = OpsgenieConfig {
                    api_key: c.api_key.clone(),
                    base_url,
                };
                Arc::new(
                    OpsgenieExecutor::new(config)
                        .map_err(invalid)?
                        .with_delivery(delivery.clone()),
                )
            }
        };
        Ok(executor)
    }

    /// The settings as JSON, secrets included: only for a store that seals the result (or a
    /// file only its owner can read). Reading it back with [`from_json`](Self::from_json)
    /// gives the same settings.
    pub fn to_stored_json(&self) -> Value {
        let secret = |s: &SecretString| json!(s.expose_secret());
        fn optional_secret(s: &Option<SecretString>) -> Option<&str> {
            s.as_ref().map(|s| s.expose_secret())
        }
        match self {
            ItsmCredentials::Jira(c) => json!({
                "site_url": c.site_url,
                "email": c.email,
                "api_token": secret(&c.api_token),
                "default_project": c.default_project,
                "default_issue_type": c.default_issue_type,
            }),
            ItsmCredentials::ServiceNow(c) => json!({
                "instance_url": c.instance_url,
                "user": c.user,
                "password": optional_secret(&c.password),
                "token": optional_secret(&c.token),
                "assignment_group": c.assignment_group,
            }),
            ItsmCredentials::PagerDuty(c) => json!({
                "routing_key": secret(&c.routing_key),
                "events_url": c.events_url,
                "source": c.source,
            }),
            ItsmCredentials::Opsgenie(c) => json!({
                "api_key": secret(&c.api_key),
                "region": c.region,
                "base_url": c.base_url,
            }),
        }
    }

    /// A digest of every value (secrets included), so a cache can tell changed settings from
    /// the same ones without keeping a copy to compare. It reveals nothing usable: SHA-256 of
    /// the system and the stored JSON.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.system().as_str().as_bytes());
        hasher.update([0]);
        hasher.update(self.to_stored_json().to_string().as_bytes());
        hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests;
