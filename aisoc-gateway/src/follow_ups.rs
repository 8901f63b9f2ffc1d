//! What recorded decisions still have to do, for an operator: the follow-ups of `chatops.verify`
//! answers (timeline entry, playbook resume) and of approval decisions (playbook resume), each
//! delivered by its own dispatcher from its store's outbox. A follow-up that ran out of
//! attempts, or that the orchestrator refused, is `dead`: list it, fix the cause, replay it.
//! Admin bearer token required.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/admin/follow-ups[?state=dead&limit=<n>]` | follow-ups in `state` (`pending`, `done` or `dead`; default `dead`) of both flows, most recently changed first (default 100, at most 1000) |
//! | `POST /v1/admin/follow-ups/{id}/{kind}/replay` | put dead follow-up `id` (the prompt or approval id) of `kind` (`resume` or `timeline`) back in line, due now with a fresh retry budget (202); 404 when unknown, 409 when not dead |
//!
//! Each follow-up is `{flow, id, kind, tenant_id, case_id, run_id, actor, choice, answered_at,
//! state, attempts, next_attempt_at, last_error, updated_at}`: `flow` is `chatops.verify` or
//! `approval`, `choice` the branch the run resumes on, `last_error` why the last attempt failed
//! (kept through a replay until an attempt succeeds). A replayed resume keeps its idempotency
//! key (`id`).

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::follow_up::{
    AnswerOutbox, CaseTimeline, FollowUp, FollowUpDispatcher, FollowUpKind, FollowUpState,
    PlaybookResumer, ReplayOutcome,
};
use aisoc_notify_approvals::store::StoreError;
use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::secret::SecretString;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;

use crate::auth::{error, require_admin};

/// How many follow-ups a page holds unless asked.
const DEFAULT_LIMIT: usize = 100;
/// The most a page holds.
const MAX_LIMIT: usize = 1000;
/// The variable that sets how long a claimed follow-up stays hidden from other dispatchers.
pub const LEASE_VARIABLE: &str = "AISOC_CHATOPS_FOLLOW_UP_LEASE_SECONDS";

/// One flow's follow-ups: the store's outbox and the dispatcher delivering from it.
#[derive(Clone)]
pub struct FollowUpSource {
    /// The outbox (a verification or approval store).
    pub outbox: Arc<dyn AnswerOutbox>,
    /// Its running dispatcher, woken after a replay.
    pub dispatcher: Arc<FollowUpDispatcher>,
}

impl FollowUpSource {
    /// Starts a dispatcher over `outbox` delivering through the host's hooks, with `lease`
    /// (the dispatcher's default when `None`), and returns it with its outbox.
    pub fn spawn(
        outbox: Arc<dyn AnswerOutbox>,
        timeline: Arc<dyn CaseTimeline>,
        resumer: Arc<dyn PlaybookResumer>,
        lease: Option<Duration>,
    ) -> Self {
        let mut dispatcher = FollowUpDispatcher::new(outbox.clone(), timeline, resumer);
        if let Some(lease) = lease {
            dispatcher = dispatcher.with_lease(lease);
        }
        let dispatcher = Arc::new(dispatcher);
        dispatcher.clone().spawn();
        Self { outbox, dispatcher }
    }
}

/// Reads `AISOC_CHATOPS_FOLLOW_UP_LEASE_SECONDS` (1 to 3600) through `lookup`; `None` when
/// unset. Every follow-up dispatcher of the gateway uses it.
///
/// ```
/// use aisoc_gateway::follow_ups::lease_from_lookup;
///
/// let lease = lease_from_lookup(|_| Some("3".into())).unwrap();
/// assert_eq!(lease, Some(std::time::Duration::from_secs(3)));
/// let err = lease_from_lookup(|_| Some("0".into())).unwrap_err();
/// assert_eq!(err.field(), "AISOC_CHATOPS_FOLLOW_UP_LEASE_SECONDS");
/// ```
pub fn lease_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Duration>, ConfigError> {
    lookup(LEASE_VARIABLE)
        .map(|raw| {
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    ConfigError::new(LEASE_VARIABLE, "must be a number of seconds from 1 to 3600")
                })
        })
        .transpose()
}

