//! Outbox throughput through a real JetStream (127.0.0.1:4222) to a local HTTP channel, against
//! the floor of raw JetStream publish + consume of the same payloads, in one run.
//!
//! A `harness = false` bench with its own `main`: one measurement is a multi-second pipeline
//! (producer, stream, consumers, HTTP receiver all running at once), which criterion's
//! per-iteration model does not fit. Each round builds a fresh stream (unique name, deleted
//! after), so no round sees another's messages or consumer state. The cases run in alternating
//! rounds so a busy machine slows them alike; the table shows the median and the best round of
//! each.
//!
//! - **floor**: raw `async-nats` JetStream: N payloads of the exact bytes the outbox queues
//!   (a serialized `Queued`), published with up to [`WINDOW`] acknowledgements outstanding,
//!   while a pull consumer fetches them in batches and acknowledges each; timed until all N
//!   are consumed.
//! - **floor with msg ids + confirmed acks**: the same with a `Nats-Msg-Id` on each publish and
//!   each acknowledgement confirmed by the server, concurrently per batch and the way the
//!   worker confirms (a request on the client's shared reply subscription): the JetStream work
//!   the outbox's durability contract needs, without the outbox.
//! - **webhook channel alone**: the same notifications dispatched straight through the webhook
//!   channel, [`DEFAULT_CONCURRENCY`] at once, no outbox: what HTTP costs by itself here.
//! - **outbox, 1 worker / 2 workers**: `NatsOutbox::enqueue` of N notifications with up to
//!   [`WINDOW`] outstanding, while one or two `NatsOutboxWorker::run` loops (the second on its
//!   own connection, as a second replica would be) deliver each through the signed webhook
//!   channel to a bare axum receiver answering 200; timed until the receiver has seen all N
//!   distinct idempotency keys. A key seen twice is counted and reported as a duplicate.
//! - **outbox, in-process channel**: the same outbox with a channel that records the key in
//!   process: the outbox's own cost.
//!
//! Settings by environment: `AISOC_BENCH_OUTBOX_N` (notifications per round, default 5,000),
//! `AISOC_BENCH_OUTBOX_ROUNDS` (rounds per case, default 3), `NATS_URL` (default
//! `127.0.0.1:4222`), `AISOC_BENCH_OUTBOX_ONLY` (run one case alone, for a profiler: `floor`,
//! `floor-guarantees`, `webhook`, `webhook-2`, `in-process` or `webhook-alone`; no ratios are
//! printed then).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::{
    Delivered, DeliveryClient, DeliveryConfig, DestinationPolicy, EventType, Notification,
    Notifier, NotifyError, Severity,
};
use aisoc_notify_outbox::envelope::Queued;
use aisoc_notify_outbox::nats::{NatsOutbox, NatsOutboxConfig};
use aisoc_notify_outbox::{DEFAULT_CONCURRENCY, Outbox};
use aisoc_notify_webhook::WebhookNotifier;
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use tokio::sync::Notify;

/// Publishes (and enqueues) in flight at once, awaiting their acknowledgements.
const WINDOW: usize = 256;
/// Messages per fetch of the floor's consumer.
const FETCH: usize = 256;
/// A round that has not finished by then is reported as failed, not waited for.
const ROUND_LIMIT: Duration = Duration::from_secs(60);

/// A line of the report on stdout (where `cargo bench` shows it).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Set when run without `--bench` (by `cargo test`): a short smoke run.
static QUICK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

type BenchError = Box<dyn std::error::Error + Send + Sync>;

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{nanos:08x}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn notification(i: usize) -> Notification {
    let mut n = Notification::new(
        "acme",
        EventType::P0Alert,
        Severity::High,
        format!("Suspicious sign-in burst #{i}"),
    );
    n.body = "42 failed sign-ins for admin@acme.example from 3 countries in 5 minutes; \
              the account was locked and the sessions revoked."
        .into();
    n
}

/// The bare HTTP receiver: counts each `Idempotency-Key` it sees, answers 200.
#[derive(Default)]
struct Receiver {
    seen: Mutex<HashMap<String, u32>>,
    distinct: AtomicUsize,
    target: AtomicUsize,
    done: Notify,
}

impl Receiver {
    fn reset(&self, target: usize) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.distinct.store(0, Ordering::SeqCst);
        self.target.store(target, Ordering::SeqCst);
    }

    fn record(&self, key: &str) {
        let first = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let count = seen.entry(key.to_owned()).or_default();
            *count += 1;
            *count == 1
        };
        if first
            && self.distinct.fetch_add(1, Ordering::SeqCst) + 1
                == self.target.load(Ordering::SeqCst)
        {
            self.done.notify_one();
        }
    }

    fn duplicates(&self) -> u32 {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.values().map(|c| c - 1).sum()
    }
}

