//! In-app channel configuration as operators write it, validated into a notifier.
//!
//! The recipients are user ids in each notification's own tenant, so one channel serves every
//! tenant of a host and files a notification only into lists of its own tenant.

use std::sync::Arc;

use aisoc_notify_core::config::ConfigError;
use serde::Deserialize;

use crate::{FixedRecipients, InAppNotifier, InAppStore};

/// The most recipients one channel may name.
pub const MAX_RECIPIENTS: usize = 1000;
/// The longest user id.
pub const MAX_USER_ID_CHARS: usize = 128;

/// An in-app channel: the users whose lists each notification is filed into.
///
/// ```
/// use aisoc_notify_inapp::config::InAppChannelConfig;
///
/// let config: InAppChannelConfig = serde_json::from_str(r#"{"recipients": ["alice", "bob"]}"#).unwrap();
/// assert!(config.validate().is_ok());
///
/// let none: InAppChannelConfig = serde_json::from_str(r#"{"recipients": []}"#).unwrap();
/// assert_eq!(none.validate().unwrap_err().to_string(), "recipients: needs at least one user id");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InAppChannelConfig {
    /// The user ids, in the notification's tenant.
    #[serde(default)]
    pub recipients: Vec<String>,
}

impl InAppChannelConfig {
    /// Checks that there is at least one recipient and that each id is 1–128 characters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.recipients.is_empty() {
            return Err(ConfigError::new("recipients", "needs at least one user id"));
        }
        if self.recipients.len() > MAX_RECIPIENTS {
            return Err(ConfigError::new(
                "recipients",
                format!(
                    "has {} user ids; at most {MAX_RECIPIENTS}",
                    self.recipients.len()
                ),
            ));
        }
        for (index, user) in self.recipients.iter().enumerate() {
            let length = user.chars().count();
            if user.trim() != user || !(1..=MAX_USER_ID_CHARS).contains(&length) {
                return Err(ConfigError::new(
                    format!("recipients[{index}]"),
                    format!("must be 1-{MAX_USER_ID_CHARS} characters without surrounding spaces"),
                ));
            }
        }
        Ok(())
    }

    /// Validates and builds the notifier, filing into `store` (each recipient once).
    pub fn into_notifier(self, store: Arc<dyn InAppStore>) -> Result<InAppNotifier, ConfigError> {
        self.validate()?;
        let mut recipients = self.recipients;
        recipients.sort();
        recipients.dedup();
        Ok(InAppNotifier::new(
            store,
            Arc::new(FixedRecipients(recipients)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::Notifier;
    use aisoc_notify_core::notification::{EventType, Notification, Severity};
    use serde_json::json;

    use super::*;
    use crate::{ListQuery, MemoryInAppStore};

    fn parse(config: serde_json::Value) -> Result<InAppChannelConfig, serde_json::Error> {
        serde_json::from_value(config)
    }

    #[tokio::test]
    async fn a_notification_is_filed_once_per_recipient_in_its_own_tenant() {
        let store = Arc::new(MemoryInAppStore::new());
        let notifier = parse(json!({"recipients": ["alice", "bob", "alice"]}))
            .unwrap()
            .into_notifier(store.clone())
            .unwrap();
        let alert = Notification::new("acme", EventType::P0Alert, Severity::High, "P0");
        notifier.notify(&alert).await.unwrap();
        for user in ["alice", "bob"] {
            let listed = store
                .list("acme", user, ListQuery::default())
                .await
                .unwrap();
            assert_eq!(listed.len(), 1, "{user}");
            assert_eq!(listed[0].tenant_id, "acme");
        }
        assert!(
            store
                .list("other", "alice", ListQuery::default())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn every_invalid_field_is_named() {
        let cases = [
            (json!({}), "recipients: needs at least one user id"),
            (
                json!({"recipients": []}),
                "recipients: needs at least one user id",
            ),
            (
                json!({"recipients": ["a", ""]}),
                "recipients[1]: must be 1-128 characters",
            ),
            (
                json!({"recipients": ["u".repeat(129)]}),
                "recipients[0]: must be 1-128 characters",
            ),
            (
                json!({"recipients": vec!["a"; MAX_RECIPIENTS + 1]}),
                "recipients: has 1001 user ids",
            ),
        ];
        for (config, message) in cases {
            let error = parse(config.clone()).unwrap().validate().unwrap_err();
            assert!(error.to_string().starts_with(message), "{config}: {error}");
        }
        let unknown = parse(json!({"recipient": ["a"]})).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `recipient`"),
            "{unknown}"
        );
        let wrong = parse(json!({"recipients": "alice"})).unwrap_err();
        assert!(wrong.to_string().contains("expected a sequence"), "{wrong}");
    }
}
