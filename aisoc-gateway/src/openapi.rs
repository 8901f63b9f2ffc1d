//! The gateway's OpenAPI 3.1 description, served at `GET /openapi.json` without authentication.
//!
//! The document is generated, not written: each handler carries a `#[utoipa::path]` naming its
//! method, path, parameters, bodies and answers, and the crates the gateway nests (inbox, HEC,
//! answer page, push, in-app, on-call, Slack, Teams) describe their own routers behind their
//! `openapi` feature. [`document`] puts them together the way `aisoc-gateway` mounts the
//! routers, so a path in the document is a path the binary answers; the gateway's
//! `tests/openapi.rs` checks that both ways (every documented operation is routed, every
//! `.route(…)` in the sources is documented) and validates the document against the official
//! OpenAPI 3.1 schema.
//!
//! Many handlers build their JSON with `json!`; the shapes they answer are described by the
//! schema-only types below (they are never constructed), so the document says what a caller
//! gets rather than "an object".
//!
//! Security schemes:
//!
//! | scheme | what |
//! |---|---|
//! | `admin_bearer` | `Authorization: Bearer <admin token>`: every admin route, and (with `X-AiSOC-Tenant` / `X-AiSOC-User`) the per-user push, in-app and on-call routes |
//! | `inbox_bearer` | `Authorization: Bearer <inbox token>` on `POST /v1/inbox/cef`; the other inbox routes carry the token in the path (`{tenant_token}`), which OpenAPI cannot name as a scheme |
//! | `hec_token` | `Authorization: Splunk <inbox token>` (or Basic with it as the password) on the HEC paths |
//! | `slack_signature` | `X-Slack-Signature` (with `X-Slack-Request-Timestamp`) over the raw body |
//! | `teams_hmac` | `Authorization: HMAC <base64>` over the raw body (outgoing webhooks) |
//! | `bot_framework_jwt` | `Authorization: Bearer <Bot Connector JWT>` on the Teams bot's messaging endpoint |
//! | `user_token` | `Authorization: Bearer <user token>` from `POST /v1/admin/user-tokens`, on the per-user routes |

#![allow(dead_code)] // The schema-only types are described, never built.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Required, SecurityRequirement};
use utoipa::{Modify, OpenApi, ToSchema};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The nest points of the crates' routers, as `aisoc-gateway` mounts them.
const NESTED_USER_ROUTES: [&str; 3] = ["/api/v1/push", "/api/v1/inapp", "/api/v1/oncall"];

/// The per-user routes that need no caller (a browser reads the key before it subscribes).
const OPEN_USER_ROUTES: [&str; 1] = ["/api/v1/push/public-key"];

