//! The [`Notifier`] trait and its typed outcomes.
//!
//! A notifier delivers one [`Notification`] to one configured destination. It answers with
//! [`Delivered`] or a [`NotifyError`] whose [`is_retryable`](NotifyError::is_retryable) tells a
//! caller (the router, the durable outbox) whether trying again later can help.

use std::time::Duration;

use async_trait::async_trait;

use crate::delivery::DeliveryError;
use crate::notification::Notification;
use crate::template::TemplateError;

/// Delivers notifications to one destination (a Slack channel, a Teams webhook, a mailbox…).
///
/// Implementations are cheap to share (`Arc<dyn Notifier>`) and never put credentials in
/// errors or logs.
///
/// ```
/// use aisoc_notify_core::{async_trait, Delivered, Notification, Notifier, NotifyError};
///
/// /// Writes notifications to standard error; handy in development.
/// struct StderrNotifier;
///
/// #[async_trait]
/// impl Notifier for StderrNotifier {
///     fn channel_type(&self) -> &str {
///         "stderr"
///     }
///
///     async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
///         eprintln!("[{}] {}", n.severity, n.title);
///         Ok(Delivered::default())
///     }
/// }
/// ```
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The kind of channel (`slack`, `teams`, `webpush`, …), for reports and metrics.
    fn channel_type(&self) -> &str;

    /// Delivers one notification.
    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError>;
}

/// What a successful delivery reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivered {
    /// The destination's identifier for what was posted (a Slack `ts`, a message id…).
    pub receipt: Option<String>,
    /// How many HTTP attempts it took (0 for channels that are not HTTP).
    pub attempts: u32,
}

impl Delivered {
    /// A delivery with the destination's receipt.
    pub fn with_receipt(receipt: impl Into<String>) -> Self {
        Self {
            receipt: Some(receipt.into()),
            attempts: 0,
        }
    }

    /// Records how many attempts the delivery took.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The channel is configured wrongly; fix the configuration.
    #[error("invalid channel configuration: {0}")]
    Config(String),
    /// The notification could not be rendered for this channel.
    #[error("could not render the notification: {0}")]
    Render(String),
    /// A message template failed to render.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The rendered payload is larger than the destination accepts.
    #[error("payload of {size} bytes exceeds the destination's limit of {max} bytes")]
    PayloadTooLarge {
        /// The payload size.
        size: usize,
        /// The destination's limit.
        max: usize,
    },
    /// The destination refused the notification; retrying the same request will not help.
    #[error("{service} rejected the notification ({code}): {message}")]
    Rejected {
        /// The service that refused (`slack`, `teams`, …).
        service: &'static str,
        /// The service's error code (`channel_not_found`, an HTTP status, …).
        code: String,
        /// A human-readable explanation.
        message: String,
    },
    /// The destination no longer exists (a revoked webhook, an expired push subscription).
    #[error("{service} destination is gone ({code})")]
    Gone {
        /// The service.
        service: &'static str,
        /// The service's error code.
        code: String,
    },
    /// The destination is temporarily unable to take the notification (an internal error, a
    /// maintenance window); trying again later can succeed.
    #[error("{service} is temporarily unavailable ({code}): {message}")]
    Unavailable {
        /// The service.
        service: &'static str,
        /// The service's error code.
        code: String,
        /// A human-readable explanation.
        message: String,
    },
    /// The destination is throttling us.
    #[error("{service} is rate limiting; retry after {retry_after:?}")]
    RateLimited {
        /// The service.
        service: &'static str,
        /// How long the service asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The HTTP exchange failed (connect error, timeout, unexpected status).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// The notifier did not finish within the router's deadline.
    #[error("delivery did not finish within {0:?}")]
    DeadlineExceeded(Duration),
    /// The notifier failed unexpectedly (it panicked); a bug to report.
    #[error("internal error in notifier: {0}")]
    Internal(String),
}

impl NotifyError {
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::RateLimited { .. }
            | NotifyError::Unavailable { .. }
            | NotifyError::DeadlineExceeded(_) => true,
            NotifyError::Delivery(err) => err.is_retryable(),
            NotifyError::Config(_)
            | NotifyError::Render(_)
            | NotifyError::Template(_)
            | NotifyError::PayloadTooLarge { .. }
            | NotifyError::Rejected { .. }
            | NotifyError::Gone { .. }
            | NotifyError::Internal(_) => false,
        }
    }

    /// How long the destination asked us to wait before trying again, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::RateLimited { retry_after, .. } => *retry_after,
            NotifyError::Delivery(err) => err.retry_after(),
            _ => None,
        }
    }
}

/// The outcome of one delivery as a value: what a report or a metric shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered.
    Delivered(Delivered),
    /// Refused for good; `reason` says why.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Failed in a way that may succeed later.
    RetryableFailure {
        /// Why.
        reason: String,
        /// How long to wait, when the destination said.
        retry_after: Option<Duration>,
    },
}

impl DeliveryOutcome {
    /// A short label for metrics and logs: `delivered`, `rejected` or `retryable`.
    pub fn label(&self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered(_) => "delivered",
            DeliveryOutcome::Rejected { .. } => "rejected",
            DeliveryOutcome::RetryableFailure { .. } => "retryable",
        }
    }
}

impl From<&Result<Delivered, NotifyError>> for DeliveryOutcome {
    fn from(result: &Result<Delivered, NotifyError>) -> Self {
        match result {
            Ok(delivered) => DeliveryOutcome::Delivered(delivered.clone()),
            Err(err) if err.is_retryable() => DeliveryOutcome::RetryableFailure {
                reason: err.to_string(),
                retry_after: err.retry_after(),
            },
            Err(err) => DeliveryOutcome::Rejected {
                reason: err.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_matches_the_delivery_semantics() {
        let limited = NotifyError::RateLimited {
            service: "slack",
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));

        let rejected = NotifyError::Rejected {
            service: "slack",
            code: "channel_not_found".into(),
            message: "the channel does not exist".into(),
        };
        assert!(!rejected.is_retryable());
        assert_eq!(
            DeliveryOutcome::from(&Err(rejected)).label(),
            "rejected",
            "a permanent refusal is not retried"
        );
        let outcome = DeliveryOutcome::from(&Err(limited));
        assert_eq!(
            outcome,
            DeliveryOutcome::RetryableFailure {
                reason: "slack is rate limiting; retry after Some(3s)".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
    }
}
