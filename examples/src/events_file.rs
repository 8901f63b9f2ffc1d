//! The `--events-out FILE` sink: every accepted inbox event appended as one OCSF JSON line,
//! written and flushed before the inbox answers 2xx.

use std::path::PathBuf;

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
