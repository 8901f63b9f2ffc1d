//! The outbox under faults: notifications queued through one gateway, delivered by two, one of
//! them killed -9 mid-run, to a peer that is slow and answers 503/429 a fifth of the time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

use crate::HarnessError;
use crate::gateway::{ADMIN_TOKEN, Gateway};
use crate::peer::{Behaviour, Peer};
use crate::report::Row;
use crate::services::PrivateNats;

/// Adds the webhook channel to the peer (channels live in each gateway's configuration).
async fn add_channel(
    http: &reqwest::Client,
    gateway: &Gateway,
    peer: &Peer,
) -> Result<(), HarnessError> {
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
        Ok(())
    } else {
        Err(HarnessError::new(format!(
            "the webhook channel was refused: {}",
            response.text().await.unwrap_or_default()
        )))
    }
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

/// 1,000 queued notifications, two gateways, one killed -9 mid-run.
pub(crate) async fn queued_with_a_crash(count: usize) -> Result<Row, HarnessError> {
    let started = Instant::now();
    let nats = PrivateNats::start().await?;
    let peer = Peer::start(Behaviour {
        failure_rate: 0.2,
        max_failures_per_key: 2,
        latency: Duration::from_millis(30),
    })
    .await?;
    let env = [("NATS_URL", nats.url())];
    let first = Gateway::start(&env).await?;
    let mut second = Gateway::start(&env).await?;
    let http = reqwest::Client::new();
    add_channel(&http, &first, &peer).await?;
    add_channel(&http, &second, &peer).await?;

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
        // Not restarted: a restarted gateway would run its worker before its channels are
        // configured again (channels are per process until they are stored, issue #16), and
        // deliver what it takes to the console only. The first gateway must pick up what the
        // killed one held once its ack_wait runs out.
        second.kill9().await
    };
    let (_, crashed) = tokio::join!(enqueue, crash);
    crashed?;

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
    let (distinct, duplicates, injected) = {
        let tally = peer.tally.lock().unwrap_or_else(|p| p.into_inner());
        (tally.distinct(), tally.duplicates(), tally.injected())
    };
    println!("outbox: the peer injected {injected} 503/429 answers");
    report_dead_letters(&http, &first).await;
    report_stream(&nats).await;
    Ok(Row {
        scenario: "outbox: 2 replicas, one killed -9",
        sent: count,
        acknowledged,
        stored: distinct,
        lost: acknowledged.saturating_sub(distinct),
        duplicated: duplicates,
        exactly_once: false,
        wall: started.elapsed(),
    })
}
