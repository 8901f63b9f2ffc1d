//! Universal inbound capture for aisoc-notify.
//!
//! This crate will let any tool that can POST a webhook, relay email, emit CEF or speak Splunk
//! HEC feed events in: per-tenant inbox tokens, signature checks through the core
//! [`aisoc_notify_core::signature`] verifier, idempotency, YAML templates to OCSF and durable
//! sinks.
//!
//! Status: the crate boundary exists so the workspace shows the architecture; its contents land
//! with the inbox issues. It depends on [`aisoc_notify_core`] only.
