//! One retry classification for every failure, and the backoff policy that acts on it.
//!
//! Every adapter answers "can this succeed later, and when?" the same way: it maps its vendor's
//! codes (Slack `ok:false` codes, Teams' 200-with-error text, SMTP replies, push-service
//! statuses) into a [`RetryClass`], and HTTP statuses go through [`classify_http`]. The router,
//! the outbox and the delivery client read only the class, so no adapter decides on its own
//! whether a failure is retried.
//!
//! | class | meaning | what the outbox does |
//! |---|---|---|
//! | [`RetryClass::Retryable`] | may succeed later (5xx, timeout, connect error) | backs off with [`RetryPolicy::backoff`] (jitter) |
//! | [`RetryClass::Throttled`] | the destination asked us to wait | waits at least as asked |
//! | [`RetryClass::Gone`] | the destination no longer exists (404/410, revoked webhook, expired push subscription) | dead letter; the destination should be removed |
//! | [`RetryClass::NonRetryable`] | the same request will fail again (bad payload, credentials, a redirect, a forbidden address) | dead letter with the reason |

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};

/// Whether, and when, a failed delivery or action can be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryClass {
    /// The same request will fail again; fix the request or the configuration.
    NonRetryable,
    /// Trying again later can succeed; back off with jitter.
    Retryable,
    /// The destination is throttling us and asked to wait this long.
    Throttled(Duration),
    /// The destination no longer exists; stop sending to it.
    Gone,
}

impl RetryClass {
    /// Whether trying again later can succeed (`Retryable` or `Throttled`).
    pub fn is_retryable(self) -> bool {
        matches!(self, RetryClass::Retryable | RetryClass::Throttled(_))
    }

    /// The wait the destination asked for, when it is throttling.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            RetryClass::Throttled(wait) => Some(wait),
            _ => None,
        }
    }

    /// A short, stable label for metrics, logs and JSON: `non_retryable`, `retryable`,
    /// `throttled` or `gone`.
    pub fn label(self) -> &'static str {
        match self {
            RetryClass::NonRetryable => "non_retryable",
            RetryClass::Retryable => "retryable",
            RetryClass::Throttled(_) => "throttled",
            RetryClass::Gone => "gone",
        }
    }

    /// The class of a throttling answer: `Throttled` when the destination said how long,
    /// otherwise `Retryable` (back off on our own schedule).
    pub fn throttled(retry_after: Option<Duration>) -> Self {
        retry_after.map_or(RetryClass::Retryable, RetryClass::Throttled)
    }

    /// Classifies an HTTP status that is not a success, with the `Retry-After` already parsed.
    ///
    /// - 404 and 410: `Gone` (the webhook, subscription or resource is not there);
    /// - 429, and 503 with a `Retry-After`: `Throttled` for that long (429 without one is
    ///   `Retryable`);
    /// - 408, 425 and every other 5xx: `Retryable`;
    /// - everything else (other 4xx, a 3xx that was not followed, even a 2xx handed here by
    ///   mistake): `NonRetryable`.
    ///
    /// ```
    /// use aisoc_notify_core::retry::RetryClass;
    /// use std::time::Duration;
    ///
    /// assert_eq!(RetryClass::for_status(410, None), RetryClass::Gone);
    /// assert_eq!(RetryClass::for_status(400, None), RetryClass::NonRetryable);
    /// assert_eq!(RetryClass::for_status(502, None), RetryClass::Retryable);
    /// let wait = Some(Duration::from_secs(30));
    /// assert_eq!(RetryClass::for_status(429, wait), RetryClass::Throttled(Duration::from_secs(30)));
    /// ```
    pub fn for_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            404 | 410 => RetryClass::Gone,
            429 => RetryClass::throttled(retry_after),
            503 => RetryClass::throttled(retry_after),
            408 | 425 | 500..=599 => RetryClass::Retryable,
            _ => RetryClass::NonRetryable,
        }
    }
}

