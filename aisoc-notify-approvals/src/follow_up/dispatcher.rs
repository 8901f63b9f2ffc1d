//! Delivers follow-ups from an [`AnswerOutbox`] (a verification store's or an approval
//! store's): the case-timeline entry through [`CaseTimeline`] and the playbook resume through
//! [`PlaybookResumer`], retried until done.
//!
//! Each pass ([`FollowUpDispatcher::run_due`]) claims what is due with a lease and calls the
//! hook once per follow-up; the hook's [`HookError::retry_class`] decides what happens next:
//!
//! | outcome | the follow-up |
//! |---|---|
//! | `Ok` | done; never delivered again |
//! | `Retryable`, `Throttled(wait)` | retried after [`RetryPolicy::wait_for`] (at least `wait`), until the policy's `max_attempts` |
//! | `NonRetryable`, `Gone`, or attempts used up | dead, with the reason kept for an operator |
//!
//! The background loop ([`FollowUpDispatcher::spawn`]) runs a pass at start (so follow-ups a
//! crashed process left behind go out at once), whenever [`wake`](FollowUpDispatcher::wake)
//! says an answer or decision was recorded (or a follow-up replayed), and every
//! `poll_interval` (other replicas' answers, retry times, expired leases, approvals whose
//! deadline passed). Time comes from the [`Clock`], so tests drive retries without
//! sleeping.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::retry::{RetryClass, RetryPolicy};
use tokio::sync::Notify;

use super::hooks::{CaseTimeline, HookError, PlaybookResumer};
use super::outbox::{AnswerOutbox, FollowUp, FollowUpKind};
use crate::store::StoreError;

/// The retry policy follow-ups use unless told otherwise: 15 attempts, waits doubling from
/// 1 s up to 10 min (with jitter), so an orchestrator that is down for half an hour still gets
/// its resume.
pub fn default_follow_up_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 15,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(600),
        max_retry_after: Duration::from_secs(3600),
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Follow-ups claimed.
    pub claimed: usize,
    /// Delivered and marked done.
    pub delivered: usize,
    /// Failed and rescheduled.
    pub rescheduled: usize,
    /// Given up on.
    pub dead: usize,
}

/// Delivers the follow-ups of recorded answers or decisions; see the module docs.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use aisoc_notify_approvals::verify::{
///     Answer, CaseTimeline, FollowUpDispatcher, HookError, MemoryVerificationStore,
///     PendingPrompt, PlaybookResumer, ResumeRequest, TimelineEvent, VerificationStore,
/// };
/// use aisoc_notify_core::async_trait;
///
/// #[derive(Default)]
/// struct Orchestrator(Mutex<Vec<String>>);
///
/// #[async_trait]
/// impl PlaybookResumer for Orchestrator {
///     async fn resume(&self, request: &ResumeRequest) -> Result<(), HookError> {
///         // `request.idempotency_key` is the key to pass on.
///         self.0.lock().unwrap().push(format!("{} -> {}", request.run_id, request.branch));
///         Ok(())
///     }
/// }
///
/// #[async_trait]
/// impl CaseTimeline for Orchestrator {
///     async fn record(&self, _event: TimelineEvent) -> Result<(), HookError> {
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryVerificationStore::new());
/// let orchestrator = Arc::new(Orchestrator::default());
/// let dispatcher = FollowUpDispatcher::new(store.clone(), orchestrator.clone(), orchestrator.clone());
/// let now = chrono::Utc::now();
/// store.create_prompt(&PendingPrompt {
///     prompt_id: "vfy_1".into(), tenant_id: "acme".into(), case_id: "case-1".into(),
///     run_id: Some("run-1".into()), user_ref: "alice".into(), title: "Sign-in".into(),
///     message: "Was this you?".into(), expires_at: now + chrono::Duration::minutes(30),
///     receipt: None,
/// }, now).await.unwrap();
/// // The answer and its follow-ups are recorded together (the callback does this on POST) …
/// store.answer(&Answer {
///     prompt_id: "vfy_1".into(), tenant_id: "acme".into(), case_id: "case-1".into(),
///     user_ref: "alice".into(), choice: "deny".into(), token_id: "t1".into(),
/// }, now).await.unwrap();
/// // … and delivered from the store, once.
/// assert_eq!(dispatcher.run_due().await.unwrap().delivered, 2);
/// assert_eq!(dispatcher.run_due().await.unwrap().claimed, 0);
/// assert_eq!(*orchestrator.0.lock().unwrap(), ["run-1 -> deny"]);
/// # });
/// ```
pub struct FollowUpDispatcher {
    outbox: Arc<dyn AnswerOutbox>,
    timeline: Arc<dyn CaseTimeline>,
    resumer: Arc<dyn PlaybookResumer>,
    policy: RetryPolicy,
    lease: Duration,
    batch: usize,
    poll_interval: Duration,
    clock: Arc<dyn Clock>,
    wake: Notify,
}

