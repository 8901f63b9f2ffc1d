//! Sends a [`Notification`] by e-mail through [`EmailNotifier`] to an SMTP server running in this
//! process, then prints the message as the server received it: a `[SEVERITY] title` subject and
//! a plain-text and an HTML part, enriched with the notification's facts and links.
//!
//! No mail server is needed: `mailin-embedded` listens on 127.0.0.1 on a free port, and the
//! notifier uses [`SmtpSecurity::PlainLoopbackOnly`], which refuses any host but loopback. In
//! production use `StartTls` (587) or `Tls` (465) with credentials.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example email_smtp
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
use aisoc_notify_email::{EmailNotifier, SmtpConfig, SmtpSecurity};
use mailin_embedded::{Handler, Response, Server, response};

/// Collects what the SMTP server receives.
#[derive(Clone, Default)]
struct Inbox {
    current: Arc<Mutex<Vec<u8>>>,
    messages: Arc<Mutex<Vec<String>>>,
}

impl Handler for Inbox {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current
            .lock()
            .expect("inbox lock")
            .extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let message = std::mem::take(&mut *self.current.lock().expect("inbox lock"));
        let text = String::from_utf8_lossy(&message).into_owned();
        self.messages.lock().expect("inbox lock").push(text);
        response::OK
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A stand-in for the SMTP relay, on a free loopback port.
    let inbox = Inbox::default();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut server = Server::new(inbox.clone());
    server.with_name("smtp.local").with_tcp_listener(listener);
    std::thread::spawn(move || {
        // Runs until the process exits.
        let _ = server.serve();
    });

    let email = EmailNotifier::new(SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::PlainLoopbackOnly,
        credentials: None,
        from: "AiSOC <soc-bot@example.com>".into(),
        to: vec!["soc@example.com".into()],
        enrich: true,
    })?;

    let alert = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
    .with_body("Encryption activity on <3> hosts in the last 5 minutes")
    .with_fact("Host", "web-01")
    .with_fact("User", "svc-backup")
    .with_link("Open case", "https://console.example.com/cases/42".parse()?);

    let delivered = email.notify(&alert).await?;
    println!(
        "delivered via {}; server replied {}\n",
        email.channel_type(),
        delivered.receipt.as_deref().unwrap_or("?")
    );

    let messages = inbox.messages.lock().expect("inbox lock").clone();
    let message = messages.first().ok_or("the SMTP server received nothing")?;
    let (headers, body) = message.split_once("\r\n\r\n").unwrap_or((message, ""));
    println!("headers received by the SMTP server:\n{headers}\n");
    println!("body (multipart/alternative; the HTML part escapes `<3>`):\n{body}");
    Ok(())
}
