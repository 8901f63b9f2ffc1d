//! Playbook actions: the [`ActionExecutor`] trait and the [`ExecutorRegistry`].
//!
//! A playbook step names an action (`notify_slack`, `create_ticket`, `chatops.verify`, …) and
//! its parameters. The registry finds the executor by action type, or, for integrations that
//! plugins provide, by `(vendor_id, capability)` such as `("jira", "create_ticket")`. An action
//! nobody registered is a [`ActionStatus::Failed`] result naming what was missing: a playbook
//! must never believe a ticket was opened when nothing ran.
//!
//! Executors fail in a typed way: [`ActionExecutor::execute`] returns
//! `Result<ActionOutput, ActionError>`, and [`ActionError::retry_class`] tells a Jira 429
//! (throttled) from a bad project key (not retryable). Only the [`ExecutorRegistry`] turns that
//! into the [`ActionResult`] a playbook engine stores and branches on.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::delivery::DeliveryError;
use crate::notifier::NotifyError;
use crate::retry::RetryClass;
use crate::template::{TemplateEngine, TemplateError};

/// One action to run, as a playbook step describes it.
///
/// Its `Debug` output names the parameter and context keys but never their values: a step's
/// parameters carry webhook secrets, API keys, routing keys, passwords and URLs with tokens in
/// them, and a request printed by `{:?}` in a log line or an error must not leak them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// The action type (`notify_slack`, `create_ticket`, …).
    pub action_type: String,
    /// The tenant the playbook runs for.
    pub tenant_id: String,
    /// The case the playbook works on, when there is one.
    #[serde(default)]
    pub case_id: Option<String>,
    /// The playbook run, so a `Running` action can be resumed later.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The step's parameters; string values may be templates.
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// The playbook context templates render against (`{{ context.host }}`).
    #[serde(default)]
    pub context: Value,
}

impl std::fmt::Debug for ActionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// Prints an object's keys only (`["secret", "url"]`), or the JSON type of a non-object.
        struct KeysOnly<'a>(&'a Value);
        impl std::fmt::Debug for KeysOnly<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.0 {
                    Value::Object(map) => f.debug_list().entries(map.keys()).finish(),
                    Value::Null => f.write_str("null"),
                    Value::Array(items) => write!(f, "<array of {}>", items.len()),
                    Value::String(_) => f.write_str("<string>"),
                    Value::Number(_) => f.write_str("<number>"),
                    Value::Bool(_) => f.write_str("<bool>"),
                }
            }
        }
        struct ParameterKeys<'a>(&'a Map<String, Value>);
        impl std::fmt::Debug for ParameterKeys<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.0.keys()).finish()
            }
        }
        f.debug_struct("ActionRequest")
            .field("action_type", &self.action_type)
            .field("tenant_id", &self.tenant_id)
            .field("case_id", &self.case_id)
            .field("run_id", &self.run_id)
            .field("parameter_keys", &ParameterKeys(&self.parameters))
            .field("context_keys", &KeysOnly(&self.context))
            .finish()
    }
}

impl ActionRequest {
    /// A request with no parameters and an empty context.
    pub fn new(action_type: impl Into<String>, tenant_id: impl Into<String>) -> Self {
        Self {
            action_type: action_type.into(),
            tenant_id: tenant_id.into(),
            case_id: None,
            run_id: None,
            parameters: Map::new(),
            context: Value::Object(Map::new()),
        }
    }

    /// Sets a parameter.
    pub fn with_parameter(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }

