//! The gateway binary under more load than its bounds, on the embedded defaults: requests beyond
//! `AISOC_MAX_IN_FLIGHT` are shed at once with 503 and `Retry-After: 1` while `/healthz` still
//! answers, and queued notifications beyond `AISOC_OUTBOX_MEMORY_CAPACITY` get 503 naming the
//! setting until deliveries drain the outbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

mod support;
use support::Gateway;

const ADMIN: &str = "bounds-admin";

/// Starts a gateway and drains its stdout (the console channel's lines) so it never blocks.
async fn gateway(envs: &[(&str, &str)]) -> (String, tokio::process::Child) {
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], envs).await;
    let Gateway {
        child,
        base,
        mut stdout,
    } = gateway;
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (base, child)
}

/// The value of an unlabelled series in `/metrics`.
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Polls `/metrics` (always answered) until `name` reads `value`.
async fn until_metric(http: &reqwest::Client, base: &str, name: &str, value: f64) {
    let started = Instant::now();
    while metric(http, base, name).await != Some(value) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} never reached {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request whose body never finishes: the gateway holds it in flight until the connection
/// closes.
async fn stalled_request(base: &str) -> TcpStream {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/notifications HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {ADMIN}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"tenant_id\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

#[tokio::test]
async fn requests_beyond_max_in_flight_are_shed_at_once_and_health_still_answers() {
    let (base, mut child) = gateway(&[("AISOC_MAX_IN_FLIGHT", "2")]).await;
    let http = reqwest::Client::new();
    let first = stalled_request(&base).await;
    let _second = stalled_request(&base).await;
    until_metric(&http, &base, "aisoc_gateway_requests_in_flight", 2.0).await;

    let shed = http
        .get(format!("{base}/v1/outbox/dead-letters"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("AISOC_MAX_IN_FLIGHT"), "{message}");

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health is never shed");
    assert_eq!(
        metric(&http, &base, "aisoc_gateway_requests_shed_total").await,
        Some(1.0)
    );

    // A stalled caller that goes away gives its slot back.
    drop(first);
    until_metric(&http, &base, "aisoc_gateway_requests_in_flight", 1.0).await;
    let served = http
        .get(format!("{base}/v1/outbox/dead-letters"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    child.kill().await.unwrap();
}

/// A webhook destination that answers each delivery only once the test opens its gate.
struct HeldDestination {
    url: String,
    gate: Arc<Semaphore>,
    arrived: Arc<AtomicUsize>,
}

async fn held_destination() -> HeldDestination {
    let gate = Arc::new(Semaphore::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let hook = {
        let (gate, arrived) = (gate.clone(), arrived.clone());
        move || {
            let (gate, arrived) = (gate.clone(), arrived.clone());
            async move {
                arrived.fetch_add(1, Ordering::SeqCst);
                gate.acquire().await.unwrap().forget();
                axum::http::StatusCode::OK
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hook", axum::routing::post(hook));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    HeldDestination { url, gate, arrived }
}

async fn queue(http: &reqwest::Client, base: &str, title: &str) -> reqwest::Response {
    http.post(format!("{base}/v1/notifications?delivery=queued"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "tenant_id": "acme",
            "event_type": "p0_alert",
            "severity": "high",
            "title": title,
        }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn queued_notifications_beyond_the_outbox_capacity_get_503_until_it_drains() {
    let destination = held_destination().await;
    let (base, mut child) = gateway(&[
        ("AISOC_OUTBOX_MEMORY_CAPACITY", "2"),
        ("AISOC_OUTBOX_CONCURRENCY", "1"),
    ])
    .await;
    let http = reqwest::Client::new();
    let added = http
        .post(format!("{base}/v1/settings/notifications"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "channel_type": "webhook",
            "name": "held",
            "config": {"url": destination.url},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201, "{}", added.text().await.unwrap());

    assert_eq!(queue(&http, &base, "one").await.status(), 202);
    assert_eq!(queue(&http, &base, "two").await.status(), 202);
    let refused = queue(&http, &base, "three").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("AISOC_OUTBOX_MEMORY_CAPACITY") && message.contains('2'),
        "{message}"
    );
    assert_eq!(
        metric(&http, &base, "aisoc_outbox_memory_notifications").await,
        Some(2.0)
    );

    destination.gate.add_permits(3);
    until_metric(&http, &base, "aisoc_outbox_memory_notifications", 0.0).await;
    assert_eq!(destination.arrived.load(Ordering::SeqCst), 2);
    assert_eq!(queue(&http, &base, "four").await.status(), 202);

    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "# HELP aisoc_outbox_memory_notifications ",
        "# HELP aisoc_outbox_memory_refused_total ",
        "aisoc_outbox_memory_refused_total 1",
        "aisoc_outbox_memory_capacity 2",
        "# HELP aisoc_gateway_requests_in_flight ",
    ] {
        assert!(text.contains(expected), "missing {expected}\n{text}");
    }
    child.kill().await.unwrap();
}
