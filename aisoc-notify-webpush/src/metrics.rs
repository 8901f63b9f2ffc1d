//! The push subscription store's metrics: one constant per name, used both where the metric is
//! emitted and in [`describe_metrics`], so the name and its `# HELP` text cannot drift apart.
//!
//! Without a description the Prometheus exporter prints no `# HELP` line; a host calls
//! [`describe_metrics`] once, right after installing its recorder (a
//! [`MemorySubscriptionStore`](crate::store::MemorySubscriptionStore) also describes them when
//! it is built).

/// Gauge: push subscriptions the in-memory store holds.
pub const SUBSCRIPTIONS: &str = "aisoc_push_subscriptions";
/// Counter: subscriptions evicted, the user's oldest first, by the per-user cap.
pub const SUBSCRIPTIONS_EVICTED: &str = "aisoc_push_subscriptions_evicted_total";
/// Counter `{cap="tenant"|"store"}`: subscriptions refused at the tenant or store cap.
pub const SUBSCRIPTIONS_REFUSED: &str = "aisoc_push_subscriptions_refused_total";

/// Every metric Web Push emits.
pub const ALL: [&str; 3] = [SUBSCRIPTIONS, SUBSCRIPTIONS_EVICTED, SUBSCRIPTIONS_REFUSED];

/// Describes every Web Push metric to the installed recorder, so each has `# HELP`. Call it
/// once after installing the recorder; calling it again is harmless.
pub fn describe_metrics() {
    use ::metrics::{describe_counter, describe_gauge};

    describe_gauge!(
        SUBSCRIPTIONS,
        "Push subscriptions the in-memory store holds"
    );
    describe_counter!(
        SUBSCRIPTIONS_EVICTED,
        "Push subscriptions evicted, the user's oldest first, to keep a user within its cap"
    );
    describe_counter!(
        SUBSCRIPTIONS_REFUSED,
        "Push subscriptions refused because a tenant or the store had reached its cap, by cap (tenant or store)"
    );
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
