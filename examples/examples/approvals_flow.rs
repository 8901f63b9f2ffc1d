//! An approval request decided exactly once, in memory: [`ApprovalService`] over
//! [`MemoryApprovalStore`] and [`MemoryAuditLog`]. The request is posted to reviewers through a
//! [`PromptTransport`] (here one that prints; the gateway uses Slack's or Teams'), a first
//! reviewer approves through the [`DecisionHandler`] trait (the same entry point the Slack and
//! Teams buttons use), the posted prompt is updated with the outcome, a second reviewer's "deny"
//! is refused with "Already approved", and the audit trail is printed.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example approvals_flow
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_approvals::memory::{MemoryApprovalStore, MemoryAuditLog};
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_approvals::store::AuditLog;
use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{
    Decision, DecisionHandler, DecisionRequest, DecisionSource, Reviewer, VerificationPrompt,
};
use aisoc_notify_core::prompt::{
    ApprovalAsk, PromptError, PromptOutcome, PromptReceipt, PromptTransport, SignedLinks,
};

/// A prompt transport that prints: what a Slack or Teams transport posts, as text.
struct ConsolePrompts;

#[async_trait]
impl PromptTransport for ConsolePrompts {
    fn name(&self) -> &str {
        "console"
    }

    async fn send_verification(
        &self,
        prompt: &VerificationPrompt,
        links: SignedLinks<'_>,
    ) -> Result<PromptReceipt, PromptError> {
        println!(
            "[console] to {}: Was this you? {}",
            prompt.user_ref, prompt.title
        );
        for (choice, url) in links
            .verification_links(prompt)
            .map_err(PromptError::token)?
        {
            println!("[console]   {choice}: {url}");
        }
        Ok(PromptReceipt::message(
            "console",
            &prompt.user_ref,
            &prompt.prompt_id,
        ))
    }

    async fn send_approval(
        &self,
        ask: &ApprovalAsk,
        _links: Option<SignedLinks<'_>>,
    ) -> Result<PromptReceipt, PromptError> {
        let prompt = &ask.prompt;
        let to = ask.recipient.as_deref().unwrap_or("#approvals");
        println!(
            "[console] to {to}: Approval needed: {} (risk {:?}, expires {}) [Approve] [Deny]",
            prompt.title, prompt.risk_score, ask.expires_at
        );
        Ok(PromptReceipt::message("console", to, &prompt.approval_id))
    }

    async fn update(
        &self,
        receipt: &PromptReceipt,
        outcome: &PromptOutcome,
    ) -> Result<PromptReceipt, PromptError> {
        println!(
            "[console] {} in {} now reads: {}",
            receipt.message_id.as_deref().unwrap_or("?"),
            receipt.channel.as_deref().unwrap_or("?"),
            outcome.summary()
        );
        Ok(receipt.clone())
    }
}

fn decision(
    approval_id: &str,
    decision: Decision,
    who: &str,
    source: DecisionSource,
) -> DecisionRequest {
    DecisionRequest {
        approval_id: approval_id.to_owned(),
        decision,
        reviewer: Reviewer {
            id: format!("U-{who}"),
            name: who.to_owned(),
        },
        source,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let audit = Arc::new(MemoryAuditLog::new());
    let service = ApprovalService::new(Arc::new(MemoryApprovalStore::new(audit.clone())));

    let request = service
        .request(
            "acme",
            "Isolate host web-01 after C2 beaconing",
            "isolate_host",
            Some(82),
            Duration::from_secs(3600),
        )
        .await?;
    println!(
        "created {} [{}] risk {:?}, expires {}",
        request.id, request.status, request.risk_score, request.expires_at
    );

    // Post it to reviewers; the receipt finds the message again once decided.
    let transport: Arc<dyn PromptTransport> = Arc::new(ConsolePrompts);
    let receipt = transport
        .send_approval(&request.ask().to("#soc-approvals"), None)
        .await?;

    // Slack and Teams hold an `Arc<dyn DecisionHandler>`; so does this example.
    let handler: Arc<dyn DecisionHandler> = Arc::new(service.clone());

    let first = handler
        .decide(decision(
            &request.id,
            Decision::Approve,
            "alice",
            DecisionSource::Slack,
        ))
        .await?;
    println!(
        "alice (slack): {} by {}",
        first.decision.status_word(),
        first.reviewer_name
    );
    transport
        .update(
            &receipt,
            &PromptOutcome::Decided {
                decision: first.decision,
                reviewer: first.reviewer_name.clone(),
            },
        )
        .await?;

    // The second reviewer loses the race: the error text is what their card shows.
    let second = handler
        .decide(decision(
            &request.id,
            Decision::Deny,
            "bob",
            DecisionSource::Teams,
        ))
        .await;
    match &second {
        Ok(recorded) => println!("bob (teams): unexpectedly recorded {recorded:?}"),
        Err(refused) => println!("bob (teams): refused: {refused}"),
    }
    assert!(second.is_err(), "a request is decided exactly once");

    let missing = handler
        .decide(decision(
            "apr_nope",
            Decision::Approve,
            "carol",
            DecisionSource::Api,
        ))
        .await;
    println!("carol (api) on an unknown id: {missing:?}");

    let stored = service
        .store()
        .get(&request.tenant_id, &request.id)
        .await?
        .ok_or("request vanished")?;
    println!(
        "\nstored: status={} reviewer={:?} source={:?} reviewed_at={:?}",
        stored.status, stored.reviewer, stored.source, stored.reviewed_at
    );

    println!("\naudit trail for {}:", request.id);
    for entry in audit.list("acme", Some(&request.id)).await? {
        println!(
            "  #{} {} {} by {} {}",
            entry.id, entry.created_at, entry.action, entry.actor, entry.details
        );
    }
    Ok(())
}
