//! Reproducible tar and tar.gz writer: sorted entries, headers built here, digests taken while streaming.
//!
//! The caller collects entries in any order into an [`ArchiveBuilder`]; writing sorts them by
//! path components (so every directory comes right before its children), adds any missing parent
//! directory, and builds every ustar header itself: uid/gid 0, empty user and group names, mode
//! 0755 for directories and executables and 0644 for other files, and one mtime for all entries.
//! File contents stream from their source (a file opened only when its turn comes, or a reader
//! with a known size); nothing is held in memory except [`Source::Bytes`].
//!
//! The output carries the SHA-256 and size of the uncompressed tar (an OCI `diff_id`) and, for
//! `.tar.gz`, of the gzip bytes (an OCI layer digest). Gzip has no file name and mtime 0, so the
//! same entries give the same bytes on every run and every machine with this flate2 backend.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use sha2::{Digest as _, Sha256};

/// The mtime used when `SOURCE_DATE_EPOCH` is not set: the Unix epoch (1970-01-01T00:00:00Z).
pub const DEFAULT_MTIME: u64 = 0;

/// Mode of a directory or an executable file.
pub const MODE_EXECUTABLE: u32 = 0o755;
/// Mode of a regular, non-executable file.
pub const MODE_REGULAR: u32 = 0o644;

const BLOCK: usize = 512;

/// Errors building or writing a reproducible archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive path `{path}` is not allowed: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("archive path `{path}` is added twice")]
    Duplicate { path: String },
    #[error("archive path `{path}` needs `{parent}` to be a directory, but it is added as a file")]
    ParentIsFile { path: String, parent: String },
    #[error(
        "`{}` is not a regular file or directory (links, devices and FIFOs are refused)\nhint: copy the file it points to instead",
        path.display()
    )]
    UnsupportedFileType { path: PathBuf },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "`{path}` was announced with {expected} bytes but its source gave {found}\nhint: the file changed while the archive was written; build again"
    )]
    SizeMismatch { path: String, expected: u64, found: u64 },
    #[error("cannot build the tar header of `{path}`")]
    Header {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the archive")]
    Write(#[source] io::Error),
    #[error("SOURCE_DATE_EPOCH is `{value}`, expected whole seconds since 1970 such as 1700000000")]
    SourceDateEpoch {
        value: String,
        #[source]
        source: std::num::ParseIntError,
    },
}

/// SHA-256 and byte count of a stream.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    pub sha256: [u8; 32],
    pub size: u64,
}

impl Digest {
    /// Digest of bytes in memory.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest { sha256: Sha256::digest(bytes).into(), size: bytes.len() as u64 }
    }

    /// Lowercase hex of the SHA-256.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.sha256 {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// The OCI form `sha256:<hex>`.
    pub fn oci(&self) -> String {
        format!("sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{} ({} bytes)", self.hex(), self.size)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.oci())
    }
}

/// Digests of a written `.tar.gz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TarGzDigests {
    /// The uncompressed tar stream (an OCI `diff_id`).
    pub tar: Digest,
    /// The gzip bytes actually written (an OCI layer descriptor digest).
    pub gz: Digest,
}

/// The mtime for archive entries: `SOURCE_DATE_EPOCH` when set, else [`DEFAULT_MTIME`].
pub fn source_date_epoch() -> Result<u64, ArchiveError> {
    parse_source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// [`source_date_epoch`] over a given value of the variable (`None` = unset; empty counts as unset).
pub fn parse_source_date_epoch(value: Option<&str>) -> Result<u64, ArchiveError> {
    match value.map(str::trim) {
        None | Some("") => Ok(DEFAULT_MTIME),
        Some(text) => text
            .parse()
            .map_err(|source| ArchiveError::SourceDateEpoch { value: text.to_owned(), source }),
    }
}

/// Where a file's content comes from.
pub enum Source {
    /// A regular file on disk, opened only when the archive is written. Its size is taken when it
    /// is added and checked again while streaming.
    Path(PathBuf),
    /// Small generated content (manifests, checksum lists).
    Bytes(Vec<u8>),
    /// Any reader that yields exactly `size` bytes.
    Reader { reader: Box<dyn Read + Send>, size: u64 },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Source::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Source::Reader { size, .. } => write!(f, "Reader({size} bytes)"),
        }
    }
}

#[derive(Debug)]
enum Kind {
    Dir,
    File { executable: bool, size: u64, source: Source },
}

