//! The one thread that writes: it takes every append queued while the previous fsync ran, writes
//! them with one `write` and acknowledges them after one `fsync` (group commit). Owning the
//! segment list here means rotation, the size cap and deletion never race each other.
//!
//! The active segment is kept zero-filled a few mebibytes past its last record. Appending to
//! the end of a file makes every `fdatasync` write the inode (its size and extents) as well as
//! the data, a second round trip to the device; overwriting zeros the file already has does
//! not (`cargo bench -p aisoc-notify-benches --bench file_store`: about two thirds of the
//! time on the development VM's ext4). The zeros are cut off when a segment is sealed, at a clean close and on
//! recovery, so only the active segment of a running store carries them.
//!
//! What has been synced is handed back to the kernel's page cache [`CACHE_KEPT`] behind the
//! last record (`posix_fadvise(DONTNEED)`, on Linux). The writer never reads it again and a
//! reader that keeps up reads within those last mebibytes; left cached, a log written at
//! hundreds of megabytes a second fills the page cache, pushing out pages that something
//! will read, and every page it takes is a fresh one. Fresh pages are costly where free
//! memory goes back to the host (a VM with free page reporting, as the development VM's
//! Firecracker does): there, writing 2 GiB through the zero fill took 5.2 s of CPU with the
//! cache growing and 0.5 s with the pages released behind the writer and taken again.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

use aisoc_notify_core::clock::Clock;

use super::dedupe::{IdHash, IdSet, RecentIds};
use super::record::{self, HEADER_LEN, MAGIC, Next};
use super::{AppendReceipt, DeletedSegments, FileStoreConfig, FileStoreError, Shared};
use crate::sink::SinkEvent;

/// The most bytes one group commit writes before it syncs.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// How far past its last record the active segment is zero-filled (at most to the segment's
/// size): one commit in this many bytes also writes zeros and the file's new size.
const ZERO_AHEAD: u64 = 4 * 1024 * 1024;
/// How much of what was written last stays in the page cache for readers that keep up.
const CACHE_KEPT: u64 = 16 * 1024 * 1024;
/// Synced pages are handed back to the kernel this many bytes at a time.
const CACHE_RELEASE_STEP: u64 = 4 * 1024 * 1024;
/// The zeros written ahead, a piece at a time.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// What the store asks of its writer.
pub(super) enum Command {
    Append {
        events: Vec<SinkEvent>,
        reply: oneshot::Sender<Result<AppendReceipt, FileStoreError>>,
    },
    DeleteBefore {
        offset: u64,
        reply: oneshot::Sender<Result<DeletedSegments, FileStoreError>>,
    },
}

pub(super) fn io_error(path: &Path, source: io::Error) -> FileStoreError {
    if source.kind() == io::ErrorKind::StorageFull {
        return FileStoreError::NoSpace {
            dir: path.parent().unwrap_or(path).to_owned(),
        };
    }
    FileStoreError::Io {
        path: path.to_owned(),
        source: Arc::new(source),
    }
}

/// Makes a new or removed file name durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), FileStoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

struct Segment {
    base: u64,
    path: PathBuf,
    len: u64,
}

/// Encoded records held before they are written out within a commit: a large request's
/// records go to the file a mebibyte at a time instead of all being held at once (its body
/// and mapped events are already in memory; a third copy took a 10 MiB request past 4x).
const SPILL_BYTES: usize = 1024 * 1024;

/// What one group commit carries.
#[derive(Default)]
struct Batch {
    buffer: Vec<u8>,
    /// Bytes of this batch already written to the active segment (not yet synced).
    spilled: u64,
    /// Why spilling failed: the commit rolls the batch back instead of syncing it.
    failed: Option<io::Error>,
    records: u64,
    ids: IdSet,
    stored_ids: Vec<(IdHash, i64)>,
    waiting: Vec<(
        oneshot::Sender<Result<AppendReceipt, FileStoreError>>,
        AppendReceipt,
    )>,
}

impl Batch {
    /// The batch's bytes, written out or held.
    fn len(&self) -> u64 {
        self.spilled + self.buffer.len() as u64
    }
}

/// Whether an append joined the batch.
enum Admitted {
    Done,
    /// It belongs in the next segment; the batch so far must be committed first.
    AfterRotation(Command),
}

pub(super) struct Writer {
    /// Holds the directory's lock for as long as the writer runs.
    _lock: File,
    shared: Arc<Shared>,
    segment_bytes: u64,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    active: File,
    /// The active segment's length on disk: its records, then zeros.
    allocated: u64,
    /// The active segment's bytes before this offset are no longer kept in the page cache.
    released: u64,
    /// The segment sealed last, until its cached tail is released too.
    sealed: Option<File>,
    next: u64,
    used: u64,
    recent: RecentIds,
    clock: Arc<dyn Clock>,
    stopped: bool,
}

