//! `create_ticket` for the ITSM tools SOCs hand work to: Jira Cloud, ServiceNow, PagerDuty and
//! Opsgenie, each a live executor registered by `(vendor_id, "create_ticket")`.
//!
//! A playbook step names the system and the ticket:
//!
//! | parameter | meaning |
//! |---|---|
//! | `system` | `jira`, `servicenow`, `pagerduty`, `opsgenie` (or any registered vendor) |
//! | `summary` | the title (template, e.g. `{{ context.alert.title }}`) |
//! | `description` | the body (template) |
//! | `severity` | `critical`, `high`, `medium`, `low` or `info` (default `high`) |
//! | `dedup_key` | the ticket's identity (default: derived from tenant, case, run and summary) |
//! | `project`, `issue_type` | Jira only (defaults from the executor's configuration) |
//!
//! Every executor makes the real REST call and returns the ticket's `key`, its `url` where the
//! API gives one, and `existing: true` when the ticket was already there. Failures are typed
//! [`ActionError`](aisoc_notify_core::ActionError)s whose
//! [`retry_class`](aisoc_notify_core::ActionError::retry_class) a playbook engine can act on:
//!
//! | vendor answer | class |
//! |---|---|
//! | 400, 422 (Jira `errors`/`errorMessages`, ServiceNow `error.message`, PagerDuty `errors`, Opsgenie `message` shown) | `NonRetryable` |
//! | 401, 403 (a sentence naming the credentials or permission to check) | `NonRetryable` |
//! | 404, 410 | `Gone` |
//! | 429 with `Retry-After` | `Throttled` (retried in place when short) |
//! | 5xx, timeouts, connection failures | `Retryable` |
//! | a 3xx, a forbidden destination, an unreadable success | `NonRetryable` |
//!
//! No vendor body is quoted except those short JSON error messages.
//!
//! ## Opening a ticket once
//!
//! A create that timed out or got a 5xx may have happened, so retrying it blindly can open the
//! same ticket twice. Every ticket carries a correlation key (the step's `dedup_key`, or one
//! derived from the tenant, the case, the run and the summary, so a step run again derives the
//! same one), and each executor retries only as far as the vendor can tell a repeat:
//!
//! | system | the key travels as | a create with an unknown outcome |
//! |---|---|---|
//! | PagerDuty | `dedup_key` | retried: the vendor folds it into the same incident |
//! | Opsgenie | `alias` | retried: the vendor folds it into the same alert |
//! | ServiceNow | `correlation_id` | looked up by `correlation_id`; created again only if absent |
//! | Jira | label `aisoc-<key>` | searched by label; created again only if absent |
//!
//! ServiceNow and Jira also look the ticket up before the first create, so the playbook
//! engine re-running a step after a retryable failure finds the ticket instead of opening a
//! second one. Creates are sent at most the delivery client's `max_attempts` times. Jira's
//! search is eventually consistent (Atlassian: usually seconds); an issue created moments
//! before can be missed by it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use aisoc_notify_core::ExecutorRegistry;
//! use aisoc_notify_itsm::{CreateTicket, JiraConfig, JiraExecutor};
//!
//! let registry = Arc::new(ExecutorRegistry::new());
//! let jira = JiraExecutor::new(JiraConfig {
//!     site_url: "https://acme.atlassian.net".parse().unwrap(),
//!     email: "soc-bot@acme.com".into(),
//!     api_token: "…".into(),
//!     default_project: "SEC".into(),
//!     default_issue_type: "Task".into(),
//! })?;
//! registry.register_live("jira", "create_ticket", Arc::new(jira));
//! CreateTicket::register(&registry);
//! # Ok::<(), aisoc_notify_core::ConfigError>(())
//! ```
//!
//! The executors send through the core [`DeliveryClient`](aisoc_notify_core::DeliveryClient),
//! outbound guard on: an on-prem Jira or ServiceNow on a private address needs
//! `with_delivery(..)` with a client whose `DestinationPolicy` allows it.
//!
//! ## Per-tenant credentials
//!
//! A host serving many tenants stores each tenant's settings as
//! [`ItsmCredentials`](credentials::ItsmCredentials) (checked, secrets redacted) and registers
//! [`TenantTickets`](tenant::TenantTickets) as `create_ticket`: it looks up the step's tenant
//! and `system` in a [`CredentialSource`](tenant::CredentialSource) and runs that system's
//! executor with them, never another tenant's.
//!
//! ## Features
//! None. The tests run core's HTTP contract (`aisoc-notify-core/test-util`) against every
//! executor.

mod answers;
mod create_once;
pub mod credentials;
mod dispatch;
mod endpoint;
mod jira;
mod opsgenie;
mod pagerduty;
mod servicenow;
pub mod tenant;
mod ticket;

pub use dispatch::{CAPABILITY, CreateTicket};
pub use jira::{JiraConfig, JiraExecutor};
pub use opsgenie::{OpsgenieConfig, OpsgenieExecutor, OpsgenieRegion};
pub use pagerduty::{PagerDutyConfig, PagerDutyExecutor};
pub use servicenow::{ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor};
pub use ticket::TicketSeverity;
