//! The secret-leak test: the gateway binary configured with a marker in every secret setting,
//! logging at TRACE, driven through success and error paths; no marker may appear in a log line
//! (stdout or stderr), an error text or an API response.
//!
//! Markers: the admin token (configured, so the banner must not print it), the Slack signing
//! secret and bot token, the Teams outgoing-webhook secret, the VAPID private key, the
//! `chatops.verify` HMAC secret, the playbook-resume secret, the data key, the PostgreSQL
//! password, an inbox token's signing secret, channel webhook URLs whose paths hold a marker,
//! and a webhook channel's signing secret. Peers are wiremock servers answering 2xx, 4xx and 5xx;
//! timeouts are left to the library contract (`aisoc_notify_core::conformance::HttpContract`),
//! since the binary's request timeout is 30 s.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner};
use aisoc_notify_webpush::keys::VapidKeyPair;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Base64 of 32 bytes whose text is readable: a marker that is also a valid key.
fn marker_key(word: &str) -> String {
    // 43 characters, the last one 'A' so the unused low bits are zero, then one '='.
    let body: String = word.chars().cycle().take(42).collect();
    format!("{body}A=")
}

/// Every secret the gateway is given, by what it is.
struct Markers {
    admin_token: String,
    slack_signing_secret: String,
    slack_bot_token: String,
    teams_secret: String,
    vapid_private_key: String,
    chatops_hmac_secret: String,
    resume_secret: String,
    data_key: String,
    database_password: String,
    inbox_signing_secret: String,
    channel_path: String,
    channel_secret: String,
}

impl Markers {
    fn new() -> Self {
        Self {
            admin_token: "LEAKMARKadminToken0001".into(),
            slack_signing_secret: "LEAKMARKslackSigningSecret".into(),
            slack_bot_token: "xoxb-LEAKMARKslackBotToken".into(),
            teams_secret: "TEAMSleakmarkSECRET00000".into(),
            vapid_private_key: VapidKeyPair::generate().private_key_base64(),
            chatops_hmac_secret: "LEAKMARKchatopsHmacSecret0123456789abcdef".into(),
            resume_secret: format!("whsec_{}", marker_key("LEAKMARKresume")),
            data_key: marker_key("LEAKMARKdatakey"),
            database_password: "LEAKMARKdbPassword".into(),
            inbox_signing_secret: "LEAKMARKinboxSigningSecret".into(),
            channel_path: "LEAKMARKchannelPath".into(),
            channel_secret: "LEAKMARKchannelSecret0123".into(),
        }
    }

    /// Each marker with its name, for the failure message.
    fn all(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("admin token", &self.admin_token),
            ("Slack signing secret", &self.slack_signing_secret),
            ("Slack bot token", &self.slack_bot_token),
            ("Teams secret", &self.teams_secret),
            ("VAPID private key", &self.vapid_private_key),
            ("chatops HMAC secret", &self.chatops_hmac_secret),
            ("playbook-resume secret", &self.resume_secret),
            ("data key", &self.data_key),
            ("database password", &self.database_password),
            ("inbox signing secret", &self.inbox_signing_secret),
            ("channel URL path", &self.channel_path),
            ("channel signing secret", &self.channel_secret),
        ]
    }
}

/// Everything the test saw: log lines and response bodies.
#[derive(Default, Clone)]
struct Transcript(Arc<Mutex<Vec<String>>>);

impl Transcript {
    fn push(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push(what.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn assert_no_marker(&self, markers: &Markers) {
        let lines = self.lines();
        assert!(
            lines.len() > 20,
            "the transcript holds the logs: {lines:#?}"
        );
        for (name, marker) in markers.all() {
            // The parts of a structured secret are checked too (a URL's path, a key's body).
            let needle = marker.trim_start_matches("whsec_");
            let needle = &needle[..needle.len().min(24)];
            for line in &lines {
                assert!(!line.contains(needle), "the {name} leaked into: {line}");
            }
        }
    }

    fn follow(&self, stream: impl AsyncRead + Unpin + Send + 'static, label: &'static str) {
        let transcript = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                transcript.push(format!("{label}: {line}"));
            }
        });
    }
}

