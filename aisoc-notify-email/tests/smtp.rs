//! Real SMTP conversations with an SMTP server running on loopback in the test (mailin).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aisoc_notify_core::{EventType, Notification, Notifier, NotifyError, RetryClass, Severity};
use aisoc_notify_email::{EmailConfigError, EmailNotifier, SmtpConfig, SmtpSecurity};
use mailin_embedded::{Handler, Response, Server, response};

#[derive(Clone, Default)]
struct Inbox {
    current: Arc<Mutex<Vec<u8>>>,
    messages: Arc<Mutex<Vec<String>>>,
    recipients: Arc<Mutex<Vec<String>>>,
}

/// Text a server puts in its replies; it must never reach an error message.
const SERVER_TEXT: &str = "relay-internal-detail-9b2e";

impl Handler for Inbox {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        if from.contains("anonymous") {
            return response::AUTHENTICATION_REQUIRED;
        }
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let mailbox = to.split('@').next().unwrap_or_default();
        match mailbox.trim_start_matches('<') {
            "nobody" => return response::NO_MAILBOX,
            "greylisted" => return Response::custom(450, format!("greylisted {SERVER_TEXT}")),
            "broken" => return response::INTERNAL_ERROR,
            "full" => return response::OUT_OF_SPACE,
            "closing" => return response::NO_SERVICE,
            "banned" => return Response::custom(554, format!("refused {SERVER_TEXT}")),
            _ => {}
        }
        self.recipients.lock().unwrap().push(to.to_owned());
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().unwrap().extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let message = std::mem::take(&mut *self.current.lock().unwrap());
        self.messages
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&message).into_owned());
        response::OK
    }
}

fn smtp_server() -> (Inbox, u16) {
    let inbox = Inbox::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = Server::new(inbox.clone());
    server.with_name("smtp.test").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (inbox, port)
}

fn config(port: u16, to: &str, enrich: bool) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::PlainLoopbackOnly,
        credentials: None,
        from: "AiSOC <soc-bot@example.com>".into(),
        to: vec![to.into()],
        enrich,
    }
}

fn alert() -> Notification {
    Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
    .with_body("Encryption activity on <3> hosts")
    .with_fact("Host", "web-01")
    .with_link(
        "Open case",
        "https://console.example.com/cases/42".parse().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_arrives_with_plain_text_and_html_parts() {
    let (inbox, port) = smtp_server();
    let email = EmailNotifier::new(config(port, "soc@example.com", true)).unwrap();
    email.notify(&alert()).await.unwrap();

    let messages = inbox.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert!(
        message.contains("Subject: [CRITICAL] Ransomware on web-01"),
        "{message}"
    );
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(message.contains("Content-Type: text/plain"), "{message}");
    assert!(message.contains("Content-Type: text/html"), "{message}");
    assert!(
        message.contains("Host: web-01"),
        "facts enrich the plain-text part"
    );
    assert!(message.contains("https://console.example.com/cases/42"));
    assert!(
        message.contains("&lt;3&gt;"),
        "user text is escaped in HTML"
    );
    assert_eq!(*inbox.recipients.lock().unwrap(), ["soc@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_enrichment_only_the_text_is_sent() {
    let (inbox, port) = smtp_server();
    let email = EmailNotifier::new(config(port, "soc@example.com", false)).unwrap();
    email.notify(&alert()).await.unwrap();
    let message = inbox.messages.lock().unwrap()[0].clone();
    assert!(!message.contains("Host: web-01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_is_a_permanent_rejection() {
    let (_inbox, port) = smtp_server();
    let email = EmailNotifier::new(config(port, "nobody@example.com", true)).unwrap();
    let err = email.notify(&alert()).await.unwrap_err();
    assert!(
        matches!(&err, NotifyError::Rejected { service: "email", code, .. } if code == "550"),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert_eq!(
        err.to_string(),
        "email rejected the notification (550): \
         the mailbox is unavailable (it does not exist or refuses mail)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_replies_are_retryable_and_permanent_ones_are_not() {
    let (inbox, port) = smtp_server();
    for (to, code, class) in [
        ("greylisted@example.com", "450", RetryClass::Retryable),
        ("broken@example.com", "451", RetryClass::Retryable),
        ("full@example.com", "452", RetryClass::Retryable),
        ("closing@example.com", "421", RetryClass::Retryable),
        ("banned@example.com", "554", RetryClass::NonRetryable),
    ] {
        let email = EmailNotifier::new(config(port, to, true)).unwrap();
        let err = email.notify(&alert()).await.unwrap_err();
        assert_eq!(err.retry_class(), class, "{to}: {err:?}");
        match &err {
            NotifyError::Unavailable {
                service: "email",
                code: c,
                ..
            }
            | NotifyError::Rejected {
                service: "email",
                code: c,
                ..
            } => assert_eq!(c, code, "{to}"),
            other => panic!("{to}: {other:?}"),
        }
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains(SERVER_TEXT),
            "the server's text leaked: {shown}"
        );
    }
    assert!(inbox.messages.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_authentication_is_a_permanent_rejection() {
    let (_inbox, port) = smtp_server();
    let mut anonymous = config(port, "soc@example.com", true);
    anonymous.from = "anonymous@example.com".into();
    let err = EmailNotifier::new(anonymous)
        .unwrap()
        .notify(&alert())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NotifyError::Rejected { code, .. } if code == "530"),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);

    // This server offers no AUTH on a plain connection, so configured credentials cannot be
    // used: a configuration problem, not something a retry fixes.
    let mut with_credentials = config(port, "soc@example.com", true);
    with_credentials.credentials = Some(("soc-bot".into(), "app-password-77".into()));
    let err = EmailNotifier::new(with_credentials)
        .unwrap()
        .notify(&alert())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NotifyError::Rejected { code, .. } if code == "client"),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert!(!format!("{err} {err:?}").contains("app-password-77"));
}

#[tokio::test]
async fn an_unreachable_server_is_retryable_and_bad_configurations_are_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let email = EmailNotifier::new(config(port, "soc@example.com", true)).unwrap();
    let err = email.notify(&alert()).await.unwrap_err();
    assert!(
        matches!(&err, NotifyError::Unavailable { code, .. } if code == "connection"),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::Retryable);

    let mut insecure = config(25, "soc@example.com", true);
    insecure.host = "smtp.example.com".into();
    assert_eq!(
        EmailNotifier::new(insecure).unwrap_err(),
        EmailConfigError::Insecure
    );
    assert_eq!(
        EmailNotifier::new(config(25, "not an address", true)).unwrap_err(),
        EmailConfigError::Address("not an address".into())
    );
}
