//! The gateway's own metrics: one constant per name, used both where the metric is emitted and
//! in [`describe_metrics`], so the name and its `# HELP` text cannot drift apart.
//!
//! The binary describes these and every library crate's metrics (`aisoc_inbox::metrics`,
//! `aisoc_notify_outbox::metrics`, `aisoc_notify_webpush::metrics`) right after installing the
//! Prometheus recorder, so every family on `/metrics` has `# HELP` and `# TYPE`.

/// Gauge: requests the gateway is working on.
pub const IN_FLIGHT: &str = "aisoc_gateway_requests_in_flight";
/// Gauge: the most requests the gateway works on at once.
pub const MAX_IN_FLIGHT: &str = "aisoc_gateway_max_in_flight";
/// Counter: requests shed with 503 because the gateway was at its limit.
pub const SHED: &str = "aisoc_gateway_requests_shed_total";
/// Counter `{channel_type, outcome}`: deliveries of `POST /v1/notifications`, per channel.
pub const DELIVERIES: &str = "aisoc_notify_deliveries_total";
/// Counter `{status}`: connector status changes queued as `connector_health` notifications.
pub const CONNECTOR_CHANGES: &str = "aisoc_gateway_connector_changes_total";

/// Every metric the gateway itself emits.
pub const ALL: [&str; 5] = [
    IN_FLIGHT,
    MAX_IN_FLIGHT,
    SHED,
    DELIVERIES,
    CONNECTOR_CHANGES,
];

/// Describes the gateway's own metrics to the installed recorder, so each has `# HELP`. Call
/// it once after installing the recorder; calling it again is harmless.
pub fn describe_metrics() {
    use ::metrics::{describe_counter, describe_gauge};

    describe_gauge!(IN_FLIGHT, "Requests the gateway is working on");
    describe_gauge!(
        MAX_IN_FLIGHT,
        "The most requests the gateway works on at once (AISOC_MAX_IN_FLIGHT)"
    );
    describe_counter!(
        SHED,
        "Requests answered 503 at once because the gateway was at AISOC_MAX_IN_FLIGHT"
    );
    describe_counter!(
        DELIVERIES,
        "Deliveries of POST /v1/notifications, per channel, by channel type and outcome"
    );
    describe_counter!(
        CONNECTOR_CHANGES,
        "Connector status changes (stale or recovered) queued as connector_health notifications, by status"
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
