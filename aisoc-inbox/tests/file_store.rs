//! The durable local event store through its public API, on real files: round trips, crash
//! repair, rotation, the size cap, deduplication, group commit and the inbox's answer when full.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::file_store::{
    DEFAULT_DEDUPE_MAX_IDS, FileStore, FileStoreConfig, FileStoreError, StoreReader,
};
use aisoc_inbox::sink::SinkEvent;
use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::secret::ExposeSecret;

/// A directory of its own under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "aisoc-file-store-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn event(n: u64) -> SinkEvent {
    SinkEvent {
        tenant_id: "acme".into(),
        template_id: "generic-json".into(),
        msg_id: format!("msg-{n}"),
        dedupe: true,
        payload: format!(r#"{{"class_uid":2004,"finding_info":{{"title":"event {n}"}}}}"#).into(),
    }
}

fn small(dir: &Path, segment_bytes: u64, max_bytes: u64) -> FileStoreConfig {
    FileStoreConfig {
        segment_bytes,
        max_bytes,
        ..FileStoreConfig::new(dir)
    }
}

fn read_all(reader: StoreReader) -> Vec<(u64, SinkEvent)> {
    reader
        .map(|stored| {
            let stored = stored.expect("readable");
            (stored.offset, stored.event)
        })
        .collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "events"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn appended_events_read_back_in_order_from_any_offset() {
    let dir = TempDir::new();
    let store = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
    let first = store.append(&[event(0), event(1), event(2)]).await.unwrap();
    assert_eq!(first.offsets, 0..3);
    let second = store.append(&[event(3)]).await.unwrap();
    assert_eq!(second.offsets, 3..4);

    let everything = read_all(store.reader(0));
    assert_eq!(
        everything,
        (0..4).map(|n| (n, event(n))).collect::<Vec<_>>()
    );
    assert_eq!(
        read_all(store.reader(2)),
        vec![(2, event(2)), (3, event(3))]
    );
    assert!(read_all(store.reader(4)).is_empty(), "caught up");

    let stored = store.reader(0).next().unwrap().unwrap();
    let age = chrono::Utc::now() - stored.appended_at;
    assert!(age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::minutes(1));

    // A live reader picks up events appended after it caught up.
    let mut reader = store.reader(0);
    assert_eq!(reader.next_batch(100).await.unwrap().len(), 4);
    store.append(&[event(4)]).await.unwrap();
    let more = reader.next_batch(100).await.unwrap();
    assert_eq!(more.len(), 1);
    assert_eq!((more[0].offset, &more[0].event), (4, &event(4)));
    assert_eq!(reader.position(), 5);
    store.close().await;
}

#[tokio::test]
async fn events_survive_a_reopen_and_offsets_continue() {
    let dir = TempDir::new();
    let store = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
    store.append(&[event(0), event(1)]).await.unwrap();
    store.close().await;

    let store = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
    assert_eq!(store.stats().end_offset, 2);
    assert_eq!(store.append(&[event(2)]).await.unwrap().offsets, 2..3);
    assert_eq!(read_all(store.reader(0)).len(), 3);
    store.close().await;
}

#[tokio::test]
async fn a_directory_is_owned_by_one_open_store_at_a_time() {
    let dir = TempDir::new();
    let store = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
    let refused = FileStore::open(FileStoreConfig::new(&dir.0))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, FileStoreError::Locked { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("in use"), "{refused}");
    store.close().await;
    FileStore::open(FileStoreConfig::new(&dir.0))
        .await
        .expect("free once the first store closed")
        .close()
        .await;
}

#[test]
fn the_cap_and_segment_size_come_from_the_environment_and_bad_values_name_their_variable() {
    let config = FileStoreConfig::from_lookup("/data/inbox-events", |name| match name {
        "AISOC_EVENTS_MAX_BYTES" => Some("1048576".into()),
        "AISOC_EVENTS_SEGMENT_BYTES" => Some("4194304".into()),
        "AISOC_EVENTS_DEDUPE_MAX_IDS" => Some("50000".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.max_bytes, 1 << 20);
    assert_eq!(config.dedupe_max_ids, 50_000);
    let unset = FileStoreConfig::from_lookup("/data", |_| None).unwrap();
    assert_eq!(unset.dedupe_max_ids, DEFAULT_DEDUPE_MAX_IDS);
    assert_eq!(
        config.segment_bytes,
        1 << 20,
        "a segment never exceeds the cap"
    );
    let refused = FileStoreConfig::from_lookup("/data", |name| {
        (name == "AISOC_EVENTS_MAX_BYTES").then(|| "1 GiB".into())
    })
    .unwrap_err();
    assert!(
        refused.to_string().contains("AISOC_EVENTS_MAX_BYTES"),
        "{refused}"
    );
    for bad in ["-1", "a million", "100000001"] {
        let refused = FileStoreConfig::from_lookup("/data", |name| {
            (name == "AISOC_EVENTS_DEDUPE_MAX_IDS").then(|| bad.into())
        })
        .unwrap_err();
        assert!(
            refused.to_string().contains("AISOC_EVENTS_DEDUPE_MAX_IDS"),
            "{bad}: {refused}"
        );
    }
}

/// Writes four events and closes the store, leaving the segment file to damage.
async fn four_events_then_damage(dir: &Path, damage: impl FnOnce(&Path)) {
    let store = FileStore::open(FileStoreConfig::new(dir)).await.unwrap();
    store.append(&[event(0), event(1)]).await.unwrap();
    store.append(&[event(2), event(3)]).await.unwrap();
    store.close().await;
    let files = segment_files(dir);
    assert_eq!(files.len(), 1);
    damage(&files[0]);
}

fn cut_inside_last_record(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len - 7).unwrap();
}

fn append_garbage(path: &Path) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(b"\x2a\x00\x00\x00garbage that is not a record")
        .unwrap();
}

#[tokio::test]
async fn a_record_torn_by_a_crash_is_dropped_on_open_and_every_complete_one_kept() {
    for (case, damage, kept) in [
        ("cut mid-record", cut_inside_last_record as fn(&Path), 3),
        ("garbage after the last record", append_garbage, 4),
        (
            "cut, then garbage",
            |p: &Path| {
                cut_inside_last_record(p);
                append_garbage(p);
            },
            3,
        ),
    ] {
        let dir = TempDir::new();
        four_events_then_damage(&dir.0, damage).await;

        // Another process reading the damaged directory stops before the torn record.
        assert_eq!(
            read_all(StoreReader::open_dir(&dir.0, 0)).len(),
            kept,
            "{case}: a reader of the damaged directory"
        );

        let store = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
        let expected: Vec<_> = (0..kept as u64).map(|n| (n, event(n))).collect();
        assert_eq!(read_all(store.reader(0)), expected, "{case}");
        // The torn bytes are gone from disk, so the next append follows the last good record.
        let next = store.append(&[event(9)]).await.unwrap();
        assert_eq!(next.offsets.start, kept as u64, "{case}");
        assert_eq!(
            read_all(store.reader(kept as u64)),
            vec![(kept as u64, event(9))]
        );
        store.close().await;

        let reopened = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
        assert_eq!(
            read_all(reopened.reader(0)).len(),
            kept + 1,
            "{case}: opens cleanly again"
        );
        reopened.close().await;
    }
}

#[tokio::test]
async fn the_active_segment_is_zero_filled_ahead_and_readers_and_recovery_stop_at_the_zeros() {
    let dir = TempDir::new();
    let config = small(&dir.0, 64 * 1024, 1024 * 1024);
    let store = FileStore::open(config.clone()).await.unwrap();
    store.append(&[event(0), event(1)]).await.unwrap();
    let records = store.stats().bytes;
    let path = segment_files(&dir.0).remove(0);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        64 * 1024,
        "zero-filled to the segment's size"
    );
    // Another process reading the directory stops at the zeros, and so does a live reader.
    assert_eq!(read_all(StoreReader::open_dir(&dir.0, 0)).len(), 2);
    let mut live = store.reader(0);
    assert_eq!(live.next_batch(10).await.unwrap().len(), 2);
    store.append(&[event(2)]).await.unwrap();
    assert_eq!(live.next_batch(10).await.unwrap()[0].event, event(2));
    let records_then = store.stats().bytes;
    assert!(records_then > records);
    store.close().await;
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        records_then,
        "cut at close"
    );

    // A crash leaves zeros and, past them, bytes of a batch that was never synced (blocks can
    // reach the disk out of order): open keeps what precedes the zeros and cuts the rest.
    let mut stale = Vec::new();
    std::fs::File::open(&path)
        .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut stale))
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&[0; 100]).unwrap();
    file.write_all(&stale[8..]).unwrap();
    drop(file);
    let store = FileStore::open(config).await.unwrap();
    assert_eq!(store.stats().end_offset, 3);
    assert_eq!(store.append(&[event(3)]).await.unwrap().offsets, 3..4);
    let expected: Vec<_> = (0..4).map(|n| (n, event(n))).collect();
    assert_eq!(read_all(store.reader(0)), expected);
    store.close().await;
    assert_eq!(read_all(StoreReader::open_dir(&dir.0, 0)), expected);
}

