//! The credentials in `<data dir>/itsm/credentials.json`, for a gateway without a database.
//!
//! The file is replaced whole and atomically under a writers' lock (see
//! [`json_file`](crate::json_file)). Settings are sealed when `AISOC_DATA_KEY` is set; without
//! it they are kept in clear in a file only its owner can read, and sealed the next time they
//! are saved with a key.

use std::path::PathBuf;
use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::sealed::DataKeys;
use aisoc_notify_itsm::credentials::{ItsmCredentials, ItsmSystem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ConfiguredSystem, ItsmStore, ItsmStoreError, configured, from_stored, open, seal};
use crate::json_file::{JsonFile, JsonFileError};

/// The file's format version; a file of another version is refused, not rewritten.
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

/// One tenant's settings for one system: sealed, or (without a key) in clear.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    tenant_id: String,
    system: String,
    set_fields: Vec<String>,
    updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<Value>,
}

impl Entry {
    fn is(&self, tenant_id: &str, system: ItsmSystem) -> bool {
        self.tenant_id == tenant_id && self.system == system.as_str()
    }
}

/// The credentials in `<data dir>/itsm/credentials.json`.
#[derive(Clone)]
pub struct FileItsmStore {
    file: JsonFile,
    keys: Option<Arc<DataKeys>>,
}

impl std::fmt::Debug for FileItsmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileItsmStore")
            .field("path", &self.file.path())
            .field("sealed", &self.keys.is_some())
            .finish()
    }
}

fn failure(error: JsonFileError) -> ItsmStoreError {
    match error {
        JsonFileError::Io { .. } => ItsmStoreError::Unavailable(error.to_string()),
        JsonFileError::Corrupt { path, reason } => ItsmStoreError::Corrupt {
            location: path,
            reason,
        },
    }
}

impl FileItsmStore {
    /// Opens (creating when missing) `credentials.json` in `dir`.
    pub async fn open(
        dir: impl Into<PathBuf>,
        keys: Option<Arc<DataKeys>>,
    ) -> Result<Self, ItsmStoreError> {
        let dir = dir.into();
        let file =
            blocking(move || JsonFile::open(dir, "credentials.json").map_err(failure)).await?;
        Ok(Self { file, keys })
    }

    /// The credential file.
    pub fn path(&self) -> PathBuf {
        self.file.path()
    }

    fn checked(&self, document: Document) -> Result<Document, ItsmStoreError> {
        if document.format != FORMAT {
            return Err(ItsmStoreError::Corrupt {
                location: self.path().display().to_string(),
                reason: format!(
                    "format {} is not {FORMAT}; it was written by another version",
                    document.format
                ),
            });
        }
        Ok(document)
    }

    fn credentials_of(
        &self,
        entry: &Entry,
        system: ItsmSystem,
    ) -> Result<ItsmCredentials, ItsmStoreError> {
        match (&entry.sealed, &entry.config) {
            (Some(sealed), None) => open(self.keys.as_deref(), &entry.tenant_id, system, sealed),
            (None, Some(config)) => from_stored(&entry.tenant_id, system, config.clone()),
            _ => Err(ItsmStoreError::Corrupt {
                location: self.path().display().to_string(),
                reason: format!(
                    "the {system} entry of tenant '{}' needs exactly one of sealed and config",
                    entry.tenant_id
                ),
            }),
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ItsmStoreError> + Send + 'static,
) -> Result<T, ItsmStoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ItsmStoreError::Unavailable(format!("credential file task failed: {e}")))?
}

#[async_trait]
impl ItsmStore for FileItsmStore {
    async fn put(
        &self,
        tenant_id: &str,
        credentials: &ItsmCredentials,
    ) -> Result<ConfiguredSystem, ItsmStoreError> {
        let system = credentials.system();
        let now = Utc::now();
        let shown = configured(credentials, now);
        let (sealed, config) = match self.keys.as_deref() {
            Some(keys) => (Some(seal(keys, tenant_id, credentials)?), None),
            None => (None, Some(credentials.to_stored_json())),
        };
        let entry = Entry {
            tenant_id: tenant_id.to_owned(),
            system: system.as_str().to_owned(),
            set_fields: shown.set_fields.clone(),
            updated_at: now,
            sealed,
            config,
        };
        let store = self.clone();
        blocking(move || {
            store
                .file
                .modify(|document: &mut Document| {
                    if document.format != FORMAT {
                        return Err(ItsmStoreError::Corrupt {
                            location: store.path().display().to_string(),
                            reason: format!(
                                "format {} is not {FORMAT}; it was written by another version",
                                document.format
                            ),
                        });
                    }
                    document.entries.retain(|e| !e.is(&entry.tenant_id, system));
                    document.entries.push(entry);
                    Ok(true)
                })
                .map_err(failure)?
                .map(|_| ())
        })
        .await?;
        Ok(shown)
    }

