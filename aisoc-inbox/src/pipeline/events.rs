//! What one request holds while it is mapped: the events still to map, taken one at a time,
//! and the mapped events, kept as compact JSON in shared chunks.
//!
//! Mapped events are what a request holds longest (until the sink acknowledges), so each is
//! its OCSF JSON bytes and nothing more: written into a reused buffer, then copied into a
//! chunk shared by the request's events (one allocation per chunk, not per event, and no
//! spare capacity per event).

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use crate::body::{EventStream, Lines};
use crate::cef::CefEvent;
use crate::sink::SinkEvent;
use crate::token::TokenRecord;

/// The largest chunk mapped events are copied into (a larger event gets a chunk of its own).
const CHUNK_BYTES: usize = 64 * 1024;

/// Where the events of a request come from.
enum Source<'a> {
    /// A webhook body, NDJSON parsed line by line.
    Body(EventStream<'a>),
    /// Events parsed all at once (HEC `/event`).
    Parsed(std::vec::IntoIter<Value>),
    /// CEF lines, each parsed when its turn comes; lines that are not CEF are dropped.
    CefLines(crate::cef::Lines<'a>),
    /// HEC `/raw` lines, each made an event when its turn comes.
    RawLines(Lines<'a>),
}

/// One event to map.
pub(super) enum Payload<'a> {
    /// A JSON value.
    Json(Value),
    /// A parsed CEF line, borrowed from the body; YAML templates map it without building its
    /// JSON value.
    Cef(CefEvent<'a>),
}

impl Payload<'_> {
    /// The event as the JSON value a template maps.
    pub(super) fn into_json(self) -> Value {
        match self {
            Payload::Json(value) => value,
            Payload::Cef(event) => event.into_json(),
        }
    }
}

/// The events of one request, each with its position among them (which idempotent message
/// ids are derived from).
pub(super) struct Events<'a> {
    source: Source<'a>,
    taken: usize,
    dropped: usize,
}

impl<'a> Events<'a> {
    /// The events of a webhook body.
    pub(super) fn body(stream: EventStream<'a>) -> Self {
        Self::new(Source::Body(stream), 0)
    }

    /// Events parsed already, and how many items were not usable.
    pub(super) fn parsed(events: Vec<Value>, dropped: usize) -> Self {
        Self::new(Source::Parsed(events.into_iter()), dropped)
    }

    /// The CEF lines of a body's text ([`crate::cef::body_text`]).
    pub(super) fn cef(text: &'a str) -> Self {
        Self::new(Source::CefLines(crate::cef::lines(text)), 0)
    }

    /// One event per non-blank line (HEC `/raw`).
    pub(super) fn raw_lines(body: &'a [u8]) -> Self {
        Self::new(Source::RawLines(Lines::new(body)), 0)
    }

    fn new(source: Source<'a>, dropped: usize) -> Self {
        Self {
            source,
            taken: 0,
            dropped,
        }
    }

    /// Lines or items that were not events.
    pub(super) fn dropped(&self) -> usize {
        self.dropped
            + match &self.source {
                Source::Body(stream) => stream.dropped(),
                Source::Parsed(_) | Source::CefLines(_) | Source::RawLines(_) => 0,
            }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = (usize, Payload<'a>);

    fn next(&mut self) -> Option<(usize, Payload<'a>)> {
        let event = match &mut self.source {
            Source::Body(stream) => Payload::Json(stream.next()?),
            Source::Parsed(events) => Payload::Json(events.next()?),
            Source::CefLines(lines) => loop {
                match crate::cef::parse_line(lines.next()?) {
                    Ok(event) => break Payload::Cef(event),
                    Err(_) => self.dropped += 1,
                }
            },
            Source::RawLines(lines) => Payload::Json(crate::hec::raw_event(lines.next()?)),
        };
        let index = self.taken;
        self.taken += 1;
        Some((index, event))
    }
}

/// The mapped events of one request.
pub(super) struct MappedEvents {
    /// The events, in order.
    pub(super) events: Vec<SinkEvent>,
    /// The chunk being filled.
    chunk: BytesMut,
    /// Bytes of OCSF JSON (what [`mapped_limit`](super::mapped_limit) caps).
    pub(super) bytes: usize,
    /// Heap bytes held: chunks, the event list and each event's strings.
    held: usize,
    /// Events expected, to size chunks for small requests.
    expected: usize,
}

impl MappedEvents {
    /// Room for `expected` events.
    pub(super) fn new(expected: usize) -> Self {
        Self {
            events: Vec::with_capacity(expected),
            chunk: BytesMut::new(),
            bytes: 0,
            held: expected.saturating_mul(std::mem::size_of::<SinkEvent>()),
            expected,
        }
    }

    /// Heap bytes held so far.
    pub(super) fn held(&self) -> usize {
        self.held
    }

    /// Adds one event of `record`'s with its OCSF JSON; `dedupe` as [`SinkEvent::dedupe`].
    pub(super) fn push(&mut self, record: &TokenRecord, msg_id: String, dedupe: bool, json: &[u8]) {
        if self.chunk.capacity() - self.chunk.len() < json.len() {
            // Sized for the events still expected, so a small request takes a small chunk.
            let remaining = self.expected.saturating_sub(self.events.len()).max(1);
            let size = json
                .len()
                .saturating_mul(remaining)
                .min(CHUNK_BYTES)
                .max(json.len());
            self.chunk = BytesMut::with_capacity(size);
            self.held = self.held.saturating_add(size);
        }
        self.chunk.extend_from_slice(json);
        let payload: Bytes = self.chunk.split().freeze();
        self.bytes = self.bytes.saturating_add(json.len());
        self.held = self
            .held
            .saturating_add(record.tenant_id.len() + record.template_id.len() + msg_id.len());
        self.events.push(SinkEvent {
            tenant_id: record.tenant_id.clone(),
            template_id: record.template_id.clone(),
            msg_id,
            dedupe,
            payload,
        });
    }
}

/// Appends a new random event uid (32 lower-case hex digits) to `uid`.
pub(super) fn push_event_uid(uid: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    for byte in bytes {
        uid.push(char::from(HEX[usize::from(byte >> 4)]));
        uid.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}
