//! The gateway's HTTP application: state, routes and handlers, and the load shedding in front
//! of every route.
//!
//! # Load shedding
//!
//! Every request in flight holds memory (its body, its task, whatever it waits on), so the
//! gateway works on at most `--max-in-flight` / `AISOC_MAX_IN_FLIGHT` requests at once
//! ([`DEFAULT_MAX_IN_FLIGHT`]). One more is answered at once with 503, `Retry-After: 1` and a
//! JSON error naming the setting: shed, never queued, so an overload shows as quick refusals a
//! client retries rather than as latency and memory that grow until the process dies.
//! `/healthz` and `/metrics` are exempt, so probes and scrapes see an overloaded gateway as
//! alive and can tell why ([`shed_load`]).
//!
//! | metric | type | what |
//! |---|---|---|
//! | `aisoc_gateway_requests_in_flight` | gauge | requests being worked on (exempt paths not counted) |
//! | `aisoc_gateway_max_in_flight` | gauge | the limit |
//! | `aisoc_gateway_requests_shed_total` | counter | requests answered 503 because the limit was reached |
//!
//! A queued notification the in-memory outbox has no room for
//! ([`OutboxError::Full`]) is answered the same way: 503 with `Retry-After` and a sentence
//! naming `AISOC_OUTBOX_MEMORY_CAPACITY`.

use std::sync::Arc;

use aisoc_notify_core::secret::SecretString;

use crate::auth::{ApiJson, error, require_admin};
use crate::channels::ChannelRegistry;
use aisoc_notify_core::{DeliveryOutcome, Notification};
use aisoc_notify_outbox::envelope::ensure_idempotency_key;
use aisoc_notify_outbox::{Outbox, OutboxError};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::config::DEFAULT_MAX_IN_FLIGHT;

/// The largest notification body accepted.
pub const MAX_NOTIFICATION_BYTES: usize = 256 * 1024;

/// The paths answered whatever the load.
pub const EXEMPT_FROM_SHEDDING: [&str; 2] = ["/healthz", "/metrics"];

/// How long a caller shed for load is asked to wait.
const SHED_RETRY_AFTER_SECONDS: u64 = 1;
/// How long a caller refused by a full in-memory outbox is asked to wait.
const OUTBOX_FULL_RETRY_AFTER_SECONDS: u64 = 5;

use crate::metrics::{DELIVERIES, IN_FLIGHT, MAX_IN_FLIGHT, SHED};

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The channels notifications are routed to (console plus those configured at run time).
    pub channels: Arc<ChannelRegistry>,
    /// Queued delivery (`?delivery=queued`): retried, dead-lettered, durable on NATS.
    pub outbox: Arc<dyn Outbox>,
    /// The admin bearer token.
    pub admin_token: Arc<SecretString>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The gateway's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .route(
            "/v1/notifications",
            post(send_notification)
                .layer(DefaultBodyLimit::max(MAX_NOTIFICATION_BYTES))
                .route_layer(middleware::from_fn_with_state(
                    state.admin_token.clone(),
                    require_admin,
                )),
        )
        .with_state(state)
}

#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    summary = "Liveness: answers while the process serves (never shed)",
    responses(
        (status = 200, description = "Alive", body = crate::openapi::Health),
    ),
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    summary = "Prometheus metrics (never shed)",
    responses(
        (status = 200, description = "The metrics in the Prometheus text format", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
    ),
)]
async fn render_metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// `POST /v1/notifications` query.
#[derive(Debug, Default, serde::Deserialize)]
struct DeliveryMode {
    /// `queued`: answer 202 once stored in the outbox; absent: deliver now and report.
    #[serde(default)]
    delivery: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/notifications", tag = "notifications",
    summary = "Route one notification to the channels now, or queue it in the outbox",
    security(("admin_bearer" = [])),
    params(("delivery" = Option<String>, Query, description = "`queued`: answer 202 once stored in the outbox; absent or `now`: deliver now and report")),
    request_body = crate::openapi::Notification,
    responses(
        (status = 200, description = "Delivered to every channel", body = crate::openapi::DeliveryReport),
        (status = 202, description = "Queued in the outbox", body = crate::openapi::Queued),
        (status = 400, description = "Malformed JSON or an unknown `delivery`", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 413, description = "Body over 256 KiB", body = crate::openapi::ApiError),
        (status = 422, description = "A missing or empty field (named in the error)", body = crate::openapi::ApiError),
        (status = 502, description = "At least one channel failed", body = crate::openapi::DeliveryReport),
        (status = 503, description = "The outbox is full or unavailable; retry after `Retry-After`", body = crate::openapi::ApiError),
    ),
)]
async fn send_notification(
    State(state): State<AppState>,
    Query(mode): Query<DeliveryMode>,
    ApiJson(mut notification): ApiJson<Notification>,
) -> Response {
    if notification.tenant_id.trim().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "tenant_id must not be empty",
        );
    }
    if notification.title.trim().is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "title must not be empty");
    }
    if let Err(invalid) = crate::rules::check_tags("tags", &notification.tags) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, invalid);
    }

    match mode.delivery.as_deref() {
        None | Some("now") => {}
        Some("queued") => {
            // The key every delivery of it carries (`Idempotency-Key` where the channel can).
            let key = ensure_idempotency_key(&mut notification).to_owned();
            return match state.outbox.enqueue(&notification).await {
                Ok(()) => (
                    StatusCode::ACCEPTED,
                    Json(json!({"queued": true, "dedupe_key": key})),
                )
                    .into_response(),
                Err(OutboxError::Full { capacity }) => retry_later(
                    OUTBOX_FULL_RETRY_AFTER_SECONDS,
                    format!(
                        "the in-memory outbox is full: {capacity} notifications are queued or \
                         waiting to retry; try again shortly, or raise \
                         AISOC_OUTBOX_MEMORY_CAPACITY (or set NATS_URL for the durable outbox)"
                    ),
                ),
                Err(failure) => error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string()),
            };
        }
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("delivery must be 'now' or 'queued', not '{other}'"),
            );
        }
    }
    // Another replica may have changed the channels a moment ago (its change notice still on
    // the way): deliver through the channels as they are stored now.
    if let Err(failure) = state.channels.refresh().await {
        tracing::warn!(%failure, "notification channels not re-read; using those loaded");
    }
    let router = match state.channels.router() {
        Ok(router) => router,
        Err(failure) => return error(StatusCode::INTERNAL_SERVER_ERROR, failure.to_string()),
    };
    let report = router.dispatch(&notification).await;
    let channels: Vec<serde_json::Value> = report
        .outcomes
        .iter()
        .map(|outcome| {
            let summary = outcome.outcome();
            metrics::counter!(
                DELIVERIES,
                "channel_type" => outcome.channel_type.clone(),
                "outcome" => summary.label(),
            )
            .increment(1);
            let mut entry = json!({
                "channel": outcome.channel_id,
                "type": outcome.channel_type,
                "outcome": summary.label(),
            });
            if let DeliveryOutcome::Failed { reason, class } = summary {
                entry["error"] = json!(reason);
                entry["retry_class"] = json!(class.label());
                if let Some(wait) = class.retry_after() {
                    entry["retry_after_seconds"] = json!(wait.as_secs());
                }
            }
            entry
        })
        .collect();
    let status = if report.all_delivered() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (
        status,
        Json(json!({"delivered": report.all_delivered(), "channels": channels})),
    )
        .into_response()
}