#[tokio::test]
async fn a_segment_whose_header_was_torn_is_reused_and_a_foreign_file_refused() {
    let dir = TempDir::new();
    let config = small(&dir.0, 256, 64 * 1024);
    let store = FileStore::open(config.clone()).await.unwrap();
    store.append(&[event(0), event(1)]).await.unwrap();
    store.close().await;
    // A crash right after creating the next segment: its name exists, half its magic does.
    let next = dir.0.join(format!("{:020}.events", 2));
    std::fs::write(&next, b"AISO").unwrap();

    let store = FileStore::open(config.clone()).await.unwrap();
    assert_eq!(store.append(&[event(2)]).await.unwrap().offsets, 2..3);
    assert_eq!(read_all(store.reader(0)).len(), 3);
    store.close().await;

    std::fs::write(&next, b"not a segment at all, but long").unwrap();
    let refused = FileStore::open(config).await.unwrap_err();
    assert!(
        matches!(refused, FileStoreError::Corrupt { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("wrong magic"), "{refused}");
}

#[tokio::test]
async fn segments_rotate_at_their_size_and_reads_cross_them() {
    let dir = TempDir::new();
    let config = small(&dir.0, 1024, 1024 * 1024);
    let store = FileStore::open(config.clone()).await.unwrap();
    for n in 0..40 {
        store.append(&[event(n)]).await.unwrap();
    }
    let files = segment_files(&dir.0);
    assert!(files.len() >= 4, "{} segments", files.len());
    for file in &files[..files.len() - 1] {
        let len = std::fs::metadata(file).unwrap().len();
        assert!(len <= 1024, "{} is {len} bytes", file.display());
    }
    let stats = store.stats();
    assert_eq!(stats.segments, files.len() as u64);
    let expected: Vec<_> = (0..40).map(|n| (n, event(n))).collect();
    assert_eq!(read_all(store.reader(0)), expected);
    assert_eq!(read_all(store.reader(25)), expected[25..].to_vec());
    store.close().await;
    // Closed, each segment is exactly its records (the active one's zeros are cut off).
    assert_eq!(
        stats.bytes,
        files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum::<u64>()
    );

    // After a reopen the newest segment keeps filling, and reads still cross every segment.
    let store = FileStore::open(config).await.unwrap();
    store.append(&[event(40)]).await.unwrap();
    assert_eq!(read_all(store.reader(0)).len(), 41);
    assert_eq!(read_all(StoreReader::open_dir(&dir.0, 30)).len(), 11);
    store.close().await;
}

#[tokio::test]
async fn a_full_store_refuses_appends_with_a_typed_error_until_consumed_segments_are_deleted() {
    let dir = TempDir::new();
    let store = FileStore::open(small(&dir.0, 1024, 4096)).await.unwrap();
    let mut n = 0;
    let full = loop {
        match store.append(&[event(n)]).await {
            Ok(_) => n += 1,
            Err(error) => break error,
        }
        assert!(n < 1000, "the cap never bit");
    };
    assert!(full.is_full(), "{full:?}");
    assert!(matches!(full, FileStoreError::Full { max: 4096, .. }));
    assert!(full.to_string().contains("event store is full"), "{full}");
    let stats = store.stats();
    assert!(stats.bytes <= 4096, "{stats:?}");
    assert_eq!(
        stats.end_offset, n,
        "nothing of the refused append was stored"
    );
    assert!(store.append(&[event(n)]).await.unwrap_err().is_full());

    // A forwarder that consumed the first half frees whole segments, and appends resume.
    let deleted = store.delete_before(n / 2).await.unwrap();
    assert!(deleted.segments >= 1 && deleted.bytes > 0, "{deleted:?}");
    let oldest = store.stats().oldest_offset;
    assert!(oldest > 0 && oldest <= n / 2);
    assert_eq!(store.append(&[event(n)]).await.unwrap().offsets.start, n);
    let gone = store.reader(0).next().unwrap().unwrap_err();
    assert!(
        matches!(gone, FileStoreError::OffsetGone { requested: 0, oldest: o } if o == oldest),
        "{gone}"
    );
    assert_eq!(read_all(store.reader(oldest)).len() as u64, n + 1 - oldest);
    store.close().await;
}

#[tokio::test]
async fn a_repeated_message_id_is_stored_once_even_across_a_reopen() {
    let dir = TempDir::new();
    let store = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
    store.append(&[event(0), event(1)]).await.unwrap();
    let repeat = store.append(&[event(1), event(2), event(2)]).await.unwrap();
    assert_eq!((repeat.offsets, repeat.duplicates), (2..3, 2));
    store.close().await;

    let store = FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap();
    let after_restart = store.append(&[event(0), event(3)]).await.unwrap();
    assert_eq!((after_restart.offsets, after_restart.duplicates), (3..4, 1));
    let ids: Vec<String> = read_all(store.reader(0))
        .into_iter()
        .map(|(_, e)| e.msg_id)
        .collect();
    assert_eq!(ids, ["msg-0", "msg-1", "msg-2", "msg-3"]);
    store.close().await;
}

#[tokio::test]
async fn a_message_id_is_remembered_for_the_window_and_within_the_count() {
    let dir = TempDir::new();
    let clock = Arc::new(ManualClock::at_unix(1_750_000_000));
    let config = FileStoreConfig {
        dedupe_window: Duration::from_secs(3600),
        dedupe_max_ids: 3,
        ..FileStoreConfig::new(&dir.0)
    };
    let store = FileStore::open_with_clock(config.clone(), clock.clone())
        .await
        .unwrap();
    store.append(&[event(0)]).await.unwrap();
    clock.advance(Duration::from_secs(1800));
    store.append(&[event(1)]).await.unwrap();
    clock.advance(Duration::from_secs(1800));
    assert_eq!(
        store.append(&[event(0), event(1)]).await.unwrap().offsets,
        2..3,
        "an hour later the first id left the window, the second is still in it"
    );
    store.close().await;

    // The window is rebuilt from the records' own times on open.
    let store = FileStore::open_with_clock(config.clone(), clock.clone())
        .await
        .unwrap();
    assert_eq!(store.append(&[event(1)]).await.unwrap().duplicates, 1);
    clock.advance(Duration::from_secs(1801));
    assert_eq!(store.append(&[event(1)]).await.unwrap().duplicates, 0);
    // At most three ids are remembered: 0, 1 and then 4, 5, 6 push the older ones out.
    store.append(&[event(4), event(5), event(6)]).await.unwrap();
    assert_eq!(
        store
            .append(&[event(1), event(6)])
            .await
            .unwrap()
            .duplicates,
        1
    );
    let stored = read_all(store.reader(0));
    let stamps: Vec<i64> = store
        .reader(0)
        .map(|e| e.unwrap().appended_at.timestamp())
        .collect();
    assert_eq!(stored.len(), stamps.len());
    assert_eq!(stamps[0], 1_750_000_000, "stamped by the store's clock");
    store.close().await;
}

#[tokio::test]
async fn events_with_random_ids_are_all_stored_and_take_no_room_in_the_window() {
    let dir = TempDir::new();
    let config = FileStoreConfig {
        dedupe_max_ids: 2,
        ..FileStoreConfig::new(&dir.0)
    };
    let store = FileStore::open(config).await.unwrap();
    let keyed = event(0);
    store.append(std::slice::from_ref(&keyed)).await.unwrap();
    // Ten events of requests without a key: random ids, none looked up or remembered (one
    // id repeated here shows it is not looked up; the pipeline never repeats one).
    let random: Vec<SinkEvent> = (1..=10)
        .map(|n| SinkEvent {
            dedupe: false,
            ..event(n.min(9))
        })
        .collect();
    let stored = store.append(&random).await.unwrap();
    assert_eq!((stored.offsets, stored.duplicates), (1..11, 0));
    // The window holds two ids, and the keyed one is still among them.
    let retry = store.append(&[keyed, event(11)]).await.unwrap();
    assert_eq!((retry.offsets, retry.duplicates), (11..12, 1));
    store.close().await;
}

#[tokio::test(flavor = "current_thread")]
#[allow(
    clippy::await_holding_lock,
    reason = "the held commit is the point: the appends queue behind it on this one thread"
)]
async fn concurrent_appends_share_fsyncs() {
    let dir = TempDir::new();
    let store = Arc::new(FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap());
    let before = store.stats();
    let appends = 64;
    let held = store.hold_commits();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..appends {
        let store = store.clone();
        tasks.spawn(async move { store.append(&[event(n)]).await });
    }
    // Every task runs to its first wait, so all 64 are queued behind the held commit.
    tokio::task::yield_now().await;
    drop(held);
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let after = store.stats();
    assert_eq!(after.appended - before.appended, appends);
    let fsyncs = after.fsyncs - before.fsyncs;
    assert!(
        fsyncs <= 2,
        "{appends} appends took {fsyncs} fsyncs: the first batch, then everything queued behind it"
    );
    assert_eq!(read_all(store.reader(0)).len() as u64, appends);
}

