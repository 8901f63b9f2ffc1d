//! The in-memory follow-up table both in-memory stores keep under their own lock, so that an
//! answer or decision and its follow-ups change together. It implements the [`AnswerOutbox`]
//! rules (leases, fences, listing, replay) once for both.
//!
//! [`AnswerOutbox`]: super::AnswerOutbox

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::outbox::{FollowUp, FollowUpKind, FollowUpState, ReplayOutcome};
use crate::store::StoreError;

/// Follow-ups by key and kind.
#[derive(Debug, Default)]
pub(crate) struct FollowUpTable {
    rows: BTreeMap<(String, FollowUpKind), FollowUp>,
}

/// Whether `current` is still the claim `claimed` was: pending, same attempt, same lease.
fn fenced(claimed: &FollowUp) -> impl Fn(&FollowUp) -> bool + '_ {
    move |current| {
        current.state == FollowUpState::Pending
            && current.attempts == claimed.attempts
            && current.next_attempt_at == claimed.next_attempt_at
    }
}

impl FollowUpTable {
    /// Queues a follow-up (replacing none: each key and kind is queued once).
    pub(crate) fn insert(&mut self, follow_up: FollowUp) {
        self.rows
            .entry((follow_up.key.clone(), follow_up.kind))
            .or_insert(follow_up);
    }

    /// Whether any follow-up of `key` is still waiting for delivery.
    pub(crate) fn is_waiting(&self, key: &str) -> bool {
        self.of(key).any(|f| f.state == FollowUpState::Pending)
    }

    /// Keeps only the follow-ups whose key `keep` accepts.
    pub(crate) fn retain_keys(&mut self, keep: impl Fn(&str) -> bool) {
        self.rows.retain(|(key, _), _| keep(key));
    }

    fn of<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a FollowUp> + 'a {
        self.rows
            .range(
                (key.to_owned(), FollowUpKind::Timeline)..=(key.to_owned(), FollowUpKind::Resume),
            )
            .map(|(_, f)| f)
    }

    pub(crate) fn claim_due(
        &mut self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let lease = chrono::Duration::from_std(lease)
            .map_err(|_| StoreError::Invalid("lease is too long".into()))?;
        let mut due: Vec<&mut FollowUp> = self
            .rows
            .values_mut()
            .filter(|f| f.state == FollowUpState::Pending && f.next_attempt_at <= now)
            .collect();
        due.sort_by_key(|f| f.next_attempt_at);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|follow_up| {
                follow_up.attempts += 1;
                follow_up.next_attempt_at = now + lease;
                follow_up.updated_at = now;
                follow_up.clone()
            })
            .collect())
    }

    /// Applies `change` to the follow-up `claimed` names when `applies` holds for it.
    fn update(
        &mut self,
        claimed: &FollowUp,
        applies: impl Fn(&FollowUp) -> bool,
        change: impl FnOnce(&mut FollowUp),
    ) -> bool {
        match self.rows.get_mut(&(claimed.key.clone(), claimed.kind)) {
            Some(follow_up) if applies(follow_up) => {
                change(follow_up);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn complete(&mut self, claimed: &FollowUp, now: DateTime<Utc>) -> bool {
        self.update(
            claimed,
            |current| current.state == FollowUpState::Pending,
            |follow_up| {
                follow_up.state = FollowUpState::Done;
                follow_up.last_error = None;
                follow_up.updated_at = now;
            },
        )
    }

    pub(crate) fn retry_at(&mut self, claimed: &FollowUp, at: DateTime<Utc>, reason: &str) -> bool {
        self.update(claimed, fenced(claimed), |follow_up| {
            follow_up.next_attempt_at = at;
            follow_up.last_error = Some(reason.to_owned());
        })
    }

    pub(crate) fn dead_end(
        &mut self,
        claimed: &FollowUp,
        reason: &str,
        now: DateTime<Utc>,
    ) -> bool {
        self.update(claimed, fenced(claimed), |follow_up| {
            follow_up.state = FollowUpState::Dead;
            follow_up.last_error = Some(reason.to_owned());
            follow_up.updated_at = now;
        })
    }

    pub(crate) fn follow_ups(&self, key: &str) -> Vec<FollowUp> {
        self.of(key).cloned().collect()
    }

    pub(crate) fn list(&self, state: FollowUpState, limit: usize) -> Vec<FollowUp> {
        let mut listed: Vec<&FollowUp> = self.rows.values().filter(|f| f.state == state).collect();
        listed.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| (&a.key, a.kind).cmp(&(&b.key, b.kind)))
        });
        listed.into_iter().take(limit).cloned().collect()
    }

    pub(crate) fn replay(
        &mut self,
        key: &str,
        kind: FollowUpKind,
        now: DateTime<Utc>,
    ) -> ReplayOutcome {
        match self.rows.get_mut(&(key.to_owned(), kind)) {
            None => ReplayOutcome::Unknown,
            Some(follow_up) if follow_up.state != FollowUpState::Dead => {
                ReplayOutcome::NotDead(follow_up.state)
            }
            Some(follow_up) => {
                follow_up.state = FollowUpState::Pending;
                follow_up.attempts = 0;
                follow_up.next_attempt_at = now;
                follow_up.updated_at = now;
                ReplayOutcome::Replayed(Box::new(follow_up.clone()))
            }
        }
    }
}
