//! Each tenant's ticketing-system credentials (`create_ticket`), set at run time over the admin
//! API and kept so they outlive the process.
//!
//! A playbook's `create_ticket` step names a `system` (`jira`, `servicenow`, `pagerduty`,
//! `opsgenie`); the gateway runs it with the settings the step's tenant configured for that
//! system ([`TenantTickets`](aisoc_notify_itsm::tenant::TenantTickets) over [`StoreCredentials`]),
//! never another tenant's. A tenant with none gets a failed action naming the route to call.
//!
//! | store | when | secrets |
//! |---|---|---|
//! | [`PgItsmStore`] | `DATABASE_URL` is set | table `aisoc_itsm_credentials`, forced row-level security by tenant; the settings sealed with `AISOC_DATA_KEY`; without a key, saving is refused naming it |
//! | [`FileItsmStore`] | otherwise: `<data dir>/itsm/credentials.json` | sealed when `AISOC_DATA_KEY` is set, else in clear in a file only its owner can read (0600) |
//!
//! Settings are sealed as one value bound to the tenant and the system (`itsm:<tenant>:<system>`),
//! so a sealed value copied onto another tenant's row does not open. Which fields are set is
//! kept beside it in clear, for the listing, which never shows a value.
//!
//! The admin routes are in [`router`].

mod file;
mod postgres;
pub(crate) mod postgres_support;
pub(crate) mod routes;

use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::sealed::{DATA_KEY_VARIABLE, DataKeys, SealError};
use aisoc_notify_itsm::credentials::{ItsmCredentials, ItsmSystem};
use aisoc_notify_itsm::tenant::{CredentialLookupError, CredentialSource};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

pub use self::file::FileItsmStore;
pub use self::postgres::PgItsmStore;
pub use self::routes::{SETUP_HINT, router};

/// Why the credential store could not answer. Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItsmStoreError {
    /// The database or the file system failed; nothing was changed.
    #[error("the ITSM credential store is unavailable: {0}")]
    Unavailable(String),
    /// This store keeps credentials only sealed, and no data key is configured.
    #[error(
        "ITSM credentials are stored in PostgreSQL only encrypted: set {DATA_KEY_VARIABLE} to \
         k1:<base64 of 32 random bytes> (head -c 32 /dev/urandom | base64) and restart"
    )]
    KeyRequired,
    /// Stored settings could not be opened (their key is not configured, or they were moved).
    #[error("the {system} credentials of tenant '{tenant_id}': {source}")]
    Sealed {
        /// The tenant.
        tenant_id: String,
        /// The system.
        system: ItsmSystem,
        /// Why.
        source: SealError,
    },
    /// Stored data is not what this version writes.
    #[error("{location}: {reason}")]
    Corrupt {
        /// The file or table.
        location: String,
        /// What is wrong.
        reason: String,
    },
}

/// One configured system, as the listing shows it: no values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfiguredSystem {
    /// The system.
    pub system: String,
    /// The fields that hold a value.
    pub set_fields: Vec<String>,
    /// When the settings were last saved.
    pub updated_at: DateTime<Utc>,
}

/// Keeps each tenant's ticketing settings.
#[async_trait]
pub trait ItsmStore: Send + Sync {
    /// Saves `tenant_id`'s settings for their system, replacing earlier ones.
    async fn put(
        &self,
        tenant_id: &str,
        credentials: &ItsmCredentials,
    ) -> Result<ConfiguredSystem, ItsmStoreError>;

    /// `tenant_id`'s settings for `system`, when configured.
    async fn get(
        &self,
        tenant_id: &str,
        system: ItsmSystem,
    ) -> Result<Option<ItsmCredentials>, ItsmStoreError>;

    /// The systems `tenant_id` configured, by name.
    async fn list(&self, tenant_id: &str) -> Result<Vec<ConfiguredSystem>, ItsmStoreError>;

    /// Removes `tenant_id`'s settings for `system`; `false` when there were none.
    async fn delete(&self, tenant_id: &str, system: ItsmSystem) -> Result<bool, ItsmStoreError>;

    /// Where the settings are, for logs (no credentials).
    fn describe(&self) -> String;
}

/// What settings are sealed for: the tenant and the system, so they cannot be moved.
fn seal_context(tenant_id: &str, system: ItsmSystem) -> String {
    format!("itsm:{tenant_id}:{system}")
}

fn seal(
    keys: &DataKeys,
    tenant_id: &str,
    credentials: &ItsmCredentials,
) -> Result<String, ItsmStoreError> {
    let system = credentials.system();
    let plaintext = credentials.to_stored_json().to_string();
    keys.seal(plaintext.as_bytes(), &seal_context(tenant_id, system))
        .map_err(|source| ItsmStoreError::Sealed {
            tenant_id: tenant_id.to_owned(),
            system,
            source,
        })
}

