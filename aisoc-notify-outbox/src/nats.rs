//! The durable outbox on NATS JetStream (feature `nats`).
//!
//! Notifications go to a work-queue stream; a durable pull consumer shared by every worker
//! hands each to one worker at a time. A worker acknowledges (and waits for the server to
//! confirm) only after the outcome is settled; one that dies before that leaves the message to
//! be redelivered after `ack_wait`. Dead letters go to a separate stream with their last error.

use std::time::Duration;

use aisoc_notify_core::{Notification, async_trait};
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::{self, stream};
use futures::StreamExt;

use crate::envelope::{Next, Queued, RetrySettings, attempt};
use crate::{Outbox, OutboxError, RouterSource};

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
    /// How long a worker may hold a message before it is redelivered elsewhere.
    pub ack_wait: Duration,
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
            ack_wait: Duration::from_secs(60),
            retry: RetrySettings::default(),
        }
    }
}

fn unavailable(error: impl std::fmt::Display) -> OutboxError {
    OutboxError::Unavailable(error.to_string())
}

/// The producer side: queues notifications durably.
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
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        jetstream
            .get_or_create_stream(stream::Config {
                name: config.dead_stream.clone(),
                subjects: vec![config.dead_subject.clone()],
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

    async fn publish(
        &self,
        subject: &str,
        body: Vec<u8>,
        msg_id: Option<&str>,
    ) -> Result<(), OutboxError> {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(id) = msg_id {
            headers.insert("Nats-Msg-Id", id);
        }
        let ack = self
            .jetstream
            .publish_with_headers(subject.to_owned(), headers, body.into())
            .await
            .map_err(unavailable)?;
        ack.await.map_err(unavailable)?;
        Ok(())
    }

    /// A worker delivering through `router` (a fixed `Arc<NotificationRouter>` or any
    /// [`RouterSource`]).
    pub async fn worker(
        &self,
        router: impl RouterSource + 'static,
    ) -> Result<NatsOutboxWorker, OutboxError> {
        Ok(NatsOutboxWorker {
            outbox: self.clone(),
            consumer: self.consumer().await?,
            router: Box::new(router),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NatsOutboxConfig {
        &self.config
    }
}

#[async_trait]
impl Outbox for NatsOutbox {
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError> {
        let queued = Queued {
            notification: notification.clone(),
            channels: None,
            attempt: 0,
            not_before: None,
        };
        let body = serde_json::to_vec(&queued).map_err(|e| OutboxError::Encoding(e.to_string()))?;
        self.publish(
            &self.config.subject,
            body,
            notification.dedupe_key.as_deref(),
        )
        .await
    }
}

/// Takes queued notifications and delivers them.
pub struct NatsOutboxWorker {
    outbox: NatsOutbox,
    consumer: PullConsumer,
    router: Box<dyn RouterSource>,
}

impl std::fmt::Debug for NatsOutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOutboxWorker").finish_non_exhaustive()
    }
}

impl NatsOutboxWorker {
    /// Processes up to `batch` messages, waiting at most `wait` for them; returns how many it
    /// settled.
    pub async fn run_once(&self, batch: usize, wait: Duration) -> Result<usize, OutboxError> {
        let mut messages = self
            .consumer
            .fetch()
            .max_messages(batch)
            .expires(wait)
            .messages()
            .await
            .map_err(unavailable)?;
        let mut settled = 0;
        while let Some(message) = messages.next().await {
            let message = message.map_err(unavailable)?;
            self.process(message).await?;
            settled += 1;
        }
        Ok(settled)
    }

    /// Runs until the connection fails.
    pub async fn run(&self) -> Result<(), OutboxError> {
        loop {
            self.run_once(64, Duration::from_secs(5)).await?;
        }
    }

    async fn process(&self, message: jetstream::Message) -> Result<(), OutboxError> {
        let queued: Queued = match serde_json::from_slice(&message.payload) {
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
        let Next { retry, dead } =
            attempt(&self.router.current(), &queued, &self.outbox.config.retry).await;
        if let Some(next) = retry {
            let body =
                serde_json::to_vec(&next).map_err(|e| OutboxError::Encoding(e.to_string()))?;
            self.outbox
                .publish(&self.outbox.config.subject, body, None)
                .await?;
        }
        for letter in dead {
            let body =
                serde_json::to_vec(&letter).map_err(|e| OutboxError::Encoding(e.to_string()))?;
            self.outbox
                .publish(&self.outbox.config.dead_subject, body, None)
                .await?;
        }
        message.double_ack().await.map_err(unavailable)
    }
}
