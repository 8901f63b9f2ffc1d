//! The outbox under faults: notifications queued through one gateway, delivered by two that
//! share one PostgreSQL database (channels, sealed with a data key) and one NATS outbox, one of
//! them killed -9 mid-run and started again, to a peer that is slow, answers 503/429 a fifth of
//! the time, and refuses some notifications more often than the delivery layer retries in
//! process, so their retries go back through the outbox and may be taken by either replica.
//!
//! The webhook channel is created once, on the first gateway: the second finds it in the shared
//! store, under the same id, and so does the restarted one, so a retry queued by one replica is
//! delivered by whichever takes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

use crate::HarnessError;
use crate::gateway::{ADMIN_TOKEN, Gateway};
use crate::peer::{Behaviour, Peer};
use crate::report::Row;
use crate::services::{PrivateDatabase, PrivateNats, Scratch};

/// The data key both gateways seal channel secrets with (a fixed one: this is a test bed).
const DATA_KEY: &str = "chaos:Y2hhb3MtaGFybmVzcy1kYXRhLWtleS0zMi1ieXRlcyE=";

/// More refusals in a row than the delivery client's in-process attempts (4 by default).
const STUBBORN_REFUSALS: usize = 5;

/// Adds the webhook channel to the peer, once: every gateway on the database shares it.
async fn add_channel(
    http: &reqwest::Client,
    gateway: &Gateway,
    peer: &Peer,
) -> Result<String, HarnessError> {
    let response = http
        .post(gateway.url("/v1/settings/notifications"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "channel_type": "webhook",
            "name": "chaos peer",
            "config": {"url": peer.url("/hook")}
        }))
        .send()
        .await?;
    if response.status().is_success() {
        let created: serde_json::Value = response.json().await?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| HarnessError::new("the created channel has no id"))
    } else {
        Err(HarnessError::new(format!(
            "the webhook channel was refused: {}",
            response.text().await.unwrap_or_default()
        )))
    }
}

