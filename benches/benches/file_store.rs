//! The embedded event store's durable append, side by side with the floor under it: a bare
//! `write` + `fdatasync` of the same record, once appending to a growing file and once
//! overwriting zeros the file already has (what the store does since it zero-fills its active
//! segment ahead). One appender waits for every fsync, as a lone sender's request does; 32 at
//! once share them (group commit).
//!
//! Run: `cargo bench -p aisoc-notify-benches --bench file_store`
//!
//! The files go under cargo's `target/tmp` (the disk the store would use; `/tmp` can be a
//! RAM disk, where an fsync costs nothing).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use aisoc_inbox::file_store::{FileStore, FileStoreConfig};
use aisoc_inbox::sink::SinkEvent;
use aisoc_notify_benches::{SideBySide, side_by_side};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A mapped event of the size the load bench's single events have.
const PAYLOAD: &str = r#"{"activity_id":1,"category_uid":2,"class_uid":2004,"finding_info":{"title":"Impossible travel for alice@example.com","uid":"alert-000042"},"metadata":{"product":{"name":"generic"},"version":"1.3.0"},"severity_id":4,"time":1764288000000,"type_uid":200401}"#;
/// How many appenders share fsyncs in the concurrent case (the load bench's connections).
const CONCURRENT: usize = 32;
/// Calls of each routine in a round of the side-by-side timing.
const CALLS: usize = 100;
/// The zero-filled file the "over zeros" floor cycles through.
const ZEROED_BYTES: u64 = 16 * 1024 * 1024;

fn bench_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("file-store-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    dir
}

/// The record the floor writes: the payload with the store's framing and ids, about the size
/// of one of its records.
fn record() -> Vec<u8> {
    let mut record = vec![0x2a; 8 + 8 + 8 + 2 + 4 + 2 + 12 + 2 + 24];
    record.extend_from_slice(PAYLOAD.as_bytes());
    record
}

/// A bare `write` + `fdatasync` of one record a call.
struct Floor {
    file: File,
    record: Vec<u8>,
    /// Where the file is overwritten from the start again (`None`: it grows).
    wrap_at: Option<u64>,
    at: u64,
}

impl Floor {
    fn appending(dir: &Path) -> Self {
        let file = File::create(dir.join("appending")).expect("file");
        Self {
            file,
            record: record(),
            wrap_at: None,
            at: 0,
        }
    }

    fn over_zeros(dir: &Path) -> Self {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("zeroed"))
            .expect("file");
        file.write_all(&vec![0; ZEROED_BYTES as usize])
            .and_then(|()| file.sync_all())
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .expect("zero-fill");
        Self {
            file,
            record: record(),
            wrap_at: Some(ZEROED_BYTES),
            at: 0,
        }
    }

    fn append(&mut self) {
        let len = self.record.len() as u64;
        if self.wrap_at.is_some_and(|end| self.at + len > end) {
            self.file.seek(SeekFrom::Start(0)).expect("rewind");
            self.at = 0;
        }
        self.file.write_all(&self.record).expect("write");
        self.file.sync_data().expect("fdatasync");
        self.at += len;
    }
}

fn event(n: u64) -> SinkEvent {
    SinkEvent {
        tenant_id: "acme".into(),
        template_id: "generic-json".into(),
        msg_id: format!("bench-{n:016x}"),
        dedupe: true,
        payload: PAYLOAD.into(),
    }
}

fn durable_append(c: &mut Criterion) {
    let dir = bench_dir("append");
    let mut appending = Floor::appending(&dir);
    let mut over_zeros = Floor::over_zeros(&dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime
        .block_on(FileStore::open(FileStoreConfig::new(dir.join("store"))))
        .expect("store");
    // Every event is new: a repeated message id would be acknowledged without an fsync.
    let ids = AtomicU64::new(0);
    let mut store_append = || {
        let event = event(ids.fetch_add(1, Ordering::Relaxed));
        runtime
            .block_on(store.append(std::slice::from_ref(&event)))
            .expect("append");
    };

    let mut group = c.benchmark_group("durable_append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("floor: write+fdatasync, appending", |b| {
        b.iter(|| appending.append())
    });
    group.bench_function("floor: write+fdatasync, over zeros", |b| {
        b.iter(|| over_zeros.append())
    });
    group.bench_function("file store, one appender", |b| b.iter(&mut store_append));
    let alone = store.stats();
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function("file store, 32 appenders at once", |b| {
        b.iter(|| {
            let first = ids.fetch_add(CONCURRENT as u64, Ordering::Relaxed);
            runtime.block_on(async {
                let appends = (0..CONCURRENT as u64).map(|n| {
                    let event = event(first + n);
                    let store = &store;
                    async move { store.append(std::slice::from_ref(&event)).await }
                });
                for receipt in futures::future::join_all(appends).await {
                    receipt.expect("append");
                }
            })
        })
    });
    group.finish();
    let together = store.stats();
    let per_fsync = |events: u64, fsyncs: u64| events as f64 / fsyncs.max(1) as f64;
    eprintln!(
        "file store: one appender {:.1} events a fsync; 32 at once {:.1} events a fsync",
        per_fsync(alone.appended, alone.fsyncs),
        per_fsync(
            together.appended - alone.appended,
            together.fsyncs - alone.fsyncs
        ),
    );

    // The ratios, from alternating rounds (the machine's disk and CPU drift between groups).
    let report = |name: &str, timed: SideBySide| eprintln!("{}", timed.report(name));
    report(
        "over zeros vs appending (floor vs floor)",
        side_by_side(CALLS, || over_zeros.append(), || appending.append()),
    );
    report(
        "file store, one appender vs write+fdatasync over zeros",
        side_by_side(CALLS, &mut store_append, || over_zeros.append()),
    );
    report(
        "file store, one appender vs write+fdatasync appending",
        side_by_side(CALLS, &mut store_append, || appending.append()),
    );

    runtime.block_on(store.close());
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = durable_append
}
criterion_main!(benches);
