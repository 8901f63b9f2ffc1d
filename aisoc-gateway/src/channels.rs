//! Notification channels managed at run time: `/v1/settings/notifications`.
//!
//! Operators add, change, remove and test channels without a restart. Each type's
//! configuration is the adapter crate's own, which validates it and builds the notifier:
//!
//! | `channel_type` | `config` |
//! |---|---|
//! | `slack` | [`SlackChannelConfig`](aisoc_notify_slack::config::SlackChannelConfig): `bot_token` + `channel_id` (+ `api_base`), or `webhook_url` |
//! | `teams` | [`TeamsChannelConfig`](aisoc_notify_teams::config::TeamsChannelConfig): `webhook_url`, `format` (`workflows`, `connector`); or, as the bot (`TEAMS_APP_ID` + `TEAMS_APP_PASSWORD`), `service_url` + `conversation_id` |
//! | `mattermost` | [`MattermostChannelConfig`](aisoc_notify_slack::mattermost::MattermostChannelConfig): `webhook_url`, `channel` |
//! | `webhook` | [`WebhookChannelConfig`](aisoc_notify_webhook::config::WebhookChannelConfig): `url`, `secret`, `standard_webhooks_secret`, `envelope`, `community_uuid` |
//! | `email` | [`EmailChannelConfig`](aisoc_notify_email::config::EmailChannelConfig): `host`, `port`, `security`, `username`, `password`, `from`, `to`, `enrich` |
//! | `webpush` | [`WebPushChannelConfig`](aisoc_notify_webpush::config::WebPushChannelConfig): `kind` (`tenant`, `user`, `users`, `topic`) and its ids, in the notification's tenant |
//! | `inapp` | [`InAppChannelConfig`](aisoc_notify_inapp::config::InAppChannelConfig): `recipients` (user ids in the notification's tenant) |
//!
//! A configuration that does not read as its type is refused with 422 `invalid <Type>
//! configuration: <key>: <what>`. Each saved channel is validated by building its notifier,
//! so a channel that is stored can deliver; the validation messages are the adapters' own
//! (`Slack channels require either bot_token + channel_id or webhook_url`, `A webhook_url is
//! required for Teams channels`, `to[1]: is not an e-mail address`, …). Responses never echo a
//! channel's secrets: they list which configuration keys are set.
//!
//! A channel whose destination (a URL, or an e-mail channel's SMTP host) is a private,
//! loopback, link-local (cloud metadata) or otherwise non-public address is refused with 422
//! naming the rule (never the URL's path), unless the operator allowed it in
//! `AISOC_OUTBOUND_ALLOW`; HTTP delivery checks again when it connects, e-mail before each
//! message.
//!
//! Channels are kept in a [`ChannelStore`] (PostgreSQL, or a file in the data directory, see
//! [`crate::channel_store`]), so they survive a restart and every replica on one database routes
//! through the same channels under the same ids:
//!
//! - the registry loads every channel at start, before the outbox worker takes anything;
//! - a change is written to the store first and applied here only once stored, so a failed
//!   write (503) leaves this replica as it was;
//! - other replicas' changes are picked up when the store's revision moves: at once on a
//!   PostgreSQL change notice, and in any case every `AISOC_CONFIG_REFRESH_SECONDS` (default
//!   2);
//! - before an id is treated as unknown (a queued retry, an update, a test) the registry
//!   re-reads the store once, so a channel created on another replica a moment ago is found.
//!
//! `POST /v1/notifications` routes through the console channel plus every enabled channel here,
//! by the [routing rules](crate::rules) kept in the same store: once any rule is stored, a
//! channel (the console included) receives only what a rule sends it.

mod build;
pub(crate) mod http;

