//! The axum router a host mounts for its bell icon (feature `axum`).
//!
//! | route | what |
//! |---|---|
//! | `GET /notifications?unread_only=&limit=&before=` | the caller's notifications, newest first: `{"notifications": [...], "next_before": id or null}` |
//! | `GET /notifications/unread-count` | `{"unread": n}` |
//! | `POST /notifications/{id}/read` | 204; 404 when the caller has no unread notification `id` |
//! | `POST /notifications/read-all` | `{"marked_read": n}` |
//!
//! The host says who the caller is: any extractor implementing [`InAppUser`] (its own session
//! or token check) is the type parameter of [`router`]. Every route works on the caller's own
//! list only: another user's notification id answers 404 exactly as an unknown one does, so ids
//! cannot be probed.
//!
//! `limit` is 1 to [`MAX_LIMIT`] (default [`DEFAULT_LIMIT`]); `before` is an id from
//! `next_before`, for the next page. A parameter out of range answers 422 naming it. A store
//! failure answers 503 with a fixed message (the backend's own text goes to the log only).

use std::sync::Arc;

use aisoc_notify_core::http::ApiError;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::{InAppError, InAppStore, ListQuery};

/// The most notifications one page lists.
pub const MAX_LIMIT: u32 = 200;
/// A page's size when `limit` is left out.
pub const DEFAULT_LIMIT: u32 = 50;

/// The authenticated caller, as the host's extractor provides it.
pub trait InAppUser {
    /// The caller's tenant.
    fn tenant_id(&self) -> &str;
    /// The caller's user id.
    fn user_id(&self) -> &str;
}

/// What the in-app routes share: the store.
#[derive(Clone)]
pub struct InAppRouterState {
    store: Arc<dyn InAppStore>,
}

impl std::fmt::Debug for InAppRouterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InAppRouterState").finish_non_exhaustive()
    }
}

impl InAppRouterState {
    /// The state over `store`.
    pub fn new(store: Arc<dyn InAppStore>) -> Self {
        Self { store }
    }
}

fn unavailable(failure: InAppError) -> Response {
    tracing::warn!(%failure, "in-app store failed");
    ApiError::unavailable("the in-app notification store is unavailable; try again").into_response()
}

/// The in-app routes, for `app.nest("/api/v1/inapp", router::<MyUser>(store))`.
pub fn router<U>(store: Arc<dyn InAppStore>) -> Router
where
    U: InAppUser + FromRequestParts<InAppRouterState> + Send + 'static,
{
    Router::new()
        .route("/notifications", get(list::<U>))
        .route("/notifications/unread-count", get(unread_count::<U>))
        .route("/notifications/read-all", post(read_all::<U>))
        .route("/notifications/{id}/read", post(read::<U>))
        .with_state(InAppRouterState::new(store))
}

/// The list's query string, read as text so a bad value is answered naming its parameter.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    unread_only: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

