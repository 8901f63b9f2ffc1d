//! Routing rules managed at run time: `/v1/settings/rules` (admin).
//!
//! A rule sends the notifications that meet all of its conditions to one or more channels:
//!
//! | field | matches |
//! |---|---|
//! | `event_types` | these event types (empty: every type) |
//! | `min_severity` | this severity and above (`info`, `low`, `medium`, `high`, `critical`) |
//! | `tenant_id` | this tenant only (absent: every tenant) |
//! | `tags` | notifications carrying every one of these tags |
//! | `channels` | receive what matches: channel ids from `/v1/settings/notifications`, or `console` |
//!
//! Routing follows [`aisoc_notify_core::routing`]: **with no rule stored, every enabled channel
//! receives the event types it accepts; once any rule is stored, a channel receives only what
//! a rule sends it** — the console included, which a rule can name as `console`. A channel's
//! own `event_types` and switch still apply on top. One notification may match several rules;
//! each channel receives it at most once, every channel is delivered to on its own (one
//! failing never blocks the others) and `POST /v1/notifications` reports each outcome. A
//! disabled rule sends nothing, and while every stored rule is disabled nothing is sent at all
//! (rather than everything to everyone): switching a rule off never widens delivery.
//!
//! Rules live in the same [`ChannelStore`](crate::channel_store::ChannelStore) as the channels,
//! under the same revision, so every replica reloads channels and rules together. The store
//! refuses a rule naming a channel it does not hold and refuses to delete a channel a rule
//! names (409 naming the rules), so nothing silently stops receiving. Tag conditions are code
//! ([`Rule::when`]), because core's serialisable rule has no tags.

use std::sync::Arc;

use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_core::routing::{EventFilter, Rule};
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_core::tenant::validate_tenant_id;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};

use crate::auth::{ApiJson, error, require_admin};
use crate::channel_store::ChannelStoreError;
use crate::channels::ChannelRegistry;

/// The id of the console channel the gateway always has; rules may name it, and the channel
/// stores treat it as always present.
pub const CONSOLE_CHANNEL_ID: &str = "console";
/// The most channels one rule may name.
pub const MAX_RULE_CHANNELS: usize = 50;
/// The most event types one rule may list.
pub const MAX_RULE_EVENT_TYPES: usize = 64;
/// The longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 200;
/// The most rules one gateway keeps.
pub const MAX_RULES: usize = 500;
/// The most tags on one notification or rule.
pub const MAX_TAGS: usize = 32;
/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// A routing rule as it is stored and as the API shows it (rules hold no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRule {
    /// The id the gateway assigned (`rl_` and 15 base32 characters); never changes.
    pub id: String,
    /// The display name, used in logs and in the 409 that protects its channels.
    pub name: String,
    /// The event types matched; empty means all.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    /// The lowest severity matched; `None` matches all.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// The only tenant matched; `None` matches all.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Tags that must all be on a notification for it to match.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The channels that receive matches (at least one): stored channel ids or `console`.
    pub channels: Vec<String>,
    /// Whether it routes anything.
    pub enabled: bool,
}

impl StoredRule {
    /// How errors name the rule: `'<name>' (<id>)`.
    pub(crate) fn label(&self) -> String {
        rule_label(&self.id, &self.name)
    }

    /// The core routing rule with these conditions, sending to `channels`.
    fn routing_rule(&self, channels: Vec<String>) -> Rule {
        let mut rule = Rule::new(self.name.clone(), channels);
        if !self.event_types.is_empty() {
            rule.event_types = EventFilter::only(self.event_types.iter().cloned());
        }
        rule.min_severity = self.min_severity;
        rule.tenant_id = self.tenant_id.clone();
        if !self.tags.is_empty() {
            let tags = self.tags.clone();
            rule = rule.when(move |notification: &Notification| {
                tags.iter().all(|tag| notification.tags.contains(tag))
            });
        }
        rule
    }
}