async fn serve_receiver(receiver: Arc<Receiver>) -> Result<std::net::SocketAddr, BenchError> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let receiver = Arc::clone(&receiver);
            async move {
                match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
                    Some(key) => {
                        receiver.record(key);
                        axum::http::StatusCode::OK
                    }
                    None => axum::http::StatusCode::BAD_REQUEST,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("receiver stopped: {error}");
        }
    });
    Ok(addr)
}

/// A channel inside the process that records each idempotency key in the receiver: the outbox
/// on its own, without HTTP, to tell the outbox's cost from the channel's.
struct InProcess(Arc<Receiver>);

#[aisoc_notify_core::async_trait]
impl Notifier for InProcess {
    fn channel_type(&self) -> &str {
        "in-process"
    }

    async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        self.0.record(n.dedupe_key.as_deref().unwrap_or_default());
        Ok(Delivered::default())
    }
}

fn in_process_router(receiver: &Arc<Receiver>) -> Result<Arc<NotificationRouter>, BenchError> {
    Ok(Arc::new(
        NotificationRouter::builder()
            .channel(Channel::new(
                "in-process",
                Arc::new(InProcess(Arc::clone(receiver))),
            ))
            .build()?,
    ))
}

fn router(addr: std::net::SocketAddr) -> Result<Arc<NotificationRouter>, BenchError> {
    let delivery = DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1")?,
        ..DeliveryConfig::default()
    })?;
    let webhook = WebhookNotifier::builder()
        .url(format!("http://{addr}/hook"))
        .secret("bench-signing-secret")
        .delivery(delivery)
        .build()?;
    Ok(Arc::new(
        NotificationRouter::builder()
            .channel(Channel::new("webhook", Arc::new(webhook)))
            .build()?,
    ))
}

