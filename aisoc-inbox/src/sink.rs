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

/// How a NATS sink lays accepted events out in JetStream messages.
///
/// The server's work is per message (storing it, indexing its subject, acknowledging it), so
/// on a small machine a message per event caps NATS-backed ingest at what the server manages
/// in messages per second (about 85,000 on two cores, `benches/README.md`). Packing a
/// request's events into one message costs the server once per request instead; a consumer
/// then splits the message with [`message_events`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NatsFraming {
    /// One message per event, its body the event's OCSF JSON, with no [`EVENTS_HEADER`]: the
    /// default, and what the stream has always held.
    #[default]
    PerEvent,
    /// One message per request's run of events that share tenant and template (so the
    /// subject stays `<prefix>.<tenant>.<template>`), split where a message would outgrow the
    /// server's `max_payload`. The body is the events' OCSF JSON, one per line (NDJSON), and
    /// [`EVENTS_HEADER`] says how many. An event whose JSON holds a line break (compact JSON
    /// never does) gets a message of its own.
    ///
    /// A keyed request's message is deduplicated by its first event's id and the count, so a
    /// retry is dropped only if it is framed the same way: switching the framing, or the
    /// server's `max_payload`, between a request and its retry can store its events twice.
    PerRequest,
}

impl NatsFraming {
    /// The name [`FromStr`](std::str::FromStr) reads: `event` or `request`.
    pub fn as_str(self) -> &'static str {
        match self {
            NatsFraming::PerEvent => "event",
            NatsFraming::PerRequest => "request",
        }
    }
}

impl std::str::FromStr for NatsFraming {
    type Err = FramingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "event" => Ok(NatsFraming::PerEvent),
            "request" => Ok(NatsFraming::PerRequest),
            _ => Err(FramingError(
                "the framing is `event` (a message per event) or `request` (a message per request)"
                    .into(),
            )),
        }
    }
}

/// The header of a message framed [`PerRequest`](NatsFraming::PerRequest): how many events,
/// one per line, its body holds.
pub const EVENTS_HEADER: &str = "Aisoc-Events";

/// A framing that cannot be read: an unknown framing name, or a message whose lines do not
/// match its [`EVENTS_HEADER`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FramingError(String);

/// The events one message of the inbox stream holds, given its [`EVENTS_HEADER`] value
/// (`None` when it has none) and its body: the body itself when the header is absent or `1`,
/// else the body's lines, which must be as many as the header says. Works for both framings,
/// so a consumer need not know which one the gateway uses.
///
/// ```
/// use aisoc_inbox::sink::message_events;
///
/// let single = br#"{"class_uid":2004}"#;
/// assert_eq!(message_events(None, single).unwrap(), vec![&single[..]]);
///
/// let framed = b"{\"a\":1}\n{\"a\":2}";
/// assert_eq!(
///     message_events(Some("2"), framed).unwrap(),
///     vec![&b"{\"a\":1}"[..], &b"{\"a\":2}"[..]]
/// );
/// assert!(message_events(Some("3"), framed).is_err());
/// ```
pub fn message_events<'a>(
    events_header: Option<&str>,
    body: &'a [u8],
) -> Result<Vec<&'a [u8]>, FramingError> {
    let count = match events_header {
        None => return Ok(vec![body]),
        Some(value) => value.trim().parse::<usize>().map_err(|_| {
            FramingError(format!(
                "{EVENTS_HEADER} is not a count of events: {value:?}"
            ))
        })?,
    };
    if count == 1 {
        return Ok(vec![body]);
    }
    let events: Vec<&[u8]> = body.split(|&byte| byte == b'\n').collect();
    if events.len() != count {
        return Err(FramingError(format!(
            "{EVENTS_HEADER} says {count} events, the body has {} lines",
            events.len()
        )));
    }
    Ok(events)
}

/// The messages `events` go out in under `framing`, as ranges of `events`: one event each
/// [`PerEvent`](NatsFraming::PerEvent); runs that share tenant, template and
/// [`dedupe`](SinkEvent::dedupe) [`PerRequest`](NatsFraming::PerRequest), each body (the
/// events and a line break between each two) at most `max_body` bytes unless one event alone
/// is larger.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
fn frames(
    events: &[SinkEvent],
    framing: NatsFraming,
    max_body: usize,
) -> Vec<std::ops::Range<usize>> {
    if framing == NatsFraming::PerEvent {
        return (0..events.len()).map(|i| i..i + 1).collect();
    }
    let alone = |event: &SinkEvent| event.payload.contains(&b'\n');
    let mut frames = Vec::new();
    let mut start = 0;
    while start < events.len() {
        let first = &events[start];
        let mut end = start + 1;
        let mut bytes = first.payload.len();
        if !alone(first) {
            while let Some(next) = events.get(end) {
                let grown = bytes + 1 + next.payload.len();
                let same_run = next.tenant_id == first.tenant_id
                    && next.template_id == first.template_id
                    && next.dedupe == first.dedupe;
                if !same_run || grown > max_body || alone(next) {
                    break;
                }
                bytes = grown;
                end += 1;
            }
        }
        frames.push(start..end);
        start = end;
    }
    frames
}