/// Entries of one archive, collected in any order and written sorted.
#[derive(Debug)]
pub struct ArchiveBuilder {
    mtime: u64,
    entries: BTreeMap<ArchivePath, Kind>,
}

/// A validated relative archive path, ordered component by component.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArchivePath(String);

impl ArchivePath {
    fn parse(path: &str) -> Result<ArchivePath, ArchiveError> {
        let invalid = |reason| ArchiveError::InvalidPath { path: path.to_owned(), reason };
        if path.is_empty() {
            return Err(invalid("it is empty"));
        }
        if path.starts_with('/') {
            return Err(invalid("it is absolute; archive paths are relative"));
        }
        if path.contains('\0') || path.contains('\\') {
            return Err(invalid("it contains NUL or a backslash"));
        }
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        for component in trimmed.split('/') {
            match component {
                "" => return Err(invalid("it has an empty component (`//`)")),
                "." => return Err(invalid("it has a `.` component")),
                ".." => return Err(invalid("it has a `..` component")),
                _ => {}
            }
        }
        Ok(ArchivePath(trimmed.to_owned()))
    }

    fn parent(&self) -> Option<ArchivePath> {
        self.0.rsplit_once('/').map(|(parent, _)| ArchivePath(parent.to_owned()))
    }
}

impl Ord for ArchivePath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.split('/').cmp(other.0.split('/'))
    }
}

impl PartialOrd for ArchivePath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl ArchiveBuilder {
    /// An empty archive whose entries all carry `mtime` (see [`source_date_epoch`]).
    pub fn new(mtime: u64) -> ArchiveBuilder {
        ArchiveBuilder { mtime, entries: BTreeMap::new() }
    }

    /// Number of entries added so far (implied parent directories not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add a directory (mode 0755). Parents of any entry are added implicitly; this is needed
    /// only for empty directories.
    pub fn add_dir(&mut self, path: &str) -> Result<&mut Self, ArchiveError> {
        let path = ArchivePath::parse(path)?;
        match self.entries.get(&path) {
            Some(Kind::Dir) => Ok(self),
            Some(Kind::File { .. }) => Err(ArchiveError::Duplicate { path: path.0 }),
            None => {
                self.entries.insert(path, Kind::Dir);
                Ok(self)
            }
        }
    }

    /// Add a regular file, mode 0755 when `executable` else 0644. A [`Source::Path`] must be a
    /// regular file (a symlink is refused, not followed).
    pub fn add_file(
        &mut self,
        path: &str,
        executable: bool,
        source: Source,
    ) -> Result<&mut Self, ArchiveError> {
        let path = ArchivePath::parse(path)?;
        let size = match &source {
            Source::Path(disk) => {
                let meta = std::fs::symlink_metadata(disk)
                    .map_err(|source| ArchiveError::Read { path: disk.clone(), source })?;
                if !meta.file_type().is_file() {
                    return Err(ArchiveError::UnsupportedFileType { path: disk.clone() });
                }
                meta.len()
            }
            Source::Bytes(bytes) => bytes.len() as u64,
            Source::Reader { size, .. } => *size,
        };
        if self.entries.contains_key(&path) {
            return Err(ArchiveError::Duplicate { path: path.0 });
        }
        self.entries.insert(path, Kind::File { executable, size, source });
        Ok(self)
    }

