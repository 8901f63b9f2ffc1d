//! HTTP load on loopback: the gateway's inbox against a bare axum handler, driven by the same
//! client in one run (issue #17).
//!
//! A `harness = false` bench with its own `main`, run by `benches/load/run` (which builds the
//! release gateway first) or `cargo bench -p aisoc-notify-benches --bench load -- …`. It is not
//! part of `./scripts/test`: `cargo test` builds it but, without `--bench`, it only prints how
//! to run it. Timings are printed, never asserted.
//!
//! Every server is a process of its own, so the client's threads are not the server's and its
//! resident memory (`VmRSS`) can be read from `/proc`:
//!
//! - **floor**: this binary again, with `--floor-server`: an axum route that reads the whole
//!   body and answers 200, on tokio's default multi-threaded runtime (as the gateway is).
//! - **gateway**: the real `aisoc-gateway` binary with an admin token, a data directory of its
//!   own, and the inbox's rate limits lifted for the run; two `generic-json` tokens are minted,
//!   one unsigned and one with a Standard Webhooks secret (each signed request gets its own
//!   `webhook-id`, which the inbox also claims as its idempotency key, as a real sender's
//!   would). Once on the embedded file store (fsync per group commit before any 2xx), once
//!   with `NATS_URL`.
//!
//! Each case is a one-second warm-up, then `--duration` seconds of `--connections` HTTP/1.1
//! keep-alive connections, each sending its next request as soon as the previous answer is
//! read. Latency is from sending a request to the end of its answer, for 2xx answers only;
//! anything else is counted as an error (the first one is shown). Events are the receipt's
//! `accepted` count (the floor: the lines sent).
//!
//! On NATS the gateway publishes to the stream `AISOC_INBOX` (its name is fixed) a message per
//! event, and then, in a gateway of its own with `AISOC_INBOX_NATS_FRAMING=request`, a message
//! per request (`nats-per-request`, NDJSON batches only: a single event is one message either
//! way), under a tenant unique to the run: a stream the bench saw created is deleted
//! afterwards, otherwise only the run's subjects are purged from it. `benches/load/run` starts a private
//! `nats-server` with its own store directory for the run instead of sharing the one on 4222.

/// A line of the report on stdout (where `cargo bench` shows it).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

type BenchError = Box<dyn std::error::Error + Send + Sync>;

mod client;
mod servers;

use std::path::PathBuf;
use std::time::Duration;

use client::{
    BATCH_LINES, Case, HEADER, Row, WARM_UP, batch_body, format_row, measure, single_body,
};
use servers::{Backend, gateway_cases, memory_per_request, nats_cases, serve_floor, start_floor};

/// What the command line chose.
#[derive(Debug, Clone)]
struct Options {
    duration: Duration,
    connections: usize,
    gateway: PathBuf,
    nats_url: Option<String>,
    work_dir: PathBuf,
    /// Only the memory-per-request measurement (`--memory-only`).
    memory_only: bool,
    /// Only the cases whose name contains this (`--only`), besides the single-event floor the
    /// ratios need; no memory measurement then.
    only: Option<String>,
    /// Rounds of every case (`--rounds`); with more than one, each case's median round is
    /// what the summary and the goals read.
    rounds: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, BenchError> {
        let target = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"));
        let mut options = Options {
            duration: Duration::from_secs(10),
            connections: 32,
            gateway: PathBuf::new(),
            nats_url: Some(
                std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
            ),
            work_dir: target.join("load-bench"),
            memory_only: false,
            only: None,
            rounds: 1,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--duration" => {
                    let seconds: u64 = value()?.parse().map_err(|_| "--duration: seconds")?;
                    options.duration = Duration::from_secs(seconds.max(1));
                }
                "--connections" => {
                    let n: usize = value()?.parse().map_err(|_| "--connections: a number")?;
                    options.connections = n.max(1);
                }
                "--gateway" => options.gateway = value()?.into(),
                "--nats-url" => options.nats_url = Some(value()?),
                "--no-nats" => options.nats_url = None,
                "--memory-only" => options.memory_only = true,
                "--only" => options.only = Some(value()?),
                "--rounds" => {
                    let n: usize = value()?.parse().map_err(|_| "--rounds: a number")?;
                    options.rounds = n.max(1);
                }
                "--work-dir" => options.work_dir = value()?.into(),
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        Ok(options)
    }

