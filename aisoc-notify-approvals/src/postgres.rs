//! PostgreSQL stores (feature `postgres`), on `sqlx` without compile-time checked queries, so
//! the crate builds without a database. [`migrate`] creates the tables; every store's
//! constructor runs it.
//!
//! Decisions are one conditional `UPDATE … WHERE status = 'pending' AND expires_at > now`
//! plus the audit `INSERT` and, when a run waits, the `INSERT` of its resume into
//! `aisoc_approval_follow_ups`, in one transaction: of any number of concurrent reviewers
//! exactly one row update succeeds, so one resume is queued. Expiry is one statement too (an
//! `UPDATE … RETURNING` feeding the `INSERT` of the `expired` resumes). The audit table refuses
//! `UPDATE` and `DELETE` with a trigger: it is the durable audit trail.
//!
//! ## Tenant isolation
//!
//! `aisoc_approvals` and `aisoc_audit_log` have row-level security keyed on the transaction's
//! `aisoc.tenant_id` setting, FORCEd so that the tables' owner is held to it too (the
//! mechanism of the inbox token table). Every tenant operation runs in a
//! [`tenant_transaction`]: `SET LOCAL ROLE aisoc_approvals_tenant` and
//! `set_config('aisoc.tenant_id', …, true)`, and its queries name the tenant as well. Three
//! paths cross tenants on purpose and run as `aisoc_approvals_dispatcher`, the only role whose
//! policy sees every row: expiring due requests and the follow-up outbox's claims, retries and
//! replays (the follow-up dispatcher's work), and [`tenant_of`](ApprovalStore::tenant_of),
//! which reads nothing but the tenant id of an approval a chat button names. The
//! `chatops.verify` prompts and both follow-up tables are held to the same policies
//! (migration `20261205000001`). The migration creates both roles and grants them to the connecting
//! role (which needs `CREATEROLE` once, or an operator creates the roles beforehand).
//!
//! `chatops.verify` answers are one conditional `UPDATE` of the prompt plus the `INSERT` of
//! its follow-ups (the answer outbox), in one transaction; see [`PgVerificationStore`].

use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{DecisionRequest, DecisionSource};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Row, Transaction};

use crate::follow_up::{
    AnswerOutbox, EXPIRED_BRANCH, EXPIRY_ACTOR, FollowUp, FollowUpFlow, FollowUpKind,
    FollowUpState, ReplayOutcome,
};
use crate::model::{
    ApprovalRequest, ApprovalStatus, AuditEntry, NewApproval, NewAuditEntry, new_id,
};
use crate::store::{ApprovalStore, AuditLog, DecideError, StoreError, validate_new};

use self::outbox::PgOutbox;

mod outbox;
mod verify;

pub use self::verify::PgVerificationStore;

fn backend(err: sqlx::Error) -> StoreError {
    // sqlx errors name tables and constraints, never the connection string.
    StoreError::Backend(err.to_string())
}

/// Creates or updates this crate's tables. Other crates' migrations in the same database are
/// left alone.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
        .run(pool)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))
}

/// Opens a transaction scoped to one tenant: `SET LOCAL ROLE aisoc_approvals_tenant` and
/// `aisoc.tenant_id`, so row-level security holds every statement in it to `tenant_id`.
pub async fn tenant_transaction<'a>(
    pool: &'a PgPool,
    tenant_id: &str,
) -> Result<Transaction<'a, sqlx::Postgres>, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SET LOCAL ROLE aisoc_approvals_tenant")
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query("SELECT set_config('aisoc.tenant_id', $1, true)")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(tx)
}

/// Opens a transaction as `aisoc_approvals_dispatcher`, the deliberate cross-tenant bypass (see
/// the module docs): only expiry, the follow-up outbox's dispatcher work and
/// [`tenant_of`](ApprovalStore::tenant_of) use it.
async fn dispatcher_transaction(
    pool: &PgPool,
) -> Result<Transaction<'_, sqlx::Postgres>, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SET LOCAL ROLE aisoc_approvals_dispatcher")
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(tx)
}

/// The approval columns, in the order every query returns them (sqlx wants SQL as literals).
macro_rules! approval_columns {
    () => {
        "id, tenant_id, summary, risk_score, requested_action, status, reviewer, source, \
         notes, created_at, expires_at, reviewed_at, run_id, case_id"
    };
}

