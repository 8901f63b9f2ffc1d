//! The connectors in `<data dir>/connectors/connectors.json`, for a gateway without a database.
//!
//! The file is a [`JsonFile`]: every change reads it, changes it and writes it whole under an
//! exclusive lock, so gateways sharing a data directory never lose each other's changes or
//! flip the same change twice, a claim's lease (`claimed_until`) is held by one of them at a
//! time, and a crash leaves the old file or the new one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::freshness::ConnectorStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::{Connector, ConnectorStore, ConnectorStoreError};
use crate::json_file::{JsonFile, JsonFileError};

/// The file's name.
const FILE_NAME: &str = "connectors.json";
/// The file's format version; a file of another version is refused, not rewritten.
const FORMAT: u32 = 1;

type Connectors = BTreeMap<(String, String), Connector>;

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: u32,
    connectors: Vec<Connector>,
}

impl Default for Document {
    fn default() -> Self {
        Self {
            format: FORMAT,
            connectors: Vec::new(),
        }
    }
}

impl Document {
    /// The connectors by (tenant, id), unless the file is of another version.
    fn connectors(&self) -> Result<Connectors, String> {
        if self.format != FORMAT {
            return Err(format!(
                "format {} is not {FORMAT}; it was written by another version",
                self.format
            ));
        }
        Ok(self
            .connectors
            .iter()
            .map(|c| ((c.tenant_id.clone(), c.id.clone()), c.clone()))
            .collect())
    }
}

/// The connectors in one JSON file in the data directory, replaced whole under a lock on
/// every change.
#[derive(Debug, Clone)]
pub struct FileConnectorStore {
    file: JsonFile,
}

impl FileConnectorStore {
    /// Opens (creating it when missing) the store in `dir`, and reads the file once to check it.
    pub async fn open(dir: PathBuf) -> Result<Self, ConnectorStoreError> {
        let location = dir.join(FILE_NAME).display().to_string();
        let failed = move |reason: String| ConnectorStoreError::File {
            location: location.clone(),
            reason,
        };
        let opened = tokio::task::spawn_blocking(move || JsonFile::open(dir, FILE_NAME))
            .await
            .map_err(|e| ConnectorStoreError::Unavailable(format!("connector file task: {e}")))?
            .map_err(|e| failed(e.to_string()))?;
        let store = Self { file: opened };
        store.run(|store| store.read().map(drop)).await?;
        Ok(store)
    }

    fn path(&self) -> PathBuf {
        self.file.path()
    }

    fn failed(&self, reason: &str) -> ConnectorStoreError {
        ConnectorStoreError::File {
            location: self.path().display().to_string(),
            reason: reason.to_owned(),
        }
    }

    /// The file's failure, said as this store says it (the path is the error's location).
    fn file_failed(&self, error: JsonFileError) -> ConnectorStoreError {
        match error {
            JsonFileError::Io { source, .. } => self.failed(&source.to_string()),
            JsonFileError::Corrupt { reason, .. } => self.failed(&format!(
                "not a connector file: {}",
                reason.trim_start_matches("not the expected document: ")
            )),
        }
    }

    fn read(&self) -> Result<Connectors, ConnectorStoreError> {
        let document: Document = self.file.read().map_err(|e| self.file_failed(e))?;
        document.connectors().map_err(|reason| self.failed(&reason))
    }

    /// Reads, changes and (when `change` says it changed something) writes the file, under
    /// the lock.
    fn modify<T>(
        &self,
        change: impl FnOnce(&mut Connectors) -> (bool, T),
    ) -> Result<T, ConnectorStoreError> {
        let mut answer = None;
        self.file
            .modify(|document: &mut Document| {
                let mut connectors = document.connectors()?;
                let (changed, answered) = change(&mut connectors);
                answer = Some(answered);
                if changed {
                    document.connectors = connectors.into_values().collect();
                }
                Ok(changed)
            })
            .map_err(|e| self.file_failed(e))?
            .map_err(|reason: String| self.failed(&reason))?;
        Ok(answer.expect("the change ran"))
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
