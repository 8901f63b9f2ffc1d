//! Strings and integers written as JSON text, the way `serde_json` writes them, without its
//! serializer for the common cases: most of what an event holds is short text with nothing
//! to escape, and integers.

use serde::Serialize;

/// A JSON string: copied between quotes when nothing in it needs an escape (a control
/// character, `"` or `\\`), else escaped by `serde_json`.
pub(in crate::template) fn write_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    if needs_escape(text.as_bytes()) {
        return text.serialize(&mut serde_json::Serializer::new(out));
    }
    // Room for `extend_short`'s 16-byte pieces too.
    out.reserve(text.len().max(16) + 2);
    out.push(b'"');
    extend_short(out, text.as_bytes());
    out.push(b'"');
    Ok(())
}

/// `out.extend_from_slice(bytes)`, with strings of up to 16 bytes (most of what an event
/// holds) copied as two fixed-size, overlapping pieces instead of by a call to `memcpy`, whose
/// cost showed in profiles for such short copies.
#[inline]
fn extend_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len();
    if !(4..=16).contains(&len) {
        out.extend_from_slice(bytes);
        return;
    }
    let start = out.len();
    out.extend_from_slice(&[0; 16]);
    let room = &mut out[start..start + len];
    if len >= 8 {
        room[..8].copy_from_slice(&bytes[..8]);
        room[len - 8..].copy_from_slice(&bytes[len - 8..]);
    } else {
        room[..4].copy_from_slice(&bytes[..4]);
        room[len - 4..].copy_from_slice(&bytes[len - 4..]);
    }
    out.truncate(start + len);
}

/// Whether `bytes` has a byte JSON must escape (below 0x20, `"` or `\\`), looked for eight
/// bytes at a time (the last eight overlapping the word before; a short string in one word).
pub(super) fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Non-zero when a byte of `x` is below `n` (n <= 128).
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    let escapable = |x: u64| {
        below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
            != 0
    };
    let half = |at: usize| {
        let mut half = [0u8; 4];
        half.copy_from_slice(&bytes[at..at + 4]);
        u64::from(u32::from_le_bytes(half))
    };
    let len = bytes.len();
    let Some(last) = len.checked_sub(8) else {
        // Most strings are short (keys, ports, addresses): one word, from two overlapping
        // halves, or from the first, middle and last bytes padded with a plain one.
        let word = match len {
            0 => return false,
            1..=3 => {
                0x6161_6161_6100_0000
                    | u64::from(bytes[0])
                    | u64::from(bytes[len / 2]) << 8
                    | u64::from(bytes[len - 1]) << 16
            }
            _ => half(0) | half(len - 4) << 32,
        };
        return escapable(word);
    };
    let word = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let mut at = 0;
    while at < last {
        if escapable(word(at)) {
            return true;
        }
        at += 8;
    }
    escapable(word(last))
}

/// An integer in decimal, as `serde_json` writes it (with the same `itoa`).
pub(in crate::template) fn write_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}
