//! Prompts through the Slack Web API: [`SlackPromptTransport`], the
//! [`PromptTransport`] approvals and `chatops.verify` post with.
//!
//! - A verification prompt goes to `user_ref` as a direct message from the bot
//!   (`chat.postMessage` to a user id); its three buttons open the signed links
//!   ([`render::verification_message`]).
//! - An approval request goes to the ask's recipient, or the transport's approval channel; its
//!   Approve / Deny buttons are Slack interactive buttons carrying the approval id, which the
//!   interactions route hands to the shared decision path ([`render::approval_message`]), so
//!   the links are not needed.
//! - An update replaces the posted message with the outcome (`chat.update`), which removes its
//!   buttons.
//!
//! Failures keep Slack's codes and their classes ([`crate::error`]): `channel_not_found` is
//! `NonRetryable`, `is_archived` `Gone`, `ratelimited` `Throttled`.

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{Decision, VerificationPrompt};
use aisoc_notify_core::prompt::{
    ApprovalAsk, PromptError, PromptOutcome, PromptReceipt, PromptTransport, SignedLinks,
};
use aisoc_notify_core::{ConfigError, NotifyError};

use crate::blocks::{Section, SlackMessage, Text};
use crate::error::SlackError;
use crate::mrkdwn;
use crate::render;
use crate::web_api::{PostedMessage, SlackBotClient};

const NAME: &str = "slack";

/// Posts and updates prompts with a bot token.
///
/// ```no_run
/// use std::sync::Arc;
/// use aisoc_notify_core::prompt::PromptTransport;
/// use aisoc_notify_slack::prompt::SlackPromptTransport;
/// use aisoc_notify_slack::web_api::SlackBotClient;
///
/// # fn run() -> Result<(), aisoc_notify_slack::SlackError> {
/// let transport: Arc<dyn PromptTransport> = Arc::new(
///     SlackPromptTransport::new(SlackBotClient::new("xoxb-…")?).approval_channel("C0APPROVERS"),
/// );
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SlackPromptTransport {
    client: SlackBotClient,
    approval_channel: Option<String>,
}

impl SlackPromptTransport {
    /// A transport posting through `client`.
    pub fn new(client: SlackBotClient) -> Self {
        Self {
            client,
            approval_channel: None,
        }
    }

    /// Where approval requests go when the ask names no recipient.
    pub fn approval_channel(mut self, channel: impl Into<String>) -> Self {
        self.approval_channel = Some(channel.into());
        self
    }
}

fn slack(err: SlackError) -> PromptError {
    PromptError::Notify(err.into())
}

fn receipt(posted: PostedMessage) -> PromptReceipt {
    PromptReceipt::message(NAME, posted.channel, posted.ts)
}

/// The message that replaces a prompt once it has an outcome: one line, no buttons.
fn outcome_message(outcome: &PromptOutcome) -> Result<SlackMessage, SlackError> {
    let emoji = match outcome {
        PromptOutcome::Decided {
            decision: Decision::Approve,
            ..
        } => ":white_check_mark:",
        PromptOutcome::Decided {
            decision: Decision::Deny,
            ..
        } => ":x:",
        PromptOutcome::Expired => ":hourglass:",
        _ => ":ballot_box_with_check:",
    };
    let text = format!("{emoji} {}", mrkdwn::escape(&outcome.summary()));
    Ok(SlackMessage::builder(&text)
        .block(Section::new().text(Text::mrkdwn(text.clone())).into())?
        .build())
}

#[async_trait]
impl PromptTransport for SlackPromptTransport {
    fn name(&self) -> &str {
        NAME
    }

    async fn send_verification(
        &self,
        prompt: &VerificationPrompt,
        links: SignedLinks<'_>,
    ) -> Result<PromptReceipt, PromptError> {
        let message = render::verification_message(prompt, links.signer, links.callback_base)
            .map_err(slack)?;
        let posted = self
            .client
            .post_message(&prompt.user_ref, &message)
            .await
            .map_err(slack)?;
        Ok(receipt(posted))
    }

