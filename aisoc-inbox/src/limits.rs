//! Per-tenant rate limiting, per-token budgets of events and bytes, budgets for failed
//! authentications, the in-flight memory budget, and idempotency: the checks that bound what
//! one sender can make the inbox do, most of which need shared state when several gateway
//! nodes take traffic (`RedisRateLimiter`, `RedisBudget`, `RedisIdempotencyStore` with
//! feature `redis`). Why each exists: [`budget`], [`unauthenticated`], [`inflight`].
//!
//! # Idempotency that cannot lose an event
//!
//! A key is answered `duplicate` only when the event it names is stored. So a key has two
//! states, and only the second one deduplicates:
//!
//! | state | set by | lasts | another request with the key gets |
//! |---|---|---|---|
//! | in progress: a [`Claim`] with a random nonce | [`IdempotencyStore::claim`] | the lease ([`IDEMPOTENCY_LEASE`], 60 s) | 409 with `Retry-After` (retryable) |
//! | done | [`IdempotencyStore::complete`], called only after the sink acknowledged | [`IDEMPOTENCY_TTL`], 24 h | 200 `duplicate` |
//! | free | [`IdempotencyStore::release`] after a failure, or the lease running out | | a claim: the events are published |
//!
//! Each window, and why nothing is lost or stored twice:
//! - **The sink fails.** The holder releases its claim before answering 503, so the sender's
//!   retry claims the key again and publishes.
//! - **The holder crashes** after claiming, before or after publishing. Nothing settles the
//!   claim; it lapses with its lease and a retry publishes. If the first publish had landed, the
//!   retry carries the same message ids ([`IdempotencyKey::msg_id`], derived from the key), and
//!   the sink keeps each id once: on NATS the stream's own duplicate window does it.
//! - **A concurrent duplicate** arrives while the first request is in flight. It is told to come
//!   back (409) rather than `duplicate`, because the first may still fail.
//! - **The caller hangs up** mid-request. The pipeline runs a claimed request to its end in its
//!   own task, so the claim is promoted or released, not left to its lease.
//! - **A holder outlives its lease** (the pipeline bounds the publish by the lease, so only a
//!   stalled process can). A second request may claim and publish the same message ids; the sink
//!   keeps them once. That is why promotion is unconditional: `complete` runs only after the sink
//!   acknowledged, so "done" is true whoever holds the key by then, and a compare-and-set would
//!   throw a true "done" away. Release, on the other hand, compares the nonce: a holder whose
//!   lease ran out never frees the claim of the request that took over.
//!
//! Keys are scoped to the source that received the request, the token, not the whole tenant:
//! [`IdempotencyKey`] hashes the tenant, the token id and the caller's key, each length-prefixed,
//! so two tokens of one tenant never share a key and no choice of strings collides with another
//! (`"a:b"` + `"c"` and `"a"` + `"b:c"` are different keys). The caller's key is
//! `X-AiSOC-Idempotency-Key`, or else the Standard Webhooks `webhook-id`.
//!
//! Both stores are bounded. Redis keys carry their lease or TTL (`SET … PX` in one Lua script);
//! the memory store judges each entry by its own lease or TTL and keeps at most
//! [`MemoryIdempotencyStore::DEFAULT_CAPACITY`] keys (about 44 bytes each, taken when it is
//! made), the oldest pushed out first. A key lost to eviction can only cause a republish,
//! which the message id deduplicates.
//!
//! # Memory that traffic cannot grow
//!
//! | structure | bound | metrics |
//! |---|---|---|
//! | [`MemoryRateLimiter`] | tenants that sent in about the last minute, at most [`DEFAULT_MAX_TENANTS`]; a new tenant beyond that gets 429 | `aisoc_ingest_inbox_rate_limit_tenants`, `…_refused_total` |
//! | [`MemoryBudget`] (events and bytes per token, failed authentications) | keys that spent in about the last minute, at most [`DEFAULT_MAX_KEYS`] each; a new key beyond that gets 429 | |
//! | [`InflightBudget`] | the bytes requests in flight reserved, at most `AISOC_INBOX_INFLIGHT_BYTES`; beyond it 503 | `aisoc_ingest_inbox_inflight_bytes` |
//! | [`UnauthenticatedGuard`]'s negative token cache | [`NEGATIVE_CACHE_TTL`] per unknown token, at most 100,000 | |
//! | [`MemoryIdempotencyStore`] | at most [`MemoryIdempotencyStore::DEFAULT_CAPACITY`] keys of about 44 bytes, taken when it is made; a key past its lease or TTL counts as absent, the oldest are evicted first | `aisoc_ingest_inbox_idempotency_keys`, `aisoc_ingest_inbox_idempotency_evicted_total` |

