//! The user-facing routes of the gateway: Web Push (the `aisoc-notify-webpush` routes under
//! `/api/v1/push`) and the in-app list (the `aisoc-notify-inapp` routes under `/api/v1/inapp`).
//!
//! The reference gateway has no user directory, so a caller names itself: the admin bearer
//! token plus `X-AiSOC-Tenant` and `X-AiSOC-User` headers. The tenant is checked by core's
//! [`validate_tenant_id`] (422 naming the header when it does not fit), the user id is 1 to
//! [`MAX_USER_ID_CHARS`] characters. A service that embeds the crates uses its own session
//! check instead (any [`PushUser`] / [`InAppUser`] extractor). `GET /public-key` stays open: a
//! browser needs it before it can subscribe.
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

/// The header naming the caller's tenant.
pub const TENANT_HEADER: &str = "x-aisoc-tenant";
/// The header naming the caller.
pub const USER_HEADER: &str = "x-aisoc-user";
/// The longest user id a caller may name.
pub const MAX_USER_ID_CHARS: usize = 128;

/// The admin token the extractor checks, carried as a request extension.
#[derive(Clone)]
struct PushAdminToken(Arc<SecretString>);

/// A caller authenticated by the admin token and named by the two headers.
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
        let Some(PushAdminToken(token)) = parts.extensions.get::<PushAdminToken>() else {
            return Err(unauthorized());
        };
        if !has_bearer(&parts.headers, token) {
            return Err(unauthorized());
        }
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match (header(TENANT_HEADER), header(USER_HEADER)) {
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

/// `routes`, whose handlers take a [`GatewayUser`], with the admin token that user's
/// extractor checks: how every per-user router (push, in-app, on-call) is mounted.
pub fn for_gateway_users(routes: Router, admin_token: Arc<SecretString>) -> Router {
    routes.layer(Extension(PushAdminToken(admin_token)))
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
