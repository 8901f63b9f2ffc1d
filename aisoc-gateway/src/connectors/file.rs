//! The connectors in `<data dir>/connectors/connectors.json`, for a gateway without a database.
//!
//! Every change reads the file, changes it and writes it whole (temporary file, fsync, rename,
//! fsync of the directory) under an exclusive `flock` on `LOCK` beside it: a crash leaves the
//! old file or the new one, and gateways sharing a data directory never lose each other's
//! changes or flip the same change twice, and a claim's lease (`claimed_until`) is held by one
//! of them at a time. Readers need no lock, because a rename is atomic. The file is created with mode 0600 and the directory with 0700.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aisoc_notify_core::async_trait;
use aisoc_notify_core::freshness::ConnectorStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::{Connector, ConnectorStore, ConnectorStoreError};

/// The file's name.
const FILE_NAME: &str = "connectors.json";
/// The lock writers hold.
const LOCK_NAME: &str = "LOCK";
/// The file's format version; a file of another version is refused, not rewritten.
const FORMAT: u32 = 1;

type Connectors = BTreeMap<(String, String), Connector>;

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: u32,
    connectors: Vec<Connector>,
}

/// The connectors in one JSON file in the data directory, replaced whole under a lock on
/// every change.
#[derive(Debug, Clone)]
pub struct FileConnectorStore {
    dir: PathBuf,
}

impl FileConnectorStore {
    /// Opens (creating it when missing) the store in `dir`, and reads the file once to check it.
    pub async fn open(dir: PathBuf) -> Result<Self, ConnectorStoreError> {
        let store = Self { dir };
        store
            .run(|store| {
                create_private_dir(&store.dir).map_err(|e| store.failed(&e.to_string()))?;
                store.read().map(drop)
            })
            .await?;
        Ok(store)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn failed(&self, reason: &str) -> ConnectorStoreError {
        ConnectorStoreError::File {
            location: self.path().display().to_string(),
            reason: reason.to_owned(),
        }
    }

    fn read(&self) -> Result<Connectors, ConnectorStoreError> {
        let bytes = match std::fs::read(self.path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Connectors::new()),
            Err(e) => return Err(self.failed(&e.to_string())),
        };
        let document: Document = serde_json::from_slice(&bytes)
            .map_err(|e| self.failed(&format!("not a connector file: {e}")))?;
        if document.format != FORMAT {
            return Err(self.failed(&format!(
                "format {} is not {FORMAT}; it was written by another version",
                document.format
            )));
        }
        Ok(document
            .connectors
            .into_iter()
            .map(|c| ((c.tenant_id.clone(), c.id.clone()), c))
            .collect())
    }

    fn write(&self, connectors: &Connectors) -> Result<(), ConnectorStoreError> {
        let document = Document {
            format: FORMAT,
            connectors: connectors.values().cloned().collect(),
        };
        write_atomically(&self.dir, &self.path(), &document)
            .map_err(|e| self.failed(&e.to_string()))
    }

    /// Reads, changes and (when `change` says it changed something) writes the file, under
    /// the lock.
    fn modify<T>(
        &self,
        change: impl FnOnce(&mut Connectors) -> (bool, T),
    ) -> Result<T, ConnectorStoreError> {
        let lock_path = self.dir.join(LOCK_NAME);
        let lock = private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.failed(&e.to_string()))?;
        // Through fs4 rather than `File::lock`, which is newer than the workspace's MSRV.
        fs4::FileExt::lock(&lock).map_err(|e| self.failed(&e.to_string()))?;
        let mut connectors = self.read()?;
        let (changed, answer) = change(&mut connectors);
        if changed {
            self.write(&connectors)?;
        }
        drop(lock);
        Ok(answer)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, ConnectorStoreError> + Send + 'static,
    ) -> Result<T, ConnectorStoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| ConnectorStoreError::Unavailable(format!("connector file task: {e}")))?
    }

    async fn change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Connectors) -> (bool, T) + Send + 'static,
    ) -> Result<T, ConnectorStoreError> {
        self.run(move |store| store.modify(change)).await
    }
}

