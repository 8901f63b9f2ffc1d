//! Routing rules through the real binary: one event fanning out to an e-mail channel (a
//! loopback SMTP server) and a Mattermost channel while a failing channel fails alone; each
//! condition (minimum severity, tenant, event type, tags) selecting and deselecting; the
//! refusals, naming the field; and rules kept in the data directory and in PostgreSQL, shared
//! by two replicas.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::smtp::smtp_server;
use support::{Gateway, JsonReply, TestDatabase};

const ADMIN: &str = "rules-admin";
const DATA_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A gateway whose stdout (the console channel's lines) is drained so it never blocks.
struct Running {
    base: String,
    child: tokio::process::Child,
}

async fn start(envs: &[(&str, &str)]) -> Running {
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], envs).await;
    let Gateway {
        child,
        base,
        mut stdout,
    } = gateway;
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    Running { base, child }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a channel of `channel_type` called `name`; its id.
    async fn channel(&self, channel_type: &str, name: &str, config: Value) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/v1/settings/notifications"))
            .bearer_auth(ADMIN)
            .json(&json!({"channel_type": channel_type, "name": name, "config": config}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let created: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{name}: {created}");
        created["id"].as_str().unwrap().to_owned()
    }

    /// A webhook channel called `name` posting to `url`; its id.
    async fn webhook(&self, name: &str, url: String) -> String {
        self.channel("webhook", name, json!({"url": url})).await
    }

    /// `POST /v1/settings/rules`: the status and the answer.
    async fn create_rule(&self, rule: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url("/v1/settings/rules"))
            .bearer_auth(ADMIN)
            .json(&rule)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Creates a rule that must be accepted; its id.
    async fn rule(&self, rule: Value) -> String {
        let (status, created) = self.create_rule(rule).await;
        assert_eq!(status, 201, "{created}");
        assert!(
            created["id"].as_str().unwrap().starts_with("rl_"),
            "{created}"
        );
        created["id"].as_str().unwrap().to_owned()
    }

    async fn rules(&self) -> Vec<Value> {
        reqwest::Client::new()
            .get(self.url("/v1/settings/rules"))
            .bearer_auth(ADMIN)
            .json_reply()
            .await
            .as_array()
            .cloned()
            .unwrap()
    }

    /// `POST /v1/notifications`: the status and the answer.
    async fn send(&self, notification: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url("/v1/notifications"))
            .bearer_auth(ADMIN)
            .json(&notification)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// The ids of the channels a notification was delivered to (or attempted), sorted.
    async fn routed(&self, notification: Value) -> Vec<String> {
        let (status, answer) = self.send(notification).await;
        assert_eq!(status, 200, "{answer}");
        let mut ids: Vec<String> = answer["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["channel"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    ids.sort();
    ids
}

async fn accepting_peer() -> MockServer {
    let peer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&peer)
        .await;
    peer
}

async fn requests_to(peer: &MockServer, at: &str) -> usize {
    peer.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == at)
        .count()
}

