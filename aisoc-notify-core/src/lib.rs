//! The core of aisoc-notify: the traits every adapter implements, the shared notification
//! model, and the security and delivery machinery they all rely on.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`notification`] | [`Notification`], [`Severity`], [`EventType`], [`Target`] |
//! | [`notifier`] | the [`Notifier`] trait and typed delivery outcomes |
//! | [`action`] | the [`ActionExecutor`] trait, [`ActionRequest`]/[`ActionResult`], [`ExecutorRegistry`] |
//! | [`token`] | the [`CallbackTokenSigner`] trait and [`HmacCallbackTokenSigner`] |
//! | [`signature`] | webhook signing and the one verifier for every header scheme |
//! | [`inbox_template`] | the [`InboxTemplate`] trait: vendor payload to OCSF |
//! | [`decision`] | the [`DecisionHandler`] trait: one decision path for Slack, Teams and REST |
//! | [`prompt`] | the [`PromptTransport`] trait: post an approval or verification prompt, update it once answered |
//! | [`template`] | strict message templating (`{{ context.host }}`) |
//! | [`retry`] | [`RetryClass`]: one classification of every failure; [`RetryPolicy`] backoff with jitter |
//! | [`delivery`] | the shared HTTP client: timeouts, capped reads, retries with backoff |
//! | [`destination`] | the outbound guard: no private, loopback or metadata addresses unless allowed |
//! | [`pacing`] | per-destination pacing (Slack: one message per second per channel) |
//! | [`freshness`] | connector heartbeats: stale / healthy, one notification per change |
//! | [`routing`] | channels, rules and concurrent fan-out with per-channel outcomes |
//! | [`markup`] | escaping user text for Markdown (Teams, Mattermost) |
//! | [`secret`] | secret values and URLs that never print |
//! | [`tenant`] | the one tenant-id validator every route uses (charset, length) |
//! | [`sealed`] | secrets sealed at rest: AES-256-GCM under rotating data keys (`AISOC_DATA_KEY`) |
//! | [`clock`] | time as a dependency, for expiry and replay windows |
//! | [`config`] | [`ConfigError`]: configuration errors that name the field |
//! | `http` | `ApiError`: the one `{"error": …}` answer of every router (feature `axum`) |
//!
//! The crate depends on no adapter; adapters depend on it only. Its traits are object safe
//! (`Arc<dyn Notifier>`) and use `async-trait`, so host code can mock them with `mockall`.
//!
//! Errors are one `thiserror` enum per concern ([`NotifyError`], [`DeliveryError`],
//! [`TokenError`], [`SignatureError`], [`TemplateError`], …) rather than one for the crate:
//! callers of the token verifier should not have to match on HTTP failures. Every enum is
//! `#[non_exhaustive]`, and none carries a secret.
//!
//! ```
//! use std::sync::Arc;
//! use aisoc_notify_core::{async_trait, Delivered, EventType, Notification, Notifier, NotifyError, Severity};
//! use aisoc_notify_core::routing::{Channel, NotificationRouter};
//!
//! struct Console;
//!
//! #[async_trait]
//! impl Notifier for Console {
//!     fn channel_type(&self) -> &str {
//!         "console"
//!     }
//!     async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
//!         println!("{} {} {}", n.severity.emoji(), n.severity, n.title);
//!         Ok(Delivered::default())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let router = NotificationRouter::builder()
//!     .channel(Channel::new("console", Arc::new(Console)))
//!     .build()
//!     .unwrap();
//! let n = Notification::new("acme", EventType::P0Alert, Severity::Critical, "Ransomware on web-01");
//! assert!(router.dispatch(&n).await.all_delivered());
//! # });
//! ```
//!
//! ## Features
//! - `test-util`: [`conformance`], the HTTP contract every adapter passes, stub/recording
//!   notifiers and executors for host code's tests, and [`tls_peer`], a local HTTPS peer.
//! - `axum`: `http::ApiError`, the JSON error every router and extractor answers with.
//!
//! The default build is the whole runtime crate, on rustls (no OpenSSL).

pub mod action;
pub mod clock;
pub mod config;
#[cfg(feature = "test-util")]
pub mod conformance;
pub mod decision;
pub mod delivery;
pub mod destination;
pub mod freshness;
mod hmac_sha256;
#[cfg(feature = "axum")]
pub mod http;
pub mod inbox_template;
pub mod markup;
pub mod notification;
pub mod notifier;
pub mod pacing;
pub mod prompt;
pub mod retry;
pub mod routing;
pub mod sealed;
pub mod secret;
pub mod signature;
pub mod template;
pub mod tenant;
#[cfg(feature = "test-util")]
pub mod tls_peer;
pub mod token;

pub use action::{
    ActionError, ActionExecutor, ActionOutput, ActionRequest, ActionResult, ActionStatus,
    ExecutorRegistry,
};
pub use async_trait::async_trait;
pub use config::ConfigError;
pub use decision::{Decision, DecisionError, DecisionHandler, DecisionRequest, DecisionSource};
pub use delivery::{DeliveryClient, DeliveryConfig, DeliveryError};
pub use destination::DestinationPolicy;
pub use inbox_template::{InboxTemplate, OcsfEvent};
pub use notification::{EventType, Notification, Severity, Target};
pub use notifier::{Delivered, DeliveryOutcome, Notifier, NotifyError};
pub use prompt::{PromptError, PromptOutcome, PromptReceipt, PromptTransport};
pub use retry::{RetryClass, RetryPolicy, classify_http};
pub use signature::{SignatureError, SignatureScheme, WebhookSigner, WebhookVerifier};
pub use template::{TemplateEngine, TemplateError};
pub use token::{CallbackTokenSigner, HmacCallbackTokenSigner, TokenError};
