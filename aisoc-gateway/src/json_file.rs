//! One JSON document in a file of the data directory, replaced whole and atomically.
//!
//! The same discipline as the channel file: a change is read, made and written under an
//! exclusive lock (`flock` on `LOCK` beside the file), the new version goes to a temporary
//! file that is fsynced and renamed over the old one, then the directory is fsynced. A crash
//! leaves the old document or the new one, never half of one; temporary files a crash left are
//! removed when the file is opened. The directory is created 0700, the file 0600.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON document kept in `<dir>/<name>`.
#[derive(Debug, Clone)]
pub(crate) struct JsonFile {
    dir: PathBuf,
    name: &'static str,
}

/// What failed, with the path (never file contents).
#[derive(Debug, thiserror::Error)]
pub(crate) enum JsonFileError {
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not the document this version writes.
    #[error("{path}: {reason}")]
    Corrupt { path: String, reason: String },
}

#[cfg(unix)]
fn private_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = OpenOptions::new();
    options.mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> OpenOptions {
    OpenOptions::new()
}

impl JsonFile {
    /// Creates `dir` when missing and removes temporary files a crash left.
    pub(crate) fn open(dir: PathBuf, name: &'static str) -> Result<Self, JsonFileError> {
        let file = Self { dir, name };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&file.dir)
            .map_err(|e| file.io(&file.dir, e))?;
        let _lock = file.lock()?;
        let prefix = file.temp_prefix();
        let entries = std::fs::read_dir(&file.dir).map_err(|e| file.io(&file.dir, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(file)
    }

    /// The file.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(self.name)
    }

    fn temp_prefix(&self) -> String {
        format!("{}.tmp-", self.name)
    }

    fn io(&self, path: &Path, source: std::io::Error) -> JsonFileError {
        JsonFileError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    fn lock(&self) -> Result<File, JsonFileError> {
        let path = self.dir.join(format!("{}.LOCK", self.name));
        let file = private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.io(&path, e))?;
        fs4::FileExt::lock(&file).map_err(|e| self.io(&path, e))?;
        Ok(file)
    }

    /// The document, or `T::default()` when the file does not exist yet.
    pub(crate) fn read<T: DeserializeOwned + Default>(&self) -> Result<T, JsonFileError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
            Err(error) => return Err(self.io(&path, error)),
        };
        serde_json::from_slice(&bytes).map_err(|e| JsonFileError::Corrupt {
            path: path.display().to_string(),
            reason: format!("not the expected document: {e}"),
        })
    }

    /// Reads the document, lets `change` modify it, and writes it back (all under the lock)
    /// when `change` answers `Ok(true)`.
    pub(crate) fn modify<T, E>(
        &self,
        change: impl FnOnce(&mut T) -> Result<bool, E>,
    ) -> Result<Result<T, E>, JsonFileError>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        let _lock = self.lock()?;
        let mut document: T = self.read()?;
        match change(&mut document) {
            Ok(true) => {
                self.write(&document)?;
                Ok(Ok(document))
            }
            Ok(false) => Ok(Ok(document)),
            Err(error) => Ok(Err(error)),
        }
    }

    fn write<T: Serialize>(&self, document: &T) -> Result<(), JsonFileError> {
        let bytes = serde_json::to_vec_pretty(document).map_err(|e| JsonFileError::Corrupt {
            path: self.path().display().to_string(),
            reason: e.to_string(),
        })?;
        let temp = self.dir.join(format!(
            "{}{}-{:016x}",
            self.temp_prefix(),
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = (|| {
            let mut file = private_options().write(true).create_new(true).open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&temp, self.path())?;
            File::open(&self.dir)?.sync_all()
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            self.io(&self.path(), e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_written_whole_and_refusals_write_nothing() {
        let dir = std::env::temp_dir().join(format!("json-file-{:016x}", rand::random::<u64>()));
        let file = JsonFile::open(dir.clone(), "doc.json").unwrap();
        assert_eq!(file.read::<Vec<u32>>().unwrap(), Vec::<u32>::new());
        let written = file
            .modify(|doc: &mut Vec<u32>| {
                doc.push(7);
                Ok::<_, ()>(true)
            })
            .unwrap()
            .unwrap();
        assert_eq!(written, [7]);
        let refused = file
            .modify(|doc: &mut Vec<u32>| {
                doc.push(8);
                Err::<bool, _>("no")
            })
            .unwrap();
        assert_eq!(refused, Err("no"));
        assert_eq!(
            JsonFile::open(dir.clone(), "doc.json")
                .unwrap()
                .read::<Vec<u32>>()
                .unwrap(),
            [7]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
