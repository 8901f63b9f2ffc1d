//! The Bot Connector client against a local token endpoint and connector: the access token
//! fetched once and kept, replaced after a 401 and when it nears expiry, never shown; posts
//! that return the activity id, updates that replace the same activity; errors classified as
//! the router and the outbox read them. Then the transport and notifier built on it, and the
//! messaging endpoint answering `refresh` with the card as it is now.
#![cfg(feature = "test-util")]

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::{Clock, ManualClock, SystemClock};
use aisoc_notify_core::decision::{
    ApprovalPrompt, Decision, DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest,
};
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_core::prompt::{ApprovalAsk, PromptOutcome, PromptReceipt, PromptTransport};
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_core::{Notifier, NotifyError, RetryClass, async_trait};
use aisoc_notify_teams::bot_framework::connector::{
    BOT_CONNECTOR_SCOPE, BotConnectorClient, BotCredentials, ConnectorError,
};
use aisoc_notify_teams::bot_framework::conversation::{
    BotConversation, TeamsBotNotifier, TeamsBotPromptTransport,
};
use aisoc_notify_teams::bot_framework::testing::{TestBotIssuer, TestSigningKey, bot_claims};
use aisoc_notify_teams::bot_framework::{ApprovalCardSource, BotFrameworkAuth, BotRoutes, router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const APP_ID: &str = "3f2a9c10-5b7e-4d21-8c3a-0e9f8d7c6b5a";
const PASSWORD: &str = "kV8Q~client-secret-never-shown";
const CONVERSATION: &str = "19:abc@thread.tacv2";
const ACTIVITIES: &str = "/teams/v3/conversations/19:abc@thread.tacv2/activities";

fn delivery() -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy::no_retries(),
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

/// A token endpoint handing out `token-1`, `token-2`, … living `lifetime` seconds.
async fn token_endpoint(server: &MockServer, lifetime: u64) {
    struct Tokens(std::sync::atomic::AtomicU32, u64);
    impl wiremock::Respond for Tokens {
        fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            ResponseTemplate::new(200).set_body_json(json!({
                "token_type": "Bearer",
                "expires_in": self.1,
                "ext_expires_in": self.1,
                "access_token": format!("token-{n}"),
            }))
        }
    }
    Mock::given(method("POST"))
        .and(path("/oauth2/v2.0/token"))
        .respond_with(Tokens(std::sync::atomic::AtomicU32::new(0), lifetime))
        .mount(server)
        .await;
}

fn client(server: &MockServer) -> BotConnectorClient {
    let credentials = BotCredentials::new(APP_ID, SecretString::from(PASSWORD.to_owned()))
        .with_token_url(format!("{}/oauth2/v2.0/token", server.uri()))
        // The mock connector is on loopback, not a Bot Connector host.
        .allow_service_host("127.0.0.1");
    BotConnectorClient::new(credentials, delivery()).unwrap()
}

fn service_url(server: &MockServer) -> String {
    format!("{}/teams/", server.uri())
}

async fn requests_to(server: &MockServer, wanted: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().starts_with(wanted))
        .collect()
}

fn bearer(request: &wiremock::Request) -> String {
    request.headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_token_is_fetched_once_for_many_posts_and_an_update_puts_the_same_activity() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3599).await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .and(header("authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "1:activity-7"})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{ACTIVITIES}/1:activity-7")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1:activity-7"})))
        .mount(&server)
        .await;
    let client = client(&server);
    let service_url = service_url(&server);

    for _ in 0..3 {
        let id = client
            .post_activity(
                &service_url,
                CONVERSATION,
                &json!({"type": "message", "text": "hi"}),
            )
            .await
            .unwrap();
        assert_eq!(id, "1:activity-7");
    }
    client
        .update_activity(
            &service_url,
            CONVERSATION,
            "1:activity-7",
            &json!({"type": "message", "text": "bye"}),
        )
        .await
        .unwrap();

    let tokens = requests_to(&server, "/oauth2").await;
    assert_eq!(tokens.len(), 1, "one token for every call");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&tokens[0].body)
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("grant_type"), Some("client_credentials"));
    assert_eq!(field("client_id"), Some(APP_ID));
    assert_eq!(field("client_secret"), Some(PASSWORD));
    assert_eq!(field("scope"), Some(BOT_CONNECTOR_SCOPE));

    let puts = requests_to(&server, ACTIVITIES).await;
    let put = puts.iter().find(|r| r.method.as_str() == "PUT").unwrap();
    assert_eq!(bearer(put), "Bearer token-1");
    let body: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(body["id"], "1:activity-7");
    assert_eq!(body["text"], "bye");
}

