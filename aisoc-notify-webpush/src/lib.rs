//! Web Push for aisoc-notify: VAPID (RFC 8292), `aes128gcm` encryption (RFC 8291, RFC 8188),
//! delivery (RFC 8030), subscription stores and fan-out to tenants, users and topics.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`keys`] | VAPID key pairs (generate, import, URL-safe base64) |
//! | [`vapid`] | ES256 JWTs with per-audience caching |
//! | [`ece`] | payload encryption |
//! | [`send`] | [`WebPushSender`](send::WebPushSender): one message to one subscription; [`PushError::retry_class`](send::PushError::retry_class) |
//! | [`subscription`] | browser `PushSubscription` validation (https, and a host the outbound guard allows) and the stored record |
//! | [`store`] | the [`SubscriptionStore`](store::SubscriptionStore) trait, key layout and in-memory store |
//! | `redis_store` | the Redis store (feature `redis`) |
//! | [`manager`] | [`PushManager`](manager::PushManager) fan-out with on-call statuses; [`WebPushNotifier`](manager::WebPushNotifier), whose one outcome for many devices is documented there |
//! | [`config`] | [`WebPushChannelConfig`](config::WebPushChannelConfig): a channel's targets as an operator writes them, always in the notification's tenant |
//! | [`oncall`] | settable, listable on-call statuses ([`OnCallStore`](oncall::OnCallStore)) the fan-out reads; `GET/PUT /`, `GET /users` routes (feature `axum`) |
//! | `routes` | `/public-key`, `/subscribe`, `/unsubscribe`, `/test` over a `PushRouterState` (feature `axum`) |
//! | `conformance` | the store contract (feature `test-util`) |
//!
//! ```no_run
//! use std::sync::Arc;
//! use aisoc_notify_core::notification::Target;
//! use aisoc_notify_webpush::keys::VapidKeyPair;
//! use aisoc_notify_webpush::manager::{MemoryOnCallStatus, PushManager, PushMessage};
//! use aisoc_notify_webpush::send::{PushOptions, WebPushSender};
//! use aisoc_notify_webpush::store::MemorySubscriptionStore;
//! use aisoc_notify_webpush::vapid::VapidSigner;
//!
//! # async fn run(private_key: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let vapid = VapidSigner::new(VapidKeyPair::from_base64(private_key)?, "mailto:soc@example.com")?;
//! let manager = PushManager::new(
//!     Arc::new(MemorySubscriptionStore::new()),
//!     WebPushSender::new(vapid)?,
//!     Arc::new(MemoryOnCallStatus::new()),
//! );
//! let message = PushMessage { title: "P0: ransomware".into(), body: "web-01".into(), url: None, tag: None, topic: None, severity: None };
//! let report = manager
//!     .send_to_target(&Target::Topic { tenant_id: "acme".into(), topic: "p0_alert".into() }, &message, &PushOptions::default())
//!     .await?;
//! println!("{} delivered, {} evicted", report.delivered(), report.evicted());
//! # Ok(()) }
//! ```
//!
//! ## Features
//! - `redis`: `RedisSubscriptionStore`.
//! - `axum`: `routes::router`.
//! - `test-util`: `conformance`.

pub mod config;
#[cfg(feature = "test-util")]
pub mod conformance;
pub mod ece;
pub mod keys;
pub mod manager;
pub mod metrics;
pub mod oncall;
#[cfg(feature = "redis")]
pub mod redis_store;
#[cfg(feature = "axum")]
pub mod routes;
pub mod send;
pub mod store;
pub mod subscription;
pub mod vapid;
