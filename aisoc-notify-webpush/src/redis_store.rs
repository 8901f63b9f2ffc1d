//! The Redis subscription store (feature `redis`), on a `ConnectionManager` that reconnects by
//! itself.
//!
//! A record is a JSON string with a 90-day expiry; index sets get the same expiry, refreshed on
//! every subscribe. Replacing and removing run as one `MULTI`/`EXEC` transaction, so a reader
//! never sees a record without its indexes or the reverse. Whether an existing record belongs to
//! another (tenant, user) is checked by the same Lua script that writes the record, so two
//! callers racing for one endpoint cannot both win it. Ids whose record expired are pruned
//! from a set when a fan-out reads it.

use aisoc_notify_core::async_trait;
use aisoc_notify_core::notification::Target;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::store::{KeyLayout, SUBSCRIPTION_TTL, StoreError, SubscriptionStore};
use crate::subscription::SubscriptionRecord;

/// Writes the record (`ARGV[1]`, expiring in `ARGV[4]` seconds) unless a record of another
/// tenant (`ARGV[2]`) or user (`ARGV[3]`) holds the key; answers `{1, previous JSON or ""}`,
/// or `{0, ""}` when it refused.
const CLAIM_RECORD: &str = r#"
local previous = redis.call('GET', KEYS[1])
if previous then
    local old = cjson.decode(previous)
    if old.tenant_id ~= ARGV[2] or old.user_id ~= ARGV[3] then
        return {0, ''}
    end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
return {1, previous or ''}
"#;

fn backend(err: redis::RedisError) -> StoreError {
    StoreError::Backend(err.to_string())
}

/// Subscriptions in Redis with the documented key layout.
#[derive(Clone)]
pub struct RedisSubscriptionStore {
    redis: ConnectionManager,
    layout: KeyLayout,
}

impl std::fmt::Debug for RedisSubscriptionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSubscriptionStore")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl RedisSubscriptionStore {
    /// Connects to `url` (`redis://127.0.0.1:6379`, `rediss://…` for TLS).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let redis = client.get_connection_manager().await.map_err(backend)?;
        Ok(Self::new(redis))
    }

    /// A store over an existing connection manager.
    pub fn new(redis: ConnectionManager) -> Self {
        Self {
            redis,
            layout: KeyLayout::default(),
        }
    }

    /// Uses another key prefix than `aisoc:push`.
    pub fn with_layout(mut self, layout: KeyLayout) -> Self {
        self.layout = layout;
        self
    }

    async fn read(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = redis.get(self.layout.record(id)).await.map_err(backend)?;
        raw.map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }
}

#[async_trait]
impl SubscriptionStore for RedisSubscriptionStore {
    async fn upsert(&self, record: &SubscriptionRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let ttl = SUBSCRIPTION_TTL.as_secs();
        let mut redis = self.redis.clone();
        let (written, previous): (bool, String) = redis::Script::new(CLAIM_RECORD)
            .key(self.layout.record(&record.id))
            .arg(&json)
            .arg(&record.tenant_id)
            .arg(&record.user_id)
            .arg(ttl)
            .invoke_async(&mut redis)
            .await
            .map_err(backend)?;
        if !written {
            return Err(StoreError::OwnedByAnother);
        }
        let old = (!previous.is_empty())
            .then(|| serde_json::from_str::<SubscriptionRecord>(&previous))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(old) = &old {
            for key in self.layout.indexes(old) {
                pipe.srem(key, &old.id).ignore();
            }
        }
        for key in self.layout.indexes(record) {
            pipe.sadd(&key, &record.id).ignore();
            pipe.expire(&key, i64::try_from(ttl).unwrap_or(i64::MAX))
                .ignore();
        }
        pipe.query_async::<()>(&mut redis).await.map_err(backend)
    }

    async fn get(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.read(id).await
    }

    async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let Some(old) = self.read(id).await? else {
            return Ok(false);
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.del(self.layout.record(id)).ignore();
        for key in self.layout.indexes(&old) {
            pipe.srem(key, id).ignore();
        }
        let mut redis = self.redis.clone();
        pipe.query_async::<()>(&mut redis).await.map_err(backend)?;
        Ok(true)
    }

    async fn for_target(&self, target: &Target) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let index = self.layout.for_target(target);
        let mut redis = self.redis.clone();
        let mut ids: Vec<String> = redis.smembers(&index).await.map_err(backend)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort();
        let keys: Vec<String> = ids.iter().map(|id| self.layout.record(id)).collect();
        let mut records = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for (chunk_ids, chunk_keys) in ids.chunks(500).zip(keys.chunks(500)) {
            let values: Vec<Option<String>> = redis.mget(chunk_keys).await.map_err(backend)?;
            for (id, value) in chunk_ids.iter().zip(values) {
                match value {
                    Some(json) => records.push(
                        serde_json::from_str::<SubscriptionRecord>(&json)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    ),
                    None => expired.push(id.clone()),
                }
            }
        }
        if !expired.is_empty() {
            let _: () = redis.srem(&index, &expired).await.map_err(backend)?;
        }
        Ok(records)
    }
}
