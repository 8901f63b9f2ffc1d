//! An in-process outbox with the same delivery rules as the durable one; notifications are lost
//! if the process dies, so use it for development and single-node hosts that accept that.

use std::sync::{Arc, Mutex};

use aisoc_notify_core::{Notification, async_trait};
use tokio::sync::mpsc;

use crate::envelope::{DeadLetter, Next, Queued, RetrySettings, attempt};
use crate::{Outbox, OutboxError, RouterSource};

/// An in-memory outbox and its worker.
#[derive(Debug, Clone)]
pub struct MemoryOutbox {
    sender: mpsc::UnboundedSender<Queued>,
    dead: Arc<Mutex<Vec<DeadLetter>>>,
}

impl MemoryOutbox {
    /// Starts the outbox and one worker delivering through `router` (a fixed
    /// `Arc<NotificationRouter>` or any [`RouterSource`]) on the current runtime.
    pub fn start(router: impl RouterSource + 'static, settings: RetrySettings) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Queued>();
        let dead = Arc::new(Mutex::new(Vec::new()));
        let retry = sender.clone();
        let dead_letters = Arc::clone(&dead);
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
                let Next { retry: again, dead } =
                    attempt(&router.current(), &queued, &settings).await;
                if let Some(next) = again {
                    let _ = retry.send(next);
                }
                dead_letters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(dead);
            }
        });
        Self { sender, dead }
    }

    /// Notifications (per group of channels) refused for good or out of attempts.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(&self, notification: &Notification) -> Result<(), OutboxError> {
        self.sender
            .send(Queued {
                notification: notification.clone(),
                channels: None,
                attempt: 0,
                not_before: None,
            })
            .map_err(|_| OutboxError::Unavailable("the outbox worker has stopped".into()))
    }
}
