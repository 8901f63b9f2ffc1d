//! Prompts through a Teams incoming webhook: [`TeamsPromptTransport`], the
//! [`PromptTransport`] approvals and `chatops.verify` post with.
//!
//! A webhook posts a card into the one chat or channel it was made for, and nothing comes back
//! to us through it: no message id, no button submissions. So:
//!
//! - every button opens a signed link ([`ButtonMode::SignedLinks`]); a verification card has
//!   three ([`render::verification_card`]), an approval card Approve / Deny
//!   ([`render::approval_card`]) and therefore needs [`SignedLinks`] — without them the
//!   transport answers [`PromptError::Unsupported`] rather than post dead buttons;
//! - the receipt names the transport only;
//! - [`update`](PromptTransport::update) answers [`PromptError::Unsupported`]: an incoming
//!   webhook cannot edit what it posted. The answer page the link opens is where the person
//!   sees the outcome. (Editing needs the bot: `bot_framework::conversation`'s
//!   `TeamsBotPromptTransport`, feature `bot-framework`.)
//!
//! Cards are posted as Adaptive Card messages; failures are classified as
//! [`error`](crate::error) describes (404/410 `Gone`, 429 `Throttled`, 5xx `Retryable`).

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::VerificationPrompt;
use aisoc_notify_core::notifier::NotifyError;
use aisoc_notify_core::prompt::{
    ApprovalAsk, PromptError, PromptOutcome, PromptReceipt, PromptTransport, SignedLinks,
};

use crate::card::{AdaptiveCard, DEFAULT_VERSION};
use crate::render::{self, ButtonMode, CardError};
use crate::webhook::TeamsWebhookNotifier;

const NAME: &str = "teams";
/// The person an approval link is minted for when the ask names no recipient: whoever reads
/// the webhook's channel.
const CHANNEL_AUDIENCE: &str = "teams-webhook-channel";

/// Posts prompts as cards through a Teams webhook.
///
/// ```no_run
/// use std::sync::Arc;
/// use aisoc_notify_core::prompt::PromptTransport;
/// use aisoc_notify_teams::prompt::TeamsPromptTransport;
/// use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let webhook = TeamsWebhookNotifier::builder()
///     .webhook_url("https://prod-00.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=xyz")
///     .format(WebhookFormat::Workflows)
///     .build()?;
/// let transport: Arc<dyn PromptTransport> = Arc::new(TeamsPromptTransport::new(webhook));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TeamsPromptTransport {
    webhook: TeamsWebhookNotifier,
}

impl TeamsPromptTransport {
    /// A transport posting through `webhook`.
    pub fn new(webhook: TeamsWebhookNotifier) -> Self {
        Self { webhook }
    }

    async fn post(
        &self,
        card: Result<AdaptiveCard, CardError>,
    ) -> Result<PromptReceipt, PromptError> {
        let card = card.map_err(|e| NotifyError::Render(e.to_string()))?;
        self.webhook
            .send_payload(&card.to_message())
            .await
            .map_err(|e| PromptError::Notify(e.into()))?;
        Ok(PromptReceipt::new(NAME))
    }
}

#[async_trait]
impl PromptTransport for TeamsPromptTransport {
    fn name(&self) -> &str {
        NAME
    }

    async fn send_verification(
        &self,
        prompt: &VerificationPrompt,
        links: SignedLinks<'_>,
    ) -> Result<PromptReceipt, PromptError> {
        let mode = ButtonMode::SignedLinks {
            signer: links.signer,
            callback_base: links.callback_base,
            user_ref: &prompt.user_ref,
        };
        self.post(render::verification_card(prompt, mode, DEFAULT_VERSION))
            .await
    }

    async fn send_approval(
        &self,
        ask: &ApprovalAsk,
        links: Option<SignedLinks<'_>>,
    ) -> Result<PromptReceipt, PromptError> {
        let links = links.ok_or(PromptError::Unsupported {
            transport: NAME,
            operation: "draw approval buttons on a webhook card without signed links",
        })?;
        let mode = ButtonMode::SignedLinks {
            signer: links.signer,
            callback_base: links.callback_base,
            user_ref: ask.recipient.as_deref().unwrap_or(CHANNEL_AUDIENCE),
        };
        self.post(render::approval_card(
            &ask.prompt_with_deadline(),
            mode,
            DEFAULT_VERSION,
        ))
        .await
    }

    async fn update(
        &self,
        _receipt: &PromptReceipt,
        _outcome: &PromptOutcome,
    ) -> Result<PromptReceipt, PromptError> {
        Err(PromptError::Unsupported {
            transport: NAME,
            operation: "update a card posted through an incoming webhook",
        })
    }
}

