//! Approval cards through the real binary: creating an approval posts a card with Approve /
//! Deny to the Slack (Web API) and Teams (webhook) channels, and a decision from the REST API,
//! a Slack button or a card's answer link replaces every Slack card with the outcome. Slack's
//! Web API and the Teams webhook are wiremock servers.

mod support;
use support::smtp::smtp_server;

use std::time::Duration;

use aisoc_notify_slack::signature::SlackSignatureVerifier;
use serde_json::{Value, json};
use support::{Gateway, TestDatabase};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADMIN: &str = "cards-admin";
const SLACK_SECRET: &str = "cards-slack-signing-secret";
const DATA_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

async fn start(extra: &[(&str, &str)]) -> Gateway {
    let mut envs = vec![("SLACK_SIGNING_SECRET", SLACK_SECRET)];
    envs.extend_from_slice(extra);
    Gateway::start_with(Some(ADMIN), &[], &envs).await.0
}

/// Slack's Web API: a message posted gets `ts` in the channel it names (or `post_answer`, when
/// that is an error), and every update answers ok.
async fn slack_api(post_answer: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(move |request: &wiremock::Request| {
            let mut answer = post_answer.clone();
            if answer["ok"] == true {
                let sent: Value = serde_json::from_slice(&request.body).unwrap();
                answer["channel"] = sent["channel"].clone();
            }
            ResponseTemplate::new(200).set_body_json(answer)
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0", "ts": "1.0"})),
        )
        .mount(&server)
        .await;
    server
}

fn posted(ts: &str) -> Value {
    json!({"ok": true, "ts": ts})
}

async fn teams_webhook() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    server
}

async fn slack_channel(gateway: &Gateway, slack: &MockServer, channel_id: &str) -> String {
    gateway
        .create_channel(
            ADMIN,
            "slack",
            json!({
                "bot_token": "xoxb-cards-test",
                "channel_id": channel_id,
                "api_base": format!("{}/api/", slack.uri()),
            }),
        )
        .await
}

async fn teams_channel(gateway: &Gateway, teams: &MockServer) -> String {
    gateway
        .create_channel(
            ADMIN,
            "teams",
            json!({"webhook_url": format!("{}/workflows/cards", teams.uri()), "format": "workflows"}),
        )
        .await
}

