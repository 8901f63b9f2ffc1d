//! The outbox acts on each failure's retry class and nothing else: gone and refused channels are
//! dead-lettered at once with the reason, throttled ones wait as asked, retryable ones back off
//! with jitter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_notify_core::conformance::stub::RecordingNotifier;
use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{EventType, Notification, NotifyError, Severity};
use aisoc_notify_outbox::Outbox;
use aisoc_notify_outbox::envelope::{Queued, RetrySettings, attempt};
use aisoc_notify_outbox::memory::MemoryOutbox;
use chrono::Utc;

fn gone() -> NotifyError {
    NotifyError::Gone {
        service: "teams",
        code: "410".into(),
    }
}

fn unavailable() -> NotifyError {
    NotifyError::Unavailable {
        service: "slack",
        code: "internal_error".into(),
        message: "Slack is having trouble".into(),
    }
}

fn router(channels: Vec<(&str, Arc<RecordingNotifier>)>) -> NotificationRouter {
    channels
        .into_iter()
        .fold(NotificationRouter::builder(), |builder, (id, notifier)| {
            builder.channel(Channel::new(id, notifier))
        })
        .build()
        .unwrap()
}

fn queued() -> Queued {
    Queued {
        notification: Notification::new("acme", EventType::P0Alert, Severity::High, "Disk full"),
        channels: None,
        attempt: 0,
        not_before: None,
    }
}

fn settings() -> RetrySettings {
    RetrySettings {
        max_attempts: 5,
        retry_delay: Duration::from_secs(10),
        ..RetrySettings::default()
    }
}

#[tokio::test]
async fn a_gone_channel_is_dead_lettered_at_once_and_a_retryable_one_alone_is_retried() {
    let teams = Arc::new(RecordingNotifier::new("teams").then_fail(gone()));
    let slack = Arc::new(RecordingNotifier::new("slack").then_fail(unavailable()));
    let email = Arc::new(RecordingNotifier::new("email"));
    let router = router(vec![
        ("teams", teams.clone()),
        ("slack", slack.clone()),
        ("email", email.clone()),
    ]);

    let next = attempt(&router, &queued(), &settings()).await;

    assert_eq!(next.dead.len(), 1);
    let letter = &next.dead[0];
    assert_eq!(letter.channels, ["teams"]);
    assert_eq!(letter.class, "gone");
    assert_eq!(letter.attempts, 1);
    assert!(
        letter
            .last_error
            .contains("teams destination is gone (410)"),
        "{}",
        letter.last_error
    );
    let retry = next.retry.expect("slack is retried");
    assert_eq!(retry.channels.as_deref(), Some(&["slack".to_owned()][..]));
    assert_eq!(retry.attempt, 1);
}

#[tokio::test]
async fn a_refused_notification_is_dead_lettered_with_its_reason_not_dropped() {
    let slack = Arc::new(
        RecordingNotifier::new("slack").then_fail(NotifyError::Rejected {
            service: "slack",
            code: "channel_not_found".into(),
            message: "Web API error channel_not_found".into(),
        }),
    );
    let outbox = MemoryOutbox::start(Arc::new(router(vec![("slack", slack.clone())])), settings());
    outbox.enqueue(&queued().notification).await.unwrap();
    let started = Instant::now();
    while outbox.dead_letters().is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dead = outbox.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].class, "non_retryable");
    assert!(dead[0].last_error.contains("channel_not_found"));
    assert_eq!(slack.sent().len(), 1, "a refusal is never retried");
}

#[tokio::test]
async fn a_throttled_channel_waits_at_least_as_long_as_it_asked() {
    let asked = Duration::from_secs(120);
    let slack = Arc::new(
        RecordingNotifier::new("slack").then_fail(NotifyError::RateLimited {
            service: "slack",
            retry_after: Some(asked),
        }),
    );
    let router = router(vec![("slack", slack)]);
    let before = Utc::now();
    let next = attempt(&router, &queued(), &settings()).await;
    let due = next.retry.unwrap().not_before.unwrap();
    assert!(
        due - before >= chrono::Duration::seconds(120),
        "due after {:?}",
        due - before
    );
    assert!(next.dead.is_empty());
}

#[tokio::test]
async fn retryable_failures_back_off_with_jitter_within_the_policy() {
    let mut waits = Vec::new();
    for _ in 0..20 {
        let slack = Arc::new(RecordingNotifier::new("slack").then_fail(unavailable()));
        let router = router(vec![("slack", slack)]);
        let before = Utc::now();
        let next = attempt(&router, &queued(), &settings()).await;
        let wait = next.retry.unwrap().not_before.unwrap() - before;
        assert!(wait >= chrono::Duration::seconds(5), "{wait:?}");
        assert!(wait <= chrono::Duration::milliseconds(10_100), "{wait:?}");
        waits.push(wait);
    }
    waits.sort();
    waits.dedup();
    assert!(waits.len() > 10, "jitter spreads the retries: {waits:?}");
}

#[tokio::test]
async fn retryable_failures_on_the_last_attempt_are_dead_lettered_as_exhausted() {
    let slack = Arc::new(RecordingNotifier::new("slack").then_fail(unavailable()));
    let router = router(vec![("slack", slack)]);
    let last = Queued {
        attempt: 4,
        ..queued()
    };
    let next = attempt(&router, &last, &settings()).await;
    assert!(next.retry.is_none());
    assert_eq!(next.dead.len(), 1);
    assert_eq!(next.dead[0].class, "retryable");
    assert_eq!(next.dead[0].attempts, 5);
}

#[tokio::test]
async fn a_retry_for_a_channel_the_router_does_not_have_is_dead_lettered_not_dropped() {
    let slack = Arc::new(RecordingNotifier::new("slack"));
    let router = router(vec![("slack", slack.clone())]);
    let retry = Queued {
        channels: Some(vec!["slack".into(), "ch_elsewhere".into()]),
        attempt: 1,
        ..queued()
    };
    let next = attempt(&router, &retry, &settings()).await;
    assert_eq!(slack.sent().len(), 1, "the known channel is delivered");
    assert!(next.retry.is_none());
    assert_eq!(next.dead.len(), 1);
    assert_eq!(next.dead[0].channels, ["ch_elsewhere"]);
    assert_eq!(next.dead[0].class, "gone");
    assert!(
        next.dead[0]
            .last_error
            .contains("ch_elsewhere: no such channel here"),
        "{}",
        next.dead[0].last_error
    );
}