#[cfg(feature = "nats")]
pub use nats::{NatsSink, NatsSinkConfig};

#[cfg(feature = "nats")]
mod nats {
    use std::time::Duration;

    use aisoc_notify_core::async_trait;
    use async_nats::jetstream::{self, stream};

    use std::sync::Arc;

    use bytes::{BufMut, Bytes, BytesMut};
    use tokio::sync::Semaphore;

    use super::{EVENTS_HEADER, EventSink, NatsFraming, SinkError, SinkEvent};

    /// Room kept in a message for its headers when a run of events is packed up to the
    /// server's `max_payload` (which counts headers and body together).
    const HEADER_ROOM: usize = 1024;

    /// Messages the sink has published and not yet seen acknowledged, across all requests.
    /// A request takes its share at once (up to this many; a larger one goes in parts, each
    /// acknowledged before the next), so no request holds some while it waits for more.
    const PUBLISH_WINDOW: usize = 4096;

    /// The JetStream context's own bound on unacknowledged publishes, beyond which async-nats
    /// makes a publish wait. It is above [`PUBLISH_WINDOW`] so that a publish the sink lets
    /// through never waits there: what is left over is for the publishes of a request that
    /// failed half-way, whose slots async-nats frees only when their acknowledgements come or
    /// time out (after the configured `ack_timeout`).
    const CONTEXT_ACK_SLOTS: usize = 2 * PUBLISH_WINDOW;

