//! Responders set their own on-call status; the fan-out reads it.
//!
//! [`PushManager`](crate::manager::PushManager) skips users whose status is `offline` or
//! `snoozed` (see [`OnCallStatus::receives_pushes`]). An [`OnCallStore`] is a status provider
//! that can also be written and listed, so the statuses the fan-out reads are the ones users
//! set over HTTP. [`MemoryOnCallStore`] keeps them in memory; a host persists them (the
//! reference gateway: PostgreSQL, or a file in its data directory).
//!
//! With feature `axum`, `router` serves, for the caller a `PushUser` extractor names:
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the caller's status: `{"user_id", "status", "updated_at"}` (`available` and no `updated_at` when never set) |
//! | `PUT /` | `{"status": "available" \| "busy" \| "offline" \| "snoozed"}`: sets it; 422 naming `status` otherwise |
//! | `GET /users` | every status set in the caller's tenant: `{"users": [...]}` (for a dispatcher's view; a host whose users should not see each other mounts it behind its admin check) |
//!
//! A status is per (tenant, user): setting it in one tenant changes nothing in another. A store
//! that cannot answer makes the provider answer `available`: an outage must not silence a P0
//! page.

use std::collections::HashMap;
use std::sync::Mutex;

use aisoc_notify_core::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::manager::{OnCallStatus, OnCallStatusProvider};

/// The longest user id a status is kept for.
pub const MAX_USER_ID_LEN: usize = 256;

/// One user's status, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnCallEntry {
    /// The user.
    pub user_id: String,
    /// Their status.
    pub status: OnCallStatus,
    /// When they set it.
    pub updated_at: DateTime<Utc>,
}

/// Why a status could not be read or written. Never carries a credential.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the on-call status store is unavailable: {0}")]
pub struct OnCallStoreError(pub String);

/// On-call statuses that can be set and listed, per tenant.
#[async_trait]
pub trait OnCallStore: OnCallStatusProvider {
    /// Sets `user_id`'s status in `tenant_id`, and returns it as stored.
    async fn set(
        &self,
        tenant_id: &str,
        user_id: &str,
        status: OnCallStatus,
    ) -> Result<OnCallEntry, OnCallStoreError>;

    /// `user_id`'s status in `tenant_id`, when they ever set one.
    async fn get(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<OnCallEntry>, OnCallStoreError>;

    /// Every status set in `tenant_id`, by user id.
    async fn list(&self, tenant_id: &str) -> Result<Vec<OnCallEntry>, OnCallStoreError>;
}

/// The users among `entries` who are on call: their status takes pushes. What every
/// [`OnCallStore`] answers [`OnCallStatusProvider::on_call_users`] with, from its
/// [`list`](OnCallStore::list).
pub fn on_call(entries: &[OnCallEntry]) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| entry.status.receives_pushes())
        .map(|entry| entry.user_id.clone())
        .collect()
}

/// Each (tenant, user)'s status and when it was set: what an in-process store keeps, and the
/// lookups every such store answers [`OnCallStore::get`] and [`OnCallStore::list`] with.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OnCallTable(pub HashMap<(String, String), (OnCallStatus, DateTime<Utc>)>);

impl OnCallTable {
    /// `user_id`'s status in `tenant_id` (`Available` when never set).
    pub fn status(&self, tenant_id: &str, user_id: &str) -> OnCallStatus {
        self.0
            .get(&(tenant_id.to_owned(), user_id.to_owned()))
            .map(|(status, _)| *status)
            .unwrap_or_default()
    }

    /// `user_id`'s entry in `tenant_id`, when they ever set one.
    pub fn entry(&self, tenant_id: &str, user_id: &str) -> Option<OnCallEntry> {
        self.0
            .get(&(tenant_id.to_owned(), user_id.to_owned()))
            .map(|(status, at)| OnCallEntry {
                user_id: user_id.to_owned(),
                status: *status,
                updated_at: *at,
            })
    }

