//! A ticket as a playbook step describes it: the rendered parameters, the severity, and the
//! correlation key that makes opening it safe to repeat.
//!
//! Every ticket carries a correlation key: the step's `dedup_key`, or, when the step gives
//! none, one derived from the tenant, the case, the playbook run and the summary. The same step
//! run again (a retry after a timeout, the playbook engine re-running it) derives the same key,
//! so each vendor can recognise the ticket: PagerDuty's `dedup_key`, Opsgenie's `alias`,
//! ServiceNow's `correlation_id`, a Jira label. A key that does not fit a vendor's field (too
//! long, a forbidden character) is replaced by its hash there, never cut: two keys cut to the
//! same prefix would name the same ticket.

use aisoc_notify_core::action::ActionParameterError;
use aisoc_notify_core::{ActionOutput, ActionRequest};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Ticket severity as playbooks write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSeverity {
    /// Wake someone up.
    Critical,
    /// Urgent.
    High,
    /// Normal.
    Medium,
    /// Whenever.
    Low,
    /// For the record.
    Info,
}

impl TicketSeverity {
    /// Parses `critical|high|medium|low|info` (default `high`), as the step's `severity`
    /// parameter.
    ///
    /// ```
    /// use aisoc_notify_itsm::TicketSeverity;
    ///
    /// assert_eq!(TicketSeverity::parse(None), Ok(TicketSeverity::High));
    /// assert_eq!(TicketSeverity::parse(Some(" Critical ")), Ok(TicketSeverity::Critical));
    /// assert_eq!(
    ///     TicketSeverity::parse(Some("apocalyptic")).unwrap_err().to_string(),
    ///     "parameter 'severity' must be critical, high, medium, low or info (got 'apocalyptic')"
    /// );
    /// ```
    pub fn parse(value: Option<&str>) -> Result<Self, ActionParameterError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("high") => Ok(TicketSeverity::High),
            Some("critical") => Ok(TicketSeverity::Critical),
            Some("medium") => Ok(TicketSeverity::Medium),
            Some("low") => Ok(TicketSeverity::Low),
            Some("info") | Some("informational") => Ok(TicketSeverity::Info),
            Some(other) => Err(ActionParameterError::Invalid {
                name: "severity".to_owned(),
                reason: format!(
                    "must be critical, high, medium, low or info (got '{}')",
                    other.chars().take(40).collect::<String>()
                ),
            }),
        }
    }
}

/// The rendered, checked parameters of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) summary: String,
    pub(crate) description: String,
    pub(crate) severity: TicketSeverity,
    /// The step's `dedup_key`, or the key derived from tenant, case, run and summary.
    pub(crate) correlation: String,
    pub(crate) project: Option<String>,
    pub(crate) issue_type: Option<String>,
}

impl Ticket {
    pub(crate) fn from_request(request: &ActionRequest) -> Result<Self, ActionParameterError> {
        let optional = |name: &str| -> Result<Option<String>, ActionParameterError> {
            Ok(request
                .render_parameter(name)?
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()))
        };
        let summary = request.require_parameter("summary")?;
        let correlation = match optional("dedup_key")? {
            Some(key) => key,
            None => derived_key(&[
                Some(request.tenant_id.as_str()),
                request.case_id.as_deref(),
                request.run_id.as_deref(),
                Some(summary.as_str()),
            ]),
        };
        Ok(Self {
            description: optional("description")?.unwrap_or_default(),
            severity: TicketSeverity::parse(optional("severity")?.as_deref())?,
            correlation,
            project: optional("project")?,
            issue_type: optional("issue_type")?,
            summary,
        })
    }

    /// The correlation key as a vendor field that holds at most `max_chars` characters, all
    /// `allowed`: the key itself when it fits, otherwise its hash (32 hex digits).
    pub(crate) fn correlation_within(&self, max_chars: usize, allowed: fn(char) -> bool) -> String {
        let key = &self.correlation;
        if key.chars().count() <= max_chars && key.chars().all(allowed) {
            key.clone()
        } else {
            derived_key(&[Some(key)])
        }
    }
}