fn open(
    keys: Option<&DataKeys>,
    tenant_id: &str,
    system: ItsmSystem,
    sealed: &str,
) -> Result<ItsmCredentials, ItsmStoreError> {
    let failed = |source| ItsmStoreError::Sealed {
        tenant_id: tenant_id.to_owned(),
        system,
        source,
    };
    let Some(keys) = keys else {
        let key_id = aisoc_notify_core::sealed::key_id_of(sealed).map_err(failed)?;
        return Err(failed(SealError::UnknownKey {
            key_id: key_id.to_owned(),
        }));
    };
    let plaintext = keys
        .open(sealed, &seal_context(tenant_id, system))
        .map_err(failed)?;
    let value = serde_json::from_slice(&plaintext).map_err(|e| ItsmStoreError::Corrupt {
        location: format!("the {system} credentials of tenant '{tenant_id}'"),
        reason: e.to_string(),
    })?;
    from_stored(tenant_id, system, value)
}

fn from_stored(
    tenant_id: &str,
    system: ItsmSystem,
    value: serde_json::Value,
) -> Result<ItsmCredentials, ItsmStoreError> {
    ItsmCredentials::from_json(system, value).map_err(|e| ItsmStoreError::Corrupt {
        location: format!("the {system} credentials of tenant '{tenant_id}'"),
        reason: e.to_string(),
    })
}

fn configured(credentials: &ItsmCredentials, updated_at: DateTime<Utc>) -> ConfiguredSystem {
    ConfiguredSystem {
        system: credentials.system().as_str().to_owned(),
        set_fields: credentials
            .set_fields()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        updated_at,
    }
}

/// The store as the `create_ticket` executor's [`CredentialSource`].
pub struct StoreCredentials(pub Arc<dyn ItsmStore>);

#[async_trait]
impl CredentialSource for StoreCredentials {
    async fn credentials(
        &self,
        tenant_id: &str,
        system: ItsmSystem,
    ) -> Result<Option<ItsmCredentials>, CredentialLookupError> {
        self.0
            .get(tenant_id, system)
            .await
            .map_err(|error| match error {
                ItsmStoreError::Unavailable(_) => {
                    CredentialLookupError::retryable(error.to_string())
                }
                _ => CredentialLookupError::permanent(error.to_string()),
            })
    }
}

/// The store for this gateway: PostgreSQL when `pool` is given, else the file in `data_dir`.
pub async fn open_store(
    pool: Option<PgPool>,
    data_dir: &std::path::Path,
    keys: Option<Arc<DataKeys>>,
) -> Result<Arc<dyn ItsmStore>, ItsmStoreError> {
    Ok(match pool {
        Some(pool) => Arc::new(PgItsmStore::open(pool, keys).await?),
        None => Arc::new(FileItsmStore::open(data_dir.join("itsm"), keys).await?),
    })
}

/// The contract every store keeps, run against each of them.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;
    use serde_json::json;

    pub(crate) fn jira(token: &str) -> ItsmCredentials {
        ItsmCredentials::from_json(
            ItsmSystem::Jira,
            json!({"site_url": "https://acme.atlassian.net", "email": "soc@acme.com",
                   "api_token": token, "default_project": "SEC"}),
        )
        .unwrap()
    }

    /// Saved settings read back per tenant and system, list without values, and delete.
    pub(crate) async fn settings_are_kept_per_tenant(store: &dyn ItsmStore) {
        assert!(store.list("acme").await.unwrap().is_empty());
        store.put("acme", &jira("acme-token-1")).await.unwrap();
        store.put("globex", &jira("globex-token")).await.unwrap();
        let pagerduty =
            ItsmCredentials::from_json(ItsmSystem::PagerDuty, json!({"routing_key": "rk"}))
                .unwrap();
        store.put("acme", &pagerduty).await.unwrap();
        store.put("acme", &jira("acme-token-2")).await.unwrap();

        let acme = store.get("acme", ItsmSystem::Jira).await.unwrap().unwrap();
        assert_eq!(acme.fingerprint(), jira("acme-token-2").fingerprint());
        let globex = store
            .get("globex", ItsmSystem::Jira)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(globex.fingerprint(), jira("globex-token").fingerprint());
        assert!(
            store
                .get("globex", ItsmSystem::PagerDuty)
                .await
                .unwrap()
                .is_none()
        );

        let listed = store.list("acme").await.unwrap();
        let systems: Vec<&str> = listed.iter().map(|s| s.system.as_str()).collect();
        assert_eq!(systems, ["jira", "pagerduty"]);
        assert!(listed[0].set_fields.contains(&"api_token".to_owned()));
        let shown = serde_json::to_string(&listed).unwrap();
        assert!(!shown.contains("acme-token"), "{shown}");

        assert!(store.delete("acme", ItsmSystem::Jira).await.unwrap());
        assert!(!store.delete("acme", ItsmSystem::Jira).await.unwrap());
        assert!(store.get("acme", ItsmSystem::Jira).await.unwrap().is_none());
        assert!(
            store
                .get("globex", ItsmSystem::Jira)
                .await
                .unwrap()
                .is_some()
        );
    }
}
