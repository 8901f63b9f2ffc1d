//! Where notification channels are kept, so they outlive the process and every replica routes
//! through the same ones under the same ids.
//!
//! Channels used to live in each process's memory under ids it drew itself: a restart lost them,
//! and a retry queued on the shared outbox by one replica named a channel id no other replica
//! had, so it was dead-lettered as gone. A [`ChannelStore`] keeps them instead; the registry
//! ([`crate::channels`]) loads them at start, writes through on every change, and re-reads them
//! when the store's [revision](ChannelStore::revision) moves.
//!
//! | store | when | secrets |
//! |---|---|---|
//! | [`PgChannelStore`] | `DATABASE_URL` is set | always sealed with `AISOC_DATA_KEY`; without a key, saving a channel is refused with a message naming the setting |
//! | [`FileChannelStore`] | otherwise: `<data dir>/channels/channels.json` | sealed when `AISOC_DATA_KEY` is set, else in clear in a file only its owner can read (mode 0600) |
//!
//! A channel's configuration (URLs that embed tokens, bot tokens, signing secrets) is sealed as
//! one value bound to the channel id (`channel:<id>`, see [`aisoc_notify_core::sealed`]), so a
//! sealed configuration copied onto another channel does not open. Its type, name, event types
//! and switch stay readable, for an operator looking at the table. Values sealed under an older
//! key are sealed again under the current one when a store is opened, so after a rotation the old
//! key can be retired once every replica has started with the new one.
//!
//! Channel ids are assigned by the gateway (`ch_` and 15 random base32 characters) and never
//! change once stored.
//!
//! The routing [rules](crate::rules) live in the same store, under the same revision: a replica
//! that reloads reads channels and rules in one snapshot, so it never routes by a rule whose
//! channel it has not loaded yet. The store keeps the two consistent itself, in the same
//! transaction (or under the same file lock) as the change: a rule naming a channel that is not
//! stored is refused ([`ChannelStoreError::NoSuchChannel`]; `console` always exists), and so is
//! deleting a channel a rule still names ([`ChannelStoreError::ChannelInUse`]), so no replica's
//! rule silently stops delivering. Rules hold no secrets and are stored in clear.
//!
//! ```
//! use std::sync::Arc;
//! use aisoc_gateway::channel_store::{ChannelStore, FileChannelStore, StoredChannel};
//! use aisoc_notify_core::sealed::DataKeys;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("channels-doc-{}", std::process::id()));
//! let keys = DataKeys::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
//! let store = FileChannelStore::open(&dir, Some(Arc::new(keys))).await.unwrap();
//! let channel = StoredChannel {
//!     id: "ch_doc".into(),
//!     channel_type: "webhook".into(),
//!     name: "SOC webhook".into(),
//!     config: serde_json::json!({"url": "https://hooks.example/T0/token"})
//!         .as_object().unwrap().clone(),
//!     event_types: Vec::new(),
//!     enabled: true,
//! };
//! store.insert(&channel).await.unwrap();
//! assert_eq!(store.list().await.unwrap().channels, [channel]);
//! assert!(!std::fs::read_to_string(store.path()).unwrap().contains("token"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```

mod file;
mod postgres;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::notification::EventType;
use aisoc_notify_core::sealed::{DATA_KEY_VARIABLE, DataKeys, SealError};
use serde_json::{Map, Value};

pub use self::file::FileChannelStore;
pub use self::postgres::PgChannelStore;
pub use crate::rules::StoredRule;

/// A channel as it is stored: its configuration in clear (stores seal it on the way out).
#[derive(Clone, PartialEq)]
pub struct StoredChannel {
    /// The id the gateway assigned; never changes.
    pub id: String,
    /// `slack`, `teams`, `mattermost` or `webhook`.
    pub channel_type: String,
    /// The display name.
    pub name: String,
    /// The type's configuration, secrets included.
    pub config: Map<String, Value>,
    /// The event types it receives; empty means all.
    pub event_types: Vec<EventType>,
    /// Whether it receives notifications.
    pub enabled: bool,
}

