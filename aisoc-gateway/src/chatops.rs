//! The gateway's `/aisoc` slash-command backend: Slack's commands answered from the gateway's
//! own stores.
//!
//! | command | answered from |
//! |---|---|
//! | `list` | the [recent-events index](crate::recent_events): the tenant's events of the last 24 h, as cases (the Slack crate keeps the ten most severe) |
//! | `status` | approvals still pending, events of the last hour and 24 h by severity, stale connectors |
//! | `investigate <id>` | the event's details, and an audit entry (`chatops.investigate`) naming the Slack user |
//! | `explain <id>` | the event's details |
//! | `isolate <host>`, `block <ip>` | a pending approval request (`isolate_host`, `block_ip`); the Slack crate posts its Approve / Deny card; nothing runs before a reviewer approves |
//!
//! `<id>` is the inbox's event id (shown by `list`) or the sender's own id for the event.
//!
//! Which tenant a workspace sees is configuration ([`SlackTenants`]): `AISOC_SLACK_TEAM_TENANTS`
//! maps Slack team ids to tenants, `AISOC_SLACK_TENANT` is the tenant of every other workspace.
//! A workspace with neither gets a message saying what to set, never another tenant's data.
//!
//! Approval requests are created through an [`ApprovalCreator`], [`ApprovalService`] by default;
//! a host that must do more on creation (post the card to the tenant's channels) wraps it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::model::{ApprovalRequest, ApprovalStatus, NewApproval, NewAuditEntry};
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_approvals::store::{AuditLog, StoreError};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::freshness::ConnectorStatus;
use aisoc_notify_core::tenant::validate_tenant_id;
use aisoc_notify_slack::commands::{
    BackendError, CaseCard, CaseSummary, ChatOpsBackend, CommandContext, GatedActionKind,
    GatedActionRequest, InvestigationStarted, PendingApproval, SeverityCounts, StatusSummary,
};
use chrono::Utc;
use serde_json::json;

use crate::approval_cards::ApprovalCards;
use crate::connectors::ConnectorStore;
use crate::recent_events::{RecentEvent, RecentEventIndex};

/// The tenant of every Slack workspace not named in [`TEAM_TENANTS_VARIABLE`].
pub const TENANT_VARIABLE: &str = "AISOC_SLACK_TENANT";
/// Slack team ids and their tenants: `T123:acme,T456:globex`.
pub const TEAM_TENANTS_VARIABLE: &str = "AISOC_SLACK_TEAM_TENANTS";
/// How far back `/aisoc list` and `/aisoc status` look.
pub const OPEN_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long an approval requested from chat accepts decisions.
pub const APPROVAL_TTL: Duration = Duration::from_secs(3600);
/// The audit action an investigation records.
pub const INVESTIGATE_ACTION: &str = "chatops.investigate";
/// The audit action a gated action requested from chat records.
pub const GATED_REQUEST_ACTION: &str = "chatops.approval_requested";

/// Why the Slack tenant settings were refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlackTenantsError {
    /// An entry of the team map is not `<team id>:<tenant>`.
    #[error("{TEAM_TENANTS_VARIABLE}: '{entry}' is not <Slack team id>:<tenant id>")]
    Malformed {
        /// The entry.
        entry: String,
    },
    /// A team is mapped twice.
    #[error("{TEAM_TENANTS_VARIABLE}: team {team} is mapped twice")]
    Duplicate {
        /// The team id.
        team: String,
    },
    /// A tenant id is not valid.
    #[error("{variable}: {reason}")]
    Tenant {
        /// The setting.
        variable: &'static str,
        /// What is wrong with the tenant id.
        reason: String,
    },
}

/// Which tenant each Slack workspace (team) sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackTenants {
    default: Option<String>,
    teams: HashMap<String, String>,
}

fn tenant(variable: &'static str, value: &str) -> Result<String, SlackTenantsError> {
    validate_tenant_id(value)
        .map(str::to_owned)
        .map_err(|e| SlackTenantsError::Tenant {
            variable,
            reason: e.to_string(),
        })
}

