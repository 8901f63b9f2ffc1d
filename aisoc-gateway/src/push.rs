//! The user-facing routes of the gateway: Web Push (the `aisoc-notify-webpush` routes under
//! `/api/v1/push`) and the in-app list (the `aisoc-notify-inapp` routes under `/api/v1/inapp`).
//!
//! The reference gateway has no user directory, so a caller is named one of two ways:
//! - a browser page presents a short-lived user token (`Authorization: Bearer <user token>`,
//!   minted by `POST /v1/admin/user-tokens`, see [`crate::user_tokens`]): the tenant and user
//!   are the token's, and `X-AiSOC-Tenant` / `X-AiSOC-User`, if also sent, must match (403);
//! - a server-side caller presents the admin bearer token plus `X-AiSOC-Tenant` and
//!   `X-AiSOC-User` headers. The tenant is checked by core's [`validate_tenant_id`] (422 naming
//!   the header when it does not fit), the user id is 1 to [`MAX_USER_ID_CHARS`] characters.
//!
//! A service that embeds the crates uses its own session check instead (any [`PushUser`] /
//! [`InAppUser`] extractor). `GET /public-key` stays open: a browser needs it before it can
//! subscribe.
//!
//! In-app notifications are kept in PostgreSQL when `DATABASE_URL` is set (row-level security
//! per tenant), else in memory (lost on restart).
//!
//! Without `REDIS_URL` subscriptions are kept in memory within caps
//! ([`SubscriptionLimits`](aisoc_notify_webpush::store::SubscriptionLimits)): a user's 21st
//! device replaces its oldest, and a tenant's 10 001st subscription (or the store's 100 001st)
//! is refused with 507 and a message naming the cap.

use std::sync::Arc;

use aisoc_notify_core::secret::SecretString;
use aisoc_notify_core::tenant::validate_tenant_id;
use aisoc_notify_inapp::InAppStore;
use aisoc_notify_inapp::routes::InAppUser;
use aisoc_notify_webpush::manager::PushManager;
use aisoc_notify_webpush::routes::PushUser;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::{Extension, Router};

use crate::auth::{error, has_bearer, unauthorized};
use crate::user_tokens::UserTokens;

/// The header naming the caller's tenant.
pub const TENANT_HEADER: &str = "x-aisoc-tenant";
/// The header naming the caller.
pub const USER_HEADER: &str = "x-aisoc-user";
/// The longest user id a caller may name.
pub const MAX_USER_ID_CHARS: usize = 128;

/// What the extractor checks, carried as a request extension: the admin token, and the user
/// tokens keyed from it.
#[derive(Clone)]
struct UserAuthority {
    admin_token: Arc<SecretString>,
    tokens: UserTokens,
}

/// A caller authenticated by a user token, or by the admin token and named by the two headers.
#[derive(Debug)]
pub struct GatewayUser {
    tenant_id: String,
    user_id: String,
}

impl PushUser for GatewayUser {
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    fn user_id(&self) -> &str {
        &self.user_id
    }
}

impl InAppUser for GatewayUser {
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    fn user_id(&self) -> &str {
        &self.user_id
    }
}

impl<S: Send + Sync> FromRequestParts<S> for GatewayUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(authority) = parts.extensions.get::<UserAuthority>() else {
            return Err(unauthorized());
        };
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (tenant, user) = (header(TENANT_HEADER), header(USER_HEADER));
        if !has_bearer(&parts.headers, &authority.admin_token) {
            return from_user_token(authority, &parts.headers, tenant, user)
                .map_err(UserTokenRefusal::response);
        }
        match (tenant, user) {
            (Some(_), Some(user_id)) if user_id.chars().count() > MAX_USER_ID_CHARS => Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("X-AiSOC-User: must be at most {MAX_USER_ID_CHARS} characters"),
            )),
            (Some(tenant_id), Some(user_id)) => match validate_tenant_id(&tenant_id) {
                Ok(_) => Ok(Self { tenant_id, user_id }),
                Err(invalid) => Err(error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("X-AiSOC-Tenant: {invalid}"),
                )),
            },
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                "X-AiSOC-Tenant and X-AiSOC-User headers are required",
            )),
        }
    }
}

/// Why a bearer that is not the admin token was refused.
enum UserTokenRefusal {
    /// No token, or not a valid, unexpired user token.
    Invalid,
    /// The headers name someone other than the token.
    NamesAnother,
}

impl UserTokenRefusal {
    fn response(self) -> Response {
        match self {
            UserTokenRefusal::Invalid => {
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "a valid user token (POST /v1/admin/user-tokens) or the admin bearer token \
                     is required; user tokens expire, mint a new one",
                );
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
                response
            }
            UserTokenRefusal::NamesAnother => error(
                StatusCode::FORBIDDEN,
                "X-AiSOC-Tenant / X-AiSOC-User name someone other than the user token",
            ),
        }
    }
}

/// The caller a user token names; headers naming someone else are refused.
fn from_user_token(
    authority: &UserAuthority,
    headers: &axum::http::HeaderMap,
    tenant: Option<String>,
    user: Option<String>,
) -> Result<GatewayUser, UserTokenRefusal> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(UserTokenRefusal::Invalid)?;
    let named = authority.tokens.verify(token.trim()).map_err(|refused| {
        tracing::debug!(%refused, "user token refused");
        UserTokenRefusal::Invalid
    })?;
    if tenant.is_some_and(|t| t != named.tenant_id) || user.is_some_and(|u| u != named.user_id) {
        return Err(UserTokenRefusal::NamesAnother);
    }
    Ok(GatewayUser {
        tenant_id: named.tenant_id,
        user_id: named.user_id,
    })
}

/// `routes`, whose handlers take a [`GatewayUser`], with the admin token (and the user tokens
/// keyed from it) that user's extractor checks: how every per-user router (push, in-app,
/// on-call) is mounted.
pub fn for_gateway_users(routes: Router, admin_token: Arc<SecretString>) -> Router {
    let tokens = UserTokens::from_admin_token(&admin_token);
    routes.layer(Extension(UserAuthority {
        admin_token,
        tokens,
    }))
}

/// The push routes, for `.nest("/api/v1/push", push::router(manager, admin_token))`.
pub fn router(manager: PushManager, admin_token: Arc<SecretString>) -> Router {
    for_gateway_users(
        aisoc_notify_webpush::routes::router::<GatewayUser>(manager),
        admin_token,
    )
}

/// The in-app routes, for `.nest("/api/v1/inapp", push::inapp_router(store, admin_token))`:
/// the caller's own list, named and authenticated as for push.
pub fn inapp_router(store: Arc<dyn InAppStore>, admin_token: Arc<SecretString>) -> Router {
    for_gateway_users(
        aisoc_notify_inapp::routes::router::<GatewayUser>(store),
        admin_token,
    )
}
