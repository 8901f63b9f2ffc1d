//! A durable [`EventSink`] in a local directory: the embedded default when there is no NATS.
//!
//! Events are appended to segment files, one checksummed record each, and an append returns
//! only after the bytes are fsynced, so an event the inbox answered 2xx for survives `kill -9`
//! and power loss. A record torn by a crash was never acknowledged: opening the store cuts it
//! off (and logs it) instead of serving it or refusing to open.
//!
//! - **Group commit.** One writer thread takes every append that arrived while the previous
//!   fsync ran and syncs them together, so concurrent requests share fsyncs
//!   ([`FileStoreStats::fsyncs`] against [`FileStoreStats::appended`]).
//! - **Bounded.** Segments rotate at [`FileStoreConfig::segment_bytes`]; when the store holds
//!   [`FileStoreConfig::max_bytes`], appends fail with [`FileStoreError::Full`] (the inbox answers
//!   that nothing was accepted) until consumed segments are deleted with
//!   [`FileStore::delete_before`]. Nothing is dropped silently. The cap counts records: the
//!   active segment is also zero-filled up to 4 MiB past its last record (never past
//!   `segment_bytes`), so that a commit's `fdatasync` overwrites blocks the file has rather
//!   than growing it; the zeros are cut off when the segment is sealed or the store closed.
//! - **Deduplicated** like a JetStream stream: a message id stored within
//!   [`FileStoreConfig::dedupe_window`] (24 h, the idempotency TTL) is acknowledged without
//!   being stored again, as the [`EventSink`] contract asks; at most
//!   [`FileStoreConfig::dedupe_max_ids`] ids are remembered, in memory taken whole when the
//!   store opens (36 bytes an id), so the window's memory is bounded and does not follow the
//!   traffic. The window is rebuilt from the newest segments on open, so it survives a restart.
//! - **Readable** from any offset with a [`StoreReader`]: [`FileStore::reader`] in this process,
//!   [`StoreReader::open_dir`] from another one (an operator's tool, a forwarder).
//!
//! One store owns a directory: opening it holds an exclusive lock on `LOCK` there, so a second
//! process (or a second store in this one) is refused with [`FileStoreError::Locked`]; the OS
//! drops the lock when the process dies, so a restart after `kill -9` opens normally.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use aisoc_inbox::file_store::{FileStore, FileStoreConfig};
//! use aisoc_inbox::sink::{EventSink, SinkEvent};
//!
//! let dir = std::env::temp_dir().join(format!("aisoc-doc-{}", std::process::id()));
//! let store = FileStore::open(FileStoreConfig::new(&dir)).await?;
//! let event = SinkEvent {
//!     tenant_id: "acme".into(),
//!     template_id: "generic-json".into(),
//!     msg_id: "acme:delivery-1:0".into(),
//!     dedupe: true,
//!     payload: r#"{"class_uid":2004}"#.into(),
//! };
//! store.publish(&[event.clone()]).await?; // synced to disk when it returns
//! let read: Vec<_> = store.reader(0).collect::<Result<_, _>>()?;
//! assert_eq!(read[0].event, event);
//! store.close().await;
//! # std::fs::remove_dir_all(&dir)?; Ok(()) }
//! ```
//!
//! Metrics: `aisoc_ingest_store_events_total`, `aisoc_ingest_store_fsyncs_total`,
//! `aisoc_ingest_store_full_total` and the gauge `aisoc_ingest_store_bytes`.

mod dedupe;
mod reader;
mod record;
mod writer;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::{ConfigError, async_trait};
use tokio::sync::{mpsc, oneshot, watch};

pub use reader::StoreReader;

use crate::sink::{EventSink, SinkError, SinkEvent};
use writer::{Command, Writer};

/// The default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The default size cap: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// The default number of recent message ids remembered for deduplication (36 MB, taken when the
/// store opens).
pub const DEFAULT_DEDUPE_MAX_IDS: usize = 1_000_000;
/// The most message ids [`FileStoreConfig::from_lookup`] accepts: 3.6 GB of window.
pub const MAX_DEDUPE_IDS: usize = 100_000_000;
/// Appends queued for the writer before `append` waits for room.
const QUEUE: usize = 1024;

/// Where the store lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStoreConfig {
    /// The directory holding the segment files (created when missing).
    pub dir: PathBuf,
    /// A segment is closed and a new one started once it would grow past this.
    pub segment_bytes: u64,
    /// Appends are refused once the segments would take more than this.
    pub max_bytes: u64,
    /// How long a message id is remembered: a repeat within it is not stored again.
    pub dedupe_window: Duration,
    /// The most message ids remembered (0: no deduplication); older ones are forgotten first.
    /// The store takes 36 bytes for each when it opens.
    pub dedupe_max_ids: usize,
}

