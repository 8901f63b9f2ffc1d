//! The scenarios, each against its own private brokers and gateway processes.

pub(crate) mod decisions;
pub(crate) mod ingest;
pub(crate) mod outbox;