fn create_segment(dir: &Path, base: u64) -> Result<(PathBuf, File), FileStoreError> {
    let path = dir.join(record::segment_name(base));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    file.write_all(MAGIC)
        .and_then(|()| file.sync_data())
        .map_err(|e| io_error(&path, e))?;
    sync_dir(dir)?;
    Ok((path, file))
}

/// Takes the directory's exclusive lock (`flock`), which the OS releases when the process dies.
fn lock_dir(dir: &Path) -> Result<File, FileStoreError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    // Through fs4 rather than `File::try_lock`, which is newer than the workspace's MSRV.
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(FileStoreError::Locked {
            dir: dir.to_owned(),
        }),
        Err(fs4::TryLockError::Error(e)) => Err(io_error(&path, e)),
    }
}

fn corrupt(path: &Path, position: u64, reason: &'static str) -> FileStoreError {
    FileStoreError::Corrupt {
        path: path.to_owned(),
        position,
        reason,
    }
}

/// Reads every record of a segment; stops at the first torn one and says where it starts.
fn scan(
    path: &Path,
    base: u64,
    file: &File,
    mut each: impl FnMut(record::Decoded),
) -> Result<(u64, Option<&'static str>), FileStoreError> {
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader
        .seek(SeekFrom::Start(HEADER_LEN))
        .map_err(|e| io_error(path, e))?;
    let (mut position, mut expected) = (HEADER_LEN, base);
    loop {
        match record::read_next(&mut reader, len - position).map_err(|e| io_error(path, e))? {
            Next::Record(decoded) => {
                if decoded.offset != expected {
                    return Err(corrupt(path, position, "a record is out of sequence"));
                }
                position += decoded.len;
                expected += 1;
                each(decoded);
            }
            Next::End => return Ok((position, None)),
            Next::Torn(reason) => return Ok((position, Some(reason))),
        }
    }
}

/// The newest segment, ready for appending.
struct Recovered {
    file: File,
    len: u64,
    next: u64,
}

/// Opens the newest segment for appending, cutting off a record torn by a crash; `each` sees
/// every record kept.
fn recover_active(
    path: &Path,
    base: u64,
    mut each: impl FnMut(&record::Decoded),
) -> Result<Recovered, FileStoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut header = Vec::new();
    (&mut file)
        .take(HEADER_LEN)
        .read_to_end(&mut header)
        .map_err(|e| io_error(path, e))?;
    if header.as_slice() != MAGIC {
        if len <= HEADER_LEN && MAGIC.starts_with(&header) {
            // Created just before a crash: the header itself was torn.
            tracing::warn!(path = %path.display(), "rewriting a torn segment header");
            file.set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
                .and_then(|()| file.write_all(MAGIC))
                .and_then(|()| file.sync_data())
                .map_err(|e| io_error(path, e))?;
            return Ok(Recovered {
                file,
                len: HEADER_LEN,
                next: base,
            });
        }
        return Err(corrupt(path, 0, "not an event segment (wrong magic)"));
    }
    let mut next = base;
    let (end, torn) = scan(path, base, &file, |decoded| {
        next = decoded.offset + 1;
        each(&decoded);
    })?;
    if let Some(reason) = torn {
        tracing::warn!(
            path = %path.display(),
            dropped_bytes = len - end,
            reason,
            "dropping a record torn by a crash (it was never acknowledged)"
        );
    }
    if len > end {
        // A torn record, or the zeros written ahead (which may hide bytes of a batch that was
        // never synced): the writer fills afresh from the last good record.
        file.set_len(end)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(path, e))?;
    }
    file.seek(SeekFrom::Start(end))
        .map_err(|e| io_error(path, e))?;
    Ok(Recovered {
        file,
        len: end,
        next,
    })
}