    /// Add the tree under the directory `disk` at archive path `prefix` (empty = the archive root),
    /// with `prefix` itself as a directory entry when not empty. Files with any execute bit get
    /// 0755, others 0644; symlinks and special files are refused.
    pub fn add_tree(&mut self, disk: &Path, prefix: &str) -> Result<&mut Self, ArchiveError> {
        let read = |path: &Path, source| ArchiveError::Read { path: path.to_owned(), source };
        if !prefix.is_empty() {
            self.add_dir(prefix)?;
        }
        let mut entries: Vec<_> = std::fs::read_dir(disk)
            .map_err(|e| read(disk, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| read(disk, e))?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(ArchiveError::InvalidPath {
                    path: entry.path().display().to_string(),
                    reason: "it is not UTF-8",
                });
            };
            let inner = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{}/{name}", prefix.trim_end_matches('/'))
            };
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| read(&path, e))?;
            if meta.is_dir() {
                self.add_tree(&path, &inner)?;
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt as _;
                let executable = meta.permissions().mode() & 0o111 != 0;
                self.add_file(&inner, executable, Source::Path(path))?;
            } else {
                return Err(ArchiveError::UnsupportedFileType { path });
            }
        }
        Ok(self)
    }

    /// Fill in missing parent directories and check that no file is used as a directory.
    fn complete(&mut self) -> Result<(), ArchiveError> {
        let mut missing = Vec::new();
        for path in self.entries.keys() {
            let mut parent = path.parent();
            while let Some(dir) = parent {
                match self.entries.get(&dir) {
                    Some(Kind::File { .. }) => {
                        return Err(ArchiveError::ParentIsFile {
                            path: path.0.clone(),
                            parent: dir.0,
                        });
                    }
                    Some(Kind::Dir) => break,
                    None => {
                        parent = dir.parent();
                        missing.push(dir);
                    }
                }
            }
        }
        for dir in missing {
            self.entries.insert(dir, Kind::Dir);
        }
        Ok(())
    }

    /// Write an uncompressed tar to `out`; returns `out` and the digest of what was written.
    pub fn write_tar<W: Write>(mut self, out: W) -> Result<(W, Digest), ArchiveError> {
        self.complete()?;
        let mut out = HashingWriter::new(out);
        for (path, kind) in self.entries {
            write_entry(&mut out, &path, kind, self.mtime)?;
        }
        out.write_all(&[0; 2 * BLOCK]).map_err(ArchiveError::Write)?;
        Ok(out.finish())
    }

    /// Write a gzip-compressed tar to `out` (no file name, mtime 0 in the gzip header, default
    /// level); returns `out` and the digests of the tar and of the gzip bytes.
    pub fn write_tar_gz<W: Write>(self, out: W) -> Result<(W, TarGzDigests), ArchiveError> {
        let gz = GzBuilder::new().mtime(0).write(HashingWriter::new(out), Compression::default());
        let (gz, tar) = self.write_tar(gz)?;
        let (out, gz) = gz.finish().map_err(ArchiveError::Write)?.finish();
        Ok((out, TarGzDigests { tar, gz }))
    }
}

fn write_entry(
    out: &mut impl Write,
    path: &ArchivePath,
    kind: Kind,
    mtime: u64,
) -> Result<(), ArchiveError> {
    let header_error = |source| ArchiveError::Header { path: path.0.clone(), source };
    let mut header = tar::Header::new_ustar();
    header.set_path(&path.0).map_err(header_error)?;
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("").map_err(header_error)?;
    header.set_groupname("").map_err(header_error)?;
    header.set_mtime(mtime);
    match kind {
        Kind::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(MODE_EXECUTABLE);
            header.set_size(0);
            header.set_cksum();
            out.write_all(header.as_bytes()).map_err(ArchiveError::Write)
        }
        Kind::File { executable, size, source } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if executable { MODE_EXECUTABLE } else { MODE_REGULAR });
            header.set_size(size);
            header.set_cksum();
            out.write_all(header.as_bytes()).map_err(ArchiveError::Write)?;
            let (mut reader, disk): (Box<dyn Read>, PathBuf) = match source {
                Source::Path(disk) => {
                    let file = File::open(&disk)
                        .map_err(|source| ArchiveError::Read { path: disk.clone(), source })?;
                    (Box::new(file), disk)
                }
                Source::Bytes(bytes) => (Box::new(io::Cursor::new(bytes)), PathBuf::from(&path.0)),
                Source::Reader { reader, .. } => (reader, PathBuf::from(&path.0)),
            };
            let found = copy_exact(&mut reader, out, size, &disk)?;
            if found != size {
                return Err(ArchiveError::SizeMismatch {
                    path: path.0.clone(),
                    expected: size,
                    found,
                });
            }
            let padding = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
            out.write_all(&[0; BLOCK][..padding]).map_err(ArchiveError::Write)
        }
    }
}

/// Copy at most `size` bytes, then probe for one more; returns how many the source had (capped at
/// `size + 1`), so a short or long source is reported.
fn copy_exact(
    reader: &mut dyn Read,
    out: &mut impl Write,
    size: u64,
    disk: &Path,
) -> Result<u64, ArchiveError> {
    let read_error = |source| ArchiveError::Read { path: disk.to_owned(), source };
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    while copied < size {
        let want = buf.len().min((size - copied) as usize);
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_error(err)),
        };
        out.write_all(&buf[..n]).map_err(ArchiveError::Write)?;
        copied += n as u64;
    }
    let mut probe = [0u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(0) => return Ok(copied),
            Ok(_) => return Ok(copied + 1),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_error(err)),
        }
    }
}

