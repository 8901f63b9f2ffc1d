//! Ingest under faults: every event a sender saw acknowledged is in the `AISOC_INBOX` stream,
//! and none is there twice, whatever happened to the broker and the gateway meanwhile.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::HarnessError;
use crate::gateway::{ADMIN_TOKEN, Gateway};
use crate::report::Row;
use crate::services::{PrivateDatabase, PrivateNats, PrivateRedis};

/// The header senders put their idempotency key in.
const KEY_HEADER: &str = "X-AiSOC-Idempotency-Key";
/// How long one sender keeps retrying one event before giving up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(80);

/// The private backends an ingest scenario runs on.
struct Backends {
    nats: PrivateNats,
    redis: PrivateRedis,
    database: PrivateDatabase,
}

impl Backends {
    async fn start() -> Result<Self, HarnessError> {
        Ok(Self {
            nats: PrivateNats::start().await?,
            redis: PrivateRedis::start().await?,
            database: PrivateDatabase::create().await?,
        })
    }

    fn gateway_env(&self, framing: Framing) -> Vec<(&'static str, String)> {
        vec![
            ("AISOC_INBOX_NATS_FRAMING", framing.name().to_owned()),
            ("NATS_URL", self.nats.url()),
            ("REDIS_URL", self.redis.url()),
            ("DATABASE_URL", self.database.url()),
            // A crashed request's key is free again after 5 s instead of 60, to keep the run
            // short; the promise under test does not depend on the length.
            ("AISOC_INBOX_IDEMPOTENCY_LEASE_SECONDS", "5".to_owned()),
        ]
    }

    async fn finish(self) -> Result<(), HarnessError> {
        self.database.drop_database().await
    }
}

