//! The slow-destination case of issue #14, through the real binaries: two `aisoc-gateway`
//! processes on one NATS JetStream (an outbox stream of this test's own), a webhook destination
//! that answers after one second, 150 notifications queued through
//! `POST /v1/notifications?delivery=queued`.
//!
//! It must deliver all 150, none twice (distinct `Idempotency-Key`s and titles at the
//! destination), within 1.2x of the ideal time for the workers' concurrency:
//!
//! ```text
//! ideal = ceil(150 / (replicas × concurrency)) × 1 s + 1 s overhead
//!       = ceil(150 / (2 × 32)) × 1 s + 1 s = 4 s;   limit = 1.2 × ideal = 4.8 s
//! ```
//!
//! (the overhead covers queuing 151 notifications over HTTP and the fetch round trips), timed
//! from the first enqueue until the outbox stream is empty (every delivery acknowledged); and a
//! notification for another, fast channel queued behind the 150 is not held back until the
//! slow ones finish.
//!
//! The measured times are printed (`cargo test --test outbox_replicas -- --nocapture`).

#![allow(
    clippy::print_stdout,
    reason = "the measured wall time is this test's report"
)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod support;
use support::Gateway;

const QUEUED: usize = 150;
const REPLICAS: usize = 2;
const CONCURRENCY: usize = 32;
const DESTINATION_DELAY: Duration = Duration::from_secs(1);
const OVERHEAD: Duration = Duration::from_secs(1);
const ADMIN: &str = "replica-admin";

/// One request as the destination saw it.
#[derive(Debug, Clone)]
struct Arrival {
    at: Instant,
    path: String,
    key: String,
    title: String,
}

/// Records every request when it arrives, then answers after `delay`.
#[derive(Clone)]
struct Recorder {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    delay: Duration,
}

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.arrivals.lock().unwrap().push(Arrival {
            at: Instant::now(),
            path: request.url.path().to_owned(),
            key: request
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            title: body["title"].as_str().unwrap_or_default().to_owned(),
        });
        ResponseTemplate::new(200).set_delay(self.delay)
    }
}

/// A gateway whose stdout (the console channel's lines) is drained so it never blocks.
struct Replica {
    base: String,
    _child: tokio::process::Child,
}

async fn replica(stream: &str) -> Replica {
    let concurrency = CONCURRENCY.to_string();
    let (gateway, _) = Gateway::start_with(
        Some(ADMIN),
        &[],
        &[
            ("NATS_URL", "nats://127.0.0.1:4222"),
            ("AISOC_OUTBOX_STREAM", stream),
            ("AISOC_OUTBOX_CONCURRENCY", &concurrency),
        ],
    )
    .await;
    let Gateway {
        child,
        base,
        mut stdout,
    } = gateway;
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    Replica {
        base,
        _child: child,
    }
}

async fn add_channel(http: &reqwest::Client, replica: &Replica, url: String, event_type: &str) {
    let answer = http
        .post(format!("{}/v1/settings/notifications", replica.base))
        .bearer_auth(ADMIN)
        .json(&json!({
            "channel_type": "webhook",
            "name": event_type,
            "config": {"url": url},
            "event_types": [event_type],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
}

async fn enqueue(http: &reqwest::Client, replica: &Replica, event_type: &str, title: String) {
    let answer = http
        .post(format!("{}/v1/notifications?delivery=queued", replica.base))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "event_type": event_type,
            "severity": "high",
            "title": title,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_150_slow_notifications_once_each_within_1_2x_of_ideal() {
    let stream = format!("AISOC_OUTBOX_R{:08x}", rand::random::<u32>());
    let nats = async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let js = async_nats::jetstream::new(nats);

    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let destination = MockServer::start().await;
    for (route, delay) in [("/slow", DESTINATION_DELAY), ("/fast", Duration::ZERO)] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(Recorder {
                arrivals: Arc::clone(&arrivals),
                delay,
            })
            .mount(&destination)
            .await;
    }

    let (a, b) = tokio::join!(replica(&stream), replica(&stream));
    let replicas = [a, b];
    let http = reqwest::Client::new();
    for replica in &replicas {
        add_channel(
            &http,
            replica,
            format!("{}/slow", destination.uri()),
            "slow_lane",
        )
        .await;
        add_channel(
            &http,
            replica,
            format!("{}/fast", destination.uri()),
            "fast_lane",
        )
        .await;
    }

    let started = Instant::now();
    futures::stream::iter(0..QUEUED)
        .for_each_concurrent(16, |i| {
            let (http, replica) = (&http, &replicas[i % REPLICAS]);
            async move { enqueue(http, replica, "slow_lane", format!("slow-{i:03}")).await }
        })
        .await;
    let fast_queued = Instant::now();
    enqueue(&http, &replicas[0], "fast_lane", "fast-1".into()).await;

    let mut pending = js.get_stream(&stream).await.unwrap();
    loop {
        let slow = arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.path == "/slow")
            .count();
        if slow >= QUEUED && pending.info().await.unwrap().state.messages == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{slow} of {QUEUED} delivered after 40 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed();

    let arrivals = arrivals.lock().unwrap().clone();
    let slow: Vec<&Arrival> = arrivals.iter().filter(|a| a.path == "/slow").collect();
    let keys: HashSet<&str> = slow.iter().map(|a| a.key.as_str()).collect();
    let titles: HashSet<&str> = slow.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(slow.len(), QUEUED, "each delivered once, none twice");
    assert_eq!(keys.len(), QUEUED, "150 distinct idempotency keys");
    assert!(!keys.contains(""), "every delivery carries its key");
    assert_eq!(titles.len(), QUEUED, "150 distinct notifications");

    let waves = QUEUED.div_ceil(REPLICAS * CONCURRENCY) as u32;
    let ideal = DESTINATION_DELAY * waves + OVERHEAD;
    let limit = ideal.mul_f64(1.2);
    println!(
        "outbox_replicas: {QUEUED} delivered by {REPLICAS} replicas x {CONCURRENCY} in {wall:?} \
         (ideal {ideal:?}, limit {limit:?})"
    );
    assert!(
        wall <= limit,
        "{wall:?} is more than 1.2x the ideal {ideal:?}"
    );

    let fast: Vec<&Arrival> = arrivals.iter().filter(|a| a.path == "/fast").collect();
    assert_eq!(fast.len(), 1, "the fast channel got its one notification");
    let last_slow_done = slow.iter().map(|a| a.at).max().unwrap() + DESTINATION_DELAY;
    println!(
        "outbox_replicas: the fast notification arrived {:?} after it was queued, {:?} before the \
         slow backlog finished",
        fast[0].at.duration_since(fast_queued),
        last_slow_done.duration_since(fast[0].at)
    );
    assert!(
        fast[0].at + Duration::from_millis(500) < last_slow_done,
        "the fast notification was not held back until the slow ones finished"
    );

    drop(replicas);
    let _ = js.delete_stream(&stream).await;
    let _ = js.delete_stream(format!("{stream}_DEAD")).await;
}