fn approval_from_row(row: &PgRow) -> Result<ApprovalRequest, StoreError> {
    let status: String = row.try_get("status").map_err(backend)?;
    let source: Option<String> = row.try_get("source").map_err(backend)?;
    let risk: Option<i16> = row.try_get("risk_score").map_err(backend)?;
    Ok(ApprovalRequest {
        id: row.try_get("id").map_err(backend)?,
        tenant_id: row.try_get("tenant_id").map_err(backend)?,
        summary: row.try_get("summary").map_err(backend)?,
        risk_score: risk.and_then(|r| u8::try_from(r).ok()),
        requested_action: row.try_get("requested_action").map_err(backend)?,
        status: status.parse().map_err(StoreError::Backend)?,
        reviewer: row.try_get("reviewer").map_err(backend)?,
        source: source.as_deref().map(parse_source).transpose()?,
        notes: row.try_get("notes").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        reviewed_at: row.try_get("reviewed_at").map_err(backend)?,
        run_id: row.try_get("run_id").map_err(backend)?,
        case_id: row.try_get("case_id").map_err(backend)?,
    })
}

fn parse_source(source: &str) -> Result<DecisionSource, StoreError> {
    match source {
        "slack" => Ok(DecisionSource::Slack),
        "teams" => Ok(DecisionSource::Teams),
        "api" => Ok(DecisionSource::Api),
        other => Err(StoreError::Backend(format!(
            "unknown decision source '{other}'"
        ))),
    }
}

async fn insert_audit(
    tx: &mut Transaction<'_, sqlx::Postgres>,
    entry: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let row = sqlx::query(
        "INSERT INTO aisoc_audit_log (tenant_id, action, subject_id, actor, details, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, tenant_id, action, subject_id, actor, details, created_at",
    )
    .bind(&entry.tenant_id)
    .bind(&entry.action)
    .bind(&entry.subject_id)
    .bind(&entry.actor)
    .bind(&entry.details)
    .bind(entry.created_at)
    .fetch_one(&mut **tx)
    .await
    .map_err(backend)?;
    audit_from_row(&row)
}

