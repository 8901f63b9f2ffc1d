//! The newest events the inbox accepted, per tenant: what `/aisoc list`, `status`,
//! `investigate` and `explain` answer from.
//!
//! The gateway has no case store; the inbox's event store (NATS JetStream or the file store) is
//! a log for downstream consumers, not something to query by tenant or id. So the gateway keeps
//! a small index beside it: for each accepted event its id, title, severity, template, OCSF
//! class and receive time, the newest [`DEFAULT_PER_TENANT`] per tenant.
//!
//! | index | when |
//! |---|---|
//! | [`PgRecentEvents`] | `DATABASE_URL` is set: table `aisoc_recent_events`, forced row-level security by tenant, shared by replicas and kept over restarts |
//! | [`MemoryRecentEvents`] | otherwise: in this process only, empty after a restart (the inbox's own store keeps the events) |
//!
//! [`IndexingSink`] feeds it: it wraps the inbox's sink, and only after the sink of record took a
//! batch does it index the batch. The index is best effort: a failure (or a database slower
//! than [`INDEX_TIMEOUT`]) is logged and never fails the request or loses the event, which the
//! sink of record already holds.

mod memory;
mod postgres;

#[cfg(test)]
mod conformance;

use std::sync::Arc;
use std::time::Duration;

use aisoc_inbox::sink::{EventSink, SinkError, SinkEvent};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::notification::Severity;
use chrono::{DateTime, Utc};
use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sqlx::PgPool;

pub use self::memory::{MAX_TENANTS, MAX_UNREAD_BYTES, MemoryRecentEvents};
pub use self::postgres::PgRecentEvents;

/// How many events the index keeps per tenant.
pub const DEFAULT_PER_TENANT: usize = 500;
/// How long the inbox waits for the index before answering without it.
pub const INDEX_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 300;
/// The longest description kept, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The longest id, template or product name kept, in characters.
pub const MAX_LABEL_CHARS: usize = 128;

/// One indexed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEvent {
    /// The tenant.
    pub tenant_id: String,
    /// The inbox's event uid (OCSF `metadata.uid`), the id chat commands take.
    pub event_id: String,
    /// The sink's message id: one entry per message id, as the sink keeps one event.
    pub msg_id: String,
    /// The sender's own id for it (`finding_info.uid`), which commands also accept.
    pub source_uid: Option<String>,
    /// `finding_info.title`, else `message`, else the OCSF class name.
    pub title: String,
    /// `finding_info.desc`, else `message`.
    pub description: Option<String>,
    /// From OCSF `severity_id`: 1 info, 2 low, 3 medium, 4 high, 5 critical and 6 (fatal)
    /// critical; 0 (unknown), 99 (other) and anything else count as info.
    pub severity: Severity,
    /// The inbox template that mapped it.
    pub template_id: String,
    /// `metadata.product.name`, the sending product.
    pub product: Option<String>,
    /// OCSF `class_uid`.
    pub class_uid: Option<i64>,
    /// OCSF `class_name`.
    pub class_name: Option<String>,
    /// When the inbox received it (`metadata.logged_time`).
    pub received_at: DateTime<Utc>,
}

/// Why the index failed. Never carries connection strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecentEventsError {
    /// The backend could not be reached or refused the statement.
    #[error("the recent-events index is unavailable: {0}")]
    Unavailable(String),
    /// An accepted event is not an OCSF JSON object.
    #[error("event {msg_id} is not an OCSF JSON object: {reason}")]
    NotOcsf {
        /// The sink's message id.
        msg_id: String,
        /// What the parser said.
        reason: String,
    },
}

/// The newest events per tenant, bounded; see the module docs.
#[async_trait]
pub trait RecentEventIndex: Send + Sync {
    /// Indexes `events`, keeping one entry per (tenant, message id) and at most
    /// [`per_tenant`](RecentEventIndex::per_tenant) per tenant, newest kept.
    async fn record(&self, events: &[RecentEvent]) -> Result<(), RecentEventsError>;

    /// Indexes events the sink of record took, `now` standing in for a missing receive time.
    ///
    /// The default reads each into a [`RecentEvent`] (an event that is not an OCSF object is
    /// logged and skipped) and [`record`](RecentEventIndex::record)s them. An index may instead
    /// keep the payloads and read them when asked: the inbox indexes every event it accepts,
    /// under load each stays among a tenant's newest for milliseconds, and chat asks rarely.
    async fn record_accepted(
        &self,
        events: &[SinkEvent],
        now: DateTime<Utc>,
    ) -> Result<(), RecentEventsError> {
        let mut indexed = Vec::with_capacity(events.len());
        for event in events {
            match RecentEvent::from_sink_event(event, now) {
                Ok(event) => indexed.push(event),
                Err(error) => tracing::warn!(%error, "event not indexed for ChatOps"),
            }
        }
        self.record(&indexed).await
    }

