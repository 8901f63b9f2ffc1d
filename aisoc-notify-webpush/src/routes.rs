//! The axum router a host mounts under `/api/v1/push` (feature `axum`).
//!
//! | route | what |
//! |---|---|
//! | `GET /public-key` | `{"publicKey": "<VAPID public key>"}` for `applicationServerKey` |
//! | `POST /subscribe` | store the browser's `PushSubscription` (optionally with `topics`) for the caller |
//! | `POST /unsubscribe` | `{"endpoint": …}`: remove the caller's subscription |
//! | `POST /test` | send a test notification to the caller's devices |
//!
//! The host says who the caller is: any extractor implementing [`PushUser`] (its own session
//! or token check) is the type parameter of [`router`].
//!
//! `POST /subscribe` refuses, with 422 and a message naming the rule (never the endpoint), an
//! endpoint whose host the outbound guard forbids. The policy and resolver are those of the
//! manager's delivery client unless [`PushRouterState`] is given others, so subscriptions are
//! judged by the same rules the pushes will be.
//!
//! An endpoint is owned by the (tenant, user) that subscribed it first: `POST /subscribe` of an
//! endpoint another caller holds answers 409 and changes nothing, and `POST /unsubscribe` of an
//! endpoint the caller does not hold answers 404 (the same as an unknown one, so endpoints
//! cannot be probed).
//!
//! A store at one of its caps refuses a new subscription with 507 and a message naming the cap
//! (see [`MemorySubscriptionStore`](crate::store::MemorySubscriptionStore)).
//!
//! Failures are reported as the error's `Display`: a status and a short code, never what a
//! push service answered, so `POST /test` cannot be used to read an arbitrary endpoint.

use std::sync::Arc;

use aisoc_notify_core::destination::{DestinationPolicy, HostLookup};
use aisoc_notify_core::http::ApiError;
use aisoc_notify_core::notification::Target;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::manager::{PushManager, PushMessage};
use crate::send::PushOptions;
use crate::store::StoreError;
use crate::subscription::{PushSubscription, SubscriptionRecord, subscription_id};

/// The authenticated caller, as the host's extractor provides it.
pub trait PushUser {
    /// The caller's tenant.
    fn tenant_id(&self) -> &str;
    /// The caller's user id.
    fn user_id(&self) -> &str;
}

/// `POST /subscribe` body: the browser's subscription, plus optional topics.
#[derive(Debug, Deserialize)]
pub struct SubscribeRequest {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: PushSubscription,
    /// Topics to receive (default: the standard four).
    #[serde(default)]
    pub topics: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct UnsubscribeRequest {
    endpoint: String,
}

/// What the push routes share: the manager, and the rules a new subscription's endpoint is
/// checked against.
#[derive(Clone)]
pub struct PushRouterState {
    manager: PushManager,
    destinations: DestinationPolicy,
    lookup: Arc<dyn HostLookup>,
}

impl std::fmt::Debug for PushRouterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRouterState")
            .field("destinations", &self.destinations)
            .finish_non_exhaustive()
    }
}

impl PushRouterState {
    /// The state for `manager`, checking endpoints with its delivery client's policy and
    /// resolver (the guard, unless the host configured that client otherwise).
    pub fn new(manager: PushManager) -> Self {
        let config = manager.sender().delivery().config();
        let destinations = config.destinations.clone();
        let lookup = Arc::clone(&config.lookup);
        Self {
            manager,
            destinations,
            lookup,
        }
    }

    /// Checks new subscriptions' endpoints against `policy` instead.
    pub fn destinations(mut self, policy: DestinationPolicy) -> Self {
        self.destinations = policy;
        self
    }

