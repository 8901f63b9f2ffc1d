//! Approval cards in PostgreSQL (`DATABASE_URL`), table `aisoc_approval_cards` (migration
//! `20261201300050`), shared by every replica.
//!
//! Tenant statements run in a transaction as `aisoc_approval_cards_tenant` with
//! `aisoc.tenant_id` set, under FORCEd row-level security; the reconciler's scan of `posted`
//! cards across tenants runs as `aisoc_approval_cards_reconciler`, which can only read.

use aisoc_notify_core::async_trait;
use aisoc_notify_core::prompt::PromptReceipt;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};

use super::{ApprovalCard, ApprovalCardStore, CardCursor, CardState, CardStoreError};

fn unavailable(error: sqlx::Error) -> CardStoreError {
    // sqlx errors name tables and constraints, never the connection string.
    CardStoreError::Unavailable(error.to_string())
}

const COLUMNS: &str =
    "tenant_id, approval_id, channel_id, channel_type, receipt, state, reason, updated_at";

fn from_row(row: &PgRow) -> Result<ApprovalCard, CardStoreError> {
    let state: String = row.try_get("state").map_err(unavailable)?;
    let receipt: Option<Json<PromptReceipt>> = row.try_get("receipt").map_err(unavailable)?;
    Ok(ApprovalCard {
        tenant_id: row.try_get("tenant_id").map_err(unavailable)?,
        approval_id: row.try_get("approval_id").map_err(unavailable)?,
        channel_id: row.try_get("channel_id").map_err(unavailable)?,
        channel_type: row.try_get("channel_type").map_err(unavailable)?,
        receipt: receipt.map(|Json(receipt)| receipt),
        state: CardState::parse(&state)
            .ok_or_else(|| CardStoreError::Unavailable(format!("unknown card state {state}")))?,
        reason: row.try_get("reason").map_err(unavailable)?,
        updated_at: row.try_get("updated_at").map_err(unavailable)?,
    })
}

/// The approval cards in table `aisoc_approval_cards`.
#[derive(Debug, Clone)]
pub struct PgApprovalCardStore {
    pool: PgPool,
}

impl PgApprovalCardStore {
    /// Creates or updates the gateway's tables (this one included).
    pub async fn open(pool: PgPool) -> Result<Self, CardStoreError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|e| CardStoreError::Unavailable(e.to_string()))?;
        Ok(Self { pool })
    }

    /// A transaction as `tenant_id`'s role with its `aisoc.tenant_id` set, or, for `None`, as
    /// the reconciler's read-only role across tenants.
    async fn begin(
        &self,
        tenant_id: Option<&str>,
    ) -> Result<Transaction<'_, Postgres>, CardStoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let role = match tenant_id {
            Some(_) => "SET LOCAL ROLE aisoc_approval_cards_tenant",
            None => "SET LOCAL ROLE aisoc_approval_cards_reconciler",
        };
        sqlx::query(role)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if let Some(tenant_id) = tenant_id {
            sqlx::query("SELECT set_config('aisoc.tenant_id', $1, true)")
                .bind(tenant_id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        Ok(tx)
    }
}

#[async_trait]
impl ApprovalCardStore for PgApprovalCardStore {
    fn describe(&self) -> String {
        "PostgreSQL table aisoc_approval_cards".into()
    }

    async fn save(&self, card: &ApprovalCard) -> Result<(), CardStoreError> {
        let mut tx = self.begin(Some(&card.tenant_id)).await?;
        sqlx::query(
            "INSERT INTO aisoc_approval_cards (tenant_id, approval_id, channel_id, channel_type, \
             receipt, state, reason, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, approval_id, channel_id) DO UPDATE SET \
             channel_type = EXCLUDED.channel_type, receipt = EXCLUDED.receipt, \
             state = EXCLUDED.state, reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at",
        )
        .bind(&card.tenant_id)
        .bind(&card.approval_id)
        .bind(&card.channel_id)
        .bind(&card.channel_type)
        .bind(card.receipt.as_ref().map(Json))
        .bind(card.state.as_str())
        .bind(&card.reason)
        .bind(card.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn list(
        &self,
        tenant_id: &str,
        approval_id: &str,
    ) -> Result<Vec<ApprovalCard>, CardStoreError> {
        let mut tx = self.begin(Some(tenant_id)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM aisoc_approval_cards WHERE tenant_id = $1 AND approval_id = $2 \
             ORDER BY channel_id"
        )))
        .bind(tenant_id)
        .bind(approval_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(from_row).collect()
    }

    async fn posted(
        &self,
        after: Option<&CardCursor>,
        limit: usize,
    ) -> Result<Vec<ApprovalCard>, CardStoreError> {
        let (tenant, approval, channel) = after.cloned().unwrap_or_default();
        let mut tx = self.begin(None).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM aisoc_approval_cards WHERE state = 'posted' \
             AND ($1 = false OR (tenant_id, approval_id, channel_id) > ($2, $3, $4)) \
             ORDER BY tenant_id, approval_id, channel_id LIMIT $5"
        )))
        .bind(after.is_some())
        .bind(tenant)
        .bind(approval)
        .bind(channel)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(from_row).collect()
    }
}
