//! The `/aisoc` slash command.
//!
//! ```text
//! /aisoc list                 top 10 open cases, most severe first
//! /aisoc status               open approvals, recent events by severity, stale connectors
//! /aisoc investigate <case>   start an investigation run
//! /aisoc explain <case>       the case's summary
//! /aisoc isolate <host>       ask for approval to isolate a host (never runs directly)
//! /aisoc block <ip>           ask for approval to block an address (never runs directly)
//! /aisoc help                 this reference
//! ```
//!
//! The host implements [`ChatOpsBackend`]; this module parses and validates the command, calls
//! the backend and renders its answers. Gated actions (`isolate`, `block`) are submitted to the
//! backend as approval requests and answered with an Approve / Deny card, so a chat message can
//! never by itself isolate a host or block an address.

use std::fmt;
use std::net::IpAddr;

use aisoc_notify_core::notification::Severity;
use aisoc_notify_core::{async_trait, decision::Reviewer};
use serde::Deserialize;

use crate::blocks::{
    Block, BlockKitError, Button, Context, ResponseType, Section, SlackMessage, Text,
};
use crate::mrkdwn;
use crate::render::{ApprovalPrompt, approval_message};

#[cfg(test)]
mod answer_tests;
mod status;

pub use self::status::{STALE_CONNECTORS_SHOWN, SeverityCounts, StatusSummary, status_message};

/// The most cases `/aisoc list` shows.
pub const LIST_LIMIT: usize = 10;

/// The fields of a slash-command request this crate uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SlashCommandRequest {
    /// The command (`/aisoc`).
    pub command: String,
    /// Everything after the command.
    #[serde(default)]
    pub text: String,
    /// The invoking user's id.
    pub user_id: String,
    /// The invoking user's handle.
    #[serde(default)]
    pub user_name: String,
    /// The channel it was run in.
    #[serde(default)]
    pub channel_id: String,
    /// The workspace.
    #[serde(default)]
    pub team_id: String,
    /// Where to POST the answer (valid for 30 minutes, 5 uses).
    #[serde(default)]
    pub response_url: String,
    /// For opening modals.
    #[serde(default)]
    pub trigger_id: Option<String>,
}

impl SlashCommandRequest {
    /// Parses the form-encoded request body.
    pub fn from_form(body: &[u8]) -> Result<Self, CommandError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let object: serde_json::Map<String, serde_json::Value> = pairs
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| CommandError::InvalidRequest(e.to_string()))
    }

    /// Who ran the command, as the backend sees it.
    pub fn context(&self) -> CommandContext {
        CommandContext {
            team_id: self.team_id.clone(),
            channel_id: self.channel_id.clone(),
            user: Reviewer {
                id: self.user_id.clone(),
                name: if self.user_name.is_empty() {
                    self.user_id.clone()
                } else {
                    self.user_name.clone()
                },
            },
        }
    }
}

/// Who ran a command, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// The workspace.
    pub team_id: String,
    /// The channel.
    pub channel_id: String,
    /// The user.
    pub user: Reviewer,
}

/// A gated action: never executed from chat, only submitted for approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatedActionKind {
    /// `isolate_host`.
    IsolateHost,
    /// `block_ip`.
    BlockIp,
}

impl GatedActionKind {
    /// The playbook action type (`isolate_host`, `block_ip`).
    pub fn action_type(self) -> &'static str {
        match self {
            GatedActionKind::IsolateHost => "isolate_host",
            GatedActionKind::BlockIp => "block_ip",
        }
    }
}

/// A parsed `/aisoc` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AisocCommand {
    /// `list`.
    List,
    /// `status`.
    Status,
    /// `investigate <case>`.
    Investigate {
        /// The case id.
        case_id: String,
    },
    /// `explain <case>`.
    Explain {
        /// The case id.
        case_id: String,
    },
    /// `isolate <host>` or `block <ip>`.
    Gated {
        /// Which action.
        kind: GatedActionKind,
        /// The host name or address.
        target: String,
    },
    /// `help`, an empty command or an unknown subcommand.
    Help,
}