    async fn send_approval(
        &self,
        ask: &ApprovalAsk,
        _links: Option<SignedLinks<'_>>,
    ) -> Result<PromptReceipt, PromptError> {
        let channel = ask
            .recipient
            .as_deref()
            .or(self.approval_channel.as_deref())
            .ok_or_else(|| {
                NotifyError::Config(ConfigError::new(
                    "approval_channel",
                    "an approval prompt needs a recipient or the transport's approval_channel",
                ))
            })?;
        let message =
            render::approval_message(&ask.prompt_with_deadline()).map_err(|e| slack(e.into()))?;
        let posted = self
            .client
            .post_message(channel, &message)
            .await
            .map_err(slack)?;
        Ok(receipt(posted))
    }

    async fn update(
        &self,
        receipt: &PromptReceipt,
        outcome: &PromptOutcome,
    ) -> Result<PromptReceipt, PromptError> {
        let (Some(channel), Some(ts)) = (&receipt.channel, &receipt.message_id) else {
            return Err(PromptError::ForeignReceipt { transport: NAME });
        };
        if receipt.transport != NAME {
            return Err(PromptError::ForeignReceipt { transport: NAME });
        }
        let message = outcome_message(outcome).map_err(slack)?;
        let updated = self
            .client
            .update_message(channel, ts, &message)
            .await
            .map_err(slack)?;
        Ok(self::receipt(updated))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::sync::Arc;

    use aisoc_notify_core::RetryClass;
    use aisoc_notify_core::decision::ApprovalPrompt;
    use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
    use aisoc_notify_core::destination::DestinationPolicy;
    use aisoc_notify_core::notification::Severity;
    use aisoc_notify_core::pacing::Pacer;
    use aisoc_notify_core::token::{CallbackTokenSigner, HmacCallbackTokenSigner};
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const BASE: &str = "https://aisoc.example.com/v1/chatops/verify/";

    fn transport(server: &MockServer) -> SlackPromptTransport {
        let delivery = DeliveryClient::new(DeliveryConfig {
            retry: RetryPolicy::no_retries(),
            destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
            ..DeliveryConfig::default()
        })
        .unwrap();
        let client = SlackBotClient::new("xoxb-test")
            .unwrap()
            .with_base_url(&format!("{}/api/", server.uri()))
            .unwrap()
            .with_delivery(delivery)
            .with_pacer(Arc::new(Pacer::per_second(NonZeroU32::new(1000).unwrap())));
        SlackPromptTransport::new(client)
    }

    async fn answering(method_name: &str, answer: Value) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/api/{method_name}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
        server
    }

    fn verification() -> VerificationPrompt {
        VerificationPrompt {
            prompt_id: "vfy_1".into(),
            case_id: "case-7".into(),
            tenant_id: "acme".into(),
            user_ref: "U0ALICE".into(),
            title: "Sign-in from Portugal".into(),
            message: "Someone signed in as you from Lisbon.".into(),
            severity: Severity::High,
            facts: Vec::new(),
        }
    }

    fn approval() -> ApprovalAsk {
        ApprovalAsk::new(
            ApprovalPrompt {
                approval_id: "apr_1".into(),
                tenant_id: "acme".into(),
                title: "Isolate web-01".into(),
                summary: "C2 beaconing from web-01".into(),
                risk_score: Some(82),
                severity: Severity::High,
                requested_by: None,
                facts: Vec::new(),
                console_url: None,
            },
            "2026-11-23T10:30:00Z".parse().unwrap(),
        )
    }

    async fn bodies(server: &MockServer) -> Vec<Value> {
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_verification_prompt_is_a_direct_message_whose_receipt_updates_it() {
        let server = answering(
            "chat.postMessage",
            json!({"ok": true, "channel": "D0ALICE", "ts": "1700000000.000100"}),
        )
        .await;
        Mock::given(method("POST"))
            .and(path("/api/chat.update"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "D0ALICE", "ts": "1700000000.000100"}),
            ))
            .mount(&server)
            .await;
        let transport = transport(&server);
        let signer = HmacCallbackTokenSigner::new("k1", vec![7; 32]).unwrap();
        let base: url::Url = BASE.parse().unwrap();

