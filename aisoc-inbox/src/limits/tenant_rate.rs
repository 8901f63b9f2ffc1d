//! The per-node tenant rate limiter: GCRA (the generic cell rate algorithm), one timestamp per
//! tenant, in a map whose size has a cap (the keyed GCRA of [`super::budget`], charged one per
//! request).
//!
//! GCRA keeps, per tenant, the *theoretical arrival time* (TAT): when the tenant's budget would
//! be full again if it sent nothing more. A request is admitted while the TAT is at most
//! `burst - 1` emission intervals ahead of now, and pushes it one interval further. With a quota
//! of N per minute that is a burst of N, refilled at one every `60 s / N`, as `governor`'s
//! `Quota::per_minute(N)` does.
//!
//! # Why a map of our own
//!
//! A tenant whose TAT has passed is indistinguishable from one never seen, so forgetting it
//! changes nothing. The map is swept of those once per [`SWEEP_EVERY`], so it holds only the
//! tenants that sent something in about the last minute. On top of that it never holds more than
//! `max_tenants` ([`DEFAULT_MAX_TENANTS`]): a tenant not already tracked while the map is full is
//! refused with a one-second `Retry-After` (429), counted in
//! `aisoc_ingest_inbox_rate_limit_tenants_refused_total`, rather than pushing out a busy tenant
//! (which would reset that tenant's budget). Tenants are named by authenticated tokens, so a
//! full map means that many tenants are genuinely sending at once; raise the cap, or share the
//! limit in Redis.
//!
//! `governor`'s keyed limiter, used before, can neither say whether it tracks a key nor drop
//! one, so it cannot hold a hard cap, and it reads its own clock; this one reads the crate's
//! [`Clock`], so tests move time instead of waiting.

use std::num::{NonZeroU32, NonZeroU64};
use std::sync::{Arc, Mutex};

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, SystemClock};

pub use super::budget::SWEEP_EVERY;
use super::budget::{Charge, KeyedGcra, MIN_RETRY_AFTER, Rate};
use super::{LimitError, RateLimiter};
use crate::metrics::{RATE_LIMIT_TENANTS, RATE_LIMIT_TENANTS_REFUSED};

/// The most tenants a [`MemoryRateLimiter`] tracks at once unless configured otherwise.
pub const DEFAULT_MAX_TENANTS: usize = 100_000;

/// A per-node tenant rate limiter: smooth, with bursts up to the per-minute quota, tracking at
/// most `max_tenants` tenants (why: [`crate::limits`]).
///
/// ```
/// use std::num::NonZeroU32;
/// use aisoc_inbox::limits::{LimitError, MemoryRateLimiter, RateLimiter};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let limiter = MemoryRateLimiter::per_minute(NonZeroU32::new(2).unwrap()).with_max_tenants(1);
/// assert!(limiter.check("acme").await.is_ok());
/// assert!(limiter.check("acme").await.is_ok());
/// assert!(matches!(limiter.check("acme").await, Err(LimitError::Exceeded(_))));
/// // Only one tenant fits; another is told to come back.
/// assert!(matches!(limiter.check("globex").await, Err(LimitError::Exceeded(_))));
/// assert_eq!(limiter.tracked_tenants(), 1);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryRateLimiter {
    tenants: Mutex<KeyedGcra>,
    max_tenants: usize,
    clock: Arc<dyn Clock>,
}

