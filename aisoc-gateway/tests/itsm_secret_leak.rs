//! Ticketing credentials never leak: the gateway logging at TRACE is given a marker in every
//! ITSM secret over the admin API, refused settings and failing and succeeding tickets are
//! driven through it, and no marker may appear in a log line or a response.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADMIN: &str = "itsm-leak-admin";
const MARKERS: [&str; 5] = [
    "LEAKMARKjiraApiToken",
    "LEAKMARKsnowPassword",
    "LEAKMARKsnowOauthToken",
    "LEAKMARKpdRoutingKey",
    "LEAKMARKgenieApiKey",
];

#[derive(Default, Clone)]
struct Transcript(Arc<Mutex<Vec<String>>>);

impl Transcript {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
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

async fn call(transcript: &Transcript, request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.bearer_auth(ADMIN).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    transcript.push(format!("response {status}: {body}"));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn no_itsm_secret_reaches_a_log_line_or_a_response() {
    // Jira and ServiceNow refuse (401), PagerDuty fails (500), Opsgenie accepts.
    let peer = MockServer::start().await;
    Mock::given(path_regex("^/(jira|snow)/"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"errorMessages": ["Unauthorized"], "error": {"message": "User Not Authenticated"}}),
        ))
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/pd/"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&peer)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/og/"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"requestId": "r-1"})))
        .mount(&peer)
        .await;

    let transcript = Transcript::default();
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("itsm-leak-{:016x}", rand::random::<u64>()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
        .args(["--listen", "127.0.0.1:0"])
        .env("AISOC_DATA_DIR", &data_dir)
        .env("AISOC_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "trace")
        .env("AISOC_OUTBOUND_ALLOW", "127.0.0.1")
        .env_remove("DATABASE_URL")
        .env_remove("AISOC_DATA_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("gateway starts");
    transcript.follow(child.stderr.take().unwrap(), "stderr");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    while base.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("banner within 30 s")
            .unwrap()
            .expect("banner before exit");
        base = line
            .strip_prefix("aisoc-gateway listening on ")
            .map(str::to_owned);
        transcript.push(format!("stdout: {line}"));
    }
    transcript.follow(stdout.into_inner(), "stdout");
    let base = base.unwrap();
    let http = reqwest::Client::new();
    let settings = |system: &str| format!("{base}/v1/settings/itsm/{system}?tenant_id=acme");
    let uri = peer.uri();
    let [
        jira_token,
        snow_password,
        snow_token,
        routing_key,
        genie_key,
    ] = MARKERS;

    // Refused settings: a typo next to a secret, both auth kinds at once, a forbidden address.
    for (system, body) in [
        (
            "jira",
            json!({"site_url": format!("{uri}/jira/"), "email": "a@b", "api_token": jira_token, "defualt_project": "SEC"}),
        ),
        (
            "servicenow",
            json!({"instance_url": format!("{uri}/snow/"), "user": "bot", "password": snow_password, "token": snow_token}),
        ),
        (
            "opsgenie",
            json!({"api_key": genie_key, "base_url": "https://169.254.169.254/"}),
        ),
        (
            "pagerduty",
            json!({"routing_key": routing_key, "events_url": "ftp://x"}),
        ),
    ] {
        let (status, _) = call(&transcript, http.put(settings(system)).json(&body)).await;
        assert_eq!(status, 422, "{system}");
    }
    for (system, body) in [
        (
            "jira",
            json!({"site_url": format!("{uri}/jira/"), "email": "a@b", "api_token": jira_token, "default_project": "SEC"}),
        ),
        (
            "servicenow",
            json!({"instance_url": format!("{uri}/snow/"), "user": "bot", "password": snow_password}),
        ),
        (
            "pagerduty",
            json!({"routing_key": routing_key, "events_url": format!("{uri}/pd/")}),
        ),
        (
            "opsgenie",
            json!({"api_key": genie_key, "base_url": format!("{uri}/og/")}),
        ),
    ] {
        let (status, _) = call(&transcript, http.put(settings(system)).json(&body)).await;
        assert_eq!(status, 200, "{system}");
    }
    call(
        &transcript,
        http.get(format!("{base}/v1/settings/itsm?tenant_id=acme")),
    )
    .await;
    let mut outcomes = Vec::new();
    for system in ["jira", "servicenow", "pagerduty", "opsgenie"] {
        let step = json!({
            "action_type": "create_ticket",
            "tenant_id": "acme",
            "parameters": {"system": system, "summary": "Ransomware", "dedup_key": "case-1"},
        });
        let (status, _) = call(
            &transcript,
            http.post(format!("{base}/v1/actions")).json(&step),
        )
        .await;
        outcomes.push(status);
    }
    assert_eq!(outcomes, [502, 502, 502, 200]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(child);

    let lines = transcript.0.lock().unwrap().clone();
    assert!(
        lines.iter().filter(|l| l.starts_with("stderr")).count() > 10,
        "the gateway logged at TRACE: {lines:#?}"
    );
    // Basic auth carries the secrets base64-encoded: those forms must not show either.
    let encoded = [format!("a@b:{jira_token}"), format!("bot:{snow_password}")]
        .map(|pair| base64::engine::general_purpose::STANDARD.encode(pair));
    for marker in MARKERS
        .iter()
        .copied()
        .chain(encoded.iter().map(String::as_str))
    {
        for line in &lines {
            assert!(!line.contains(marker), "{marker} leaked into: {line}");
        }
    }
    // The file keeps them (in clear without a data key, readable by its owner only).
    let file = std::fs::read_to_string(data_dir.join("itsm/credentials.json")).unwrap();
    assert!(file.contains(jira_token));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data_dir.join("itsm/credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
