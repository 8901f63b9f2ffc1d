//! The gateway's embedded event store through the real binary: what it answered 2xx for before a
//! `kill -9` is on disk after a restart, and senders' retries with the same keys store nothing twice.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisoc_inbox::file_store::StoreReader;
use sqlx::Connection as _;

mod support;
use support::{Gateway, JsonReply};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const ADMIN: &str = "store-admin";
const EVENTS: usize = 300;
const SENDERS: usize = 16;

fn marker(i: usize) -> String {
    format!("kill-test-{i:04}")
}

/// Posts event `i` with its own idempotency key; `true` when the gateway answered 200.
async fn send(http: &reqwest::Client, inbox: &str, i: usize) -> bool {
    let sent = http
        .post(inbox)
        .header("x-aisoc-idempotency-key", format!("delivery-{i}"))
        .json(&serde_json::json!({"title": marker(i), "severity": "high"}))
        .send()
        .await;
    matches!(sent, Ok(response) if response.status() == 200)
}

async fn storage_line(gateway: &mut Gateway) -> String {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), gateway.stdout.next_line())
            .await
            .expect("the banner's storage line within 10 s")
            .unwrap()
            .expect("a storage line before the banner ends");
        if let Some(storage) = line.strip_prefix("storage: ") {
            return storage.to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_accepted_before_a_kill_9_are_stored_after_a_restart_and_retries_store_none_twice() {
    let data_dir = std::env::temp_dir().join(format!(
        "aisoc-embedded-store-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    // Tokens in PostgreSQL keep their ids across the restart, so a retry's key maps to the same
    // message ids as the first attempt's.
    let database = format!("aisoc_store_{:016x}", rand::random::<u64>());
    let mut admin_db = sqlx::PgConnection::connect(POSTGRES)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run ./scripts/services)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin_db)
        .await
        .unwrap();
    let database_url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("AISOC_INBOX_RATE_LIMIT_PER_MIN", "100000"),
    ];
    let args = ["--data-dir", data_dir.to_str().unwrap()];

    let (mut first, _) = Gateway::start_with(Some(ADMIN), &args, &env).await;
    let storage = storage_line(&mut first).await;
    let store_dir: PathBuf = data_dir.join("inbox-events");
    assert!(
        storage.contains(&format!("file store in {}", store_dir.display())),
        "{storage}"
    );
    let http = reqwest::Client::new();
    let minted = http
        .post(first.url("/v1/admin/inbox/tokens"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"tenant_id": "acme", "template": "generic-json"}))
        .json_reply()
        .await;
    let token = minted["token"].as_str().unwrap().to_owned();

    // Sixteen senders; the gateway is killed -9 once a third of the events were accepted.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let (third, mut reached) = tokio::sync::watch::channel(false);
    let inbox = first.url(&format!("/v1/inbox/{token}"));
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (http, inbox, accepted, third) =
            (http.clone(), inbox.clone(), accepted.clone(), third.clone());
        senders.spawn(async move {
            for i in (sender..EVENTS).step_by(SENDERS) {
                if !send(&http, &inbox, i).await {
                    return;
                }
                let mut accepted = accepted.lock().unwrap();
                accepted.insert(i);
                if accepted.len() >= EVENTS / 3 {
                    third.send_replace(true);
                }
            }
        });
    }
    tokio::time::timeout(Duration::from_secs(60), reached.wait_for(|r| *r))
        .await
        .expect("a third accepted within 60 s")
        .unwrap();
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let before_kill = accepted.lock().unwrap().clone();
    assert!(
        before_kill.len() >= EVENTS / 3 && before_kill.len() < EVENTS,
        "{} accepted before the kill",
        before_kill.len()
    );
    drop(first);

    // The restarted gateway opens the same store; every sender retries every event with its key.
    let (second, _) = Gateway::start_with(Some(ADMIN), &args, &env).await;
    let inbox = second.url(&format!("/v1/inbox/{token}"));
    for i in 0..EVENTS {
        assert!(send(&http, &inbox, i).await, "retry of event {i}");
    }

    // Read by another process's view of the directory, while the gateway still runs.
    let mut seen = vec![0usize; EVENTS];
    for (position, stored) in StoreReader::open_dir(&store_dir, 0).enumerate() {
        let stored = stored.unwrap();
        assert_eq!(stored.offset, position as u64, "offsets have no gaps");
        let payload = String::from_utf8(stored.event.payload.to_vec()).unwrap();
        let i = (0..EVENTS)
            .find(|i| payload.contains(&format!("\"{}\"", marker(*i))))
            .unwrap_or_else(|| panic!("an event of this test: {payload}"));
        seen[i] += 1;
    }
    for i in &before_kill {
        assert!(
            seen[*i] >= 1,
            "event {i} was accepted before the kill and is gone"
        );
    }
    let twice: Vec<usize> = (0..EVENTS).filter(|i| seen[*i] > 1).collect();
    let missing: Vec<usize> = (0..EVENTS).filter(|i| seen[*i] == 0).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    assert!(missing.is_empty(), "never stored: {missing:?}");

    drop(second);
    let _ = std::fs::remove_dir_all(&data_dir);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
    )))
    .execute(&mut admin_db)
    .await
    .unwrap();
}
