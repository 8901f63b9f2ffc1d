//! Budgets that charge by cost, not by request: events per second and bytes per second per
//! token, and failed authentications per token and client address.
//!
//! A request counter cannot bound work: one request may carry one event or ten thousand. A
//! [`UsageBudget`] is charged what a request actually costs, so a sender's throughput is bounded
//! in the unit that costs the inbox memory and storage.
//!
//! The memory implementation is the same GCRA as the tenant rate limiter (`KeyedGcra`): per
//! key one theoretical arrival time (TAT), a charge of `n` pushes it `n` emission intervals
//! further, and it is admitted while the TAT stays within `burst` intervals of now. Keys whose
//! TAT has passed are forgotten, and the map never holds more than its key cap; a new key while
//! it is full is refused for a second, never admitted by evicting a busy one. The Redis
//! implementation (feature `redis`) runs the same arithmetic in one Lua script against the
//! server's clock, so every replica draws from one budget.
//!
//! All arithmetic saturates: a cost times an interval is computed in `u128` and clamped, so no
//! configured rate or request-sized cost can overflow it.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, SystemClock};
use chrono::{DateTime, Utc};

use super::LimitError;

/// How often idle keys are forgotten.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// The shortest wait a refusal asks for.
pub(crate) const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The most keys a [`MemoryBudget`] tracks unless configured otherwise.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// A budget spent in units (events, bytes, failures), keyed by whoever spends it.
#[async_trait]
pub trait UsageBudget: Send + Sync {
    /// Charges `cost` units to `key`, or refuses with the wait after which it would fit.
    async fn spend(&self, key: &str, cost: u64) -> Result<(), LimitError>;

    /// Whether `cost` units would fit now, charging nothing (to refuse before doing work that
    /// is only charged when it fails).
    async fn would_admit(&self, key: &str, cost: u64) -> Result<(), LimitError>;
}

/// A rate: `units` per `period`, in bursts of up to `burst` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    units: NonZeroU64,
    period: Duration,
    burst: NonZeroU64,
}

impl Rate {
    /// `units` per `period`, with a burst of `units`.
    pub fn new(units: NonZeroU64, period: Duration) -> Self {
        Self {
            units,
            period: period.max(Duration::from_nanos(1)),
            burst: units,
        }
    }

    /// `units` per second.
    pub fn per_second(units: NonZeroU64) -> Self {
        Self::new(units, Duration::from_secs(1))
    }

    /// `units` per minute.
    pub fn per_minute(units: NonZeroU64) -> Self {
        Self::new(units, Duration::from_secs(60))
    }

    /// Allows bursts of `burst` units (at least one); a single charge above it is charged as a
    /// whole burst, so it is admitted once the budget is full.
    pub fn with_burst(mut self, burst: NonZeroU64) -> Self {
        self.burst = burst;
        self
    }

    /// The burst.
    pub fn burst(&self) -> u64 {
        self.burst.get()
    }

    /// How long `cost` units take to refill, in whole `unit`s of a second (`1_000_000_000`
    /// for nanoseconds), rounded up and saturated at `i64::MAX`.
    pub(crate) fn span(&self, cost: u64, per_second: u128) -> i64 {
        let cost = u128::from(cost.min(self.burst.get()));
        let period = self.period.as_nanos().saturating_mul(per_second) / 1_000_000_000;
        let numerator = cost.saturating_mul(period.max(1));
        let units = u128::from(self.units.get());
        i64::try_from(numerator.div_ceil(units)).unwrap_or(i64::MAX)
    }
}

/// The GCRA state of many keys, in nanoseconds since the Unix epoch, with a cap on the keys.
#[derive(Debug)]
pub(crate) struct KeyedGcra {
    rate: Rate,
    max_keys: usize,
    arrivals: HashMap<String, i64>,
    swept_at: i64,
}

/// What [`KeyedGcra::charge`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charge {
    /// Admitted; `new_key` when the key was not tracked before.
    Admitted { new_key: bool },
    /// Over the rate; retry after this long.
    Over(Duration),
    /// The map is full and the key is new.
    Full,
}

fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl KeyedGcra {
    pub(crate) fn new(rate: Rate, max_keys: usize, now: DateTime<Utc>) -> Self {
        Self {
            rate,
            max_keys: max_keys.max(1),
            arrivals: HashMap::new(),
            swept_at: nanos(now),
        }
    }

    pub(crate) fn set_max_keys(&mut self, max_keys: usize) {
        self.max_keys = max_keys.max(1);
    }

    pub(crate) fn restart_sweeps(&mut self, now: DateTime<Utc>) {
        self.swept_at = nanos(now);
    }

    pub(crate) fn len(&self) -> usize {
        self.arrivals.len()
    }

    /// Forgets every key whose budget is full again at `now`.
    pub(crate) fn sweep(&mut self, now: i64) {
        self.arrivals.retain(|_, arrival| *arrival > now);
        if self.arrivals.capacity() > 2 * self.arrivals.len() + 1024 {
            self.arrivals.shrink_to_fit();
        }
        self.swept_at = now;
    }

    /// Charges `cost` to `key` at `now` (or only looks, when `dry_run`).
    pub(crate) fn charge(
        &mut self,
        key: &str,
        cost: u64,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Charge {
        let now = nanos(now);
        let sweep_every = i64::try_from(SWEEP_EVERY.as_nanos()).unwrap_or(i64::MAX);
        if now.saturating_sub(self.swept_at) >= sweep_every {
            self.sweep(now);
        }
        let tracked = self.arrivals.get(key).copied();
        if tracked.is_none() && self.arrivals.len() >= self.max_keys {
            // Forget the idle first (at most once a second, so a full map of busy keys does not
            // cost a sweep per request), then refuse if still full.
            let second = i64::try_from(MIN_RETRY_AFTER.as_nanos()).unwrap_or(i64::MAX);
            if now.saturating_sub(self.swept_at) >= second {
                self.sweep(now);
            }
            if self.arrivals.len() >= self.max_keys {
                return Charge::Full;
            }
        }
        let arrival = tracked.unwrap_or(now).max(now);
        let next = arrival.saturating_add(self.rate.span(cost, 1_000_000_000));
        let tolerance = self.rate.span(self.rate.burst(), 1_000_000_000);
        let over = next.saturating_sub(now).saturating_sub(tolerance);
        if over > 0 {
            let wait = Duration::from_nanos(u64::try_from(over).unwrap_or(u64::MAX));
            return Charge::Over(wait.max(MIN_RETRY_AFTER));
        }
        if !dry_run {
            self.arrivals.insert(key.to_owned(), next);
        }
        Charge::Admitted {
            new_key: tracked.is_none() && !dry_run,
        }
    }
}

/// A [`UsageBudget`] of one node, in memory: GCRA per key, at most `max_keys` keys.
///
/// ```
/// use std::num::NonZeroU64;
/// use aisoc_inbox::limits::{LimitError, MemoryBudget, Rate, UsageBudget};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // 1,000 events a second per token.
/// let events = MemoryBudget::new(Rate::per_second(NonZeroU64::new(1_000).unwrap()));
/// assert!(events.spend("tok_a", 600).await.is_ok());
/// assert!(events.would_admit("tok_a", 400).await.is_ok());
/// assert!(matches!(events.spend("tok_a", 500).await, Err(LimitError::Exceeded(_))));
/// assert!(events.spend("tok_b", 1_000).await.is_ok(), "every key has its own budget");
/// # });
/// ```
pub struct MemoryBudget {
    gcra: Mutex<KeyedGcra>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("gcra", &self.lock())
            .finish_non_exhaustive()
    }
}