async fn create_approval(gateway: &Gateway, summary: &str, ttl_seconds: u64) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/approvals"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "summary": summary,
            "requested_action": "isolate_host",
            "risk_score": 82,
            "ttl_seconds": ttl_seconds,
        }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn decide_by_rest(gateway: &Gateway, id: &str, decision: &str, reviewer: &str) -> u16 {
    reqwest::Client::new()
        .post(gateway.url(&format!("/v1/approvals/{id}/decision?tenant_id=acme")))
        .bearer_auth(ADMIN)
        .json(&json!({"decision": decision, "reviewer": reviewer}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The JSON bodies `server` received on `route`.
async fn bodies(server: &MockServer, route: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == route)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Waits (up to a minute: the work runs in the background) until `server` has received `count`
/// requests on `route` matching `wanted`, and returns them.
async fn wait_for(
    server: &MockServer,
    route: &str,
    count: usize,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    for _ in 0..1200 {
        let found: Vec<Value> = bodies(server, route)
            .await
            .into_iter()
            .filter(|b| wanted(b))
            .collect();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{route}: fewer than {count} wanted requests; got {:?}",
        bodies(server, route).await
    );
}

/// Every button in a Slack message's blocks (top level and in attachments).
fn slack_buttons(message: &Value) -> Vec<Value> {
    let mut blocks: Vec<&Value> = message["blocks"].as_array().into_iter().flatten().collect();
    for attachment in message["attachments"].as_array().into_iter().flatten() {
        blocks.extend(attachment["blocks"].as_array().into_iter().flatten());
    }
    blocks
        .into_iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "button")
        .collect()
}

/// The `Action.OpenUrl` buttons of the Adaptive Card in a Teams webhook body, as (title, url),
/// in card order.
fn card_links(body: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, found: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("Action.OpenUrl")) {
                    found.push((
                        map["title"].as_str().unwrap().to_owned(),
                        map["url"].as_str().unwrap().to_owned(),
                    ));
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(body, &mut found);
    found
}

fn text_of(update: &Value) -> String {
    update["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_new_approval_posts_its_card_and_a_rest_decision_replaces_it_with_who_decided() {
    let slack = slack_api(posted("1700000000.000100")).await;
    let teams = teams_webhook().await;
    let gateway = start(&[]).await;
    let slack_id = slack_channel(&gateway, &slack, "C0APPROVALS").await;
    let teams_id = teams_channel(&gateway, &teams).await;

    let (status, created) = create_approval(&gateway, "Isolate web-01", 3600).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let mut cards = created["cards"].as_array().unwrap().clone();
    cards.sort_by_key(|c| c["type"].as_str().unwrap().to_owned());
    assert_eq!(
        cards,
        [
            json!({"channel": slack_id, "type": "slack", "state": "posted"}),
            json!({"channel": teams_id, "type": "teams", "state": "unsupported"}),
        ],
        "the Slack card can be updated later, the Teams webhook card cannot"
    );

    let posts = bodies(&slack, "/api/chat.postMessage").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["channel"], "C0APPROVALS");
    let buttons = slack_buttons(&posts[0]);
    let labelled: Vec<(&str, &str)> = buttons
        .iter()
        .map(|b| {
            (
                b["text"]["text"].as_str().unwrap(),
                b["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(labelled, [("Approve", id.as_str()), ("Deny", id.as_str())]);

    let webhook = teams.received_requests().await.unwrap();
    assert_eq!(webhook.len(), 1);
    let card: Value = serde_json::from_slice(&webhook[0].body).unwrap();
    assert!(card.to_string().contains("AdaptiveCard"), "{card}");
    let links = card_links(&card);
    let titles: Vec<&str> = links.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Approve", "Deny"]);
    for (_, url) in &links {
        assert!(
            url.starts_with(&gateway.url("/v1/approvals/answer/")),
            "{url}"
        );
    }

    assert_eq!(decide_by_rest(&gateway, &id, "approve", "alice").await, 200);
    let updates = wait_for(&slack, "/api/chat.update", 1, |_| true).await;
    assert_eq!(updates[0]["channel"], "C0APPROVALS");
    assert_eq!(updates[0]["ts"], "1700000000.000100");
    let text = text_of(&updates[0]);
    assert!(text.contains("Approved by alice at 20"), "{text}");
    assert!(slack_buttons(&updates[0]).is_empty(), "no buttons are left");
    assert_eq!(
        teams.received_requests().await.unwrap().len(),
        1,
        "a webhook card is not posted again"
    );
}

fn sign_interaction(payload: &Value) -> (String, String, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = SlackSignatureVerifier::new(SLACK_SECRET).sign(&ts, body.as_bytes());
    (body, ts, signature)
}

#[tokio::test]
async fn a_slack_click_or_an_answer_link_updates_every_card_of_the_request() {
    let slack = slack_api(posted("1700000000.000100")).await;
    let teams = teams_webhook().await;
    let gateway = start(&[]).await;
    slack_channel(&gateway, &slack, "C0ONE").await;
    slack_channel(&gateway, &slack, "C0TWO").await;
    teams_channel(&gateway, &teams).await;
    let http = reqwest::Client::new();

    // A click on one Slack card decides; both Slack cards are replaced.
    let (_, first) = create_approval(&gateway, "Isolate web-01", 3600).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let (body, ts, signature) = sign_interaction(&json!({
        "type": "block_actions",
        "user": {"id": "U0BOB", "username": "bob"},
        "actions": [{"action_id": "approve_action", "value": first_id, "type": "button"}]
    }));
    let clicked = http
        .post(gateway.url("/v1/slack/interactions"))
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(clicked.status(), 200);
    let updates = wait_for(&slack, "/api/chat.update", 2, |b| {
        text_of(b).contains("Approved by bob at ")
    })
    .await;
    let mut channels: Vec<&str> = updates
        .iter()
        .map(|u| u["channel"].as_str().unwrap())
        .collect();
    channels.sort();
    assert_eq!(channels, ["C0ONE", "C0TWO"]);

    // The Teams card's Deny link: the page decides nothing, its button does.
    let (_, second) = create_approval(&gateway, "Block 203.0.113.9", 3600).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let webhook = teams.received_requests().await.unwrap();
    let card: Value = serde_json::from_slice(&webhook.last().unwrap().body).unwrap();
    let deny = card_links(&card)
        .into_iter()
        .find(|(title, _)| title == "Deny")
        .unwrap()
        .1;
    let page = http.get(&deny).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Block 203.0.113.9") && html.contains("method=\"post\""),
        "{html}"
    );
    let pending: Value = http
        .get(gateway.url(&format!("/v1/approvals/{second_id}?tenant_id=acme")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        pending["status"], "pending",
        "opening the link decides nothing"
    );

    let decided = http.post(&deny).send().await.unwrap();
    assert_eq!(decided.status(), 200);
    assert!(decided.text().await.unwrap().contains("Denied"));
    let updates = wait_for(&slack, "/api/chat.update", 2, |b| {
        text_of(b).contains("Denied by Teams channel")
    })
    .await;
    assert_eq!(updates.len(), 2, "both Slack cards of the request");
    let again = http.post(&deny).send().await.unwrap();
    assert_eq!(
        again.status(),
        409,
        "a decided request's links only show it"
    );

    // A token that was altered is refused.
    let forged = format!("{}x", deny);
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);
}

/// The URL after `label: ` in a message's plain-text part (quoted-printable undone).
fn mailed_link(message: &str, label: &str) -> String {
    let text = message.replace("=\r\n", "").replace("=3D", "=");
    let start = text
        .find(&format!("{label}: http"))
        .unwrap_or_else(|| panic!("no {label} link in {text}"))
        + label.len()
        + 2;
    text[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn an_emailed_card_decides_through_its_link_and_the_chat_cards_follow() {
    let (mailbox, port) = smtp_server();
    let slack = slack_api(posted("1700000000.000400")).await;
    let gateway = start(&[]).await;
    slack_channel(&gateway, &slack, "C0APPROVALS").await;
    let email_id = gateway
        .create_channel(
            ADMIN,
            "email",
            json!({
                "host": "127.0.0.1",
                "port": port,
                "security": "plain_loopback_only",
                "from": "AiSOC <soc-bot@example.com>",
                "to": ["soc@example.com"],
            }),
        )
        .await;

    let (status, created) = create_approval(&gateway, "Reset MFA for erin", 3600).await;
    assert_eq!(status, 201, "{created}");
    let email_card = created["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == email_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(email_card["state"], "unsupported", "{email_card}");
    let message = mailbox.messages.lock().unwrap().last().unwrap().clone();
    assert!(
        message.contains("Approval needed: Reset MFA for erin"),
        "{message}"
    );
    let approve = mailed_link(&message, "Approve");
    let deny = mailed_link(&message, "Deny");
    assert!(
        approve.starts_with(&gateway.url("/v1/approvals/answer/")),
        "{approve}"
    );
    assert_ne!(approve, deny);

    let http = reqwest::Client::new();
    let page = http.get(&approve).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Reset MFA for erin"));
    let decided = http.post(&approve).send().await.unwrap();
    assert_eq!(decided.status(), 200);
    let updates = wait_for(&slack, "/api/chat.update", 1, |b| {
        text_of(b).contains("Approved by soc@example.com (e-mail link) at ")
    })
    .await;
    assert_eq!(updates[0]["channel"], "C0APPROVALS");
    // The other link now only shows what was decided.
    let other = http.post(&deny).send().await.unwrap();
    assert_eq!(other.status(), 409);
    assert!(
        other
            .text()
            .await
            .unwrap()
            .contains("Approved by soc@example.com")
    );
}

#[tokio::test]
async fn a_card_that_cannot_be_posted_is_reported_and_the_approval_is_still_created() {
    let slack = slack_api(json!({"ok": false, "error": "channel_not_found"})).await;
    let other = MockServer::start().await;
    let gateway = start(&[]).await;
    let slack_id = slack_channel(&gateway, &slack, "C0GONE").await;
    let webhook_id = gateway
        .create_channel(
            ADMIN,
            "webhook",
            json!({"url": format!("{}/hook", other.uri())}),
        )
        .await;

    let (status, created) = create_approval(&gateway, "Disable user bob", 3600).await;
    assert_eq!(status, 201, "{created}");
    let cards = created["cards"].as_array().unwrap();
    let slack_card = cards
        .iter()
        .find(|c| c["channel"] == slack_id.as_str())
        .unwrap();
    assert_eq!(slack_card["state"], "failed");
    assert!(
        slack_card["error"]
            .as_str()
            .unwrap()
            .contains("channel_not_found"),
        "{slack_card}"
    );
    assert!(!created.to_string().contains("xoxb-cards-test"));
    let webhook_card = cards
        .iter()
        .find(|c| c["channel"] == webhook_id.as_str())
        .unwrap();
    assert_eq!(
        webhook_card["state"], "skipped",
        "a plain webhook cannot carry buttons"
    );

    // Deciding updates nothing: no card was posted.
    let id = created["id"].as_str().unwrap();
    assert_eq!(decide_by_rest(&gateway, id, "deny", "carol").await, 200);
    assert!(bodies(&slack, "/api/chat.update").await.is_empty());
}

#[tokio::test]
async fn with_a_database_cards_survive_a_restart_and_expired_ones_lose_their_buttons() {
    let db = TestDatabase::create("aisoc_cards").await;
    let url = db.url();
    let envs = [
        ("DATABASE_URL", url.as_str()),
        ("AISOC_DATA_KEY", DATA_KEY),
        ("AISOC_APPROVAL_CARDS_RECONCILE_SECONDS", "1"),
    ];
    let slack = slack_api(posted("1700000000.000300")).await;
    let gateway = start(&envs).await;
    slack_channel(&gateway, &slack, "C0APPROVALS").await;
    let (status, created) = create_approval(&gateway, "Isolate db-02", 3600).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, short) = create_approval(&gateway, "Quarantine mail", 1).await;
    assert_eq!(short["cards"][0]["state"], "posted");
    drop(gateway);

    // Another process: the decision updates the card posted by the first one.
    let gateway = start(&envs).await;
    assert_eq!(decide_by_rest(&gateway, &id, "approve", "dave").await, 200);
    let updates = wait_for(&slack, "/api/chat.update", 1, |b| {
        text_of(b).contains("Approved by dave at ")
    })
    .await;
    assert_eq!(updates[0]["ts"], "1700000000.000300");

    // The request nobody decided passed its deadline: the reconciler replaces its buttons.
    wait_for(&slack, "/api/chat.update", 1, |b| {
        text_of(b).contains("Expired")
    })
    .await;
    drop(gateway);
    db.drop_database().await;
}