    /// Resolves endpoint host names with `lookup` instead (a test's `StaticLookup`, a host's
    /// own DNS).
    pub fn lookup(mut self, lookup: Arc<dyn HostLookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// The manager.
    pub fn manager(&self) -> &PushManager {
        &self.manager
    }
}

/// The push routes, for `app.nest("/api/v1/push", router::<MyUser>(manager))`; endpoints are
/// checked with the manager's delivery policy (see [`router_with`] to choose another).
pub fn router<U>(manager: PushManager) -> Router
where
    U: PushUser + FromRequestParts<Arc<PushRouterState>> + Send + 'static,
{
    router_with::<U>(PushRouterState::new(manager))
}

/// The push routes over an explicit state.
pub fn router_with<U>(state: PushRouterState) -> Router
where
    U: PushUser + FromRequestParts<Arc<PushRouterState>> + Send + 'static,
{
    Router::new()
        .route("/public-key", get(public_key))
        .route("/subscribe", post(subscribe::<U>))
        .route("/unsubscribe", post(unsubscribe::<U>))
        .route("/test", post(test::<U>))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .with_state(Arc::new(state))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/public-key", tag = "push",
    summary = "The VAPID public key a browser passes as `applicationServerKey` (no authentication)",
    responses((status = 200, description = "The key", body = openapi::PublicKey)),
))]
async fn public_key(State(state): State<Arc<PushRouterState>>) -> Json<serde_json::Value> {
    Json(json!({"publicKey": state.manager.sender().vapid().keys().public_key_base64()}))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/subscribe", tag = "push",
    summary = "Store the browser's push subscription for the caller",
    request_body = openapi::SubscribeBody,
    responses(
        (status = 201, description = "Stored", body = openapi::Subscribed),
        (status = 400, description = "Malformed JSON", body = openapi::PushApiError),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 409, description = "The endpoint belongs to another user", body = openapi::PushApiError),
        (status = 415, description = "Not JSON", body = openapi::PushApiError),
        (status = 422, description = "An invalid subscription, or an endpoint the outbound guard forbids", body = openapi::PushApiError),
        (status = 503, description = "The subscription store is unavailable", body = openapi::PushApiError),
        (status = 507, description = "A subscription cap is reached (named in the error)", body = openapi::PushApiError),
    ),
))]
async fn subscribe<U: PushUser>(
    State(state): State<Arc<PushRouterState>>,
    user: U,
    body: Result<Json<SubscribeRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => {
            return ApiError::new(rejection.status(), rejection.body_text()).into_response();
        }
    };
    let now = chrono::Utc::now();
    let mut record = match SubscriptionRecord::new(
        &request.subscription,
        user.tenant_id(),
        user.user_id(),
        &request.topics,
        now,
    ) {
        Ok(record) => record,
        Err(invalid) => return ApiError::unprocessable(invalid.to_string()).into_response(),
    };
    if let Err(forbidden) = request
        .subscription
        .check_destination(&state.destinations, state.lookup.as_ref())
        .await
    {
        return ApiError::unprocessable(forbidden.to_string()).into_response();
    }
    let manager = &state.manager;
    match manager.store().get(&record.id).await {
        Ok(Some(existing)) => record.created_at = existing.created_at,
        Ok(None) => {}
        Err(store) => return ApiError::unavailable(store.to_string()).into_response(),
    }
    match manager.store().upsert(&record).await {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({"id": record.id, "topics": record.topics})),
        )
            .into_response(),
        // Someone else's device: subscribing cannot move it, or its pushes, to the caller.
        Err(StoreError::OwnedByAnother) => {
            ApiError::conflict(StoreError::OwnedByAnother.to_string()).into_response()
        }
        // A cap, not an outage: retrying will not help until devices are unsubscribed.
        Err(full) if full.is_full() => {
            ApiError::new(StatusCode::INSUFFICIENT_STORAGE, full.to_string()).into_response()
        }
        Err(store) => ApiError::unavailable(store.to_string()).into_response(),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/unsubscribe", tag = "push",
    summary = "Remove one of the caller's subscriptions",
    request_body = openapi::UnsubscribeBody,
    responses(
        (status = 204, description = "Removed (empty body)"),
        (status = 400, description = "Malformed JSON", body = openapi::PushApiError),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 404, description = "The caller has no such subscription", body = openapi::PushApiError),
        (status = 422, description = "`endpoint` missing", body = openapi::PushApiError),
        (status = 503, description = "The subscription store is unavailable", body = openapi::PushApiError),
    ),
))]
async fn unsubscribe<U: PushUser>(
    State(state): State<Arc<PushRouterState>>,
    user: U,
    body: Result<Json<UnsubscribeRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => {
            return ApiError::new(rejection.status(), rejection.body_text()).into_response();
        }
    };
    let id = subscription_id(&request.endpoint);
    let manager = &state.manager;
    match manager.store().get(&id).await {
        Ok(Some(record))
            if record.tenant_id == user.tenant_id() && record.user_id == user.user_id() =>
        {
            match manager.store().remove(&id).await {
                Ok(_) => StatusCode::NO_CONTENT.into_response(),
                Err(store) => ApiError::unavailable(store.to_string()).into_response(),
            }
        }
        // Someone else's subscription looks the same as none: no probing of endpoints.
        Ok(_) => ApiError::not_found("no such subscription for this user").into_response(),
        Err(store) => ApiError::unavailable(store.to_string()).into_response(),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/test", tag = "push",
    summary = "Send a test notification to the caller's devices",
    responses(
        (status = 200, description = "What each device answered", body = openapi::TestReport),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The subscription store is unavailable", body = openapi::PushApiError),
    ),
))]
async fn test<U: PushUser>(State(state): State<Arc<PushRouterState>>, user: U) -> Response {
    let target = Target::User {
        tenant_id: user.tenant_id().to_owned(),
        user_id: user.user_id().to_owned(),
    };
    let message = PushMessage {
        title: "aisoc-notify test".into(),
        body: "Push notifications work on this device.".into(),
        url: None,
        tag: Some("aisoc-test".into()),
        topic: None,
        severity: Some("info".into()),
    };
    match state
        .manager
        .send_to_target(&target, &message, &PushOptions::default())
        .await
    {
        Ok(report) => {
            let devices: Vec<serde_json::Value> = report
                .outcomes
                .iter()
                .map(|o| {
                    json!({
                        "subscription_id": o.subscription_id,
                        "delivered": o.result.is_ok(),
                        "error": o.result.as_ref().err().map(ToString::to_string),
                        "retry_class": o.result.as_ref().err().map(|e| e.retry_class().label()),
                        "evicted": o.evicted,
                    })
                })
                .collect();
            Json(json!({"sent": report.delivered(), "devices": devices, "skipped": !report.skipped_users.is_empty()}))
                .into_response()
        }
        Err(store) => ApiError::unavailable(store.to_string()).into_response(),
    }
}

