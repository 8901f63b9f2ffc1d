//! Slack's `/aisoc` commands against the real binary: signed slash commands, answered from what
//! the inbox accepted, the approvals and the audit trail, posted to a mock `response_url`.

mod support;

use std::time::Duration;

use aisoc_notify_slack::signature::SlackSignatureVerifier;
use serde_json::{Value, json};
use support::{Gateway, JsonReply, TestDatabase};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADMIN: &str = "chatops-admin";
const SLACK_SECRET: &str = "chatops-signing-secret";
const TEAMS: &str = "TACME:acme,TGLOBEX:globex";

/// A gateway with Slack commands on, and the mock `response_url` its answers go to.
struct ChatOps {
    gateway: Gateway,
    response_url: MockServer,
    http: reqwest::Client,
}

impl ChatOps {
    async fn start(envs: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("SLACK_SIGNING_SECRET", SLACK_SECRET),
            ("AISOC_SLACK_TEAM_TENANTS", TEAMS),
        ];
        all.extend_from_slice(envs);
        let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &all).await;
        let response_url = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&response_url)
            .await;
        Self {
            gateway,
            response_url,
            http: reqwest::Client::new(),
        }
    }

    /// Mints a generic-json inbox token for `tenant_id` and posts `events` (NDJSON) with it.
    async fn ingest(&self, tenant_id: &str, events: &[Value]) {
        let minted = self
            .http
            .post(self.gateway.url("/v1/admin/inbox/tokens"))
            .bearer_auth(ADMIN)
            .json(&json!({"tenant_id": tenant_id, "template": "generic-json"}))
            .json_reply()
            .await;
        let token = minted["token"].as_str().expect("a token").to_owned();
        let body: String = events.iter().map(|e| format!("{e}\n")).collect();
        let receipt = self
            .http
            .post(self.gateway.url(&format!("/v1/inbox/{token}")))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .json_reply()
            .await;
        assert_eq!(receipt["accepted"], events.len(), "{receipt}");
    }

    /// Runs `/aisoc <text>` as user alice of `team_id`; the message posted to the response_url.
    async fn command(&self, team_id: &str, text: &str) -> Value {
        let before = self.response_url.received_requests().await.unwrap().len();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("command", "/aisoc")
            .append_pair("text", text)
            .append_pair("user_id", "U0ALICE")
            .append_pair("user_name", "alice")
            .append_pair("channel_id", "C0SOC")
            .append_pair("team_id", team_id)
            .append_pair(
                "response_url",
                &format!("{}/commands/1", self.response_url.uri()),
            )
            .finish();
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let signature = SlackSignatureVerifier::new(SLACK_SECRET).sign(&ts, body.as_bytes());
        let response = self
            .http
            .post(self.gateway.url("/v1/slack/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let acknowledgement: Value = response.json().await.unwrap();
        assert!(
            acknowledgement["text"]
                .as_str()
                .unwrap()
                .contains("Working on"),
            "{acknowledgement}"
        );
        for _ in 0..500 {
            let received = self.response_url.received_requests().await.unwrap();
            if received.len() > before {
                return serde_json::from_slice(&received[before].body).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no answer to /aisoc {text} reached the response_url");
    }

    async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(self.gateway.url(path))
            .bearer_auth(ADMIN)
            .json_reply()
            .await
    }
}

/// The titles of a `/aisoc list` answer, in the order shown.
fn titles(message: &Value) -> Vec<String> {
    message["attachments"]
        .as_array()
        .map(|cards| {
            cards
                .iter()
                .map(|card| card["fallback"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn acme_events() -> Vec<Value> {
    vec![
        json!({"id": "a-1", "title": "Port scan from 198.51.100.4", "severity": "low"}),
        json!({"id": "a-2", "title": "Ransomware on web-01", "severity": "critical",
               "description": "Files renamed to .locked on web-01"}),
        json!({"id": "a-3", "title": "Impossible travel for bob", "severity": "high"}),
    ]
}

#[tokio::test]
async fn commands_answer_from_the_tenants_own_events_approvals_and_audit() {
    let chat = ChatOps::start(&[]).await;
    chat.ingest("acme", &acme_events()).await;
    chat.ingest(
        "globex",
        &[json!({"id": "g-1", "title": "Globex payroll exfiltration", "severity": "critical"})],
    )
    .await;

    // list: the tenant's events, most severe first; never another tenant's.
    let list = chat.command("TACME", "list").await;
    assert_eq!(list["response_type"], "ephemeral");
    assert_eq!(list["text"], "Top 3 of 3 open cases");
    assert_eq!(
        titles(&list),
        [
            "Ransomware on web-01",
            "Impossible travel for bob",
            "Port scan from 198.51.100.4"
        ]
    );
    assert!(!list.to_string().contains("Globex"), "{list}");
    let globex = chat.command("TGLOBEX", "list").await;
    assert_eq!(titles(&globex), ["Globex payroll exfiltration"]);
    assert!(!globex.to_string().contains("Ransomware"), "{globex}");

    // explain, by the event id the list shows.
    let first_card = list["attachments"][0]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap();
    let event_id = first_card.split('`').nth(1).unwrap().to_owned();
    assert_eq!(event_id.len(), 32, "the inbox's event uid: {first_card}");
    let explained = chat.command("TACME", &format!("explain {event_id}")).await;
    let details = explained["attachments"][0].to_string();
    assert!(
        details.contains("Files renamed to .locked on web-01"),
        "{details}"
    );
    assert!(details.contains("Sender's id: a-2"), "{details}");

    // investigate, by the sender's id: details in channel, and an audit entry naming alice.
    let investigation = chat.command("TACME", "investigate a-2").await;
    assert_eq!(investigation["response_type"], "in_channel");
    let text = investigation["text"].as_str().unwrap();
    assert!(
        text.starts_with(":mag: Investigation `audit-") && text.ends_with("case `a-2` by alice"),
        "{text}"
    );
    assert!(
        investigation["attachments"][0]
            .to_string()
            .contains("Ransomware on web-01")
    );
    let audit = chat
        .admin_get(&format!("/v1/audit?tenant_id=acme&subject_id={event_id}"))
        .await;
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["action"], "chatops.investigate");
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(entries[0]["details"]["user_id"], "U0ALICE");

    // Another tenant's event and an unknown id are simply not there.
    for id in ["g-1", "nope-42"] {
        let missing = chat.command("TACME", &format!("investigate {id}")).await;
        assert_eq!(
            missing["text"],
            format!(":warning: No event {id} in the last 500 events received for this tenant")
        );
    }

    // isolate: a pending isolate_host approval, and its Approve / Deny card. Nothing ran.
    let card = chat.command("TACME", "isolate web-01").await;
    let approvals = chat.admin_get("/v1/approvals?tenant_id=acme").await;
    let approvals = approvals.as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    let approval = &approvals[0];
    assert_eq!(approval["status"], "pending");
    assert_eq!(approval["requested_action"], "isolate_host");
    assert_eq!(approval["summary"], "Isolate host web-01");
    assert!(
        approval["notes"]
            .as_str()
            .unwrap()
            .contains("alice (U0ALICE)")
    );
    let id = approval["id"].as_str().unwrap();
    let buttons: Vec<(String, String)> = card["attachments"][0]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().unwrap().clone())
        .map(|button| {
            (
                button["text"]["text"].as_str().unwrap().to_owned(),
                button["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        buttons,
        [
            ("Approve".to_owned(), id.to_owned()),
            ("Deny".to_owned(), id.to_owned())
        ],
        "{card}"
    );
    assert!(
        chat.admin_get("/v1/approvals?tenant_id=globex")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    // status: this tenant's counts and the approval now waiting.
    let status = chat.command("TACME", "status").await;
    assert_eq!(status["response_type"], "ephemeral");
    let fields: Vec<&str> = status["blocks"][1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Events, last hour*\n3 — 1 critical · 1 high · 1 low",
            "*Events, last 24 h*\n3 — 1 critical · 1 high · 1 low",
            "*Open approvals*\n1",
            "*Stale connectors*\n:white_check_mark: none",
        ]
    );
    assert_eq!(status["blocks"][2]["elements"][0]["text"], "Tenant `acme`");
}

#[tokio::test]
async fn a_gated_command_also_posts_the_approval_card_to_the_approvers_channel() {
    let chat = ChatOps::start(&[]).await;
    // The approvers' Slack channel, through the bot (chat.postMessage on a mock Web API).
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0APPROVERS", "ts": "17.1"})),
        )
        .mount(&slack)
        .await;
    chat.gateway
        .create_channel(
            ADMIN,
            "slack",
            json!({
                "bot_token": "xoxb-chatops-test",
                "channel_id": "C0APPROVERS",
                "api_base": format!("{}/api/", slack.uri()),
            }),
        )
        .await;

    let answer = chat.command("TACME", "block 203.0.113.9").await;
    let approvals = chat.admin_get("/v1/approvals?tenant_id=acme").await;
    let approval = &approvals.as_array().unwrap()[0];
    assert_eq!(approval["requested_action"], "block_ip");
    let id = approval["id"].as_str().unwrap();
    assert!(answer.to_string().contains(id), "{answer}");

    // Not only the person who typed it sees the buttons: the approvers' channel got the card.
    let posted: Vec<Value> = slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/chat.postMessage")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["channel"], "C0APPROVERS");
    assert!(posted[0].to_string().contains(id), "{}", posted[0]);
}

#[tokio::test]
async fn a_workspace_without_a_tenant_is_told_what_to_set_and_sees_nothing() {
    let chat = ChatOps::start(&[]).await;
    chat.ingest("acme", &acme_events()).await;
    for text in ["list", "status", "investigate a-2", "isolate web-01"] {
        let answer = chat.command("TSTRANGER", text).await;
        let shown = answer["text"].as_str().unwrap();
        assert!(
            shown.contains("This Slack workspace (TSTRANGER) is not mapped to a tenant")
                && shown.contains("AISOC_SLACK_TEAM_TENANTS"),
            "{text}: {shown}"
        );
        assert!(!answer.to_string().contains("Ransomware"), "{answer}");
    }
    assert!(
        chat.admin_get("/v1/approvals?tenant_id=acme")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    // With a default tenant, other workspaces see that tenant.
    let defaulted = ChatOps::start(&[("AISOC_SLACK_TENANT", "acme")]).await;
    defaulted.ingest("acme", &acme_events()[..1]).await;
    let list = defaulted.command("TSTRANGER", "list").await;
    assert_eq!(titles(&list), ["Port scan from 198.51.100.4"]);
}

#[tokio::test]
async fn on_postgresql_the_events_are_still_listed_after_a_restart() {
    let database = TestDatabase::create("aisoc_chatops").await;
    let url = database.url();
    {
        let chat = ChatOps::start(&[("DATABASE_URL", &url)]).await;
        chat.ingest("acme", &acme_events()).await;
        chat.ingest(
            "globex",
            &[json!({"id": "g-1", "title": "Globex payroll exfiltration", "severity": "critical"})],
        )
        .await;
    }
    let again = ChatOps::start(&[("DATABASE_URL", &url)]).await;
    let list = again.command("TACME", "list").await;
    assert_eq!(
        titles(&list),
        [
            "Ransomware on web-01",
            "Impossible travel for bob",
            "Port scan from 198.51.100.4"
        ]
    );
    let explained = again.command("TACME", "explain a-3").await;
    assert!(
        explained["attachments"][0]
            .to_string()
            .contains("Impossible travel for bob")
    );
    assert!(!list.to_string().contains("Globex"), "{list}");
    drop(again);
    database.drop_database().await;
}
