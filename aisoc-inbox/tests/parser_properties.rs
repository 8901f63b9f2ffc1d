//! Property tests for the CEF parser and the HEC body splitter: any input returns (never
//! panics), and hostile inputs are handled in one pass.

use aisoc_inbox::{cef, hec};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cef_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = cef::parse_batch(&body);
    }

    #[test]
    fn cef_never_panics_on_cef_shaped_text(
        header in "CEF:[0-9]{1,2}(\\|[a-z\\\\|= ]{0,8}){0,9}",
        extension in "([a-zA-Z0-9\\\\= |.\\[\\]]{0,12}){0,40}",
    ) {
        let line = format!("{header}{extension}");
        if let Ok(event) = cef::parse_line(&line) {
            // Every key is non-empty and made of key characters.
            for (key, _) in &event.extensions {
                prop_assert!(!key.is_empty());
            }
            let _ = event.to_json();
        }
    }

    #[test]
    fn hec_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = hec::parse_events(&body);
        let _ = hec::parse_raw(&body, &serde_json::Map::new());
    }

    #[test]
    fn hec_splits_any_number_of_valid_events(n in 1usize..50, separator in "[ \n\t]{0,3}") {
        let body: String = (0..n).map(|i| format!("{{\"event\":\"e{i}\"}}")).collect::<Vec<_>>().join(&separator);
        let events = hec::parse_events(body.as_bytes()).unwrap();
        prop_assert_eq!(events.len(), n);
    }
}

#[test]
fn hostile_cef_lines_return() {
    let long = format!("CEF:0|v|p|1|s|n|5|msg={}", "x".repeat(1024 * 1024));
    let event = cef::parse_line(&long).unwrap();
    assert_eq!(event.extensions[0].1.len(), 1024 * 1024);

    let equals = format!("CEF:0|v|p|1|s|n|5|a={}", "=".repeat(10_000));
    let event = cef::parse_line(&equals).unwrap();
    assert_eq!(
        event.extensions.len(),
        1,
        "bare '=' signs are value text, not keys"
    );

    let keys = format!("CEF:0|v|p|1|s|n|5|{}", "k=v ".repeat(10_000));
    assert_eq!(cef::parse_line(&keys).unwrap().extensions.len(), 10_000);

    let trailing = r"CEF:0|v|p|1|s|n|5|path=C:\temp\";
    assert_eq!(
        cef::parse_line(trailing).unwrap().extensions[0].1,
        r"C:\temp\"
    );
    assert!(cef::parse_line(r"CEF:0|v|p|1|s|n\").is_err());

    let mut non_utf8 = b"CEF:0|v\xff|p|1|s|n|5|msg=caf\xe9\n".to_vec();
    non_utf8.extend_from_slice(b"\xff\xfe\n");
    let (events, dropped) = cef::parse_batch(&non_utf8);
    assert_eq!((events.len(), dropped), (1, 1));
    assert_eq!(events[0]["device_vendor"], "v\u{fffd}");
}
