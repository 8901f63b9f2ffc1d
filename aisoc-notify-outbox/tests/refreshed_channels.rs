//! A first attempt goes through the channels as stored (one refresh of the router source), so
//! a channel created on another node a moment before is among them. A retry naming a channel
//! the worker's router does not have yet (created on another node, not reloaded here) is
//! delivered after one refresh, not dead-lettered as gone; a channel still missing after the refresh is, and a refresh that fails leaves the
//! retry queued. Checked on the delivery rule itself
//! and across two NATS workers on the real server at 127.0.0.1:4222 (a stream of its own).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aisoc_notify_core::conformance::stub::RecordingNotifier;
use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{EventType, Notification, NotifyError, Severity, async_trait};
use aisoc_notify_outbox::envelope::{Queued, RetrySettings, attempt_through};
use aisoc_notify_outbox::nats::{NatsOutbox, NatsOutboxConfig};
use aisoc_notify_outbox::{Outbox, OutboxError, RouterSource};

fn router(channels: &[(&str, &Arc<RecordingNotifier>)]) -> Arc<NotificationRouter> {
    let builder = channels
        .iter()
        .fold(NotificationRouter::builder(), |builder, (id, notifier)| {
            builder.channel(Channel::new(*id, Arc::clone(notifier) as _))
        });
    Arc::new(builder.build().unwrap())
}

/// A node whose router is behind: `current` lacks what `refreshed` (the shared store) has.
struct Behind {
    current: Arc<NotificationRouter>,
    stored: Arc<NotificationRouter>,
    refreshes: AtomicUsize,
}

#[async_trait]
impl RouterSource for Behind {
    fn current(&self) -> Arc<NotificationRouter> {
        Arc::clone(&self.current)
    }

    async fn refreshed(&self) -> Result<Arc<NotificationRouter>, OutboxError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::clone(&self.stored))
    }
}

fn retry_to(channels: &[&str]) -> Queued {
    let mut queued = Queued::new(Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::High,
        "Disk full",
    ));
    queued.channels = Some(channels.iter().map(|c| (*c).to_owned()).collect());
    queued.attempt = 1;
    queued
}

#[tokio::test]
async fn a_retry_for_a_channel_only_the_store_knows_is_delivered_after_one_refresh() {
    let console = Arc::new(RecordingNotifier::new("console"));
    let webhook = Arc::new(RecordingNotifier::new("webhook"));
    let source = Behind {
        current: router(&[("console", &console)]),
        stored: router(&[("console", &console), ("ch_elsewhere", &webhook)]),
        refreshes: AtomicUsize::new(0),
    };
    let next = attempt_through(
        &source,
        &retry_to(&["ch_elsewhere"]),
        &RetrySettings::default(),
    )
    .await
    .unwrap();
    assert!(next.is_done(), "{next:?}");
    assert_eq!(webhook.sent().len(), 1);
    assert!(
        console.sent().is_empty(),
        "a retry goes only where it names"
    );
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_channel_missing_after_the_refresh_is_gone_and_known_channels_need_no_refresh() {
    let console = Arc::new(RecordingNotifier::new("console"));
    let source = Behind {
        current: router(&[("console", &console)]),
        stored: router(&[("console", &console)]),
        refreshes: AtomicUsize::new(0),
    };
    let next = attempt_through(
        &source,
        &retry_to(&["ch_removed"]),
        &RetrySettings::default(),
    )
    .await
    .unwrap();
    assert_eq!(next.dead.len(), 1);
    assert_eq!(next.dead[0].class, "gone");
    assert_eq!(next.dead[0].channels, ["ch_removed"]);
    assert!(next.dead[0].last_error.contains("no such channel here"));
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);

    // Retries to channels the router has never pay for a refresh.
    assert!(
        attempt_through(&source, &retry_to(&["console"]), &RetrySettings::default())
            .await
            .unwrap()
            .is_done()
    );
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_first_attempt_fans_out_to_the_stored_channels_even_when_this_node_is_behind() {
    let console = Arc::new(RecordingNotifier::new("console"));
    let webhook = Arc::new(RecordingNotifier::new("webhook"));
    let source = Behind {
        current: router(&[("console", &console)]),
        stored: router(&[("console", &console), ("ch_new_elsewhere", &webhook)]),
        refreshes: AtomicUsize::new(0),
    };
    let first = Queued::new(Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::High,
        "Disk full",
    ));
    let next = attempt_through(&source, &first, &RetrySettings::default())
        .await
        .unwrap();
    assert!(next.is_done(), "{next:?}");
    assert_eq!(console.sent().len(), 1);
    assert_eq!(
        webhook.sent().len(),
        1,
        "a channel created on another node a moment ago is among a first attempt's channels"
    );
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
}

