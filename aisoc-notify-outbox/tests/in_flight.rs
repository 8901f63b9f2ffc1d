//! The NATS worker's windows, on the real server at 127.0.0.1:4222 (a stream of its own per
//! test): a delivery that outlasts `ack_wait` is not handed to another worker, a crash between
//! republishing a retry and acknowledging leaves one retry, the in-flight bound holds, a slot
//! comes back from every way a message is settled, and a slow delivery does not hold back the
//! messages fetched with it. The in-memory outbox's bound
//! is checked on paused time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{
    Delivered, EventType, Notification, Notifier, NotifyError, Severity, async_trait,
};
use aisoc_notify_outbox::Outbox;
use aisoc_notify_outbox::envelope::{Queued, RetrySettings};
use aisoc_notify_outbox::memory::MemoryOutbox;
use aisoc_notify_outbox::nats::{InjectedFault, NatsOutbox, NatsOutboxConfig, NatsOutboxWorker};

/// Takes `delay` per delivery (titles starting with `fast` take none), fails while
/// `failing`, and records calls, arrival times and the most deliveries in flight at once.
struct Destination {
    delay: Duration,
    failing: bool,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    calls: Mutex<Vec<(String, Instant)>>,
}

impl Destination {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay,
            failing: false,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn failing() -> Arc<Self> {
        Arc::new(Self {
            failing: true,
            ..Arc::into_inner(Self::new(Duration::ZERO)).unwrap()
        })
    }

    fn calls(&self) -> Vec<(String, Instant)> {
        self.calls.lock().unwrap().clone()
    }

    fn per_title(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (title, _) in self.calls() {
            *counts.entry(title).or_default() += 1;
        }
        counts
    }
}

#[async_trait]
impl Notifier for Destination {
    fn channel_type(&self) -> &str {
        "destination"
    }

    async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        self.calls
            .lock()
            .unwrap()
            .push((n.title.clone(), Instant::now()));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if !n.title.starts_with("fast") {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.failing {
            return Err(NotifyError::Unavailable {
                service: "test",
                code: "503".into(),
                message: "destination down".into(),
            });
        }
        Ok(Delivered::default())
    }
}

fn router(destination: &Arc<Destination>) -> Arc<NotificationRouter> {
    Arc::new(
        NotificationRouter::builder()
            .channel(Channel::new("destination", Arc::clone(destination) as _))
            .build()
            .unwrap(),
    )
}

fn notification(title: &str) -> Notification {
    Notification::new("acme", EventType::P0Alert, Severity::High, title)
}

/// A test's own outbox streams, deleted on drop.
struct Streams {
    client: async_nats::Client,
    config: NatsOutboxConfig,
}

impl Streams {
    async fn new(ack_wait: Duration, concurrency: usize, retry: RetrySettings) -> Self {
        let client = async_nats::connect("127.0.0.1:4222")
            .await
            .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
        let name = format!("AISOC_OUTBOX_F{:08x}", rand::random::<u32>());
        let config = NatsOutboxConfig {
            ack_wait,
            concurrency,
            retry,
            ..NatsOutboxConfig::named(&name)
        };
        Self { client, config }
    }

    async fn outbox(&self) -> NatsOutbox {
        NatsOutbox::new(self.client.clone(), self.config.clone())
            .await
            .unwrap()
    }

    async fn pending(&self) -> async_nats::jetstream::stream::Stream {
        async_nats::jetstream::new(self.client.clone())
            .get_stream(&self.config.stream)
            .await
            .unwrap()
    }

    async fn pending_count(&self) -> u64 {
        self.pending().await.info().await.unwrap().state.messages
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        let js = async_nats::jetstream::new(self.client.clone());
        let config = self.config.clone();
        tokio::spawn(async move {
            let _ = js.delete_stream(&config.stream).await;
            let _ = js.delete_stream(&config.dead_stream).await;
        });
    }
}

