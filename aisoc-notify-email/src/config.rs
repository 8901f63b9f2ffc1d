//! E-mail channel configuration as operators write it, validated into a notifier.
//!
//! A host that stores channels as JSON (the gateway's `/v1/settings/notifications`) reads this
//! shape and calls [`EmailChannelConfig::into_notifier`]. Everything is checked before a
//! transport is built, and each error names the setting to fix ([`EmailConfigError::Field`]),
//! never a password.
//!
//! Which hosts the SMTP server may be on is the host's decision (the gateway refuses private
//! and loopback addresses unless its outbound allow-list names them); this module only insists
//! that `plain_loopback_only` is used with a loopback host, as [`EmailNotifier::new`] does.

use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use lettre::message::Mailbox;
use serde::Deserialize;

use crate::{EmailConfigError, EmailNotifier, SmtpConfig, SmtpSecurity};

/// The most recipients one channel may have.
pub const MAX_RECIPIENTS: usize = 100;

/// How the connection is secured, as a configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityKind {
    /// STARTTLS, usually on port 587 (the default).
    #[default]
    Starttls,
    /// TLS from the first byte, usually on port 465.
    Tls,
    /// No encryption, only to a relay on loopback (`localhost`, `127.0.0.1`, `::1`).
    PlainLoopbackOnly,
}

impl SecurityKind {
    /// The usual port for this security.
    pub fn default_port(self) -> u16 {
        match self {
            SecurityKind::Starttls => 587,
            SecurityKind::Tls => 465,
            SecurityKind::PlainLoopbackOnly => 25,
        }
    }
}

impl From<SecurityKind> for SmtpSecurity {
    fn from(kind: SecurityKind) -> Self {
        match kind {
            SecurityKind::Starttls => SmtpSecurity::StartTls,
            SecurityKind::Tls => SmtpSecurity::Tls,
            SecurityKind::PlainLoopbackOnly => SmtpSecurity::PlainLoopbackOnly,
        }
    }
}

fn enrich_by_default() -> bool {
    true
}

/// An e-mail channel: an SMTP server, a sender and recipients.
///
/// | key | what |
/// |---|---|
/// | `host` | the SMTP server (required) |
/// | `port` | 1–65535; default 587, 465 for `tls`, 25 for `plain_loopback_only` |
/// | `security` | `starttls` (default), `tls`, or `plain_loopback_only` |
/// | `username`, `password` | both or neither |
/// | `from` | the sender, `Name <address>` or an address (required) |
/// | `to` | 1 to [`MAX_RECIPIENTS`] addresses |
/// | `enrich` | include facts and links in the body (default true) |
///
/// Unknown keys are refused, so a misspelt setting is not silently ignored.
///
/// ```
/// use aisoc_notify_email::config::EmailChannelConfig;
///
/// let config: EmailChannelConfig = serde_json::from_str(
///     r#"{"host": "smtp.example.com", "username": "soc-bot", "password": "s3cret",
///         "from": "AiSOC <soc-bot@example.com>", "to": ["soc@example.com"]}"#,
/// )
/// .unwrap();
/// assert!(config.validate().is_ok());
/// assert_eq!(config.port(), 587);
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// let half: EmailChannelConfig = serde_json::from_str(
///     r#"{"host": "smtp.example.com", "username": "soc-bot", "from": "soc-bot@example.com", "to": ["soc@example.com"]}"#,
/// )
/// .unwrap();
/// assert_eq!(
///     half.validate().unwrap_err().to_string(),
///     "password: is required with username (set both or neither)"
/// );
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannelConfig {
    /// The SMTP server's host name or address.
    #[serde(default)]
    pub host: String,
    /// Its port; the security's usual port when left out.
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is secured.
    #[serde(default)]
    pub security: SecurityKind,
    /// The SMTP user.
    #[serde(default)]
    pub username: Option<String>,
    /// The SMTP password.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The sender.
    #[serde(default)]
    pub from: String,
    /// The recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Include facts and links in the body.
    #[serde(default = "enrich_by_default")]
    pub enrich: bool,
}

fn field(name: &str, reason: impl std::fmt::Display) -> EmailConfigError {
    EmailConfigError::Field(ConfigError::new(name, reason))
}

