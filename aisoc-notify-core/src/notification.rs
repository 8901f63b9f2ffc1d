//! The channel-neutral notification model every adapter renders.
//!
//! A [`Notification`] says what happened, how bad it is and what a human can do about it; each
//! adapter turns it into its native format (Block Kit, Adaptive Card, push payload, e-mail,
//! webhook envelope). Severity colours and emoji live here so every channel shows the same
//! severity the same way.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How urgent a notification is, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational; no action expected.
    Info,
    /// Worth a look when convenient.
    Low,
    /// Needs attention today.
    Medium,
    /// Needs attention now.
    High,
    /// Page someone.
    Critical,
}

impl Severity {
    /// Every severity, least severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name used in configuration and payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The colour shared by every channel, as `#RRGGBB`.
    pub fn color_hex(self) -> &'static str {
        match self {
            Severity::Info => "#6B7280",
            Severity::Low => "#2563EB",
            Severity::Medium => "#D97706",
            Severity::High => "#EA580C",
            Severity::Critical => "#DC2626",
        }
    }

    /// The emoji as a Slack/Mattermost short code.
    pub fn emoji_shortcode(self) -> &'static str {
        match self {
            Severity::Info => ":information_source:",
            Severity::Low => ":large_blue_circle:",
            Severity::Medium => ":large_yellow_circle:",
            Severity::High => ":large_orange_circle:",
            Severity::Critical => ":red_circle:",
        }
    }

    /// The same emoji as a Unicode character, for channels without short codes.
    pub fn emoji(self) -> &'static str {
        match self {
            Severity::Info => "\u{2139}\u{fe0f}",
            Severity::Low => "\u{1f535}",
            Severity::Medium => "\u{1f7e1}",
            Severity::High => "\u{1f7e0}",
            Severity::Critical => "\u{1f534}",
        }
    }

    /// The OCSF `severity_id` (1 informational … 5 critical).
    pub fn ocsf_severity_id(self) -> u8 {
        match self {
            Severity::Info => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a severity name that is not one of `info|low|medium|high|critical`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("severity must be one of info, low, medium, high, critical (got '{0}')")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

/// What kind of event a notification reports; channels and rules filter on it.
///
/// The well-known types have variants; anything else is [`EventType::Custom`]. On the wire an
/// event type is its snake_case name (`p0_alert`, `agent_approval`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventType {
    /// A top-priority alert.
    P0Alert,
    /// An AI agent asks a human to approve an action.
    AgentApproval,
    /// On-call responsibility moved to someone else.
    OncallHandoff,
    /// A data connector went stale or recovered.
    ConnectorHealth,
    /// A generic approval request.
    ApprovalRequest,
    /// Configuration drifted from its baseline.
    DriftAlert,
    /// An agent changed state.
    AgentStatus,
    /// Any other event type, by name.
    Custom(String),
}

impl EventType {
    /// The default push and routing topics the SPEC names.
    pub const DEFAULT_TOPICS: [EventType; 4] = [
        EventType::P0Alert,
        EventType::AgentApproval,
        EventType::OncallHandoff,
        EventType::ConnectorHealth,
    ];

    /// The snake_case name used on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            EventType::P0Alert => "p0_alert",
            EventType::AgentApproval => "agent_approval",
            EventType::OncallHandoff => "oncall_handoff",
            EventType::ConnectorHealth => "connector_health",
            EventType::ApprovalRequest => "approval_request",
            EventType::DriftAlert => "drift_alert",
            EventType::AgentStatus => "agent_status",
            EventType::Custom(name) => name,
        }
    }
}

impl From<&str> for EventType {
    fn from(name: &str) -> Self {
        match name {
            "p0_alert" => EventType::P0Alert,
            "agent_approval" => EventType::AgentApproval,
            "oncall_handoff" => EventType::OncallHandoff,
            "connector_health" => EventType::ConnectorHealth,
            "approval_request" => EventType::ApprovalRequest,
            "drift_alert" => EventType::DriftAlert,
            "agent_status" => EventType::AgentStatus,
            other => EventType::Custom(other.to_owned()),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.is_empty() {
            return Err(serde::de::Error::custom("event type must not be empty"));
        }
        Ok(EventType::from(name.as_str()))
    }
}

/// Who a notification is for, when a channel fans out to people (Web Push, in-app).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// Everyone in a tenant.
    Tenant {
        /// The tenant.
        tenant_id: String,
    },
    /// One user in a tenant.
    User {
        /// The tenant.
        tenant_id: String,
        /// The user within the tenant.
        user_id: String,
    },
    /// Everyone in a tenant subscribed to a topic.
    Topic {
        /// The tenant.
        tenant_id: String,
        /// The topic (usually an [`EventType`] name).
        topic: String,
    },
}

impl Target {
    /// The tenant every target is scoped to.
    pub fn tenant_id(&self) -> &str {
        match self {
            Target::Tenant { tenant_id }
            | Target::User { tenant_id, .. }
            | Target::Topic { tenant_id, .. } => tenant_id,
        }
    }
}

