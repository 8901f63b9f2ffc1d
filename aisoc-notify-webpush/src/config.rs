//! Web Push channel configuration as operators write it, validated into a notifier.
//!
//! The configuration names whom to push to in the shape of [`Target`] (`kind` = `tenant`,
//! `user`, `topic`, plus `users` for several named users and `on_call` for whoever is on call
//! when the notification arrives), without the tenant: the tenant is
//! each notification's own. One channel therefore serves every tenant of a host, and a
//! notification is only ever pushed to devices of its own tenant, never another's.
//!
//! Users whose on-call status is `offline` or `snoozed` are skipped by the [`PushManager`]'s
//! fan-out, as for every push; nothing here repeats that.

use std::collections::BTreeSet;

use aisoc_notify_core::config::ConfigError;
use aisoc_notify_core::notification::{Notification, Target};
use aisoc_notify_core::{Delivered, Notifier, NotifyError, async_trait};
use serde::Deserialize;

use crate::manager::{FanOutReport, PushManager, PushMessage};
use crate::subscription::valid_topic;

/// The most users one `users` channel may name.
pub const MAX_USERS: usize = 100;
/// The longest user id.
pub const MAX_USER_ID_CHARS: usize = 128;

/// Whom a Web Push channel pushes to, in the notification's tenant.
///
/// | `kind` | pushes to |
/// |---|---|
/// | `tenant` | every device of the tenant |
/// | `user` (`user_id`) | one user's devices |
/// | `users` (`user_ids`) | several users' devices |
/// | `topic` (`topic`, optional) | devices subscribed to `topic`; left out, to the notification's event type (`p0_alert`, …) |
/// | `on_call` | the devices of the users on call at that moment (their status `available` or `busy`; see [`OnCallStatusProvider::on_call_users`](crate::manager::OnCallStatusProvider::on_call_users)) |
///
/// ```
/// use aisoc_notify_webpush::config::WebPushChannelConfig;
///
/// let config: WebPushChannelConfig = serde_json::from_str(r#"{"kind": "users", "user_ids": ["alice", "bob"]}"#).unwrap();
/// assert!(config.validate().is_ok());
/// let topic: WebPushChannelConfig = serde_json::from_str(r#"{"kind": "topic"}"#).unwrap();
/// assert_eq!(topic, WebPushChannelConfig::Topic { topic: None });
///
/// let empty: WebPushChannelConfig = serde_json::from_str(r#"{"kind": "users", "user_ids": []}"#).unwrap();
/// assert_eq!(empty.validate().unwrap_err().to_string(), "user_ids: needs at least one user");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WebPushChannelConfig {
    /// Everyone in the notification's tenant. (The empty braces make serde refuse any other
    /// key, as for every kind: a unit variant would ignore them.)
    Tenant {},
    /// One user.
    User {
        /// The user.
        user_id: String,
    },
    /// Several users.
    Users {
        /// The users.
        user_ids: Vec<String>,
    },
    /// Everyone subscribed to a topic.
    Topic {
        /// The topic; the notification's event type when left out.
        #[serde(default)]
        topic: Option<String>,
    },
    /// The users on call when the notification arrives (a P0 page, say).
    OnCall {},
}

fn check_user(field: &str, user_id: &str) -> Result<(), ConfigError> {
    let length = user_id.chars().count();
    if user_id.trim() != user_id || !(1..=MAX_USER_ID_CHARS).contains(&length) {
        return Err(ConfigError::new(
            field,
            format!("must be 1-{MAX_USER_ID_CHARS} characters without surrounding spaces"),
        ));
    }
    Ok(())
}

impl WebPushChannelConfig {
    /// Checks the user ids and the topic; the error names the field to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            WebPushChannelConfig::Tenant {} => Ok(()),
            WebPushChannelConfig::User { user_id } => check_user("user_id", user_id),
            WebPushChannelConfig::Users { user_ids } => {
                if user_ids.is_empty() {
                    return Err(ConfigError::new("user_ids", "needs at least one user"));
                }
                if user_ids.len() > MAX_USERS {
                    return Err(ConfigError::new(
                        "user_ids",
                        format!("has {} users; at most {MAX_USERS}", user_ids.len()),
                    ));
                }
                user_ids
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, user)| check_user(&format!("user_ids[{i}]"), user))
            }
            WebPushChannelConfig::Topic { topic: Some(topic) } if !valid_topic(topic) => {
                Err(ConfigError::new(
                    "topic",
                    "must be 1-64 characters of letters, digits, '_', '-' or '.'",
                ))
            }
            WebPushChannelConfig::Topic { .. } | WebPushChannelConfig::OnCall {} => Ok(()),
        }
    }

    /// The targets for `notification`: always in its tenant. `on_call` has none fixed: who is
    /// on call is looked up when the notification is pushed.
    pub fn targets(&self, notification: &Notification) -> Vec<Target> {
        let tenant_id = notification.tenant_id.clone();
        match self {
            WebPushChannelConfig::OnCall {} => Vec::new(),
            WebPushChannelConfig::Tenant {} => vec![Target::Tenant { tenant_id }],
            WebPushChannelConfig::User { user_id } => vec![Target::User {
                tenant_id,
                user_id: user_id.clone(),
            }],
            WebPushChannelConfig::Users { user_ids } => user_ids
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|user_id| Target::User {
                    tenant_id: tenant_id.clone(),
                    user_id: user_id.clone(),
                })
                .collect(),
            WebPushChannelConfig::Topic { topic } => vec![Target::Topic {
                tenant_id,
                topic: topic
                    .clone()
                    .unwrap_or_else(|| notification.event_type.as_str().to_owned()),
            }],
        }
    }

    /// Validates and builds the notifier, pushing through `manager`.
    pub fn into_notifier(
        self,
        manager: PushManager,
    ) -> Result<WebPushChannelNotifier, ConfigError> {
        self.validate()?;
        Ok(WebPushChannelNotifier {
            manager,
            config: self,
        })
    }
}

