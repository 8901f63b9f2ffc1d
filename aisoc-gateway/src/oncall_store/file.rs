//! On-call statuses in `<data dir>/oncall/status.json`, for a gateway without a database.
//!
//! Every change is written whole and atomically under the writers' lock (the gateway's
//! [`json_file`](crate::json_file)); the fan-out reads a copy kept in memory,
//! refreshed from the file on every change this process makes. Gateways sharing one data
//! directory each see the others' changes when they next write or restart; replicas that
//! must agree at once use PostgreSQL.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use aisoc_notify_core::async_trait;
use aisoc_notify_webpush::manager::{OnCallStatus, OnCallStatusProvider};
use aisoc_notify_webpush::oncall::{
    OnCallEntry, OnCallStore, OnCallStoreError, OnCallTable, on_call,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::json_file::JsonFile;

const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: u32,
    #[serde(default)]
    entries: Vec<Entry>,
}

impl Default for Document {
    fn default() -> Self {
        Self {
            format: FORMAT,
            entries: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    tenant_id: String,
    user_id: String,
    status: OnCallStatus,
    updated_at: DateTime<Utc>,
}

type Statuses = OnCallTable;

/// On-call statuses in `<data dir>/oncall/status.json`.
#[derive(Clone)]
pub struct FileOnCallStore {
    file: JsonFile,
    cache: Arc<RwLock<Statuses>>,
}

impl std::fmt::Debug for FileOnCallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileOnCallStore")
            .field("path", &self.file.path())
            .finish_non_exhaustive()
    }
}

fn failure(error: impl std::fmt::Display) -> OnCallStoreError {
    OnCallStoreError(error.to_string())
}

fn statuses(document: &Document) -> Statuses {
    OnCallTable(
        document
            .entries
            .iter()
            .map(|e| {
                (
                    (e.tenant_id.clone(), e.user_id.clone()),
                    (e.status, e.updated_at),
                )
            })
            .collect(),
    )
}

impl FileOnCallStore {
    /// Opens (creating when missing) `status.json` in `dir` and loads it.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, String> {
        let dir = dir.into();
        let shown = dir.display().to_string();
        tokio::task::spawn_blocking(move || {
            let file = JsonFile::open(dir, "status.json").map_err(|e| e.to_string())?;
            let document: Document = file.read().map_err(|e| e.to_string())?;
            if document.format != FORMAT {
                return Err(format!(
                    "{}: format {} is not {FORMAT}; it was written by another version",
                    file.path().display(),
                    document.format
                ));
            }
            Ok(Self {
                cache: Arc::new(RwLock::new(statuses(&document))),
                file,
            })
        })
        .await
        .map_err(|e| format!("{shown}: {e}"))?
    }

    /// The status file.
    pub fn path(&self) -> PathBuf {
        self.file.path()
    }

    fn cached(&self) -> std::sync::RwLockReadGuard<'_, Statuses> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl OnCallStatusProvider for FileOnCallStore {
    async fn status(&self, tenant_id: &str, user_id: &str) -> OnCallStatus {
        self.cached().status(tenant_id, user_id)
    }

    async fn on_call_users(&self, tenant_id: &str) -> Result<Vec<String>, OnCallStoreError> {
        Ok(on_call(&self.cached().tenant(tenant_id)))
    }
}

#[async_trait]
impl OnCallStore for FileOnCallStore {
    async fn set(
        &self,
        tenant_id: &str,
        user_id: &str,
        status: OnCallStatus,
    ) -> Result<OnCallEntry, OnCallStoreError> {
        let entry = Entry {
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            status,
            updated_at: Utc::now(),
        };
        let store = self.clone();
        let written = entry.clone();
        tokio::task::spawn_blocking(move || {
            let document = store
                .file
                .modify(|document: &mut Document| {
                    if document.format != FORMAT {
                        return Err(format!("format {} is not {FORMAT}", document.format));
                    }
                    document.entries.retain(|e| {
                        !(e.tenant_id == written.tenant_id && e.user_id == written.user_id)
                    });
                    document.entries.push(written);
                    Ok(true)
                })
                .map_err(failure)?
                .map_err(failure)?;
            *store.cache.write().unwrap_or_else(|p| p.into_inner()) = statuses(&document);
            Ok::<_, OnCallStoreError>(())
        })
        .await
        .map_err(failure)??;
        Ok(OnCallEntry {
            user_id: entry.user_id,
            status: entry.status,
            updated_at: entry.updated_at,
        })
    }

    async fn get(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<OnCallEntry>, OnCallStoreError> {
        Ok(self.cached().entry(tenant_id, user_id))
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<OnCallEntry>, OnCallStoreError> {
        Ok(self.cached().tenant(tenant_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statuses_survive_a_restart_and_stay_in_their_tenant() {
        let dir = std::env::temp_dir().join(format!("oncall-{:016x}", rand::random::<u64>()));
        let store = FileOnCallStore::open(&dir).await.unwrap();
        store
            .set("acme", "alice", OnCallStatus::Offline)
            .await
            .unwrap();
        store
            .set("acme", "alice", OnCallStatus::Snoozed)
            .await
            .unwrap();
        store
            .set("globex", "bob", OnCallStatus::Busy)
            .await
            .unwrap();
        let again = FileOnCallStore::open(&dir).await.unwrap();
        assert_eq!(again.status("acme", "alice").await, OnCallStatus::Snoozed);
        assert_eq!(again.status("acme", "bob").await, OnCallStatus::Available);
        let acme = again.list("acme").await.unwrap();
        assert_eq!(acme.len(), 1);
        assert_eq!(acme[0].user_id, "alice");
        assert!(again.on_call_users("acme").await.unwrap().is_empty());
        assert_eq!(again.on_call_users("globex").await.unwrap(), ["bob"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
