//! Router fan-out with `mockall` mocks of `Notifier`, as a host's tests would write them.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::routing::{Channel, EventFilter, NotificationRouter, RoutingError, Rule};
use aisoc_notify_core::{
    Delivered, DeliveryOutcome, EventType, Notification, Notifier, NotifyError, RetryClass,
    Severity, async_trait,
};
use mockall::mock;

mock! {
    pub Notifier {}

    #[async_trait]
    impl Notifier for Notifier {
        fn channel_type(&self) -> &str;
        async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError>;
    }
}

fn delivering(channel_type: &'static str, times: usize) -> Arc<dyn Notifier> {
    let mut mock = MockNotifier::new();
    mock.expect_channel_type()
        .return_const(channel_type.to_owned());
    mock.expect_notify()
        .times(times)
        .returning(|_| Ok(Delivered::with_receipt("ts-1").attempts(1)));
    Arc::new(mock)
}

fn failing(channel_type: &'static str) -> Arc<dyn Notifier> {
    let mut mock = MockNotifier::new();
    mock.expect_channel_type()
        .return_const(channel_type.to_owned());
    mock.expect_notify().times(1).returning(|_| {
        Err(NotifyError::Rejected {
            service: "slack",
            code: "channel_not_found".into(),
            message: "the channel does not exist".into(),
        })
    });
    Arc::new(mock)
}

fn alert(severity: Severity) -> Notification {
    Notification::new("acme", EventType::P0Alert, severity, "Ransomware on web-01")
}

#[tokio::test]
async fn one_failing_channel_does_not_stop_the_others() {
    let router = NotificationRouter::builder()
        .channel(Channel::new("email", delivering("email", 1)))
        .channel(Channel::new("slack", failing("slack")))
        .channel(Channel::new("mattermost", delivering("mattermost", 1)))
        .build()
        .unwrap();

    let report = router.dispatch(&alert(Severity::High)).await;
    assert_eq!(report.outcomes.len(), 3);
    assert!(!report.all_delivered());
    let ids: Vec<&str> = report
        .outcomes
        .iter()
        .map(|o| o.channel_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["email", "slack", "mattermost"],
        "outcomes keep channel order"
    );
    assert_eq!(report.get("email").unwrap().outcome().label(), "delivered");
    assert_eq!(
        report.get("mattermost").unwrap().outcome().label(),
        "delivered"
    );
    let failure = report.get("slack").unwrap();
    assert_eq!(failure.channel_type, "slack");
    assert!(
        matches!(failure.outcome(), DeliveryOutcome::Failed { reason, class: RetryClass::NonRetryable } if reason.contains("channel_not_found"))
    );
    assert_eq!(report.failures().count(), 1);
}

#[tokio::test]
async fn a_hanging_or_panicking_channel_is_reported_and_the_rest_deliver() {
    struct Hangs;
    #[async_trait]
    impl Notifier for Hangs {
        fn channel_type(&self) -> &str {
            "hangs"
        }
        async fn notify(&self, _: &Notification) -> Result<Delivered, NotifyError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Delivered::default())
        }
    }
    struct Panics;
    #[async_trait]
    impl Notifier for Panics {
        fn channel_type(&self) -> &str {
            "panics"
        }
        async fn notify(&self, _: &Notification) -> Result<Delivered, NotifyError> {
            panic!("bug in a notifier")
        }
    }

    let router = NotificationRouter::builder()
        .channel(Channel::new("hangs", Arc::new(Hangs)))
        .channel(Channel::new("panics", Arc::new(Panics)))
        .channel(Channel::new("ok", delivering("webhook", 1)))
        .channel_deadline(Duration::from_millis(200))
        .build()
        .unwrap();
    let report = router.dispatch(&alert(Severity::Critical)).await;
    assert!(matches!(
        report.get("hangs").unwrap().result,
        Err(NotifyError::DeadlineExceeded(_))
    ));
    assert!(
        report
            .get("hangs")
            .unwrap()
            .result
            .as_ref()
            .unwrap_err()
            .is_retryable()
    );
    assert!(matches!(
        report.get("panics").unwrap().result,
        Err(NotifyError::Internal(_))
    ));
    assert!(report.get("ok").unwrap().result.is_ok());
}

