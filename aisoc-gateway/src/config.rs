//! Gateway configuration from flags and environment variables.
//!
//! Secrets (`--admin-token`, `--slack-signing-secret`, `--teams-outgoing-webhook-secret`,
//! `--vapid-private-key`) are held as [`SecretString`], so `Debug` of the arguments never shows
//! them. A flag's value is visible to every local user in `ps`; each secret can come from its
//! environment variable or from a file instead (`--…-file PATH`, or the variable with `_FILE`
//! appended, the convention of Docker and Kubernetes secrets), and that is what the help
//! recommends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aisoc_notify_core::ConfigError;
use aisoc_notify_core::destination::DestinationPolicy;
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
    /// TOML configuration file (see README); environment variables and flags win over it.
    #[arg(long, env = "AISOC_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Address to listen on (`127.0.0.1:0` picks a free port) (default: 127.0.0.1:8080).
    #[arg(long, env = "AISOC_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Bearer token for the admin routes; generated and printed at start-up when absent.
    /// Prefer the variable or --admin-token-file: flags show in `ps`.
    #[arg(
        long,
        env = "AISOC_ADMIN_TOKEN",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true
    )]
    pub admin_token: Option<SecretString>,

    /// File holding the admin token (its trailing line break is dropped).
    #[arg(long, env = "AISOC_ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    pub admin_token_file: Option<PathBuf>,

    /// Also append every accepted inbox event to this file, one OCSF JSON line each (a copy
    /// beside the event store).
    #[arg(long, env = "AISOC_EVENTS_OUT")]
    pub events_out: Option<std::path::PathBuf>,

    /// Directory of the embedded stores: without NATS_URL, accepted inbox events are kept in
    /// `<dir>/inbox-events`; without DATABASE_URL, notification channels in `<dir>/channels`
    /// (default: ./aisoc-data).
    #[arg(long, env = "AISOC_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,

    /// Slack app signing secret; enables /v1/slack/interactions and /v1/slack/commands.
    /// Prefer the variable or --slack-signing-secret-file: flags show in `ps`.
    #[arg(
        long,
        env = "SLACK_SIGNING_SECRET",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true
    )]
    pub slack_signing_secret: Option<SecretString>,

    /// File holding the Slack signing secret.
    #[arg(
        long,
        env = "SLACK_SIGNING_SECRET_FILE",
        conflicts_with = "slack_signing_secret"
    )]
    pub slack_signing_secret_file: Option<PathBuf>,

    /// VAPID private key (raw, base64url); generated at start-up when absent.
    /// Prefer the variable or --vapid-private-key-file: flags show in `ps`.
    #[arg(
        long,
        env = "VAPID_PRIVATE_KEY",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true
    )]
    pub vapid_private_key: Option<SecretString>,

    /// File holding the VAPID private key.
    #[arg(
        long,
        env = "VAPID_PRIVATE_KEY_FILE",
        conflicts_with = "vapid_private_key"
    )]
    pub vapid_private_key_file: Option<PathBuf>,

    /// VAPID public key; when set it must match the private key.
    #[arg(long, env = "VAPID_PUBLIC_KEY", allow_hyphen_values = true)]
    pub vapid_public_key: Option<String>,

    /// VAPID subject: a `mailto:` or `https:` contact for push services
    /// (default: mailto:security@example.com).
    #[arg(long, env = "VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,

    /// Teams outgoing-webhook security token (base64); enables /v1/teams/interactions.
    /// Prefer the variable or --teams-outgoing-webhook-secret-file: flags show in `ps`.
    #[arg(
        long,
        env = "TEAMS_OUTGOING_WEBHOOK_SECRET",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true
    )]
    pub teams_outgoing_webhook_secret: Option<SecretString>,

    /// File holding the Teams outgoing-webhook security token.
    #[arg(
        long,
        env = "TEAMS_OUTGOING_WEBHOOK_SECRET_FILE",
        conflicts_with = "teams_outgoing_webhook_secret"
    )]
    pub teams_outgoing_webhook_secret_file: Option<PathBuf>,

    /// Private destinations outbound requests may reach, comma-separated CIDRs and host names
    /// (`10.20.0.0/16,jira.corp.example`); everything private, loopback, link-local (cloud
    /// metadata) or otherwise non-public is refused unless listed here.
    #[arg(long, env = "AISOC_OUTBOUND_ALLOW")]
    pub outbound_allow: Option<String>,

    /// Requests worked on at once; more are answered 503 with `Retry-After: 1` at once, never
    /// queued (`/healthz` and `/metrics` are always answered) (default: 1024).
    #[arg(long, env = "AISOC_MAX_IN_FLIGHT", value_parser = parse_max_in_flight)]
    pub max_in_flight: Option<usize>,
}