/// How errors name rule `id` called `name`.
pub(crate) fn rule_label(id: &str, name: &str) -> String {
    format!("'{name}' ({id})")
}

/// The core rules for the enabled rules in `stored`, each sending only to its channels that
/// `exists` (a stored channel that no longer builds is left out of routing, so a rule naming
/// it must not make the whole router fail). When rules are stored but none can send, one rule
/// that never matches keeps routing rule-based, so nothing is sent rather than everything.
pub(crate) fn routing_rules(
    stored: &[StoredRule],
    console_id: &str,
    exists: impl Fn(&str) -> bool,
) -> Vec<Rule> {
    let mut rules: Vec<Rule> = stored
        .iter()
        .filter(|rule| rule.enabled)
        .filter_map(|rule| {
            let channels: Vec<String> = rule
                .channels
                .iter()
                .filter(|id| exists(id))
                .cloned()
                .collect();
            (!channels.is_empty()).then(|| rule.routing_rule(channels))
        })
        .collect();
    if rules.is_empty() && !stored.is_empty() {
        rules.push(Rule::new("no enabled rule", [console_id]).when(|_| false));
    }
    rules
}

/// Checks the tags of a notification or a rule, `field` naming them in the message: at most
/// [`MAX_TAGS`], each non-empty, at most [`MAX_TAG_CHARS`] characters, without surrounding
/// whitespace or control characters.
///
/// ```
/// use aisoc_gateway::rules::check_tags;
///
/// assert!(check_tags("tags", &["pci".into(), "team:blue".into()]).is_ok());
/// assert_eq!(check_tags("tags", &["pci".into(), " ".into()]).unwrap_err(), "tags[1]: must not be empty");
/// ```
pub fn check_tags(field: &str, tags: &[String]) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!(
            "{field}: at most {MAX_TAGS} tags (got {})",
            tags.len()
        ));
    }
    for (index, tag) in tags.iter().enumerate() {
        if tag.trim().is_empty() {
            return Err(format!("{field}[{index}]: must not be empty"));
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(format!(
                "{field}[{index}]: must be at most {MAX_TAG_CHARS} characters"
            ));
        }
        if tag.trim() != tag {
            return Err(format!(
                "{field}[{index}]: must not start or end with whitespace"
            ));
        }
        if tag.chars().any(char::is_control) {
            return Err(format!(
                "{field}[{index}]: must not contain control characters"
            ));
        }
    }
    Ok(())
}

/// A rule as an operator submits it (`POST` and `PUT` take the whole rule).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    /// A display name.
    pub name: String,
    /// The event types matched; empty means all.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    /// The lowest severity matched, by name.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// The only tenant matched.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Tags that must all be on a notification.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The channels that receive matches.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Whether it routes anything (default: yes).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl RuleRequest {
    /// The rule to store under `id`, or the first thing wrong with the request, naming its
    /// field. Channel existence is checked by the registry.
    fn checked(&self, id: String) -> Result<StoredRule, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("name must not be empty".into());
        }
        if name.chars().count() > MAX_RULE_NAME_CHARS {
            return Err(format!(
                "name must be at most {MAX_RULE_NAME_CHARS} characters"
            ));
        }
        if self.event_types.len() > MAX_RULE_EVENT_TYPES {
            return Err(format!(
                "event_types: at most {MAX_RULE_EVENT_TYPES} event types"
            ));
        }
        let min_severity = self
            .min_severity
            .as_deref()
            .map(str::parse::<Severity>)
            .transpose()
            .map_err(|e| format!("min_severity: {e}"))?;
        if let Some(tenant) = &self.tenant_id {
            validate_tenant_id(tenant).map_err(|e| format!("tenant_id: {e}"))?;
        }
        check_tags("tags", &self.tags)?;
        if self.channels.is_empty() {
            return Err("channels: name at least one channel (a channel id from \
                 /v1/settings/notifications, or 'console')"
                .into());
        }
        if self.channels.len() > MAX_RULE_CHANNELS {
            return Err(format!(
                "channels: at most {MAX_RULE_CHANNELS} channels (got {})",
                self.channels.len()
            ));
        }
        for (index, channel) in self.channels.iter().enumerate() {
            if channel.trim().is_empty() {
                return Err(format!("channels[{index}]: must not be empty"));
            }
            if self.channels[..index].contains(channel) {
                return Err(format!("channels[{index}]: '{channel}' is listed twice"));
            }
        }
        Ok(StoredRule {
            id,
            name: name.to_owned(),
            event_types: self.event_types.clone(),
            min_severity,
            tenant_id: self.tenant_id.clone(),
            tags: self.tags.clone(),
            channels: self.channels.clone(),
            enabled: self.enabled,
        })
    }
}

