//! Teams approval cards posted and edited by the bot, through the real binary: with
//! `TEAMS_APP_ID` + `TEAMS_APP_PASSWORD` a Teams channel can name a conversation
//! (`service_url` + `conversation_id`); an approval posts an `Action.Execute` card with a
//! Universal Actions refresh there, a decision (REST or a card button) replaces the activity
//! with the outcome, and a `refresh` invoke answers the card as it is now. The token endpoint,
//! the Bot Connector and the OpenID metadata are wiremock servers.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aisoc_notify_teams::bot_framework::testing::{TestBotIssuer, TestSigningKey, bot_claims};
use serde_json::{Value, json};
use support::{Gateway, JsonReply as _};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ADMIN: &str = "teams-bot-cards-admin";
const APP_ID: &str = "6b1d0c2e-8f3a-4e5b-9c7d-1a2b3c4d5e6f";
const APP_PASSWORD: &str = "Qx8~bot-client-secret-for-tests";
const CONVERSATION: &str = "19:soc-approvals@thread.tacv2";
const ACTIVITIES: &str = "/teams/v3/conversations/19:soc-approvals@thread.tacv2/activities";
/// The service URL the invokes come from (the token binds them to it).
const INVOKE_SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

/// The token endpoint and the Bot Connector: tokens `bot-token`, posted activities `act-1`,
/// `act-2`, …, every replacement accepted.
async fn bot_connector() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": "bot-token"
        })))
        .mount(&server)
        .await;
    let posted = AtomicU32::new(0);
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(move |_: &Request| {
            let n = posted.fetch_add(1, Ordering::SeqCst) + 1;
            ResponseTemplate::new(201).set_body_json(json!({"id": format!("act-{n}")}))
        })
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex(
            r"^/teams/v3/conversations/[^/]+/activities/[^/]+$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "ok"})))
        .mount(&server)
        .await;
    server
}

/// The requests `server` received with `method` on `route`, as (authorization, JSON body).
async fn received(server: &MockServer, verb: &str, route: &str) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == route)
        .map(|r| {
            let auth = r
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (auth, serde_json::from_slice(&r.body).unwrap())
        })
        .collect()
}

