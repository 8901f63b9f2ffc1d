//! Common Event Format (CEF) parsing.
//!
//! ```text
//! [syslog prefix ]CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
//! ```
//!
//! - A syslog prefix before `CEF:` is kept aside, not parsed as CEF.
//! - Header fields escape `\|` and `\\`; a pipe in the extension needs no escape.
//! - Extension values escape `\=`, `\\`, `\n` and `\r`; they may contain spaces and end where
//!   the next ` key=` (an unescaped `=` after a space-preceded key) begins.
//! - `csN`/`csNLabel` (and `cnN`, `cfpN`, `flexStringN`, `flexNumberN`, `deviceCustomDateN`,
//!   `c6aN`) pairs become labelled fields.
//! - Severity 0-10 or `Unknown`/`Low`/`Medium`/`High`/`Very-High` maps to an OCSF `severity_id`.
//!
//! Parsing is one forward pass over the line: the delimiters (`|`, `=`, `\\`) are found eight
//! bytes at a time (`find_either`) instead of by a loop looking at every byte, values borrow
//! from the input unless an escape must be undone (only a value in which the pass met a
//! backslash is copied; the others are not searched again), and no input makes the work more
//! than linear in its length. A batch is checked for UTF-8 once, not line by line.
//! `benches/benches/cef.rs` measures it against a `memchr` scan of the same bytes: lines are
//! short and their delimiters a dozen bytes apart, where a call to `memchr` costs more in
//! setting up than the word-at-a-time search does in searching.
//!
//! The inbox maps a parsed line to OCSF without building its JSON payload
//! ([`YamlTemplate::write_cef_json`](crate::template::YamlTemplate::write_cef_json));
//! [`CefEvent::into_json`] and [`parse_batch`] give that payload as a value.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::{memchr, memmem};
use serde_json::{Map, Number, Value};

/// Why a line is not CEF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CefError {
    /// No `CEF:` marker.
    #[error("no CEF: header")]
    NoHeader,
    /// Fewer than seven header fields.
    #[error("the CEF header has fewer than seven fields")]
    ShortHeader,
    /// The version is not a number.
    #[error("the CEF version is not a number")]
    BadVersion,
}

/// One parsed CEF line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CefEvent<'a> {
    /// Text before `CEF:` (a syslog timestamp and host), trimmed.
    pub syslog_prefix: Option<&'a str>,
    /// The CEF version.
    pub version: u32,
    /// Device vendor.
    pub device_vendor: Cow<'a, str>,
    /// Device product.
    pub device_product: Cow<'a, str>,
    /// Device version.
    pub device_version: Cow<'a, str>,
    /// Signature (event class) id.
    pub signature_id: Cow<'a, str>,
    /// Event name.
    pub name: Cow<'a, str>,
    /// Severity as written.
    pub severity: Cow<'a, str>,
    /// Extension key/value pairs, in order.
    pub extensions: Vec<(&'a str, Cow<'a, str>)>,
}

/// Undoes the escapes of a header field (`\|`, `\\`); other backslashes stay.
fn unescape_header(raw: &str) -> Cow<'_, str> {
    unescape(raw, |escaped| {
        matches!(escaped, '|' | '\\').then_some(escaped)
    })
}

/// Undoes the escapes of an extension value (`\=`, `\\`, `\n`, `\r`); other backslashes stay.
fn unescape_value(raw: &str) -> Cow<'_, str> {
    unescape(raw, |escaped| match escaped {
        '=' | '\\' => Some(escaped),
        'n' => Some('\n'),
        'r' => Some('\r'),
        _ => None,
    })
}