    /// `tenant_id`'s events received at or after `since`, newest first.
    async fn list(
        &self,
        tenant_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecentEvent>, RecentEventsError>;

    /// `tenant_id`'s newest event whose event id or source uid is `id`.
    async fn find(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<RecentEvent>, RecentEventsError>;

    /// How many events it keeps per tenant.
    fn per_tenant(&self) -> usize;

    /// Where it keeps them, for the logs.
    fn describe(&self) -> String;
}

/// The index for this gateway: PostgreSQL when `pool` is given, else in memory.
pub async fn open_index(pool: Option<PgPool>) -> Result<Arc<dyn RecentEventIndex>, String> {
    let index: Arc<dyn RecentEventIndex> = match pool {
        Some(pool) => Arc::new(PgRecentEvents::open(pool, DEFAULT_PER_TENANT).await?),
        None => Arc::new(MemoryRecentEvents::new(DEFAULT_PER_TENANT)),
    };
    tracing::info!(index = %index.describe(), "recent events for ChatOps");
    Ok(index)
}

/// The OCSF fields the index reads, borrowed from the payload; everything else is skipped
/// unparsed (the index reads every event the inbox accepts, so nothing is built that it does
/// not keep).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Ocsf<'a> {
    #[serde(borrow)]
    class_uid: Field<'a>,
    #[serde(borrow)]
    class_name: Field<'a>,
    #[serde(borrow)]
    severity_id: Field<'a>,
    #[serde(borrow)]
    message: Field<'a>,
    #[serde(borrow)]
    finding_info: Option<FindingInfo<'a>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FindingInfo<'a> {
    #[serde(borrow)]
    title: Field<'a>,
    #[serde(borrow)]
    desc: Field<'a>,
    #[serde(borrow)]
    uid: Field<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata<'a> {
    #[serde(borrow)]
    uid: Field<'a>,
    #[serde(borrow)]
    logged_time: Field<'a>,
    #[serde(borrow)]
    product: Option<Product<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Product<'a> {
    #[serde(borrow)]
    name: Field<'a>,
}

/// One field as the index reads it: text when it is a JSON string, a number when it is an
/// integer, and anything else (or nothing) skipped without being built.
#[derive(Debug, Default, PartialEq)]
enum Field<'a> {
    #[default]
    Other,
    Text(Cow<'a, str>),
    Int(i64),
}

impl Field<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Field::Text(text) => Some(text),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Field::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

struct FieldVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(text)))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Field::Int(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(n).map_or(Field::Other, Field::Int))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        while items.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        while entries.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

/// The first `max` characters of `text`, trimmed; `None` when empty or not text.
fn clipped(field: &Field<'_>, max: usize) -> Option<String> {
    let text = field.text()?.trim();
    if text.is_empty() {
        None
    } else if text.len() <= max {
        Some(text.to_owned()) // no more characters than bytes
    } else {
        Some(text.chars().take(max).collect())
    }
}

/// An accepted event's parts, as the sink took them or as an index kept them.
#[derive(Debug, Clone, Copy)]
struct Accepted<'a> {
    tenant_id: &'a str,
    template_id: &'a str,
    msg_id: &'a str,
    payload: &'a [u8],
}

/// Whether `payload` is a JSON object: only an object is an event (serde would also fill the
/// index's struct from an array).
fn is_object(payload: &[u8]) -> bool {
    payload.trim_ascii_start().first() == Some(&b'{')
}

/// The severity of an OCSF `severity_id` (see [`RecentEvent::severity`]).
pub fn severity_of(severity_id: Option<i64>) -> Severity {
    match severity_id {
        Some(2) => Severity::Low,
        Some(3) => Severity::Medium,
        Some(4) => Severity::High,
        Some(5 | 6) => Severity::Critical,
        _ => Severity::Info,
    }
}

impl RecentEvent {
    /// Reads an accepted event; `now` stands in for a missing receive time.
    pub fn from_sink_event(
        event: &SinkEvent,
        now: DateTime<Utc>,
    ) -> Result<Self, RecentEventsError> {
        Self::from_payload(
            Accepted {
                tenant_id: &event.tenant_id,
                template_id: &event.template_id,
                msg_id: &event.msg_id,
                payload: &event.payload,
            },
            now,
        )
    }

