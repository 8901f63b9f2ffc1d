//! Admin and REST routes: inbox token minting, rotation and revocation; approval requests and
//! decisions; the audit trail. Every route requires the admin bearer token.
//!
//! Every route names the tenant it acts for: in the body (`POST /v1/admin/inbox/tokens`,
//! `POST /v1/approvals`) or as `?tenant_id=` (every other route, the id-addressed ones
//! included: `GET /v1/approvals/{id}`, `POST /v1/approvals/{id}/decision`, token rotation and
//! revocation). Another tenant's id answers 404, exactly like an unknown one. Tenant ids are
//! checked by core's [`validate_tenant_id`] (1-64 characters of `A-Z a-z 0-9 . _ -`): a
//! missing or malformed one answers 422 naming `tenant_id`.
//!
//! `POST /v1/approvals` takes `{tenant_id, summary, requested_action, risk_score?,
//! ttl_seconds? (default 3600), run_id?, case_id?}`: with a `run_id` (the playbook run waiting
//! on the decision, 1-128 characters) the decision queues the run's resume, delivered to
//! `AISOC_PLAYBOOK_RESUME_URL` with the approval id as its idempotency key. A store that cannot
//! take another request (the in-memory one is capped) answers 507 saying why. The answer is the
//! request plus `cards: [{channel, type, state, error?}]`, what posting its approval card to
//! each selected channel did ([`crate::approval_cards`]).

use std::sync::Arc;
use std::time::Duration;

use aisoc_inbox::Inbox;
use aisoc_inbox::token::TokenStoreError;
use aisoc_notify_approvals::model::{ApprovalStatus, NewApproval};
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_approvals::store::{AuditLog, StoreError};
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionRequest, DecisionSource, Reviewer,
};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::tenant::validate_tenant_id;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{ApiJson, TenantParam, error, require_admin};

/// What the admin routes share.
#[derive(Clone)]
pub struct AdminState {
    /// The admin bearer token.
    pub admin_token: Arc<SecretString>,
    /// The inbox (tokens, templates).
    pub inbox: Inbox,
    /// Approvals.
    pub approvals: ApprovalService,
    /// The audit trail.
    pub audit: Arc<dyn AuditLog>,
    /// Posts each new request's approval card to the channels routing selects; `None` posts
    /// nothing.
    pub cards: Option<crate::approval_cards::ApprovalCards>,
}

/// The admin and REST routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/v1/admin/inbox/tokens", post(mint_token))
        .route("/v1/admin/inbox/tokens/{id}/rotate", post(rotate_token))
        .route("/v1/admin/inbox/tokens/{id}", delete(revoke_token))
        .route("/v1/approvals", get(list_approvals).post(create_approval))
        .route("/v1/approvals/{id}", get(get_approval))
        .route("/v1/approvals/{id}/decision", post(decide))
        .route("/v1/audit", get(audit))
        .route_layer(middleware::from_fn_with_state(
            state.admin_token.clone(),
            require_admin,
        ))
        .with_state(state)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MintRequest {
    tenant_id: String,
    template: String,
    #[serde(default)]
    signing_secret: Option<String>,
    /// The signature schemes the token accepts (`standard`, `aisoc`, `github`, `generic`,
    /// `pagerduty`); absent: the default for its secret.
    #[serde(default)]
    signature_schemes: Option<Vec<String>>,
}

fn token_error(failure: TokenStoreError) -> Response {
    match failure {
        TokenStoreError::NotFound => error(StatusCode::NOT_FOUND, "token not found"),
        TokenStoreError::Invalid(message) => error(StatusCode::UNPROCESSABLE_ENTITY, message),
        other => error(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
    }
}

#[utoipa::path(
    post, path = "/v1/admin/inbox/tokens", tag = "inbox-tokens",
    summary = "Mint an inbox token for a tenant and template (the token is shown once)",
    security(("admin_bearer" = [])),
    request_body = MintRequest,
    responses(
        (status = 201, description = "Minted", body = crate::openapi::MintedToken),
        (status = 400, description = "Unknown template (the available ones are named)", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "A field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn mint_token(
    State(state): State<AdminState>,
    ApiJson(request): ApiJson<MintRequest>,
) -> Response {
    if let Err(invalid) = validate_tenant_id(&request.tenant_id) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string());
    }
    if state.inbox.templates().get(&request.template).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown template '{}' (available: {})",
                request.template,
                state.inbox.templates().ids().join(", ")
            ),
        );
    }
    let schemes = match request
        .signature_schemes
        .map(|names| {
            names
                .iter()
                .map(|name| name.parse())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
    {
        Ok(schemes) => schemes,
        Err(unknown) => {
            let unknown: aisoc_notify_core::signature::SignatureError = unknown;
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("signature_schemes: {unknown}"),
            );
        }
    };
    match aisoc_inbox::token::mint_with_schemes(
        state.inbox.resolver().store().as_ref(),
        &request.tenant_id,
        &request.template,
        request.signing_secret,
        schemes,
    )
    .await
    {
        Ok(minted) => (
            StatusCode::CREATED,
            Json(json!({
                "token": minted.token.expose_secret(),
                "id": minted.record.id,
                "tenant_id": minted.record.tenant_id,
                "template": minted.record.template_id,
                "signature_schemes": minted.record.signature_schemes.as_ref().map(|schemes| {
                    schemes.iter().map(|s| aisoc_inbox::token::scheme_name(*s)).collect::<Vec<_>>()
                }),
            })),
        )
            .into_response(),
        Err(e) => token_error(e),
    }
}