/// Pushes each notification to the targets a [`WebPushChannelConfig`] names in the
/// notification's tenant; its outcome for many devices is folded as
/// [`manager`](crate::manager) describes for [`WebPushNotifier`](crate::manager::WebPushNotifier).
#[derive(Debug, Clone)]
pub struct WebPushChannelNotifier {
    manager: PushManager,
    config: WebPushChannelConfig,
}

const SERVICE: &str = "webpush";

#[async_trait]
impl Notifier for WebPushChannelNotifier {
    fn channel_type(&self) -> &str {
        SERVICE
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let (message, options) = PushMessage::from_notification(notification);
        let unavailable = |e: crate::store::StoreError| NotifyError::Unavailable {
            service: SERVICE,
            code: "store".into(),
            message: e.to_string(),
        };
        let mut report = FanOutReport::default();
        if self.config == (WebPushChannelConfig::OnCall {}) {
            report = self
                .manager
                .send_to_on_call(&notification.tenant_id, &message, &options)
                .await
                .map_err(unavailable)?;
        }
        for target in self.config.targets(notification) {
            let part = self
                .manager
                .send_to_target(&target, &message, &options)
                .await
                .map_err(unavailable)?;
            report.outcomes.extend(part.outcomes);
            report.skipped_users.extend(part.skipped_users);
        }
        if let Some(failure) = report.failure() {
            return Err(failure);
        }
        let attempts = report
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .map(|receipt| receipt.attempts)
            .max()
            .unwrap_or(0);
        let delivered = report.delivered();
        Ok(Delivered::with_receipt(format!("{delivered} device(s)")).attempts(attempts))
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::notification::{EventType, Severity};
    use serde_json::json;

    use super::*;

    fn parse(config: serde_json::Value) -> Result<WebPushChannelConfig, serde_json::Error> {
        serde_json::from_value(config)
    }

    #[test]
    fn every_kind_targets_the_notifications_own_tenant() {
        let alert = Notification::new("acme", EventType::P0Alert, Severity::Critical, "P0");
        let cases = [
            (
                json!({"kind": "tenant"}),
                vec![Target::Tenant {
                    tenant_id: "acme".into(),
                }],
            ),
            (
                json!({"kind": "user", "user_id": "alice"}),
                vec![Target::User {
                    tenant_id: "acme".into(),
                    user_id: "alice".into(),
                }],
            ),
            (
                json!({"kind": "users", "user_ids": ["bob", "alice", "bob"]}),
                vec![
                    Target::User {
                        tenant_id: "acme".into(),
                        user_id: "alice".into(),
                    },
                    Target::User {
                        tenant_id: "acme".into(),
                        user_id: "bob".into(),
                    },
                ],
            ),
            (
                json!({"kind": "topic"}),
                vec![Target::Topic {
                    tenant_id: "acme".into(),
                    topic: "p0_alert".into(),
                }],
            ),
            (
                json!({"kind": "topic", "topic": "oncall_handoff"}),
                vec![Target::Topic {
                    tenant_id: "acme".into(),
                    topic: "oncall_handoff".into(),
                }],
            ),
        ];
        for (config, targets) in cases {
            let parsed = parse(config.clone()).unwrap();
            assert!(parsed.validate().is_ok(), "{config}");
            assert_eq!(parsed.targets(&alert), targets, "{config}");
        }
    }

    #[test]
    fn on_call_names_no_fixed_target_and_takes_no_fields() {
        let alert = Notification::new("acme", EventType::P0Alert, Severity::Critical, "P0");
        let on_call = parse(json!({"kind": "on_call"})).unwrap();
        assert_eq!(on_call, WebPushChannelConfig::OnCall {});
        assert!(on_call.validate().is_ok());
        assert!(on_call.targets(&alert).is_empty(), "looked up at push time");
        assert!(parse(json!({"kind": "on_call", "user_id": "alice"})).is_err());
        assert!(parse(json!({"kind": "tenant", "topic": "p0_alert"})).is_err());
    }

    #[test]
    fn every_invalid_field_is_named() {
        let long = "u".repeat(MAX_USER_ID_CHARS + 1);
        let cases = [
            (
                json!({"kind": "user", "user_id": ""}),
                "user_id: must be 1-128 characters",
            ),
            (
                json!({"kind": "user", "user_id": long}),
                "user_id: must be 1-128 characters",
            ),
            (
                json!({"kind": "users", "user_ids": []}),
                "user_ids: needs at least one user",
            ),
            (
                json!({"kind": "users", "user_ids": ["a", " b"]}),
                "user_ids[1]: must be",
            ),
            (
                json!({"kind": "users", "user_ids": vec!["a"; MAX_USERS + 1]}),
                "user_ids: has 101 users",
            ),
            (
                json!({"kind": "topic", "topic": "p0 alert"}),
                "topic: must be 1-64 characters",
            ),
        ];
        for (config, message) in cases {
            let error = parse(config.clone()).unwrap().validate().unwrap_err();
            assert!(error.to_string().starts_with(message), "{config}: {error}");
        }
        for (config, message) in [
            (json!({"kind": "everyone"}), "unknown variant `everyone`"),
            (json!({"user_id": "alice"}), "missing field `kind`"),
            (json!({"kind": "user"}), "missing field `user_id`"),
            (
                json!({"kind": "user", "user_id": "a", "tenant_id": "b"}),
                "unknown field `tenant_id`",
            ),
        ] {
            let error = parse(config.clone()).unwrap_err();
            assert!(error.to_string().contains(message), "{config}: {error}");
        }
    }
}
