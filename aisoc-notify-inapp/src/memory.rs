//! In-app notifications in memory.

use std::sync::Mutex;

use aisoc_notify_core::{Notification, async_trait};
use chrono::{DateTime, Utc};

use crate::{InAppError, InAppNotification, InAppStore, ListQuery};

/// In-app notifications in memory.
#[derive(Debug, Default)]
pub struct MemoryInAppStore {
    rows: Mutex<Vec<InAppNotification>>,
}

impl MemoryInAppStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<InAppNotification>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl InAppStore for MemoryInAppStore {
    async fn add(
        &self,
        tenant_id: &str,
        user_id: &str,
        notification: &Notification,
    ) -> Result<InAppNotification, InAppError> {
        let mut rows = self.lock();
        let id = rows.last().map_or(1, |r| r.id + 1);
        let row = InAppNotification {
            id,
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            notification: notification.clone(),
            created_at: Utc::now(),
            read_at: None,
        };
        rows.push(row.clone());
        Ok(row)
    }

    async fn list(
        &self,
        tenant_id: &str,
        user_id: &str,
        query: ListQuery,
    ) -> Result<Vec<InAppNotification>, InAppError> {
        Ok(self
            .lock()
            .iter()
            .rev()
            .filter(|r| r.tenant_id == tenant_id && r.user_id == user_id)
            .filter(|r| !query.unread_only || r.read_at.is_none())
            .filter(|r| query.before_id.is_none_or(|before| r.id < before))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }

    async fn unread_count(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError> {
        Ok(self
            .lock()
            .iter()
            .filter(|r| r.tenant_id == tenant_id && r.user_id == user_id && r.read_at.is_none())
            .count() as u64)
    }

    async fn mark_read(&self, tenant_id: &str, user_id: &str, id: i64) -> Result<bool, InAppError> {
        let mut rows = self.lock();
        match rows.iter_mut().find(|r| {
            r.id == id && r.tenant_id == tenant_id && r.user_id == user_id && r.read_at.is_none()
        }) {
            Some(row) => {
                row.read_at = Some(Utc::now());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn mark_all_read(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError> {
        let now = Utc::now();
        let mut changed = 0;
        for row in self
            .lock()
            .iter_mut()
            .filter(|r| r.tenant_id == tenant_id && r.user_id == user_id && r.read_at.is_none())
        {
            row.read_at = Some(now);
            changed += 1;
        }
        Ok(changed)
    }

    async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<u64, InAppError> {
        let mut rows = self.lock();
        let before = rows.len();
        rows.retain(|r| r.created_at >= cutoff);
        Ok((before - rows.len()) as u64)
    }
}