/// A command that is recognised but used wrongly; the text is the usage to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Wrong arguments for a known subcommand.
    #[error("{0}")]
    Usage(String),
    /// The request form is not a slash command.
    #[error("not a slash command request: {0}")]
    InvalidRequest(String),
}

const HELP: &str = "*/aisoc* commands:\n\
• `/aisoc list` — top 10 open cases\n\
• `/aisoc status` — approvals waiting, recent events, stale connectors\n\
• `/aisoc investigate <case>` — start an investigation\n\
• `/aisoc explain <case>` — the case summary\n\
• `/aisoc isolate <host>` — request approval to isolate a host\n\
• `/aisoc block <ip>` — request approval to block an IP address\n\
• `/aisoc help` — this reference";

/// The inline command reference.
pub fn help_text() -> &'static str {
    HELP
}

fn is_valid_case_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'#'))
}

/// Whether `host` is a valid DNS host name (RFC 1123) or an IP address.
pub fn is_valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl AisocCommand {
    /// Parses the text after `/aisoc`. Unknown subcommands are [`AisocCommand::Help`];
    /// known ones with bad arguments are a [`CommandError::Usage`].
    pub fn parse(text: &str) -> Result<Self, CommandError> {
        let mut words = text.split_whitespace();
        let Some(sub) = words.next() else {
            return Ok(AisocCommand::Help);
        };
        let argument = words.next();
        let extra = words.next().is_some();
        let sub = sub.to_ascii_lowercase();
        let one_arg = |usage: &str| -> Result<String, CommandError> {
            match argument {
                Some(arg) if !extra => Ok(arg.to_owned()),
                _ => Err(CommandError::Usage(format!("Usage: `/aisoc {usage}`"))),
            }
        };
        match sub.as_str() {
            "list" if argument.is_none() => Ok(AisocCommand::List),
            "list" => Err(CommandError::Usage("Usage: `/aisoc list`".into())),
            "status" if argument.is_none() => Ok(AisocCommand::Status),
            "status" => Err(CommandError::Usage("Usage: `/aisoc status`".into())),
            "investigate" | "explain" => {
                let case_id = one_arg(&format!("{sub} <case>"))?;
                if !is_valid_case_id(&case_id) {
                    return Err(CommandError::Usage(format!(
                        "`{}` is not a case id (letters, digits and - _ . : #, up to 64)",
                        mrkdwn::escape(&case_id)
                    )));
                }
                Ok(if sub == "investigate" {
                    AisocCommand::Investigate { case_id }
                } else {
                    AisocCommand::Explain { case_id }
                })
            }
            "isolate" => {
                let host = one_arg("isolate <host>")?;
                if !is_valid_host(&host) {
                    return Err(CommandError::Usage(format!(
                        "`{}` is not a valid host name or IP address",
                        mrkdwn::escape(&host)
                    )));
                }
                Ok(AisocCommand::Gated {
                    kind: GatedActionKind::IsolateHost,
                    target: host,
                })
            }
            "block" => {
                let ip = one_arg("block <ip>")?;
                let parsed: IpAddr = ip.parse().map_err(|_| {
                    CommandError::Usage(format!(
                        "`{}` is not an IPv4 or IPv6 address",
                        mrkdwn::escape(&ip)
                    ))
                })?;
                Ok(AisocCommand::Gated {
                    kind: GatedActionKind::BlockIp,
                    target: parsed.to_string(),
                })
            }
            _ => Ok(AisocCommand::Help),
        }
    }

    /// Whether answering needs the backend (and so is finished through `response_url`).
    pub fn needs_backend(&self) -> bool {
        !matches!(self, AisocCommand::Help)
    }
}