impl std::fmt::Debug for StoredChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredChannel")
            .field("id", &self.id)
            .field("channel_type", &self.channel_type)
            .field("name", &self.name)
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Every stored channel, and the revision they were read at.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSnapshot {
    /// Moves on every change; equal revisions mean the same channels.
    pub revision: u64,
    /// The channels, by id.
    pub channels: Vec<StoredChannel>,
    /// The routing rules, by id.
    pub rules: Vec<StoredRule>,
}

/// Why the channel store could not answer. Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelStoreError {
    /// The database or the file system failed; nothing was changed.
    #[error("the channel store is unavailable: {0}")]
    Unavailable(String),
    /// This store keeps secrets only sealed, and no data key is configured.
    #[error(
        "channel secrets are stored in PostgreSQL only encrypted: set {DATA_KEY_VARIABLE} to \
         k1:<base64 of 32 random bytes> (head -c 32 /dev/urandom | base64) and restart"
    )]
    KeyRequired,
    /// A stored channel's configuration could not be opened.
    #[error("notification channel '{id}': {source}")]
    Sealed {
        /// The channel.
        id: String,
        /// Why (a missing key names its id).
        source: SealError,
    },
    /// A rule names a channel that is not stored (it was never created, or was just deleted).
    #[error("no notification channel '{channel}'")]
    NoSuchChannel {
        /// The channel id the rule names.
        channel: String,
    },
    /// A channel cannot be deleted while rules name it: they would silently stop delivering.
    #[error(
        "notification channel '{channel}' is used by {}: remove it from them (or delete them) first",
        rules.join(", ")
    )]
    ChannelInUse {
        /// The channel.
        channel: String,
        /// The rules naming it, as `'<name>' (<id>)`.
        rules: Vec<String>,
    },
    /// The stored data is not what this version writes.
    #[error("{location}: {reason}")]
    Corrupt {
        /// The file or table.
        location: String,
        /// What is wrong.
        reason: String,
    },
}

/// Keeps notification channels. Implementations are shared by every replica that should route
/// alike (one database), or by the processes on one data directory (one file).
#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Every channel, with the revision they were read at (one consistent view).
    async fn list(&self) -> Result<ChannelSnapshot, ChannelStoreError>;

    /// The current revision: cheap, for deciding whether to [`list`](Self::list) again.
    async fn revision(&self) -> Result<u64, ChannelStoreError>;

    /// Stores a new channel (its id is not in use).
    async fn insert(&self, channel: &StoredChannel) -> Result<(), ChannelStoreError>;

    /// Replaces channel `channel.id`; `false` when there is none.
    async fn update(&self, channel: &StoredChannel) -> Result<bool, ChannelStoreError>;

    /// Removes channel `id`; `false` when there is none. Refused with
    /// [`ChannelStoreError::ChannelInUse`] while a rule names it.
    async fn delete(&self, id: &str) -> Result<bool, ChannelStoreError>;

    /// Stores a new rule (its id is not in use). Refused with
    /// [`ChannelStoreError::NoSuchChannel`] when one of its channels is neither stored nor
    /// [`console`](crate::rules::CONSOLE_CHANNEL_ID).
    async fn insert_rule(&self, rule: &StoredRule) -> Result<(), ChannelStoreError>;

    /// Replaces rule `rule.id`, its channels checked as by [`insert_rule`](Self::insert_rule);
    /// `false` when there is none.
    async fn update_rule(&self, rule: &StoredRule) -> Result<bool, ChannelStoreError>;

    /// Removes rule `id`; `false` when there is none.
    async fn delete_rule(&self, id: &str) -> Result<bool, ChannelStoreError>;

    /// Resolves when another process may have changed the channels (PostgreSQL `NOTIFY`), so a
    /// replica reloads at once instead of at its next poll. Stores without such a signal never
    /// resolve; polling [`revision`](Self::revision) covers them, and any signal missed.
    async fn changed(&self) {
        std::future::pending::<()>().await;
    }

    /// Where the channels are, for the start-up banner (no credentials).
    fn describe(&self) -> String;
}

/// What a configuration is sealed for: its channel, so it cannot be moved to another.
fn seal_context(id: &str) -> String {
    format!("channel:{id}")
}

