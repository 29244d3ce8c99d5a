//! The reader side of bundles: safe extraction, verification of an extracted bundle directory
//! (what the executor runs on what the Mesos fetcher unpacked), and verification of a `.tar.gz`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component as PathComponent, Path, PathBuf};

use sha2::Digest as _;

use crate::bundle::{ARTIFACTS_DIR, MANIFEST, MANIFEST_FORMAT, Manifest, SHA256SUMS};
use crate::catalog::Sha256;

/// Largest `manifest.json` or `SHA256SUMS` accepted.
const MAX_METADATA: u64 = 4 << 20;

/// Bounds on what a bundle archive may unpack to, so that a gzip bomb or an entry announcing
/// terabytes is refused before it fills the disk (or memory). Every entry's announced size counts,
/// headers included, and is checked before any of its bytes is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total unpacked bytes (tar headers, data and padding).
    pub max_unpacked_bytes: u64,
    /// Number of archive entries (directories and files).
    pub max_entries: u64,
}

impl Limits {
    /// 4 GiB and 4096 entries: a real bundle (a dozen packages) is a few hundred MiB.
    pub const DEFAULT: Limits = Limits { max_unpacked_bytes: 4 << 30, max_entries: 4096 };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Running totals of one archive read, checked against [`Limits`].
struct Budget {
    limits: Limits,
    bytes: u64,
    entries: u64,
}

impl Budget {
    fn new(limits: Limits) -> Self {
        Self { limits, bytes: 0, entries: 0 }
    }

    /// Accounts for one entry (header plus padded data) before its data is read.
    fn take(&mut self, entry: &str, size: u64) -> Result<(), VerifyError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(VerifyError::TooLarge {
                entry: entry.to_owned(),
                what: format!("more than {} entries", self.limits.max_entries),
            });
        }
        let padded = size.checked_add(511).map(|s| s / 512 * 512 + 512);
        match padded.and_then(|p| self.bytes.checked_add(p)) {
            Some(total) if total <= self.limits.max_unpacked_bytes => {
                self.bytes = total;
                Ok(())
            }
            _ => Err(VerifyError::TooLarge {
                entry: entry.to_owned(),
                what: format!(
                    "an entry of {size} bytes after {} bytes unpacked, over the limit of {} bytes",
                    self.bytes, self.limits.max_unpacked_bytes
                ),
            }),
        }
    }
}

/// Why a bundle (archive or extracted directory) is refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The archive unpacks to more than the [`Limits`] allow (a gzip bomb or a bogus size).
    #[error(
        "bundle archive refused at entry {entry:?}: {what}; it may be a gzip bomb \
         (hint: a real bundle is far smaller; rebuild it, or raise `Limits` if it is genuine)"
    )]
    TooLarge {
        /// The entry path as stored.
        entry: String,
        /// Which limit it passes, with the figures.
        what: String,
    },
    /// Reading the archive or directory failed.
    #[error("cannot read {}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the extracted tree failed (disk full, permissions).
    #[error("cannot write {}", path.display())]
    Write {
        /// What was being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An archive entry that must never be extracted.
    #[error("unsafe archive entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The entry path as stored.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A symlink in an extracted bundle (the Mesos fetcher creates them as stored).
    #[error("{} is a symlink to {target:?}; a bundle holds no links (refusing it)", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: String,
    },
    /// The bundle's structure is not what the format requires.
    #[error("bad bundle layout: {0}")]
    Layout(String),
    /// `manifest.json` does not parse.
    #[error("bad {MANIFEST}")]
    Manifest(#[source] serde_json::Error),
    /// A file is not what the manifest says.
    #[error(
        "{file}: expected sha256 {expected} ({expected_size} bytes), found {actual} ({actual_size} bytes)"
    )]
    Digest {
        /// The file, relative to the bundle directory.
        file: String,
        /// From the manifest.
        expected: Sha256,
        /// From the manifest.
        expected_size: u64,
        /// What is there.
        actual: Sha256,
        /// What is there.
        actual_size: u64,
    },
    /// A file the manifest names is absent.
    #[error("{0} is listed in the manifest but missing")]
    Missing(String),
    /// A file the manifest does not name is present.
    #[error("{0} is not listed in the manifest")]
    Extra(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> VerifyError + '_ {
    move |source| VerifyError::Io { path: path.to_path_buf(), source }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> VerifyError + '_ {
    move |source| VerifyError::Write { path: path.to_path_buf(), source }
}