/// An open case, as `/aisoc list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseCard {
    /// The case id.
    pub id: String,
    /// The title.
    pub title: String,
    /// Its severity.
    pub severity: Severity,
    /// Its status (`open`, `investigating`, …).
    pub status: String,
    /// Deep link to the case.
    pub url: Option<url::Url>,
}

/// An investigation the backend started.
#[derive(Debug, Clone, PartialEq)]
pub struct InvestigationStarted {
    /// The run id.
    pub run_id: String,
    /// Where to follow it.
    pub url: Option<url::Url>,
    /// What the backend knows of the case, shown under the announcement.
    pub details: Option<CaseSummary>,
}

/// A case summary.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    /// The case id.
    pub case_id: String,
    /// The title.
    pub title: String,
    /// The summary text.
    pub summary: String,
    /// The severity.
    pub severity: Severity,
    /// Deep link to the case.
    pub url: Option<url::Url>,
}

/// A gated action submitted for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatedActionRequest {
    /// Which action.
    pub kind: GatedActionKind,
    /// The host or address.
    pub target: String,
    /// Who asked.
    pub requested_by: Reviewer,
}

/// The approval request the backend created for a gated action.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    /// The approval id the buttons carry.
    pub approval_id: String,
    /// What approving does.
    pub summary: String,
    /// How risky, 0-100.
    pub risk_score: Option<u8>,
    /// Deep link to the approval.
    pub console_url: Option<url::Url>,
}

/// A backend failure, shown to the user as is (no secrets, please).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// The host's cases and actions, as the slash command needs them.
#[async_trait]
pub trait ChatOpsBackend: Send + Sync {
    /// Open cases, in any order (the command sorts by severity and keeps ten).
    async fn list_open_cases(
        &self,
        context: &CommandContext,
    ) -> Result<Vec<CaseCard>, BackendError>;

    /// Starts an investigation run for a case.
    async fn start_investigation(
        &self,
        context: &CommandContext,
        case_id: &str,
    ) -> Result<InvestigationStarted, BackendError>;

    /// The case's summary.
    async fn case_summary(
        &self,
        context: &CommandContext,
        case_id: &str,
    ) -> Result<CaseSummary, BackendError>;

    /// Records a gated action as an approval request; must not execute it.
    async fn submit_gated_action(
        &self,
        context: &CommandContext,
        action: GatedActionRequest,
    ) -> Result<PendingApproval, BackendError>;

    /// The `/aisoc status` summary. Backends that cannot tell say so (the default).
    async fn status(&self, context: &CommandContext) -> Result<StatusSummary, BackendError> {
        let _ = context;
        Err(BackendError(
            "`/aisoc status` is not available on this server".into(),
        ))
    }
}

/// An immediate, only-you-can-see-it answer.
pub fn ephemeral(text: &str) -> SlackMessage {
    let section: Block = Section::new().text(Text::mrkdwn(text)).into();
    SlackMessage::builder(text)
        .block(section)
        .expect("one block fits")
        .response_type(ResponseType::Ephemeral)
        .build()
}

fn case_blocks(case: &CaseCard) -> Result<Vec<Block>, BlockKitError> {
    let mut section = Section::new().text(Text::mrkdwn(format!(
        "{} *{}*  `{}`\n{} · {}",
        case.severity.emoji_shortcode(),
        mrkdwn::escape(&case.title),
        mrkdwn::escape(&case.id),
        case.severity.as_str().to_uppercase(),
        mrkdwn::escape(&case.status),
    )));
    if let Some(url) = &case.url {
        section =
            section.accessory(Button::new("Open", format!("open_case_{}", case.id))?.url(url)?);
    }
    Ok(vec![section.into()])
}

