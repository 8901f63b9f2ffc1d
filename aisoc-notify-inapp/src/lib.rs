//! In-app notifications: the per-user list a console shows behind its bell icon.
//!
//! [`InAppStore`] keeps each user's notifications with read state: list (newest first,
//! optionally unread only), unread count, mark one or all read, and purge by age for retention.
//! [`InAppNotifier`] is the [`Notifier`] that files a notification for each recipient a
//! [`Recipients`] resolver names. Stores: [`MemoryInAppStore`] and `PgInAppStore` (feature
//! `postgres`), both held to the `conformance` suite (feature `test-util`).
//!
//! [`config::InAppChannelConfig`] is a channel as an operator writes it (its recipients), and
//! `routes` (feature `axum`) the HTTP API a console calls for the signed-in user's list.
//!
//! ## Features
//! - `postgres`: `PgInAppStore`, with row-level security per tenant.
//! - `axum`: `routes::router`, over any `routes::InAppUser` extractor the host provides.
//! - `test-util`: `conformance`, the store contract.

pub mod config;
#[cfg(feature = "test-util")]
pub mod conformance;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "axum")]
pub mod routes;

use std::sync::Arc;

use aisoc_notify_core::{Delivered, Notification, Notifier, NotifyError, async_trait};
use chrono::{DateTime, Utc};
pub use memory::MemoryInAppStore;
#[cfg(feature = "postgres")]
pub use postgres::PgInAppStore;
use serde::Serialize;

/// One notification in a user's list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InAppNotification {
    /// Increasing id.
    pub id: i64,
    /// The tenant.
    pub tenant_id: String,
    /// The user.
    pub user_id: String,
    /// The notification.
    pub notification: Notification,
    /// When it was filed.
    pub created_at: DateTime<Utc>,
    /// When the user read it.
    pub read_at: Option<DateTime<Utc>>,
}

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    /// Only unread notifications.
    pub unread_only: bool,
    /// At most this many.
    pub limit: u32,
    /// Only ids below this one (pagination).
    pub before_id: Option<i64>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            unread_only: false,
            limit: 50,
            before_id: None,
        }
    }
}

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InAppError {
    /// The backend failed.
    #[error("in-app store failed: {0}")]
    Backend(String),
}

/// Per-user notification lists.
#[async_trait]
pub trait InAppStore: Send + Sync {
    /// Files a notification for a user.
    async fn add(
        &self,
        tenant_id: &str,
        user_id: &str,
        notification: &Notification,
    ) -> Result<InAppNotification, InAppError>;

    /// A user's notifications, newest first.
    async fn list(
        &self,
        tenant_id: &str,
        user_id: &str,
        query: ListQuery,
    ) -> Result<Vec<InAppNotification>, InAppError>;

    /// How many are unread.
    async fn unread_count(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError>;

    /// Marks one read; `false` when it is not this user's or was read already.
    async fn mark_read(&self, tenant_id: &str, user_id: &str, id: i64) -> Result<bool, InAppError>;

    /// Marks all of a user's notifications read; returns how many changed.
    async fn mark_all_read(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError>;

    /// Deletes notifications filed before `cutoff` (retention); returns how many.
    async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<u64, InAppError>;
}

/// Who receives a notification in-app.
#[async_trait]
pub trait Recipients: Send + Sync {
    /// The user ids, in the notification's tenant.
    async fn users(&self, notification: &Notification) -> Vec<String>;
}

/// A fixed list of recipients.
#[derive(Debug, Clone)]
pub struct FixedRecipients(pub Vec<String>);

#[async_trait]
impl Recipients for FixedRecipients {
    async fn users(&self, _: &Notification) -> Vec<String> {
        self.0.clone()
    }
}

/// Files notifications into users' in-app lists.
#[derive(Clone)]
pub struct InAppNotifier {
    store: Arc<dyn InAppStore>,
    recipients: Arc<dyn Recipients>,
}

impl std::fmt::Debug for InAppNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InAppNotifier").finish_non_exhaustive()
    }
}

impl InAppNotifier {
    /// A notifier filing into `store` for `recipients`.
    pub fn new(store: Arc<dyn InAppStore>, recipients: Arc<dyn Recipients>) -> Self {
        Self { store, recipients }
    }
}

#[async_trait]
impl Notifier for InAppNotifier {
    fn channel_type(&self) -> &str {
        "inapp"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let users = self.recipients.users(notification).await;
        for user in &users {
            self.store
                .add(&notification.tenant_id, user, notification)
                .await
                .map_err(|e| NotifyError::Unavailable {
                    service: "inapp",
                    code: "store".into(),
                    message: e.to_string(),
                })?;
        }
        Ok(Delivered::with_receipt(format!("{} user(s)", users.len())))
    }
}