impl ListParams {
    fn query(&self) -> Result<ListQuery, String> {
        let unread_only = match self.unread_only.as_deref().map(str::trim) {
            None | Some("") | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => return Err("unread_only must be true or false".into()),
        };
        let limit = match self.limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_LIMIT}"))?,
        };
        let before_id = match self.before.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or("before must be a notification id (a positive whole number)")?,
            ),
        };
        Ok(ListQuery {
            unread_only,
            limit,
            before_id,
        })
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/notifications", tag = "inapp",
    summary = "The caller's in-app notifications, newest first",
    params(
        ("unread_only" = Option<bool>, Query, description = "Only unread notifications"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("before" = Option<i64>, Query, description = "An id from `next_before`: the next page"),
    ),
    responses(
        (status = 200, description = "One page of the caller's list", body = openapi::InAppPage),
        (status = 422, description = "A parameter out of range (named in the error)", body = openapi::InAppApiError),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The in-app store is unavailable", body = openapi::InAppApiError),
    ),
))]
async fn list<U: InAppUser>(
    State(state): State<InAppRouterState>,
    user: U,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => return ApiError::unprocessable(rejection.body_text()).into_response(),
    };
    let query = match params.query() {
        Ok(query) => query,
        Err(message) => return ApiError::unprocessable(message).into_response(),
    };
    match state
        .store
        .list(user.tenant_id(), user.user_id(), query)
        .await
    {
        Ok(notifications) => {
            // A full page may have more behind it; a short one is the end.
            let next_before = (notifications.len() == query.limit as usize)
                .then(|| notifications.last().map(|n| n.id))
                .flatten();
            Json(json!({"notifications": notifications, "next_before": next_before}))
                .into_response()
        }
        Err(failure) => unavailable(failure),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/notifications/unread-count", tag = "inapp",
    summary = "How many of the caller's notifications are unread",
    responses(
        (status = 200, description = "The unread count", body = openapi::UnreadCount),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The in-app store is unavailable", body = openapi::InAppApiError),
    ),
))]
async fn unread_count<U: InAppUser>(State(state): State<InAppRouterState>, user: U) -> Response {
    match state
        .store
        .unread_count(user.tenant_id(), user.user_id())
        .await
    {
        Ok(unread) => Json(json!({"unread": unread})).into_response(),
        Err(failure) => unavailable(failure),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/notifications/{id}/read", tag = "inapp",
    summary = "Mark one of the caller's notifications read",
    params(("id" = i64, Path, description = "The notification id")),
    responses(
        (status = 204, description = "Marked read (empty body)"),
        (status = 404, description = "The caller has no unread notification with this id", body = openapi::InAppApiError),
        (status = 422, description = "Not a notification id", body = openapi::InAppApiError),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The in-app store is unavailable", body = openapi::InAppApiError),
    ),
))]
async fn read<U: InAppUser>(
    State(state): State<InAppRouterState>,
    user: U,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
        return ApiError::unprocessable("id must be a notification id (a positive whole number)")
            .into_response();
    };
    match state
        .store
        .mark_read(user.tenant_id(), user.user_id(), id)
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        // Read already, someone else's, or unknown: the same answer, so ids cannot be probed.
        Ok(false) => ApiError::not_found(format!("no unread notification {id} for this user"))
            .into_response(),
        Err(failure) => unavailable(failure),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/notifications/read-all", tag = "inapp",
    summary = "Mark all of the caller's notifications read",
    responses(
        (status = 200, description = "How many were marked read", body = openapi::MarkedRead),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The in-app store is unavailable", body = openapi::InAppApiError),
    ),
))]
async fn read_all<U: InAppUser>(State(state): State<InAppRouterState>, user: U) -> Response {
    match state
        .store
        .mark_all_read(user.tenant_id(), user.user_id())
        .await
    {
        Ok(marked) => Json(json!({"marked_read": marked})).into_response(),
        Err(failure) => unavailable(failure),
    }
}

/// The OpenAPI description of [`router`] (feature `openapi`), paths relative to its nest point.
///
/// A listed notification's `notification` refers to the `Notification` schema, which the host's
/// document supplies (the wire shape of `aisoc_notify_core::Notification`).
#[cfg(feature = "openapi")]
pub mod openapi {
    #![allow(dead_code)]

    use super::{__path_list, __path_read, __path_read_all, __path_unread_count};

    /// `{"error": "..."}`: why the request was refused.
    #[derive(utoipa::ToSchema)]
    pub struct InAppApiError {
        /// What went wrong.
        error: String,
    }

    /// The `Notification` schema the host's document supplies.
    fn notification_ref() -> utoipa::openapi::Ref {
        utoipa::openapi::Ref::from_schema_name("Notification")
    }

    /// One notification in the caller's list.
    #[derive(utoipa::ToSchema)]
    pub struct InAppItem {
        /// Increasing id.
        id: i64,
        /// The tenant.
        tenant_id: String,
        /// The user.
        user_id: String,
        /// The notification.
        #[schema(schema_with = notification_ref)]
        notification: serde_json::Value,
        /// When it was filed (RFC 3339).
        #[schema(format = DateTime)]
        created_at: String,
        /// When the user read it (RFC 3339), or null.
        #[schema(format = DateTime)]
        read_at: Option<String>,
    }

    /// One page of the caller's list.
    #[derive(utoipa::ToSchema)]
    pub struct InAppPage {
        /// Newest first.
        notifications: Vec<InAppItem>,
        /// The `before` of the next page; null on the last page.
        next_before: Option<i64>,
    }

    /// `{"unread": n}`.
    #[derive(utoipa::ToSchema)]
    pub struct UnreadCount {
        /// Unread notifications.
        unread: u64,
    }

    /// `{"marked_read": n}`.
    #[derive(utoipa::ToSchema)]
    pub struct MarkedRead {
        /// Notifications marked read.
        marked_read: u64,
    }

    /// The routes of [`router`](super::router).
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(list, unread_count, read, read_all),
        components(schemas(InAppApiError, InAppItem, InAppPage, UnreadCount, MarkedRead))
    )]
    pub struct InAppApi;
}
