//! The in-memory outbox's metrics: one constant per name, used both where the metric is emitted
//! and in [`describe_metrics`], so the name and its `# HELP` text cannot drift apart.
//!
//! Without a description the Prometheus exporter prints no `# HELP` line; a host calls
//! [`describe_metrics`] once, right after installing its recorder (a
//! [`MemoryOutbox`](crate::memory::MemoryOutbox) also describes them when it starts).

/// Gauge: notifications held (queued, being delivered or waiting to retry).
pub const MEMORY_NOTIFICATIONS: &str = "aisoc_outbox_memory_notifications";
/// Gauge: the most notifications the in-memory outbox holds.
pub const MEMORY_CAPACITY: &str = "aisoc_outbox_memory_capacity";
/// Counter: enqueues and replays refused because the in-memory outbox was full.
pub const MEMORY_REFUSED: &str = "aisoc_outbox_memory_refused_total";
/// Gauge: dead letters the in-memory outbox keeps.
pub const MEMORY_DEAD_LETTERS: &str = "aisoc_outbox_memory_dead_letters";
/// Counter: dead letters dropped, oldest first, to make room.
pub const MEMORY_DEAD_LETTERS_DROPPED: &str = "aisoc_outbox_memory_dead_letters_dropped_total";

/// Every metric the outbox emits.
pub const ALL: [&str; 5] = [
    MEMORY_NOTIFICATIONS,
    MEMORY_CAPACITY,
    MEMORY_REFUSED,
    MEMORY_DEAD_LETTERS,
    MEMORY_DEAD_LETTERS_DROPPED,
];

/// Describes every outbox metric to the installed recorder, so each has `# HELP`. Call it once
/// after installing the recorder; calling it again is harmless.
pub fn describe_metrics() {
    use ::metrics::{describe_counter, describe_gauge};

    describe_gauge!(
        MEMORY_NOTIFICATIONS,
        "Notifications the in-memory outbox holds: queued, being delivered or waiting to retry"
    );
    describe_gauge!(
        MEMORY_CAPACITY,
        "The most notifications the in-memory outbox holds before refusing new ones"
    );
    describe_counter!(
        MEMORY_REFUSED,
        "Notifications the in-memory outbox refused because it was full"
    );
    describe_gauge!(
        MEMORY_DEAD_LETTERS,
        "Dead letters the in-memory outbox keeps"
    );
    describe_counter!(
        MEMORY_DEAD_LETTERS_DROPPED,
        "Dead letters the in-memory outbox dropped, oldest first, to keep the newest"
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
