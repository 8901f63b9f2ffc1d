//! A memory budget for the requests being worked on right now.
//!
//! Rate limits bound work over time; they do not bound how much of it happens at once. Each
//! request reserves the memory it may need before it needs it (its body before reading it, its
//! parsed and mapped events before decoding), and a reservation that does not fit is refused
//! with 503 and `Retry-After` instead of growing the process. The reservation is returned when
//! its guard is dropped, whatever path the request ends on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use metrics::Gauge;

use crate::metrics::INFLIGHT_BYTES;

/// The bytes all in-flight inbox requests may hold at once.
///
/// ```
/// use aisoc_inbox::limits::InflightBudget;
///
/// let budget = InflightBudget::new(1_000);
/// let mut first = budget.try_reserve(600).expect("fits");
/// assert!(budget.try_reserve(600).is_none(), "1,200 bytes would not fit");
/// first.shrink_to(100);
/// let second = budget.try_reserve(600).expect("fits once the first gave bytes back");
/// drop((first, second));
/// assert_eq!(budget.reserved(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct InflightBudget {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    reserved: AtomicUsize,
    limit: usize,
    /// The gauge's handle, taken from the recorder on the first report: a reservation
    /// changes it several times a request, and each `gauge!` looks the name up again.
    gauge: OnceLock<Gauge>,
}

impl InflightBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        crate::metrics::describe_metrics();
        Self {
            shared: Arc::new(Shared {
                reserved: AtomicUsize::new(0),
                limit,
                gauge: OnceLock::new(),
            }),
        }
    }

    /// The budget.
    pub fn limit(&self) -> usize {
        self.shared.limit
    }

    /// Bytes reserved now.
    pub fn reserved(&self) -> usize {
        self.shared.reserved.load(Ordering::Acquire)
    }

    fn take(&self, bytes: usize) -> bool {
        let limit = self.shared.limit;
        self.shared
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.shared.reserved.fetch_sub(bytes, Ordering::AcqRel);
    }

    fn report(&self) {
        self.shared
            .gauge
            .get_or_init(|| metrics::gauge!(INFLIGHT_BYTES))
            .set(self.reserved() as f64);
    }

    /// Reserves `bytes`, or `None` when they do not fit now.
    pub fn try_reserve(&self, bytes: usize) -> Option<InflightReservation> {
        if !self.take(bytes) {
            return None;
        }
        self.report();
        Some(InflightReservation {
            budget: self.clone(),
            bytes,
        })
    }
}

/// Bytes held from an [`InflightBudget`] until dropped.
#[derive(Debug)]
#[must_use = "the bytes are given back when the reservation is dropped"]
pub struct InflightReservation {
    budget: InflightBudget,
    bytes: usize,
}

impl InflightReservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `bytes` instead, when that is less; gives the rest back.
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.give_back(self.bytes - bytes);
            self.bytes = bytes;
            self.budget.report();
        }
    }

    /// Holds `bytes` instead, when that is more and fits; `false` (nothing changed) otherwise.
    pub fn try_grow_to(&mut self, bytes: usize) -> bool {
        if bytes <= self.bytes {
            return true;
        }
        if !self.budget.take(bytes - self.bytes) {
            return false;
        }
        self.bytes = bytes;
        self.budget.report();
        true
    }
}

impl Drop for InflightReservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
        self.budget.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_grow_only_within_the_budget_and_return_everything_on_drop() {
        let budget = InflightBudget::new(100);
        let mut a = budget.try_reserve(40).unwrap();
        assert!(a.try_grow_to(90));
        assert!(budget.try_reserve(20).is_none());
        assert!(!a.try_grow_to(101));
        assert_eq!(a.bytes(), 90);
        a.shrink_to(10);
        let b = budget.try_reserve(90).unwrap();
        assert_eq!(budget.reserved(), 100);
        drop(a);
        drop(b);
        assert_eq!(budget.reserved(), 0);
        assert!(budget.try_reserve(usize::MAX).is_none(), "no overflow");
    }
}