    /// Sets the playbook context.
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = context;
        self
    }

    /// Sets the playbook run, so a `Running` action can be resumed.
    pub fn with_run(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// Sets the case.
    pub fn with_case(mut self, case_id: impl Into<String>) -> Self {
        self.case_id = Some(case_id.into());
        self
    }

    /// A string parameter, as given (not rendered).
    pub fn parameter_str(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).and_then(Value::as_str)
    }

    /// A string parameter rendered as a template against the playbook context; `Ok(None)` when
    /// the parameter is absent.
    pub fn render_parameter(&self, name: &str) -> Result<Option<String>, ActionParameterError> {
        self.render_parameter_with(TemplateEngine::shared(), name)
    }

    /// Like [`render_parameter`](Self::render_parameter) with a specific engine (for example
    /// one that escapes inserted values for the destination's markup).
    pub fn render_parameter_with(
        &self,
        engine: &TemplateEngine,
        name: &str,
    ) -> Result<Option<String>, ActionParameterError> {
        let Some(value) = self.parameters.get(name) else {
            return Ok(None);
        };
        let source = value
            .as_str()
            .ok_or_else(|| ActionParameterError::NotAString {
                name: name.to_owned(),
            })?;
        engine
            .render_with_context(source, &self.context)
            .map(Some)
            .map_err(|source| ActionParameterError::Template {
                name: name.to_owned(),
                source,
            })
    }

    /// Like [`render_parameter`](Self::render_parameter) but a missing or blank parameter is an
    /// error.
    pub fn require_parameter(&self, name: &str) -> Result<String, ActionParameterError> {
        self.require_parameter_with(TemplateEngine::shared(), name)
    }

    /// Like [`require_parameter`](Self::require_parameter) with a specific engine.
    pub fn require_parameter_with(
        &self,
        engine: &TemplateEngine,
        name: &str,
    ) -> Result<String, ActionParameterError> {
        match self.render_parameter_with(engine, name)? {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(ActionParameterError::Missing {
                name: name.to_owned(),
            }),
        }
    }
}

/// A parameter that is missing or does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionParameterError {
    /// The parameter is required.
    #[error("parameter '{name}' is required")]
    Missing {
        /// The parameter.
        name: String,
    },
    /// The parameter must be a string.
    #[error("parameter '{name}' must be a string")]
    NotAString {
        /// The parameter.
        name: String,
    },
    /// The parameter's template failed.
    #[error("parameter '{name}': {source}")]
    Template {
        /// The parameter.
        name: String,
        /// The template failure.
        source: TemplateError,
    },
    /// The parameter rendered to a value the action does not accept (a severity that is not
    /// one of the known levels).
    #[error("parameter '{name}' {reason}")]
    Invalid {
        /// The parameter.
        name: String,
        /// What is accepted, e.g. `must be critical, high, medium, low or info`.
        reason: String,
    },
}

/// Where an action ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Done; `output` holds the result.
    Succeeded,
    /// Did not happen; `error` says why. Playbooks can branch on it.
    Failed,
    /// Waiting on a human (an approval, a verification prompt); resumed later by a callback.
    Running,
}

/// The result of one action, as a playbook engine stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    /// Where the action ended up.
    pub status: ActionStatus,
    /// Output data for later steps (a ticket key, a message id…).
    #[serde(default)]
    pub output: Map<String, Value>,
    /// Why it failed, for `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure's retry class label (`non_retryable`, `retryable`, `throttled`, `gone`), for
    /// `Failed`; a playbook can branch on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// How long the target asked to wait, in seconds, when it was throttling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl ActionResult {
    /// A success with output data.
    pub fn succeeded(output: Map<String, Value>) -> Self {
        Self {
            status: ActionStatus::Succeeded,
            output,
            error: None,
            error_class: None,
            retry_after_seconds: None,
        }
    }

    /// A failure with its reason.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            status: ActionStatus::Failed,
            output: Map::new(),
            error: Some(error.into()),
            error_class: Some(RetryClass::NonRetryable.label().to_owned()),
            retry_after_seconds: None,
        }
    }

    /// An action now waiting on a human.
    pub fn running(output: Map<String, Value>) -> Self {
        Self {
            status: ActionStatus::Running,
            output,
            error: None,
            error_class: None,
            retry_after_seconds: None,
        }
    }

    /// Whether the action succeeded.
    pub fn is_succeeded(&self) -> bool {
        self.status == ActionStatus::Succeeded
    }
}

