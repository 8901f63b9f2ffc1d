//! The memory outbox holds at most its capacity and keeps at most its dead-letter ring, however
//! fast notifications are queued: a full outbox refuses at once, a retry waiting for its time
//! keeps its slot, and the oldest dead letter makes room for the newest.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{
    Delivered, EventType, Notification, Notifier, NotifyError, Severity, async_trait,
};
use aisoc_notify_outbox::envelope::RetrySettings;
use aisoc_notify_outbox::memory::{MemoryOutbox, MemoryOutboxLimits};
use aisoc_notify_outbox::{Outbox, OutboxError};
use tokio::sync::Semaphore;

/// Fails with each scripted error in turn, then delivers, each delivery waiting for the gate.
struct Scripted {
    failures: Mutex<VecDeque<NotifyError>>,
    gate: Semaphore,
    calls: AtomicUsize,
    titles: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(failures: impl IntoIterator<Item = NotifyError>, open: bool) -> Arc<Self> {
        Arc::new(Self {
            failures: Mutex::new(failures.into_iter().collect()),
            gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
            calls: AtomicUsize::new(0),
            titles: Mutex::new(Vec::new()),
        })
    }

    fn open(&self, deliveries: usize) {
        self.gate.add_permits(deliveries);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Notifier for Scripted {
    fn channel_type(&self) -> &str {
        "scripted"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failure = self.failures.lock().unwrap().pop_front();
        if let Some(failure) = failure {
            return Err(failure);
        }
        self.gate.acquire().await.unwrap().forget();
        self.titles.lock().unwrap().push(notification.title.clone());
        Ok(Delivered::default())
    }
}

fn gone() -> NotifyError {
    NotifyError::Gone {
        service: "test",
        code: "410".into(),
    }
}

fn unavailable() -> NotifyError {
    NotifyError::Unavailable {
        service: "test",
        code: "503".into(),
        message: "briefly down".into(),
    }
}

fn router(notifier: &Arc<Scripted>) -> Arc<NotificationRouter> {
    Arc::new(
        NotificationRouter::builder()
            .channel(Channel::new("scripted", Arc::clone(notifier) as _))
            .build()
            .unwrap(),
    )
}

fn notification(title: &str) -> Notification {
    Notification::new("acme", EventType::P0Alert, Severity::High, title)
}

fn limits(capacity: usize, dead_letters: usize) -> MemoryOutboxLimits {
    MemoryOutboxLimits {
        concurrency: 1,
        capacity,
        dead_letters,
    }
}

/// Lets the single-threaded runtime run the outbox's tasks until `done` holds.
async fn settle(what: &str, done: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what}: not reached");
}

#[tokio::test]
async fn a_full_memory_outbox_refuses_at_once_until_deliveries_drain_it() {
    let destination = Scripted::new([], false);
    let outbox = MemoryOutbox::start_with_limits(
        router(&destination),
        RetrySettings::default(),
        limits(2, 10),
    );
    outbox.enqueue(&notification("first")).await.unwrap();
    outbox.enqueue(&notification("second")).await.unwrap();
    settle("the first delivery started", || destination.calls() == 1).await;

    // One is being delivered, one waits behind it: both hold a slot.
    assert_eq!(outbox.held(), 2);
    assert_eq!(
        outbox.enqueue(&notification("third")).await,
        Err(OutboxError::Full { capacity: 2 })
    );
    let message = OutboxError::Full { capacity: 2 }.to_string();
    assert!(message.contains("2 notifications"), "{message}");

    destination.open(2);
    settle("both delivered", || outbox.held() == 0).await;
    assert_eq!(*destination.titles.lock().unwrap(), ["first", "second"]);
    destination.open(1);
    outbox.enqueue(&notification("fourth")).await.unwrap();
    settle("the fourth delivered", || outbox.held() == 0).await;
    assert_eq!(destination.titles.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waiting_for_its_time_keeps_its_slot() {
    let destination = Scripted::new([unavailable()], true);
    let an_hour = Duration::from_secs(3600);
    let settings = RetrySettings {
        max_attempts: 3,
        retry_delay: an_hour,
        max_delay: an_hour,
    };
    let outbox = MemoryOutbox::start_with_limits(router(&destination), settings, limits(1, 10));
    outbox.enqueue(&notification("flaky")).await.unwrap();
    settle("the first attempt", || destination.calls() == 1).await;
    // Let the worker take the retry back and park it until its time.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }

    assert_eq!(outbox.held(), 1, "the waiting retry holds its slot");
    assert_eq!(
        outbox.enqueue(&notification("another")).await,
        Err(OutboxError::Full { capacity: 1 })
    );

    tokio::time::advance(2 * an_hour).await;
    settle("the retry delivered", || outbox.held() == 0).await;
    assert_eq!(destination.calls(), 2);
    assert_eq!(*destination.titles.lock().unwrap(), ["flaky"]);
    outbox.enqueue(&notification("another")).await.unwrap();
}

#[tokio::test]
async fn dead_letters_beyond_the_ring_drop_the_oldest() {
    let destination = Scripted::new([gone(), gone(), gone()], true);
    let outbox = MemoryOutbox::start_with_limits(
        router(&destination),
        RetrySettings::default(),
        limits(10, 2),
    );
    for title in ["one", "two", "three"] {
        outbox.enqueue(&notification(title)).await.unwrap();
    }
    settle("three dead letters", || {
        destination.calls() == 3 && outbox.held() == 0
    })
    .await;

    let kept: Vec<String> = outbox
        .list_dead_letters(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|stored| stored.letter.notification.title)
        .collect();
    assert_eq!(kept, ["two", "three"], "the oldest made room");
    assert_eq!(outbox.dead_letters_dropped(), 1);
    assert!(matches!(
        outbox.replay_dead_letter("1").await,
        Err(OutboxError::DeadLetterNotFound { .. })
    ));
}

#[tokio::test]
async fn replaying_into_a_full_outbox_leaves_the_dead_letter_in_place() {
    let destination = Scripted::new([gone()], false);
    let outbox = MemoryOutbox::start_with_limits(
        router(&destination),
        RetrySettings::default(),
        limits(1, 10),
    );
    outbox.enqueue(&notification("refused")).await.unwrap();
    settle("the dead letter", || outbox.dead_letters().len() == 1).await;
    settle("its slot given back", || outbox.held() == 0).await;
    outbox.enqueue(&notification("slow")).await.unwrap();
    settle("the slow delivery started", || destination.calls() == 2).await;

    let id = outbox.list_dead_letters(None, 1).await.unwrap()[0]
        .id
        .clone();
    assert_eq!(
        outbox.replay_dead_letter(&id).await.map(|r| r.id),
        Err(OutboxError::Full { capacity: 1 })
    );
    assert_eq!(outbox.dead_letters().len(), 1, "still listed");

    destination.open(2);
    settle("the slow one delivered", || outbox.held() == 0).await;
    let replayed = outbox.replay_dead_letter(&id).await.unwrap();
    assert_eq!(replayed.letter.notification.title, "refused");
    settle("the replay delivered", || {
        destination.titles.lock().unwrap().len() == 2
    })
    .await;
    assert!(outbox.dead_letters().is_empty());
}
