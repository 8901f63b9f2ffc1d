//! What an outbox stores, and the delivery rule both outboxes apply.
//!
//! Every queued notification has an idempotency key (its `dedupe_key`). The message ids the
//! durable outbox publishes under are derived from it, so publishing the same retry or dead
//! letter twice (a worker that died between publishing and acknowledging, and the worker that
//! took the message over) stores it once.

use std::time::Duration;

use aisoc_notify_core::Notification;
use aisoc_notify_core::retry::{RetryClass, RetryPolicy};
use aisoc_notify_core::routing::{DispatchReport, NotificationRouter};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{OutboxError, RouterSource};

/// Gives `notification` an idempotency key when it has none (`ntf_` and 24 random hex
/// digits), and answers the key. Receivers that support it see this key on every delivery of
/// the notification, retries included.
pub fn ensure_idempotency_key(notification: &mut Notification) -> &str {
    notification.dedupe_key.get_or_insert_with(|| {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes: [u8; 12] = rand::random();
        let mut key = String::with_capacity(4 + 2 * bytes.len());
        key.push_str("ntf_");
        for b in bytes {
            key.push(char::from(HEX[usize::from(b >> 4)]));
            key.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        key
    })
}

/// `channels`, sorted and joined with commas: the same set always reads the same.
fn channel_set(channels: &[String]) -> String {
    let mut sorted: Vec<&str> = channels.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(",")
}

/// A queued notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    /// The notification.
    pub notification: Notification,
    /// When set, only these channels (a retry of the ones that failed).
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Attempts made before this one.
    #[serde(default)]
    pub attempt: u32,
    /// Not to be delivered before this time.
    #[serde(default)]
    pub not_before: Option<DateTime<Utc>>,
}

impl Queued {
    /// A first attempt at `notification`, to every channel it routes to, with an idempotency
    /// key.
    pub fn new(mut notification: Notification) -> Self {
        ensure_idempotency_key(&mut notification);
        Self {
            notification,
            channels: None,
            attempt: 0,
            not_before: None,
        }
    }

    /// The idempotency key (empty only for a notification queued without one by an older
    /// version; the NATS worker gives those one from their stream position).
    pub fn key(&self) -> &str {
        self.notification.dedupe_key.as_deref().unwrap_or_default()
    }

    /// The channels this retry names that `router` does not have.
    pub fn unknown_channels(&self, router: &NotificationRouter) -> Vec<String> {
        self.channels
            .iter()
            .flatten()
            .filter(|id| !router.channels().iter().any(|c| &c.id == *id))
            .cloned()
            .collect()
    }

    /// The message id of this retry: the same notification, attempt and channels give the
    /// same id, so a retry published twice is stored once.
    pub fn retry_message_id(&self) -> String {
        format!(
            "{}:retry-{}:{}",
            self.key(),
            self.attempt,
            channel_set(self.channels.as_deref().unwrap_or_default())
        )
    }
}

/// A notification that could not be delivered to some channels, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The notification.
    pub notification: Notification,
    /// The channels it was not delivered to.
    pub channels: Vec<String>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error, per channel (`<channel>: <error>`).
    pub last_error: String,
    /// Why it stopped: `gone` (the destination no longer exists), `non_retryable` (refused
    /// for good) or `retryable`/`throttled` (attempts exhausted).
    #[serde(default)]
    pub class: String,
    /// When it was given up on.
    #[serde(default)]
    pub dead_at: Option<DateTime<Utc>>,
}

impl DeadLetter {
    /// The message id of this dead letter: the same notification, attempts, class and channels
    /// give the same id, so a dead letter published twice is stored once.
    pub fn message_id(&self) -> String {
        format!(
            "{}:dead-{}-{}:{}",
            self.notification.dedupe_key.as_deref().unwrap_or_default(),
            self.attempts,
            self.class,
            channel_set(&self.channels)
        )
    }

    /// A retry of this letter's channels, attempts starting over, due now.
    pub fn replay(&self) -> Queued {
        Queued {
            notification: self.notification.clone(),
            channels: Some(self.channels.clone()),
            attempt: 0,
            not_before: None,
        }
    }
}

/// A dead letter as an outbox lists it: with the id to replay it by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDeadLetter {
    /// Opaque; pass it to [`Outbox::replay_dead_letter`](crate::Outbox::replay_dead_letter).
    pub id: String,
    /// The letter: notification, channels, attempts, reason (`last_error`) and class.
    #[serde(flatten)]
    pub letter: DeadLetter,
}

/// Retry settings shared by the outboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    /// Delay before the first retry; later retries grow exponentially, with jitter.
    pub retry_delay: Duration,
    /// The longest computed delay between retries (a destination's `Retry-After` may ask for
    /// longer, and is honoured).
    pub max_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetrySettings {
    /// The core backoff policy these settings stand for.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            initial_backoff: self.retry_delay,
            max_backoff: self.max_delay.max(self.retry_delay),
            max_retry_after: Duration::MAX,
        }
    }
}