use std::hash::RandomState;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, SystemClock};
use chrono::{DateTime, TimeDelta, Utc};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::fifo_table::FifoTable;

/// The default tenant rate.
pub const DEFAULT_PER_MINUTE: u32 = 600;
/// How long a completed idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long an in-progress claim holds its key; a crashed holder's claim lapses after it.
pub const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(60);
/// The caller's idempotency header.
pub const IDEMPOTENCY_HEADER: &str = "x-aisoc-idempotency-key";
/// The longest caller key honoured; longer ones are ignored.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

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

pub mod budget;
pub mod inflight;
mod tenant_rate;
pub mod unauthenticated;
pub use budget::{DEFAULT_MAX_KEYS, MemoryBudget, Rate, UsageBudget};
pub use inflight::{InflightBudget, InflightReservation};
pub use tenant_rate::{DEFAULT_MAX_TENANTS, MemoryRateLimiter, SWEEP_EVERY};
pub use unauthenticated::{NEGATIVE_CACHE_TTL, UnauthenticatedGuard};

/// Admits or refuses a tenant's next request.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// `Ok` when the tenant may proceed.
    async fn check(&self, tenant_id: &str) -> Result<(), LimitError>;
}

/// An idempotency key scoped to one source: a digest of tenant, token id and the caller's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    digest: String,
    /// The digest's first 128 bits: what the memory store keeps.
    bits: u128,
}

impl IdempotencyKey {
    /// The key `key` sent through the token `source_id` of `tenant_id`.
    pub fn new(tenant_id: &str, source_id: &str, key: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"aisoc-inbox-idempotency-v1");
        for part in [tenant_id, source_id, key] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hash.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Self {
            digest: data_encoding::HEXLOWER.encode(&digest),
            bits: u128::from_be_bytes(first),
        }
    }

    /// The request's key: `X-AiSOC-Idempotency-Key`, else the Standard Webhooks `webhook-id`;
    /// `None` when neither is present, empty or longer than [`MAX_IDEMPOTENCY_KEY_LEN`].
    pub fn from_headers(headers: &HeaderMap, tenant_id: &str, source_id: &str) -> Option<Self> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_LEN)
        };
        header(IDEMPOTENCY_HEADER)
            .or_else(|| header(aisoc_notify_core::signature::WEBHOOK_ID.as_str()))
            .map(|key| Self::new(tenant_id, source_id, key))
    }

    /// The key of a request verified by Standard Webhooks: its signed `webhook-id`, whatever
    /// `X-AiSOC-Idempotency-Key` says, so a replay inside the timestamp window (with or without
    /// an added header) meets the first delivery's key and is answered `duplicate`.
    pub fn from_webhook_id(headers: &HeaderMap, tenant_id: &str, source_id: &str) -> Option<Self> {
        headers
            .get(aisoc_notify_core::signature::WEBHOOK_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_LEN)
            .map(|key| Self::new(tenant_id, source_id, key))
    }

    /// The digest, 64 lowercase hex characters: what stores keep.
    pub fn as_str(&self) -> &str {
        &self.digest
    }

    /// The message id of the `index`-th event of the request, the same on every retry, so a
    /// sink that keeps each id once (JetStream's `Nats-Msg-Id`) stores a republished event once.
    pub fn msg_id(&self, index: usize) -> String {
        format!("{}-{index}", self.digest)
    }
}