pub use build::ChannelContext;
pub use http::{MAX_TEST_MESSAGE_CHARS, router};

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aisoc_notify_core::destination::ForbiddenDestination;
use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_core::notifier::DeliveryOutcome;
use aisoc_notify_core::routing::{Channel, EventFilter, NotificationRouter, RoutingError};
use aisoc_notify_core::{ConfigError, Notifier, async_trait};
use aisoc_notify_outbox::{OutboxError, RouterSource};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::channel_store::{ChannelStore, ChannelStoreError, StoredChannel, StoredRule};

/// The channel types this gateway can build.
pub const CHANNEL_TYPES: [&str; 7] = [
    "slack",
    "teams",
    "mattermost",
    "webhook",
    "email",
    "webpush",
    "inapp",
];

/// How often replicas re-read the channels unless `AISOC_CONFIG_REFRESH_SECONDS` says otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(2);

/// How often to re-read the channels: `AISOC_CONFIG_REFRESH_SECONDS` (1 to 3600), else
/// [`DEFAULT_REFRESH`].
///
/// ```
/// use std::time::Duration;
/// use aisoc_gateway::channels::refresh_interval;
///
/// assert_eq!(refresh_interval(&|_| None).unwrap(), Duration::from_secs(2));
/// assert_eq!(refresh_interval(&|_| Some("30".into())).unwrap(), Duration::from_secs(30));
/// let refused = refresh_interval(&|_| Some("0".into())).unwrap_err();
/// assert_eq!(refused.field(), "AISOC_CONFIG_REFRESH_SECONDS");
/// ```
pub fn refresh_interval(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    let seconds = crate::config::count_setting(lookup, "AISOC_CONFIG_REFRESH_SECONDS", 1..=3600)?;
    Ok(seconds.map_or(DEFAULT_REFRESH, |s| Duration::from_secs(s as u64)))
}

/// A channel as an operator submits it.
#[derive(Debug, Deserialize)]
pub struct ChannelRequest {
    /// One of [`CHANNEL_TYPES`].
    pub channel_type: String,
    /// A display name.
    pub name: String,
    /// The type's configuration (URLs, tokens, secrets, recipients), as the adapter crate's
    /// `…ChannelConfig` reads it.
    #[serde(default)]
    pub config: Map<String, Value>,
    /// The event types it receives; empty means all.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    /// Whether it receives notifications.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl ChannelRequest {
    /// The channel to store under `id`.
    fn stored(&self, id: String) -> StoredChannel {
        StoredChannel {
            id,
            channel_type: self.channel_type.clone(),
            name: self.name.trim().to_owned(),
            config: self.config.clone(),
            event_types: self.event_types.clone(),
            enabled: self.enabled,
        }
    }
}

/// A saved channel as the API shows it: no secret values.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    /// Its id.
    pub id: String,
    /// Its type.
    pub channel_type: String,
    /// Its name.
    pub name: String,
    /// The configuration keys that are set (values are never shown).
    pub configured: Vec<String>,
    /// The event types it receives; empty means all.
    pub event_types: Vec<EventType>,
    /// Whether it receives notifications.
    pub enabled: bool,
}

impl From<&StoredChannel> for ChannelView {
    fn from(channel: &StoredChannel) -> Self {
        Self {
            id: channel.id.clone(),
            channel_type: channel.channel_type.clone(),
            name: channel.name.clone(),
            configured: channel
                .config
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.clone())
                .collect(),
            event_types: channel.event_types.clone(),
            enabled: channel.enabled,
        }
    }
}

/// A stored channel and the notifier built from it.
#[derive(Clone)]
struct Saved {
    stored: StoredChannel,
    notifier: Arc<dyn Notifier>,
}

/// The channels as last read from the store, plus this replica's own writes since.
#[derive(Default)]
struct Loaded {
    /// The store's revision when last read; a local write leaves it, so the next refresh reads
    /// the store again and sees other replicas' changes made meanwhile too.
    revision: u64,
    saved: BTreeMap<String, Saved>,
    /// The routing rules read with the channels.
    rules: Vec<StoredRule>,
}