fn write_atomically(dir: &Path, path: &Path, document: &Document) -> std::io::Result<()> {
    use std::io::Write as _;
    let bytes = serde_json::to_vec_pretty(document).map_err(std::io::Error::other)?;
    let temp = dir.join(format!(
        "{FILE_NAME}.tmp-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut file = private_options().write(true).create_new(true).open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn private_options() -> std::fs::OpenOptions {
    #[allow(unused_mut, reason = "the mode is set on unix only")]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn key(tenant_id: &str, id: &str) -> (String, String) {
    (tenant_id.to_owned(), id.to_owned())
}

#[async_trait]
impl ConnectorStore for FileConnectorStore {
    async fn upsert(
        &self,
        tenant_id: &str,
        id: &str,
        name: &str,
        window_seconds: u32,
        now: DateTime<Utc>,
    ) -> Result<Connector, ConnectorStoreError> {
        let (tenant_id, id, name) = (tenant_id.to_owned(), id.to_owned(), name.to_owned());
        self.change(move |connectors| {
            let entry = connectors
                .entry(key(&tenant_id, &id))
                .or_insert_with(|| Connector {
                    tenant_id: tenant_id.clone(),
                    id: id.clone(),
                    name: name.clone(),
                    window_seconds,
                    registered_at: now,
                    last_heartbeat: None,
                    status: ConnectorStatus::Healthy,
                    status_changed_at: now,
                    generation: 0,
                    notified: 0,
                    claimed_until: None,
                });
            entry.name = name;
            entry.window_seconds = window_seconds;
            (true, entry.clone())
        })
        .await
    }

    async fn heartbeat(
        &self,
        tenant_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Connector>, ConnectorStoreError> {
        let key = key(tenant_id, id);
        self.change(move |connectors| match connectors.get_mut(&key) {
            Some(connector) => {
                connector.last_heartbeat = Some(now);
                if connector.status == ConnectorStatus::Stale {
                    connector.status = ConnectorStatus::Healthy;
                    connector.status_changed_at = now;
                    connector.generation += 1;
                }
                (true, Some(connector.clone()))
            }
            None => (false, None),
        })
        .await
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<Connector>, ConnectorStoreError> {
        let tenant_id = tenant_id.to_owned();
        self.run(move |store| {
            Ok(store
                .read()?
                .into_values()
                .filter(|c| c.tenant_id == tenant_id)
                .collect())
        })
        .await
    }

    async fn remove(&self, tenant_id: &str, id: &str) -> Result<bool, ConnectorStoreError> {
        let key = key(tenant_id, id);
        self.change(move |connectors| {
            let removed = connectors.remove(&key).is_some();
            (removed, removed)
        })
        .await
    }

    async fn mark_stale(&self, now: DateTime<Utc>) -> Result<usize, ConnectorStoreError> {
        self.change(move |connectors| {
            let mut flipped = 0;
            for connector in connectors.values_mut().filter(|c| c.overdue(now)) {
                connector.status = ConnectorStatus::Stale;
                connector.status_changed_at = now;
                connector.generation += 1;
                flipped += 1;
            }
            (flipped > 0, flipped)
        })
        .await
    }

    async fn claim_changes(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Vec<Connector>, ConnectorStoreError> {
        self.change(move |connectors| {
            let mut claimed = Vec::new();
            for connector in connectors.values_mut().filter(|c| {
                c.notified < c.generation && c.claimed_until.is_none_or(|until| until <= now)
            }) {
                connector.claimed_until = Some(now + lease);
                claimed.push(connector.clone());
            }
            (!claimed.is_empty(), claimed)
        })
        .await
    }

    async fn acknowledge(&self, claimed: &Connector) -> Result<(), ConnectorStoreError> {
        let claimed = claimed.clone();
        self.change(move |connectors| {
            match connectors.get_mut(&key(&claimed.tenant_id, &claimed.id)) {
                // `registered_at` tells this registration from one made after a removal.
                Some(connector)
                    if connector.registered_at == claimed.registered_at
                        && connector.generation >= claimed.generation =>
                {
                    connector.notified = connector.notified.max(claimed.generation);
                    if connector.claimed_until == claimed.claimed_until {
                        connector.claimed_until = None;
                    }
                    (true, ())
                }
                _ => (false, ()),
            }
        })
        .await
    }

    async fn release(&self, claimed: &Connector) -> Result<(), ConnectorStoreError> {
        let claimed = claimed.clone();
        self.change(move |connectors| {
            match connectors.get_mut(&key(&claimed.tenant_id, &claimed.id)) {
                Some(connector)
                    if claimed.claimed_until.is_some()
                        && connector.claimed_until == claimed.claimed_until =>
                {
                    connector.claimed_until = None;
                    (true, ())
                }
                _ => (false, ()),
            }
        })
        .await
    }

    fn describe(&self) -> String {
        format!("file {}", self.path().display())
    }
}