/// The follow-up routes (admin) over every flow's `sources`.
pub fn router(sources: Vec<FollowUpSource>, admin_token: Arc<SecretString>) -> Router {
    Router::new()
        .route("/v1/admin/follow-ups", get(list))
        .route("/v1/admin/follow-ups/{id}/{kind}/replay", post(replay))
        .route_layer(middleware::from_fn_with_state(admin_token, require_admin))
        .with_state(Arc::new(sources))
}

type Sources = Arc<Vec<FollowUpSource>>;

fn store_error(failure: StoreError) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string())
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[utoipa::path(
    get, path = "/v1/admin/follow-ups", tag = "follow-ups",
    summary = "List decisions' follow-ups in one state, newest first",
    security(("admin_bearer" = [])),
    params(("state" = Option<String>, Query, description = "`pending`, `delivered` or `dead` (default `dead`)"), ("limit" = Option<usize>, Query, description = "Page size (default 100)")),
    responses(
        (status = 200, description = "The follow-ups", body = Vec<crate::openapi::FollowUp>),
        (status = 400, description = "Unknown state or limit out of range", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn list(State(sources): State<Sources>, Query(page): Query<Page>) -> Response {
    let state = match page.state.as_deref().map(str::parse::<FollowUpState>) {
        None => FollowUpState::Dead,
        Some(Ok(state)) => state,
        Some(Err(failure)) => return error(StatusCode::BAD_REQUEST, failure.to_string()),
    };
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        );
    }
    let mut listed: Vec<FollowUp> = Vec::new();
    for source in sources.iter() {
        match source.outbox.list_follow_ups(state, limit).await {
            Ok(follow_ups) => listed.extend(follow_ups),
            Err(failure) => return store_error(failure),
        }
    }
    listed.sort_by_key(|f| std::cmp::Reverse(f.updated_at));
    listed.truncate(limit);
    Json(listed).into_response()
}

#[utoipa::path(
    post, path = "/v1/admin/follow-ups/{id}/{kind}/replay", tag = "follow-ups",
    summary = "Replay a dead follow-up",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The follow-up's id"), ("kind" = String, Path, description = "`resume` or `timeline`")),
    responses(
        (status = 202, description = "Queued again", body = crate::openapi::FollowUp),
        (status = 400, description = "Unknown kind", body = crate::openapi::ApiError),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such follow-up", body = crate::openapi::ApiError),
        (status = 409, description = "The follow-up is not dead", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable", body = crate::openapi::ApiError),
    ),
)]
async fn replay(
    State(sources): State<Sources>,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    let kind = match kind.parse::<FollowUpKind>() {
        Ok(kind) => kind,
        Err(failure) => return error(StatusCode::BAD_REQUEST, failure.to_string()),
    };
    let mut not_dead = None;
    for source in sources.iter() {
        match source.outbox.replay(&id, kind, chrono::Utc::now()).await {
            Ok(ReplayOutcome::Replayed(follow_up)) => {
                source.dispatcher.wake();
                tracing::info!(flow = %follow_up.flow, key = %follow_up.key, %kind, "dead follow-up replayed");
                return (StatusCode::ACCEPTED, Json(follow_up)).into_response();
            }
            Ok(ReplayOutcome::NotDead(state)) => not_dead = Some(state),
            Ok(ReplayOutcome::Unknown) => {}
            Err(failure) => return store_error(failure),
        }
    }
    match not_dead {
        Some(state) => error(
            StatusCode::CONFLICT,
            format!(
                "follow-up '{id}' ({kind}) is {state}, not dead: only a dead follow-up can be replayed"
            ),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no follow-up '{id}' ({kind})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_approvals::follow_up::{HookError, ResumeRequest, TimelineEvent};
    use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
    use aisoc_notify_approvals::model::NewApproval;
    use aisoc_notify_approvals::store::ApprovalStore;
    use aisoc_notify_approvals::verify::MemoryVerificationStore;
    use aisoc_notify_core::async_trait;
    use aisoc_notify_core::decision::{Decision, DecisionRequest, DecisionSource, Reviewer};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    /// Refuses every resume, so each one dies at its first attempt.
    struct Refusing;

    #[async_trait]
    impl PlaybookResumer for Refusing {
        async fn resume(&self, _: &ResumeRequest) -> Result<(), HookError> {
            Err(HookError::permanent("the orchestrator answered HTTP 400"))
        }
    }

    #[async_trait]
    impl CaseTimeline for Refusing {
        async fn record(&self, _: TimelineEvent) -> Result<(), HookError> {
            Err(HookError::permanent("no such case"))
        }
    }

    fn source(outbox: Arc<dyn AnswerOutbox>) -> FollowUpSource {
        let hooks = Arc::new(Refusing);
        FollowUpSource {
            dispatcher: Arc::new(FollowUpDispatcher::new(
                outbox.clone(),
                hooks.clone(),
                hooks,
            )),
            outbox,
        }
    }

    async fn call(app: &Router, method: &str, uri: &str) -> (StatusCode, serde_json::Value) {
        let response = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("authorization", "Bearer admin")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn dead_approval_resumes_are_listed_and_replayed_once_with_statuses_that_say_why_not() {
        let approvals = Arc::new(MemoryApprovalStore::new(Arc::new(MemoryAuditLog::new())));
        let now = chrono::Utc::now();
        approvals
            .create(
                NewApproval {
                    id: Some("apr_1".into()),
                    tenant_id: "acme".into(),
                    summary: "Isolate host web-01".into(),
                    risk_score: None,
                    requested_action: "isolate_host".into(),
                    expires_at: now + chrono::Duration::hours(1),
                    notes: None,
                    run_id: Some("run-1".into()),
                    case_id: None,
                },
                now,
            )
            .await
            .unwrap();
        approvals
            .decide(
                "acme",
                &DecisionRequest {
                    approval_id: "apr_1".into(),
                    decision: Decision::Deny,
                    reviewer: Reviewer {
                        id: "U1".into(),
                        name: "alice".into(),
                    },
                    source: DecisionSource::Api,
                },
                now,
            )
            .await
            .unwrap();
        let approvals = source(approvals);
        assert_eq!(approvals.dispatcher.run_due().await.unwrap().dead, 1);
        let app = router(
            vec![
                source(Arc::new(MemoryVerificationStore::new())),
                approvals.clone(),
            ],
            Arc::new(SecretString::from("admin".to_owned())),
        );

        let (status, listed) = call(&app, "GET", "/v1/admin/follow-ups").await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["flow"], "approval");
        assert_eq!(listed[0]["id"], "apr_1");
        assert_eq!(listed[0]["kind"], "resume");
        assert_eq!(listed[0]["state"], "dead");
        assert_eq!(listed[0]["choice"], "deny");
        assert_eq!(
            listed[0]["last_error"],
            "non_retryable: the orchestrator answered HTTP 400"
        );
        let (status, pending) = call(&app, "GET", "/v1/admin/follow-ups?state=pending").await;
        assert_eq!((status, pending), (StatusCode::OK, serde_json::json!([])));
        for bad in ["?state=stuck", "?limit=0", "?limit=1001"] {
            let (status, body) = call(&app, "GET", &format!("/v1/admin/follow-ups{bad}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }

        let (status, body) = call(&app, "POST", "/v1/admin/follow-ups/apr_1/reply/replay").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("'resume'"),
            "{body}"
        );
        let (status, body) = call(&app, "POST", "/v1/admin/follow-ups/apr_2/resume/replay").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, replayed) =
            call(&app, "POST", "/v1/admin/follow-ups/apr_1/resume/replay").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
        assert_eq!(
            (replayed["state"].as_str(), replayed["attempts"].as_u64()),
            (Some("pending"), Some(0))
        );
        let (status, body) = call(&app, "POST", "/v1/admin/follow-ups/apr_1/resume/replay").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("is pending, not dead"),
            "{body}"
        );
        let (status, dead) = call(&app, "GET", "/v1/admin/follow-ups").await;
        assert_eq!((status, dead), (StatusCode::OK, serde_json::json!([])));

        let unauthorized = app
            .clone()
            .oneshot(
                Request::builder()
                    .uri("/v1/admin/follow-ups")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    }
}
