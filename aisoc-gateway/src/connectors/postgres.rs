//! The connectors in PostgreSQL (`DATABASE_URL`), table `aisoc_connectors` (migration
//! `20261201300030`), shared by every replica.
//!
//! Tenant statements run in a transaction as `aisoc_connectors_tenant` with `aisoc.tenant_id`
//! set, under FORCEd row-level security; the monitor's cross-tenant statements (flipping
//! overdue connectors, claiming and acknowledging notifications) run as
//! `aisoc_connectors_monitor`. A flip is one `UPDATE … WHERE status = …` and a claim one
//! `UPDATE … SET claimed_until = now + lease WHERE notified < generation AND (claimed_until IS
//! NULL OR claimed_until <= now)` over rows locked `FOR UPDATE SKIP LOCKED`: with two replicas,
//! one flips and one holds the claim, queues the notification and acknowledges it, so one
//! notification is queued per change; if that replica dies before acknowledging, the lease
//! lapses and another queues it again under the same dedupe key.

use aisoc_notify_core::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::store::{Connector, ConnectorStore, ConnectorStoreError, status_text};

fn unavailable(error: sqlx::Error) -> ConnectorStoreError {
    // sqlx errors name tables and constraints, never the connection string.
    ConnectorStoreError::Unavailable(error.to_string())
}

/// Every column, in the order [`from_row`] reads them.
macro_rules! columns {
    () => {
        "tenant_id, connector_id, name, window_seconds, registered_at, last_heartbeat, status, \
         status_changed_at, generation, notified, claimed_until"
    };
}

fn from_row(row: &PgRow) -> Result<Connector, ConnectorStoreError> {
    let status: String = row.try_get("status").map_err(unavailable)?;
    let count = |name: &str| -> Result<u64, ConnectorStoreError> {
        let value: i64 = row.try_get(name).map_err(unavailable)?;
        u64::try_from(value)
            .map_err(|_| ConnectorStoreError::Unavailable(format!("negative {name}")))
    };
    let window: i32 = row.try_get("window_seconds").map_err(unavailable)?;
    Ok(Connector {
        tenant_id: row.try_get("tenant_id").map_err(unavailable)?,
        id: row.try_get("connector_id").map_err(unavailable)?,
        name: row.try_get("name").map_err(unavailable)?,
        window_seconds: u32::try_from(window)
            .map_err(|_| ConnectorStoreError::Unavailable("negative window_seconds".into()))?,
        registered_at: row.try_get("registered_at").map_err(unavailable)?,
        last_heartbeat: row.try_get("last_heartbeat").map_err(unavailable)?,
        status: status_text::parse(&status)
            .ok_or_else(|| ConnectorStoreError::Unavailable(format!("unknown status {status}")))?,
        status_changed_at: row.try_get("status_changed_at").map_err(unavailable)?,
        generation: count("generation")?,
        notified: count("notified")?,
        claimed_until: row.try_get("claimed_until").map_err(unavailable)?,
    })
}

/// The connectors in table `aisoc_connectors`.
#[derive(Debug, Clone)]
pub struct PgConnectorStore {
    pool: PgPool,
}

impl PgConnectorStore {
    /// Creates or updates the gateway's tables (this one included).
    pub async fn open(pool: PgPool) -> Result<Self, ConnectorStoreError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|e| ConnectorStoreError::Unavailable(e.to_string()))?;
        Ok(Self { pool })
    }

    async fn tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Transaction<'_, Postgres>, ConnectorStoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SET LOCAL ROLE aisoc_connectors_tenant")
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("SELECT set_config('aisoc.tenant_id', $1, true)")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        Ok(tx)
    }

    async fn monitor(&self) -> Result<Transaction<'_, Postgres>, ConnectorStoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SET LOCAL ROLE aisoc_connectors_monitor")
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        Ok(tx)
    }
}

#[async_trait]
impl ConnectorStore for PgConnectorStore {
    async fn upsert(
        &self,
        tenant_id: &str,
        id: &str,
        name: &str,
        window_seconds: u32,
        now: DateTime<Utc>,
    ) -> Result<Connector, ConnectorStoreError> {
        let mut tx = self.tenant(tenant_id).await?;
        let row = sqlx::query(concat!(
            "INSERT INTO aisoc_connectors (tenant_id, connector_id, name, window_seconds, \
             registered_at, status_changed_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (tenant_id, connector_id) DO UPDATE SET name = EXCLUDED.name, \
             window_seconds = EXCLUDED.window_seconds RETURNING ",
            columns!()
        ))
        .bind(tenant_id)
        .bind(id)
        .bind(name)
        .bind(i32::try_from(window_seconds).unwrap_or(i32::MAX))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        from_row(&row)
    }

