//! Secrets for the command lines from files and environment variables instead of flags (which
//! every local user sees in `ps`): `aisoc-notify --…-file`, `…_FILE` variables, and the
//! gateway's `AISOC_ADMIN_TOKEN_FILE`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn cli(args: &[&str], envs: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisoc-notify"))
        .args(args)
        .env_remove("AISOC_ADMIN_TOKEN")
        .env_remove("AISOC_WEBHOOK_SECRET")
        .env_remove("AISOC_WEBHOOK_SECRET_FILE")
        .env_remove("AISOC_INBOX_SIGNING_SECRET")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("aisoc-notify runs");
    let mut input = child.stdin.take().unwrap();
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

fn secret_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-secrets-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

const SIGN: [&str; 6] = [
    "webhook",
    "sign",
    "--id",
    "msg_1",
    "--timestamp",
    "1700000000",
];

#[tokio::test]
async fn a_signing_secret_from_a_file_or_its_variable_signs_like_the_flag() {
    let secret = "MARKER-webhook-secret-1234";
    let by_flag = cli(&[&SIGN[..], &["--secret", secret]].concat(), &[], b"body").await;
    assert_eq!(by_flag.code, 0, "{}", by_flag.stderr);

    let file = secret_file("webhook", &format!("{secret}\n"));
    let file = file.to_str().unwrap();
    let by_file = cli(
        &[&SIGN[..], &["--secret-file", file]].concat(),
        &[],
        b"body",
    )
    .await;
    assert_eq!(by_file.code, 0, "{}", by_file.stderr);
    assert_eq!(
        by_file.stdout, by_flag.stdout,
        "the trailing newline is not part of it"
    );

    let by_variable = cli(&SIGN, &[("AISOC_WEBHOOK_SECRET_FILE", file)], b"body").await;
    assert_eq!(by_variable.stdout, by_flag.stdout);
    let by_env = cli(&SIGN, &[("AISOC_WEBHOOK_SECRET", secret)], b"body").await;
    assert_eq!(by_env.stdout, by_flag.stdout);
}

#[tokio::test]
async fn a_value_and_a_file_together_a_missing_file_or_no_secret_are_usage_errors() {
    let file = secret_file("webhook", "MARKER-in-the-file");
    let file = file.to_str().unwrap();
    let both = cli(
        &[&SIGN[..], &["--secret", "x", "--secret-file", file]].concat(),
        &[],
        b"",
    )
    .await;
    assert_eq!(both.code, 2, "{}", both.stderr);

    let missing = cli(
        &[&SIGN[..], &["--secret-file", "/nonexistent/secret"]].concat(),
        &[],
        b"",
    )
    .await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("--secret-file") && missing.stderr.contains("/nonexistent/secret"),
        "{}",
        missing.stderr
    );

    let none = cli(&SIGN, &[], b"").await;
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("--secret"), "{}", none.stderr);
    for output in [&both, &missing, &none] {
        assert!(
            !output.stderr.contains("MARKER-in-the-file"),
            "{}",
            output.stderr
        );
    }
}

#[tokio::test]
async fn the_gateway_reads_its_admin_token_from_a_file_and_the_cli_too() {
    let token_file = secret_file("admin", "MARKER-admin-from-file\n");
    let token_path = token_file.to_str().unwrap();
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-secrets-gw-{:016x}", rand::random::<u64>()));
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"))
        .args(["--listen", "127.0.0.1:0"])
        .env("AISOC_DATA_DIR", &data_dir)
        .env_remove("AISOC_ADMIN_TOKEN")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("NATS_URL")
        .env("AISOC_ADMIN_TOKEN_FILE", token_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(gateway.stdout.take().unwrap()).lines();
    let mut base = None;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("banner within 30 s")
        .unwrap()
    {
        assert!(!line.contains("MARKER-admin"), "{line}");
        if let Some(address) = line.strip_prefix("aisoc-gateway listening on ") {
            base = Some(address.to_owned());
        }
        if line.starts_with("admin token:") {
            assert_eq!(line, "admin token: from configuration");
            break;
        }
    }
    let base = base.unwrap();

    let signing_file = secret_file("signing", "MARKER-inbox-signing-secret\n");
    let minted = cli(
        &[
            "inbox",
            "mint",
            "--gateway",
            &base,
            "--admin-token-file",
            token_path,
            "--tenant",
            "acme",
            "--template",
            "generic-json",
            "--signing-secret-file",
            signing_file.to_str().unwrap(),
        ],
        &[],
        b"",
    )
    .await;
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let minted: Value = serde_json::from_str(&minted.stdout).unwrap();
    let token = minted["token"].as_str().unwrap();
    let unsigned = reqwest::Client::new()
        .post(format!("{base}/v1/inbox/{token}"))
        .json(&json!({"title": "unsigned"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unsigned.status(),
        401,
        "the token requires the file's secret"
    );
    gateway.kill().await.unwrap();
}