/// Whether `host` is a DNS name or an IP address (no scheme, port, path or spaces).
fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl EmailChannelConfig {
    /// The port in use: the one set, else the security's usual port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security.default_port())
    }

    /// The SMTP host, trimmed.
    pub fn host(&self) -> &str {
        self.host.trim()
    }

    fn username(&self) -> Option<&str> {
        self.username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }

    fn password(&self) -> Option<&str> {
        self.password
            .as_ref()
            .map(|p| p.expose_secret())
            .filter(|p| !p.is_empty())
    }

    /// Checks every setting; the error names the one to fix.
    pub fn validate(&self) -> Result<(), EmailConfigError> {
        let host = self.host();
        if host.is_empty() {
            return Err(field("host", "is required for email channels"));
        }
        if !is_host(host) {
            return Err(field(
                "host",
                "must be a host name or an IP address (no scheme, port or path)",
            ));
        }
        if self.port == Some(0) {
            return Err(field("port", "must be between 1 and 65535"));
        }
        if self.security == SecurityKind::PlainLoopbackOnly {
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(field(
                    "security",
                    "plain_loopback_only is allowed only with a loopback host; use starttls or tls",
                ));
            }
        }
        match (self.username(), self.password()) {
            (Some(_), None) => {
                return Err(field(
                    "password",
                    "is required with username (set both or neither)",
                ));
            }
            (None, Some(_)) => {
                return Err(field(
                    "username",
                    "is required with password (set both or neither)",
                ));
            }
            _ => {}
        }
        if self.from.trim().is_empty() {
            return Err(field("from", "is required for email channels"));
        }
        if self.from.trim().parse::<Mailbox>().is_err() {
            return Err(field(
                "from",
                "is not an e-mail address ('Name <address>' or 'address')",
            ));
        }
        if self.to.is_empty() {
            return Err(field("to", "needs at least one recipient"));
        }
        if self.to.len() > MAX_RECIPIENTS {
            return Err(field(
                "to",
                format!("has {} recipients; at most {MAX_RECIPIENTS}", self.to.len()),
            ));
        }
        if let Some(index) = self
            .to
            .iter()
            .position(|to| to.trim().parse::<Mailbox>().is_err())
        {
            return Err(field(&format!("to[{index}]"), "is not an e-mail address"));
        }
        Ok(())
    }

    /// Validates and builds the notifier.
    pub fn into_notifier(self) -> Result<EmailNotifier, EmailConfigError> {
        self.validate()?;
        let credentials = match (self.username(), self.password()) {
            (Some(user), Some(password)) => Some((user.to_owned(), password.to_owned())),
            _ => None,
        };
        EmailNotifier::new(SmtpConfig {
            host: self.host().to_owned(),
            port: self.port(),
            security: self.security.into(),
            credentials,
            from: self.from.trim().to_owned(),
            to: self.to.iter().map(|t| t.trim().to_owned()).collect(),
            enrich: self.enrich,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(config: serde_json::Value) -> Result<EmailChannelConfig, serde_json::Error> {
        serde_json::from_value(config)
    }

    fn valid() -> serde_json::Value {
        json!({
            "host": "smtp.example.com",
            "from": "AiSOC <soc-bot@example.com>",
            "to": ["soc@example.com", "Lead <lead@example.com>"],
        })
    }

    fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
        let mut config = valid();
        config[key] = value;
        config
    }

    #[tokio::test]
    async fn each_security_builds_with_its_usual_port() {
        for (security, host, port) in [
            ("starttls", "smtp.example.com", 587),
            ("tls", "smtp.example.com", 465),
            ("plain_loopback_only", "127.0.0.1", 25),
        ] {
            let mut config = with("security", json!(security));
            config["host"] = json!(host);
            let parsed = parse(config).unwrap();
            assert_eq!(parsed.port(), port, "{security}");
            assert!(parsed.into_notifier().is_ok(), "{security}");
        }
        let explicit = parse(with("port", json!(2525))).unwrap();
        assert_eq!(explicit.port(), 2525);
        assert!(explicit.enrich);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let cases = [
            (with("host", json!("")), "host: is required"),
            (
                with("host", json!("smtp://smtp.example.com")),
                "host: must be a host name",
            ),
            (with("port", json!(0)), "port: must be between 1 and 65535"),
            (
                with("security", json!("plain_loopback_only")),
                "security: plain_loopback_only is allowed only with a loopback host",
            ),
            (
                with("username", json!("bot")),
                "password: is required with username",
            ),
            (
                with("password", json!("pw")),
                "username: is required with password",
            ),
            (with("from", json!("")), "from: is required"),
            (
                with("from", json!("not an address")),
                "from: is not an e-mail address",
            ),
            (with("to", json!([])), "to: needs at least one recipient"),
            (
                with("to", json!(["a@example.com", "nope"])),
                "to[1]: is not an e-mail address",
            ),
            (
                with("to", json!(vec!["a@example.com"; MAX_RECIPIENTS + 1])),
                "to: has 101 recipients",
            ),
        ];
        for (config, message) in cases {
            let error = parse(config.clone()).unwrap().validate().unwrap_err();
            assert!(error.to_string().starts_with(message), "{config}: {error}");
        }
        for (config, message) in [
            (with("port", json!(70000)), "invalid value: integer `70000`"),
            (with("security", json!("ssl")), "unknown variant `ssl`"),
            (with("pasword", json!("x")), "unknown field `pasword`"),
        ] {
            let error = parse(config.clone()).unwrap_err();
            assert!(error.to_string().contains(message), "{config}: {error}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let mut config = with("username", json!("soc-bot"));
        config["password"] = json!("SECRET-PASSWORD");
        let parsed = parse(config).unwrap();
        assert!(parsed.validate().is_ok());
        assert!(!format!("{parsed:?}").contains("SECRET-PASSWORD"));
    }
}