/// Copies one entry's data, blaming the archive for read errors (a truncated or corrupt gzip)
/// and the target for write errors (a full disk).
fn copy_entry(
    entry: &mut impl Read,
    mut out: std::fs::File,
    archive: &Path,
    target: &Path,
) -> Result<(), VerifyError> {
    use std::io::Write as _;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(archive)(e)),
        };
        out.write_all(&buf[..n]).map_err(write_err(target))?;
    }
    Ok(())
}

/// What every bundle check compares: files (relative to the bundle directory) with digests.
struct Contents {
    files: BTreeMap<String, (Sha256, u64)>,
    manifest: Option<Vec<u8>>,
    sums: Option<Vec<u8>>,
}

/// Checks collected contents against the manifest they contain; `dir` is the top directory name.
fn check_contents(dir: &str, contents: Contents) -> Result<Manifest, VerifyError> {
    let manifest_bytes = contents.manifest.ok_or_else(|| {
        VerifyError::Layout(format!(
            "no {MANIFEST} in {dir:?}; a bundle directory holds {MANIFEST}, {SHA256SUMS} and \
             {ARTIFACTS_DIR}/ (rebuild it with `cargo xtask bundle`)"
        ))
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(VerifyError::Manifest)?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(VerifyError::Layout(format!(
            "manifest format {} is not supported (expected {MANIFEST_FORMAT})",
            manifest.format
        )));
    }
    if dir != manifest.dir_name() {
        return Err(VerifyError::Layout(format!(
            "top directory is {dir:?}, the manifest says {:?}",
            manifest.dir_name()
        )));
    }
    let sums = contents.sums.ok_or_else(|| {
        VerifyError::Layout(format!("no {SHA256SUMS} in {dir:?} next to {MANIFEST}"))
    })?;
    if sums != manifest.sha256sums(&manifest_bytes) {
        return Err(VerifyError::Layout(format!("{SHA256SUMS} does not match {MANIFEST}")));
    }
    let mut files = contents.files;
    for a in &manifest.artifacts {
        let rel = format!("{ARTIFACTS_DIR}/{}", a.file);
        let Some((actual, actual_size)) = files.remove(&rel) else {
            return Err(VerifyError::Missing(rel));
        };
        if (actual, actual_size) != (a.sha256, a.size) {
            return Err(VerifyError::Digest {
                file: rel,
                expected: a.sha256,
                expected_size: a.size,
                actual,
                actual_size,
            });
        }
    }
    if let Some(extra) = files.into_keys().next() {
        return Err(VerifyError::Extra(extra));
    }
    Ok(manifest)
}

fn hash_reader(mut r: impl Read, keep: bool) -> std::io::Result<(Sha256, u64, Option<Vec<u8>>)> {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut kept = keep.then(Vec::new);
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
        if let Some(k) = kept.as_mut() {
            if total > MAX_METADATA {
                return Err(std::io::Error::other("metadata file too large"));
            }
            k.extend_from_slice(&buf[..n]);
        }
    }
    Ok((Sha256::from_bytes(hasher.finalize().into()), total, kept))
}

/// Verifies an extracted bundle directory (`…/scaleio-bundle-<release>-<platform>`): every file's
/// size and SHA-256 against `manifest.json`, `SHA256SUMS` consistent with it, no missing or extra
/// file, and no symlink, device, FIFO or setuid/setgid file anywhere. Returns the manifest.
pub fn verify_extracted(dir: &Path) -> Result<Manifest, VerifyError> {
    let top = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            VerifyError::Layout(format!("{} has no usable directory name", dir.display()))
        })?
        .to_owned();
    let meta = std::fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if meta.file_type().is_symlink() {
        let target =
            std::fs::read_link(dir).map_or_else(|_| "?".into(), |t| t.display().to_string());
        return Err(VerifyError::Symlink { path: dir.to_path_buf(), target });
    }
    let mut contents = Contents { files: BTreeMap::new(), manifest: None, sums: None };
    walk(dir, dir, &mut contents)?;
    check_contents(&top, contents)
}