/// A writer that hashes and counts everything passing through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter { inner, hasher: Sha256::new(), size: 0 }
    }

    /// The inner writer and the digest of everything written.
    pub fn finish(self) -> (W, Digest) {
        (self.inner, Digest { sha256: self.hasher.finalize().into(), size: self.size })
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader { inner, hasher: Sha256::new(), size: 0 }
    }

    /// The digest of everything read so far.
    pub fn finish(self) -> Digest {
        Digest { sha256: self.hasher.finalize().into(), size: self.size }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(builder: ArchiveBuilder) -> Vec<(String, u32)> {
        let (bytes, _) = builder.write_tar(Vec::new()).expect("writes");
        let mut archive = tar::Archive::new(bytes.as_slice());
        archive
            .entries()
            .expect("reads")
            .map(|entry| {
                let entry = entry.expect("entry");
                let path = entry.path().expect("path").display().to_string();
                (path, entry.header().mode().expect("mode"))
            })
            .collect()
    }

    #[test]
    fn parents_are_implied_and_come_before_children() {
        let mut b = ArchiveBuilder::new(0);
        b.add_file("a/b/c.txt", false, Source::Bytes(b"x".to_vec())).unwrap();
        b.add_file("a-b", true, Source::Bytes(Vec::new())).unwrap();
        b.add_file("a/a", false, Source::Bytes(Vec::new())).unwrap();
        let got = listing(b);
        let want =
            [("a", 0o755), ("a/a", 0o644), ("a/b", 0o755), ("a/b/c.txt", 0o644), ("a-b", 0o755)];
        let want: Vec<(String, u32)> = want.iter().map(|(p, m)| (p.to_string(), *m)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn bad_paths_are_refused() {
        for path in ["../x", "a/../b", "/etc/passwd", "a//b", "./a", "", "a\\b"] {
            let err = ArchiveBuilder::new(0).add_dir(path).unwrap_err();
            assert!(matches!(err, ArchiveError::InvalidPath { .. }), "{path}: {err}");
        }
    }

    #[test]
    fn a_file_cannot_be_a_parent_and_duplicates_are_refused() {
        let mut b = ArchiveBuilder::new(0);
        b.add_file("a", false, Source::Bytes(Vec::new())).unwrap();
        let err = b.add_file("a", false, Source::Bytes(Vec::new())).unwrap_err();
        assert!(matches!(err, ArchiveError::Duplicate { .. }), "{err}");
        b.add_file("a/b", false, Source::Bytes(Vec::new())).unwrap();
        let err = b.write_tar(Vec::new()).unwrap_err();
        assert!(matches!(err, ArchiveError::ParentIsFile { .. }), "{err}");
    }

    #[test]
    fn a_reader_shorter_or_longer_than_announced_is_refused() {
        for (announced, actual) in [(5, 3), (3, 5)] {
            let mut b = ArchiveBuilder::new(0);
            let reader = Box::new(io::Cursor::new(vec![7u8; actual]));
            b.add_file("f", false, Source::Reader { reader, size: announced }).unwrap();
            let err = b.write_tar(Vec::new()).unwrap_err();
            assert!(matches!(err, ArchiveError::SizeMismatch { .. }), "{err}");
        }
    }

    #[test]
    fn source_date_epoch_parses_or_says_what_is_wrong() {
        assert_eq!(parse_source_date_epoch(None).unwrap(), DEFAULT_MTIME);
        assert_eq!(parse_source_date_epoch(Some("")).unwrap(), DEFAULT_MTIME);
        assert_eq!(parse_source_date_epoch(Some("1700000000")).unwrap(), 1_700_000_000);
        let err = parse_source_date_epoch(Some("yesterday")).unwrap_err();
        assert!(err.to_string().contains("`yesterday`"), "{err}");
    }

    #[test]
    fn digests_match_the_bytes_written() {
        let mut b = ArchiveBuilder::new(0);
        b.add_file("f", false, Source::Bytes(b"hello".to_vec())).unwrap();
        let (gz, digests) = b.write_tar_gz(Vec::new()).unwrap();
        assert_eq!(digests.gz, Digest::of(&gz));
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut tar).unwrap();
        assert_eq!(digests.tar, Digest::of(&tar));
        assert_eq!(tar.len(), 512 + 512 + 1024);
    }
}