/// The channels, kept in a [`ChannelStore`] and held here ready to route, plus the console
/// channel that is always there.
pub struct ChannelRegistry {
    console: Channel,
    store: Arc<dyn ChannelStore>,
    loaded: RwLock<Loaded>,
    /// Serialises this replica's writes and reloads, so a reload never undoes a write that is
    /// stored but not yet applied here.
    writing: tokio::sync::Mutex<()>,
    context: ChannelContext,
}

impl std::fmt::Debug for ChannelRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRegistry")
            .field("store", &self.store.describe())
            .finish_non_exhaustive()
    }
}

/// Why a channel was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The submission is invalid; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The destination is an address outbound requests may not reach.
    #[error("{0}; list it in AISOC_OUTBOUND_ALLOW to allow it")]
    Forbidden(ForbiddenDestination),
    /// No channel has this id.
    #[error("notification channel not found")]
    NotFound,
    /// The channel store refused or failed; nothing changed.
    #[error(transparent)]
    Store(#[from] ChannelStoreError),
}

/// A new channel (`ch`) or rule (`rl`) id: the prefix, `_` and 15 base32 characters (75
/// random bits).
pub(crate) fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 9];
    rand::fill(&mut bytes);
    format!(
        "{prefix}_{}",
        data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase()
    )
}

impl ChannelRegistry {
    /// Loads every channel in `store`; routing always includes `console`, and channels are
    /// built with `context`: HTTP channels deliver through its delivery client (whose outbound
    /// guard also judges each channel's destination when it is saved), `webpush` and `inapp`
    /// channels through its push manager and in-app store (a [`DeliveryClient`] alone is a
    /// context without them). Fails when the store cannot be read or a channel cannot be
    /// opened (its data key is missing), because running without a stored channel would drop
    /// its notifications silently; a channel that no longer builds is logged and left out.
    ///
    /// [`DeliveryClient`]: aisoc_notify_core::delivery::DeliveryClient
    pub async fn load(
        console: Channel,
        context: impl Into<ChannelContext>,
        store: Arc<dyn ChannelStore>,
    ) -> Result<Self, ChannelStoreError> {
        let registry = Self {
            console,
            store,
            loaded: RwLock::new(Loaded::default()),
            writing: tokio::sync::Mutex::new(()),
            context: context.into(),
        };
        let snapshot = registry.store.list().await?;
        let saved = registry.rebuild(snapshot.channels, &BTreeMap::new());
        *registry.loaded_mut() = Loaded {
            revision: snapshot.revision,
            saved,
            rules: snapshot.rules,
        };
        Ok(registry)
    }

    /// Where the channels are kept, for the start-up log.
    pub fn describe_store(&self) -> String {
        self.store.describe()
    }