impl FileStoreConfig {
    /// The defaults in `dir`: 64 MiB segments, 1 GiB in all, ids deduplicated for 24 h (at
    /// most a million of them).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            max_bytes: DEFAULT_MAX_BYTES,
            dedupe_window: crate::limits::IDEMPOTENCY_TTL,
            dedupe_max_ids: DEFAULT_DEDUPE_MAX_IDS,
        }
    }

    /// The defaults in `dir`, with `AISOC_EVENTS_MAX_BYTES`, `AISOC_EVENTS_SEGMENT_BYTES` and
    /// `AISOC_EVENTS_DEDUPE_MAX_IDS` (0 to [`MAX_DEDUPE_IDS`]; 0 keeps no ids, so a retry after
    /// a crash may be stored twice) read through `lookup`.
    pub fn from_lookup(
        dir: impl Into<PathBuf>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let bytes = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            lookup(name)
                .map(|raw| {
                    raw.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > record::HEADER_LEN)
                        .ok_or_else(|| ConfigError::new(name, "must be a number of bytes above 8"))
                })
                .transpose()
        };
        let mut config = Self::new(dir);
        if let Some(max) = bytes("AISOC_EVENTS_MAX_BYTES")? {
            config.max_bytes = max;
        }
        if let Some(segment) = bytes("AISOC_EVENTS_SEGMENT_BYTES")? {
            config.segment_bytes = segment;
        }
        let ids = "AISOC_EVENTS_DEDUPE_MAX_IDS";
        if let Some(n) = crate::pipeline::number_in(&lookup, ids, 0..=MAX_DEDUPE_IDS, "ids")? {
            config.dedupe_max_ids = n;
        }
        if config.segment_bytes > config.max_bytes {
            config.segment_bytes = config.max_bytes;
        }
        Ok(config)
    }
}

/// Why the store could not append, read or open.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FileStoreError {
    /// The size cap is reached; nothing of the append was stored.
    #[error(
        "the event store is full: {used} of {max} bytes used, {needed} more needed; \
         consumed segments must be deleted first"
    )]
    Full {
        /// Bytes in use.
        used: u64,
        /// The cap.
        max: u64,
        /// What the append needed.
        needed: u64,
    },
    /// The disk is full; nothing of the append was stored.
    #[error("the event store is full: no space left on the disk holding {}", .dir.display())]
    NoSpace {
        /// The store's directory.
        dir: PathBuf,
    },
    /// A tenant, template or message id over 65,535 bytes, or an event over 4 GiB.
    #[error("an event is too large for the event store's record format")]
    RecordTooLarge,
    /// The offset was in segments deleted since.
    #[error("offset {requested} is no longer stored; the oldest stored offset is {oldest}")]
    OffsetGone {
        /// The offset asked for.
        requested: u64,
        /// The oldest offset still stored.
        oldest: u64,
    },
    /// A segment holds bytes that are not records where records must be.
    #[error("{} is damaged at byte {position}: {reason}", .path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Where.
        position: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file system refused.
    #[error("event store I/O error on {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A failed write could not be undone; appends stop until the process restarts and the
    /// store is opened (and repaired) again.
    #[error("the event store stopped after a write to {} failed and could not be undone; restart to recover", .path.display())]
    Stopped {
        /// The segment.
        path: PathBuf,
    },
    /// Another store (in this or another process) has the directory open.
    #[error("the event store in {} is in use by another process", .dir.display())]
    Locked {
        /// The store's directory.
        dir: PathBuf,
    },
    /// The store was closed.
    #[error("the event store is closed")]
    Closed,
    /// The configuration cannot work.
    #[error("invalid event store configuration: {0}")]
    InvalidConfig(&'static str),
}

impl FileStoreError {
    /// True when the append failed for lack of room (the cap or the disk).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full { .. } | Self::NoSpace { .. })
    }
}

/// What an append stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The offsets of the events stored (empty when all were duplicates).
    pub offsets: Range<u64>,
    /// Events not stored again because their message id was stored recently.
    pub duplicates: usize,
}

/// One event read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its position: offsets start at 0 and grow by one per event, without gaps.
    pub offset: u64,
    /// When it was appended.
    pub appended_at: chrono::DateTime<chrono::Utc>,
    /// The event.
    pub event: SinkEvent,
}

/// What [`FileStore::delete_before`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletedSegments {
    /// Segment files removed.
    pub segments: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// Counters and sizes, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStoreStats {
    /// The oldest offset stored.
    pub oldest_offset: u64,
    /// The offset the next event will get; everything before it is synced.
    pub end_offset: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of the segments' records and headers (the active segment's zeros not counted).
    pub bytes: u64,
    /// Events appended since open.
    pub appended: u64,
    /// Events acknowledged as duplicates since open.
    pub duplicates: u64,
    /// Group commits since open: one write and one fsync each.
    pub commits: u64,
    /// fsyncs since open (commits, plus segment creation).
    pub fsyncs: u64,
}