/// The OpenAPI description of [`router`] and of the on-call router (feature `openapi`), paths
/// relative to where the host nests them.
#[cfg(feature = "openapi")]
pub mod openapi {
    #![allow(dead_code)]

    use super::{__path_public_key, __path_subscribe, __path_test, __path_unsubscribe};
    use crate::manager::OnCallStatus;
    use crate::oncall::openapi::{__path_own, __path_set, __path_users};

    /// `{"error": "..."}`: why the request was refused.
    #[derive(utoipa::ToSchema)]
    pub struct PushApiError {
        /// What went wrong.
        error: String,
    }

    /// `{"publicKey": "..."}`.
    #[derive(utoipa::ToSchema)]
    pub struct PublicKey {
        /// The VAPID public key, URL-safe base64 without padding.
        #[serde(rename = "publicKey")]
        public_key: String,
    }

    /// The subscription's encryption keys.
    #[derive(utoipa::ToSchema)]
    pub struct SubscriptionKeysBody {
        /// The receiver's P-256 public key, URL-safe base64.
        p256dh: String,
        /// The 16-byte auth secret, URL-safe base64.
        auth: String,
    }

    /// The browser's `PushSubscription` as `JSON.stringify` gives it, plus optional topics.
    #[derive(utoipa::ToSchema)]
    pub struct SubscribeBody {
        /// The push service URL (https).
        endpoint: String,
        /// When the browser will drop it, in ms since the epoch.
        #[serde(rename = "expirationTime")]
        expiration_time: Option<i64>,
        /// The encryption keys.
        keys: SubscriptionKeysBody,
        /// Topics to receive (default: the standard four).
        topics: Option<Vec<String>>,
    }

    /// The stored subscription.
    #[derive(utoipa::ToSchema)]
    pub struct Subscribed {
        /// The subscription id.
        id: String,
        /// The topics it receives.
        topics: Vec<String>,
    }

    /// `{"endpoint": "..."}`.
    #[derive(utoipa::ToSchema)]
    pub struct UnsubscribeBody {
        /// The endpoint to remove.
        endpoint: String,
    }

    /// What one device answered to the test push.
    #[derive(utoipa::ToSchema)]
    pub struct DeviceOutcome {
        /// The subscription id.
        subscription_id: String,
        /// Whether the push service took it.
        delivered: bool,
        /// Why not (a status and a short code), or null.
        error: Option<String>,
        /// How the failure is retried, or null.
        retry_class: Option<String>,
        /// Whether the subscription was removed (gone at the push service).
        evicted: bool,
    }

    /// The test push's report.
    #[derive(utoipa::ToSchema)]
    pub struct TestReport {
        /// Devices that took it.
        sent: u64,
        /// Each device's outcome.
        devices: Vec<DeviceOutcome>,
        /// Whether the caller was skipped (offline or snoozed).
        skipped: bool,
    }

    /// One user's on-call status.
    #[derive(utoipa::ToSchema)]
    pub struct OnCallEntryBody {
        /// The user.
        user_id: String,
        /// Their status.
        status: OnCallStatus,
        /// When they set it (RFC 3339); null when never set.
        #[schema(format = DateTime)]
        updated_at: Option<String>,
    }

    /// `{"status": "..."}`.
    #[derive(utoipa::ToSchema)]
    pub struct SetOnCallBody {
        /// The new status.
        status: OnCallStatus,
    }

    /// `{"users": [...]}`: the tenant's statuses.
    #[derive(utoipa::ToSchema)]
    pub struct OnCallUsers {
        /// Every user with a status.
        users: Vec<OnCallEntryBody>,
    }

    /// The routes of [`router`](super::router).
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(public_key, subscribe, unsubscribe, test),
        components(schemas(
            PushApiError,
            PublicKey,
            SubscriptionKeysBody,
            SubscribeBody,
            Subscribed,
            UnsubscribeBody,
            DeviceOutcome,
            TestReport
        ))
    )]
    pub struct PushApi;

    /// The routes of [`oncall::router`](crate::oncall::router).
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(own, set, users),
        components(schemas(
            PushApiError,
            OnCallStatus,
            OnCallEntryBody,
            SetOnCallBody,
            OnCallUsers
        ))
    )]
    pub struct OnCallApi;
}