/// Raw JetStream publish + pull-consume of `payloads`; the time until all are consumed.
/// With `guarantees`, each publish carries a `Nats-Msg-Id` (the stream deduplicates on it, as
/// the outbox's enqueue does) and each acknowledgement waits for the server's confirmation
/// (`double_ack`, as the outbox worker does): the same JetStream work the outbox's contract
/// needs, without the outbox.
async fn floor(
    client: &async_nats::Client,
    payloads: &[Vec<u8>],
    guarantees: bool,
) -> Result<Duration, BenchError> {
    let js = jetstream::new(client.clone());
    let name = unique("AISOC_BENCH_FLOOR");
    let subject = format!("aisoc.bench.{name}");
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await?;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("floor".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let total = payloads.len();
    let start = Instant::now();
    let consume = async {
        let mut consumed = 0;
        while consumed < total {
            let mut batch = consumer
                .fetch()
                .max_messages(FETCH.min(total - consumed))
                .expires(Duration::from_secs(5))
                .messages()
                .await?;
            let mut confirmations = Vec::new();
            while let Some(message) = batch.next().await {
                let message = message?;
                if guarantees {
                    // Confirmed concurrently, as the outbox's concurrent deliveries do, and
                    // the same way: a request on the client's shared reply subscription.
                    let client = client.clone();
                    confirmations.push(async move {
                        let reply = message.reply.clone().ok_or("no reply subject")?;
                        let ack = async_nats::Request::new()
                            .payload(jetstream::AckKind::Ack.into())
                            .timeout(Some(Duration::from_secs(5)));
                        client.send_request(reply, ack).await?;
                        Ok::<_, BenchError>(())
                    });
                } else {
                    message.ack().await?;
                }
                consumed += 1;
            }
            futures::future::try_join_all(confirmations).await?;
        }
        client.flush().await?;
        Ok::<_, BenchError>(())
    };
    let publish = async {
        let mut acks = futures::stream::iter(payloads.iter().cloned().enumerate())
            .map(|(i, payload)| {
                let js = js.clone();
                let subject = subject.clone();
                async move {
                    if guarantees {
                        let mut headers = async_nats::HeaderMap::new();
                        headers.insert("Nats-Msg-Id", format!("floor-{i}").as_str());
                        js.publish_with_headers(subject, headers, payload.into())
                            .await?
                            .await?;
                    } else {
                        js.publish(subject, payload.into()).await?.await?;
                    }
                    Ok::<_, BenchError>(())
                }
            })
            .buffer_unordered(WINDOW);
        while let Some(ack) = acks.next().await {
            ack?;
        }
        Ok::<_, BenchError>(())
    };
    let result =
        tokio::time::timeout(ROUND_LIMIT, futures::future::try_join(publish, consume)).await;
    let elapsed = start.elapsed();
    let _ = js.delete_stream(&name).await;
    result.map_err(|_| "floor round timed out")??;
    Ok(elapsed)
}

/// `workers` outbox workers (each on its own connection) delivering `total` enqueued
/// notifications to the receiver; the time until the receiver has seen them all.
async fn outbox(
    workers: usize,
    total: usize,
    receiver: &Arc<Receiver>,
    router: &Arc<NotificationRouter>,
) -> Result<(Duration, u32), BenchError> {
    let config = NatsOutboxConfig::named(&unique("AISOC_BENCH_OUTBOX"));
    receiver.reset(total);
    let producer = NatsOutbox::new(connect().await?, config.clone()).await?;
    let mut running = Vec::with_capacity(workers);
    for _ in 0..workers {
        let replica = NatsOutbox::new(connect().await?, config.clone()).await?;
        let worker = replica.worker(Arc::clone(router)).await?;
        running.push(tokio::spawn(async move { worker.run().await }));
    }
    let notifications: Vec<Notification> = (0..total).map(notification).collect();
    let done = receiver.done.notified();
    tokio::pin!(done);
    done.as_mut().enable();
    let start = Instant::now();
    let enqueue = async {
        let mut acks = futures::stream::iter(&notifications)
            .map(|n| producer.enqueue(n))
            .buffer_unordered(WINDOW);
        while let Some(ack) = acks.next().await {
            ack?;
        }
        Ok::<_, BenchError>(())
    };
    let delivered = async {
        done.await;
        Ok::<_, BenchError>(())
    };
    let result =
        tokio::time::timeout(ROUND_LIMIT, futures::future::try_join(enqueue, delivered)).await;
    let elapsed = start.elapsed();
    // Let a late duplicate, if any, reach the receiver before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let duplicates = receiver.duplicates();
    for worker in &running {
        worker.abort();
    }
    let js = jetstream::new(connect().await?);
    let _ = js.delete_stream(&config.stream).await;
    let _ = js.delete_stream(&config.dead_stream).await;
    result.map_err(|_| {
        format!(
            "outbox round ({workers} worker(s)) timed out with {} of {total} delivered",
            receiver.distinct.load(Ordering::SeqCst)
        )
    })??;
    Ok((elapsed, duplicates))
}

/// The channel on its own, no outbox: the same notifications (each with its idempotency key)
/// dispatched straight through `router`, up to [`DEFAULT_CONCURRENCY`] at once (one worker's
/// default bound); the time until all are delivered. What the channel costs by itself.
async fn channel_alone(
    total: usize,
    receiver: &Arc<Receiver>,
    router: &Arc<NotificationRouter>,
) -> Result<Duration, BenchError> {
    receiver.reset(total);
    let notifications: Vec<Notification> = (0..total)
        .map(|i| Queued::new(notification(i)).notification)
        .collect();
    // Taken here so the receiver's "all seen" signal is consumed by this case, not left
    // for the next one.
    let done = receiver.done.notified();
    tokio::pin!(done);
    done.as_mut().enable();
    let start = Instant::now();
    let mut reports = futures::stream::iter(&notifications)
        .map(|n| router.dispatch(n))
        .buffer_unordered(DEFAULT_CONCURRENCY);
    while let Some(report) = reports.next().await {
        if !report.all_delivered() {
            return Err("the channel alone failed a delivery".into());
        }
    }
    let elapsed = start.elapsed();
    let seen = receiver.distinct.load(Ordering::SeqCst);
    if seen == total {
        done.await;
    }
    if seen != total {
        return Err(format!("the channel alone delivered {seen} of {total}").into());
    }
    Ok(elapsed)
}

async fn connect() -> Result<async_nats::Client, BenchError> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into());
    Ok(async_nats::connect(url).await?)
}