impl From<Result<ActionOutput, ActionError>> for ActionResult {
    fn from(result: Result<ActionOutput, ActionError>) -> Self {
        match result {
            Ok(output) if output.awaiting_human => ActionResult::running(output.data),
            Ok(output) => ActionResult::succeeded(output.data),
            Err(error) => {
                let class = error.retry_class();
                Self {
                    status: ActionStatus::Failed,
                    output: Map::new(),
                    error: Some(error.to_string()),
                    error_class: Some(class.label().to_owned()),
                    retry_after_seconds: class.retry_after().map(|wait| wait.as_secs()),
                }
            }
        }
    }
}

/// What an action produced: output data, and whether it now waits on a human.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ActionOutput {
    /// Output data for later steps (a ticket key, a message id…).
    pub data: Map<String, Value>,
    /// The action posted a prompt and waits for a human's answer (`Running`).
    pub awaiting_human: bool,
}

impl ActionOutput {
    /// Done, with output data.
    pub fn succeeded(data: Map<String, Value>) -> Self {
        Self {
            data,
            awaiting_human: false,
        }
    }

    /// Waiting on a human (an approval, a verification prompt); resumed later by a callback.
    pub fn running(data: Map<String, Value>) -> Self {
        Self {
            data,
            awaiting_human: true,
        }
    }

    /// Adds one output value.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }
}

/// Why an action did not happen.
///
/// Vendor errors carry the vendor's short code, never its whole answer, a URL path or a
/// credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// A parameter is missing or does not render.
    #[error(transparent)]
    Parameter(#[from] ActionParameterError),
    /// The action, system or capability is not available here (unknown action type, unknown
    /// ticketing system, a feature switched off).
    #[error("{0}")]
    Unsupported(String),
    /// The executor's configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The target refused the action; the same request will fail again.
    #[error("{service} rejected the action ({code}): {message}")]
    Rejected {
        /// The target (`jira`, `servicenow`, …).
        service: String,
        /// The target's short error code (an HTTP status, a vendor code).
        code: String,
        /// What to fix.
        message: String,
    },
    /// The target no longer exists (a removed webhook, a deleted project).
    #[error("{service} target is gone ({code})")]
    Gone {
        /// The target.
        service: String,
        /// The target's short error code.
        code: String,
    },
    /// The target is temporarily unable to act; trying again later can succeed.
    #[error("{service} is temporarily unavailable ({code}): {message}")]
    Unavailable {
        /// The target.
        service: String,
        /// The target's short error code.
        code: String,
        /// What happened.
        message: String,
    },
    /// The target is throttling us.
    #[error("{service} is rate limiting; retry after {retry_after:?}")]
    RateLimited {
        /// The target.
        service: String,
        /// How long it asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// A notification the action sends failed.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// A hook the host provides (a timeline, a playbook resumer, a credential lookup) failed.
    #[error("{hook} failed: {reason}")]
    Host {
        /// Which hook (`timeline`, `resume`, `credentials`).
        hook: &'static str,
        /// What it reported.
        reason: String,
        /// Whether trying again can succeed.
        retryable: bool,
    },
}

impl ActionError {
    /// Whether, and when, trying the action again can succeed.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ActionError::Unavailable { .. } => RetryClass::Retryable,
            ActionError::RateLimited { retry_after, .. } => RetryClass::throttled(*retry_after),
            ActionError::Gone { .. } => RetryClass::Gone,
            ActionError::Delivery(err) => err.retry_class(),
            ActionError::Notify(err) => err.retry_class(),
            ActionError::Host { retryable, .. } => {
                if *retryable {
                    RetryClass::Retryable
                } else {
                    RetryClass::NonRetryable
                }
            }
            ActionError::Parameter(_)
            | ActionError::Unsupported(_)
            | ActionError::Config(_)
            | ActionError::Rejected { .. } => RetryClass::NonRetryable,
        }
    }

    /// The typed error for a target's HTTP answer that is not a success: the status picks the
    /// class ([`RetryClass::for_status`]), `message` says what to fix.
    pub fn from_status(
        service: impl Into<String>,
        status: u16,
        retry_after: Option<Duration>,
        message: impl Into<String>,
    ) -> Self {
        let service = service.into();
        let code = status.to_string();
        match RetryClass::for_status(status, retry_after) {
            RetryClass::Throttled(wait) => ActionError::RateLimited {
                service,
                retry_after: Some(wait),
            },
            RetryClass::Retryable if status == 429 => ActionError::RateLimited {
                service,
                retry_after: None,
            },
            RetryClass::Retryable => ActionError::Unavailable {
                service,
                code,
                message: message.into(),
            },
            RetryClass::Gone => ActionError::Gone { service, code },
            _ => ActionError::Rejected {
                service,
                code,
                message: message.into(),
            },
        }
    }
}