/// An in-progress hold on a key, told apart from other holders by a random nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    key: IdempotencyKey,
    nonce: String,
    /// The nonce's first 64 bits (never zero), as the memory store keeps it.
    nonce_bits: NonZeroU64,
}

impl Claim {
    /// A new claim on `key` with a fresh nonce (for store implementations).
    pub fn new(key: IdempotencyKey) -> Self {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        // Zero with probability 2^-64, and then any other value is as unguessable.
        let mut first = [0u8; 8];
        first.copy_from_slice(&bytes[..8]);
        let nonce_bits = NonZeroU64::new(u64::from_be_bytes(first)).unwrap_or(NonZeroU64::MIN);
        first.copy_from_slice(&nonce_bits.get().to_be_bytes());
        bytes[..8].copy_from_slice(&first);
        Self {
            key,
            nonce: data_encoding::HEXLOWER.encode(&bytes),
            nonce_bits,
        }
    }

    /// The key held.
    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// What tells this holder apart from a later one.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

/// What [`IdempotencyStore::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimOutcome {
    /// The key is this request's: publish, then complete or release the claim.
    Claimed(Claim),
    /// Another request holds the key; its claim lasts at most this much longer.
    InProgress {
        /// The rest of the holder's lease.
        held_for: Duration,
    },
    /// The events behind the key are stored: answer `duplicate`.
    Done,
}

/// Remembers idempotency keys: claimed while a request publishes, done once it is stored.
///
/// Every implementation must pass `conformance::idempotency_contract` (feature `test-util`).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for `lease` unless another request holds it or it is done; atomic.
    async fn claim(
        &self,
        key: &IdempotencyKey,
        lease: Duration,
    ) -> Result<ClaimOutcome, LimitError>;

    /// Marks the key done for `ttl`; call only once the sink acknowledged. Always marks it;
    /// `true` when `claim` still held the key (its lease had not run out).
    async fn complete(&self, claim: &Claim, ttl: Duration) -> Result<bool, LimitError>;

    /// Frees the key so a retry can publish; `false` (and nothing changed) when `claim` no
    /// longer holds it.
    async fn release(&self, claim: &Claim) -> Result<bool, LimitError>;
}

