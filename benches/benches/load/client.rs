//! The load client: HTTP/1.1 keep-alive connections sending one kind of request back to back,
//! with each answer's latency, and the server's resident memory sampled meanwhile.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aisoc_notify_core::signature::WebhookSigner;
use axum::body::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use crate::servers::Server;
use crate::{BenchError, Options};

/// Unmeasured load before each case, so connections, caches and allocators are warm.
pub(crate) const WARM_UP: Duration = Duration::from_secs(1);
/// Lines in an NDJSON batch.
pub(crate) const BATCH_LINES: usize = 100;

/// Resident memory of `pid` in KiB (`VmRSS`).
pub(crate) fn rss_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// The highest resident memory of `pid` in KiB (`VmHWM`) since it started or since
/// [`reset_peak_rss`].
pub(crate) fn peak_rss_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Sets `pid`'s `VmHWM` back to its current RSS (`5` to `/proc/<pid>/clear_refs`; Linux ≥ 4.0).
pub(crate) fn reset_peak_rss(pid: Option<u32>) -> std::io::Result<()> {
    let pid = pid.ok_or_else(|| std::io::Error::other("no pid"))?;
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

fn status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) `pid` has used, in clock ticks (`/proc/<pid>/stat` fields 14-15).
fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are counted from its `)`.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// The embedded store's fsyncs and the events it wrote, from the server's `/metrics` (`None`
/// for a server without them: the floor, or a gateway on NATS).
async fn store_counters(addr: SocketAddr) -> Option<(f64, f64)> {
    let request = Request::builder()
        .uri("/metrics")
        .header(header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .ok()?;
    let (status, body) = call(addr, request).await.ok()?;
    if status != StatusCode::OK {
        return None;
    }
    let text = String::from_utf8_lossy(&body);
    let counter = |name: &str| {
        text.lines()
            .filter(|line| line.starts_with(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .reduce(|a, b| a + b)
    };
    Some((
        counter("aisoc_ingest_store_fsyncs_total")?,
        counter("aisoc_ingest_store_events_total")?,
    ))
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`; 100 on every Linux this runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// One kind of request, sent over and over.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) content_type: &'static str,
    pub(crate) body: Bytes,
    pub(crate) lines: u64,
    pub(crate) signer: Option<WebhookSigner>,
}

/// A distinct prefix for each load phase's `webhook-id`s (they are idempotency keys).
static PHASE: AtomicU64 = AtomicU64::new(0);

impl Case {
    fn request(&self, host: &str, id: &str) -> Result<Request<Full<Bytes>>, BenchError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, self.content_type);
        if let Some(signer) = &self.signer {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or_default();
            for (name, value) in signer.headers(&self.body, id, now) {
                builder = builder.header(name, value);
            }
        }
        Ok(builder.body(Full::new(self.body.clone()))?)
    }
}

/// `lines` NDJSON alerts of exactly `line_bytes` each (with the newline).
pub(crate) fn padded_lines_body(lines: usize, line_bytes: usize) -> Bytes {
    let mut body = String::with_capacity(lines * line_bytes);
    for i in 0..lines {
        let severity = ["low", "medium", "high", "critical"][i % 4];
        let mut line = serde_json::json!({
            "id": format!("alrt-{i}"),
            "title": "Impossible travel for alice@example.com",
            "severity": severity,
            "detail": "",
        })
        .to_string();
        let padding = (line_bytes - 1).saturating_sub(line.len());
        line.insert_str(line.len() - 2, &"x".repeat(padding));
        body.push_str(&line);
        body.push('\n');
    }
    Bytes::from(body)
}

/// One event as a SIEM would send it (the inbox bench's shape).
fn event_line(i: usize) -> String {
    let severity = ["low", "medium", "high", "critical"][i % 4];
    serde_json::json!({
        "id": format!("alrt-{i}"),
        "title": "Impossible travel for alice@example.com",
        "description": "Sign-ins from Lisbon and Sydney 20 minutes apart",
        "severity": severity,
        "timestamp": "2026-05-08T09:00:00Z",
        "user": {"email": "alice@example.com", "ip": "203.0.113.7", "country": "PT"},
        "tags": ["identity", "travel"]
    })
    .to_string()
}

pub(crate) fn single_body() -> Bytes {
    Bytes::from(event_line(0))
}

pub(crate) fn batch_body() -> Bytes {
    let mut body = String::new();
    for i in 0..BATCH_LINES {
        body.push_str(&event_line(i));
        body.push('\n');
    }
    Bytes::from(body)
}

/// What one connection (or a whole case) counted.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) ok: u64,
    pub(crate) events: u64,
    errors: u64,
    pub(crate) first_error: Option<String>,
    /// Microseconds per 2xx answer.
    latencies: Vec<u32>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.events += other.events;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
    }
}

/// The `accepted` count of an inbox receipt, if the answer is one.
fn accepted(body: &[u8]) -> Option<u64> {
    let key = b"\"accepted\":";
    let at = memchr::memmem::find(body, key)? + key.len();
    let digits: Vec<u8> = body[at..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, BenchError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends `request` and reads the whole answer.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BenchError> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One request on a connection of its own (set-up calls).
pub(crate) async fn call(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BenchError> {
    exchange(&mut connect(addr).await?, request).await
}

/// One connection sending requests back to back until `deadline`.
async fn connection(addr: SocketAddr, case: Arc<Case>, name: String, deadline: Instant) -> Tally {
    let host = addr.to_string();
    let mut tally = Tally::default();
    let mut sender = None;
    let mut sequence = 0u64;
    while Instant::now() < deadline {
        let mut current = match sender.take() {
            Some(current) => current,
            None => match connect(addr).await {
                Ok(fresh) => fresh,
                Err(error) => {
                    tally.error(format!("connect: {error}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        sequence += 1;
        let request = match case.request(&host, &format!("{name}-{sequence}")) {
            Ok(request) => request,
            Err(error) => {
                tally.error(format!("request: {error}"));
                break;
            }
        };
        let started = Instant::now();
        match exchange(&mut current, request).await {
            Ok((status, body)) if status.is_success() => {
                let micros = started.elapsed().as_micros();
                tally
                    .latencies
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                tally.ok += 1;
                tally.events += accepted(&body).unwrap_or(case.lines);
                sender = Some(current);
            }
            Ok((status, body)) => {
                let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                tally.error(format!("{status}: {shown}"));
                sender = Some(current);
            }
            Err(error) => tally.error(format!("transport: {error}")),
        }
    }
    tally
}

/// `connections` connections for `duration`; the tally and the wall time it took.
async fn drive(
    addr: SocketAddr,
    case: &Arc<Case>,
    connections: usize,
    duration: Duration,
) -> (Tally, Duration) {
    let phase = PHASE.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..connections {
        let name = format!("load-{}-{phase}-{n}", std::process::id());
        tasks.spawn(connection(addr, Arc::clone(case), name, deadline));
    }
    let mut total = Tally::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(tally) => total.merge(tally),
            Err(error) => total.error(format!("task: {error}")),
        }
    }
    (total, started.elapsed())
}

/// One row of the table.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) tally: Tally,
    elapsed: Duration,
    rss_before: Option<u64>,
    rss_warm: Option<u64>,
    rss_max: Option<u64>,
    rss_after: Option<u64>,
    /// CPU seconds the server used during the measured run.
    server_cpu: Option<f64>,
    /// CPU seconds this process (the client) used during the measured run.
    client_cpu: Option<f64>,
    /// Events the embedded store wrote per fsync during the run (group commit).
    events_per_fsync: Option<f64>,
}

impl Row {
    pub(crate) fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.seconds().max(f64::MIN_POSITIVE)
    }

    /// Server CPU microseconds per 2xx answer.
    pub(crate) fn server_cpu_per_request(&self) -> Option<f64> {
        Some(self.server_cpu? * 1e6 / self.tally.ok.max(1) as f64)
    }

    /// The server's resident memory after the warm-up and the most it reached after, in KiB.
    pub(crate) fn rss_warm_and_max(&self) -> Option<(u64, u64)> {
        Some((self.rss_warm?, self.rss_max?))
    }

    /// The measured seconds.
    pub(crate) fn seconds(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    /// How many of the machine's cores the server and the client kept busy together.
    fn cores_busy(&self) -> Option<f64> {
        Some((self.server_cpu? + self.client_cpu?) / self.seconds())
    }

    pub(crate) fn percentile(&self, p: f64) -> Option<Duration> {
        let sorted = &self.tally.latencies;
        let last = sorted.len().checked_sub(1)?;
        let at = ((last as f64) * p).round() as usize;
        Some(Duration::from_micros(u64::from(sorted[at.min(last)])))
    }
}

/// Warms up, then measures `case` against `server`, sampling its memory meanwhile.
pub(crate) async fn measure(server: &Server, case: Case, options: &Options) -> Row {
    let case = Arc::new(case);
    let pid = server.pid();
    let rss_before = rss_kib(pid);
    let _ = drive(server.addr, &case, options.connections, WARM_UP).await;
    let rss_warm = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut max = None;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            max
        })
    };
    let store_start = store_counters(server.addr).await;
    let (server_start, client_start) = (cpu_ticks(pid), cpu_ticks(Some(std::process::id())));
    let (mut tally, elapsed) =
        drive(server.addr, &case, options.connections, options.duration).await;
    let used = |start: Option<u64>, pid: Option<u32>| {
        Some(cpu_ticks(pid)?.saturating_sub(start?) as f64 / TICKS_PER_SECOND)
    };
    let server_cpu = used(server_start, pid);
    let client_cpu = used(client_start, Some(std::process::id()));
    let events_per_fsync = match (store_start, store_counters(server.addr).await) {
        (Some((fsyncs, events)), Some((fsyncs_now, events_now))) if fsyncs_now > fsyncs => {
            Some((events_now - events) / (fsyncs_now - fsyncs))
        }
        _ => None,
    };
    stop.store(true, Ordering::Relaxed);
    let rss_after = rss_kib(pid);
    let rss_max = sampler.await.unwrap_or_default().max(rss_after);
    tally.latencies.sort_unstable();
    let row = Row {
        name: case.name.clone(),
        tally,
        elapsed,
        rss_before,
        rss_warm,
        rss_max,
        rss_after,
        server_cpu,
        client_cpu,
        events_per_fsync,
    };
    out!("{}", format_row(&row));
    row
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn millis(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

/// The table's heading (Markdown).
pub(crate) const HEADER: &str = concat!(
    "| case | requests/s | events/s | p50 ms | p99 ms | 2xx | errors ",
    "| server CPU µs/request | cores busy | events/fsync | RSS MiB before / warm / max / after |\n",
    "|---|---|---|---|---|---|---|---|---|---|---|"
);

pub(crate) fn format_row(row: &Row) -> String {
    format!(
        "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} / {} |",
        row.name,
        row.per_second(row.tally.ok),
        row.per_second(row.tally.events),
        millis(row.percentile(0.50)),
        millis(row.percentile(0.99)),
        row.tally.ok,
        row.tally.errors,
        row.server_cpu_per_request()
            .map_or_else(|| "-".into(), |us| format!("{us:.1}")),
        row.cores_busy()
            .map_or_else(|| "-".into(), |cores| format!("{cores:.2}")),
        row.events_per_fsync
            .map_or_else(|| "-".into(), |n| format!("{n:.1}")),
        mib(row.rss_before),
        mib(row.rss_warm),
        mib(row.rss_max),
        mib(row.rss_after),
    )
}
