//! E-mail notifications over SMTP (`lettre`), with a plain-text and an HTML part.
//!
//! The transport uses STARTTLS (port 587) or implicit TLS (port 465) on rustls, with optional
//! authentication; plain SMTP is allowed only to a loopback relay. With `enrich`, the body
//! carries the notification's facts and links as well as its text. The subject is
//! `[SEVERITY] title`, so mail filters can route by severity.
//!
//! [`config::EmailChannelConfig`] is the channel as an operator writes it (JSON in the
//! gateway's `/v1/settings/notifications`), validated into an [`EmailNotifier`].
//!
//! ## Failures
//!
//! SMTP replies are classified by their code ([`classify_smtp_reply`]) into the
//! [`RetryClass`] the router and the outbox act on, and reported as a [`NotifyError`] carrying
//! the reply code and a fixed description of it, never the server's text:
//!
//! | failure | error | class |
//! |---|---|---|
//! | 4xx reply (421 closing, 450 mailbox busy, 451 local error, 452 out of storage, …) | [`NotifyError::Unavailable`] | `Retryable` |
//! | 535 authentication failed, 530 authentication required | [`NotifyError::Rejected`] | `NonRetryable` |
//! | other 5xx (550 mailbox unavailable, 552, 553, 554, …) | [`NotifyError::Rejected`] | `NonRetryable` |
//! | connection refused or lost, TLS handshake, timeout, an unreadable reply | [`NotifyError::Unavailable`] | `Retryable` |
//! | the client could not proceed (no shared authentication mechanism, no STARTTLS) | [`NotifyError::Rejected`] | `NonRetryable` |
//!
//! ```no_run
//! use aisoc_notify_email::{EmailNotifier, SmtpConfig, SmtpSecurity};
//!
//! let email = EmailNotifier::new(SmtpConfig {
//!     host: "smtp.example.com".into(),
//!     port: 587,
//!     security: SmtpSecurity::StartTls,
//!     credentials: Some(("soc-bot".into(), "app-password".into())),
//!     from: "AiSOC <soc-bot@example.com>".into(),
//!     to: vec!["soc@example.com".into()],
//!     enrich: true,
//! })
//! .unwrap();
//! ```

pub mod config;

use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::retry::RetryClass;
use aisoc_notify_core::{Delivered, Notification, Notifier, NotifyError, async_trait};
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How to secure the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Upgrade with STARTTLS (usually port 587); refuse servers without it.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption: only for a relay on loopback.
    PlainLoopbackOnly,
}

/// SMTP settings.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Encryption.
    pub security: SmtpSecurity,
    /// User and password, when the server requires them.
    pub credentials: Option<(String, String)>,
    /// The sender (`Name <address>` or an address).
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// Include facts and links in the body.
    pub enrich: bool,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// Why the configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailConfigError {
    /// An address does not parse.
    #[error("'{0}' is not an e-mail address")]
    Address(String),
    /// No recipient.
    #[error("at least one recipient is required")]
    NoRecipients,
    /// Plain SMTP to a host that is not loopback.
    #[error("plain SMTP is allowed only to a loopback relay; use StartTls or Tls")]
    Insecure,
    /// The transport could not be built.
    #[error("SMTP transport: {0}")]
    Transport(String),
    /// A channel setting is missing or unusable ([`config::EmailChannelConfig`]).
    #[error(transparent)]
    Field(#[from] ConfigError),
}

/// Sends notifications by e-mail.
#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    enrich: bool,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl EmailNotifier {
    /// Validates the configuration and builds the transport.
    pub fn new(config: SmtpConfig) -> Result<Self, EmailConfigError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| EmailConfigError::Address(config.from.clone()))?;
        let to = config
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|_| EmailConfigError::Address(t.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(EmailConfigError::NoRecipients);
        }
        let transport_error =
            |e: lettre::transport::smtp::Error| EmailConfigError::Transport(e.to_string());
        let mut builder = match config.security {
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                    .map_err(transport_error)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(transport_error)?,
            SmtpSecurity::PlainLoopbackOnly => {
                let loopback = config.host == "localhost"
                    || config
                        .host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    return Err(EmailConfigError::Insecure);
                }
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            }
        }
        .port(config.port);
        if let Some((user, password)) = config.credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            to,
            enrich: config.enrich,
        })
    }

    /// The message for a notification.
    pub fn message(&self, notification: &Notification) -> Result<Message, NotifyError> {
        let severity = notification.severity.as_str().to_uppercase();
        let mut text = format!("{}\n\n{}\n", notification.title, notification.body);
        let mut html = format!(
            "<h2 style=\"color:{}\">{} {}</h2><p>{}</p>",
            notification.severity.color_hex(),
            notification.severity.emoji(),
            escape_html(&notification.title),
            escape_html(&notification.body).replace('\n', "<br>")
        );
        if self.enrich {
            if !notification.facts.is_empty() {
                text.push('\n');
                html.push_str("<table>");
                for fact in &notification.facts {
                    text.push_str(&format!("{}: {}\n", fact.label, fact.value));
                    html.push_str(&format!(
                        "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                        escape_html(&fact.label),
                        escape_html(&fact.value)
                    ));
                }
                html.push_str("</table>");
            }
            for link in &notification.links {
                text.push_str(&format!("{}: {}\n", link.label, link.url));
                html.push_str(&format!(
                    "<p><a href=\"{}\">{}</a></p>",
                    escape_html(link.url.as_str()),
                    escape_html(&link.label)
                ));
            }
            text.push_str(&format!(
                "\nEvent: {} · Tenant: {}\n",
                notification.event_type, notification.tenant_id
            ));
        }
        let mut builder = Message::builder().from(self.from.clone()).subject(format!(
            "[{severity}] {}",
            notification.title.replace(['\r', '\n'], " ")
        ));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    ),
            )
            .map_err(|e| NotifyError::Render(e.to_string()))
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn channel_type(&self) -> &str {
        "email"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let message = self.message(notification)?;
        match self.transport.send(message).await {
            Ok(response) => Ok(Delivered::with_receipt(response.code().to_string())),
            Err(error) => Err(smtp_failure(&error)),
        }
    }
}

