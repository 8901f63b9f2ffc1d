//! The secret-leak test for the e-mail crate (issue #15): an [`EmailNotifier`] configured with
//! a marker SMTP password talks to a small scripted SMTP server on loopback that advertises
//! `AUTH PLAIN` (mailin does not offer AUTH without TLS), through success, refused credentials
//! (535), refused recipients (550, 554), transient replies (450, 421) and a refused connection,
//! while every line any crate logs is captured at TRACE. Neither the password nor the `AUTH
//! PLAIN` blob that carries it may appear in a log line, an error's `Display` or `Debug`, or the
//! `Debug` of the config or the notifier.

use aisoc_notify_core::conformance::captured_logs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use aisoc_notify_core::{EventType, Notification, Notifier, RetryClass, Severity};
use aisoc_notify_email::{EmailNotifier, SmtpConfig, SmtpSecurity};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const USER: &str = "soc-bot";
const PASSWORD: &str = "LEAKMARK-smtp-password";
const WRONG_PASSWORD: &str = "LEAKMARK-wrong-password";
/// Text the server puts in its refusals; it must not reach an error either.
const SERVER_TEXT: &str = "relay-internal-LEAKMARK";

/// The `AUTH PLAIN` initial response for `password`: what a wire log would show.
fn auth_blob(password: &str) -> String {
    STANDARD.encode(format!("\0{USER}\0{password}"))
}

/// A scripted SMTP server: `AUTH PLAIN` accepts only [`PASSWORD`]; the recipient's mailbox
/// picks the answer to `RCPT`. Returns its port and the number of accepted logins.
fn smtp_server() -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("bound").port();
    let logins = Arc::new(Mutex::new(0));
    let counted = logins.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counted = counted.clone();
            std::thread::spawn(move || converse(stream, &counted));
        }
    });
    (port, logins)
}

fn converse(stream: TcpStream, logins: &Mutex<usize>) {
    let mut out = stream.try_clone().expect("clone the stream");
    let mut lines = BufReader::new(stream).lines();
    let mut reply = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).is_ok();
    reply("220 smtp.test ESMTP");
    while let Some(Ok(line)) = lines.next() {
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-smtp.test\r\n250 AUTH PLAIN".to_owned()
        } else if let Some(blob) = line.strip_prefix("AUTH PLAIN ") {
            if blob == auth_blob(PASSWORD) {
                *logins.lock().unwrap() += 1;
                "235 2.7.0 accepted".to_owned()
            } else {
                format!("535 5.7.8 bad credentials {SERVER_TEXT}")
            }
        } else if let Some(recipient) = upper.strip_prefix("RCPT TO:") {
            match recipient
                .trim_start_matches('<')
                .split('@')
                .next()
                .unwrap_or_default()
            {
                "NOBODY" => format!("550 no such mailbox {SERVER_TEXT}"),
                "BANNED" => format!("554 refused {SERVER_TEXT}"),
                "GREYLISTED" => format!("450 greylisted {SERVER_TEXT}"),
                "CLOSING" => format!("421 closing {SERVER_TEXT}"),
                _ => "250 ok".to_owned(),
            }
        } else if upper == "DATA" {
            reply("354 go ahead");
            while let Some(Ok(body)) = lines.next() {
                if body == "." {
                    break;
                }
            }
            "250 queued".to_owned()
        } else if upper == "QUIT" {
            reply("221 bye");
            return;
        } else {
            "250 ok".to_owned()
        };
        if !reply(&answer) {
            return;
        }
    }
}

fn config(port: u16, password: &str, to: &str) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::PlainLoopbackOnly,
        credentials: Some((USER.into(), password.into())),
        from: "AiSOC <soc-bot@example.com>".into(),
        to: vec![to.into()],
        enrich: true,
    }
}

fn alert() -> Notification {
    Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_smtp_password_reaches_a_log_line_an_error_or_a_debug_output() {
    captured_logs();
    let (port, logins) = smtp_server();
    let refused_port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.local_addr().expect("bound").port()
    };
    let mut printed = Vec::new();

    let delivered =
        EmailNotifier::new(config(port, PASSWORD, "soc@example.com")).expect("a valid config");
    printed.push(format!("{delivered:?}"));
    delivered
        .notify(&alert())
        .await
        .expect("delivered with the right password");
    assert_eq!(*logins.lock().unwrap(), 1, "the server saw one good login");

    for (password, to, port, class) in [
        (
            WRONG_PASSWORD,
            "soc@example.com",
            port,
            RetryClass::NonRetryable,
        ),
        (
            PASSWORD,
            "nobody@example.com",
            port,
            RetryClass::NonRetryable,
        ),
        (
            PASSWORD,
            "banned@example.com",
            port,
            RetryClass::NonRetryable,
        ),
        (
            PASSWORD,
            "greylisted@example.com",
            port,
            RetryClass::Retryable,
        ),
        (PASSWORD, "closing@example.com", port, RetryClass::Retryable),
        (
            PASSWORD,
            "soc@example.com",
            refused_port,
            RetryClass::Retryable,
        ),
    ] {
        let config = config(port, password, to);
        printed.push(format!("{config:?}"));
        let notifier = EmailNotifier::new(config).expect("a valid config");
        let error = notifier
            .notify(&alert())
            .await
            .expect_err("the server refuses");
        assert_eq!(error.retry_class(), class, "{to} on {port}: {error}");
        tracing::trace!(%error, ?error, ?notifier, "e-mail refused");
        printed.extend([
            error.to_string(),
            format!("{error:?}"),
            format!("{notifier:?}"),
        ]);
    }

    // Plain SMTP off loopback is refused before any connection.
    let mut remote = config(port, PASSWORD, "soc@example.com");
    remote.host = "smtp.example.com".into();
    let refused = EmailNotifier::new(remote).expect_err("plain SMTP off loopback");
    printed.extend([refused.to_string(), format!("{refused:?}")]);

    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(logs.contains("e-mail refused"), "the TRACE capture works");
    for marker in [
        PASSWORD,
        WRONG_PASSWORD,
        SERVER_TEXT,
        "LEAKMARK",
        &auth_blob(PASSWORD),
        &auth_blob(WRONG_PASSWORD),
    ] {
        for text in &printed {
            assert!(!text.contains(marker), "'{marker}' printed: {text}");
        }
        if let Some(line) = logs.lines().find(|line| line.contains(marker)) {
            panic!("a log line shows '{marker}': {line}");
        }
    }
}
