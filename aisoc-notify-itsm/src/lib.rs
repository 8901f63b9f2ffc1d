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
//! | `dedup_key` | deduplication key (PagerDuty `dedup_key`, Opsgenie `alias`) |
//! | `project`, `issue_type` | Jira only (defaults from the executor's configuration) |
//!
//! Every executor makes the real REST call and returns the ticket `key` and, where the API
//! gives one, its `url`; the vendor's error bodies become readable `Failed` results. The
//! [`CreateTicket`] dispatcher, registered as the `create_ticket` action, routes on `system` and
//! fails loudly for a system nobody registered.
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
//! }).unwrap();
//! registry.register_live("jira", "create_ticket", Arc::new(jira));
//! CreateTicket::register(&registry);
//! ```

mod common;
mod jira;
mod opsgenie;
mod pagerduty;
mod servicenow;

pub use common::{CAPABILITY, CreateTicket, TicketSeverity};
pub use jira::{JiraConfig, JiraExecutor};
pub use opsgenie::{OpsgenieConfig, OpsgenieExecutor, OpsgenieRegion};
pub use pagerduty::{PagerDutyConfig, PagerDutyExecutor};
pub use servicenow::{ServiceNowAuth, ServiceNowConfig, ServiceNowExecutor};