#[tokio::test]
async fn the_inbox_answers_507_saying_the_store_is_full_and_stores_nothing() {
    let dir = TempDir::new();
    let store = Arc::new(FileStore::open(small(&dir.0, 512, 512)).await.unwrap());
    let (inbox, tokens) = support::inbox_with(InboxConfig::default(), store.clone(), None);
    let minted = aisoc_inbox::token::mint(tokens.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let app = aisoc_inbox::router::router(inbox);
    let post = |title: String| {
        let request = axum::http::Request::post(format!("/{}", minted.token.expose_secret()))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(format!(r#"{{"title":"{title}"}}"#)))
            .unwrap();
        tower::ServiceExt::oneshot(app.clone(), request)
    };
    let mut accepted = 0;
    let answer = loop {
        let response = post(format!("event {accepted}")).await.unwrap();
        if response.status() != 200 {
            break response;
        }
        accepted += 1;
        assert!(accepted < 100, "the cap never bit");
    };
    assert!(accepted >= 1, "the store took events until it was full");
    assert_eq!(answer.status(), 507);
    let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("event store is full"), "{message}");
    assert_eq!(
        store.stats().end_offset,
        accepted,
        "only the accepted events are stored"
    );
}

/// Group-commit throughput, for the record (run it in release; `AISOC_MEASURE_WRITERS` changes
/// the number of concurrent writers, 32 by default):
/// `cargo test --release -p aisoc-inbox --all-features --test file_store -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on demand"]
async fn measure_append_throughput_of_10_000_single_event_appends() {
    let dir = TempDir::new();
    let store = Arc::new(FileStore::open(FileStoreConfig::new(&dir.0)).await.unwrap());
    let writers: u64 = std::env::var("AISOC_MEASURE_WRITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    let per_writer = 10_000u64.div_ceil(writers);
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..per_writer {
                store.append(&[event(w * per_writer + i)]).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();
    let stats = store.stats();
    let total = writers * per_writer;
    eprintln!(
        "{total} single-event appends from {writers} tasks in {:.2?}: {:.0} events/s, \
         {} fsyncs ({:.1} appends per fsync), {} bytes",
        elapsed,
        total as f64 / elapsed.as_secs_f64(),
        stats.fsyncs,
        total as f64 / stats.fsyncs as f64,
        stats.bytes
    );
    assert_eq!(stats.appended, total);
    if writers > 1 {
        assert!(stats.fsyncs < total, "concurrent appends share fsyncs");
    }
}

/// How long opening takes when the dedupe window has to be rebuilt from a million events
/// (~110 MB): `cargo test --release -p aisoc-inbox --all-features --test file_store
/// measure_open -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on demand"]
async fn measure_open_time_with_a_million_stored_events() {
    let dir = TempDir::new();
    let config = FileStoreConfig::new(&dir.0);
    let store = FileStore::open(config.clone()).await.unwrap();
    for batch in 0..1000u64 {
        let events: Vec<SinkEvent> = (0..1000).map(|i| event(batch * 1000 + i)).collect();
        store.append(&events).await.unwrap();
    }
    let bytes = store.stats().bytes;
    store.close().await;
    let started = std::time::Instant::now();
    let store = FileStore::open(config).await.unwrap();
    let opened = started.elapsed();
    eprintln!("opened {bytes} bytes, 1,000,000 events, in {opened:.2?}");
    assert_eq!(
        store.append(&[event(999_999)]).await.unwrap().duplicates,
        1,
        "the newest ids are remembered after the reopen"
    );
    store.close().await;
}

/// Whether the page holding byte `offset` of `path` is in the page cache: a read that may not
/// wait for the disk (`RWF_NOWAIT`) fails with `EAGAIN` when it is not.
#[cfg(target_os = "linux")]
fn cached(path: &Path, offset: u64) -> bool {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    let file = std::fs::File::open(path).unwrap();
    let mut page = [0u8; 4096];
    let mut bufs = [std::io::IoSliceMut::new(&mut page)];
    match preadv2(&file, &mut bufs, offset, ReadWriteFlags::NOWAIT) {
        Ok(read) => read > 0,
        Err(Errno::AGAIN) => false,
        Err(error) => panic!("preadv2 of {}: {error}", path.display()),
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn synced_records_leave_the_page_cache_behind_the_last_sixteen_mebibytes() {
    const MIB: u64 = 1024 * 1024;
    /// `statfs`'s `f_type` of tmpfs, whose pages live only in memory and cannot be released.
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    if rustix::fs::statfs(&dir.0).unwrap().f_type as u64 == TMPFS_MAGIC {
        eprintln!("skipped: {} is on tmpfs", dir.0.display());
        return;
    }
    let store = FileStore::open(small(&dir.0, 24 * MIB, 128 * MIB))
        .await
        .unwrap();
    // 64 KiB events, 10 an append: 46 MiB, one segment sealed at 24 MiB and 22 MiB after it.
    let big = |n: u64| SinkEvent {
        payload: vec![b'x'; 64 * 1024].into(),
        ..event(n)
    };
    let mut next = 0;
    let mut appended = 0;
    while appended < 46 * MIB {
        let events: Vec<SinkEvent> = (next..next + 10).map(big).collect();
        store.append(&events).await.unwrap();
        next += 10;
        appended += 10 * 64 * 1024;
    }
    let files = segment_files(&dir.0);
    assert_eq!(files.len(), 2, "{files:?}");
    let (sealed, active) = (&files[0], &files[1]);
    let sealed_len = std::fs::metadata(sealed).unwrap().len();
    let active_len = store.stats().bytes - sealed_len;
    assert!(
        active_len > 20 * MIB,
        "{active_len} bytes in the active segment"
    );

    // The sealed segment was released whole once the active one had its own 16 MiB to keep.
    for at in [0, 12 * MIB, sealed_len - 4096] {
        assert!(!cached(sealed, at), "sealed segment, byte {at}");
    }
    // The active segment: released up to 16 MiB before its end (in steps of 4 MiB), kept
    // after that, where a reader that keeps up reads.
    assert!(!cached(active, 4096), "active segment, start");
    assert!(
        !cached(active, active_len - 21 * MIB),
        "active segment, 21 MiB back"
    );
    assert!(
        cached(active, active_len - 15 * MIB),
        "active segment, 15 MiB back"
    );
    assert!(
        cached(active, active_len - 4096),
        "active segment, last page"
    );

    // Releasing pages is only advice: everything reads back, from the disk.
    let stored = read_all(store.reader(0));
    assert_eq!(stored.len() as u64, next);
    assert!(
        stored
            .iter()
            .enumerate()
            .all(|(n, (at, e))| *at == n as u64 && *e == big(*at))
    );
    store.close().await;
}
