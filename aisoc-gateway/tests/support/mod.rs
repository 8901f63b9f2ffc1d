//! What the binary tests share: the real gateway on a free port, and JSON answers.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of this module"
)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The keys every replica on one database must share (besides the admin token): a gateway
/// with `DATABASE_URL` refuses to generate them.
pub(crate) const SHARED_KEYS: [(&str, &str); 3] = [
    (
        "AISOC_CHATOPS_HMAC_SECRET",
        "test-callback-secret-0123456789ab",
    ),
    (
        "AISOC_PLAYBOOK_RESUME_SECRET",
        "whsec_dGVzdC1yZXN1bWUtc2VjcmV0LTAxMjM0NTY3ODlh",
    ),
    (
        "VAPID_PRIVATE_KEY",
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
    ),
];

/// A running `aisoc-gateway`, killed when dropped.
pub(crate) struct Gateway {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) stdout: Lines<BufReader<ChildStdout>>,
}

impl Gateway {
    pub(crate) async fn start(admin_token: Option<&str>) -> (Self, Option<String>) {
        Self::start_with(admin_token, &[], &[]).await
    }

    pub(crate) async fn start_with(
        admin_token: Option<&str>,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> (Self, Option<String>) {
        // Each gateway its own data directory (unless `--data-dir` is passed), in cargo's
        // scratch space under target/ rather than the package directory.
        let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "gateway-data-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut command = Command::new(env!("CARGO_BIN_EXE_aisoc-gateway"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("AISOC_DATA_DIR", &data_dir)
            .env_remove("AISOC_ADMIN_TOKEN")
            .env_remove("SLACK_SIGNING_SECRET")
            .env_remove("TEAMS_OUTGOING_WEBHOOK_SECRET")
            .env_remove("SLACK_BOT_TOKEN")
            .env_remove("AISOC_TEAMS_WEBHOOK_URL")
            .env_remove("AISOC_FEATURE_CHATOPS_VERIFY")
            .env_remove("AISOC_ACTIONS_PUBLIC_URL")
            .env_remove("AISOC_CHATOPS_HMAC_SECRET")
            .env_remove("AISOC_PLAYBOOK_RESUME_URL")
            .env_remove("AISOC_PLAYBOOK_RESUME_SECRET")
            .env_remove("AISOC_PLAYBOOK_RESUME_LEGACY_SECRET")
            .env_remove("VAPID_PRIVATE_KEY")
            // The mock peers listen on loopback, which the outbound guard refuses by default.
            .env("AISOC_OUTBOUND_ALLOW", "127.0.0.1")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(token) = admin_token {
            command.env("AISOC_ADMIN_TOKEN", token);
        }
        if envs.iter().any(|(name, _)| *name == "DATABASE_URL") {
            assert!(
                admin_token.is_some(),
                "a gateway on a database needs a configured admin token"
            );
            for (name, value) in SHARED_KEYS {
                if !envs.iter().any(|(set, _)| *set == name) {
                    command.env(name, value);
                }
            }
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

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Sends a request and reads the answer as JSON, whatever its status.
pub(crate) trait JsonReply {
    async fn json_reply(self) -> serde_json::Value;
}

impl JsonReply for reqwest::RequestBuilder {
    async fn json_reply(self) -> serde_json::Value {
        self.send().await.unwrap().json().await.unwrap()
    }
}

/// A new, empty PostgreSQL database on the local server, named `<prefix>_<random>`; its URL.
pub(crate) async fn fresh_database(prefix: &str) -> String {
    use sqlx::Connection as _;
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    let mut server = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut server)
        .await
        .unwrap();
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}