/// 503 with `Retry-After: seconds` and a JSON error.
fn retry_later(seconds: u64, message: String) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The gateway's bound on requests in flight (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct InFlightLimit {
    slots: Arc<Semaphore>,
    max: usize,
    /// The in-flight gauge's handle: it moves twice a request, and `gauge!` would look the
    /// name up each time.
    in_flight: metrics::Gauge,
}

impl InFlightLimit {
    /// At most `max` requests at once (at least one). The in-flight gauge's handle is taken
    /// from the recorder installed now, so install the recorder first.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        crate::metrics::describe_metrics();
        metrics::gauge!(MAX_IN_FLIGHT).set(max as f64);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            in_flight: metrics::gauge!(IN_FLIGHT),
        }
    }

    /// A slot for one request, or `None` when all are taken.
    fn admit(&self) -> Option<InFlight> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        self.in_flight.increment(1.0);
        Some(InFlight {
            _permit: permit,
            gauge: self.in_flight.clone(),
        })
    }
}

/// One request's slot; given back when the request is answered or the caller goes away.
struct InFlight {
    _permit: OwnedSemaphorePermit,
    gauge: metrics::Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// `router` with at most `max_in_flight` requests at once; the rest are shed with 503 and
/// `Retry-After: 1`, except [`EXEMPT_FROM_SHEDDING`]. Apply it last, to the whole router.
pub fn shed_load(router: Router, max_in_flight: usize) -> Router {
    router.layer(middleware::from_fn_with_state(
        InFlightLimit::new(max_in_flight),
        limit_in_flight,
    ))
}

async fn limit_in_flight(
    State(limit): State<InFlightLimit>,
    request: Request,
    next: Next,
) -> Response {
    if EXEMPT_FROM_SHEDDING.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Some(slot) = limit.admit() else {
        metrics::counter!(SHED).increment(1);
        return retry_later(
            SHED_RETRY_AFTER_SECONDS,
            format!(
                "the gateway is working on {} requests, its limit (AISOC_MAX_IN_FLIGHT); retry in a second",
                limit.max
            ),
        );
    };
    let response = next.run(request).await;
    drop(slot);
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tokio::sync::mpsc;
    use tower::ServiceExt;

    use super::*;

    /// A router whose `/slow` says when it started and answers once the gate lets it through.
    fn slow_router(started: mpsc::Sender<()>, gate: Arc<Semaphore>) -> Router {
        let slow = move || {
            let (started, gate) = (started.clone(), gate.clone());
            async move {
                started.send(()).await.unwrap();
                gate.acquire().await.unwrap().forget();
                "done"
            }
        };
        Router::new()
            .route("/slow", get(slow))
            .route("/healthz", get(healthz))
    }

    async fn status(router: &Router, path: &str) -> (StatusCode, Option<String>) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), retry_after)
    }

    #[tokio::test]
    async fn a_request_beyond_the_limit_is_shed_at_once_and_health_is_exempt() {
        let (started_tx, mut started) = mpsc::channel(4);
        let gate = Arc::new(Semaphore::new(0));
        let router = shed_load(slow_router(started_tx, gate.clone()), 1);

        let busy = tokio::spawn({
            let router = router.clone();
            async move { status(&router, "/slow").await }
        });
        started.recv().await.unwrap();
        assert_eq!(
            status(&router, "/slow").await,
            (StatusCode::SERVICE_UNAVAILABLE, Some("1".to_owned()))
        );
        assert_eq!(status(&router, "/healthz").await.0, StatusCode::OK);

        gate.add_permits(2);
        assert_eq!(busy.await.unwrap().0, StatusCode::OK);
        assert_eq!(
            status(&router, "/slow").await.0,
            StatusCode::OK,
            "the slot was given back"
        );
    }
}