/// The gateway's own routes, with the schemes and tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "aisoc-gateway",
        description = "The reference aisoc-notify gateway: notification routing and delivery, \
                       inbound capture, approvals and ChatOps answers, channels and settings."
    ),
    paths(
        openapi_json,
        crate::app::healthz,
        crate::app::render_metrics,
        crate::app::send_notification,
        crate::dead_letters::list,
        crate::dead_letters::replay,
        crate::follow_ups::list,
        crate::follow_ups::replay,
        crate::actions::run_action,
        crate::itsm_store::routes::list,
        crate::itsm_store::routes::save,
        crate::itsm_store::routes::remove,
        crate::channels::http::list_channels,
        crate::channels::http::create_channel,
        crate::channels::http::update_channel,
        crate::channels::http::delete_channel,
        crate::channels::http::test_channel,
        crate::connectors::list,
        crate::connectors::upsert,
        crate::connectors::remove,
        crate::connectors::heartbeat,
        crate::rules::list_rules,
        crate::rules::create_rule,
        crate::rules::update_rule,
        crate::rules::delete_rule,
        crate::user_tokens::mint,
        crate::approval_cards::answer::confirm,
        crate::approval_cards::answer::decide,
    ),
    components(schemas(ApiError, Notification)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "meta", description = "This document"),
        (name = "operations", description = "Liveness and metrics"),
        (name = "notifications", description = "Route a notification to the channels, now or through the outbox"),
        (name = "dead-letters", description = "The outbox's dead letters"),
        (name = "follow-ups", description = "Decisions' follow-ups: playbook resumes and timeline entries"),
        (name = "inbox", description = "Inbound capture: webhooks, e-mail, CEF"),
        (name = "hec", description = "Splunk HTTP Event Collector compatible capture"),
        (name = "inbox-tokens", description = "Minting, rotating and revoking inbox tokens"),
        (name = "approvals", description = "Approval requests, decisions and the verification answer page"),
        (name = "audit", description = "The audit trail"),
        (name = "actions", description = "Playbook actions"),
        (name = "itsm", description = "A tenant's ticketing settings"),
        (name = "channels", description = "Notification channels"),
        (name = "rules", description = "Routing rules: conditions that send notifications to channels"),
        (name = "user-tokens", description = "Short-lived user tokens for the per-user routes"),
        (name = "connectors", description = "Connector freshness"),
        (name = "push", description = "Web Push subscriptions"),
        (name = "inapp", description = "The caller's in-app notifications"),
        (name = "oncall", description = "On-call status"),
        (name = "slack", description = "Slack interactivity and slash commands (when SLACK_SIGNING_SECRET is set)"),
        (name = "teams", description = "Teams card interactions (outgoing webhook when TEAMS_OUTGOING_WEBHOOK_SECRET is set; the bot's messaging endpoint when TEAMS_APP_ID is set)"),
    )
)]
struct GatewayApi;

/// The whole document: the gateway's routes and every nested router's, at their mount points.
pub fn document() -> Document {
    // `nest` joins paths as given; a router's own root (`/`) is its nest point itself.
    let at = |base: &str, path: &str| match path {
        "/" => base.to_owned(),
        _ => format!("{base}{path}"),
    };
    let mut document = GatewayApi::openapi()
        .nest_with_path_composer(
            "/v1/inbox",
            aisoc_inbox::router::openapi::InboxApi::openapi(),
            at,
        )
        .merge_from(aisoc_inbox::router::openapi::HecApi::openapi())
        .nest_with_path_composer(
            "/v1",
            aisoc_notify_approvals::routes::VerifyApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/v1",
            aisoc_notify_approvals::routes::approvals_openapi::ApprovalsApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/v1/admin/inbox",
            aisoc_inbox::router::openapi::TokenAdminApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/api/v1/push",
            aisoc_notify_webpush::routes::openapi::PushApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/api/v1/oncall",
            aisoc_notify_webpush::routes::openapi::OnCallApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/api/v1/inapp",
            aisoc_notify_inapp::routes::openapi::InAppApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/v1/slack",
            aisoc_notify_slack::routes::openapi::SlackApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/v1/teams",
            aisoc_notify_teams::routes::openapi::TeamsApi::openapi(),
            at,
        )
        .nest_with_path_composer(
            "/v1/teams",
            aisoc_notify_teams::bot_framework::BotApi::openapi(),
            at,
        );
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for (path, item) in document.paths.paths.iter_mut() {
        let user_route = NESTED_USER_ROUTES.iter().any(|p| path.starts_with(p))
            && !OPEN_USER_ROUTES.contains(&path.as_str());
        for operation in operations(item) {
            if user_route {
                as_gateway_user(operation);
            }
            // Operation ids must be unique in the document; handlers in different modules share
            // names (`list`, `replay`), so each is qualified by its area.
            if let (Some(id), Some(tag)) = (
                &operation.operation_id,
                operation.tags.as_ref().and_then(|tags| tags.first()),
            ) {
                operation.operation_id = Some(format!("{tag}.{id}"));
            }
        }
    }
    document
}