    fn loaded(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner())
    }

    fn loaded_mut(&self) -> std::sync::RwLockWriteGuard<'_, Loaded> {
        self.loaded.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds every stored channel, reusing the notifier of one that has not changed (so its
    /// pacing state carries over).
    fn rebuild(
        &self,
        channels: Vec<StoredChannel>,
        previous: &BTreeMap<String, Saved>,
    ) -> BTreeMap<String, Saved> {
        let mut saved = BTreeMap::new();
        for stored in channels {
            if let Some(same) = previous.get(&stored.id).filter(|s| s.stored == stored) {
                saved.insert(stored.id.clone(), same.clone());
                continue;
            }
            match self.build(&stored) {
                Ok(notifier) => {
                    saved.insert(stored.id.clone(), Saved { stored, notifier });
                }
                Err(failure) => {
                    tracing::error!(channel = %stored.id, %failure, "stored notification channel left out: it no longer builds");
                }
            }
        }
        saved
    }

    /// Re-reads the store when its revision moved; answers whether it did.
    pub async fn refresh(&self) -> Result<bool, ChannelStoreError> {
        // Most calls find nothing new: answer those without queuing behind this replica's
        // writes (a write in progress applies itself here when it is done).
        if self.store.revision().await? == self.loaded().revision {
            return Ok(false);
        }
        let _writing = self.writing.lock().await;
        let revision = self.store.revision().await?;
        if revision == self.loaded().revision {
            return Ok(false);
        }
        let snapshot = self.store.list().await?;
        let previous = std::mem::take(&mut self.loaded_mut().saved);
        let saved = self.rebuild(snapshot.channels, &previous);
        *self.loaded_mut() = Loaded {
            revision: snapshot.revision,
            saved,
            rules: snapshot.rules,
        };
        Ok(true)
    }

    /// Keeps this replica in step with the others: re-reads the store on each change notice
    /// and at least every `every`.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let registry = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = registry.store.changed() => {}
                }
                match registry.refresh().await {
                    Ok(true) => tracing::info!("notification channels reloaded"),
                    Ok(false) => {}
                    Err(failure) => {
                        tracing::warn!(%failure, "notification channels not re-read; keeping those loaded");
                    }
                }
            }
        })
    }

    /// Whether channel `id` exists, re-reading the store once when it is not loaded here.
    pub(crate) async fn knows(&self, id: &str) -> bool {
        if self.loaded().saved.contains_key(id) {
            return true;
        }
        if let Err(failure) = self.refresh().await {
            tracing::warn!(%failure, "notification channels not re-read");
        }
        self.loaded().saved.contains_key(id)
    }

    /// Builds the notifier a channel describes, or says what is wrong with it.
    fn build(&self, channel: &StoredChannel) -> Result<Arc<dyn Notifier>, ChannelError> {
        build::build(&self.context, channel)
    }

    /// Validates a new channel, stores it, and then routes to it.
    pub async fn create(&self, request: &ChannelRequest) -> Result<ChannelView, ChannelError> {
        let stored = request.stored(new_id("ch"));
        build::check_destinations(&self.context, &stored).await?;
        let notifier = self.build(&stored)?;
        let _writing = self.writing.lock().await;
        self.store.insert(&stored).await?;
        let view = ChannelView::from(&stored);
        self.loaded_mut()
            .saved
            .insert(stored.id.clone(), Saved { stored, notifier });
        Ok(view)
    }

    /// Validates and replaces channel `id`, in the store and then here.
    pub async fn update(
        &self,
        id: &str,
        request: &ChannelRequest,
    ) -> Result<ChannelView, ChannelError> {
        if !self.knows(id).await {
            return Err(ChannelError::NotFound);
        }
        let stored = request.stored(id.to_owned());
        build::check_destinations(&self.context, &stored).await?;
        let notifier = self.build(&stored)?;
        let _writing = self.writing.lock().await;
        if !self.store.update(&stored).await? {
            // Removed on another replica meanwhile.
            self.loaded_mut().saved.remove(id);
            return Err(ChannelError::NotFound);
        }
        let view = ChannelView::from(&stored);
        self.loaded_mut()
            .saved
            .insert(id.to_owned(), Saved { stored, notifier });
        Ok(view)
    }

    /// Removes channel `id` from the store and then from here.
    pub async fn delete(&self, id: &str) -> Result<(), ChannelError> {
        let _writing = self.writing.lock().await;
        let deleted = self.store.delete(id).await?;
        self.loaded_mut().saved.remove(id);
        if deleted {
            Ok(())
        } else {
            Err(ChannelError::NotFound)
        }
    }

    /// Every stored routing rule, by id.
    pub fn rules(&self) -> Vec<StoredRule> {
        self.loaded().rules.clone()
    }

    /// What channels are built with (the Teams bot client among it), for flows that post
    /// through a channel themselves (approval cards).
    pub fn context(&self) -> &ChannelContext {
        &self.context
    }

    /// The store, for the rule changes in [`crate::rules`].
    pub(crate) fn store(&self) -> &dyn ChannelStore {
        self.store.as_ref()
    }

    /// Every saved channel.
    pub fn list(&self) -> Vec<ChannelView> {
        self.loaded()
            .saved
            .values()
            .map(|s| ChannelView::from(&s.stored))
            .collect()
    }

    /// The router over the console channel and every saved channel, by the enabled rules.
    pub fn router(&self) -> Result<NotificationRouter, RoutingError> {
        let loaded = self.loaded();
        let mut builder = NotificationRouter::builder().channel(self.console.clone());
        for entry in loaded.saved.values() {
            let stored = &entry.stored;
            let events = if stored.event_types.is_empty() {
                EventFilter::all()
            } else {
                EventFilter::only(stored.event_types.iter().cloned())
            };
            builder = builder.channel(
                Channel::new(stored.id.clone(), entry.notifier.clone())
                    .with_name(stored.name.clone())
                    .with_events(events)
                    .with_enabled(stored.enabled),
            );
        }
        let console = self.console.id.as_str();
        let exists = |id: &str| id == console || loaded.saved.contains_key(id);
        for rule in crate::rules::routing_rules(&loaded.rules, console, exists) {
            builder = builder.rule(rule);
        }
        builder.build()
    }

    /// The stored channels `notification` is delivered to now (rules and event filters
    /// applied, the console left out), for flows that post something other than the
    /// notification itself to them (an approval card).
    pub fn selected(
        &self,
        notification: &Notification,
    ) -> Result<Vec<StoredChannel>, RoutingError> {
        let router = self.router()?;
        let loaded = self.loaded();
        Ok(router
            .select(notification)
            .into_iter()
            .filter_map(|channel| loaded.saved.get(&channel.id))
            .map(|saved| saved.stored.clone())
            .collect())
    }

    /// Stored channel `id` as loaded here (configuration included), for flows that come back
    /// to what they posted through it (updating an approval card).
    pub fn stored(&self, id: &str) -> Option<StoredChannel> {
        self.loaded()
            .saved
            .get(id)
            .map(|saved| saved.stored.clone())
    }

    /// Sends a test message through channel `id`, for `tenant_id`, with `message` as its text
    /// (a standard sentence when `None`).
    pub async fn test(
        &self,
        id: &str,
        tenant_id: &str,
        message: Option<&str>,
    ) -> Result<DeliveryOutcome, ChannelError> {
        if !self.knows(id).await {
            return Err(ChannelError::NotFound);
        }
        let (notifier, name) = {
            let loaded = self.loaded();
            let entry = loaded.saved.get(id).ok_or(ChannelError::NotFound)?;
            (entry.notifier.clone(), entry.stored.name.clone())
        };
        let notification = Notification::new(
            tenant_id,
            EventType::from("channel_test"),
            Severity::Info,
            format!("Test message for {name}"),
        )
        .with_body(message.unwrap_or("If you can read this, the channel is configured correctly."));
        Ok(DeliveryOutcome::from(&notifier.notify(&notification).await))
    }
}

/// The registry as the outbox's [`RouterSource`]: each queued notification is delivered
/// through the channels as they are at that moment, and a retry naming a channel not loaded
/// here re-reads the store first.
pub struct CurrentChannels(pub Arc<ChannelRegistry>);

#[async_trait]
impl RouterSource for CurrentChannels {
    fn current(&self) -> Arc<NotificationRouter> {
        match self.0.router() {
            Ok(router) => Arc::new(router),
            Err(failure) => {
                // Ids are unique by construction, so this is a bug; keep the console working.
                tracing::error!(%failure, "channel routing could not be built; console only");
                let console = NotificationRouter::builder()
                    .channel(self.0.console.clone())
                    .build()
                    .expect("a single channel always builds");
                Arc::new(console)
            }
        }
    }

    async fn refreshed(&self) -> Result<Arc<NotificationRouter>, OutboxError> {
        self.0
            .refresh()
            .await
            .map_err(|e| OutboxError::Unavailable(e.to_string()))?;
        Ok(self.current())
    }
}