/// Renders the `/aisoc list` answer: up to ten cases, most severe first, one coloured card each.
pub fn list_message(mut cases: Vec<CaseCard>) -> Result<SlackMessage, BlockKitError> {
    if cases.is_empty() {
        return Ok(ephemeral(":tada: No open cases."));
    }
    let total = cases.len();
    cases.sort_by_key(|case| std::cmp::Reverse(case.severity));
    cases.truncate(LIST_LIMIT);
    let heading = format!("Top {} of {total} open cases", cases.len());
    let mut builder = SlackMessage::builder(&heading)
        .block(Block::header(&heading))?
        .response_type(ResponseType::Ephemeral);
    for case in &cases {
        builder = builder.attachment(case.severity.color_hex(), &case.title, case_blocks(case)?)?;
    }
    Ok(builder.build())
}

fn summary_message(summary: &CaseSummary) -> Result<SlackMessage, BlockKitError> {
    let title = format!("{} {}", summary.severity.emoji(), summary.title);
    let mut blocks = vec![
        Block::header(&title),
        Section::new()
            .text(Text::user_mrkdwn(&summary.summary))
            .into(),
    ];
    let mut context = Context::new().element(Text::mrkdwn(format!(
        "Case `{}`",
        mrkdwn::escape(&summary.case_id)
    )))?;
    if let Some(url) = &summary.url {
        context = context.element(Text::mrkdwn(format!("<{url}|Open in console>")))?;
    }
    blocks.push(context.into());
    Ok(SlackMessage::builder(&summary.title)
        .attachment(summary.severity.color_hex(), &summary.title, blocks)?
        .response_type(ResponseType::Ephemeral)
        .build())
}