    /// Reads an accepted event from its parts; `now` stands in for a missing receive time.
    fn from_payload(event: Accepted<'_>, now: DateTime<Utc>) -> Result<Self, RecentEventsError> {
        let not_ocsf = |reason: String| RecentEventsError::NotOcsf {
            msg_id: event.msg_id.to_owned(),
            reason,
        };
        if !is_object(event.payload) {
            return Err(not_ocsf("not a JSON object".into()));
        }
        let ocsf: Ocsf<'_> =
            serde_json::from_slice(event.payload).map_err(|e| not_ocsf(e.to_string()))?;
        let none = Field::Other;
        let finding = ocsf.finding_info.as_ref();
        let metadata = ocsf.metadata.as_ref();
        let message = clipped(&ocsf.message, MAX_DESCRIPTION_CHARS);
        let class_name = clipped(&ocsf.class_name, MAX_LABEL_CHARS);
        let title = clipped(finding.map_or(&none, |f| &f.title), MAX_TITLE_CHARS)
            .or_else(|| {
                message
                    .as_ref()
                    .map(|m| m.chars().take(MAX_TITLE_CHARS).collect())
            })
            .or_else(|| class_name.clone())
            .unwrap_or_else(|| "(untitled event)".to_owned());
        let received_at = metadata
            .and_then(|m| m.logged_time.int())
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or(now);
        Ok(Self {
            tenant_id: event.tenant_id.to_owned(),
            event_id: clipped(metadata.map_or(&none, |m| &m.uid), MAX_LABEL_CHARS)
                .unwrap_or_else(|| event.msg_id.chars().take(MAX_LABEL_CHARS).collect()),
            msg_id: event.msg_id.to_owned(),
            source_uid: clipped(finding.map_or(&none, |f| &f.uid), MAX_LABEL_CHARS),
            title,
            description: clipped(finding.map_or(&none, |f| &f.desc), MAX_DESCRIPTION_CHARS)
                .or(message),
            severity: severity_of(ocsf.severity_id.int()),
            template_id: event.template_id.chars().take(MAX_LABEL_CHARS).collect(),
            product: clipped(
                metadata
                    .and_then(|m| m.product.as_ref())
                    .map_or(&none, |p| &p.name),
                MAX_LABEL_CHARS,
            ),
            class_uid: ocsf.class_uid.int(),
            class_name,
            received_at,
        })
    }
}

/// The inbox's sink of record, then the index (see the module docs).
pub struct IndexingSink {
    store: Arc<dyn EventSink>,
    index: Arc<dyn RecentEventIndex>,
}

impl std::fmt::Debug for IndexingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexingSink")
            .field("index", &self.index.describe())
            .finish_non_exhaustive()
    }
}

impl IndexingSink {
    /// Events go to `store`; those it took are then indexed in `index`.
    pub fn new(store: Arc<dyn EventSink>, index: Arc<dyn RecentEventIndex>) -> Self {
        Self { store, index }
    }
}

