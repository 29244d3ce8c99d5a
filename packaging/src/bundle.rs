//! The bundle format (manifest, `SHA256SUMS`, naming) and the reproducible bundle writer.
//!
//! A bundle is `scaleio-bundle-<release>-<platform>-<first 8 hex of its sha256>.tar.gz` holding
//! exactly one directory `scaleio-bundle-<release>-<platform>/` with `manifest.json`,
//! `SHA256SUMS` and `artifacts/<file>`; the archive rules are those of [`crate::archive`].

use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::archive::{ArchiveBuilder, ArchiveError, HashingWriter, Source, TarGzDigests};
use crate::catalog::{Artifact, Component, Platform, Sha256};
use crate::fetch::Fetched;

/// Version of the manifest layout, written as `format`.
pub const MANIFEST_FORMAT: u32 = 1;
/// Manifest file name inside the bundle directory.
pub const MANIFEST: &str = "manifest.json";
/// Checksum list inside the bundle directory (`sha256sum -c SHA256SUMS` passes there).
pub const SHA256SUMS: &str = "SHA256SUMS";
/// Directory holding the artifacts inside the bundle directory.
pub const ARTIFACTS_DIR: &str = "artifacts";
/// Index of the bundles written into the output directory.
pub const INDEX: &str = "bundles.json";

/// `manifest.json`: what a bundle holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Catalog release.
    pub release: String,
    /// The platform this bundle is for.
    pub platform: Platform,
    /// Artifacts, sorted by name.
    pub artifacts: Vec<ManifestArtifact>,
}

/// One artifact in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestArtifact {
    /// Catalog name.
    pub name: String,
    /// What it is for.
    pub component: Component,
    /// `any` or the bundle's platform.
    pub platform: Platform,
    /// Upstream version.
    pub version: String,
    /// File name; the file is `artifacts/<file>` in the bundle directory.
    pub file: String,
    /// Exact size in bytes.
    pub size: u64,
    /// SHA-256 of the file.
    pub sha256: Sha256,
    /// The catalog's source URLs (where it can be fetched again).
    pub urls: Vec<String>,
}

impl Manifest {
    /// The name of the bundle's one top-level directory.
    pub fn dir_name(&self) -> String {
        dir_name(&self.release, self.platform)
    }

    /// The exact bytes of `manifest.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        out.push(b'\n');
        out
    }

    /// The exact bytes of `SHA256SUMS`: the manifest, then every artifact, in `sha256sum` format.
    pub fn sha256sums(&self, manifest_bytes: &[u8]) -> Vec<u8> {
        let mut out = format!("{}  {MANIFEST}\n", Sha256::of(manifest_bytes));
        for a in &self.artifacts {
            out.push_str(&format!("{}  {ARTIFACTS_DIR}/{}\n", a.sha256, a.file));
        }
        out.into_bytes()
    }
}

/// `scaleio-bundle-<release>-<platform>`: the top directory, stable across contents.
pub fn dir_name(release: &str, platform: Platform) -> String {
    format!("scaleio-bundle-{release}-{platform}")
}

/// `scaleio-bundle-<release>-<platform>-<first 8 hex>.tar.gz`.
pub fn file_name(release: &str, platform: Platform, sha256: &Sha256) -> String {
    format!("{}-{}.tar.gz", dir_name(release, platform), sha256.short(8))
}

/// One entry of `bundles.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenBundle {
    /// The bundle's platform.
    pub platform: Platform,
    /// File name in the output directory.
    pub file: String,
    /// SHA-256 of the `.tar.gz`.
    pub sha256: Sha256,
    /// Size of the `.tar.gz`.
    pub size: u64,
    /// SHA-256 of the uncompressed tar (independent of the gzip backend).
    pub tar_sha256: Sha256,
    /// What it holds.
    pub artifacts: Vec<IndexArtifact>,
}

