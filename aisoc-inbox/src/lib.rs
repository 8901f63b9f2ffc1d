//! Universal inbound capture: any tool that can POST a webhook (or relay e-mail as JSON) feeds
//! events in, authenticated, rate limited, deduplicated, mapped to OCSF and published to a
//! stream before the caller hears "accepted".
//!
//! | module | what it gives you |
//! |---|---|
//! | [`token`] | inbox tokens: mint, fingerprint, [`TokenStore`](token::TokenStore), the cached [`TokenResolver`](token::TokenResolver) |
//! | `postgres` | `tenant_inbox_tokens` with row-level security (feature `postgres`) |
//! | [`limits`] | per-tenant rate limits and idempotency keys, in memory or Redis (feature `redis`) |
//! | [`body`] | JSON / NDJSON / gzip bodies |
//! | [`template`] | YAML templates to OCSF Detection Finding; the template registry |
//! | [`cef`] | CEF parsing |
//! | [`hec`] | Splunk HEC bodies and replies |
//! | [`envelope`] | SNS, GitHub and Defender envelopes |
//! | [`email`] | SES, SendGrid and Postmark relay shapes |
//! | [`sns`] | Amazon SNS signature verification |
//! | [`sink`] | [`EventSink`](sink::EventSink): in memory, or NATS JetStream (feature `nats`) |
//! | [`file_store`] | [`FileStore`](file_store::FileStore): the durable local event sink, segmented, fsynced, capped, replayable |
//! | [`pipeline`] | [`Inbox`]: the checks in order, each with its HTTP status |
//! | `router` | `POST /{token}` and `POST /email/{token}` (feature `axum`) |
//! | `conformance` | store contracts (feature `test-util`) |
//!
//! Metrics go through the `metrics` facade, so the host's exporter serves them:
//! `aisoc_ingest_inbox_requests_total{route,template,outcome}`,
//! `aisoc_ingest_inbox_events_total{template}`, `aisoc_ingest_inbox_token_cache_size` and the
//! rest in [`metrics`], whose [`describe_metrics`](metrics::describe_metrics) gives each its
//! `# HELP`.
//!
//! ## Features
//! `axum`, `postgres`, `redis`, `nats`, `test-util`; the default build is in-memory only.

pub mod body;
pub mod cef;
#[cfg(feature = "test-util")]
pub mod conformance;
pub mod email;
pub mod envelope;
mod fifo_table;
pub mod file_store;
pub mod hec;
pub mod keyed_hash;
pub mod limits;
pub mod metrics;
pub mod pipeline;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "axum")]
pub mod router;
pub mod sink;
pub mod sns;
pub mod template;
pub mod token;

pub use pipeline::{Inbox, InboxConfig, InboxRoute, IngestError, IngestReceipt};