impl SlackTenants {
    /// Reads [`TENANT_VARIABLE`] and [`TEAM_TENANTS_VARIABLE`].
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SlackTenantsError> {
        let default = lookup(TENANT_VARIABLE)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .map(|value| tenant(TENANT_VARIABLE, &value))
            .transpose()?;
        let mut teams = HashMap::new();
        for entry in lookup(TEAM_TENANTS_VARIABLE)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (team, tenant_id) = entry
                .split_once(':')
                .map(|(team, tenant_id)| (team.trim(), tenant_id.trim()))
                .filter(|(team, _)| {
                    !team.is_empty() && team.bytes().all(|b| b.is_ascii_alphanumeric())
                })
                .ok_or_else(|| SlackTenantsError::Malformed {
                    entry: entry.to_owned(),
                })?;
            let tenant_id = tenant(TEAM_TENANTS_VARIABLE, tenant_id)?;
            if teams.insert(team.to_owned(), tenant_id).is_some() {
                return Err(SlackTenantsError::Duplicate {
                    team: team.to_owned(),
                });
            }
        }
        Ok(Self { default, teams })
    }

    /// The tenant workspace `team_id` sees, if any.
    pub fn tenant_for(&self, team_id: &str) -> Option<&str> {
        self.teams
            .get(team_id)
            .or(self.default.as_ref())
            .map(String::as_str)
    }
}

/// Creates the approval request behind a gated chat action. [`ApprovalService`] is the plain
/// one; a host wraps it to do more when a request is created.
#[async_trait]
pub trait ApprovalCreator: Send + Sync {
    /// Stores `new` as a pending request.
    async fn create(&self, new: NewApproval) -> Result<ApprovalRequest, StoreError>;
}

#[async_trait]
impl ApprovalCreator for ApprovalService {
    async fn create(&self, new: NewApproval) -> Result<ApprovalRequest, StoreError> {
        ApprovalService::create(self, new).await
    }
}

/// Creates each request through the service, then posts its approval card to the channels
/// the routing selects, as `POST /v1/approvals` does: an `/aisoc isolate` reaches the same
/// approvers, not only the person who typed it.
pub struct CardPostingCreator {
    service: ApprovalService,
    cards: ApprovalCards,
}

impl CardPostingCreator {
    /// Creates through `service` and posts through `cards`.
    pub fn new(service: ApprovalService, cards: ApprovalCards) -> Self {
        Self { service, cards }
    }
}

#[async_trait]
impl ApprovalCreator for CardPostingCreator {
    async fn create(&self, new: NewApproval) -> Result<ApprovalRequest, StoreError> {
        let approval = self.service.create(new).await?;
        // Posting never fails the request: each channel's result is recorded with the card.
        for report in self.cards.post(&approval).await {
            if let Some(error) = &report.error {
                tracing::warn!(approval_id = %approval.id, channel = %report.channel, %error, "approval card not posted");
            }
        }
        Ok(approval)
    }
}

/// The gateway's [`ChatOpsBackend`] (see the module docs).
pub struct GatewayChatOps {
    tenants: SlackTenants,
    events: Arc<dyn RecentEventIndex>,
    approvals: ApprovalService,
    creator: Arc<dyn ApprovalCreator>,
    audit: Arc<dyn AuditLog>,
    connectors: Option<Arc<dyn ConnectorStore>>,
}

impl std::fmt::Debug for GatewayChatOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayChatOps")
            .field("tenants", &self.tenants)
            .field("events", &self.events.describe())
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> BackendError {
    tracing::warn!(%error, "{what}");
    BackendError(format!("{what}; try again shortly"))
}

fn window_start(window: Duration) -> chrono::DateTime<Utc> {
    let now = Utc::now();
    chrono::Duration::from_std(window)
        .ok()
        .and_then(|window| now.checked_sub_signed(window))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
}

fn case_card(event: RecentEvent) -> CaseCard {
    CaseCard {
        status: format!(
            "new · {} · {}",
            event.template_id,
            event.received_at.format("%Y-%m-%d %H:%M UTC")
        ),
        id: event.event_id,
        title: event.title,
        severity: event.severity,
        url: None,
    }
}

