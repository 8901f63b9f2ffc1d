//! Configuration errors that name the field to fix.
//!
//! Builders and constructors (a Slack notifier, a Jira executor, a callback base URL) validate
//! their settings when they are made, so a misconfiguration stops start-up with a message such
//! as `site_url: destination must use https` instead of failing at the first delivery.

/// A setting that is missing or unusable.
///
/// ```
/// use aisoc_notify_core::config::ConfigError;
///
/// let err = ConfigError::new("site_url", "must use https");
/// assert_eq!(err.to_string(), "site_url: must use https");
/// assert_eq!(err.field(), "site_url");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    field: String,
    reason: String,
}

impl ConfigError {
    /// An error for `field`, saying what is wrong with it (never its secret value).
    pub fn new(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// The setting to fix.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