#[tokio::test]
async fn a_401_drops_the_token_and_the_call_is_made_once_more_with_a_fresh_one() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3599).await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .and(header("authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .and(header("authorization", "Bearer token-2"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "a-2"})))
        .mount(&server)
        .await;
    let client = client(&server);
    let id = client
        .post_activity(
            &service_url(&server),
            CONVERSATION,
            &json!({"type": "message"}),
        )
        .await
        .unwrap();
    assert_eq!(id, "a-2");
    assert_eq!(requests_to(&server, "/oauth2").await.len(), 2);
}

#[tokio::test]
async fn a_second_401_is_final_and_neither_secret_nor_token_is_ever_shown() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3599).await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"code": "Unauthorized", "message": "token-1 is not valid"}
        })))
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client
        .post_activity(
            &service_url(&server),
            CONVERSATION,
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::NonRetryable, "{err}");
    assert_eq!(
        requests_to(&server, "/oauth2").await.len(),
        2,
        "one refresh only"
    );
    assert_eq!(requests_to(&server, ACTIVITIES).await.len(), 2);
    let mut shown = format!("{err} {err:?} {client:?}");
    shown.push_str(&format!(" {:?}", NotifyError::from(err)));
    for secret in [PASSWORD, "token-1", "token-2", "not valid"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("Unauthorized"), "{shown}");
}

#[tokio::test]
async fn refused_credentials_are_final_and_the_answer_is_not_echoed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": format!("AADSTS7000215: Invalid client secret provided: {PASSWORD}"),
        })))
        .mount(&server)
        .await;
    let err = client(&server)
        .post_activity(
            &service_url(&server),
            CONVERSATION,
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::TokenRefused { code, status: 401, .. } if code == "invalid_client"),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(PASSWORD) && !shown.contains("AADSTS"),
        "{shown}"
    );
    assert!(requests_to(&server, ACTIVITIES).await.is_empty());
}

#[tokio::test]
async fn a_token_is_replaced_once_it_nears_expiry() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3600).await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "a"})))
        .mount(&server)
        .await;
    let clock = Arc::new(ManualClock::at_unix(SystemClock.unix_seconds()));
    let client = client(&server).with_clock(clock.clone());
    post(&client, &server).await;
    clock.advance(Duration::from_secs(3600 - 301));
    post(&client, &server).await;
    assert_eq!(requests_to(&server, "/oauth2").await.len(), 1);
    clock.advance(Duration::from_secs(2));
    post(&client, &server).await;
    assert_eq!(requests_to(&server, "/oauth2").await.len(), 2);
    let posts = requests_to(&server, ACTIVITIES).await;
    assert_eq!(bearer(&posts[2]), "Bearer token-2");
}

async fn post(client: &BotConnectorClient, server: &MockServer) {
    client
        .post_activity(
            &service_url(server),
            CONVERSATION,
            &json!({"type": "message"}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn throttling_waits_for_the_retry_after_and_a_missing_conversation_is_gone() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3599).await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "7"))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {"code": "ConversationNotFound", "message": "Conversation not found."}
        })))
        .mount(&server)
        .await;
    let client = client(&server);
    let throttled = client
        .post_activity(
            &service_url(&server),
            CONVERSATION,
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        throttled.retry_class(),
        RetryClass::Throttled(Duration::from_secs(7))
    );
    assert!(matches!(
        NotifyError::from(throttled),
        NotifyError::RateLimited {
            retry_after: Some(_),
            ..
        }
    ));
    let gone = client
        .update_activity(
            &service_url(&server),
            CONVERSATION,
            "a-1",
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert_eq!(gone.retry_class(), RetryClass::Gone, "{gone}");
    let mapped = NotifyError::from(gone);
    assert!(
        matches!(&mapped, NotifyError::Gone { code, .. } if code == "ConversationNotFound"),
        "{mapped:?}"
    );
}

fn ask(approval_id: &str) -> ApprovalAsk {
    ApprovalAsk::new(
        ApprovalPrompt {
            approval_id: approval_id.into(),
            tenant_id: "contoso".into(),
            title: "Disable user bob".into(),
            summary: "Impossible travel".into(),
            risk_score: Some(75),
            severity: Severity::High,
            requested_by: None,
            facts: Vec::new(),
            console_url: None,
        },
        "2026-11-23T10:30:00Z".parse().unwrap(),
    )
}