/// Runs `worker` in the background until the returned handle is aborted.
fn spawn(worker: NatsOutboxWorker) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        worker.run().await.unwrap();
    })
}

async fn until(what: &str, bound: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < bound, "{what} within {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_outlasts_ack_wait_is_not_redelivered_while_in_flight() {
    // ack_wait 1 s, a delivery taking 3.5 s, and a second worker waiting for anything the
    // server would hand out again.
    let streams = Streams::new(Duration::from_secs(1), 4, RetrySettings::default()).await;
    let outbox = streams.outbox().await;
    let destination = Destination::new(Duration::from_millis(3500));
    let workers = [
        spawn(outbox.worker(router(&destination)).await.unwrap()),
        spawn(outbox.worker(router(&destination)).await.unwrap()),
    ];
    outbox.enqueue(&notification("slow")).await.unwrap();
    until(
        "the delivery settles",
        Duration::from_secs(15),
        async || !destination.calls().is_empty() && streams.pending_count().await == 0,
    )
    .await;
    assert_eq!(
        destination.calls().len(),
        1,
        "delivered once, never redelivered while in flight"
    );
    workers.iter().for_each(|w| w.abort());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_republishing_a_retry_and_acking_leaves_exactly_one_retry() {
    // The retry is due in a minute, so it stays in the stream to be counted.
    let retry = RetrySettings {
        retry_delay: Duration::from_secs(60),
        ..RetrySettings::default()
    };
    let streams = Streams::new(Duration::from_secs(1), 4, retry).await;
    let outbox = streams.outbox().await;
    let destination = Destination::failing();
    outbox.enqueue(&notification("flaky")).await.unwrap();

    // Worker A delivers (the destination is down), publishes the retry and dies before acking.
    let dying = outbox
        .worker(router(&destination))
        .await
        .unwrap()
        .with_fault(InjectedFault::DieBeforeAck);
    assert_eq!(dying.run_once(1, Duration::from_secs(2)).await.unwrap(), 1);
    drop(dying);
    assert_eq!(
        streams.pending_count().await,
        2,
        "the unacknowledged original and its retry"
    );

    // Worker B gets the original after ack_wait, fails again and republishes the same retry.
    let taking_over = outbox.worker(router(&destination)).await.unwrap();
    let started = Instant::now();
    while destination.calls().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(15), "redelivered");
        taking_over
            .run_once(4, Duration::from_millis(500))
            .await
            .unwrap();
    }
    until(
        "the original is acknowledged",
        Duration::from_secs(5),
        async || {
            let stream = streams.pending().await;
            let mut consumer: async_nats::jetstream::consumer::PullConsumer =
                stream.get_consumer(&streams.config.consumer).await.unwrap();
            consumer.info().await.unwrap().ack_floor.stream_sequence >= 1
        },
    )
    .await;

    let stream = streams.pending().await;
    let last = stream.cached_info().state.last_sequence;
    let mut left = Vec::new();
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            left.push(serde_json::from_slice::<Queued>(&message.payload).unwrap());
        }
    }
    assert_eq!(left.len(), 1, "one retry, not two: {left:?}");
    assert_eq!(left[0].attempt, 1);
    assert_eq!(
        left[0].channels.as_deref(),
        Some(&["destination".to_owned()][..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_never_runs_more_deliveries_at_once_than_its_bound() {
    let streams = Streams::new(Duration::from_secs(30), 4, RetrySettings::default()).await;
    let outbox = streams.outbox().await;
    let destination = Destination::new(Duration::from_millis(300));
    for i in 0..16 {
        outbox
            .enqueue(&notification(&format!("n-{i}")))
            .await
            .unwrap();
    }
    let started = Instant::now();
    let worker = spawn(outbox.worker(router(&destination)).await.unwrap());
    until("all 16 delivered", Duration::from_secs(20), async || {
        destination.calls().len() == 16 && destination.in_flight.load(Ordering::SeqCst) == 0
    })
    .await;
    let elapsed = started.elapsed();
    worker.abort();
    assert_eq!(destination.peak.load(Ordering::SeqCst), 4, "four at a time");
    assert!(
        elapsed >= Duration::from_millis(1200),
        "four rounds of 300 ms: {elapsed:?}"
    );
    assert!(destination.per_title().values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_comes_back_from_every_way_a_message_is_settled() {
    let to_vec = |queued: &Queued| serde_json::to_vec(queued).unwrap();
    // One slot: an unreadable message (terminated), one not due for an hour (handed back to
    // the server) and a retry naming a channel no router has (dead-lettered) must each give
    // the slot back, or the deliveries queued behind them never start.
    let streams = Streams::new(Duration::from_secs(30), 1, RetrySettings::default()).await;
    let outbox = streams.outbox().await;
    let js = async_nats::jetstream::new(streams.client.clone());
    let later = Queued {
        not_before: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..Queued::new(notification("later"))
    };
    let gone = Queued {
        channels: Some(vec!["removed".into()]),
        attempt: 1,
        ..Queued::new(notification("gone"))
    };
    let unreadable = b"not a notification".to_vec();
    for payload in [unreadable, to_vec(&later), to_vec(&gone)] {
        js.publish(streams.config.subject.clone(), payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    for i in 0..3 {
        outbox
            .enqueue(&notification(&format!("fast-{i}")))
            .await
            .unwrap();
    }
    let destination = Destination::new(Duration::ZERO);
    let worker = spawn(outbox.worker(router(&destination)).await.unwrap());
    until(
        "the three behind them delivered",
        Duration::from_secs(10),
        async || destination.calls().len() == 3,
    )
    .await;
    until(
        "the gone channel dead-lettered",
        Duration::from_secs(10),
        async || outbox.list_dead_letters(None, 10).await.unwrap().len() == 1,
    )
    .await;
    worker.abort();
    assert_eq!(
        destination
            .per_title()
            .keys()
            .filter(|t| t.starts_with("fast"))
            .count(),
        3
    );
    assert_eq!(destination.peak.load(Ordering::SeqCst), 1, "one at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_delivery_does_not_hold_back_the_messages_fetched_with_it() {
    let streams = Streams::new(Duration::from_secs(30), 8, RetrySettings::default()).await;
    let outbox = streams.outbox().await;
    let destination = Destination::new(Duration::from_secs(4));
    outbox.enqueue(&notification("slow")).await.unwrap();
    for i in 0..3 {
        outbox
            .enqueue(&notification(&format!("fast-{i}")))
            .await
            .unwrap();
    }
    let worker = spawn(outbox.worker(router(&destination)).await.unwrap());
    until(
        "the fast ones delivered",
        Duration::from_secs(10),
        async || destination.calls().len() == 4,
    )
    .await;
    let calls = destination.calls();
    let slow_started = calls.iter().find(|(t, _)| t == "slow").unwrap().1;
    let last_fast = calls.iter().map(|(_, at)| *at).max().unwrap();
    assert!(
        last_fast.duration_since(slow_started) < Duration::from_secs(1),
        "the fast ones went out while the slow one was in flight"
    );
    assert_eq!(
        destination.in_flight.load(Ordering::SeqCst),
        1,
        "the slow one is still going"
    );
    worker.abort();
}

#[tokio::test(start_paused = true)]
async fn the_memory_outbox_never_runs_more_deliveries_at_once_than_its_bound() {
    let destination = Destination::new(Duration::from_secs(1));
    let outbox =
        MemoryOutbox::start_with_concurrency(router(&destination), RetrySettings::default(), 3);
    for i in 0..10 {
        outbox
            .enqueue(&notification(&format!("n-{i}")))
            .await
            .unwrap();
    }
    let started = tokio::time::Instant::now();
    while destination.calls().len() < 10 || destination.in_flight.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(destination.peak.load(Ordering::SeqCst), 3);
    // ceil(10 / 3) rounds of one second.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_millis(4100),
        "{elapsed:?}"
    );
}
