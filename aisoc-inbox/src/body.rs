//! Request bodies: one JSON object, a JSON array of objects, or NDJSON; optionally gzip.
//!
//! Decompression is bounded by the same limit as the raw body, so a small gzip bomb cannot
//! expand past it. Malformed NDJSON lines are dropped and counted, never the whole batch.
//! NDJSON is parsed a line at a time as the pipeline takes the events ([`stream`]), so a
//! request never holds every parsed line at once.
//!
//! The number of events is capped per request, and the cap is checked before anything is
//! parsed into memory: [`count_items`] and [`count_lines`] walk the body without allocating
//! (`serde::de::IgnoredAny`), so a megabyte of `{}` lines is refused for what it is (hundreds of
//! thousands of events) before it becomes hundreds of thousands of parsed and mapped values.

use std::io::Read;

use serde_json::Value;

/// The events found in a body.
#[derive(Debug, Default, PartialEq)]
pub struct ParsedBody {
    /// One JSON value per event.
    pub events: Vec<Value>,
    /// Lines (or array items) that were not JSON objects.
    pub dropped: usize,
}

/// Why a body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The `Content-Encoding` is not `gzip` or identity.
    #[error("unsupported Content-Encoding '{0}'; send identity or gzip")]
    UnsupportedEncoding(String),
    /// The gzip stream is corrupt.
    #[error("the gzip body could not be decompressed")]
    BadGzip,
    /// The decompressed body is larger than the limit.
    #[error("body exceeds {max} bytes once decompressed")]
    TooLargeDecompressed {
        /// The limit.
        max: usize,
    },
    /// Nothing in the body is a JSON object.
    #[error("no valid JSON events in the body")]
    NoEvents,
    /// The body carries more events (lines, array items, HEC objects) than one request may.
    #[error("the body has more than {max} events; send at most {max} per request")]
    TooManyEvents {
        /// The per-request cap.
        max: usize,
    },
}

/// Refuses a body with more than `max` events, given their count up to `max + 1`.
pub fn check_event_count(counted: usize, max: usize) -> Result<(), BodyError> {
    if counted > max {
        return Err(BodyError::TooManyEvents { max });
    }
    Ok(())
}

/// The non-blank lines of `body`, counted up to `max + 1`.
pub fn count_lines(body: &[u8], max: usize) -> usize {
    Lines::new(body).take(max.saturating_add(1)).count()
}

/// The events [`parse`] would find in `body`, counted up to `max + 1` without allocating:
/// a JSON array's items, one for another single JSON value, else the non-blank lines.
pub fn count_items(content_type: Option<&str>, body: &[u8], max: usize) -> usize {
    use serde::de::IgnoredAny;
    if is_ndjson(content_type) {
        return count_lines(body, max);
    }
    // `IgnoredAny` is zero-sized: a `Vec` of them counts without allocating.
    if let Ok(items) = serde_json::from_slice::<Vec<IgnoredAny>>(body) {
        return items.len().min(max.saturating_add(1));
    }
    if serde_json::from_slice::<IgnoredAny>(body).is_ok() {
        return 1;
    }
    count_lines(body, max)
}

/// Undoes `Content-Encoding: gzip` (also `x-gzip`), reading at most `max` bytes of output.
pub fn decode(
    content_encoding: Option<&str>,
    body: bytes::Bytes,
    max: usize,
) -> Result<bytes::Bytes, BodyError> {
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(body),
        Some(e) if e.is_empty() || e == "identity" => Ok(body),
        Some(e) if e == "gzip" || e == "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
            let mut decoder = flate2::read::MultiGzDecoder::new(&body[..]).take(max as u64 + 1);
            decoder
                .read_to_end(&mut out)
                .map_err(|_| BodyError::BadGzip)?;
            if out.len() > max {
                return Err(BodyError::TooLargeDecompressed { max });
            }
            // The buffer grew by doubling; the request holds it to the end, so not its slack.
            out.shrink_to_fit();
            Ok(out.into())
        }
        Some(other) => Err(BodyError::UnsupportedEncoding(other)),
    }
}

fn is_ndjson(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.starts_with("application/x-ndjson")
            || ct.starts_with("application/ndjson")
            || ct.starts_with("application/jsonl")
    })
}

/// The non-blank lines of a body, without their `\r\n` or `\n`.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Lines<'a> {
    /// The lines of `body`.
    pub fn new(body: &'a [u8]) -> Self {
        Self { rest: Some(body) }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let rest = self.rest?;
            let line = match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    self.rest = Some(&rest[end + 1..]);
                    &rest[..end]
                }
                None => {
                    self.rest = None;
                    rest
                }
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some(line);
            }
        }
    }
}

/// The most bytes of `body` that [`stream`] parses at once: its longest line for NDJSON,
/// else all of it.
pub fn parsed_at_once(content_type: Option<&str>, body: &[u8]) -> usize {
    if is_ndjson(content_type) {
        longest_line(body)
    } else {
        body.len()
    }
}

/// The length of the longest line of `body` (the most one NDJSON event can take).
pub fn longest_line(body: &[u8]) -> usize {
    let mut longest = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', body).chain([body.len()]) {
        longest = longest.max(end - start);
        start = end + 1;
    }
    longest
}

