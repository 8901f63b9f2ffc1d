//! The outboxes: on the real NATS server at 127.0.0.1:4222, a worker that dies before acking
//! leaves the notification to another worker, a destination that keeps failing ends in the
//! dead-letter stream, and 1,000 notifications are delivered exactly 1,000 times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{
    Delivered, EventType, Notification, Notifier, NotifyError, Severity, async_trait,
};
use aisoc_notify_outbox::Outbox;
use aisoc_notify_outbox::envelope::{DeadLetter, RetrySettings};
use aisoc_notify_outbox::memory::MemoryOutbox;
use aisoc_notify_outbox::nats::{NatsOutbox, NatsOutboxConfig};
use futures::StreamExt;

/// Counts deliveries per notification title; fails the first `fail_first` attempts.
#[derive(Default)]
struct Counting {
    delivered: Mutex<HashMap<String, u32>>,
    failures_left: Mutex<u32>,
    always_fail: bool,
}

#[async_trait]
impl Notifier for Counting {
    fn channel_type(&self) -> &str {
        "counting"
    }

    async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let fail = self.always_fail || {
            let mut left = self.failures_left.lock().unwrap();
            let fail = *left > 0;
            *left = left.saturating_sub(1);
            fail
        };
        if fail {
            return Err(NotifyError::Unavailable {
                service: "test",
                code: "down".into(),
                message: "destination down".into(),
            });
        }
        *self
            .delivered
            .lock()
            .unwrap()
            .entry(n.title.clone())
            .or_default() += 1;
        Ok(Delivered::default())
    }
}

impl Counting {
    fn total(&self) -> u32 {
        self.delivered.lock().unwrap().values().sum()
    }
}

fn router(notifier: Arc<Counting>) -> Arc<NotificationRouter> {
    Arc::new(
        NotificationRouter::builder()
            .channel(Channel::new("counting", notifier))
            .build()
            .unwrap(),
    )
}

fn notification(title: &str) -> Notification {
    Notification::new("acme", EventType::P0Alert, Severity::High, title)
}

fn config(ack_wait: Duration, retry: RetrySettings) -> NatsOutboxConfig {
    let id: u32 = rand::random();
    NatsOutboxConfig {
        stream: format!("AISOC_OUTBOX_T{id:08x}"),
        subject: format!("aisoc.test{id:08x}.outbox.pending"),
        dead_stream: format!("AISOC_OUTBOX_DEAD_T{id:08x}"),
        dead_subject: format!("aisoc.test{id:08x}.outbox.dead"),
        consumer: "workers".into(),
        ack_wait,
        concurrency: 32,
        retry,
    }
}

async fn client() -> async_nats::Client {
    async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)")
}

async fn cleanup(client: &async_nats::Client, config: &NatsOutboxConfig) {
    let js = async_nats::jetstream::new(client.clone());
    let _ = js.delete_stream(&config.stream).await;
    let _ = js.delete_stream(&config.dead_stream).await;
}

#[tokio::test]
async fn a_worker_that_dies_before_acking_leaves_the_notification_to_another() {
    let client = client().await;
    let config = config(Duration::from_secs(1), RetrySettings::default());
    let outbox = NatsOutbox::new(client.clone(), config.clone())
        .await
        .unwrap();
    outbox.enqueue(&notification("crash-me")).await.unwrap();

    // Worker A takes the message and dies without acknowledging it.
    {
        let js = async_nats::jetstream::new(client.clone());
        let consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_stream(&config.stream)
            .await
            .unwrap()
            .get_consumer(&config.consumer)
            .await
            .unwrap();
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        let taken = batch.next().await.expect("worker A receives it").unwrap();
        assert!(String::from_utf8_lossy(&taken.payload).contains("crash-me"));
        drop(taken);
    }

    // Worker B gets it once the ack wait passes, and delivers it.
    let counting = Arc::new(Counting::default());
    let worker = outbox.worker(router(counting.clone())).await.unwrap();
    let started = Instant::now();
    while counting.total() == 0 && started.elapsed() < Duration::from_secs(15) {
        worker.run_once(1, Duration::from_secs(2)).await.unwrap();
    }
    assert_eq!(counting.delivered.lock().unwrap().get("crash-me"), Some(&1));
    cleanup(&client, &config).await;
}