/// A secret flag or variable as a [`SecretString`] (a clap value parser), so the parsed
/// arguments never show it in `Debug`.
pub fn secret_value(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw.to_owned()))
}

/// The secret in the file at `path`, for flag `flag` (`--admin-token-file`): its text without
/// the trailing line break an editor or `echo` adds. Errors name the flag and the path, never
/// what the file holds.
///
/// ```
/// use aisoc_gateway::config::read_secret_file;
/// use aisoc_notify_core::secret::ExposeSecret;
///
/// let path = std::env::temp_dir().join(format!("secret-doc-{}", std::process::id()));
/// std::fs::write(&path, "s3cret-token\n").unwrap();
/// let secret = read_secret_file("--admin-token-file", &path).unwrap();
/// assert_eq!(secret.expose_secret(), "s3cret-token");
/// std::fs::write(&path, "\n").unwrap();
/// let empty = read_secret_file("--admin-token-file", &path).unwrap_err();
/// assert!(empty.to_string().starts_with("--admin-token-file: "));
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn read_secret_file(flag: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            flag,
            format!("cannot read {}: {}", path.display(), e.kind()),
        )
    })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.trim().is_empty() {
        return Err(ConfigError::new(
            flag,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(SecretString::from(secret.to_owned()))
}

/// Secrets read through the settings lookup rather than a flag; each can also come from a file
/// named by the variable with `_FILE` appended.
pub const LOOKUP_SECRETS: [&str; 6] = [
    "AISOC_CHATOPS_HMAC_SECRET",
    "AISOC_PLAYBOOK_RESUME_SECRET",
    "AISOC_PLAYBOOK_RESUME_LEGACY_SECRET",
    "AISOC_DATA_KEY",
    "SLACK_BOT_TOKEN",
    "TEAMS_APP_PASSWORD",
];

/// The [`LOOKUP_SECRETS`] whose value is not set in `env` but whose `<NAME>_FILE` is, read from
/// their files (an unreadable or empty file is an error naming the `_FILE` variable).
///
/// ```
/// use aisoc_gateway::config::secrets_from_files;
///
/// let path = std::env::temp_dir().join(format!("resume-{}", std::process::id()));
/// std::fs::write(&path, "whsec_abc\n").unwrap();
/// let env = |name: &str| (name == "AISOC_PLAYBOOK_RESUME_SECRET_FILE")
///     .then(|| path.display().to_string());
/// let read = secrets_from_files(&env).unwrap();
/// assert_eq!(read.get("AISOC_PLAYBOOK_RESUME_SECRET").map(String::as_str), Some("whsec_abc"));
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn secrets_from_files(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::collections::HashMap<&'static str, String>, ConfigError> {
    let mut read = std::collections::HashMap::new();
    for name in LOOKUP_SECRETS {
        if env(name).is_some_and(|v| !v.trim().is_empty()) {
            continue;
        }
        let variable = format!("{name}_FILE");
        if let Some(path) = env(&variable).filter(|v| !v.trim().is_empty()) {
            let secret = read_secret_file(&variable, Path::new(path.trim()))?;
            read.insert(name, secret.expose_secret().to_owned());
        }
    }
    Ok(read)
}

/// `slot`, or the secret in `file` when one is named (clap keeps both from being given).
fn secret_from_file(
    slot: &mut Option<SecretString>,
    file: Option<&Path>,
    flag: &str,
) -> Result<(), ConfigError> {
    if let Some(path) = file {
        *slot = Some(read_secret_file(flag, path)?);
    }
    Ok(())
}

/// The most requests the gateway works on at once unless configured otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// The range `--max-in-flight` accepts.
const MAX_IN_FLIGHT_RANGE: std::ops::RangeInclusive<usize> = 1..=1_000_000;

fn parse_max_in_flight(raw: &str) -> Result<usize, String> {
    count_in(raw, MAX_IN_FLIGHT_RANGE)
}

/// `raw` as a whole number within `range`, or a sentence saying what is expected.
fn count_in(raw: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize, String> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "'{}' is not a number from {} to {}",
                raw.trim(),
                range.start(),
                range.end()
            )
        })
}