/// State the writer publishes for handles and readers.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    end: watch::Sender<u64>,
    oldest: AtomicU64,
    used_bytes: AtomicU64,
    segments: AtomicU64,
    appended: AtomicU64,
    duplicates: AtomicU64,
    commits: AtomicU64,
    fsyncs: AtomicU64,
    #[cfg(feature = "test-util")]
    commit_gate: std::sync::Mutex<()>,
}

/// The append-only segmented event store (see the module docs).
#[derive(Debug)]
pub struct FileStore {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    stopped: oneshot::Receiver<()>,
}

impl FileStore {
    /// Opens the store in `config.dir`, creating it or repairing a torn tail.
    pub async fn open(config: FileStoreConfig) -> Result<Self, FileStoreError> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`open`](Self::open), with `clock` stamping events and judging the dedupe window.
    pub async fn open_with_clock(
        config: FileStoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FileStoreError> {
        if config.segment_bytes <= record::HEADER_LEN {
            return Err(FileStoreError::InvalidConfig(
                "segment_bytes must exceed the 8-byte segment header",
            ));
        }
        if config.max_bytes < config.segment_bytes {
            return Err(FileStoreError::InvalidConfig(
                "max_bytes must be at least segment_bytes",
            ));
        }
        let shared = Arc::new(Shared {
            dir: config.dir.clone(),
            end: watch::Sender::new(0),
            oldest: AtomicU64::new(0),
            used_bytes: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            appended: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            #[cfg(feature = "test-util")]
            commit_gate: std::sync::Mutex::new(()),
        });
        let for_writer = shared.clone();
        let writer = tokio::task::spawn_blocking(move || Writer::open(&config, for_writer, clock))
            .await
            .map_err(|_| FileStoreError::Closed)??;
        let (commands, receiver) = mpsc::channel(QUEUE);
        let (done, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("aisoc-event-store".into())
            .spawn(move || {
                writer.run(receiver);
                drop(done);
            })
            .map_err(|e| FileStoreError::Io {
                path: shared.dir.clone(),
                source: Arc::new(e),
            })?;
        Ok(Self {
            commands,
            shared,
            stopped,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Appends `events` in order and returns once they are synced to disk; a message id stored
    /// recently is acknowledged without being stored again.
    pub async fn append(&self, events: &[SinkEvent]) -> Result<AppendReceipt, FileStoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Append {
                events: events.to_vec(),
                reply,
            })
            .await
            .map_err(|_| FileStoreError::Closed)?;
        answer.await.map_err(|_| FileStoreError::Closed)?
    }

    /// Reads from offset `from`, up to the last synced event (and on, as more are synced).
    pub fn reader(&self, from: u64) -> StoreReader {
        StoreReader::live(self.shared.clone(), from)
    }

    /// Watches the end offset: it changes after every group commit, so a forwarder can wait
    /// for new events instead of polling.
    pub fn watch_end(&self) -> watch::Receiver<u64> {
        self.shared.end.subscribe()
    }

    /// Deletes every segment whose events all come before `offset` (the active segment stays).
    pub async fn delete_before(&self, offset: u64) -> Result<DeletedSegments, FileStoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::DeleteBefore { offset, reply })
            .await
            .map_err(|_| FileStoreError::Closed)?;
        answer.await.map_err(|_| FileStoreError::Closed)?
    }

    /// Counters and sizes.
    pub fn stats(&self) -> FileStoreStats {
        let shared = &self.shared;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FileStoreStats {
            oldest_offset: shared.oldest.load(Ordering::Acquire),
            end_offset: *shared.end.borrow(),
            segments: load(&shared.segments),
            bytes: load(&shared.used_bytes),
            appended: load(&shared.appended),
            duplicates: load(&shared.duplicates),
            commits: load(&shared.commits),
            fsyncs: load(&shared.fsyncs),
        }
    }

    /// Holds the writer before its next write and fsync until the guard is dropped, so a test
    /// can queue appends behind it deterministically.
    #[cfg(feature = "test-util")]
    pub fn hold_commits(&self) -> std::sync::MutexGuard<'_, ()> {
        self.shared
            .commit_gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Finishes the queued appends and stops the writer.
    pub async fn close(self) {
        drop(self.commands);
        let _ = self.stopped.await;
    }
}

#[async_trait]
impl EventSink for FileStore {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        self.append(events).await.map(drop).map_err(|e| {
            if e.is_full() {
                SinkError::Full(e.to_string())
            } else {
                SinkError::Unavailable(e.to_string())
            }
        })
    }
}
