//! The `chatops.verify` answer page in a real browser: Debian's headless `chromium`, driven
//! through `chromedriver` (both installed by `./scripts/services`), against the real gateway
//! binary.
//!
//! Opening a link records nothing; pressing the page's button records the answer and the
//! playbook is resumed once; a second press on another link is told "already answered". The
//! phone-sized session runs with JavaScript switched off, so the page is proven to work
//! without it. Screenshots are saved under `target/tmp/answer-page/` for a person to look at.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use support::{Gateway, JsonReply};
use tokio::process::{Child, Command};

const ADMIN: &str = "browser-admin";

/// `chromedriver` on a free loopback port in a process group of its own; the group (the
/// driver and every browser it started) is killed when dropped, even when the test panics.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(group) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
        }
    }
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver on PATH (./scripts/services installs chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = http.get(format!("{url}/status")).send().await
                && status.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url }
    }

    /// A headless chromium session with a fresh profile; `phone` emulates a 390x844 phone
    /// (mobile viewport, viewport meta honoured, 2x pixels) with JavaScript switched off.
    async fn session(&self, profile: &std::path::Path, phone: bool) -> Client {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-crash-reporter".into(),
            "--disable-breakpad".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({"binary": chromium(), "args": []});
        let mut capabilities = serde_json::Map::new();
        if phone {
            options["mobileEmulation"] = json!({
                // (No touch emulation: with page scripts off, chromedriver's emulated tap never
                // returns; the button is pressed with a mouse click instead.)
                "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0, "touch": false}
            });
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
            // With page scripts off chromedriver cannot tell when a navigation ends, so it
            // does not wait for one; the test waits for the next page itself.
            capabilities.insert("pageLoadStrategy".into(), json!("none"));
        } else {
            args.push("--window-size=1280,900".into());
        }
        options["args"] = json!(args);
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a headless chromium session")
    }
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("Debian's chromium (./scripts/services installs it)")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("answer-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    path
}