const SERVICE: &str = "email";

/// The retry class of an SMTP reply code that is not a success: 4xx replies are transient
/// (`Retryable`), 5xx replies permanent (`NonRetryable`): RFC 5321 §4.2.1 says a client may
/// repeat a 4xx command and should not repeat a 5xx one unchanged. That includes 535
/// (authentication failed: the credentials must change) and 550 (the mailbox does not exist or
/// refuses mail: sending again will not make it accept).
///
/// ```
/// use aisoc_notify_core::RetryClass;
/// use aisoc_notify_email::classify_smtp_reply;
///
/// assert_eq!(classify_smtp_reply(451), RetryClass::Retryable);
/// assert_eq!(classify_smtp_reply(550), RetryClass::NonRetryable);
/// assert_eq!(classify_smtp_reply(535), RetryClass::NonRetryable);
/// ```
pub fn classify_smtp_reply(code: u16) -> RetryClass {
    match code {
        400..=499 => RetryClass::Retryable,
        _ => RetryClass::NonRetryable,
    }
}

/// A fixed description of an SMTP reply code, so that errors say what happened without
/// repeating the server's own text.
fn describe_reply(code: u16) -> &'static str {
    match code {
        421 => "the server is closing the connection (service not available)",
        450 => "the mailbox is temporarily unavailable",
        451 => "the server aborted the transaction because of a local error",
        452 => "the server has insufficient storage",
        454 => "temporary authentication failure",
        530 => "the server requires authentication",
        534 | 535 => "authentication failed: check the SMTP credentials",
        550 => "the mailbox is unavailable (it does not exist or refuses mail)",
        551 => "the recipient is not local to the server",
        552 => "the message exceeds the server's storage allocation",
        553 => "the mailbox name is not allowed",
        554 => "the server refused the transaction",
        400..=499 => "the server reported a temporary failure",
        _ => "the server refused the message",
    }
}

/// The typed error for a failed SMTP conversation (see the module docs for the table).
fn smtp_failure(error: &lettre::transport::smtp::Error) -> NotifyError {
    if let Some(code) = error.status() {
        let code = u16::from(code);
        return NotifyError::refused(
            SERVICE,
            classify_smtp_reply(code),
            code.to_string(),
            describe_reply(code),
        );
    }
    let (class, code, message) = if error.is_client() {
        (
            RetryClass::NonRetryable,
            "client",
            "no authentication mechanism or TLS support in common with the SMTP server",
        )
    } else if error.is_tls() {
        (
            RetryClass::Retryable,
            "tls",
            "the TLS handshake with the SMTP server failed",
        )
    } else if error.is_timeout() {
        (
            RetryClass::Retryable,
            "timeout",
            "the SMTP server did not answer in time",
        )
    } else if error.is_response() {
        (
            RetryClass::Retryable,
            "response",
            "the SMTP server's reply could not be read",
        )
    } else {
        (
            RetryClass::Retryable,
            "connection",
            "could not connect to the SMTP server, or the connection was lost",
        )
    };
    NotifyError::refused(SERVICE, class, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_replies_are_retryable_and_permanent_ones_are_not() {
        for code in [421, 450, 451, 452, 454] {
            assert_eq!(classify_smtp_reply(code), RetryClass::Retryable, "{code}");
        }
        for code in [530, 535, 550, 551, 552, 553, 554] {
            assert_eq!(
                classify_smtp_reply(code),
                RetryClass::NonRetryable,
                "{code}"
            );
        }
    }

    #[test]
    fn every_reply_is_described_without_the_servers_text() {
        assert_eq!(
            describe_reply(535),
            "authentication failed: check the SMTP credentials"
        );
        assert_eq!(
            describe_reply(471),
            "the server reported a temporary failure"
        );
        assert_eq!(describe_reply(599), "the server refused the message");
    }
}
