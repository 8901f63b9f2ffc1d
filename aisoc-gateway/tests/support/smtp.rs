//! A real SMTP server on loopback for the e-mail channel tests: it keeps every message (and
//! every recipient) it is given.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What the server received.
#[derive(Clone, Default)]
pub(crate) struct Mailbox {
    current: Arc<Mutex<Vec<u8>>>,
    pub(crate) messages: Arc<Mutex<Vec<String>>>,
    pub(crate) recipients: Arc<Mutex<Vec<String>>>,
}

impl mailin_embedded::Handler for Mailbox {
    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        self.recipients.lock().unwrap().push(to.to_owned());
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().unwrap().extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = std::mem::take(&mut *self.current.lock().unwrap());
        self.messages
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&message).into_owned());
        mailin_embedded::response::OK
    }
}

/// A server on a free loopback port, serving on its own thread; its mailbox and port.
pub(crate) fn smtp_server() -> (Mailbox, u16) {
    let mailbox = Mailbox::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = mailin_embedded::Server::new(mailbox.clone());
    server.with_name("smtp.test").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (mailbox, port)
}
