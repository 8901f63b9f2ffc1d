//! Connector freshness: the log sources and integrations a tenant expects to hear from, and a
//! `connector_health` notification when one goes quiet and again when it is back.
//!
//! A connector is registered with a window (`PUT /v1/connectors/{id}`), and whatever feeds it
//! posts heartbeats (`POST /v1/connectors/{id}/heartbeat`). A monitor task checks every
//! `AISOC_CONNECTOR_CHECK_SECONDS` (default 5): a healthy connector whose window passed without
//! a heartbeat becomes `stale`; a heartbeat makes a stale one `healthy` at once. Each flip is
//! notified through the outbox (so it reaches the channels, retried and dead-lettered like any
//! other) at least once and, in effect, once, however many replicas run and however often they
//! restart: the monitor leases the flip ([`CLAIM_LEASE`]), queues the notification and only
//! then marks it notified (see [`store`]). The notification's dedupe key names the flip
//! (`connector-health:<tenant>:<id>:<generation>`): a replica that crashed after queueing but
//! before marking leaves the lease to lapse, and the flip is queued again under the same key,
//! which the outbox (NATS stores a key once within two minutes) and the destinations (it is the
//! notification's idempotency key) use to keep it one notification; and a NATS outbox does not
//! swallow a second stale a few minutes after the first, because that is another key.
//!
//! State lives in PostgreSQL when `DATABASE_URL` is set ([`PgConnectorStore`]), else in
//! `<data dir>/connectors/connectors.json` ([`FileConnectorStore`]).
//!
//! If a connector flips and flips back before the monitor claims the first flip (a heartbeat
//! arriving within one check of going stale), nothing is said: the state is the one last
//! notified. A notification that cannot be queued (the outbox is full or down) is given back
//! and tried again on the next check; one whose monitor crashed before marking it notified is
//! queued again once the lease lapses (within [`CLAIM_LEASE`] plus one check, if another
//! replica runs, else when the gateway is back).

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::freshness::StatusChange;
use aisoc_notify_core::notification::Notification;
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_outbox::Outbox;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::auth::{ApiJson, TenantParam, error, require_admin};
use crate::backends::{BackendError, Backends};

mod file;
mod postgres;
pub mod store;

pub use self::file::FileConnectorStore;
pub use self::postgres::PgConnectorStore;
pub use self::store::{Connector, ConnectorStore, ConnectorStoreError};

/// The setting for how often the monitor checks, in seconds.
pub const CHECK_SECONDS_VARIABLE: &str = "AISOC_CONNECTOR_CHECK_SECONDS";
/// How often the monitor checks unless configured.
pub const DEFAULT_CHECK_SECONDS: usize = 5;
/// The shortest window.
pub const MIN_WINDOW_SECONDS: u64 = 1;
/// The longest window (30 days).
pub const MAX_WINDOW_SECONDS: u64 = 30 * 24 * 3600;
/// The longest connector name.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest connector id.
pub const MAX_ID_CHARS: usize = 128;
/// How long a monitor holds the claim on a flip while it queues the notification; a monitor
/// that dies holding it delays the flip's notification by this much. Well under the two
/// minutes in which a NATS outbox stores a dedupe key once.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// The connectors' store and the monitor's wake-up, shared by the routes.
#[derive(Clone)]
pub struct Connectors {
    store: Arc<dyn ConnectorStore>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors")
            .field("store", &self.store.describe())
            .finish_non_exhaustive()
    }
}

