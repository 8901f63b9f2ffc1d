//! `create_ticket` for many tenants: each tenant's own credentials, looked up per step.
//!
//! [`CreateTicket`](crate::CreateTicket) dispatches to executors registered once, with one set
//! of credentials for everyone. [`TenantTickets`] instead asks a [`CredentialSource`] (the
//! host's store, a vault) for the settings of the step's tenant and `system`, and runs that
//! system's executor with them:
//!
//! - a `system` that is not one of `jira`, `servicenow`, `pagerduty`, `opsgenie` fails as
//!   [`ActionError::Unsupported`] listing them;
//! - a tenant with no settings for the system fails as [`ActionError::Unsupported`] naming the
//!   system and the tenant, and what to configure (the host's hint, see
//!   [`TenantTickets::with_setup_hint`]); it never falls back to another tenant's;
//! - a source that cannot answer fails as [`ActionError::Host`] (`credentials`), retryable when
//!   the source says so;
//! - settings that no longer validate fail as [`ActionError::Config`] naming the field.
//!
//! Built executors are cached per (tenant, system) together with the settings' fingerprint
//! ([`ItsmCredentials::fingerprint`]), so a step reuses the executor until the tenant's settings
//! change, and changed settings take effect on the next step. The cache key always holds the
//! tenant: one tenant's executor (and so its credentials) is never used for another's step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_core::tenant::validate_tenant_id;
use aisoc_notify_core::{ActionError, ActionExecutor, ActionOutput, ActionRequest, async_trait};

use crate::credentials::{ItsmCredentials, ItsmSystem};

/// Why a [`CredentialSource`] could not answer (a database or vault failure). Never carries a
/// secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CredentialLookupError {
    /// What failed.
    pub message: String,
    /// Whether asking again later can succeed (an outage, not a corrupt entry).
    pub retryable: bool,
}

impl CredentialLookupError {
    /// A failure that asking again can fix (the store is down).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that stays (an entry that cannot be opened or read).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Where each tenant's ticketing settings come from.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// `tenant_id`'s settings for `system`; `None` when the tenant has none.
    async fn credentials(
        &self,
        tenant_id: &str,
        system: ItsmSystem,
    ) -> Result<Option<ItsmCredentials>, CredentialLookupError>;
}

/// Settings in memory, for tests and hosts that load them from elsewhere.
#[derive(Debug, Default)]
pub struct MemoryCredentialSource {
    entries: RwLock<HashMap<(String, ItsmSystem), ItsmCredentials>>,
}

impl MemoryCredentialSource {
    /// No settings for anyone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `tenant_id`'s settings for their system, replacing earlier ones.
    pub fn set(&self, tenant_id: &str, credentials: ItsmCredentials) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((tenant_id.to_owned(), credentials.system()), credentials);
    }

    /// Removes `tenant_id`'s settings for `system`; whether there were any.
    pub fn remove(&self, tenant_id: &str, system: ItsmSystem) -> bool {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant_id.to_owned(), system))
            .is_some()
    }
}

#[async_trait]
impl CredentialSource for MemoryCredentialSource {
    async fn credentials(
        &self,
        tenant_id: &str,
        system: ItsmSystem,
    ) -> Result<Option<ItsmCredentials>, CredentialLookupError> {
        Ok(self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(tenant_id.to_owned(), system))
            .cloned())
    }
}

type CacheKey = (String, ItsmSystem);
type Cached = ([u8; 32], Arc<dyn ActionExecutor>);

/// The `create_ticket` action over per-tenant settings (see the [module docs](self)).
pub struct TenantTickets {
    source: Arc<dyn CredentialSource>,
    delivery: DeliveryClient,
    setup_hint: Option<String>,
    cache: Mutex<HashMap<CacheKey, Cached>>,
}

impl std::fmt::Debug for TenantTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTickets")
            .field("setup_hint", &self.setup_hint)
            .finish_non_exhaustive()
    }
}

impl TenantTickets {
    /// Opens tickets with the settings `source` holds for each step's tenant, sending through
    /// `delivery` (its outbound guard applies to every configured API address).
    pub fn new(source: Arc<dyn CredentialSource>, delivery: DeliveryClient) -> Self {
        Self {
            source,
            delivery,
            setup_hint: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// What a tenant without settings is told to do, with `{system}` and `{tenant}` replaced:
    /// for example `PUT /v1/settings/itsm/{system}?tenant_id={tenant}`.
    pub fn with_setup_hint(mut self, hint: impl Into<String>) -> Self {
        self.setup_hint = Some(hint.into());
        self
    }

    /// The executor for `tenant_id`'s `credentials`, built once per set of settings.
    fn executor(
        &self,
        tenant_id: &str,
        credentials: &ItsmCredentials,
    ) -> Result<Arc<dyn ActionExecutor>, ActionError> {
        let key = (tenant_id.to_owned(), credentials.system());
        let fingerprint = credentials.fingerprint();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached, executor)) = cache.get(&key)
            && *cached == fingerprint
        {
            return Ok(Arc::clone(executor));
        }
        let executor =
            credentials
                .into_executor(self.delivery.clone())
                .map_err(|error| match error {
                    crate::credentials::CredentialsError::Invalid { source, .. } => {
                        ActionError::Config(source)
                    }
                    other => ActionError::Unsupported(other.to_string()),
                })?;
        cache.insert(key, (fingerprint, Arc::clone(&executor)));
        Ok(executor)
    }

