//! E-mail notifications over SMTP (`lettre`), with a plain-text and an HTML part.
//!
//! The transport uses STARTTLS (port 587) or implicit TLS (port 465) on rustls, with optional
//! authentication; plain SMTP is allowed only to a loopback relay. With `enrich`, the body
//! carries the notification's facts and links as well as its text. The subject is
//! `[SEVERITY] title`, so mail filters can route by severity.
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
            Err(error) if error.is_permanent() => Err(NotifyError::Rejected {
                service: "email",
                code: error
                    .status()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "permanent".into()),
                message: error.to_string(),
            }),
            Err(error) => Err(NotifyError::Unavailable {
                service: "email",
                code: error
                    .status()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "transient".into()),
                message: error.to_string(),
            }),
        }
    }
}
