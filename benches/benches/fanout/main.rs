//! Web Push fan-out of one notification to 10,000 subscriptions over HTTP/2 and TLS to a local
//! mock push service, against the crypto floor divided by the cores, with `pywebpush` in a loop
//! alongside, in one run.
//!
//! A `harness = false` bench with its own `main`: one measurement is a whole fan-out (store read,
//! encryption, requests and answers all in flight at once), which criterion's per-iteration
//! model does not fit. The cases run in alternating rounds so a busy machine slows them alike;
//! the table shows the median and the best round of each.
//!
//! - **mock push service**: a TLS server on `127.0.0.1` with a certificate made at start
//!   (`rcgen`, a throwaway CA and a leaf for `127.0.0.1`), ALPN `h2` and `http/1.1`, at most 100
//!   HTTP/2 streams open per connection, on a thread of its own with a single-threaded runtime
//!   (as another process would be; its CPU still counts in this process's), answering 201 with
//!   a `Location` as FCM and Mozilla's autopush do. It checks every request is a Web Push
//!   request (POST to a device path, `Content-Encoding: aes128gcm`, a `TTL`, a `vapid t=…, k=…`
//!   `Authorization`, an `aes128gcm` header with a 4096-byte record size and a 65-byte key id)
//!   and answers 400 otherwise; it counts each device and the HTTP version. Every 1,000th device's
//!   request is kept: after each round its body is decrypted with that device's private key and
//!   compared with the payload, and its VAPID JWT verified (ES256 over the VAPID public key,
//!   `aud` the mock's origin).
//! - **ours**: 10,000 subscriptions (each its own P-256 key pair and auth secret) in the
//!   in-memory store, 500 users of 20 devices; one `PushManager::send_to_target` to the topic
//!   they share, the product's default concurrency, a `DeliveryClient` with the product's
//!   defaults but loopback allowed. The sender trusts the mock's CA the way a host trusts a
//!   private CA: `SSL_CERT_FILE` (this bench runs itself again with it set, since the certificate
//!   only exists once it has started). The connection is warm (one unmeasured round first).
//! - **floor**: what any sender must do per message, with `aws-lc-rs` directly: parse the
//!   receiver's key, one P-256 key generation (and its public key), one ECDH, the two HKDF steps
//!   of RFC 8291 and RFC 8188 and one AES-128-GCM seal of the same payload, for the same 10,000
//!   receivers: on one core (the figure divided by the cores is the goal's floor), and split
//!   over every core with threads.
//! - **ours without I/O**: `WebPushSender::build_request` for the same 10,000 records (all the
//!   sender's per-message work, no HTTP), split over every core with threads: what of the gap to
//!   the floor is the sender's and what the HTTP exchange's.
//! - **one task**: the same sends as ours (`WebPushSender::send` for each record, the same
//!   concurrency) polled from one task with `buffer_unordered`, as the fan-out did before each
//!   device's push became a task of its own.
//! - **pywebpush** (only when `AISOC_BENCH_PYWEBPUSH` names a Python with `pywebpush`
//!   installed): `benches/peers/pywebpush_bench.py` calls `pywebpush.webpush` in a loop over the
//!   first `AISOC_BENCH_PYWEBPUSH_N` (default 1,000) of the same subscriptions, the same payload
//!   and VAPID key, with one `requests.Session` (HTTP/1.1 keep-alive: `requests` has no HTTP/2),
//!   against the same mock. The script times its loop only; the table extrapolates it to N.
//!
//! The process allocates with jemalloc, as the `aisoc-gateway` binary (whose outbox workers run
//! fan-outs) does; with the system's malloc the fan-out took about 3% more CPU a push.
//!
//! Each fan-out's CPU time is reported too (every thread of the process, the sender's and the
//! mock's, from `/proc/self/task/*/schedstat`): on a busy machine it moves far less than the
//! wall-clock time, so it is the figure to compare changes by.
//!
//! Settings by environment: `AISOC_BENCH_FANOUT_N` (subscriptions, default 10,000; at most
//! 10,000, the in-memory store's cap per tenant), `AISOC_BENCH_FANOUT_ROUNDS` (default 5),
//! `AISOC_BENCH_FANOUT_CONCURRENCY` (pushes in flight; the product's default unless set),
//! `AISOC_BENCH_PYWEBPUSH`, `AISOC_BENCH_PYWEBPUSH_N`, and `AISOC_BENCH_FANOUT_ONLY=ours`: only
//! our fan-out in every round (still checked the same way), for a profiler (`perf record`,
//! `valgrind --tool=callgrind`) or a CPU count of the fan-out alone; no ratios.
//!
//! `cargo test -p aisoc-notify-benches --bench fanout` runs one round of 200 subscriptions
//! without pywebpush: a smoke test of the whole path, with no timing claims.

