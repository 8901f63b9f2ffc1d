//! Fuzzing the parsers of untrusted input in core: callback tokens (what a button URL carries)
//! and webhook signature headers (what [`WebhookVerifier`] reads before any body is parsed).
//!
//! Every property feeds both arbitrary text and structure-aware mutations of real values (a
//! minted token, headers a [`WebhookSigner`] wrote) through the public entry points the HTTP
//! routes call. They hold when nothing panics, every refusal is a typed error, and, where it
//! means something, nothing but the genuine signature is ever accepted.
//!
//! The case count keeps this file to a couple of seconds in debug builds. Proptest reads
//! `PROPTEST_CASES` on top of the configured count, so a longer run is:
//! `PROPTEST_CASES=100000 cargo test -p aisoc-notify-core --test fuzz --release`

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::signature::{
    SignatureError, SignatureScheme, WebhookSigner, WebhookVerifier, hmac_sha256,
};
use aisoc_notify_core::token::{
    CallbackGrant, CallbackTokenSigner, HmacCallbackTokenSigner, TokenError,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property; `PROPTEST_CASES` overrides it.
const CASES: u32 = 256;
const NOW: i64 = 1_800_000_000;
const KEY_ID: &str = "k1";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn token_signer() -> HmacCallbackTokenSigner {
    HmacCallbackTokenSigner::new(KEY_ID, SECRET.to_vec())
        .unwrap()
        .with_clock(Arc::new(ManualClock::at_unix(NOW)))
}

/// One token minted at start (each mint has a fresh id, so it is minted once).
static MINTED: LazyLock<String> = LazyLock::new(|| {
    let grant = CallbackGrant {
        action: "chatops.verify".into(),
        case_id: "case-42".into(),
        tenant_id: "acme".into(),
        user_ref: "alice@example.com".into(),
        choice: "deny".into(),
        prompt_id: Some("p1".into()),
    };
    token_signer().mint(&grant).unwrap().token
});

/// A token for arbitrary claim bytes, signed with the right key: what an attacker cannot
/// make, and what a signer bug could, so the claim decoder is fuzzed past the tag check.
fn authentic_token(claims: &[u8]) -> String {
    let payload = URL_SAFE_NO_PAD.encode(claims);
    let signed = format!("v1.{KEY_ID}.{payload}");
    let tag = hmac_sha256(SECRET, signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// One structure-aware change to a byte string; positions scale with its length.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Duplicate(Index, usize, usize),
    Replace(Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<Index>(), 1usize..32).prop_map(|(at, n)| Edit::Remove(at, n)),
        (any::<Index>(), 1usize..64, 1usize..64)
            .prop_map(|(at, n, times)| Edit::Duplicate(at, n, times)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
    ]
}

fn apply(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = base.to_vec();
    for edit in edits {
        let at = |i: &Index| i.index(out.len() + 1);
        match edit {
            Edit::Truncate(i) => out.truncate(at(i)),
            Edit::Insert(i, bytes) => {
                let at = at(i);
                out.splice(at..at, bytes.iter().copied());
            }
            Edit::Remove(i, n) => {
                let at = at(i);
                out.drain(at..(at + n).min(out.len()));
            }
            Edit::Duplicate(i, n, times) => {
                let at = at(i);
                let piece = out[at..(at + n).min(out.len())].to_vec();
                let copies = piece.repeat(*times);
                out.splice(at..at, copies);
            }
            Edit::Replace(i, b) if !out.is_empty() => {
                let at = i.index(out.len());
                out[at] = *b;
            }
            Edit::Replace(..) => {}
        }
    }
    out
}

fn mutated(base: &[u8]) -> impl Strategy<Value = Vec<u8>> + use<> {
    let base = base.to_vec();
    proptest::collection::vec(edit(), 1..4).prop_map(move |edits| apply(&base, &edits))
}

/// JSON-shaped text, from a grammar of fragments: nesting, strings, escapes, numbers.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"act\"".to_owned()),
        Just("\"exp\"".to_owned()),
        Just("\"jti\"".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("1e999999".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("null".to_owned()),
        "\"[a-z\\\\\"]{0,8}\"",
        "-?[0-9]{1,25}(\\.[0-9]{1,5})?",
    ];
    proptest::collection::vec(fragment, 0..64).prop_map(|parts| parts.concat().into_bytes())
}

fn header_map(pairs: &[(HeaderName, Vec<u8>)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        // The HTTP layer never hands over a value with control bytes; neither does this.
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name.clone(), value);
        }
    }
    headers
}

fn signature_header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        Just(HeaderName::from_static("webhook-id")),
        Just(HeaderName::from_static("webhook-timestamp")),
        Just(HeaderName::from_static("webhook-signature")),
        Just(HeaderName::from_static("x-pagerduty-signature")),
        Just(HeaderName::from_static("x-aisoc-signature")),
        Just(HeaderName::from_static("x-hub-signature-256")),
        Just(HeaderName::from_static("x-signature")),
    ]
}

/// Header values the way senders write them, and the way attackers bend them.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..96),
        "(sha256=|v1=|v1,|v1a,| |,)?[0-9a-fA-F+/=]{0,80}".prop_map(String::into_bytes),
        "(v1=[0-9a-f]{64},?){0,6}".prop_map(String::into_bytes),
        "(v1,[A-Za-z0-9+/]{43}= ?){0,6}".prop_map(String::into_bytes),
        "[+-]?[0-9]{0,22}".prop_map(String::into_bytes),
        Just(vec![b'a'; 5000]),
    ]
}

fn verifier() -> WebhookVerifier {
    WebhookVerifier::new(WEBHOOK_SECRET)
        .with_clock(Arc::new(ManualClock::at_unix(NOW)))
        .with_tolerance(Duration::from_secs(300))
}

