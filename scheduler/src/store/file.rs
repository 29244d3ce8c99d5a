//! The file store: `<dir>/scheduler-state` (mode 0600) holds a small header — format, version,
//! length, SHA-256 — and the blob. Saves hold an exclusive `flock` on `<dir>/scheduler-state.lock`
//! while they compare the version and replace the file atomically (temp file, fsync, rename, fsync
//! of the directory), so two schedulers on one directory cannot both win.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{StoreError, Version, Versioned};

const STATE_FILE: &str = "scheduler-state";
const LOCK_FILE: &str = "scheduler-state.lock";
const TEMP_FILE: &str = ".scheduler-state.tmp";
const MAGIC: &str = "scaleio-scheduler-state 1";

/// A store in one local directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl fmt::Display for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file:{}", self.dir.display())
    }
}

impl FileStore {
    /// Create the directory when missing (mode 0700) and check it can hold the lock file.
    pub async fn open(dir: PathBuf) -> Result<FileStore, StoreError> {
        let store = FileStore { dir };
        let this = store.clone();
        run_blocking(move || {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&this.dir)
                .map_err(|e| this.io("cannot create the directory", &this.dir, e))?;
            this.lock().map(drop)
        })
        .await?;
        Ok(store)
    }

    pub async fn load(&self) -> Result<Option<Versioned>, StoreError> {
        let this = self.clone();
        run_blocking(move || this.read()).await
    }

    pub async fn save(
        &self,
        expected: Option<Version>,
        data: &[u8],
    ) -> Result<Version, StoreError> {
        let this = self.clone();
        let data = data.to_vec();
        run_blocking(move || {
            let _lock = this.lock()?;
            let found = this.read()?.map(|stored| stored.version);
            if found != expected {
                return Err(StoreError::Conflict { store: this.to_string(), expected, found });
            }
            let version = Version(expected.map_or(1, |v| v.0 + 1));
            this.write(version, &data)?;
            Ok(version)
        })
        .await
    }

    fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn io(&self, action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { store: self.to_string(), action, path: path.to_path_buf(), source }
    }

    /// An exclusive lock on the lock file, released when the returned file is dropped.
    fn lock(&self) -> Result<File, StoreError> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| self.io("cannot open the lock file", &path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| self.io("cannot lock", &path, e.into()))?;
        Ok(file)
    }

    fn read(&self) -> Result<Option<Versioned>, StoreError> {
        let path = self.path();
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes).map_err(|e| self.io("cannot read", &path, e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("cannot open", &path, e)),
        };
        decode(&bytes).map(Some).map_err(|problem| StoreError::Corrupt {
            store: self.to_string(),
            path,
            problem,
        })
    }

    fn write(&self, version: Version, data: &[u8]) -> Result<(), StoreError> {
        let temp = self.dir.join(TEMP_FILE);
        // A leftover from a crash (or a planted symlink) goes first; O_EXCL then refuses to follow
        // anything that appears in between.
        match std::fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io("cannot remove the stale", &temp, e)),
        }
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| self.io("cannot create", &temp, e))?;
        file.write_all(&encode(version, data))
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io("cannot write", &temp, e))?;
        drop(file);
        let path = self.path();
        std::fs::rename(&temp, &path).map_err(|e| self.io("cannot replace", &path, e))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| self.io("cannot sync the directory", &self.dir, e))
    }
}

fn encode(version: Version, data: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{MAGIC}\nversion {}\nlength {}\nsha256 {}\n\n",
        version.0,
        data.len(),
        hex(&Sha256::digest(data))
    )
    .into_bytes();
    out.extend_from_slice(data);
    out
}

fn decode(bytes: &[u8]) -> Result<Versioned, String> {
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("no header (expected a `scaleio-scheduler-state 1` header, then a blank line)")?;
    let header =
        std::str::from_utf8(&bytes[..split]).map_err(|_| "the header is not UTF-8".to_owned())?;
    let data = &bytes[split + 2..];
    let mut lines = header.lines();
    let magic = lines.next().unwrap_or_default();
    if magic != MAGIC {
        return Err(format!("expected the header `{MAGIC}`, found `{magic}`"));
    }
    let mut field = |name: &str| -> Result<String, String> {
        let line = lines.next().unwrap_or_default();
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(str::to_owned)
            .ok_or_else(|| format!("expected the header line `{name} …`, found `{line}`"))
    };
    let version: u64 = field("version")?.parse().map_err(|_| "the version is not a number")?;
    let length: usize = field("length")?.parse().map_err(|_| "the length is not a number")?;
    let sha256 = field("sha256")?;
    if data.len() != length {
        return Err(format!(
            "expected {length} bytes of state, found {} (truncated or appended to)",
            data.len()
        ));
    }
    let actual = hex(&Sha256::digest(data));
    if actual != sha256 {
        return Err(format!("expected SHA-256 {sha256}, found {actual}"));
    }
    if version == 0 {
        return Err("version 0 is never written".to_owned());
    }
    Ok(Versioned { version: Version(version), data: data.to_vec() })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.expect("store file operations do not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_damage_is_named() {
        let encoded = encode(Version(7), b"{\"a\":1}\n\n");
        assert_eq!(
            decode(&encoded).unwrap(),
            Versioned { version: Version(7), data: b"{\"a\":1}\n\n".to_vec() }
        );
        let truncated = &encoded[..encoded.len() - 1];
        assert!(decode(truncated).unwrap_err().contains("expected 9 bytes of state, found 8"));
        let mut flipped = encoded.clone();
        *flipped.last_mut().unwrap() = b'x';
        assert!(decode(&flipped).unwrap_err().starts_with("expected SHA-256"));
        assert!(decode(b"{}").unwrap_err().starts_with("no header"));
        assert!(decode(b"other 2\n\n").unwrap_err().contains("found `other 2`"));
    }
}