/// Every operation of a path item.
fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// How the gateway mounts the per-user routers: the admin token names the service, the two
/// headers the caller (see [`crate::push`]).
fn as_gateway_user(operation: &mut Operation) {
    operation.security = Some(vec![
        SecurityRequirement::new("admin_bearer", Vec::<String>::new()),
        SecurityRequirement::new("user_token", Vec::<String>::new()),
    ]);
    let header = |name: &str, description: &str| -> Parameter {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(<String as utoipa::PartialSchema>::schema()))
            .build()
    };
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(header(
        "X-AiSOC-Tenant",
        "The caller's tenant: required with the admin token; with a user token, the token's \
         tenant (another is refused 403)",
    ));
    parameters.push(header(
        "X-AiSOC-User",
        "The caller's user id (1 to 128 characters): required with the admin token; with a \
         user token, the token's user (another is refused 403)",
    ));
    let error = |description: &str| {
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ApiError")))
                    .build(),
            )
            .build()
            .into()
    };
    let responses = &mut operation.responses.responses;
    responses.insert(
        "400".to_owned(),
        error("X-AiSOC-Tenant or X-AiSOC-User missing"),
    );
    responses.insert(
        "401".to_owned(),
        error("Neither the admin bearer token nor a valid, unexpired user token"),
    );
    responses.insert(
        "403".to_owned(),
        error("X-AiSOC-Tenant or X-AiSOC-User name someone other than the user token"),
    );
    // A malformed tenant or an over-long user id; the router's own 422s keep their words.
    responses
        .entry("422".to_owned())
        .or_insert_with(|| error("X-AiSOC-Tenant malformed or X-AiSOC-User too long"));
}

/// Registers the security schemes the operations name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token (AISOC_ADMIN_TOKEN, or the one printed at start-up)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "user_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A short-lived user token minted by POST /v1/admin/user-tokens: names \
                         one tenant's user, for a browser page",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "inbox_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An inbox token minted by POST /v1/admin/inbox/tokens"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "hec_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Splunk <inbox token>`, or Basic with the inbox token as the password",
            ))),
        );
        components.add_security_scheme(
            "slack_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Slack-Signature",
                "`v0=<hex HMAC-SHA256>` of `v0:<X-Slack-Request-Timestamp>:<raw body>` with the \
                 Slack signing secret; the timestamp must be within five minutes",
            ))),
        );
        components.add_security_scheme(
            "bot_framework_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The Bot Connector's RS256 token: issuer https://api.botframework.com, \
                         audience TEAMS_APP_ID, keys from the OpenID metadata document",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "teams_hmac",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`HMAC <base64 HMAC-SHA256 of the raw body>` with the outgoing webhook's secret",
            ))),
        );
    }
}

/// The `/openapi.json` route.
pub fn router() -> Router {
    // Built once: the document is the same for the life of the process.
    let body: Arc<str> = match serde_json::to_string(&document()) {
        Ok(json) => json.into(),
        Err(failure) => {
            tracing::error!(%failure, "the OpenAPI document could not be serialised");
            r#"{"error":"the OpenAPI document could not be serialised"}"#.into()
        }
    };
    // The literal (not OPENAPI_PATH) so tests/openapi.rs's source scan sees the route.
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = Arc::clone(&body);
            async move { openapi_json(body).await }
        }),
    )
}

#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    summary = "This OpenAPI 3.1 document (no authentication)",
    responses((status = 200, description = "The document", content_type = "application/json", body = Object)),
)]
async fn openapi_json(body: Arc<str>) -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

// ---- Schema-only types: the JSON shapes handlers build with `json!` or serialise from other
// crates' types. ----

/// `{"error": "..."}`: what went wrong, in words that say what to fix.
#[derive(ToSchema)]
pub struct ApiError {
    /// What went wrong.
    error: String,
}