/// Waits (the updates run in the background) until `route` has received a PUT, and returns
/// the card it carried.
async fn replaced_card(server: &MockServer, route: &str) -> Value {
    for _ in 0..1200 {
        if let Some((auth, body)) = received(server, "PUT", route).await.pop() {
            assert_eq!(auth, "Bearer bot-token");
            assert_eq!(
                body["attachments"][0]["contentType"],
                "application/vnd.microsoft.card.adaptive"
            );
            return body["attachments"][0]["content"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{route} was never replaced");
}

fn heading(card: &Value) -> String {
    card["body"][0]["items"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn create_approval(gateway: &Gateway, summary: &str) -> Value {
    reqwest::Client::new()
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "summary": summary,
            "requested_action": "isolate_host",
            "risk_score": 75,
        }))
        .json_reply()
        .await
}

fn invoke(verb: &str, approval_id: &str) -> Value {
    json!({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "channelId": "msteams",
        "serviceUrl": INVOKE_SERVICE_URL,
        "from": {"id": "29:1Xbnc", "aadObjectId": "aad-megan", "name": "Megan Bowen"},
        "conversation": {"id": CONVERSATION},
        "value": {"action": {
            "type": "Action.Execute",
            "verb": verb,
            "data": {"action": verb, "approval_id": approval_id}
        }}
    })
}

async fn create_channel(gateway: &Gateway, config: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({"channel_type": "teams", "name": "SOC approvals", "config": config}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn bot_cards_are_posted_replaced_on_decision_and_refreshed_with_the_current_state() {
    let key = TestSigningKey::generate("bot-cards-key").endorsed_for(["msteams"]);
    let issuer = TestBotIssuer::start(&[&key]).await;
    let connector = bot_connector().await;
    let token_url = format!("{}/tenant/oauth2/v2.0/token", connector.uri());
    let metadata_url = issuer.metadata_url();
    let (gateway, _) = Gateway::start_with(
        Some(ADMIN),
        &[],
        &[
            ("TEAMS_APP_ID", APP_ID),
            ("TEAMS_APP_PASSWORD", APP_PASSWORD),
            ("TEAMS_BOT_TOKEN_URL", &token_url),
            ("TEAMS_BOT_SERVICE_HOSTS", "127.0.0.1"),
            ("TEAMS_BOT_OPENID_METADATA_URL", &metadata_url),
        ],
    )
    .await;
    let service_url = format!("{}/teams/", connector.uri());

    // Half a bot pair is refused, naming the missing half.
    let (status, refused) = create_channel(&gateway, json!({"service_url": service_url})).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("conversation_id: "),
        "{refused}"
    );
    // The bot's token goes to the service URL: a host that is not the Bot Connector's is
    // refused (a public address, so the outbound guard lets it through to this check).
    let (status, refused) = create_channel(
        &gateway,
        json!({"service_url": "https://93.184.216.34/teams/", "conversation_id": CONVERSATION}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let message = refused["error"].as_str().unwrap();
    assert!(
        message.starts_with("service_url: 93.184.216.34 is not a Bot Connector host"),
        "{refused}"
    );
    let (status, created) = create_channel(
        &gateway,
        json!({"service_url": service_url, "conversation_id": CONVERSATION}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let channel_id = created["id"].as_str().unwrap().to_owned();

    // An approval posts an Action.Execute card with a refresh, as the bot.
    let first = create_approval(&gateway, "Isolate web-01").await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(
        first["cards"],
        json!([{"channel": channel_id, "type": "teams", "state": "posted"}]),
        "{first}"
    );
    let posts = received(&connector, "POST", ACTIVITIES).await;
    assert_eq!(posts.len(), 1);
    let (auth, activity) = &posts[0];
    assert_eq!(auth, "Bearer bot-token");
    assert_eq!(activity["type"], "message");
    let card = &activity["attachments"][0]["content"];
    let verbs: Vec<&str> = card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "Action.Execute")
        .map(|a| a["verb"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["approve", "deny"]);
    assert_eq!(card["actions"][0]["data"]["approval_id"], first_id.as_str());
    assert_eq!(
        card["refresh"]["action"],
        json!({"type": "Action.Execute", "verb": "refresh", "title": "Refresh", "data": {"approval_id": first_id}})
    );

    // A REST decision replaces the same activity with the outcome, naming the decider.
    let decided = reqwest::Client::new()
        .post(gateway.url(&format!("/v1/approvals/{first_id}/decision?tenant_id=acme")))
        .bearer_auth(ADMIN)
        .json(&json!({"decision": "approve", "reviewer": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 200);
    let outcome = replaced_card(&connector, &format!("{ACTIVITIES}/act-1")).await;
    assert!(
        heading(&outcome).starts_with("✅ Approved by alice at "),
        "{outcome}"
    );
    assert!(outcome.get("actions").is_none() && outcome.get("refresh").is_none());

    // A refresh of that card answers the outcome.
    let http = reqwest::Client::new();
    let token = key.sign(&bot_claims(APP_ID, INVOKE_SERVICE_URL, unix_now()));
    let refreshed: Value = http
        .post(gateway.url("/v1/teams/messages"))
        .bearer_auth(&token)
        .json(&invoke("refresh", &first_id))
        .json_reply()
        .await;
    assert_eq!(
        refreshed["type"], "application/vnd.microsoft.card.adaptive",
        "{refreshed}"
    );
    assert!(
        heading(&refreshed["value"]).starts_with("✅ Approved by alice at "),
        "{refreshed}"
    );
    assert_eq!(
        refreshed["value"]["body"][0]["items"][1]["text"],
        format!("Approval {}", first_id.replace('_', "\\_"))
    );

    // A second approval: its refresh shows the buttons; a card press decides it, answers the
    // green card, and its bot card is replaced too.
    let second = create_approval(&gateway, "Block 203.0.113.7").await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(second["cards"][0]["state"], "posted", "{second}");
    let pending: Value = http
        .post(gateway.url("/v1/teams/messages"))
        .bearer_auth(&token)
        .json(&invoke("refresh", &second_id))
        .json_reply()
        .await;
    assert_eq!(
        pending["value"]["actions"][0]["verb"], "approve",
        "{pending}"
    );
    assert_eq!(
        pending["value"]["refresh"]["action"]["data"]["approval_id"],
        second_id.as_str()
    );

    let pressed: Value = http
        .post(gateway.url("/v1/teams/messages"))
        .bearer_auth(&token)
        .json(&invoke("approve", &second_id))
        .json_reply()
        .await;
    assert_eq!(pressed["value"]["body"][0]["style"], "good", "{pressed}");
    assert_eq!(heading(&pressed["value"]), "✅ Approved by Megan Bowen");
    let replaced = replaced_card(&connector, &format!("{ACTIVITIES}/act-2")).await;
    assert!(
        heading(&replaced).starts_with("✅ Approved by Megan Bowen at "),
        "{replaced}"
    );

    // One token served every call, and the secret went only to the token endpoint.
    let token_requests: Vec<String> = connector
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/token"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(token_requests.len(), 1);
    assert!(token_requests[0].contains("grant_type=client_credentials"));
    let stored: Value = http
        .get(gateway.url(&format!("/v1/approvals/{second_id}?tenant_id=acme")))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    assert_eq!(stored["status"], "approved", "{stored}");
    assert!(!stored.to_string().contains(APP_PASSWORD));
}

#[tokio::test]
async fn without_the_app_password_a_bot_channel_is_refused_naming_it() {
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &[("TEAMS_APP_ID", APP_ID)]).await;
    let (status, refused) = create_channel(
        &gateway,
        json!({"service_url": INVOKE_SERVICE_URL, "conversation_id": CONVERSATION}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(error.starts_with("TEAMS_APP_PASSWORD: "), "{error}");

    // Both modes at once is refused naming webhook_url, whatever the credentials.
    let (status, both) = create_channel(
        &gateway,
        json!({
            "webhook_url": "https://prod-00.westus.logic.azure.com/workflows/abc",
            "service_url": INVOKE_SERVICE_URL,
            "conversation_id": CONVERSATION
        }),
    )
    .await;
    assert_eq!(status, 422, "{both}");
    assert!(
        both["error"].as_str().unwrap().starts_with("webhook_url: "),
        "{both}"
    );
}