#[async_trait]
impl EventSink for IndexingSink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        self.store.publish(events).await?;
        let now = Utc::now();
        // The index keeps a tenant's newest `per_tenant` events: of a one-tenant batch (one
        // request's events), only its tail can stay, so only the tail is read and written.
        let one_tenant = events
            .first()
            .is_some_and(|first| events.iter().all(|e| e.tenant_id == first.tenant_id));
        let kept = if one_tenant {
            &events[events.len().saturating_sub(self.index.per_tenant())..]
        } else {
            events
        };
        match tokio::time::timeout(INDEX_TIMEOUT, self.index.record_accepted(kept, now)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "events stored but not indexed for ChatOps"),
            Err(_) => tracing::warn!(
                timeout_ms = INDEX_TIMEOUT.as_millis() as u64,
                "events stored but the ChatOps index did not answer in time"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aisoc_inbox::sink::MemorySink;
    use serde_json::json;

    use super::*;

    fn sink_event(msg_id: &str, payload: serde_json::Value) -> SinkEvent {
        SinkEvent {
            tenant_id: "acme".into(),
            template_id: "generic-json".into(),
            msg_id: msg_id.into(),
            dedupe: true,
            payload: payload.to_string().into(),
        }
    }

    #[test]
    fn fields_of_another_type_are_skipped_and_escaped_text_is_read() {
        let event = sink_event(
            "m-2",
            json!({
                "class_uid": "2004", "class_name": {"nested": ["x"]}, "severity_id": 4.5,
                "message": "line one\nline \"two\"",
                "finding_info": {"title": 42, "desc": null, "uid": ["a"]},
                "metadata": {"uid": 7, "logged_time": "yesterday", "product": {"name": 3}},
                "unmapped": {"deep": [{"deeper": [1, 2, {"x": null}]}]},
            }),
        );
        let now = Utc::now();
        let entry = RecentEvent::from_sink_event(&event, now).unwrap();
        assert_eq!(
            entry.title, "line one\nline \"two\"",
            "the message stands in"
        );
        assert_eq!(entry.description.as_deref(), Some("line one\nline \"two\""));
        assert_eq!(entry.class_uid, None);
        assert_eq!(entry.class_name, None);
        assert_eq!(entry.severity, Severity::Info);
        assert_eq!(entry.source_uid, None);
        assert_eq!(entry.event_id, "m-2", "the message id stands in");
        assert_eq!(entry.product, None);
        assert_eq!(entry.received_at, now);
    }

    #[test]
    fn an_ocsf_finding_is_read_into_an_entry() {
        let event = sink_event(
            "m-1",
            json!({
                "class_uid": 2004, "class_name": "Detection Finding", "severity_id": 6,
                "finding_info": {"title": "  Ransomware  ", "desc": "on web-01", "uid": "a-1"},
                "metadata": {"uid": "0f", "logged_time": 1_790_000_000_000_i64,
                             "product": {"name": "Webhook"}},
            }),
        );
        let entry = RecentEvent::from_sink_event(&event, Utc::now()).unwrap();
        assert_eq!(entry.event_id, "0f");
        assert_eq!(entry.source_uid.as_deref(), Some("a-1"));
        assert_eq!(entry.title, "Ransomware");
        assert_eq!(entry.description.as_deref(), Some("on web-01"));
        assert_eq!(entry.severity, Severity::Critical);
        assert_eq!(entry.class_uid, Some(2004));
        assert_eq!(entry.product.as_deref(), Some("Webhook"));
        assert_eq!(entry.received_at.timestamp(), 1_790_000_000);
    }

    #[test]
    fn odd_events_still_get_a_title_an_id_and_a_severity() {
        let now = Utc::now();
        let bare = RecentEvent::from_sink_event(
            &sink_event(
                "m-2",
                json!({"message": "disk full", "severity_id": "4",
                                       "finding_info": {"title": 7}}),
            ),
            now,
        )
        .unwrap();
        assert_eq!(bare.title, "disk full");
        assert_eq!(bare.event_id, "m-2");
        assert_eq!(bare.severity, Severity::Info);
        assert_eq!(bare.received_at, now);
        let long = "x".repeat(MAX_TITLE_CHARS + 50);
        let clipped = RecentEvent::from_sink_event(
            &sink_event("m-3", json!({"finding_info": {"title": long}})),
            now,
        )
        .unwrap();
        assert_eq!(clipped.title.chars().count(), MAX_TITLE_CHARS);
        assert!(matches!(
            RecentEvent::from_sink_event(&sink_event("m-4", json!([1])), now),
            Err(RecentEventsError::NotOcsf { .. })
        ));
    }

    /// An index that always fails.
    struct Broken;

    #[async_trait]
    impl RecentEventIndex for Broken {
        async fn record(&self, _: &[RecentEvent]) -> Result<(), RecentEventsError> {
            Err(RecentEventsError::Unavailable("down".into()))
        }
        async fn list(
            &self,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<Vec<RecentEvent>, RecentEventsError> {
            Err(RecentEventsError::Unavailable("down".into()))
        }
        async fn find(&self, _: &str, _: &str) -> Result<Option<RecentEvent>, RecentEventsError> {
            Err(RecentEventsError::Unavailable("down".into()))
        }
        fn per_tenant(&self) -> usize {
            1
        }
        fn describe(&self) -> String {
            "broken".into()
        }
    }

    #[tokio::test]
    async fn a_failing_index_neither_fails_nor_loses_the_event() {
        let store = Arc::new(MemorySink::new());
        let sink = IndexingSink::new(store.clone(), Arc::new(Broken));
        let events = [
            sink_event("m-1", json!({"finding_info": {"title": "kept"}})),
            sink_event("m-2", json!("not an object")),
        ];
        sink.publish(&events).await.unwrap();
        assert_eq!(store.events(), events);
    }

    #[tokio::test]
    async fn what_the_store_took_is_indexed() {
        let index = Arc::new(MemoryRecentEvents::new(10));
        let sink = IndexingSink::new(Arc::new(MemorySink::new()), index.clone());
        sink.publish(&[sink_event("m-1", json!({"finding_info": {"uid": "a-1"}}))])
            .await
            .unwrap();
        let found = index.find("acme", "a-1").await.unwrap().unwrap();
        assert_eq!(found.msg_id, "m-1");
    }
}
