//! Time as a dependency.
//!
//! Token expiry, replay windows and `Retry-After` dates all depend on "now". Taking the clock as
//! a value lets tests pin it (for example to verify a published signing example whose timestamp
//! is years old) without ever switching a security check off.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// The current instant as whole seconds since the Unix epoch.
    fn unix_seconds(&self) -> i64 {
        self.now().timestamp()
    }
}

/// Whether `timestamp` (Unix seconds, from a request) lies within `tolerance` of `now`, in
/// either direction.
///
/// Replay windows compare a number the sender chose with the clock. The subtraction is done
/// without overflow (`abs_diff`), so a timestamp near `i64::MIN` or `i64::MAX` is simply far
/// away: `(now - ts).abs()` would wrap in release builds (and accept it as fresh) or panic in
/// debug builds.
///
/// ```
/// use aisoc_notify_core::clock::within_tolerance;
/// use std::time::Duration;
///
/// let five_minutes = Duration::from_secs(300);
/// assert!(within_tolerance(1_700_000_000, 1_700_000_299, five_minutes));
/// assert!(!within_tolerance(1_700_000_000, 1_699_999_699, five_minutes));
/// assert!(!within_tolerance(1_700_000_000, 1_700_000_000_i64.wrapping_add(i64::MIN), five_minutes));
/// assert!(!within_tolerance(1_700_000_000, i64::MIN, five_minutes));
/// ```
pub fn within_tolerance(now: i64, timestamp: i64, tolerance: Duration) -> bool {
    now.abs_diff(timestamp) <= tolerance.as_secs()
}

/// The operating system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests and simulations.
///
/// ```
/// use aisoc_notify_core::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::at_unix(1_531_420_618);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.unix_seconds(), 1_531_420_678);
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// A clock stopped at `seconds` after the Unix epoch.
    ///
    /// # Panics
    /// When `seconds` is outside the range `chrono` can represent.
    pub fn at_unix(seconds: i64) -> Self {
        Self::new(DateTime::from_timestamp(seconds, 0).expect("timestamp in range"))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += chrono::Duration::from_std(by).expect("duration in range");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock still holds a valid timestamp.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}