fn after(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now.checked_add_signed(TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// One key in the memory store: `nonce` is `None` once done. 16 bytes, next to the 16 of the
/// key (`tests/idempotency_memory.rs` measures what a key costs with the table's index).
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    /// The holder's nonce, 64 of its bits: it tells apart two holders of one key, which 2^-64
    /// leaves to chance; nobody can choose it.
    nonce: Option<NonZeroU64>,
    /// Unix milliseconds after which the lease or TTL is over.
    until_ms: i64,
}

impl Held {
    fn live(&self, now_ms: i64) -> bool {
        self.until_ms > now_ms
    }
}

fn millis_after(now: DateTime<Utc>, by: Duration) -> i64 {
    after(now, by).timestamp_millis()
}

/// Idempotency keys of one node in memory: at most [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
/// keys, the oldest pushed out first when it is full. Each key is kept as the first 128 bits of
/// its SHA-256 digest with its state in 16 bytes, in a table that takes its memory when the
/// store is made, about 44 bytes a key of capacity (`tests/idempotency_memory.rs` measures
/// it): the default million take 44 MB from the start and traffic does not grow them. A key
/// past its lease or TTL is treated as absent and overwritten by the next claim; until then it
/// only takes its slot. States are judged by the [`Clock`], so tests move time instead of
/// waiting.
pub struct MemoryIdempotencyStore {
    /// Placed in the table's index by a per-process key: senders choose their keys, so they
    /// could otherwise pick digests that share a probe run.
    keys: Mutex<FifoTable<Held, RandomState>>,
    max_ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryIdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryIdempotencyStore")
            .field("keys", &self.table().len())
            .field("max_ttl", &self.max_ttl)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryIdempotencyStore {
    fn default() -> Self {
        Self::new(IDEMPOTENCY_TTL)
    }
}

impl MemoryIdempotencyStore {
    /// The most keys kept by default.
    pub const DEFAULT_CAPACITY: u64 = 1_000_000;
    /// The most keys [`from_lookup`](Self::from_lookup) accepts: 4.4 GB of table.
    pub const MAX_CAPACITY: u64 = 100_000_000;

    /// Keys are remembered at most `max_ttl`, whatever TTL `complete` asks for.
    pub fn new(max_ttl: Duration) -> Self {
        Self::with_table(Self::DEFAULT_CAPACITY, max_ttl)
    }

    /// Keeps at most `capacity` keys (at least one), taking their memory now; the table
    /// [`new`](Self::new) made is given back.
    pub fn with_capacity(self, capacity: u64) -> Self {
        Self {
            clock: self.clock,
            ..Self::with_table(capacity, self.max_ttl)
        }
    }

    /// Keeps `AISOC_INBOX_IDEMPOTENCY_MAX_KEYS` keys (read through `lookup`; 1 to
    /// [`MAX_CAPACITY`](Self::MAX_CAPACITY), 44 bytes each taken now), or
    /// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) when it is unset.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use aisoc_inbox::limits::MemoryIdempotencyStore;
    ///
    /// let day = Duration::from_secs(86_400);
    /// let small = MemoryIdempotencyStore::from_lookup(day, |name| {
    ///     (name == "AISOC_INBOX_IDEMPOTENCY_MAX_KEYS").then(|| "10000".to_owned())
    /// })?;
    /// let error = MemoryIdempotencyStore::from_lookup(day, |_| Some("0".to_owned())).unwrap_err();
    /// assert!(error.to_string().contains("AISOC_INBOX_IDEMPOTENCY_MAX_KEYS"));
    /// # Ok::<(), aisoc_notify_core::ConfigError>(())
    /// ```
    pub fn from_lookup(
        max_ttl: Duration,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, aisoc_notify_core::ConfigError> {
        let name = "AISOC_INBOX_IDEMPOTENCY_MAX_KEYS";
        let capacity = crate::pipeline::number_in(&lookup, name, 1..=Self::MAX_CAPACITY, "keys")?;
        Ok(Self::with_table(
            capacity.unwrap_or(Self::DEFAULT_CAPACITY),
            max_ttl,
        ))
    }

    /// Judges leases and TTLs by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Keys held now (claimed or done, and those past their time not yet overwritten).
    pub async fn key_count(&self) -> u64 {
        let count = self.table().len() as u64;
        Self::report(count);
        count
    }

    fn with_table(capacity: u64, max_ttl: Duration) -> Self {
        crate::metrics::describe_metrics();
        let capacity = usize::try_from(capacity.max(1)).unwrap_or(usize::MAX);
        Self {
            keys: Mutex::new(FifoTable::new(capacity, RandomState::new())),
            max_ttl,
            clock: Arc::new(SystemClock),
        }
    }

    fn table(&self) -> MutexGuard<'_, FifoTable<Held, RandomState>> {
        // Every change to the table is whole before its guard is dropped: a panic elsewhere
        // leaves nothing half-done behind the poison.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a key pushed out by a newer one.
    fn count_eviction(evicted: Option<(u128, Held)>) {
        if evicted.is_some() {
            metrics::counter!(crate::metrics::IDEMPOTENCY_EVICTED).increment(1);
        }
    }

    /// Publishes the key count.
    fn report(count: u64) {
        metrics::gauge!(crate::metrics::IDEMPOTENCY_KEYS).set(count as f64);
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        lease: Duration,
    ) -> Result<ClaimOutcome, LimitError> {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let mut table = self.table();
        if let Some(held) = table.get(key.bits).copied()
            && held.live(now_ms)
        {
            return Ok(match held.nonce {
                None => ClaimOutcome::Done,
                Some(_) => ClaimOutcome::InProgress {
                    held_for: Duration::from_millis(
                        u64::try_from(held.until_ms.saturating_sub(now_ms)).unwrap_or(0),
                    ),
                },
            });
        }
        // Absent, or past its time: claimed, as the newest key.
        let claim = Claim::new(key.clone());
        let held = Held {
            nonce: Some(claim.nonce_bits),
            until_ms: millis_after(now, lease.min(self.max_ttl)),
        };
        let evicted = table.insert(key.bits, held);
        let count = table.len() as u64;
        drop(table);
        Self::count_eviction(evicted);
        Self::report(count);
        Ok(ClaimOutcome::Claimed(claim))
    }

    async fn complete(&self, claim: &Claim, ttl: Duration) -> Result<bool, LimitError> {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let done = Held {
            nonce: None,
            until_ms: millis_after(now, ttl.min(self.max_ttl)),
        };
        let mut table = self.table();
        if let Some(held) = table.get_mut(claim.key.bits) {
            let ours = held.live(now_ms) && held.nonce == Some(claim.nonce_bits);
            *held = done;
            return Ok(ours);
        }
        // Pushed out while it was worked on: the events are stored all the same, so the key is
        // remembered as done.
        let evicted = table.insert(claim.key.bits, done);
        drop(table);
        Self::count_eviction(evicted);
        Ok(false)
    }

    async fn release(&self, claim: &Claim) -> Result<bool, LimitError> {
        let now_ms = self.clock.now().timestamp_millis();
        let mut table = self.table();
        let ours = table
            .get(claim.key.bits)
            .is_some_and(|held| held.live(now_ms) && held.nonce == Some(claim.nonce_bits));
        if ours {
            table.remove(claim.key.bits);
        }
        Ok(ours)
    }
}

#[cfg(feature = "redis")]
pub use redis_backed::{RedisBudget, RedisIdempotencyStore, RedisRateLimiter};

#[cfg(feature = "redis")]
mod redis_backed {
    use std::sync::LazyLock;
    use std::time::Duration;

    use aisoc_notify_core::async_trait;
    use redis::aio::ConnectionManager;

    use super::{
        Claim, ClaimOutcome, IdempotencyKey, IdempotencyStore, LimitError, RateLimiter,
        budget::{MIN_RETRY_AFTER, Rate, UsageBudget},
    };

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

    /// GCRA against the server's clock, in microseconds: `ARGV[1]` the cost's span, `ARGV[2]`
    /// the burst's span, `ARGV[3]` `1` to charge (else only look). Returns 0 when admitted,
    /// else the microseconds until it would be. The key expires when its budget is full again.
    static GCRA: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            r"local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
            local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
            if tat < now then tat = now end
            local next = tat + tonumber(ARGV[1])
            local over = next - now - tonumber(ARGV[2])
            if over > 0 then return over end
            if ARGV[3] == '1' then
              redis.call('SET', KEYS[1], string.format('%.0f', next),
                'PX', math.ceil((next - now) / 1000) + 1)
            end
            return 0",
        )
    });

    /// A [`UsageBudget`] shared by every replica: the GCRA of the memory budget in one Lua
    /// script per charge, one Redis key per budget key (expiring when its budget is whole).
    #[derive(Clone)]
    pub struct RedisBudget {
        redis: ConnectionManager,
        rate: Rate,
        prefix: String,
    }

    impl std::fmt::Debug for RedisBudget {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisBudget")
                .field("rate", &self.rate)
                .field("prefix", &self.prefix)
                .finish_non_exhaustive()
        }
    }

    impl RedisBudget {
        /// A budget of `rate` per key, under `prefix` (one prefix per budget: events, bytes…).
        pub fn new(redis: ConnectionManager, rate: Rate, prefix: impl Into<String>) -> Self {
            Self {
                redis,
                rate,
                prefix: prefix.into(),
            }
        }

        async fn charge(&self, key: &str, cost: u64, spend: bool) -> Result<(), LimitError> {
            let mut redis = self.redis.clone();
            let over: i64 = GCRA
                .key(format!("{}:{key}", self.prefix))
                .arg(self.rate.span(cost, 1_000_000))
                .arg(self.rate.span(self.rate.burst(), 1_000_000))
                .arg(if spend { "1" } else { "0" })
                .invoke_async(&mut redis)
                .await
                .map_err(backend)?;
            if over > 0 {
                let wait = Duration::from_micros(u64::try_from(over).unwrap_or(u64::MAX));
                return Err(LimitError::Exceeded(wait.max(MIN_RETRY_AFTER)));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl UsageBudget for RedisBudget {
        async fn spend(&self, key: &str, cost: u64) -> Result<(), LimitError> {
            self.charge(key, cost, true).await
        }

        async fn would_admit(&self, key: &str, cost: u64) -> Result<(), LimitError> {
            self.charge(key, cost, false).await
        }
    }

    /// Claims a free key: `{state, ms}` with state 0 claimed, 1 done, 2 held (ms left).
    static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            r"local held = redis.call('GET', KEYS[1])
            if not held then
              redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
              return {0, 0}
            end
            if held == 'done' then return {1, 0} end
            return {2, redis.call('PTTL', KEYS[1])}",
        )
    });

    /// Marks a key done whoever holds it; 1 when the claim was still the caller's.
    static COMPLETE: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            r"local held = redis.call('GET', KEYS[1])
            redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
            if held == ARGV[1] then return 1 end
            return 0",
        )
    });

    /// Frees a key only while the caller's claim holds it.
    static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            r"if redis.call('GET', KEYS[1]) == ARGV[1] then
              redis.call('DEL', KEYS[1])
              return 1
            end
            return 0",
        )
    });

    fn millis(duration: Duration) -> u64 {
        u64::try_from(duration.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Idempotency keys in Redis, shared by every node: a claim is `claim:<nonce>` with the
    /// lease as its expiry, a completed key is `done` with the TTL; each step is one Lua script.
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

        /// The Redis key that holds `key`'s state.
        pub fn redis_key(&self, key: &IdempotencyKey) -> String {
            format!("{}:{}", self.prefix, key.as_str())
        }
    }

    fn held_by(claim: &Claim) -> String {
        format!("claim:{}", claim.nonce())
    }

    #[async_trait]
    impl IdempotencyStore for RedisIdempotencyStore {
        async fn claim(
            &self,
            key: &IdempotencyKey,
            lease: Duration,
        ) -> Result<ClaimOutcome, LimitError> {
            let claim = Claim::new(key.clone());
            let mut redis = self.redis.clone();
            let (state, left): (i64, i64) = CLAIM
                .key(self.redis_key(key))
                .arg(held_by(&claim))
                .arg(millis(lease))
                .invoke_async(&mut redis)
                .await
                .map_err(backend)?;
            Ok(match state {
                0 => ClaimOutcome::Claimed(claim),
                1 => ClaimOutcome::Done,
                _ => ClaimOutcome::InProgress {
                    held_for: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
                },
            })
        }

        async fn complete(&self, claim: &Claim, ttl: Duration) -> Result<bool, LimitError> {
            let mut redis = self.redis.clone();
            let ours: i64 = COMPLETE
                .key(self.redis_key(claim.key()))
                .arg(held_by(claim))
                .arg(millis(ttl))
                .invoke_async(&mut redis)
                .await
                .map_err(backend)?;
            Ok(ours == 1)
        }

        async fn release(&self, claim: &Claim) -> Result<bool, LimitError> {
            let mut redis = self.redis.clone();
            let ours: i64 = RELEASE
                .key(self.redis_key(claim.key()))
                .arg(held_by(claim))
                .invoke_async(&mut redis)
                .await
                .map_err(backend)?;
            Ok(ours == 1)
        }
    }
}
