//! Where accepted events go: an [`EventSink`] acknowledges a batch before the HTTP 2xx is sent,
//! so an event the caller saw accepted is never lost.
//!
//! A sink keeps each message id marked [`dedupe`](SinkEvent::dedupe) once. Events of a request
//! with an idempotency key carry ids derived from tenant, token and key
//! ([`IdempotencyKey::msg_id`](crate::limits::IdempotencyKey::msg_id)), the same on every retry;
//! that is what stores an event once when its sender retries after a crash between the sink's
//! acknowledgement and the key's promotion to done (see [`limits`](crate::limits)).

use std::collections::HashSet;
use std::sync::Mutex;

use aisoc_notify_core::async_trait;
use bytes::Bytes;

/// Escapes `text` into one NATS subject token, injectively: `A-Z a-z 0-9 -` stay as they are,
/// every other byte of its UTF-8 (including `_` and `.`) becomes `_` and two upper-case hex
/// digits. So `a.b` is `a_2Eb` and `a_b` is `a_5Fb`: two tenants never share a subject, and a
/// subscriber filters on one tenant with `<prefix>.<subject_token(tenant)>.>`.
///
/// ```
/// use aisoc_inbox::sink::subject_token;
///
/// assert_eq!(subject_token("acme"), "acme");
/// assert_eq!(subject_token("generic-json"), "generic-json");
/// assert_eq!(subject_token("a.b"), "a_2Eb");
/// assert_eq!(subject_token("a_b"), "a_5Fb");
/// assert_eq!(subject_token("a>*"), "a_3E_2A");
/// ```
pub fn subject_token(text: &str) -> String {
    use std::fmt::Write;
    let mut token = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            token.push(char::from(byte));
        } else {
            let _ = write!(token, "_{byte:02X}");
        }
    }
    token
}

/// One OCSF event ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkEvent {
    /// The tenant.
    pub tenant_id: String,
    /// The template that produced it.
    pub template_id: String,
    /// A unique message id, kept once by a sink when [`dedupe`](Self::dedupe) is set. Derived
    /// from the idempotency key when the request had one, random otherwise.
    pub msg_id: String,
    /// Whether the same id can come again and must then be stored once: `true` for an id
    /// derived from an idempotency key (a retry of the request carries it again) or read back
    /// from a store. `false` for a random id, which nothing sends twice: a sink need not
    /// remember it, and the NATS sink does not ask JetStream to (no `Nats-Msg-Id`, which costs
    /// the server an entry in its duplicate window per message).
    pub dedupe: bool,
    /// The OCSF JSON.
    pub payload: Bytes,
}

/// A sink failure: nothing in the batch may be reported accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The sink cannot take events now.
    #[error("event sink unavailable: {0}")]
    Unavailable(String),
    /// The sink is full and takes nothing until space is freed (a size-capped local store).
    #[error("event storage full: {0}")]
    Full(String),
}

/// Publishes events durably, in order, and returns only after they are acknowledged.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes a batch; `Ok` means every event is stored (or was already, for a repeated id:
    /// a sink must not store an id twice within the idempotency TTL, 24 h by default).
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError>;
}

/// Events in memory, deduplicated by message id like a JetStream stream; for development,
/// tests and the gateway's embedded default.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<SinkEvent>>,
    seen: Mutex<HashSet<String>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything published so far.
    pub fn events(&self) -> Vec<SinkEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes everything published so far.
    pub fn drain(&self) -> Vec<SinkEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl EventSink for MemorySink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut stored = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            if seen.insert(event.msg_id.clone()) {
                stored.push(event.clone());
            }
        }
        Ok(())
    }
}

#[cfg(feature = "nats")]
pub use nats::{NatsSink, NatsSinkConfig};

#[cfg(feature = "nats")]
mod nats {
    use std::time::Duration;

    use aisoc_notify_core::async_trait;
    use async_nats::jetstream::{self, stream};

    use super::{EventSink, SinkError, SinkEvent};

    /// Where and how the NATS sink publishes.
    #[derive(Debug, Clone)]
    pub struct NatsSinkConfig {
        /// The stream (created when missing).
        pub stream: String,
        /// Subjects are `<prefix>.<tenant>.<template>`, each part escaped by
        /// [`subject_token`](super::subject_token).
        pub subject_prefix: String,
        /// The stream's duplicate window: repeats of a `Nats-Msg-Id` inside it are dropped.
        pub duplicate_window: Duration,
        /// How long to wait for an acknowledgement.
        pub ack_timeout: Duration,
    }

