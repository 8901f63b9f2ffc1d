//! The approvals REST routes and the audit trail (feature `axum`), relative to the host's nest
//! point (the reference gateway nests them at `/v1`):
//!
//! | route | what |
//! |---|---|
//! | `POST /approvals` | create a request: `{tenant_id, summary, requested_action, risk_score?, ttl_seconds? (default 3600), run_id?, case_id?}` |
//! | `GET /approvals?tenant_id=&status=` | a tenant's requests, optionally in one state |
//! | `GET /approvals/{id}?tenant_id=` | one request |
//! | `POST /approvals/{id}/decision?tenant_id=` | `{decision: approve\|deny, reviewer}` |
//! | `GET /audit?tenant_id=&subject_id=` | a tenant's audit trail, oldest first |
//!
//! Every route names the tenant it acts for, in the body (`POST /approvals`) or as
//! `?tenant_id=`, checked by core's [`validate_tenant_id`]: a missing or malformed one answers
//! 422 naming `tenant_id`. Another tenant's id answers 404, exactly like an unknown one.
//!
//! Who may call these routes is the host's decision, not this crate's: it knows no admin token.
//! The host wraps the router in its own authentication (`route_layer`), as the reference gateway
//! does with its admin bearer check.
//!
//! With a `run_id` (the playbook run waiting on the decision, 1-128 characters) the decision
//! queues the run's resume. A store that cannot take another request answers 507 saying why.
//! The created request is answered with `cards`: what the host's [`ApprovalCreated`] hook
//! reported (the reference gateway posts the approval card to each selected channel), or `[]`
//! without one.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionRequest, DecisionSource, Reviewer,
};
use aisoc_notify_core::http::{ApiError, TenantParam};
use aisoc_notify_core::tenant::validate_tenant_id;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::model::{ApprovalRequest, ApprovalStatus, NewApproval};
use crate::service::ApprovalService;
use crate::store::{AuditLog, StoreError};

/// Told of each request `POST /approvals` created, before the answer is sent; what it returns
/// is the answer's `cards`. The request is already stored: a hook reports its failures in what
/// it returns rather than failing the create.
#[async_trait]
pub trait ApprovalCreated: Send + Sync {
    /// Acts on the new request (posts its card, say) and returns what to answer as `cards`
    /// (a JSON array in the reference gateway: one entry per channel).
    async fn created(&self, approval: &ApprovalRequest) -> serde_json::Value;
}

/// What the approvals routes serve from.
#[derive(Clone)]
pub struct ApprovalRoutes {
    approvals: ApprovalService,
    audit: Arc<dyn AuditLog>,
    on_created: Option<Arc<dyn ApprovalCreated>>,
}

impl ApprovalRoutes {
    /// Routes over `approvals` and the `audit` trail, without a creation hook.
    pub fn new(approvals: ApprovalService, audit: Arc<dyn AuditLog>) -> Self {
        Self {
            approvals,
            audit,
            on_created: None,
        }
    }

    /// Calls `hook` for each created request and answers what it returns as `cards`.
    pub fn on_created(mut self, hook: Arc<dyn ApprovalCreated>) -> Self {
        self.on_created = Some(hook);
        self
    }
}

