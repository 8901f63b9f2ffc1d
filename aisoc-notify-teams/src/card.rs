//! Adaptive Card builders, for the schema version Teams supports (1.5 by default).
//!
//! Only the elements a notification needs: `TextBlock`, `FactSet`, `Container` (for the
//! severity-coloured band) and `ActionSet`, with `Action.OpenUrl`, `Action.Submit` and
//! `Action.Execute`. Every card this crate renders is validated against the official schema in
//! the tests.

use serde::Serialize;
use serde_json::Value;

/// The schema version cards declare unless told otherwise.
pub const DEFAULT_VERSION: &str = "1.5";
/// The `$schema` URL cards carry.
pub const SCHEMA_URL: &str = "http://adaptivecards.io/schemas/adaptive-card.json";

/// A colour from the host's palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Color {
    /// The host's default text colour.
    Default,
    /// Green.
    Good,
    /// Amber.
    Warning,
    /// Red.
    Attention,
    /// The host's accent (blue in Teams).
    Accent,
}

/// A container background from the host's palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerStyle {
    /// No background.
    Default,
    /// Slightly emphasised.
    Emphasis,
    /// Green.
    Good,
    /// Red.
    Attention,
    /// Amber.
    Warning,
    /// Blue.
    Accent,
}

/// Text size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TextSize {
    /// Small.
    Small,
    /// Default.
    Default,
    /// Medium.
    Medium,
    /// Large.
    Large,
}

/// Text weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TextWeight {
    /// Regular.
    Default,
    /// Bold.
    Bolder,
}

/// One fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    /// The label.
    pub title: String,
    /// The value.
    pub value: String,
}

/// A card element.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Element {
    /// Text.
    TextBlock {
        /// The text (a Markdown subset).
        text: String,
        /// Wrap instead of clipping.
        wrap: bool,
        /// Size.
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<TextSize>,
        /// Weight.
        #[serde(skip_serializing_if = "Option::is_none")]
        weight: Option<TextWeight>,
        /// Colour.
        #[serde(skip_serializing_if = "Option::is_none")]
        color: Option<Color>,
        /// Dimmed.
        #[serde(rename = "isSubtle", skip_serializing_if = "std::ops::Not::not")]
        is_subtle: bool,
    },
    /// Label/value pairs.
    FactSet {
        /// The facts.
        facts: Vec<Fact>,
    },
    /// A group with an optional background.
    Container {
        /// The elements inside.
        items: Vec<Element>,
        /// The background.
        #[serde(skip_serializing_if = "Option::is_none")]
        style: Option<ContainerStyle>,
        /// Extend the background to the card edges.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        bleed: bool,
    },
    /// Buttons inside the body.
    ActionSet {
        /// The buttons.
        actions: Vec<Action>,
    },
}

impl Element {
    /// Wrapped text.
    pub fn text(text: impl Into<String>) -> Self {
        Element::TextBlock {
            text: text.into(),
            wrap: true,
            size: None,
            weight: None,
            color: None,
            is_subtle: false,
        }
    }

    /// A bold, larger heading in a colour.
    pub fn heading(text: impl Into<String>, color: Color) -> Self {
        Element::TextBlock {
            text: text.into(),
            wrap: true,
            size: Some(TextSize::Medium),
            weight: Some(TextWeight::Bolder),
            color: Some(color),
            is_subtle: false,
        }
    }

    /// Small, dimmed text.
    pub fn subtle(text: impl Into<String>) -> Self {
        Element::TextBlock {
            text: text.into(),
            wrap: true,
            size: Some(TextSize::Small),
            weight: None,
            color: None,
            is_subtle: true,
        }
    }
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionStyle {
    /// Neutral.
    Default,
    /// The expected choice.
    Positive,
    /// Destructive.
    Destructive,
}

/// A button.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Action {
    /// Opens a URL (webhook-posted cards use signed callback URLs).
    #[serde(rename = "Action.OpenUrl")]
    OpenUrl {
        /// The label.
        title: String,
        /// The URL.
        url: String,
        /// The style.
        style: ActionStyle,
    },
    /// Sends `data` to the bot that posted the card.
    #[serde(rename = "Action.Submit")]
    Submit {
        /// The label.
        title: String,
        /// The data sent back.
        data: Value,
        /// The style.
        style: ActionStyle,
    },
    /// A Universal Action: an `adaptiveCard/action` invoke with `verb` and `data`.
    #[serde(rename = "Action.Execute")]
    Execute {
        /// The label.
        title: String,
        /// The verb.
        verb: String,
        /// The data sent back.
        data: Value,
        /// The style.
        style: ActionStyle,
    },
}

/// An Adaptive Card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdaptiveCard {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "$schema")]
    schema: &'static str,
    /// The schema version the card declares.
    pub version: String,
    /// The body.
    pub body: Vec<Element>,
    /// The action bar.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Text for clients that cannot render the card.
    #[serde(rename = "fallbackText", skip_serializing_if = "Option::is_none")]
    pub fallback_text: Option<String>,
}

impl AdaptiveCard {
    /// An empty card declaring `version`.
    pub fn new(version: impl Into<String>) -> Self {
        Self {
            kind: "AdaptiveCard",
            schema: SCHEMA_URL,
            version: version.into(),
            body: Vec::new(),
            actions: Vec::new(),
            fallback_text: None,
        }
    }

    /// The card as a Teams message attachment.
    pub fn to_attachment(&self) -> Value {
        serde_json::json!({
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": self,
        })
    }

    /// The card as a Workflows-webhook / bot message (`{"type":"message","attachments":[…]}`).
    pub fn to_message(&self) -> Value {
        serde_json::json!({ "type": "message", "attachments": [self.to_attachment()] })
    }
}
