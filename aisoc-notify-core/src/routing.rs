//! Routing: which channels receive a notification, and delivering to all of them at once.
//!
//! A [`Channel`] is a named [`Notifier`] with the event types it wants (default: all). A
//! [`Rule`] sends notifications that match its conditions (event type, minimum severity,
//! tenant, a custom predicate) to one or more channels. With no rules configured, every enabled
//! channel receives the event types it accepts; with rules, a notification goes to the union of
//! the channels of the rules it matches.
//!
//! [`NotificationRouter::dispatch`] delivers to the selected channels concurrently, each on its
//! own task with a deadline, and reports every channel's outcome. A channel that fails, hangs
//! or panics never blocks or hides the others.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::notification::{EventType, Notification, Severity};
use crate::notifier::{Delivered, DeliveryOutcome, Notifier, NotifyError};

/// The event types a channel or rule accepts. `null`/absent means all; a list means only those.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventFilter(Option<BTreeSet<EventType>>);

impl EventFilter {
    /// Accepts every event type.
    pub fn all() -> Self {
        Self(None)
    }

    /// Accepts only the listed event types (an empty list accepts nothing).
    pub fn only(types: impl IntoIterator<Item = EventType>) -> Self {
        Self(Some(types.into_iter().collect()))
    }

    /// Whether every event type is accepted.
    pub fn is_all(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `event_type` is accepted.
    pub fn accepts(&self, event_type: &EventType) -> bool {
        self.0
            .as_ref()
            .is_none_or(|types| types.contains(event_type))
    }
}

/// A destination: a notifier with an id, a name and the event types it receives.
#[derive(Clone)]
pub struct Channel {
    /// Unique id, referenced by rules and reports.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The event types this channel receives.
    pub events: EventFilter,
    /// Disabled channels receive nothing.
    pub enabled: bool,
    notifier: Arc<dyn Notifier>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("type", &self.notifier.channel_type())
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl Channel {
    /// An enabled channel receiving every event type.
    pub fn new(id: impl Into<String>, notifier: Arc<dyn Notifier>) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id,
            events: EventFilter::all(),
            enabled: true,
            notifier,
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the event types received.
    pub fn with_events(mut self, events: EventFilter) -> Self {
        self.events = events;
        self
    }

    /// Enables or disables the channel.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The channel's notifier.
    pub fn notifier(&self) -> &Arc<dyn Notifier> {
        &self.notifier
    }

    fn accepts(&self, notification: &Notification) -> bool {
        self.enabled && self.events.accepts(&notification.event_type)
    }
}

/// A predicate over notifications, for conditions the built-in ones do not express.
pub type NotificationPredicate = Arc<dyn Fn(&Notification) -> bool + Send + Sync>;

/// Conditions that send matching notifications to channels. Every condition that is set must
/// hold.
#[derive(Clone, Serialize, Deserialize)]
pub struct Rule {
    /// Name, for logs and configuration.
    pub name: String,
    /// Event types matched (default: all).
    #[serde(default)]
    pub event_types: EventFilter,
    /// The lowest severity matched.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// The only tenant matched.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The channels that receive matches.
    pub channels: Vec<String>,
    /// A custom condition (code only; not part of serialized configuration).
    #[serde(skip)]
    pub predicate: Option<NotificationPredicate>,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("event_types", &self.event_types)
            .field("min_severity", &self.min_severity)
            .field("tenant_id", &self.tenant_id)
            .field("channels", &self.channels)
            .field("predicate", &self.predicate.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl Rule {
    /// A rule matching everything, sending to `channels`.
    pub fn new(
        name: impl Into<String>,
        channels: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            event_types: EventFilter::all(),
            min_severity: None,
            tenant_id: None,
            channels: channels.into_iter().map(Into::into).collect(),
            predicate: None,
        }
    }

    /// Matches only these event types.
    pub fn for_events(mut self, types: impl IntoIterator<Item = EventType>) -> Self {
        self.event_types = EventFilter::only(types);
        self
    }

    /// Matches only this severity and above.
    pub fn min_severity(mut self, severity: Severity) -> Self {
        self.min_severity = Some(severity);
        self
    }

    /// Matches only this tenant.
    pub fn for_tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// Adds a custom condition.
    pub fn when(
        mut self,
        predicate: impl Fn(&Notification) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Whether `notification` satisfies every condition.
    pub fn matches(&self, notification: &Notification) -> bool {
        self.event_types.accepts(&notification.event_type)
            && self
                .min_severity
                .is_none_or(|min| notification.severity >= min)
            && self
                .tenant_id
                .as_deref()
                .is_none_or(|tenant| tenant == notification.tenant_id)
            && self
                .predicate
                .as_ref()
                .is_none_or(|predicate| predicate(notification))
    }
}

/// A routing configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// Two channels share an id.
    #[error("channel id '{0}' is used more than once")]
    DuplicateChannel(String),
    /// A rule names a channel that does not exist.
    #[error("rule '{rule}' refers to unknown channel '{channel}'")]
    UnknownChannel {
        /// The rule.
        rule: String,
        /// The missing channel.
        channel: String,
    },
    /// A rule names no channel.
    #[error("rule '{0}' has no channels")]
    RuleWithoutChannels(String),
}

/// The outcome of delivering to one channel.
#[derive(Debug)]
pub struct ChannelOutcome {
    /// The channel id.
    pub channel_id: String,
    /// The channel type (`slack`, `teams`, …).
    pub channel_type: String,
    /// What happened.
    pub result: Result<Delivered, NotifyError>,
}

impl ChannelOutcome {
    /// The outcome as a value for reports.
    pub fn outcome(&self) -> DeliveryOutcome {
        DeliveryOutcome::from(&self.result)
    }
}

/// Every channel's outcome for one notification, in channel order.
#[derive(Debug, Default)]
pub struct DispatchReport {
    /// One entry per selected channel.
    pub outcomes: Vec<ChannelOutcome>,
}

impl DispatchReport {
    /// Whether no channel was selected.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// Whether every selected channel delivered.
    pub fn all_delivered(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }

    /// The channels that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ChannelOutcome> {
        self.outcomes.iter().filter(|o| o.result.is_err())
    }

    /// The outcome for one channel.
    pub fn get(&self, channel_id: &str) -> Option<&ChannelOutcome> {
        self.outcomes.iter().find(|o| o.channel_id == channel_id)
    }
}

/// The default time one channel gets to deliver.
pub const DEFAULT_CHANNEL_DEADLINE: Duration = Duration::from_secs(60);

/// Selects channels for notifications and delivers to them concurrently.
///
/// ```
/// use std::sync::Arc;
/// use aisoc_notify_core::{async_trait, Delivered, EventType, Notification, Notifier, NotifyError, Severity};
/// use aisoc_notify_core::routing::{Channel, NotificationRouter, Rule};
///
/// struct Log(&'static str);
/// #[async_trait]
/// impl Notifier for Log {
///     fn channel_type(&self) -> &str { self.0 }
///     async fn notify(&self, _: &Notification) -> Result<Delivered, NotifyError> {
///         Ok(Delivered::default())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let router = NotificationRouter::builder()
///     .channel(Channel::new("soc-email", Arc::new(Log("email"))))
///     .channel(Channel::new("soc-chat", Arc::new(Log("mattermost"))))
///     .rule(Rule::new("critical to both", ["soc-email", "soc-chat"]).min_severity(Severity::High))
///     .build()?;
///
/// let n = Notification::new("acme", EventType::P0Alert, Severity::Critical, "Ransomware");
/// let report = router.dispatch(&n).await;
/// assert_eq!(report.outcomes.len(), 2);
/// assert!(report.all_delivered());
///
/// let quiet = Notification::new("acme", EventType::AgentStatus, Severity::Info, "Agent idle");
/// assert!(router.dispatch(&quiet).await.is_empty());
/// # Ok::<(), aisoc_notify_core::routing::RoutingError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct NotificationRouter {
    channels: Vec<Channel>,
    rules: Vec<Rule>,
    deadline: Duration,
}

/// Builds a [`NotificationRouter`], checking that rules refer to real channels.
#[derive(Debug, Default)]
pub struct NotificationRouterBuilder {
    channels: Vec<Channel>,
    rules: Vec<Rule>,
    deadline: Option<Duration>,
}

impl NotificationRouterBuilder {
    /// Adds a channel.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channels.push(channel);
        self
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Sets how long one channel may take (default [`DEFAULT_CHANNEL_DEADLINE`]).
    pub fn channel_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Validates and builds the router.
    pub fn build(self) -> Result<NotificationRouter, RoutingError> {
        let mut ids = HashSet::new();
        for channel in &self.channels {
            if !ids.insert(channel.id.as_str()) {
                return Err(RoutingError::DuplicateChannel(channel.id.clone()));
            }
        }
        for rule in &self.rules {
            if rule.channels.is_empty() {
                return Err(RoutingError::RuleWithoutChannels(rule.name.clone()));
            }
            if let Some(missing) = rule.channels.iter().find(|c| !ids.contains(c.as_str())) {
                return Err(RoutingError::UnknownChannel {
                    rule: rule.name.clone(),
                    channel: missing.clone(),
                });
            }
        }
        Ok(NotificationRouter {
            channels: self.channels,
            rules: self.rules,
            deadline: self.deadline.unwrap_or(DEFAULT_CHANNEL_DEADLINE),
        })
    }
}

impl NotificationRouter {
    /// Starts a router configuration.
    pub fn builder() -> NotificationRouterBuilder {
        NotificationRouterBuilder::default()
    }

