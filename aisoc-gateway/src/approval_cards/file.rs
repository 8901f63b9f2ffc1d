//! Approval cards in `<data dir>/approval-cards/cards.json`, for a gateway without a database.
//!
//! Every change is written whole and atomically under the writers' lock (the gateway's
//! [`json_file`](crate::json_file)); reads go to the file, so gateways sharing one data
//! directory see each other's cards. Receipts hold no secret (a channel and a message id), so
//! nothing is sealed.

use std::path::PathBuf;

use aisoc_notify_core::async_trait;
use serde::{Deserialize, Serialize};

use super::{ApprovalCard, ApprovalCardStore, CardCursor, CardState, CardStoreError};
use crate::json_file::JsonFile;

const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: u32,
    #[serde(default)]
    cards: Vec<ApprovalCard>,
}

impl Default for Document {
    fn default() -> Self {
        Self {
            format: FORMAT,
            cards: Vec::new(),
        }
    }
}

fn failure(error: impl std::fmt::Display) -> CardStoreError {
    CardStoreError::Unavailable(error.to_string())
}

fn key(card: &ApprovalCard) -> (&str, &str, &str) {
    (&card.tenant_id, &card.approval_id, &card.channel_id)
}

/// Approval cards in `<dir>/cards.json`.
#[derive(Clone)]
pub struct FileApprovalCardStore {
    file: JsonFile,
}

impl std::fmt::Debug for FileApprovalCardStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileApprovalCardStore")
            .field("path", &self.file.path())
            .finish()
    }
}

impl FileApprovalCardStore {
    /// Opens (creating when missing) `cards.json` in `dir`.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, CardStoreError> {
        let dir = dir.into();
        tokio::task::spawn_blocking(move || {
            let file = JsonFile::open(dir, "cards.json").map_err(failure)?;
            let document: Document = file.read().map_err(failure)?;
            if document.format != FORMAT {
                return Err(failure(format!(
                    "{}: format {} is not {FORMAT}; it was written by another version",
                    file.path().display(),
                    document.format
                )));
            }
            Ok(Self { file })
        })
        .await
        .map_err(failure)?
    }

    /// The card file.
    pub fn path(&self) -> PathBuf {
        self.file.path()
    }

    async fn read(&self) -> Result<Vec<ApprovalCard>, CardStoreError> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.read::<Document>().map(|d| d.cards))
            .await
            .map_err(failure)?
            .map_err(failure)
    }
}

#[async_trait]
impl ApprovalCardStore for FileApprovalCardStore {
    fn describe(&self) -> String {
        format!("file {}", self.path().display())
    }

    async fn save(&self, card: &ApprovalCard) -> Result<(), CardStoreError> {
        let file = self.file.clone();
        let card = card.clone();
        tokio::task::spawn_blocking(move || {
            file.modify(|document: &mut Document| {
                match document.cards.iter_mut().find(|c| key(c) == key(&card)) {
                    Some(stored) => *stored = card,
                    None => document.cards.push(card),
                }
                Ok::<_, CardStoreError>(true)
            })
        })
        .await
        .map_err(failure)?
        .map_err(failure)?
        .map(|_| ())
    }

    async fn list(
        &self,
        tenant_id: &str,
        approval_id: &str,
    ) -> Result<Vec<ApprovalCard>, CardStoreError> {
        let mut cards: Vec<ApprovalCard> = self
            .read()
            .await?
            .into_iter()
            .filter(|c| c.tenant_id == tenant_id && c.approval_id == approval_id)
            .collect();
        cards.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
        Ok(cards)
    }

    async fn posted(
        &self,
        after: Option<&CardCursor>,
        limit: usize,
    ) -> Result<Vec<ApprovalCard>, CardStoreError> {
        let mut cards: Vec<ApprovalCard> = self
            .read()
            .await?
            .into_iter()
            .filter(|c| c.state == CardState::Posted)
            .filter(|c| {
                after.is_none_or(|(tenant, approval, channel)| {
                    key(c) > (tenant.as_str(), approval.as_str(), channel.as_str())
                })
            })
            .collect();
        cards.sort_by(|a, b| key(a).cmp(&key(b)));
        cards.truncate(limit);
        Ok(cards)
    }
}