impl Writer {
    /// Opens (or creates) the store in `config.dir`.
    pub(super) fn open(
        config: &FileStoreConfig,
        shared: Arc<Shared>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FileStoreError> {
        let dir = &config.dir;
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let lock = lock_dir(dir)?;
        let mut listed = record::list_segments(dir).map_err(|e| io_error(dir, e))?;
        if listed.is_empty() {
            let (path, _) = create_segment(dir, 0)?;
            listed.push((0, path));
        }
        let (active_base, active_path) = listed.last().cloned().expect("one segment");
        let mut recent = RecentIds::new(config.dedupe_max_ids, config.dedupe_window);
        let now = clock.now().timestamp_millis();
        // Records do not say whether their id was random, so every stored id is remembered
        // again (conservative: only the window's reach shrinks until new traffic refills it).
        let mut newest = Vec::new();
        let active = recover_active(&active_path, active_base, |d| {
            newest.push((recent.id(&d.event.msg_id), d.appended_at_ms));
        })?;
        let mut segments = VecDeque::new();
        let mut used = active.len;
        for (base, path) in &listed[..listed.len() - 1] {
            let len = std::fs::metadata(path)
                .map_err(|e| io_error(path, e))?
                .len();
            used += len;
            segments.push_back(Segment {
                base: *base,
                path: path.clone(),
                len,
            });
        }
        segments.push_back(Segment {
            base: active_base,
            path: active_path,
            len: active.len,
        });
        // Older segments, newest first, while their records can still be inside the window.
        let mut older = listed[..listed.len() - 1].iter().rev();
        while newest.len() < config.dedupe_max_ids
            && newest
                .first()
                .is_none_or(|(_, at)| recent.in_window(*at, now))
            && let Some((base, path)) = older.next()
        {
            let file = File::open(path).map_err(|e| io_error(path, e))?;
            let mut ids = Vec::new();
            let each =
                |d: record::Decoded| ids.push((recent.id(&d.event.msg_id), d.appended_at_ms));
            match scan(path, *base, &file, each) {
                Ok((_, None)) => {}
                Ok((at, Some(reason))) => tracing::warn!(path = %path.display(), at, reason,
                    "a sealed segment is damaged; its later records are not served"),
                Err(error) => tracing::warn!(%error, "a sealed segment is damaged"),
            }
            ids.append(&mut newest);
            newest = ids;
        }
        for (id, at) in newest {
            recent.push(id, at);
        }
        recent.expire(now);
        let writer = Self {
            _lock: lock,
            shared,
            segment_bytes: config.segment_bytes,
            max_bytes: config.max_bytes,
            segments,
            active: active.file,
            allocated: active.len,
            released: 0,
            sealed: None,
            next: active.next,
            used,
            recent,
            clock,
            stopped: false,
        };
        writer.publish_state();
        Ok(writer)
    }

    fn publish_state(&self) {
        let shared = &self.shared;
        shared.oldest.store(
            self.segments.front().map_or(0, |s| s.base),
            Ordering::Release,
        );
        shared.used_bytes.store(self.used, Ordering::Relaxed);
        shared
            .segments
            .store(self.segments.len() as u64, Ordering::Relaxed);
        shared.end.send_replace(self.next);
        metrics::gauge!(crate::metrics::STORE_BYTES).set(self.used as f64);
    }

    /// Serves commands until every handle to the store is gone.
    pub(super) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut carried = None;
        loop {
            let Some(first) = carried.take().or_else(|| commands.blocking_recv()) else {
                break;
            };
            let mut batch = Batch::default();
            let mut command = Some(first);
            while let Some(next) = command.take() {
                if let Admitted::AfterRotation(next) = self.admit(next, &mut batch) {
                    carried = Some(next);
                    break;
                }
                if batch.len() < MAX_BATCH_BYTES as u64 {
                    command = commands.try_recv().ok();
                }
            }
            self.commit(batch);
        }
        self.seal_active();
    }

    /// Cuts the zeros off the end of the active segment, so that a sealed or closed segment is
    /// exactly its records (a reader would stop at the zeros all the same).
    fn seal_active(&mut self) {
        let Some(segment) = self.segments.back() else {
            return;
        };
        if self.allocated > segment.len {
            let cut = self
                .active
                .set_len(segment.len)
                .and_then(|()| self.active.sync_data());
            self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
            match cut {
                Ok(()) => self.allocated = segment.len,
                Err(error) => tracing::warn!(
                    path = %segment.path.display(),
                    %error,
                    "could not cut the zeros off a sealed segment; readers stop at them"
                ),
            }
        }
    }