#[tokio::test]
async fn a_destination_that_keeps_failing_ends_in_the_dead_letter_stream() {
    let client = client().await;
    let retry = RetrySettings {
        max_attempts: 3,
        retry_delay: Duration::from_millis(50),
        ..RetrySettings::default()
    };
    let config = config(Duration::from_secs(30), retry);
    let outbox = NatsOutbox::new(client.clone(), config.clone())
        .await
        .unwrap();
    outbox
        .enqueue(&notification("never-delivered"))
        .await
        .unwrap();
    let failing = Arc::new(Counting {
        always_fail: true,
        ..Counting::default()
    });
    let worker = outbox.worker(router(failing)).await.unwrap();

    let js = async_nats::jetstream::new(client.clone());
    let started = Instant::now();
    loop {
        worker
            .run_once(8, Duration::from_millis(300))
            .await
            .unwrap();
        let mut dead = js.get_stream(&config.dead_stream).await.unwrap();
        if dead.info().await.unwrap().state.messages == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no dead letter"
        );
    }
    let dead = js.get_stream(&config.dead_stream).await.unwrap();
    let letter: DeadLetter =
        serde_json::from_slice(&dead.get_raw_message(1).await.unwrap().payload).unwrap();
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.channels, ["counting"]);
    assert!(
        letter.last_error.contains("destination down"),
        "{}",
        letter.last_error
    );
    assert_eq!(letter.notification.title, "never-delivered");
    let mut pending = js.get_stream(&config.stream).await.unwrap();
    assert_eq!(
        pending.info().await.unwrap().state.messages,
        0,
        "nothing left pending"
    );
    cleanup(&client, &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_thousand_notifications_are_delivered_exactly_once_by_two_workers() {
    let client = client().await;
    let config = config(Duration::from_secs(60), RetrySettings::default());
    let outbox = NatsOutbox::new(client.clone(), config.clone())
        .await
        .unwrap();
    for i in 0..1000 {
        outbox
            .enqueue(&notification(&format!("n-{i}")))
            .await
            .unwrap();
    }
    let counting = Arc::new(Counting::default());
    let workers = [
        outbox.worker(router(counting.clone())).await.unwrap(),
        outbox.worker(router(counting.clone())).await.unwrap(),
    ];
    let started = Instant::now();
    let [a, b] = workers;
    let run = |worker: aisoc_notify_outbox::nats::NatsOutboxWorker, counting: Arc<Counting>| async move {
        while counting.total() < 1000 && started.elapsed() < Duration::from_secs(60) {
            worker
                .run_once(50, Duration::from_millis(500))
                .await
                .unwrap();
        }
        worker
    };
    let (a, _b) = tokio::join!(
        tokio::spawn(run(a, counting.clone())),
        tokio::spawn(run(b, counting.clone()))
    );
    let delivered = counting.delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1000);
    assert!(
        delivered.values().all(|&n| n == 1),
        "no notification delivered twice"
    );
    assert_eq!(
        a.unwrap()
            .run_once(10, Duration::from_millis(300))
            .await
            .unwrap(),
        0,
        "nothing left"
    );
    cleanup(&client, &config).await;
}

#[tokio::test]
async fn the_memory_outbox_retries_then_dead_letters() {
    let flaky = Arc::new(Counting {
        failures_left: Mutex::new(2),
        ..Counting::default()
    });
    let settings = RetrySettings {
        max_attempts: 5,
        retry_delay: Duration::from_millis(10),
        ..RetrySettings::default()
    };
    let outbox = MemoryOutbox::start(router(flaky.clone()), settings.clone());
    outbox.enqueue(&notification("flaky")).await.unwrap();
    let started = Instant::now();
    while flaky.total() == 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        flaky.delivered.lock().unwrap().get("flaky"),
        Some(&1),
        "delivered on the third attempt"
    );

    let broken = Arc::new(Counting {
        always_fail: true,
        ..Counting::default()
    });
    let outbox = MemoryOutbox::start(
        router(broken),
        RetrySettings {
            max_attempts: 3,
            ..settings
        },
    );
    outbox.enqueue(&notification("broken")).await.unwrap();
    let started = Instant::now();
    while outbox.dead_letters().is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dead = outbox.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
}

/// A router that the host swaps as its channels change.
struct Swappable(Mutex<Arc<NotificationRouter>>);

impl aisoc_notify_outbox::RouterSource for Swappable {
    fn current(&self) -> Arc<NotificationRouter> {
        Arc::clone(&self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn a_retry_goes_through_the_router_current_at_that_time() {
    // The first attempt meets a channel that is down; before the retry the host replaces that
    // channel (same id) with a working one, and the retry reaches the replacement.
    let down = Arc::new(Counting {
        always_fail: true,
        ..Counting::default()
    });
    let replacement = Arc::new(Counting::default());
    let source = Arc::new(Swappable(Mutex::new(router(down.clone()))));
    struct Shared(Arc<Swappable>);
    impl aisoc_notify_outbox::RouterSource for Shared {
        fn current(&self) -> Arc<NotificationRouter> {
            self.0.current()
        }
    }
    let outbox = MemoryOutbox::start(
        Shared(source.clone()),
        RetrySettings {
            max_attempts: 5,
            retry_delay: Duration::from_millis(200),
            ..RetrySettings::default()
        },
    );
    outbox.enqueue(&notification("swapped")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    *source.0.lock().unwrap() = router(replacement.clone());
    let started = Instant::now();
    while replacement.total() == 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(replacement.total(), 1);
    assert_eq!(down.total(), 0);
    assert!(outbox.dead_letters().is_empty());
}
