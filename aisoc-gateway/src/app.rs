//! The gateway's HTTP application: state, routes and handlers.

use std::sync::Arc;

use aisoc_notify_core::secret::SecretString;

use crate::auth::{ApiJson, error, require_admin};
use crate::channels::ChannelRegistry;
use aisoc_notify_core::{DeliveryOutcome, Notification};
use aisoc_notify_outbox::Outbox;
use aisoc_notify_outbox::envelope::ensure_idempotency_key;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

/// The largest notification body accepted.
pub const MAX_NOTIFICATION_BYTES: usize = 256 * 1024;

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

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

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
                "aisoc_notify_deliveries_total",
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