impl MemoryRateLimiter {
    /// `per_minute` requests per minute per tenant, in bursts of up to `per_minute`.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        crate::metrics::describe_metrics();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let rate = Rate::per_minute(NonZeroU64::from(per_minute));
        Self {
            tenants: Mutex::new(KeyedGcra::new(rate, DEFAULT_MAX_TENANTS, clock.now())),
            max_tenants: DEFAULT_MAX_TENANTS,
            clock,
        }
    }

    /// Tracks at most `max_tenants` tenants at once (at least one).
    pub fn with_max_tenants(mut self, max_tenants: usize) -> Self {
        self.max_tenants = max_tenants.max(1);
        self.lock().set_max_keys(self.max_tenants);
        self
    }

    /// Reads time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.lock().restart_sweeps(clock.now());
        self.clock = clock;
        self
    }

    /// Tenants tracked now.
    pub fn tracked_tenants(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyedGcra> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn admit(&self, tenant_id: &str) -> Result<(), LimitError> {
        let mut tenants = self.lock();
        let before = tenants.len();
        let charged = tenants.charge(tenant_id, 1, self.clock.now(), false);
        if tenants.len() != before {
            metrics::gauge!(RATE_LIMIT_TENANTS).set(tenants.len() as f64);
        }
        match charged {
            Charge::Admitted { .. } => Ok(()),
            Charge::Over(wait) => Err(LimitError::Exceeded(wait)),
            Charge::Full => {
                metrics::counter!(RATE_LIMIT_TENANTS_REFUSED).increment(1);
                tracing::warn!(
                    max_tenants = self.max_tenants,
                    "the inbox rate limiter tracks as many tenants as it may; refusing a new one"
                );
                Err(LimitError::Exceeded(MIN_RETRY_AFTER))
            }
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, tenant_id: &str) -> Result<(), LimitError> {
        self.admit(tenant_id)
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::clock::ManualClock;

    use std::time::Duration;

    use super::*;

    fn limiter(per_minute: u32, clock: &Arc<ManualClock>) -> MemoryRateLimiter {
        MemoryRateLimiter::per_minute(NonZeroU32::new(per_minute).unwrap())
            .with_clock(clock.clone())
    }

    fn exceeded(result: Result<(), LimitError>) -> Duration {
        match result {
            Err(LimitError::Exceeded(wait)) => wait,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_tenant_gets_its_burst_then_one_more_per_interval() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let limiter = limiter(6, &clock);
        for _ in 0..6 {
            limiter.admit("acme").unwrap();
        }
        let wait = exceeded(limiter.admit("acme"));
        assert_eq!(wait, Duration::from_secs(10), "one request every 10 s");
        limiter
            .admit("globex")
            .expect("another tenant has its own budget");
        clock.advance(Duration::from_secs(10));
        limiter.admit("acme").unwrap();
        exceeded(limiter.admit("acme"));
    }

    #[test]
    fn tenants_whose_budget_is_full_again_are_forgotten_at_the_next_sweep() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let limiter = limiter(60, &clock);
        for tenant in 0..500 {
            limiter.admit(&format!("tenant-{tenant}")).unwrap();
        }
        assert_eq!(limiter.tracked_tenants(), 500);
        clock.advance(Duration::from_secs(30));
        limiter.admit("busy").unwrap();
        assert_eq!(limiter.tracked_tenants(), 501, "no sweep before a minute");
        clock.advance(Duration::from_secs(30));
        limiter.admit("busy").unwrap();
        assert_eq!(
            limiter.tracked_tenants(),
            1,
            "every budget was full again; only the request just admitted is tracked"
        );
    }

    #[test]
    fn a_full_map_refuses_new_tenants_and_keeps_the_busy_ones_budgets() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let limiter = limiter(2, &clock).with_max_tenants(3);
        for tenant in ["a", "b", "c"] {
            limiter.admit(tenant).unwrap();
            limiter.admit(tenant).unwrap();
        }
        assert_eq!(exceeded(limiter.admit("d")), Duration::from_secs(1));
        assert_eq!(limiter.tracked_tenants(), 3);
        exceeded(limiter.admit("a"));

        // Once a tenant's budget is full again, a sweep makes room.
        clock.advance(Duration::from_secs(61));
        limiter.admit("d").unwrap();
        assert_eq!(limiter.tracked_tenants(), 1);
    }

    #[test]
    fn a_full_map_is_swept_early_when_a_second_has_passed() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let limiter = limiter(60, &clock).with_max_tenants(2);
        limiter.admit("a").unwrap();
        limiter.admit("b").unwrap();
        exceeded(limiter.admit("c"));
        clock.advance(Duration::from_secs(2));
        limiter
            .admit("c")
            .expect("a and b are whole again and make room");
        assert_eq!(limiter.tracked_tenants(), 1);
    }
}
