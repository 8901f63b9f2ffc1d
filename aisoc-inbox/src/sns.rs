//! Amazon SNS: message signatures, and confirming subscriptions.
//!
//! SNS signs each message with a key whose certificate it publishes at `SigningCertURL`. The
//! URL must be https on `sns.<region>.amazonaws.com` (the one rule, [`is_aws_sns_url`]); the
//! certificate is fetched through a [`CertificateFetcher`] (in production
//! [`DeliveryCertificateFetcher`], over the host's outbound-guarded client), checked to be
//! within its validity period, and its RSA key verifies the signature over SNS's canonical
//! string: SHA1withRSA for `SignatureVersion` 1, SHA256withRSA for 2.
//!
//! A `SubscriptionConfirmation` is confirmed by [`SnsConfirmer`], which fetches its
//! `SubscribeURL` (same rule, same client). [`SnsSubscriptions::attach`] installs the verifier
//! and the confirmer on an [`Inbox`] together, so a subscription is confirmed only after its
//! message's signature verified: an unsigned or forged request never makes the host fetch
//! anything but the (AWS-hosted) certificate.

use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
};
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::Inbox;

mod confirm;
mod host;

pub use self::confirm::{
    ConfirmOutcome, DeliveryCertificateFetcher, SNS_FETCH_TIMEOUT, SNS_MAX_RESPONSE_BYTES,
    SnsConfirmation, SnsConfirmer, SnsFetchError,
};
pub use self::host::{SnsUrlRule, is_aws_sns_url};

/// An error a [`CertificateFetcher`] reports (the host's HTTP client's own error type).
pub type FetchError = Box<dyn std::error::Error + Send + Sync>;

/// Fetches a signing certificate (PEM) for a URL already checked to be an SNS host.
#[async_trait]
pub trait CertificateFetcher: Send + Sync {
    /// The PEM text at `url`.
    async fn fetch(&self, url: &str) -> Result<String, FetchError>;
}

/// Why a message's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnsSignatureError {
    /// A field the signature covers is missing.
    #[error("SNS message lacks the signed field {0}")]
    MissingField(&'static str),
    /// The certificate URL is not an SNS https URL.
    #[error("SigningCertURL is not an https URL on sns.<region>.amazonaws.com")]
    UntrustedCertUrl,
    /// The certificate could not be fetched.
    #[error("could not fetch the SNS signing certificate: {0}")]
    Fetch(String),
    /// The certificate is not a usable X.509 RSA certificate, or is outside its validity.
    #[error("the SNS signing certificate is not usable: {0}")]
    Certificate(&'static str),
    /// `SignatureVersion` is not 1 or 2.
    #[error("unsupported SNS SignatureVersion")]
    UnsupportedVersion,
    /// The signature does not verify.
    #[error("SNS signature does not verify")]
    Mismatch,
}

/// The string SNS signs for a message.
pub fn string_to_sign(message: &Map<String, Value>) -> Result<String, SnsSignatureError> {
    let kind = message
        .get("Type")
        .and_then(Value::as_str)
        .ok_or(SnsSignatureError::MissingField("Type"))?;
    let keys: &[&'static str] = match kind {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        _ => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
    };
    let mut out = String::new();
    for key in keys {
        match message.get(*key).and_then(Value::as_str) {
            Some(value) => {
                out.push_str(key);
                out.push('\n');
                out.push_str(value);
                out.push('\n');
            }
            // Subject is optional on notifications and then left out of the string.
            None if *key == "Subject" => {}
            None => return Err(SnsSignatureError::MissingField(key)),
        }
    }
    Ok(out)
}

/// Verifies SNS signatures with certificates from a host-provided fetcher.
#[derive(Clone)]
pub struct SnsVerifier {
    fetcher: Arc<dyn CertificateFetcher>,
    certificates: moka::future::Cache<String, Arc<Vec<u8>>>,
}

impl std::fmt::Debug for SnsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsVerifier").finish_non_exhaustive()
    }
}