/// `/approvals`, `/approvals/{id}`, `/approvals/{id}/decision` and `/audit`, for the host to
/// nest (the reference gateway: at `/v1`, behind its admin bearer check).
pub fn approvals_router(routes: ApprovalRoutes) -> Router {
    Router::new()
        .route("/approvals", get(list_approvals).post(create_approval))
        .route("/approvals/{id}", get(get_approval))
        .route("/approvals/{id}/decision", post(decide))
        .route("/audit", get(audit))
        .with_state(routes)
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

/// A JSON body's rejection in the error shape, with the status axum chose (400 malformed,
/// 413 too large, 415 not JSON, 422 wrong fields).
fn rejected(rejection: JsonRejection) -> Response {
    error(rejection.status(), rejection.body_text())
}

/// The status a store failure answers with: what the caller can do about it.
fn store_error(failure: StoreError) -> Response {
    let status = match failure {
        StoreError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, failure.to_string())
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct NewApprovalRequest {
    tenant_id: String,
    summary: String,
    requested_action: String,
    #[serde(default)]
    risk_score: Option<u8>,
    #[serde(default = "default_ttl")]
    ttl_seconds: u64,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    case_id: Option<String>,
}

fn default_ttl() -> u64 {
    3600
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/approvals", tag = "approvals",
    summary = "Create an approval request and post its card to the selected channels",
    security(("admin_bearer" = [])),
    request_body = NewApprovalRequest,
    responses(
        (status = 201, description = "Created", body = openapi::CreatedApproval),
        (status = 401, description = "Missing or wrong admin bearer token", body = openapi::ApiError),
        (status = 409, description = "An approval with this id exists", body = openapi::ApiError),
        (status = 422, description = "A field to fix (named in the error)", body = openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = openapi::ApiError),
        (status = 507, description = "The store cannot take another request", body = openapi::ApiError),
    ),
))]
async fn create_approval(
    State(routes): State<ApprovalRoutes>,
    body: Result<Json<NewApprovalRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return rejected(rejection),
    };
    if let Err(invalid) = validate_tenant_id(&request.tenant_id) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string());
    }
    let Ok(expires_at) = routes
        .approvals
        .expires_in(Duration::from_secs(request.ttl_seconds))
    else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "ttl_seconds {} is too long: the deadline would be past the end of time",
                request.ttl_seconds
            ),
        );
    };
    let new = NewApproval {
        id: None,
        tenant_id: request.tenant_id,
        summary: request.summary,
        risk_score: request.risk_score,
        requested_action: request.requested_action,
        expires_at,
        notes: None,
        run_id: request.run_id,
        case_id: request.case_id,
    };
    match routes.approvals.create(new).await {
        Ok(approval) => {
            // The hook never fails the create: it reports what it did.
            let cards = match &routes.on_created {
                Some(hook) => hook.created(&approval).await,
                None => json!([]),
            };
            let mut body = json!(approval);
            body["cards"] = cards;
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(failure) => store_error(failure),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/approvals", tag = "approvals",
    summary = "List a tenant's approval requests",
    security(("admin_bearer" = [])),
    params(("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)"), ("status" = Option<String>, Query, description = "Only requests in this state: pending, approved, denied, expired")),
    responses(
        (status = 200, description = "The requests", body = Vec<openapi::Approval>),
        (status = 400, description = "Unknown status", body = openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = openapi::ApiError),
    ),
))]
async fn list_approvals(
    State(routes): State<ApprovalRoutes>,
    TenantParam(tenant_id): TenantParam,
    Query(query): Query<ListQuery>,
) -> Response {
    let status = match query
        .status
        .as_deref()
        .map(str::parse::<ApprovalStatus>)
        .transpose()
    {
        Ok(status) => status,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match routes.approvals.store().list(&tenant_id, status).await {
        Ok(list) => Json(list).into_response(),
        Err(failure) => store_error(failure),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/approvals/{id}", tag = "approvals",
    summary = "One approval request",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The approval id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 200, description = "The request", body = openapi::Approval),
        (status = 401, description = "Missing or wrong admin bearer token", body = openapi::ApiError),
        (status = 404, description = "No such request for the tenant", body = openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = openapi::ApiError),
    ),
))]
async fn get_approval(
    State(routes): State<ApprovalRoutes>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
) -> Response {
    match routes.approvals.store().get(&tenant_id, &id).await {
        Ok(Some(approval)) => Json(approval).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "Approval request not found"),
        Err(failure) => store_error(failure),
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct DecisionBody {
    decision: String,
    reviewer: String,
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/approvals/{id}/decision", tag = "approvals",
    summary = "Approve or deny an approval request",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The approval id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Recorded", body = openapi::DecisionRecorded),
        (status = 401, description = "Missing or wrong admin bearer token", body = openapi::ApiError),
        (status = 404, description = "No such request for the tenant", body = openapi::ApiError),
        (status = 409, description = "Already decided", body = openapi::ApiError),
        (status = 410, description = "Expired", body = openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = openapi::ApiError),
    ),
))]
async fn decide(
    State(routes): State<ApprovalRoutes>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return rejected(rejection),
    };
    let decision = match body.decision.as_str() {
        "approve" | "approved" => Decision::Approve,
        "deny" | "denied" => Decision::Deny,
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "decision must be 'approve' or 'deny'",
            );
        }
    };
    if body.reviewer.trim().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reviewer must not be empty",
        );
    }
    let request = DecisionRequest {
        approval_id: id,
        decision,
        reviewer: Reviewer {
            id: body.reviewer.clone(),
            name: body.reviewer,
        },
        source: DecisionSource::Api,
    };
    match routes
        .approvals
        .decide_for_tenant(&tenant_id, request)
        .await
    {
        Ok(recorded) => Json(recorded).into_response(),
        Err(e @ DecisionError::NotFound) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ DecisionError::AlreadyReviewed(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ DecisionError::Expired) => error(StatusCode::GONE, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    subject_id: Option<String>,
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/audit", tag = "audit",
    summary = "A tenant's audit trail",
    security(("admin_bearer" = [])),
    params(("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)"), ("subject_id" = Option<String>, Query, description = "Only records about this subject (an approval or case id)")),
    responses(
        (status = 200, description = "The records, oldest first", body = Vec<openapi::AuditEntry>),
        (status = 401, description = "Missing or wrong admin bearer token", body = openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = openapi::ApiError),
    ),
))]
async fn audit(
    State(routes): State<ApprovalRoutes>,
    TenantParam(tenant_id): TenantParam,
    Query(query): Query<AuditQuery>,
) -> Response {
    match routes
        .audit
        .list(&tenant_id, query.subject_id.as_deref())
        .await
    {
        Ok(entries) => Json(entries).into_response(),
        Err(failure) => store_error(failure),
    }
}