/// An artifact as listed in `bundles.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexArtifact {
    /// Catalog name.
    pub name: String,
    /// What it is for.
    pub component: Component,
    /// Upstream version.
    pub version: String,
    /// File name.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: Sha256,
    /// Size in bytes.
    pub size: u64,
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The archive writer failed (this includes a cache entry changing while it was packed).
    #[error("cannot write bundle {}", path.display())]
    Archive {
        /// The bundle being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ArchiveError,
    },
    /// Output file I/O.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Two artifacts of one bundle share a file name.
    #[error(
        "artifacts {first:?} and {second:?} both use the file name {file:?} in the {platform} bundle"
    )]
    DuplicateFile {
        /// The bundle's platform.
        platform: Platform,
        /// The file name.
        file: String,
        /// One artifact.
        first: String,
        /// The other.
        second: String,
    },
}

/// Reads a cache entry and fails at its end unless it has exactly the pinned digest and size:
/// the last check before bytes go into a bundle.
struct VerifyingReader {
    inner: std::fs::File,
    path: PathBuf,
    hasher: sha2::Sha256,
    count: u64,
    expected: (Sha256, u64),
}

impl Read for VerifyingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            let digest = Sha256::from_bytes(self.hasher.clone().finalize().into());
            if (digest, self.count) != self.expected {
                return Err(std::io::Error::other(format!(
                    "cache entry {} changed while being packed: sha256 {digest} ({} bytes), expected {} ({} bytes)",
                    self.path.display(),
                    self.count,
                    self.expected.0,
                    self.expected.1
                )));
            }
        }
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A file in the output directory written under a temporary name and renamed when complete.
struct Staged {
    path: PathBuf,
    done: bool,
}

impl Staged {
    fn new(dir: &Path, name: &str) -> Self {
        Self { path: dir.join(format!(".{name}.{}.part", std::process::id())), done: false }
    }

    fn publish(mut self, dest: &Path) -> std::io::Result<()> {
        std::fs::File::open(&self.path)?.sync_all()?;
        std::fs::rename(&self.path, dest)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `dest` atomically (temporary file, fsync, rename).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let staged = Staged::new(dir, &name);
    std::fs::write(&staged.path, bytes)?;
    staged.publish(dest)
}

/// Gzip level of bundles. Bundles hold packages that are compressed already (`.deb`, `.rpm`),
/// where higher levels spend several times the CPU to save well under a percent; level 1 keeps
/// the bundle step faster than merely hashing and tarring the inputs with `tar -czf`.
pub const GZIP_LEVEL: u32 = 1;

/// [`ArchiveBuilder::write_tar_gz`] at [`GZIP_LEVEL`]: the same gzip header (no name, mtime 0)
/// and the same digests, so the output is just as reproducible.
fn write_tar_gz<W: std::io::Write>(
    builder: ArchiveBuilder,
    out: W,
) -> Result<(W, TarGzDigests), ArchiveError> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(HashingWriter::new(out), flate2::Compression::new(GZIP_LEVEL));
    let (gz, tar) = builder.write_tar(gz)?;
    let (out, gz) = gz.finish().map_err(ArchiveError::Write)?.finish();
    Ok((out, TarGzDigests { tar, gz }))
}

/// Builds the manifest of a `platform` bundle from catalog artifacts and their verified files.
pub fn manifest(
    release: &str,
    platform: Platform,
    items: &[(Artifact, Fetched)],
) -> Result<Manifest, BundleError> {
    let mut artifacts: Vec<ManifestArtifact> = items
        .iter()
        .map(|(a, f)| ManifestArtifact {
            name: a.name.clone(),
            component: a.component,
            platform: a.platform,
            version: a.version.clone(),
            file: a.file.clone(),
            size: f.pin.size,
            sha256: f.pin.sha256,
            urls: a.urls.clone(),
        })
        .collect();
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    let mut by_file = std::collections::BTreeMap::new();
    for a in &artifacts {
        if let Some(first) = by_file.insert(a.file.clone(), a.name.clone()) {
            return Err(BundleError::DuplicateFile {
                platform,
                file: a.file.clone(),
                first,
                second: a.name.clone(),
            });
        }
    }
    Ok(Manifest { format: MANIFEST_FORMAT, release: release.to_owned(), platform, artifacts })
}

