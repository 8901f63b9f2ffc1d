//! A durable outbox: enqueue a notification, and it is delivered even if the process dies
//! mid-delivery.
//!
//! [`Outbox::enqueue`] returns once the notification is stored. Workers take notifications,
//! deliver them through a [`NotificationRouter`]
//! and acknowledge only after an outcome:
//!
//! - everything delivered: done;
//! - a channel refused it for good or is gone (its failure's
//!   [`RetryClass`](aisoc_notify_core::RetryClass) is `NonRetryable` or `Gone`): a dead letter
//!   with the reason, at once;
//! - some channels failed in a retryable way: a follow-up for just those channels is queued,
//!   due after the core backoff (exponential, with jitter) or the destination's `Retry-After`,
//!   whichever is longer, so channels that worked are not sent the notification twice;
//! - a worker that dies before acknowledging leaves the notification to be redelivered to
//!   another worker;
//! - after the configured number of attempts a notification goes to the dead-letter subject
//!   with its last error.
//!
//! [`MemoryOutbox`](memory::MemoryOutbox) keeps the same rules in one process (not durable);
//! `NatsOutbox` (feature `nats`) is the durable one: a work-queue stream shared by any number of
//! workers and processes.

pub mod envelope;
pub mod memory;
#[cfg(feature = "nats")]
pub mod nats;

use std::sync::Arc;

use aisoc_notify_core::routing::NotificationRouter;
use aisoc_notify_core::{Notification, async_trait};

/// Where a worker finds the router for each delivery attempt.
///
/// A fixed `Arc<NotificationRouter>` is one; a host whose channels change at run time implements
/// it to hand out the current router, so queued notifications reach channels added after they
/// were queued and skip channels removed since.
pub trait RouterSource: Send + Sync {
    /// The router to deliver through now.
    fn current(&self) -> Arc<NotificationRouter>;
}

impl RouterSource for Arc<NotificationRouter> {
    fn current(&self) -> Arc<NotificationRouter> {
        Arc::clone(self)
    }
}

/// Why a notification could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The backing store is unavailable; nothing was queued.
    #[error("outbox unavailable: {0}")]
    Unavailable(String),
    /// The notification could not be encoded.
    #[error("notification could not be encoded: {0}")]
    Encoding(String),
}

/// Queues notifications for delivery.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues a notification; `Ok` means it is stored and will be delivered.
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError>;
}