#[utoipa::path(
    post, path = "/v1/admin/inbox/tokens/{id}/rotate", tag = "inbox-tokens",
    summary = "Replace an inbox token with a new one",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The token's id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 201, description = "Rotated", body = crate::openapi::RotatedToken),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such token for the tenant", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn rotate_token(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
) -> Response {
    match state.inbox.resolver().rotate(&tenant_id, &id).await {
        Ok(minted) => (
            StatusCode::CREATED,
            Json(json!({"token": minted.token.expose_secret(), "id": minted.record.id, "replaces": id})),
        )
            .into_response(),
        Err(e) => token_error(e),
    }
}

#[utoipa::path(
    delete, path = "/v1/admin/inbox/tokens/{id}", tag = "inbox-tokens",
    summary = "Revoke an inbox token",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The token's id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 204, description = "Revoked (empty body)"),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such token for the tenant", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn revoke_token(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
) -> Response {
    match state.inbox.resolver().revoke(&tenant_id, &id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => token_error(e),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
    post, path = "/v1/approvals", tag = "approvals",
    summary = "Create an approval request and post its card to the selected channels",
    security(("admin_bearer" = [])),
    request_body = NewApprovalRequest,
    responses(
        (status = 201, description = "Created", body = crate::openapi::CreatedApproval),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 409, description = "An approval with this id exists", body = crate::openapi::ApiError),
        (status = 422, description = "A field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
        (status = 507, description = "The store cannot take another request", body = crate::openapi::ApiError),
    ),
)]
async fn create_approval(
    State(state): State<AdminState>,
    ApiJson(request): ApiJson<NewApprovalRequest>,
) -> Response {
    if let Err(invalid) = validate_tenant_id(&request.tenant_id) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string());
    }
    let expires_at = match state
        .approvals
        .expires_in(Duration::from_secs(request.ttl_seconds))
    {
        Ok(expires_at) => expires_at,
        Err(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "ttl_seconds {} is too long: the deadline would be past the end of time",
                    request.ttl_seconds
                ),
            );
        }
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
    match state.approvals.create(new).await {
        Ok(approval) => {
            // Posting never fails the create: each channel's result is reported.
            let cards = match &state.cards {
                Some(cards) => cards.post(&approval).await,
                None => Vec::new(),
            };
            let mut body = json!(approval);
            body["cards"] = json!(cards);
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

#[utoipa::path(
    get, path = "/v1/approvals", tag = "approvals",
    summary = "List a tenant's approval requests",
    security(("admin_bearer" = [])),
    params(("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)"), ("status" = Option<String>, Query, description = "Only requests in this state: pending, approved, denied, expired")),
    responses(
        (status = 200, description = "The requests", body = Vec<crate::openapi::Approval>),
        (status = 400, description = "Unknown status", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn list_approvals(
    State(state): State<AdminState>,
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
    match state.approvals.store().list(&tenant_id, status).await {
        Ok(list) => Json(list).into_response(),
        Err(failure) => store_error(failure),
    }
}

#[utoipa::path(
    get, path = "/v1/approvals/{id}", tag = "approvals",
    summary = "One approval request",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The approval id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 200, description = "The request", body = crate::openapi::Approval),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such request for the tenant", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn get_approval(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
) -> Response {
    match state.approvals.store().get(&tenant_id, &id).await {
        Ok(Some(approval)) => Json(approval).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "Approval request not found"),
        Err(failure) => store_error(failure),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct DecisionBody {
    decision: String,
    reviewer: String,
}

#[utoipa::path(
    post, path = "/v1/approvals/{id}/decision", tag = "approvals",
    summary = "Approve or deny an approval request",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The approval id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Recorded", body = crate::openapi::DecisionRecorded),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such request for the tenant", body = crate::openapi::ApiError),
        (status = 409, description = "Already decided", body = crate::openapi::ApiError),
        (status = 410, description = "Expired", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn decide(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Response {
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
    match state.approvals.decide_for_tenant(&tenant_id, request).await {
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

#[utoipa::path(
    get, path = "/v1/audit", tag = "audit",
    summary = "A tenant's audit trail",
    security(("admin_bearer" = [])),
    params(("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)"), ("subject_id" = Option<String>, Query, description = "Only records about this subject (an approval or case id)")),
    responses(
        (status = 200, description = "The records, oldest first", body = Vec<crate::openapi::AuditEntry>),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn audit(
    State(state): State<AdminState>,
    TenantParam(tenant_id): TenantParam,
    Query(query): Query<AuditQuery>,
) -> Response {
    match state
        .audit
        .list(&tenant_id, query.subject_id.as_deref())
        .await
    {
        Ok(entries) => Json(entries).into_response(),
        Err(failure) => store_error(failure),
    }
}