#[tokio::test]
async fn one_event_fans_out_to_email_and_mattermost_and_a_failing_channel_fails_alone() {
    let (mailbox, port) = smtp_server();
    let chat = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/soc"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&chat)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/other"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&chat)
        .await;
    let broken = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&broken)
        .await;
    let gateway = start(&[]).await;
    let email = gateway
        .channel(
            "email",
            "SOC mail",
            json!({
                "host": "127.0.0.1",
                "port": port,
                "security": "plain_loopback_only",
                "from": "soc-bot@example.com",
                "to": ["soc@example.com"],
            }),
        )
        .await;
    let mattermost = gateway
        .channel(
            "mattermost",
            "SOC chat",
            json!({"webhook_url": format!("{}/hooks/soc", chat.uri())}),
        )
        .await;
    let unnamed = gateway
        .channel(
            "mattermost",
            "Other chat",
            json!({"webhook_url": format!("{}/hooks/other", chat.uri())}),
        )
        .await;
    let failing = gateway
        .webhook("Broken hook", format!("{}/hook", broken.uri()))
        .await;
    gateway
        .rule(json!({
            "name": "P0 to mail, chat and the hook",
            "event_types": ["p0_alert"],
            "channels": [email, mattermost, failing],
        }))
        .await;

    let (status, answer) = gateway
        .send(json!({
            "tenant_id": "acme", "event_type": "p0_alert", "severity": "critical",
            "title": "Ransomware on web-01",
        }))
        .await;
    assert_eq!(status, 502, "one channel failed: {answer}");
    assert_eq!(answer["delivered"], false, "{answer}");
    let outcomes = answer["channels"].as_array().unwrap();
    let outcome = |id: &str| {
        outcomes
            .iter()
            .find(|c| c["channel"] == id)
            .unwrap_or_else(|| panic!("{id} in {answer}"))
            .clone()
    };
    assert_eq!(outcomes.len(), 3, "only the rule's channels: {answer}");
    assert_eq!(outcome(&email)["outcome"], "delivered", "{answer}");
    assert_eq!(outcome(&mattermost)["outcome"], "delivered", "{answer}");
    assert_ne!(outcome(&failing)["outcome"], "delivered", "{answer}");
    assert!(outcome(&failing)["error"].is_string(), "{answer}");

    let messages = mailbox.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("Ransomware on web-01"),
        "{}",
        messages[0]
    );
    assert_eq!(requests_to(&chat, "/hooks/soc").await, 1);
    assert_eq!(
        requests_to(&chat, "/hooks/other").await,
        0,
        "{unnamed} is not named"
    );
    assert!(!broken.received_requests().await.unwrap().is_empty());

    // An event no rule matches goes nowhere, the console included.
    assert!(
        gateway
            .routed(json!({
                "tenant_id": "acme", "event_type": "drift_alert", "severity": "critical",
                "title": "Drift",
            }))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn each_condition_selects_and_deselects_and_the_console_can_be_named() {
    let peer = accepting_peer().await;
    let gateway = start(&[]).await;
    let severe = gateway
        .webhook("severe", format!("{}/severe", peer.uri()))
        .await;
    let tenant = gateway
        .webhook("tenant", format!("{}/tenant", peer.uri()))
        .await;
    let event = gateway
        .webhook("event", format!("{}/event", peer.uri()))
        .await;
    let tagged = gateway
        .webhook("tagged", format!("{}/tagged", peer.uri()))
        .await;

    // Before any rule, every channel receives everything (the console included).
    let info =
        json!({"tenant_id": "other", "event_type": "p0_alert", "severity": "info", "title": "x"});
    assert_eq!(
        gateway.routed(info.clone()).await,
        sorted(&["console", &severe, &tenant, &event, &tagged])
    );

    let severity_rule = gateway
        .rule(json!({"name": "high and up", "min_severity": "high", "channels": [severe]}))
        .await;
    gateway
        .rule(json!({"name": "acme", "tenant_id": "acme", "channels": [tenant]}))
        .await;
    gateway
        .rule(json!({"name": "drift", "event_types": ["drift_alert"], "channels": [event]}))
        .await;
    gateway
        .rule(json!({"name": "pci in prod", "tags": ["pci", "prod"], "channels": [tagged]}))
        .await;
    gateway
        .rule(json!({"name": "audit to console", "event_types": ["audit_trail"], "channels": ["console"]}))
        .await;

    let with = |changes: Value| {
        let mut notification = info.clone();
        for (key, value) in changes.as_object().unwrap() {
            notification[key] = value.clone();
        }
        notification
    };
    assert!(
        gateway.routed(info.clone()).await.is_empty(),
        "no rule matches"
    );
    assert_eq!(
        gateway.routed(with(json!({"severity": "high"}))).await,
        std::slice::from_ref(&severe)
    );
    assert_eq!(
        gateway.routed(with(json!({"severity": "critical"}))).await,
        std::slice::from_ref(&severe)
    );
    assert!(
        gateway
            .routed(with(json!({"severity": "medium"})))
            .await
            .is_empty()
    );
    assert_eq!(
        gateway.routed(with(json!({"tenant_id": "acme"}))).await,
        std::slice::from_ref(&tenant)
    );
    assert_eq!(
        gateway
            .routed(with(json!({"event_type": "drift_alert"})))
            .await,
        std::slice::from_ref(&event)
    );
    assert!(
        gateway
            .routed(with(json!({"tags": ["pci"]})))
            .await
            .is_empty(),
        "one tag missing"
    );
    assert_eq!(
        gateway
            .routed(with(json!({"tags": ["prod", "x", "pci"]})))
            .await,
        std::slice::from_ref(&tagged)
    );
    assert_eq!(
        gateway
            .routed(with(json!({"event_type": "audit_trail"})))
            .await,
        ["console"]
    );
    // Every rule at once: each channel once.
    let everything = with(json!({
        "tenant_id": "acme", "event_type": "drift_alert", "severity": "critical",
        "tags": ["pci", "prod"],
    }));
    assert_eq!(
        gateway.routed(everything.clone()).await,
        sorted(&[&severe, &tenant, &event, &tagged])
    );
    // Before the rules, then high, critical and everything.
    assert_eq!(requests_to(&peer, "/severe").await, 4);

    // A disabled rule sends nothing; a changed one routes as changed at once.
    let mut disabled = gateway
        .rules()
        .await
        .into_iter()
        .find(|r| r["id"] == severity_rule.as_str())
        .unwrap();
    disabled["enabled"] = json!(false);
    disabled.as_object_mut().unwrap().remove("id");
    let response = reqwest::Client::new()
        .put(gateway.url(&format!("/v1/settings/rules/{severity_rule}")))
        .bearer_auth(ADMIN)
        .json(&disabled)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        gateway
            .routed(with(json!({"severity": "critical"})))
            .await
            .is_empty()
    );

    // Tags on a notification are bounded.
    let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let (status, refused) = gateway.send(with(json!({"tags": many}))).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("tags: at most 32"),
        "{refused}"
    );
    let (status, refused) = gateway.send(with(json!({"tags": ["x".repeat(65)]}))).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().starts_with("tags[0]: "),
        "{refused}"
    );
}

