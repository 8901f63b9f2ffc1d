//! Webhook signing and verification against the published vectors and hostile inputs.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::signature::{
    SignatureError, SignatureScheme, StandardWebhooksKey, WebhookSigner, WebhookVerifier,
    hmac_sha256_hex,
};
use http::HeaderMap;

/// Standard Webhooks specification, "Verifying webhooks" example.
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TIMESTAMP: i64 = 1_614_265_330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// GitHub documentation, "Validating webhook deliveries" example.
const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";
const GH_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn standard_verifier_at(unix: i64) -> WebhookVerifier {
    WebhookVerifier::new(SW_SECRET).with_clock(Arc::new(ManualClock::at_unix(unix)))
}

#[test]
fn standard_webhooks_vector_signs_byte_for_byte() {
    let key = StandardWebhooksKey::from_secret(SW_SECRET).unwrap();
    assert_eq!(key.sign(SW_ID, SW_TIMESTAMP, SW_BODY), SW_SIGNATURE);

    let signer = WebhookSigner::new(SignatureScheme::StandardWebhooks, SW_SECRET).unwrap();
    let sent = signer.headers(SW_BODY, SW_ID, SW_TIMESTAMP);
    let sent: Vec<(String, String)> = sent
        .into_iter()
        .map(|(n, v)| (n.as_str().to_owned(), v))
        .collect();
    assert_eq!(
        sent,
        vec![
            ("webhook-id".to_owned(), SW_ID.to_owned()),
            ("webhook-timestamp".to_owned(), SW_TIMESTAMP.to_string()),
            ("webhook-signature".to_owned(), SW_SIGNATURE.to_owned()),
        ]
    );
}

#[test]
fn standard_webhooks_vector_verifies_with_an_injected_clock() {
    let request = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", SW_SIGNATURE),
    ]);
    let verifier = standard_verifier_at(SW_TIMESTAMP + 10);
    assert_eq!(
        verifier.verify(&request, SW_BODY),
        Ok(SignatureScheme::StandardWebhooks)
    );

    // The same request with the real clock is years too old: the window is enforced.
    assert_eq!(
        WebhookVerifier::new(SW_SECRET).verify(&request, SW_BODY),
        Err(SignatureError::TimestampOutOfTolerance {
            tolerance_secs: 300
        })
    );
}

#[test]
fn standard_webhooks_accepts_any_of_several_signatures_and_skips_other_versions() {
    let request = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1a,bm90LWFuLWhtYWM= v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    assert!(
        standard_verifier_at(SW_TIMESTAMP)
            .verify(&request, SW_BODY)
            .is_ok()
    );
}

