//! An in-process outbox with the same delivery rules as the durable one; notifications are lost
//! if the process dies, so use it for development and single-node hosts that accept that.
//!
//! # Bounded, whatever the traffic
//!
//! A process that queues faster than its destinations accept must not hold more and more
//! notifications until it runs out of memory, so both things this outbox keeps have a cap
//! ([`MemoryOutboxLimits`]):
//!
//! - **Held notifications**, at most `capacity` ([`DEFAULT_CAPACITY`]). A notification takes a
//!   slot when it is queued and gives it back only when it is delivered or dead-lettered: while
//!   it waits in the queue, while it is being delivered, and while a retry waits for its
//!   `not_before`. A retry keeps the slot of the attempt before it, so there is no second,
//!   unbounded queue of retries behind the first. With every slot taken,
//!   [`enqueue`](Outbox::enqueue) and [`replay_dead_letter`](Outbox::replay_dead_letter) fail
//!   at once with [`OutboxError::Full`]; nothing waits, and the caller decides (the gateway
//!   answers 503 with `Retry-After`).
//! - **Dead letters**, a ring of `dead_letters` ([`DEFAULT_DEAD_LETTER_CAPACITY`]). When it is
//!   full the oldest letter is dropped to keep the newest, with a warning in the log and a count
//!   in a metric. Dead letters that must all be kept need the durable outbox.
//!
//! Each bound has a metric (with `# HELP`, described when an outbox starts):
//!
//! | metric | type | what |
//! |---|---|---|
//! | `aisoc_outbox_memory_notifications` | gauge | notifications held: queued, being delivered or waiting to retry |
//! | `aisoc_outbox_memory_capacity` | gauge | the most that may be held |
//! | `aisoc_outbox_memory_refused_total` | counter | enqueues and replays refused because the outbox was full |
//! | `aisoc_outbox_memory_dead_letters` | gauge | dead letters kept |
//! | `aisoc_outbox_memory_dead_letters_dropped_total` | counter | dead letters dropped, oldest first, to make room |
//!
//! ```
//! use std::sync::Arc;
//! use aisoc_notify_core::routing::NotificationRouter;
//! use aisoc_notify_core::{EventType, Notification, Severity};
//! use aisoc_notify_outbox::{Outbox, OutboxError};
//! use aisoc_notify_outbox::envelope::RetrySettings;
//! use aisoc_notify_outbox::memory::{MemoryOutbox, MemoryOutboxLimits};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let router = Arc::new(NotificationRouter::builder().build().unwrap());
//! let limits = MemoryOutboxLimits { capacity: 1, ..MemoryOutboxLimits::default() };
//! let outbox = MemoryOutbox::start_with_limits(router, RetrySettings::default(), limits);
//! let alert = Notification::new("acme", EventType::P0Alert, Severity::High, "Beaconing");
//! outbox.enqueue(&alert).await.unwrap();
//! // The first one holds the only slot until its delivery is over.
//! assert_eq!(outbox.enqueue(&alert).await, Err(OutboxError::Full { capacity: 1 }));
//! # });
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aisoc_notify_core::{Notification, async_trait};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc};

use crate::envelope::{
    DeadLetter, Next, Queued, RetrySettings, StoredDeadLetter, attempt, attempt_through,
};
use crate::metrics::{
    MEMORY_CAPACITY, MEMORY_DEAD_LETTERS, MEMORY_DEAD_LETTERS_DROPPED, MEMORY_NOTIFICATIONS,
    MEMORY_REFUSED,
};
use crate::{DEFAULT_CONCURRENCY, Outbox, OutboxError, RouterSource};

/// How many notifications a memory outbox holds at most unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// How many dead letters a memory outbox keeps at most unless configured otherwise.
pub const DEFAULT_DEAD_LETTER_CAPACITY: usize = 1_000;

/// The caps of a [`MemoryOutbox`]; each is at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryOutboxLimits {
    /// Deliveries at once.
    pub concurrency: usize,
    /// Notifications held at once: queued, being delivered or waiting to retry.
    pub capacity: usize,
    /// Dead letters kept; the oldest is dropped to keep a new one.
    pub dead_letters: usize,
}

impl Default for MemoryOutboxLimits {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            capacity: DEFAULT_CAPACITY,
            dead_letters: DEFAULT_DEAD_LETTER_CAPACITY,
        }
    }
}

