//! SNS subscriptions confirm end to end: a signed `SubscriptionConfirmation` posted to an
//! `aws-sns` inbox token makes the inbox fetch the signing certificate and then the
//! `SubscribeURL`, through a real `DeliveryClient`, from a local server standing in for SNS
//! (the test's `SnsUrlRule` maps AWS SNS URLs, and only those, to it). A forged request is
//! refused without confirming; a repeated one is confirmed once; failures never name the token.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::router::router;
use aisoc_inbox::sns::{
    ConfirmOutcome, SnsFetchError, SnsSubscriptions, SnsUrlRule, is_aws_sns_url, string_to_sign,
};
use aisoc_inbox::token::mint;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::secret::ExposeSecret;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:security-alerts";
const TOKEN: &str = "2336412f37fb687f5d51e6e2425dacbba0a4a5e1secret";

struct Signer {
    pem: String,
    key: RsaKeyPair,
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

fn sign(signer: &Signer, version: &str, mut message: Map<String, Value>) -> Map<String, Value> {
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

fn subscribe_url(token: &str) -> String {
    format!(
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}"
    )
}

fn confirmation_request(token: &str) -> Map<String, Value> {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": token,
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
        "SubscribeURL": subscribe_url(token),
        "Timestamp": "2026-05-08T09:00:01.123Z"
    })
    .as_object()
    .unwrap()
    .clone()
}

/// The local stand-in for SNS: the certificate, and the confirmation endpoint.
#[derive(Clone)]
struct FakeSns {
    pem: Arc<String>,
    certificate_fetches: Arc<AtomicUsize>,
    confirmations: Arc<std::sync::Mutex<Vec<String>>>,
    /// How long the confirmation answer takes.
    delay: Duration,
    /// The status the confirmation endpoint answers.
    status: StatusCode,
}

async fn serve_certificate(State(sns): State<FakeSns>) -> impl IntoResponse {
    sns.certificate_fetches.fetch_add(1, Ordering::SeqCst);
    sns.pem.as_str().to_owned()
}

