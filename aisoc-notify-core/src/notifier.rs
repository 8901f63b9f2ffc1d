//! The [`Notifier`] trait and its typed outcomes.
//!
//! A notifier delivers one [`Notification`] to one configured destination. It answers with
//! [`Delivered`] or a [`NotifyError`] whose [`retry_class`](NotifyError::retry_class) tells a
//! caller (the router, the durable outbox) whether and when trying again can help; it is the
//! only thing they read.

use std::time::Duration;

use async_trait::async_trait;

use crate::config::ConfigError;
use crate::delivery::DeliveryError;
use crate::notification::Notification;
use crate::retry::RetryClass;
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
    Config(#[from] ConfigError),
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
    /// The error for a destination's refusal that an adapter has classified (from the
    /// vendor's code, or the HTTP status): `Throttled` becomes `RateLimited`, `Retryable`
    /// `Unavailable`, `Gone` `Gone`, anything else `Rejected`, so that
    /// [`retry_class`](Self::retry_class) gives back `class`. `code` is the vendor's short
    /// code; `message` is the adapter's own words, never the peer's body.
    ///
    /// ```
    /// use aisoc_notify_core::{NotifyError, RetryClass};
    ///
    /// let err = NotifyError::refused("slack", RetryClass::Gone, "channel_is_archived", "archived");
    /// assert_eq!(err.retry_class(), RetryClass::Gone);
    /// assert_eq!(err.to_string(), "slack destination is gone (channel_is_archived)");
    /// ```
    pub fn refused(
        service: &'static str,
        class: RetryClass,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        match class {
            RetryClass::Throttled(wait) => NotifyError::RateLimited {
                service,
                retry_after: Some(wait),
            },
            RetryClass::Retryable => NotifyError::Unavailable {
                service,
                code: code.into(),
                message: message.into(),
            },
            RetryClass::Gone => NotifyError::Gone {
                service,
                code: code.into(),
            },
            _ => NotifyError::Rejected {
                service,
                code: code.into(),
                message: message.into(),
            },
        }
    }

    /// Whether, and when, trying again can succeed: the one classification the router and the
    /// outbox act on.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            NotifyError::RateLimited { retry_after, .. } => RetryClass::throttled(*retry_after),
            NotifyError::Unavailable { .. } | NotifyError::DeadlineExceeded(_) => {
                RetryClass::Retryable
            }
            NotifyError::Delivery(err) => err.retry_class(),
            NotifyError::Gone { .. } => RetryClass::Gone,
            NotifyError::Config(_)
            | NotifyError::Render(_)
            | NotifyError::Template(_)
            | NotifyError::PayloadTooLarge { .. }
            | NotifyError::Rejected { .. }
            | NotifyError::Internal(_) => RetryClass::NonRetryable,
        }
    }

    /// Whether trying again later can succeed; shorthand for
    /// `self.retry_class().is_retryable()`.
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }

    /// The typed error for a destination's HTTP answer that is not a success, for services
    /// without codes of their own: the status picks the variant through
    /// [`RetryClass::for_status`]; `message` is a short explanation (never the peer's body).
    ///
    /// ```
    /// use aisoc_notify_core::{NotifyError, RetryClass};
    /// use std::time::Duration;
    ///
    /// let gone = NotifyError::from_status("ntfy", 410, None, "topic removed");
    /// assert_eq!(gone.retry_class(), RetryClass::Gone);
    /// let slow = NotifyError::from_status("ntfy", 429, Some(Duration::from_secs(9)), "slow down");
    /// assert_eq!(slow.retry_class(), RetryClass::Throttled(Duration::from_secs(9)));
    /// ```
    pub fn from_status(
        service: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        message: impl Into<String>,
    ) -> Self {
        let code = status.to_string();
        match RetryClass::for_status(status, retry_after) {
            RetryClass::Throttled(wait) => NotifyError::RateLimited {
                service,
                retry_after: Some(wait),
            },
            RetryClass::Retryable if status == 429 => NotifyError::RateLimited {
                service,
                retry_after: None,
            },
            RetryClass::Retryable => NotifyError::Unavailable {
                service,
                code,
                message: message.into(),
            },
            RetryClass::Gone => NotifyError::Gone { service, code },
            _ => NotifyError::Rejected {
                service,
                code,
                message: message.into(),
            },
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
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// Delivered.
    Delivered(Delivered),
    /// Not delivered; `class` says whether and when trying again can help.
    Failed {
        /// Why.
        reason: String,
        /// The failure's retry class.
        class: RetryClass,
    },
}

impl DeliveryOutcome {
    /// A short label for metrics and logs: `delivered`, `rejected` (not retryable), `gone` or
    /// `retryable` (retryable or throttled).
    pub fn label(&self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered(_) => "delivered",
            DeliveryOutcome::Failed { class, .. } => match class {
                RetryClass::Gone => "gone",
                class if class.is_retryable() => "retryable",
                _ => "rejected",
            },
        }
    }

    /// The failure's retry class; `None` when delivered.
    pub fn retry_class(&self) -> Option<RetryClass> {
        match self {
            DeliveryOutcome::Delivered(_) => None,
            DeliveryOutcome::Failed { class, .. } => Some(*class),
        }
    }
}

impl From<&Result<Delivered, NotifyError>> for DeliveryOutcome {
    fn from(result: &Result<Delivered, NotifyError>) -> Self {
        match result {
            Ok(delivered) => DeliveryOutcome::Delivered(delivered.clone()),
            Err(err) => DeliveryOutcome::Failed {
                reason: err.to_string(),
                class: err.retry_class(),
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
        assert_eq!(
            limited.retry_class(),
            RetryClass::Throttled(Duration::from_secs(3))
        );
        let unsaid = NotifyError::RateLimited {
            service: "slack",
            retry_after: None,
        };
        assert_eq!(unsaid.retry_class(), RetryClass::Retryable);

        let rejected = NotifyError::Rejected {
            service: "slack",
            code: "channel_not_found".into(),
            message: "the channel does not exist".into(),
        };
        assert_eq!(rejected.retry_class(), RetryClass::NonRetryable);
        assert_eq!(
            DeliveryOutcome::from(&Err(rejected)).label(),
            "rejected",
            "a permanent refusal is not retried"
        );
        let gone = NotifyError::Gone {
            service: "teams",
            code: "410".into(),
        };
        assert_eq!(DeliveryOutcome::from(&Err(gone)).label(), "gone");
        let outcome = DeliveryOutcome::from(&Err(limited));
        assert_eq!(
            outcome,
            DeliveryOutcome::Failed {
                reason: "slack is rate limiting; retry after Some(3s)".into(),
                class: RetryClass::Throttled(Duration::from_secs(3)),
            }
        );
        assert_eq!(outcome.label(), "retryable");
    }
}
