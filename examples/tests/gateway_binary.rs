//! Starts the real `aisoc-gateway` binary on a free port and talks to it over HTTP.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct Gateway {
    child: Child,
    base: String,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Gateway {
    async fn start(admin_token: Option<&str>) -> (Self, Option<String>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("AISOC_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(token) = admin_token {
            command.env("AISOC_ADMIN_TOKEN", token);
        }
        let mut child = command.spawn().expect("gateway starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut base = None;
        let mut printed_token = None;
        while base.is_none() || (admin_token.is_none() && printed_token.is_none()) {
            let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
                .await
                .expect("banner within 30 s")
                .unwrap()
                .expect("banner before exit");
            if let Some(address) = line.strip_prefix("aisoc-gateway listening on ") {
                base = Some(address.to_owned());
            }
            if let Some((_, token)) =
                line.split_once("(generated; set AISOC_ADMIN_TOKEN to choose one): ")
            {
                printed_token = Some(token.to_owned());
            }
            if line.starts_with("admin token: from configuration") {
                assert!(admin_token.is_some());
            }
        }
        (
            Self {
                child,
                base: base.unwrap(),
                stdout,
            },
            printed_token,
        )
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

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

    let health: serde_json::Value = http
        .get(gateway.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
