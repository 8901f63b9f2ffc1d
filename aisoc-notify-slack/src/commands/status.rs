//! `/aisoc status`: a one-glance summary of a tenant, answered only to the person who asked.
//!
//! The backend fills a [`StatusSummary`] from whatever it keeps (approvals, recent events,
//! connector freshness); this module renders it. A part the backend cannot tell is `None` and
//! is left out of the message rather than shown as zero, so "0 stale connectors" always means
//! the connectors were checked.

use aisoc_notify_core::notification::Severity;

use crate::blocks::{Block, BlockKitError, Context, ResponseType, Section, SlackMessage, Text};
use crate::mrkdwn;

/// The most stale connector names `/aisoc status` lists; the rest are counted.
pub const STALE_CONNECTORS_SHOWN: usize = 10;

/// How many events of each severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeverityCounts([usize; Severity::ALL.len()]);

fn slot(severity: Severity) -> usize {
    match severity {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

impl SeverityCounts {
    /// Counts one more event of `severity`.
    pub fn add(&mut self, severity: Severity) {
        let count = &mut self.0[slot(severity)];
        *count = count.saturating_add(1);
    }

    /// The events of `severity`.
    pub fn get(&self, severity: Severity) -> usize {
        self.0[slot(severity)]
    }

    /// Every event counted.
    pub fn total(&self) -> usize {
        self.0.iter().fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// `"5 — 1 critical · 4 high"`, most severe first, or `"0"`.
    pub fn describe(&self) -> String {
        let total = self.total();
        let parts: Vec<String> = Severity::ALL
            .iter()
            .rev()
            .filter(|severity| self.get(**severity) > 0)
            .map(|severity| format!("{} {}", self.get(*severity), severity.as_str()))
            .collect();
        if parts.is_empty() {
            total.to_string()
        } else {
            format!("{total} — {}", parts.join(" · "))
        }
    }
}

impl FromIterator<Severity> for SeverityCounts {
    fn from_iter<I: IntoIterator<Item = Severity>>(iter: I) -> Self {
        let mut counts = Self::default();
        for severity in iter {
            counts.add(severity);
        }
        counts
    }
}

/// What `/aisoc status` shows for the workspace's tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusSummary {
    /// The tenant the workspace is mapped to.
    pub tenant_id: String,
    /// Approval requests still waiting for a decision, when known.
    pub open_approvals: Option<usize>,
    /// Events received in the last hour.
    pub last_hour: SeverityCounts,
    /// Events received in the last 24 hours.
    pub last_day: SeverityCounts,
    /// The names of connectors that went quiet, when the backend tracks them.
    pub stale_connectors: Option<Vec<String>>,
}

fn field(label: &str, value: &str) -> Text {
    Text::mrkdwn(format!("*{label}*\n{value}"))
}

fn stale_text(names: &[String]) -> String {
    if names.is_empty() {
        return ":white_check_mark: none".to_owned();
    }
    let shown: Vec<String> = names
        .iter()
        .take(STALE_CONNECTORS_SHOWN)
        .map(|name| mrkdwn::escape(name).into_owned())
        .collect();
    let mut text = format!(":warning: {}", shown.join(", "));
    if names.len() > shown.len() {
        text.push_str(&format!(" and {} more", names.len() - shown.len()));
    }
    text
}

/// Renders the `/aisoc status` answer, ephemeral.
pub fn status_message(status: &StatusSummary) -> Result<SlackMessage, BlockKitError> {
    let mut fallback = format!(
        "AiSOC status: {} events in the last hour, {} in the last 24 h",
        status.last_hour.total(),
        status.last_day.total()
    );
    let mut section = Section::new()
        .field(field("Events, last hour", &status.last_hour.describe()))?
        .field(field("Events, last 24 h", &status.last_day.describe()))?;
    if let Some(open) = status.open_approvals {
        section = section.field(field("Open approvals", &open.to_string()))?;
        fallback.push_str(&format!(", {open} open approvals"));
    }
    if let Some(names) = &status.stale_connectors {
        section = section.field(field("Stale connectors", &stale_text(names)))?;
        fallback.push_str(&format!(", {} stale connectors", names.len()));
    }
    let context = Context::new().element(Text::mrkdwn(format!(
        "Tenant `{}`",
        mrkdwn::escape(&status.tenant_id)
    )))?;
    Ok(SlackMessage::builder(&fallback)
        .block(Block::header("AiSOC status"))?
        .block(section.into())?
        .block(context.into())?
        .response_type(ResponseType::Ephemeral)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_most_severe_first_and_skip_the_empty_ones() {
        let counts: SeverityCounts = [
            Severity::High,
            Severity::Critical,
            Severity::High,
            Severity::Info,
        ]
        .into_iter()
        .collect();
        assert_eq!(counts.total(), 4);
        assert_eq!(counts.get(Severity::High), 2);
        assert_eq!(counts.describe(), "4 — 1 critical · 2 high · 1 info");
        assert_eq!(SeverityCounts::default().describe(), "0");
    }

    #[test]
    fn the_status_message_shows_each_known_part_and_escapes_names() {
        let status = StatusSummary {
            tenant_id: "acme".into(),
            open_approvals: Some(3),
            last_hour: [Severity::Critical].into_iter().collect(),
            last_day: [Severity::Critical, Severity::Low].into_iter().collect(),
            stale_connectors: Some(vec!["okta <!channel>".into(), "edr".into()]),
        };
        let message = status_message(&status).unwrap();
        assert_eq!(message.response_type, Some(ResponseType::Ephemeral));
        let json = serde_json::to_value(&message).unwrap();
        let fields: Vec<&str> = json["blocks"][1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "*Events, last hour*\n1 — 1 critical",
                "*Events, last 24 h*\n2 — 1 critical · 1 low",
                "*Open approvals*\n3",
                "*Stale connectors*\n:warning: okta &lt;!channel&gt;, edr",
            ]
        );
        assert_eq!(json["blocks"][2]["elements"][0]["text"], "Tenant `acme`");
        assert!(
            message.text.contains("3 open approvals"),
            "{}",
            message.text
        );
    }

    #[test]
    fn unknown_parts_are_left_out_and_long_lists_are_counted() {
        let quiet = StatusSummary {
            tenant_id: "acme".into(),
            ..StatusSummary::default()
        };
        let json = serde_json::to_value(status_message(&quiet).unwrap()).unwrap();
        assert_eq!(json["blocks"][1]["fields"].as_array().unwrap().len(), 2);

        let names: Vec<String> = (0..13).map(|i| format!("c{i}")).collect();
        assert!(stale_text(&names).ends_with("c9 and 3 more"));
        assert_eq!(stale_text(&[]), ":white_check_mark: none");
    }
}
