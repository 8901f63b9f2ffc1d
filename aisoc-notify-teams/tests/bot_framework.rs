//! The Bot Framework messaging endpoint with real RS256 tokens, keys served by a local OpenID
//! metadata document and key set: the decision path, every way a token can be wrong, key
//! rotation and the refetch limit.
#![cfg(feature = "test-util")]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::{Clock, ManualClock, SystemClock};
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest, DecisionSource,
};
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_teams::bot_framework::testing::{
    TestBotIssuer, TestSigningKey, bot_claims, unsigned,
};
use aisoc_notify_teams::bot_framework::{BotFrameworkAuth, BotRoutes, router};
use aisoc_notify_teams::card::DEFAULT_VERSION;
use aisoc_notify_teams::render::{ButtonMode, approval_card};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const APP_ID: &str = "8e1f4c1a-2b3c-4d5e-9f00-a1b2c3d4e5f6";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";

enum State {
    Pending,
    Decided(Decision),
    Expired,
}

#[derive(Default)]
struct Approvals {
    state: Mutex<HashMap<String, State>>,
    seen: Mutex<Vec<DecisionRequest>>,
}

#[async_trait]
impl DecisionHandler for Approvals {
    async fn decide(&self, request: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
        self.seen.lock().unwrap().push(request.clone());
        let mut state = self.state.lock().unwrap();
        let entry = state
            .get_mut(&request.approval_id)
            .ok_or(DecisionError::NotFound)?;
        match entry {
            State::Decided(previous) => return Err(DecisionError::AlreadyReviewed(*previous)),
            State::Expired => return Err(DecisionError::Expired),
            State::Pending => *entry = State::Decided(request.decision),
        }
        Ok(DecisionRecorded {
            approval_id: request.approval_id,
            decision: request.decision,
            reviewer_name: request.reviewer.name,
        })
    }
}

impl Approvals {
    fn seen(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

struct Bot {
    app: axum::Router,
    approvals: Arc<Approvals>,
    issuer: TestBotIssuer,
    key: TestSigningKey,
    clock: Arc<ManualClock>,
}

fn loopback_delivery() -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy::no_retries(),
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

async fn bot_with(key: TestSigningKey) -> Bot {
    let issuer = TestBotIssuer::start(&[&key]).await;
    let clock = Arc::new(ManualClock::at_unix(SystemClock.unix_seconds()));
    let auth = BotFrameworkAuth::builder(APP_ID)
        .metadata_url(issuer.metadata_url())
        .delivery(loopback_delivery())
        .clock(clock.clone())
        .build()
        .unwrap();
    let approvals = Arc::new(Approvals::default());
    {
        let mut state = approvals.state.lock().unwrap();
        state.insert("apr-1".into(), State::Pending);
        state.insert("apr-2".into(), State::Pending);
        state.insert("apr-old".into(), State::Expired);
    }
    let app =
        axum::Router::new().nest("/v1/teams", router(BotRoutes::new(auth, approvals.clone())));
    Bot {
        app,
        approvals,
        issuer,
        key,
        clock,
    }
}

async fn bot() -> Bot {
    bot_with(TestSigningKey::generate("key-2026-a").endorsed_for(["msteams", "webchat"])).await
}

fn invoke(verb: &str, approval_id: &str) -> Value {
    json!({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "channelId": "msteams",
        "serviceUrl": SERVICE_URL,
        "from": {"id": "29:1Xbnc", "aadObjectId": "aad-megan", "name": "Megan Bowen"},
        "conversation": {"id": "19:abc@thread.tacv2"},
        "recipient": {"id": format!("28:{APP_ID}")},
        "value": {"action": {
            "type": "Action.Execute",
            "verb": verb,
            "data": {"action": verb, "approval_id": approval_id}
        }}
    })
}

impl Bot {
    fn claims(&self) -> Value {
        bot_claims(APP_ID, SERVICE_URL, self.clock.unix_seconds())
    }

    fn token(&self) -> String {
        self.key.sign(&self.claims())
    }

    async fn post(
        &self,
        authorization: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let mut request =
            Request::post("/v1/teams/messages").header("content-type", "application/json");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, body)
    }

    async fn send(&self, token: &str, activity: &Value) -> (StatusCode, Value) {
        self.post(Some(&format!("Bearer {token}")), activity.to_string())
            .await
    }

    /// A token that must be refused with 401 and must not reach the decision path; the error
    /// names what is wrong and never echoes the token.
    async fn refuses(&self, token: &str, activity: &Value, reason: &str) {
        let decided_before = self.approvals.seen();
        let (status, body) = self.send(token, activity).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(reason), "{error}");
        assert!(!body.to_string().contains(token), "{body}");
        assert_eq!(self.approvals.seen(), decided_before, "{reason}");
    }
}