#[tokio::test]
async fn the_transport_posts_an_execute_card_and_replaces_it_with_the_outcome() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3599).await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "1:card"})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{ACTIVITIES}/1:card")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1:card"})))
        .mount(&server)
        .await;
    let conversation =
        BotConversation::new(client(&server), &service_url(&server), CONVERSATION).unwrap();
    let transport = TeamsBotPromptTransport::new(conversation.clone());
    let receipt = transport.send_approval(&ask("apr_9"), None).await.unwrap();
    assert_eq!(
        receipt,
        PromptReceipt::message("teams-bot", CONVERSATION, "1:card")
            .with_service_url(service_url(&server))
    );
    let posted = &requests_to(&server, ACTIVITIES).await[0];
    let card: Value =
        serde_json::from_slice::<Value>(&posted.body).unwrap()["attachments"][0]["content"].clone();
    assert_eq!(card["actions"][0]["type"], "Action.Execute");
    assert_eq!(card["actions"][0]["verb"], "approve");
    assert_eq!(card["refresh"]["action"]["verb"], "refresh");
    assert_eq!(card["refresh"]["action"]["data"]["approval_id"], "apr_9");

    let outcome = PromptOutcome::Decided {
        decision: Decision::Deny,
        reviewer: "Megan Bowen".into(),
    };
    assert_eq!(transport.update(&receipt, &outcome).await.unwrap(), receipt);
    let put = requests_to(&server, ACTIVITIES)
        .await
        .into_iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    let replaced: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(replaced["id"], "1:card");
    let content = &replaced["attachments"][0]["content"];
    assert_eq!(
        content["body"][0]["items"][0]["text"],
        "❌ Denied by Megan Bowen"
    );
    assert!(content.get("actions").is_none() && content.get("refresh").is_none());

    // A webhook receipt is not this transport's to update, and nothing is sent for it.
    let foreign = transport
        .update(&PromptReceipt::new("teams"), &outcome)
        .await
        .unwrap_err();
    assert_eq!(foreign.retry_class(), RetryClass::NonRetryable);

    // The notifier posts into the same conversation.
    let notified = TeamsBotNotifier::new(conversation)
        .notify(&Notification::new(
            "contoso",
            EventType::DriftAlert,
            Severity::Medium,
            "Baseline drift",
        ))
        .await
        .unwrap();
    assert_eq!(notified.receipt.as_deref(), Some("1:card"));
    assert_eq!(requests_to(&server, ACTIVITIES).await.len(), 3);
}

/// Approvals as a host's store would show them: `apr-open` pending, `apr-done` approved.
struct Cards;

#[async_trait]
impl ApprovalCardSource for Cards {
    async fn current_card(&self, approval_id: &str) -> Option<Value> {
        use aisoc_notify_teams::bot_framework::conversation::{bot_approval_card, outcome_card};
        match approval_id {
            "apr-open" => bot_approval_card(&ask("apr-open")).ok(),
            "apr-done" => serde_json::to_value(outcome_card(
                &PromptOutcome::Decided {
                    decision: Decision::Approve,
                    reviewer: "alice".into(),
                },
                Some("apr-done"),
            ))
            .ok(),
            _ => None,
        }
    }
}

struct NoDecisions;

#[async_trait]
impl DecisionHandler for NoDecisions {
    async fn decide(&self, _: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
        Err(DecisionError::NotFound)
    }
}

#[tokio::test]
async fn a_refresh_answers_the_card_as_it_is_now() {
    const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";
    let key = TestSigningKey::generate("k1");
    let issuer = TestBotIssuer::start(&[&key]).await;
    let auth = BotFrameworkAuth::builder(APP_ID)
        .metadata_url(issuer.metadata_url())
        .delivery(delivery())
        .build()
        .unwrap();
    let app = router(BotRoutes::new(auth, Arc::new(NoDecisions)).with_cards(Arc::new(Cards)));
    let token = key.sign(&bot_claims(APP_ID, SERVICE_URL, SystemClock.unix_seconds()));
    let refresh = |approval_id: &str| {
        let body = json!({
            "type": "invoke",
            "name": "adaptiveCard/action",
            "channelId": "msteams",
            "serviceUrl": SERVICE_URL,
            "from": {"id": "29:1", "name": "Megan Bowen"},
            "value": {"action": {"type": "Action.Execute", "verb": "refresh", "data": {"approval_id": approval_id}}}
        });
        Request::post("/messages")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let answer = |response: axum::response::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };

    let open = answer(app.clone().oneshot(refresh("apr-open")).await.unwrap()).await;
    assert_eq!(open["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(open["value"]["actions"][0]["verb"], "approve");
    assert_eq!(open["value"]["refresh"]["action"]["verb"], "refresh");

    let done = answer(app.clone().oneshot(refresh("apr-done")).await.unwrap()).await;
    assert_eq!(
        done["value"]["body"][0]["items"][0]["text"],
        "✅ Approved by alice"
    );

    let unknown = answer(app.oneshot(refresh("apr-unknown")).await.unwrap()).await;
    assert_eq!(
        unknown["type"],
        "application/vnd.microsoft.activity.message"
    );
}
