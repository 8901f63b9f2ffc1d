//! The contract every [`Outbox`] keeps, written once (feature `test-util`): run it against
//! your own outbox the way this crate runs it against [`MemoryOutbox`](crate::memory::MemoryOutbox)
//! and the NATS outbox.
//!
//! Each function takes `start`, which builds the outbox under test with a running worker that
//! delivers through the given router with the given retry settings. Waits are bounded (20 s)
//! because a real broker needs real time.
//!
//! ```
//! use std::sync::Arc;
//! use aisoc_notify_outbox::conformance;
//! use aisoc_notify_outbox::memory::MemoryOutbox;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! conformance::dead_letters_are_listed_and_replayed(|router, settings| async move {
//!     MemoryOutbox::start(router, settings)
//! })
//! .await;
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_notify_core::conformance::stub::RecordingNotifier;
use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{EventType, Notification, NotifyError, Severity};

use crate::envelope::RetrySettings;
use crate::{Outbox, OutboxError};

/// How long any one expectation may take.
const BOUND: Duration = Duration::from_secs(20);

/// Polls `done` every 20 ms until it holds; panics with `what` after [`BOUND`].
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < BOUND, "{what} within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn gone() -> NotifyError {
    NotifyError::Gone {
        service: "conformance",
        code: "410".into(),
    }
}

fn router(channels: &[(&str, &Arc<RecordingNotifier>)]) -> Arc<NotificationRouter> {
    let builder = channels
        .iter()
        .fold(NotificationRouter::builder(), |builder, (id, notifier)| {
            builder.channel(Channel::new(*id, Arc::clone(notifier) as _))
        });
    Arc::new(builder.build().expect("distinct channel ids"))
}

fn notification(title: &str) -> Notification {
    Notification::new("acme", EventType::P0Alert, Severity::High, title)
}

/// A notification a channel refuses for good is dead-lettered with its reason, class,
/// attempts and channels, listed oldest first with paging, and replayed by id to that channel
/// only, with the same idempotency key; a replayed letter is gone from the list, and replaying
/// it again or an unknown id is `DeadLetterNotFound`.
pub async fn dead_letters_are_listed_and_replayed<S, Fut, O>(start: S)
where
    S: FnOnce(Arc<NotificationRouter>, RetrySettings) -> Fut,
    Fut: Future<Output = O>,
    O: Outbox,
{
    // Refuses the first two notifications for good, then delivers (the replay).
    let refusing = Arc::new(
        RecordingNotifier::new("refusing")
            .then_fail(gone())
            .then_fail(gone()),
    );
    let fine = Arc::new(RecordingNotifier::new("fine"));
    let outbox = start(
        router(&[("refusing", &refusing), ("fine", &fine)]),
        RetrySettings::default(),
    )
    .await;
    let mut first = notification("first refused");
    first.dedupe_key = Some(format!("conformance-{:016x}", rand::random::<u64>()));
    outbox.enqueue(&first).await.expect("queued");
    eventually("the first dead letter", || async {
        !outbox.list_dead_letters(None, 10).await.unwrap().is_empty()
    })
    .await;
    // The second one is queued only after the first is dead, so the order is known.
    let second = notification("second refused");
    outbox.enqueue(&second).await.expect("queued");
    eventually("the second dead letter", || async {
        outbox.list_dead_letters(None, 10).await.unwrap().len() == 2
    })
    .await;

    let listed = outbox.list_dead_letters(None, 10).await.unwrap();
    let letter = &listed[0];
    assert_eq!(letter.letter.notification.title, "first refused");
    assert_eq!(letter.letter.notification.dedupe_key, first.dedupe_key);
    assert_eq!(letter.letter.channels, ["refusing"]);
    assert_eq!(letter.letter.class, "gone");
    assert_eq!(letter.letter.attempts, 1);
    assert!(
        letter.letter.last_error.starts_with("refusing: "),
        "{}",
        letter.letter.last_error
    );
    assert!(letter.letter.dead_at.is_some());
    let second_key = listed[1].letter.notification.dedupe_key.clone();
    assert!(second_key.is_some(), "a key is given at enqueue");
    let page = outbox.list_dead_letters(None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    let rest = outbox
        .list_dead_letters(Some(&page[0].id), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].letter.notification.title, "second refused");
    assert_eq!(fine.sent().len(), 2, "the fine channel got each once");

    let replayed = outbox.replay_dead_letter(&letter.id).await.unwrap();
    assert_eq!(replayed.id, letter.id);
    assert_eq!(replayed.letter.notification.title, "first refused");
    eventually("the replayed delivery", || async {
        refusing.sent().len() == 3
    })
    .await;
    let redelivered = refusing.sent().pop().unwrap();
    assert_eq!(redelivered.title, "first refused");
    assert_eq!(redelivered.dedupe_key, first.dedupe_key, "the same key");
    let left = outbox.list_dead_letters(None, 10).await.unwrap();
    assert_eq!(left.len(), 1, "the replayed letter is removed");
    assert_eq!(left[0].letter.notification.dedupe_key, second_key);
    assert_eq!(
        fine.sent().len(),
        2,
        "a replay goes to the dead channels only"
    );
    assert!(matches!(
        outbox.replay_dead_letter(&letter.id).await,
        Err(OutboxError::DeadLetterNotFound { .. })
    ));
    assert!(matches!(
        outbox.replay_dead_letter("no-such-letter").await,
        Err(OutboxError::DeadLetterNotFound { .. })
    ));
}

/// A notification queued without a `dedupe_key` is given one, and every attempt (the first
/// and the retry after a retryable failure) carries the same one.
pub async fn a_retried_notification_keeps_its_idempotency_key<S, Fut, O>(start: S)
where
    S: FnOnce(Arc<NotificationRouter>, RetrySettings) -> Fut,
    Fut: Future<Output = O>,
    O: Outbox,
{
    let flaky = Arc::new(
        RecordingNotifier::new("flaky").then_fail(NotifyError::Unavailable {
            service: "conformance",
            code: "503".into(),
            message: "briefly down".into(),
        }),
    );
    let outbox = start(
        router(&[("flaky", &flaky)]),
        RetrySettings {
            max_attempts: 3,
            retry_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(100),
        },
    )
    .await;
    outbox
        .enqueue(&notification("retried"))
        .await
        .expect("queued");
    eventually("the retry", || async { flaky.sent().len() == 2 }).await;
    let sent = flaky.sent();
    let key = sent[0].dedupe_key.clone();
    assert!(key.as_deref().is_some_and(|k| !k.is_empty()), "{key:?}");
    assert_eq!(sent[1].dedupe_key, key, "the retry carries the same key");
    assert!(
        outbox.list_dead_letters(None, 10).await.unwrap().is_empty(),
        "delivered on the retry, nothing dead"
    );
}