/// A node whose channel store cannot be reached.
struct Unreachable(Arc<NotificationRouter>);

#[async_trait]
impl RouterSource for Unreachable {
    fn current(&self) -> Arc<NotificationRouter> {
        Arc::clone(&self.0)
    }

    async fn refreshed(&self) -> Result<Arc<NotificationRouter>, OutboxError> {
        Err(OutboxError::Unavailable("channel store down".into()))
    }
}

#[tokio::test]
async fn when_the_refresh_fails_the_retry_is_neither_attempted_nor_dead_lettered() {
    let console = Arc::new(RecordingNotifier::new("console"));
    let source = Unreachable(router(&[("console", &console)]));
    let failed = attempt_through(
        &source,
        &retry_to(&["ch_elsewhere", "console"]),
        &RetrySettings::default(),
    )
    .await;
    assert_eq!(
        failed.unwrap_err(),
        OutboxError::Unavailable("channel store down".into())
    );
    assert!(console.sent().is_empty(), "nothing attempted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_failed_on_one_worker_is_delivered_by_another_that_learns_the_channel_on_refresh() {
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let name = format!("AISOC_OUTBOX_RF{:08x}", rand::random::<u32>());
    let config = NatsOutboxConfig {
        retry: RetrySettings {
            retry_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(100),
            ..RetrySettings::default()
        },
        ..NatsOutboxConfig::named(&name)
    };
    let outbox = NatsOutbox::new(client.clone(), config.clone())
        .await
        .unwrap();

    // Node 1 knows the channel, whose destination is down for its attempt.
    let down = Arc::new(
        RecordingNotifier::new("webhook").then_fail(NotifyError::Unavailable {
            service: "webhook",
            code: "503".into(),
            message: "down".into(),
        }),
    );
    let first_node = outbox
        .worker(router(&[("ch_shared", &down)]))
        .await
        .unwrap();
    outbox
        .enqueue(&Notification::new(
            "acme",
            EventType::P0Alert,
            Severity::High,
            "Ransomware on web-01",
        ))
        .await
        .unwrap();
    assert_eq!(
        first_node
            .run_once(1, Duration::from_secs(5))
            .await
            .unwrap(),
        1
    );
    assert_eq!(down.sent().len(), 1);

    // Node 2 has not loaded the channel yet; its store has.
    let up = Arc::new(RecordingNotifier::new("webhook"));
    let second = Arc::new(Behind {
        current: router(&[]),
        stored: router(&[("ch_shared", &up)]),
        refreshes: AtomicUsize::new(0),
    });
    struct Node(Arc<Behind>);
    #[async_trait]
    impl RouterSource for Node {
        fn current(&self) -> Arc<NotificationRouter> {
            self.0.current()
        }
        async fn refreshed(&self) -> Result<Arc<NotificationRouter>, OutboxError> {
            self.0.refreshed().await
        }
    }
    let second_node = outbox.worker(Node(Arc::clone(&second))).await.unwrap();
    let started = Instant::now();
    while up.sent().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "retry delivered within 15 s"
        );
        second_node
            .run_once(1, Duration::from_millis(200))
            .await
            .unwrap();
    }
    assert_eq!(up.sent().len(), 1);
    assert!(second.refreshes.load(Ordering::SeqCst) >= 1);
    assert!(
        outbox.list_dead_letters(None, 10).await.unwrap().is_empty(),
        "nothing dead-lettered as gone"
    );
    let js = async_nats::jetstream::new(client);
    let _ = js.delete_stream(&config.stream).await;
    let _ = js.delete_stream(&config.dead_stream).await;
}
