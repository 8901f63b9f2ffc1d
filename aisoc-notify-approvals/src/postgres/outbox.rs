//! The follow-up outbox in PostgreSQL, written once for both follow-up tables
//! (`aisoc_chatops_verify_follow_ups`, `aisoc_approval_follow_ups`).
//!
//! The tables name their columns after their flow (`prompt_id`/`user_ref`/`choice`/`answered_at`
//! and `approval_id`/`reviewer`/`branch`/`decided_at`); [`outbox_sql!`] writes each query for a
//! table as a literal, aliasing those columns to one shape, so one [`PgOutbox`] serves both.
//!
//! Claims take due rows with `FOR UPDATE SKIP LOCKED` and push their `next_attempt_at` out by
//! the lease, so replicas sharing the database never claim the same follow-up at once; fenced
//! updates match the claim's attempt number and lease.
//!
//! Both tables have row-level security (see the `postgres` module docs): the insert runs in the
//! answer's or decision's own transaction (a tenant's, or the dispatcher's for expiry), and
//! everything else here is the dispatcher's work across tenants, so it runs in a
//! [`dispatcher_transaction`].

use std::time::Duration;

use aisoc_notify_core::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::{backend, dispatcher_transaction};
use crate::follow_up::{
    AnswerOutbox, FollowUp, FollowUpFlow, FollowUpKind, FollowUpState, ReplayOutcome,
};
use crate::store::StoreError;

/// Every query the outbox runs against one table.
#[derive(Debug)]
pub(super) struct OutboxSql {
    insert: &'static str,
    claim: &'static str,
    complete: &'static str,
    retry_at: &'static str,
    dead_end: &'static str,
    of_key: &'static str,
    list: &'static str,
    replay: &'static str,
    state_of: &'static str,
}

/// The queries for `$table`, whose key, actor, choice and time columns are named as given.
macro_rules! outbox_sql {
    ($table:literal, key: $key:literal, actor: $actor:literal, choice: $choice:literal, at: $at:literal) => {
        OutboxSql {
            insert: concat!(
                "INSERT INTO ", $table, " (", $key, ", kind, tenant_id, case_id, run_id, ",
                $actor, ", ", $choice, ", ", $at, ", next_attempt_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            claim: concat!(
                "UPDATE ", $table, " f
                 SET attempts = f.attempts + 1, next_attempt_at = $2, updated_at = $1
                 FROM (SELECT ", $key, " AS due_key, kind AS due_kind FROM ", $table, "
                       WHERE state = 'pending' AND next_attempt_at <= $1
                       ORDER BY next_attempt_at
                       LIMIT $3
                       FOR UPDATE SKIP LOCKED) due
                 WHERE f.", $key, " = due.due_key AND f.kind = due.due_kind
                 RETURNING ", outbox_sql!(@columns $key, $actor, $choice, $at)
            ),
            complete: concat!(
                "UPDATE ", $table, " SET state = 'done', last_error = NULL, updated_at = $3
                 WHERE ", $key, " = $1 AND kind = $2 AND state = 'pending'"
            ),
            retry_at: concat!(
                "UPDATE ", $table, " SET next_attempt_at = $5, last_error = $6
                 WHERE ", $key, " = $1 AND kind = $2 AND state = 'pending' AND attempts = $3
                   AND next_attempt_at = $4"
            ),
            dead_end: concat!(
                "UPDATE ", $table, " SET state = 'dead', updated_at = $5, last_error = $6
                 WHERE ", $key, " = $1 AND kind = $2 AND state = 'pending' AND attempts = $3
                   AND next_attempt_at = $4"
            ),
            of_key: concat!(
                "SELECT ", outbox_sql!(@columns $key, $actor, $choice, $at),
                " FROM ", $table, " WHERE ", $key, " = $1"
            ),
            list: concat!(
                "SELECT ", outbox_sql!(@columns $key, $actor, $choice, $at),
                " FROM ", $table, " WHERE state = $1
                 ORDER BY updated_at DESC, ", $key, ", kind LIMIT $2"
            ),
            replay: concat!(
                "UPDATE ", $table, "
                 SET state = 'pending', attempts = 0, next_attempt_at = $3, updated_at = $3
                 WHERE ", $key, " = $1 AND kind = $2 AND state = 'dead'
                 RETURNING ", outbox_sql!(@columns $key, $actor, $choice, $at)
            ),
            state_of: concat!(
                "SELECT state FROM ", $table, " WHERE ", $key, " = $1 AND kind = $2"
            ),
        }
    };
    (@columns $key:literal, $actor:literal, $choice:literal, $at:literal) => {
        concat!(
            $key, " AS key, kind, tenant_id, case_id, run_id, ", $actor, " AS actor, ",
            $choice, " AS choice, ", $at, " AS answered_at, state, attempts, next_attempt_at, \
             last_error, updated_at"
        )
    };
}

const VERIFY_SQL: OutboxSql = outbox_sql!(
    "aisoc_chatops_verify_follow_ups",
    key: "prompt_id",
    actor: "user_ref",
    choice: "choice",
    at: "answered_at"
);

const APPROVAL_SQL: OutboxSql = outbox_sql!(
    "aisoc_approval_follow_ups",
    key: "approval_id",
    actor: "reviewer",
    choice: "branch",
    at: "decided_at"
);

/// One flow's follow-up table.
#[derive(Debug, Clone)]
pub(super) struct PgOutbox {
    pool: PgPool,
    flow: FollowUpFlow,
    sql: &'static OutboxSql,
}

