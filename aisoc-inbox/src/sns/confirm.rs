//! The real SNS certificate fetcher and subscription confirmer, over the host's
//! [`DeliveryClient`] (the outbound guard, its timeouts and its response-size cap).
//!
//! Confirming a subscription is one GET of the message's `SubscribeURL`. The URL carries the
//! subscription's token, which is as good as a credential for a minute, so nothing here logs
//! or returns it: logs name the tenant and the `TopicArn`, errors name the host. Confirmation
//! is idempotent: SNS resends a `SubscriptionConfirmation` until it is confirmed, and the
//! same request (tenant, topic, URL) is confirmed once, however often and however
//! concurrently it arrives.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryError};
use chrono::{DateTime, Utc};
use sha2::Digest as _;

use super::host::SnsUrlRule;
use super::{CertificateFetcher, FetchError};
use crate::envelope::SnsSubscriptionHandler;

/// The longest an SNS certificate fetch or confirmation may take, retries included.
pub const SNS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response accepted (certificates are ~2 KiB, confirmations ~1 KiB).
pub const SNS_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How many confirmations are remembered for idempotency (the oldest are forgotten).
const REMEMBERED: usize = 4096;

/// Why a fetch from SNS failed. Never carries the URL (a `SubscribeURL` holds a token).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnsFetchError {
    /// The URL is not one the [`SnsUrlRule`] admits.
    #[error("the URL is not an https URL on sns.<region>.amazonaws.com")]
    Untrusted,
    /// The request failed or was answered with a non-2xx status.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// No answer within [`SNS_FETCH_TIMEOUT`].
    #[error("SNS did not answer within {} s", SNS_FETCH_TIMEOUT.as_secs())]
    Timeout,
    /// The answer is larger than [`SNS_MAX_RESPONSE_BYTES`].
    #[error("the SNS answer is larger than {SNS_MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// The answer is not UTF-8 text.
    #[error("the SNS answer is not text")]
    NotText,
}

/// GETs an admitted URL and returns its body as text.
async fn get_text(
    client: &DeliveryClient,
    rule: &SnsUrlRule,
    url: &str,
) -> Result<String, SnsFetchError> {
    let target = rule.admit(url).ok_or(SnsFetchError::Untrusted)?;
    let request = client
        .http()
        .get(target)
        .build()
        .map_err(|e| DeliveryError::Client(e.without_url().to_string()))?;
    let response = tokio::time::timeout(SNS_FETCH_TIMEOUT, client.send(request))
        .await
        .map_err(|_| SnsFetchError::Timeout)??
        .error_for_status()?;
    if response.truncated || response.body.len() > SNS_MAX_RESPONSE_BYTES {
        return Err(SnsFetchError::TooLarge);
    }
    String::from_utf8(response.body.to_vec()).map_err(|_| SnsFetchError::NotText)
}

/// Fetches SNS signing certificates through a [`DeliveryClient`], only from URLs the rule
/// admits.
#[derive(Debug, Clone)]
pub struct DeliveryCertificateFetcher {
    client: DeliveryClient,
    rule: SnsUrlRule,
}

impl DeliveryCertificateFetcher {
    /// A fetcher over `client`, admitting URLs by `rule` ([`SnsUrlRule::aws`] in production).
    pub fn new(client: DeliveryClient, rule: SnsUrlRule) -> Self {
        Self { client, rule }
    }
}

#[async_trait]
impl CertificateFetcher for DeliveryCertificateFetcher {
    async fn fetch(&self, url: &str) -> Result<String, FetchError> {
        Ok(get_text(&self.client, &self.rule, url).await?)
    }
}

/// One confirmed subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsConfirmation {
    /// The tenant whose inbox token received the request.
    pub tenant_id: String,
    /// The topic.
    pub topic_arn: String,
    /// The subscription SNS created, when its answer named it.
    pub subscription_arn: Option<String>,
    /// When it was confirmed.
    pub confirmed_at: DateTime<Utc>,
}

/// What one confirmation request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// Confirmed now.
    Confirmed(SnsConfirmation),
    /// The same request was already confirmed (or is being confirmed right now).
    AlreadyConfirmed,
}

#[derive(Debug, Clone)]
enum Slot {
    InFlight,
    Done(SnsConfirmation),
}

#[derive(Debug, Default)]
struct Remembered {
    slots: HashMap<String, Slot>,
    order: VecDeque<String>,
}

/// Confirms SNS subscriptions by fetching their `SubscribeURL` through a [`DeliveryClient`].
///
/// Wire it with [`SnsSubscriptions`](super::SnsSubscriptions), which installs it together with
/// the signature verifier, so only requests whose signature verified reach it.
#[derive(Debug)]
pub struct SnsConfirmer {
    client: DeliveryClient,
    rule: SnsUrlRule,
    remembered: Mutex<Remembered>,
}