fn walk(root: &Path, dir: &Path, contents: &mut Contents) -> Result<(), VerifyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io_err(&path))?;
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target =
                std::fs::read_link(&path).map_or_else(|_| "?".into(), |t| t.display().to_string());
            return Err(VerifyError::Symlink { path, target });
        }
        if ft.is_dir() {
            if rel != ARTIFACTS_DIR {
                return Err(VerifyError::Extra(format!("{rel}/")));
            }
            walk(root, &path, contents)?;
            continue;
        }
        if !ft.is_file() {
            return Err(VerifyError::Layout(format!(
                "{rel} is not a regular file (device, FIFO or socket)"
            )));
        }
        if meta.permissions().mode() & 0o7000 != 0 {
            return Err(VerifyError::Layout(format!(
                "{rel} has mode {:o}: setuid, setgid and sticky bits are refused",
                meta.permissions().mode() & 0o7777
            )));
        }
        let keep = rel == MANIFEST || rel == SHA256SUMS;
        let file = std::fs::File::open(&path).map_err(io_err(&path))?;
        let (digest, size, kept) = hash_reader(file, keep).map_err(io_err(&path))?;
        match rel.as_str() {
            MANIFEST => contents.manifest = kept,
            SHA256SUMS => contents.sums = kept,
            _ => {
                contents.files.insert(rel, (digest, size));
            }
        }
    }
    Ok(())
}

/// Checks one archive entry path: relative, no `.`/`..`, no empty components; returns it
/// without a trailing `/`.
fn entry_path(raw: &[u8]) -> Result<String, VerifyError> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let unsafe_entry =
        |reason: &str| VerifyError::UnsafeEntry { entry: text.clone(), reason: reason.into() };
    if raw.is_empty() {
        return Err(unsafe_entry("empty path"));
    }
    if raw.starts_with(b"/") {
        return Err(unsafe_entry("absolute path"));
    }
    let trimmed = text.strip_suffix('/').unwrap_or(&text);
    for c in Path::new(trimmed).components() {
        match c {
            PathComponent::Normal(_) => {}
            PathComponent::ParentDir => return Err(unsafe_entry("`..` component")),
            _ => return Err(unsafe_entry("`.`, root or prefix component")),
        }
    }
    if trimmed.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(unsafe_entry("empty, `.` or `..` component"));
    }
    Ok(trimmed.to_owned())
}

/// Refuses GNU long-name/long-link and PAX extension headers before their data is read: the
/// archive writer emits plain ustar headers only, and the data of such a header is buffered
/// whole in memory by a tar reader (an unbounded allocation for a hostile archive).
fn refuse_extension_header(header: &tar::Header) -> Result<(), VerifyError> {
    let kind = header.entry_type();
    if kind.is_gnu_longname()
        || kind.is_gnu_longlink()
        || kind.is_pax_local_extensions()
        || kind.is_pax_global_extensions()
    {
        let size = header.entry_size().unwrap_or(0);
        return Err(VerifyError::UnsafeEntry {
            entry: String::from_utf8_lossy(&header.path_bytes()).into_owned(),
            reason: format!(
                "a {kind:?} extension header ({size} bytes); bundles use plain ustar headers \
                 (GNU long names and PAX extensions are refused)"
            ),
        });
    }
    Ok(())
}

/// Checks an entry's type and mode; returns whether it is a directory.
fn entry_kind(path: &str, header: &tar::Header) -> Result<bool, VerifyError> {
    let unsafe_entry = |reason: String| VerifyError::UnsafeEntry { entry: path.to_owned(), reason };
    let mode = header.mode().map_err(|e| unsafe_entry(format!("bad mode: {e}")))?;
    if mode & 0o7000 != 0 {
        return Err(unsafe_entry(format!(
            "mode {:o} has setuid, setgid or sticky bits",
            mode & 0o7777
        )));
    }
    match header.entry_type() {
        tar::EntryType::Directory => Ok(true),
        tar::EntryType::Regular | tar::EntryType::Continuous => Ok(false),
        tar::EntryType::Symlink | tar::EntryType::Link => {
            let target = header
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            Err(unsafe_entry(format!("link to {target:?}: a bundle holds no links")))
        }
        other => Err(unsafe_entry(format!(
            "entry type {other:?} (devices, FIFOs and others are refused)"
        ))),
    }
}

