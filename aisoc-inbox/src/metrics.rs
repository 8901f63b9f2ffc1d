//! The inbox's metrics: one constant per name, used both where the metric is emitted and in
//! [`describe_metrics`], so the name and its `# HELP` text cannot drift apart.
//!
//! Metrics go through the `metrics` facade, so the host's exporter serves them. Without a
//! description the Prometheus exporter prints no `# HELP` line; a host calls
//! [`describe_metrics`] once, right after installing its recorder (the components that keep a
//! bounded structure also describe it when they are built, for hosts that do not).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use ::metrics::Counter;

/// Counter `{route, template, outcome}`: inbox requests, by how they ended.
pub const REQUESTS: &str = "aisoc_ingest_inbox_requests_total";
/// Counter `{template}`: events accepted.
pub const EVENTS: &str = "aisoc_ingest_inbox_events_total";
/// Gauge: inbox tokens in this node's cache.
pub const TOKEN_CACHE_SIZE: &str = "aisoc_ingest_inbox_token_cache_size";
/// Gauge: tenants the in-memory rate limiter tracks.
pub const RATE_LIMIT_TENANTS: &str = "aisoc_ingest_inbox_rate_limit_tenants";
/// Counter: requests refused because the in-memory rate limiter tracks all the tenants it may.
pub const RATE_LIMIT_TENANTS_REFUSED: &str = "aisoc_ingest_inbox_rate_limit_tenants_refused_total";
/// Gauge, bytes: memory reserved by requests in flight.
pub const INFLIGHT_BYTES: &str = "aisoc_ingest_inbox_inflight_bytes";
/// Gauge: idempotency keys the in-memory store holds.
pub const IDEMPOTENCY_KEYS: &str = "aisoc_ingest_inbox_idempotency_keys";
/// Counter: idempotency keys evicted early because the in-memory store was full.
pub const IDEMPOTENCY_EVICTED: &str = "aisoc_ingest_inbox_idempotency_evicted_total";
/// Counter `{outcome}`: Amazon SNS subscription confirmations, `confirmed` or `failed`.
pub const SNS_CONFIRMATIONS: &str = "aisoc_inbox_sns_confirmations_total";
/// Gauge, bytes: the size of the local event store's segments.
pub const STORE_BYTES: &str = "aisoc_ingest_store_bytes";
/// Counter: appends the local event store refused because it was at its size cap.
pub const STORE_FULL: &str = "aisoc_ingest_store_full_total";
/// Counter: fsyncs of the local event store (one per batch of appends).
pub const STORE_FSYNCS: &str = "aisoc_ingest_store_fsyncs_total";
/// Counter: events written to the local event store.
pub const STORE_EVENTS: &str = "aisoc_ingest_store_events_total";

/// Every metric the inbox emits.
pub const ALL: [&str; 13] = [
    REQUESTS,
    EVENTS,
    TOKEN_CACHE_SIZE,
    RATE_LIMIT_TENANTS,
    RATE_LIMIT_TENANTS_REFUSED,
    INFLIGHT_BYTES,
    IDEMPOTENCY_KEYS,
    IDEMPOTENCY_EVICTED,
    SNS_CONFIRMATIONS,
    STORE_BYTES,
    STORE_FULL,
    STORE_FSYNCS,
    STORE_EVENTS,
];

/// Describes every inbox metric to the installed recorder, so each has `# HELP` (and a unit
/// where one applies). Call it once after installing the recorder; calling it again is harmless.
pub fn describe_metrics() {
    use ::metrics::{Unit, describe_counter, describe_gauge};

    describe_counter!(
        REQUESTS,
        "Inbox requests, by route, template and outcome (ok, duplicate, or the reason refused)"
    );
    describe_counter!(EVENTS, "Events the inbox accepted, by template");
    describe_gauge!(
        TOKEN_CACHE_SIZE,
        "Inbox tokens held in this node's token cache"
    );
    describe_gauge!(
        RATE_LIMIT_TENANTS,
        "Tenants the in-memory inbox rate limiter tracks (those that sent in about the last minute)"
    );
    describe_counter!(
        RATE_LIMIT_TENANTS_REFUSED,
        "Inbox requests refused because the in-memory rate limiter tracks as many tenants as it may"
    );
    describe_gauge!(
        INFLIGHT_BYTES,
        Unit::Bytes,
        "Bytes reserved by inbox requests being read, parsed or published"
    );
    describe_gauge!(
        IDEMPOTENCY_KEYS,
        "Idempotency keys the in-memory store holds (claimed or done)"
    );
    describe_counter!(
        IDEMPOTENCY_EVICTED,
        "Idempotency keys the in-memory store evicted before their time because it was full"
    );
    describe_counter!(
        SNS_CONFIRMATIONS,
        "Amazon SNS subscription confirmations, by outcome (confirmed or failed)"
    );
    describe_gauge!(
        STORE_BYTES,
        Unit::Bytes,
        "Bytes the local event store's segments take on disk"
    );
    describe_counter!(
        STORE_FULL,
        "Appends the local event store refused because it was at its size cap"
    );
    describe_counter!(
        STORE_FSYNCS,
        "Fsyncs of the local event store, one per batch of appended events"
    );
    describe_counter!(STORE_EVENTS, "Events written to the local event store");
}

/// The handles of [`REQUESTS`] and [`EVENTS`], kept per template once the recorder has handed
/// them out: every request counts itself, and `counter!` with a template label builds and hashes
/// its key (cloning the template's id) each time it is called.
///
/// A handle is taken on first use, so a recorder installed before the first request sees every
/// count, as with the macros. Templates are those registered with the inbox, and routes and
/// outcomes are fixed sets, so the map stays small.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
    templates: RwLock<HashMap<String, Arc<TemplateCounters>>>,
}

#[derive(Debug)]
struct TemplateCounters {
    events: Counter,
    requests: RwLock<HashMap<(&'static str, &'static str), Counter>>,
}

impl RequestCounters {
    /// Counts one request on `route` for `template` that ended with `outcome`, and the events
    /// it accepted.
    pub(crate) fn record(
        &self,
        route: &'static str,
        template: &str,
        outcome: &'static str,
        events: u64,
    ) {
        let counters = cached(&self.templates, template, || {
            Arc::new(TemplateCounters {
                events: ::metrics::counter!(EVENTS, "template" => template.to_owned()),
                requests: RwLock::default(),
            })
        });
        let requests = cached(&counters.requests, &(route, outcome), || {
            ::metrics::counter!(
                REQUESTS,
                "route" => route,
                "template" => template.to_owned(),
                "outcome" => outcome,
            )
        });
        requests.increment(1);
        if events > 0 {
            counters.events.increment(events);
        }
    }
}

/// `map`'s value for `key`, made by `make` and kept on the first call: a read lock after that.
fn cached<K, Q, V>(map: &RwLock<HashMap<K, V>>, key: &Q, make: impl FnOnce() -> V) -> V
where
    K: Borrow<Q> + Hash + Eq,
    Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    V: Clone,
{
    if let Some(known) = map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
        return known.clone();
    }
    let made = make();
    map.write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key.to_owned())
        .or_insert(made)
        .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_declared_metric_is_listed_and_described() {
        aisoc_notify_core::conformance::metrics::assert_every_metric_described(
            include_str!("metrics.rs"),
            &super::ALL,
            super::describe_metrics,
        );
    }
}
