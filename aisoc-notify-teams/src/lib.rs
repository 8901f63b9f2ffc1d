//! Microsoft Teams adapter for aisoc-notify.
//!
//! This crate will hold the Teams half of the product: Workflows and legacy connector webhook
//! delivery, Adaptive Card rendering, the `notify_teams` playbook action, `Action.Submit`
//! interactions and outgoing-webhook HMAC verification.
//!
//! Status: the crate boundary exists so the workspace shows the architecture; its contents land
//! with the Teams issue. It depends on [`aisoc_notify_core`] only.
