//! Notification channels managed at run time: `/v1/settings/notifications`.
//!
//! Operators add, change, remove and test channels without a restart. Each saved channel is
//! validated by building its notifier, so a channel that is stored can deliver; the validation
//! messages are the adapters' own (`Slack channels require either bot_token + channel_id or
//! webhook_url`, `A webhook_url is required for Teams channels`, …). Responses never echo a
//! channel's secrets: they list which configuration keys are set.
//!
//! A channel whose destination is a private, loopback, link-local (cloud metadata) or otherwise
//! non-public address is refused with 422 naming the rule (never the URL's path), unless the
//! operator allowed it in `AISOC_OUTBOUND_ALLOW`; delivery checks again when it connects.
//!
//! `POST /v1/notifications` routes through the console channel plus every enabled channel here.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use aisoc_notify_core::Notifier;
use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::destination::ForbiddenDestination;
use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_core::notifier::{DeliveryOutcome, NotifyError};
use aisoc_notify_core::routing::{Channel, EventFilter, NotificationRouter, RoutingError};
use aisoc_notify_outbox::RouterSource;
use aisoc_notify_slack::config::SlackChannelConfig;
use aisoc_notify_slack::mattermost::MattermostWebhookNotifier;
use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
use aisoc_notify_webhook::WebhookNotifier;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{ApiJson, error, require_admin};

/// The channel types this gateway can build.
pub const CHANNEL_TYPES: [&str; 4] = ["slack", "teams", "mattermost", "webhook"];

/// A channel as an operator submits it.
#[derive(Debug, Deserialize)]
pub struct ChannelRequest {
    /// `slack`, `teams`, `mattermost` or `webhook`.
    pub channel_type: String,
    /// A display name.
    pub name: String,
    /// The type's configuration (URLs, tokens, secrets).
    #[serde(default)]
    pub config: serde_json::Map<String, Value>,
    /// The event types it receives; empty means all.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    /// Whether it receives notifications.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A saved channel as the API shows it: no secret values.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    /// Its id.
    pub id: String,
    /// Its type.
    pub channel_type: String,
    /// Its name.
    pub name: String,
    /// The configuration keys that are set (values are never shown).
    pub configured: Vec<String>,
    /// The event types it receives; empty means all.
    pub event_types: Vec<EventType>,
    /// Whether it receives notifications.
    pub enabled: bool,
}

struct Saved {
    view: ChannelView,
    notifier: Arc<dyn Notifier>,
}

/// The channels, in memory, plus the console channel that is always there.
pub struct ChannelRegistry {
    console: Channel,
    saved: RwLock<BTreeMap<String, Saved>>,
    delivery: DeliveryClient,
}

impl std::fmt::Debug for ChannelRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRegistry").finish_non_exhaustive()
    }
}

/// Why a channel was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The submission is invalid; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The destination is an address outbound requests may not reach.
    #[error("{0}; list it in AISOC_OUTBOUND_ALLOW to allow it")]
    Forbidden(ForbiddenDestination),
    /// No channel has this id.
    #[error("notification channel not found")]
    NotFound,
}

fn config_message(error: NotifyError) -> String {
    match error {
        NotifyError::Config(config) => config.to_string(),
        other => other.to_string(),
    }
}