/// `raw` with each backslash and the character after it replaced by `escape(character)`, or
/// kept as they are where that is `None`; borrowed when there is no backslash.
fn unescape(raw: &str, escape: impl Fn(char) -> Option<char>) -> Cow<'_, str> {
    let Some(first) = memchr(b'\\', raw.as_bytes()) else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    let mut at = first;
    loop {
        out.push_str(&rest[..at]);
        let mut chars = rest[at + 1..].chars();
        match chars.next() {
            Some(escaped) => {
                match escape(escaped) {
                    Some(unescaped) => out.push(unescaped),
                    None => {
                        out.push('\\');
                        out.push(escaped);
                    }
                }
                rest = chars.as_str();
            }
            None => {
                out.push('\\');
                rest = "";
            }
        }
        match memchr(b'\\', rest.as_bytes()) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The bytes a key is made of: ASCII letters and digits, `_`, `.`, `[`, `]` and `-`.
const KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']' | b'-');
        byte += 1;
    }
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The position of the first `a` or `b` in `bytes` at or after `from`, looked for eight bytes
/// at a time.
///
/// In each word, a byte equal to `a` turns `word ^ a…a` into a zero byte, and
/// `(x - 0x01…01) & !x & 0x80…80` sets the high bit of every zero byte of `x` (and possibly of
/// bytes after one, through the borrow; never before): the lowest bit set is the first match.
/// Delimiters in a CEF line are a dozen bytes apart, where this beats a call to `memchr`.
#[inline]
fn find_either(bytes: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    let (a_bytes, b_bytes) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let (xa, xb) = (word ^ a_bytes, word ^ b_bytes);
        let zero = (xa.wrapping_sub(ONES) & !xa | xb.wrapping_sub(ONES) & !xb) & HIGHS;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    tail.iter()
        .position(|&c| c == a || c == b)
        .map(|found| at + found)
}

/// Splits an extension into key/value pairs in one pass.
///
/// A key is the run of key characters just before an unescaped `=`, preceded by a space or
/// the start of the extension. The pass jumps from one `=` or `\` to the next (a backslash
/// escapes the byte after it, and marks the value it is in as one to unescape); the run is
/// found by stepping back from the `=`, which never steps past the previous `=` or `\`
/// (neither is a key character), so every byte is looked at a bounded number of times.
fn parse_extension(ext: &str) -> Vec<(&str, Cow<'_, str>)> {
    let bytes = ext.as_bytes();
    // Room for an ordinary line's pairs at once (a pair is rarely under 8 bytes), without
    // growing it three times; a long extension grows as it needs.
    let mut pairs = Vec::with_capacity((bytes.len() / 8).min(16));
    // The key being read: (key start, index of its '=').
    let mut current: Option<(usize, usize)> = None;
    // Whether the current value has a backslash.
    let mut escaped = false;
    let mut i = 0;
    while let Some(at) = find_either(bytes, i, b'=', b'\\') {
        if bytes[at] == b'\\' {
            // The escaped byte is never a key character or a separator.
            escaped = true;
            i = at + 2;
            continue;
        }
        let mut start = at;
        while start > 0 && KEY_BYTES[usize::from(bytes[start - 1])] {
            start -= 1;
        }
        if start < at && (start == 0 || bytes[start - 1] == b' ') {
            if let Some(previous) = current {
                // The next key is preceded by exactly one separating space.
                pairs.push(pair(ext, previous, start - 1, escaped));
            }
            current = Some((start, at));
            escaped = false;
        }
        i = at + 1;
    }
    if let Some(last) = current {
        pairs.push(pair(ext, last, ext.len(), escaped));
    }
    pairs
}

/// The pair whose key spans `key` (start, index of its `=`) and whose value ends at
/// `value_end`, trailing blanks trimmed and, when it has a backslash, escapes undone.
// Inlined: returned through memory, the pair was read back before its parts were all written
// (a stalled store forward on every pair in profiles).
#[inline(always)]
fn pair(ext: &str, key: (usize, usize), value_end: usize, escaped: bool) -> (&str, Cow<'_, str>) {
    let (key_start, eq) = key;
    let bytes = ext.as_bytes();
    let value_start = (eq + 1).min(value_end);
    let mut end = value_end;
    while end > value_start && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    let value = &ext[value_start..end];
    let value = if escaped {
        unescape_value(value)
    } else {
        Cow::Borrowed(value)
    };
    (&ext[key_start..eq], value)
}

