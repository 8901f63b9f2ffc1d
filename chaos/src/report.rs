//! The one table the harness prints: what was sent, acknowledged, stored, lost and doubled.

use std::fmt;
use std::time::Duration;

/// One scenario's outcome.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) scenario: &'static str,
    /// Events or notifications the senders tried to hand over.
    pub(crate) sent: usize,
    /// Those the gateway answered 2xx.
    pub(crate) acknowledged: usize,
    /// Distinct ones found stored or delivered at the end.
    pub(crate) stored: usize,
    /// Acknowledged but not stored or delivered: must be 0.
    pub(crate) lost: usize,
    /// Stored or delivered more than once (copies beyond the first).
    pub(crate) duplicated: usize,
    /// Whether duplicates break this scenario's promise (ingest and decisions: yes).
    pub(crate) exactly_once: bool,
    pub(crate) wall: Duration,
}

impl Row {
    /// Whether the scenario kept its promise.
    pub(crate) fn passed(&self) -> bool {
        self.lost == 0 && (!self.exactly_once || self.duplicated == 0)
    }
}

/// The table, one line a scenario.
pub(crate) struct Table<'a>(pub(crate) &'a [Row]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| scenario | sent | acknowledged | stored/delivered | lost | duplicated | wall time | result |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|---|")?;
        for row in self.0 {
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {:.1} s | {} |",
                row.scenario,
                row.sent,
                row.acknowledged,
                row.stored,
                row.lost,
                row.duplicated,
                row.wall.as_secs_f64(),
                if row.passed() { "ok" } else { "FAILED" }
            )?;
        }
        Ok(())
    }
}