mod device;
mod floor;
mod mock;

/// The allocator `aisoc-gateway` ships with (its `main` says why), so that the fan-out is
/// measured as the gateway's outbox workers run it.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aisoc_notify_core::notification::Target;
use aisoc_notify_core::{
    DeliveryClient, DeliveryConfig, DestinationPolicy, EventType, Notification, Severity,
};
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{
    DEFAULT_CONCURRENCY, MemoryOnCallStatus, PushManager, PushMessage,
};
use aisoc_notify_webpush::send::{PushOptions, WebPushSender};
use aisoc_notify_webpush::store::{MemorySubscriptionStore, SubscriptionStore};
use aisoc_notify_webpush::subscription::{PushSubscription, SubscriptionRecord};
use aisoc_notify_webpush::vapid::VapidSigner;

use crate::device::{check_samples, devices, subscription};
use crate::floor::{floor_all_cores, floor_one_core};
use crate::mock::{MockPushService, run_with_trusted_ca, server_tls, start_mock};

/// The environment variable naming the directory with the mock's certificate and key; set only
/// in the second run of this bench, the one that measures.
const TLS_DIR_ENV: &str = "AISOC_BENCH_FANOUT_TLS";
/// The `aes128gcm` header: salt, record size, key id length, key id.
const HEADER_LEN: usize = 86;
/// The AES-128-GCM tag.
const TAG_LEN: usize = 16;
/// The VAPID contact.
const SUBJECT: &str = "mailto:soc@example.com";

/// A line of the report on stdout (where `cargo bench` shows it).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Set when run without `--bench` (by `cargo test`): a short smoke run.
static QUICK: AtomicBool = AtomicBool::new(false);