/// 128 bits of SHA-256 over the parts, each length-prefixed (absent parts marked) so that no
/// two different lists hash alike; 32 lowercase hex digits.
fn derived_key(parts: &[Option<&str>]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"aisoc-ticket-v1");
    for part in parts {
        match part {
            Some(text) => {
                hash.update([1]);
                hash.update((text.len() as u64).to_be_bytes());
                hash.update(text.as_bytes());
            }
            None => hash.update([0]),
        }
    }
    let digest = hash.finalize();
    hex::encode(&digest[..16])
}

/// A ticket the vendor holds: created now, or found from an earlier attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Created {
    pub(crate) key: String,
    pub(crate) url: Option<String>,
    pub(crate) extra: Map<String, Value>,
    /// Found by the correlation key rather than created by this call.
    pub(crate) existing: bool,
}

impl Created {
    /// A ticket this call created.
    pub(crate) fn new(key: String, url: Option<String>) -> Self {
        Self {
            key,
            url,
            extra: Map::new(),
            existing: false,
        }
    }

    /// Adds a vendor-specific output value (`id`, `sys_id`, `request_id`…).
    pub(crate) fn with(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_owned(), value);
        self
    }

    /// Marks the ticket as found rather than created.
    pub(crate) fn found(mut self) -> Self {
        self.existing = true;
        self
    }

    /// The step's output: `system`, `key`, `url`, `existing` and the vendor's extras.
    pub(crate) fn into_output(self, system: &str) -> ActionOutput {
        ActionOutput::succeeded(self.extra)
            .with("system", system)
            .with("key", self.key)
            .with("url", json!(self.url))
            .with("existing", self.existing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> ActionRequest {
        ActionRequest::new("create_ticket", "acme")
            .with_parameter("summary", "Ransomware on {{ context.host }}")
            .with_context(json!({"host": "web-01"}))
    }

    #[test]
    fn the_same_step_derives_the_same_key_and_another_run_another() {
        let first = Ticket::from_request(&step().with_run("run-1")).unwrap();
        let again = Ticket::from_request(&step().with_run("run-1")).unwrap();
        let other_run = Ticket::from_request(&step().with_run("run-2")).unwrap();
        let other_case = Ticket::from_request(&step().with_case("run-1")).unwrap();
        assert_eq!(first.correlation, again.correlation);
        assert_eq!(first.correlation.len(), 32);
        assert!(first.correlation.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(first.correlation, other_run.correlation);
        // The case and the run are different parts, even with the same value.
        assert_ne!(first.correlation, other_case.correlation);
    }

    #[test]
    fn a_step_dedup_key_is_the_key_and_is_hashed_only_where_it_does_not_fit() {
        let ticket =
            Ticket::from_request(&step().with_parameter("dedup_key", " case^42 ")).unwrap();
        assert_eq!(ticket.correlation, "case^42");
        assert_eq!(ticket.correlation_within(255, |_| true), "case^42");
        let no_caret = ticket.correlation_within(100, |c| c != '^');
        assert_eq!(no_caret.len(), 32);
        assert_eq!(no_caret, ticket.correlation_within(100, |c| c != '^'));
        assert_eq!(ticket.correlation_within(3, |_| true), no_caret);
    }

    #[test]
    fn unknown_severities_are_parameter_errors() {
        let bad = step().with_parameter("severity", "apocalyptic");
        assert!(matches!(
            Ticket::from_request(&bad),
            Err(ActionParameterError::Invalid { name, .. }) if name == "severity"
        ));
        let info = step().with_parameter("severity", "Informational");
        assert_eq!(
            Ticket::from_request(&info).unwrap().severity,
            TicketSeverity::Info
        );
    }
}