/// Waits until `gateway` lists channel `id`.
async fn until_listed(
    http: &reqwest::Client,
    gateway: &Gateway,
    id: &str,
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let listed: serde_json::Value = http
            .get(gateway.url("/v1/settings/notifications"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        if listed
            .as_array()
            .is_some_and(|channels| channels.iter().any(|c| c["id"] == id))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(HarnessError::new(format!(
        "the second gateway did not list channel {id} within 15 s"
    )))
}

/// Prints what the outbox stream and its consumer still hold.
async fn report_stream(nats: &PrivateNats) {
    let Ok(client) = nats.client().await else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    let Ok(mut stream) = js.get_stream("AISOC_OUTBOX").await else {
        println!("outbox: no AISOC_OUTBOX stream");
        return;
    };
    if let Ok(info) = stream.info().await {
        println!(
            "outbox: AISOC_OUTBOX holds {} message(s)",
            info.state.messages
        );
    }
    let names: Vec<String> = {
        use futures::TryStreamExt;
        stream
            .consumer_names()
            .try_collect()
            .await
            .unwrap_or_default()
    };
    for name in names {
        if let Ok(mut consumer) = stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>(&name)
            .await
            && let Ok(info) = consumer.info().await
        {
            println!(
                "outbox: consumer {name}: {} pending, {} awaiting ack, {} redelivered",
                info.num_pending, info.num_ack_pending, info.num_redelivered
            );
        }
    }
}

/// Prints what ended in the dead letters, by class, with one reason each.
async fn report_dead_letters(http: &reqwest::Client, gateway: &Gateway) {
    let Ok(answer) = http
        .get(gateway.url("/v1/outbox/dead-letters?limit=1000"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
    else {
        return;
    };
    let status = answer.status();
    let letters: serde_json::Value = answer.json().await.unwrap_or_default();
    if !status.is_success() {
        println!("outbox: listing dead letters answered {status}: {letters}");
    }
    let letters = letters
        .as_array()
        .or_else(|| letters["dead_letters"].as_array())
        .cloned()
        .unwrap_or_default();
    let mut by_class: std::collections::BTreeMap<String, (usize, String)> = Default::default();
    for letter in &letters {
        let class = letter["class"].as_str().unwrap_or("?").to_owned();
        let entry = by_class
            .entry(class)
            .or_insert_with(|| (0, letter["last_error"].as_str().unwrap_or("").to_owned()));
        entry.0 += 1;
    }
    for (class, (count, reason)) in by_class {
        println!("outbox: {count} dead letter(s) of class {class}, e.g. {reason}");
    }
}

/// 1,000 queued notifications, two gateways on one database, one killed -9 mid-run and
/// restarted.
pub(crate) async fn queued_with_a_crash(count: usize) -> Result<Row, HarnessError> {
    let started = Instant::now();
    let nats = PrivateNats::start().await?;
    let database = PrivateDatabase::create().await?;
    let data = Scratch::new("outbox-data")?;
    let peer = Peer::start(Behaviour {
        failure_rate: 0.2,
        max_failures_per_key: 2,
        stubborn_rate: 0.05,
        stubborn_refusals: STUBBORN_REFUSALS,
        latency: Duration::from_millis(30),
    })
    .await?;
    let env = [
        ("NATS_URL", nats.url()),
        ("DATABASE_URL", database.url()),
        ("AISOC_DATA_KEY", DATA_KEY.to_owned()),
        ("AISOC_DATA_DIR", data.0.display().to_string()),
    ];
    let first = Gateway::start(&env).await?;
    let mut second = Gateway::start(&env).await?;
    let http = reqwest::Client::new();
    let channel = add_channel(&http, &first, &peer).await?;
    until_listed(&http, &second, &channel).await?;

    let queued = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let enqueue = futures::stream::iter(0..count)
        .map(|n| {
            let http = http.clone();
            let url = first.url("/v1/notifications?delivery=queued");
            let queued = Arc::clone(&queued);
            let acknowledged = Arc::clone(&acknowledged);
            async move {
                let answer = http
                    .post(url)
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({
                        "tenant_id": "chaos",
                        "event_type": "p0_alert",
                        "severity": "high",
                        "title": format!("queued {n}"),
                    }))
                    .send()
                    .await;
                if answer.is_ok_and(|r| r.status().is_success()) {
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                queued.fetch_add(1, Ordering::Relaxed);
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>();
    let crash = async {
        while queued.load(Ordering::Relaxed) < count / 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Killed with what it held in flight, then started again: it loads the shared channels
        // before its worker takes anything, and takes its part of the queue (retries queued by
        // the other replica included) once more.
        second.restart().await
    };
    let (_, crashed) = tokio::join!(enqueue, crash);
    crashed?;
    until_listed(&http, &second, &channel).await?;

    let acknowledged = acknowledged.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let distinct = peer.tally.lock().map(|t| t.distinct()).unwrap_or(0);
        if distinct >= acknowledged || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment more, so late duplicates are counted too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (distinct, duplicates, injected, (stubborn, stubborn_delivered)) = {
        let tally = peer.tally.lock().unwrap_or_else(|p| p.into_inner());
        (
            tally.distinct(),
            tally.duplicates(),
            tally.injected(),
            tally.stubborn(),
        )
    };
    println!("outbox: the peer injected {injected} 503/429 answers");
    println!(
        "outbox: {stubborn} notification(s) refused {STUBBORN_REFUSALS} times in a row went back \
         through the outbox's retry; {stubborn_delivered} of them delivered"
    );
    report_dead_letters(&http, &first).await;
    report_stream(&nats).await;
    drop((first, second));
    database.drop_database().await?;
    Ok(Row {
        scenario: "outbox: 2 replicas, one killed -9 and restarted",
        sent: count,
        acknowledged,
        stored: distinct,
        lost: acknowledged.saturating_sub(distinct),
        duplicated: duplicates,
        exactly_once: false,
        wall: started.elapsed(),
    })
}