#[tokio::test]
async fn refusals_name_the_field_unknown_rules_are_404_and_a_named_channel_cannot_be_deleted() {
    let gateway = start(&[]).await;
    let http = reqwest::Client::new();
    let channel = gateway
        .webhook("hook", "http://127.0.0.1:9/hook".into())
        .await;
    let refused = |body: Value| {
        let gateway = &gateway;
        async move {
            let (status, answer) = gateway.create_rule(body).await;
            assert_eq!(status, 422, "{answer}");
            answer["error"].as_str().unwrap().to_owned()
        }
    };
    let fifty_one: Vec<String> = (0..51).map(|i| format!("ch_{i}")).collect();
    assert!(
        refused(json!({"name": "x", "channels": []}))
            .await
            .starts_with("channels: ")
    );
    assert!(
        refused(json!({"name": "x"}))
            .await
            .starts_with("channels: ")
    );
    assert_eq!(
        refused(json!({"name": "x", "channels": [channel, "ch_x"]})).await,
        "channels[1]: no notification channel 'ch_x'"
    );
    assert!(
        refused(json!({"name": "x", "channels": fifty_one}))
            .await
            .starts_with("channels: at most 50")
    );
    let severity =
        refused(json!({"name": "x", "min_severity": "urgent", "channels": [channel]})).await;
    assert!(
        severity.starts_with("min_severity: ") && severity.contains("urgent"),
        "{severity}"
    );
    assert_eq!(
        refused(json!({"name": " ", "channels": [channel]})).await,
        "name must not be empty"
    );
    assert!(
        refused(json!({"name": "x", "tenant_id": "", "channels": [channel]}))
            .await
            .starts_with("tenant_id: ")
    );
    assert!(
        refused(json!({"name": "x", "tags": [""], "channels": [channel]}))
            .await
            .starts_with("tags[0]: ")
    );
    assert!(
        refused(json!({"name": "x", "channels": [channel], "predicate": "true"}))
            .await
            .contains("unknown field `predicate`")
    );
    assert!(
        refused(json!({"name": "x", "event_types": [""], "channels": [channel]}))
            .await
            .contains("event_types[0]")
    );
    assert!(gateway.rules().await.is_empty(), "nothing was stored");

    let unauthenticated = http
        .get(gateway.url("/v1/settings/rules"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let rule = json!({"name": "P0 to the hook", "channels": [channel]});
    let missing = http
        .put(gateway.url("/v1/settings/rules/rl_nope"))
        .bearer_auth(ADMIN)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = http
        .delete(gateway.url("/v1/settings/rules/rl_nope"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let id = gateway.rule(rule).await;
    let in_use = http
        .delete(gateway.url(&format!("/v1/settings/notifications/{channel}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(in_use.status(), 409);
    let message = in_use.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&channel) && message.contains(&id) && message.contains("P0 to the hook"),
        "{message}"
    );
    let listed = http
        .get(gateway.url("/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the channel is kept: {listed}"
    );

    let deleted = http
        .delete(gateway.url(&format!("/v1/settings/rules/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let deleted = http
        .delete(gateway.url(&format!("/v1/settings/notifications/{channel}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

#[tokio::test]
async fn rules_survive_a_restart_on_the_data_directory() {
    let peer = accepting_peer().await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "rules-restart-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let dir_text = dir.display().to_string();
    let env = [("AISOC_DATA_DIR", dir_text.as_str())];

    let mut first = start(&env).await;
    let named = first
        .webhook("named", format!("{}/named", peer.uri()))
        .await;
    first
        .webhook("unnamed", format!("{}/unnamed", peer.uri()))
        .await;
    first
        .rule(json!({"name": "critical only", "min_severity": "critical", "channels": [named, "console"]}))
        .await;
    let before = first.rules().await;
    first.child.kill().await.unwrap();

    let second = start(&env).await;
    assert_eq!(second.rules().await, before);
    let critical = json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "critical", "title": "x"});
    assert_eq!(second.routed(critical).await, sorted(&["console", &named]));
    assert_eq!(requests_to(&peer, "/unnamed").await, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn on_postgresql_a_rule_made_on_one_replica_routes_on_another_and_survives_a_restart() {
    let peer = accepting_peer().await;
    let database = TestDatabase::create("aisoc_rules_gw").await;
    let database_url = database.url();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("AISOC_DATA_KEY", DATA_KEY),
        // Longer than the test: changes travel by the change notice or the re-read before use.
        ("AISOC_CONFIG_REFRESH_SECONDS", "3600"),
    ];
    // One after the other: both run the migrations on the fresh database at start-up.
    let mut a = start(&env).await;
    let mut b = start(&env).await;

    let named = a.webhook("named", format!("{}/named", peer.uri())).await;
    a.webhook("unnamed", format!("{}/unnamed", peer.uri()))
        .await;
    // B has not necessarily heard of the channel yet: it re-reads the store before refusing.
    b.rule(json!({"name": "acme to named", "tenant_id": "acme", "channels": [named]}))
        .await;
    let acme =
        json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "low", "title": "x"});
    assert_eq!(a.routed(acme.clone()).await, std::slice::from_ref(&named));
    assert!(
        a.routed(json!({"tenant_id": "globex", "event_type": "p0_alert", "severity": "low", "title": "x"}))
            .await
            .is_empty()
    );
    // Deleting the channel on the other replica is refused too.
    let in_use = reqwest::Client::new()
        .delete(b.url(&format!("/v1/settings/notifications/{named}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(in_use.status(), 409);
    let before = a.rules().await;
    assert_eq!(b.rules().await, before);

    a.child.kill().await.unwrap();
    b.child.kill().await.unwrap();
    let restarted = start(&env).await;
    assert_eq!(restarted.rules().await, before);
    assert_eq!(restarted.routed(acme).await, std::slice::from_ref(&named));
    assert_eq!(requests_to(&peer, "/named").await, 2);
    assert_eq!(requests_to(&peer, "/unnamed").await, 0);
    drop(restarted);
    database.drop_database().await;
}
