//! Slack (and Slack-compatible Mattermost) for aisoc-notify.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`webhook`] | [`SlackWebhookNotifier`](webhook::SlackWebhookNotifier): incoming-webhook delivery |
//! | [`web_api`] | [`SlackBotClient`](web_api::SlackBotClient) (`chat.postMessage`, `chat.update`) and [`SlackBotNotifier`](web_api::SlackBotNotifier) |
//! | [`mattermost`] | [`MattermostWebhookNotifier`](mattermost::MattermostWebhookNotifier) and how Mattermost differs |
//! | [`config`] | [`SlackChannelConfig`](config::SlackChannelConfig): operator configuration, validated |
//! | [`blocks`] | Block Kit builders that respect Slack's limits |
//! | [`prompt`] | [`SlackPromptTransport`](prompt::SlackPromptTransport): approval and verification prompts, updated once answered |
//! | [`render`] | notifications, approval requests and decision results as messages |
//! | [`mrkdwn`] | escaping and safe truncation |
//! | [`executor`] | the `notify_slack` playbook action |
//! | [`signature`] | Slack request signature verification (`v0`) |
//! | [`interactions`] | button presses, routed to the shared decision path |
//! | [`commands`] | the `/aisoc` slash command and the [`ChatOpsBackend`](commands::ChatOpsBackend) trait |
//! | `routes` | axum routes for interactions and commands (feature `axum`) |
//!
//! Every delivery goes through the core delivery layer (timeouts, capped reads, retries for
//! 429/5xx honouring `Retry-After`) and is paced to about one message per second per webhook
//! or channel, as Slack asks. Errors keep Slack's own codes ([`error::SlackError`]) and map onto
//! the core's retry classification.
//!
//! ```no_run
//! use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
//! use aisoc_notify_slack::webhook::SlackWebhookNotifier;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let slack = SlackWebhookNotifier::builder()
//!     .webhook_url("https://hooks.slack.com/services/T000/B000/XXXX")
//!     .build()?;
//! let alert = Notification::new("acme", EventType::P0Alert, Severity::Critical, "Ransomware on web-01")
//!     .with_fact("Host", "web-01");
//! slack.notify(&alert).await?;
//! # Ok(()) }
//! ```
//!
//! ## Features
//! - `axum`: [`routes::router`](crate::routes) for `POST /interactions` and `POST /commands`.

pub mod blocks;
pub mod commands;
pub mod config;
pub mod error;
pub mod executor;
pub mod interactions;
pub mod mattermost;
pub mod mrkdwn;
pub mod prompt;
pub mod render;
#[cfg(feature = "axum")]
pub mod routes;
pub mod signature;
pub mod web_api;
pub mod webhook;

pub use error::SlackError;
