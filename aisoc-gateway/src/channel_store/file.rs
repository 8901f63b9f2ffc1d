//! The channels in one JSON file in the data directory, for a gateway without a database.
//!
//! `<data dir>/channels/channels.json` is replaced whole on every change: the new version goes
//! to a temporary file beside it, is fsynced, renamed over the old one, and the directory is
//! fsynced. A crash leaves the old file or the new one, never half of one; a temporary file a
//! crash left behind is ignored, and removed the next time a store opens the directory.
//!
//! Writers hold an exclusive lock (`flock` on `LOCK`) from reading the file to renaming the new
//! one, so gateways sharing a data directory never lose each other's changes; readers need no
//! lock, because a rename is atomic. The file is created with mode 0600 and the directory with
//! 0700. Configurations are sealed when `AISOC_DATA_KEY` is set; without it they are kept in
//! clear, readable by the file's owner only, and sealed the first time a store opens the file
//! with a key.
//!
//! Routing rules are kept in the same file (no secrets, so in clear), changed under the same
//! lock and revision. A file holding rules is written as format 2, so a gateway older than
//! rules refuses it rather than rewriting it without them; without rules it stays format 1.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::notification::EventType;
use aisoc_notify_core::sealed::DataKeys;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    ChannelSnapshot, ChannelStore, ChannelStoreError, StoredChannel, StoredRule, open_config,
    seal_config,
};

/// The file's format version without rules; a file of another version is refused, not
/// rewritten.
const FORMAT: u32 = 1;
/// The format of a file that holds rules, which versions before rules must not rewrite.
const FORMAT_WITH_RULES: u32 = 2;
/// The file the channels are in.
const FILE_NAME: &str = "channels.json";
/// The lock writers hold.
const LOCK_NAME: &str = "LOCK";
/// How temporary files start (a crash may leave one behind).
const TEMP_PREFIX: &str = "channels.json.tmp-";

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: u32,
    revision: u64,
    #[serde(default)]
    channels: Vec<FileChannel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rules: Vec<StoredRule>,
}

impl Default for Document {
    fn default() -> Self {
        Self {
            format: FORMAT,
            revision: 0,
            channels: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// One channel in the file: its configuration either sealed or, without a key, in clear.
#[derive(Debug, Serialize, Deserialize)]
struct FileChannel {
    id: String,
    channel_type: String,
    name: String,
    #[serde(default)]
    event_types: Vec<EventType>,
    enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config_sealed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<Map<String, Value>>,
}

/// The channels in `<data dir>/channels/channels.json`.
#[derive(Clone)]
pub struct FileChannelStore {
    dir: PathBuf,
    keys: Option<Arc<DataKeys>>,
}

impl std::fmt::Debug for FileChannelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileChannelStore")
            .field("dir", &self.dir)
            .field("sealed", &self.keys.is_some())
            .finish()
    }
}

fn io_failure(path: &Path, error: std::io::Error) -> ChannelStoreError {
    ChannelStoreError::Unavailable(format!("{}: {error}", path.display()))
}

impl FileChannelStore {
    /// Opens (creating when missing) the channel file in `dir`, removes temporary files a
    /// crash left, and seals again, under the current key, configurations that are in clear
    /// or under an older key.
    pub async fn open(
        dir: impl Into<PathBuf>,
        keys: Option<Arc<DataKeys>>,
    ) -> Result<Self, ChannelStoreError> {
        let store = Self {
            dir: dir.into(),
            keys,
        };
        let opening = store.clone();
        blocking(move || opening.prepare()).await?;
        Ok(store)
    }