fn rate(total: usize, took: Duration) -> f64 {
    total as f64 / took.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// Median and best of a case's rounds.
fn summary(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort_unstable();
    (times[times.len() / 2], times[0])
}

async fn run() -> Result<(), BenchError> {
    let (total, rounds) = if QUICK.load(Ordering::SeqCst) {
        (200, 1)
    } else {
        (
            aisoc_notify_benches::env_count("AISOC_BENCH_OUTBOX_N", 5_000),
            aisoc_notify_benches::env_count("AISOC_BENCH_OUTBOX_ROUNDS", 3),
        )
    };
    let client = connect().await?;
    let receiver = Arc::new(Receiver::default());
    let addr = serve_receiver(Arc::clone(&receiver)).await?;
    let router = router(addr)?;
    let in_process = in_process_router(&receiver)?;
    let payloads: Vec<Vec<u8>> = (0..total)
        .map(|i| serde_json::to_vec(&Queued::new(notification(i))))
        .collect::<Result<_, _>>()?;
    let mean_bytes = payloads.iter().map(Vec::len).sum::<usize>() / total;
    out!(
        "outbox: N = {total}, {rounds} alternating round(s) per case, payload {mean_bytes} B, window {WINDOW}"
    );

    // One unmeasured round of each warms connections, the HTTP pool and the server.
    floor(&client, &payloads[..total.min(500)], false).await?;
    outbox(1, total.min(500), &receiver, &router).await?;

    if let Ok(only) = std::env::var("AISOC_BENCH_OUTBOX_ONLY") {
        for round in 1..=rounds {
            let (took, duplicates) = match only.as_str() {
                "floor" => (floor(&client, &payloads, false).await?, 0),
                "floor-guarantees" => (floor(&client, &payloads, true).await?, 0),
                "webhook" => outbox(1, total, &receiver, &router).await?,
                "webhook-2" => outbox(2, total, &receiver, &router).await?,
                "in-process" => outbox(1, total, &receiver, &in_process).await?,
                "webhook-alone" => (channel_alone(total, &receiver, &router).await?, 0),
                other => return Err(format!("AISOC_BENCH_OUTBOX_ONLY: no case {other:?}").into()),
            };
            if duplicates > 0 {
                return Err(format!("{duplicates} notification(s) delivered twice").into());
            }
            out!("round {round}: {only} {:.0}/s", rate(total, took));
        }
        return Ok(());
    }

    let mut floors = Vec::new();
    let mut guaranteed = Vec::new();
    let mut alone = Vec::new();
    let cases: [(&str, usize, &Arc<NotificationRouter>); 3] = [
        ("outbox, 1 worker, webhook to local receiver", 1, &router),
        ("outbox, 2 workers, webhook to local receiver", 2, &router),
        (
            "outbox, 1 worker, in-process channel (no HTTP)",
            1,
            &in_process,
        ),
    ];
    let mut ours: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut duplicates = 0;
    for round in 1..=rounds {
        let f = floor(&client, &payloads, false).await?;
        floors.push(f);
        let g = floor(&client, &payloads, true).await?;
        guaranteed.push(g);
        let c = channel_alone(total, &receiver, &router).await?;
        alone.push(c);
        let mut line = format!(
            "round {round}: floor {:.0}/s; floor with msg ids + confirmed acks {:.0}/s; \
             webhook channel alone {:.0}/s",
            rate(total, f),
            rate(total, g),
            rate(total, c)
        );
        for (i, (name, workers, router)) in cases.iter().enumerate() {
            let (took, dup) = outbox(*workers, total, &receiver, router).await?;
            duplicates += dup;
            ours[i].push(took);
            line.push_str(&format!("; {name}: {:.0}/s", rate(total, took)));
        }
        out!("{line}");
    }

    let (floor_median, floor_best) = summary(floors);
    out!();
    out!("| case | median | notifications/s (median) | best round /s | ratio to floor (median) |");
    out!("|---|---|---|---|---|");
    out!(
        "| floor: raw JetStream publish + consume | {:.2} s | {:.0} | {:.0} | 1.00 |",
        floor_median.as_secs_f64(),
        rate(total, floor_median),
        rate(total, floor_best)
    );
    let (median, best) = summary(guaranteed);
    out!(
        "| floor with msg ids + confirmed acks (the outbox's JetStream work) | {:.2} s | {:.0} | {:.0} | {:.2} |",
        median.as_secs_f64(),
        rate(total, median),
        rate(total, best),
        rate(total, median) / rate(total, floor_median)
    );
    let (median, best) = summary(alone);
    out!(
        "| webhook channel alone, no outbox ({DEFAULT_CONCURRENCY} at once) | {:.2} s | {:.0} | {:.0} | {:.2} |",
        median.as_secs_f64(),
        rate(total, median),
        rate(total, best),
        rate(total, median) / rate(total, floor_median)
    );
    for ((name, _, _), times) in cases.iter().zip(ours) {
        let (median, best) = summary(times);
        out!(
            "| {name} | {:.2} s | {:.0} | {:.0} | {:.2} |",
            median.as_secs_f64(),
            rate(total, median),
            rate(total, best),
            rate(total, median) / rate(total, floor_median)
        );
    }
    out!();
    out!("duplicate deliveries across all rounds: {duplicates}");
    if duplicates > 0 {
        return Err(format!("{duplicates} notification(s) delivered twice").into());
    }
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this without it, as a
    // smoke test: one short round, so the whole pipeline is still checked end to end.
    if !std::env::args().any(|a| a == "--bench") {
        QUICK.store(true, Ordering::SeqCst);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("outbox bench: no runtime: {error}");
            std::process::exit(1);
        }
    };
    if let Err(error) = runtime.block_on(run()) {
        eprintln!("outbox bench failed: {error}");
        std::process::exit(1);
    }
}
