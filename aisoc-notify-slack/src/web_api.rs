//! Bot-token delivery through the Slack Web API: `chat.postMessage` and `chat.update`.
//!
//! The Web API answers HTTP 200 with `{"ok": false, "error": "<code>"}` for most failures
//! (`channel_not_found`, `not_in_channel`, `invalid_auth`, `is_archived`, …) and HTTP 429 with
//! `Retry-After` when throttled; both become a [`SlackError::Api`] carrying the code and the
//! status, classified as [`error`](crate::error) describes.

use std::sync::Arc;

use aisoc_notify_core::delivery::{DeliveryClient, HttpResponse, check_destination};
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{ConfigError, Delivered, Notification, Notifier, NotifyError, async_trait};
use serde::Deserialize;
use serde_json::Value;

use crate::blocks::SlackMessage;
use crate::error::{SlackError, short_code};
use crate::render;
use crate::webhook::{default_delivery, default_pacer};

/// Slack's Web API base URL.
pub const SLACK_API_BASE: &str = "https://slack.com/api/";

/// A message Slack accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    /// The channel id it was posted in.
    pub channel: String,
    /// Its timestamp, Slack's message id (needed for `chat.update`).
    pub ts: String,
}

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// A Slack Web API client for posting and updating messages with a bot token.
#[derive(Clone)]
pub struct SlackBotClient {
    token: SecretString,
    base_url: url::Url,
    delivery: DeliveryClient,
    pacer: Arc<Pacer>,
}

impl std::fmt::Debug for SlackBotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackBotClient")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SlackBotClient {
    /// A client for `bot_token` (`xoxb-…`) against the real Slack API.
    pub fn new(bot_token: impl Into<String>) -> Result<Self, SlackError> {
        let token = bot_token.into();
        if token.trim().is_empty() {
            return Err(ConfigError::new("bot_token", "must not be empty").into());
        }
        Ok(Self {
            token: SecretString::from(token),
            base_url: url::Url::parse(SLACK_API_BASE).expect("static URL"),
            delivery: default_delivery()?,
            pacer: default_pacer(),
        })
    }

    /// Points the client at another base URL (a mock server in tests, a proxy).
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, SlackError> {
        let mut url = check_destination(base_url).map_err(|e| ConfigError::new("base_url", e))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        self.base_url = url;
        Ok(self)
    }

    /// Shares a delivery client.
    pub fn with_delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = delivery;
        self
    }

    /// Shares a pacer (default: one message per second per channel).
    pub fn with_pacer(mut self, pacer: Arc<Pacer>) -> Self {
        self.pacer = pacer;
        self
    }

    /// Posts `message` to `channel` (`chat.postMessage`).
    pub async fn post_message(
        &self,
        channel: &str,
        message: &SlackMessage,
    ) -> Result<PostedMessage, SlackError> {
        let mut body =
            serde_json::to_value(message).map_err(|e| SlackError::Encode(e.to_string()))?;
        body["channel"] = Value::String(channel.to_owned());
        self.call("chat.postMessage", channel, &body).await
    }

    /// Replaces the message `ts` in `channel` with `message` (`chat.update`).
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &SlackMessage,
    ) -> Result<PostedMessage, SlackError> {
        let mut body =
            serde_json::to_value(message).map_err(|e| SlackError::Encode(e.to_string()))?;
        body["channel"] = Value::String(channel.to_owned());
        body["ts"] = Value::String(ts.to_owned());
        self.call("chat.update", channel, &body).await
    }

    async fn call(
        &self,
        method: &str,
        channel: &str,
        body: &Value,
    ) -> Result<PostedMessage, SlackError> {
        let url = self
            .base_url
            .join(method)
            .map_err(|e| ConfigError::new("base_url", e))?;
        self.pacer.until_ready(channel).await;
        let request = self
            .delivery
            .http()
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .json(body)
            .build()
            .map_err(|e| SlackError::Encode(e.without_url().to_string()))?;
        let response = self.delivery.send(request).await?;
        parse_api_response(&response)
    }
}

/// Reads a Web API answer: `ok: true` with the message's channel and `ts`, or a
/// [`SlackError::Api`] with Slack's code (when it gave one) and the status.
fn parse_api_response(response: &HttpResponse) -> Result<PostedMessage, SlackError> {
    let parsed: Option<ApiResponse> = response.json().ok();
    let refused = |code: Option<&str>| SlackError::Api {
        code: code.and_then(short_code),
        status: response.status.as_u16(),
        retry_after: response.retry_after,
    };
    if !response.is_success() {
        return Err(refused(parsed.as_ref().and_then(|p| p.error.as_deref())));
    }
    let Some(parsed) = parsed else {
        return Err(SlackError::InvalidResponse(
            "a success without a Web API JSON body",
        ));
    };
    if !parsed.ok {
        return Err(refused(parsed.error.as_deref()));
    }
    match (parsed.channel, parsed.ts) {
        (Some(channel), Some(ts)) => Ok(PostedMessage { channel, ts }),
        _ => Err(SlackError::InvalidResponse(
            "ok response without channel and ts",
        )),
    }
}

/// Delivers notifications to one channel with a bot token.
#[derive(Debug, Clone)]
pub struct SlackBotNotifier {
    client: SlackBotClient,
    channel_id: String,
}

impl SlackBotNotifier {
    /// Posts to `channel_id` through `client`.
    pub fn new(client: SlackBotClient, channel_id: impl Into<String>) -> Result<Self, SlackError> {
        let channel_id = channel_id.into();
        if channel_id.trim().is_empty() {
            return Err(ConfigError::new("channel_id", "must not be empty").into());
        }
        Ok(Self { client, channel_id })
    }

    /// The client, for updating posted messages.
    pub fn client(&self) -> &SlackBotClient {
        &self.client
    }
}

#[async_trait]
impl Notifier for SlackBotNotifier {
    fn channel_type(&self) -> &str {
        "slack"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let message = render::notification_message(notification).map_err(SlackError::from)?;
        let posted = self.client.post_message(&self.channel_id, &message).await?;
        Ok(Delivered::with_receipt(posted.ts))
    }
}