/// Dead letters by id, in the order they died; a ring of at most `capacity`.
#[derive(Debug)]
struct DeadLetters {
    letters: BTreeMap<u64, DeadLetter>,
    last_id: u64,
    capacity: usize,
    dropped: u64,
}

impl DeadLetters {
    fn new(capacity: usize) -> Self {
        Self {
            letters: BTreeMap::new(),
            last_id: 0,
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Keeps `letter` as the newest.
    fn push(&mut self, letter: DeadLetter) {
        self.last_id += 1;
        let id = self.last_id;
        self.put(id, letter);
    }

    /// Keeps `letter` under `id`, dropping the oldest letters beyond the capacity.
    fn put(&mut self, id: u64, letter: DeadLetter) {
        self.letters.insert(id, letter);
        while self.letters.len() > self.capacity {
            let Some((dropped_id, dropped)) = self.letters.pop_first() else {
                break;
            };
            self.dropped += 1;
            metrics::counter!(MEMORY_DEAD_LETTERS_DROPPED).increment(1);
            tracing::warn!(
                id = dropped_id,
                channels = ?dropped.channels,
                capacity = self.capacity,
                "in-memory dead letters are full; dropped the oldest"
            );
        }
        self.report();
    }

    fn take(&mut self, id: u64) -> Option<DeadLetter> {
        let letter = self.letters.remove(&id);
        self.report();
        letter
    }

    fn report(&self) {
        metrics::gauge!(MEMORY_DEAD_LETTERS).set(self.letters.len() as f64);
    }
}

/// One of the outbox's `capacity` slots, held by a notification until it is delivered or
/// dead-lettered.
#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn take(slots: &Arc<Semaphore>, capacity: usize) -> Result<Self, OutboxError> {
        match Arc::clone(slots).try_acquire_owned() {
            Ok(permit) => {
                metrics::gauge!(MEMORY_NOTIFICATIONS).increment(1.0);
                Ok(Self { _permit: permit })
            }
            Err(TryAcquireError::NoPermits) => {
                metrics::counter!(MEMORY_REFUSED).increment(1);
                Err(OutboxError::Full { capacity })
            }
            Err(TryAcquireError::Closed) => Err(stopped()),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!(MEMORY_NOTIFICATIONS).decrement(1.0);
    }
}

/// A queued notification and the slot it holds.
#[derive(Debug)]
struct Held {
    queued: Queued,
    slot: Slot,
}

/// An in-memory outbox and its worker.
#[derive(Debug, Clone)]
pub struct MemoryOutbox {
    sender: mpsc::Sender<Held>,
    slots: Arc<Semaphore>,
    capacity: usize,
    dead: Arc<Mutex<DeadLetters>>,
}

fn stopped() -> OutboxError {
    OutboxError::Unavailable("the outbox worker has stopped".into())
}

impl MemoryOutbox {
    /// Starts the outbox and a worker delivering through `router` (a fixed
    /// `Arc<NotificationRouter>` or any [`RouterSource`]) on the current runtime, with the
    /// default [`MemoryOutboxLimits`].
    pub fn start(router: impl RouterSource + 'static, settings: RetrySettings) -> Self {
        Self::start_with_limits(router, settings, MemoryOutboxLimits::default())
    }

    /// Like [`start`](Self::start), with at most `concurrency` deliveries at once (at least
    /// one).
    pub fn start_with_concurrency(
        router: impl RouterSource + 'static,
        settings: RetrySettings,
        concurrency: usize,
    ) -> Self {
        let limits = MemoryOutboxLimits {
            concurrency,
            ..MemoryOutboxLimits::default()
        };
        Self::start_with_limits(router, settings, limits)
    }

