//! The on-disk format. A segment file is named after the offset of its first record
//! (`00000000000000000042.events`) and holds an 8-byte magic followed by records:
//!
//! ```text
//! len    u32 LE   length of the body
//! crc    u32 LE   CRC-32 (IEEE) of the body
//! body   offset u64 LE, appended_at_ms i64 LE,
//!        tenant u16 LE + bytes, template u16 LE + bytes, msg_id u16 LE + bytes,
//!        payload (the rest)
//! ```
//!
//! The checksum is what tells a complete record from a torn one after a crash; the offset inside
//! the body is what tells a record from stale bytes in the right place.
//!
//! Zero bytes where a frame would start mark the end: the writer fills the active segment with
//! zeros ahead of its last record (as PostgreSQL does its WAL), so a commit overwrites blocks
//! the file already has and its `fdatasync` need not also write the file's size and extents.
//! No record starts with zeros: its length is at least the fixed part of the body.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::sink::SinkEvent;

/// The first bytes of every segment file.
pub(super) const MAGIC: &[u8; 8] = b"AISOCEV1";
/// The segment header's length.
pub(super) const HEADER_LEN: u64 = MAGIC.len() as u64;
/// `len` and `crc`.
const FRAME_LEN: usize = 8;
/// The body without its variable parts.
const FIXED_BODY: usize = 8 + 8 + 2 + 2 + 2;
/// The segment file suffix.
const SUFFIX: &str = ".events";

/// One record read back.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) offset: u64,
    pub(super) appended_at_ms: i64,
    pub(super) event: SinkEvent,
    /// Bytes the record takes in the file, frame included.
    pub(super) len: u64,
}

