//! `chatops.verify` prompts, answers and their follow-up outbox in PostgreSQL.
//!
//! An answer is one transaction: the conditional `UPDATE … WHERE answered_choice IS NULL` of
//! the prompt (of concurrent answers exactly one matches; the others wait for it, then match
//! nothing) and the `INSERT` of its follow-ups into `aisoc_chatops_verify_follow_ups`, whose
//! outbox ([`PgOutbox`]) approvals share.
//!
//! Prompts and their follow-ups have row-level security like approvals (migration
//! `20261205000001`): every prompt statement runs in a [`tenant_transaction`] for the tenant
//! the caller names (the answer link's signed claims name it), and its queries name the tenant
//! as well. The outbox's cross-tenant work (claims, retries, replays) runs as the dispatcher.

use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::prompt::PromptReceipt;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;

use super::outbox::PgOutbox;
use super::{backend, migrate, tenant_transaction};
use crate::follow_up::{
    AnswerOutbox, FollowUp, FollowUpFlow, FollowUpKind, FollowUpState, ReplayOutcome,
};
use crate::store::StoreError;
use crate::verify::{Answer, AnswerOutcome, PendingPrompt, StoredPrompt, VerificationStore};

/// The prompt columns, in the order every query returns them.
macro_rules! prompt_columns {
    () => {
        "prompt_id, tenant_id, case_id, run_id, user_ref, title, message, expires_at, receipt, \
         answered_choice"
    };
}

fn prompt_from_row(row: &PgRow) -> Result<StoredPrompt, StoreError> {
    Ok(StoredPrompt {
        prompt: PendingPrompt {
            prompt_id: row.try_get("prompt_id").map_err(backend)?,
            tenant_id: row.try_get("tenant_id").map_err(backend)?,
            case_id: row.try_get("case_id").map_err(backend)?,
            run_id: row.try_get("run_id").map_err(backend)?,
            user_ref: row.try_get("user_ref").map_err(backend)?,
            title: row.try_get("title").map_err(backend)?,
            message: row.try_get("message").map_err(backend)?,
            expires_at: row.try_get("expires_at").map_err(backend)?,
            receipt: row
                .try_get::<Option<Json<PromptReceipt>>, _>("receipt")
                .map_err(backend)?
                .map(|Json(receipt)| receipt),
        },
        answered: row.try_get("answered_choice").map_err(backend)?,
    })
}

/// `chatops.verify` prompts and their answer outbox in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgVerificationStore {
    pool: PgPool,
    outbox: PgOutbox,
}

impl PgVerificationStore {
    /// Runs the migrations and returns the store.
    pub async fn new(pool: PgPool) -> Result<Self, StoreError> {
        migrate(&pool).await?;
        Ok(Self {
            outbox: PgOutbox::new(pool.clone(), FollowUpFlow::Verify),
            pool,
        })
    }
}

#[async_trait]
impl VerificationStore for PgVerificationStore {
    async fn create_prompt(
        &self,
        prompt: &PendingPrompt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = tenant_transaction(&self.pool, &prompt.tenant_id).await?;
        let inserted = sqlx::query(
            "INSERT INTO aisoc_chatops_verify_prompts
                 (prompt_id, tenant_id, case_id, run_id, user_ref, title, message, created_at,
                  expires_at, receipt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (prompt_id) DO NOTHING",
        )
        .bind(&prompt.prompt_id)
        .bind(&prompt.tenant_id)
        .bind(&prompt.case_id)
        .bind(&prompt.run_id)
        .bind(&prompt.user_ref)
        .bind(&prompt.title)
        .bind(&prompt.message)
        .bind(now)
        .bind(prompt.expires_at)
        .bind(prompt.receipt.as_ref().map(Json))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "prompt '{}'",
                prompt.prompt_id
            )));
        }
        Ok(())
    }

    async fn attach_receipt(
        &self,
        tenant_id: &str,
        prompt_id: &str,
        receipt: &PromptReceipt,
    ) -> Result<bool, StoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let updated = sqlx::query(
            "UPDATE aisoc_chatops_verify_prompts SET receipt = $2
             WHERE prompt_id = $1 AND tenant_id = $3",
        )
        .bind(prompt_id)
        .bind(Json(receipt))
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn prompt(
        &self,
        tenant_id: &str,
        prompt_id: &str,
    ) -> Result<Option<StoredPrompt>, StoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            prompt_columns!(),
            " FROM aisoc_chatops_verify_prompts WHERE prompt_id = $1 AND tenant_id = $2"
        ))
        .bind(prompt_id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        row.as_ref().map(prompt_from_row).transpose()
    }

    async fn answer(
        &self,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<AnswerOutcome, StoreError> {
        let mut tx = tenant_transaction(&self.pool, &answer.tenant_id).await?;
        let recorded = sqlx::query(concat!(
            "UPDATE aisoc_chatops_verify_prompts
             SET answered_choice = $2, answered_token = $3, answered_at = $4
             WHERE prompt_id = $1 AND tenant_id = $5 AND case_id = $6
               AND answered_choice IS NULL
             RETURNING ",
            prompt_columns!()
        ))
        .bind(&answer.prompt_id)
        .bind(&answer.choice)
        .bind(&answer.token_id)
        .bind(now)
        .bind(&answer.tenant_id)
        .bind(&answer.case_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(row) = recorded {
            let prompt = prompt_from_row(&row)?.prompt;
            for follow_up in FollowUp::for_answer(&prompt, &answer.choice, &answer.user_ref, now) {
                self.outbox.insert(&mut tx, &follow_up).await?;
            }
            tx.commit().await.map_err(backend)?;
            return Ok(AnswerOutcome::Recorded(Box::new(prompt)));
        }
        let existing = sqlx::query(
            "SELECT answered_choice FROM aisoc_chatops_verify_prompts
             WHERE prompt_id = $1 AND tenant_id = $2 AND case_id = $3",
        )
        .bind(&answer.prompt_id)
        .bind(&answer.tenant_id)
        .bind(&answer.case_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(match existing {
            None => AnswerOutcome::UnknownPrompt,
            Some(row) => AnswerOutcome::AlreadyAnswered {
                choice: row
                    .try_get::<Option<String>, _>("answered_choice")
                    .map_err(backend)?
                    .unwrap_or_default(),
            },
        })
    }
}

#[async_trait]
impl AnswerOutbox for PgVerificationStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        self.outbox.claim_due(now, lease, limit).await
    }

    async fn complete(&self, claimed: &FollowUp, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.outbox.complete(claimed, now).await
    }

    async fn retry_at(
        &self,
        claimed: &FollowUp,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.outbox.retry_at(claimed, at, reason).await
    }

    async fn dead_end(
        &self,
        claimed: &FollowUp,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.outbox.dead_end(claimed, reason, now).await
    }

    async fn follow_ups(&self, key: &str) -> Result<Vec<FollowUp>, StoreError> {
        self.outbox.follow_ups(key).await
    }

    async fn list_follow_ups(
        &self,
        state: FollowUpState,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        self.outbox.list_follow_ups(state, limit).await
    }

    async fn replay(
        &self,
        key: &str,
        kind: FollowUpKind,
        now: DateTime<Utc>,
    ) -> Result<ReplayOutcome, StoreError> {
        self.outbox.replay(key, kind, now).await
    }
}
