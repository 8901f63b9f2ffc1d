//! Slack (and Slack-compatible Mattermost) adapter for aisoc-notify.
//!
//! This crate will hold the Slack half of the product: incoming-webhook and bot-token delivery,
//! Block Kit rendering within Slack's limits, the `notify_slack` playbook action, request
//! signature verification (v0 scheme), interaction handling and the `/aisoc` slash command.
//!
//! Status: the crate boundary exists so the workspace shows the architecture; its contents land
//! with the Slack issue. It depends on [`aisoc_notify_core`] only.
