//! Block Kit builders that cannot produce a message Slack would reject.
//!
//! Text that is too long is cut with an ellipsis ([`crate::mrkdwn::truncate`]); structure that
//! does not fit (an eleventh field in a section, a fifty-first block, an action id over 255
//! characters) is a [`BlockKitError`], because silently dropping a button or changing an id
//! would change what the message does.
//!
//! The crate writes its own builders rather than using a general Block Kit crate because it
//! needs exactly this split between safe truncation and typed structural errors, for the five
//! block types a notification uses.
//!
//! ```
//! use aisoc_notify_slack::blocks::{Actions, Block, Button, ButtonStyle, Section, SlackMessage, Text};
//!
//! let message = SlackMessage::builder("Approve isolating web-01?")
//!     .block(Block::header("Approval needed"))?
//!     .block(Section::new().text(Text::user_mrkdwn("Isolate <web-01>?")).field(Text::mrkdwn("*Risk*\n82"))?.into())?
//!     .block(
//!         Actions::new()
//!             .button(Button::new("Approve", "approve_action")?.value("apr-1")?.style(ButtonStyle::Primary))?
//!             .button(Button::new("Deny", "deny_action")?.value("apr-1")?.style(ButtonStyle::Danger))?
//!             .into(),
//!     )?
//!     .build();
//! let json = serde_json::to_value(&message).unwrap();
//! assert_eq!(json["blocks"][1]["text"]["text"], "Isolate &lt;web-01&gt;?");
//! # Ok::<(), aisoc_notify_slack::blocks::BlockKitError>(())
//! ```

use serde::Serialize;

use crate::mrkdwn;

/// Slack's published Block Kit limits, in characters or items.
pub mod limits {
    /// Blocks in one message (attachments included).
    pub const BLOCKS_PER_MESSAGE: usize = 50;
    /// Header text.
    pub const HEADER_TEXT: usize = 150;
    /// Section text.
    pub const SECTION_TEXT: usize = 3000;
    /// Fields in one section.
    pub const SECTION_FIELDS: usize = 10;
    /// Text of one section field.
    pub const FIELD_TEXT: usize = 2000;
    /// Elements in a context block.
    pub const CONTEXT_ELEMENTS: usize = 10;
    /// Text of one context element (the text object limit).
    pub const CONTEXT_TEXT: usize = 3000;
    /// Elements in an actions block.
    pub const ACTIONS_ELEMENTS: usize = 25;
    /// Button text.
    pub const BUTTON_TEXT: usize = 75;
    /// `action_id` and `block_id`.
    pub const ACTION_ID: usize = 255;
    /// Button `value`.
    pub const BUTTON_VALUE: usize = 2000;
    /// Button `url`.
    pub const BUTTON_URL: usize = 3000;
    /// The top-level `text` kept (Slack cuts at 40,000; notifications show far less).
    pub const MESSAGE_TEXT: usize = 3000;
}

/// A structural limit was exceeded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockKitError {
    /// A message would hold more than 50 blocks.
    #[error("a message holds at most {max} blocks")]
    TooManyBlocks {
        /// The limit.
        max: usize,
    },
    /// A block would hold more elements or fields than allowed.
    #[error("a {block} block holds at most {max} {what}")]
    TooManyElements {
        /// The block type.
        block: &'static str,
        /// Fields or elements.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// An identifier or value is longer than allowed; it is not cut because that would change
    /// what the button does.
    #[error("{what} is {len} characters; the limit is {max}")]
    TooLong {
        /// `action_id`, `value` or `url`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required identifier is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

/// A text object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Text {
    /// Plain text, shown as is (emoji short codes are rendered).
    PlainText {
        /// The text.
        text: String,
        /// Render `:emoji:` short codes.
        emoji: bool,
    },
    /// `mrkdwn` markup.
    Mrkdwn {
        /// The markup.
        text: String,
    },
}

impl Text {
    /// Plain text; safe for any input.
    pub fn plain(text: impl Into<String>) -> Self {
        Text::PlainText {
            text: text.into(),
            emoji: true,
        }
    }

    /// Markup written by the program (links, bold); not escaped.
    pub fn mrkdwn(markup: impl Into<String>) -> Self {
        Text::Mrkdwn {
            text: markup.into(),
        }
    }

    /// Text from users or alerts, escaped so it cannot mention or link.
    pub fn user_mrkdwn(text: &str) -> Self {
        Text::Mrkdwn {
            text: mrkdwn::escape(text).into_owned(),
        }
    }

    /// The text content.
    pub fn as_str(&self) -> &str {
        match self {
            Text::PlainText { text, .. } | Text::Mrkdwn { text } => text,
        }
    }

    fn fit(self, max: usize) -> Self {
        match self {
            Text::PlainText { text, emoji } => Text::PlainText {
                text: mrkdwn::truncate(&text, max).into_owned(),
                emoji,
            },
            Text::Mrkdwn { text } => Text::Mrkdwn {
                text: mrkdwn::truncate(&text, max).into_owned(),
            },
        }
    }
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    /// Green: the expected choice.
    Primary,
    /// Red: destructive.
    Danger,
}

/// A button element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename = "button")]
pub struct Button {
    text: Text,
    action_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    style: Option<ButtonStyle>,
}

fn check_len(what: &'static str, value: &str, max: usize) -> Result<(), BlockKitError> {
    let len = value.chars().count();
    if len > max {
        return Err(BlockKitError::TooLong { what, len, max });
    }
    Ok(())
}

impl Button {
    /// A button labelled `label` (cut to 75 characters) that reports `action_id` when pressed.
    pub fn new(label: &str, action_id: impl Into<String>) -> Result<Self, BlockKitError> {
        let action_id = action_id.into();
        if action_id.is_empty() {
            return Err(BlockKitError::Empty("action_id"));
        }
        check_len("action_id", &action_id, limits::ACTION_ID)?;
        Ok(Self {
            text: Text::plain(label).fit(limits::BUTTON_TEXT),
            action_id,
            value: None,
            url: None,
            style: None,
        })
    }

    /// The value sent back when pressed (at most 2000 characters).
    pub fn value(mut self, value: impl Into<String>) -> Result<Self, BlockKitError> {
        let value = value.into();
        check_len("value", &value, limits::BUTTON_VALUE)?;
        self.value = Some(value);
        Ok(self)
    }

    /// A URL opened when pressed (at most 3000 characters).
    pub fn url(mut self, url: &url::Url) -> Result<Self, BlockKitError> {
        check_len("url", url.as_str(), limits::BUTTON_URL)?;
        self.url = Some(url.to_string());
        Ok(self)
    }

    /// The button style.
    pub fn style(mut self, style: ButtonStyle) -> Self {
        self.style = Some(style);
        self
    }
}

/// A section block: text, up to ten fields, an optional button beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Section {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accessory: Option<Button>,
}

