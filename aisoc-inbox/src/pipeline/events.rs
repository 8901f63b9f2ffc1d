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
use crate::sink::SinkEvent;
use crate::token::TokenRecord;

/// The largest chunk mapped events are copied into (a larger event gets a chunk of its own).
const CHUNK_BYTES: usize = 64 * 1024;

/// Where the events of a request come from.
enum Source<'a> {
    /// A webhook body, NDJSON parsed line by line.
    Body(EventStream<'a>),
    /// Events parsed all at once (CEF, HEC `/event`).
    Parsed(std::vec::IntoIter<Value>),
    /// HEC `/raw` lines, each made an event when its turn comes.
    RawLines(Lines<'a>),
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
                Source::Parsed(_) | Source::RawLines(_) => 0,
            }
    }
}

impl Iterator for Events<'_> {
    type Item = (usize, Value);

    fn next(&mut self) -> Option<(usize, Value)> {
        let event = match &mut self.source {
            Source::Body(stream) => stream.next()?,
            Source::Parsed(events) => events.next()?,
            Source::RawLines(lines) => crate::hec::raw_event(lines.next()?),
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

    /// Adds one event of `record`'s with its OCSF JSON.
    pub(super) fn push(&mut self, record: &TokenRecord, msg_id: String, json: &[u8]) {
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
