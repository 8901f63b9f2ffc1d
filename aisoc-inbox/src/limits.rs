//! Per-tenant rate limiting and idempotency: the two checks that need shared state when several
//! gateway nodes take traffic.

use std::num::NonZeroU32;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as Gcra};

/// The default tenant rate.
pub const DEFAULT_PER_MINUTE: u32 = 600;
/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A limiter failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The tenant is over its rate; retry after this long.
    #[error("rate limit exceeded; retry after {0:?}")]
    Exceeded(Duration),
    /// The backend failed.
    #[error("rate limiter failed: {0}")]
    Backend(String),
}

/// Admits or refuses a tenant's next request.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// `Ok` when the tenant may proceed.
    async fn check(&self, tenant_id: &str) -> Result<(), LimitError>;
}

/// A per-node GCRA limiter (`governor`): smooth, with bursts up to the per-minute quota.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl MemoryRateLimiter {
    /// `per_minute` requests per minute per tenant.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: Gcra::keyed(Quota::per_minute(per_minute)),
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, tenant_id: &str) -> Result<(), LimitError> {
        self.limiter
            .check_key(&tenant_id.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                LimitError::Exceeded(wait.max(Duration::from_secs(1)))
            })
    }
}

/// Remembers idempotency keys.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for `ttl`; `false` when it was claimed before (a repeat).
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, LimitError>;

    /// Gives a claim back (the events behind it could not be published).
    async fn release(&self, key: &str) -> Result<(), LimitError>;
}

/// Idempotency keys in memory (`moka`, expiring after the TTL).
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    keys: moka::future::Cache<String, ()>,
}

impl Default for MemoryIdempotencyStore {
    fn default() -> Self {
        Self::new(IDEMPOTENCY_TTL)
    }
}

impl MemoryIdempotencyStore {
    /// Keys expire after `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            keys: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn claim(&self, key: &str, _ttl: Duration) -> Result<bool, LimitError> {
        let entry = self.keys.entry(key.to_owned()).or_insert(()).await;
        Ok(entry.is_fresh())
    }

    async fn release(&self, key: &str) -> Result<(), LimitError> {
        self.keys.invalidate(key).await;
        Ok(())
    }
}

#[cfg(feature = "redis")]
pub use redis_backed::{RedisIdempotencyStore, RedisRateLimiter};

#[cfg(feature = "redis")]
mod redis_backed {
    use std::time::Duration;

    use aisoc_notify_core::async_trait;
    use redis::aio::ConnectionManager;

    use super::{IdempotencyStore, LimitError, RateLimiter};

    fn backend(err: redis::RedisError) -> LimitError {
        LimitError::Backend(err.to_string())
    }

    /// A fixed-window limiter shared by every node: `INCR` on a per-tenant, per-minute key.
    #[derive(Clone)]
    pub struct RedisRateLimiter {
        redis: ConnectionManager,
        per_minute: u32,
        prefix: String,
    }

    impl std::fmt::Debug for RedisRateLimiter {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisRateLimiter")
                .field("per_minute", &self.per_minute)
                .finish_non_exhaustive()
        }
    }

    impl RedisRateLimiter {
        /// `per_minute` requests per tenant per calendar minute.
        pub fn new(redis: ConnectionManager, per_minute: u32) -> Self {
            Self {
                redis,
                per_minute,
                prefix: "aisoc:inbox:rate".into(),
            }
        }

        /// Uses another key prefix.
        pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
            self.prefix = prefix.into();
            self
        }
    }

    #[async_trait]
    impl RateLimiter for RedisRateLimiter {
        async fn check(&self, tenant_id: &str) -> Result<(), LimitError> {
            let now = chrono::Utc::now().timestamp();
            let window = now / 60;
            let key = format!("{}:{tenant_id}:{window}", self.prefix);
            let mut redis = self.redis.clone();
            let (count,): (u64,) = redis::pipe()
                .atomic()
                .incr(&key, 1u64)
                .expire(&key, 120)
                .ignore()
                .query_async(&mut redis)
                .await
                .map_err(backend)?;
            if count > u64::from(self.per_minute) {
                let wait = 60 - (now % 60);
                return Err(LimitError::Exceeded(
                    Duration::from_secs(wait.max(1) as u64),
                ));
            }
            Ok(())
        }
    }

    /// Idempotency keys in Redis: `SET key 1 NX EX ttl`.
    #[derive(Clone)]
    pub struct RedisIdempotencyStore {
        redis: ConnectionManager,
        prefix: String,
    }

    impl std::fmt::Debug for RedisIdempotencyStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisIdempotencyStore")
                .field("prefix", &self.prefix)
                .finish_non_exhaustive()
        }
    }

    impl RedisIdempotencyStore {
        /// Keys under `aisoc:inbox:idem:`.
        pub fn new(redis: ConnectionManager) -> Self {
            Self {
                redis,
                prefix: "aisoc:inbox:idem".into(),
            }
        }

        /// Uses another key prefix.
        pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
            self.prefix = prefix.into();
            self
        }
    }

    #[async_trait]
    impl IdempotencyStore for RedisIdempotencyStore {
        async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, LimitError> {
            let mut redis = self.redis.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}:{key}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .query_async(&mut redis)
                .await
                .map_err(backend)?;
            Ok(set.is_some())
        }

        async fn release(&self, key: &str) -> Result<(), LimitError> {
            let mut redis = self.redis.clone();
            redis::cmd("DEL")
                .arg(format!("{}:{key}", self.prefix))
                .query_async::<()>(&mut redis)
                .await
                .map_err(backend)
        }
    }
}
