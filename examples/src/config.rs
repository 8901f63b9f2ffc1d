//! Gateway configuration from flags and environment variables.

use std::net::SocketAddr;

use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;

/// Command-line flags; each also reads an environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "aisoc-gateway",
    version,
    about = "The reference aisoc-notify gateway"
)]
pub struct GatewayArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "AISOC_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Bearer token for the admin routes; generated and printed at start-up when absent.
    #[arg(long, env = "AISOC_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Append every accepted inbox event to this file, one OCSF JSON line each.
    #[arg(long)]
    pub events_out: Option<std::path::PathBuf>,

    /// Slack app signing secret; enables /v1/slack/interactions and /v1/slack/commands.
    #[arg(long, env = "SLACK_SIGNING_SECRET", hide_env_values = true)]
    pub slack_signing_secret: Option<String>,

    /// VAPID private key (raw, base64url); generated at start-up when absent.
    #[arg(long, env = "VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,

    /// VAPID public key; when set it must match the private key.
    #[arg(long, env = "VAPID_PUBLIC_KEY")]
    pub vapid_public_key: Option<String>,

    /// VAPID subject: a `mailto:` or `https:` contact for push services.
    #[arg(
        long,
        env = "VAPID_SUBJECT",
        default_value = "mailto:security@example.com"
    )]
    pub vapid_subject: String,

    /// Teams outgoing-webhook security token (base64); enables /v1/teams/interactions.
    #[arg(long, env = "TEAMS_OUTGOING_WEBHOOK_SECRET", hide_env_values = true)]
    pub teams_outgoing_webhook_secret: Option<String>,
}

/// The admin bearer token, and whether it was generated at start-up.
#[derive(Debug)]
pub struct AdminToken {
    /// The token.
    pub token: SecretString,
    /// True when no token was configured and this one was generated.
    pub generated: bool,
}

impl AdminToken {
    /// The configured token, or a fresh random one (32 bytes, base64url).
    pub fn from_config(configured: Option<String>) -> Self {
        match configured.filter(|t| !t.trim().is_empty()) {
            Some(token) => Self {
                token: SecretString::from(token),
                generated: false,
            },
            None => {
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes);
                Self {
                    token: SecretString::from(format!(
                        "aisoc_admin_{}",
                        URL_SAFE_NO_PAD.encode(bytes)
                    )),
                    generated: true,
                }
            }
        }
    }

    /// The token text, for printing once at start-up.
    pub fn expose(&self) -> &str {
        self.token.expose_secret()
    }
}
