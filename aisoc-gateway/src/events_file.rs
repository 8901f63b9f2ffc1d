//! The `--events-out FILE` copy: every accepted inbox event appended as one OCSF JSON line,
//! written and synced before the inbox answers 2xx, beside the store of record ([`TeeSink`]).

use std::path::PathBuf;
use std::sync::Arc;

use aisoc_inbox::sink::{EventSink, SinkError, SinkEvent};
use aisoc_notify_core::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// Appends events to a file, one JSON line each.
#[derive(Debug)]
pub struct FileSink {
    file: Mutex<tokio::fs::File>,
}

impl FileSink {
    /// Opens (or creates) `path` for appending.
    pub async fn open(path: PathBuf) -> std::io::Result<Self> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }
}

#[async_trait]
impl EventSink for FileSink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        let mut buffer = Vec::new();
        for event in events {
            buffer.extend_from_slice(&event.payload);
            buffer.push(b'\n');
        }
        let mut file = self.file.lock().await;
        file.write_all(&buffer)
            .await
            .map_err(|e| SinkError::Unavailable(e.to_string()))?;
        file.flush()
            .await
            .map_err(|e| SinkError::Unavailable(e.to_string()))?;
        file.sync_data()
            .await
            .map_err(|e| SinkError::Unavailable(e.to_string()))
    }
}

/// The store of record first, then the JSON-lines copy.
///
/// The copy only ever sees events the store took, so a full or unavailable store leaves no
/// trace in it. If the copy fails after the store took the events, the request still fails
/// (the operator asked for the copy) and the sender's retry reaches the store again: with an
/// idempotency key the store keeps the events once, while the copy may hold them twice. The
/// copy is at least once; the store is the record.
pub struct TeeSink {
    store: Arc<dyn EventSink>,
    copy: FileSink,
}

impl std::fmt::Debug for TeeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeSink")
            .field("copy", &self.copy)
            .finish_non_exhaustive()
    }
}

impl TeeSink {
    /// Events go to `store`, then to `copy`.
    pub fn new(store: Arc<dyn EventSink>, copy: FileSink) -> Self {
        Self { store, copy }
    }
}

#[async_trait]
impl EventSink for TeeSink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        self.store.publish(events).await?;
        self.copy.publish(events).await
    }
}

#[cfg(test)]
mod tests {
    use aisoc_inbox::file_store::{FileStore, FileStoreConfig};

    use super::*;

    fn event(n: u32) -> SinkEvent {
        SinkEvent {
            tenant_id: "acme".into(),
            template_id: "generic-json".into(),
            msg_id: format!("m-{n}"),
            dedupe: true,
            payload: format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(100)).into(),
        }
    }

    #[tokio::test]
    async fn the_copy_holds_exactly_what_the_store_took() {
        let dir = std::env::temp_dir().join(format!(
            "aisoc-tee-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let copy_path = dir.join("events.jsonl");
        let store = FileStore::open(FileStoreConfig {
            segment_bytes: 512,
            max_bytes: 512,
            ..FileStoreConfig::new(dir.join("inbox-events"))
        })
        .await
        .unwrap();
        let store = Arc::new(store);
        let tee = TeeSink::new(
            store.clone(),
            FileSink::open(copy_path.clone()).await.unwrap(),
        );

        let mut taken = 0;
        while tee.publish(&[event(taken)]).await.is_ok() {
            taken += 1;
            assert!(taken < 100, "the store never filled");
        }
        assert!(taken >= 1);
        let error = tee.publish(&[event(taken)]).await.unwrap_err();
        assert!(error.to_string().contains("event store is full"), "{error}");

        let copy = std::fs::read_to_string(&copy_path).unwrap();
        let lines: Vec<&str> = copy.lines().collect();
        assert_eq!(
            lines.len() as u32,
            taken,
            "the refused events are not in the copy"
        );
        let stored: Vec<String> = store
            .reader(0)
            .map(|e| String::from_utf8(e.unwrap().event.payload.to_vec()).unwrap())
            .collect();
        assert_eq!(lines, stored);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