fn heading(answer: &Value) -> &Value {
    &answer["value"]["body"][0]["items"][0]["text"]
}

#[tokio::test]
async fn a_signed_execute_action_decides_and_answers_with_the_updated_card() {
    let bot = bot().await;
    // The buttons of the card this crate renders for a bot are what comes back.
    let card = serde_json::to_value(
        approval_card(&common::approval(), ButtonMode::Execute, DEFAULT_VERSION).unwrap(),
    )
    .unwrap();
    let approve = &card["actions"][0];
    assert_eq!(approve["type"], "Action.Execute");
    let mut activity = invoke("approve", "apr-1");
    activity["value"]["action"] = approve.clone();
    activity["value"]["action"]["data"]["approval_id"] = json!("apr-1");

    let (status, answer) = bot.send(&bot.token(), &activity).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(answer["value"]["type"], "AdaptiveCard");
    assert_eq!(answer["value"]["body"][0]["style"], "good");
    assert_eq!(heading(&answer), "✅ Approved by Megan Bowen");

    let seen = bot.approvals.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].approval_id, "apr-1");
    assert_eq!(seen[0].decision, Decision::Approve);
    assert_eq!(seen[0].reviewer.id, "aad-megan");
    assert_eq!(seen[0].reviewer.name, "Megan Bowen");
    assert_eq!(seen[0].source, DecisionSource::Teams);
}