/// What to do after an attempt: a follow-up for the channels worth retrying, and dead letters
/// for the channels that will never take it or ran out of attempts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Next {
    /// Retry these channels later.
    pub retry: Option<Queued>,
    /// Give up on these channels, with the reason.
    pub dead: Vec<DeadLetter>,
}

impl Next {
    /// Whether nothing follows (everything delivered).
    pub fn is_done(&self) -> bool {
        self.retry.is_none() && self.dead.is_empty()
    }
}

/// Delivers one queued notification and decides what follows, reading only each failure's
/// [`RetryClass`]:
///
/// - `Gone` and `NonRetryable`: a dead letter with the reason, at once (a retry naming a
///   channel the router does not have is `Gone` too);
/// - `Throttled`: retried no earlier than the destination asked;
/// - `Retryable`: retried after the policy's backoff (exponential, with jitter);
/// - retryable failures on the last attempt: a dead letter.
pub async fn attempt(
    router: &NotificationRouter,
    queued: &Queued,
    settings: &RetrySettings,
) -> Next {
    let report: DispatchReport = match &queued.channels {
        Some(channels) => router.dispatch_to(&queued.notification, channels).await,
        None => router.dispatch(&queued.notification).await,
    };
    let attempts = queued.attempt + 1;
    let policy = settings.policy();
    let last = attempts >= policy.max_attempts;
    let mut next = Next::default();
    // A retry or replay names its channels by id; one this router does not have (removed, or
    // configured under another id on another node) is dead-lettered, not silently skipped.
    let unknown = queued.unknown_channels(router);
    if !unknown.is_empty() {
        next.dead.push(DeadLetter {
            notification: queued.notification.clone(),
            last_error: unknown
                .iter()
                .map(|id| format!("{id}: no such channel here"))
                .collect::<Vec<_>>()
                .join("; "),
            channels: unknown,
            attempts,
            class: RetryClass::Gone.label().to_owned(),
            dead_at: Some(Utc::now()),
        });
    }
    let mut retryable: Vec<(String, RetryClass)> = Vec::new();
    for outcome in &report.outcomes {
        let Err(error) = &outcome.result else {
            continue;
        };
        let class = error.retry_class();
        if class.is_retryable() && !last {
            retryable.push((outcome.channel_id.clone(), class));
            continue;
        }
        // One dead letter per class: the channels that are gone, those refused for good,
        // those out of attempts.
        let reason = format!("{}: {error}", outcome.channel_id);
        match next.dead.iter_mut().find(|l| l.class == class.label()) {
            Some(letter) => {
                letter.channels.push(outcome.channel_id.clone());
                letter.last_error = format!("{}; {reason}", letter.last_error);
            }
            None => next.dead.push(DeadLetter {
                notification: queued.notification.clone(),
                channels: vec![outcome.channel_id.clone()],
                attempts,
                last_error: reason,
                class: class.label().to_owned(),
                dead_at: Some(Utc::now()),
            }),
        }
    }
    for letter in &next.dead {
        tracing::warn!(channels = ?letter.channels, class = %letter.class, "notification dead-lettered");
    }
    if retryable.is_empty() {
        return next;
    }
    let delay = retryable
        .iter()
        .filter_map(|(_, class)| policy.wait_for(*class, attempts))
        .max()
        .unwrap_or(settings.retry_delay);
    next.retry = Some(Queued {
        notification: queued.notification.clone(),
        channels: Some(retryable.into_iter().map(|(id, _)| id).collect()),
        attempt: attempts,
        not_before: Some(
            Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
        ),
    });
    next
}

/// [`attempt`] through the channels as they are stored now: a first attempt (which fans out
/// to every channel) always goes through [`RouterSource::refreshed`], so a channel created on
/// another node a moment before the notification was queued is among them; a retry goes
/// through the current router unless it names a channel that router lacks, which is then
/// looked for with `refreshed` before it is dead-lettered as `gone`. Fails only when that
/// refresh fails, with nothing attempted: the caller leaves the notification queued.
pub async fn attempt_through(
    source: &dyn RouterSource,
    queued: &Queued,
    settings: &RetrySettings,
) -> Result<Next, OutboxError> {
    let mut router = source.current();
    if queued.channels.is_none() || !queued.unknown_channels(&router).is_empty() {
        router = source.refreshed().await?;
    }
    Ok(attempt(&router, queued, settings).await)
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::{EventType, Notification, Severity};

    use super::ensure_idempotency_key;

    #[test]
    fn a_generated_idempotency_key_is_ntf_and_24_lowercase_hex_digits_and_a_given_one_stays() {
        let mut notification =
            Notification::new("acme", EventType::P0Alert, Severity::High, "Sign-in burst");
        let key = ensure_idempotency_key(&mut notification).to_owned();
        let hex = key.strip_prefix("ntf_").expect("the ntf_ prefix");
        assert_eq!(hex.len(), 24);
        assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(ensure_idempotency_key(&mut notification), key);
    }
}
