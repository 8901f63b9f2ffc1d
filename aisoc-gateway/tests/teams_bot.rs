//! The Teams bot messaging endpoint through the real binary: `TEAMS_APP_ID` enables it, the
//! Bot Connector's keys come from a local metadata document, an `Action.Execute` press decides
//! an approval made over REST, and the outgoing-webhook route still answers beside it.

mod support;

use aisoc_notify_teams::bot_framework::testing::{TestBotIssuer, TestSigningKey, bot_claims};
use serde_json::{Value, json};
use support::{Gateway, JsonReply as _};

const ADMIN: &str = "teams-bot-admin-token";
const APP_ID: &str = "3f2a9c10-5b7e-4d21-8c3a-0e9f8d7c6b5a";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

fn execute(verb: &str, approval_id: &str) -> Value {
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

#[tokio::test]
async fn an_execute_press_signed_by_the_bot_connector_decides_an_approval() {
    let key = TestSigningKey::generate("bot-key-1").endorsed_for(["msteams"]);
    let issuer = TestBotIssuer::start(&[&key]).await;
    let metadata_url = issuer.metadata_url();
    let (gateway, _) = Gateway::start_with(
        Some(ADMIN),
        &[],
        &[
            ("TEAMS_APP_ID", APP_ID),
            ("TEAMS_BOT_OPENID_METADATA_URL", &metadata_url),
            // The outgoing-webhook route is nested under the same /v1/teams.
            (
                "TEAMS_OUTGOING_WEBHOOK_SECRET",
                "dGVhbXMtaG1hYy10ZXN0LXNlY3JldC0xMjM0NTY3ODkw",
            ),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let approval = http
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "summary": "Isolate web-01",
            "requested_action": "isolate_host",
            "risk_score": 80
        }))
        .json_reply()
        .await;
    let approval_id = approval["id"].as_str().unwrap().to_owned();
    assert_eq!(approval["status"], "pending", "{approval}");

    // A token for another bot is refused and decides nothing.
    let mut foreign = bot_claims(APP_ID, SERVICE_URL, unix_now());
    foreign["aud"] = json!("another-bots-app-id");
    let refused = http
        .post(gateway.url("/v1/teams/messages"))
        .bearer_auth(key.sign(&foreign))
        .json(&execute("approve", &approval_id))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(
        error["error"],
        "the bearer token is not meant for this bot's Microsoft App ID"
    );

    let token = key.sign(&bot_claims(APP_ID, SERVICE_URL, unix_now()));
    let pressed = http
        .post(gateway.url("/v1/teams/messages"))
        .bearer_auth(&token)
        .json(&execute("approve", &approval_id))
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 200);
    let answer: Value = pressed.json().await.unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(answer["value"]["body"][0]["style"], "good");
    assert_eq!(
        answer["value"]["body"][0]["items"][0]["text"],
        "✅ Approved by Megan Bowen"
    );

    // The decision is recorded before the answer, by the Teams user.
    let stored = http
        .get(gateway.url(&format!("/v1/approvals/{approval_id}?tenant_id=acme")))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    assert_eq!(stored["status"], "approved", "{stored}");
    assert_eq!(stored["reviewer"], "Megan Bowen");
    assert_eq!(stored["source"], "teams");

    // A second press shows who decided first.
    let again: Value = http
        .post(gateway.url("/v1/teams/messages"))
        .bearer_auth(&token)
        .json(&execute("deny", &approval_id))
        .json_reply()
        .await;
    assert_eq!(
        again["value"]["body"][0]["items"][0]["text"],
        "⚠️ Already approved"
    );
    assert_eq!(
        issuer.key_set_fetches().await,
        1,
        "the key set is fetched once"
    );

    // The outgoing-webhook route still answers (unsigned: 401, not 404).
    let webhook = http
        .post(gateway.url("/v1/teams/interactions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), 401);
}
