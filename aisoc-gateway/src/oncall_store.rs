//! Responders' on-call statuses on the gateway: kept so they outlive the process, read by the
//! Web Push fan-out, set over `/api/v1/oncall`.
//!
//! | store | when |
//! |---|---|
//! | [`PgOnCallStore`] | `DATABASE_URL` is set: table `aisoc_oncall_status`, forced row-level security by tenant |
//! | [`FileOnCallStore`] | otherwise: `<data dir>/oncall/status.json` |
//!
//! The routes are `aisoc_notify_webpush::oncall`'s (`GET /`, `PUT /`, `GET /users`), nested at
//! `/api/v1/oncall` with the same caller identification as the push routes: the admin bearer
//! token plus `X-AiSOC-Tenant` and `X-AiSOC-User` ([`GatewayUser`]).
//!
//! A user who sets `offline` or `snoozed` gets no pushes until they set `available` or `busy`
//! again. A store that cannot answer makes the fan-out treat the user as available (and logs
//! it): an outage must not silence a P0 page.

mod file;
mod postgres;

use std::sync::Arc;

use aisoc_notify_core::secret::SecretString;
use aisoc_notify_webpush::oncall::OnCallStore;
use axum::Router;
use sqlx::PgPool;

pub use self::file::FileOnCallStore;
pub use self::postgres::PgOnCallStore;
use crate::push::GatewayUser;

/// The store for this gateway: PostgreSQL when `pool` is given, else the file in `data_dir`.
pub async fn open_store(
    pool: Option<PgPool>,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn OnCallStore>, String> {
    Ok(match pool {
        Some(pool) => Arc::new(PgOnCallStore::open(pool).await?),
        None => Arc::new(FileOnCallStore::open(data_dir.join("oncall")).await?),
    })
}

/// The on-call routes, for `.nest("/api/v1/oncall", oncall_store::router(store, admin_token))`.
pub fn router(store: Arc<dyn OnCallStore>, admin_token: Arc<SecretString>) -> Router {
    crate::push::for_gateway_users(
        aisoc_notify_webpush::oncall::router::<GatewayUser>(store),
        admin_token,
    )
}
