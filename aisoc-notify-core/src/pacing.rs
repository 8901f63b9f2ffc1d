//! Per-destination pacing, for services that throttle each destination separately.
//!
//! Slack accepts about one message per second per channel or webhook; Teams webhooks a few
//! requests per second. A [`Pacer`] makes each destination wait its turn while different
//! destinations proceed in parallel, so a burst for one channel does not earn 429s for it or
//! delay the others. It wraps `governor`'s keyed GCRA limiter.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Destinations remembered before idle ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// Spaces out requests per destination key.
///
/// ```
/// use std::num::NonZeroU32;
/// use aisoc_notify_core::pacing::Pacer;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let pacer = Pacer::per_second(NonZeroU32::new(1).unwrap());
/// pacer.until_ready("slack:C0123").await; // first message goes at once
/// pacer.until_ready("slack:C0456").await; // another channel is not held up
/// # });
/// ```
#[derive(Debug)]
pub struct Pacer {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl Pacer {
    /// Allows `per_second` requests per second per destination, without bursts beyond that.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second)),
        }
    }

    /// Allows one request per `period` per destination.
    ///
    /// # Panics
    /// When `period` is zero.
    pub fn one_per(period: Duration) -> Self {
        let quota = Quota::with_period(period).expect("pacing period must be positive");
        Self {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Waits until `destination` may receive another request.
    pub async fn until_ready(&self, destination: &str) {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.until_key_ready(&destination.to_owned()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn one_destination_waits_its_turn_while_others_do_not() {
        let pacer = Pacer::one_per(Duration::from_millis(100));
        let started = Instant::now();
        pacer.until_ready("a").await;
        pacer.until_ready("b").await;
        pacer.until_ready("c").await;
        assert!(
            started.elapsed() < Duration::from_millis(90),
            "distinct keys do not wait"
        );

        pacer.until_ready("a").await;
        pacer.until_ready("a").await;
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "the third message for 'a' waited for two periods: {:?}",
            started.elapsed()
        );
    }
}
