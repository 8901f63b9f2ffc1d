//! Checking a configured API address and making the executor's delivery client.
//!
//! The constructors judge what the configuration alone decides: the address parses as https
//! (plain http only to loopback, for local tests), carries no credentials, and works as a base
//! for the API paths. Whether the address may be reached at all (a private or metadata address)
//! is the delivery client's outbound guard's call, made before connecting, with the policy of
//! whichever client the executor ends up with ([`with_delivery`](crate::JiraExecutor::with_delivery)
//! for an on-prem instance the host allows).

use aisoc_notify_core::ConfigError;
use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};

/// `url` checked as the API base named `field`, with a trailing `/` so that joining
/// `rest/api/3/issue` keeps a path prefix (`https://proxy/jira/`).
pub(crate) fn api_base(url: &url::Url, field: &str) -> Result<url::Url, ConfigError> {
    let mut base = check_destination(url.as_str()).map_err(|e| ConfigError::new(field, e))?;
    if !base.username().is_empty() || base.password().is_some() {
        return Err(ConfigError::new(
            field,
            "must not carry credentials; configure them in their own fields",
        ));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(ConfigError::new(field, "must not have a query or fragment"));
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

/// The default delivery client (outbound guard on, retries as [`DeliveryConfig::default`]).
pub(crate) fn default_client() -> Result<DeliveryClient, ConfigError> {
    DeliveryClient::shared_default().map_err(|e| ConfigError::new("delivery", e))
}

/// A setting that must not be blank.
pub(crate) fn required(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::new(field, "is required"));
    }
    Ok(())
}

/// A secret that must not be blank (its value is never printed).
pub(crate) fn required_secret(field: &str, value: &SecretString) -> Result<(), ConfigError> {
    required(field, value.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases_gain_a_trailing_slash_and_refuse_what_would_leak() {
        let base = api_base(&"https://proxy.example/jira".parse().unwrap(), "site_url").unwrap();
        assert_eq!(base.as_str(), "https://proxy.example/jira/");
        assert_eq!(
            base.join("rest/api/3/issue").unwrap().as_str(),
            "https://proxy.example/jira/rest/api/3/issue"
        );
        let insecure = api_base(&"http://jira.example/".parse().unwrap(), "site_url").unwrap_err();
        assert_eq!(insecure.field(), "site_url");
        let with_password =
            api_base(&"https://bot:pw@jira.example/".parse().unwrap(), "site_url").unwrap_err();
        assert!(!with_password.to_string().contains("pw"));
    }
}
