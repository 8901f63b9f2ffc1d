//! `answer` for the commands whose rendering depends on what the backend gave: an
//! investigation with the case's details, and a backend without `/aisoc status`.

use super::*;

/// A backend that knows one case and no status (the trait's default).
struct OneCase;

#[async_trait]
impl ChatOpsBackend for OneCase {
    async fn list_open_cases(&self, _: &CommandContext) -> Result<Vec<CaseCard>, BackendError> {
        Ok(Vec::new())
    }

    async fn start_investigation(
        &self,
        _: &CommandContext,
        case_id: &str,
    ) -> Result<InvestigationStarted, BackendError> {
        Ok(InvestigationStarted {
            run_id: "audit-7".into(),
            url: None,
            details: Some(CaseSummary {
                case_id: case_id.into(),
                title: "Beaconing from web-01".into(),
                summary: "Seen <!here> 40 times".into(),
                severity: Severity::High,
                url: None,
            }),
        })
    }

    async fn case_summary(
        &self,
        _: &CommandContext,
        case_id: &str,
    ) -> Result<CaseSummary, BackendError> {
        Err(BackendError(format!("no case {case_id}")))
    }

    async fn submit_gated_action(
        &self,
        _: &CommandContext,
        _: GatedActionRequest,
    ) -> Result<PendingApproval, BackendError> {
        Err(BackendError("not here".into()))
    }
}

fn context() -> CommandContext {
    CommandContext {
        team_id: "T1".into(),
        channel_id: "C1".into(),
        user: Reviewer {
            id: "U1".into(),
            name: "alice".into(),
        },
    }
}

#[tokio::test]
async fn an_investigation_is_announced_in_channel_with_the_case_details() {
    let command = AisocCommand::parse("investigate evt-1").unwrap();
    let message = answer(&command, &context(), &OneCase).await;
    assert_eq!(message.response_type, Some(ResponseType::InChannel));
    assert_eq!(
        message.text,
        ":mag: Investigation `audit-7` started for case `evt-1` by alice"
    );
    let json = serde_json::to_value(&message).unwrap();
    assert_eq!(json["blocks"][0]["text"]["text"], message.text.as_str());
    let details = json["attachments"][0]["blocks"].to_string();
    assert!(details.contains("Beaconing from web-01"), "{details}");
    assert!(details.contains("&lt;!here&gt;"), "alert text is escaped");
}

#[tokio::test]
async fn a_backend_without_status_says_so() {
    let message = answer(&AisocCommand::Status, &context(), &OneCase).await;
    assert_eq!(
        message.text,
        ":warning: `/aisoc status` is not available on this server"
    );
    assert_eq!(message.response_type, Some(ResponseType::Ephemeral));
    assert!(help_text().contains("/aisoc status"));
}