    fn admit(&mut self, command: Command, batch: &mut Batch) -> Admitted {
        let (events, reply) = match command {
            Command::DeleteBefore { offset, reply } => {
                let _ = reply.send(self.delete_before(offset));
                return Admitted::Done;
            }
            Command::Append { events, reply } => (events, reply),
        };
        if self.stopped {
            let path = self.segments.back().map(|s| s.path.clone());
            let _ = reply.send(Err(FileStoreError::Stopped {
                path: path.unwrap_or_default(),
            }));
            return Admitted::Done;
        }
        let appended_at = self.clock.now().timestamp_millis();
        self.recent.expire(appended_at);
        // A random id (no idempotency key) is never sent again: it is not looked up and takes
        // no room in the window, which keeps the keyed ids that retries do repeat.
        let ids: Vec<Option<IdHash>> = events
            .iter()
            .map(|event| event.dedupe.then(|| self.recent.id(&event.msg_id)))
            .collect();
        self.recent.prefetch(ids.iter().flatten().copied(), 0);
        let mut fresh = Vec::with_capacity(events.len());
        let mut size = 0;
        let mut seen_here = IdSet::default();
        for (event, id) in events.iter().zip(ids) {
            let Some(len) = record::encoded_len(event) else {
                let _ = reply.send(Err(FileStoreError::RecordTooLarge));
                return Admitted::Done;
            };
            if let Some(id) = id
                && (self.recent.contains(id) || batch.ids.contains(&id) || !seen_here.insert(id))
            {
                continue;
            }
            size += len;
            fresh.push((id, event));
        }
        let active_len = self.segments.back().map_or(0, |s| s.len) + batch.len();
        let rotate = size > 0 && active_len > HEADER_LEN && active_len + size > self.segment_bytes;
        if rotate && batch.len() > 0 {
            return Admitted::AfterRotation(Command::Append { events, reply });
        }
        let needed = size + if rotate { HEADER_LEN } else { 0 };
        let used = self.used + batch.len();
        if used + needed > self.max_bytes {
            metrics::counter!(crate::metrics::STORE_FULL).increment(1);
            let _ = reply.send(Err(FileStoreError::Full {
                used,
                max: self.max_bytes,
                needed,
            }));
            return Admitted::Done;
        }
        if rotate && let Err(error) = self.rotate() {
            let _ = reply.send(Err(error));
            return Admitted::Done;
        }
        let first = self.next + batch.records;
        for (i, (id, event)) in fresh.iter().enumerate() {
            record::encode(first + i as u64, appended_at, event, &mut batch.buffer);
            if batch.buffer.len() >= SPILL_BYTES {
                self.spill(batch);
            }
            if let Some(id) = *id {
                batch.ids.insert(id);
                batch.stored_ids.push((id, appended_at));
            }
        }
        batch.records += fresh.len() as u64;
        let receipt = AppendReceipt {
            offsets: first..first + fresh.len() as u64,
            duplicates: events.len() - fresh.len(),
        };
        batch.waiting.push((reply, receipt));
        Admitted::Done
    }

    /// Starts a new segment after the active one, which the last commit left synced.
    fn rotate(&mut self) -> Result<(), FileStoreError> {
        self.seal_active();
        let (path, file) = create_segment(&self.shared.dir, self.next)?;
        self.shared.fsyncs.fetch_add(2, Ordering::Relaxed);
        let sealed = std::mem::replace(&mut self.active, file);
        if let Some(older) = self.sealed.replace(sealed) {
            release_cached(&older, 0, None);
        }
        self.allocated = HEADER_LEN;
        self.released = 0;
        self.used += HEADER_LEN;
        self.segments.push_back(Segment {
            base: self.next,
            path,
            len: HEADER_LEN,
        });
        self.publish_state();
        Ok(())
    }

    /// Writes the held records out (synced with the rest at the commit).
    fn spill(&mut self, batch: &mut Batch) {
        if batch.failed.is_some() {
            batch.buffer.clear(); // the commit rolls the batch back anyway
            return;
        }
        match self.active.write_all(&batch.buffer) {
            Ok(()) => batch.spilled += batch.buffer.len() as u64,
            Err(error) => batch.failed = Some(error),
        }
        batch.buffer.clear();
    }