    async fn heartbeat(
        &self,
        tenant_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Connector>, ConnectorStoreError> {
        let mut tx = self.tenant(tenant_id).await?;
        // The right-hand sides see the row before the update: a stale one flips, once.
        let row = sqlx::query(concat!(
            "UPDATE aisoc_connectors SET last_heartbeat = $3, status = 'healthy', \
             generation = generation + CASE WHEN status = 'stale' THEN 1 ELSE 0 END, \
             status_changed_at = CASE WHEN status = 'stale' THEN $3 ELSE status_changed_at END \
             WHERE tenant_id = $1 AND connector_id = $2 RETURNING ",
            columns!()
        ))
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<Connector>, ConnectorStoreError> {
        let mut tx = self.tenant(tenant_id).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM aisoc_connectors WHERE tenant_id = $1 ORDER BY connector_id"
        ))
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(from_row).collect()
    }

    async fn remove(&self, tenant_id: &str, id: &str) -> Result<bool, ConnectorStoreError> {
        let mut tx = self.tenant(tenant_id).await?;
        let done =
            sqlx::query("DELETE FROM aisoc_connectors WHERE tenant_id = $1 AND connector_id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn mark_stale(&self, now: DateTime<Utc>) -> Result<usize, ConnectorStoreError> {
        let mut tx = self.monitor().await?;
        // A concurrent replica's UPDATE waits on the row lock, then re-checks `status` and
        // skips the row: one flip.
        let done = sqlx::query(
            "UPDATE aisoc_connectors SET status = 'stale', generation = generation + 1, \
             status_changed_at = $1 WHERE status = 'healthy' \
             AND COALESCE(last_heartbeat, registered_at) \
                 + make_interval(secs => window_seconds) < $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn claim_changes(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Vec<Connector>, ConnectorStoreError> {
        let mut tx = self.monitor().await?;
        // A concurrent claim skips the rows this one locked, or, once this one committed,
        // re-checks `claimed_until` and finds the lease held.
        let rows = sqlx::query(
            "WITH due AS (SELECT tenant_id, connector_id FROM aisoc_connectors \
                 WHERE notified < generation AND (claimed_until IS NULL OR claimed_until <= $1) \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE aisoc_connectors c SET claimed_until = $2 FROM due \
             WHERE c.tenant_id = due.tenant_id AND c.connector_id = due.connector_id \
             RETURNING c.tenant_id, c.connector_id, c.name, c.window_seconds, c.registered_at, \
                 c.last_heartbeat, c.status, c.status_changed_at, c.generation, c.notified, \
                 c.claimed_until",
        )
        .bind(now)
        .bind(now + lease)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(from_row).collect()
    }

    async fn acknowledge(&self, claimed: &Connector) -> Result<(), ConnectorStoreError> {
        let mut tx = self.monitor().await?;
        // `registered_at` tells this registration from one made after a removal.
        sqlx::query(
            "UPDATE aisoc_connectors SET notified = GREATEST(notified, $3), \
                 claimed_until = CASE WHEN claimed_until = $4 THEN NULL ELSE claimed_until END \
             WHERE tenant_id = $1 AND connector_id = $2 AND registered_at = $5 \
                 AND generation >= $3",
        )
        .bind(&claimed.tenant_id)
        .bind(&claimed.id)
        .bind(i64::try_from(claimed.generation).unwrap_or(i64::MAX))
        .bind(claimed.claimed_until)
        .bind(claimed.registered_at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn release(&self, claimed: &Connector) -> Result<(), ConnectorStoreError> {
        let Some(until) = claimed.claimed_until else {
            return Ok(());
        };
        let mut tx = self.monitor().await?;
        sqlx::query(
            "UPDATE aisoc_connectors SET claimed_until = NULL \
             WHERE tenant_id = $1 AND connector_id = $2 AND claimed_until = $3",
        )
        .bind(&claimed.tenant_id)
        .bind(&claimed.id)
        .bind(until)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    fn describe(&self) -> String {
        "PostgreSQL table aisoc_connectors".into()
    }
}