    /// Whether the case named `name` runs (see `--only`).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|only| name.contains(only))
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "-".into())
}

async fn run(options: Options) -> Result<(), BenchError> {
    std::fs::create_dir_all(&options.work_dir)?;
    if !options.gateway.exists() {
        return Err(format!(
            "no gateway binary at {} (benches/load/run builds it)",
            options.gateway.display()
        )
        .into());
    }
    out!(
        "HTTP load: {} connections, {} s per case after a {} s warm-up; {}; load average {}",
        options.connections,
        options.duration.as_secs(),
        WARM_UP.as_secs(),
        machine(),
        load_average()
    );
    let tenant = format!("loadbench{}", std::process::id());
    if options.memory_only {
        return memory_table(&options, &tenant).await;
    }
    let mut rounds = Vec::with_capacity(options.rounds);
    for round in 1..=options.rounds {
        if options.rounds > 1 {
            out!("\nround {round} of {}:", options.rounds);
        }
        out!("{HEADER}");
        rounds.push(one_round(&options, &tenant).await?);
    }
    let rows = if options.rounds > 1 {
        let medians = median_rows(rounds);
        out!(
            "\nmedian of {} rounds (each case's round with the median events/s):",
            options.rounds
        );
        out!("{HEADER}");
        for row in &medians {
            out!("{}", format_row(row));
        }
        medians
    } else {
        rounds.pop().unwrap_or_default()
    };
    if options.only.is_none() {
        memory_table(&options, &tenant).await?;
    }
    out!("load average at the end: {}", load_average());
    summarize(&rows);
    Ok(())
}

/// Every case once: the floor, then the gateway on the embedded store and on NATS.
async fn one_round(options: &Options, tenant: &str) -> Result<Vec<Row>, BenchError> {
    let mut rows = Vec::new();
    let floor = start_floor().await?;
    for (shape, body, lines) in [
        ("single", single_body(), 1),
        ("ndjson x100", batch_body(), BATCH_LINES as u64),
    ] {
        let case = Case {
            name: format!("floor: bare axum, {shape}"),
            path: "/ingest".into(),
            content_type: "application/json",
            body,
            lines,
            signer: None,
        };
        if shape == "single" || options.wants(&case.name) {
            rows.push(measure(&floor, case, options).await);
        }
    }
    floor.stop().await;
    rows.extend(gateway_cases(options, Backend::Embedded, tenant).await?);
    match options.nats_url.clone() {
        Some(url) => rows.extend(nats_cases(options, &url, tenant).await?),
        None => out!("  (NATS cases skipped: --no-nats)"),
    }
    Ok(rows)
}

/// Each case's round with the median events/s (the lower middle for an even count), in the
/// order the cases ran.
fn median_rows(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let mut by_case: Vec<(String, Vec<Row>)> = Vec::new();
    for row in rounds.into_iter().flatten() {
        match by_case.iter_mut().find(|(name, _)| *name == row.name) {
            Some((_, rows)) => rows.push(row),
            None => by_case.push((row.name.clone(), vec![row])),
        }
    }
    by_case
        .into_iter()
        .filter_map(|(_, mut rows)| {
            rows.sort_by(|a, b| {
                a.per_second(a.tally.events)
                    .total_cmp(&b.per_second(b.tally.events))
            });
            let middle = (rows.len() - 1) / 2;
            rows.into_iter().nth(middle)
        })
        .collect()
}

async fn memory_table(options: &Options, tenant: &str) -> Result<(), BenchError> {
    out!("\nMemory per request (peak RSS growth, goal at most 4x the body):");
    out!("| request | RSS before | peak RSS | RSS after | peak growth |");
    out!("|---|---|---|---|---|");
    memory_per_request(options, tenant).await
}