    /// Every entry of `tenant_id`, by user id.
    pub fn tenant(&self, tenant_id: &str) -> Vec<OnCallEntry> {
        let mut listed: Vec<OnCallEntry> = self
            .0
            .iter()
            .filter(|((tenant, _), _)| tenant == tenant_id)
            .map(|((_, user), (status, at))| OnCallEntry {
                user_id: user.clone(),
                status: *status,
                updated_at: *at,
            })
            .collect();
        listed.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        listed
    }
}

/// Statuses in memory.
#[derive(Debug, Default)]
pub struct MemoryOnCallStore {
    entries: Mutex<OnCallTable>,
}

impl MemoryOnCallStore {
    /// Everyone available.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, OnCallTable> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl OnCallStatusProvider for MemoryOnCallStore {
    async fn status(&self, tenant_id: &str, user_id: &str) -> OnCallStatus {
        self.entries().status(tenant_id, user_id)
    }

    async fn on_call_users(&self, tenant_id: &str) -> Result<Vec<String>, OnCallStoreError> {
        Ok(on_call(&self.entries().tenant(tenant_id)))
    }
}

#[async_trait]
impl OnCallStore for MemoryOnCallStore {
    async fn set(
        &self,
        tenant_id: &str,
        user_id: &str,
        status: OnCallStatus,
    ) -> Result<OnCallEntry, OnCallStoreError> {
        let now = Utc::now();
        self.entries()
            .0
            .insert((tenant_id.to_owned(), user_id.to_owned()), (status, now));
        Ok(OnCallEntry {
            user_id: user_id.to_owned(),
            status,
            updated_at: now,
        })
    }