/// A labelled value shown with a notification ("Host: web-01").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// The label.
    pub label: String,
    /// The value.
    pub value: String,
}

/// A link shown with a notification, such as a deep link to the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The link text.
    pub label: String,
    /// The target URL.
    pub url: url::Url,
}

/// How an interactive button should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStyle {
    /// The channel's neutral style.
    #[default]
    Default,
    /// Emphasised (green/blue), for the expected choice.
    Primary,
    /// Destructive (red), for deny or stop.
    Danger,
}

/// What pressing an interactive button does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum ActionTarget {
    /// Open a URL (for example a signed callback URL); works on every channel.
    Url(url::Url),
    /// Send this value back through the channel's interaction endpoint (Slack, Teams bots).
    Value(String),
}

/// A button offered with a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractiveAction {
    /// The action identifier the interaction handler dispatches on (`approve_action`, …).
    pub action_id: String,
    /// The button text.
    pub label: String,
    /// How the button looks.
    #[serde(default)]
    pub style: ActionStyle,
    /// What the button does.
    pub target: ActionTarget,
}

/// One thing that happened, addressed to humans through one or more channels.
///
/// ```
/// use aisoc_notify_core::{EventType, Notification, Severity};
///
/// let n = Notification::new("acme", EventType::P0Alert, Severity::Critical, "Ransomware on web-01")
///     .with_body("Encryption activity detected on 3 hosts.")
///     .with_fact("Host", "web-01")
///     .with_link("Open case", "https://console.example.com/cases/42".parse().unwrap())
///     .with_dedupe_key("case-42");
/// assert_eq!(n.facts.len(), 1);
/// assert_eq!(n.event_type.as_str(), "p0_alert");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The tenant the event belongs to.
    pub tenant_id: String,
    /// The event type, used by channel filters and routing rules.
    pub event_type: EventType,
    /// How severe it is.
    pub severity: Severity,
    /// One-line summary.
    pub title: String,
    /// Longer plain-text description; adapters escape it for their format.
    #[serde(default)]
    pub body: String,
    /// Key facts, in display order.
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Links, in display order.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Buttons a human can press.
    #[serde(default)]
    pub actions: Vec<InteractiveAction>,
    /// A key that identifies repeats of the same event, for deduplication downstream.
    #[serde(default)]
    pub dedupe_key: Option<String>,
    /// Free-form labels (`pci`, `team:blue`) that routing rules can require.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// When the notification was created (now, when absent from JSON).
    #[serde(default = "Utc::now")]
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// A notification with a title and nothing else, created now.
    pub fn new(
        tenant_id: impl Into<String>,
        event_type: EventType,
        severity: Severity,
        title: impl Into<String>,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            event_type,
            severity,
            title: title.into(),
            body: String::new(),
            facts: Vec::new(),
            links: Vec::new(),
            actions: Vec::new(),
            dedupe_key: None,
            tags: Vec::new(),
            created_at: Utc::now(),
        }
    }

    /// Sets the body text.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Appends a fact.
    pub fn with_fact(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.push(Fact {
            label: label.into(),
            value: value.into(),
        });
        self
    }

    /// Appends a link.
    pub fn with_link(mut self, label: impl Into<String>, url: url::Url) -> Self {
        self.links.push(Link {
            label: label.into(),
            url,
        });
        self
    }

    /// Appends an interactive action.
    pub fn with_action(mut self, action: InteractiveAction) -> Self {
        self.actions.push(action);
        self
    }

    /// Sets the dedupe key.
    pub fn with_dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Adds tags (kept in order, repeats included).
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Sets the creation time.
    pub fn with_created_at(mut self, created_at: DateTime<Utc>) -> Self {
        self.created_at = created_at;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_ordered_and_parse_case_insensitively() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        let err = "urgent".parse::<Severity>().unwrap_err();
        assert!(err.to_string().contains("got 'urgent'"));
    }

    #[test]
    fn event_types_round_trip_through_json() {
        for name in ["p0_alert", "connector_health", "my_custom_event"] {
            let parsed: EventType = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(
                serde_json::to_value(&parsed).unwrap(),
                serde_json::json!(name)
            );
        }
        assert_eq!(EventType::from("drift_alert"), EventType::DriftAlert);
        assert!(serde_json::from_value::<EventType>(serde_json::json!("")).is_err());
    }

    #[test]
    fn notification_round_trips_through_json() {
        let n = Notification::new("t1", EventType::AgentApproval, Severity::High, "Approve?")
            .with_fact("Risk", "82")
            .with_action(InteractiveAction {
                action_id: "approve_action".into(),
                label: "Approve".into(),
                style: ActionStyle::Primary,
                target: ActionTarget::Value("apr-1".into()),
            });
        let json = serde_json::to_string(&n).unwrap();
        let back: Notification = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn target_exposes_its_tenant() {
        let t = Target::User {
            tenant_id: "acme".into(),
            user_id: "u1".into(),
        };
        assert_eq!(t.tenant_id(), "acme");
    }
}
