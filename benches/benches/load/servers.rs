//! The servers under load, each a process of its own: the floor (this binary with
//! `--floor-server`) and the real gateway, with its inbox tokens and, on NATS, the clean-up.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner};
use axum::body::Bytes;
use base64::Engine as _;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::client::{
    BATCH_LINES, Case, Row, batch_body, call, measure, padded_lines_body, peak_rss_kib,
    reset_peak_rss, rss_kib, single_body,
};
use crate::{BenchError, Options};

/// The admin token the bench starts the gateway with.
const ADMIN_TOKEN: &str = "load-bench-admin-token";
/// How long a server has to print its address.
const START_LIMIT: Duration = Duration::from_secs(60);
/// The embedded store's cap for the run (the default 1 GiB fills in seconds at full rate). The
/// four cases share one store: a `--duration 60` run writes about 20 GB, which filled the
/// 16 GiB this was before the store reached 350 K events/s.
const STORE_BYTES: u64 = 48 << 30;
/// The stream the gateway's inbox publishes to (not configurable in the gateway).
const INBOX_STREAM: &str = "AISOC_INBOX";

/// A server under load: its address and process.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// Starts `command` and waits for the line `<prefix>http://<address>` on its stdout; the
    /// rest of its stdout is read and dropped so it never blocks on a full pipe.
    async fn start(mut command: Command, prefix: &str) -> Result<Self, BenchError> {
        command.stdout(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_LIMIT, read_address(&mut lines, prefix))
            .await
            .map_err(|_| "the server did not print its address in time")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The address in the first line that starts with `prefix` (`<prefix>http://<address>`).
async fn read_address(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
) -> Result<SocketAddr, BenchError> {
    while let Some(line) = lines.next_line().await? {
        if let Some(address) = line.strip_prefix(prefix) {
            let address = address.trim().trim_start_matches("http://");
            return Ok(address.parse()?);
        }
    }
    Err("the server exited before printing its address".into())
}

/// The floor: this binary as a bare axum server.
pub(crate) async fn start_floor() -> Result<Server, BenchError> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("--floor-server");
    Server::start(command, "floor listening on ").await
}

/// `--floor-server`: answers 200 to `POST /ingest` once its body is read.
pub(crate) fn serve_floor() -> Result<(), BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = axum::Router::new().route(
            "/ingest",
            axum::routing::post(|body: Bytes| async move {
                std::hint::black_box(body.len());
                StatusCode::OK
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        out!("floor listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok::<(), BenchError>(())
    })
}

/// Where the gateway's inbox writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Embedded,
    /// NATS, a message per event (the default framing).
    Nats,
    /// NATS with `AISOC_INBOX_NATS_FRAMING=request`: a message per request. Only its NDJSON
    /// cases run: a single event is a message either way.
    NatsPerRequest,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Nats => "nats",
            Backend::NatsPerRequest => "nats-per-request",
        }
    }

    /// The request shapes its cases send: a single event is one message in either framing,
    /// so the per-request gateway runs the NDJSON batches only.
    fn shapes(self) -> &'static [&'static str] {
        match self {
            Backend::NatsPerRequest => &["ndjson x100"],
            Backend::Embedded | Backend::Nats => &["single", "ndjson x100"],
        }
    }
}

