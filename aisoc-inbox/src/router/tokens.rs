//! Inbox token administration (feature `axum`): minting, rotation and revocation, relative to
//! the host's nest point (the reference gateway nests them at `/v1/admin/inbox`):
//!
//! | route | what |
//! |---|---|
//! | `POST /tokens` | mint: `{tenant_id, template, signing_secret?, signature_schemes?}`; the token is answered once |
//! | `POST /tokens/{id}/rotate?tenant_id=` | replace a token with a new one |
//! | `DELETE /tokens/{id}?tenant_id=` | revoke a token |
//!
//! Every route names the tenant it acts for (in the body when minting, else as `?tenant_id=`),
//! checked by core's [`validate_tenant_id`]: a missing or malformed one answers 422 naming
//! `tenant_id`. Another tenant's token id answers 404, exactly like an unknown one.
//!
//! These routes hand out credentials, and this crate knows no administrator: the host must
//! wrap the router in its own authentication (`route_layer`), as the reference gateway does with
//! its admin bearer check.

use aisoc_notify_core::http::{ApiError, TenantParam};
use aisoc_notify_core::secret::ExposeSecret;
use aisoc_notify_core::signature::SignatureError;
use aisoc_notify_core::tenant::validate_tenant_id;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::pipeline::Inbox;
use crate::token::{TokenStoreError, mint_with_schemes, scheme_name};

/// `POST /tokens`, `POST /tokens/{id}/rotate` and `DELETE /tokens/{id}`, for the host to nest
/// (the reference gateway: at `/v1/admin/inbox`, behind its admin bearer check).
pub fn token_admin_router(inbox: Inbox) -> Router {
    Router::new()
        .route("/tokens", post(mint_token))
        .route("/tokens/{id}/rotate", post(rotate_token))
        .route("/tokens/{id}", delete(revoke_token))
        .with_state(inbox)
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/tokens", tag = "inbox-tokens",
    summary = "Mint an inbox token for a tenant and template (the token is shown once)",
    security(("admin_bearer" = [])),
    request_body = MintRequest,
    responses(
        (status = 201, description = "Minted", body = openapi::MintedToken),
        (status = 400, description = "Unknown template (the available ones are named)", body = super::openapi::InboxError),
        (status = 401, description = "Missing or wrong admin bearer token", body = super::openapi::InboxError),
        (status = 422, description = "A field to fix (named in the error)", body = super::openapi::InboxError),
        (status = 503, description = "The store is unavailable", body = super::openapi::InboxError),
    ),
))]
async fn mint_token(
    State(inbox): State<Inbox>,
    body: Result<Json<MintRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    if let Err(invalid) = validate_tenant_id(&request.tenant_id) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string());
    }
    if inbox.templates().get(&request.template).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown template '{}' (available: {})",
                request.template,
                inbox.templates().ids().join(", ")
            ),
        );
    }
    let schemes = match request
        .signature_schemes
        .map(|names| {
            names
                .iter()
                .map(|name| name.parse())
                .collect::<Result<Vec<_>, SignatureError>>()
        })
        .transpose()
    {
        Ok(schemes) => schemes,
        Err(unknown) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("signature_schemes: {unknown}"),
            );
        }
    };
    match mint_with_schemes(
        inbox.resolver().store().as_ref(),
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
                    schemes.iter().map(|s| scheme_name(*s)).collect::<Vec<_>>()
                }),
            })),
        )
            .into_response(),
        Err(e) => token_error(e),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/tokens/{id}/rotate", tag = "inbox-tokens",
    summary = "Replace an inbox token with a new one",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The token's id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 201, description = "Rotated", body = openapi::RotatedToken),
        (status = 401, description = "Missing or wrong admin bearer token", body = super::openapi::InboxError),
        (status = 404, description = "No such token for the tenant", body = super::openapi::InboxError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = super::openapi::InboxError),
        (status = 503, description = "The store is unavailable", body = super::openapi::InboxError),
    ),
))]
async fn rotate_token(
    State(inbox): State<Inbox>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
) -> Response {
    match inbox.resolver().rotate(&tenant_id, &id).await {
        Ok(minted) => (
            StatusCode::CREATED,
            Json(json!({"token": minted.token.expose_secret(), "id": minted.record.id, "replaces": id})),
        )
            .into_response(),
        Err(e) => token_error(e),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/tokens/{id}", tag = "inbox-tokens",
    summary = "Revoke an inbox token",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The token's id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 204, description = "Revoked (empty body)"),
        (status = 401, description = "Missing or wrong admin bearer token", body = super::openapi::InboxError),
        (status = 404, description = "No such token for the tenant", body = super::openapi::InboxError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = super::openapi::InboxError),
        (status = 503, description = "The store is unavailable", body = super::openapi::InboxError),
    ),
))]
async fn revoke_token(
    State(inbox): State<Inbox>,
    Path(id): Path<String>,
    TenantParam(tenant_id): TenantParam,
) -> Response {
    match inbox.resolver().revoke(&tenant_id, &id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => token_error(e),
    }
}

/// The OpenAPI description of [`token_admin_router`] (feature `openapi`), paths relative to
/// its nest point. The operations name the `admin_bearer` security scheme, which the host
/// defines (the reference gateway's admin token).
#[cfg(feature = "openapi")]
pub(super) mod openapi {
    #![allow(dead_code)] // The schema-only types are described, never built.

    use super::{__path_mint_token, __path_revoke_token, __path_rotate_token};
    use crate::router::openapi::InboxError;

    /// The routes of [`token_admin_router`](super::token_admin_router), relative to its nest
    /// point.
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(mint_token, rotate_token, revoke_token),
        components(schemas(MintedToken, RotatedToken, InboxError))
    )]
    pub struct TokenAdminApi;

    /// A minted inbox token. The token is shown once.
    #[derive(utoipa::ToSchema)]
    pub struct MintedToken {
        /// The token: the secret part of `POST /v1/inbox/{tenant_token}`.
        token: String,
        /// Its id, for rotation and revocation.
        id: String,
        /// The tenant.
        tenant_id: String,
        /// The template that maps its events.
        template: String,
        /// The signature schemes it accepts, when limited.
        signature_schemes: Option<Vec<String>>,
    }

    /// A rotated inbox token. The new token is shown once; the old one stops working.
    #[derive(utoipa::ToSchema)]
    pub struct RotatedToken {
        /// The new token.
        token: String,
        /// The new token's id.
        id: String,
        /// The id of the token it replaces.
        replaces: String,
    }
}