fn attempts(follow_up: &FollowUp) -> i32 {
    i32::try_from(follow_up.attempts).unwrap_or(i32::MAX)
}

impl PgOutbox {
    /// The table of `flow`'s follow-ups.
    pub(super) fn new(pool: PgPool, flow: FollowUpFlow) -> Self {
        let sql = match flow {
            FollowUpFlow::Verify => &VERIFY_SQL,
            FollowUpFlow::Approval => &APPROVAL_SQL,
        };
        Self { pool, flow, sql }
    }

    fn read_row(&self, row: &PgRow) -> Result<FollowUp, StoreError> {
        let kind: String = row.try_get("kind").map_err(backend)?;
        let state: String = row.try_get("state").map_err(backend)?;
        let attempts: i32 = row.try_get("attempts").map_err(backend)?;
        let stored = |e: StoreError| StoreError::Backend(e.to_string());
        Ok(FollowUp {
            flow: self.flow,
            key: row.try_get("key").map_err(backend)?,
            kind: kind.parse().map_err(stored)?,
            tenant_id: row.try_get("tenant_id").map_err(backend)?,
            case_id: row.try_get("case_id").map_err(backend)?,
            run_id: row.try_get("run_id").map_err(backend)?,
            actor: row.try_get("actor").map_err(backend)?,
            choice: row.try_get("choice").map_err(backend)?,
            answered_at: row.try_get("answered_at").map_err(backend)?,
            state: state.parse().map_err(stored)?,
            attempts: u32::try_from(attempts).unwrap_or_default(),
            next_attempt_at: row.try_get("next_attempt_at").map_err(backend)?,
            last_error: row.try_get("last_error").map_err(backend)?,
            updated_at: row.try_get("updated_at").map_err(backend)?,
        })
    }

    fn read_rows(&self, rows: &[PgRow]) -> Result<Vec<FollowUp>, StoreError> {
        rows.iter().map(|row| self.read_row(row)).collect()
    }

    /// Queues `follow_up` inside the transaction that records its answer or decision.
    pub(super) async fn insert(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        follow_up: &FollowUp,
    ) -> Result<(), StoreError> {
        sqlx::query(self.sql.insert)
            .bind(&follow_up.key)
            .bind(follow_up.kind.as_str())
            .bind(&follow_up.tenant_id)
            .bind(&follow_up.case_id)
            .bind(&follow_up.run_id)
            .bind(&follow_up.actor)
            .bind(&follow_up.choice)
            .bind(follow_up.answered_at)
            .bind(follow_up.next_attempt_at)
            .bind(follow_up.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Runs a fenced update (`retry_at`, `dead_end`): `$1`-`$4` name the claim, `$5` is a
    /// time, `$6` the reason.
    async fn fenced(
        &self,
        sql: &'static str,
        claimed: &FollowUp,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let updated = sqlx::query(sql)
            .bind(&claimed.key)
            .bind(claimed.kind.as_str())
            .bind(attempts(claimed))
            .bind(claimed.next_attempt_at)
            .bind(at)
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(updated.rows_affected() > 0)
    }
}

#[async_trait]
impl AnswerOutbox for PgOutbox {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let lease = chrono::Duration::from_std(lease)
            .map_err(|_| StoreError::Invalid("lease is too long".into()))?;
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let rows = sqlx::query(self.sql.claim)
            .bind(now)
            .bind(now + lease)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let mut claimed = self.read_rows(&rows)?;
        claimed
            .sort_by(|a, b| (a.answered_at, &a.key, a.kind).cmp(&(b.answered_at, &b.key, b.kind)));
        Ok(claimed)
    }

    async fn complete(&self, claimed: &FollowUp, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let updated = sqlx::query(self.sql.complete)
            .bind(&claimed.key)
            .bind(claimed.kind.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn retry_at(
        &self,
        claimed: &FollowUp,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.fenced(self.sql.retry_at, claimed, at, reason).await
    }

    async fn dead_end(
        &self,
        claimed: &FollowUp,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.fenced(self.sql.dead_end, claimed, now, reason).await
    }

    async fn follow_ups(&self, key: &str) -> Result<Vec<FollowUp>, StoreError> {
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let rows = sqlx::query(self.sql.of_key)
            .bind(key)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let mut follow_ups = self.read_rows(&rows)?;
        follow_ups.sort_by_key(|f| f.kind);
        Ok(follow_ups)
    }

    async fn list_follow_ups(
        &self,
        state: FollowUpState,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let rows = sqlx::query(self.sql.list)
            .bind(state.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        self.read_rows(&rows)
    }

    async fn replay(
        &self,
        key: &str,
        kind: FollowUpKind,
        now: DateTime<Utc>,
    ) -> Result<ReplayOutcome, StoreError> {
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let replayed = sqlx::query(self.sql.replay)
            .bind(key)
            .bind(kind.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some(row) = replayed {
            tx.commit().await.map_err(backend)?;
            return Ok(ReplayOutcome::Replayed(Box::new(self.read_row(&row)?)));
        }
        let current = sqlx::query(self.sql.state_of)
            .bind(key)
            .bind(kind.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(match current {
            None => ReplayOutcome::Unknown,
            Some(row) => ReplayOutcome::NotDead(
                row.try_get::<String, _>("state")
                    .map_err(backend)?
                    .parse()
                    .map_err(|e: StoreError| StoreError::Backend(e.to_string()))?,
            ),
        })
    }
}