async fn start_gateway(
    options: &Options,
    backend: Backend,
    data_dir: &std::path::Path,
) -> Result<Server, BenchError> {
    let mut command = Command::new(&options.gateway);
    // A clean configuration: nothing from the caller's environment but the basics.
    for (name, _) in std::env::vars() {
        let backend_url = matches!(name.as_str(), "DATABASE_URL" | "REDIS_URL" | "NATS_URL");
        if name.starts_with("AISOC_") || backend_url || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let log = std::fs::File::create(data_dir.with_extension("log"))?;
    command
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("AISOC_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("AISOC_INBOX_RATE_LIMIT_PER_MIN", u32::MAX.to_string())
        .env("AISOC_INBOX_EVENTS_PER_SECOND", u32::MAX.to_string())
        .env("AISOC_INBOX_BYTES_PER_SECOND", (1u64 << 50).to_string())
        .env("AISOC_EVENTS_MAX_BYTES", STORE_BYTES.to_string())
        .stderr(Stdio::from(log));
    if matches!(backend, Backend::Nats | Backend::NatsPerRequest) {
        let url = options.nats_url.as_deref().ok_or("no NATS URL")?;
        command.env("NATS_URL", url);
    }
    if backend == Backend::NatsPerRequest {
        command.env("AISOC_INBOX_NATS_FRAMING", "request");
    }
    Server::start(command, "aisoc-gateway listening on ").await
}

/// Mints a `generic-json` token for `tenant`; the token.
async fn mint(addr: SocketAddr, tenant: &str, secret: Option<&str>) -> Result<String, BenchError> {
    let mut body = serde_json::json!({"tenant_id": tenant, "template": "generic-json"});
    if let Some(secret) = secret {
        body["signing_secret"] = secret.into();
        body["signature_schemes"] = serde_json::json!(["standard"]);
    }
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/admin/inbox/tokens")
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let (status, answer) = call(addr, request).await?;
    if status != StatusCode::CREATED {
        return Err(format!(
            "minting answered {status}: {}",
            String::from_utf8_lossy(&answer)
        )
        .into());
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    Ok(answer["token"]
        .as_str()
        .ok_or("no token in the answer")?
        .to_owned())
}

/// The inbox cases against one gateway (four, or the two NDJSON ones for
/// [`Backend::NatsPerRequest`]); none, and no gateway started, when `--only` wants none.
pub(crate) async fn gateway_cases(
    options: &Options,
    backend: Backend,
    tenant: &str,
) -> Result<Vec<Row>, BenchError> {
    let wanted = backend
        .shapes()
        .iter()
        .flat_map(|shape| {
            ["unsigned", "signed"]
                .map(|signing| format!("gateway {}: {shape}, {signing}", backend.label()))
        })
        .any(|name| options.wants(&name));
    if !wanted {
        return Ok(Vec::new());
    }
    let data_dir = options.work_dir.join(format!(
        "gateway-{}-{}",
        backend.label(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let gateway = start_gateway(options, backend, &data_dir).await?;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"load-bench-signing-secret-0123456789")
    );
    let unsigned = mint(gateway.addr, tenant, None).await?;
    let signed = mint(gateway.addr, tenant, Some(&secret)).await?;
    let signer = WebhookSigner::new(SignatureScheme::StandardWebhooks, &secret)?;
    let label = backend.label();
    let mut rows = Vec::new();
    for (shape, body, lines, content_type) in [
        ("single", single_body(), 1, "application/json"),
        (
            "ndjson x100",
            batch_body(),
            BATCH_LINES as u64,
            "application/x-ndjson",
        ),
    ] {
        if !backend.shapes().contains(&shape) {
            continue;
        }
        for (signing, token, signer) in [
            ("unsigned", &unsigned, None),
            ("signed", &signed, Some(signer.clone())),
        ] {
            let case = Case {
                name: format!("gateway {label}: {shape}, {signing}"),
                path: format!("/v1/inbox/{token}"),
                content_type,
                body: body.clone(),
                lines,
                signer,
            };
            if options.wants(&case.name) {
                rows.push(measure(&gateway, case, options).await);
            }
        }
    }
    gateway.stop().await;
    let stored = dir_bytes(&data_dir);
    out!(
        "  ({label}: {:.1} MiB in the data directory, removed with its log)",
        stored as f64 / 1048576.0
    );
    let _ = std::fs::remove_dir_all(&data_dir);
    let _ = std::fs::remove_file(data_dir.with_extension("log"));
    Ok(rows)
}

/// 10,000 alerts (the inbox's default most per request) of 1,048 bytes: 10,480,000 bytes,
/// just under its default body limit of 10 MiB.
const BIG_REQUEST_LINES: usize = 10_000;
const BIG_REQUEST_LINE_BYTES: usize = 1_048;
/// Big requests sent, one at a time, each measured.
const BIG_REQUEST_ROUNDS: usize = 3;

/// Memory per request (issue #17 item 6): a fresh gateway on the embedded store, warmed with
/// a few small requests, then 10 MiB NDJSON requests one at a time; before each its peak RSS
/// (`VmHWM`) is set back to its RSS, after it the peak is read: the growth is what the
/// request took at its highest, as a multiple of the body.
pub(crate) async fn memory_per_request(options: &Options, tenant: &str) -> Result<(), BenchError> {
    let data_dir = options
        .work_dir
        .join(format!("gateway-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let gateway = start_gateway(options, Backend::Embedded, &data_dir).await?;
    let pid = gateway.pid();
    let token = mint(gateway.addr, tenant, None).await?;
    let send = |body: Bytes, content_type: &'static str| {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/v1/inbox/{token}"))
            .header(header::HOST, gateway.addr.to_string())
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body));
        async move {
            let (status, answer) = call(gateway.addr, request?).await?;
            if status != StatusCode::OK {
                return Err(
                    format!("answered {status}: {}", String::from_utf8_lossy(&answer)).into(),
                );
            }
            let receipt: serde_json::Value = serde_json::from_slice(&answer)?;
            Ok::<u64, BenchError>(receipt["accepted"].as_u64().unwrap_or_default())
        }
    };
    for _ in 0..20 {
        send(single_body(), "application/json").await?;
    }
    let body = padded_lines_body(BIG_REQUEST_LINES, BIG_REQUEST_LINE_BYTES);
    let kib = |n: Option<u64>| n.ok_or("no /proc figures for the gateway");
    for round in 1..=BIG_REQUEST_ROUNDS {
        reset_peak_rss(pid)?;
        let before = kib(rss_kib(pid))?;
        let accepted = send(body.clone(), "application/x-ndjson").await?;
        let peak = kib(peak_rss_kib(pid))?;
        let after = kib(rss_kib(pid))?;
        let growth = peak.saturating_sub(before) as f64 * 1024.0;
        out!(
            "| 10 MiB NDJSON request {round} ({accepted} events) | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2}x the body |",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            after as f64 / 1024.0,
            growth / body.len() as f64,
        );
    }
    gateway.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let _ = std::fs::remove_file(data_dir.with_extension("log"));
    Ok(())
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_bytes(&entry.path()),
            _ => entry.metadata().map(|m| m.len()).unwrap_or_default(),
        })
        .sum()
}

/// Runs the NATS cases, then removes what they published (the stream, if the run created it).
pub(crate) async fn nats_cases(
    options: &Options,
    url: &str,
    tenant: &str,
) -> Result<Vec<Row>, BenchError> {
    let client = async_nats::connect(url).await?;
    let jetstream = async_nats::jetstream::new(client);
    let existed = jetstream.get_stream(INBOX_STREAM).await.is_ok();
    let mut rows = gateway_cases(options, Backend::Nats, tenant).await;
    if let Ok(rows) = &mut rows {
        match gateway_cases(options, Backend::NatsPerRequest, tenant).await {
            Ok(more) => rows.extend(more),
            Err(error) => out!("  (nats, a message per request: {error})"),
        }
    }
    if existed {
        let subject = format!("aisoc.inbox.{tenant}.>");
        let stream = jetstream.get_stream(INBOX_STREAM).await?;
        let purged = stream.purge().filter(subject).await?;
        out!(
            "  (nats: purged {} messages of this run from {INBOX_STREAM})",
            purged.purged
        );
    } else if jetstream.get_stream(INBOX_STREAM).await.is_ok() {
        jetstream.delete_stream(INBOX_STREAM).await?;
        out!("  (nats: deleted the stream {INBOX_STREAM} this run created)");
    }
    rows
}