/// Seals channel `id`'s configuration under the current data key.
fn seal_config(
    keys: &DataKeys,
    id: &str,
    config: &Map<String, Value>,
) -> Result<String, ChannelStoreError> {
    let plaintext = serde_json::to_vec(config).map_err(|e| ChannelStoreError::Corrupt {
        location: format!("channel '{id}'"),
        reason: e.to_string(),
    })?;
    keys.seal(&plaintext, &seal_context(id))
        .map_err(|source| ChannelStoreError::Sealed {
            id: id.to_owned(),
            source,
        })
}

/// Opens channel `id`'s sealed configuration.
fn open_config(
    keys: Option<&DataKeys>,
    id: &str,
    sealed: &str,
) -> Result<Map<String, Value>, ChannelStoreError> {
    let failed = |source| ChannelStoreError::Sealed {
        id: id.to_owned(),
        source,
    };
    let Some(keys) = keys else {
        let key_id = aisoc_notify_core::sealed::key_id_of(sealed).map_err(failed)?;
        return Err(failed(SealError::UnknownKey {
            key_id: key_id.to_owned(),
        }));
    };
    let plaintext = keys.open(sealed, &seal_context(id)).map_err(failed)?;
    serde_json::from_slice(&plaintext).map_err(|e| ChannelStoreError::Corrupt {
        location: format!("channel '{id}'"),
        reason: format!("its opened configuration is not a JSON object: {e}"),
    })
}