type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The CPU time every thread of this process has had so far (the sender's runtime and the
/// mock's alike), from the scheduler's per-thread accounting in nanoseconds; `None` where
/// `/proc` does not have it. Only threads alive when read count, and the runtimes' threads live
/// for the whole run.
fn process_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Ours without I/O: `WebPushSender::build_request` (encryption, the cached VAPID header, the
/// request) for every record, split over `cores` threads: how much of the fan-out is the
/// sender's own per-message work and how much the HTTP exchange.
fn requests_all_cores(
    sender: &WebPushSender,
    records: &[SubscriptionRecord],
    payload: &[u8],
    options: &PushOptions,
    cores: usize,
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = records
            .chunks(records.len().div_ceil(cores))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk.iter().try_for_each(|record| {
                        std::hint::black_box(sender.build_request(record, payload, options)?);
                        Ok::<_, BenchError>(())
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().map_err(|_| "a request thread panicked")?)
    })?;
    Ok(start.elapsed())
}

/// One fan-out, timed, run in a task of the runtime as the product's callers (the outbox's
/// workers, the push routes) run it.
async fn fan_out(
    manager: &PushManager,
    target: &Target,
    message: &PushMessage,
    options: &PushOptions,
    devices: usize,
) -> Result<(Duration, Option<Duration>), BenchError> {
    let (manager, target, message, options) = (
        manager.clone(),
        target.clone(),
        message.clone(),
        options.clone(),
    );
    let cpu_before = process_cpu();
    let report = tokio::spawn(async move {
        let start = Instant::now();
        let report = manager.send_to_target(&target, &message, &options).await;
        (start.elapsed(), report)
    });
    let (took, report) = report.await?;
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let report = report?;
    if report.delivered() != devices {
        let failure = report.outcomes.iter().find_map(|o| o.result.as_ref().err());
        return Err(format!(
            "{} of {devices} delivered; e.g. {failure:?}",
            report.delivered()
        )
        .into());
    }
    Ok((took, cpu))
}

/// The fan-out's shape before each device's push became a task of its own: every device's
/// `WebPushSender::send` polled from one task (`buffer_unordered`), so all the encryption ran
/// on whichever thread polled it. Same records, sender and concurrency as ours.
async fn one_task(
    manager: &PushManager,
    records: &[SubscriptionRecord],
    payload: &[u8],
    options: &PushOptions,
    concurrency: usize,
) -> Result<Duration, BenchError> {
    use futures::StreamExt as _;
    let (sender, records, payload, options) = (
        manager.sender().clone(),
        records.to_vec(),
        Arc::<[u8]>::from(payload),
        Arc::new(options.clone()),
    );
    let total = records.len();
    let took = tokio::spawn(async move {
        let start = Instant::now();
        let delivered = futures::stream::iter(records)
            .map(|record| {
                let (sender, payload, options) =
                    (sender.clone(), Arc::clone(&payload), Arc::clone(&options));
                async move { sender.send(&record, &payload, &options).await.is_ok() }
            })
            .buffer_unordered(concurrency)
            .filter(|delivered| std::future::ready(*delivered))
            .count()
            .await;
        (start.elapsed(), delivered == total)
    });
    match took.await? {
        (took, true) => Ok(took),
        (_, false) => Err("the one-task fan-out did not deliver to every device".into()),
    }
}

/// The files `pywebpush_bench.py` reads, in the bench's temporary directory.
struct PeerFiles {
    script: PathBuf,
    subscriptions: PathBuf,
    payload: PathBuf,
    vapid_key: PathBuf,
    ca: PathBuf,
}

async fn pywebpush(
    python: &Path,
    files: &PeerFiles,
    devices: usize,
) -> Result<Duration, BenchError> {
    let output = tokio::process::Command::new(python)
        .arg(&files.script)
        .arg("--subscriptions")
        .arg(&files.subscriptions)
        .arg("--payload")
        .arg(&files.payload)
        .arg("--vapid-key-file")
        .arg(&files.vapid_key)
        .arg("--ca")
        .arg(&files.ca)
        .arg("--n")
        .arg(devices.to_string())
        .output()
        .await?;
    if !output.status.success() {
        return Err(format!(
            "pywebpush_bench.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let seconds = result["seconds"]
        .as_f64()
        .ok_or("no seconds from pywebpush")?;
    if result["sent"].as_u64() != Some(devices as u64) {
        return Err(format!("pywebpush sent {} of {devices}", result["sent"]).into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn pywebpush_version(python: &Path) -> String {
    std::process::Command::new(python)
        .args([
            "-c",
            "from importlib.metadata import version; import sys; \
             print(version('pywebpush'), sys.version.split()[0])",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// A fan-out's CPU time (every thread of the process: the sender's and the mock's) and per push.
fn cpu_text(cpu: Option<Duration>, pushes: usize) -> String {
    cpu.map_or_else(
        || "CPU unknown".to_owned(),
        |cpu| {
            format!(
                "{:.1} ms CPU, {:.1} µs per push",
                ms(cpu),
                cpu.as_secs_f64() * 1e6 / pushes as f64
            )
        },
    )
}

fn median_cpu_text(mut cpu: Vec<Duration>, pushes: usize) -> String {
    if cpu.is_empty() {
        return "unknown".to_owned();
    }
    cpu.sort_unstable();
    cpu_text(Some(cpu[cpu.len() / 2]), pushes)
}

/// Median and best of a case's rounds.
fn summary(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort_unstable();
    (times[times.len() / 2], times[0])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(
    addr: SocketAddr,
    mock: Arc<MockPushService>,
    tls_dir: PathBuf,
) -> Result<(), BenchError> {
    let quick = QUICK.load(Ordering::SeqCst);
    let total = mock.per_device.len();
    let rounds = if quick {
        1
    } else {
        aisoc_notify_benches::env_count("AISOC_BENCH_FANOUT_ROUNDS", 5)
    };
    let only_ours = std::env::var("AISOC_BENCH_FANOUT_ONLY").is_ok_and(|case| case == "ours");
    let python = std::env::var_os("AISOC_BENCH_PYWEBPUSH")
        .filter(|_| !quick && !only_ours)
        .map(PathBuf::from);
    let peer_n = aisoc_notify_benches::env_count("AISOC_BENCH_PYWEBPUSH_N", 1_000).min(total);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let origin = format!("https://{addr}");

    let devices = devices(total)?;
    let store = Arc::new(MemorySubscriptionStore::new());
    let now = chrono::Utc::now();
    for (i, device) in devices.iter().enumerate() {
        let record = SubscriptionRecord::new(
            &subscription(&origin, i, device),
            "acme",
            &format!("user-{}", i % 500),
            &[],
            now,
        )?;
        store.upsert(&record).await?;
    }
    let vapid_keys = VapidKeyPair::generate();
    let vapid_private = vapid_keys.private_key_base64();
    let vapid_public = vapid_keys.public_key_base64();
    let delivery = DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1")?,
        ..DeliveryConfig::default()
    })?;
    let sender = WebPushSender::with_client(VapidSigner::new(vapid_keys, SUBJECT)?, delivery);
    let concurrency =
        aisoc_notify_benches::env_count("AISOC_BENCH_FANOUT_CONCURRENCY", DEFAULT_CONCURRENCY);
    let manager = PushManager::new(store, sender, Arc::new(MemoryOnCallStatus::new()))
        .with_concurrency(concurrency);
    let mut notification = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::Critical,
        "Ransomware on web-01",
    );
    notification.body = "Encryption activity on 3 hosts in 2 minutes; isolate web-01?".into();
    let (message, options) = PushMessage::from_notification(&notification);
    let payload = serde_json::to_vec(&message)?;
    let target = Target::Topic {
        tenant_id: "acme".into(),
        topic: EventType::P0Alert.as_str().into(),
    };

    let files = PeerFiles {
        script: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/peers/pywebpush_bench.py"
        )),
        subscriptions: tls_dir.join("subscriptions.json"),
        payload: tls_dir.join("payload.json"),
        vapid_key: tls_dir.join("vapid.key"),
        ca: tls_dir.join("ca.pem"),
    };
    if python.is_some() {
        let subscriptions: Vec<PushSubscription> = devices[..peer_n]
            .iter()
            .enumerate()
            .map(|(i, device)| subscription(&origin, i, device))
            .collect();
        std::fs::write(&files.subscriptions, serde_json::to_vec(&subscriptions)?)?;
        std::fs::write(&files.payload, &payload)?;
        std::fs::write(&files.vapid_key, &vapid_private)?;
    }

    out!(
        "fanout: N = {total} subscriptions, {rounds} alternating round(s) per case, payload {} B, \
         {concurrency} pushes in flight, {cores} core(s), load average {}",
        payload.len(),
        load_average()
    );
    match &python {
        Some(python) => out!(
            "pywebpush {} on the first {peer_n} subscriptions per round, extrapolated to N",
            pywebpush_version(python)
        ),
        None if !quick => out!(
            "pywebpush: not run (set AISOC_BENCH_PYWEBPUSH to a Python with pywebpush installed)"
        ),
        None => {}
    }

    // One unmeasured fan-out warms the connection, the pool and the mock.
    mock.reset();
    fan_out(&manager, &target, &message, &options, total).await?;
    mock.check_round(total, true)?;
    check_samples(&mock, &devices, &payload, &vapid_public, &origin)?;

    let mut floor_single = Vec::new();
    let mut floor_parallel = Vec::new();
    let mut no_io = Vec::new();
    let records = manager.store().for_target(&target).await?;
    let mut ours = Vec::new();
    let mut ours_cpu = Vec::new();
    let mut before = Vec::new();
    let mut peer = Vec::new();
    let mut samples = 0;
    if only_ours {
        for round in 1..=rounds {
            mock.reset();
            let (took, cpu) = fan_out(&manager, &target, &message, &options, total).await?;
            mock.check_round(total, true)?;
            samples += check_samples(&mock, &devices, &payload, &vapid_public, &origin)?;
            out!(
                "round {round}: fan-out {:.1} ms, {}",
                ms(took),
                cpu_text(cpu, total)
            );
            ours.push(took);
            ours_cpu.extend(cpu);
        }
        let (median, best) = summary(ours);
        out!(
            "ours only: fan-out median {:.1} ms, best {:.1} ms; median {}; {samples} sampled \
             bodies decrypted and their VAPID JWTs verified; load average {}",
            ms(median),
            ms(best),
            median_cpu_text(ours_cpu, total),
            load_average()
        );
        return Ok(());
    }
    for round in 1..=rounds {
        let single = floor_one_core(&payload, &devices)?;
        floor_single.push(single);
        let parallel = floor_all_cores(&payload, &devices, cores)?;
        floor_parallel.push(parallel);
        let requests = requests_all_cores(manager.sender(), &records, &payload, &options, cores)?;
        no_io.push(requests);

        mock.reset();
        let (took, cpu) = fan_out(&manager, &target, &message, &options, total).await?;
        mock.check_round(total, true)?;
        samples += check_samples(&mock, &devices, &payload, &vapid_public, &origin)?;
        ours.push(took);
        ours_cpu.extend(cpu);
        mock.reset();
        let single_task = one_task(&manager, &records, &payload, &options, concurrency).await?;
        mock.check_round(total, true)?;
        check_samples(&mock, &devices, &payload, &vapid_public, &origin)?;
        before.push(single_task);
        let mut line = format!(
            "round {round}: floor 1 core {:.1} ms, /{cores} = {:.1} ms; floor on {cores} threads {:.1} ms; \
             requests without I/O on {cores} threads {:.1} ms; fan-out {:.1} ms ({:.2}x floor/cores, \
             {}); one task {:.1} ms",
            ms(single),
            ms(single) / cores as f64,
            ms(parallel),
            ms(requests),
            ms(took),
            ms(took) / (ms(single) / cores as f64),
            cpu_text(cpu, total),
            ms(single_task)
        );
        if let Some(python) = &python {
            mock.reset();
            let took = pywebpush(python, &files, peer_n).await?;
            mock.check_round(peer_n, false)?;
            samples += check_samples(&mock, &devices, &payload, &vapid_public, &origin)?;
            peer.push(took.mul_f64(total as f64 / peer_n as f64));
            line.push_str(&format!(
                "; pywebpush {:.0} ms for {peer_n} ({:.0} ms extrapolated to {total})",
                ms(took),
                ms(took) * total as f64 / peer_n as f64
            ));
        }
        out!("{line}");
    }
    out!(
        "every round: each device reached exactly once, every request a valid Web Push request; \
         {samples} sampled bodies decrypted to the payload and their VAPID JWTs verified"
    );
    if quick {
        return Ok(());
    }

    let (single_median, single_best) = summary(floor_single);
    let floor_median = single_median / cores as u32;
    let (parallel_median, parallel_best) = summary(floor_parallel);
    let (ours_median, ours_best) = summary(ours);
    let per_message = |d: Duration| d.as_secs_f64() * 1e6 / total as f64;
    // A case measured against the floor divided by the cores.
    let row = |label: &str, median: Duration, best: Duration| {
        out!(
            "| {label} | {:.1} ms | {:.1} ms | {:.1} | {:.2} |",
            ms(median),
            ms(best),
            per_message(median),
            ms(median) / ms(floor_median)
        );
    };
    out!();
    out!(
        "| case (N = {total}) | median | best | µs per message (median) | ratio to floor/cores (median) |"
    );
    out!("|---|---|---|---|---|");
    out!(
        "| floor, 1 core | {:.1} ms | {:.1} ms | {:.1} | {:.2} |",
        ms(single_median),
        ms(single_best),
        per_message(single_median),
        cores as f64
    );
    out!(
        "| floor / {cores} cores (the goal's floor) | {:.1} ms | {:.1} ms | {:.1} | 1.00 |",
        ms(floor_median),
        ms(single_best) / cores as f64,
        per_message(floor_median),
    );
    row(
        &format!("floor on {cores} threads (measured)"),
        parallel_median,
        parallel_best,
    );
    let (no_io_median, no_io_best) = summary(no_io);
    row(
        &format!("ours without I/O: build_request on {cores} threads"),
        no_io_median,
        no_io_best,
    );
    row(
        "ours: PushManager fan-out, HTTP/2 + TLS",
        ours_median,
        ours_best,
    );
    let (before_median, before_best) = summary(before);
    row(
        "the same sends polled from one task (the fan-out before)",
        before_median,
        before_best,
    );
    if !peer.is_empty() {
        let (peer_median, peer_best) = summary(peer);
        out!(
            "| pywebpush in a loop, HTTP/1.1 + TLS ({peer_n}, extrapolated) | {:.0} ms | {:.0} ms | {:.1} | {:.2} |",
            ms(peer_median),
            ms(peer_best),
            per_message(peer_median),
            ms(peer_median) / ms(floor_median)
        );
        out!();
        out!(
            "ours against pywebpush (median): {:.1}x faster",
            ms(peer_median) / ms(ours_median)
        );
    }
    out!(
        "ours against the floor on {cores} threads (median): {:.2}x; the fan-out's CPU time \
         (every thread, the sender's and the mock's; median): {}, against the floor's {:.1} µs \
         per message on one core; load average {}",
        ms(ours_median) / ms(parallel_median),
        median_cpu_text(ours_cpu, total),
        per_message(single_median),
        load_average()
    );
    Ok(())
}

fn measure(tls_dir: PathBuf) -> Result<(), BenchError> {
    let total = if QUICK.load(Ordering::SeqCst) {
        200
    } else {
        aisoc_notify_benches::env_count("AISOC_BENCH_FANOUT_N", 10_000).min(10_000)
    };
    let mock = Arc::new(MockPushService::new(total));
    let addr = start_mock(Arc::clone(&mock), server_tls(&tls_dir)?)?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = client.block_on(run(addr, mock, tls_dir));
    client.shutdown_background();
    result
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this without it, as a
    // smoke test: one short round, so the whole path is still checked end to end.
    if !std::env::args().any(|a| a == "--bench") {
        QUICK.store(true, Ordering::SeqCst);
    }
    let code = match std::env::var_os(TLS_DIR_ENV) {
        None => run_with_trusted_ca().unwrap_or_else(|error| {
            eprintln!("fanout bench: could not start with a trusted CA: {error}");
            1
        }),
        Some(dir) => match measure(PathBuf::from(dir)) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("fanout bench failed: {error}");
                1
            }
        },
    };
    std::process::exit(code);
}