impl Section {
    /// An empty section.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the text (cut to 3000 characters).
    pub fn text(mut self, text: Text) -> Self {
        self.text = Some(text.fit(limits::SECTION_TEXT));
        self
    }

    /// Adds a field (cut to 2000 characters); an eleventh field is an error.
    pub fn field(mut self, field: Text) -> Result<Self, BlockKitError> {
        if self.fields.len() >= limits::SECTION_FIELDS {
            return Err(BlockKitError::TooManyElements {
                block: "section",
                what: "fields",
                max: limits::SECTION_FIELDS,
            });
        }
        self.fields.push(field.fit(limits::FIELD_TEXT));
        Ok(self)
    }

    /// Puts a button beside the text.
    pub fn accessory(mut self, button: Button) -> Self {
        self.accessory = Some(button);
        self
    }

    /// The number of fields.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }
}

/// A context block: small, grey text elements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Context {
    elements: Vec<Text>,
}

impl Context {
    /// An empty context block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an element; an eleventh is an error.
    pub fn element(mut self, text: Text) -> Result<Self, BlockKitError> {
        if self.elements.len() >= limits::CONTEXT_ELEMENTS {
            return Err(BlockKitError::TooManyElements {
                block: "context",
                what: "elements",
                max: limits::CONTEXT_ELEMENTS,
            });
        }
        self.elements.push(text.fit(limits::CONTEXT_TEXT));
        Ok(self)
    }
}

/// An actions block: a row of buttons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Actions {
    elements: Vec<Button>,
}

impl Actions {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a button; a twenty-sixth is an error.
    pub fn button(mut self, button: Button) -> Result<Self, BlockKitError> {
        if self.elements.len() >= limits::ACTIONS_ELEMENTS {
            return Err(BlockKitError::TooManyElements {
                block: "actions",
                what: "elements",
                max: limits::ACTIONS_ELEMENTS,
            });
        }
        self.elements.push(button);
        Ok(self)
    }

    /// Whether the row has no buttons.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The number of buttons.
    pub fn len(&self) -> usize {
        self.elements.len()
    }
}

/// One block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A large plain-text title.
    Header {
        /// The title.
        text: Text,
    },
    /// Text and fields.
    Section(Section),
    /// Small grey text.
    Context(Context),
    /// Buttons.
    Actions(Actions),
    /// A horizontal rule.
    Divider {},
}

impl Block {
    /// A header (plain text, cut to 150 characters).
    pub fn header(title: &str) -> Self {
        Block::Header {
            text: Text::plain(title).fit(limits::HEADER_TEXT),
        }
    }

    /// A divider.
    pub fn divider() -> Self {
        Block::Divider {}
    }
}

impl From<Section> for Block {
    fn from(section: Section) -> Self {
        Block::Section(section)
    }
}

impl From<Context> for Block {
    fn from(context: Context) -> Self {
        Block::Context(context)
    }
}

impl From<Actions> for Block {
    fn from(actions: Actions) -> Self {
        Block::Actions(actions)
    }
}

/// A legacy attachment, used for the severity colour bar beside Block Kit content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The bar colour, `#RRGGBB`.
    pub color: String,
    /// The blocks inside the attachment.
    pub blocks: Vec<Block>,
    /// Plain text for clients that cannot show blocks.
    pub fallback: String,
}