/// The wire shape of a notification (`aisoc_notify_core::Notification`).
#[derive(ToSchema)]
pub struct Notification {
    /// The tenant the event belongs to.
    tenant_id: String,
    /// The event type (`p0_alert`, `agent_approval`, `oncall_handoff`, … or any snake_case name).
    event_type: String,
    /// How severe it is.
    severity: Severity,
    /// One-line summary.
    title: String,
    /// Longer plain-text description.
    #[schema(default = "")]
    body: Option<String>,
    /// Key facts, in display order.
    facts: Option<Vec<Fact>>,
    /// Links, in display order.
    links: Option<Vec<Link>>,
    /// Buttons a human can press.
    actions: Option<Vec<InteractiveAction>>,
    /// A key that identifies repeats of the same event.
    dedupe_key: Option<String>,
    /// Free-form labels routing rules can require.
    tags: Option<Vec<String>>,
    /// When it was created (RFC 3339; now when absent).
    #[schema(format = DateTime)]
    created_at: Option<String>,
}

/// How urgent a notification is.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational.
    Info,
    /// Worth a look.
    Low,
    /// Needs attention today.
    Medium,
    /// Needs attention now.
    High,
    /// Page someone.
    Critical,
}

/// A labelled value ("Host: web-01").
#[derive(ToSchema)]
pub struct Fact {
    /// The label.
    label: String,
    /// The value.
    value: String,
}

/// A link shown with a notification.
#[derive(ToSchema)]
pub struct Link {
    /// The link text.
    label: String,
    /// The target URL.
    url: String,
}

/// A button offered with a notification.
#[derive(ToSchema)]
pub struct InteractiveAction {
    /// The action id the interaction handler dispatches on.
    action_id: String,
    /// The button text.
    label: String,
    /// `default`, `primary` or `danger`.
    style: Option<String>,
    /// What the button does: `{"kind": "url", "target": "https://…"}` or
    /// `{"kind": "value", "target": "…"}`.
    target: ActionTarget,
}

/// What pressing a button does.
#[derive(ToSchema)]
pub struct ActionTarget {
    /// `url` or `value`.
    kind: String,
    /// The URL to open, or the value sent back.
    target: String,
}

/// One channel's outcome of an immediate delivery.
#[derive(ToSchema)]
pub struct ChannelOutcome {
    /// The channel id.
    channel: String,
    /// The channel type.
    #[serde(rename = "type")]
    channel_type: String,
    /// `delivered`, `failed`, `skipped`, …
    outcome: String,
    /// Why it failed.
    error: Option<String>,
    /// How a failure is retried.
    retry_class: Option<String>,
    /// How long the channel asked to wait.
    retry_after_seconds: Option<u64>,
}

/// What an immediate delivery did (`200` when every channel delivered, else `502`).
#[derive(ToSchema)]
pub struct DeliveryReport {
    /// Whether every channel delivered.
    delivered: bool,
    /// Each channel's outcome.
    channels: Vec<ChannelOutcome>,
}

/// A notification stored in the outbox.
#[derive(ToSchema)]
pub struct Queued {
    /// Always true.
    queued: bool,
    /// The key every delivery of it carries (`Idempotency-Key` where the channel can).
    dedupe_key: String,
}

/// A dead letter: a notification the outbox gave up on.
#[derive(ToSchema)]
pub struct DeadLetter {
    /// Its id, for replay.
    id: String,
    /// The notification.
    notification: Notification,
    /// The channels it was still owed to.
    channels: Vec<String>,
    /// Attempts made.
    attempts: u32,
    /// The last failure.
    last_error: String,
    /// The last failure's retry class.
    class: String,
    /// When it died (RFC 3339).
    #[schema(format = DateTime)]
    dead_at: Option<String>,
}