    /// The channel file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn prepare(&self) -> Result<(), ChannelStoreError> {
        create_private_dir(&self.dir).map_err(|e| io_failure(&self.dir, e))?;
        let _lock = self.lock()?;
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io_failure(&self.dir, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                tracing::info!(file = %entry.path().display(), "removing a channel file a crash left half-written");
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let Some(keys) = self.keys.as_deref() else {
            return Ok(());
        };
        let mut document = self.read()?;
        let mut resealed = 0;
        for channel in &mut document.channels {
            let stale = match &channel.config_sealed {
                Some(sealed) => keys.needs_reseal(sealed),
                None => true,
            };
            if stale {
                let stored = self.to_stored(channel)?;
                channel.config_sealed = Some(seal_config(keys, &stored.id, &stored.config)?);
                channel.config = None;
                resealed += 1;
            }
        }
        if resealed > 0 {
            // The same channels, so the same revision: nobody needs to reload.
            self.write(&document)?;
            tracing::info!(
                resealed,
                key = keys.current_key_id(),
                "notification channel configurations sealed under the current data key"
            );
        }
        Ok(())
    }

    /// Holds the writers' lock until the returned file is dropped.
    fn lock(&self) -> Result<File, ChannelStoreError> {
        let path = self.dir.join(LOCK_NAME);
        let file = private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_failure(&path, e))?;
        // Through fs4 rather than `File::lock`, which is newer than the workspace's MSRV.
        fs4::FileExt::lock(&file).map_err(|e| io_failure(&path, e))?;
        Ok(file)
    }

    fn read(&self) -> Result<Document, ChannelStoreError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Document::default());
            }
            Err(error) => return Err(io_failure(&path, error)),
        };
        let document: Document =
            serde_json::from_slice(&bytes).map_err(|e| ChannelStoreError::Corrupt {
                location: path.display().to_string(),
                reason: format!("not a channel file: {e}"),
            })?;
        if !(FORMAT..=FORMAT_WITH_RULES).contains(&document.format) {
            return Err(ChannelStoreError::Corrupt {
                location: path.display().to_string(),
                reason: format!(
                    "format {} is not {FORMAT} or {FORMAT_WITH_RULES}; it was written by another \
                     version",
                    document.format
                ),
            });
        }
        Ok(document)
    }

    /// Replaces the file: temporary file, fsync, rename, fsync of the directory.
    fn write(&self, document: &Document) -> Result<(), ChannelStoreError> {
        let bytes =
            serde_json::to_vec_pretty(document).map_err(|e| ChannelStoreError::Corrupt {
                location: self.path().display().to_string(),
                reason: e.to_string(),
            })?;
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = (|| {
            let mut file = private_options().write(true).create_new(true).open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&temp, self.path())?;
            File::open(&self.dir)?.sync_all()
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            io_failure(&self.path(), e)
        })
    }

    /// Reads, changes and writes the file under the lock; `change` answers whether it changed
    /// anything (nothing is written, and the revision stays, when it did not).
    fn modify(
        &self,
        change: impl FnOnce(&Self, &mut Document) -> Result<bool, ChannelStoreError>,
    ) -> Result<bool, ChannelStoreError> {
        let _lock = self.lock()?;
        let mut document = self.read()?;
        if !change(self, &mut document)? {
            return Ok(false);
        }
        document.revision += 1;
        document.format = if document.rules.is_empty() {
            FORMAT
        } else {
            FORMAT_WITH_RULES
        };
        self.write(&document)?;
        Ok(true)
    }

    fn to_stored(&self, channel: &FileChannel) -> Result<StoredChannel, ChannelStoreError> {
        let config = match (&channel.config_sealed, &channel.config) {
            (Some(sealed), None) => open_config(self.keys.as_deref(), &channel.id, sealed)?,
            (None, Some(config)) => config.clone(),
            _ => {
                return Err(ChannelStoreError::Corrupt {
                    location: self.path().display().to_string(),
                    reason: format!(
                        "channel '{}' needs exactly one of config and config_sealed",
                        channel.id
                    ),
                });
            }
        };
        Ok(StoredChannel {
            id: channel.id.clone(),
            channel_type: channel.channel_type.clone(),
            name: channel.name.clone(),
            config,
            event_types: channel.event_types.clone(),
            enabled: channel.enabled,
        })
    }

    fn to_file(&self, channel: &StoredChannel) -> Result<FileChannel, ChannelStoreError> {
        let (config_sealed, config) = match self.keys.as_deref() {
            Some(keys) => (Some(seal_config(keys, &channel.id, &channel.config)?), None),
            None => (None, Some(channel.config.clone())),
        };
        Ok(FileChannel {
            id: channel.id.clone(),
            channel_type: channel.channel_type.clone(),
            name: channel.name.clone(),
            event_types: channel.event_types.clone(),
            enabled: channel.enabled,
            config_sealed,
            config,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, ChannelStoreError> + Send + 'static,
    ) -> Result<T, ChannelStoreError> {
        let store = self.clone();
        blocking(move || work(&store)).await
    }
}

/// Refuses `rule` when one of its channels is neither in `document` nor the console.
fn check_channels(document: &Document, rule: &StoredRule) -> Result<(), ChannelStoreError> {
    let missing = rule.channels.iter().find(|id| {
        id.as_str() != crate::rules::CONSOLE_CHANNEL_ID
            && !document.channels.iter().any(|c| &c.id == *id)
    });
    match missing {
        Some(channel) => Err(ChannelStoreError::NoSuchChannel {
            channel: channel.clone(),
        }),
        None => Ok(()),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ChannelStoreError> + Send + 'static,
) -> Result<T, ChannelStoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ChannelStoreError::Unavailable(format!("channel file task failed: {e}")))?
}