/// Whether Slack should post a command reply for everyone or only the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// Only the user who ran the command sees it.
    Ephemeral,
    /// Everyone in the channel sees it.
    InChannel,
}

/// A complete message: fallback text, blocks and attachments, plus the response-URL options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackMessage {
    /// Notification and fallback text (escaped where it came from users).
    pub text: String,
    /// Top-level blocks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    /// Attachments (each with a colour bar).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// For `response_url` replies: replace the message the action came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_original: Option<bool>,
    /// For `response_url` replies: who sees the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<ResponseType>,
}

impl SlackMessage {
    /// Starts a message with its notification text (cut to the text limit).
    pub fn builder(text: &str) -> SlackMessageBuilder {
        SlackMessageBuilder {
            message: SlackMessage {
                text: mrkdwn::truncate(text, limits::MESSAGE_TEXT).into_owned(),
                blocks: Vec::new(),
                attachments: Vec::new(),
                replace_original: None,
                response_type: None,
            },
        }
    }

    /// The number of blocks, attachments included.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
            + self
                .attachments
                .iter()
                .map(|a| a.blocks.len())
                .sum::<usize>()
    }
}

/// Builds a [`SlackMessage`], counting blocks against the 50-block limit.
#[derive(Debug, Clone)]
pub struct SlackMessageBuilder {
    message: SlackMessage,
}

impl SlackMessageBuilder {
    /// Blocks still available.
    pub fn remaining_blocks(&self) -> usize {
        limits::BLOCKS_PER_MESSAGE.saturating_sub(self.message.block_count())
    }

    fn reserve(&self, blocks: usize) -> Result<(), BlockKitError> {
        if blocks > self.remaining_blocks() {
            return Err(BlockKitError::TooManyBlocks {
                max: limits::BLOCKS_PER_MESSAGE,
            });
        }
        Ok(())
    }

    /// Adds a top-level block.
    pub fn block(mut self, block: Block) -> Result<Self, BlockKitError> {
        self.reserve(1)?;
        self.message.blocks.push(block);
        Ok(self)
    }

    /// Adds an attachment with a colour bar.
    pub fn attachment(
        mut self,
        color: &str,
        fallback: &str,
        blocks: Vec<Block>,
    ) -> Result<Self, BlockKitError> {
        self.reserve(blocks.len())?;
        self.message.attachments.push(Attachment {
            color: color.to_owned(),
            blocks,
            fallback: mrkdwn::truncate(fallback, limits::MESSAGE_TEXT).into_owned(),
        });
        Ok(self)
    }

    /// Marks the message as a replacement for the one an action came from.
    pub fn replace_original(mut self) -> Self {
        self.message.replace_original = Some(true);
        self
    }

    /// Sets who sees a command reply.
    pub fn response_type(mut self, response_type: ResponseType) -> Self {
        self.message.response_type = Some(response_type);
        self
    }

    /// The finished message.
    pub fn build(self) -> SlackMessage {
        self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structural_overflows_are_errors() {
        let mut section = Section::new();
        for i in 0..10 {
            section = section.field(Text::plain(format!("f{i}"))).unwrap();
        }
        assert!(matches!(
            section.field(Text::plain("11")),
            Err(BlockKitError::TooManyElements { .. })
        ));

        let mut builder = SlackMessage::builder("x");
        for _ in 0..50 {
            builder = builder.block(Block::divider()).unwrap();
        }
        assert_eq!(
            builder.block(Block::divider()).unwrap_err(),
            BlockKitError::TooManyBlocks { max: 50 }
        );

        assert!(matches!(
            Button::new("x", "a".repeat(256)),
            Err(BlockKitError::TooLong {
                what: "action_id",
                ..
            })
        ));
        assert!(matches!(
            Button::new("x", "ok").unwrap().value("v".repeat(2001)),
            Err(BlockKitError::TooLong { what: "value", .. })
        ));
        assert_eq!(
            Button::new("x", "").unwrap_err(),
            BlockKitError::Empty("action_id")
        );
    }

    #[test]
    fn long_texts_are_cut_to_their_limits() {
        let header = Block::header(&"h".repeat(500));
        let Block::Header { text } = header else {
            unreachable!()
        };
        assert_eq!(text.as_str().chars().count(), limits::HEADER_TEXT);
        let button = Button::new(&"b".repeat(200), "id").unwrap();
        assert_eq!(button.text.as_str().chars().count(), limits::BUTTON_TEXT);
    }

    #[test]
    fn serializes_to_block_kit_json() {
        let message = SlackMessage::builder("fallback")
            .block(Block::header("Title"))
            .unwrap()
            .block(
                Context::new()
                    .element(Text::mrkdwn("*ctx*"))
                    .unwrap()
                    .into(),
            )
            .unwrap()
            .block(Block::divider())
            .unwrap()
            .build();
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            serde_json::json!({
                "text": "fallback",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "Title", "emoji": true}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "*ctx*"}]},
                    {"type": "divider"}
                ]
            })
        );
    }
}