/// Why a rule change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The submission is invalid; the message names the field and what to fix.
    #[error("{0}")]
    Invalid(String),
    /// No rule has this id.
    #[error("routing rule not found")]
    NotFound,
    /// The store refused or failed; nothing changed.
    #[error(transparent)]
    Store(ChannelStoreError),
}

impl RuleError {
    /// The store's answer for `rule`: a channel it does not hold is the submitter's mistake.
    fn from_store(failure: ChannelStoreError, rule: &StoredRule) -> Self {
        match failure {
            ChannelStoreError::NoSuchChannel { channel } => {
                let index = rule.channels.iter().position(|c| *c == channel);
                RuleError::Invalid(format!(
                    "channels[{}]: no notification channel '{channel}'",
                    index.unwrap_or_default()
                ))
            }
            other => RuleError::Store(other),
        }
    }
}

impl ChannelRegistry {
    /// Validates a new rule, stores it, and then routes by it.
    pub async fn create_rule(&self, request: &RuleRequest) -> Result<StoredRule, RuleError> {
        if self.rules().len() >= MAX_RULES {
            return Err(RuleError::Invalid(format!(
                "at most {MAX_RULES} rules; delete one first"
            )));
        }
        let rule = self
            .checked_rule(crate::channels::new_id("rl"), request)
            .await?;
        self.store()
            .insert_rule(&rule)
            .await
            .map_err(|e| RuleError::from_store(e, &rule))?;
        self.reload_after_rule_change().await;
        Ok(rule)
    }

    /// Validates and replaces rule `id`, in the store and then here.
    pub async fn update_rule(
        &self,
        id: &str,
        request: &RuleRequest,
    ) -> Result<StoredRule, RuleError> {
        if !self.knows_rule(id).await {
            return Err(RuleError::NotFound);
        }
        let rule = self.checked_rule(id.to_owned(), request).await?;
        let updated = self
            .store()
            .update_rule(&rule)
            .await
            .map_err(|e| RuleError::from_store(e, &rule))?;
        self.reload_after_rule_change().await;
        if updated {
            Ok(rule)
        } else {
            // Removed on another replica meanwhile.
            Err(RuleError::NotFound)
        }
    }

    /// Removes rule `id` from the store and then from here.
    pub async fn delete_rule(&self, id: &str) -> Result<(), RuleError> {
        let deleted = self
            .store()
            .delete_rule(id)
            .await
            .map_err(RuleError::Store)?;
        self.reload_after_rule_change().await;
        if deleted {
            Ok(())
        } else {
            Err(RuleError::NotFound)
        }
    }

    /// The request as a rule under `id`, every channel it names known here (re-reading the
    /// store once for one created a moment ago on another replica).
    async fn checked_rule(
        &self,
        id: String,
        request: &RuleRequest,
    ) -> Result<StoredRule, RuleError> {
        let rule = request.checked(id).map_err(RuleError::Invalid)?;
        for (index, channel) in rule.channels.iter().enumerate() {
            if channel != CONSOLE_CHANNEL_ID && !self.knows(channel).await {
                return Err(RuleError::Invalid(format!(
                    "channels[{index}]: no notification channel '{channel}'"
                )));
            }
        }
        Ok(rule)
    }