/// Runs one kind of playbook action.
///
/// Executors return a typed [`ActionError`] for every problem, with a message a playbook author
/// can act on; they do not panic and do not return success for work that did not happen.
///
/// ```
/// use aisoc_notify_core::{async_trait, ActionError, ActionExecutor, ActionOutput, ActionRequest};
///
/// struct Echo;
///
/// #[async_trait]
/// impl ActionExecutor for Echo {
///     async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
///         let message = request.require_parameter("message")?;
///         Ok(ActionOutput::default().with("echo", message))
///     }
/// }
/// ```
#[async_trait]
pub trait ActionExecutor: Send + Sync {
    /// Runs the action.
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError>;
}

type LiveKey = (String, String);

/// Finds executors by action type, and live (plugin) executors by vendor and capability.
///
/// Registration works at any time through a shared reference, so plugins can register
/// themselves after start-up.
///
/// ```
/// use std::sync::Arc;
/// use aisoc_notify_core::{async_trait, ActionError, ActionExecutor, ActionOutput, ActionRequest, ActionStatus, ExecutorRegistry};
///
/// struct Noop;
/// #[async_trait]
/// impl ActionExecutor for Noop {
///     async fn execute(&self, _: &ActionRequest) -> Result<ActionOutput, ActionError> {
///         Ok(ActionOutput::default())
///     }
/// }
///
/// # tokio_test_block_on(async {
/// let registry = ExecutorRegistry::new();
/// registry.register("noop", Arc::new(Noop));
/// let ok = registry.execute(&ActionRequest::new("noop", "acme")).await;
/// assert_eq!(ok.status, ActionStatus::Succeeded);
///
/// let missing = registry.execute(&ActionRequest::new("isolate_host", "acme")).await;
/// assert_eq!(missing.status, ActionStatus::Failed);
/// assert_eq!(missing.error.as_deref(), Some("unknown action type 'isolate_host'"));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Default)]
pub struct ExecutorRegistry {
    by_action: RwLock<HashMap<String, Arc<dyn ActionExecutor>>>,
    live: RwLock<HashMap<LiveKey, Arc<dyn ActionExecutor>>>,
}

impl std::fmt::Debug for ExecutorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorRegistry")
            .field("action_types", &self.action_types())
            .field("live", &self.live_executors())
            .finish()
    }
}