impl std::fmt::Debug for FollowUpDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowUpDispatcher")
            .field("policy", &self.policy)
            .field("lease", &self.lease)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl FollowUpDispatcher {
    /// A dispatcher over `outbox` (a verification or approval store) calling the host's hooks, with
    /// [`default_follow_up_policy`], a 5-minute lease, batches of 32 and a 1 s poll.
    pub fn new(
        outbox: Arc<dyn AnswerOutbox>,
        timeline: Arc<dyn CaseTimeline>,
        resumer: Arc<dyn PlaybookResumer>,
    ) -> Self {
        Self {
            outbox,
            timeline,
            resumer,
            policy: default_follow_up_policy(),
            lease: Duration::from_secs(300),
            batch: 32,
            poll_interval: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
            wake: Notify::new(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the lease: how long a claimed follow-up stays hidden from other claims. It
    /// must outlast one hook call (the delivery client's own retries included), or a slow
    /// call is delivered twice.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Replaces how often the background loop looks for due follow-ups.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Replaces the clock (tests drive retries and leases with a manual one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Tells the background loop that an answer or decision was recorded (or a follow-up
    /// replayed), so it runs a pass now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// One pass: claims everything due now (in batches) and delivers it.
    pub async fn run_due(&self) -> Result<DispatchReport, StoreError> {
        let mut report = DispatchReport::default();
        loop {
            let claimed = self
                .outbox
                .claim_due(self.clock.now(), self.lease, self.batch)
                .await?;
            let full = claimed.len() == self.batch;
            for follow_up in claimed {
                report.claimed += 1;
                self.deliver(follow_up, &mut report).await?;
            }
            if !full {
                return Ok(report);
            }
        }
    }

    /// Runs the background loop until the returned task is aborted (or the runtime stops).
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(error) = self.run_due().await {
                    tracing::warn!(%error, "could not read the follow-up outbox; trying again");
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.poll_interval) => {}
                }
            }
        })
    }

    async fn deliver(
        &self,
        follow_up: FollowUp,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let outcome = match follow_up.kind {
            FollowUpKind::Timeline => match follow_up.timeline_event() {
                Some(event) => self.timeline.record(event).await,
                None => Err(HookError::permanent(
                    "no case to record the timeline entry on",
                )),
            },
            FollowUpKind::Resume => match follow_up.resume_request() {
                Some(request) => self.resumer.resume(&request).await,
                None => Err(HookError::permanent("no playbook run to resume")),
            },
        };
        let now = self.clock.now();
        let error = match outcome {
            Ok(()) => {
                self.outbox.complete(&follow_up, now).await?;
                report.delivered += 1;
                tracing::info!(flow = %follow_up.flow, key = %follow_up.key, kind = %follow_up.kind, attempts = follow_up.attempts, "follow-up delivered");
                return Ok(());
            }
            Err(error) => error,
        };
        let class = error.retry_class();
        let wait = match class {
            RetryClass::Retryable | RetryClass::Throttled(_)
                if follow_up.attempts < self.policy.max_attempts =>
            {
                self.policy.wait_for(class, follow_up.attempts)
            }
            _ => None,
        };
        match wait {
            Some(wait) => {
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                self.outbox.retry_at(&follow_up, at, error.reason()).await?;
                report.rescheduled += 1;
                tracing::warn!(flow = %follow_up.flow, key = %follow_up.key, kind = %follow_up.kind, attempts = follow_up.attempts, %class, %error, "follow-up failed; retrying");
            }
            None => {
                let reason = if class.is_retryable() {
                    format!(
                        "gave up after {} attempts: {}",
                        follow_up.attempts,
                        error.reason()
                    )
                } else {
                    format!("{class}: {}", error.reason())
                };
                self.outbox.dead_end(&follow_up, &reason, now).await?;
                report.dead += 1;
                tracing::error!(flow = %follow_up.flow, key = %follow_up.key, kind = %follow_up.kind, attempts = follow_up.attempts, %reason, "follow-up dead-ended; an operator can replay it");
            }
        }
        Ok(())
    }
}