fn audit_from_row(row: &PgRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.try_get("id").map_err(backend)?,
        tenant_id: row.try_get("tenant_id").map_err(backend)?,
        action: row.try_get("action").map_err(backend)?,
        subject_id: row.try_get("subject_id").map_err(backend)?,
        actor: row.try_get("actor").map_err(backend)?,
        details: row.try_get("details").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

/// Approvals in PostgreSQL; decisions write their audit entry to `aisoc_audit_log` and their
/// resume to `aisoc_approval_follow_ups` in the same transaction.
#[derive(Debug, Clone)]
pub struct PgApprovalStore {
    pool: PgPool,
    outbox: PgOutbox,
}

impl PgApprovalStore {
    /// Runs the migrations and returns the store.
    pub async fn new(pool: PgPool) -> Result<Self, StoreError> {
        migrate(&pool).await?;
        Ok(Self {
            outbox: PgOutbox::new(pool.clone(), FollowUpFlow::Approval),
            pool,
        })
    }

    /// Queues the resume of the run waiting on `approval`, if any, inside `tx`.
    async fn queue_resume(
        &self,
        tx: &mut Transaction<'_, sqlx::Postgres>,
        approval: &ApprovalRequest,
    ) -> Result<(), StoreError> {
        match FollowUp::for_decision(approval) {
            Some(follow_up) => self.outbox.insert(tx, &follow_up).await,
            None => Ok(()),
        }
    }
}

#[async_trait]
impl ApprovalStore for PgApprovalStore {
    async fn create(
        &self,
        new: NewApproval,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, StoreError> {
        validate_new(&new)?;
        let id = new.id.unwrap_or_else(|| new_id("apr"));
        let mut tx = tenant_transaction(&self.pool, &new.tenant_id).await?;
        let row = sqlx::query(concat!("INSERT INTO aisoc_approvals (id, tenant_id, summary, risk_score, requested_action, notes, created_at, expires_at, run_id, case_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (id) DO NOTHING
             RETURNING ", approval_columns!(), ""))
        .bind(&id)
        .bind(&new.tenant_id)
        .bind(&new.summary)
        .bind(new.risk_score.map(i16::from))
        .bind(&new.requested_action)
        .bind(&new.notes)
        .bind(now)
        .bind(new.expires_at)
        .bind(&new.run_id)
        .bind(&new.case_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        match row {
            Some(row) => approval_from_row(&row),
            None => Err(StoreError::Conflict(format!("approval request '{id}'"))),
        }
    }

    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM aisoc_approvals WHERE id = $1 AND tenant_id = $2"
        ))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        row.as_ref().map(approval_from_row).transpose()
    }

    async fn tenant_of(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let tenant = sqlx::query_scalar("SELECT tenant_id FROM aisoc_approvals WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(tenant)
    }

    async fn list(
        &self,
        tenant_id: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRequest>, StoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM aisoc_approvals
             WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
             ORDER BY created_at DESC, id"
        ))
        .bind(tenant_id)
        .bind(status.map(ApprovalStatus::as_str))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        rows.iter().map(approval_from_row).collect()
    }

    async fn decide(
        &self,
        tenant_id: &str,
        request: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, DecideError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let status = ApprovalStatus::from_decision(request.decision);
        let updated = sqlx::query(concat!(
            "UPDATE aisoc_approvals
             SET status = $2, reviewer = $3, source = $4, reviewed_at = $5
             WHERE id = $1 AND tenant_id = $6 AND status = 'pending' AND expires_at > $5
             RETURNING ",
            approval_columns!(),
            ""
        ))
        .bind(&request.approval_id)
        .bind(status.as_str())
        .bind(&request.reviewer.name)
        .bind(request.source.as_str())
        .bind(now)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;

        if let Some(row) = updated {
            let decided = approval_from_row(&row)?;
            insert_audit(
                &mut tx,
                &NewAuditEntry::reviewed(&decided, &request.reviewer.id),
            )
            .await?;
            self.queue_resume(&mut tx, &decided).await?;
            tx.commit().await.map_err(backend)?;
            return Ok(decided);
        }

        // The conditional update matched nothing: find out why, holding the row.
        let current = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM aisoc_approvals WHERE id = $1 AND tenant_id = $2 FOR UPDATE"
        ))
        .bind(&request.approval_id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(current) = current else {
            return Err(DecideError::NotFound);
        };
        let mut current = approval_from_row(&current)?;
        match current.status {
            ApprovalStatus::Approved | ApprovalStatus::Denied => Err(DecideError::AlreadyReviewed(
                current.status.decision().ok_or(DecideError::NotFound)?,
            )),
            ApprovalStatus::Expired => Err(DecideError::Expired),
            ApprovalStatus::Pending => {
                sqlx::query(
                    "UPDATE aisoc_approvals SET status = 'expired', reviewed_at = $2
                     WHERE id = $1 AND tenant_id = $3 AND status = 'pending'",
                )
                .bind(&request.approval_id)
                .bind(now)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                current.status = ApprovalStatus::Expired;
                current.reviewed_at = Some(now);
                self.queue_resume(&mut tx, &current).await?;
                tx.commit().await.map_err(backend)?;
                Err(DecideError::Expired)
            }
        }
    }

    async fn expire_due(&self, now: DateTime<Utc>) -> Result<Vec<ApprovalRequest>, StoreError> {
        // One statement: the rows it expires and the resumes it queues commit together, and a
        // concurrent expiry (another replica) waits on the row locks, then matches nothing.
        // Every tenant's requests expire: the dispatcher's deliberate bypass.
        let mut tx = dispatcher_transaction(&self.pool).await?;
        let rows = sqlx::query(concat!(
            "WITH expired AS (
                 UPDATE aisoc_approvals SET status = 'expired', reviewed_at = $1
                 WHERE status = 'pending' AND expires_at <= $1
                 RETURNING ",
            approval_columns!(),
            "
             ), queued AS (
                 INSERT INTO aisoc_approval_follow_ups
                     (approval_id, kind, tenant_id, case_id, run_id, reviewer, branch, decided_at,
                      next_attempt_at, updated_at)
                 SELECT id, 'resume', tenant_id, case_id, run_id, $2, $3, $1, $1, $1
                 FROM expired WHERE run_id IS NOT NULL
             )
             SELECT ",
            approval_columns!(),
            " FROM expired"
        ))
        .bind(now)
        .bind(EXPIRY_ACTOR)
        .bind(EXPIRED_BRANCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        rows.iter().map(approval_from_row).collect()
    }
}

#[async_trait]
impl AnswerOutbox for PgApprovalStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<FollowUp>, StoreError> {
        self.expire_due(now).await?;
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

/// The audit trail in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgAuditLog {
    pool: PgPool,
}

impl PgAuditLog {
    /// Runs the migrations and returns the log.
    pub async fn new(pool: PgPool) -> Result<Self, StoreError> {
        migrate(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl AuditLog for PgAuditLog {
    async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = tenant_transaction(&self.pool, &entry.tenant_id).await?;
        let stored = insert_audit(&mut tx, &entry).await?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn list(
        &self,
        tenant_id: &str,
        subject_id: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut tx = tenant_transaction(&self.pool, tenant_id).await?;
        let rows = sqlx::query(
            "SELECT id, tenant_id, action, subject_id, actor, details, created_at FROM aisoc_audit_log
             WHERE tenant_id = $1 AND ($2::text IS NULL OR subject_id = $2)
             ORDER BY id",
        )
        .bind(tenant_id)
        .bind(subject_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        rows.iter().map(audit_from_row).collect()
    }
}