#[test]
fn standard_webhooks_rejects_tampering_replays_and_missing_parts() {
    let verifier = standard_verifier_at(SW_TIMESTAMP);
    let good = [
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", SW_SIGNATURE),
    ];
    // Changed body, changed id, changed timestamp: all mismatch.
    assert_eq!(
        verifier.verify(&headers(&good), br#"{"test": 2432232315}"#),
        Err(SignatureError::Mismatch)
    );
    let mut other_id = good;
    other_id[0].1 = "msg_other";
    assert_eq!(
        verifier.verify(&headers(&other_id), SW_BODY),
        Err(SignatureError::Mismatch)
    );
    let mut shifted = good;
    shifted[1].1 = "1614265331";
    assert_eq!(
        verifier.verify(&headers(&shifted), SW_BODY),
        Err(SignatureError::Mismatch)
    );

    // Too far in the future is refused like too old.
    let early = standard_verifier_at(SW_TIMESTAMP - 301);
    assert!(matches!(
        early.verify(&headers(&good), SW_BODY),
        Err(SignatureError::TimestampOutOfTolerance { .. })
    ));
    let lenient =
        standard_verifier_at(SW_TIMESTAMP - 3600).with_tolerance(Duration::from_secs(7200));
    assert!(lenient.verify(&headers(&good), SW_BODY).is_ok());

    let missing_id = headers(&good[1..]);
    assert!(matches!(
        verifier.verify(&missing_id, SW_BODY),
        Err(SignatureError::Malformed {
            reason: "header is missing",
            ..
        })
    ));
    let bad_ts = headers(&[good[0], ("webhook-timestamp", "yesterday"), good[2]]);
    assert!(matches!(
        verifier.verify(&bad_ts, SW_BODY),
        Err(SignatureError::Malformed { .. })
    ));
    let no_v1 = headers(&[good[0], good[1], ("webhook-signature", "v2,abc")]);
    assert!(matches!(
        verifier.verify(&no_v1, SW_BODY),
        Err(SignatureError::Malformed { .. })
    ));
}

#[test]
fn github_vector_signs_and_verifies() {
    assert_eq!(
        format!("sha256={}", hmac_sha256_hex(GH_SECRET.as_bytes(), GH_BODY)),
        GH_SIGNATURE
    );
    let signer = WebhookSigner::new(SignatureScheme::GitHub, GH_SECRET).unwrap();
    let sent = signer.headers(GH_BODY, "unused", 0);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.as_str(), "x-hub-signature-256");
    assert_eq!(sent[0].1, GH_SIGNATURE);

    let verifier = WebhookVerifier::new(GH_SECRET);
    let request = headers(&[("X-Hub-Signature-256", GH_SIGNATURE)]);
    assert_eq!(
        verifier.verify(&request, GH_BODY),
        Ok(SignatureScheme::GitHub)
    );
    assert_eq!(
        verifier.verify(&request, b"Hello, World?"),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        WebhookVerifier::new("another secret").verify(&request, GH_BODY),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn aisoc_and_generic_headers_accept_hex_with_or_without_prefix() {
    let hex = hmac_sha256_hex(GH_SECRET.as_bytes(), GH_BODY);
    let verifier = WebhookVerifier::new(GH_SECRET);
    for (header, value, scheme) in [
        (
            "X-AiSOC-Signature",
            format!("sha256={hex}"),
            SignatureScheme::Aisoc,
        ),
        ("X-Signature", hex.clone(), SignatureScheme::Generic),
        (
            "X-Signature",
            format!("sha256={hex}"),
            SignatureScheme::Generic,
        ),
        ("X-Signature", hex.to_uppercase(), SignatureScheme::Generic),
    ] {
        let request = headers(&[(header, &value)]);
        assert_eq!(
            verifier.verify(&request, GH_BODY),
            Ok(scheme),
            "{header}: {value}"
        );
    }
    let signer = WebhookSigner::new(SignatureScheme::Aisoc, GH_SECRET).unwrap();
    assert_eq!(signer.headers(GH_BODY, "", 0)[0].1, GH_SIGNATURE);
}

#[test]
fn pagerduty_accepts_any_v1_signature_in_the_list() {
    let secret = "pd-webhook-secret";
    let body = br#"{"event":{"event_type":"incident.triggered"}}"#;
    let good = hmac_sha256_hex(secret.as_bytes(), body);
    let stale = hmac_sha256_hex(b"rotated-out", body);
    let verifier = WebhookVerifier::new(secret);

    let request = headers(&[("X-PagerDuty-Signature", &format!("v1={stale},v1={good}"))]);
    assert_eq!(
        verifier.verify(&request, body),
        Ok(SignatureScheme::PagerDuty)
    );

    let only_stale = headers(&[("X-PagerDuty-Signature", &format!("v1={stale}"))]);
    assert_eq!(
        verifier.verify(&only_stale, body),
        Err(SignatureError::Mismatch)
    );

    let signer = WebhookSigner::new(SignatureScheme::PagerDuty, secret).unwrap();
    assert_eq!(signer.headers(body, "", 0)[0].1, format!("v1={good}"));
}

#[test]
fn malformed_and_missing_signatures_have_their_own_errors() {
    let verifier = WebhookVerifier::new(GH_SECRET);
    assert_eq!(
        verifier.verify(&HeaderMap::new(), GH_BODY),
        Err(SignatureError::Missing)
    );
    for value in ["sha256=zz", "sha256=abcd", "", "sha256="] {
        let request = headers(&[("X-Hub-Signature-256", value)]);
        assert!(
            matches!(
                verifier.verify(&request, GH_BODY),
                Err(SignatureError::Malformed { .. })
            ),
            "{value:?}"
        );
    }
    let huge = "a".repeat(5000);
    let request = headers(&[("X-Signature", &huge)]);
    assert!(matches!(
        verifier.verify(&request, GH_BODY),
        Err(SignatureError::Malformed {
            reason: "value is too long",
            ..
        })
    ));
}

#[test]
fn restricting_schemes_ignores_the_others() {
    let hex = hmac_sha256_hex(GH_SECRET.as_bytes(), GH_BODY);
    let request = headers(&[("X-Signature", &hex)]);
    let only_github = WebhookVerifier::new(GH_SECRET).with_schemes(&[SignatureScheme::GitHub]);
    assert_eq!(
        only_github.verify(&request, GH_BODY),
        Err(SignatureError::Missing)
    );
}

#[test]
fn standard_webhooks_needs_a_base64_secret() {
    assert_eq!(
        WebhookSigner::new(SignatureScheme::StandardWebhooks, "not base64!").unwrap_err(),
        SignatureError::InvalidSecret
    );
    // A verifier whose secret is not base64 still verifies hex schemes, and reports the
    // secret problem only when a Standard Webhooks request arrives.
    let verifier = WebhookVerifier::new("not base64!");
    let request = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", SW_SIGNATURE),
    ]);
    assert_eq!(
        verifier.verify(&request, SW_BODY),
        Err(SignatureError::InvalidSecret)
    );
}

#[test]
fn debug_output_never_contains_the_secret() {
    let signer = WebhookSigner::new(SignatureScheme::Aisoc, "hunter2-secret").unwrap();
    let verifier = WebhookVerifier::new("hunter2-secret");
    let key = StandardWebhooksKey::from_secret(SW_SECRET).unwrap();
    for shown in [
        format!("{signer:?}"),
        format!("{verifier:?}"),
        format!("{key:?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("MfKQ9r8"), "{shown}");
    }
}

/// A sender-chosen timestamp half the `i64` range away from now: `(now - ts).abs()` wrapped in
/// release builds (accepting a correctly signed request as fresh forever) and panicked in debug
/// builds. Both ends of the range are simply out of tolerance.
#[test]
fn standard_webhooks_timestamps_at_the_ends_of_the_range_are_out_of_tolerance_not_fresh() {
    let key = StandardWebhooksKey::from_secret(SW_SECRET).unwrap();
    let verifier = standard_verifier_at(SW_TIMESTAMP);
    for timestamp in [
        SW_TIMESTAMP.wrapping_add(i64::MIN),
        i64::MIN,
        i64::MIN + 1,
        i64::MAX,
    ] {
        let signature = key.sign(SW_ID, timestamp, SW_BODY);
        let raw = timestamp.to_string();
        let request = headers(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &raw),
            ("webhook-signature", &signature),
        ]);
        assert_eq!(
            verifier.verify(&request, SW_BODY),
            Err(SignatureError::TimestampOutOfTolerance {
                tolerance_secs: 300
            }),
            "timestamp {timestamp}"
        );
    }
}
