//! The reference aisoc-notify gateway: every crate wired together on embedded defaults.
//!
//! The binary `aisoc-gateway` runs this on `127.0.0.1:8080`. With no configuration it needs no
//! services: deliveries go to a console channel that prints one JSON line per notification,
//! which is the quickest way to see the routing and delivery machinery work.
//!
//! Routes so far:
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | liveness |
//! | `GET /metrics` | Prometheus metrics |
//! | `POST /v1/notifications` | route one notification to the configured channels (admin bearer token) |
//!
//! The adapters (Slack, Teams, Web Push, inbox) mount their routes here as they land.

pub mod app;
pub mod config;
pub mod console;