fn string_field(config: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    config
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl ChannelRegistry {
    /// A registry whose routing always includes `console`; channels deliver through `delivery`
    /// (whose outbound guard also judges each channel's destination when it is saved).
    pub fn new(console: Channel, delivery: DeliveryClient) -> Self {
        Self {
            console,
            saved: RwLock::new(BTreeMap::new()),
            delivery,
        }
    }

    /// Refuses a destination URL the outbound guard forbids (resolving a host name).
    async fn check_destination(&self, request: &ChannelRequest) -> Result<(), ChannelError> {
        let Some(url) = ["webhook_url", "url"]
            .iter()
            .find_map(|key| string_field(&request.config, key))
            .and_then(|raw| url::Url::parse(&raw).ok())
        else {
            return Ok(());
        };
        let config = self.delivery.config();
        config
            .destinations
            .check_url_resolved(&url, config.lookup.as_ref())
            .await
            .map_err(ChannelError::Forbidden)
    }

    /// Builds the notifier a request describes, or says what is wrong with it.
    fn build(&self, request: &ChannelRequest) -> Result<Arc<dyn Notifier>, ChannelError> {
        if request.name.trim().is_empty() {
            return Err(ChannelError::Invalid("name must not be empty".into()));
        }
        let config = &request.config;
        let invalid = ChannelError::Invalid;
        match request.channel_type.as_str() {
            "slack" => {
                let slack: SlackChannelConfig =
                    serde_json::from_value(Value::Object(config.clone()))
                        .map_err(|e| invalid(format!("invalid Slack configuration: {e}")))?;
                slack
                    .into_notifier(self.delivery.clone())
                    .map_err(|e| invalid(e.to_string()))
            }
            "teams" => {
                let mut builder = TeamsWebhookNotifier::builder()
                    .webhook_url(string_field(config, "webhook_url").unwrap_or_default())
                    .delivery(self.delivery.clone());
                match string_field(config, "format").as_deref() {
                    None => {}
                    Some("workflows") => builder = builder.format(WebhookFormat::Workflows),
                    Some("connector") => builder = builder.format(WebhookFormat::Connector),
                    Some(_) => {
                        return Err(invalid("format must be 'workflows' or 'connector'".into()));
                    }
                }
                Ok(Arc::new(
                    builder.build().map_err(|e| invalid(e.to_string()))?,
                ))
            }
            "mattermost" => {
                let url = string_field(config, "webhook_url").ok_or_else(|| {
                    invalid("A webhook_url is required for Mattermost channels".into())
                })?;
                let mut notifier = MattermostWebhookNotifier::new(&url)
                    .map_err(|e| invalid(e.to_string()))?
                    .with_delivery(self.delivery.clone());
                if let Some(channel) = string_field(config, "channel") {
                    notifier = notifier.with_channel(channel);
                }
                Ok(Arc::new(notifier))
            }
            "webhook" => {
                let url = string_field(config, "url")
                    .ok_or_else(|| invalid("A url is required for webhook channels".into()))?;
                let mut builder = WebhookNotifier::builder()
                    .url(url)
                    .delivery(self.delivery.clone());
                if let Some(secret) = string_field(config, "secret") {
                    builder = builder.secret(secret);
                }
                if let Some(secret) = string_field(config, "standard_webhooks_secret") {
                    builder = builder.standard_webhooks_secret(secret);
                }
                Ok(Arc::new(
                    builder.build().map_err(|e| invalid(config_message(e)))?,
                ))
            }
            _ => Err(invalid(format!(
                "channel_type must be one of {}",
                CHANNEL_TYPES
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn view(id: String, request: &ChannelRequest) -> ChannelView {
        ChannelView {
            id,
            channel_type: request.channel_type.clone(),
            name: request.name.trim().to_owned(),
            configured: request
                .config
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.clone())
                .collect(),
            event_types: request.event_types.clone(),
            enabled: request.enabled,
        }
    }

    /// Validates and saves a new channel.
    pub async fn create(&self, request: &ChannelRequest) -> Result<ChannelView, ChannelError> {
        self.check_destination(request).await?;
        let notifier = self.build(request)?;
        let mut bytes = [0u8; 9];
        rand::fill(&mut bytes);
        let id = format!(
            "ch_{}",
            data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase()
        );
        let view = Self::view(id.clone(), request);
        self.saved.write().expect("channel lock").insert(
            id,
            Saved {
                view: view.clone(),
                notifier,
            },
        );
        Ok(view)
    }

    /// Validates and replaces channel `id`.
    pub async fn update(
        &self,
        id: &str,
        request: &ChannelRequest,
    ) -> Result<ChannelView, ChannelError> {
        if !self.saved.read().expect("channel lock").contains_key(id) {
            return Err(ChannelError::NotFound);
        }
        self.check_destination(request).await?;
        let notifier = self.build(request)?;
        let view = Self::view(id.to_owned(), request);
        let mut saved = self.saved.write().expect("channel lock");
        match saved.get_mut(id) {
            Some(entry) => {
                *entry = Saved {
                    view: view.clone(),
                    notifier,
                };
                Ok(view)
            }
            None => Err(ChannelError::NotFound),
        }
    }

    /// Removes channel `id`.
    pub fn delete(&self, id: &str) -> Result<(), ChannelError> {
        self.saved
            .write()
            .expect("channel lock")
            .remove(id)
            .map(|_| ())
            .ok_or(ChannelError::NotFound)
    }

    /// Every saved channel.
    pub fn list(&self) -> Vec<ChannelView> {
        self.saved
            .read()
            .expect("channel lock")
            .values()
            .map(|s| s.view.clone())
            .collect()
    }

    /// The router over the console channel and every saved channel.
    pub fn router(&self) -> Result<NotificationRouter, RoutingError> {
        let saved = self.saved.read().expect("channel lock");
        let mut builder = NotificationRouter::builder().channel(self.console.clone());
        for entry in saved.values() {
            let events = if entry.view.event_types.is_empty() {
                EventFilter::all()
            } else {
                EventFilter::only(entry.view.event_types.iter().cloned())
            };
            builder = builder.channel(
                Channel::new(entry.view.id.clone(), entry.notifier.clone())
                    .with_name(entry.view.name.clone())
                    .with_events(events)
                    .with_enabled(entry.view.enabled),
            );
        }
        builder.build()
    }

    /// Sends a test message through channel `id`.
    pub async fn test(&self, id: &str, tenant_id: &str) -> Result<DeliveryOutcome, ChannelError> {
        let (notifier, name) = {
            let saved = self.saved.read().expect("channel lock");
            let entry = saved.get(id).ok_or(ChannelError::NotFound)?;
            (entry.notifier.clone(), entry.view.name.clone())
        };
        let notification = Notification::new(
            tenant_id,
            EventType::from("channel_test"),
            Severity::Info,
            format!("Test message for {name}"),
        )
        .with_body("If you can read this, the channel is configured correctly.");
        Ok(DeliveryOutcome::from(&notifier.notify(&notification).await))
    }
}

/// The registry as the outbox's [`RouterSource`]: each queued notification is delivered
/// through the channels as they are at that moment.
pub struct CurrentChannels(pub Arc<ChannelRegistry>);

impl RouterSource for CurrentChannels {
    fn current(&self) -> Arc<NotificationRouter> {
        match self.0.router() {
            Ok(router) => Arc::new(router),
            Err(failure) => {
                // Ids are unique by construction, so this is a bug; keep the console working.
                tracing::error!(%failure, "channel routing could not be built; console only");
                let console = NotificationRouter::builder()
                    .channel(self.0.console.clone())
                    .build()
                    .expect("a single channel always builds");
                Arc::new(console)
            }
        }
    }
}

#[derive(Clone)]
struct SettingsState {
    admin_token: Arc<aisoc_notify_core::secret::SecretString>,
    channels: Arc<ChannelRegistry>,
}

/// The settings routes (admin).
pub fn router(
    channels: Arc<ChannelRegistry>,
    admin_token: Arc<aisoc_notify_core::secret::SecretString>,
) -> Router {
    let state = SettingsState {
        admin_token,
        channels,
    };
    Router::new()
        .route(
            "/v1/settings/notifications",
            get(list_channels).post(create_channel),
        )
        .route(
            "/v1/settings/notifications/{id}",
            axum::routing::put(update_channel).delete(delete_channel),
        )
        .route("/v1/settings/notifications/{id}/test", post(test_channel))
        .route_layer(middleware::from_fn_with_state(
            state.admin_token.clone(),
            require_admin,
        ))
        .with_state(state)
}

fn channel_error(failure: ChannelError) -> Response {
    match failure {
        ChannelError::Invalid(message) => error(StatusCode::UNPROCESSABLE_ENTITY, message),
        ChannelError::Forbidden(_) => error(StatusCode::UNPROCESSABLE_ENTITY, failure.to_string()),
        ChannelError::NotFound => error(StatusCode::NOT_FOUND, failure.to_string()),
    }
}

async fn list_channels(State(state): State<SettingsState>) -> Json<Vec<ChannelView>> {
    Json(state.channels.list())
}

async fn create_channel(
    State(state): State<SettingsState>,
    ApiJson(request): ApiJson<ChannelRequest>,
) -> Response {
    match state.channels.create(&request).await {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(failure) => channel_error(failure),
    }
}

async fn update_channel(
    State(state): State<SettingsState>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ChannelRequest>,
) -> Response {
    match state.channels.update(&id, &request).await {
        Ok(view) => Json(view).into_response(),
        Err(failure) => channel_error(failure),
    }
}

async fn delete_channel(State(state): State<SettingsState>, Path(id): Path<String>) -> Response {
    match state.channels.delete(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => channel_error(failure),
    }
}

#[derive(Deserialize)]
struct TestRequest {
    #[serde(default = "default_tenant")]
    tenant_id: String,
}

fn default_tenant() -> String {
    "gateway".into()
}

async fn test_channel(
    State(state): State<SettingsState>,
    Path(id): Path<String>,
    body: Option<Json<TestRequest>>,
) -> Response {
    let tenant_id = body.map_or_else(default_tenant, |Json(b)| b.tenant_id);
    match state.channels.test(&id, &tenant_id).await {
        Ok(DeliveryOutcome::Delivered(delivered)) => Json(json!({
            "delivered": true,
            "attempts": delivered.attempts,
        }))
        .into_response(),
        Ok(DeliveryOutcome::Failed { reason, class }) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({
                "delivered": false,
                "retryable": class.is_retryable(),
                "retry_class": class.label(),
                "retry_after_seconds": class.retry_after().map(|wait| wait.as_secs()),
                "error": reason,
            })),
        )
            .into_response(),
        Ok(other) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"delivered": false, "outcome": other.label()})),
        )
            .into_response(),
        Err(failure) => channel_error(failure),
    }
}