/// A decision's follow-up (a playbook resume or a timeline entry).
#[derive(ToSchema)]
pub struct FollowUp {
    /// The flow (`verification`, `approval`).
    flow: String,
    /// Its id (the decision's key).
    id: String,
    /// `resume` or `timeline`.
    kind: String,
    /// The tenant.
    tenant_id: String,
    /// The case, if any.
    case_id: Option<String>,
    /// The playbook run, if any.
    run_id: Option<String>,
    /// Who answered.
    actor: String,
    /// What they chose.
    choice: String,
    /// When they answered (RFC 3339).
    #[schema(format = DateTime)]
    answered_at: String,
    /// `pending`, `delivered` or `dead`.
    state: String,
    /// Attempts made.
    attempts: u32,
    /// When the next attempt is due (RFC 3339).
    #[schema(format = DateTime)]
    next_attempt_at: String,
    /// The last failure.
    last_error: Option<String>,
    /// When it last changed (RFC 3339).
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A playbook action to run.
#[derive(ToSchema)]
pub struct ActionRequest {
    /// `chatops.verify`, `notify_slack`, `notify_teams`, `webhook` or `create_ticket`.
    action_type: String,
    /// The tenant.
    tenant_id: String,
    /// The case.
    case_id: Option<String>,
    /// The playbook run.
    run_id: Option<String>,
    /// The action's parameters.
    parameters: Option<serde_json::Map<String, serde_json::Value>>,
    /// Context the action may read.
    context: Option<serde_json::Value>,
}

/// What an action did: `200` succeeded, `202` running, `502` failed.
#[derive(ToSchema)]
pub struct ActionResult {
    /// `succeeded`, `failed` or `running`.
    status: String,
    /// The action's output.
    output: serde_json::Map<String, serde_json::Value>,
    /// Why it failed.
    error: Option<String>,
    /// The failure's retry class.
    error_class: Option<String>,
    /// How long to wait before retrying.
    retry_after_seconds: Option<u64>,
}

/// A tenant's saved settings for one ticketing system.
#[derive(ToSchema)]
pub struct ItsmSaved {
    /// The tenant.
    tenant_id: String,
    /// The system (`jira`, `servicenow`, …).
    system: String,
    /// The fields that are set (values are never shown).
    set_fields: Vec<String>,
    /// When they were saved (RFC 3339).
    #[schema(format = DateTime)]
    updated_at: String,
}

/// One ticketing system's state for a tenant.
#[derive(ToSchema)]
pub struct ItsmSystemState {
    /// The system.
    system: String,
    /// Whether settings are saved.
    configured: bool,
    /// The fields that are set.
    set_fields: Option<Vec<String>>,
    /// When they were saved (RFC 3339).
    #[schema(format = DateTime)]
    updated_at: Option<String>,
}

/// Every ticketing system's state for a tenant.
#[derive(ToSchema)]
pub struct ItsmList {
    /// The tenant.
    tenant_id: String,
    /// Each system.
    systems: Vec<ItsmSystemState>,
}

/// A channel as an operator submits it.
#[derive(ToSchema)]
pub struct ChannelRequest {
    /// The channel type (`slack`, `teams`, `webhook`, `email`, `webpush`, `inapp`, …).
    channel_type: String,
    /// A display name.
    name: String,
    /// The type's configuration (URLs, tokens, secrets, recipients).
    config: Option<serde_json::Map<String, serde_json::Value>>,
    /// The event types it receives; empty means all.
    event_types: Option<Vec<String>>,
    /// Whether it receives notifications (default true).
    enabled: Option<bool>,
}

/// A saved channel as the API shows it: no secret values.
#[derive(ToSchema)]
pub struct ChannelView {
    /// Its id.
    id: String,
    /// Its type.
    channel_type: String,
    /// Its name.
    name: String,
    /// The configuration keys that are set (values are never shown).
    configured: Vec<String>,
    /// The event types it receives; empty means all.
    event_types: Vec<String>,
    /// Whether it receives notifications.
    enabled: bool,
}

/// The optional body of a channel test.
#[derive(ToSchema)]
pub struct ChannelTestRequest {
    /// The tenant the test is for (default `gateway`).
    tenant_id: Option<String>,
    /// The test's text (at most 1000 characters).
    message: Option<String>,
}

/// What a channel test did (`200` delivered, `502` not).
#[derive(ToSchema)]
pub struct ChannelTestResult {
    /// Whether it was delivered.
    delivered: bool,
    /// Attempts made, when delivered.
    attempts: Option<u32>,
    /// Whether a failure is worth retrying.
    retryable: Option<bool>,
    /// The failure's retry class.
    retry_class: Option<String>,
    /// How long the channel asked to wait.
    retry_after_seconds: Option<u64>,
    /// Why it failed.
    error: Option<String>,
    /// The outcome, when neither delivered nor failed.
    outcome: Option<String>,
}

/// A connector to watch.
#[derive(ToSchema)]
pub struct ConnectorBody {
    /// A display name.
    name: String,
    /// How long it may stay silent before it is stale.
    window_seconds: u64,
}

/// A watched connector.
#[derive(ToSchema)]
pub struct Connector {
    /// Its id.
    id: String,
    /// The tenant.
    tenant_id: String,
    /// Its name.
    name: String,
    /// How long it may stay silent.
    window_seconds: u64,
    /// `pending`, `healthy` or `stale`.
    status: String,
    /// Its last heartbeat (RFC 3339).
    #[schema(format = DateTime)]
    last_heartbeat: Option<String>,
    /// When it was registered (RFC 3339).
    #[schema(format = DateTime)]
    registered_at: String,
    /// When its status last changed (RFC 3339).
    #[schema(format = DateTime)]
    status_changed_at: Option<String>,
}

/// A tenant's connectors.
#[derive(ToSchema)]
pub struct ConnectorList {
    /// Each connector.
    connectors: Vec<Connector>,
}

/// `{"status": "ok"}`.
#[derive(ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: String,
}