/// The whole-number setting `name` read through `lookup` (environment, then file), within
/// `range`; `None` when it is unset.
///
/// ```
/// use aisoc_gateway::config::count_setting;
///
/// let lookup = |name: &str| (name == "AISOC_OUTBOX_MEMORY_CAPACITY").then(|| "0".to_owned());
/// let refused = count_setting(&lookup, "AISOC_OUTBOX_MEMORY_CAPACITY", 1..=100).unwrap_err();
/// assert_eq!(refused.to_string(), "AISOC_OUTBOX_MEMORY_CAPACITY: '0' is not a number from 1 to 100");
/// assert_eq!(count_setting(&lookup, "AISOC_OTHER", 1..=100), Ok(None));
/// ```
pub fn count_setting(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<Option<usize>, ConfigError> {
    lookup(name)
        .map(|raw| count_in(&raw, range).map_err(|reason| ConfigError::new(name, reason)))
        .transpose()
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "aisoc-data";
/// The default VAPID subject.
pub const DEFAULT_VAPID_SUBJECT: &str = "mailto:security@example.com";

impl GatewayArgs {
    /// Fills every setting left unset by flags and environment from `file`, then the defaults.
    pub fn merge_file(&mut self, file: &FileConfig) -> Result<(), ConfigError> {
        fn fill(slot: &mut Option<String>, file: &FileConfig, name: &str) {
            if slot.as_deref().is_none_or(|v| v.trim().is_empty()) {
                *slot = file.get(name);
            }
        }
        fn fill_secret(slot: &mut Option<SecretString>, file: &FileConfig, name: &str) {
            if slot
                .as_ref()
                .is_none_or(|v| v.expose_secret().trim().is_empty())
            {
                *slot = file.get(name).map(SecretString::from);
            }
        }
        secret_from_file(
            &mut self.admin_token,
            self.admin_token_file.as_deref(),
            "--admin-token-file",
        )?;
        secret_from_file(
            &mut self.slack_signing_secret,
            self.slack_signing_secret_file.as_deref(),
            "--slack-signing-secret-file",
        )?;
        secret_from_file(
            &mut self.teams_outgoing_webhook_secret,
            self.teams_outgoing_webhook_secret_file.as_deref(),
            "--teams-outgoing-webhook-secret-file",
        )?;
        secret_from_file(
            &mut self.vapid_private_key,
            self.vapid_private_key_file.as_deref(),
            "--vapid-private-key-file",
        )?;
        if self.listen.is_none() {
            let raw = file
                .get("AISOC_LISTEN")
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
            self.listen = Some(raw.parse().map_err(|_| {
                ConfigError::new(
                    "listen",
                    format!("'{raw}' is not an address like 127.0.0.1:8080"),
                )
            })?);
        }
        if self.events_out.is_none() {
            self.events_out = file.get("AISOC_EVENTS_OUT").map(Into::into);
        }
        if self.data_dir.is_none() {
            let dir = file.get("AISOC_DATA_DIR");
            self.data_dir = Some(dir.unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned()).into());
        }
        fill_secret(&mut self.admin_token, file, "AISOC_ADMIN_TOKEN");
        fill_secret(&mut self.slack_signing_secret, file, "SLACK_SIGNING_SECRET");
        fill_secret(
            &mut self.teams_outgoing_webhook_secret,
            file,
            "TEAMS_OUTGOING_WEBHOOK_SECRET",
        );
        fill_secret(&mut self.vapid_private_key, file, "VAPID_PRIVATE_KEY");
        fill(&mut self.vapid_public_key, file, "VAPID_PUBLIC_KEY");
        fill(&mut self.vapid_subject, file, "VAPID_SUBJECT");
        fill(&mut self.outbound_allow, file, "AISOC_OUTBOUND_ALLOW");
        if self.vapid_subject.is_none() {
            self.vapid_subject = Some(DEFAULT_VAPID_SUBJECT.to_owned());
        }
        if self.max_in_flight.is_none() {
            let from_file = |name: &str| file.get(name);
            self.max_in_flight = Some(
                count_setting(&from_file, "AISOC_MAX_IN_FLIGHT", MAX_IN_FLIGHT_RANGE)?
                    .unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            );
        }
        Ok(())
    }

    /// The outbound guard: every non-public address refused but those in
    /// `AISOC_OUTBOUND_ALLOW`.
    pub fn destination_policy(&self) -> Result<DestinationPolicy, ConfigError> {
        DestinationPolicy::parse_allow_list(self.outbound_allow.as_deref().unwrap_or_default())
            .map_err(|e| ConfigError::new("AISOC_OUTBOUND_ALLOW", e))
    }
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
    pub fn from_config(configured: Option<SecretString>) -> Self {
        match configured.filter(|t| !t.expose_secret().trim().is_empty()) {
            Some(token) => Self {
                token,
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

/// Where each key of the TOML configuration file goes: the environment variable it stands for.
/// A variable set in the environment wins over the file.
pub const FILE_KEYS: &[(&str, &str)] = &[
    ("listen", "AISOC_LISTEN"),
    ("admin_token", "AISOC_ADMIN_TOKEN"),
    ("events_out", "AISOC_EVENTS_OUT"),
    ("data_dir", "AISOC_DATA_DIR"),
    ("events.max_bytes", "AISOC_EVENTS_MAX_BYTES"),
    ("events.segment_bytes", "AISOC_EVENTS_SEGMENT_BYTES"),
    ("events.dedupe_max_ids", "AISOC_EVENTS_DEDUPE_MAX_IDS"),
    ("slack.signing_secret", "SLACK_SIGNING_SECRET"),
    ("slack.bot_token", "SLACK_BOT_TOKEN"),
    ("slack.api_base", "SLACK_API_BASE"),
    (
        "teams.outgoing_webhook_secret",
        "TEAMS_OUTGOING_WEBHOOK_SECRET",
    ),
    ("teams.webhook_url", "AISOC_TEAMS_WEBHOOK_URL"),
    ("teams.app_id", "TEAMS_APP_ID"),
    ("teams.app_password", "TEAMS_APP_PASSWORD"),
    ("teams.app_tenant_id", "TEAMS_APP_TENANT_ID"),
    ("teams.bot_token_url", "TEAMS_BOT_TOKEN_URL"),
    ("teams.bot_service_hosts", "TEAMS_BOT_SERVICE_HOSTS"),
    (
        "teams.bot_openid_metadata_url",
        "TEAMS_BOT_OPENID_METADATA_URL",
    ),
    ("vapid.private_key", "VAPID_PRIVATE_KEY"),
    ("vapid.public_key", "VAPID_PUBLIC_KEY"),
    ("vapid.subject", "VAPID_SUBJECT"),
    ("inbox.max_body_bytes", "AISOC_INBOX_MAX_BODY_BYTES"),
    ("inbox.rate_limit_per_min", "AISOC_INBOX_RATE_LIMIT_PER_MIN"),
    (
        "inbox.idempotency_lease_seconds",
        "AISOC_INBOX_IDEMPOTENCY_LEASE_SECONDS",
    ),
    (
        "inbox.idempotency_max_keys",
        "AISOC_INBOX_IDEMPOTENCY_MAX_KEYS",
    ),
    (
        "inbox.max_events_per_request",
        "AISOC_INBOX_MAX_EVENTS_PER_REQUEST",
    ),
    ("inbox.events_per_second", "AISOC_INBOX_EVENTS_PER_SECOND"),
    ("inbox.bytes_per_second", "AISOC_INBOX_BYTES_PER_SECOND"),
    (
        "inbox.auth_failures_per_min",
        "AISOC_INBOX_AUTH_FAILURES_PER_MIN",
    ),
    ("inbox.inflight_bytes", "AISOC_INBOX_INFLIGHT_BYTES"),
    ("inbox.nats_framing", "AISOC_INBOX_NATS_FRAMING"),
    ("chatops.verify_enabled", "AISOC_FEATURE_CHATOPS_VERIFY"),
    ("chatops.public_url", "AISOC_ACTIONS_PUBLIC_URL"),
    ("chatops.hmac_secret", "AISOC_CHATOPS_HMAC_SECRET"),
    ("chatops.timeout_seconds", "AISOC_CHATOPS_TIMEOUT_SECONDS"),
    ("chatops.playbook_resume_url", "AISOC_PLAYBOOK_RESUME_URL"),
    (
        "chatops.playbook_resume_secret",
        "AISOC_PLAYBOOK_RESUME_SECRET",
    ),
    (
        "chatops.follow_up_lease_seconds",
        "AISOC_CHATOPS_FOLLOW_UP_LEASE_SECONDS",
    ),
    ("backends.database_url", "DATABASE_URL"),
    ("backends.redis_url", "REDIS_URL"),
    ("backends.nats_url", "NATS_URL"),
    ("outbound.allow", "AISOC_OUTBOUND_ALLOW"),
    ("outbox.stream", "AISOC_OUTBOX_STREAM"),
    ("outbox.concurrency", "AISOC_OUTBOX_CONCURRENCY"),
    ("outbox.memory_capacity", "AISOC_OUTBOX_MEMORY_CAPACITY"),
    (
        "outbox.memory_dead_letters",
        "AISOC_OUTBOX_MEMORY_DEAD_LETTERS",
    ),
    ("max_in_flight", "AISOC_MAX_IN_FLIGHT"),
];

/// Why the configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's explanation (line and column).
        message: String,
    },
    /// A key the gateway does not know (a typo would otherwise be silently ignored).
    #[error("{path}: unknown key '{key}' (known keys: {known})")]
    UnknownKey {
        /// The file.
        path: String,
        /// The key, dotted.
        key: String,
        /// Every known key.
        known: String,
    },
    /// A value that is not a string, number, boolean or list of strings.
    #[error("{path}: '{key}' must be a string, number, boolean or list of strings")]
    Type {
        /// The file.
        path: String,
        /// The key, dotted.
        key: String,
    },
}

/// Values from the TOML configuration file, by environment-variable name.
///
/// ```
/// use aisoc_gateway::config::FileConfig;
///
/// let file = FileConfig::parse("gateway.toml", r#"
///     listen = "127.0.0.1:9000"
///     [backends]
///     redis_url = "redis://127.0.0.1:6379"
///     [inbox]
///     rate_limit_per_min = 120
/// "#).unwrap();
/// assert_eq!(file.get("REDIS_URL").as_deref(), Some("redis://127.0.0.1:6379"));
/// assert_eq!(file.get("AISOC_INBOX_RATE_LIMIT_PER_MIN").as_deref(), Some("120"));
///
/// let typo = FileConfig::parse("gateway.toml", "[backends]\nredis = \"x\"").unwrap_err();
/// assert!(typo.to_string().contains("unknown key 'backends.redis'"));
/// ```
#[derive(Default)]
pub struct FileConfig {
    values: std::collections::HashMap<&'static str, String>,
}

impl std::fmt::Debug for FileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&&str> = self.values.keys().collect();
        keys.sort();
        f.debug_struct("FileConfig").field("set", &keys).finish()
    }
}

impl FileConfig {
    /// Reads and checks `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&shown, &text)
    }

    /// Checks `text`; `path` is only for messages.
    pub fn parse(path: &str, text: &str) -> Result<Self, ConfigFileError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigFileError::Syntax {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        let mut flat = Vec::new();
        for (key, value) in table {
            match value {
                toml::Value::Table(section) => {
                    flat.extend(section.into_iter().map(|(k, v)| (format!("{key}.{k}"), v)));
                }
                other => flat.push((key, other)),
            }
        }
        let mut values = std::collections::HashMap::new();
        for (key, value) in flat {
            let Some((_, variable)) = FILE_KEYS.iter().find(|(k, _)| *k == key) else {
                return Err(ConfigFileError::UnknownKey {
                    path: path.to_owned(),
                    key,
                    known: FILE_KEYS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                // A list of strings (`allow = ["10.0.0.0/8", "jira.corp"]`) joins with commas.
                toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                    .iter()
                    .filter_map(toml::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    return Err(ConfigFileError::Type {
                        path: path.to_owned(),
                        key,
                    });
                }
            };
            values.insert(*variable, text);
        }
        Ok(Self { values })
    }

    /// The file's value for environment variable `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_arguments_never_show_a_secret_in_debug() {
        let mut args = GatewayArgs::try_parse_from([
            "aisoc-gateway",
            "--admin-token",
            "MARKER-admin",
            "--slack-signing-secret",
            "MARKER-slack",
            "--teams-outgoing-webhook-secret",
            "TUFSS0VSLXRlYW1z",
            "--vapid-private-key",
            "MARKER-vapid",
        ])
        .unwrap();
        args.merge_file(&FileConfig::default()).unwrap();
        let shown = format!("{args:?}");
        for marker in ["MARKER-", "TUFSS0VSLXRlYW1z"] {
            assert!(!shown.contains(marker), "{shown}");
        }
        assert_eq!(
            args.admin_token.as_ref().map(|t| t.expose_secret()),
            Some("MARKER-admin")
        );
    }

    #[test]
    fn keys_and_secrets_may_begin_with_a_hyphen() {
        // base64url uses `-`: one generated key in 64 starts with it.
        let args = GatewayArgs::try_parse_from([
            "aisoc-gateway",
            "--admin-token",
            "-admin",
            "--slack-signing-secret",
            "-slack",
            "--teams-outgoing-webhook-secret",
            "-teams",
            "--vapid-private-key",
            "-uvapid",
            "--vapid-public-key",
            "-public",
        ])
        .unwrap();
        let exposed =
            |secret: &Option<SecretString>| secret.as_ref().map(|s| s.expose_secret().to_owned());
        assert_eq!(exposed(&args.admin_token).as_deref(), Some("-admin"));
        assert_eq!(
            exposed(&args.slack_signing_secret).as_deref(),
            Some("-slack")
        );
        assert_eq!(
            exposed(&args.teams_outgoing_webhook_secret).as_deref(),
            Some("-teams")
        );
        assert_eq!(exposed(&args.vapid_private_key).as_deref(), Some("-uvapid"));
        assert_eq!(args.vapid_public_key.as_deref(), Some("-public"));
    }

    #[test]
    fn a_secret_comes_from_its_file_and_both_a_value_and_a_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("gateway-secret-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("slack");
        std::fs::write(&file, "from-the-file\r\n").unwrap();
        let mut args = GatewayArgs::try_parse_from([
            "aisoc-gateway".as_ref(),
            "--slack-signing-secret-file".as_ref(),
            file.as_os_str(),
        ])
        .unwrap();
        args.merge_file(&FileConfig::default()).unwrap();
        assert_eq!(
            args.slack_signing_secret
                .as_ref()
                .map(|s| s.expose_secret()),
            Some("from-the-file")
        );

        let both = GatewayArgs::try_parse_from([
            "aisoc-gateway".as_ref(),
            "--admin-token".as_ref(),
            "x".as_ref(),
            "--admin-token-file".as_ref(),
            file.as_os_str(),
        ]);
        assert!(both.is_err());

        let mut missing = GatewayArgs::try_parse_from([
            "aisoc-gateway",
            "--vapid-private-key-file",
            "/nonexistent/vapid",
        ])
        .unwrap();
        let refused = missing.merge_file(&FileConfig::default()).unwrap_err();
        assert_eq!(refused.field(), "--vapid-private-key-file");
        assert!(
            refused.to_string().contains("/nonexistent/vapid"),
            "{refused}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