#[cfg(test)]
mod tests {
    use aisoc_notify_core::RetryClass;
    use aisoc_notify_core::decision::ApprovalPrompt;
    use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
    use aisoc_notify_core::destination::DestinationPolicy;
    use aisoc_notify_core::notification::Severity;
    use aisoc_notify_core::token::{CallbackTokenSigner, HmacCallbackTokenSigner};
    use serde_json::Value;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::webhook::WebhookFormat;

    const BASE: &str = "https://aisoc.example.com/v1/chatops/verify/";

    async fn webhook(status: u16) -> (MockServer, TeamsPromptTransport) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        let delivery = DeliveryClient::new(DeliveryConfig {
            retry: RetryPolicy::no_retries(),
            destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
            ..DeliveryConfig::default()
        })
        .unwrap();
        let notifier = TeamsWebhookNotifier::builder()
            .webhook_url(format!("{}/workflows/hook-secret", server.uri()))
            .format(WebhookFormat::Workflows)
            .delivery(delivery)
            .build()
            .unwrap();
        (server, TeamsPromptTransport::new(notifier))
    }

    fn signer() -> HmacCallbackTokenSigner {
        HmacCallbackTokenSigner::new("k1", vec![7; 32]).unwrap()
    }

    fn verification() -> VerificationPrompt {
        VerificationPrompt {
            prompt_id: "vfy_1".into(),
            case_id: "case-7".into(),
            tenant_id: "contoso".into(),
            user_ref: "alice@contoso.example".into(),
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
                tenant_id: "contoso".into(),
                title: "Disable user bob".into(),
                summary: "Impossible travel".into(),
                risk_score: Some(55),
                severity: Severity::Medium,
                requested_by: None,
                facts: Vec::new(),
                console_url: None,
            },
            "2026-11-23T10:30:00Z".parse().unwrap(),
        )
    }

    async fn posted(server: &MockServer) -> Vec<Value> {
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_verification_card_opens_three_signed_links_and_its_receipt_names_teams() {
        let (server, transport) = webhook(202).await;
        let signer = signer();
        let base: url::Url = BASE.parse().unwrap();
        let receipt = transport
            .send_verification(&verification(), SignedLinks::new(&signer, &base))
            .await
            .unwrap();
        assert_eq!(receipt, PromptReceipt::new("teams"));

        let body = &posted(&server).await[0];
        let actions = body["attachments"][0]["content"]["actions"]
            .as_array()
            .unwrap();
        assert_eq!(actions.len(), 3);
        for action in actions {
            assert_eq!(action["type"], "Action.OpenUrl");
            let token = action["url"].as_str().unwrap().strip_prefix(BASE).unwrap();
            let claims = signer.verify(token).unwrap();
            assert_eq!(claims.user_ref, "alice@contoso.example");
            assert_eq!(claims.prompt_id.as_deref(), Some("vfy_1"));
        }
    }

    #[tokio::test]
    async fn an_approval_card_needs_links_and_shows_its_deadline() {
        let (server, transport) = webhook(202).await;
        let err = transport
            .send_approval(&approval(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PromptError::Unsupported {
                    transport: "teams",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(posted(&server).await.is_empty(), "no dead buttons posted");

        let signer = signer();
        let base: url::Url = "https://aisoc.example.com/v1/approvals/decide/"
            .parse()
            .unwrap();
        transport
            .send_approval(&approval(), Some(SignedLinks::new(&signer, &base)))
            .await
            .unwrap();
        let card = &posted(&server).await[0]["attachments"][0]["content"];
        let choices: Vec<String> = card["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|action| {
                let token = action["url"]
                    .as_str()
                    .unwrap()
                    .strip_prefix(base.as_str())
                    .unwrap();
                signer.verify(token).unwrap().choice
            })
            .collect();
        assert_eq!(choices, ["approve", "deny"]);
        assert!(card.to_string().contains("2026-11-23 10:30 UTC"), "{card}");
    }

    #[tokio::test]
    async fn updating_a_webhook_card_is_refused_as_unsupported_without_a_request() {
        let (server, transport) = webhook(202).await;
        let err = transport
            .update(&PromptReceipt::new("teams"), &PromptOutcome::Expired)
            .await
            .unwrap_err();
        assert_eq!(err.retry_class(), RetryClass::NonRetryable);
        assert_eq!(
            err.to_string(),
            "teams cannot update a card posted through an incoming webhook"
        );
        assert!(posted(&server).await.is_empty());
    }

    #[tokio::test]
    async fn a_removed_webhook_is_gone_and_its_path_never_prints() {
        let (_server, transport) = webhook(404).await;
        let signer = signer();
        let base: url::Url = BASE.parse().unwrap();
        let err = transport
            .send_verification(&verification(), SignedLinks::new(&signer, &base))
            .await
            .unwrap_err();
        assert_eq!(err.retry_class(), RetryClass::Gone, "{err}");
        assert!(!format!("{err} {err:?}").contains("hook-secret"));
    }
}