impl ExecutorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the executor for an action type, replacing any earlier one.
    pub fn register(&self, action_type: impl Into<String>, executor: Arc<dyn ActionExecutor>) {
        write(&self.by_action).insert(action_type.into(), executor);
    }

    /// Registers a live executor for `(vendor_id, capability)`, replacing any earlier one.
    pub fn register_live(
        &self,
        vendor_id: impl Into<String>,
        capability: impl Into<String>,
        executor: Arc<dyn ActionExecutor>,
    ) {
        write(&self.live).insert((vendor_id.into(), capability.into()), executor);
    }

    /// The executor for an action type.
    pub fn resolve(&self, action_type: &str) -> Option<Arc<dyn ActionExecutor>> {
        read(&self.by_action).get(action_type).cloned()
    }

    /// The live executor for a vendor and capability.
    pub fn resolve_live(
        &self,
        vendor_id: &str,
        capability: &str,
    ) -> Option<Arc<dyn ActionExecutor>> {
        read(&self.live)
            .get(&(vendor_id.to_owned(), capability.to_owned()))
            .cloned()
    }

    /// The registered action types, sorted.
    pub fn action_types(&self) -> Vec<String> {
        let mut types: Vec<String> = read(&self.by_action).keys().cloned().collect();
        types.sort();
        types
    }

    /// The registered `(vendor_id, capability)` pairs, sorted.
    pub fn live_executors(&self) -> Vec<(String, String)> {
        let mut keys: Vec<LiveKey> = read(&self.live).keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Runs `request` on the executor for its action type; unknown types fail.
    pub async fn run(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        match self.resolve(&request.action_type) {
            Some(executor) => executor.execute(request).await,
            None => Err(ActionError::Unsupported(format!(
                "unknown action type '{}'",
                request.action_type
            ))),
        }
    }

    /// Runs `request` on the live executor for `(vendor_id, capability)`; unknown pairs fail.
    pub async fn run_live(
        &self,
        vendor_id: &str,
        capability: &str,
        request: &ActionRequest,
    ) -> Result<ActionOutput, ActionError> {
        match self.resolve_live(vendor_id, capability) {
            Some(executor) => executor.execute(request).await,
            None => Err(ActionError::Unsupported(format!(
                "no live executor registered for vendor '{vendor_id}' and capability '{capability}'"
            ))),
        }
    }

    /// Runs `request` and reports it as the [`ActionResult`] a playbook engine stores.
    pub async fn execute(&self, request: &ActionRequest) -> ActionResult {
        self.run(request).await.into()
    }

    /// Runs `request` on a live executor and reports it as an [`ActionResult`].
    pub async fn execute_live(
        &self,
        vendor_id: &str,
        capability: &str,
        request: &ActionRequest,
    ) -> ActionResult {
        self.run_live(vendor_id, capability, request).await.into()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding the lock cannot leave a map half-updated (insert is atomic for the
    // reader), so a poisoned lock is still safe to use.
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_names_parameter_keys_but_never_their_values() {
        let request = ActionRequest::new("webhook", "tenant-a")
            .with_run("run-7")
            .with_case("case-9")
            .with_parameter("secret", "whsec-very-secret")
            .with_parameter("standard_webhooks_secret", "whsec_c3VwZXJzZWNyZXQ=")
            .with_parameter("webhook_url", "https://hooks.example/T000/B000/tok3n")
            .with_parameter("routing_key", "R0UT1NGKEY")
            .with_parameter("api_key", json!({"nested": "k3y-in-object"}))
            .with_parameter("summary", "disk full")
            .with_context(json!({"password": "hunter2", "host": "db-1"}));
        let printed = format!("{request:?}");
        let pretty = format!("{request:#?}");
        for secret in [
            "whsec-very-secret",
            "c3VwZXJzZWNyZXQ",
            "tok3n",
            "hooks.example",
            "R0UT1NGKEY",
            "k3y-in-object",
            "disk full",
            "hunter2",
            "db-1",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
            assert!(!pretty.contains(secret), "{secret} leaked: {pretty}");
        }
        for shown in [
            "webhook",
            "tenant-a",
            "run-7",
            "case-9",
            "\"secret\"",
            "\"standard_webhooks_secret\"",
            "\"webhook_url\"",
            "\"routing_key\"",
            "\"api_key\"",
            "\"summary\"",
            "\"password\"",
            "\"host\"",
        ] {
            assert!(printed.contains(shown), "{shown} missing: {printed}");
        }
        let scalar_context = ActionRequest::new("webhook", "t").with_context(json!("token-abc"));
        assert!(!format!("{scalar_context:?}").contains("token-abc"));
    }

    struct Fixed(&'static str);

    #[async_trait]
    impl ActionExecutor for Fixed {
        async fn execute(&self, _: &ActionRequest) -> Result<ActionOutput, ActionError> {
            Ok(ActionOutput::default().with("by", self.0))
        }
    }

    struct Throttled;

    #[async_trait]
    impl ActionExecutor for Throttled {
        async fn execute(&self, _: &ActionRequest) -> Result<ActionOutput, ActionError> {
            Err(ActionError::from_status(
                "jira",
                429,
                Some(Duration::from_secs(30)),
                "slow down",
            ))
        }
    }

    #[tokio::test]
    async fn the_registry_reports_a_typed_failure_with_its_class() {
        let registry = ExecutorRegistry::new();
        registry.register("create_ticket", Arc::new(Throttled));
        let result = registry
            .execute(&ActionRequest::new("create_ticket", "acme"))
            .await;
        assert_eq!(result.status, ActionStatus::Failed);
        assert_eq!(result.error_class.as_deref(), Some("throttled"));
        assert_eq!(result.retry_after_seconds, Some(30));
        let bad_key = ActionError::from_status("jira", 400, None, "project: no such project");
        assert_eq!(bad_key.retry_class(), RetryClass::NonRetryable);
        assert_eq!(
            bad_key.to_string(),
            "jira rejected the action (400): project: no such project"
        );
    }

    #[tokio::test]
    async fn live_executors_resolve_by_vendor_and_capability() {
        let registry = ExecutorRegistry::new();
        registry.register_live("jira", "create_ticket", Arc::new(Fixed("jira")));
        registry.register_live("servicenow", "create_ticket", Arc::new(Fixed("snow")));
        let request = ActionRequest::new("create_ticket", "acme");

        let jira = registry
            .execute_live("jira", "create_ticket", &request)
            .await;
        assert_eq!(jira.output["by"], json!("jira"));
        let snow = registry
            .execute_live("servicenow", "create_ticket", &request)
            .await;
        assert_eq!(snow.output["by"], json!("snow"));

        let unknown = registry
            .execute_live("remedy", "create_ticket", &request)
            .await;
        assert_eq!(unknown.status, ActionStatus::Failed);
        assert!(unknown.error.unwrap().contains("vendor 'remedy'"));
        assert_eq!(
            registry.live_executors(),
            vec![
                ("jira".to_owned(), "create_ticket".to_owned()),
                ("servicenow".to_owned(), "create_ticket".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn registering_again_replaces_the_executor() {
        let registry = ExecutorRegistry::new();
        registry.register("notify", Arc::new(Fixed("old")));
        registry.register("notify", Arc::new(Fixed("new")));
        let result = registry
            .execute(&ActionRequest::new("notify", "acme"))
            .await;
        assert_eq!(result.output["by"], json!("new"));
        assert_eq!(registry.action_types(), vec!["notify".to_owned()]);
    }

    #[test]
    fn parameters_render_against_the_context_and_report_problems() {
        let request = ActionRequest::new("notify_slack", "acme")
            .with_parameter("message", "Host {{ context.host }} isolated")
            .with_parameter("count", 3)
            .with_parameter("blank", "  ")
            .with_parameter("broken", "{{ context.user }}")
            .with_context(json!({"host": "web-01"}));
        assert_eq!(
            request.require_parameter("message").unwrap(),
            "Host web-01 isolated"
        );
        assert_eq!(request.render_parameter("absent"), Ok(None));
        assert_eq!(
            request.require_parameter("blank").unwrap_err().to_string(),
            "parameter 'blank' is required"
        );
        assert_eq!(
            request.render_parameter("count").unwrap_err().to_string(),
            "parameter 'count' must be a string"
        );
        assert_eq!(
            request.render_parameter("broken").unwrap_err().to_string(),
            "parameter 'broken': template variable 'context.user' is not defined"
        );
    }
}
