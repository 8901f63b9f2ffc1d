//! The recent-events index in PostgreSQL (`DATABASE_URL`), shared by every replica and kept
//! over restarts.
//!
//! Table `aisoc_recent_events`, with forced row-level security: every statement runs in a
//! transaction as role `aisoc_recent_events_tenant` with `aisoc.tenant_id` set, so it sees and
//! writes one tenant's rows only. A batch is inserted in one statement (only its newest
//! `per_tenant` events per tenant: older ones would be trimmed at once), then the tenant's rows
//! beyond the newest `per_tenant` are deleted in the same transaction.

use std::collections::BTreeMap;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::notification::Severity;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::{RecentEvent, RecentEventIndex, RecentEventsError};
use crate::itsm_store::postgres_support::{migrate, tenant_transaction};

const ROLE: &str = "aisoc_recent_events_tenant";

const COLUMNS: &str = "tenant_id, msg_id, event_id, source_uid, title, description, severity, \
                       template_id, product, class_uid, class_name, received_at";

fn unavailable(error: sqlx::Error) -> RecentEventsError {
    // sqlx errors name tables and constraints, never the connection string.
    RecentEventsError::Unavailable(error.to_string())
}

fn severity_from_text(text: &str) -> Result<Severity, RecentEventsError> {
    Severity::ALL
        .into_iter()
        .find(|severity| severity.as_str() == text)
        .ok_or_else(|| {
            RecentEventsError::Unavailable(format!(
                "aisoc_recent_events holds an unknown severity '{text}'"
            ))
        })
}

fn from_row(row: &PgRow) -> Result<RecentEvent, RecentEventsError> {
    let severity: String = row.try_get("severity").map_err(unavailable)?;
    Ok(RecentEvent {
        tenant_id: row.try_get("tenant_id").map_err(unavailable)?,
        event_id: row.try_get("event_id").map_err(unavailable)?,
        msg_id: row.try_get("msg_id").map_err(unavailable)?,
        source_uid: row.try_get("source_uid").map_err(unavailable)?,
        title: row.try_get("title").map_err(unavailable)?,
        description: row.try_get("description").map_err(unavailable)?,
        severity: severity_from_text(&severity)?,
        template_id: row.try_get("template_id").map_err(unavailable)?,
        product: row.try_get("product").map_err(unavailable)?,
        class_uid: row.try_get("class_uid").map_err(unavailable)?,
        class_name: row.try_get("class_name").map_err(unavailable)?,
        received_at: row.try_get("received_at").map_err(unavailable)?,
    })
}

/// The recent-events index in table `aisoc_recent_events`.
#[derive(Debug, Clone)]
pub struct PgRecentEvents {
    pool: PgPool,
    per_tenant: usize,
}

impl PgRecentEvents {
    /// Creates the table when missing; keeps `per_tenant` events per tenant (at least one).
    pub async fn open(pool: PgPool, per_tenant: usize) -> Result<Self, String> {
        migrate(&pool).await?;
        Ok(Self {
            pool,
            per_tenant: per_tenant.clamp(1, i64::MAX as usize),
        })
    }