    /// The configured channels.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The configured rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The channels `notification` goes to, in configuration order.
    pub fn select(&self, notification: &Notification) -> Vec<&Channel> {
        if self.rules.is_empty() {
            return self
                .channels
                .iter()
                .filter(|c| c.accepts(notification))
                .collect();
        }
        let wanted: HashSet<&str> = self
            .rules
            .iter()
            .filter(|rule| rule.matches(notification))
            .flat_map(|rule| rule.channels.iter().map(String::as_str))
            .collect();
        self.channels
            .iter()
            .filter(|c| wanted.contains(c.id.as_str()) && c.accepts(notification))
            .collect()
    }

    /// Delivers `notification` to every selected channel concurrently and reports each outcome.
    ///
    /// Must run inside a tokio runtime with timers enabled.
    pub async fn dispatch(&self, notification: &Notification) -> DispatchReport {
        self.deliver(notification, self.select(notification)).await
    }

    /// Delivers only to the listed channels among those `notification` would select (a retry of
    /// the channels that failed, for example).
    pub async fn dispatch_to(
        &self,
        notification: &Notification,
        channel_ids: &[String],
    ) -> DispatchReport {
        let selected = self
            .select(notification)
            .into_iter()
            .filter(|c| channel_ids.contains(&c.id))
            .collect();
        self.deliver(notification, selected).await
    }

    async fn deliver(
        &self,
        notification: &Notification,
        selected: Vec<&Channel>,
    ) -> DispatchReport {
        let shared = Arc::new(notification.clone());
        let deadline = self.deadline;
        let tasks: Vec<_> = selected
            .iter()
            .map(|channel| {
                let notifier = Arc::clone(&channel.notifier);
                let notification = Arc::clone(&shared);
                tokio::spawn(async move {
                    match tokio::time::timeout(deadline, notifier.notify(&notification)).await {
                        Ok(result) => result,
                        Err(_) => Err(NotifyError::DeadlineExceeded(deadline)),
                    }
                })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for (channel, task) in selected.into_iter().zip(tasks) {
            let result = task.await.unwrap_or_else(|join_error| {
                Err(NotifyError::Internal(if join_error.is_panic() {
                    "notifier panicked".to_owned()
                } else {
                    "delivery task was cancelled".to_owned()
                }))
            });
            match &result {
                Ok(_) => tracing::debug!(channel = %channel.id, "notification delivered"),
                Err(error) => {
                    tracing::warn!(channel = %channel.id, %error, "notification not delivered")
                }
            }
            outcomes.push(ChannelOutcome {
                channel_id: channel.id.clone(),
                channel_type: channel.notifier.channel_type().to_owned(),
                result,
            });
        }
        DispatchReport { outcomes }
    }
}
