//! Real backends, switched on by configuration: `DATABASE_URL` (PostgreSQL), `REDIS_URL`,
//! `NATS_URL`. Each one left unset keeps the embedded in-memory default, so the gateway runs with
//! no services and an operator turns them on one at a time.
//!
//! | variable | what moves there |
//! |---|---|
//! | `DATABASE_URL` | inbox tokens (row-level security; signing secrets sealed with `AISOC_DATA_KEY`, refused without it), approvals and the audit trail, `chatops.verify` prompts, both flows' follow-ups (playbook resumes), in-app notification lists, notification channels (sealed with `AISOC_DATA_KEY`; otherwise in `<data dir>/channels`) |
//! | `REDIS_URL` | inbox rate limits, per-token event and byte budgets, failed-authentication budgets and idempotency keys, Web Push subscriptions |
//! | `NATS_URL` | accepted inbox events, to the JetStream stream `AISOC_INBOX` (unless `--events-out`), a message per event or, with `AISOC_INBOX_NATS_FRAMING=request`, per request; queued notifications, to the work-queue stream `AISOC_OUTBOX` (`AISOC_OUTBOX_STREAM` names another), dead letters to `AISOC_OUTBOX_DEAD` |

use std::sync::Arc;
use std::time::Duration;

use aisoc_inbox::limits::{
    IdempotencyStore, MemoryIdempotencyStore, MemoryRateLimiter, RateLimiter, RedisBudget,
    RedisIdempotencyStore, RedisRateLimiter,
};
use aisoc_inbox::postgres::PgTokenStore;
use aisoc_inbox::sink::{EventSink, NatsFraming, NatsSink, NatsSinkConfig};
use aisoc_inbox::token::{MemoryTokenStore, TokenStore};
use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::postgres::{PgApprovalStore, PgAuditLog, PgVerificationStore};
use aisoc_notify_approvals::store::{ApprovalStore, AuditLog};
use aisoc_notify_approvals::verify::{MemoryVerificationStore, VerificationStore};
use aisoc_notify_core::ConfigError;
use aisoc_notify_core::sealed::{DATA_KEY_VARIABLE, DataKeys};
use aisoc_notify_outbox::envelope::RetrySettings;
use aisoc_notify_outbox::memory::{self, MemoryOutbox, MemoryOutboxLimits};
use aisoc_notify_outbox::nats::{NatsOutbox, NatsOutboxConfig};
use aisoc_notify_outbox::{Outbox, RouterSource};
use aisoc_notify_webpush::redis_store::RedisSubscriptionStore;
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionStore};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::channel_store::{ChannelStore, ChannelStoreError, FileChannelStore, PgChannelStore};

/// How accepted inbox events are laid out in `AISOC_INBOX` messages.
const FRAMING_VARIABLE: &str = "AISOC_INBOX_NATS_FRAMING";

/// How long start-up waits for each backend.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A backend that is configured but unusable, named after its variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct BackendError {
    /// The variable to fix.
    pub variable: &'static str,
    /// What went wrong (never the URL, which may hold a password).
    pub reason: String,
}

fn failed(variable: &'static str, reason: impl std::fmt::Display) -> BackendError {
    BackendError {
        variable,
        reason: reason.to_string(),
    }
}

