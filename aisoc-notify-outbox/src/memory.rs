//! An in-process outbox with the same delivery rules as the durable one; notifications are lost
//! if the process dies, so use it for development and single-node hosts that accept that.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aisoc_notify_core::{Notification, async_trait};
use tokio::sync::{Semaphore, mpsc};

use crate::envelope::{DeadLetter, Next, Queued, RetrySettings, StoredDeadLetter, attempt};
use crate::{DEFAULT_CONCURRENCY, Outbox, OutboxError, RouterSource};

/// Dead letters by id, in the order they died.
#[derive(Debug, Default)]
struct DeadLetters {
    letters: BTreeMap<u64, DeadLetter>,
    last_id: u64,
}

/// An in-memory outbox and its worker.
#[derive(Debug, Clone)]
pub struct MemoryOutbox {
    sender: mpsc::UnboundedSender<Queued>,
    dead: Arc<Mutex<DeadLetters>>,
}

fn stopped() -> OutboxError {
    OutboxError::Unavailable("the outbox worker has stopped".into())
}

impl MemoryOutbox {
    /// Starts the outbox and a worker delivering through `router` (a fixed
    /// `Arc<NotificationRouter>` or any [`RouterSource`]) on the current runtime, at most
    /// [`DEFAULT_CONCURRENCY`] deliveries at once.
    pub fn start(router: impl RouterSource + 'static, settings: RetrySettings) -> Self {
        Self::start_with_concurrency(router, settings, DEFAULT_CONCURRENCY)
    }

    /// Like [`start`](Self::start), with at most `concurrency` deliveries at once (at least
    /// one).
    pub fn start_with_concurrency(
        router: impl RouterSource + 'static,
        settings: RetrySettings,
        concurrency: usize,
    ) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Queued>();
        let dead = Arc::new(Mutex::new(DeadLetters::default()));
        let retry = sender.clone();
        let dead_letters = Arc::clone(&dead);
        let router: Arc<dyn RouterSource> = Arc::new(router);
        let settings = Arc::new(settings);
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        tokio::spawn(async move {
            while let Some(queued) = receiver.recv().await {
                if let Some(not_before) = queued.not_before
                    && let Ok(wait) = (not_before - chrono::Utc::now()).to_std()
                {
                    let retry = retry.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = retry.send(Queued {
                            not_before: None,
                            ..queued
                        });
                    });
                    continue;
                }
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (router, settings, retry, dead_letters) = (
                    Arc::clone(&router),
                    Arc::clone(&settings),
                    retry.clone(),
                    Arc::clone(&dead_letters),
                );
                tokio::spawn(async move {
                    let Next { retry: again, dead } =
                        attempt(&router.current(), &queued, &settings).await;
                    drop(slot);
                    if let Some(next) = again {
                        let _ = retry.send(next);
                    }
                    let mut kept = lock(&dead_letters);
                    for letter in dead {
                        kept.last_id += 1;
                        let id = kept.last_id;
                        kept.letters.insert(id, letter);
                    }
                });
            }
        });
        Self { sender, dead }
    }

    /// Notifications (per group of channels) refused for good or out of attempts, oldest
    /// first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.dead).letters.values().cloned().collect()
    }
}

fn lock(dead: &Mutex<DeadLetters>) -> std::sync::MutexGuard<'_, DeadLetters> {
    dead.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_found(id: &str) -> OutboxError {
    OutboxError::DeadLetterNotFound { id: id.to_owned() }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError> {
        self.sender
            .send(Queued::new(notification.clone()))
            .map_err(|_| stopped())
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
        Ok(lock(&self.dead)
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
        let letter = lock(&self.dead)
            .letters
            .remove(&key)
            .ok_or_else(|| not_found(id))?;
        if self.sender.send(letter.replay()).is_err() {
            lock(&self.dead).letters.insert(key, letter);
            return Err(stopped());
        }
        Ok(StoredDeadLetter {
            id: id.to_owned(),
            letter,
        })
    }
}