/// Mints an inbox token for the generic JSON template.
async fn mint(http: &reqwest::Client, gateway: &Gateway) -> Result<String, HarnessError> {
    let minted: Value = http
        .post(gateway.url("/v1/admin/inbox/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"tenant_id": "chaos", "template": "generic-json"}))
        .send()
        .await?
        .json()
        .await?;
    minted["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::new(format!("no token minted: {minted}")))
}

/// What the senders met on the way: evidence that the faults were felt.
#[derive(Debug, Default)]
struct Refusals {
    /// Answers other than 2xx (409 in progress, 503 unavailable…).
    statuses: AtomicUsize,
    /// Requests that got no answer (connection refused or reset, timeout).
    no_answer: AtomicUsize,
}

impl Refusals {
    fn report(&self, scenario: &str) {
        println!(
            "{scenario}: senders met {} non-2xx answers and {} requests without an answer",
            self.statuses.load(Ordering::Relaxed),
            self.no_answer.load(Ordering::Relaxed)
        );
    }
}

/// How the gateway lays events out in `AISOC_INBOX` (`AISOC_INBOX_NATS_FRAMING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A message per event (the default).
    PerEvent,
    /// A message per request: its events one per line, the count in `Aisoc-Events`.
    PerRequest,
}

impl Framing {
    fn name(self) -> &'static str {
        match self {
            Framing::PerEvent => "event",
            Framing::PerRequest => "request",
        }
    }
}

/// One event's JSON, as a sender posts it.
fn event_json(title: &str) -> String {
    json!({"title": title, "severity": "high"}).to_string()
}

/// Posts one event until the gateway answers 2xx (honouring 409/429/503 `Retry-After`), or
/// gives up; `true` when acknowledged.
async fn send_until_acknowledged(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    title: &str,
    refusals: &Refusals,
) -> bool {
    let body = event_json(title);
    post_until_acknowledged(http, url, key, "application/json", &body, refusals).await
}

/// Posts `body` until the gateway answers 2xx, or gives up; `true` when acknowledged.
async fn post_until_acknowledged(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    content_type: &str,
    body: &str,
    refusals: &Refusals,
) -> bool {
    let started = Instant::now();
    while started.elapsed() < GIVE_UP_AFTER {
        let answer = http
            .post(url)
            .header(KEY_HEADER, key)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .timeout(Duration::from_secs(3))
            .body(body.to_owned())
            .send()
            .await;
        let wait = match answer {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => {
                refusals.statuses.fetch_add(1, Ordering::Relaxed);
                response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(Duration::from_millis(200), |s| {
                        Duration::from_secs(s.min(5))
                    })
            }
            Err(_) => {
                refusals.no_answer.fetch_add(1, Ordering::Relaxed);
                Duration::from_millis(200)
            }
        };
        tokio::time::sleep(wait).await;
    }
    false
}

/// How many times each title is in the inbox stream, and how many of its messages hold more
/// than one event.
async fn stored(nats: &PrivateNats) -> Result<(HashMap<String, usize>, usize), HarnessError> {
    let client = nats.client().await?;
    let js = async_nats::jetstream::new(client);
    let mut stream = js
        .get_stream("AISOC_INBOX")
        .await
        .map_err(|e| HarnessError::new(format!("the AISOC_INBOX stream: {e}")))?;
    let state = stream
        .info()
        .await
        .map_err(|e| HarnessError::new(format!("stream info: {e}")))?
        .state
        .clone();
    let mut titles = HashMap::new();
    let mut framed = 0;
    if state.messages == 0 {
        return Ok((titles, framed));
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let events = message_events(&message)?;
        framed += usize::from(events.len() > 1);
        for event in events {
            let event: Value = serde_json::from_slice(event).unwrap_or_default();
            if let Some(title) = event["finding_info"]["title"].as_str() {
                *titles.entry(title.to_owned()).or_default() += 1;
            }
        }
    }
    Ok((titles, framed))
}

/// The events of a stored message, read from the wire format the README gives (not through
/// the inbox's own reader): the body, or with an `Aisoc-Events: n` header its n lines.
fn message_events(
    message: &async_nats::jetstream::message::StreamMessage,
) -> Result<Vec<&[u8]>, HarnessError> {
    let Some(count) = message.headers.get("Aisoc-Events") else {
        return Ok(vec![&message.payload[..]]);
    };
    let lines: Vec<&[u8]> = message.payload.split(|&b| b == b'\n').collect();
    if count.as_str().parse::<usize>().ok() != Some(lines.len()) {
        return Err(HarnessError::new(format!(
            "message {} says Aisoc-Events: {} and has {} lines",
            message.sequence,
            count.as_str(),
            lines.len()
        )));
    }
    Ok(lines)
}

fn tally(
    scenario: &'static str,
    sent: usize,
    acknowledged: &HashSet<String>,
    stored: &HashMap<String, usize>,
    wall: Duration,
) -> Row {
    Row {
        scenario,
        sent,
        acknowledged: acknowledged.len(),
        stored: stored.len(),
        lost: acknowledged
            .iter()
            .filter(|title| !stored.contains_key(*title))
            .count(),
        duplicated: stored.values().map(|n| n.saturating_sub(1)).sum(),
        exactly_once: true,
        wall,
    }
}

/// The crash window: the broker frozen, then killed, while a request holding a key is in
/// flight; the gateway killed -9; both restarted; the sender retries with the same key.
pub(crate) async fn crash_window() -> Result<Row, HarnessError> {
    let started = Instant::now();
    let mut backends = Backends::start().await?;
    let mut gateway = Gateway::start(&backends.gateway_env(Framing::PerEvent)).await?;
    let http = reqwest::Client::new();
    let token = mint(&http, &gateway).await?;
    let url = gateway.url(&format!("/v1/inbox/{token}"));
    let title = "crash-window event".to_owned();

    backends.nats.freeze().await?;
    let in_flight = {
        let http = http.clone();
        let url = url.clone();
        let title = title.clone();
        tokio::spawn(async move {
            http.post(&url)
                .header(KEY_HEADER, "crash-window-key")
                .timeout(Duration::from_secs(5))
                .json(&json!({"title": title, "severity": "critical"}))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    backends.nats.kill().await?;
    gateway.kill9().await?;
    let first_acknowledged = in_flight.await.unwrap_or(false);
    backends.nats.restart().await?;
    gateway.restart().await?;

    let refusals = Refusals::default();
    let mut acknowledged = HashSet::new();
    if send_until_acknowledged(&http, &url, "crash-window-key", &title, &refusals).await
        || first_acknowledged
    {
        acknowledged.insert(title);
    }
    println!("ingest: crash window: the in-flight request was acknowledged: {first_acknowledged}");
    refusals.report("ingest: crash window");
    let (stored, _) = stored(&backends.nats).await?;
    gateway.kill9().await?;
    backends.finish().await?;
    Ok(tally(
        "ingest: crash window",
        1,
        &acknowledged,
        &stored,
        started.elapsed(),
    ))
}

/// Load with faults: concurrent senders retrying with the same key until they get a 2xx,
/// while NATS is restarted and the gateway killed -9 and restarted. Each request carries
/// `lines` events (one JSON object, or NDJSON), stored under `framing`.
pub(crate) async fn load_with_faults(
    scenario: &'static str,
    senders: usize,
    requests_each: usize,
    lines: usize,
    framing: Framing,
) -> Result<Row, HarnessError> {
    let started = Instant::now();
    let mut backends = Backends::start().await?;
    let mut gateway = Gateway::start(&backends.gateway_env(framing)).await?;
    let http = reqwest::Client::new();
    let token = mint(&http, &gateway).await?;
    let url = gateway.url(&format!("/v1/inbox/{token}"));
    let progress = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(Refusals::default());

    let load = join_all((0..senders).map(|sender| {
        let http = http.clone();
        let url = url.clone();
        let progress = Arc::clone(&progress);
        let refusals = Arc::clone(&refusals);
        async move {
            let mut acknowledged = Vec::new();
            for request in 0..requests_each {
                let titles: Vec<String> = (0..lines)
                    .map(|line| format!("load {sender}-{request}-{line}"))
                    .collect();
                let key = format!("load-key-{sender}-{request}");
                let sent = if lines == 1 {
                    send_until_acknowledged(&http, &url, &key, &titles[0], &refusals).await
                } else {
                    let body: String = titles
                        .iter()
                        .map(|title| event_json(title) + "\n")
                        .collect();
                    let ndjson = "application/x-ndjson";
                    post_until_acknowledged(&http, &url, &key, ndjson, &body, &refusals).await
                };
                if sent {
                    acknowledged.extend(titles);
                }
                progress.fetch_add(1, Ordering::Relaxed);
            }
            acknowledged
        }
    }));
    let total = senders * requests_each;
    let faults = async {
        let until = |share: usize| {
            let progress = Arc::clone(&progress);
            async move {
                while progress.load(Ordering::Relaxed) < total * share / 4 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        until(1).await;
        backends.nats.restart().await?;
        until(2).await;
        gateway.restart().await?;
        until(3).await;
        backends.nats.restart().await?;
        gateway.restart().await?;
        Ok::<(), HarnessError>(())
    };
    let (acknowledged, faults) = tokio::join!(load, faults);
    faults?;
    let acknowledged: HashSet<String> = acknowledged.into_iter().flatten().collect();
    refusals.report(scenario);
    let (stored, framed) = stored(&backends.nats).await?;
    println!("{scenario}: {framed} stored messages hold more than one event");
    if (framing == Framing::PerRequest) != (framed > 0) {
        return Err(HarnessError::new(format!(
            "{scenario}: {framed} messages hold more than one event under the framing `{}`",
            framing.name()
        )));
    }
    gateway.kill9().await?;
    backends.finish().await?;
    Ok(tally(
        scenario,
        total * lines,
        &acknowledged,
        &stored,
        started.elapsed(),
    ))
}
