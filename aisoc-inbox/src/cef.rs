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
//! Parsing is one forward pass over the line: values borrow from the input unless an escape
//! must be undone, and no input makes the work more than linear in its length.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

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

fn unescape_header(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(escaped @ ('|' | '\\')) => out.push(escaped),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn unescape_value(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('=') => out.push('='),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']' | b'-')
}

/// Splits an extension into key/value pairs in one pass.
fn parse_extension(ext: &str) -> Vec<(&str, Cow<'_, str>)> {
    let bytes = ext.as_bytes();
    // (key start, key end = index of '=') for each key found.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut run_start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            run_start = None;
            i += 2; // the escaped byte is never a key character or a separator
            continue;
        }
        if b == b'=' {
            if let Some(start) = run_start
                && (start == 0 || bytes[start - 1] == b' ')
            {
                keys.push((start, i));
            }
            run_start = None;
        } else if is_key_byte(b) {
            if run_start.is_none() {
                run_start = Some(i);
            }
        } else {
            run_start = None;
        }
        i += 1;
    }
    let mut pairs = Vec::with_capacity(keys.len());
    for (n, &(key_start, eq)) in keys.iter().enumerate() {
        let value_end = match keys.get(n + 1) {
            // The next key is preceded by exactly one separating space.
            Some(&(next_start, _)) => next_start - 1,
            None => ext.len(),
        };
        let value_start = (eq + 1).min(value_end);
        let value = ext[value_start..value_end].trim_end_matches([' ', '\t']);
        pairs.push((&ext[key_start..eq], unescape_value(value)));
    }
    pairs
}

/// Parses one CEF line.
pub fn parse_line(line: &str) -> Result<CefEvent<'_>, CefError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let marker = line.find("CEF:").ok_or(CefError::NoHeader)?;
    let prefix = line[..marker].trim();
    let rest = &line[marker + 4..];
    let bytes = rest.as_bytes();
    let mut fields: [&str; 7] = [""; 7];
    let mut field = 0;
    let mut start = 0;
    let mut i = 0;
    let mut extension_start = None;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'|' => {
                fields[field] = &rest[start..i];
                field += 1;
                start = i + 1;
                i += 1;
                if field == 7 {
                    extension_start = Some(start);
                    break;
                }
            }
            _ => i += 1,
        }
    }
    let extension_start = extension_start.ok_or(CefError::ShortHeader)?;
    let version = fields[0]
        .trim()
        .parse::<u32>()
        .map_err(|_| CefError::BadVersion)?;
    Ok(CefEvent {
        syslog_prefix: (!prefix.is_empty()).then_some(prefix),
        version,
        device_vendor: unescape_header(fields[1]),
        device_product: unescape_header(fields[2]),
        device_version: unescape_header(fields[3]),
        signature_id: unescape_header(fields[4]),
        name: unescape_header(fields[5]),
        severity: unescape_header(fields[6]),
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

/// The label key for a labelled field (`cs1` -> `cs1Label`), when `key` is one.
fn label_key(key: &str) -> Option<String> {
    LABELLED.iter().find_map(|prefix| {
        let digits = key.strip_prefix(prefix)?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("{key}Label"))
    })
}

impl CefEvent<'_> {
    /// The event as JSON for the `cef-syslog` template: header fields, `severity_id`,
    /// `extensions` (unlabelled pairs) and `labels` (labelled pairs by their label).
    pub fn to_json(&self) -> Value {
        let mut extensions = Map::new();
        for (key, value) in &self.extensions {
            extensions.insert((*key).to_owned(), Value::String(value.clone().into_owned()));
        }
        let mut labels = Map::new();
        let keys: Vec<String> = extensions.keys().cloned().collect();
        for key in keys {
            let Some(label_key) = label_key(&key) else {
                continue;
            };
            let Some(Value::String(label)) = extensions.get(&label_key).cloned() else {
                continue;
            };
            if let Some(value) = extensions.remove(&key) {
                extensions.remove(&label_key);
                labels.insert(label, value);
            }
        }
        let mut out = json!({
            "cef_version": self.version,
            "device_vendor": self.device_vendor,
            "device_product": self.device_product,
            "device_version": self.device_version,
            "signature_id": self.signature_id,
            "name": self.name,
            "severity": self.severity,
            "severity_id": severity_id(&self.severity),
            "extensions": extensions,
        });
        if !labels.is_empty() {
            out["labels"] = Value::Object(labels);
        }
        if let Some(prefix) = self.syslog_prefix {
            out["syslog_prefix"] = json!(prefix);
        }
        out
    }
}

/// Parses newline-delimited CEF; returns the events as JSON and how many lines were not CEF.
/// Invalid UTF-8 is replaced, not rejected.
pub fn parse_batch(body: &[u8]) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut dropped = 0;
    for line in body.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        match parse_line(&text) {
            Ok(event) => events.push(event.to_json()),
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
