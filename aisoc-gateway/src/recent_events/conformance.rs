//! The contract every recent-events index keeps, run against the memory and the PostgreSQL one.

use aisoc_inbox::sink::SinkEvent;
use aisoc_notify_core::notification::Severity;
use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::json;

use super::{RecentEvent, RecentEventIndex};

/// The per-tenant bound the contract's indexes are built with.
pub(crate) const PER_TENANT: usize = 3;

/// A fixed instant plus `seconds`.
pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
}

/// An event of `tenant_id` with message id `msg_id` (also its event id) received at `at(seconds)`.
pub(crate) fn event(tenant_id: &str, msg_id: &str, seconds: i64) -> RecentEvent {
    RecentEvent {
        tenant_id: tenant_id.into(),
        event_id: format!("evt-{msg_id}"),
        msg_id: msg_id.into(),
        source_uid: Some(format!("src-{msg_id}")),
        title: format!("Event {msg_id}"),
        description: Some("what happened".into()),
        severity: Severity::High,
        template_id: "generic-json".into(),
        product: Some("Webhook".into()),
        class_uid: Some(2004),
        class_name: Some("Detection Finding".into()),
        received_at: at(seconds),
    }
}

/// What the inbox's sink takes for `event`: its OCSF JSON, which reads back as `event`.
pub(crate) fn accepted(event: &RecentEvent) -> SinkEvent {
    let severity_id = match event.severity {
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
        _ => 1,
    };
    let payload = json!({
        "class_uid": event.class_uid,
        "class_name": event.class_name,
        "severity_id": severity_id,
        "finding_info": {"title": event.title, "desc": event.description, "uid": event.source_uid},
        "metadata": {
            "uid": event.event_id,
            "logged_time": event.received_at.timestamp_millis(),
            "product": {"name": event.product},
        },
    });
    SinkEvent {
        tenant_id: event.tenant_id.clone(),
        template_id: event.template_id.clone(),
        msg_id: event.msg_id.clone(),
        dedupe: true,
        payload: payload.to_string().into(),
    }
}

fn ids(events: &[RecentEvent]) -> Vec<&str> {
    events.iter().map(|e| e.msg_id.as_str()).collect()
}

/// Newest first, trimmed to the bound, one entry per message id, found by either id, and never
/// across tenants.
pub(crate) async fn newest_kept_once_per_tenant(index: &dyn RecentEventIndex) {
    assert_eq!(index.per_tenant(), PER_TENANT);
    index
        .record(&[event("acme", "a1", 1), event("acme", "a2", 2)])
        .await
        .unwrap();
    index.record(&[event("globex", "g1", 3)]).await.unwrap();
    // A repeated message id (a sender's retry) is kept once, as it was first indexed.
    let mut retried = event("acme", "a2", 4);
    retried.title = "Retried".into();
    index
        .record(&[retried, event("acme", "a3", 5)])
        .await
        .unwrap();
    let acme = index.list("acme", at(0)).await.unwrap();
    assert_eq!(ids(&acme), ["a3", "a2", "a1"]);
    assert_eq!(acme[1].title, "Event a2");
    assert_eq!(acme[0], event("acme", "a3", 5), "every field round-trips");

    // Over the bound, the oldest go.
    index
        .record(&[event("acme", "a4", 6), event("acme", "a5", 7)])
        .await
        .unwrap();
    assert_eq!(
        ids(&index.list("acme", at(0)).await.unwrap()),
        ["a5", "a4", "a3"]
    );
    assert_eq!(ids(&index.list("acme", at(6)).await.unwrap()), ["a5", "a4"]);
    assert!(index.find("acme", "evt-a1").await.unwrap().is_none());

    // Found by event id or by the sender's id; another tenant's ids are unknown here.
    let found = index.find("acme", "evt-a4").await.unwrap().unwrap();
    assert_eq!(found.msg_id, "a4");
    let found = index.find("acme", "src-a5").await.unwrap().unwrap();
    assert_eq!(found.msg_id, "a5");
    assert!(index.find("acme", "evt-g1").await.unwrap().is_none());
    assert!(index.find("acme", "src-g1").await.unwrap().is_none());
    assert_eq!(ids(&index.list("globex", at(0)).await.unwrap()), ["g1"]);
    assert!(index.list("initech", at(0)).await.unwrap().is_empty());

    // An empty batch is fine.
    index.record(&[]).await.unwrap();
}

/// Events indexed as the sink took them read back as they were written, newest first, once
/// per message id, per tenant.
pub(crate) async fn accepted_events_read_back(index: &dyn RecentEventIndex) {
    let (u1, u2) = (event("umbrella", "u1", 1), event("umbrella", "u2", 2));
    let h1 = event("hooli", "h1", 3);
    let batch = [accepted(&u1), accepted(&u2), accepted(&h1)];
    index.record_accepted(&batch, at(100)).await.unwrap();
    let mut retried = event("umbrella", "u2", 4);
    retried.title = "Retried".into();
    index
        .record_accepted(&[accepted(&retried)], at(100))
        .await
        .unwrap();
    assert_eq!(
        index.list("umbrella", at(0)).await.unwrap(),
        [u2.clone(), u1]
    );
    assert_eq!(
        index.find("umbrella", "src-u2").await.unwrap(),
        Some(u2.clone())
    );
    assert_eq!(index.list("umbrella", at(2)).await.unwrap(), [u2]);
    assert_eq!(index.find("umbrella", "evt-h1").await.unwrap(), None);
    assert_eq!(index.find("hooli", "evt-h1").await.unwrap(), Some(h1));
}