#[tokio::test]
async fn deny_already_decided_and_expired_show_red_and_warning_cards() {
    let bot = bot().await;
    let (_, answer) = bot.send(&bot.token(), &invoke("deny", "apr-2")).await;
    assert_eq!(answer["value"]["body"][0]["style"], "attention");
    assert_eq!(heading(&answer), "❌ Denied by Megan Bowen");

    let (status, answer) = bot.send(&bot.token(), &invoke("approve", "apr-2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["value"]["body"][0]["style"], "warning");
    assert_eq!(heading(&answer), "⚠️ Already denied");

    let (_, answer) = bot.send(&bot.token(), &invoke("approve", "apr-old")).await;
    assert_eq!(heading(&answer), "⚠️ Approval request has expired");
}

#[tokio::test]
async fn other_activities_are_acknowledged_and_a_refresh_leaves_the_card_alone() {
    let bot = bot().await;
    for kind in ["message", "conversationUpdate", "typing"] {
        let activity =
            json!({"type": kind, "channelId": "msteams", "serviceUrl": SERVICE_URL, "text": "hi"});
        let (status, body) = bot.send(&bot.token(), &activity).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        assert_eq!(body, Value::Null, "{kind}: an empty body");
    }

    let (status, answer) = bot.send(&bot.token(), &invoke("refresh", "apr-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.activity.message");

    let mut other_invoke = invoke("approve", "apr-1");
    other_invoke["name"] = json!("composeExtension/query");
    let (status, _) = bot.send(&bot.token(), &other_invoke).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(bot.approvals.seen(), 0);
}

#[tokio::test]
async fn garbled_bodies_and_card_actions_without_a_decision_are_bad_requests() {
    let bot = bot().await;
    let bearer = format!("Bearer {}", bot.token());
    for body in ["{not json", "[1,2]", "\"invoke\""] {
        let (status, answer) = bot.post(Some(&bearer), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer["error"].as_str().unwrap().contains("activity"),
            "{answer}"
        );
    }
    let (status, answer) = bot.send(&bot.token(), &invoke("delete", "apr-1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "action must be 'approve' or 'deny'");

    let (status, answer) = bot.send(&bot.token(), &invoke("approve", " ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "approval_id is required");

    let mut submit = invoke("approve", "apr-1");
    submit["value"]["action"]["type"] = json!("Action.Submit");
    let (status, answer) = bot.send(&bot.token(), &submit).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["error"],
        "value.action.type must be 'Action.Execute'"
    );

    let huge = format!(
        "{{\"type\":\"message\",\"text\":\"{}\"}}",
        "a".repeat(300 * 1024)
    );
    let (status, _) = bot.post(Some(&bearer), huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(bot.approvals.seen(), 0);
}

#[tokio::test]
async fn a_request_without_a_bearer_token_is_refused_before_its_body_is_parsed() {
    let bot = bot().await;
    for authorization in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer ")] {
        let (status, body) = bot.post(authorization, "{not json").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            body["error"],
            "an Authorization: Bearer token from the Bot Connector is required"
        );
    }
    bot.refuses("not-a-jwt", &invoke("approve", "apr-1"), "well-formed")
        .await;
}

#[tokio::test]
async fn a_token_for_another_bot_or_from_another_issuer_is_refused() {
    let bot = bot().await;
    let activity = invoke("approve", "apr-1");
    let mut claims = bot.claims();
    claims["aud"] = json!("00000000-0000-0000-0000-00000000beef");
    bot.refuses(&bot.key.sign(&claims), &activity, "App ID")
        .await;
    claims["aud"] = json!(["someone-else", "another"]);
    bot.refuses(&bot.key.sign(&claims), &activity, "App ID")
        .await;

    let mut claims = bot.claims();
    claims["iss"] = json!("https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/");
    bot.refuses(
        &bot.key.sign(&claims),
        &activity,
        "not issued by the Bot Framework",
    )
    .await;

    // An audience list that includes this bot is fine.
    let mut claims = bot.claims();
    claims["aud"] = json!(["someone-else", APP_ID]);
    let (status, _) = bot.send(&bot.key.sign(&claims), &activity).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn expiry_and_not_before_allow_five_minutes_of_skew_and_no_more() {
    let bot = bot().await;
    let activity = invoke("approve", "apr-1");
    let now = bot.clock.unix_seconds();

    let mut claims = bot.claims();
    claims["exp"] = json!(now - 301);
    bot.refuses(&bot.key.sign(&claims), &activity, "expired")
        .await;
    claims.as_object_mut().unwrap().remove("exp");
    bot.refuses(&bot.key.sign(&claims), &activity, "no expiry")
        .await;
    claims["exp"] = json!(i64::MIN);
    bot.refuses(&bot.key.sign(&claims), &activity, "expired")
        .await;

    let mut claims = bot.claims();
    claims["nbf"] = json!(now + 301);
    bot.refuses(&bot.key.sign(&claims), &activity, "not valid yet")
        .await;
    claims["nbf"] = json!(i64::MAX);
    bot.refuses(&bot.key.sign(&claims), &activity, "not valid yet")
        .await;

    // Within the skew both ways, and an exp at the very end of time does not wrap.
    let mut claims = bot.claims();
    claims["exp"] = json!(now - 299);
    claims["nbf"] = json!(now + 299);
    let (status, _) = bot.send(&bot.key.sign(&claims), &activity).await;
    assert_eq!(status, StatusCode::OK);
    claims["exp"] = json!(i64::MAX);
    let (status, _) = bot
        .send(&bot.key.sign(&claims), &invoke("approve", "apr-2"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn alg_none_hmac_key_confusion_and_tampered_signatures_are_refused() {
    let bot = bot().await;
    let activity = invoke("approve", "apr-1");
    let claims = bot.claims();
    let kid = bot.key.kid();

    let none = format!(
        "{}.",
        unsigned(&json!({"alg": "none", "kid": kid}), &claims)
    );
    bot.refuses(&none, &activity, "RS256").await;

    // HS256 keyed with the public key's published bytes: the classic confusion attack.
    let hs_input = unsigned(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}), &claims);
    let public = bot.key.jwk().to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).unwrap();
    mac.update(hs_input.as_bytes());
    let hs256 = format!(
        "{hs_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    bot.refuses(&hs256, &activity, "RS256").await;

    // RS512 is RSA too, but not what the Bot Connector signs with.
    let rs512 = bot
        .key
        .sign_with_header(&json!({"alg": "RS512", "kid": kid}), &claims);
    bot.refuses(&rs512, &activity, "RS256").await;

    // Claims swapped under a valid signature.
    let genuine = bot.token();
    let mut forged_claims = claims.clone();
    forged_claims["aud"] = json!(APP_ID);
    forged_claims["exp"] = json!(bot.clock.unix_seconds() + 86_400 * 365);
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    bot.refuses(&forged, &activity, "signature does not verify")
        .await;

    // A key of the same kid that the Bot Framework never published.
    let impostor = TestSigningKey::generate(kid);
    bot.refuses(
        &impostor.sign(&claims),
        &activity,
        "signature does not verify",
    )
    .await;

    let no_kid = bot
        .key
        .sign_with_header(&json!({"alg": "RS256", "typ": "JWT"}), &claims);
    bot.refuses(&no_kid, &activity, "kid").await;
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_once_then_is_refused() {
    let bot = bot().await;
    let (status, _) = bot.send(&bot.token(), &invoke("approve", "apr-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bot.issuer.key_set_fetches().await, 1);

    bot.clock.advance(Duration::from_secs(61));
    let stranger = TestSigningKey::generate("key-nobody-published");
    bot.refuses(
        &stranger.sign(&bot.claims()),
        &invoke("approve", "apr-2"),
        "not among the Bot Framework's published keys",
    )
    .await;
    assert_eq!(bot.issuer.metadata_fetches().await, 2);
    assert_eq!(bot.issuer.key_set_fetches().await, 2);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_once_the_key_set_is_refetched() {
    let bot = bot().await;
    let (status, _) = bot.send(&bot.token(), &invoke("approve", "apr-1")).await;
    assert_eq!(status, StatusCode::OK);

    let next = TestSigningKey::generate("key-2026-b").endorsed_for(["msteams"]);
    bot.issuer.publish(&[&bot.key, &next]).await;
    bot.clock.advance(Duration::from_secs(61));
    let (status, answer) = bot
        .send(&next.sign(&bot.claims()), &invoke("deny", "apr-2"))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(heading(&answer), "❌ Denied by Megan Bowen");
    assert_eq!(bot.issuer.key_set_fetches().await, 1);

    // The old key, still published, still works without another fetch.
    let (status, _) = bot.send(&bot.token(), &invoke("approve", "apr-old")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bot.issuer.key_set_fetches().await, 1);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_the_keys_at_most_once_a_minute() {
    let bot = bot().await;
    let (status, _) = bot.send(&bot.token(), &invoke("approve", "apr-1")).await;
    assert_eq!(status, StatusCode::OK);
    bot.clock.advance(Duration::from_secs(61));

    let stranger = TestSigningKey::generate("unused");
    let flood: Vec<_> = (0..40)
        .map(|n| {
            let token = stranger.sign_with_header(
                &json!({"alg": "RS256", "kid": format!("random-kid-{n}")}),
                &bot.claims(),
            );
            let request = Request::post("/v1/teams/messages")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from(invoke("approve", "apr-2").to_string()))
                .unwrap();
            tokio::spawn(bot.app.clone().oneshot(request))
        })
        .collect();
    for request in flood {
        assert_eq!(
            request.await.unwrap().unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        bot.issuer.metadata_fetches().await,
        2,
        "one initial, one refetch"
    );
    assert_eq!(bot.issuer.key_set_fetches().await, 2);

    // A minute later one more refetch is allowed, and again only one.
    bot.clock.advance(Duration::from_secs(60));
    for n in 0..5 {
        let token = stranger.sign_with_header(
            &json!({"alg": "RS256", "kid": format!("later-kid-{n}")}),
            &bot.claims(),
        );
        bot.refuses(&token, &invoke("approve", "apr-2"), "published keys")
            .await;
    }
    assert_eq!(bot.issuer.key_set_fetches().await, 3);
    assert_eq!(bot.approvals.seen(), 1, "only the first, genuine request");
}

#[tokio::test]
async fn the_keys_are_refetched_after_a_day_and_kept_when_that_fails() {
    let bot = bot().await;
    let (status, _) = bot.send(&bot.token(), &invoke("approve", "apr-1")).await;
    assert_eq!(status, StatusCode::OK);

    bot.clock.advance(Duration::from_secs(24 * 60 * 60));
    let (status, _) = bot.send(&bot.token(), &invoke("deny", "apr-2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bot.issuer.key_set_fetches().await,
        2,
        "a day-old key set is refetched"
    );

    // The key set disappears: the next day's refresh fails, the keys held still verify.
    bot.issuer.publish(&[]).await;
    bot.clock.advance(Duration::from_secs(24 * 60 * 60));
    let (status, _) = bot.send(&bot.token(), &invoke("approve", "apr-old")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bot.issuer.key_set_fetches().await, 1);
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_answer_503_not_401() {
    let metadata = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&metadata)
        .await;
    let key = TestSigningKey::generate("k");
    let auth = BotFrameworkAuth::builder(APP_ID)
        .metadata_url(format!("{}/openidconfiguration", metadata.uri()))
        .delivery(loopback_delivery())
        .build()
        .unwrap();
    let approvals = Arc::new(Approvals::default());
    let app = router(BotRoutes::new(auth, approvals.clone()));
    let now = SystemClock.unix_seconds();
    let request = Request::post("/messages")
        .header(
            "authorization",
            format!("Bearer {}", key.sign(&bot_claims(APP_ID, SERVICE_URL, now))),
        )
        .body(Body::from(invoke("approve", "apr-1").to_string()))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(approvals.seen(), 0);
}

#[tokio::test]
async fn a_key_endorsed_for_other_channels_or_a_foreign_service_url_is_refused() {
    let skype = bot_with(TestSigningKey::generate("skype-only").endorsed_for(["skype"])).await;
    skype
        .refuses(&skype.token(), &invoke("approve", "apr-1"), "endorsed")
        .await;

    let bot = bot().await;
    let mut activity = invoke("approve", "apr-1");
    activity["channelId"] = json!("slack");
    bot.refuses(&bot.token(), &activity, "endorsed").await;
    activity.as_object_mut().unwrap().remove("channelId");
    bot.refuses(&bot.token(), &activity, "endorsed").await;

    let mut activity = invoke("approve", "apr-1");
    activity["serviceUrl"] = json!("https://attacker.example/");
    bot.refuses(&bot.token(), &activity, "serviceUrl").await;
    activity.as_object_mut().unwrap().remove("serviceUrl");
    bot.refuses(&bot.token(), &activity, "serviceUrl").await;

    // A key without endorsements and a token without serviceurl bind nothing.
    let open = bot_with(TestSigningKey::generate("open")).await;
    let mut claims = open.claims();
    claims.as_object_mut().unwrap().remove("serviceurl");
    let mut activity = invoke("approve", "apr-1");
    activity["channelId"] = json!("webchat");
    let (status, _) = open.send(&open.key.sign(&claims), &activity).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn the_builder_refuses_an_empty_app_id_and_a_plain_http_metadata_url() {
    let empty = BotFrameworkAuth::builder("  ").build().unwrap_err();
    assert_eq!(empty.field(), "TEAMS_APP_ID");
    let insecure = BotFrameworkAuth::builder(APP_ID)
        .metadata_url("http://login.botframework.com/v1/.well-known/openidconfiguration")
        .build()
        .unwrap_err();
    assert_eq!(insecure.field(), "TEAMS_BOT_OPENID_METADATA_URL");
    let auth = BotFrameworkAuth::builder(APP_ID).build().unwrap();
    assert_eq!(auth.app_id(), APP_ID);
    assert!(format!("{auth:?}").contains("login.botframework.com"));
}