impl Connectors {
    /// Opens the store (PostgreSQL when configured, else the data directory's file) and starts
    /// the monitor, which queues notifications to `outbox`. `lookup` reads
    /// [`CHECK_SECONDS_VARIABLE`].
    pub async fn start(
        backends: &Backends,
        data_dir: &std::path::Path,
        outbox: Arc<dyn Outbox>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, BackendError> {
        let every = crate::config::count_setting(lookup, CHECK_SECONDS_VARIABLE, 1..=3600)
            .map_err(|e| BackendError {
                variable: CHECK_SECONDS_VARIABLE,
                reason: e.reason().to_string(),
            })?
            .unwrap_or(DEFAULT_CHECK_SECONDS);
        let store: Arc<dyn ConnectorStore> = match backends.postgres_pool() {
            Some(pool) => {
                Arc::new(
                    PgConnectorStore::open(pool)
                        .await
                        .map_err(|e| BackendError {
                            variable: "DATABASE_URL",
                            reason: e.to_string(),
                        })?,
                )
            }
            None => Arc::new(
                FileConnectorStore::open(data_dir.join("connectors"))
                    .await
                    .map_err(|e| BackendError {
                        variable: "AISOC_DATA_DIR",
                        reason: e.to_string(),
                    })?,
            ),
        };
        tracing::info!(store = %store.describe(), check_seconds = every, "connector freshness");
        Ok(Self::spawn(
            store,
            outbox,
            Duration::from_secs(every as u64),
        ))
    }

    /// The store the monitor and the routes share (read by `/aisoc status`).
    pub fn store(&self) -> Arc<dyn ConnectorStore> {
        self.store.clone()
    }

    /// Starts the monitor over `store`, checking every `every`.
    pub fn spawn(store: Arc<dyn ConnectorStore>, outbox: Arc<dyn Outbox>, every: Duration) -> Self {
        let wake = Arc::new(Notify::new());
        let connectors = Self {
            store: store.clone(),
            wake: wake.clone(),
        };
        tokio::spawn(async move {
            loop {
                if let Err(failure) = check(store.as_ref(), outbox.as_ref()).await {
                    tracing::warn!(%failure, "connector check failed; trying again");
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = wake.notified() => {}
                }
            }
        });
        connectors
    }
}

/// The notification for a claimed flip.
pub fn notification(connector: &Connector) -> Notification {
    let mut notification = StatusChange {
        connector_id: connector.id.clone(),
        name: connector.name.clone(),
        tenant_id: connector.tenant_id.clone(),
        status: connector.status,
        last_heartbeat: connector.last_heartbeat,
        at: connector.status_changed_at,
    }
    .notification()
    .with_fact("Window", format!("{} s", connector.window_seconds));
    notification.dedupe_key = Some(format!(
        "connector-health:{}:{}:{}",
        connector.tenant_id, connector.id, connector.generation
    ));
    notification
}

/// One check: flips overdue connectors, then queues one notification per unnotified flip,
/// marking each notified only once it is queued.
pub async fn check(
    store: &dyn ConnectorStore,
    outbox: &dyn Outbox,
) -> Result<usize, ConnectorStoreError> {
    let now = Utc::now();
    store.mark_stale(now).await?;
    let lease = chrono::Duration::from_std(CLAIM_LEASE).unwrap_or(chrono::Duration::MAX);
    let mut queued = 0;
    for claimed in store.claim_changes(now, lease).await? {
        // An even number of flips since the last notification: back where it was when told.
        if (claimed.generation - claimed.notified) % 2 == 0 {
            store.acknowledge(&claimed).await?;
            continue;
        }
        let status = store::status_text::label(claimed.status);
        match outbox.enqueue(&notification(&claimed)).await {
            Ok(()) => {
                queued += 1;
                metrics::counter!(crate::metrics::CONNECTOR_CHANGES, "status" => status)
                    .increment(1);
                tracing::info!(tenant_id = %claimed.tenant_id, connector = %claimed.id, status, "connector_health queued");
                // Should this fail, the lease lapses and the flip is queued again, same key.
                store.acknowledge(&claimed).await?;
            }
            Err(failure) => {
                tracing::warn!(tenant_id = %claimed.tenant_id, connector = %claimed.id, %failure, "connector_health not queued; trying again next check");
                store.release(&claimed).await?;
            }
        }
    }
    Ok(queued)
}

/// The connector routes (admin).
pub fn router(connectors: Connectors, admin_token: Arc<SecretString>) -> Router {
    Router::new()
        .route("/v1/connectors", get(list))
        .route("/v1/connectors/{id}", put(upsert).delete(remove))
        .route("/v1/connectors/{id}/heartbeat", post(heartbeat))
        .route_layer(middleware::from_fn_with_state(admin_token, require_admin))
        .with_state(connectors)
}

/// `PUT /v1/connectors/{id}` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorBody {
    name: String,
    window_seconds: u64,
}