    /// Whether rule `id` exists, re-reading the store once when it is not loaded here.
    async fn knows_rule(&self, id: &str) -> bool {
        let loaded = |registry: &Self| registry.rules().iter().any(|r| r.id == id);
        if loaded(self) {
            return true;
        }
        if let Err(failure) = self.refresh().await {
            tracing::warn!(%failure, "routing rules not re-read");
        }
        loaded(self)
    }

    /// Applies a stored rule change here by re-reading the store (rules are small, and their
    /// channels' notifiers are reused). The change is stored either way; if this read fails,
    /// the next refresh applies it.
    async fn reload_after_rule_change(&self) {
        if let Err(failure) = self.refresh().await {
            tracing::warn!(%failure, "routing rules changed but not re-read yet");
        }
    }
}

#[derive(Clone)]
struct RulesState {
    channels: Arc<ChannelRegistry>,
}

/// The rule routes (admin): `GET/POST /v1/settings/rules`, `PUT/DELETE /v1/settings/rules/{id}`.
pub fn router(channels: Arc<ChannelRegistry>, admin_token: Arc<SecretString>) -> Router {
    Router::new()
        .route("/v1/settings/rules", get(list_rules).post(create_rule))
        .route(
            "/v1/settings/rules/{id}",
            put(update_rule).delete(delete_rule),
        )
        .route_layer(middleware::from_fn_with_state(admin_token, require_admin))
        .with_state(RulesState { channels })
}

fn rule_error(failure: RuleError) -> Response {
    match failure {
        RuleError::Invalid(message) => error(StatusCode::UNPROCESSABLE_ENTITY, message),
        RuleError::NotFound => error(StatusCode::NOT_FOUND, failure.to_string()),
        RuleError::Store(failure) => {
            tracing::warn!(%failure, "routing rule change not stored");
            error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string())
        }
    }
}

#[utoipa::path(
    get, path = "/v1/settings/rules", tag = "rules",
    summary = "Every routing rule",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The rules", body = Vec<crate::openapi::Rule>),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
    ),
)]
async fn list_rules(State(state): State<RulesState>) -> Json<Vec<StoredRule>> {
    if let Err(failure) = state.channels.refresh().await {
        tracing::warn!(%failure, "routing rules not re-read; listing those loaded");
    }
    Json(state.channels.rules())
}

#[utoipa::path(
    post, path = "/v1/settings/rules", tag = "rules",
    summary = "Add a routing rule: once any rule exists, channels receive only what a rule sends them",
    security(("admin_bearer" = [])),
    request_body = crate::openapi::RuleBody,
    responses(
        (status = 201, description = "Stored and routing", body = crate::openapi::Rule),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "A field to fix, named in the error (e.g. `channels[1]: no notification channel 'ch_x'`)", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable; nothing changed", body = crate::openapi::ApiError),
    ),
)]
async fn create_rule(
    State(state): State<RulesState>,
    ApiJson(request): ApiJson<RuleRequest>,
) -> Response {
    match state.channels.create_rule(&request).await {
        Ok(rule) => (StatusCode::CREATED, Json(rule)).into_response(),
        Err(failure) => rule_error(failure),
    }
}

#[utoipa::path(
    put, path = "/v1/settings/rules/{id}", tag = "rules",
    summary = "Replace a routing rule",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The rule id")),
    request_body = crate::openapi::RuleBody,
    responses(
        (status = 200, description = "Replaced", body = crate::openapi::Rule),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such rule", body = crate::openapi::ApiError),
        (status = 422, description = "A field to fix, named in the error", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable; nothing changed", body = crate::openapi::ApiError),
    ),
)]
async fn update_rule(
    State(state): State<RulesState>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RuleRequest>,
) -> Response {
    match state.channels.update_rule(&id, &request).await {
        Ok(rule) => Json(rule).into_response(),
        Err(failure) => rule_error(failure),
    }
}

