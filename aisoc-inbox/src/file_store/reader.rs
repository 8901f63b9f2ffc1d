//! Reading the store back from an offset: what a forwarder replays and what an operator reads.
//!
//! A reader opens the segment files itself, so it never blocks the writer. Attached to an open
//! [`FileStore`](super::FileStore) it stops at the last synced offset; reading a directory on its
//! own (another process owns the store, or none does) it stops at the first incomplete record.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::{self, HEADER_LEN, MAGIC, Next};
use super::writer::io_error;
use super::{FileStoreError, Shared, StoredEvent};

/// Iterates stored events in offset order from a starting offset. Blocking file I/O: iterate it
/// on a blocking thread, or call [`next_batch`](Self::next_batch) from async code.
#[derive(Debug)]
pub struct StoreReader {
    state: Option<State>,
}

#[derive(Debug)]
struct State {
    dir: PathBuf,
    next: u64,
    live: Option<Arc<Shared>>,
    open: Option<OpenSegment>,
}

#[derive(Debug)]
struct OpenSegment {
    base: u64,
    path: PathBuf,
    reader: BufReader<File>,
    position: u64,
    len: u64,
    /// The position last re-read from the file rather than from the read-ahead buffer.
    reread_at: Option<u64>,
}

impl StoreReader {
    pub(super) fn live(shared: Arc<Shared>, from: u64) -> Self {
        Self::with(shared.dir.clone(), from, Some(shared))
    }

    /// Reads the store in `dir` from offset `from` without opening it for writing; safe while
    /// another process appends, and it never repairs anything.
    pub fn open_dir(dir: impl Into<PathBuf>, from: u64) -> Self {
        Self::with(dir.into(), from, None)
    }

    fn with(dir: PathBuf, next: u64, live: Option<Arc<Shared>>) -> Self {
        Self {
            state: Some(State {
                dir,
                next,
                live,
                open: None,
            }),
        }
    }

    /// The offset the next event will have.
    pub fn position(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.next)
    }

    /// Up to `max` events from the current position (fewer, or none, once caught up), read on a
    /// blocking thread.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<StoredEvent>, FileStoreError> {
        let Some(mut state) = self.state.take() else {
            return Err(FileStoreError::Closed);
        };
        let (state, batch) = tokio::task::spawn_blocking(move || {
            let mut batch = Vec::new();
            while batch.len() < max {
                match state.next_event() {
                    Some(Ok(event)) => batch.push(event),
                    Some(Err(error)) => return (state, Err(error)),
                    None => break,
                }
            }
            (state, Ok(batch))
        })
        .await
        .map_err(|_| FileStoreError::Closed)?;
        self.state = Some(state);
        batch
    }
}

impl Iterator for StoreReader {
    type Item = Result<StoredEvent, FileStoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.state.as_mut()?.next_event()
    }
}

fn corrupt(path: &Path, position: u64, reason: &'static str) -> FileStoreError {
    FileStoreError::Corrupt {
        path: path.to_owned(),
        position,
        reason,
    }
}

impl OpenSegment {
    /// Drops the read-ahead buffer and measures the file again, once per position: the writer
    /// may have appended since, past the old end or over the zeros the buffer holds. Whether
    /// it is worth reading the current record again.
    fn reread(&mut self) -> io::Result<bool> {
        if self.reread_at == Some(self.position) {
            return Ok(false);
        }
        self.len = self.reader.get_ref().metadata()?.len();
        self.reader.seek(SeekFrom::Start(self.position))?;
        self.reread_at = Some(self.position);
        Ok(true)
    }
}

impl State {
    /// The first offset not readable yet.
    fn end(&self) -> u64 {
        self.live.as_ref().map_or(u64::MAX, |s| *s.end.borrow())
    }