/// The contract every channel store keeps, run against each of them.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;
    use serde_json::json;

    pub(crate) fn channel(id: &str, url: &str) -> StoredChannel {
        StoredChannel {
            id: id.to_owned(),
            channel_type: "webhook".into(),
            name: format!("hook {id}"),
            config: json!({"url": url, "secret": "s3cr3t-signing"})
                .as_object()
                .unwrap()
                .clone(),
            event_types: vec![EventType::P0Alert, EventType::Custom("drift".into())],
            enabled: true,
        }
    }

    /// Inserts, updates and deletes come back from `list` as written, each moves the revision,
    /// and changing or removing an unknown id answers `false` and changes nothing.
    pub(crate) async fn writes_read_back_and_move_the_revision(store: &dyn ChannelStore) {
        let empty = store.list().await.unwrap();
        assert!(
            empty.channels.is_empty() && empty.rules.is_empty(),
            "{empty:?}"
        );
        assert_eq!(store.revision().await.unwrap(), empty.revision);

        let a = channel("ch_a", "https://hooks.example/a?token=one");
        let b = channel("ch_b", "https://hooks.example/b");
        store.insert(&a).await.unwrap();
        let after_a = store.revision().await.unwrap();
        assert!(after_a > empty.revision);
        store.insert(&b).await.unwrap();
        let listed = store.list().await.unwrap();
        assert!(listed.revision > after_a);
        assert_eq!(listed.channels, [a.clone(), b.clone()]);

        let renamed = StoredChannel {
            name: "renamed".into(),
            enabled: false,
            event_types: Vec::new(),
            config: json!({"url": "https://hooks.example/a2"})
                .as_object()
                .unwrap()
                .clone(),
            ..a.clone()
        };
        assert!(store.update(&renamed).await.unwrap());
        let missing = channel("ch_missing", "https://hooks.example/m");
        let before = store.revision().await.unwrap();
        assert!(!store.update(&missing).await.unwrap());
        assert!(!store.delete("ch_missing").await.unwrap());
        assert_eq!(store.revision().await.unwrap(), before, "nothing changed");

        assert!(store.delete("ch_b").await.unwrap());
        let last = store.list().await.unwrap();
        assert!(last.revision > before);
        assert_eq!(last.channels, [renamed]);
    }

    /// A second handle on the same storage (a restarted process, another replica) sees what
    /// the first wrote, at the same revision.
    pub(crate) async fn another_handle_sees_the_writes(
        first: &dyn ChannelStore,
        second: &dyn ChannelStore,
    ) {
        let a = channel("ch_shared", "https://hooks.example/shared?token=t");
        first.insert(&a).await.unwrap();
        let seen = second.list().await.unwrap();
        assert_eq!(seen.channels, std::slice::from_ref(&a));
        assert_eq!(seen.revision, first.revision().await.unwrap());
        let routed = rule("rl_shared", &[a.id.as_str()]);
        second.insert_rule(&routed).await.unwrap();
        assert_eq!(
            first.list().await.unwrap().rules,
            std::slice::from_ref(&routed)
        );
        assert!(matches!(
            first.delete(&a.id).await,
            Err(ChannelStoreError::ChannelInUse { .. })
        ));
        assert!(first.delete_rule(&routed.id).await.unwrap());
        assert!(second.delete(&a.id).await.unwrap());
        assert!(first.list().await.unwrap().channels.is_empty());
        assert_eq!(
            first.revision().await.unwrap(),
            second.revision().await.unwrap()
        );
    }

    pub(crate) fn rule(id: &str, channels: &[&str]) -> StoredRule {
        StoredRule {
            id: id.to_owned(),
            name: format!("rule {id}"),
            event_types: vec![EventType::P0Alert],
            min_severity: Some(aisoc_notify_core::notification::Severity::High),
            tenant_id: Some("acme".into()),
            tags: vec!["pci".into()],
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            enabled: true,
        }
    }

    /// Rules read back with the channels under one revision; a rule naming a channel that is
    /// not stored is refused, and so is deleting a channel a rule names, each changing nothing.
    pub(crate) async fn rules_move_the_revision_and_keep_their_channels(store: &dyn ChannelStore) {
        let a = channel("ch_ruled", "https://hooks.example/ruled");
        store.insert(&a).await.unwrap();
        let first = rule("rl_first", &["ch_ruled", crate::rules::CONSOLE_CHANNEL_ID]);
        let before = store.revision().await.unwrap();
        store.insert_rule(&first).await.unwrap();
        let listed = store.list().await.unwrap();
        assert!(listed.revision > before);
        assert!(listed.channels.contains(&a), "{listed:?}");
        assert_eq!(listed.rules, std::slice::from_ref(&first));

        let unchanged = listed.revision;
        let dangling = rule("rl_dangling", &["ch_ruled", "ch_missing"]);
        let refused = store.insert_rule(&dangling).await.unwrap_err();
        assert!(
            matches!(&refused, ChannelStoreError::NoSuchChannel { channel } if channel == "ch_missing"),
            "{refused}"
        );
        let refused = store
            .update_rule(&StoredRule {
                channels: vec!["ch_missing".into()],
                ..first.clone()
            })
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ChannelStoreError::NoSuchChannel { .. }),
            "{refused}"
        );
        let in_use = store.delete("ch_ruled").await.unwrap_err();
        assert!(
            matches!(&in_use, ChannelStoreError::ChannelInUse { channel, rules }
                if channel == "ch_ruled" && rules == &["'rule rl_first' (rl_first)".to_owned()]),
            "{in_use}"
        );
        assert!(
            !store
                .update_rule(&rule("rl_missing", &["ch_ruled"]))
                .await
                .unwrap()
        );
        assert!(!store.delete_rule("rl_missing").await.unwrap());
        let still = store.list().await.unwrap();
        assert_eq!(still.revision, unchanged, "nothing changed");
        assert_eq!(
            (still.channels, still.rules),
            (listed.channels, listed.rules)
        );

        let console_only = StoredRule {
            name: "console only".into(),
            event_types: Vec::new(),
            min_severity: None,
            tenant_id: None,
            tags: Vec::new(),
            channels: vec![crate::rules::CONSOLE_CHANNEL_ID.into()],
            enabled: false,
            ..first.clone()
        };
        assert!(store.update_rule(&console_only).await.unwrap());
        assert!(store.revision().await.unwrap() > unchanged);
        assert!(
            store.delete("ch_ruled").await.unwrap(),
            "no rule names it now"
        );
        assert_eq!(store.list().await.unwrap().rules, [console_only]);
        assert!(store.delete_rule("rl_first").await.unwrap());
        let last = store.list().await.unwrap();
        assert!(last.rules.is_empty(), "{last:?}");
        assert!(!last.channels.contains(&a), "{last:?}");
    }

    #[test]
    fn a_stored_channel_never_prints_its_configuration() {
        let shown = format!("{:?}", channel("ch_a", "https://hooks.example/a?token=one"));
        assert!(!shown.contains("token=one"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("config_keys"), "{shown}");
    }
}