    fn not_configured(&self, system: ItsmSystem, tenant_id: &str) -> ActionError {
        let mut message =
            format!("no {system} credentials are configured for tenant '{tenant_id}'");
        if let Some(hint) = &self.setup_hint {
            let hint = hint
                .replace("{system}", system.as_str())
                .replace("{tenant}", tenant_id);
            message.push_str(&format!(" (configure them with {hint})"));
        }
        ActionError::Unsupported(message)
    }
}

#[async_trait]
impl ActionExecutor for TenantTickets {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let tenant_id = validate_tenant_id(&request.tenant_id)
            .map_err(|e| ActionError::Unsupported(e.to_string()))?;
        let system = request.require_parameter("system")?;
        let system = ItsmSystem::parse(&system)
            .map_err(|e| ActionError::Unsupported(format!("parameter 'system': {e}")))?;
        let credentials = self
            .source
            .credentials(tenant_id, system)
            .await
            .map_err(|e| ActionError::Host {
                hook: "credentials",
                reason: e.message,
                retryable: e.retryable,
            })?
            .ok_or_else(|| self.not_configured(system, tenant_id))?;
        let executor = self.executor(tenant_id, &credentials)?;
        executor.execute(request).await
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::RetryClass;
    use serde_json::json;

    use super::*;

    fn pagerduty(routing_key: &str, events_url: &str) -> ItsmCredentials {
        ItsmCredentials::from_json(
            ItsmSystem::PagerDuty,
            json!({"routing_key": routing_key, "events_url": events_url}),
        )
        .unwrap()
    }

    struct Failing;

    #[async_trait]
    impl CredentialSource for Failing {
        async fn credentials(
            &self,
            _: &str,
            _: ItsmSystem,
        ) -> Result<Option<ItsmCredentials>, CredentialLookupError> {
            Err(CredentialLookupError::retryable("the store is down"))
        }
    }

    fn request(tenant: &str, system: &str) -> ActionRequest {
        ActionRequest::new("create_ticket", tenant)
            .with_parameter("system", system)
            .with_parameter("summary", "Ransomware on web-01")
    }

    #[tokio::test]
    async fn a_tenant_without_settings_or_an_unknown_system_is_told_what_to_configure() {
        let source = Arc::new(MemoryCredentialSource::new());
        source.set(
            "acme",
            pagerduty("acme-key", "https://events.pagerduty.com"),
        );
        let tickets = TenantTickets::new(source, DeliveryClient::shared_default().unwrap())
            .with_setup_hint("PUT /v1/settings/itsm/{system}?tenant_id={tenant}");
        let missing = tickets
            .execute(&request("globex", "pagerduty"))
            .await
            .unwrap_err();
        assert!(matches!(missing, ActionError::Unsupported(_)), "{missing}");
        assert_eq!(
            missing.to_string(),
            "no pagerduty credentials are configured for tenant 'globex' (configure them with \
             PUT /v1/settings/itsm/pagerduty?tenant_id=globex)"
        );
        let unknown = tickets
            .execute(&request("acme", "remedy"))
            .await
            .unwrap_err();
        assert!(unknown.to_string().contains("remedy"), "{unknown}");
        let no_system = tickets
            .execute(&ActionRequest::new("create_ticket", "acme"))
            .await
            .unwrap_err();
        assert_eq!(no_system.to_string(), "parameter 'system' is required");
        let bad_tenant = tickets
            .execute(&request("../x", "pagerduty"))
            .await
            .unwrap_err();
        assert!(bad_tenant.to_string().contains("tenant_id"), "{bad_tenant}");
    }

    #[tokio::test]
    async fn a_failing_source_is_a_host_failure_that_can_be_retried() {
        let tickets =
            TenantTickets::new(Arc::new(Failing), DeliveryClient::shared_default().unwrap());
        let error = tickets.execute(&request("acme", "jira")).await.unwrap_err();
        assert_eq!(error.retry_class(), RetryClass::Retryable);
        assert_eq!(error.to_string(), "credentials failed: the store is down");
    }

    #[tokio::test]
    async fn executors_are_cached_per_tenant_and_rebuilt_when_settings_change() {
        let source = Arc::new(MemoryCredentialSource::new());
        source.set(
            "acme",
            pagerduty("acme-key", "https://events.pagerduty.com"),
        );
        source.set(
            "globex",
            pagerduty("globex-key", "https://events.pagerduty.com"),
        );
        let tickets = TenantTickets::new(source.clone(), DeliveryClient::shared_default().unwrap());
        let acme = source
            .credentials("acme", ItsmSystem::PagerDuty)
            .await
            .unwrap()
            .unwrap();
        let globex = source
            .credentials("globex", ItsmSystem::PagerDuty)
            .await
            .unwrap()
            .unwrap();
        let first = tickets.executor("acme", &acme).unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &tickets.executor("acme", &acme).unwrap()
        ));
        // The same settings under another tenant are another executor.
        let other = tickets.executor("globex", &globex).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        let same_values_other_tenant = tickets.executor("globex", &acme).unwrap();
        assert!(!Arc::ptr_eq(&first, &same_values_other_tenant));
        // Changed settings replace the cached executor.
        let changed = pagerduty("acme-key-2", "https://events.pagerduty.com");
        assert!(!Arc::ptr_eq(
            &first,
            &tickets.executor("acme", &changed).unwrap()
        ));
    }
}