fn case_summary(event: &RecentEvent) -> CaseSummary {
    let mut lines = Vec::new();
    if let Some(description) = &event.description {
        lines.push(description.clone());
    }
    let source = match &event.product {
        Some(product) => format!("Source: {} ({product})", event.template_id),
        None => format!("Source: {}", event.template_id),
    };
    lines.push(source);
    match (&event.class_name, event.class_uid) {
        (Some(name), Some(uid)) => lines.push(format!("OCSF class: {name} ({uid})")),
        (None, Some(uid)) => lines.push(format!("OCSF class: {uid}")),
        (Some(name), None) => lines.push(format!("OCSF class: {name}")),
        (None, None) => {}
    }
    if let Some(uid) = &event.source_uid {
        lines.push(format!("Sender's id: {uid}"));
    }
    lines.push(format!(
        "Received: {}",
        event.received_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    CaseSummary {
        case_id: event.event_id.clone(),
        title: event.title.clone(),
        summary: lines.join("\n"),
        severity: event.severity,
        url: None,
    }
}

impl GatewayChatOps {
    /// A backend over the gateway's index, approvals and audit trail; approvals are created
    /// through `approvals` until [`with_approval_creator`](Self::with_approval_creator).
    pub fn new(
        tenants: SlackTenants,
        events: Arc<dyn RecentEventIndex>,
        approvals: ApprovalService,
        audit: Arc<dyn AuditLog>,
    ) -> Self {
        Self {
            tenants,
            events,
            creator: Arc::new(approvals.clone()),
            approvals,
            audit,
            connectors: None,
        }
    }

    /// Creates gated actions' approval requests through `creator`.
    pub fn with_approval_creator(mut self, creator: Arc<dyn ApprovalCreator>) -> Self {
        self.creator = creator;
        self
    }

    /// Lists stale connectors in `/aisoc status`.
    pub fn with_connectors(mut self, connectors: Arc<dyn ConnectorStore>) -> Self {
        self.connectors = Some(connectors);
        self
    }

    fn tenant(&self, context: &CommandContext) -> Result<&str, BackendError> {
        self.tenants.tenant_for(&context.team_id).ok_or_else(|| {
            BackendError(format!(
                "This Slack workspace ({}) is not mapped to a tenant. Ask your AiSOC \
                 administrator to add it to {TEAM_TENANTS_VARIABLE} ({}:<tenant>) or to set \
                 {TENANT_VARIABLE}.",
                context.team_id, context.team_id
            ))
        })
    }

    async fn event(&self, tenant_id: &str, id: &str) -> Result<RecentEvent, BackendError> {
        self.events
            .find(tenant_id, id)
            .await
            .map_err(|e| unavailable("The event index cannot be read", e))?
            .ok_or_else(|| {
                BackendError(format!(
                    "No event {id} in the last {} events received for this tenant",
                    self.events.per_tenant()
                ))
            })
    }

    async fn open_approvals(&self, tenant_id: &str) -> Option<usize> {
        let now = Utc::now();
        match self
            .approvals
            .store()
            .list(tenant_id, Some(ApprovalStatus::Pending))
            .await
        {
            Ok(pending) => Some(pending.iter().filter(|a| a.expires_at > now).count()),
            Err(error) => {
                tracing::warn!(%error, "approvals unreadable for /aisoc status");
                None
            }
        }
    }

    async fn stale_connectors(&self, tenant_id: &str) -> Option<Vec<String>> {
        match self.connectors.as_ref()?.list(tenant_id).await {
            Ok(connectors) => Some(
                connectors
                    .into_iter()
                    .filter(|c| c.status == ConnectorStatus::Stale)
                    .map(|c| c.name)
                    .collect(),
            ),
            Err(error) => {
                tracing::warn!(%error, "connectors unreadable for /aisoc status");
                None
            }
        }
    }
}

#[async_trait]
impl ChatOpsBackend for GatewayChatOps {
    async fn list_open_cases(
        &self,
        context: &CommandContext,
    ) -> Result<Vec<CaseCard>, BackendError> {
        let tenant_id = self.tenant(context)?;
        let events = self
            .events
            .list(tenant_id, window_start(OPEN_WINDOW))
            .await
            .map_err(|e| unavailable("The event index cannot be read", e))?;
        Ok(events.into_iter().map(case_card).collect())
    }

    async fn start_investigation(
        &self,
        context: &CommandContext,
        case_id: &str,
    ) -> Result<InvestigationStarted, BackendError> {
        let tenant_id = self.tenant(context)?;
        let event = self.event(tenant_id, case_id).await?;
        let entry = self
            .audit
            .append(NewAuditEntry {
                tenant_id: tenant_id.to_owned(),
                action: INVESTIGATE_ACTION.to_owned(),
                subject_id: event.event_id.clone(),
                actor: context.user.name.clone(),
                details: json!({
                    "source": "slack",
                    "user_id": context.user.id,
                    "team_id": context.team_id,
                    "channel_id": context.channel_id,
                    "title": event.title,
                    "severity": event.severity.as_str(),
                }),
                created_at: Utc::now(),
            })
            .await
            .map_err(|e| unavailable("The investigation could not be recorded", e))?;
        Ok(InvestigationStarted {
            run_id: format!("audit-{}", entry.id),
            url: None,
            details: Some(case_summary(&event)),
        })
    }

    async fn case_summary(
        &self,
        context: &CommandContext,
        case_id: &str,
    ) -> Result<CaseSummary, BackendError> {
        let tenant_id = self.tenant(context)?;
        Ok(case_summary(&self.event(tenant_id, case_id).await?))
    }

    async fn submit_gated_action(
        &self,
        context: &CommandContext,
        action: GatedActionRequest,
    ) -> Result<PendingApproval, BackendError> {
        let tenant_id = self.tenant(context)?;
        let (summary, verb) = match action.kind {
            GatedActionKind::IsolateHost => (format!("Isolate host {}", action.target), "isolate"),
            GatedActionKind::BlockIp => (format!("Block IP {}", action.target), "block"),
        };
        let who = &action.requested_by;
        let notes = format!(
            "Requested by {} ({}) with /aisoc {verb} {} in Slack (team {}, channel {})",
            who.name, who.id, action.target, context.team_id, context.channel_id
        );
        let new = NewApproval {
            id: None,
            tenant_id: tenant_id.to_owned(),
            summary,
            risk_score: None,
            requested_action: action.kind.action_type().to_owned(),
            expires_at: self
                .approvals
                .expires_in(APPROVAL_TTL)
                .map_err(|e| unavailable("The approval request could not be created", e))?,
            notes: Some(notes.clone()),
            run_id: None,
            case_id: None,
        };
        let created = self
            .creator
            .create(new)
            .await
            .map_err(|e| unavailable("The approval request could not be created", e))?;
        let audited = self
            .audit
            .append(NewAuditEntry {
                tenant_id: tenant_id.to_owned(),
                action: GATED_REQUEST_ACTION.to_owned(),
                subject_id: created.id.clone(),
                actor: who.name.clone(),
                details: json!({
                    "source": "slack",
                    "user_id": who.id,
                    "team_id": context.team_id,
                    "channel_id": context.channel_id,
                    "requested_action": created.requested_action,
                    "target": action.target,
                }),
                created_at: created.created_at,
            })
            .await;
        if let Err(error) = audited {
            // The request exists and waits for a reviewer; its notes name the requester.
            tracing::warn!(%error, approval_id = %created.id, "chat approval request not audited");
        }
        Ok(PendingApproval {
            approval_id: created.id,
            summary: format!(
                "{notes}. Nothing runs until a reviewer approves; the request expires at {}.",
                created.expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
            risk_score: created.risk_score,
            console_url: None,
        })
    }

    async fn status(&self, context: &CommandContext) -> Result<StatusSummary, BackendError> {
        let tenant_id = self.tenant(context)?;
        let events = self
            .events
            .list(tenant_id, window_start(OPEN_WINDOW))
            .await
            .map_err(|e| unavailable("The event index cannot be read", e))?;
        let hour_ago = window_start(Duration::from_secs(3600));
        Ok(StatusSummary {
            tenant_id: tenant_id.to_owned(),
            open_approvals: self.open_approvals(tenant_id).await,
            last_hour: events
                .iter()
                .filter(|e| e.received_at >= hour_ago)
                .map(|e| e.severity)
                .collect::<SeverityCounts>(),
            last_day: events.iter().map(|e| e.severity).collect(),
            stale_connectors: self.stale_connectors(tenant_id).await,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
    use aisoc_notify_core::decision::Reviewer;

    use super::*;
    use crate::recent_events::MemoryRecentEvents;

    /// Creates through the service and remembers what it created, as a host's wrapper would.
    struct Recording {
        service: ApprovalService,
        created: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl ApprovalCreator for Recording {
        async fn create(&self, new: NewApproval) -> Result<ApprovalRequest, StoreError> {
            let created = self.service.create(new).await?;
            self.created.lock().unwrap().push(created.id.clone());
            Ok(created)
        }
    }

    #[tokio::test]
    async fn a_gated_action_becomes_a_pending_approval_through_the_hosts_creator() {
        let audit = Arc::new(MemoryAuditLog::new());
        let service = ApprovalService::new(Arc::new(MemoryApprovalStore::new(audit.clone())));
        let recording = Arc::new(Recording {
            service: service.clone(),
            created: Mutex::new(Vec::new()),
        });
        let backend = GatewayChatOps::new(
            tenants(&[(TEAM_TENANTS_VARIABLE, "T1:acme")]).unwrap(),
            Arc::new(MemoryRecentEvents::new(10)),
            service.clone(),
            audit.clone(),
        )
        .with_approval_creator(recording.clone());
        let context = CommandContext {
            team_id: "T1".into(),
            channel_id: "C1".into(),
            user: Reviewer {
                id: "U1".into(),
                name: "alice".into(),
            },
        };
        let pending = backend
            .submit_gated_action(
                &context,
                GatedActionRequest {
                    kind: GatedActionKind::BlockIp,
                    target: "203.0.113.7".into(),
                    requested_by: context.user.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            recording.created.lock().unwrap().as_slice(),
            std::slice::from_ref(&pending.approval_id)
        );
        let stored = service
            .store()
            .get("acme", &pending.approval_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, ApprovalStatus::Pending);
        assert_eq!(stored.requested_action, "block_ip");
        assert_eq!(stored.summary, "Block IP 203.0.113.7");
        let entries = audit.list("acme", Some(&stored.id)).await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, GATED_REQUEST_ACTION);
        assert_eq!(entries[0].actor, "alice");
        assert!(
            pending
                .summary
                .contains("Nothing runs until a reviewer approves")
        );
    }

    fn tenants(pairs: &[(&str, &str)]) -> Result<SlackTenants, SlackTenantsError> {
        let pairs: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SlackTenants::from_lookup(&|name| pairs.get(name).cloned())
    }

    #[test]
    fn teams_map_to_their_tenant_and_others_to_the_default() {
        let map = tenants(&[(TEAM_TENANTS_VARIABLE, " T123:acme , T456:globex,")]).unwrap();
        assert_eq!(map.tenant_for("T123"), Some("acme"));
        assert_eq!(map.tenant_for("T456"), Some("globex"));
        assert_eq!(map.tenant_for("T789"), None);
        let with_default = tenants(&[
            (TEAM_TENANTS_VARIABLE, "T123:acme"),
            (TENANT_VARIABLE, "initech"),
        ])
        .unwrap();
        assert_eq!(with_default.tenant_for("T123"), Some("acme"));
        assert_eq!(with_default.tenant_for("T789"), Some("initech"));
        assert_eq!(tenants(&[]).unwrap().tenant_for("T123"), None);
    }

    #[test]
    fn malformed_settings_are_refused_naming_the_setting() {
        for (setting, value) in [
            (TEAM_TENANTS_VARIABLE, "T123"),
            (TEAM_TENANTS_VARIABLE, ":acme"),
            (TEAM_TENANTS_VARIABLE, "T1:acme,T1:globex"),
            (TEAM_TENANTS_VARIABLE, "T1:ac me"),
            (TEAM_TENANTS_VARIABLE, "T-1:acme"),
            (TENANT_VARIABLE, "acme/ops"),
        ] {
            let error = tenants(&[(setting, value)]).unwrap_err();
            assert!(error.to_string().starts_with(setting), "{error}");
        }
    }
}