/// The page's heading once it reads `expected`, or whatever it reads after 15 s.
async fn heading_soon(client: &Client, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = match client.find(Locator::Css("h1")).await {
            Ok(heading) => heading.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == expected || Instant::now() >= deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The requests the orchestrator mock received on its resume path.
async fn resumes(peer: &wiremock::MockServer) -> Vec<wiremock::Request> {
    peer.received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/orchestrator/resume")
        .collect()
}

/// The actions the case's timeline holds.
async fn timeline(gateway: &Gateway) -> Vec<String> {
    let entries: Value = reqwest::Client::new()
        .get(gateway.url("/v1/audit?tenant_id=acme&subject_id=case-42"))
        .bearer_auth(ADMIN)
        .json_reply()
        .await;
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_person_opens_the_answer_link_in_chromium_and_only_the_button_records_and_resumes_once() {
    let peer = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/api/chat.postMessage"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "D0ALICE", "ts": "1700000000.000100"}),
            ),
        )
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
        Some(ADMIN),
        &[],
        &[
            ("AISOC_FEATURE_CHATOPS_VERIFY", "1"),
            ("SLACK_BOT_TOKEN", "xoxb-browser"),
            ("SLACK_API_BASE", &api_base),
            ("AISOC_PLAYBOOK_RESUME_URL", &resume_url),
        ],
    )
    .await;
    let started = reqwest::Client::new()
        .post(gateway.url("/v1/actions"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "action_type": "chatops.verify",
            "tenant_id": "acme",
            "case_id": "case-42",
            "run_id": "run-42",
            "parameters": {
                "user": "U0ALICE",
                "title": "Sign-in to <Payroll> from Lisbon",
                "message": "Someone signed in as you from Lisbon, Portugal at 09:14 using Firefox on Windows. Was this you?"
            },
            "context": {}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let posted = peer.received_requests().await.unwrap();
    let message: Value = serde_json::from_slice(&posted[0].body).unwrap();
    let blocks = message["attachments"][0]["blocks"].as_array().unwrap();
    let buttons = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    let links: Vec<String> = buttons["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["url"].as_str().unwrap().to_owned())
        .collect();
    let (acknowledge, deny) = (&links[0], &links[1]);

    let driver = Driver::start().await;
    let profiles =
        std::env::temp_dir().join(format!("aisoc-answer-page-{:016x}", rand::random::<u64>()));

    // A desktop browser (or a link scanner) opens the link: a confirmation page, nothing else.
    let desktop = driver.session(&profiles.join("desktop"), false).await;
    desktop.goto(deny).await.unwrap();
    let heading = desktop.find(Locator::Css("h1")).await.unwrap();
    assert_eq!(
        heading.text().await.unwrap(),
        "Sign-in to <Payroll> from Lisbon",
        "user text shows as text"
    );
    let body = desktop.find(Locator::Css("body")).await.unwrap();
    let text = body.text().await.unwrap();
    assert!(
        text.contains("Someone signed in as you from Lisbon"),
        "{text}"
    );
    assert!(text.contains("No, this wasn't me"), "{text}");
    assert!(
        text.contains("Nothing is recorded until you press the button"),
        "{text}"
    );
    let source = desktop.source().await.unwrap();
    assert!(!source.contains("<script"), "no JavaScript on the page");
    assert!(!source.contains("<Payroll>"), "escaped in the markup");
    let desktop_confirm = screenshot(&desktop, "desktop-confirm.png").await;
    desktop.refresh().await.unwrap();
    assert!(
        !timeline(&gateway)
            .await
            .iter()
            .any(|a| a.starts_with("chatops.verify.") && a != "chatops.verify.prompted"),
        "opening the link twice recorded nothing"
    );
    assert!(resumes(&peer).await.is_empty(), "and resumed nothing");

    // On a phone, without JavaScript, the person reads the page and presses the button.
    let phone = driver.session(&profiles.join("phone"), true).await;
    phone.goto(deny).await.unwrap();
    let button = phone
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form button"))
        .await
        .unwrap();
    assert_eq!(button.text().await.unwrap(), "Confirm: this wasn't me");
    let (_, _, width, height) = button.rectangle().await.unwrap();
    assert!(height >= 48.0, "a thumb-sized button: {height} px high");
    assert!(
        width >= 300.0,
        "a full-width button on a 390 px screen: {width} px"
    );
    let card = phone.find(Locator::Css(".card")).await.unwrap();
    let (left, _, card_width, _) = card.rectangle().await.unwrap();
    assert!(
        left >= 0.0 && left + card_width <= 390.0,
        "the page fits the phone's width: no sideways scrolling ({left} + {card_width})"
    );
    let phone_confirm = screenshot(&phone, "phone-confirm.png").await;
    button.click().await.unwrap();
    assert_eq!(
        heading_soon(&phone, "Answer recorded").await,
        "Answer recorded"
    );
    let phone_recorded = screenshot(&phone, "phone-recorded.png").await;

    // The playbook is resumed once, from the answer outbox; bounded wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    while resumes(&peer).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Another choice's link, pressed later, is told the prompt was already answered.
    desktop.goto(acknowledge).await.unwrap();
    let already = desktop.find(Locator::Css("h1")).await.unwrap();
    assert_eq!(already.text().await.unwrap(), "Already answered");
    assert!(
        desktop.find(Locator::Css("form")).await.is_err(),
        "no button once answered"
    );
    let desktop_already = screenshot(&desktop, "desktop-already-answered.png").await;

    let resumed = resumes(&peer).await;
    assert_eq!(resumed.len(), 1, "resumed exactly once");
    let body: Value = serde_json::from_slice(&resumed[0].body).unwrap();
    assert_eq!(body["run_id"], "run-42");
    assert_eq!(body["branch"], "deny");
    assert_eq!(
        resumed[0].headers["idempotency-key"],
        body["prompt_id"].as_str().unwrap()
    );
    let answers: Vec<String> = timeline(&gateway)
        .await
        .into_iter()
        .filter(|a| a != "chatops.verify.prompted")
        .collect();
    assert_eq!(answers, ["chatops.verify.deny"], "recorded exactly once");

    desktop.close().await.unwrap();
    phone.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profiles);
    for shot in [
        desktop_confirm,
        phone_confirm,
        phone_recorded,
        desktop_already,
    ] {
        assert!(std::fs::metadata(&shot).unwrap().len() > 1_000, "{shot:?}");
        eprintln!("screenshot: {}", shot.display());
    }
}