/// The connected backends.
#[derive(Clone, Default)]
pub struct Backends {
    postgres: Option<PgPool>,
    redis: Option<ConnectionManager>,
    nats: Option<async_nats::Client>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Backends {
    /// Connects to every backend whose variable `lookup` returns.
    pub async fn connect(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BackendError> {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut backends = Self::default();
        if let Some(url) = set("DATABASE_URL") {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect(url.trim())
                .await
                .map_err(|e| failed("DATABASE_URL", e))?;
            backends.postgres = Some(pool);
        }
        if let Some(url) = set("REDIS_URL") {
            let client = redis::Client::open(url.trim()).map_err(|e| failed("REDIS_URL", e))?;
            let manager = tokio::time::timeout(CONNECT_TIMEOUT, client.get_connection_manager())
                .await
                .map_err(|e| failed("REDIS_URL", e))?
                .map_err(|e| failed("REDIS_URL", e))?;
            backends.redis = Some(manager);
        }
        if let Some(url) = set("NATS_URL") {
            let client = tokio::time::timeout(CONNECT_TIMEOUT, async_nats::connect(url.trim()))
                .await
                .map_err(|e| failed("NATS_URL", e))?
                .map_err(|e| failed("NATS_URL", e))?;
            backends.nats = Some(client);
        }
        Ok(backends)
    }

    /// Which backends are in use, for the start-up banner.
    pub fn describe(&self) -> String {
        let used: Vec<&str> = [
            self.postgres.as_ref().map(|_| "PostgreSQL"),
            self.redis.as_ref().map(|_| "Redis"),
            self.nats.as_ref().map(|_| "NATS JetStream"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if used.is_empty() {
            "in-memory (set DATABASE_URL, REDIS_URL, NATS_URL to persist)".into()
        } else {
            used.join(", ")
        }
    }

    /// Inbox tokens; in PostgreSQL their signing secrets are sealed with `keys`, and without
    /// keys a token with a signing secret is refused (naming `AISOC_DATA_KEY`).
    pub async fn token_store(
        &self,
        keys: Option<Arc<DataKeys>>,
    ) -> Result<Arc<dyn TokenStore>, BackendError> {
        Ok(match &self.postgres {
            Some(pool) => {
                let store = PgTokenStore::new(pool.clone())
                    .await
                    .map_err(|e| failed("DATABASE_URL", e))?;
                Arc::new(match keys {
                    Some(keys) => store.with_data_keys(keys),
                    None => store,
                })
            }
            None => Arc::new(MemoryTokenStore::new()),
        })
    }

    /// The inbox rate limiter.
    pub fn rate_limiter(&self, per_minute: std::num::NonZeroU32) -> Arc<dyn RateLimiter> {
        match &self.redis {
            Some(redis) => Arc::new(RedisRateLimiter::new(redis.clone(), per_minute.get())),
            None => Arc::new(MemoryRateLimiter::per_minute(per_minute)),
        }
    }

    /// The inbox with its per-token event and byte budgets and its failed-authentication
    /// budget in Redis when configured (shared by every replica); in memory otherwise.
    pub fn inbox_budgets(&self, inbox: aisoc_inbox::Inbox) -> aisoc_inbox::Inbox {
        let Some(redis) = &self.redis else {
            return inbox;
        };
        let rates = aisoc_inbox::pipeline::token_rates(inbox.config());
        let budget = |rate, prefix: &str| Arc::new(RedisBudget::new(redis.clone(), rate, prefix));
        inbox
            .with_token_budgets(
                budget(rates.events, "aisoc:inbox:events"),
                budget(rates.bytes, "aisoc:inbox:bytes"),
            )
            .with_auth_failure_budget(budget(rates.auth_failures, "aisoc:inbox:authfail"))
    }

    /// Inbox idempotency keys: in Redis when configured (shared by every replica), else in
    /// memory, as many as `AISOC_INBOX_IDEMPOTENCY_MAX_KEYS` (read through `lookup`) says.
    pub fn idempotency(
        &self,
        ttl: Duration,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn IdempotencyStore>, ConfigError> {
        Ok(match &self.redis {
            Some(redis) => Arc::new(RedisIdempotencyStore::new(redis.clone())),
            None => Arc::new(MemoryIdempotencyStore::from_lookup(ttl, lookup)?),
        })
    }

    /// The JetStream sink, when NATS is configured; `lookup` reads `AISOC_INBOX_NATS_FRAMING`
    /// (`event`, the default: a message per event; `request`: a message per request).
    pub async fn nats_sink(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Arc<dyn EventSink>>, BackendError> {
        match &self.nats {
            Some(client) => {
                let framing = match lookup(FRAMING_VARIABLE) {
                    Some(name) if !name.trim().is_empty() => name
                        .parse::<NatsFraming>()
                        .map_err(|e| failed(FRAMING_VARIABLE, e))?,
                    _ => NatsFraming::default(),
                };
                let config = NatsSinkConfig {
                    framing,
                    ..NatsSinkConfig::default()
                };
                let sink = NatsSink::new(client.clone(), config)
                    .await
                    .map_err(|e| failed("NATS_URL", e))?;
                Ok(Some(Arc::new(sink)))
            }
            None => Ok(None),
        }
    }

    /// Approvals and the audit trail.
    pub async fn approvals(
        &self,
    ) -> Result<(Arc<dyn ApprovalStore>, Arc<dyn AuditLog>), BackendError> {
        match &self.postgres {
            Some(pool) => {
                let store = PgApprovalStore::new(pool.clone())
                    .await
                    .map_err(|e| failed("DATABASE_URL", e))?;
                let audit = PgAuditLog::new(pool.clone())
                    .await
                    .map_err(|e| failed("DATABASE_URL", e))?;
                Ok((Arc::new(store), Arc::new(audit)))
            }
            None => {
                let audit = Arc::new(MemoryAuditLog::new());
                Ok((Arc::new(MemoryApprovalStore::new(audit.clone())), audit))
            }
        }
    }

    /// `chatops.verify` prompts.
    pub async fn verification_store(&self) -> Result<Arc<dyn VerificationStore>, BackendError> {
        Ok(match &self.postgres {
            Some(pool) => Arc::new(
                PgVerificationStore::new(pool.clone())
                    .await
                    .map_err(|e| failed("DATABASE_URL", e))?,
            ),
            None => Arc::new(MemoryVerificationStore::new()),
        })
    }

    /// Notification channels: in PostgreSQL when configured, else in `<data_dir>/channels`;
    /// sealed with `keys` (which PostgreSQL requires before it stores one).
    pub async fn channel_store(
        &self,
        data_dir: &std::path::Path,
        keys: Option<Arc<DataKeys>>,
    ) -> Result<Arc<dyn ChannelStore>, BackendError> {
        let blame = |variable: &'static str| {
            move |e: ChannelStoreError| match e {
                ChannelStoreError::Sealed { .. } => failed(DATA_KEY_VARIABLE, e),
                other => failed(variable, other),
            }
        };
        Ok(match &self.postgres {
            Some(pool) => Arc::new(
                PgChannelStore::open(pool.clone(), keys)
                    .await
                    .map_err(blame("DATABASE_URL"))?,
            ),
            None => Arc::new(
                FileChannelStore::open(data_dir.join("channels"), keys)
                    .await
                    .map_err(blame("AISOC_DATA_DIR"))?,
            ),
        })
    }

    /// The outbox: durable on NATS (with a worker on this node), else in memory. `lookup`
    /// reads `AISOC_OUTBOX_CONCURRENCY` (deliveries at once on this node, default 128),
    /// `AISOC_OUTBOX_STREAM` (the NATS stream, default `AISOC_OUTBOX`, dead letters in
    /// `<stream>_DEAD`), and for the in-memory outbox `AISOC_OUTBOX_MEMORY_CAPACITY`
    /// (notifications held, default 10 000; more are refused) and
    /// `AISOC_OUTBOX_MEMORY_DEAD_LETTERS` (dead letters kept, default 1 000; oldest dropped).
    pub async fn outbox(
        &self,
        router: impl RouterSource + 'static,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Outbox>, BackendError> {
        let count = |name: &'static str, range| {
            crate::config::count_setting(lookup, name, range).map_err(|e| failed(name, e.reason()))
        };
        let concurrency = count("AISOC_OUTBOX_CONCURRENCY", 1..=1024)?
            .unwrap_or(aisoc_notify_outbox::DEFAULT_CONCURRENCY);
        let Some(client) = &self.nats else {
            let limits = MemoryOutboxLimits {
                concurrency,
                capacity: count("AISOC_OUTBOX_MEMORY_CAPACITY", 1..=10_000_000)?
                    .unwrap_or(memory::DEFAULT_CAPACITY),
                dead_letters: count("AISOC_OUTBOX_MEMORY_DEAD_LETTERS", 1..=1_000_000)?
                    .unwrap_or(memory::DEFAULT_DEAD_LETTER_CAPACITY),
            };
            return Ok(Arc::new(MemoryOutbox::start_with_limits(
                router,
                RetrySettings::default(),
                limits,
            )));
        };
        let config = match lookup("AISOC_OUTBOX_STREAM").map(|s| s.trim().to_owned()) {
            Some(name) if !name.is_empty() => {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(failed(
                        "AISOC_OUTBOX_STREAM",
                        "a stream name is letters, digits, '_' and '-' only",
                    ));
                }
                NatsOutboxConfig::named(&name)
            }
            _ => NatsOutboxConfig::default(),
        };
        let outbox = NatsOutbox::new(
            client.clone(),
            NatsOutboxConfig {
                concurrency,
                ..config
            },
        )
        .await
        .map_err(|e| failed("NATS_URL", e))?;
        let worker = outbox
            .worker(router)
            .await
            .map_err(|e| failed("NATS_URL", e))?;
        tokio::spawn(async move {
            loop {
                if let Err(failure) = worker.run().await {
                    tracing::error!(%failure, "outbox worker stopped; restarting in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        Ok(Arc::new(outbox))
    }

    /// The PostgreSQL pool, when `DATABASE_URL` is set (for the gateway's own tables).
    pub fn postgres_pool(&self) -> Option<PgPool> {
        self.postgres.clone()
    }

    /// In-app notification lists: in PostgreSQL (row-level security per tenant) when
    /// configured, else in memory.
    pub async fn inapp_store(
        &self,
    ) -> Result<Arc<dyn aisoc_notify_inapp::InAppStore>, BackendError> {
        Ok(match &self.postgres {
            Some(pool) => Arc::new(
                aisoc_notify_inapp::PgInAppStore::new(pool.clone())
                    .await
                    .map_err(|e| failed("DATABASE_URL", e))?,
            ),
            None => Arc::new(aisoc_notify_inapp::MemoryInAppStore::new()),
        })
    }

    /// Web Push subscriptions.
    pub fn subscriptions(&self) -> Arc<dyn SubscriptionStore> {
        match &self.redis {
            Some(redis) => Arc::new(RedisSubscriptionStore::new(redis.clone())),
            None => Arc::new(MemorySubscriptionStore::new()),
        }
    }
}
