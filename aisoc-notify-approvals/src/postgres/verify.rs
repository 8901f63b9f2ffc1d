//! `chatops.verify` prompts, answers and the answer outbox in PostgreSQL.
//!
//! An answer is one transaction: the conditional `UPDATE … WHERE answered_choice IS NULL` of
//! the prompt (of concurrent answers exactly one matches; the others wait for it, then match
//! nothing) and the `INSERT` of its follow-ups. Claims take due rows with
//! `FOR UPDATE SKIP LOCKED` and push their `next_attempt_at` out by the lease, so replicas
//! sharing the database never claim the same follow-up at once.

use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::prompt::PromptReceipt;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};

use super::{backend, migrate};
use crate::store::StoreError;
use crate::verify::{
    Answer, AnswerOutbox, AnswerOutcome, FollowUp, PendingPrompt, StoredPrompt, VerificationStore,
};

/// The prompt columns, in the order every query returns them.
macro_rules! prompt_columns {
    () => {
        "prompt_id, tenant_id, case_id, run_id, user_ref, title, message, expires_at, receipt, \
         answered_choice"
    };
}

/// The follow-up columns, in the order every query returns them.
macro_rules! follow_up_columns {
    () => {
        "prompt_id, kind, tenant_id, case_id, run_id, user_ref, choice, answered_at, state, \
         attempts, next_attempt_at, last_error"
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

fn follow_up_from_row(row: &PgRow) -> Result<FollowUp, StoreError> {
    let kind: String = row.try_get("kind").map_err(backend)?;
    let state: String = row.try_get("state").map_err(backend)?;
    let attempts: i32 = row.try_get("attempts").map_err(backend)?;
    Ok(FollowUp {
        prompt_id: row.try_get("prompt_id").map_err(backend)?,
        kind: kind.parse()?,
        tenant_id: row.try_get("tenant_id").map_err(backend)?,
        case_id: row.try_get("case_id").map_err(backend)?,
        run_id: row.try_get("run_id").map_err(backend)?,
        user_ref: row.try_get("user_ref").map_err(backend)?,
        choice: row.try_get("choice").map_err(backend)?,
        answered_at: row.try_get("answered_at").map_err(backend)?,
        state: state.parse()?,
        attempts: u32::try_from(attempts).unwrap_or_default(),
        next_attempt_at: row.try_get("next_attempt_at").map_err(backend)?,
        last_error: row.try_get("last_error").map_err(backend)?,
    })
}

fn attempts(follow_up: &FollowUp) -> i32 {
    i32::try_from(follow_up.attempts).unwrap_or(i32::MAX)
}

async fn insert_follow_up(
    tx: &mut Transaction<'_, Postgres>,
    follow_up: &FollowUp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO aisoc_chatops_verify_follow_ups
             (prompt_id, kind, tenant_id, case_id, run_id, user_ref, choice, answered_at,
              next_attempt_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())",
    )
    .bind(&follow_up.prompt_id)
    .bind(follow_up.kind.as_str())
    .bind(&follow_up.tenant_id)
    .bind(&follow_up.case_id)
    .bind(&follow_up.run_id)
    .bind(&follow_up.user_ref)
    .bind(&follow_up.choice)
    .bind(follow_up.answered_at)
    .bind(follow_up.next_attempt_at)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// `chatops.verify` prompts and their answer outbox in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgVerificationStore {
    pool: PgPool,
}

impl PgVerificationStore {
    /// Runs the migrations and returns the store.
    pub async fn new(pool: PgPool) -> Result<Self, StoreError> {
        migrate(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl VerificationStore for PgVerificationStore {
    async fn create_prompt(
        &self,
        prompt: &PendingPrompt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
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
        prompt_id: &str,
        receipt: &PromptReceipt,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE aisoc_chatops_verify_prompts SET receipt = $2 WHERE prompt_id = $1",
        )
        .bind(prompt_id)
        .bind(Json(receipt))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn prompt(&self, prompt_id: &str) -> Result<Option<StoredPrompt>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            prompt_columns!(),
            " FROM aisoc_chatops_verify_prompts WHERE prompt_id = $1"
        ))
        .bind(prompt_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(prompt_from_row).transpose()
    }

    async fn answer(
        &self,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<AnswerOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
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
                insert_follow_up(&mut tx, &follow_up).await?;
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
        let lease = chrono::Duration::from_std(lease)
            .map_err(|_| StoreError::Invalid("lease is too long".into()))?;
        let rows = sqlx::query(
            "UPDATE aisoc_chatops_verify_follow_ups f
             SET attempts = f.attempts + 1, next_attempt_at = $2, updated_at = now()
             FROM (SELECT prompt_id, kind FROM aisoc_chatops_verify_follow_ups
                   WHERE state = 'pending' AND next_attempt_at <= $1
                   ORDER BY next_attempt_at
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED) due
             WHERE f.prompt_id = due.prompt_id AND f.kind = due.kind
             RETURNING f.prompt_id, f.kind, f.tenant_id, f.case_id, f.run_id, f.user_ref,
                       f.choice, f.answered_at, f.state, f.attempts, f.next_attempt_at,
                       f.last_error",
        )
        .bind(now)
        .bind(now + lease)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut claimed = rows
            .iter()
            .map(follow_up_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by(|a, b| {
            (a.answered_at, &a.prompt_id, a.kind).cmp(&(b.answered_at, &b.prompt_id, b.kind))
        });
        Ok(claimed)
    }

    async fn complete(&self, claimed: &FollowUp, _now: DateTime<Utc>) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE aisoc_chatops_verify_follow_ups
             SET state = 'done', last_error = NULL, updated_at = now()
             WHERE prompt_id = $1 AND kind = $2 AND state = 'pending'",
        )
        .bind(&claimed.prompt_id)
        .bind(claimed.kind.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn retry_at(
        &self,
        claimed: &FollowUp,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE aisoc_chatops_verify_follow_ups
             SET next_attempt_at = $4, last_error = $5, updated_at = now()
             WHERE prompt_id = $1 AND kind = $2 AND state = 'pending' AND attempts = $3",
        )
        .bind(&claimed.prompt_id)
        .bind(claimed.kind.as_str())
        .bind(attempts(claimed))
        .bind(at)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn dead_end(
        &self,
        claimed: &FollowUp,
        reason: &str,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE aisoc_chatops_verify_follow_ups
             SET state = 'dead', last_error = $4, updated_at = now()
             WHERE prompt_id = $1 AND kind = $2 AND state = 'pending' AND attempts = $3",
        )
        .bind(&claimed.prompt_id)
        .bind(claimed.kind.as_str())
        .bind(attempts(claimed))
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn follow_ups(&self, prompt_id: &str) -> Result<Vec<FollowUp>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            follow_up_columns!(),
            " FROM aisoc_chatops_verify_follow_ups WHERE prompt_id = $1"
        ))
        .bind(prompt_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut follow_ups = rows
            .iter()
            .map(follow_up_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        follow_ups.sort_by_key(|f| f.kind);
        Ok(follow_ups)
    }
}