/// Where an [`EventStream`] takes its events from.
#[derive(Debug)]
enum Source<'a> {
    /// One JSON value per line, parsed when its turn comes; the body as text when it is
    /// UTF-8 (checked once, so the parser need not check each string again).
    Lines(Lines<'a>, Option<&'a str>),
    /// Values parsed already (a JSON array or one JSON value).
    Parsed(std::vec::IntoIter<Value>),
}

/// The events of a body, one at a time: NDJSON lines are parsed as they are taken, so a
/// request holds one parsed line at a time rather than all of them. Lines and items that are
/// not JSON objects are skipped and counted ([`dropped`](Self::dropped)).
#[derive(Debug)]
pub struct EventStream<'a> {
    source: Source<'a>,
    dropped: usize,
}

impl EventStream<'_> {
    /// Lines or items that were not JSON objects, so far.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

impl Iterator for EventStream<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        loop {
            let value = match &mut self.source {
                Source::Lines(lines, text) => {
                    let line = lines.next()?;
                    let parsed = match text {
                        // The line's place in the body: it ends at a '\n' or '\r', so it is
                        // whole characters of the text.
                        Some(text) => {
                            let start = line.as_ptr() as usize - text.as_ptr() as usize;
                            serde_json::from_str::<Value>(&text[start..start + line.len()])
                        }
                        None => serde_json::from_slice::<Value>(line),
                    };
                    match parsed {
                        Ok(value) => value,
                        Err(_) => {
                            self.dropped += 1;
                            continue;
                        }
                    }
                }
                Source::Parsed(values) => values.next()?,
            };
            if value.is_object() {
                return Some(value);
            }
            self.dropped += 1;
        }
    }
}

/// The events of a decoded body, taken one at a time (see [`parse`]).
pub fn stream<'a>(content_type: Option<&str>, body: &'a [u8]) -> EventStream<'a> {
    let lines = || Source::Lines(Lines::new(body), std::str::from_utf8(body).ok());
    let source = if is_ndjson(content_type) {
        lines()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => Source::Parsed(items.into_iter()),
            Ok(value) => Source::Parsed(vec![value].into_iter()),
            Err(_) => lines(),
        }
    };
    EventStream { source, dropped: 0 }
}

/// Splits a decoded body into events. A JSON array's objects are events; a body that is not
/// one JSON value is read as NDJSON even without the NDJSON content type.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<ParsedBody, BodyError> {
    let mut stream = stream(content_type, body);
    let events: Vec<Value> = stream.by_ref().collect();
    if events.is_empty() {
        return Err(BodyError::NoEvents);
    }
    Ok(ParsedBody {
        events,
        dropped: stream.dropped(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn ndjson_keeps_good_lines_and_counts_bad_ones() {
        let body = b"{\"a\":1}\n\nnot json\r\n{\"b\":2}\r\n[1,2]\n";
        let parsed = parse(Some("application/x-ndjson"), body).unwrap();
        assert_eq!(parsed.events.len(), 2);
        assert_eq!(parsed.dropped, 2);
        assert_eq!(
            parse(Some("application/x-ndjson"), b"nope\n").unwrap_err(),
            BodyError::NoEvents
        );
    }

    #[test]
    fn json_objects_arrays_and_mislabelled_ndjson() {
        assert_eq!(
            parse(Some("application/json"), b"{\"a\":1}")
                .unwrap()
                .events
                .len(),
            1
        );
        let array = parse(None, b"[{\"a\":1},{\"b\":2},3]").unwrap();
        assert_eq!((array.events.len(), array.dropped), (2, 1));
        assert_eq!(
            parse(Some("application/json"), b"{\"a\":1}\n{\"b\":2}")
                .unwrap()
                .events
                .len(),
            2
        );
        assert_eq!(parse(None, b"42").unwrap_err(), BodyError::NoEvents);
    }

    #[test]
    fn events_are_counted_without_parsing_them() {
        assert_eq!(count_items(None, b"[{},{},{}]", 10), 3);
        assert_eq!(
            count_items(None, b"[{},{},{}]", 1),
            2,
            "counting stops past the cap"
        );
        assert_eq!(
            count_items(Some("application/json"), b"{\"a\":[1,2]}", 10),
            1
        );
        assert_eq!(count_items(None, b"{}\n\n{}\r\nnot json\n", 10), 3);
        assert_eq!(
            count_items(Some("application/x-ndjson"), b"[1]\n[2]", 10),
            2
        );
        assert_eq!(count_lines(&b"{}\n".repeat(1000), 5), 6);
        assert_eq!(
            check_event_count(6, 5),
            Err(BodyError::TooManyEvents { max: 5 })
        );
        check_event_count(5, 5).unwrap();
    }

    #[test]
    fn gzip_is_decoded_within_the_limit() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz: bytes::Bytes = encoder.finish().unwrap().into();
        assert_eq!(
            decode(Some("gzip"), gz.clone(), 10_000).unwrap().len(),
            10_000
        );
        assert_eq!(
            decode(Some("gzip"), gz, 9_999).unwrap_err(),
            BodyError::TooLargeDecompressed { max: 9_999 }
        );
        assert_eq!(
            decode(Some("gzip"), bytes::Bytes::from_static(b"plain"), 100).unwrap_err(),
            BodyError::BadGzip
        );
        assert!(matches!(
            decode(Some("br"), bytes::Bytes::new(), 1),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