/// The bundle directory name and the path inside it, for an entry under exactly one top directory.
fn split_top<'a>(top: &mut Option<String>, path: &'a str) -> Result<Option<&'a str>, VerifyError> {
    let (first, rest) = match path.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (path, None),
    };
    match top {
        Some(t) if t != first => Err(VerifyError::Layout(format!(
            "second top-level entry {first:?} (besides {t:?}); exactly one is allowed"
        ))),
        Some(_) => Ok(rest),
        None => {
            *top = Some(first.to_owned());
            Ok(rest)
        }
    }
}

/// Extracts a bundle `.tar.gz` into `dest` safely, verifies it, and returns the bundle directory.
///
/// Refuses absolute paths, `..`, links of any kind, devices, FIFOs and setuid/setgid/sticky
/// modes, GNU/PAX extension headers, more than one top-level directory, and archives that
/// unpack past [`Limits::DEFAULT`]. Extraction happens in a temporary directory inside `dest`;
/// the bundle directory appears (by rename) only once it verified. Fails if the bundle directory
/// already exists in `dest`.
pub fn extract_bundle(archive: &Path, dest: &Path) -> Result<PathBuf, VerifyError> {
    extract_bundle_with_limits(archive, dest, Limits::DEFAULT)
}

/// [`extract_bundle`] with explicit [`Limits`].
pub fn extract_bundle_with_limits(
    archive: &Path,
    dest: &Path,
    limits: Limits,
) -> Result<PathBuf, VerifyError> {
    static EXTRACTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = EXTRACTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = dest.join(format!(".bundle-extract-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(write_err(&staging))?;
    struct Cleanup<'a>(&'a Path);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _cleanup = Cleanup(&staging);

    let file = std::fs::File::open(archive).map_err(io_err(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut top = None;
    let mut budget = Budget::new(limits);
    for entry in tar.entries().map_err(io_err(archive))?.raw(true) {
        let mut entry = entry.map_err(io_err(archive))?;
        refuse_extension_header(entry.header())?;
        let path = entry_path(&entry.path_bytes())?;
        let is_dir = entry_kind(&path, entry.header())?;
        budget.take(&path, entry.size())?;
        split_top(&mut top, &path)?;
        let target = staging.join(&path);
        if is_dir {
            std::fs::create_dir_all(&target).map_err(write_err(&target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        let executable = entry.header().mode().unwrap_or(0) & 0o111 != 0;
        let out = std::fs::File::create(&target).map_err(write_err(&target))?;
        copy_entry(&mut entry, out, archive, &target)?;
        use std::os::unix::fs::PermissionsExt as _;
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
            .map_err(write_err(&target))?;
    }
    let top = top.ok_or_else(|| VerifyError::Layout("the archive is empty".into()))?;
    verify_extracted(&staging.join(&top))?;
    let final_dir = dest.join(&top);
    if final_dir.exists() {
        return Err(VerifyError::Layout(format!(
            "{} already exists; remove it first",
            final_dir.display()
        )));
    }
    std::fs::rename(staging.join(&top), &final_dir).map_err(write_err(&final_dir))?;
    Ok(final_dir)
}

/// The fixed gzip header fields: magic, deflate, no file name (FNAME flag clear), mtime 0.
fn check_gzip_header(path: &Path) -> Result<(), VerifyError> {
    let mut header = [0u8; 10];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)).map_err(io_err(path))?;
    if header[..3] != [0x1f, 0x8b, 8] {
        return Err(VerifyError::Layout("not a gzip (deflate) file".into()));
    }
    if header[3] & 0x08 != 0 || header[4..8] != [0, 0, 0, 0] {
        return Err(VerifyError::Layout("the gzip header carries a file name or an mtime".into()));
    }
    Ok(())
}

/// Verifies a bundle `.tar.gz` without extracting it: the gzip header (no name, mtime 0), every
/// layout rule (one top directory, parents before children in sorted order, only regular files
/// and directories, uid/gid 0 with empty names, modes 0644/0755, one mtime), every digest, the
/// file name's digest prefix and, when present, the `.sha256` sidecar. Reading stops at
/// [`Limits::DEFAULT`] and at the first GNU/PAX extension header. Returns the manifest.
pub fn verify_bundle_file(path: &Path) -> Result<Manifest, VerifyError> {
    let (file_digest, _, _) = hash_reader(std::fs::File::open(path).map_err(io_err(path))?, false)
        .map_err(io_err(path))?;
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    check_gzip_header(path)?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut tar = tar::Archive::new(gz);
    let mut top: Option<String> = None;
    let mut previous: Option<String> = None;
    let mut dirs: Vec<String> = Vec::new();
    let mut mtime = None;
    let mut contents = Contents { files: BTreeMap::new(), manifest: None, sums: None };
    let mut budget = Budget::new(Limits::DEFAULT);
    for entry in tar.entries().map_err(io_err(path))?.raw(true) {
        let entry = entry.map_err(io_err(path))?;
        refuse_extension_header(entry.header())?;
        let name = entry_path(&entry.path_bytes())?;
        let header = entry.header();
        let is_dir = entry_kind(&name, header)?;
        budget.take(&name, entry.size())?;
        let rest = split_top(&mut top, &name)?.map(str::to_owned);
        let layout = |what: String| VerifyError::Layout(format!("{name}: {what}"));
        if let Some(prev) = &previous {
            if prev.split('/').cmp(name.split('/')) != std::cmp::Ordering::Less {
                return Err(layout(format!("entries are not sorted (after {prev:?})")));
            }
        }
        if let Some((parent, _)) = name.rsplit_once('/') {
            if !dirs.iter().any(|d| d == parent) {
                return Err(layout(format!("its directory {parent:?} does not come before it")));
            }
        }
        previous = Some(name.clone());
        if header.uid().ok() != Some(0) || header.gid().ok() != Some(0) {
            return Err(layout("owner is not uid/gid 0".into()));
        }
        let empty = |v: Option<&[u8]>| v.is_none_or(<[u8]>::is_empty);
        if !empty(header.username_bytes()) || !empty(header.groupname_bytes()) {
            return Err(layout("user or group name is not empty".into()));
        }
        let mode = header.mode().unwrap_or(0);
        let allowed = if is_dir { mode == 0o755 } else { mode == 0o644 || mode == 0o755 };
        if !allowed {
            return Err(layout(format!(
                "mode {mode:o}; expected 0755 for directories, 0644 or 0755 for files"
            )));
        }
        let m = header.mtime().map_err(|e| layout(format!("bad mtime: {e}")))?;
        if *mtime.get_or_insert(m) != m {
            return Err(layout("entries carry different mtimes".into()));
        }
        if is_dir {
            match rest.as_deref() {
                None | Some(ARTIFACTS_DIR) => dirs.push(name.clone()),
                Some(other) => return Err(VerifyError::Extra(format!("{other}/"))),
            }
            continue;
        }
        let Some(rel) = rest else {
            return Err(layout("a file at the top level; expected one directory".into()));
        };
        let keep = rel == MANIFEST || rel == SHA256SUMS;
        let (digest, size, kept) = hash_reader(entry, keep).map_err(io_err(path))?;
        match rel.as_str() {
            MANIFEST => contents.manifest = kept,
            SHA256SUMS => contents.sums = kept,
            _ => {
                contents.files.insert(rel, (digest, size));
            }
        }
    }
    let top = top.ok_or_else(|| VerifyError::Layout("the archive is empty".into()))?;
    let manifest = check_contents(&top, contents)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let expected_name =
        crate::bundle::file_name(&manifest.release, manifest.platform, &file_digest);
    if file_name.starts_with(&format!("{top}-")) && file_name != expected_name {
        return Err(VerifyError::Layout(format!(
            "file name {file_name:?} does not carry the bundle's digest (expected {expected_name:?})"
        )));
    }
    let sidecar = path.with_file_name(format!("{file_name}.sha256"));
    if let Ok(text) = std::fs::read_to_string(&sidecar) {
        let expected = format!("{file_digest}  {file_name}\n");
        if text != expected {
            return Err(VerifyError::Layout(format!(
                "{} says {:?}, expected {expected:?}",
                sidecar.display(),
                text.trim_end()
            )));
        }
    }
    Ok(manifest)
}