    /// Like [`start`](Self::start), within `limits`.
    pub fn start_with_limits(
        router: impl RouterSource + 'static,
        settings: RetrySettings,
        limits: MemoryOutboxLimits,
    ) -> Self {
        crate::metrics::describe_metrics();
        let capacity = limits.capacity.max(1);
        metrics::gauge!(MEMORY_CAPACITY).set(capacity as f64);
        // Every item in the channel holds a slot, so it never has more than `capacity` items
        // and sending never waits.
        let slots = Arc::new(Semaphore::new(capacity));
        let (sender, mut receiver) = mpsc::channel::<Held>(capacity);
        let dead = Arc::new(Mutex::new(DeadLetters::new(limits.dead_letters)));
        dead_letters_of(&dead).report();
        let retry = sender.clone();
        let dead_letters = Arc::clone(&dead);
        let router: Arc<dyn RouterSource> = Arc::new(router);
        let settings = Arc::new(settings);
        let deliveries = Arc::new(Semaphore::new(limits.concurrency.max(1)));
        tokio::spawn(async move {
            while let Some(held) = receiver.recv().await {
                if let Some(not_before) = held.queued.not_before
                    && let Ok(wait) = (not_before - chrono::Utc::now()).to_std()
                {
                    // The retry keeps its slot while it waits.
                    let retry = retry.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let Held { queued, slot } = held;
                        let due = Queued {
                            not_before: None,
                            ..queued
                        };
                        let _ = retry.try_send(Held { queued: due, slot });
                    });
                    continue;
                }
                let Ok(delivery) = Arc::clone(&deliveries).acquire_owned().await else {
                    return;
                };
                let (router, settings, retry, dead_letters) = (
                    Arc::clone(&router),
                    Arc::clone(&settings),
                    retry.clone(),
                    Arc::clone(&dead_letters),
                );
                tokio::spawn(async move {
                    let Held { queued, slot } = held;
                    // A retry naming a channel this router lacks re-reads the channels once
                    // first; if even that fails, the attempt goes through the current router
                    // (the unknown channel is dead-lettered, and can be replayed).
                    let next = match attempt_through(router.as_ref(), &queued, &settings).await {
                        Ok(next) => next,
                        Err(_) => attempt(&router.current(), &queued, &settings).await,
                    };
                    let Next { retry: again, dead } = next;
                    drop(delivery);
                    let mut kept = dead_letters_of(&dead_letters);
                    for letter in dead {
                        kept.push(letter);
                    }
                    drop(kept);
                    match again {
                        Some(next) => {
                            let _ = retry.try_send(Held { queued: next, slot });
                        }
                        None => drop(slot),
                    }
                });
            }
        });
        Self {
            sender,
            slots,
            capacity,
            dead,
        }
    }

    /// Notifications (per group of channels) refused for good or out of attempts, oldest
    /// first; at most the `dead_letters` limit, the newest kept.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        dead_letters_of(&self.dead)
            .letters
            .values()
            .cloned()
            .collect()
    }

    /// Dead letters dropped so far to make room for newer ones.
    pub fn dead_letters_dropped(&self) -> u64 {
        dead_letters_of(&self.dead).dropped
    }

    /// Notifications held now: queued, being delivered or waiting to retry.
    pub fn held(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    /// The most notifications held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `queued`, which holds `slot`.
    fn send(&self, queued: Queued, slot: Slot) -> Result<(), OutboxError> {
        self.sender
            .try_send(Held { queued, slot })
            .map_err(|failure| match failure {
                TrySendError::Full(_) => OutboxError::Full {
                    capacity: self.capacity,
                },
                TrySendError::Closed(_) => stopped(),
            })
    }
}

fn dead_letters_of(dead: &Mutex<DeadLetters>) -> std::sync::MutexGuard<'_, DeadLetters> {
    dead.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_found(id: &str) -> OutboxError {
    OutboxError::DeadLetterNotFound { id: id.to_owned() }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError> {
        let slot = Slot::take(&self.slots, self.capacity)?;
        self.send(Queued::new(notification.clone()), slot)
    }

    async fn list_dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredDeadLetter>, OutboxError> {
        let after = match after {
            Some(id) => id.parse::<u64>().map_err(|_| not_found(id))?,
            None => 0,
        };
        Ok(dead_letters_of(&self.dead)
            .letters
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(id, letter)| StoredDeadLetter {
                id: id.to_string(),
                letter: letter.clone(),
            })
            .collect())
    }

    async fn replay_dead_letter(&self, id: &str) -> Result<StoredDeadLetter, OutboxError> {
        let key = id.parse::<u64>().map_err(|_| not_found(id))?;
        if !dead_letters_of(&self.dead).letters.contains_key(&key) {
            return Err(not_found(id));
        }
        // A slot first: a full outbox leaves the letter where it is.
        let slot = Slot::take(&self.slots, self.capacity)?;
        let letter = dead_letters_of(&self.dead)
            .take(key)
            .ok_or_else(|| not_found(id))?;
        if let Err(failure) = self.send(letter.replay(), slot) {
            dead_letters_of(&self.dead).put(key, letter);
            return Err(failure);
        }
        Ok(StoredDeadLetter {
            id: id.to_owned(),
            letter,
        })
    }
}
