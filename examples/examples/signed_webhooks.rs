//! Signs a webhook body with [`WebhookSigner`] in two header schemes — Standard Webhooks
//! (`webhook-id` / `webhook-timestamp` / `webhook-signature`) and GitHub
//! (`X-Hub-Signature-256`) — verifies each with the one [`WebhookVerifier`], and shows that a
//! tampered body, a wrong secret and an unsigned request are refused.
//!
//! Everything runs in process; nothing is sent.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example signed_webhooks
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner, WebhookVerifier};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Standard Webhooks secrets are base64, optionally prefixed `whsec_`.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The hex schemes (GitHub, AiSOC, generic, PagerDuty) use the secret's bytes as given.
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

/// The headers a sender would attach, as a receiver sees them.
fn signed_headers(signer: &WebhookSigner, body: &[u8], id: &str, now: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in signer.headers(body, id, now) {
        println!("  {name}: {value}");
        headers.insert(name, HeaderValue::from_str(&value).expect("ASCII header"));
    }
    headers
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let body = br#"{"event":"honeytoken.triggered","host":"web-01"}"#;
    let tampered = br#"{"event":"honeytoken.triggered","host":"web-02"}"#;
    let now = chrono::Utc::now().timestamp();

    for (scheme, secret) in [
        (SignatureScheme::StandardWebhooks, STANDARD_SECRET),
        (SignatureScheme::GitHub, GITHUB_SECRET),
    ] {
        println!("{scheme:?} signature headers:");
        let signer = WebhookSigner::new(scheme, secret)?;
        let headers = signed_headers(&signer, body, "msg_2yHcV1f7", now);

        // The receiver does not need to know the scheme: it finds the header that is present.
        // Standard Webhooks also checks the timestamp is within five minutes of now.
        let verifier = WebhookVerifier::new(secret);
        println!("  original body  -> {:?}", verifier.verify(&headers, body));
        let refused = verifier.verify(&headers, tampered);
        println!("  tampered body  -> {refused:?}");
        assert!(refused.is_err(), "a changed body must not verify");
        let wrong = WebhookVerifier::new("whsec_c29tZW9uZSBlbHNlJ3Mgc2VjcmV0");
        println!("  wrong secret   -> {:?}\n", wrong.verify(&headers, body));
    }

    // A receiver can also insist on one scheme; other headers are then not even looked at.
    let github = WebhookSigner::new(SignatureScheme::GitHub, GITHUB_SECRET)?;
    let mut headers = HeaderMap::new();
    for (name, value) in github.headers(body, "", 0) {
        headers.insert(name, HeaderValue::from_str(&value)?);
    }
    let standard_only =
        WebhookVerifier::new(GITHUB_SECRET).with_schemes(&[SignatureScheme::StandardWebhooks]);
    println!(
        "GitHub-signed, Standard-only verifier -> {:?}",
        standard_only.verify(&headers, body)
    );
    println!(
        "no signature headers at all           -> {:?}",
        WebhookVerifier::new(GITHUB_SECRET).verify(&HeaderMap::new(), body)
    );
    let header = HeaderName::from_static("x-hub-signature-256");
    headers.insert(header, HeaderValue::from_static("sha256=not-hex"));
    println!(
        "malformed signature header            -> {:?}",
        WebhookVerifier::new(GITHUB_SECRET).verify(&headers, body)
    );
    Ok(())
}
