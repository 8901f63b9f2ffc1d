//! Starts the real `aisoc-gateway` binary on a free port and talks to it over HTTP.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The playbook-resume key (a Standard Webhooks secret).
const RESUME_SECRET: &str = "whsec_cmVzdW1lLWtleS1mb3ItdGhlLWUyZS10ZXN0cw==";
mod support;
use support::{Gateway, JsonReply};

fn alert() -> serde_json::Value {
    serde_json::json!({
        "tenant_id": "acme",
        "event_type": "p0_alert",
        "severity": "critical",
        "title": "Ransomware on web-01",
        "facts": [{"label": "Host", "value": "web-01"}]
    })
}

#[tokio::test]
async fn health_notification_delivery_and_metrics_over_http() {
    let (mut gateway, _) = Gateway::start(Some("test-admin-token")).await;
    let http = reqwest::Client::new();

    let health: serde_json::Value = http.get(gateway.url("/healthz")).json_reply().await;
    assert_eq!(health, serde_json::json!({"status": "ok"}));

    let response = http
        .post(gateway.url("/v1/notifications"))
        .bearer_auth("test-admin-token")
        .json(&alert())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"delivered": true, "channels": [{"channel": "console", "type": "console", "outcome": "delivered"}]})
    );

    // The console channel printed the delivery as one JSON line.
    let line = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), gateway.stdout.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if line.starts_with('{') {
            break line;
        }
    };
    let delivered: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(delivered["title"], "Ransomware on web-01");
    assert_eq!(delivered["severity"], "critical");
    assert_eq!(delivered["facts"][0]["value"], "web-01");

    let metrics = http
        .get(gateway.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"aisoc_notify_deliveries_total{channel_type="console",outcome="delivered"} 1"#
        ),
        "{metrics}"
    );
    gateway.child.kill().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_statuses_that_say_what_to_fix() {
    let (mut gateway, _) = Gateway::start(Some("test-admin-token")).await;
    let http = reqwest::Client::new();
    let url = gateway.url("/v1/notifications");

    let missing = http.post(&url).json(&alert()).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = http
        .post(&url)
        .bearer_auth("nope")
        .json(&alert())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let not_json = http
        .post(&url)
        .bearer_auth("test-admin-token")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");

    let mut bad_severity = alert();
    bad_severity["severity"] = "urgent".into();
    let response = http
        .post(&url)
        .bearer_auth("test-admin-token")
        .json(&bad_severity)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("severity"),
        "{body}"
    );

    let mut blank_title = alert();
    blank_title["title"] = " ".into();
    let response = http
        .post(&url)
        .bearer_auth("test-admin-token")
        .json(&blank_title)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "title must not be empty"
    );

    let oversized = serde_json::json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "low",
        "title": "x".repeat(300 * 1024)});
    let response = http
        .post(&url)
        .bearer_auth("test-admin-token")
        .json(&oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    gateway.child.kill().await.unwrap();
}

#[tokio::test]
async fn without_a_configured_token_one_is_generated_printed_and_enforced() {
    let (mut gateway, printed) = Gateway::start(None).await;
    let token = printed.expect("the generated token is printed");
    assert!(
        token.starts_with("aisoc_admin_") && token.len() > 40,
        "{token}"
    );
    let http = reqwest::Client::new();
    let ok = http
        .post(gateway.url("/v1/notifications"))
        .bearer_auth(&token)
        .json(&alert())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    gateway.child.kill().await.unwrap();
}

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

fn slack_approve(approval_id: &str) -> (String, String, String) {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": "U2CERLKJA", "username": "roadrunner", "team_id": "T1DC2JH3J"},
        "api_app_id": "A123",
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "channel": {"id": "CBR2V3XEX", "name": "security-alerts"},
        "response_url": "http://127.0.0.1:9/slack-response",
        "actions": [{
            "action_id": "approve_action", "block_id": "b1", "type": "button",
            "value": approval_id, "action_ts": "1548426417.840180"
        }]
    });
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = aisoc_notify_slack::signature::SlackSignatureVerifier::new(SLACK_SECRET)
        .sign(&timestamp, body.as_bytes());
    (body, timestamp, signature)
}

