//! What the binary tests share: the real gateway on a free port, and JSON answers.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of this module"
)]

pub(crate) mod smtp;

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
            .env_remove("TEAMS_APP_ID")
            .env_remove("TEAMS_APP_PASSWORD")
            .env_remove("TEAMS_BOT_SERVICE_HOSTS")
            .env_remove("AISOC_SLACK_TENANT")
            .env_remove("AISOC_SLACK_TEAM_TENANTS")
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

    /// Creates a channel (named after its type) with the admin token `admin`; its id.
    pub(crate) async fn create_channel(
        &self,
        admin: &str,
        channel_type: &str,
        config: serde_json::Value,
    ) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/v1/settings/notifications"))
            .bearer_auth(admin)
            .json(&serde_json::json!({
                "channel_type": channel_type, "name": channel_type, "config": config
            }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let created: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{channel_type}: {created}");
        created["id"].as_str().unwrap().to_owned()
    }

    /// Sends channel `id`'s test message (for `tenant_id`, with `message`); the reply.
    pub(crate) async fn test_channel(
        &self,
        admin: &str,
        id: &str,
        tenant_id: &str,
        message: &str,
    ) -> serde_json::Value {
        reqwest::Client::new()
            .post(self.url(&format!("/v1/settings/notifications/{id}/test")))
            .bearer_auth(admin)
            .json(&serde_json::json!({"tenant_id": tenant_id, "message": message}))
            .json_reply()
            .await
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

/// The local PostgreSQL server's maintenance database, where test databases are made.
pub(crate) const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of the test's own on the local PostgreSQL server.
pub(crate) struct TestDatabase {
    pub(crate) name: String,
}

impl TestDatabase {
    /// A new, empty database named `<prefix>_<random>`.
    pub(crate) async fn create(prefix: &str) -> Self {
        use sqlx::Connection as _;
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let mut server = sqlx::PgConnection::connect(POSTGRES)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut server)
            .await
            .unwrap();
        Self { name }
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// Drops it, with whatever connections are still open.
    pub(crate) async fn drop_database(self) {
        use sqlx::Connection as _;
        let mut server = sqlx::PgConnection::connect(POSTGRES).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut server)
        .await
        .unwrap();
    }
}

/// A new, empty PostgreSQL database on the local server, named `<prefix>_<random>`; its URL.
pub(crate) async fn fresh_database(prefix: &str) -> String {
    TestDatabase::create(prefix).await.url()
}