async fn serve_confirmation(
    State(sns): State<FakeSns>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> impl IntoResponse {
    tokio::time::sleep(sns.delay).await;
    if query.get("Action").map(String::as_str) != Some("ConfirmSubscription") {
        return (StatusCode::BAD_REQUEST, String::new());
    }
    sns.confirmations
        .lock()
        .unwrap()
        .push(query.get("Token").cloned().unwrap_or_default());
    (
        sns.status,
        format!(
            "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult>\
             <SubscriptionArn>{TOPIC}:8a21d249-4329-4871-acc6-7be709c6ea7f</SubscriptionArn>\
             </ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
        ),
    )
}

async fn serve_large() -> impl IntoResponse {
    "x".repeat(200 * 1024)
}

/// Starts the fake SNS; returns it and the SNS support fetching from it.
async fn fake_sns(
    signer: &Signer,
    delay: Duration,
    status: StatusCode,
) -> (FakeSns, SnsSubscriptions) {
    let sns = FakeSns {
        pem: Arc::new(signer.pem.clone()),
        certificate_fetches: Arc::default(),
        confirmations: Arc::default(),
        delay,
        status,
    };
    let app = axum::Router::new()
        .route(
            "/SimpleNotificationService-test.pem",
            axum::routing::get(serve_certificate),
        )
        .route("/large.pem", axum::routing::get(serve_large))
        .route("/", axum::routing::get(serve_confirmation))
        .with_state(sns.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // Only AWS SNS URLs are admitted, and they are requested from the local server instead.
    let rule = SnsUrlRule::custom(move |url| {
        if !is_aws_sns_url(url) {
            return None;
        }
        let given = url::Url::parse(url).ok()?;
        let mut local = url::Url::parse(&origin).ok()?;
        local.set_path(given.path());
        local.set_query(given.query());
        Some(local)
    });
    let client = DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::parse_allow_list("127.0.0.1").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    (sns, SnsSubscriptions::with_rule(client, rule))
}

fn post(token: &str, message: &Map<String, Value>) -> Request<Body> {
    Request::post(format!("/{token}"))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(Body::from(Value::Object(message.clone()).to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_signed_request_is_confirmed_once_in_both_signature_versions() {
    let signer = signer();
    for version in ["1", "2"] {
        let (sns, subscriptions) = fake_sns(&signer, Duration::ZERO, StatusCode::OK).await;
        let parts = support::memory_inbox(InboxConfig::default());
        let app = router(subscriptions.attach(parts.inbox.clone()));
        let inbox_token = mint(parts.store.as_ref(), "acme", "aws-sns", None)
            .await
            .unwrap()
            .token;
        let message = sign(&signer, version, confirmation_request(TOKEN));
        for _ in 0..3 {
            let response = app
                .clone()
                .oneshot(post(inbox_token.expose_secret(), &message))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "version {version}");
        }
        assert_eq!(
            *sns.confirmations.lock().unwrap(),
            vec![TOKEN.to_owned()],
            "version {version}: confirmed once, with the request's token"
        );
        assert_eq!(sns.certificate_fetches.load(Ordering::SeqCst), 1);
        let confirmed = subscriptions.confirmer().confirmations();
        assert_eq!(confirmed.len(), 1);
        assert_eq!(confirmed[0].tenant_id, "acme");
        assert_eq!(confirmed[0].topic_arn, TOPIC);
        assert_eq!(
            confirmed[0].subscription_arn.as_deref(),
            Some(format!("{TOPIC}:8a21d249-4329-4871-acc6-7be709c6ea7f").as_str())
        );
        assert!(
            parts.sink.events().is_empty(),
            "a confirmation is not an event"
        );
    }
}

#[tokio::test]
async fn forged_or_unsigned_requests_are_refused_without_confirming() {
    let signer = signer();
    let (sns, subscriptions) = fake_sns(&signer, Duration::ZERO, StatusCode::OK).await;
    let parts = support::memory_inbox(InboxConfig::default());
    let app = router(subscriptions.attach(parts.inbox.clone()));
    let inbox_token = mint(parts.store.as_ref(), "acme", "aws-sns", None)
        .await
        .unwrap()
        .token;

    // The SubscribeURL swapped after signing (pointing at another subscription's token).
    let mut forged = sign(&signer, "2", confirmation_request(TOKEN));
    forged.insert("SubscribeURL".into(), json!(subscribe_url("attacker")));
    // Signed by another key.
    let impostor = sign(&self::signer(), "1", confirmation_request(TOKEN));
    // No signature at all.
    let mut unsigned = confirmation_request(TOKEN);
    unsigned.insert("SigningCertURL".into(), json!(CERT_URL));
    unsigned.insert("SignatureVersion".into(), json!("1"));
    // A certificate URL off AWS.
    let mut elsewhere = sign(&signer, "1", confirmation_request(TOKEN));
    elsewhere.insert(
        "SigningCertURL".into(),
        json!("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"),
    );
    for message in [forged, impostor, unsigned, elsewhere] {
        let response = app
            .clone()
            .oneshot(post(inbox_token.expose_secret(), &message))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    assert!(sns.confirmations.lock().unwrap().is_empty());
    assert!(subscriptions.confirmer().confirmations().is_empty());
}

#[tokio::test]
async fn concurrent_repeats_confirm_once_and_failures_can_be_retried() {
    let signer = signer();
    let (sns, subscriptions) = fake_sns(&signer, Duration::from_millis(300), StatusCode::OK).await;
    let confirmer = subscriptions.confirmer().clone();
    let url = subscribe_url(TOKEN);
    let (a, b) = tokio::join!(
        confirmer.confirm("acme", TOPIC, &url),
        confirmer.confirm("acme", TOPIC, &url)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, ConfirmOutcome::Confirmed(_)))
            .count(),
        1
    );
    assert!(outcomes.contains(&ConfirmOutcome::AlreadyConfirmed));
    assert_eq!(sns.confirmations.lock().unwrap().len(), 1);

    // Another tenant's request for the same topic is its own confirmation.
    assert!(matches!(
        confirmer.confirm("globex", TOPIC, &url).await.unwrap(),
        ConfirmOutcome::Confirmed(_)
    ));

    // SNS failing: not remembered as confirmed, and the error does not carry the token.
    let (failing, subscriptions) = fake_sns(&signer, Duration::ZERO, StatusCode::FORBIDDEN).await;
    let confirmer = subscriptions.confirmer();
    let error = confirmer.confirm("acme", TOPIC, &url).await.unwrap_err();
    assert!(matches!(error, SnsFetchError::Delivery(_)), "{error}");
    assert!(!error.to_string().contains(TOKEN), "{error}");
    assert!(!format!("{error:?}").contains(TOKEN), "{error:?}");
    assert!(confirmer.confirmations().is_empty());
    confirmer.confirm("acme", TOPIC, &url).await.unwrap_err();
    assert_eq!(
        failing.confirmations.lock().unwrap().len(),
        2,
        "a failed confirmation is tried again on SNS's next resend"
    );
}

#[tokio::test]
async fn only_aws_urls_are_fetched_and_answers_are_bounded() {
    let signer = signer();
    let (sns, subscriptions) = fake_sns(&signer, Duration::ZERO, StatusCode::OK).await;
    let confirmer = subscriptions.confirmer();
    for url in [
        "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription&Token=t",
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
        "https://user@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
        "https://127.0.0.1/?Action=ConfirmSubscription&Token=t",
    ] {
        assert!(matches!(
            confirmer.confirm("acme", TOPIC, url).await,
            Err(SnsFetchError::Untrusted)
        ));
    }
    assert!(sns.confirmations.lock().unwrap().is_empty());

    // Certificates come through the same fetcher: an oversized answer is refused.
    let fetcher = aisoc_inbox::sns::DeliveryCertificateFetcher::new(
        DeliveryClient::new(DeliveryConfig {
            destinations: DestinationPolicy::parse_allow_list("127.0.0.1").unwrap(),
            max_response_bytes: 128 * 1024,
            ..DeliveryConfig::default()
        })
        .unwrap(),
        SnsUrlRule::aws(),
    );
    use aisoc_inbox::sns::CertificateFetcher as _;
    // The production rule refuses the local server outright.
    let refused = fetcher
        .fetch("http://127.0.0.1:9/large.pem")
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("sns.<region>.amazonaws.com"),
        "{refused}"
    );
    let verifier_error = {
        let mut message = sign(&signer, "1", confirmation_request(TOKEN));
        message.insert(
            "SigningCertURL".into(),
            json!("https://sns.us-east-1.amazonaws.com/large.pem"),
        );
        let parts = support::memory_inbox(InboxConfig::default());
        let app = router(subscriptions.attach(parts.inbox.clone()));
        let inbox_token = mint(parts.store.as_ref(), "acme", "aws-sns", None)
            .await
            .unwrap()
            .token;
        let response = app
            .oneshot(post(inbox_token.expose_secret(), &message))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = serde_json::from_slice(
            &axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap(),
        )
        .unwrap();
        body["error"].as_str().unwrap().to_owned()
    };
    assert!(
        verifier_error.contains("larger than"),
        "an oversized certificate is refused: {verifier_error}"
    );
    assert!(sns.confirmations.lock().unwrap().is_empty());
}