    async fn get(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<OnCallEntry>, OnCallStoreError> {
        Ok(self.entries().entry(tenant_id, user_id))
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<OnCallEntry>, OnCallStoreError> {
        Ok(self.entries().tenant(tenant_id))
    }
}

#[cfg(feature = "axum")]
pub use self::routes::router;

/// The on-call handlers' OpenAPI paths, for [`routes::openapi::OnCallApi`](crate::routes::openapi::OnCallApi).
#[cfg(feature = "openapi")]
pub(crate) mod openapi {
    pub(crate) use super::routes::{__path_own, __path_set, __path_users};
}

#[cfg(feature = "axum")]
use crate::routes::PushUser;

#[cfg(feature = "axum")]
mod routes {
    use std::sync::Arc;

    use aisoc_notify_core::http::ApiError;
    use axum::extract::{FromRequestParts, State};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::{Json, Router};
    use serde_json::{Value, json};

    use super::{MAX_USER_ID_LEN, OnCallStatus, OnCallStore, PushUser};

    /// The on-call routes over `store`, for `app.nest("/api/v1/oncall", router::<MyUser>(store))`.
    pub fn router<U>(store: Arc<dyn OnCallStore>) -> Router
    where
        U: PushUser + FromRequestParts<Arc<dyn OnCallStore>> + Send + 'static,
    {
        Router::new()
            .route("/", get(own::<U>).put(set::<U>))
            .route("/users", get(users::<U>))
            .layer(axum::extract::DefaultBodyLimit::max(4 * 1024))
            .with_state(store)
    }

    /// A refusal for a user id too long to keep, if it is.
    fn too_long<U: PushUser>(user: &U) -> Option<Response> {
        (user.user_id().chars().count() > MAX_USER_ID_LEN).then(|| {
            ApiError::unprocessable(format!(
                "the user id must be at most {MAX_USER_ID_LEN} characters"
            ))
            .into_response()
        })
    }

    #[cfg_attr(feature = "openapi", utoipa::path(
        get, path = "/", tag = "oncall",
        summary = "The caller's on-call status (`available` when never set)",
        responses(
            (status = 200, description = "The caller's status", body = crate::routes::openapi::OnCallEntryBody),
            (status = 422, description = "The user id is too long", body = crate::routes::openapi::PushApiError),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The on-call store is unavailable", body = crate::routes::openapi::PushApiError),
        ),
    ))]
    async fn own<U: PushUser>(State(store): State<Arc<dyn OnCallStore>>, user: U) -> Response {
        if let Some(refused) = too_long(&user) {
            return refused;
        }
        match store.get(user.tenant_id(), user.user_id()).await {
            Ok(Some(entry)) => Json(entry).into_response(),
            Ok(None) => Json(json!({
                "user_id": user.user_id(),
                "status": OnCallStatus::default(),
                "updated_at": null,
            }))
            .into_response(),
            Err(store) => ApiError::unavailable(store.to_string()).into_response(),
        }
    }

    #[cfg_attr(feature = "openapi", utoipa::path(
        put, path = "/", tag = "oncall",
        summary = "Set the caller's on-call status; offline and snoozed users get no pushes",
        request_body = crate::routes::openapi::SetOnCallBody,
        responses(
            (status = 200, description = "The status set", body = crate::routes::openapi::OnCallEntryBody),
            (status = 400, description = "Malformed JSON", body = crate::routes::openapi::PushApiError),
            (status = 422, description = "`status` is not one of available, busy, offline, snoozed", body = crate::routes::openapi::PushApiError),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The on-call store is unavailable", body = crate::routes::openapi::PushApiError),
        ),
    ))]
    async fn set<U: PushUser>(
        State(store): State<Arc<dyn OnCallStore>>,
        user: U,
        body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
    ) -> Response {
        let body = match body {
            Ok(Json(body)) => body,
            Err(rejection) => {
                return ApiError::new(rejection.status(), rejection.body_text()).into_response();
            }
        };
        if let Some(refused) = too_long(&user) {
            return refused;
        }
        let status = match body.get("status").cloned().map(serde_json::from_value) {
            Some(Ok(status)) => status,
            _ => {
                return ApiError::unprocessable(
                    "status must be one of available, busy, offline, snoozed",
                )
                .into_response();
            }
        };
        match store.set(user.tenant_id(), user.user_id(), status).await {
            Ok(entry) => Json(entry).into_response(),
            Err(store) => ApiError::unavailable(store.to_string()).into_response(),
        }
    }

    #[cfg_attr(feature = "openapi", utoipa::path(
        get, path = "/users", tag = "oncall",
        summary = "Every on-call status in the caller's tenant",
        responses(
            (status = 200, description = "The tenant's statuses", body = crate::routes::openapi::OnCallUsers),
        (status = 401, description = "The host's authentication refused the caller"),
        (status = 503, description = "The on-call store is unavailable", body = crate::routes::openapi::PushApiError),
        ),
    ))]
    async fn users<U: PushUser>(State(store): State<Arc<dyn OnCallStore>>, user: U) -> Response {
        match store.list(user.tenant_id()).await {
            Ok(users) => Json(json!({"users": users})).into_response(),
            Err(store) => ApiError::unavailable(store.to_string()).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statuses_are_per_tenant_and_user_and_default_to_available() {
        let store = MemoryOnCallStore::new();
        assert_eq!(store.status("acme", "alice").await, OnCallStatus::Available);
        store
            .set("acme", "alice", OnCallStatus::Offline)
            .await
            .unwrap();
        store.set("acme", "bob", OnCallStatus::Busy).await.unwrap();
        store
            .set("globex", "alice", OnCallStatus::Snoozed)
            .await
            .unwrap();
        assert_eq!(store.status("acme", "alice").await, OnCallStatus::Offline);
        assert_eq!(store.status("globex", "alice").await, OnCallStatus::Snoozed);
        let acme: Vec<(String, OnCallStatus)> = store
            .list("acme")
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.user_id, e.status))
            .collect();
        assert_eq!(
            acme,
            [
                ("alice".to_owned(), OnCallStatus::Offline),
                ("bob".to_owned(), OnCallStatus::Busy)
            ]
        );
        assert!(store.get("globex", "bob").await.unwrap().is_none());
        // On call: a status that takes pushes, set by the user; alice is offline, carol never
        // said.
        assert_eq!(store.on_call_users("acme").await.unwrap(), ["bob"]);
        assert!(store.on_call_users("globex").await.unwrap().is_empty());
    }
}
