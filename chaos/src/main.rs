//! `aisoc-chaos`: the fault harness `scripts/chaos` runs.
//!
//! It starts private NATS (JetStream), Redis and PostgreSQL instances on free loopback ports
//! and the real `aisoc-gateway` binary, then breaks things on purpose — a broker frozen and
//! killed while a request is in flight, gateways killed with SIGKILL mid-run, a peer that is
//! slow and refuses a fifth of the time, a gateway killed between recording a person's answer
//! and resuming the playbook — and counts, from the outside, what survived: every
//! event a sender saw acknowledged must be in the stream once, every queued notification must
//! reach the peer. It prints one table and exits non-zero when anything acknowledged was lost
//! (or, where the promise is exactly once, stored twice).
//!
//! Every loop is bounded in count and time; the whole run stays under three minutes.
//!
//! ```sh
//! scripts/chaos            # every scenario
//! scripts/chaos ingest     # only the scenarios whose name contains "ingest"
//! ```

#![allow(
    clippy::print_stdout,
    reason = "the harness reports on standard output"
)]

mod gateway;
mod peer;
mod report;
mod scenarios;
mod services;

use std::process::ExitCode;

use report::{Row, Table};

/// Why the harness itself could not run a scenario (not a finding about the gateway).
#[derive(Debug)]
pub(crate) struct HarnessError(String);

impl HarnessError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<std::io::Error> for HarnessError {
    fn from(error: std::io::Error) -> Self {
        Self(error.to_string())
    }
}

impl From<reqwest::Error> for HarnessError {
    fn from(error: reqwest::Error) -> Self {
        Self(error.without_url().to_string())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let wanted = |name: &str| filter.is_empty() || name.contains(filter.as_str());
    let mut rows: Vec<Row> = Vec::new();
    let mut broken = Vec::new();
    let mut record = |name: &str, outcome: Result<Row, HarnessError>| match outcome {
        Ok(row) => {
            println!("{}", Table(std::slice::from_ref(&row)));
            rows.push(row);
        }
        Err(error) => broken.push(format!("{name}: {error}")),
    };
    if wanted("ingest crash window") {
        record(
            "ingest crash window",
            scenarios::ingest::crash_window().await,
        );
    }
    if wanted("ingest load with faults") {
        record(
            "ingest load with faults",
            scenarios::ingest::load_with_faults(
                "ingest: load with faults",
                8,
                25,
                1,
                scenarios::ingest::Framing::PerEvent,
            )
            .await,
        );
    }
    if wanted("ingest batches framed per request with faults") {
        record(
            "ingest batches framed per request with faults",
            scenarios::ingest::load_with_faults(
                "ingest: NDJSON x5, a message per request",
                8,
                25,
                5,
                scenarios::ingest::Framing::PerRequest,
            )
            .await,
        );
    }
    if wanted("outbox") {
        record(
            "outbox",
            scenarios::outbox::queued_with_a_crash(1_000).await,
        );
    }
    if wanted("decisions") {
        record(
            "decisions",
            scenarios::decisions::killed_between_answer_and_resume().await,
        );
    }

    println!("\n{}", Table(&rows));
    for problem in &broken {
        println!("harness error: {problem}");
    }
    if broken.is_empty() && rows.iter().all(Row::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