#[cfg(unix)]
fn private_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = OpenOptions::new();
    options.mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> OpenOptions {
    OpenOptions::new()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[async_trait]
impl ChannelStore for FileChannelStore {
    async fn list(&self) -> Result<ChannelSnapshot, ChannelStoreError> {
        self.run(|store| {
            let document = store.read()?;
            let mut channels = document
                .channels
                .iter()
                .map(|c| store.to_stored(c))
                .collect::<Result<Vec<_>, _>>()?;
            channels.sort_by(|a, b| a.id.cmp(&b.id));
            let mut rules = document.rules;
            rules.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(ChannelSnapshot {
                revision: document.revision,
                channels,
                rules,
            })
        })
        .await
    }

    async fn revision(&self) -> Result<u64, ChannelStoreError> {
        self.run(|store| Ok(store.read()?.revision)).await
    }

    async fn insert(&self, channel: &StoredChannel) -> Result<(), ChannelStoreError> {
        let channel = channel.clone();
        self.run(move |store| {
            store.modify(|store, Document { channels, .. }| {
                if channels.iter().any(|c| c.id == channel.id) {
                    return Err(ChannelStoreError::Unavailable(format!(
                        "channel id '{}' is already in use",
                        channel.id
                    )));
                }
                channels.push(store.to_file(&channel)?);
                Ok(true)
            })
        })
        .await
        .map(|_| ())
    }

    async fn update(&self, channel: &StoredChannel) -> Result<bool, ChannelStoreError> {
        let channel = channel.clone();
        self.run(move |store| {
            store.modify(|store, Document { channels, .. }| {
                match channels.iter_mut().find(|c| c.id == channel.id) {
                    Some(slot) => {
                        *slot = store.to_file(&channel)?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            })
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<bool, ChannelStoreError> {
        let id = id.to_owned();
        self.run(move |store| {
            store.modify(|_, document| {
                let naming: Vec<String> = document
                    .rules
                    .iter()
                    .filter(|rule| rule.channels.contains(&id))
                    .map(StoredRule::label)
                    .collect();
                if !naming.is_empty() && document.channels.iter().any(|c| c.id == id) {
                    return Err(ChannelStoreError::ChannelInUse {
                        channel: id,
                        rules: naming,
                    });
                }
                let before = document.channels.len();
                document.channels.retain(|c| c.id != id);
                Ok(document.channels.len() != before)
            })
        })
        .await
    }

    async fn insert_rule(&self, rule: &StoredRule) -> Result<(), ChannelStoreError> {
        let rule = rule.clone();
        self.run(move |store| {
            store.modify(|_, document| {
                if document.rules.iter().any(|r| r.id == rule.id) {
                    return Err(ChannelStoreError::Unavailable(format!(
                        "rule id '{}' is already in use",
                        rule.id
                    )));
                }
                check_channels(document, &rule)?;
                document.rules.push(rule);
                Ok(true)
            })
        })
        .await
        .map(|_| ())
    }

    async fn update_rule(&self, rule: &StoredRule) -> Result<bool, ChannelStoreError> {
        let rule = rule.clone();
        self.run(move |store| {
            store.modify(|_, document| {
                if !document.rules.iter().any(|r| r.id == rule.id) {
                    return Ok(false);
                }
                check_channels(document, &rule)?;
                if let Some(slot) = document.rules.iter_mut().find(|r| r.id == rule.id) {
                    *slot = rule;
                }
                Ok(true)
            })
        })
        .await
    }

    async fn delete_rule(&self, id: &str) -> Result<bool, ChannelStoreError> {
        let id = id.to_owned();
        self.run(move |store| {
            store.modify(|_, document| {
                let before = document.rules.len();
                document.rules.retain(|r| r.id != id);
                Ok(document.rules.len() != before)
            })
        })
        .await
    }

    fn describe(&self) -> String {
        match &self.keys {
            Some(_) => format!("{} (sealed with AISOC_DATA_KEY)", self.path().display()),
            None => format!(
                "{} (not encrypted, mode 0600; set AISOC_DATA_KEY to seal it)",
                self.path().display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    const KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "aisoc-channel-store-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            Self(dir.join("channels"))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if let Some(parent) = self.0.parent() {
                let _ = std::fs::remove_dir_all(parent);
            }
        }
    }

    fn keys(value: &str) -> Option<Arc<DataKeys>> {
        Some(Arc::new(DataKeys::parse(value).unwrap()))
    }

    #[tokio::test]
    async fn the_file_store_keeps_the_contract() {
        let dir = TempDir::new();
        let store = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        conformance::writes_read_back_and_move_the_revision(&store).await;
        conformance::rules_move_the_revision_and_keep_their_channels(&store).await;
    }

    #[tokio::test]
    async fn a_store_reopened_on_the_same_directory_sees_the_channels() {
        let dir = TempDir::new();
        let first = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        let second = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        conformance::another_handle_sees_the_writes(&first, &second).await;

        let kept = conformance::channel("ch_kept", "https://hooks.example/k");
        first.insert(&kept).await.unwrap();
        drop((first, second));
        let restarted = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        assert_eq!(restarted.list().await.unwrap().channels, [kept]);
    }

    #[tokio::test]
    async fn a_torn_temporary_file_is_ignored_and_removed() {
        let dir = TempDir::new();
        let store = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        let kept = conformance::channel("ch_kept", "https://hooks.example/k");
        store.insert(&kept).await.unwrap();
        // A crash in the middle of writing the next version.
        let torn = dir.0.join(format!("{TEMP_PREFIX}999-0000000000000001"));
        std::fs::write(&torn, br#"{"format":1,"revision":7,"channels":[{"id":"ch_"#).unwrap();

        let reopened = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        let snapshot = reopened.list().await.unwrap();
        assert_eq!(snapshot.channels, [kept]);
        assert_eq!(snapshot.revision, 1);
        assert!(!torn.exists(), "the torn file is cleaned up");
    }

    #[tokio::test]
    async fn secrets_are_sealed_in_the_file_and_the_file_is_private() {
        let dir = TempDir::new();
        let store = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        let marker = "marker-token-5f2c1a";
        let channel = conformance::channel("ch_m", &format!("https://hooks.example/T0/{marker}"));
        store.insert(&channel).await.unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(marker), "{text}");
        assert!(!text.contains("s3cr3t-signing"), "{text}");
        assert!(text.contains("sealed:v1:k1:"), "{text}");
        assert!(
            text.contains("hook ch_m"),
            "the name stays readable: {text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(store.list().await.unwrap().channels, [channel]);
    }

    #[tokio::test]
    async fn without_a_key_a_sealed_file_is_refused_naming_the_setting_and_a_key_seals_a_clear_one()
    {
        let dir = TempDir::new();
        let clear = FileChannelStore::open(&dir.0, None).await.unwrap();
        let channel = conformance::channel("ch_c", "https://hooks.example/clear-token");
        clear.insert(&channel).await.unwrap();
        assert!(
            std::fs::read_to_string(clear.path())
                .unwrap()
                .contains("clear-token")
        );

        // Configured with a key, the store seals what was in clear when it opens.
        let sealed = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        let text = std::fs::read_to_string(sealed.path()).unwrap();
        assert!(!text.contains("clear-token"), "{text}");
        assert_eq!(
            sealed.list().await.unwrap().channels,
            std::slice::from_ref(&channel)
        );

        // Back without the key: refused, with the setting and the key id in the message.
        let keyless = FileChannelStore::open(&dir.0, None).await.unwrap();
        let refused = keyless.list().await.unwrap_err();
        let message = refused.to_string();
        assert!(message.contains("AISOC_DATA_KEY"), "{message}");
        assert!(message.contains("'k1'"), "{message}");
        assert!(message.contains("ch_c"), "{message}");
    }

    #[tokio::test]
    async fn after_a_rotation_opening_the_store_seals_everything_under_the_new_key() {
        let dir = TempDir::new();
        let old = FileChannelStore::open(&dir.0, keys(KEY)).await.unwrap();
        let channel = conformance::channel("ch_r", "https://hooks.example/r");
        old.insert(&channel).await.unwrap();
        let rotated = format!("k2://////////////////////////////////////////8=,{KEY}");
        let new = FileChannelStore::open(&dir.0, keys(&rotated))
            .await
            .unwrap();
        let text = std::fs::read_to_string(new.path()).unwrap();
        assert!(
            text.contains("sealed:v1:k2:") && !text.contains("sealed:v1:k1:"),
            "{text}"
        );
        assert_eq!(
            new.revision().await.unwrap(),
            1,
            "re-sealing changes no channel"
        );
        // The old key can go now.
        let only_new = FileChannelStore::open(
            &dir.0,
            keys("k2://////////////////////////////////////////8="),
        )
        .await
        .unwrap();
        assert_eq!(only_new.list().await.unwrap().channels, [channel]);
    }

    #[tokio::test]
    async fn a_file_holding_rules_is_format_2_so_a_version_before_rules_cannot_drop_them() {
        let dir = TempDir::new();
        let store = FileChannelStore::open(&dir.0, None).await.unwrap();
        let format = || {
            let text = std::fs::read(store.path()).unwrap();
            serde_json::from_slice::<Value>(&text).unwrap()["format"].clone()
        };
        let channel = conformance::channel("ch_a", "https://hooks.example/a");
        store.insert(&channel).await.unwrap();
        assert_eq!(format(), 1);
        let rule = conformance::rule("rl_a", &["ch_a"]);
        store.insert_rule(&rule).await.unwrap();
        assert_eq!(format(), 2);
        let reopened = FileChannelStore::open(&dir.0, None).await.unwrap();
        assert_eq!(reopened.list().await.unwrap().rules, [rule]);
        assert!(reopened.delete_rule("rl_a").await.unwrap());
        assert_eq!(format(), 1);
    }

    #[tokio::test]
    async fn a_file_of_another_format_is_refused_not_overwritten() {
        let dir = TempDir::new();
        create_private_dir(&dir.0).unwrap();
        std::fs::write(dir.0.join(FILE_NAME), br#"{"format":3,"revision":3}"#).unwrap();
        let store = FileChannelStore::open(&dir.0, None).await.unwrap();
        let refused = store.list().await.unwrap_err();
        assert!(
            matches!(refused, ChannelStoreError::Corrupt { .. }),
            "{refused}"
        );
        assert!(
            store
                .insert(&conformance::channel("ch_x", "https://hooks.example/x"))
                .await
                .is_err()
        );
        assert_eq!(
            std::fs::read(dir.0.join(FILE_NAME)).unwrap(),
            br#"{"format":3,"revision":3}"#
        );
    }
}