/// A header field with its escapes undone, when the pass met a backslash in it.
fn header_field((text, escaped): (&str, bool)) -> Cow<'_, str> {
    if escaped {
        unescape_header(text)
    } else {
        Cow::Borrowed(text)
    }
}

/// Finds `CEF:`; built once, as building a finder for each line showed in profiles.
static CEF_MARKER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"CEF:"));

/// Parses one CEF line.
pub fn parse_line(line: &str) -> Result<CefEvent<'_>, CefError> {
    let mut end = line.len();
    while end > 0 && matches!(line.as_bytes()[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    let line = &line[..end];
    let marker = if line.starts_with("CEF:") {
        0
    } else {
        CEF_MARKER.find(line.as_bytes()).ok_or(CefError::NoHeader)?
    };
    let prefix = line[..marker].trim();
    let rest = &line[marker + 4..];
    let bytes = rest.as_bytes();
    // Each field, and whether it has a backslash.
    let mut fields: [(&str, bool); 7] = [("", false); 7];
    let mut field = 0;
    let mut start = 0;
    let mut escaped = false;
    let mut i = 0;
    let mut extension_start = None;
    while let Some(at) = find_either(bytes, i, b'|', b'\\') {
        if bytes[at] == b'\\' {
            escaped = true;
            i = at + 2;
            continue;
        }
        fields[field] = (&rest[start..at], escaped);
        escaped = false;
        field += 1;
        start = at + 1;
        i = at + 1;
        if field == 7 {
            extension_start = Some(start);
            break;
        }
    }
    let extension_start = extension_start.ok_or(CefError::ShortHeader)?;
    let version = match fields[0].0.as_bytes() {
        [digit @ b'0'..=b'9'] => u32::from(digit - b'0'),
        _ => fields[0]
            .0
            .trim()
            .parse::<u32>()
            .map_err(|_| CefError::BadVersion)?,
    };
    Ok(CefEvent {
        syslog_prefix: (!prefix.is_empty()).then_some(prefix),
        version,
        device_vendor: header_field(fields[1]),
        device_product: header_field(fields[2]),
        device_version: header_field(fields[3]),
        signature_id: header_field(fields[4]),
        name: header_field(fields[5]),
        severity: header_field(fields[6]),
        extensions: parse_extension(&rest[extension_start.min(rest.len())..]),
    })
}

/// The OCSF `severity_id` for a CEF severity: 0-3 low, 4-6 medium, 7-8 high, 9-10 critical;
/// or the names `Unknown`, `Low`, `Medium`, `High`, `Very-High`.
pub fn severity_id(severity: &str) -> u8 {
    let severity = severity.trim();
    if let Ok(n) = severity.parse::<u8>() {
        return match n {
            0..=3 => 2,
            4..=6 => 3,
            7..=8 => 4,
            9..=10 => 5,
            _ => 99,
        };
    }
    match severity.to_ascii_lowercase().as_str() {
        "unknown" => 0,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "very-high" | "very high" | "veryhigh" => 5,
        _ => 99,
    }
}

const LABELLED: [&str; 7] = [
    "cs",
    "cn",
    "cfp",
    "flexString",
    "flexNumber",
    "deviceCustomDate",
    "c6a",
];

/// Whether `key` is a labelled field (`cs1`, whose label is under `cs1Label`).
pub(crate) fn is_labelled(key: &str) -> bool {
    // Most keys are not: they do not end in a digit.
    if !key.as_bytes().last().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    LABELLED.iter().any(|prefix| {
        key.strip_prefix(prefix)
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn text(value: Cow<'_, str>) -> Value {
    Value::String(value.into_owned())
}

impl CefEvent<'_> {
    /// The event as JSON for the `cef-syslog` template: header fields, `severity_id`,
    /// `extensions` (unlabelled pairs) and `labels` (labelled pairs by their label).
    pub fn to_json(&self) -> Value {
        self.clone().into_json()
    }

    /// [`to_json`](Self::to_json), moving the fields instead of copying them.
    pub fn into_json(self) -> Value {
        // Labelled keys in key order, as the labels are assigned in that order (a later key's
        // label wins a clash); collected before `extensions` takes the pairs.
        let mut labelled: Vec<&str> = self
            .extensions
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| is_labelled(key))
            .collect();
        labelled.sort_unstable();
        labelled.dedup();
        let mut extensions = Map::new();
        for (key, value) in self.extensions {
            // A repeated key keeps its last value.
            extensions.insert(key.to_owned(), text(value));
        }
        let mut labels = Map::new();
        let mut label_key = String::new();
        for key in labelled {
            label_key.clear();
            label_key.push_str(key);
            label_key.push_str("Label");
            let Some(Value::String(_)) = extensions.get(&label_key) else {
                continue;
            };
            if let Some(value) = extensions.remove(key)
                && let Some(Value::String(label)) = extensions.remove(&label_key)
            {
                labels.insert(label, value);
            }
        }
        let severity_id = severity_id(&self.severity);
        let mut out = Map::new();
        out.insert(
            "cef_version".into(),
            Value::Number(Number::from(self.version)),
        );
        out.insert("device_vendor".into(), text(self.device_vendor));
        out.insert("device_product".into(), text(self.device_product));
        out.insert("device_version".into(), text(self.device_version));
        out.insert("signature_id".into(), text(self.signature_id));
        out.insert("name".into(), text(self.name));
        out.insert("severity".into(), text(self.severity));
        out.insert(
            "severity_id".into(),
            Value::Number(Number::from(severity_id)),
        );
        out.insert("extensions".into(), Value::Object(extensions));
        if !labels.is_empty() {
            out.insert("labels".into(), Value::Object(labels));
        }
        if let Some(prefix) = self.syslog_prefix {
            out.insert("syslog_prefix".into(), Value::String(prefix.to_owned()));
        }
        Value::Object(out)
    }
}

/// A CEF body as text: borrowed when it is UTF-8 (checked once for the whole body), else with
/// each invalid sequence replaced. Replacing line by line gives the same text: a line end is
/// never part of a character.
pub fn body_text(body: &[u8]) -> Cow<'_, str> {
    // `from_utf8` checks a word at a time; `from_utf8_lossy` is several times slower on text
    // that needs no replacement.
    match std::str::from_utf8(body) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(body),
    }
}

