//! What an outbox stores, and the delivery rule both outboxes apply.

use std::time::Duration;

use aisoc_notify_core::Notification;
use aisoc_notify_core::routing::{DispatchReport, NotificationRouter};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// A notification that could not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The notification.
    pub notification: Notification,
    /// The channels still failing.
    pub channels: Vec<String>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: String,
}

/// Retry settings shared by the outboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    /// Delay before retrying failed channels (doubles each attempt).
    pub retry_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_delay: Duration::from_secs(10),
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Finished (delivered, or refused for good).
    Done,
    /// Retry these channels later.
    Retry(Queued),
    /// Give up.
    Dead(DeadLetter),
}

/// Delivers one queued notification and decides what follows.
pub async fn attempt(
    router: &NotificationRouter,
    queued: &Queued,
    settings: &RetrySettings,
) -> Next {
    let report: DispatchReport = match &queued.channels {
        Some(channels) => router.dispatch_to(&queued.notification, channels).await,
        None => router.dispatch(&queued.notification).await,
    };
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.result.as_ref().is_err_and(|e| e.is_retryable()))
        .collect();
    for refused in report
        .outcomes
        .iter()
        .filter(|o| o.result.as_ref().is_err_and(|e| !e.is_retryable()))
    {
        tracing::warn!(channel = %refused.channel_id, "notification refused for good; not retried");
    }
    if failed.is_empty() {
        return Next::Done;
    }
    let channels: Vec<String> = failed.iter().map(|o| o.channel_id.clone()).collect();
    let last_error = failed
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", o.channel_id))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let attempts = queued.attempt + 1;
    if attempts >= settings.max_attempts {
        return Next::Dead(DeadLetter {
            notification: queued.notification.clone(),
            channels,
            attempts,
            last_error,
        });
    }
    let delay = settings
        .retry_delay
        .saturating_mul(1 << queued.attempt.min(10));
    let retry_after = failed
        .iter()
        .filter_map(|o| o.result.as_ref().err().and_then(|e| e.retry_after()))
        .max();
    let delay = retry_after.map_or(delay, |d| d.max(delay));
    Next::Retry(Queued {
        notification: queued.notification.clone(),
        channels: Some(channels),
        attempt: attempts,
        not_before: Some(
            Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
        ),
    })
}