#[tokio::test]
async fn rules_select_channels_by_event_type_severity_and_tenant() {
    let router = NotificationRouter::builder()
        .channel(Channel::new("pager", delivering("webhook", 1)))
        .channel(Channel::new("email", delivering("email", 2)))
        .channel(Channel::new("acme-chat", delivering("slack", 1)))
        .rule(Rule::new("critical pages", ["pager", "email"]).min_severity(Severity::Critical))
        .rule(Rule::new("drift by mail", ["email"]).for_events([EventType::DriftAlert]))
        .rule(
            Rule::new("acme chat", ["acme-chat"])
                .for_tenant("acme")
                .when(|n| n.title.contains("web")),
        )
        .build()
        .unwrap();

    // Critical p0 for acme mentioning web: pager + email + acme-chat.
    let report = router.dispatch(&alert(Severity::Critical)).await;
    let ids: Vec<&str> = report
        .outcomes
        .iter()
        .map(|o| o.channel_id.as_str())
        .collect();
    assert_eq!(ids, ["pager", "email", "acme-chat"]);
    assert!(report.all_delivered());

    // A low drift alert for another tenant: email only.
    let drift = Notification::new(
        "globex",
        EventType::DriftAlert,
        Severity::Low,
        "Baseline drift",
    );
    let ids: Vec<String> = router
        .dispatch(&drift)
        .await
        .outcomes
        .into_iter()
        .map(|o| o.channel_id)
        .collect();
    assert_eq!(ids, ["email"]);

    // Nothing matches: nothing is sent (mock expectations enforce the call counts).
    let quiet = Notification::new("globex", EventType::AgentStatus, Severity::Info, "idle");
    assert!(router.dispatch(&quiet).await.is_empty());
}

#[tokio::test]
async fn without_rules_channel_filters_and_enabled_flags_decide() {
    let untouched = {
        let mut mock = MockNotifier::new();
        mock.expect_channel_type().return_const("slack".to_owned());
        mock.expect_notify().never();
        Arc::new(mock)
    };
    let router = NotificationRouter::builder()
        .channel(Channel::new("all", delivering("teams", 1)))
        .channel(
            Channel::new("health-only", untouched.clone())
                .with_events(EventFilter::only([EventType::ConnectorHealth])),
        )
        .channel(Channel::new("disabled", untouched).with_enabled(false))
        .build()
        .unwrap();
    let report = router.dispatch(&alert(Severity::Medium)).await;
    assert_eq!(report.outcomes.len(), 1);
    assert_eq!(report.outcomes[0].channel_id, "all");
}

#[test]
fn invalid_configurations_are_refused_when_built() {
    let err = NotificationRouter::builder()
        .channel(Channel::new("a", delivering("x", 0)))
        .channel(Channel::new("a", delivering("x", 0)))
        .build()
        .unwrap_err();
    assert_eq!(err, RoutingError::DuplicateChannel("a".into()));

    let err = NotificationRouter::builder()
        .channel(Channel::new("a", delivering("x", 0)))
        .rule(Rule::new("r", ["b"]))
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "rule 'r' refers to unknown channel 'b'");

    let err = NotificationRouter::builder()
        .rule(Rule::new("r", Vec::<String>::new()))
        .build()
        .unwrap_err();
    assert_eq!(err, RoutingError::RuleWithoutChannels("r".into()));
}

#[test]
fn rules_deserialize_from_configuration() {
    let rule: Rule = serde_json::from_value(serde_json::json!({
        "name": "critical",
        "event_types": ["p0_alert", "connector_health"],
        "min_severity": "high",
        "channels": ["email", "mattermost"]
    }))
    .unwrap();
    assert!(rule.matches(&alert(Severity::Critical)));
    assert!(!rule.matches(&alert(Severity::Medium)));
    assert!(!rule.matches(&Notification::new(
        "acme",
        EventType::DriftAlert,
        Severity::Critical,
        "x"
    )));
}
