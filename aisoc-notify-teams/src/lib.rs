//! Microsoft Teams for aisoc-notify.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`webhook`] | [`TeamsWebhookNotifier`](webhook::TeamsWebhookNotifier): Workflows and legacy connector webhooks |
//! | [`config`] | [`TeamsChannelConfig`](config::TeamsChannelConfig): operator configuration, validated |
//! | [`error`] | [`TeamsError`]: how Teams' answers (its 200-with-error texts included) map to the core's retry classes |
//! | [`card`] | Adaptive Card builders (schema 1.5 by default) |
//! | [`prompt`] | [`TeamsPromptTransport`](prompt::TeamsPromptTransport): approval and verification prompts as webhook cards |
//! | [`render`] | notifications, approval requests, verification prompts and decision results as cards; MessageCards |
//! | [`executor`] | the `notify_teams` playbook action |
//! | [`interactions`] | `Action.Submit` and `Action.Execute` decisions, routed to the shared decision path |
//! | [`hmac`] | outgoing-webhook `Authorization: HMAC` verification |
//! | `routes` | the axum interactions route (feature `axum`) |
//! | `bot_framework` | the Bot Framework messaging endpoint and its JWT verification (feature `bot-framework`) |
//!
//! Delivery goes through the core delivery layer (timeouts, capped reads, retries for 429/5xx
//! with `Retry-After`), paced to a few requests per second per webhook, and payloads larger than
//! Teams' 28 KB limit are refused before anything is sent.
//!
//! ```no_run
//! use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
//! use aisoc_notify_teams::webhook::TeamsWebhookNotifier;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let teams = TeamsWebhookNotifier::builder()
//!     .webhook_url("https://prod-00.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=xyz")
//!     .build()?;
//! teams.notify(&Notification::new("acme", EventType::DriftAlert, Severity::Medium, "Baseline drift")).await?;
//! # Ok(()) }
//! ```
//!
//! ## Features
//! - `axum`: [`routes::router`](crate::routes) for `POST /interactions`.
//! - `bot-framework`: `bot_framework::router` for the bot's `POST /messages` (Bot Connector JWTs,
//!   `Action.Execute` card actions, `refresh`), and the Bot Connector client
//!   (`bot_framework::connector`) with which the bot posts cards and notifications into a
//!   conversation and edits them (`bot_framework::conversation`).
//! - `test-util`: `bot_framework::testing`, a stand-in Bot Connector for tests.

#[cfg(feature = "bot-framework")]
pub mod bot_framework;
pub mod card;
pub mod config;
pub mod error;
pub mod executor;
pub mod hmac;
pub mod interactions;
pub mod prompt;
pub mod render;
#[cfg(feature = "axum")]
pub mod routes;
pub mod webhook;

pub use error::TeamsError;
