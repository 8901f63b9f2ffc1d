//! SNS signature verification with a certificate from the host's fetcher: a message signed by
//! the certificate's key verifies (SignatureVersion 1 and 2); a changed field, an untrusted
//! certificate URL or another key does not, and the route drops such messages.

mod support;

use std::sync::{Arc, Mutex};

use aisoc_inbox::InboxConfig;
use aisoc_inbox::router::router;
use aisoc_inbox::sns::{CertificateFetcher, SnsSignatureError, SnsVerifier, string_to_sign};
use aisoc_inbox::token::mint;
use aisoc_notify_core::async_trait;
use aisoc_notify_core::secret::ExposeSecret;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";

struct Signer {
    pem: String,
    key: RsaKeyPair,
    /// The same key for SHA1withRSA, which aws-lc-rs verifies but does not sign.
    sha1: rsa::pkcs1v15::SigningKey<sha1::Sha1>,
}

fn signer() -> Signer {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["sns.amazonaws.com".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = key.serialize_der();
    Signer {
        pem: certificate.pem(),
        key: RsaKeyPair::from_pkcs8(&der).unwrap(),
        sha1: rsa::pkcs1v15::SigningKey::new(rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap()),
    }
}

/// The host's fetcher: here a fixed certificate, counting fetches.
struct Fixed {
    pem: String,
    fetched: Mutex<Vec<String>>,
}

#[async_trait]
impl CertificateFetcher for Fixed {
    async fn fetch(&self, url: &str) -> Result<String, aisoc_inbox::sns::FetchError> {
        self.fetched.lock().unwrap().push(url.to_owned());
        Ok(self.pem.clone())
    }
}

fn signed(signer: &Signer, version: &str, mut message: Map<String, Value>) -> Map<String, Value> {
    message.insert("SignatureVersion".into(), json!(version));
    message.insert("SigningCertURL".into(), json!(CERT_URL));
    let text = string_to_sign(&message).unwrap();
    let signature = if version == "1" {
        signer.sha1.sign(text.as_bytes()).to_vec()
    } else {
        let mut signature = vec![0u8; signer.key.public_modulus_len()];
        signer
            .key
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                text.as_bytes(),
                &mut signature,
            )
            .unwrap();
        signature
    };
    message.insert(
        "Signature".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(signature)),
    );
    message
}

fn notification() -> Map<String, Value> {
    json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:security-alerts",
        "Subject": "ALARM: HighFailedLogins",
        "Message": "{\"AlarmName\":\"HighFailedLogins\",\"NewStateValue\":\"ALARM\"}",
        "Timestamp": "2026-05-08T09:00:01.123Z",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
    })
    .as_object()
    .unwrap()
    .clone()
}

#[tokio::test]
async fn genuine_messages_verify_in_both_signature_versions() {
    let signer = signer();
    let fetcher = Arc::new(Fixed {
        pem: signer.pem.clone(),
        fetched: Mutex::new(Vec::new()),
    });
    let verifier = SnsVerifier::new(fetcher.clone());
    for version in ["1", "2"] {
        verifier
            .verify(&signed(&signer, version, notification()))
            .await
            .unwrap();
    }
    let mut no_subject = notification();
    no_subject.remove("Subject");
    verifier
        .verify(&signed(&signer, "2", no_subject))
        .await
        .unwrap();
    assert_eq!(
        fetcher.fetched.lock().unwrap().len(),
        1,
        "the certificate is cached"
    );
}

#[tokio::test]
async fn changed_fields_other_keys_and_untrusted_urls_fail() {
    let signer = signer();
    let verifier = SnsVerifier::new(Arc::new(Fixed {
        pem: signer.pem.clone(),
        fetched: Mutex::new(Vec::new()),
    }));
    let mut tampered = signed(&signer, "1", notification());
    tampered.insert("Message".into(), json!("{\"NewStateValue\":\"OK\"}"));
    assert_eq!(
        verifier.verify(&tampered).await,
        Err(SnsSignatureError::Mismatch)
    );

    // Signed by another key but pointing at the genuine certificate.
    let impostor = signed(&self::signer(), "1", notification());
    assert_eq!(
        verifier.verify(&impostor).await,
        Err(SnsSignatureError::Mismatch)
    );

    let mut untrusted = signed(&signer, "1", notification());
    untrusted.insert(
        "SigningCertURL".into(),
        json!("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"),
    );
    assert_eq!(
        verifier.verify(&untrusted).await,
        Err(SnsSignatureError::UntrustedCertUrl)
    );

    let mut version = signed(&signer, "1", notification());
    version.insert("SignatureVersion".into(), json!("3"));
    assert_eq!(
        verifier.verify(&version).await,
        Err(SnsSignatureError::UnsupportedVersion)
    );
}

#[tokio::test]
async fn the_route_drops_forged_messages_and_accepts_genuine_ones() {
    let signer = signer();
    let parts = support::memory_inbox(InboxConfig::default());
    let verifier = SnsVerifier::new(Arc::new(Fixed {
        pem: signer.pem.clone(),
        fetched: Mutex::new(Vec::new()),
    }));
    let inbox = parts.inbox.clone().with_sns_verifier(verifier);
    let token = mint(parts.store.as_ref(), "acme", "aws-sns", None)
        .await
        .unwrap()
        .token;
    let post = |message: Map<String, Value>| {
        Request::post(format!("/{}", token.expose_secret()))
            .header("content-type", "text/plain; charset=UTF-8")
            .body(Body::from(Value::Object(message).to_string()))
            .unwrap()
    };
    let app = router(inbox);
    let response = app
        .clone()
        .oneshot(post(signed(&signer, "1", notification())))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut forged = signed(&signer, "1", notification());
    forged.insert("Subject".into(), json!("All clear"));
    let response = app.clone().oneshot(post(forged)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("SNS signature does not verify"),
        "{body}"
    );
    assert_eq!(parts.sink.events().len(), 1);
}