/// Answers a parsed command through the backend. Errors from the backend become a warning
/// message rather than a failure, so the user always hears back.
pub async fn answer(
    command: &AisocCommand,
    context: &CommandContext,
    backend: &dyn ChatOpsBackend,
) -> SlackMessage {
    let result = match command {
        AisocCommand::Help => return ephemeral(HELP),
        AisocCommand::List => match backend.list_open_cases(context).await {
            Ok(cases) => list_message(cases).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        AisocCommand::Status => match backend.status(context).await {
            Ok(status) => status_message(&status).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        AisocCommand::Investigate { case_id } => {
            match backend.start_investigation(context, case_id).await {
                Ok(started) => {
                    investigation_message(case_id, context, &started).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        AisocCommand::Explain { case_id } => match backend.case_summary(context, case_id).await {
            Ok(summary) => summary_message(&summary).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        AisocCommand::Gated { kind, target } => {
            let request = GatedActionRequest {
                kind: *kind,
                target: target.clone(),
                requested_by: context.user.clone(),
            };
            match backend.submit_gated_action(context, request).await {
                Ok(pending) => {
                    gated_message(*kind, target, context, &pending).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        }
    };
    result.unwrap_or_else(|error| ephemeral(&format!(":warning: {}", mrkdwn::escape(&error))))
}

/// The in-channel announcement of an investigation, with the case's details under it when the
/// backend gave them.
fn investigation_message(
    case_id: &str,
    context: &CommandContext,
    started: &InvestigationStarted,
) -> Result<SlackMessage, BlockKitError> {
    let mut text = format!(
        ":mag: Investigation `{}` started for case `{}` by {}",
        mrkdwn::escape(&started.run_id),
        mrkdwn::escape(case_id),
        mrkdwn::escape(&context.user.name)
    );
    if let Some(url) = &started.url {
        text.push_str(&format!(" — <{url}|follow it>"));
    }
    let mut message = match &started.details {
        Some(details) => {
            let mut message = summary_message(details)?;
            message
                .blocks
                .insert(0, Section::new().text(Text::mrkdwn(&text)).into());
            message.text = text;
            message
        }
        None => ephemeral(&text),
    };
    message.response_type = Some(ResponseType::InChannel);
    Ok(message)
}

fn gated_message(
    kind: GatedActionKind,
    target: &str,
    context: &CommandContext,
    pending: &PendingApproval,
) -> Result<SlackMessage, BlockKitError> {
    let title = match kind {
        GatedActionKind::IsolateHost => format!("Isolate host {target}"),
        GatedActionKind::BlockIp => format!("Block IP {target}"),
    };
    let prompt = ApprovalPrompt {
        approval_id: pending.approval_id.clone(),
        tenant_id: context.team_id.clone(),
        title,
        summary: pending.summary.clone(),
        risk_score: pending.risk_score,
        severity: Severity::High,
        requested_by: Some(context.user.name.clone()),
        facts: Vec::new(),
        console_url: pending.console_url.clone(),
    };
    let mut message = approval_message(&prompt)?;
    message.response_type = Some(ResponseType::InChannel);
    Ok(message)
}

impl fmt::Display for AisocCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AisocCommand::List => f.write_str("list"),
            AisocCommand::Status => f.write_str("status"),
            AisocCommand::Investigate { case_id } => write!(f, "investigate {case_id}"),
            AisocCommand::Explain { case_id } => write!(f, "explain {case_id}"),
            AisocCommand::Gated {
                kind: GatedActionKind::IsolateHost,
                target,
            } => write!(f, "isolate {target}"),
            AisocCommand::Gated {
                kind: GatedActionKind::BlockIp,
                target,
            } => write!(f, "block {target}"),
            AisocCommand::Help => f.write_str("help"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_subcommand() {
        assert_eq!(AisocCommand::parse("list"), Ok(AisocCommand::List));
        assert_eq!(AisocCommand::parse("Status"), Ok(AisocCommand::Status));
        assert_eq!(AisocCommand::parse("  LIST "), Ok(AisocCommand::List));
        assert_eq!(
            AisocCommand::parse("investigate CASE-42"),
            Ok(AisocCommand::Investigate {
                case_id: "CASE-42".into()
            })
        );
        assert_eq!(
            AisocCommand::parse("explain c1"),
            Ok(AisocCommand::Explain {
                case_id: "c1".into()
            })
        );
        assert_eq!(
            AisocCommand::parse("isolate web-01.corp.example.com"),
            Ok(AisocCommand::Gated {
                kind: GatedActionKind::IsolateHost,
                target: "web-01.corp.example.com".into()
            })
        );
        assert_eq!(
            AisocCommand::parse("block 2001:db8::1"),
            Ok(AisocCommand::Gated {
                kind: GatedActionKind::BlockIp,
                target: "2001:db8::1".into()
            })
        );
        assert_eq!(
            AisocCommand::parse("block 203.0.113.7"),
            Ok(AisocCommand::Gated {
                kind: GatedActionKind::BlockIp,
                target: "203.0.113.7".into()
            })
        );
        assert_eq!(AisocCommand::parse(""), Ok(AisocCommand::Help));
        assert_eq!(AisocCommand::parse("help"), Ok(AisocCommand::Help));
        assert_eq!(
            AisocCommand::parse("reboot everything"),
            Ok(AisocCommand::Help)
        );
    }

    #[test]
    fn bad_arguments_get_usage_errors() {
        for text in [
            "investigate",
            "explain a b",
            "isolate",
            "isolate -bad-.example",
            "isolate host_with_underscore",
            "block 300.1.1.1",
            "block example.com",
            "list extra",
            "status now",
            "investigate <!channel>",
        ] {
            let err = AisocCommand::parse(text).unwrap_err();
            assert!(matches!(err, CommandError::Usage(_)), "{text}: {err:?}");
            assert!(
                !err.to_string().contains("<!channel>"),
                "usage text is escaped"
            );
        }
    }

    #[test]
    fn host_names_follow_rfc_1123() {
        assert!(is_valid_host("a"));
        assert!(is_valid_host("web-01.example.com."));
        assert!(is_valid_host("10.0.0.1"));
        assert!(!is_valid_host(&"a".repeat(64)));
        assert!(!is_valid_host("a..b"));
        assert!(!is_valid_host("web;rm -rf"));
    }
}
