//! The durable outbox on NATS JetStream (feature `nats`).
//!
//! Notifications go to a work-queue stream; a durable pull consumer shared by every worker
//! hands each to one worker at a time. How the worker keeps "neither duplicates nor drops":
//!
//! - **Bounded concurrency, nothing waiting while held.** A worker runs up to
//!   [`NatsOutboxConfig::concurrency`] deliveries at once and asks the server only for as many
//!   messages as it has free slots (pull requests on one subscription, sent while deliveries
//!   run), so no received message waits behind a slow one while its `ack_wait`
//!   runs out, and one slow destination holds one slot, not the queue. A slot is free again
//!   once its delivery and follow-ups are done and the acknowledgement is sent: the server's
//!   confirmation is awaited outside the bound (it holds no destination), by at most as many
//!   messages again as the bound.
//! - **Progress acknowledgements.** While a delivery runs, the worker tells the server it is
//!   still working (`+WPI`) every third of the consumer's `ack_wait`, so a delivery that takes
//!   longer than `ack_wait` (a slow destination, a paced channel, the delivery layer's own
//!   retries) is never handed to another worker while in flight. `ack_wait` then only bounds
//!   how long a crashed worker's messages wait before another worker takes them.
//! - **Retries and dead letters before the acknowledgement, under deterministic ids.** A
//!   follow-up is published with `Nats-Msg-Id` = idempotency key + attempt + channel set, and a
//!   dead letter with key + attempts + class + channel set, before the original is
//!   acknowledged (and the acknowledgement is confirmed by the server). A worker that dies in
//!   between leaves the original to be redelivered; whoever takes it over publishes the same
//!   ids, which the stream's duplicate window (two minutes; keep `ack_wait` well below it)
//!   stores once.
//! - **Channels another node knows.** A retry names its channels by id; when this worker's
//!   router lacks one, it asks its [`RouterSource`] to refresh once before dead-lettering it as
//!   gone, so a retry taken over from another replica (or by a restarted one) reaches a channel
//!   that exists in the shared configuration.
//! - **Idempotency keys.** Every queued notification has one (see
//!   [`ensure_idempotency_key`](crate::envelope::ensure_idempotency_key)); a redelivery after a
//!   crash carries the same key, so receivers that honour it see the notification once.
//!
//! Dead letters go to a separate stream (limits retention) with their reason and class; they are
//! listed by stream sequence (the id) and replayed onto the work queue.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::{Notification, async_trait};
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use self::puller::{Puller, confirm_ack};
use crate::envelope::{DeadLetter, Next, Queued, RetrySettings, StoredDeadLetter, attempt_through};
use crate::{DEFAULT_CONCURRENCY, Outbox, OutboxError, RouterSource};

mod puller;

/// How long the stream remembers a message id; a republished retry or dead letter within it is
/// stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Names and timings of the NATS outbox.
#[derive(Debug, Clone)]
pub struct NatsOutboxConfig {
    /// The work-queue stream.
    pub stream: String,
    /// Its subject.
    pub subject: String,
    /// The dead-letter stream.
    pub dead_stream: String,
    /// Its subject.
    pub dead_subject: String,
    /// The durable consumer all workers share.
    pub consumer: String,
    /// How long a crashed worker's message waits before it is redelivered elsewhere (set when
    /// the consumer is created; an existing consumer keeps its own, and workers pace their
    /// progress acknowledgements by the consumer's actual value).
    pub ack_wait: Duration,
    /// The most deliveries one worker runs at once.
    pub concurrency: usize,
    /// Retries and dead-lettering.
    pub retry: RetrySettings,
}

impl Default for NatsOutboxConfig {
    fn default() -> Self {
        Self {
            stream: "AISOC_OUTBOX".into(),
            subject: "aisoc.outbox.pending".into(),
            dead_stream: "AISOC_OUTBOX_DEAD".into(),
            dead_subject: "aisoc.outbox.dead".into(),
            consumer: "aisoc-outbox-workers".into(),
            ack_wait: Duration::from_secs(30),
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetrySettings::default(),
        }
    }
}

impl NatsOutboxConfig {
    /// The default configuration on stream `name` (dead letters in `<name>_DEAD`), with
    /// subjects of its own so several outboxes share one server. `AISOC_OUTBOX` gives the
    /// defaults.
    pub fn named(name: &str) -> Self {
        let defaults = Self::default();
        if name == defaults.stream {
            return defaults;
        }
        Self {
            stream: name.to_owned(),
            subject: format!("aisoc.outbox.{name}.pending"),
            dead_stream: format!("{name}_DEAD"),
            dead_subject: format!("aisoc.outbox.{name}.dead"),
            ..defaults
        }
    }
}

