//! The CEF parser against the implementation it replaced (issue #17 made it `memchr`-based):
//! for any line and any batch, the same fields, the same JSON and the same dropped count.
//! `reference` is the earlier byte-at-a-time parser, kept verbatim as the oracle.

use aisoc_inbox::cef;
use proptest::prelude::*;

#[allow(dead_code, unreachable_pub, clippy::all)]
mod reference {
    use std::borrow::Cow;

    use serde_json::{Map, Value, json};

    /// Why a line is not CEF.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    #[non_exhaustive]
    pub(crate) enum CefError {
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
    pub(crate) struct CefEvent<'a> {
        /// Text before `CEF:` (a syslog timestamp and host), trimmed.
        pub(crate) syslog_prefix: Option<&'a str>,
        /// The CEF version.
        pub(crate) version: u32,
        /// Device vendor.
        pub(crate) device_vendor: Cow<'a, str>,
        /// Device product.
        pub(crate) device_product: Cow<'a, str>,
        /// Device version.
        pub(crate) device_version: Cow<'a, str>,
        /// Signature (event class) id.
        pub(crate) signature_id: Cow<'a, str>,
        /// Event name.
        pub(crate) name: Cow<'a, str>,
        /// Severity as written.
        pub(crate) severity: Cow<'a, str>,
        /// Extension key/value pairs, in order.
        pub(crate) extensions: Vec<(&'a str, Cow<'a, str>)>,
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
    pub(crate) fn parse_line(line: &str) -> Result<CefEvent<'_>, CefError> {
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
    pub(crate) fn severity_id(severity: &str) -> u8 {
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
        pub(crate) fn to_json(&self) -> Value {
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
    pub(crate) fn parse_batch(body: &[u8]) -> (Vec<Value>, usize) {
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
}

fn same_line(line: &str) -> Result<(), TestCaseError> {
    match (cef::parse_line(line), reference::parse_line(line)) {
        (Ok(new), Ok(old)) => {
            prop_assert_eq!(new.syslog_prefix, old.syslog_prefix);
            prop_assert_eq!(new.version, old.version);
            prop_assert_eq!(&new.device_vendor, &old.device_vendor);
            prop_assert_eq!(&new.device_product, &old.device_product);
            prop_assert_eq!(&new.device_version, &old.device_version);
            prop_assert_eq!(&new.signature_id, &old.signature_id);
            prop_assert_eq!(&new.name, &old.name);
            prop_assert_eq!(&new.severity, &old.severity);
            prop_assert_eq!(&new.extensions, &old.extensions);
            prop_assert_eq!(new.to_json(), old.to_json());
        }
        (Err(new), Err(old)) => prop_assert_eq!(format!("{new:?}"), format!("{old:?}")),
        (new, old) => prop_assert!(false, "{line:?}: {new:?} vs {old:?}"),
    }
    Ok(())
}

fn same_batch(body: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(cef::parse_batch(body), reference::parse_batch(body));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn cef_shaped_lines_parse_as_before(
        prefix in "[a-zA-Z0-9: ]{0,12}",
        header in "CEF:[0-9x ]{0,2}(\\|[a-zA-Z\\\\|= ]{0,8}){0,9}",
        extension in "([a-zA-Z0-9_\\\\= |.\\[\\]\t-]{0,12}){0,30}",
        labels in "( (cs|cn|cfp|flexString|c6a)[0-9]{1,2}(Label)?=[a-z ]{0,6}){0,6}",
    ) {
        same_line(&format!("{prefix}{header}{extension}{labels}"))?;
    }

    #[test]
    fn arbitrary_text_parses_as_before(line in "\\PC{0,200}") {
        same_line(&line)?;
        same_line(&format!("CEF:0|a|b|c|d|e|f|{line}"))?;
    }

    #[test]
    fn arbitrary_batches_parse_as_before(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        same_batch(&body)?;
    }

    #[test]
    fn batches_of_cef_lines_parse_as_before(
        lines in proptest::collection::vec("(junk|[ \\t\\r]*|CEF:0\\|v\\|p\\|1\\|s\\|n\\|[0-9]{1,2}\\|[a-z]{1,3}=[a-z\\\\= ]{0,9}( cs1=x cs1Label=y)?)\\r?", 0..20),
    ) {
        same_batch(lines.join("\n").as_bytes())?;
    }
}

#[test]
fn the_golden_lines_parse_as_before() {
    for line in [
        r"CEF:0|security|threatmanager|1.0|100|Detected a \| in message. No action needed.|10|src=10.0.0.1 msg=Detected a threat.\n No action needed act=blocked a \= dst=1.1.1.1",
        "Sep 29 08:26:10 host CEF:1|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
        r"CEF:1|Security|threatmanager|1.0|100|worm successfully stopped|10|dst=2.1.2.2 path=\\home\\ spt=1232",
        r"CEF:0|security|threatmanager|1.0|100|trojan successfully stopped|10|go=start now query_string=key1\=value1&key2\=value3 aa.bc&key3\=value4 final=done",
        "CEF:0|V|P|1|1|n|Low|cs1=mfa cs1Label=auth method cn1=3 cn1Label=attempts cs2=orphan cs1=again",
        r"CEF:0|v|p|1|s|n|5|path=C:\temp\",
        r"CEF:0|v|p|1|s|n\",
        r"CEF:0|v|p|1|s|n|5|\ a=1 \a=2 b\xa=3 x \\a=4 k=v=w =x",
        "CEF:0|a|b|c|d|e|f|",
    ] {
        same_line(line).unwrap();
    }
    same_batch(b"CEF:0|v\xff|p|1|s|n|5|msg=caf\xe9\n\xff\xfe\n  \r\nCEF:0|v|p|1|s|n|5|a=b")
        .unwrap();
}