impl MemoryBudget {
    /// A budget of `rate` per key, tracking at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(rate: Rate) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            gcra: Mutex::new(KeyedGcra::new(rate, DEFAULT_MAX_KEYS, clock.now())),
            clock,
        }
    }

    /// Tracks at most `max_keys` keys (at least one).
    pub fn with_max_keys(self, max_keys: usize) -> Self {
        self.lock().set_max_keys(max_keys);
        self
    }

    /// Reads time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.lock().restart_sweeps(clock.now());
        self.clock = clock;
        self
    }

    /// Keys tracked now.
    pub fn tracked_keys(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyedGcra> {
        self.gcra.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn charge(&self, key: &str, cost: u64, dry_run: bool) -> Result<(), LimitError> {
        match self.lock().charge(key, cost, self.clock.now(), dry_run) {
            Charge::Admitted { .. } => Ok(()),
            Charge::Over(wait) => Err(LimitError::Exceeded(wait)),
            Charge::Full => {
                tracing::warn!("an inbox budget tracks as many keys as it may; refusing a new one");
                Err(LimitError::Exceeded(MIN_RETRY_AFTER))
            }
        }
    }
}

#[async_trait]
impl UsageBudget for MemoryBudget {
    async fn spend(&self, key: &str, cost: u64) -> Result<(), LimitError> {
        self.charge(key, cost, false)
    }

    async fn would_admit(&self, key: &str, cost: u64) -> Result<(), LimitError> {
        self.charge(key, cost, true)
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::clock::ManualClock;

    use super::*;

    fn budget(rate: Rate, clock: &Arc<ManualClock>) -> MemoryBudget {
        MemoryBudget::new(rate).with_clock(clock.clone())
    }

    #[tokio::test]
    async fn a_charge_is_admitted_while_it_fits_the_burst_and_refills_at_the_rate() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let bytes = budget(
            Rate::per_second(NonZeroU64::new(1_000).unwrap())
                .with_burst(NonZeroU64::new(10_000).unwrap()),
            &clock,
        );
        bytes.spend("tok", 10_000).await.unwrap();
        let Err(LimitError::Exceeded(wait)) = bytes.spend("tok", 2_000).await else {
            panic!("the burst is spent");
        };
        assert_eq!(wait, Duration::from_secs(2), "2,000 bytes refill in 2 s");
        clock.advance(Duration::from_secs(2));
        bytes.spend("tok", 2_000).await.unwrap();
    }

    #[tokio::test]
    async fn would_admit_charges_nothing() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let failures = budget(Rate::per_minute(NonZeroU64::new(2).unwrap()), &clock);
        for _ in 0..10 {
            failures.would_admit("k", 1).await.unwrap();
        }
        failures.spend("k", 1).await.unwrap();
        failures.spend("k", 1).await.unwrap();
        assert!(failures.would_admit("k", 1).await.is_err());
    }

    #[tokio::test]
    async fn a_charge_above_the_burst_waits_for_a_full_budget_instead_of_never_passing() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let events = budget(Rate::per_second(NonZeroU64::new(10).unwrap()), &clock);
        events.spend("tok", 1_000_000).await.unwrap();
        assert!(events.spend("tok", 1).await.is_err());
        clock.advance(Duration::from_secs(1));
        events.spend("tok", 1).await.unwrap();
    }

    #[test]
    fn spans_saturate_instead_of_overflowing() {
        let slow = Rate::new(NonZeroU64::new(1).unwrap(), Duration::MAX);
        assert_eq!(slow.span(u64::MAX, 1_000_000_000), i64::MAX);
        let fast = Rate::per_second(NonZeroU64::MAX).with_burst(NonZeroU64::MAX);
        assert_eq!(
            fast.span(1, 1_000_000_000),
            1,
            "a cost never rounds down to free"
        );
        assert_eq!(
            Rate::per_second(NonZeroU64::new(1_000).unwrap()).span(1, 1_000_000),
            1_000
        );
    }

    #[tokio::test]
    async fn a_full_map_refuses_new_keys_and_keeps_the_busy_ones() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let budget = budget(Rate::per_second(NonZeroU64::new(5).unwrap()), &clock).with_max_keys(2);
        budget.spend("a", 5).await.unwrap();
        budget.spend("b", 5).await.unwrap();
        assert!(budget.spend("c", 1).await.is_err());
        assert!(
            budget.spend("a", 1).await.is_err(),
            "a's budget was not reset"
        );
        clock.advance(Duration::from_secs(2));
        budget.spend("c", 1).await.unwrap();
        assert_eq!(budget.tracked_keys(), 1);
    }
}
