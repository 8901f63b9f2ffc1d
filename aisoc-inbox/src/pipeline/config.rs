//! The inbox's limits and windows, and how they are read from the environment.

use std::time::Duration;

use aisoc_notify_core::ConfigError;

use crate::limits::{IDEMPOTENCY_LEASE, IDEMPOTENCY_TTL};

/// The default body limit: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// The default cap on events in one request.
pub const DEFAULT_MAX_EVENTS_PER_REQUEST: usize = 10_000;
/// The default events per second per token (bursts up to the per-request cap).
pub const DEFAULT_EVENTS_PER_SECOND: u32 = 2_000;
/// The default body bytes per second per token (bursts up to the body limit): 5 MiB.
pub const DEFAULT_BYTES_PER_SECOND: u64 = 5 * 1024 * 1024;
/// The default failed authentications per minute per client address (and token).
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 30;
/// The default memory all in-flight requests may reserve: 512 MiB.
pub const DEFAULT_INFLIGHT_BYTES: usize = 512 * 1024 * 1024;

/// Limits and windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxConfig {
    /// The largest body read (and the largest decompressed body).
    pub max_body_bytes: usize,
    /// Requests per minute per tenant.
    pub rate_limit_per_minute: u32,
    /// How long an idempotency key is remembered once its events are stored.
    pub idempotency_ttl: Duration,
    /// How long a request holds its key while publishing; it also bounds the publish, and a
    /// crashed holder's claim lapses after it.
    pub idempotency_lease: Duration,
    /// The most events (lines, array items, HEC objects) one request may carry.
    pub max_events_per_request: usize,
    /// Events per second per token, in bursts of up to `max_events_per_request`.
    pub events_per_second: u32,
    /// Body bytes per second per token, in bursts of up to `max_body_bytes`.
    pub bytes_per_second: u64,
    /// Failed authentications (unknown token, bad signature) per minute per client address,
    /// and per token and client address.
    pub auth_failures_per_minute: u32,
    /// The memory all requests in flight may reserve (bodies, parsed and mapped events).
    pub inflight_bytes: usize,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit_per_minute: crate::limits::DEFAULT_PER_MINUTE,
            idempotency_ttl: IDEMPOTENCY_TTL,
            idempotency_lease: IDEMPOTENCY_LEASE,
            max_events_per_request: DEFAULT_MAX_EVENTS_PER_REQUEST,
            events_per_second: DEFAULT_EVENTS_PER_SECOND,
            bytes_per_second: DEFAULT_BYTES_PER_SECOND,
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            inflight_bytes: DEFAULT_INFLIGHT_BYTES,
        }
    }
}

/// Reads `name` through `lookup` as a number in `range`, or says which range.
pub(crate) fn number_in<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = lookup(name) else {
        return Ok(None);
    };
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .map(Some)
        .ok_or_else(|| {
            ConfigError::new(
                name,
                format!(
                    "must be a number of {what} from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

impl InboxConfig {
    /// Reads, through `lookup`: `AISOC_INBOX_MAX_BODY_BYTES`, `AISOC_INBOX_RATE_LIMIT_PER_MIN`,
    /// `AISOC_INBOX_IDEMPOTENCY_LEASE_SECONDS` (how long an in-flight key is held before a
    /// crashed holder's claim lapses), `AISOC_INBOX_MAX_EVENTS_PER_REQUEST`,
    /// `AISOC_INBOX_EVENTS_PER_SECOND`, `AISOC_INBOX_BYTES_PER_SECOND` (both per token),
    /// `AISOC_INBOX_AUTH_FAILURES_PER_MIN` and `AISOC_INBOX_INFLIGHT_BYTES` (at least the body
    /// limit, so the largest body fits).
    ///
    /// ```
    /// use aisoc_inbox::InboxConfig;
    ///
    /// let config = InboxConfig::from_lookup(|name| {
    ///     (name == "AISOC_INBOX_MAX_EVENTS_PER_REQUEST").then(|| "500".to_owned())
    /// })?;
    /// assert_eq!(config.max_events_per_request, 500);
    /// let error = InboxConfig::from_lookup(|name| {
    ///     (name == "AISOC_INBOX_EVENTS_PER_SECOND").then(|| "0".to_owned())
    /// })
    /// .unwrap_err();
    /// assert!(error.to_string().contains("AISOC_INBOX_EVENTS_PER_SECOND"));
    /// # Ok::<(), aisoc_notify_core::ConfigError>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let bytes = "bytes";
        if let Some(n) = number_in(&lookup, "AISOC_INBOX_MAX_BODY_BYTES", 1..=usize::MAX, bytes)? {
            config.max_body_bytes = n;
        }
        if let Some(n) = number_in(
            &lookup,
            "AISOC_INBOX_RATE_LIMIT_PER_MIN",
            1..=u32::MAX,
            "requests",
        )? {
            config.rate_limit_per_minute = n;
        }
        if let Some(n) = number_in(
            &lookup,
            "AISOC_INBOX_IDEMPOTENCY_LEASE_SECONDS",
            1..=3600u64,
            "seconds",
        )? {
            config.idempotency_lease = Duration::from_secs(n);
        }
        if let Some(n) = number_in(
            &lookup,
            "AISOC_INBOX_MAX_EVENTS_PER_REQUEST",
            1..=1_000_000,
            "events",
        )? {
            config.max_events_per_request = n;
        }
        if let Some(n) = number_in(
            &lookup,
            "AISOC_INBOX_EVENTS_PER_SECOND",
            1..=u32::MAX,
            "events",
        )? {
            config.events_per_second = n;
        }
        if let Some(n) = number_in(&lookup, "AISOC_INBOX_BYTES_PER_SECOND", 1..=u64::MAX, bytes)? {
            config.bytes_per_second = n;
        }
        if let Some(n) = number_in(
            &lookup,
            "AISOC_INBOX_AUTH_FAILURES_PER_MIN",
            1..=u32::MAX,
            "failures",
        )? {
            config.auth_failures_per_minute = n;
        }
        if let Some(n) = number_in(&lookup, "AISOC_INBOX_INFLIGHT_BYTES", 1..=usize::MAX, bytes)? {
            config.inflight_bytes = n;
        }
        if config.inflight_bytes < config.max_body_bytes {
            return Err(ConfigError::new(
                "AISOC_INBOX_INFLIGHT_BYTES",
                format!(
                    "must be at least the body limit ({} bytes), or no large body could be read",
                    config.max_body_bytes
                ),
            ));
        }
        Ok(config)
    }
}
