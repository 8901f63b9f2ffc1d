//! The outbox conformance suite, run against the in-memory outbox and the NATS outbox on the
//! real server at 127.0.0.1:4222 (a stream of its own per test, deleted afterwards).

use std::sync::Arc;

use aisoc_notify_core::routing::NotificationRouter;
use aisoc_notify_core::{Notification, async_trait};
use aisoc_notify_outbox::conformance;
use aisoc_notify_outbox::envelope::{RetrySettings, StoredDeadLetter};
use aisoc_notify_outbox::memory::MemoryOutbox;
use aisoc_notify_outbox::nats::{NatsOutbox, NatsOutboxConfig};
use aisoc_notify_outbox::{Outbox, OutboxError};

/// A NATS outbox with a worker running in the background; both go (streams included) when it
/// is dropped.
struct RunningNats {
    outbox: NatsOutbox,
    worker: tokio::task::JoinHandle<()>,
    client: async_nats::Client,
}

impl Drop for RunningNats {
    fn drop(&mut self) {
        self.worker.abort();
        let js = async_nats::jetstream::new(self.client.clone());
        let config = self.outbox.config().clone();
        tokio::spawn(async move {
            let _ = js.delete_stream(&config.stream).await;
            let _ = js.delete_stream(&config.dead_stream).await;
        });
    }
}

#[async_trait]
impl Outbox for RunningNats {
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError> {
        self.outbox.enqueue(notification).await
    }

    async fn list_dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredDeadLetter>, OutboxError> {
        self.outbox.list_dead_letters(after, limit).await
    }

    async fn replay_dead_letter(&self, id: &str) -> Result<StoredDeadLetter, OutboxError> {
        self.outbox.replay_dead_letter(id).await
    }
}

async fn nats(router: Arc<NotificationRouter>, retry: RetrySettings) -> RunningNats {
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let name = format!("AISOC_OUTBOX_C{:08x}", rand::random::<u32>());
    let config = NatsOutboxConfig {
        retry,
        ..NatsOutboxConfig::named(&name)
    };
    let outbox = NatsOutbox::new(client.clone(), config).await.unwrap();
    let worker = outbox.worker(router).await.unwrap();
    let worker = tokio::spawn(async move {
        let _ = worker.run().await;
    });
    RunningNats {
        outbox,
        worker,
        client,
    }
}

#[tokio::test]
async fn the_memory_outbox_lists_and_replays_dead_letters() {
    conformance::dead_letters_are_listed_and_replayed(|router, settings| async move {
        MemoryOutbox::start(router, settings)
    })
    .await;
}

#[tokio::test]
async fn the_nats_outbox_lists_and_replays_dead_letters() {
    conformance::dead_letters_are_listed_and_replayed(nats).await;
}

#[tokio::test]
async fn the_memory_outbox_keeps_the_idempotency_key_across_retries() {
    conformance::a_retried_notification_keeps_its_idempotency_key(|router, settings| async move {
        MemoryOutbox::start(router, settings)
    })
    .await;
}

#[tokio::test]
async fn the_nats_outbox_keeps_the_idempotency_key_across_retries() {
    conformance::a_retried_notification_keeps_its_idempotency_key(nats).await;
}
