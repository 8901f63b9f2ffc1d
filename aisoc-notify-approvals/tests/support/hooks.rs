//! Test doubles for the host's follow-up hooks: a resumer that fails on cue or hangs, and a
//! case timeline that records or refuses.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aisoc_notify_approvals::follow_up::{
    CaseTimeline, HookError, PlaybookResumer, ResumeRequest, TimelineEvent,
};
use aisoc_notify_core::async_trait;
use tokio::sync::Notify;

/// A resumer that fails with the queued errors first, and can hang forever on its first call
/// (a process dying mid-request); it tells who waits when it was called.
#[derive(Default)]
pub struct Resumer {
    pub failures: Mutex<VecDeque<HookError>>,
    pub hang: bool,
    pub calls: Mutex<Vec<ResumeRequest>>,
    pub resumed: Mutex<Vec<ResumeRequest>>,
    pub called: Notify,
}

impl Resumer {
    pub fn failing(failures: impl IntoIterator<Item = HookError>) -> Arc<Self> {
        Arc::new(Self {
            failures: Mutex::new(failures.into_iter().collect()),
            ..Self::default()
        })
    }

    pub fn hanging() -> Arc<Self> {
        Arc::new(Self {
            hang: true,
            ..Self::default()
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn resumed(&self) -> Vec<ResumeRequest> {
        self.resumed.lock().unwrap().clone()
    }
}

#[async_trait]
impl PlaybookResumer for Resumer {
    async fn resume(&self, request: &ResumeRequest) -> Result<(), HookError> {
        self.calls.lock().unwrap().push(request.clone());
        self.called.notify_one();
        if self.hang {
            std::future::pending::<()>().await;
        }
        if let Some(failure) = self.failures.lock().unwrap().pop_front() {
            return Err(failure);
        }
        self.resumed.lock().unwrap().push(request.clone());
        Ok(())
    }
}

/// A case timeline that records every event, or refuses them all when `down`.
#[derive(Default)]
pub struct Timeline {
    pub events: Mutex<Vec<TimelineEvent>>,
    pub down: bool,
}

#[async_trait]
impl CaseTimeline for Timeline {
    async fn record(&self, event: TimelineEvent) -> Result<(), HookError> {
        if self.down {
            return Err(HookError::permanent("the case was deleted"));
        }
        self.events.lock().unwrap().push(event);
        Ok(())
    }
}
