//! The real `aisoc-gateway` binary as a child process: started on a fixed port (so senders
//! keep their address across restarts), killed with SIGKILL, started again.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::HarnessError;
use crate::services::{Scratch, free_port};

/// The admin token every harness gateway uses.
pub(crate) const ADMIN_TOKEN: &str = "chaos-admin-token";

/// Where the gateway binary is: `AISOC_GATEWAY_BIN`, or the workspace's debug build.
fn binary() -> PathBuf {
    std::env::var_os("AISOC_GATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/aisoc-gateway")
        })
}

/// One gateway process and how to start it again.
pub(crate) struct Gateway {
    port: u16,
    envs: Vec<(String, String)>,
    child: Option<Child>,
    /// Its own data directory (embedded store, channels), kept across its restarts, unless the
    /// scenario passes `AISOC_DATA_DIR`: never the working directory's `./aisoc-data`.
    _data: Option<Scratch>,
}

impl Gateway {
    /// Starts a gateway with `envs` (backends, feature switches) on a free port.
    pub(crate) async fn start(envs: &[(&str, String)]) -> Result<Self, HarnessError> {
        let mut envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let data = if envs.iter().any(|(k, _)| k == "AISOC_DATA_DIR") {
            None
        } else {
            let scratch = Scratch::new("gateway-data")?;
            envs.push(("AISOC_DATA_DIR".to_owned(), scratch.0.display().to_string()));
            Some(scratch)
        };
        let mut gateway = Self {
            port: free_port()?,
            envs,
            child: None,
            _data: data,
        };
        gateway.spawn().await?;
        Ok(gateway)
    }

    async fn spawn(&mut self) -> Result<(), HarnessError> {
        let mut command = Command::new(binary());
        for name in [
            "AISOC_CONFIG",
            "AISOC_EVENTS_OUT",
            "SLACK_SIGNING_SECRET",
            "SLACK_BOT_TOKEN",
            "TEAMS_OUTGOING_WEBHOOK_SECRET",
            "AISOC_TEAMS_WEBHOOK_URL",
            "AISOC_FEATURE_CHATOPS_VERIFY",
            "AISOC_PLAYBOOK_RESUME_URL",
            "DATABASE_URL",
            "REDIS_URL",
            "NATS_URL",
        ] {
            command.env_remove(name);
        }
        command
            .env("AISOC_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("AISOC_ADMIN_TOKEN", ADMIN_TOKEN)
            // Replicas on one database share their keys; the gateway refuses to generate them.
            .env(
                "AISOC_CHATOPS_HMAC_SECRET",
                "chaos-callback-secret-0123456789",
            )
            .env(
                "AISOC_PLAYBOOK_RESUME_SECRET",
                "whsec_Y2hhb3MtcmVzdW1lLXNlY3JldC0wMTIzNDU2Nzg5",
            )
            .env(
                "VAPID_PRIVATE_KEY",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
            )
            .env("AISOC_OUTBOUND_ALLOW", "127.0.0.1")
            .env("RUST_LOG", "warn")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            HarnessError::new(format!(
                "{} could not start ({e}); build it with cargo build -p aisoc-gateway --bins",
                binary().display()
            ))
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| HarnessError::new("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("aisoc-gateway listening on ") {
                    return true;
                }
            }
            false
        })
        .await;
        if !matches!(listening, Ok(true)) {
            return Err(HarnessError::new("the gateway did not start within 30 s"));
        }
        // The console channel prints every notification: keep the pipe drained.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
        Ok(())
    }

    /// The gateway's base URL.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Kills it with SIGKILL: no shutdown hook runs.
    pub(crate) async fn kill9(&mut self) -> Result<(), HarnessError> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Kills it and starts it again with the same settings on the same port.
    pub(crate) async fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill9().await?;
        self.spawn().await
    }
}