        let receipt = transport
            .send_verification(&verification(), SignedLinks::new(&signer, &base))
            .await
            .unwrap();
        assert_eq!(
            receipt,
            PromptReceipt::message("slack", "D0ALICE", "1700000000.000100")
        );
        let posted = &bodies(&server).await[0];
        assert_eq!(posted["channel"], "U0ALICE");
        let blocks = posted["attachments"][0]["blocks"].as_array().unwrap();
        let buttons = blocks.iter().find(|b| b["type"] == "actions").unwrap()["elements"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(buttons.len(), 3);
        for button in &buttons {
            let token = button["url"].as_str().unwrap().strip_prefix(BASE).unwrap();
            assert_eq!(
                signer.verify(token).unwrap().prompt_id.as_deref(),
                Some("vfy_1")
            );
        }

        let answered = PromptOutcome::Answered {
            choice: "deny".into(),
        };
        transport.update(&receipt, &answered).await.unwrap();
        let update = &bodies(&server).await[1];
        assert_eq!(update["channel"], "D0ALICE");
        assert_eq!(update["ts"], "1700000000.000100");
        assert!(
            update["text"]
                .as_str()
                .unwrap()
                .contains("Answered: it wasn")
        );
        assert!(
            !update.to_string().contains("\"actions\""),
            "the buttons are gone: {update}"
        );
    }

    #[tokio::test]
    async fn an_approval_goes_to_its_recipient_with_decision_buttons_and_its_deadline() {
        let server = answering(
            "chat.postMessage",
            json!({"ok": true, "channel": "C0SEC", "ts": "1700000000.000200"}),
        )
        .await;
        let transport = transport(&server).approval_channel("C0DEFAULT");

        let receipt = transport
            .send_approval(&approval().to("C0SEC"), None)
            .await
            .unwrap();
        assert_eq!(receipt.channel.as_deref(), Some("C0SEC"));
        transport.send_approval(&approval(), None).await.unwrap();

        let posted = bodies(&server).await;
        assert_eq!(posted[0]["channel"], "C0SEC");
        assert_eq!(posted[1]["channel"], "C0DEFAULT", "the default channel");
        let text = posted[0].to_string();
        for expected in [
            "approve_action",
            "deny_action",
            "apr_1",
            "Expires",
            "2026-11-23 10:30 UTC",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[tokio::test]
    async fn an_approval_with_nowhere_to_go_fails_before_any_request() {
        let server = MockServer::start().await;
        let err = transport(&server)
            .send_approval(&approval(), None)
            .await
            .unwrap_err();
        assert_eq!(err.retry_class(), RetryClass::NonRetryable);
        assert!(err.to_string().contains("approval_channel"), "{err}");
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn slack_codes_keep_their_class_through_the_transport() {
        let cases = [
            ("channel_not_found", RetryClass::NonRetryable),
            ("is_archived", RetryClass::Gone),
            ("internal_error", RetryClass::Retryable),
        ];
        for (code, class) in cases {
            let server = answering("chat.postMessage", json!({"ok": false, "error": code})).await;
            let signer = HmacCallbackTokenSigner::new("k1", vec![7; 32]).unwrap();
            let base: url::Url = BASE.parse().unwrap();
            let err = transport(&server)
                .send_verification(&verification(), SignedLinks::new(&signer, &base))
                .await
                .unwrap_err();
            assert_eq!(err.retry_class(), class, "{code}: {err}");
            assert!(!err.to_string().contains("xoxb-test"));
        }
    }

    #[tokio::test]
    async fn a_receipt_without_a_message_id_or_from_another_transport_is_refused_unsent() {
        let server = MockServer::start().await;
        let transport = transport(&server);
        for receipt in [
            PromptReceipt::new("slack"),
            PromptReceipt::message("teams", "19:abc", "1"),
        ] {
            let err = transport
                .update(&receipt, &PromptOutcome::Expired)
                .await
                .unwrap_err();
            assert!(
                matches!(err, PromptError::ForeignReceipt { transport: "slack" }),
                "{err:?}"
            );
        }
        assert!(server.received_requests().await.unwrap().is_empty());
    }
}