    fn commit(&mut self, mut batch: Batch) {
        if batch.len() == 0 {
            // Every append in it was a duplicate of an event already synced (or refused).
            for (reply, receipt) in batch.waiting {
                let _ = reply.send(Ok(receipt));
            }
            return;
        }
        #[cfg(feature = "test-util")]
        let held = self
            .shared
            .commit_gate
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let start = self.segments.back().expect("an active segment").len;
        let written = match batch.failed.take() {
            Some(error) => Err(error),
            None => self
                .active
                .write_all(&batch.buffer)
                .and_then(|()| {
                    let end = start + batch.len();
                    zero_ahead(&self.active, &mut self.allocated, self.segment_bytes, end)
                })
                .and_then(|()| self.active.sync_data()),
        };
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::metrics::STORE_FSYNCS).increment(1);
        #[cfg(feature = "test-util")]
        drop(held);
        let segment = self.segments.back_mut().expect("an active segment");
        if let Err(error) = written {
            let error = io_error(&segment.path, error);
            tracing::error!(%error, "event store write failed; rolling the batch back");
            let rolled_back = self
                .active
                .set_len(start)
                .and_then(|()| self.active.seek(SeekFrom::Start(start)).map(drop))
                .and_then(|()| self.active.sync_data());
            self.allocated = start;
            if let Err(again) = rolled_back {
                tracing::error!(error = %again, "event store rollback failed; refusing appends until restart");
                self.stopped = true;
            }
            for (reply, _) in batch.waiting {
                let _ = reply.send(Err(error.clone()));
            }
            return;
        }
        let bytes = batch.len();
        segment.len += bytes;
        self.used += bytes;
        self.next += batch.records;
        let stored_ids = batch.stored_ids.iter().map(|(id, _)| *id);
        self.recent.prefetch(stored_ids, batch.stored_ids.len());
        for (id, at) in batch.stored_ids {
            self.recent.push(id, at);
        }
        let shared = &self.shared;
        shared.commits.fetch_add(1, Ordering::Relaxed);
        shared.appended.fetch_add(batch.records, Ordering::Relaxed);
        metrics::counter!(crate::metrics::STORE_EVENTS).increment(batch.records);
        self.publish_state();
        for (reply, receipt) in batch.waiting {
            shared
                .duplicates
                .fetch_add(receipt.duplicates as u64, Ordering::Relaxed);
            let _ = reply.send(Ok(receipt));
        }
        // After the answers: the advice is not part of anyone's wait.
        self.release_synced();
    }

    /// Hands the synced pages more than [`CACHE_KEPT`] behind the last record back to the
    /// kernel, [`CACHE_RELEASE_STEP`] or more at a time, the sealed segment's tail with them.
    fn release_synced(&mut self) {
        let end = self.segments.back().map_or(0, |s| s.len);
        let keep_from = end.saturating_sub(CACHE_KEPT);
        if keep_from < self.released + CACHE_RELEASE_STEP {
            return;
        }
        if let Some(sealed) = self.sealed.take() {
            release_cached(&sealed, 0, None);
        }
        release_cached(
            &self.active,
            self.released,
            NonZeroU64::new(keep_from - self.released),
        );
        self.released = keep_from;
    }

    /// Removes whole segments whose every record is before `offset`; never the active one.
    fn delete_before(&mut self, offset: u64) -> Result<DeletedSegments, FileStoreError> {
        let mut deleted = DeletedSegments::default();
        while self.segments.len() > 1 && self.segments[1].base <= offset {
            let segment = self.segments.pop_front().expect("two segments");
            if let Err(error) = std::fs::remove_file(&segment.path) {
                let error = io_error(&segment.path, error);
                self.segments.push_front(segment);
                self.publish_state();
                return Err(error);
            }
            self.used -= segment.len;
            deleted.segments += 1;
            deleted.bytes += segment.len;
        }
        if deleted.segments > 0 {
            sync_dir(&self.shared.dir)?;
            self.publish_state();
        }
        Ok(deleted)
    }
}

/// Zero-fills `file` (the active segment, `allocated` bytes long) past `end`, where the batch
/// being committed ends, once that batch has reached the zeros written before; the commit's
/// sync makes them durable with the batch.
fn zero_ahead(file: &File, allocated: &mut u64, segment_bytes: u64, end: u64) -> io::Result<()> {
    if end < *allocated {
        return Ok(());
    }
    let target = (end + ZERO_AHEAD).min(segment_bytes.max(end));
    let mut at = end;
    while at < target {
        let piece = (target - at).min(ZEROS.len() as u64) as usize;
        write_all_at(file, &ZEROS[..piece], at)?;
        at += piece as u64;
    }
    *allocated = target;
    Ok(())
}

/// Tells the kernel that the synced bytes of `file` from `offset` (`len` of them, or to the
/// end) will not be read again soon, so their pages can be reused. Advice only: nothing is
/// lost if it is not taken.
#[cfg(target_os = "linux")]
fn release_cached(file: &File, offset: u64, len: Option<NonZeroU64>) {
    use rustix::fs::{Advice, fadvise};
    if let Err(error) = fadvise(file, offset, len, Advice::DontNeed) {
        tracing::debug!(%error, "could not release an event segment's cached pages");
    }
}

#[cfg(not(target_os = "linux"))]
fn release_cached(_file: &File, _offset: u64, _len: Option<NonZeroU64>) {}

/// Writes `buf` at `offset` without moving the file's cursor (where the next batch goes).
#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

/// Writes `buf` at `offset`, then puts the cursor back where it was.
#[cfg(not(unix))]
fn write_all_at(mut file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    let cursor = file.stream_position()?;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(buf)?;
    file.seek(SeekFrom::Start(cursor)).map(drop)
}