impl SnsVerifier {
    /// A verifier fetching certificates through `fetcher` (cached for an hour per URL).
    pub fn new(fetcher: Arc<dyn CertificateFetcher>) -> Self {
        Self {
            fetcher,
            certificates: moka::future::Cache::builder()
                .max_capacity(64)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
        }
    }

    async fn public_key(&self, url: &str) -> Result<Arc<Vec<u8>>, SnsSignatureError> {
        if let Some(key) = self.certificates.get(url).await {
            return Ok(key);
        }
        let pem = self
            .fetcher
            .fetch(url)
            .await
            .map_err(|e| SnsSignatureError::Fetch(e.to_string()))?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|_| SnsSignatureError::Certificate("not PEM"))?;
        let certificate = pem
            .parse_x509()
            .map_err(|_| SnsSignatureError::Certificate("not X.509"))?;
        if !certificate.validity().is_valid() {
            return Err(SnsSignatureError::Certificate(
                "outside its validity period",
            ));
        }
        let key = Arc::new(certificate.public_key().subject_public_key.data.to_vec());
        self.certificates
            .insert(url.to_owned(), Arc::clone(&key))
            .await;
        Ok(key)
    }

    /// Verifies one SNS message object.
    pub async fn verify(&self, message: &Map<String, Value>) -> Result<(), SnsSignatureError> {
        let url = message
            .get("SigningCertURL")
            .and_then(Value::as_str)
            .ok_or(SnsSignatureError::MissingField("SigningCertURL"))?;
        if !is_aws_sns_url(url) {
            return Err(SnsSignatureError::UntrustedCertUrl);
        }
        let signature = message
            .get("Signature")
            .and_then(Value::as_str)
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or(SnsSignatureError::MissingField("Signature"))?;
        let algorithm = match message.get("SignatureVersion").and_then(Value::as_str) {
            Some("1") => &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Some("2") => &RSA_PKCS1_2048_8192_SHA256,
            _ => return Err(SnsSignatureError::UnsupportedVersion),
        };
        let signed = string_to_sign(message)?;
        let key = self.public_key(url).await?;
        UnparsedPublicKey::new(algorithm, key.as_slice())
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| SnsSignatureError::Mismatch)
    }
}

/// SNS support for an inbox: signature verification and subscription confirmation, both
/// fetching through one [`DeliveryClient`](aisoc_notify_core::delivery::DeliveryClient).
#[derive(Debug, Clone)]
pub struct SnsSubscriptions {
    verifier: SnsVerifier,
    confirmer: Arc<SnsConfirmer>,
}

impl SnsSubscriptions {
    /// Fetching from AWS SNS only ([`SnsUrlRule::aws`]): what a host uses.
    pub fn new(client: aisoc_notify_core::delivery::DeliveryClient) -> Self {
        Self::with_rule(client, SnsUrlRule::aws())
    }

    /// Fetching the URLs `rule` admits (tests serve SNS from a local server this way).
    pub fn with_rule(
        client: aisoc_notify_core::delivery::DeliveryClient,
        rule: SnsUrlRule,
    ) -> Self {
        Self {
            verifier: SnsVerifier::new(Arc::new(DeliveryCertificateFetcher::new(
                client.clone(),
                rule.clone(),
            ))),
            confirmer: Arc::new(SnsConfirmer::new(client, rule)),
        }
    }

    /// The confirmer (its [`confirmations`](SnsConfirmer::confirmations) are what this
    /// process confirmed).
    pub fn confirmer(&self) -> &Arc<SnsConfirmer> {
        &self.confirmer
    }

    /// `inbox` verifying the signature of every `aws-sns` message and confirming
    /// subscriptions whose request verified.
    pub fn attach(&self, inbox: Inbox) -> Inbox {
        inbox
            .with_sns_verifier(self.verifier.clone())
            .with_sns_confirmations(self.confirmer.clone())
    }
}