/// A routing rule as submitted (`POST` and `PUT` take the whole rule).
#[derive(ToSchema)]
pub struct RuleBody {
    /// A display name (1 to 200 characters).
    name: String,
    /// The event types matched; empty or absent matches all.
    event_types: Option<Vec<String>>,
    /// The lowest severity matched; absent matches all.
    min_severity: Option<Severity>,
    /// The only tenant matched; absent matches every tenant.
    tenant_id: Option<String>,
    /// Tags that must all be on a notification (at most 32 of at most 64 characters).
    tags: Option<Vec<String>>,
    /// The channels that receive matches: 1 to 50 channel ids, or `console`.
    channels: Vec<String>,
    /// Whether it routes anything (default true).
    enabled: Option<bool>,
}

/// A stored routing rule.
#[derive(ToSchema)]
pub struct Rule {
    /// `rl_` and 15 base32 characters.
    id: String,
    /// The display name.
    name: String,
    /// The event types matched; empty matches all.
    event_types: Vec<String>,
    /// The lowest severity matched.
    min_severity: Option<Severity>,
    /// The only tenant matched.
    tenant_id: Option<String>,
    /// Tags that must all be on a notification.
    tags: Vec<String>,
    /// The channels that receive matches.
    channels: Vec<String>,
    /// Whether it routes anything.
    enabled: bool,
}

/// `POST /v1/admin/user-tokens` body.
#[derive(ToSchema)]
pub struct UserTokenRequest {
    /// The tenant.
    tenant_id: String,
    /// The user (1 to 128 characters).
    user_id: String,
    /// How long the token lives: 60 to 86400 seconds (default 3600).
    ttl_seconds: Option<u64>,
}

/// A minted user token.
#[derive(ToSchema)]
pub struct UserToken {
    /// The bearer token the page sends to `/api/v1/push/*`, `/api/v1/inapp/*`, `/api/v1/oncall`.
    token: String,
    /// Its tenant.
    tenant_id: String,
    /// Its user.
    user_id: String,
    /// When it stops working.
    #[schema(format = DateTime)]
    expires_at: String,
}