impl std::fmt::Display for RetryClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Classifies an HTTP answer by its status and `Retry-After` header (seconds or an HTTP date,
/// resolved against `now`).
///
/// ```
/// use aisoc_notify_core::retry::{classify_http, RetryClass};
/// use chrono::{TimeZone, Utc};
/// use http::{HeaderMap, HeaderValue, StatusCode};
/// use std::time::Duration;
///
/// let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"));
/// assert_eq!(
///     classify_http(StatusCode::TOO_MANY_REQUESTS, &headers, now),
///     RetryClass::Throttled(Duration::from_secs(30))
/// );
/// assert_eq!(classify_http(StatusCode::GONE, &HeaderMap::new(), now), RetryClass::Gone);
/// ```
pub fn classify_http(status: StatusCode, headers: &HeaderMap, now: DateTime<Utc>) -> RetryClass {
    RetryClass::for_status(status.as_u16(), retry_after_header(headers, now))
}

/// The `Retry-After` of a response, parsed; `None` when absent or unreadable.
pub fn retry_after_header(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date, relative to `now`. A date in the
/// past means "now" (zero); anything unparseable is ignored.
///
/// ```
/// use aisoc_notify_core::retry::parse_retry_after;
/// use chrono::{TimeZone, Utc};
/// use std::time::Duration;
///
/// let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
///     Some(Duration::from_secs(30))
/// );
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included; at least 1.
    pub max_attempts: u32,
    /// The wait before the first retry, before jitter.
    pub initial_backoff: Duration,
    /// The longest computed wait between attempts.
    pub max_backoff: Duration,
    /// The longest `Retry-After` slept through in place; a longer one ends the attempt and is
    /// reported as [`RetryClass::Throttled`] so a durable outbox can reschedule instead of
    /// holding a worker.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1 for the first retry): exponential growth capped
    /// at `max_backoff`, then "equal jitter" (a uniform pick in the upper half), so that many
    /// clients failing together do not retry in lockstep.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = base / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=jitter_nanos))
    }

    /// The wait before retry number `retry` for a failure of class `class`: the computed
    /// backoff, or the destination's wait when it asked for a longer one. `None` when the class
    /// is not retryable.
    pub fn wait_for(&self, class: RetryClass, retry: u32) -> Option<Duration> {
        match class {
            RetryClass::Retryable => Some(self.backoff(retry)),
            RetryClass::Throttled(asked) => Some(asked.max(self.backoff(retry))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_its_jitter_band_and_caps() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            let first = policy.backoff(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = policy.backoff(3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let capped = policy.backoff(30);
            assert!((Duration::from_millis(500)..=Duration::from_millis(1_000)).contains(&capped));
        }
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let policy = RetryPolicy::default();
        let waits: std::collections::HashSet<Duration> =
            (0..50).map(|_| policy.backoff(3)).collect();
        assert!(
            waits.len() > 10,
            "50 draws gave {} distinct waits",
            waits.len()
        );
    }

    #[test]
    fn statuses_map_to_one_class_each() {
        let thirty = Some(Duration::from_secs(30));
        let cases = [
            (301, None, RetryClass::NonRetryable),
            (307, None, RetryClass::NonRetryable),
            (400, None, RetryClass::NonRetryable),
            (401, None, RetryClass::NonRetryable),
            (403, None, RetryClass::NonRetryable),
            (404, None, RetryClass::Gone),
            (408, None, RetryClass::Retryable),
            (410, None, RetryClass::Gone),
            (413, None, RetryClass::NonRetryable),
            (422, None, RetryClass::NonRetryable),
            (429, None, RetryClass::Retryable),
            (429, thirty, RetryClass::Throttled(Duration::from_secs(30))),
            (500, thirty, RetryClass::Retryable),
            (502, None, RetryClass::Retryable),
            (503, None, RetryClass::Retryable),
            (503, thirty, RetryClass::Throttled(Duration::from_secs(30))),
            (599, None, RetryClass::Retryable),
        ];
        for (status, retry_after, class) in cases {
            assert_eq!(
                RetryClass::for_status(status, retry_after),
                class,
                "{status}"
            );
        }
    }

    #[test]
    fn throttled_waits_at_least_as_asked() {
        let policy = RetryPolicy::default();
        let asked = Duration::from_secs(120);
        assert_eq!(
            policy.wait_for(RetryClass::Throttled(asked), 1),
            Some(asked)
        );
        assert_eq!(policy.wait_for(RetryClass::Gone, 1), None);
        assert_eq!(policy.wait_for(RetryClass::NonRetryable, 1), None);
        assert!(policy.wait_for(RetryClass::Retryable, 1).unwrap() <= policy.initial_backoff);
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