/// What the next bytes of a segment hold.
#[derive(Debug)]
pub(super) enum Next {
    /// A complete record.
    Record(Decoded),
    /// Nothing was written here: the file ends, or only zeros follow.
    End,
    /// An incomplete or damaged record: the end of what was durably written.
    Torn(&'static str),
}

/// The bytes `event` takes in a segment, or `None` when a field is over its length limit.
pub(super) fn encoded_len(event: &SinkEvent) -> Option<u64> {
    let short = |s: &str| u16::try_from(s.len()).is_ok();
    if !(short(&event.tenant_id) && short(&event.template_id) && short(&event.msg_id)) {
        return None;
    }
    let body = FIXED_BODY
        + event.tenant_id.len()
        + event.template_id.len()
        + event.msg_id.len()
        + event.payload.len();
    u32::try_from(body).ok()?;
    Some((FRAME_LEN + body) as u64)
}

/// Appends the record for `event` at `offset` to `out`; `encoded_len` must have accepted it.
pub(super) fn encode(offset: u64, appended_at_ms: i64, event: &SinkEvent, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_LEN]);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&appended_at_ms.to_le_bytes());
    for field in [&event.tenant_id, &event.template_id, &event.msg_id] {
        out.extend_from_slice(&(field.len() as u16).to_le_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(&event.payload);
    let body = &out[start + FRAME_LEN..];
    let len = (body.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(body).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
}

/// Reads as many bytes as are there, up to `buf.len()`.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads the next record; `remaining` is how many bytes the file has after the reader's
/// position, so a damaged length never makes it allocate more than the file holds.
pub(super) fn read_next(reader: &mut impl Read, remaining: u64) -> io::Result<Next> {
    let mut frame = [0u8; FRAME_LEN];
    let read = read_up_to(reader, &mut frame)?;
    if frame[..read].iter().all(|&b| b == 0) {
        return Ok(Next::End);
    }
    if read < FRAME_LEN {
        return Ok(Next::Torn("the record header is cut short"));
    }
    let len = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(frame[4..].try_into().expect("4 bytes"));
    if len < FIXED_BODY {
        return Ok(Next::Torn("the record length is too small"));
    }
    if (len as u64) > remaining.saturating_sub(FRAME_LEN as u64) {
        return Ok(Next::Torn("the record runs past the end of the file"));
    }
    let mut body = vec![0u8; len];
    if read_up_to(reader, &mut body)? < len {
        return Ok(Next::Torn("the record body is cut short"));
    }
    if crc32fast::hash(&body) != crc {
        return Ok(Next::Torn("the record checksum does not match"));
    }
    Ok(decode_body(body).map_or(Next::Torn("the record fields do not fit"), Next::Record))
}

fn decode_body(body: Vec<u8>) -> Option<Decoded> {
    let len = (FRAME_LEN + body.len()) as u64;
    let offset = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let appended_at_ms = i64::from_le_bytes(body.get(8..16)?.try_into().ok()?);
    let mut at = 16;
    let mut field = || -> Option<String> {
        let n = u16::from_le_bytes(body.get(at..at + 2)?.try_into().ok()?) as usize;
        let text = std::str::from_utf8(body.get(at + 2..at + 2 + n)?).ok()?;
        at += 2 + n;
        Some(text.to_owned())
    };
    let tenant_id = field()?;
    let template_id = field()?;
    let msg_id = field()?;
    let payload = Bytes::from(body).slice(at..);
    Some(Decoded {
        offset,
        appended_at_ms,
        event: SinkEvent {
            tenant_id,
            template_id,
            msg_id,
            // Read back, the id is a stored one: whatever passes the event on again sends
            // the same id, and a sink it goes to keeps it once.
            dedupe: true,
            payload,
        },
        len,
    })
}

/// The file name of the segment whose first record is `base`.
pub(super) fn segment_name(base: u64) -> String {
    format!("{base:020}{SUFFIX}")
}

/// The segments in `dir`, oldest first; other files are left alone.
pub(super) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if stem.len() == 20
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(base) = stem.parse()
        {
            segments.push((base, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(msg_id: &str, payload: &str) -> SinkEvent {
        SinkEvent {
            tenant_id: "acme".into(),
            template_id: "generic-json".into(),
            msg_id: msg_id.into(),
            dedupe: true,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
        }
    }

    #[test]
    fn a_record_reads_back_as_written_and_its_length_is_predicted() {
        let original = event("m-1", r#"{"title":"x"}"#);
        let mut bytes = Vec::new();
        encode(42, 1_700_000_000_000, &original, &mut bytes);
        assert_eq!(Some(bytes.len() as u64), encoded_len(&original));
        let Next::Record(decoded) = read_next(&mut bytes.as_slice(), bytes.len() as u64).unwrap()
        else {
            panic!("a whole record");
        };
        assert_eq!(decoded.offset, 42);
        assert_eq!(decoded.appended_at_ms, 1_700_000_000_000);
        assert_eq!(decoded.event, original);
        assert_eq!(decoded.len, bytes.len() as u64);
    }

    #[test]
    fn every_cut_and_every_flipped_bit_of_a_record_reads_as_torn() {
        let mut bytes = Vec::new();
        encode(7, 0, &event("m-7", "payload"), &mut bytes);
        for cut in 1..bytes.len() {
            let partial = &bytes[..cut];
            assert!(
                matches!(
                    read_next(&mut &partial[..], cut as u64).unwrap(),
                    Next::Torn(_)
                ),
                "cut at {cut}"
            );
        }
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(
                    read_next(&mut damaged.as_slice(), damaged.len() as u64).unwrap(),
                    Next::Torn(_)
                ),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn zeros_after_the_last_record_read_as_the_end_however_many_there_are() {
        let mut bytes = Vec::new();
        encode(3, 0, &event("m-3", "payload"), &mut bytes);
        let record_len = bytes.len();
        for zeros in [0, 1, 7, 8, 4096] {
            let mut file = bytes.clone();
            file.resize(record_len + zeros, 0);
            let mut reader = file.as_slice();
            let remaining = file.len() as u64;
            assert!(matches!(
                read_next(&mut reader, remaining).unwrap(),
                Next::Record(_)
            ));
            assert!(
                matches!(read_next(&mut reader, zeros as u64).unwrap(), Next::End),
                "{zeros} zeros"
            );
        }
    }

    #[test]
    fn a_field_longer_than_its_length_prefix_is_refused_before_encoding() {
        let mut long = event("m", "{}");
        long.msg_id = "k".repeat(usize::from(u16::MAX) + 1);
        assert_eq!(encoded_len(&long), None);
    }
}
