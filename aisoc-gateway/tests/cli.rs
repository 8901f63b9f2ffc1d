//! Runs the real `aisoc-notify` binary for every subcommand, against local mock peers and a
//! real gateway, and checks its output and exit codes.

use std::process::Stdio;
use std::time::Duration;

use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::keys::VapidKeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::Gateway;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn cli(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisoc-notify"))
        .args(args)
        .env_remove("AISOC_ADMIN_TOKEN")
        .env_remove("AISOC_WEBHOOK_SECRET")
        .env_remove("AISOC_WEBHOOK_URL")
        .env_remove("VAPID_PRIVATE_KEY")
        .env_remove("VAPID_SUBJECT")
        .env_remove("AISOC_GATEWAY_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("aisoc-notify runs");
    let mut input = child.stdin.take().unwrap();
    // A command that fails before reading stdin closes it; that is not the test's concern.
    let _ = input.write_all(stdin).await;
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("finishes within 60 s")
        .unwrap();
    Output {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn received_json(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn help_is_available_for_every_subcommand() {
    for args in [
        vec!["--help"],
        vec!["vapid", "generate", "--help"],
        vec!["webpush", "send", "--help"],
        vec!["slack", "send", "--help"],
        vec!["teams", "send", "--help"],
        vec!["mattermost", "send", "--help"],
        vec!["webhook", "sign", "--help"],
        vec!["webhook", "verify", "--help"],
        vec!["inbox", "mint", "--help"],
        vec!["inbox", "rotate", "--help"],
        vec!["inbox", "revoke", "--help"],
        vec!["outbox", "dead-letters", "list", "--help"],
        vec!["outbox", "dead-letters", "replay", "--help"],
    ] {
        let out = cli(&args, b"").await;
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("Usage: aisoc-notify"), "{args:?}");
    }
    let unknown = cli(&["teleport"], b"").await;
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("unrecognized subcommand"));
}

#[tokio::test]
async fn vapid_generate_prints_a_usable_key_pair_in_both_formats() {
    let text = cli(&["vapid", "generate"], b"").await;
    assert_eq!(text.code, 0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    let public = lines[0].strip_prefix("VAPID_PUBLIC_KEY=").unwrap();
    let private = lines[1].strip_prefix("VAPID_PRIVATE_KEY=").unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(public).unwrap().len(), 65);
    assert_eq!(URL_SAFE_NO_PAD.decode(private).unwrap().len(), 32);
    assert_eq!(
        VapidKeyPair::from_base64(private)
            .unwrap()
            .public_key_base64(),
        public
    );

    let json = cli(&["vapid", "generate", "--json"], b"").await;
    assert_eq!(json.code, 0);
    let keys: Value = serde_json::from_str(&json.stdout).unwrap();
    let private = keys["private_key"].as_str().unwrap();
    assert_eq!(
        VapidKeyPair::from_base64(private)
            .unwrap()
            .public_key_base64(),
        keys["public_key"]
    );
    assert_ne!(
        keys["public_key"], public,
        "every run generates a fresh pair"
    );
}

#[tokio::test]
async fn webpush_send_encrypts_signs_and_reports_the_push_service_answer() {
    let push = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/push/device-1"))
        .and(header("content-encoding", "aes128gcm"))
        .respond_with(ResponseTemplate::new(201).insert_header("location", "/msg/42"))
        .expect(1)
        .mount(&push)
        .await;
    Mock::given(method("POST"))
        .and(path("/push/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&push)
        .await;
    let dir = std::env::temp_dir().join(format!("aisoc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write_subscription = |name: &str, endpoint: String| {
        let file = dir.join(name);
        std::fs::write(
            &file,
            serde_json::to_vec(&browser_subscription(&endpoint)).unwrap(),
        )
        .unwrap();
        file.to_str().unwrap().to_owned()
    };
    let live = write_subscription("live.json", format!("{}/push/device-1", push.uri()));
    let gone = write_subscription("gone.json", format!("{}/push/gone", push.uri()));
    // base64url uses `-`, so one key in 64 starts with it and must still parse as the
    // flag's value: this test always uses such a key.
    let keys = std::iter::repeat_with(VapidKeyPair::generate)
        .find(|keys| keys.private_key_base64().starts_with('-'))
        .unwrap();
    let private = keys.private_key_base64();
    let payload = r#"{"title":"P0: ransomware on web-01"}"#;
    let send = |subscription: String, extra: Vec<&'static str>| {
        let private = private.clone();
        async move {
            let mut args = vec![
                "webpush",
                "send",
                "--subscription",
                &subscription,
                "--vapid-private-key",
                &private,
                "--vapid-subject",
                "mailto:soc@example.com",
            ];
            args.extend(extra);
            args.push(payload);
            cli(&args, b"").await
        }
    };

    let ok = send(
        live.clone(),
        vec!["--ttl", "60", "--urgency", "high", "--topic", "p0-web01"],
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.starts_with("delivered: 201"), "{}", ok.stdout);
    assert!(ok.stdout.contains("/msg/42"));
    let requests = push.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(request.headers["ttl"], "60");
    assert_eq!(request.headers["urgency"], "high");
    assert_eq!(request.headers["topic"], "p0-web01");
    let authorization = request.headers["authorization"].to_str().unwrap();
    assert!(authorization.starts_with("vapid t="), "{authorization}");
    assert!(authorization.ends_with(&format!("k={}", keys.public_key_base64())));
    // aes128gcm: 86-byte header, the payload, one delimiter byte and a 16-byte tag.
    assert_eq!(request.body.len(), 86 + payload.len() + 1 + 16);
    assert!(
        !request
            .body
            .windows(payload.len())
            .any(|w| w == payload.as_bytes()),
        "the payload is encrypted"
    );

    let gone_out = send(gone, vec![]).await;
    assert_eq!(gone_out.code, 1);
    assert!(
        gone_out.stderr.contains("410") || gone_out.stderr.contains("gone"),
        "{}",
        gone_out.stderr
    );

    let bad_key = cli(
        &[
            "webpush",
            "send",
            "--subscription",
            &live,
            "--vapid-private-key",
            "not-a-key",
            "--vapid-subject",
            "mailto:soc@example.com",
            payload,
        ],
        b"",
    )
    .await;
    assert_eq!(bad_key.code, 2);
    assert!(
        bad_key.stderr.contains("--vapid-private-key"),
        "{}",
        bad_key.stderr
    );
    assert!(
        !bad_key.stderr.contains("not-a-key"),
        "the key is not echoed"
    );

    let remote_http = write_subscription("remote.json", "http://push.example.com/x".into());
    let refused = send(remote_http, vec![]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--subscription"));

    let missing = send(dir.join("absent.json").to_str().unwrap().to_owned(), vec![]).await;
    assert_eq!(missing.code, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn slack_teams_and_mattermost_send_post_what_each_service_expects() {
    let peer = MockServer::start().await;
    // Each service's success answer: Slack and Mattermost "ok", Workflows 202, connectors "1".
    for (route, response) in [
        (
            "/slack/hook",
            ResponseTemplate::new(200).set_body_string("ok"),
        ),
        ("/teams/workflow", ResponseTemplate::new(202)),
        (
            "/teams/connector",
            ResponseTemplate::new(200).set_body_string("1"),
        ),
        (
            "/mattermost/hook",
            ResponseTemplate::new(200).set_body_string("ok"),
        ),
    ] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(response)
            .mount(&peer)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/slack/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&peer)
        .await;

    let slack_url = format!("{}/slack/hook", peer.uri());
    let out = cli(
        &[
            "slack",
            "send",
            "--webhook-url",
            &slack_url,
            "*Deploy* done: <https://ci.example.com/1|build 1>",
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("delivered to slack"));

    let workflow_url = format!("{}/teams/workflow", peer.uri());
    let out = cli(
        &[
            "teams",
            "send",
            "--webhook-url",
            &workflow_url,
            "--format",
            "workflows",
            "--title",
            "Isolation done",
            "--severity",
            "high",
            "web-01 is isolated",
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let connector_url = format!("{}/teams/connector", peer.uri());
    let out = cli(
        &[
            "teams",
            "send",
            "--webhook-url",
            &connector_url,
            "--format",
            "connector",
            "--title",
            "Legacy",
            "plain body",
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let mattermost_url = format!("{}/mattermost/hook", peer.uri());
    let out = cli(
        &[
            "mattermost",
            "send",
            "--webhook-url",
            &mattermost_url,
            "Shift handed over",
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let requests = peer.received_requests().await.unwrap();
    let by_path = |p: &str| {
        requests
            .iter()
            .find(|r| r.url.path() == p)
            .map(received_json)
            .unwrap_or_else(|| panic!("no request to {p}"))
    };
    let slack = by_path("/slack/hook");
    assert_eq!(
        slack["text"], "*Deploy* done: <https://ci.example.com/1|build 1>",
        "TEXT is mrkdwn, sent as written"
    );
    let workflow = by_path("/teams/workflow");
    assert_eq!(workflow["type"], "message");
    let card = &workflow["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(card["content"].to_string().contains("Isolation done"));
    assert!(card["content"].to_string().contains("web-01 is isolated"));
    let connector = by_path("/teams/connector");
    assert_eq!(connector["@type"], "MessageCard");
    assert!(connector.to_string().contains("Legacy"));
    let mattermost = by_path("/mattermost/hook");
    assert!(mattermost.to_string().contains("Shift handed over"));

    let missing = format!("{}/slack/missing", peer.uri());
    let out = cli(&["slack", "send", "--webhook-url", &missing, "x"], b"").await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = cli(
        &[
            "slack",
            "send",
            "--webhook-url",
            "http://hooks.example.com/x",
            "x",
        ],
        b"",
    )
    .await;
    assert_eq!(
        out.code, 2,
        "a plain-http remote URL is refused: {}",
        out.stderr
    );
    let out = cli(
        &[
            "teams",
            "send",
            "--webhook-url",
            &workflow_url,
            "--title",
            "t",
            "--severity",
            "apocalyptic",
            "x",
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 2);
}

#[tokio::test]
async fn webhook_sign_reproduces_the_published_examples() {
    // GitHub's documented example.
    let github = cli(
        &[
            "webhook",
            "sign",
            "--secret",
            "It's a Secret to Everybody",
            "--scheme",
            "github",
        ],
        b"Hello, World!",
    )
    .await;
    assert_eq!(github.code, 0);
    assert_eq!(
        github.stdout,
        "x-hub-signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n"
    );
    let aisoc = cli(
        &["webhook", "sign", "--secret", "It's a Secret to Everybody"],
        b"Hello, World!",
    )
    .await;
    assert_eq!(
        aisoc.stdout,
        "x-aisoc-signature: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n"
    );

    // The Standard Webhooks specification's example.
    let standard = cli(
        &[
            "webhook",
            "sign",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "--scheme",
            "standard",
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ],
        br#"{"test": 2432232314}"#,
    )
    .await;
    assert_eq!(standard.code, 0, "{}", standard.stderr);
    assert_eq!(
        standard.stdout,
        "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\n\
         webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n"
    );

    let bad_secret = cli(
        &[
            "webhook",
            "sign",
            "--secret",
            "not base64 !",
            "--scheme",
            "standard",
        ],
        b"{}",
    )
    .await;
    assert_eq!(bad_secret.code, 2);
    assert!(
        !bad_secret.stderr.contains("not base64 !"),
        "the secret is not echoed"
    );
}

#[tokio::test]
async fn webhook_verify_exits_zero_for_valid_one_for_invalid_two_for_malformed_input() {
    let valid = cli(
        &[
            "webhook",
            "verify",
            "--secret",
            "It's a Secret to Everybody",
            "--scheme",
            "github",
            "--header",
            "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ],
        b"Hello, World!",
    )
    .await;
    assert_eq!(
        (valid.code, valid.stdout.as_str()),
        (0, "valid\n"),
        "{}",
        valid.stderr
    );
    let tampered = cli(
        &[
            "webhook",
            "verify",
            "--secret",
            "It's a Secret to Everybody",
            "--scheme",
            "github",
            "--header",
            "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ],
        b"Hello, World?",
    )
    .await;
    assert_eq!(tampered.code, 1);
    assert!(tampered.stderr.contains("invalid"), "{}", tampered.stderr);

    // Sign now, verify now: the round trip passes; a different secret fails.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"type":"alert.created"}"#;
    let signed = cli(
        &[
            "webhook", "sign", "--secret", secret, "--scheme", "standard",
        ],
        body,
    )
    .await;
    let mut args = vec![
        "webhook", "verify", "--secret", secret, "--scheme", "standard",
    ];
    for line in signed.stdout.lines() {
        args.push("--header");
        args.push(line);
    }
    let ok = cli(&args, body).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    args[3] = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==";
    assert_eq!(cli(&args, body).await.code, 1);

    // The wrong scheme's header alone is "missing", an invalid request.
    let wrong_scheme = cli(
        &[
            "webhook",
            "verify",
            "--secret",
            "s",
            "--scheme",
            "aisoc",
            "--header",
            "X-Hub-Signature-256: sha256=00",
        ],
        b"x",
    )
    .await;
    assert_eq!(wrong_scheme.code, 1);
    let malformed = cli(
        &[
            "webhook", "verify", "--secret", "s", "--scheme", "aisoc", "--header", "no colon",
        ],
        b"x",
    )
    .await;
    assert_eq!(malformed.code, 2);
}

#[tokio::test]
async fn inbox_mint_rotate_and_revoke_against_a_running_gateway() {
    let (gateway, _) = Gateway::start(Some("cli-admin")).await;
    let base = gateway.base.clone();
    let connection = ["--gateway", base.as_str(), "--admin-token", "cli-admin"];
    let with = |args: &[&'static str], extra: &[&str]| -> Vec<String> {
        args.iter()
            .map(|s| (*s).to_owned())
            .chain(connection.iter().map(|s| (*s).to_owned()))
            .chain(extra.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&refs, b"").await
    };

    let minted = run(with(
        &["inbox", "mint"],
        &["--tenant", "acme", "--template", "generic-json"],
    ))
    .await;
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let minted: Value = serde_json::from_str(&minted.stdout).unwrap();
    let id = minted["id"].as_str().unwrap().to_owned();
    let token = minted["token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let post = |token: String| {
        let request = http
            .post(format!("{base}/v1/inbox/{token}"))
            .json(&json!({"title": "cli check"}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(token.clone()).await, 200);

    let rotated = run(with(&["inbox", "rotate"], &["--tenant", "acme", &id])).await;
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let rotated: Value = serde_json::from_str(&rotated.stdout).unwrap();
    let new_token = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(post(token).await, 401);
    assert_eq!(post(new_token.clone()).await, 200);

    let new_id = rotated["id"].as_str().unwrap().to_owned();
    let revoked = run(with(&["inbox", "revoke"], &["--tenant", "acme", &new_id])).await;
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_eq!(post(new_token).await, 401);

    let again = run(with(
        &["inbox", "revoke"],
        &["--tenant", "acme", "tok_unknown"],
    ))
    .await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("404"), "{}", again.stderr);
    let unknown_template = run(with(
        &["inbox", "mint"],
        &["--tenant", "acme", "--template", "nope"],
    ))
    .await;
    assert_eq!(unknown_template.code, 1);
    assert!(unknown_template.stderr.contains("400"));

    let wrong_admin = cli(
        &[
            "inbox",
            "mint",
            "--gateway",
            &base,
            "--admin-token",
            "wrong",
            "--tenant",
            "acme",
            "--template",
            "generic-json",
        ],
        b"",
    )
    .await;
    assert_eq!(wrong_admin.code, 1);
    assert!(wrong_admin.stderr.contains("401"), "{}", wrong_admin.stderr);

    let unreachable = cli(
        &[
            "inbox",
            "mint",
            "--gateway",
            "http://127.0.0.1:9",
            "--admin-token",
            "x",
            "--tenant",
            "acme",
            "--template",
            "generic-json",
        ],
        b"",
    )
    .await;
    assert_eq!(unreachable.code, 1);
    assert!(unreachable.stderr.contains("cannot reach the gateway"));
}

#[tokio::test]
async fn outbox_dead_letters_list_and_replay_against_a_gateway_on_nats() {
    // The receiver is gone (410) the first time, back (204) after.
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(410))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let stream = format!("AISOC_OUTBOX_CLI{:08x}", rand::random::<u32>());
    let (gateway, _) = Gateway::start_with(
        Some("cli-admin"),
        &[],
        &[
            ("NATS_URL", "nats://127.0.0.1:4222"),
            ("AISOC_OUTBOX_STREAM", &stream),
        ],
    )
    .await;
    let base = gateway.base.clone();
    let http = reqwest::Client::new();
    let channel: Value = http
        .post(gateway.url("/v1/settings/notifications"))
        .bearer_auth("cli-admin")
        .json(&json!({
            "channel_type": "webhook",
            "name": "receiver",
            "config": {"url": format!("{}/hook", receiver.uri())},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let queued: Value = http
        .post(gateway.url("/v1/notifications?delivery=queued"))
        .bearer_auth("cli-admin")
        .json(&json!({"tenant_id": "acme", "event_type": "p0_alert", "severity": "high", "title": "Replay me"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = queued["dedupe_key"].as_str().unwrap().to_owned();

    let connection = ["--gateway", base.as_str(), "--admin-token", "cli-admin"];
    let dead_letters = |verb: &'static str, extra: Vec<String>| {
        let args: Vec<String> = ["outbox", "dead-letters", verb]
            .into_iter()
            .chain(connection)
            .map(str::to_owned)
            .chain(extra)
            .collect();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&refs, b"").await
        }
    };
    let started = std::time::Instant::now();
    let listed = loop {
        let out = dead_letters("list", vec![]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let listed: Value = serde_json::from_str(&out.stdout).unwrap();
        if !listed.as_array().unwrap().is_empty() {
            break listed;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "a dead letter within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let letter = &listed[0];
    assert_eq!(letter["class"], "gone");
    assert_eq!(letter["channels"], json!([channel_id]));
    assert_eq!(letter["attempts"], 1);
    assert_eq!(letter["notification"]["dedupe_key"], key.as_str());
    assert!(
        letter["last_error"].as_str().unwrap().contains("gone"),
        "{letter}"
    );
    let id = letter["id"].as_str().unwrap().to_owned();

    let replayed = dead_letters("replay", vec![id.clone()]).await;
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let replayed: Value = serde_json::from_str(&replayed.stdout).unwrap();
    assert_eq!(replayed["id"], id.as_str());
    let started = std::time::Instant::now();
    while receiver.received_requests().await.unwrap().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the replay is delivered within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = receiver.received_requests().await.unwrap();
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!(
            delivery.headers["idempotency-key"].to_str().unwrap(),
            key,
            "the same idempotency key before and after the replay"
        );
    }
    let empty = dead_letters("list", vec![]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&empty.stdout).unwrap(),
        json!([])
    );
    let again = dead_letters("replay", vec![id]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("404"), "{}", again.stderr);
    let wrong_admin = cli(
        &[
            "outbox",
            "dead-letters",
            "list",
            "--gateway",
            &base,
            "--admin-token",
            "wrong",
        ],
        b"",
    )
    .await;
    assert_eq!(wrong_admin.code, 1);
    assert!(wrong_admin.stderr.contains("401"), "{}", wrong_admin.stderr);

    drop(gateway);
    let js =
        async_nats::jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await.unwrap());
    let _ = js.delete_stream(&stream).await;
    let _ = js.delete_stream(format!("{stream}_DEAD")).await;
}
