//! Private broker instances on free loopback ports, so faults injected here never touch the
//! machine's shared services: a JetStream server with its own store directory (frozen, killed
//! and restarted at will), a Redis, and a PostgreSQL database of its own in the local cluster.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::HarnessError;

/// A free TCP port on 127.0.0.1 (bound, then released).
pub(crate) fn free_port() -> Result<u16, HarnessError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts connections on `port`.
pub(crate) async fn wait_for_port(port: u16, within: Duration) -> Result<(), HarnessError> {
    let started = Instant::now();
    while started.elapsed() < within {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(HarnessError::new(format!(
        "nothing listened on port {port} within {within:?}"
    )))
}

/// Sends a signal to a process by pid (`STOP`, `CONT`).
async fn signal(pid: u32, name: &str) -> Result<(), HarnessError> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .await?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::new(format!("kill -{name} {pid} failed")))
    }
}

/// A scratch directory removed when dropped.
#[derive(Debug)]
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(label: &str) -> Result<Self, HarnessError> {
        let path = std::env::temp_dir().join(format!(
            "aisoc-chaos-{label}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A NATS server with JetStream, its own port and store.
pub(crate) struct PrivateNats {
    port: u16,
    store: Scratch,
    child: Option<Child>,
}

impl PrivateNats {
    pub(crate) async fn start() -> Result<Self, HarnessError> {
        let mut nats = Self {
            port: free_port()?,
            store: Scratch::new("nats")?,
            child: None,
        };
        nats.spawn().await?;
        Ok(nats)
    }

    async fn spawn(&mut self) -> Result<(), HarnessError> {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::new(format!("nats-server could not start: {e}")))?;
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10)).await
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> Result<u32, HarnessError> {
        self.child
            .as_ref()
            .and_then(Child::id)
            .ok_or_else(|| HarnessError::new("nats-server is not running"))
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub(crate) async fn freeze(&self) -> Result<(), HarnessError> {
        signal(self.pid()?, "STOP").await
    }

    /// Kills the server with SIGKILL, frozen or not.
    pub(crate) async fn kill(&mut self) -> Result<(), HarnessError> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts it again on the same port and store.
    pub(crate) async fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill().await?;
        self.spawn().await
    }

    /// A client to read what the stream holds.
    pub(crate) async fn client(&self) -> Result<async_nats::Client, HarnessError> {
        async_nats::connect(self.url())
            .await
            .map_err(|e| HarnessError::new(format!("connect to private NATS: {e}")))
    }
}

/// A Redis with its own port, persisting nothing.
pub(crate) struct PrivateRedis {
    port: u16,
    _child: Child,
}

impl PrivateRedis {
    pub(crate) async fn start() -> Result<Self, HarnessError> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::new(format!("redis-server could not start: {e}")))?;
        wait_for_port(port, Duration::from_secs(10)).await?;
        Ok(Self {
            port,
            _child: child,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// A database of its own in the local PostgreSQL cluster (127.0.0.1:5432, user postgres),
/// dropped when the harness is done with it.
pub(crate) struct PrivateDatabase {
    name: String,
}

impl PrivateDatabase {
    pub(crate) async fn create() -> Result<Self, HarnessError> {
        let name = format!("aisoc_chaos_{:08x}", rand::random::<u32>());
        psql(&format!("CREATE DATABASE {name}")).await?;
        Ok(Self { name })
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    pub(crate) async fn drop_database(self) -> Result<(), HarnessError> {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await
    }
}

async fn psql(sql: &str) -> Result<(), HarnessError> {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(["-c", sql])
        .output()
        .await
        .map_err(|e| HarnessError::new(format!("psql could not run: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::new(format!(
            "psql -c '{sql}' failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}