fn view(connector: &Connector) -> Value {
    json!({
        "id": connector.id,
        "tenant_id": connector.tenant_id,
        "name": connector.name,
        "window_seconds": connector.window_seconds,
        "status": store::status_text::label(connector.status),
        "last_heartbeat": connector.last_heartbeat,
        "registered_at": connector.registered_at,
        "status_changed_at": connector.status_changed_at,
    })
}

/// The 422 for a malformed connector id, or `None` when it is fine.
fn refuse_id(id: &str) -> Option<Response> {
    let valid = !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    (!valid).then(|| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the connector id in the path must be 1 to {MAX_ID_CHARS} letters, digits, \
                 '-', '_', '.' or ':'"
            ),
        )
    })
}

fn failed(failure: &ConnectorStoreError) -> Response {
    tracing::error!(%failure, "connector store");
    error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string())
}

#[utoipa::path(
    put, path = "/v1/connectors/{id}", tag = "connectors",
    summary = "Register or update a connector to watch",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The connector id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    request_body = crate::openapi::ConnectorBody,
    responses(
        (status = 200, description = "Registered", body = crate::openapi::Connector),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn upsert(
    State(connectors): State<Connectors>,
    TenantParam(tenant_id): TenantParam,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConnectorBody>,
) -> Response {
    if let Some(refused) = refuse_id(&id) {
        return refused;
    }
    let name = body.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("name must be 1 to {MAX_NAME_CHARS} characters, without control characters"),
        );
    }
    if !(MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS).contains(&body.window_seconds) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("window_seconds must be between {MIN_WINDOW_SECONDS} and {MAX_WINDOW_SECONDS}"),
        );
    }
    let window = u32::try_from(body.window_seconds).unwrap_or(u32::MAX);
    match connectors
        .store
        .upsert(&tenant_id, &id, name, window, Utc::now())
        .await
    {
        Ok(connector) => {
            // A shorter window may make it overdue now.
            connectors.wake.notify_one();
            Json(view(&connector)).into_response()
        }
        Err(failure) => failed(&failure),
    }
}

#[utoipa::path(
    post, path = "/v1/connectors/{id}/heartbeat", tag = "connectors",
    summary = "Record a connector's heartbeat",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The connector id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 200, description = "Recorded", body = crate::openapi::Connector),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such connector", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn heartbeat(
    State(connectors): State<Connectors>,
    TenantParam(tenant_id): TenantParam,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = refuse_id(&id) {
        return refused;
    }
    match connectors
        .store
        .heartbeat(&tenant_id, &id, Utc::now())
        .await
    {
        Ok(Some(connector)) => {
            if connector.generation > connector.notified {
                // It recovered: tell the channels now rather than at the next check.
                connectors.wake.notify_one();
            }
            Json(view(&connector)).into_response()
        }
        Ok(None) => not_found(&id),
        Err(failure) => failed(&failure),
    }
}

#[utoipa::path(
    get, path = "/v1/connectors", tag = "connectors",
    summary = "A tenant's connectors and their freshness",
    security(("admin_bearer" = [])),
    params(("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 200, description = "The connectors", body = crate::openapi::ConnectorList),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn list(
    State(connectors): State<Connectors>,
    TenantParam(tenant_id): TenantParam,
) -> Response {
    match connectors.store.list(&tenant_id).await {
        Ok(list) => Json(json!({
            "connectors": list.iter().map(view).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(failure) => failed(&failure),
    }
}

#[utoipa::path(
    delete, path = "/v1/connectors/{id}", tag = "connectors",
    summary = "Stop watching a connector",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The connector id"), ("tenant_id" = String, Query, description = "The tenant acted for (1-64 characters of A-Z a-z 0-9 . _ -)")),
    responses(
        (status = 204, description = "Removed (empty body)"),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such connector", body = crate::openapi::ApiError),
        (status = 422, description = "tenant_id missing or malformed, or a field to fix (named in the error)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn remove(
    State(connectors): State<Connectors>,
    TenantParam(tenant_id): TenantParam,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = refuse_id(&id) {
        return refused;
    }
    match connectors.store.remove(&tenant_id, &id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(&id),
        Err(failure) => failed(&failure),
    }
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no connector '{id}' for this tenant_id; register it with PUT /v1/connectors/{id}"),
    )
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
