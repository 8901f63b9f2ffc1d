//! Rendering notifications, approval requests and decision results as Slack messages.
//!
//! A notification becomes one attachment whose colour bar is the severity colour, holding a
//! header with the severity emoji, the body, a context line, the facts (ten per section) and
//! the links and actions as buttons. Everything that came from outside is escaped; everything
//! long is cut; facts that would not fit within the block limit are summarised as "and N more".

pub use aisoc_notify_core::decision::ApprovalPrompt;
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionRecorded, VERIFY_CHOICES, VerificationPrompt,
};
use aisoc_notify_core::notification::{ActionStyle, ActionTarget, Fact, Notification, Severity};
use aisoc_notify_core::token::{CallbackGrant, CallbackTokenSigner, signed_callback_url};

use crate::blocks::{
    Actions, Block, BlockKitError, Button, ButtonStyle, Context, Section, SlackMessage, Text,
    limits,
};
use crate::error::SlackError;
use crate::mrkdwn;

/// Action id of the approve button.
pub const APPROVE_ACTION: &str = "approve_action";
/// Action id of the deny button.
pub const DENY_ACTION: &str = "deny_action";
/// Action id of the console link button.
pub const VIEW_CONSOLE_ACTION: &str = "view_console";

/// Blocks kept free for the closing "and N more" note.
const OVERFLOW_NOTE_BLOCKS: usize = 1;

fn severity_line(severity: Severity, event: &str, tenant: &str) -> String {
    format!(
        "{} *{}*  |  {}  |  tenant {}",
        severity.emoji_shortcode(),
        severity.as_str().to_uppercase(),
        mrkdwn::escape(event),
        mrkdwn::escape(tenant)
    )
}

fn fact_text(fact: &Fact) -> Text {
    Text::mrkdwn(format!(
        "*{}*\n{}",
        mrkdwn::escape(&fact.label),
        mrkdwn::escape(&fact.value)
    ))
}

/// Appends up to `max_sections` sections of ten facts each; returns how many facts did not fit.
fn push_facts(
    blocks: &mut Vec<Block>,
    facts: &[Fact],
    max_sections: usize,
) -> Result<usize, BlockKitError> {
    let mut shown = 0;
    for chunk in facts.chunks(limits::SECTION_FIELDS).take(max_sections) {
        let mut section = Section::new();
        for fact in chunk {
            section = section.field(fact_text(fact))?;
        }
        blocks.push(section.into());
        shown += chunk.len();
    }
    Ok(facts.len() - shown)
}

fn action_button(
    action: &aisoc_notify_core::notification::InteractiveAction,
) -> Result<Button, BlockKitError> {
    let mut button = Button::new(&action.label, action.action_id.clone())?;
    button = match &action.target {
        ActionTarget::Url(url) => button.url(url)?,
        ActionTarget::Value(value) => button.value(value.clone())?,
    };
    Ok(match action.style {
        ActionStyle::Primary => button.style(ButtonStyle::Primary),
        ActionStyle::Danger => button.style(ButtonStyle::Danger),
        ActionStyle::Default => button,
    })
}

/// Renders a notification as a severity-coloured card.
pub fn notification_message(notification: &Notification) -> Result<SlackMessage, BlockKitError> {
    let severity = notification.severity;
    let fallback = format!(
        "{} [{}] {}",
        severity.emoji_shortcode(),
        severity.as_str().to_uppercase(),
        mrkdwn::escape(&notification.title)
    );

    let mut blocks = vec![Block::header(&format!(
        "{} {}",
        severity.emoji(),
        notification.title
    ))];
    if !notification.body.trim().is_empty() {
        blocks.push(
            Section::new()
                .text(Text::user_mrkdwn(&notification.body))
                .into(),
        );
    }
    blocks.push(
        Context::new()
            .element(Text::mrkdwn(severity_line(
                severity,
                notification.event_type.as_str(),
                &notification.tenant_id,
            )))?
            .into(),
    );

    // Buttons: interactive actions first, then links, 25 per row, rows as needed.
    let mut buttons = Vec::new();
    for action in &notification.actions {
        buttons.push(action_button(action)?);
    }
    for (index, link) in notification.links.iter().enumerate() {
        buttons.push(Button::new(&link.label, format!("link_{index}"))?.url(&link.url)?);
    }
    let button_rows = buttons.len().div_ceil(limits::ACTIONS_ELEMENTS);

    let budget = limits::BLOCKS_PER_MESSAGE
        .saturating_sub(blocks.len() + button_rows + OVERFLOW_NOTE_BLOCKS);
    let left_out = push_facts(&mut blocks, &notification.facts, budget)?;
    if left_out > 0 {
        blocks.push(
            Context::new()
                .element(Text::plain(format!("…and {left_out} more facts not shown")))?
                .into(),
        );
    }
    let mut row = Actions::new();
    for button in buttons {
        if row.len() == limits::ACTIONS_ELEMENTS {
            blocks.push(std::mem::take(&mut row).into());
        }
        row = row.button(button)?;
    }
    if !row.is_empty() {
        blocks.push(row.into());
    }

    Ok(SlackMessage::builder(&fallback)
        .attachment(severity.color_hex(), &fallback, blocks)?
        .build())
}

