//! The admin routes for a tenant's ticketing settings.
//!
//! | route | what |
//! |---|---|
//! | `PUT /v1/settings/itsm/{system}?tenant_id=…` | saves the tenant's settings for `system` (the body is that system's fields, see [`aisoc_notify_itsm::credentials`]); 200 with the set fields, 422 naming the field to fix, 404 for an unknown system, 503 when the store cannot keep them (no `AISOC_DATA_KEY` with PostgreSQL) |
//! | `GET /v1/settings/itsm?tenant_id=…` | every system with `configured`, the fields set and when; never a value |
//! | `DELETE /v1/settings/itsm/{system}?tenant_id=…` | removes them; 204, or 404 when there were none |
//!
//! Settings are checked as the executor will use them before they are saved, including the
//! outbound guard on the API address: a private or metadata address literal is a 422 naming
//! the field.

use std::sync::Arc;

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_itsm::credentials::{ItsmCredentials, ItsmSystem};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router, middleware};
use serde_json::{Value, json};

use super::{ItsmStore, ItsmStoreError};
use crate::auth::{ApiJson, TenantParam, error, require_admin};

/// What a tenant without settings is told (for
/// [`TenantTickets::with_setup_hint`](aisoc_notify_itsm::tenant::TenantTickets::with_setup_hint)).
pub const SETUP_HINT: &str = "PUT /v1/settings/itsm/{system}?tenant_id={tenant}";

#[derive(Clone)]
struct ItsmState {
    store: Arc<dyn ItsmStore>,
    delivery: DeliveryClient,
}

/// The routes above, behind the admin token; settings are checked against `delivery`'s
/// outbound policy.
pub fn router(
    store: Arc<dyn ItsmStore>,
    delivery: DeliveryClient,
    admin_token: Arc<SecretString>,
) -> Router {
    Router::new()
        .route("/v1/settings/itsm", get(list))
        .route("/v1/settings/itsm/{system}", put(save).delete(remove))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .route_layer(middleware::from_fn_with_state(admin_token, require_admin))
        .with_state(ItsmState { store, delivery })
}

fn store_failure(failure: ItsmStoreError) -> Response {
    match failure {
        ItsmStoreError::Unavailable(_) | ItsmStoreError::KeyRequired => {
            error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string())
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, failure.to_string()),
    }
}

#[utoipa::path(
    put, path = "/v1/settings/itsm/{system}", tag = "itsm",
    summary = "Save a tenant's settings for one ticketing system (checked before they are kept)",
    security(("admin_bearer" = [])),
    params(("system" = String, Path, description = "The ticketing system (`jira`, `servicenow`, …)"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    request_body(description = "That system's fields (see `aisoc_notify_itsm::credentials`)", content = Object),
    responses(
        (status = 200, description = "Saved; the fields set, never their values", body = crate::openapi::ItsmSaved),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "Unknown system", body = crate::openapi::ApiError),
        (status = 422, description = "A field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store cannot keep them (unavailable, or no AISOC_DATA_KEY with PostgreSQL)", body = crate::openapi::ApiError),
    ),
)]
async fn save(
    State(state): State<ItsmState>,
    TenantParam(tenant_id): TenantParam,
    Path(system): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let system = match ItsmSystem::parse(&system) {
        Ok(system) => system,
        Err(unknown) => return error(StatusCode::NOT_FOUND, unknown.to_string()),
    };
    if !body.is_object() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the body must be a JSON object of {system} settings"),
        );
    }
    let checked = ItsmCredentials::from_json(system, body)
        .and_then(|credentials| credentials.validate(&state.delivery).map(|()| credentials));
    let credentials = match checked {
        Ok(credentials) => credentials,
        // Every refusal names the field (or the system) to fix, never a value.
        Err(invalid) => return error(StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string()),
    };
    match state.store.put(&tenant_id, &credentials).await {
        Ok(saved) => Json(json!({
            "tenant_id": tenant_id,
            "system": saved.system,
            "set_fields": saved.set_fields,
            "updated_at": saved.updated_at,
        }))
        .into_response(),
        Err(failure) => store_failure(failure),
    }
}

#[utoipa::path(
    get, path = "/v1/settings/itsm", tag = "itsm",
    summary = "Every ticketing system's state for a tenant (never a value)",
    security(("admin_bearer" = [])),
    params(("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 200, description = "Each system", body = crate::openapi::ItsmList),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn list(State(state): State<ItsmState>, TenantParam(tenant_id): TenantParam) -> Response {
    let configured = match state.store.list(&tenant_id).await {
        Ok(configured) => configured,
        Err(failure) => return store_failure(failure),
    };
    let systems: Vec<Value> = ItsmSystem::ALL
        .iter()
        .map(
            |system| match configured.iter().find(|c| c.system == system.as_str()) {
                Some(c) => json!({
                    "system": system.as_str(),
                    "configured": true,
                    "set_fields": c.set_fields,
                    "updated_at": c.updated_at,
                }),
                None => json!({"system": system.as_str(), "configured": false}),
            },
        )
        .collect();
    Json(json!({"tenant_id": tenant_id, "systems": systems})).into_response()
}

#[utoipa::path(
    delete, path = "/v1/settings/itsm/{system}", tag = "itsm",
    summary = "Remove a tenant's settings for one ticketing system",
    security(("admin_bearer" = [])),
    params(("system" = String, Path, description = "The ticketing system (`jira`, `servicenow`, …)"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 204, description = "Removed (empty body)"),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "Unknown system, or none saved", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn remove(
    State(state): State<ItsmState>,
    TenantParam(tenant_id): TenantParam,
    Path(system): Path<String>,
) -> Response {
    let system = match ItsmSystem::parse(&system) {
        Ok(system) => system,
        Err(unknown) => return error(StatusCode::NOT_FOUND, unknown.to_string()),
    };
    match state.store.delete(&tenant_id, system).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            format!("tenant '{tenant_id}' has no {system} credentials"),
        ),
        Err(failure) => store_failure(failure),
    }
}