    async fn record_tenant(
        &self,
        tenant_id: &str,
        events: &[&RecentEvent],
    ) -> Result<(), RecentEventsError> {
        let newest = &events[events.len().saturating_sub(self.per_tenant)..];
        let column = |f: fn(&RecentEvent) -> String| newest.iter().map(|e| f(e)).collect();
        let optional =
            |f: fn(&RecentEvent) -> Option<String>| newest.iter().map(|e| f(e)).collect();
        let msg_ids: Vec<String> = column(|e| e.msg_id.clone());
        let event_ids: Vec<String> = column(|e| e.event_id.clone());
        let titles: Vec<String> = column(|e| e.title.clone());
        let severities: Vec<String> = column(|e| e.severity.as_str().to_owned());
        let templates: Vec<String> = column(|e| e.template_id.clone());
        let source_uids: Vec<Option<String>> = optional(|e| e.source_uid.clone());
        let descriptions: Vec<Option<String>> = optional(|e| e.description.clone());
        let products: Vec<Option<String>> = optional(|e| e.product.clone());
        let class_names: Vec<Option<String>> = optional(|e| e.class_name.clone());
        let class_uids: Vec<Option<i64>> = newest.iter().map(|e| e.class_uid).collect();
        let received: Vec<DateTime<Utc>> = newest.iter().map(|e| e.received_at).collect();
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        // WITH ORDINALITY keeps the batch's order, so `seq` orders events of one instant.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO aisoc_recent_events ({COLUMNS}) \
             SELECT $1, m, e, s, t, d, sev, tpl, p, cu, cn, r FROM UNNEST( \
               $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
               $8::text[], $9::text[], $10::bigint[], $11::text[], $12::timestamptz[] \
             ) WITH ORDINALITY AS batch(m, e, s, t, d, sev, tpl, p, cu, cn, r, n) \
             ORDER BY n \
             ON CONFLICT (tenant_id, msg_id) DO NOTHING"
        )))
        .bind(tenant_id)
        .bind(&msg_ids)
        .bind(&event_ids)
        .bind(&source_uids)
        .bind(&titles)
        .bind(&descriptions)
        .bind(&severities)
        .bind(&templates)
        .bind(&products)
        .bind(&class_uids)
        .bind(&class_names)
        .bind(&received)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "DELETE FROM aisoc_recent_events WHERE tenant_id = $1 AND msg_id IN ( \
               SELECT msg_id FROM aisoc_recent_events WHERE tenant_id = $1 \
               ORDER BY received_at DESC, seq DESC OFFSET $2)",
        )
        .bind(tenant_id)
        .bind(self.per_tenant as i64)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }
}

#[async_trait]
impl RecentEventIndex for PgRecentEvents {
    async fn record(&self, events: &[RecentEvent]) -> Result<(), RecentEventsError> {
        let mut by_tenant: BTreeMap<&str, Vec<&RecentEvent>> = BTreeMap::new();
        for event in events {
            by_tenant.entry(&event.tenant_id).or_default().push(event);
        }
        for (tenant_id, events) in by_tenant {
            self.record_tenant(tenant_id, &events).await?;
        }
        Ok(())
    }

    async fn list(
        &self,
        tenant_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecentEvent>, RecentEventsError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM aisoc_recent_events \
             WHERE tenant_id = $1 AND received_at >= $2 \
             ORDER BY received_at DESC, seq DESC LIMIT $3"
        )))
        .bind(tenant_id)
        .bind(since)
        .bind(self.per_tenant as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(from_row).collect()
    }

    async fn find(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<RecentEvent>, RecentEventsError> {
        let mut tx = tenant_transaction(&self.pool, ROLE, tenant_id)
            .await
            .map_err(unavailable)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM aisoc_recent_events \
             WHERE tenant_id = $1 AND (event_id = $2 OR source_uid = $2) \
             ORDER BY received_at DESC, seq DESC LIMIT 1"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        row.as_ref().map(from_row).transpose()
    }

    fn per_tenant(&self) -> usize {
        self.per_tenant
    }

    fn describe(&self) -> String {
        format!(
            "PostgreSQL table aisoc_recent_events, newest {} per tenant",
            self.per_tenant
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;
    use crate::itsm_store::postgres_support::TestDb;

    #[tokio::test]
    async fn the_postgres_index_keeps_the_contract_behind_row_level_security() {
        let db = TestDb::new().await;
        let pool = db.pool().await;
        let index = PgRecentEvents::open(pool.clone(), conformance::PER_TENANT)
            .await
            .unwrap();
        conformance::newest_kept_once_per_tenant(&index).await;
        conformance::accepted_events_read_back(&index).await;
        // Outside a tenant transaction, as the restricted role, nothing is visible.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL ROLE {ROLE}")))
            .execute(&mut *tx)
            .await
            .unwrap();
        let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM aisoc_recent_events")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(visible, 0);
        drop(tx);
        pool.close().await;
        db.drop_db().await;
    }
}