    fn next_event(&mut self) -> Option<Result<StoredEvent, FileStoreError>> {
        loop {
            let end = self.end();
            if self.next >= end {
                return None;
            }
            if self.open.is_none() {
                match self.open_segment() {
                    Ok(Some(segment)) => self.open = Some(segment),
                    Ok(None) => return None,
                    Err(error) => return Some(Err(error)),
                }
            }
            let segment = self.open.as_mut().expect("opened above");
            let remaining = segment.len - segment.position;
            let next = match record::read_next(&mut segment.reader, remaining) {
                Ok(next) => next,
                Err(error) => return Some(Err(io_error(&segment.path, error))),
            };
            if matches!(next, Next::End | Next::Torn(_)) {
                // The writer may have appended since the file was measured and buffered.
                match segment.reread() {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(error) => return Some(Err(io_error(&segment.path, error))),
                }
            }
            match next {
                Next::Record(decoded) if decoded.offset == self.next => {
                    segment.position += decoded.len;
                    self.next += 1;
                    return Some(Ok(StoredEvent {
                        offset: decoded.offset,
                        appended_at: chrono::DateTime::from_timestamp_millis(
                            decoded.appended_at_ms,
                        )
                        .unwrap_or_default(),
                        event: decoded.event,
                    }));
                }
                Next::Record(_) => {
                    let error = corrupt(
                        &segment.path,
                        segment.position,
                        "a record is out of sequence",
                    );
                    return Some(Err(error));
                }
                Next::End => {
                    // The rest is in the next segment, which starts where this one ended.
                    let current = segment.base;
                    match record::list_segments(&self.dir) {
                        Ok(list) if list.iter().any(|(b, _)| *b == self.next && *b != current) => {
                            self.open = None;
                        }
                        Ok(_) if self.live.is_some() && self.next < end => {
                            let path = segment.path.clone();
                            let at = segment.position;
                            return Some(Err(corrupt(&path, at, "the next segment is missing")));
                        }
                        Ok(_) => {
                            // Caught up: look again from scratch next time.
                            self.open = None;
                            return None;
                        }
                        Err(error) => return Some(Err(io_error(&self.dir, error))),
                    }
                }
                Next::Torn(reason) => {
                    let (path, at) = (segment.path.clone(), segment.position);
                    self.open = None;
                    if self.live.is_some() {
                        return Some(Err(corrupt(&path, at, reason)));
                    }
                    // Not synced yet, or torn by a crash: the end of what can be read.
                    return None;
                }
            }
        }
    }

    /// Opens the segment holding `self.next`, positioned on it; `None` when there is nothing
    /// to read yet.
    fn open_segment(&self) -> Result<Option<OpenSegment>, FileStoreError> {
        let list = record::list_segments(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        let Some((base, path)) = list.iter().rev().find(|(b, _)| *b <= self.next).cloned() else {
            return match list.first() {
                Some((oldest, _)) => Err(FileStoreError::OffsetGone {
                    requested: self.next,
                    oldest: *oldest,
                }),
                None => Ok(None),
            };
        };
        let file = match File::open(&path) {
            Ok(file) => file,
            // Deleted since it was listed: everything it held is gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return self.open_segment_after_deletion();
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut header = [0u8; HEADER_LEN as usize];
        if len < HEADER_LEN {
            return Ok(None);
        }
        reader
            .read_exact(&mut header)
            .map_err(|e| io_error(&path, e))?;
        if &header != MAGIC {
            return Err(corrupt(&path, 0, "not an event segment (wrong magic)"));
        }
        let mut segment = OpenSegment {
            base,
            path,
            reader,
            position: HEADER_LEN,
            len,
            reread_at: None,
        };
        // Skip to `next`: records are variable-length, so read their frames from the start.
        for _ in base..self.next {
            let remaining = segment.len - segment.position;
            match record::read_next(&mut segment.reader, remaining)
                .map_err(|e| io_error(&segment.path, e))?
            {
                Next::Record(decoded) => segment.position += decoded.len,
                Next::End | Next::Torn(_) if self.live.is_none() => return Ok(None),
                Next::End | Next::Torn(_) => {
                    return Err(corrupt(
                        &segment.path,
                        segment.position,
                        "records are missing",
                    ));
                }
            }
        }
        Ok(Some(segment))
    }

    fn open_segment_after_deletion(&self) -> Result<Option<OpenSegment>, FileStoreError> {
        let list = record::list_segments(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        match list.first() {
            Some((oldest, _)) if *oldest > self.next => Err(FileStoreError::OffsetGone {
                requested: self.next,
                oldest: *oldest,
            }),
            _ => self.open_segment(),
        }
    }
}
