//! Outgoing-webhook HMAC: a signature computed independently here must verify, a tampered body
//! must not.

use aisoc_notify_teams::hmac::{TeamsHmacError, TeamsHmacVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use http::HeaderMap;

/// The security token Teams shows when an outgoing webhook is created is base64.
const TOKEN_B64: &str = "bXktdGVhbXMtb3V0Z29pbmctd2ViaG9vay1zZWNyZXQtMzItYnl0ZXMh";
const BODY: &[u8] = br#"{"type":"message","id":"1485983408511","timestamp":"2017-02-01T21:10:07.437Z","text":"<at>aisoc</at> status","from":{"id":"29:1Xbnc","name":"Alice"}}"#;

fn independent_signature(body: &[u8]) -> String {
    let key = STANDARD.decode(TOKEN_B64).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

fn headers(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", value.parse().unwrap());
    headers
}

#[test]
fn a_signature_computed_independently_verifies() {
    let verifier = TeamsHmacVerifier::new(TOKEN_B64).unwrap();
    let signature = independent_signature(BODY);
    assert_eq!(
        verifier.verify(&headers(&format!("HMAC {signature}")), BODY),
        Ok(())
    );
}

#[test]
fn a_tampered_body_or_signature_is_rejected() {
    let verifier = TeamsHmacVerifier::new(TOKEN_B64).unwrap();
    let signature = independent_signature(BODY);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("status", "isolate");
    assert_eq!(
        verifier.verify(&headers(&format!("HMAC {signature}")), tampered.as_bytes()),
        Err(TeamsHmacError::BadSignature)
    );
    let other = independent_signature(b"something else");
    assert_eq!(
        verifier.verify(&headers(&format!("HMAC {other}")), BODY),
        Err(TeamsHmacError::BadSignature)
    );
}

#[test]
fn missing_and_malformed_headers_are_distinct_errors() {
    let verifier = TeamsHmacVerifier::new(TOKEN_B64).unwrap();
    assert_eq!(
        verifier.verify(&HeaderMap::new(), BODY),
        Err(TeamsHmacError::MissingHeader)
    );
    let signature = independent_signature(BODY);
    for value in [
        format!("Bearer {signature}"),
        "HMAC".to_owned(),
        "HMAC !!!".to_owned(),
    ] {
        assert_eq!(
            verifier.verify(&headers(&value), BODY),
            Err(TeamsHmacError::Malformed),
            "{value}"
        );
    }
    assert_eq!(
        TeamsHmacVerifier::new("%%%").unwrap_err(),
        TeamsHmacError::InvalidSecret
    );
    assert!(!format!("{verifier:?}").contains(TOKEN_B64));
}