/// Headers `scheme`'s signer writes for `body`, sent now.
fn signed_headers(scheme: SignatureScheme, body: &[u8]) -> Vec<(HeaderName, Vec<u8>)> {
    WebhookSigner::new(scheme, WEBHOOK_SECRET)
        .unwrap()
        .headers(body, "msg_1", NOW)
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect()
}

fn scheme() -> impl Strategy<Value = SignatureScheme> {
    proptest::sample::select(SignatureScheme::ALL.to_vec())
}

/// The signature text inside a header value, lower-cased hex or base64 as written.
fn signature_part(scheme: SignatureScheme, value: &str) -> String {
    match scheme {
        SignatureScheme::StandardWebhooks => value.trim_start_matches("v1,").to_owned(),
        SignatureScheme::PagerDuty => value.trim_start_matches("v1=").to_owned(),
        _ => value.trim_start_matches("sha256=").to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_text_is_never_a_valid_callback_token(token in ".{0,200}|[a-zA-Z0-9_.-]{0,300}") {
        let result = token_signer().verify(&token);
        prop_assert!(result.is_err(), "accepted {token:?}");
    }

    #[test]
    fn a_minted_token_changed_in_any_way_is_refused(bytes in mutated(MINTED.as_bytes())) {
        let original = MINTED.as_str();
        let token = String::from_utf8_lossy(&bytes);
        let result = token_signer().verify(&token);
        if token != original {
            prop_assert!(
                matches!(
                    result,
                    Err(TokenError::Malformed(_) | TokenError::InvalidSignature | TokenError::UnknownKey { .. })
                ),
                "{token:?} -> {result:?}"
            );
        }
    }

    #[test]
    fn authentic_tokens_with_arbitrary_claims_fail_typed(claims in json_like()) {
        match token_signer().verify(&authentic_token(&claims)) {
            Ok(claims) => {
                // Accepted claims are complete and still in date.
                prop_assert!(claims.expires_at > NOW);
            }
            Err(TokenError::Malformed(_) | TokenError::Expired { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn arbitrary_signature_headers_are_refused_with_a_typed_error(
        pairs in proptest::collection::vec((signature_header_name(), header_value()), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let headers = header_map(&pairs);
        match verifier().verify(&headers, &body) {
            Ok(scheme) => prop_assert!(false, "random headers verified as {scheme:?}"),
            Err(
                SignatureError::Missing
                | SignatureError::Malformed { .. }
                | SignatureError::Mismatch
                | SignatureError::TimestampOutOfTolerance { .. },
            ) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn a_changed_body_under_a_genuine_signature_is_a_mismatch(
        scheme in scheme(),
        body in mutated(br#"{"event":"honeytoken.triggered","id":7}"#),
    ) {
        let original: &[u8] = br#"{"event":"honeytoken.triggered","id":7}"#;
        let headers = header_map(&signed_headers(scheme, original));
        let result = verifier().verify(&headers, &body);
        if body == original {
            prop_assert_eq!(result, Ok(scheme));
        } else {
            prop_assert_eq!(result, Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn only_the_genuine_signature_is_accepted_however_its_header_is_bent(
        scheme in scheme(),
        which in any::<Index>(),
        value in proptest::collection::vec(edit(), 1..4),
    ) {
        let body: &[u8] = b"{\"alert\":1}";
        let mut pairs = signed_headers(scheme, body);
        let genuine = pairs
            .iter()
            .find(|(name, _)| *name == scheme.signature_header())
            .map(|(_, value)| signature_part(scheme, &String::from_utf8_lossy(value)))
            .unwrap();
        let target = which.index(pairs.len());
        pairs[target].1 = apply(&pairs[target].1, &value);
        let headers = header_map(&pairs);
        if verifier().verify(&headers, body).is_ok() {
            // Accepted only while the signature itself survived (hex may change case; other
            // candidates, prefixes and spaces around it are allowed).
            let signature = headers
                .get(scheme.signature_header())
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let survived = match scheme {
                SignatureScheme::StandardWebhooks => signature.contains(&genuine),
                _ => signature.to_ascii_lowercase().contains(&genuine),
            };
            prop_assert!(survived, "{scheme:?} accepted {signature:?}");
        }
    }
}

#[test]
fn deeply_nested_or_oversized_tokens_are_refused_before_any_work() {
    let signer = token_signer();
    let nested = authentic_token(&b"[".repeat(3000));
    assert_eq!(
        signer.verify(&nested),
        Err(TokenError::Malformed("claims are not valid JSON"))
    );
    let huge = format!("v1.{KEY_ID}.{}.x", "A".repeat(1 << 20));
    assert_eq!(
        signer.verify(&huge),
        Err(TokenError::Malformed("token is too long"))
    );
    let lone_surrogate = authentic_token(br#"{"act":"\ud800"}"#);
    assert_eq!(
        signer.verify(&lone_surrogate),
        Err(TokenError::Malformed("claims are not valid JSON"))
    );
}

#[test]
fn extreme_standard_webhooks_timestamps_are_out_of_tolerance() {
    let body = b"{}";
    for timestamp in [
        "-9223372036854775808",
        "9223372036854775807",
        "+1800000000000",
    ] {
        let mut pairs = signed_headers(SignatureScheme::StandardWebhooks, body);
        for (name, value) in &mut pairs {
            if name == "webhook-timestamp" {
                *value = timestamp.as_bytes().to_vec();
            }
        }
        assert!(matches!(
            verifier().verify(&header_map(&pairs), body),
            Err(SignatureError::TimestampOutOfTolerance { .. })
        ));
    }
}
