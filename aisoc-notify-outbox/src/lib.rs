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
//! [`MemoryOutbox`](memory::MemoryOutbox) keeps the same rules in one process (not durable,
//! and bounded: a full one refuses with [`OutboxError::Full`], see [`memory`]);
//! `NatsOutbox` (feature `nats`) is the durable one: a work-queue stream shared by any number of
//! workers and processes.
//!
//! Neither duplicates nor drops, within what a network allows:
//!
//! - deliveries run concurrently, up to a bound per worker (default [`DEFAULT_CONCURRENCY`]), so
//!   a slow destination holds one slot, not the notifications behind it;
//! - every queued notification carries an idempotency key (its `dedupe_key`, generated at
//!   enqueue when absent, see [`envelope::ensure_idempotency_key`]) that stays the same across
//!   retries and replays; adapters that can carry it send it (the signed webhook as
//!   `Idempotency-Key` and Standard Webhooks `webhook-id`), so a receiver can drop the repeat
//!   that at-least-once delivery may produce after a crash. Slack and Teams have no such header:
//!   there a crash between delivering and acknowledging can show a message twice;
//! - dead letters are kept with their reason and can be listed and replayed
//!   ([`Outbox::list_dead_letters`], [`Outbox::replay_dead_letter`]).
//!
//! Features: `nats` (the JetStream outbox), `test-util` (the [`conformance`] suite every
//! outbox passes, and fault injection for the NATS worker).

#[cfg(feature = "test-util")]
pub mod conformance;
pub mod envelope;
pub mod memory;
pub mod metrics;
#[cfg(feature = "nats")]
pub mod nats;

use std::sync::Arc;

use aisoc_notify_core::routing::NotificationRouter;
use aisoc_notify_core::{Notification, async_trait};

use crate::envelope::StoredDeadLetter;

/// How many deliveries one worker runs at once unless configured otherwise.
///
/// A NATS worker asks the server only for messages it has a free slot for, and a message asked
/// for takes a round trip to arrive, so one worker delivers at most this many per round trip
/// however fast its channels are (and, to destinations that take a second, this many a second).
/// The outbox bench's sweep of this bound is in `benches/README.md`.
pub const DEFAULT_CONCURRENCY: usize = 128;

/// Where a worker finds the router for each delivery attempt.
///
/// A fixed `Arc<NotificationRouter>` is one; a host whose channels change at run time implements
/// it to hand out the current router, so queued notifications reach channels added after they
/// were queued. A retry names its channels by id. When the current router lacks one of them the
/// worker asks [`refreshed`](Self::refreshed) once, so a host whose channels are kept in a
/// shared store picks up a channel another node created (or this node has not reloaded yet)
/// instead of giving up on it; a channel still missing after that (removed since) is
/// dead-lettered as `gone`, so nothing is dropped silently. Hosts with several nodes give a
/// channel the same id on each.
#[async_trait]
pub trait RouterSource: Send + Sync {
    /// The router to deliver through now.
    fn current(&self) -> Arc<NotificationRouter>;

    /// The router after re-reading the channels from wherever they are kept, for when
    /// [`current`](Self::current) may be behind; called before a retry naming a channel
    /// `current` lacks is dead-lettered. An error (the store is unreachable) leaves the
    /// notification queued, to be tried again later, rather than dead-lettering a channel that
    /// may exist. The default is `current` (nothing to re-read).
    async fn refreshed(&self) -> Result<Arc<NotificationRouter>, OutboxError> {
        Ok(self.current())
    }
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
    /// The outbox holds as many notifications as it may (queued, being delivered or waiting to
    /// retry); nothing was queued. Try again once deliveries have drained some.
    #[error(
        "outbox full: {capacity} notifications are already queued or waiting to retry; try again later"
    )]
    Full {
        /// The most notifications the outbox holds.
        capacity: usize,
    },
    /// No dead letter has this id (never existed, or already replayed).
    #[error("no dead letter with id '{id}'")]
    DeadLetterNotFound {
        /// The id asked for.
        id: String,
    },
}

/// Queues notifications for delivery, and keeps those that could not be delivered.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues a notification; `Ok` means it is stored and will be delivered. A notification
    /// without a `dedupe_key` is given one (its idempotency key); on NATS, notifications queued
    /// with the same `dedupe_key` within two minutes are stored once.
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError>;

    /// Dead letters, oldest first: at most `limit`, starting after the one with id `after`.
    async fn list_dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredDeadLetter>, OutboxError>;

    /// Queues dead letter `id` again for the channels it names (attempts start over, the
    /// idempotency key stays) and removes it; answers what was replayed.
    async fn replay_dead_letter(&self, id: &str) -> Result<StoredDeadLetter, OutboxError>;
}
