//! The Bot Connector's signing keys: fetched from the OpenID metadata document's `jwks_uri`,
//! cached, and refreshed at most once a minute.
//!
//! Microsoft rotates the keys without notice, so a token naming a `kid` the cache does not hold
//! triggers a refetch; a flood of tokens with random `kid`s must not turn into a flood of
//! requests to the metadata server, so attempts (successful or not) are spaced by
//! [`MIN_REFRESH_INTERVAL`]. Keys are also refetched when older than [`KEY_REFRESH_INTERVAL`],
//! and a failed periodic refresh keeps the keys already held rather than locking everyone out.
//!
//! The cache is a small struct rather than a general cache (`moka`): it holds one key set with
//! two timestamps. Lookups take a read lock that is never held across a fetch, so requests
//! signed with a known key never wait behind a refetch; fetches are single-flight behind an
//! async mutex (the next waiter finds the refresh already done, or already attempted), and
//! while a periodic refresh is under way the keys already held keep serving.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use aisoc_notify_core::clock::Clock;
use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::BotAuthError;

/// The shortest time between two fetches of the key set, however many unknown `kid`s arrive.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How old the key set may grow before it is fetched again.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// The most keys kept from one key set (Microsoft publishes a handful).
const MAX_KEYS: usize = 100;

/// One published signing key.
pub(super) struct SigningKey {
    /// The RSA public key.
    pub(super) key: DecodingKey,
    /// The channels the key may sign for, when the key set says so.
    pub(super) endorsements: Option<Vec<String>>,
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, Arc<SigningKey>>,
    /// When the held keys were fetched (Unix seconds).
    fetched_at: Option<i64>,
    /// When a fetch was last started, successful or not (Unix seconds).
    attempted_at: Option<i64>,
}

impl Cached {
    fn older_than(at: Option<i64>, now: i64, interval: Duration) -> bool {
        let interval = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
        at.is_none_or(|at| now.saturating_sub(at) >= interval)
    }
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    kty: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
    endorsements: Option<Vec<String>>,
}

/// The key cache and how to fill it.
pub(super) struct KeySource {
    metadata_url: url::Url,
    delivery: DeliveryClient,
    clock: Arc<dyn Clock>,
    cached: RwLock<Cached>,
    /// Held while a fetch is under way, so concurrent misses make one request.
    refresh: Mutex<()>,
}

impl KeySource {
    pub(super) fn new(
        metadata_url: url::Url,
        delivery: DeliveryClient,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            metadata_url,
            delivery,
            clock,
            cached: RwLock::new(Cached::default()),
            refresh: Mutex::new(()),
        }
    }

    pub(super) fn metadata_url(&self) -> &url::Url {
        &self.metadata_url
    }

    /// The key named `kid`, refetching the key set when it is unknown or stale and the last
    /// attempt is at least [`MIN_REFRESH_INTERVAL`] old.
    pub(super) async fn key(&self, kid: &str) -> Result<Arc<SigningKey>, BotAuthError> {
        let now = self.clock.unix_seconds();
        let (held, stale) = self.lookup(kid, now);
        if let Some(key) = &held
            && !stale
        {
            return Ok(key.clone());
        }
        // One refresh at a time; a known key serves while another request refreshes.
        let _refreshing = match (held, self.refresh.try_lock()) {
            (_, Ok(guard)) => guard,
            (Some(key), Err(_)) => return Ok(key),
            (None, Err(_)) => self.refresh.lock().await,
        };
        let attempt = {
            let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
            let fresh = cached.keys.contains_key(kid)
                && !Cached::older_than(cached.fetched_at, now, KEY_REFRESH_INTERVAL);
            let allowed = Cached::older_than(cached.attempted_at, now, MIN_REFRESH_INTERVAL);
            if !fresh && allowed {
                cached.attempted_at = Some(now);
            }
            !fresh && allowed
        };
        if attempt {
            let fetched = self.fetch().await;
            let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
            match fetched {
                Ok(keys) => {
                    tracing::debug!(keys = keys.len(), "Bot Framework signing keys fetched");
                    cached.keys = keys;
                    cached.fetched_at = Some(now);
                }
                Err(error) => {
                    tracing::warn!(%error, "could not fetch the Bot Framework signing keys");
                    if cached.fetched_at.is_none() {
                        return Err(error);
                    }
                }
            }
        }
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        match cached.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if cached.fetched_at.is_none() => Err(BotAuthError::KeysUnavailable(
                "the signing keys have not been fetched yet; try again in a minute".to_owned(),
            )),
            None => Err(BotAuthError::UnknownKey),
        }
    }

    /// The held key named `kid`, and whether the key set is due for its periodic refresh.
    fn lookup(&self, kid: &str, now: i64) -> (Option<Arc<SigningKey>>, bool) {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        let stale = Cached::older_than(cached.fetched_at, now, KEY_REFRESH_INTERVAL);
        (cached.keys.get(kid).cloned(), stale)
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<SigningKey>>, BotAuthError> {
        let metadata: Metadata = self.get_json(self.metadata_url.clone()).await?;
        let jwks_uri = check_destination(&metadata.jwks_uri).map_err(|e| {
            BotAuthError::KeysUnavailable(format!("the metadata's jwks_uri is refused: {e}"))
        })?;
        let set: KeySet = self.get_json(jwks_uri).await?;
        let keys: HashMap<String, Arc<SigningKey>> = set
            .keys
            .into_iter()
            .filter(|k| k.kty.as_deref() == Some("RSA") && k.usage.as_deref() != Some("enc"))
            .filter_map(|k| {
                let key =
                    DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
                let signing = SigningKey {
                    key,
                    endorsements: k.endorsements,
                };
                Some((k.kid?, Arc::new(signing)))
            })
            .take(MAX_KEYS)
            .collect();
        if keys.is_empty() {
            return Err(BotAuthError::KeysUnavailable(
                "the key set holds no usable RSA signing key".to_owned(),
            ));
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: url::Url,
    ) -> Result<T, BotAuthError> {
        let unavailable = |e: aisoc_notify_core::delivery::DeliveryError| {
            BotAuthError::KeysUnavailable(e.to_string())
        };
        let request = self
            .delivery
            .http()
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| BotAuthError::KeysUnavailable(e.without_url().to_string()))?;
        let response = self
            .delivery
            .send(request)
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?;
        response.json().map_err(unavailable)
    }
}