    async fn get(
        &self,
        tenant_id: &str,
        system: ItsmSystem,
    ) -> Result<Option<ItsmCredentials>, ItsmStoreError> {
        let store = self.clone();
        let tenant_id = tenant_id.to_owned();
        blocking(move || {
            let document = store.checked(store.file.read().map_err(failure)?)?;
            document
                .entries
                .iter()
                .find(|e| e.is(&tenant_id, system))
                .map(|entry| store.credentials_of(entry, system))
                .transpose()
        })
        .await
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<ConfiguredSystem>, ItsmStoreError> {
        let store = self.clone();
        let tenant_id = tenant_id.to_owned();
        blocking(move || {
            let document = store.checked(store.file.read().map_err(failure)?)?;
            let mut listed: Vec<ConfiguredSystem> = document
                .entries
                .into_iter()
                .filter(|e| e.tenant_id == tenant_id)
                .map(|e| ConfiguredSystem {
                    system: e.system,
                    set_fields: e.set_fields,
                    updated_at: e.updated_at,
                })
                .collect();
            listed.sort_by(|a, b| a.system.cmp(&b.system));
            Ok(listed)
        })
        .await
    }

    async fn delete(&self, tenant_id: &str, system: ItsmSystem) -> Result<bool, ItsmStoreError> {
        let store = self.clone();
        let tenant_id = tenant_id.to_owned();
        blocking(move || {
            let mut removed = false;
            store
                .file
                .modify(|document: &mut Document| {
                    let before = document.entries.len();
                    document.entries.retain(|e| !e.is(&tenant_id, system));
                    removed = document.entries.len() != before;
                    Ok::<_, ItsmStoreError>(removed)
                })
                .map_err(failure)??;
            Ok(removed)
        })
        .await
    }

    fn describe(&self) -> String {
        let sealing = if self.keys.is_some() {
            "sealed with AISOC_DATA_KEY"
        } else {
            "in clear, owner-only; set AISOC_DATA_KEY to seal"
        };
        format!("{} ({sealing})", self.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    const KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("itsm-store-{:016x}", rand::random::<u64>()))
    }

    #[tokio::test]
    async fn the_file_store_keeps_the_contract_sealed_and_in_clear() {
        for keys in [Some(Arc::new(DataKeys::parse(KEY).unwrap())), None] {
            let dir = dir();
            let store = FileItsmStore::open(&dir, keys.clone()).await.unwrap();
            conformance::settings_are_kept_per_tenant(&store).await;
            let text = std::fs::read_to_string(store.path()).unwrap();
            assert_eq!(
                text.contains("globex-token"),
                keys.is_none(),
                "sealed exactly when a key is set: {text}"
            );
            // A restart (another handle on the same directory) reads the same settings.
            let again = FileItsmStore::open(&dir, keys).await.unwrap();
            assert!(
                again
                    .get("globex", ItsmSystem::Jira)
                    .await
                    .unwrap()
                    .is_some()
            );
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[tokio::test]
    async fn a_sealed_entry_does_not_open_for_another_tenant_or_without_its_key() {
        let dir = dir();
        let keys = Some(Arc::new(DataKeys::parse(KEY).unwrap()));
        let store = FileItsmStore::open(&dir, keys.clone()).await.unwrap();
        store
            .put("acme", &conformance::jira("acme-token"))
            .await
            .unwrap();
        // Move acme's sealed value onto globex: it must not open there.
        let path = store.path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"acme\"", "\"globex\"")).unwrap();
        let moved = store.get("globex", ItsmSystem::Jira).await.unwrap_err();
        assert!(matches!(moved, ItsmStoreError::Sealed { .. }), "{moved}");
        let keyless = FileItsmStore::open(&dir, None).await.unwrap();
        let locked = keyless.get("globex", ItsmSystem::Jira).await.unwrap_err();
        assert!(locked.to_string().contains("'k1'"), "{locked}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