/// The lines of a CEF body's text that are not blank, without their line end.
pub fn lines(text: &str) -> Lines<'_> {
    Lines { rest: Some(text) }
}

/// The lines of a CEF body's text that are not blank ([`lines`]).
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = self.rest?;
            let line = match memchr(b'\n', rest.as_bytes()) {
                Some(end) => {
                    // Split at '\n', so each line is whole characters.
                    self.rest = Some(&rest[end + 1..]);
                    &rest[..end]
                }
                None => {
                    self.rest = None;
                    rest
                }
            };
            if !line.bytes().all(|b| b.is_ascii_whitespace()) {
                return Some(line);
            }
        }
    }
}

/// Parses newline-delimited CEF; returns the events as JSON and how many lines were not CEF.
/// Invalid UTF-8 is replaced, not rejected.
///
/// These are the payloads a template written in code is given. The inbox maps lines for a
/// YAML template without building them: [`parse_line`] and then
/// [`YamlTemplate::write_cef_json`](crate::template::YamlTemplate::write_cef_json), which
/// writes the same OCSF as mapping these values.
pub fn parse_batch(body: &[u8]) -> (Vec<Value>, usize) {
    let text = body_text(body);
    let mut events = Vec::new();
    let mut dropped = 0;
    for line in lines(&text) {
        match parse_line(line) {
            Ok(event) => events.push(event.into_json()),
            Err(_) => dropped += 1,
        }
    }
    (events, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext<'a>(event: &'a CefEvent<'_>, key: &str) -> Option<&'a str> {
        event
            .extensions
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }

    #[test]
    fn golden_1_escaped_pipe_newline_and_equals() {
        let e = parse_line(r"CEF:0|security|threatmanager|1.0|100|Detected a \| in message. No action needed.|10|src=10.0.0.1 msg=Detected a threat.\n No action needed act=blocked a \= dst=1.1.1.1").unwrap();
        assert_eq!(e.name, "Detected a | in message. No action needed.");
        assert_eq!(
            ext(&e, "msg"),
            Some("Detected a threat.\n No action needed")
        );
        assert_eq!(ext(&e, "act"), Some("blocked a ="));
        assert_eq!(ext(&e, "dst"), Some("1.1.1.1"));
        assert_eq!(ext(&e, "src"), Some("10.0.0.1"));
        assert_eq!(e.severity, "10");
        assert_eq!(severity_id(&e.severity), 5);
    }

    #[test]
    fn golden_2_syslog_prefix_kept_aside() {
        let e = parse_line("Sep 29 08:26:10 host CEF:1|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232").unwrap();
        assert_eq!(e.version, 1);
        assert_eq!(e.syslog_prefix, Some("Sep 29 08:26:10 host"));
        assert_eq!(ext(&e, "spt"), Some("1232"));
        assert_eq!(e.device_vendor, "Security");
    }

    #[test]
    fn golden_3_escaped_backslashes() {
        let e = parse_line(r"CEF:1|Security|threatmanager|1.0|100|worm successfully stopped|10|dst=2.1.2.2 path=\\home\\ spt=1232").unwrap();
        assert_eq!(ext(&e, "path"), Some(r"\home\"));
        assert_eq!(ext(&e, "spt"), Some("1232"));
    }

    #[test]
    fn golden_4_values_with_spaces_and_escaped_equals() {
        let e = parse_line(r"CEF:0|security|threatmanager|1.0|100|trojan successfully stopped|10|go=start now query_string=key1\=value1&key2\=value3 aa.bc&key3\=value4 final=done").unwrap();
        assert_eq!(ext(&e, "go"), Some("start now"));
        assert_eq!(
            ext(&e, "query_string"),
            Some("key1=value1&key2=value3 aa.bc&key3=value4")
        );
        assert_eq!(ext(&e, "final"), Some("done"));
    }

    #[test]
    fn golden_5_pipe_in_extension() {
        let e = parse_line("CEF:0|security|threatmanager|1.0|100|trojan successfully stopped|10|moo=this|has an pipe").unwrap();
        assert_eq!(ext(&e, "moo"), Some("this|has an pipe"));
    }

    #[test]
    fn labelled_fields_are_translated() {
        let e = parse_line(
            "CEF:0|V|P|1|1|n|Low|cs1=mfa cs1Label=auth method cn1=3 cn1Label=attempts cs2=orphan",
        )
        .unwrap();
        let json = e.to_json();
        assert_eq!(json["labels"]["auth method"], "mfa");
        assert_eq!(json["labels"]["attempts"], "3");
        assert_eq!(
            json["extensions"]["cs2"], "orphan",
            "without a label it stays as is"
        );
        assert!(json["extensions"].get("cs1Label").is_none());
        assert_eq!(json["severity_id"], 2);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert_eq!(parse_line("hello"), Err(CefError::NoHeader));
        assert_eq!(parse_line("CEF:0|a|b|c"), Err(CefError::ShortHeader));
        assert_eq!(parse_line("CEF:x|a|b|c|d|e|f|"), Err(CefError::BadVersion));
        assert!(
            parse_line("CEF:0|a|b|c|d|e|f|")
                .unwrap()
                .extensions
                .is_empty()
        );
    }
}