/// Starts the gateway with `envs` (and a clean environment of secrets), stdout and stderr
/// captured; returns its base URL once it listens, or `None` when it exited first.
async fn start(envs: &[(&str, String)], transcript: &Transcript) -> (Child, Option<String>) {
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("secret-leak-{:016x}", rand::random::<u64>()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"));
    command
        .args(["--listen", "127.0.0.1:0"])
        .env("AISOC_DATA_DIR", &data_dir)
        .env("RUST_LOG", "trace")
        .env("AISOC_OUTBOUND_ALLOW", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in [
        "AISOC_ADMIN_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "TEAMS_OUTGOING_WEBHOOK_SECRET",
        "VAPID_PRIVATE_KEY",
        "AISOC_CHATOPS_HMAC_SECRET",
        "AISOC_PLAYBOOK_RESUME_SECRET",
        "AISOC_DATA_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "NATS_URL",
    ] {
        command.env_remove(name);
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("gateway starts");
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    transcript.follow(stderr, "stderr");
    // Stdout is read here until the banner's address, then followed like stderr.
    let mut lines = BufReader::new(stdout).lines();
    let mut base = None;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await
    {
        transcript.push(format!("stdout: {line}"));
        if let Some(address) = line.strip_prefix("aisoc-gateway listening on ") {
            base = Some(address.to_owned());
        }
        if line.starts_with("storage:") {
            break;
        }
    }
    let rest = lines.into_inner();
    transcript.follow(rest, "stdout");
    (child, base)
}

/// Sends `request`, records the answer's status and body, and returns them.
async fn call(transcript: &Transcript, request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    transcript.push(format!("response {status}: {body}"));
    (status, body)
}

async fn peers(markers: &Markers) -> MockServer {
    let peer = MockServer::start().await;
    for (path, status) in [
        ("ok", 200),
        ("gone", 404),
        ("broken", 500),
        ("limited", 429),
    ] {
        Mock::given(method("POST"))
            .and(path_regex(format!("^/{path}/")))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("Retry-After", "1")
                    .set_body_string(format!("peer says {path}")),
            )
            .mount(&peer)
            .await;
    }
    // The marker is only in the request path, never in what the peer answers.
    assert!(!markers.channel_path.is_empty());
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_an_error_or_a_response() {
    let markers = Markers::new();
    let peer = peers(&markers).await;
    let database = format!("aisoc_leak_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(POSTGRES)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .unwrap();
    // Local connections are trusted, so the password is sent and never needed.
    let database_url = format!(
        "postgres://postgres:{}@127.0.0.1:5432/{database}",
        markers.database_password
    );

    let transcript = Transcript::default();
    let envs = [
        ("AISOC_ADMIN_TOKEN", markers.admin_token.clone()),
        ("SLACK_SIGNING_SECRET", markers.slack_signing_secret.clone()),
        ("SLACK_BOT_TOKEN", markers.slack_bot_token.clone()),
        ("SLACK_API_BASE", format!("{}/slack-api", peer.uri())),
        (
            "TEAMS_OUTGOING_WEBHOOK_SECRET",
            markers.teams_secret.clone(),
        ),
        ("VAPID_PRIVATE_KEY", markers.vapid_private_key.clone()),
        (
            "AISOC_CHATOPS_HMAC_SECRET",
            markers.chatops_hmac_secret.clone(),
        ),
        (
            "AISOC_PLAYBOOK_RESUME_SECRET",
            markers.resume_secret.clone(),
        ),
        (
            "AISOC_PLAYBOOK_RESUME_URL",
            format!("{}/broken/resume", peer.uri()),
        ),
        ("AISOC_DATA_KEY", format!("k1:{}", markers.data_key)),
        ("DATABASE_URL", database_url.clone()),
    ];
    let (mut child, base) = start(&envs, &transcript).await;
    let base = base.unwrap_or_else(|| panic!("the gateway starts: {:#?}", transcript.lines()));
    let http = reqwest::Client::new();
    let admin_token = markers.admin_token.as_str();
    let url = |path: &str| format!("{base}{path}");

    // Admin: a wrong token, then inbox tokens with a signing secret.
    let (status, _) = call(
        &transcript,
        http.get(url("/v1/settings/notifications"))
            .bearer_auth("not-the-token"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, minted) = call(
        &transcript,
        http.post(url("/v1/admin/inbox/tokens"))
            .bearer_auth(admin_token)
            .json(&json!({
                "tenant_id": "acme",
                "template": "generic-json",
                "signing_secret": markers.inbox_signing_secret,
            })),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let minted: Value = serde_json::from_str(&minted).unwrap();
    let token = minted["token"].as_str().unwrap().to_owned();
    let token_id = minted["id"].as_str().unwrap().to_owned();

    // Inbox: signed (accepted), unsigned and wrongly signed (refused).
    let body = br#"{"title":"Impossible travel","severity":"high"}"#;
    let signer =
        WebhookSigner::new(SignatureScheme::GitHub, &markers.inbox_signing_secret).unwrap();
    let mut signed = http
        .post(url(&format!("/v1/inbox/{token}")))
        .body(&body[..]);
    for (name, value) in signer.headers(body, "msg_1", chrono::Utc::now().timestamp()) {
        signed = signed.header(name, value);
    }
    let (status, answer) = call(&transcript, signed).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = call(
        &transcript,
        http.post(url(&format!("/v1/inbox/{token}")))
            .body(&body[..]),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &transcript,
        http.post(url(&format!("/v1/inbox/{token}")))
            .header("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))
            .body(&body[..]),
    )
    .await;
    assert_eq!(status, 401);
    let (status, rotated) = call(
        &transcript,
        http.post(url(&format!(
            "/v1/admin/inbox/tokens/{token_id}/rotate?tenant_id=acme"
        )))
        .bearer_auth(admin_token),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");

    // Slack and Teams interactions with bad signatures.
    let (status, _) = call(
        &transcript,
        http.post(url("/v1/slack/interactions"))
            .header(
                "X-Slack-Request-Timestamp",
                chrono::Utc::now().timestamp().to_string(),
            )
            .header("X-Slack-Signature", format!("v0={}", "0".repeat(64)))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("payload=%7B%7D"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &transcript,
        http.post(url("/v1/teams/interactions"))
            .header("Authorization", "HMAC AAAA")
            .json(&json!({"type": "message", "text": "approve"})),
    )
    .await;
    assert_eq!(status, 401);

    // Channels: every peer answer, a refused destination, an invalid configuration.
    let peer_url = |kind: &str| format!("{}/{kind}/{}", peer.uri(), markers.channel_path);
    let mut channel_ids = Vec::new();
    for (channel_type, config) in [
        (
            "webhook",
            json!({"url": peer_url("ok"), "secret": markers.channel_secret}),
        ),
        (
            "webhook",
            json!({"url": peer_url("broken"), "secret": markers.channel_secret}),
        ),
        ("webhook", json!({"url": peer_url("gone")})),
        ("slack", json!({"webhook_url": peer_url("limited")})),
        (
            "teams",
            json!({"webhook_url": peer_url("gone"), "format": "workflows"}),
        ),
        ("mattermost", json!({"webhook_url": peer_url("broken")})),
    ] {
        let (status, created) = call(
            &transcript,
            http.post(url("/v1/settings/notifications"))
                .bearer_auth(admin_token)
                .json(
                    &json!({"channel_type": channel_type, "name": channel_type, "config": config}),
                ),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let created: Value = serde_json::from_str(&created).unwrap();
        channel_ids.push(created["id"].as_str().unwrap().to_owned());
    }
    for refused in [
        json!({"url": format!("http://169.254.169.254/{}", markers.channel_path)}),
        json!({"url": format!("ftp://hooks.example/{}", markers.channel_path)}),
        json!({"url": format!("http://10.1.2.3:8080/{}", markers.channel_path), "secret": markers.channel_secret}),
    ] {
        let (status, answer) = call(
            &transcript,
            http.post(url("/v1/settings/notifications"))
                .bearer_auth(admin_token)
                .json(&json!({"channel_type": "webhook", "name": "refused", "config": refused})),
        )
        .await;
        assert_eq!(status, 422, "{answer}");
    }
    let (status, listed) = call(
        &transcript,
        http.get(url("/v1/settings/notifications"))
            .bearer_auth(admin_token),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    for id in &channel_ids {
        call(
            &transcript,
            http.post(url(&format!("/v1/settings/notifications/{id}/test")))
                .bearer_auth(admin_token),
        )
        .await;
    }
    let (status, queued) = call(
        &transcript,
        http.post(url("/v1/notifications"))
            .bearer_auth(admin_token)
            .json(&json!({
                "tenant_id": "acme",
                "event_type": "p0_alert",
                "severity": "critical",
                "title": "Ransomware on web-01",
            })),
    )
    .await;
    // Some channels failed, so the answer is not a plain success; it reports each one.
    assert!(queued.contains("\"channels\""), "{status}: {queued}");
    // Let the outbox attempt and retry the failing peers (their logs are what is checked).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let requests = peer.received_requests().await.unwrap_or_default();
        let to_broken = requests
            .iter()
            .filter(|r| r.url.path().starts_with("/broken/"))
            .count();
        if to_broken >= 4 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (status, _) = call(
        &transcript,
        http.delete(url(&format!(
            "/v1/admin/inbox/tokens/{token_id}?tenant_id=acme"
        )))
        .bearer_auth(admin_token),
    )
    .await;
    assert!(status == 204 || status == 404);
    child.kill().await.unwrap();
    child.wait().await.unwrap();
    // The readers finish once the pipes close.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stored = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
        "SELECT string_agg(t::text, ' ') FROM {database_table} t",
        database_table = "tenant_inbox_tokens"
    )));
    let mut inside =
        sqlx::PgConnection::connect(&format!("postgres://postgres@127.0.0.1:5432/{database}"))
            .await
            .unwrap();
    let tokens: String = stored.fetch_one(&mut inside).await.unwrap();
    assert!(
        !tokens.contains(&markers.inbox_signing_secret),
        "the signing secret is sealed at rest"
    );
    inside.close().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    transcript.assert_no_marker(&markers);
    // The inbox token is returned once, in the mint answer, and logged nowhere.
    let random_part = token.trim_start_matches("aisoc_inbox_");
    for line in transcript.lines() {
        assert!(
            line.starts_with("response") || !line.contains(random_part),
            "the inbox token leaked into: {line}"
        );
    }
}

#[tokio::test]
async fn invalid_secret_settings_are_refused_without_quoting_them() {
    let markers = Markers::new();
    let transcript = Transcript::default();
    let cases: [(&str, String); 5] = [
        ("AISOC_DATA_KEY", format!("k1:{}!", markers.data_key)),
        ("AISOC_DATA_KEY", format!("k1:{}", &markers.data_key[..20])),
        ("VAPID_PRIVATE_KEY", format!("{}x", markers.admin_token)),
        (
            "TEAMS_OUTGOING_WEBHOOK_SECRET",
            format!("{}!!", markers.teams_secret),
        ),
        (
            "DATABASE_URL",
            format!(
                "postgres://postgres:{}@127.0.0.1:1/none",
                markers.database_password
            ),
        ),
    ];
    for (name, value) in cases {
        let (mut child, base) = start(&[(name, value)], &transcript).await;
        assert!(base.is_none(), "{name} is refused at start-up");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{name}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = transcript.lines();
    for name in ["AISOC_DATA_KEY", "VAPID_PRIVATE_KEY", "DATABASE_URL"] {
        assert!(
            lines.iter().any(|l| l.contains(name)),
            "the error names {name}: {lines:#?}"
        );
    }
    for (what, marker) in [
        ("data key", &markers.data_key[..20]),
        (
            "admin token used as VAPID key",
            markers.admin_token.as_str(),
        ),
        ("Teams secret", markers.teams_secret.as_str()),
        ("database password", markers.database_password.as_str()),
    ] {
        for line in &lines {
            assert!(!line.contains(marker), "the {what} leaked into: {line}");
        }
    }
}