    impl Default for NatsSinkConfig {
        fn default() -> Self {
            Self {
                stream: "AISOC_INBOX".into(),
                subject_prefix: "aisoc.inbox".into(),
                duplicate_window: Duration::from_secs(24 * 3600),
                ack_timeout: Duration::from_secs(5),
            }
        }
    }

    /// Publishes to a JetStream stream with `Nats-Msg-Id` set to the event's message id when
    /// it is one to [`dedupe`](SinkEvent::dedupe), so the stream's own duplicate window backs
    /// the inbox's idempotency keys: a retry that republishes after a crash between the
    /// acknowledgement and the key's promotion is dropped by the stream. Keep
    /// `duplicate_window` at least the idempotency TTL. An event of a request without a key has
    /// a random id that no retry repeats, so it goes without one: remembering it would cost the
    /// server a duplicate-window entry per message (measured in `benches/README.md`) and
    /// protect nothing.
    #[derive(Clone)]
    pub struct NatsSink {
        jetstream: jetstream::Context,
        config: NatsSinkConfig,
    }

    impl std::fmt::Debug for NatsSink {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("NatsSink")
                .field("config", &self.config)
                .finish_non_exhaustive()
        }
    }

    impl NatsSink {
        /// Uses `client`, creating the stream if it does not exist.
        pub async fn new(
            client: async_nats::Client,
            config: NatsSinkConfig,
        ) -> Result<Self, SinkError> {
            let mut jetstream = jetstream::new(client);
            jetstream.set_timeout(config.ack_timeout);
            jetstream
                .get_or_create_stream(stream::Config {
                    name: config.stream.clone(),
                    subjects: vec![format!("{}.>", config.subject_prefix)],
                    duplicate_window: config.duplicate_window,
                    ..Default::default()
                })
                .await
                .map_err(|e| SinkError::Unavailable(e.to_string()))?;
            Ok(Self { jetstream, config })
        }

        /// A sink on a client that keeps trying to reach the server, so a gateway can start
        /// while NATS is down and answer 503 until it is back.
        pub fn detached(client: async_nats::Client, config: NatsSinkConfig) -> Self {
            let mut jetstream = jetstream::new(client);
            jetstream.set_timeout(config.ack_timeout);
            Self { jetstream, config }
        }

        /// The subject an event goes to.
        pub fn subject(&self, event: &SinkEvent) -> String {
            format!(
                "{}.{}.{}",
                self.config.subject_prefix,
                super::subject_token(&event.tenant_id),
                super::subject_token(&event.template_id)
            )
        }
    }

    #[async_trait]
    impl EventSink for NatsSink {
        async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
            let mut pending = Vec::with_capacity(events.len());
            // A request's events share their tenant and template, so their subject: it is made
            // once per run of them (a `Subject` is a shared buffer), not once per event.
            let mut last: Option<(&SinkEvent, async_nats::Subject)> = None;
            for event in events {
                let subject = match &last {
                    Some((previous, subject))
                        if previous.tenant_id == event.tenant_id
                            && previous.template_id == event.template_id =>
                    {
                        subject.clone()
                    }
                    _ => {
                        let subject = async_nats::Subject::from(self.subject(event));
                        last = Some((event, subject.clone()));
                        subject
                    }
                };
                let published = if event.dedupe {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(async_nats::header::NATS_MESSAGE_ID, event.msg_id.as_str());
                    self.jetstream
                        .publish_with_headers(subject, headers, event.payload.clone())
                        .await
                } else {
                    self.jetstream.publish(subject, event.payload.clone()).await
                };
                let ack = published.map_err(|e| SinkError::Unavailable(e.to_string()))?;
                pending.push(ack);
            }
            for ack in pending {
                ack.await
                    .map_err(|e| SinkError::Unavailable(e.to_string()))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::subject_token;

    #[test]
    fn tenants_that_differ_only_in_dot_or_underscore_get_different_subject_tokens() {
        assert_ne!(subject_token("a.b"), subject_token("a_b"));
        assert_ne!(subject_token("a_2Eb"), subject_token("a.b"));
        for token in [subject_token("a.b"), subject_token("a b*>\u{e9}")] {
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{token}"
            );
        }
    }

    #[test]
    fn the_escape_decodes_back_to_the_original() {
        fn decode(token: &str) -> String {
            let bytes = token.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'_' {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        for text in ["acme", "a.b", "a_b", "a_2Eb", "ü.x-y_z", ""] {
            assert_eq!(decode(&subject_token(text)), text);
        }
    }
}