/// The goals, from the rows measured.
fn summarize(rows: &[Row]) {
    let rate = |name: &str, events: bool| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.per_second(if events { r.tally.events } else { r.tally.ok }))
    };
    let verdict = |met: bool| if met { "met" } else { "not met" };
    let Some(floor) = rate("floor: bare axum, single", false) else {
        return;
    };
    out!("goals:");
    for backend in ["embedded", "nats"] {
        for signing in ["unsigned", "signed"] {
            let single = format!("gateway {backend}: single, {signing}");
            if let Some(r) = rate(&single, false) {
                let ratio = r / floor;
                out!(
                    "  {single}: {:.2} of the floor's requests/s (goal 0.50: {})",
                    ratio,
                    verdict(ratio >= 0.5)
                );
            }
            let batch = format!("gateway {backend}: ndjson x100, {signing}");
            if let Some(r) = rate(&batch, true) {
                out!(
                    "  {batch}: {:.0} events/s (goal 250,000: {})",
                    r,
                    verdict(r >= 250_000.0)
                );
            }
        }
    }
    for shape in [
        "single, unsigned",
        "single, signed",
        "ndjson x100, unsigned",
        "ndjson x100, signed",
    ] {
        let embedded = rate(&format!("gateway embedded: {shape}"), true);
        for backend in ["nats", "nats-per-request"] {
            let nats = rate(&format!("gateway {backend}: {shape}"), true);
            if let (Some(embedded), Some(nats)) = (embedded, nats) {
                let ratio = nats / embedded.max(f64::MIN_POSITIVE);
                out!(
                    "  {backend} / embedded, {shape}: {ratio:.2} (goal 0.50: {})",
                    verdict(ratio >= 0.5)
                );
            }
        }
    }
    // Machine-independent: what one request costs the server, whatever else ran meanwhile.
    let cpu = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .and_then(Row::server_cpu_per_request)
    };
    if let Some(floor_cpu) = cpu("floor: bare axum, single") {
        for row in rows.iter().filter(|r| r.name.contains("single")) {
            if let Some(us) = row.server_cpu_per_request() {
                out!(
                    "  server CPU per request, {}: {us:.1} µs ({:.1}x the floor's {floor_cpu:.1} µs)",
                    row.name,
                    us / floor_cpu.max(f64::MIN_POSITIVE)
                );
            }
        }
    }
    // Flat: the most the server held after the warm-up is within 5% of what it held then
    // (the issue asks for it over a 60 s run: `--duration 60`).
    for row in rows.iter().filter(|r| r.name.starts_with("gateway")) {
        if let Some((warm, max)) = row.rss_warm_and_max() {
            let grown_kib = max.saturating_sub(warm);
            let share = grown_kib as f64 / warm.max(1) as f64;
            out!(
                "  RSS growth after the warm-up, {}: +{:.1} MiB in {:.0} s ({:.1}%; flat within 5%: {})",
                row.name,
                grown_kib as f64 / 1024.0,
                row.seconds(),
                share * 100.0,
                verdict(share <= 0.05)
            );
        }
    }
    for row in rows {
        if let Some(error) = &row.tally.first_error {
            out!("  first error of {}: {error}", row.name);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--floor-server") {
        if let Err(error) = serve_floor() {
            eprintln!("floor server: {error}");
            std::process::exit(1);
        }
        return;
    }
    // `cargo test --all-targets` runs bench targets without `--bench`, and `cargo bench` of the
    // whole crate runs it with nothing else: it needs a release gateway just built, which
    // `benches/load/run` builds and names with `--gateway`. No timings belong in tests.
    if !args.iter().any(|a| a == "--bench") || !args.iter().any(|a| a == "--gateway") {
        out!(
            "load bench: skipped; run benches/load/run, or cargo bench -p aisoc-notify-benches \
             --bench load -- --gateway target/release/aisoc-gateway"
        );
        return;
    }
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("load bench: {error}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("load bench: no runtime: {error}");
            std::process::exit(1);
        }
    };
    if let Err(error) = runtime.block_on(run(options)) {
        eprintln!("load bench: {error}");
        std::process::exit(1);
    }
}