    /// A JetStream context on `client` with the sink's acknowledgement bounds.
    fn context(client: async_nats::Client, config: &NatsSinkConfig) -> jetstream::Context {
        jetstream::context::ContextBuilder::new()
            .timeout(config.ack_timeout)
            .ack_timeout(config.ack_timeout)
            .max_ack_inflight(CONTEXT_ACK_SLOTS)
            .build(client)
    }

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
        /// A message per event (the default) or per request.
        pub framing: NatsFraming,
    }

    impl Default for NatsSinkConfig {
        fn default() -> Self {
            Self {
                stream: "AISOC_INBOX".into(),
                subject_prefix: "aisoc.inbox".into(),
                duplicate_window: Duration::from_secs(24 * 3600),
                ack_timeout: Duration::from_secs(5),
                framing: NatsFraming::PerEvent,
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
    ///
    /// A request's messages are published back to back and their acknowledgements awaited
    /// together, at most 4,096 unacknowledged across the sink (async-nats alone
    /// would let 5,000 be, and make the next publish wait: a request of more, or requests
    /// that together are more, each holding some of the 5,000 while waiting for another,
    /// would wait on one another until the inbox gave up).
    #[derive(Clone)]
    pub struct NatsSink {
        jetstream: jetstream::Context,
        config: NatsSinkConfig,
        window: Arc<Semaphore>,
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
            let jetstream = context(client, &config);
            jetstream
                .get_or_create_stream(stream::Config {
                    name: config.stream.clone(),
                    subjects: vec![format!("{}.>", config.subject_prefix)],
                    duplicate_window: config.duplicate_window,
                    ..Default::default()
                })
                .await
                .map_err(|e| SinkError::Unavailable(e.to_string()))?;
            Ok(Self::with_context(jetstream, config))
        }

        /// A sink on a client that keeps trying to reach the server, so a gateway can start
        /// while NATS is down and answer 503 until it is back.
        pub fn detached(client: async_nats::Client, config: NatsSinkConfig) -> Self {
            Self::with_context(context(client, &config), config)
        }

        fn with_context(jetstream: jetstream::Context, config: NatsSinkConfig) -> Self {
            Self {
                jetstream,
                config,
                window: Arc::new(Semaphore::new(PUBLISH_WINDOW)),
            }
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
            let max_body = self
                .jetstream
                .client()
                .max_payload()
                .saturating_sub(HEADER_ROOM);
            let frames = super::frames(events, self.config.framing, max_body);
            // A request's events share their tenant and template, so their subject: it is made
            // once per run of them (a `Subject` is a shared buffer), not once per message.
            let mut last: Option<(&SinkEvent, async_nats::Subject)> = None;
            for part in frames.chunks(PUBLISH_WINDOW) {
                // All of the part's slots at once (the semaphore is fair: a large request is
                // not overtaken for ever by small ones), never some while waiting for more.
                let slots = u32::try_from(part.len()).unwrap_or(u32::MAX);
                let _slots = self
                    .window
                    .acquire_many(slots)
                    .await
                    .map_err(|e| SinkError::Unavailable(e.to_string()))?;
                self.publish_part(events, part, &mut last).await?;
            }
            Ok(())
        }
    }

    impl NatsSink {
        /// Publishes the messages `part` frames out of `events` back to back, then awaits
        /// their acknowledgements together.
        async fn publish_part<'e>(
            &self,
            events: &'e [SinkEvent],
            part: &[std::ops::Range<usize>],
            last: &mut Option<(&'e SinkEvent, async_nats::Subject)>,
        ) -> Result<(), SinkError> {
            let mut pending = Vec::with_capacity(part.len());
            for frame in part.iter().cloned() {
                let run = &events[frame];
                let first = &run[0];
                let subject = match &*last {
                    Some((previous, subject))
                        if previous.tenant_id == first.tenant_id
                            && previous.template_id == first.template_id =>
                    {
                        subject.clone()
                    }
                    _ => {
                        let subject = async_nats::Subject::from(self.subject(first));
                        *last = Some((first, subject.clone()));
                        subject
                    }
                };
                let mut headers = async_nats::HeaderMap::new();
                if first.dedupe {
                    headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id(run));
                }
                if self.config.framing == NatsFraming::PerRequest {
                    headers.insert(EVENTS_HEADER, run.len().to_string());
                }
                let body = ndjson(run);
                let published = if headers.is_empty() {
                    self.jetstream.publish(subject, body).await
                } else {
                    self.jetstream
                        .publish_with_headers(subject, headers, body)
                        .await
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

    /// The `Nats-Msg-Id` of a message holding `run`: the event's own id for one event (so
    /// both framings store a retried single event once), else the first event's id and the
    /// count, which a retried request (same idempotency key, same events) repeats.
    fn message_id(run: &[SinkEvent]) -> String {
        match run {
            [event] => event.msg_id.clone(),
            _ => format!("{}+{}", run[0].msg_id, run.len()),
        }
    }

    /// The body of a message holding `run`: the event's JSON as it is for one event, else
    /// the events' JSON one per line.
    fn ndjson(run: &[SinkEvent]) -> Bytes {
        if let [event] = run {
            return event.payload.clone();
        }
        let len = run.iter().map(|e| e.payload.len() + 1).sum::<usize>() - 1;
        let mut body = BytesMut::with_capacity(len);
        for (i, event) in run.iter().enumerate() {
            if i > 0 {
                body.put_u8(b'\n');
            }
            body.extend_from_slice(&event.payload);
        }
        body.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::{NatsFraming, SinkEvent, frames, message_events, subject_token};

    fn event(tenant: &str, template: &str, dedupe: bool, json: &str) -> SinkEvent {
        SinkEvent {
            tenant_id: tenant.into(),
            template_id: template.into(),
            msg_id: format!("{tenant}-{json}"),
            dedupe,
            payload: bytes::Bytes::copy_from_slice(json.as_bytes()),
        }
    }

    #[test]
    fn per_event_framing_is_a_message_per_event() {
        let events = [event("a", "t", false, "{}"), event("a", "t", false, "{}")];
        assert_eq!(
            frames(&events, NatsFraming::PerEvent, 1 << 20),
            [0..1, 1..2]
        );
    }

    #[test]
    fn per_request_framing_packs_runs_that_share_tenant_template_and_dedupe() {
        let events = [
            event("a", "t", false, "{1}"),
            event("a", "t", false, "{2}"),
            event("a", "u", false, "{3}"),
            event("b", "u", false, "{4}"),
            event("b", "u", true, "{5}"),
            event("b", "u", true, "{6}"),
        ];
        assert_eq!(
            frames(&events, NatsFraming::PerRequest, 1 << 20),
            [0..2, 2..3, 3..4, 4..6]
        );
    }

    #[test]
    fn per_request_framing_splits_where_the_body_would_outgrow_the_limit() {
        // Each event is 3 bytes; with a line break between two, a body of n events is 4n - 1.
        let events: Vec<_> = (0..7)
            .map(|i| event("a", "t", false, &format!("{{{i}}}")))
            .collect();
        assert_eq!(
            frames(&events, NatsFraming::PerRequest, 11),
            [0..3, 3..6, 6..7]
        );
        // One event larger than the limit still goes, alone.
        assert_eq!(
            frames(&events[..2], NatsFraming::PerRequest, 2),
            [0..1, 1..2]
        );
    }

    #[test]
    fn an_event_with_a_line_break_gets_a_message_of_its_own() {
        let events = [
            event("a", "t", false, "{1}"),
            event("a", "t", false, "{\n}"),
            event("a", "t", false, "{3}"),
            event("a", "t", false, "{4}"),
        ];
        assert_eq!(
            frames(&events, NatsFraming::PerRequest, 1 << 20),
            [0..1, 1..2, 2..4]
        );
        // And its message (header 1) reads back whole.
        assert_eq!(message_events(Some("1"), b"{\n}").unwrap(), [&b"{\n}"[..]]);
    }

    #[test]
    fn a_framing_header_that_does_not_match_the_body_is_an_error() {
        assert!(message_events(Some("two"), b"{}\n{}").is_err());
        assert!(message_events(Some("3"), b"{}\n{}").is_err());
        assert_eq!(message_events(Some(" 2 "), b"{}\n{}").unwrap().len(), 2);
    }

    #[test]
    fn framing_names_read_back() {
        for framing in [NatsFraming::PerEvent, NatsFraming::PerRequest] {
            assert_eq!(framing.as_str().parse::<NatsFraming>(), Ok(framing));
        }
        assert!("batch".parse::<NatsFraming>().is_err());
    }

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