/// Renders an approval request with Approve / Deny buttons and a console link.
pub fn approval_message(prompt: &ApprovalPrompt) -> Result<SlackMessage, BlockKitError> {
    let severity = prompt.severity;
    let fallback = format!(
        "{} Approval needed: {}",
        severity.emoji_shortcode(),
        mrkdwn::escape(&prompt.title)
    );
    let mut blocks = vec![
        Block::header(&format!(
            "{} Approval needed: {}",
            severity.emoji(),
            prompt.title
        )),
        Section::new()
            .text(Text::user_mrkdwn(&prompt.summary))
            .into(),
    ];
    let mut details = Section::new();
    if let Some(risk) = prompt.risk_score {
        details = details.field(Text::mrkdwn(format!("*Risk score*\n{risk}/100")))?;
    }
    details = details.field(Text::mrkdwn(format!("*Severity*\n{}", severity.as_str())))?;
    if let Some(requested_by) = &prompt.requested_by {
        details = details.field(Text::mrkdwn(format!(
            "*Requested by*\n{}",
            mrkdwn::escape(requested_by)
        )))?;
    }
    blocks.push(details.into());

    let budget = limits::BLOCKS_PER_MESSAGE.saturating_sub(blocks.len() + 2 + OVERFLOW_NOTE_BLOCKS);
    let left_out = push_facts(&mut blocks, &prompt.facts, budget)?;
    if left_out > 0 {
        blocks.push(
            Context::new()
                .element(Text::plain(format!("…and {left_out} more facts not shown")))?
                .into(),
        );
    }

    let mut actions = Actions::new()
        .button(
            Button::new("Approve", APPROVE_ACTION)?
                .value(prompt.approval_id.clone())?
                .style(ButtonStyle::Primary),
        )?
        .button(
            Button::new("Deny", DENY_ACTION)?
                .value(prompt.approval_id.clone())?
                .style(ButtonStyle::Danger),
        )?;
    if let Some(url) = &prompt.console_url {
        actions = actions.button(Button::new("View in console", VIEW_CONSOLE_ACTION)?.url(url)?)?;
    }
    blocks.push(actions.into());
    blocks.push(
        Context::new()
            .element(Text::mrkdwn(format!(
                "Approval `{}`",
                mrkdwn::escape(&prompt.approval_id)
            )))?
            .into(),
    );
    Ok(SlackMessage::builder(&fallback)
        .attachment(severity.color_hex(), &fallback, blocks)?
        .build())
}

/// Renders a "was this you?" prompt whose three buttons open signed callback URLs
/// (`acknowledge`, `deny`, `escalate`), minted for the prompt's user.
pub fn verification_message(
    prompt: &VerificationPrompt,
    signer: &dyn CallbackTokenSigner,
    callback_base: &url::Url,
) -> Result<SlackMessage, SlackError> {
    let severity = prompt.severity;
    let fallback = format!(":question: Was this you? {}", mrkdwn::escape(&prompt.title));
    let mut blocks = vec![
        Block::header(&format!("Was this you? {}", prompt.title)),
        Section::new()
            .text(Text::user_mrkdwn(&prompt.message))
            .into(),
    ];
    push_facts(&mut blocks, &prompt.facts, 3)?;
    let labels = ["Yes, it was me", "No, it wasn't me", "Escalate to security"];
    let mut actions = Actions::new();
    for (choice, label) in VERIFY_CHOICES.iter().zip(labels) {
        let grant = CallbackGrant {
            action: "chatops.verify".into(),
            case_id: prompt.case_id.clone(),
            tenant_id: prompt.tenant_id.clone(),
            user_ref: prompt.user_ref.clone(),
            choice: (*choice).to_owned(),
            prompt_id: Some(prompt.prompt_id.clone()),
        };
        let url = signed_callback_url(signer, callback_base, &grant)?;
        let mut button = Button::new(label, format!("verify_{choice}"))?.url(&url)?;
        button = match *choice {
            "acknowledge" => button.style(ButtonStyle::Primary),
            "deny" => button.style(ButtonStyle::Danger),
            _ => button,
        };
        actions = actions.button(button)?;
    }
    blocks.push(actions.into());
    blocks.push(
        Context::new()
            .element(Text::mrkdwn(format!(
                "Case `{}`",
                mrkdwn::escape(&prompt.case_id)
            )))?
            .into(),
    );
    Ok(SlackMessage::builder(&fallback)
        .attachment(severity.color_hex(), &fallback, blocks)?
        .build())
}

/// The text that replaces an approval card once decided: `:white_check_mark: *APPROVED* by
/// <user>`, `:x: *DENIED* by <user>`, or `:warning: <error>`.
pub fn decision_text(result: &Result<DecisionRecorded, DecisionError>) -> String {
    match result {
        Ok(recorded) => {
            let reviewer = mrkdwn::escape(&recorded.reviewer_name);
            match recorded.decision {
                Decision::Approve => format!(":white_check_mark: *APPROVED* by {reviewer}"),
                Decision::Deny => format!(":x: *DENIED* by {reviewer}"),
            }
        }
        Err(error) => warning_text(&error.to_string()),
    }
}

/// `:warning: <message>`, escaped.
pub fn warning_text(message: &str) -> String {
    format!(":warning: {}", mrkdwn::escape(message))
}

/// A message that replaces the original (the approval card) with `text`.
pub fn replacement_message(text: &str) -> SlackMessage {
    let section: Block = Section::new().text(Text::mrkdwn(text)).into();
    SlackMessage::builder(text)
        .block(section)
        .expect("one block fits")
        .replace_original()
        .build()
}