/// The OpenAPI description of [`approvals_router`] (feature `openapi`), paths relative to its
/// nest point. The operations name the `admin_bearer` security scheme, which the host defines
/// (the reference gateway's admin token); a host that authenticates otherwise adjusts them.
#[cfg(feature = "openapi")]
pub mod openapi {
    #![allow(dead_code)] // The schema-only types are described, never built.

    use super::{
        __path_audit, __path_create_approval, __path_decide, __path_get_approval,
        __path_list_approvals,
    };

    /// The routes of [`approvals_router`](super::approvals_router), relative to its nest point.
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(create_approval, list_approvals, get_approval, decide, audit),
        components(schemas(ApiError, Approval, CreatedApproval, DecisionRecorded, AuditEntry))
    )]
    pub struct ApprovalsApi;

    /// `{"error": "..."}`: what went wrong, naming what to fix.
    #[derive(utoipa::ToSchema)]
    pub struct ApiError {
        /// What went wrong.
        error: String,
    }

    /// Where an approval request stands.
    #[derive(utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ApprovalStatus {
        /// Waiting for a reviewer.
        Pending,
        /// Approved.
        Approved,
        /// Denied.
        Denied,
        /// Nobody decided before the deadline.
        Expired,
    }

    /// An approval request.
    #[derive(utoipa::ToSchema)]
    pub struct Approval {
        /// The id.
        id: String,
        /// The tenant.
        tenant_id: String,
        /// What is being asked.
        summary: String,
        /// How risky, 0-100.
        risk_score: Option<u8>,
        /// The action that runs when approved.
        requested_action: String,
        /// Where it stands.
        status: ApprovalStatus,
        /// Who decided.
        reviewer: Option<String>,
        /// Where they decided (`api`, `slack`, `teams`, …).
        source: Option<String>,
        /// Free-text notes.
        notes: Option<String>,
        /// When it was created (RFC 3339).
        #[schema(format = DateTime)]
        created_at: String,
        /// When it stops accepting decisions (RFC 3339).
        #[schema(format = DateTime)]
        expires_at: String,
        /// When it was decided (RFC 3339).
        #[schema(format = DateTime)]
        reviewed_at: Option<String>,
        /// The playbook run waiting on the decision.
        run_id: Option<String>,
        /// The case it is about.
        case_id: Option<String>,
    }

    /// What posting a new request's approval card to one channel did (the reference
    /// gateway's [`ApprovalCreated`](super::ApprovalCreated) hook).
    #[derive(utoipa::ToSchema)]
    pub struct CardPosted {
        /// The channel id.
        channel: String,
        /// The channel type.
        #[serde(rename = "type")]
        channel_type: String,
        /// What happened to the card.
        state: String,
        /// Why it was not posted.
        error: Option<String>,
    }

    /// A new approval request, with its cards.
    #[derive(utoipa::ToSchema)]
    pub struct CreatedApproval {
        /// The request.
        #[serde(flatten)]
        approval: Approval,
        /// What posting its card to each selected channel did.
        cards: Vec<CardPosted>,
    }

    /// A recorded decision.
    #[derive(utoipa::ToSchema)]
    pub struct DecisionRecorded {
        /// The approval request.
        approval_id: String,
        /// `approve` or `deny`.
        decision: String,
        /// The reviewer's name as recorded.
        reviewer_name: String,
    }

    /// One append-only audit record.
    #[derive(utoipa::ToSchema)]
    pub struct AuditEntry {
        /// Sequence number, increasing.
        id: i64,
        /// The tenant.
        tenant_id: String,
        /// What happened (`approval.reviewed`).
        action: String,
        /// What it happened to.
        subject_id: String,
        /// Who did it.
        actor: String,
        /// Details (risk score, reviewer, source, decision).
        details: serde_json::Value,
        /// When (RFC 3339).
        #[schema(format = DateTime)]
        created_at: String,
    }
}