#[tokio::test]
async fn inbox_events_file_approvals_slack_decisions_and_web_push_end_to_end() {
    let events_file = std::env::temp_dir().join(format!(
        "aisoc-gateway-events-{}-{}.jsonl",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let events_path = events_file.to_str().unwrap().to_owned();
    let (gateway, _) = Gateway::start_with(
        Some("e2e-admin"),
        &["--events-out", &events_path],
        &[("SLACK_SIGNING_SECRET", SLACK_SECRET)],
    )
    .await;
    let http = reqwest::Client::new();
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth("e2e-admin");

    // Admin routes refuse callers without the token.
    let status = http
        .post(gateway.url("/v1/admin/inbox/tokens"))
        .json(&serde_json::json!({"tenant_id": "acme", "template": "generic-json"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);

    // An unknown template is a 400 that lists the ones available.
    let unknown = admin(http.post(gateway.url("/v1/admin/inbox/tokens")))
        .json(&serde_json::json!({"tenant_id": "acme", "template": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let message = unknown.json::<serde_json::Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("generic-json"), "{message}");

    let mint = |template: &'static str| {
        let request = admin(http.post(gateway.url("/v1/admin/inbox/tokens")))
            .json(&serde_json::json!({"tenant_id": "acme", "template": template}));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let webhook = mint("generic-json").await;
    let webhook_token = webhook["token"].as_str().unwrap().to_owned();
    let hec = mint("splunk-hec").await;
    let hec_token = hec["token"].as_str().unwrap().to_owned();

    // Three NDJSON lines, one of them unusable.
    let ndjson = concat!(
        r#"{"id":"a-1","title":"Impossible travel","severity":"high"}"#,
        "\n",
        "not json\n",
        r#"{"id":"a-2","title":"Mass download","severity":"critical"}"#,
        "\n"
    );
    let receipt: serde_json::Value = http
        .post(gateway.url(&format!("/v1/inbox/{webhook_token}")))
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .json_reply()
        .await;
    assert_eq!(receipt["accepted"], 2, "{receipt}");
    assert_eq!(receipt["dropped"], 1, "{receipt}");

    // A Splunk HEC batch on the standard path.
    let hec_reply = http
        .post(gateway.url("/services/collector/event"))
        .header("authorization", format!("Splunk {hec_token}"))
        .body(r#"{"event":{"title":"From HEC one"}}{"event":"From HEC two","sourcetype":"syslog"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(hec_reply.status(), 200);
    assert_eq!(
        hec_reply.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"text": "Success", "code": 0})
    );

    // Rotation: the old token stops working at once, the new one works.
    let rotated: serde_json::Value = admin(http.post(gateway.url(&format!(
        "/v1/admin/inbox/tokens/{}/rotate?tenant_id=acme",
        webhook["id"].as_str().unwrap()
    ))))
    .json_reply()
    .await;
    let old = http
        .post(gateway.url(&format!("/v1/inbox/{webhook_token}")))
        .json(&serde_json::json!({"title": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let new = http
        .post(gateway.url(&format!("/v1/inbox/{}", rotated["token"].as_str().unwrap())))
        .json(&serde_json::json!({"id": "a-3", "title": "After rotation"}))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200, "{:?}", new.text().await);

    // Every accepted event is one OCSF line in the events file, written before the reply.
    let written = std::fs::read_to_string(&events_file).unwrap();
    let events: Vec<serde_json::Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let titles: Vec<&str> = events
        .iter()
        .map(|e| e["finding_info"]["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(events.len(), 5, "{written}");
    assert_eq!(titles[0], "Impossible travel");
    assert_eq!(titles[1], "Mass download");
    assert_eq!(titles[4], "After rotation");
    assert!(events.iter().all(|e| e["class_uid"] == 2004));
    assert_eq!(events[1]["severity_id"], 5);

    // An approval decided from a signed Slack button press, visible over REST and in the audit.
    let created = admin(http.post(gateway.url("/v1/approvals")))
        .json(&serde_json::json!({
            "tenant_id": "acme",
            "summary": "Isolate web-01",
            "requested_action": "isolate_host",
            "risk_score": 80
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let approval: serde_json::Value = created.json().await.unwrap();
    let approval_id = approval["id"].as_str().unwrap().to_owned();
    assert_eq!(approval["status"], "pending");

    let (body, timestamp, signature) = slack_approve(&approval_id);
    let forged = http
        .post(gateway.url("/v1/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &timestamp)
        .header("x-slack-signature", "v0=0000")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let pressed = http
        .post(gateway.url("/v1/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &timestamp)
        .header("x-slack-signature", &signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 200);

    // Slack is answered at once; the decision is recorded just after, off the request path.
    let started = std::time::Instant::now();
    let after = loop {
        let current: serde_json::Value =
            admin(http.get(gateway.url(&format!("/v1/approvals/{approval_id}?tenant_id=acme"))))
                .json_reply()
                .await;
        if current["status"] != "pending" || started.elapsed() > Duration::from_secs(10) {
            break current;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(after["status"], "approved", "{after}");

    // A second decision over REST conflicts.
    let again = admin(http.post(gateway.url(&format!(
        "/v1/approvals/{approval_id}/decision?tenant_id=acme"
    ))))
    .json(&serde_json::json!({"decision": "deny", "reviewer": "alice"}))
    .send()
    .await
    .unwrap();
    assert_eq!(again.status(), 409);

    let audit: serde_json::Value = admin(http.get(gateway.url(&format!(
        "/v1/audit?tenant_id=acme&subject_id={approval_id}"
    ))))
    .json_reply()
    .await;
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["action"], "approval.reviewed");
    assert_eq!(entries[0]["details"]["source"], "slack");
    assert_eq!(entries[0]["details"]["reviewer_id"], "U2CERLKJA");
    assert_eq!(entries[0]["details"]["decision"], "approved");

    // Web Push: the public key is open; subscribing names the user; a test push reaches the
    // (mock) push service encrypted and VAPID-signed.
    let push_service = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/push/laptop"))
        .and(wiremock::matchers::header("content-encoding", "aes128gcm"))
        .respond_with(wiremock::ResponseTemplate::new(201))
        .expect(1)
        .mount(&push_service)
        .await;
    let public_key: serde_json::Value = http
        .get(gateway.url("/api/v1/push/public-key"))
        .json_reply()
        .await;
    let public_key = public_key["publicKey"].as_str().unwrap().to_owned();
    assert_eq!(public_key.len(), 87, "65 bytes, base64url");
    let subscription = aisoc_notify_webpush::conformance::browser_subscription(&format!(
        "{}/push/laptop",
        push_service.uri()
    ));
    let anonymous = http
        .post(gateway.url("/api/v1/push/subscribe"))
        .json(&subscription)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let subscribed = admin(http.post(gateway.url("/api/v1/push/subscribe")))
        .header("x-aisoc-tenant", "acme")
        .header("x-aisoc-user", "alice")
        .json(&subscription)
        .send()
        .await
        .unwrap();
    assert_eq!(subscribed.status(), 201);
    let tested: serde_json::Value = admin(http.post(gateway.url("/api/v1/push/test")))
        .header("x-aisoc-tenant", "acme")
        .header("x-aisoc-user", "alice")
        .json_reply()
        .await;
    assert_eq!(tested["sent"], 1, "{tested}");
    let pushed = push_service.received_requests().await.unwrap();
    let authorization = pushed[0].headers["authorization"].to_str().unwrap();
    assert!(
        authorization.ends_with(&format!("k={public_key}")),
        "{authorization}"
    );

    drop(gateway);
    let _ = std::fs::remove_file(&events_file);
}

#[tokio::test]
async fn notification_channels_are_validated_saved_tested_routed_and_removed() {
    let (gateway, _) = Gateway::start(Some("settings-admin")).await;
    let http = reqwest::Client::new();
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth("settings-admin");
    let slack = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/services/T000/B000/XXXX"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let hook = format!("{}/services/T000/B000/XXXX", slack.uri());
    let settings = gateway.url("/v1/settings/notifications");

    let anonymous = http.get(&settings).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    for (body, message) in [
        (
            serde_json::json!({"channel_type": "pager", "name": "x"}),
            "channel_type must be one of 'slack', 'teams', 'mattermost', 'webhook', 'email', 'webpush', 'inapp'",
        ),
        (
            serde_json::json!({"channel_type": "slack", "name": "x", "config": {"bot_token": "xoxb-secret"}}),
            "Slack channels require either bot_token + channel_id or webhook_url",
        ),
        (
            serde_json::json!({"channel_type": "teams", "name": "x"}),
            "A webhook_url is required for Teams channels",
        ),
        (
            serde_json::json!({"channel_type": "slack", "name": " ", "config": {"webhook_url": hook}}),
            "name must not be empty",
        ),
    ] {
        let response = admin(http.post(&settings))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["error"], message, "{body}");
        assert!(!answer.to_string().contains("xoxb-secret"));
    }

    let created = admin(http.post(&settings))
        .json(&serde_json::json!({
            "channel_type": "slack",
            "name": "SOC alerts",
            "config": {"webhook_url": hook}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let channel: serde_json::Value = created.json().await.unwrap();
    let id = channel["id"].as_str().unwrap().to_owned();
    assert_eq!(channel["configured"], serde_json::json!(["webhook_url"]));
    assert!(
        !channel.to_string().contains("XXXX"),
        "the webhook URL is a secret"
    );
    let listed: serde_json::Value = admin(http.get(&settings)).json_reply().await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let tested: serde_json::Value = admin(http.post(format!("{settings}/{id}/test")))
        .json_reply()
        .await;
    assert_eq!(tested["delivered"], true, "{tested}");

    let routed: serde_json::Value = admin(http.post(gateway.url("/v1/notifications")))
        .json(&alert())
        .json_reply()
        .await;
    let outcomes = routed["channels"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2, "{routed}");
    assert!(
        outcomes
            .iter()
            .any(|c| c["channel"] == id.as_str() && c["outcome"] == "delivered")
    );
    let received = slack.received_requests().await.unwrap();
    assert_eq!(received.len(), 2, "the test message and the alert");
    let alert_text = String::from_utf8_lossy(&received[1].body).into_owned();
    assert!(alert_text.contains("Ransomware on web-01"), "{alert_text}");

    // Queued: answered once stored, delivered by the outbox worker through the same channels.
    let mut queued_alert = alert();
    queued_alert["title"] = serde_json::json!("Queued: beaconing from db-02");
    let queued = admin(http.post(gateway.url("/v1/notifications?delivery=queued")))
        .json(&queued_alert)
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    let started = std::time::Instant::now();
    let delivered_later = loop {
        let received = slack.received_requests().await.unwrap();
        if received.len() == 3 || started.elapsed() > Duration::from_secs(10) {
            break received;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(delivered_later.len(), 3, "the queued alert reached Slack");
    assert!(String::from_utf8_lossy(&delivered_later[2].body).contains("beaconing from db-02"));
    let bad_mode = admin(http.post(gateway.url("/v1/notifications?delivery=someday")))
        .json(&alert())
        .send()
        .await
        .unwrap();
    assert_eq!(bad_mode.status(), 400);

    // Narrowed to hand-offs, the channel no longer receives P0 alerts.
    let updated = admin(http.put(format!("{settings}/{id}")))
        .json(&serde_json::json!({
            "channel_type": "slack",
            "name": "SOC hand-offs",
            "config": {"webhook_url": hook},
            "event_types": ["oncall_handoff"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let routed: serde_json::Value = admin(http.post(gateway.url("/v1/notifications")))
        .json(&alert())
        .json_reply()
        .await;
    assert_eq!(routed["channels"].as_array().unwrap().len(), 1, "{routed}");

    let deleted = admin(http.delete(format!("{settings}/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = admin(http.delete(format!("{settings}/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let test_gone = admin(http.post(format!("{settings}/{id}/test")))
        .send()
        .await
        .unwrap();
    assert_eq!(test_gone.status(), 404);
}

#[tokio::test]
async fn chatops_verify_prompts_on_slack_and_the_answer_link_records_and_resumes() {
    let peer = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/api/chat.postMessage"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"ok": true, "channel": "D0ALICE", "ts": "1700000000.000100"}),
        ))
        .mount(&peer)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/orchestrator/resume"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&peer)
        .await;
    let api_base = format!("{}/api/", peer.uri());
    let resume_url = format!("{}/orchestrator/resume", peer.uri());
    let (gateway, _) = Gateway::start_with(
        Some("verify-admin"),
        &[],
        &[
            ("AISOC_FEATURE_CHATOPS_VERIFY", "1"),
            ("SLACK_BOT_TOKEN", "xoxb-e2e"),
            ("SLACK_API_BASE", &api_base),
            ("AISOC_PLAYBOOK_RESUME_URL", &resume_url),
            ("AISOC_PLAYBOOK_RESUME_SECRET", RESUME_SECRET),
            (
                "AISOC_CHATOPS_HMAC_SECRET",
                "an-hmac-secret-of-at-least-32-bytes!",
            ),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth("verify-admin");

    let unknown = admin(http.post(gateway.url("/v1/actions")))
        .json(
            &serde_json::json!({"action_type": "launch_missiles", "tenant_id": "acme",
            "parameters": {}, "context": {}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let started = admin(http.post(gateway.url("/v1/actions")))
        .json(&serde_json::json!({
            "action_type": "chatops.verify",
            "tenant_id": "acme",
            "case_id": "case-9",
            "run_id": "run-9",
            "parameters": {"user": "U0ALICE", "message": "Someone signed in as you from Lisbon. Was this you?"},
            "context": {}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202, "{:?}", started.text().await);

    let posted = peer.received_requests().await.unwrap();
    assert_eq!(posted[0].headers["authorization"], "Bearer xoxb-e2e");
    let message: serde_json::Value = serde_json::from_slice(&posted[0].body).unwrap();
    let blocks = message["attachments"][0]["blocks"].as_array().unwrap();
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    let urls: Vec<String> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 3);
    let prefix = gateway.url("/v1/chatops/verify/");
    assert!(urls.iter().all(|u| u.starts_with(&prefix)), "{urls:?}");

    // Opening a link (a person, a mail scanner, a link preview) shows a confirmation page and
    // records nothing; its button (a form POST to the same URL) records the answer.
    let resume_requests = || async {
        let received = peer.received_requests().await.unwrap();
        received
            .into_iter()
            .filter(|r| r.url.path() == "/orchestrator/resume")
            .collect::<Vec<_>>()
    };
    let opened = http.get(&urls[0]).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    let page = opened.text().await.unwrap();
    assert!(
        page.contains("Yes, this was me") && page.contains("<form method=\"post\""),
        "{page}"
    );
    let answered = http.post(&urls[0]).send().await.unwrap();
    assert_eq!(answered.status(), 200);
    assert!(answered.text().await.unwrap().contains("Answer recorded"));
    let other = http.post(&urls[1]).send().await.unwrap();
    assert_eq!(other.status(), 409);
    assert!(other.text().await.unwrap().contains("Already answered"));
    let forged = http
        .post(format!("{prefix}v1.chatops.not-a-token"))
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error());

    // The resume goes out from the answer outbox right after the answer; bounded wait.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while resume_requests().await.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let resumed = resume_requests().await;
    assert_eq!(resumed.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&resumed[0].body).unwrap();
    let prompt_id = body["prompt_id"].as_str().unwrap();
    assert!(prompt_id.starts_with("vfy_"), "{body}");
    assert_eq!(
        body,
        serde_json::json!({"run_id": "run-9", "branch": "acknowledge", "prompt_id": prompt_id,
            "flow": "chatops.verify", "idempotency_key": prompt_id, "case_id": "case-9"})
    );
    assert_eq!(resumed[0].headers["idempotency-key"], prompt_id);
    // Signed with the resume key as a Standard Webhook, not with the callback-token key.
    let resume_key =
        aisoc_notify_core::signature::StandardWebhooksKey::from_secret(RESUME_SECRET).unwrap();
    let stamp: i64 = resumed[0].headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(resumed[0].headers["webhook-id"], prompt_id);
    assert_eq!(
        resumed[0].headers["webhook-signature"].to_str().unwrap(),
        resume_key.sign(prompt_id, stamp, &resumed[0].body)
    );
    assert!(resumed[0].headers.get("x-aisoc-signature").is_none());

    let timeline: serde_json::Value =
        admin(http.get(gateway.url("/v1/audit?tenant_id=acme&subject_id=case-9")))
            .json_reply()
            .await;
    let kinds: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"chatops.verify.acknowledge"), "{timeline}");
}

/// A subscription to `tenant`'s inbox subjects on the NATS server at 127.0.0.1:4222, ready
/// before it returns, and the client it is on.
async fn subscribe_to_inbox(tenant: &str) -> (async_nats::Client, async_nats::Subscriber) {
    let nats = async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let published = nats
        .subscribe(format!("aisoc.inbox.{tenant}.>"))
        .await
        .unwrap();
    nats.flush().await.unwrap();
    (nats, published)
}

/// Mints a `generic-json` inbox token for `tenant` with the admin token `admin`.
async fn mint_generic_json(
    http: &reqwest::Client,
    gateway: &Gateway,
    admin: &str,
    tenant: &str,
) -> String {
    let minted: serde_json::Value = http
        .post(gateway.url("/v1/admin/inbox/tokens"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"tenant_id": tenant, "template": "generic-json"}))
        .json_reply()
        .await;
    minted["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn on_nats_a_request_of_more_events_than_async_nats_leaves_unacknowledged_is_stored() {
    const EVENTS: usize = 6_000;
    let tenant = format!("tenant{:08x}", rand::random::<u32>());
    let (gateway, _) = Gateway::start_with(
        Some("cap-admin"),
        &[],
        &[("NATS_URL", "nats://127.0.0.1:4222")],
    )
    .await;
    let http = reqwest::Client::new();
    let token = mint_generic_json(&http, &gateway, "cap-admin", &tenant).await;
    // 6,000 events (under the default caps: 10,000 events, 2 MiB of OCSF), more than the
    // 5,000 publishes async-nats lets be unacknowledged at once. Such a request used to wait
    // on itself until the inbox gave up (503 after 60 s).
    // Each title is padded so the body allows its mapped events (the inbox allows 8 bytes of
    // OCSF a body byte, at least 2 MiB).
    let body: String = (0..EVENTS)
        .map(|n| format!("{{\"title\":\"event {n:06}, one of more than async-nats' window\"}}\n"))
        .collect();
    let answer = http
        .post(gateway.url(&format!("/v1/inbox/{token}")))
        .header("content-type", "application/x-ndjson")
        .timeout(Duration::from_secs(30))
        .body(body)
        .send()
        .await
        .expect("answered within 30 s");
    let status = answer.status();
    let receipt: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["accepted"], EVENTS, "{receipt}");

    let nats = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let stream = async_nats::jetstream::new(nats)
        .get_stream("AISOC_INBOX")
        .await
        .unwrap();
    let subjects: Vec<(String, usize)> = futures::TryStreamExt::try_collect(
        stream
            .info_with_subjects(format!("aisoc.inbox.{tenant}.>"))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let stored: usize = subjects.iter().map(|(_, count)| count).sum();
    assert_eq!(stored, EVENTS, "{subjects:?}");
}

#[tokio::test]
async fn with_request_framing_a_request_reaches_jetstream_as_one_message_and_a_bad_framing_is_refused()
 {
    let tenant = format!("tenant{:08x}", rand::random::<u32>());
    let (_nats, mut published) = subscribe_to_inbox(&tenant).await;
    let env = [
        ("NATS_URL", "nats://127.0.0.1:4222"),
        ("AISOC_INBOX_NATS_FRAMING", "request"),
    ];
    let (gateway, _) = Gateway::start_with(Some("framing-admin"), &[], &env).await;
    let http = reqwest::Client::new();
    let token = mint_generic_json(&http, &gateway, "framing-admin", &tenant).await;
    let receipt: serde_json::Value = http
        .post(gateway.url(&format!("/v1/inbox/{token}")))
        .header("content-type", "application/x-ndjson")
        .body("{\"title\":\"one\"}\n{\"title\":\"two\"}\n{\"title\":\"three\"}\n")
        .json_reply()
        .await;
    assert_eq!(receipt["accepted"], 3, "{receipt}");
    let message = tokio::time::timeout(
        Duration::from_secs(10),
        futures::StreamExt::next(&mut published),
    )
    .await
    .expect("the request on NATS")
    .expect("subscription open");
    let count = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Aisoc-Events"))
        .map(|v| v.as_str().to_owned());
    assert_eq!(count.as_deref(), Some("3"));
    let titles: Vec<String> = aisoc_inbox::sink::message_events(count.as_deref(), &message.payload)
        .unwrap()
        .into_iter()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_slice(line).unwrap();
            event["finding_info"]["title"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(titles, ["one", "two", "three"]);
    drop(gateway);

    let refused = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
        .args(["--listen", "127.0.0.1:0"])
        .env("NATS_URL", "nats://127.0.0.1:4222")
        .env("AISOC_INBOX_NATS_FRAMING", "batch")
        .env(
            "AISOC_DATA_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("gateway-framing-{:016x}", rand::random::<u64>())),
        )
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("AISOC_INBOX_NATS_FRAMING") && stderr.contains("`request`"),
        "{stderr}"
    );
}

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[tokio::test]
async fn with_postgres_redis_and_nats_configured_state_survives_a_restart_and_events_reach_jetstream()
 {
    use sqlx::Connection as _;
    let database = format!("aisoc_gateway_{:016x}", rand::random::<u64>());
    let mut admin_db = sqlx::PgConnection::connect(POSTGRES)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin_db)
        .await
        .unwrap();
    let database_url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("NATS_URL", "nats://127.0.0.1:4222"),
    ];
    let tenant = format!("tenant{:08x}", rand::random::<u32>());
    let (_nats, mut published) = subscribe_to_inbox(&tenant).await;
    let http = reqwest::Client::new();

    let (mut first, _) = Gateway::start_with(Some("backend-admin"), &[], &env).await;
    let storage = loop {
        let line = first.stdout.next_line().await.unwrap().unwrap();
        if let Some(storage) = line.strip_prefix("storage: ") {
            break storage.to_owned();
        }
    };
    assert_eq!(storage, "PostgreSQL, Redis, NATS JetStream");
    let token = mint_generic_json(&http, &first, "backend-admin", &tenant).await;
    let receipt: serde_json::Value = http
        .post(first.url(&format!("/v1/inbox/{token}")))
        .header("content-type", "application/x-ndjson")
        .header("x-aisoc-idempotency-key", format!("{tenant}-batch-1"))
        .body("{\"title\":\"one\"}\n{\"title\":\"two\"}\n")
        .json_reply()
        .await;
    assert_eq!(receipt["accepted"], 2, "{receipt}");
    let approval: serde_json::Value = http
        .post(first.url("/v1/approvals"))
        .bearer_auth("backend-admin")
        .json(&serde_json::json!({"tenant_id": tenant, "summary": "Disable user", "requested_action": "disable_user"}))
        .json_reply().await;
    let approval_id = approval["id"].as_str().unwrap().to_owned();

    let mut titles = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(
            Duration::from_secs(10),
            futures::StreamExt::next(&mut published),
        )
        .await
        .expect("event on NATS")
        .expect("subscription open");
        let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        titles.push(event["finding_info"]["title"].as_str().unwrap().to_owned());
    }
    assert_eq!(titles, ["one", "two"]);
    drop(first);

    // A second gateway on the same backends: the token, the approval and the idempotency key
    // are still there.
    let (second, _) = Gateway::start_with(Some("backend-admin"), &[], &env).await;
    let replay: serde_json::Value = http
        .post(second.url(&format!("/v1/inbox/{token}")))
        .header("content-type", "application/x-ndjson")
        .header("x-aisoc-idempotency-key", format!("{tenant}-batch-1"))
        .body("{\"title\":\"one\"}\n{\"title\":\"two\"}\n")
        .json_reply()
        .await;
    assert_eq!(replay["duplicate"], true, "{replay}");
    let fresh = http
        .post(second.url(&format!("/v1/inbox/{token}")))
        .json(&serde_json::json!({"title": "three"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    let stored = http
        .get(second.url(&format!("/v1/approvals/{approval_id}?tenant_id={tenant}")))
        .bearer_auth("backend-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    assert_eq!(
        stored.json::<serde_json::Value>().await.unwrap()["status"],
        "pending"
    );
    drop(second);

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
    )))
    .execute(&mut admin_db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_toml_file_configures_the_gateway_and_a_typo_in_it_stops_start_up() {
    let dir = std::env::temp_dir().join(format!(
        "aisoc-gateway-config-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.jsonl");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nadmin_token = \"from-the-file\"\nevents_out = {:?}\n\
             data_dir = {:?}\n\n[inbox]\nrate_limit_per_min = 1\nidempotency_max_keys = 1000\n\n\
             [events]\ndedupe_max_ids = 1000\n",
            events.to_str().unwrap(),
            dir.join("data").to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
        .args(["--config", config.to_str().unwrap()])
        .env_remove("AISOC_ADMIN_TOKEN")
        .env_remove("AISOC_LISTEN")
        .env_remove("AISOC_INBOX_RATE_LIMIT_PER_MIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    let mut admin_line = None;
    while base.is_none() || admin_line.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("banner")
            .unwrap()
            .expect("banner before exit");
        if let Some(address) = line.strip_prefix("aisoc-gateway listening on ") {
            base = Some(address.to_owned());
        }
        if line.starts_with("admin token") {
            admin_line = Some(line);
        }
    }
    let base = base.unwrap();
    assert_eq!(admin_line.unwrap(), "admin token: from configuration");
    // The two duplicate windows take their memory at start (44 and 36 MB by default): sized
    // by the file, the whole gateway stays well under what they alone would take.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id().unwrap())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        rss_kib < 64 * 1024,
        "{rss_kib} KiB resident with windows of a thousand entries"
    );
    let http = reqwest::Client::new();
    let minted: serde_json::Value = http
        .post(format!("{base}/v1/admin/inbox/tokens"))
        .bearer_auth("from-the-file")
        .json(&serde_json::json!({"tenant_id": "acme", "template": "generic-json"}))
        .json_reply()
        .await;
    let inbox = format!("{base}/v1/inbox/{}", minted["token"].as_str().unwrap());
    let first = http
        .post(&inbox)
        .json(&serde_json::json!({"title": "from file"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let second = http
        .post(&inbox)
        .json(&serde_json::json!({"title": "too fast"}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 429, "rate_limit_per_min = 1 from the file");
    assert!(
        std::fs::read_to_string(&events)
            .unwrap()
            .contains("from file")
    );
    drop(child);

    std::fs::write(&config, "[backends]\nredis = \"redis://127.0.0.1:6379\"\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
        .args(["--config", config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("unknown key 'backends.redis'"), "{stderr}");

    for (section, key, variable) in [
        (
            "inbox",
            "idempotency_max_keys = 0",
            "AISOC_INBOX_IDEMPOTENCY_MAX_KEYS",
        ),
        (
            "events",
            "dedupe_max_ids = -1",
            "AISOC_EVENTS_DEDUPE_MAX_IDS",
        ),
    ] {
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n\n[{section}]\n{key}\n",
                dir.join("data").to_str().unwrap()
            ),
        )
        .unwrap();
        let refused = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
            .args(["--config", config.to_str().unwrap()])
            .env_remove("AISOC_LISTEN")
            .env_remove(variable)
            .output()
            .await
            .unwrap();
        assert!(!refused.status.success(), "{key}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(variable), "{key}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn forbidden_destinations_are_refused_naming_the_rule_unless_allowed() {
    // No allow list: loopback is as forbidden as the metadata address.
    let (gateway, _) =
        Gateway::start_with(Some("guard-admin"), &[], &[("AISOC_OUTBOUND_ALLOW", "")]).await;
    let http = reqwest::Client::new();
    let settings = gateway.url("/v1/settings/notifications");
    let peer = wiremock::MockServer::start().await;
    for (url, rule) in [
        (
            "https://169.254.169.254/latest/meta-data/iam/SECRET-PATH".to_owned(),
            "link-local",
        ),
        ("https://10.0.0.8/hooks/SECRET-PATH".to_owned(), "private"),
        (
            "https://[::ffff:127.0.0.1]/hooks/SECRET-PATH".to_owned(),
            "loopback",
        ),
        (format!("{}/hooks/SECRET-PATH", peer.uri()), "loopback"),
        (
            format!(
                "http://localhost:{}/hooks/SECRET-PATH",
                peer.address().port()
            ),
            "loopback",
        ),
    ] {
        let response = http
            .post(&settings)
            .bearer_auth("guard-admin")
            .json(&serde_json::json!({
                "channel_type": "webhook",
                "name": "exfil",
                "config": {"url": url}
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{url}");
        let answer: serde_json::Value = response.json().await.unwrap();
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(rule), "{url}: {message}");
        assert!(message.contains("AISOC_OUTBOUND_ALLOW"), "{message}");
        assert!(!message.contains("SECRET-PATH"), "{message}");
    }
    assert!(peer.received_requests().await.unwrap().is_empty());

    // The same loopback peer, allowed by the operator, takes the channel and its test message.
    let (allowed, _) = Gateway::start_with(
        Some("guard-admin"),
        &["--outbound-allow", "127.0.0.1/32"],
        &[("AISOC_OUTBOUND_ALLOW", "")],
    )
    .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&peer)
        .await;
    let created: serde_json::Value = http
        .post(allowed.url("/v1/settings/notifications"))
        .bearer_auth("guard-admin")
        .json(&serde_json::json!({
            "channel_type": "webhook",
            "name": "on-prem SOAR",
            "config": {"url": format!("{}/hooks/SECRET-PATH", peer.uri())}
        }))
        .json_reply()
        .await;
    let id = created["id"].as_str().expect("created").to_owned();
    let tested: serde_json::Value = http
        .post(allowed.url(&format!("/v1/settings/notifications/{id}/test")))
        .bearer_auth("guard-admin")
        .json_reply()
        .await;
    assert_eq!(tested["delivered"], true, "{tested}");
}

#[tokio::test]
async fn a_gateway_on_a_database_refuses_generated_keys_naming_every_setting() {
    let refused = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
        .args(["--listen", "127.0.0.1:0"])
        .env_clear()
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .env(
            "AISOC_CHATOPS_HMAC_SECRET",
            "configured-callback-secret-0123",
        )
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for missing in [
        "AISOC_ADMIN_TOKEN",
        "AISOC_PLAYBOOK_RESUME_SECRET",
        "VAPID_PRIVATE_KEY",
    ] {
        assert!(stderr.contains(missing), "{missing} named in: {stderr}");
    }
    assert!(
        !stderr.contains("AISOC_CHATOPS_HMAC_SECRET"),
        "a configured key is not asked for: {stderr}"
    );
    assert!(refused.stdout.is_empty(), "it never listened");
}

#[tokio::test]
async fn shared_keys_can_come_from_files() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("shared-key-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, value: &str| {
        let path = dir.join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        path.display().to_string()
    };
    let (callback, resume) = (
        file("callback", "callback-secret-from-a-file-0123"),
        file("resume", "whsec_dGVzdC1yZXN1bWUtc2VjcmV0LTAxMjM0NTY3ODlh"),
    );
    let database = support::fresh_database("aisoc_key_files").await;
    let (gateway, _) = Gateway::start_with(
        Some("files-admin"),
        &[],
        &[
            ("DATABASE_URL", &database),
            ("AISOC_CHATOPS_HMAC_SECRET_FILE", &callback),
            ("AISOC_PLAYBOOK_RESUME_SECRET_FILE", &resume),
            ("AISOC_CHATOPS_HMAC_SECRET", ""),
            ("AISOC_PLAYBOOK_RESUME_SECRET", ""),
        ],
    )
    .await;
    let health = reqwest::get(gateway.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    drop(gateway);
    std::fs::remove_dir_all(&dir).unwrap();
}