fn unavailable(error: impl std::fmt::Display) -> OutboxError {
    OutboxError::Unavailable(error.to_string())
}

fn encoding(error: serde_json::Error) -> OutboxError {
    OutboxError::Encoding(error.to_string())
}

fn not_found(id: &str) -> OutboxError {
    OutboxError::DeadLetterNotFound { id: id.to_owned() }
}

/// The producer side: queues notifications durably, lists and replays dead letters.
#[derive(Clone)]
pub struct NatsOutbox {
    jetstream: jetstream::Context,
    config: NatsOutboxConfig,
}

impl std::fmt::Debug for NatsOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOutbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NatsOutbox {
    /// Creates the streams and the shared consumer when missing.
    pub async fn new(
        client: async_nats::Client,
        config: NatsOutboxConfig,
    ) -> Result<Self, OutboxError> {
        let jetstream = jetstream::new(client);
        jetstream
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![config.subject.clone()],
                retention: stream::RetentionPolicy::WorkQueue,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        jetstream
            .get_or_create_stream(stream::Config {
                name: config.dead_stream.clone(),
                subjects: vec![config.dead_subject.clone()],
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let outbox = Self { jetstream, config };
        outbox.consumer().await?;
        Ok(outbox)
    }

    async fn consumer(&self) -> Result<PullConsumer, OutboxError> {
        let stream = self
            .jetstream
            .get_stream(&self.config.stream)
            .await
            .map_err(unavailable)?;
        stream
            .get_or_create_consumer(
                &self.config.consumer,
                pull::Config {
                    durable_name: Some(self.config.consumer.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    ..Default::default()
                },
            )
            .await
            .map_err(unavailable)
    }

    async fn publish(&self, subject: &str, body: Vec<u8>, msg_id: &str) -> Result<(), OutboxError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        let ack = self
            .jetstream
            .publish_with_headers(subject.to_owned(), headers, body.into())
            .await
            .map_err(unavailable)?;
        ack.await.map_err(unavailable)?;
        Ok(())
    }

    async fn publish_retry(&self, next: &Queued) -> Result<(), OutboxError> {
        let body = serde_json::to_vec(next).map_err(encoding)?;
        self.publish(&self.config.subject, body, &next.retry_message_id())
            .await
    }

    async fn publish_dead(&self, letter: &DeadLetter) -> Result<(), OutboxError> {
        let body = serde_json::to_vec(letter).map_err(encoding)?;
        self.publish(&self.config.dead_subject, body, &letter.message_id())
            .await
    }

    async fn dead_stream(&self) -> Result<stream::Stream, OutboxError> {
        self.jetstream
            .get_stream(&self.config.dead_stream)
            .await
            .map_err(unavailable)
    }

    /// A worker delivering through `router` (a fixed `Arc<NotificationRouter>` or any
    /// [`RouterSource`]).
    pub async fn worker(
        &self,
        router: impl RouterSource + 'static,
    ) -> Result<NatsOutboxWorker, OutboxError> {
        let mut consumer = self.consumer().await?;
        let ack_wait = consumer.info().await.map_err(unavailable)?.config.ack_wait;
        Ok(NatsOutboxWorker {
            inner: Arc::new(Worker {
                outbox: self.clone(),
                consumer,
                router: Box::new(router),
                progress_every: progress_interval(ack_wait),
                concurrency: self.config.concurrency.max(1),
                stop_before_ack: false,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NatsOutboxConfig {
        &self.config
    }
}

/// A third of `ack_wait`: two progress acknowledgements can be lost before the server gives
/// the message to someone else.
fn progress_interval(ack_wait: Duration) -> Duration {
    (ack_wait / 3).max(Duration::from_millis(10))
}

#[async_trait]
impl Outbox for NatsOutbox {
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError> {
        let queued = Queued::new(notification.clone());
        let body = serde_json::to_vec(&queued).map_err(encoding)?;
        self.publish(&self.config.subject, body, queued.key()).await
    }

    async fn list_dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredDeadLetter>, OutboxError> {
        let mut next = match after {
            Some(id) => id
                .parse::<u64>()
                .map_err(|_| not_found(id))?
                .saturating_add(1),
            None => 1,
        };
        let stream = self.dead_stream().await?;
        let mut letters = Vec::new();
        while letters.len() < limit {
            let message = match stream
                .raw_message_builder()
                .sequence(next)
                .next_by_subject(self.config.dead_subject.clone())
                .send()
                .await
            {
                Ok(message) => message,
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(error) => return Err(unavailable(error)),
            };
            next = message.sequence.saturating_add(1);
            match serde_json::from_slice::<DeadLetter>(&message.payload) {
                Ok(letter) => letters.push(StoredDeadLetter {
                    id: message.sequence.to_string(),
                    letter,
                }),
                Err(error) => {
                    tracing::warn!(sequence = message.sequence, %error, "unreadable dead letter skipped");
                }
            }
        }
        Ok(letters)
    }

    async fn replay_dead_letter(&self, id: &str) -> Result<StoredDeadLetter, OutboxError> {
        let sequence = id.parse::<u64>().map_err(|_| not_found(id))?;
        let stream = self.dead_stream().await?;
        let message = match stream.get_raw_message(sequence).await {
            Ok(message) => message,
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => {
                return Err(not_found(id));
            }
            Err(error) => return Err(unavailable(error)),
        };
        let letter: DeadLetter = serde_json::from_slice(&message.payload).map_err(encoding)?;
        let replay = letter.replay();
        let body = serde_json::to_vec(&replay).map_err(encoding)?;
        // Two replays of one letter (or a replay retried after a failure here) queue it once.
        let msg_id = format!("{}:replay-{sequence}", replay.key());
        self.publish(&self.config.subject, body, &msg_id).await?;
        stream.delete_message(sequence).await.map_err(unavailable)?;
        Ok(StoredDeadLetter {
            id: id.to_owned(),
            letter,
        })
    }
}

/// A fault the worker can be told to act out, to test the crash windows (feature `test-util`).
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InjectedFault {
    /// Publish the follow-up and dead letters, then stop without acknowledging, as a process
    /// killed at that instant would.
    DieBeforeAck,
}

/// Takes queued notifications and delivers them.
pub struct NatsOutboxWorker {
    inner: Arc<Worker>,
}

struct Worker {
    outbox: NatsOutbox,
    consumer: PullConsumer,
    router: Box<dyn RouterSource>,
    progress_every: Duration,
    concurrency: usize,
    stop_before_ack: bool,
}

impl std::fmt::Debug for NatsOutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOutboxWorker")
            .field("concurrency", &self.inner.concurrency)
            .field("progress_every", &self.inner.progress_every)
            .finish_non_exhaustive()
    }
}

impl NatsOutboxWorker {
    /// Acts out `fault` on every message from now on (feature `test-util`).
    #[cfg(feature = "test-util")]
    pub fn with_fault(self, fault: InjectedFault) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| {
            unreachable!("a worker is shared only while it runs, and this one owns itself")
        });
        Self {
            inner: Arc::new(Worker {
                stop_before_ack: fault == InjectedFault::DieBeforeAck,
                ..inner
            }),
        }
    }

    /// Fetches up to `batch` messages (at most the configured concurrency), waiting at most
    /// `wait` for them, delivers them concurrently and returns how many it settled.
    pub async fn run_once(&self, batch: usize, wait: Duration) -> Result<usize, OutboxError> {
        let batch = batch.clamp(1, self.inner.concurrency);
        let mut messages = self
            .inner
            .consumer
            .fetch()
            .max_messages(batch)
            .expires(wait)
            .messages()
            .await
            .map_err(unavailable)?;
        let mut tasks = JoinSet::new();
        let mut failure = None;
        while let Some(message) = messages.next().await {
            match message {
                Ok(message) => {
                    tasks.spawn(Arc::clone(&self.inner).settle(message, Slot::none()));
                }
                Err(error) => {
                    failure = Some(unavailable(error));
                    break;
                }
            }
        }
        let mut settled = 0;
        while let Some(done) = tasks.join_next().await {
            match flatten(done) {
                Ok(()) => settled += 1,
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(settled),
        }
    }

    /// Runs until the connection fails: keeps up to the configured concurrency of deliveries
    /// going, asking the server for a message only when a slot is free for it. A slot is free
    /// again once its delivery and follow-ups are done and the acknowledgement is sent; the
    /// server's confirmation of the acknowledgement is awaited outside the bound (at most as many
    /// again as the bound), since it holds no destination. Deliveries in flight finish before
    /// it returns.
    pub async fn run(&self) -> Result<(), OutboxError> {
        let concurrency = self.inner.concurrency;
        // Free slots are asked for a few at a time, not one request per finished delivery.
        let ask_at = (concurrency / 8).max(1);
        let mut puller = Puller::new(
            self.inner.consumer.clone(),
            self.inner.outbox.jetstream.clone(),
        )
        .await?;
        let (freed, mut slots_freed) = mpsc::unbounded_channel();
        // Messages whose delivery is still running (their slot not yet given back).
        let mut delivering = 0usize;
        let mut tasks = JoinSet::new();
        let stopped = loop {
            // Free slots, and room for the tasks that only wait for a confirmation.
            let free = concurrency.saturating_sub(delivering);
            let room = concurrency.saturating_mul(2).saturating_sub(tasks.len());
            let unasked = free.min(room).saturating_sub(puller.asked());
            if unasked >= ask_at
                && let Err(error) = puller.ask(unasked).await
            {
                break Err(error);
            }
            tokio::select! {
                Some(()) = slots_freed.recv() => {
                    delivering = delivering.saturating_sub(1);
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    log_failure(flatten(done));
                }
                pulled = puller.next() => match pulled {
                    // A message beyond the free slots cannot come (the server never sends more
                    // than asked); were one to, it is delivered rather than left to time out.
                    Ok(Some(message)) => {
                        delivering += 1;
                        let slot = Slot(Some(freed.clone()));
                        tasks.spawn(Arc::clone(&self.inner).settle(message, slot));
                    }
                    Ok(None) => {}
                    Err(error) => break Err(error),
                },
            }
        };
        while let Some(done) = tasks.join_next().await {
            log_failure(flatten(done));
        }
        stopped
    }
}

/// A delivery slot of [`NatsOutboxWorker::run`], given back when dropped: after the delivery
/// and its follow-ups, or on any early return, error or panic.
struct Slot(Option<mpsc::UnboundedSender<()>>);

impl Slot {
    /// A slot of no loop (`run_once` bounds by its batch instead).
    fn none() -> Self {
        Self(None)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(freed) = self.0.take() {
            // The loop is gone only once it stopped taking messages: nothing to give back.
            let _ = freed.send(());
        }
    }
}

fn flatten(
    done: Result<Result<(), OutboxError>, tokio::task::JoinError>,
) -> Result<(), OutboxError> {
    done.unwrap_or_else(|join| {
        Err(OutboxError::Unavailable(if join.is_panic() {
            "an outbox delivery panicked".to_owned()
        } else {
            "an outbox delivery was cancelled".to_owned()
        }))
    })
}

fn log_failure(result: Result<(), OutboxError>) {
    if let Err(error) = result {
        // The message stays unacknowledged and is redelivered after ack_wait.
        tracing::warn!(%error, "outbox message not settled; it will be redelivered");
    }
}

impl Worker {
    /// Processes one message, telling the server it is still being worked on until it is
    /// settled.
    async fn settle(
        self: Arc<Self>,
        message: jetstream::Message,
        slot: Slot,
    ) -> Result<(), OutboxError> {
        let work = self.process(&message, slot);
        tokio::pin!(work);
        let start = tokio::time::Instant::now() + self.progress_every;
        let mut progress = tokio::time::interval_at(start, self.progress_every);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                settled = &mut work => break settled,
                _ = progress.tick() => {
                    if let Err(error) = message.ack_with(AckKind::Progress).await {
                        tracing::warn!(%error, "outbox progress acknowledgement not sent");
                    }
                }
            }
        }
    }

    /// Delivers `message` and settles it; `slot` is given back once only the server's
    /// confirmation of the acknowledgement is left to wait for.
    async fn process(&self, message: &jetstream::Message, slot: Slot) -> Result<(), OutboxError> {
        let mut queued: Queued = match serde_json::from_slice(&message.payload) {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(%error, "unreadable outbox message terminated");
                return message.ack_with(AckKind::Term).await.map_err(unavailable);
            }
        };
        if let Some(not_before) = queued.not_before
            && let Ok(wait) = (not_before - chrono::Utc::now()).to_std()
        {
            return message
                .ack_with(AckKind::Nak(Some(wait)))
                .await
                .map_err(unavailable);
        }
        if queued.notification.dedupe_key.is_none() {
            // Queued by a version that did not key notifications: the stream position is
            // stable across redeliveries, so it keys this one.
            let sequence = message.info().map_err(unavailable)?.stream_sequence;
            queued.notification.dedupe_key = Some(format!("ntf_seq{sequence}"));
        }
        // A failed refresh leaves the message unacknowledged: redelivered after ack_wait.
        let Next { retry, dead } =
            attempt_through(self.router.as_ref(), &queued, &self.outbox.config.retry).await?;
        if let Some(next) = &retry {
            self.outbox.publish_retry(next).await?;
        }
        for letter in &dead {
            self.outbox.publish_dead(letter).await?;
        }
        if self.stop_before_ack {
            return Ok(());
        }
        // Waiting for the server to confirm the acknowledgement holds no destination: the slot
        // goes to the next message meanwhile.
        drop(slot);
        confirm_ack(message).await
    }
}