#[utoipa::path(
    delete, path = "/v1/settings/rules/{id}", tag = "rules",
    summary = "Remove a routing rule",
    security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "The rule id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 404, description = "No such rule", body = crate::openapi::ApiError),
        (status = 503, description = "The store is unavailable; nothing changed", body = crate::openapi::ApiError),
    ),
)]
async fn delete_rule(State(state): State<RulesState>, Path(id): Path<String>) -> Response {
    match state.channels.delete_rule(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => rule_error(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(enabled: bool, channels: &[&str]) -> StoredRule {
        StoredRule {
            id: "rl_a".into(),
            name: "a".into(),
            event_types: vec![EventType::P0Alert],
            min_severity: Some(Severity::High),
            tenant_id: Some("acme".into()),
            tags: vec!["pci".into(), "prod".into()],
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            enabled,
        }
    }

    fn alert(tenant: &str, severity: Severity, tags: &[&str]) -> Notification {
        Notification::new(tenant, EventType::P0Alert, severity, "x").with_tags(tags.iter().copied())
    }

    #[test]
    fn each_condition_of_a_stored_rule_must_hold() {
        let rules = routing_rules(&[stored(true, &["ch_a"])], "console", |_| true);
        let [rule] = rules.as_slice() else {
            panic!("{rules:?}")
        };
        assert!(rule.matches(&alert("acme", Severity::High, &["prod", "pci", "x"])));
        assert!(
            !rule.matches(&alert("acme", Severity::High, &["pci"])),
            "a tag missing"
        );
        assert!(!rule.matches(&alert("other", Severity::High, &["pci", "prod"])));
        assert!(!rule.matches(&alert("acme", Severity::Medium, &["pci", "prod"])));
        let drift = Notification::new("acme", EventType::DriftAlert, Severity::Critical, "x")
            .with_tags(["pci", "prod"]);
        assert!(!rule.matches(&drift));
    }

    #[test]
    fn channels_that_are_not_loaded_are_left_out_and_disabled_rules_send_nothing() {
        let rules = routing_rules(&[stored(true, &["ch_gone", "ch_a"])], "console", |id| {
            id == "ch_a"
        });
        assert_eq!(rules[0].channels, ["ch_a"]);

        let rules = routing_rules(&[stored(false, &["ch_a"])], "console", |_| true);
        let [guard] = rules.as_slice() else {
            panic!("{rules:?}")
        };
        assert!(!guard.matches(&alert("acme", Severity::Critical, &["pci", "prod"])));
        assert!(routing_rules(&[], "console", |_| true).is_empty());
    }

    #[test]
    fn a_request_is_refused_naming_the_field() {
        let request = |body: serde_json::Value| -> Result<StoredRule, String> {
            serde_json::from_value::<RuleRequest>(body)
                .unwrap()
                .checked("rl_x".into())
        };
        let base = serde_json::json!({"name": "P0", "channels": ["ch_a"]});
        assert!(request(base.clone()).is_ok());
        let with = |key: &str, value: serde_json::Value| {
            let mut body = base.clone();
            body[key] = value;
            request(body).unwrap_err()
        };
        assert_eq!(with("name", " ".into()), "name must not be empty");
        assert!(with("min_severity", "urgent".into()).starts_with("min_severity: "));
        assert!(with("channels", serde_json::json!([])).starts_with("channels: "));
        assert!(
            with("channels", serde_json::json!(vec!["ch"; 51])).starts_with("channels: at most 50")
        );
        assert_eq!(
            with("channels", serde_json::json!(["ch_a", "ch_a"])),
            "channels[1]: 'ch_a' is listed twice"
        );
        assert!(with("tenant_id", "".into()).starts_with("tenant_id: "));
        assert!(with("tags", serde_json::json!(["x".repeat(65)])).starts_with("tags[0]: "));
        assert!(
            serde_json::from_value::<RuleRequest>(serde_json::json!({
                "name": "P0", "channels": ["ch_a"], "predicate": "x"
            }))
            .is_err(),
            "unknown fields are refused"
        );
    }
}
