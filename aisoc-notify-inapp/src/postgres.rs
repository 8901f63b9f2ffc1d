//! In-app notifications in PostgreSQL (feature `postgres`).

use aisoc_notify_core::{Notification, async_trait};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use crate::{InAppError, InAppNotification, InAppStore, ListQuery};

fn backend(err: sqlx::Error) -> InAppError {
    InAppError::Backend(err.to_string())
}

fn from_row(row: &PgRow) -> Result<InAppNotification, InAppError> {
    let notification: serde_json::Value = row.try_get("notification").map_err(backend)?;
    Ok(InAppNotification {
        id: row.try_get("id").map_err(backend)?,
        tenant_id: row.try_get("tenant_id").map_err(backend)?,
        user_id: row.try_get("user_id").map_err(backend)?,
        notification: serde_json::from_value(notification)
            .map_err(|e| InAppError::Backend(e.to_string()))?,
        created_at: row.try_get("created_at").map_err(backend)?,
        read_at: row.try_get("read_at").map_err(backend)?,
    })
}

/// In-app notifications in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgInAppStore {
    pool: PgPool,
}

impl PgInAppStore {
    /// Runs the migrations and returns the store.
    pub async fn new(pool: PgPool) -> Result<Self, InAppError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|e| InAppError::Backend(e.to_string()))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl InAppStore for PgInAppStore {
    async fn add(
        &self,
        tenant_id: &str,
        user_id: &str,
        notification: &Notification,
    ) -> Result<InAppNotification, InAppError> {
        let json =
            serde_json::to_value(notification).map_err(|e| InAppError::Backend(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO aisoc_inapp_notifications (tenant_id, user_id, event_type, severity, title, notification, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(notification.event_type.as_str())
        .bind(notification.severity.as_str())
        .bind(&notification.title)
        .bind(json)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        from_row(&row)
    }

    async fn list(
        &self,
        tenant_id: &str,
        user_id: &str,
        query: ListQuery,
    ) -> Result<Vec<InAppNotification>, InAppError> {
        let rows = sqlx::query(
            "SELECT * FROM aisoc_inapp_notifications
             WHERE tenant_id = $1 AND user_id = $2
               AND (NOT $3 OR read_at IS NULL)
               AND ($4::bigint IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(query.unread_only)
        .bind(query.before_id)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(from_row).collect()
    }

    async fn unread_count(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM aisoc_inapp_notifications WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count.max(0) as u64)
    }

    async fn mark_read(&self, tenant_id: &str, user_id: &str, id: i64) -> Result<bool, InAppError> {
        let done = sqlx::query(
            "UPDATE aisoc_inapp_notifications SET read_at = now()
             WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND read_at IS NULL",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_all_read(&self, tenant_id: &str, user_id: &str) -> Result<u64, InAppError> {
        let done = sqlx::query(
            "UPDATE aisoc_inapp_notifications SET read_at = now() WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<u64, InAppError> {
        let done = sqlx::query("DELETE FROM aisoc_inapp_notifications WHERE created_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