/// Writes one bundle into `out_dir` (which must exist) from verified cache entries; entries
/// carry `mtime`. The `.tar.gz` and its `.sha256` sidecar appear only when complete.
pub fn write_bundle(
    out_dir: &Path,
    release: &str,
    platform: Platform,
    items: &[(Artifact, Fetched)],
    mtime: u64,
) -> Result<WrittenBundle, BundleError> {
    let manifest = manifest(release, platform, items)?;
    let top = manifest.dir_name();
    let manifest_bytes = manifest.to_bytes();
    let sums = manifest.sha256sums(&manifest_bytes);
    let staged = Staged::new(out_dir, &top);
    let archive_err = |source| BundleError::Archive { path: staged.path.clone(), source };

    let mut builder = ArchiveBuilder::new(mtime);
    builder.add_dir(&top).map_err(archive_err)?;
    builder.add_dir(&format!("{top}/{ARTIFACTS_DIR}")).map_err(archive_err)?;
    builder
        .add_file(&format!("{top}/{MANIFEST}"), false, Source::Bytes(manifest_bytes))
        .map_err(archive_err)?;
    builder
        .add_file(&format!("{top}/{SHA256SUMS}"), false, Source::Bytes(sums))
        .map_err(archive_err)?;
    for (artifact, fetched) in items {
        let inner = std::fs::File::open(&fetched.path)
            .map_err(|source| BundleError::Io { path: fetched.path.clone(), source })?;
        let reader = VerifyingReader {
            inner,
            path: fetched.path.clone(),
            hasher: sha2::Sha256::new(),
            count: 0,
            expected: (fetched.pin.sha256, fetched.pin.size),
        };
        let source = Source::Reader { reader: Box::new(reader), size: fetched.pin.size };
        builder
            .add_file(&format!("{top}/{ARTIFACTS_DIR}/{}", artifact.file), false, source)
            .map_err(archive_err)?;
    }

    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Io { path, source }
    };
    let file = std::fs::File::create(&staged.path).map_err(io_err(&staged.path))?;
    let (writer, digests) =
        write_tar_gz(builder, BufWriter::with_capacity(1 << 20, file)).map_err(archive_err)?;
    writer.into_inner().map_err(|e| e.into_error()).map_err(io_err(&staged.path))?;
    let sha256 = Sha256::from_bytes(digests.gz.sha256);
    let name = file_name(release, platform, &sha256);
    let dest = out_dir.join(&name);
    staged.publish(&dest).map_err(io_err(&dest))?;
    let sidecar = out_dir.join(format!("{name}.sha256"));
    write_atomic(&sidecar, format!("{sha256}  {name}\n").as_bytes()).map_err(io_err(&sidecar))?;

    let artifacts = manifest
        .artifacts
        .iter()
        .map(|a| IndexArtifact {
            name: a.name.clone(),
            component: a.component,
            version: a.version.clone(),
            file: a.file.clone(),
            sha256: a.sha256,
            size: a.size,
        })
        .collect();
    Ok(WrittenBundle {
        platform,
        file: name,
        sha256,
        size: digests.gz.size,
        tar_sha256: Sha256::from_bytes(digests.tar.sha256),
        artifacts,
    })
}

/// Writes `bundles.json` (one entry per bundle, sorted by platform) into `out_dir`.
pub fn write_index(out_dir: &Path, bundles: &[WrittenBundle]) -> Result<PathBuf, BundleError> {
    let mut sorted = bundles.to_vec();
    sorted.sort_by_key(|b| b.platform);
    let mut bytes = serde_json::to_vec_pretty(&sorted).expect("the index always serialises");
    bytes.push(b'\n');
    let path = out_dir.join(INDEX);
    write_atomic(&path, &bytes).map_err(|source| BundleError::Io { path: path.clone(), source })?;
    Ok(path)
}