/// The idempotency key of a request: a digest, so the token is not kept in clear.
fn request_key(tenant_id: &str, topic_arn: &str, subscribe_url: &str) -> String {
    let mut digest = sha2::Sha256::new();
    for part in [tenant_id, topic_arn, subscribe_url] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    data_encoding::HEXLOWER.encode(&digest.finalize())
}

/// The `<SubscriptionArn>` of a `ConfirmSubscriptionResponse`.
fn subscription_arn(answer: &str) -> Option<String> {
    let start = answer.find("<SubscriptionArn>")? + "<SubscriptionArn>".len();
    let end = start + answer[start..].find("</SubscriptionArn>")?;
    let arn = answer[start..end].trim();
    (arn.starts_with("arn:") && arn.len() <= 512).then(|| arn.to_owned())
}

impl SnsConfirmer {
    pub(super) fn new(client: DeliveryClient, rule: SnsUrlRule) -> Self {
        Self {
            client,
            rule,
            remembered: Mutex::new(Remembered::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The subscriptions confirmed by this process (the most recent 4096).
    pub fn confirmations(&self) -> Vec<SnsConfirmation> {
        let remembered = self.lock();
        remembered
            .order
            .iter()
            .filter_map(|key| match remembered.slots.get(key) {
                Some(Slot::Done(done)) => Some(done.clone()),
                _ => None,
            })
            .collect()
    }

    /// Confirms one subscription request, once.
    pub async fn confirm(
        &self,
        tenant_id: &str,
        topic_arn: &str,
        subscribe_url: &str,
    ) -> Result<ConfirmOutcome, SnsFetchError> {
        let key = request_key(tenant_id, topic_arn, subscribe_url);
        {
            let mut remembered = self.lock();
            if remembered.slots.contains_key(&key) {
                return Ok(ConfirmOutcome::AlreadyConfirmed);
            }
            remembered.slots.insert(key.clone(), Slot::InFlight);
        }
        let answer = match get_text(&self.client, &self.rule, subscribe_url).await {
            Ok(answer) => answer,
            Err(error) => {
                // Not confirmed: SNS's next resend may try again.
                self.lock().slots.remove(&key);
                return Err(error);
            }
        };
        let done = SnsConfirmation {
            tenant_id: tenant_id.to_owned(),
            topic_arn: topic_arn.to_owned(),
            subscription_arn: subscription_arn(&answer),
            confirmed_at: Utc::now(),
        };
        let mut remembered = self.lock();
        remembered
            .slots
            .insert(key.clone(), Slot::Done(done.clone()));
        remembered.order.push_back(key);
        while remembered.order.len() > REMEMBERED {
            if let Some(old) = remembered.order.pop_front() {
                remembered.slots.remove(&old);
            }
        }
        Ok(ConfirmOutcome::Confirmed(done))
    }
}

#[async_trait]
impl SnsSubscriptionHandler for SnsConfirmer {
    async fn confirmation_requested(&self, tenant_id: &str, topic_arn: &str, subscribe_url: &str) {
        match self.confirm(tenant_id, topic_arn, subscribe_url).await {
            Ok(ConfirmOutcome::Confirmed(done)) => {
                metrics::counter!(crate::metrics::SNS_CONFIRMATIONS, "outcome" => "confirmed")
                    .increment(1);
                tracing::info!(
                    tenant_id,
                    topic_arn,
                    subscription_arn = done.subscription_arn.as_deref().unwrap_or("unknown"),
                    "SNS subscription confirmed"
                );
            }
            Ok(ConfirmOutcome::AlreadyConfirmed) => {
                tracing::debug!(tenant_id, topic_arn, "SNS subscription already confirmed");
            }
            Err(error) => {
                metrics::counter!(crate::metrics::SNS_CONFIRMATIONS, "outcome" => "failed")
                    .increment(1);
                tracing::warn!(tenant_id, topic_arn, %error, "SNS subscription not confirmed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscription_arn_is_read_from_the_answer() {
        let answer = "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
            <ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:us-east-1:1:t:abc</SubscriptionArn>\
            </ConfirmSubscriptionResult></ConfirmSubscriptionResponse>";
        assert_eq!(
            subscription_arn(answer).as_deref(),
            Some("arn:aws:sns:us-east-1:1:t:abc")
        );
        assert_eq!(
            subscription_arn("<SubscriptionArn>junk</SubscriptionArn>"),
            None
        );
        assert_eq!(subscription_arn("<SubscriptionArn>arn:x"), None);
        assert_eq!(subscription_arn(""), None);
    }

    #[test]
    fn request_keys_do_not_hold_the_token_and_separate_their_parts() {
        let key = request_key("acme", "arn:t", "https://sns/?Token=secret-token");
        assert!(!key.contains("secret"));
        assert_ne!(request_key("a", "bc", "d"), request_key("ab", "c", "d"));
    }
}
