//! Slack's published signing example, and each way a request can fail verification.

use std::sync::Arc;

use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_slack::signature::{SlackSignatureError, SlackSignatureVerifier};
use http::HeaderMap;

/// From Slack's "Verifying requests from Slack" documentation.
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TIMESTAMP: &str = "1531420618";
const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn verifier_at(unix: i64) -> SlackSignatureVerifier {
    SlackSignatureVerifier::new(SECRET).with_clock(Arc::new(ManualClock::at_unix(unix)))
}

fn headers(timestamp: Option<&str>, signature: Option<&str>) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Some(ts) = timestamp {
        map.insert("X-Slack-Request-Timestamp", ts.parse().unwrap());
    }
    if let Some(sig) = signature {
        map.insert("X-Slack-Signature", sig.parse().unwrap());
    }
    map
}

#[test]
fn slacks_documented_example_verifies() {
    let verifier = verifier_at(1_531_420_618);
    assert_eq!(verifier.sign(TIMESTAMP, BODY.as_bytes()), SIGNATURE);
    assert_eq!(
        verifier.verify(&headers(Some(TIMESTAMP), Some(SIGNATURE)), BODY.as_bytes()),
        Ok(())
    );
}

#[test]
fn a_changed_byte_anywhere_fails_as_a_bad_signature() {
    let verifier = verifier_at(1_531_420_618);
    let mut body = BODY.as_bytes().to_vec();
    for index in [0, body.len() / 2, body.len() - 1] {
        body[index] ^= 0x01;
        assert_eq!(
            verifier.verify(&headers(Some(TIMESTAMP), Some(SIGNATURE)), &body),
            Err(SlackSignatureError::BadSignature),
            "byte {index}"
        );
        body[index] ^= 0x01;
    }
    let mut signature = SIGNATURE.to_owned();
    signature.replace_range(10..11, "0");
    assert_eq!(
        verifier.verify(&headers(Some(TIMESTAMP), Some(&signature)), BODY.as_bytes()),
        Err(SlackSignatureError::BadSignature)
    );
    // A different timestamp changes the basestring.
    assert_eq!(
        verifier.verify(
            &headers(Some("1531420619"), Some(SIGNATURE)),
            BODY.as_bytes()
        ),
        Err(SlackSignatureError::BadSignature)
    );
}

#[test]
fn timestamps_outside_five_minutes_either_way_are_stale() {
    let stale = verifier_at(1_531_420_618 + 301);
    assert_eq!(
        stale.verify(&headers(Some(TIMESTAMP), Some(SIGNATURE)), BODY.as_bytes()),
        Err(SlackSignatureError::StaleTimestamp)
    );
    let early = verifier_at(1_531_420_618 - 301);
    assert_eq!(
        early.verify(&headers(Some(TIMESTAMP), Some(SIGNATURE)), BODY.as_bytes()),
        Err(SlackSignatureError::StaleTimestamp)
    );
    let edge = verifier_at(1_531_420_618 + 300);
    assert!(
        edge.verify(&headers(Some(TIMESTAMP), Some(SIGNATURE)), BODY.as_bytes())
            .is_ok()
    );

    // The real clock: the 2018 example is stale today.
    assert_eq!(
        SlackSignatureVerifier::new(SECRET)
            .verify(&headers(Some(TIMESTAMP), Some(SIGNATURE)), BODY.as_bytes()),
        Err(SlackSignatureError::StaleTimestamp)
    );
}

#[test]
fn missing_headers_and_bad_timestamps_have_their_own_errors() {
    let verifier = verifier_at(1_531_420_618);
    assert_eq!(
        verifier.verify(&headers(None, Some(SIGNATURE)), BODY.as_bytes()),
        Err(SlackSignatureError::MissingHeader(
            "X-Slack-Request-Timestamp"
        ))
    );
    assert_eq!(
        verifier.verify(&headers(Some(TIMESTAMP), None), BODY.as_bytes()),
        Err(SlackSignatureError::MissingHeader("X-Slack-Signature"))
    );
    assert_eq!(
        verifier.verify(
            &headers(Some("yesterday"), Some(SIGNATURE)),
            BODY.as_bytes()
        ),
        Err(SlackSignatureError::InvalidTimestamp)
    );
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    assert!(!format!("{:?}", verifier_at(0)).contains(SECRET));
}

/// A correctly signed request whose timestamp is half the `i64` range away from now:
/// `(now - ts).abs()` wrapped in release builds (fresh forever) and panicked in debug builds.
#[test]
fn timestamps_at_the_ends_of_the_range_are_stale_not_fresh() {
    let now = 1_531_420_618_i64;
    let verifier = verifier_at(now);
    for timestamp in [now.wrapping_add(i64::MIN), i64::MIN, i64::MIN + 1, i64::MAX] {
        let raw = timestamp.to_string();
        let signature = verifier.sign(&raw, BODY.as_bytes());
        assert_eq!(
            verifier.verify(&headers(Some(&raw), Some(&signature)), BODY.as_bytes()),
            Err(SlackSignatureError::StaleTimestamp),
            "timestamp {timestamp}"
        );
    }
}
