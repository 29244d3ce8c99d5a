//! The verifying fetcher: mirrors, then URLs, into a content-addressed cache; streams while
//! hashing and counting, resumes and retries transient failures, publishes only verified files.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

use crate::catalog::{Artifact, Pin, Sha256};

/// Size of the buffers used to copy and hash local files.
const COPY_BUFFER: usize = 1 << 20;

/// Largest file accepted when nothing is pinned yet (trust on first use).
const UNPINNED_LIMIT: u64 = 64 << 30;

/// How transient failures are retried on one URL: capped exponential backoff with jitter.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts per URL, the first included (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubles after each further one.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 4, base: Duration::from_millis(500), cap: Duration::from_secs(8) }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `n` (0-based): `min(cap, base·2ⁿ)` scaled by a random
    /// factor in [0.5, 1] so that parallel clients do not retry in lockstep.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.cap);
        capped.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// Where to look for artifacts and how to download them.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// Cache root; entries live in `<cache_dir>/artifacts-v1/sha256/<hex>`.
    pub cache_dir: PathBuf,
    /// Mirror directories searched (as `DIR/<file>` and `DIR/sha256/<hex>`) before any URL.
    pub mirrors: Vec<PathBuf>,
    /// Never touch the network: cache and mirrors only.
    pub offline: bool,
    /// Artifacts fetched at the same time.
    pub parallelism: usize,
    /// Retries of transient failures, per URL.
    pub retry: RetryPolicy,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for a stall between two reads of a response.
    pub read_timeout: Duration,
}

impl FetchConfig {
    /// Defaults: no mirrors, online, four downloads at a time.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            mirrors: Vec::new(),
            offline: false,
            parallelism: 4,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// Receives byte counts while artifacts stream in (progress bars); every method may be a no-op.
pub trait Progress: Send + Sync {
    /// `artifact` (re)starts from zero; `size` is the expected total if known.
    fn started(&self, _artifact: &str, _size: Option<u64>) {}
    /// `bytes` more arrived.
    fn advanced(&self, _artifact: &str, _bytes: u64) {}
    /// `artifact` is verified and in the cache.
    fn finished(&self, _artifact: &str) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// One source that did not deliver, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFailure {
    /// A URL, a mirror path or the cache entry path.
    pub source: String,
    /// What went wrong there.
    pub reason: String,
}

/// A verified artifact in the cache.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// Catalog name.
    pub name: String,
    /// The cache entry (`…/artifacts-v1/sha256/<hex>`).
    pub path: PathBuf,
    /// Its verified digest and size.
    pub pin: Pin,
    /// Where it came from this time: `cache`, a mirror path or a URL.
    pub source: String,
}

/// Why one artifact could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Every source was tried; each has its own reason.
    #[error("artifact {name:?} ({file}) could not be fetched:{}", render_failures(.failures, *.offline))]
    AllSourcesFailed {
        /// Catalog name.
        name: String,
        /// File name.
        file: String,
        /// Every source tried, in order, with its reason.
        failures: Vec<SourceFailure>,
        /// Whether URLs were skipped because of `--offline`.
        offline: bool,
    },
    /// The cache directory could not be used.
    #[error("cannot use the artifact cache at {}", path.display())]
    Cache {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

fn render_failures(failures: &[SourceFailure], offline: bool) -> String {
    let mut out = String::new();
    for f in failures {
        out.push_str(&format!("\n  - {}: {}", f.source, f.reason));
    }
    if failures.is_empty() {
        out.push_str("\n  - not cached, and no mirror holds it");
    }
    if offline {
        out.push_str("\n  (URLs not tried: --offline; hint: add --mirror DIR holding the file, or drop --offline)");
    }
    out
}

/// Several artifacts failed; each keeps its own error.
#[derive(Debug, thiserror::Error)]
#[error("{} artifact(s) could not be fetched:\n{}", .0.len(), render_errors(.0))]
pub struct FetchErrors(pub Vec<FetchError>);

fn render_errors(errors: &[FetchError]) -> String {
    errors.iter().map(|e| format!("{e}")).collect::<Vec<_>>().join("\n")
}

/// The content-addressed artifact cache: `<dir>/artifacts-v1/sha256/<hex>`.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

/// What [`Cache::lookup`] found.
#[derive(Debug)]
pub enum CacheLookup {
    /// A verified entry.
    Hit(PathBuf),
    /// No entry.
    Miss,
    /// An entry whose size or digest was wrong; it has been deleted.
    Evicted {
        /// Where it was.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

impl Cache {
    /// The cache under `dir` (created on first write).
    pub fn new(dir: &Path) -> Self {
        Self { root: dir.join("artifacts-v1").join("sha256") }
    }

    /// The directory holding the entries.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Where the entry for `digest` lives.
    pub fn path(&self, digest: &Sha256) -> PathBuf {
        self.root.join(digest.to_string())
    }

    /// Re-verifies the entry for `pin` (size, then SHA-256); a wrong entry is evicted.
    pub fn lookup(&self, pin: Pin) -> std::io::Result<CacheLookup> {
        let path = self.path(&pin.sha256);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(CacheLookup::Miss),
            Err(err) => return Err(err),
        };
        let reason = if !meta.is_file() {
            Some("not a regular file".to_owned())
        } else if meta.len() != pin.size {
            Some(format!("size {} bytes, expected {}", meta.len(), pin.size))
        } else {
            let (digest, _) = hash_file(&path)?;
            (digest != pin.sha256).then(|| format!("sha256 {digest}, expected {}", pin.sha256))
        };
        match reason {
            None => Ok(CacheLookup::Hit(path)),
            Some(reason) => {
                tracing::warn!(path = %path.display(), %reason, "evicting tampered cache entry");
                if meta.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
                Ok(CacheLookup::Evicted { path, reason })
            }
        }
    }
}

/// SHA-256 and size of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<(Sha256, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((Sha256::from_bytes(hasher.finalize().into()), total))
}

/// A `.part` file that is deleted unless it was published.
struct PartFile {
    path: PathBuf,
    published: bool,
}

impl PartFile {
    fn new(dir: &Path, stem: &str) -> Self {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{stem}.{}-{serial}.part", std::process::id()));
        Self { path, published: false }
    }

    /// fsyncs, renames onto `dest` and syncs the directory.
    fn publish(mut self, dest: &Path) -> std::io::Result<()> {
        std::fs::File::open(&self.path)?.sync_all()?;
        std::fs::rename(&self.path, dest)?;
        self.published = true;
        if let Some(dir) = dest.parent() {
            // Directory fsync makes the rename durable; not every filesystem supports it.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What one try at one source produced.
enum Outcome {
    /// The part file holds a complete body with this digest and size.
    Complete(Sha256, u64),
    /// The source delivered something wrong or refused; move on to the next source.
    Failed(String),
}

/// What one HTTP attempt produced.
enum Attempt {
    Complete,
    Transient(String),
    Permanent(String),
}

/// Copies a local file into `part`, hashing and counting, aborting past `limit`.
fn copy_local(
    src: &Path,
    part: &Path,
    limit: u64,
) -> std::io::Result<Result<(Sha256, u64), String>> {
    let mut input = std::fs::File::open(src)?;
    let mut output = std::fs::File::create(part)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Ok(Err(format!("larger than the pinned size of {limit} bytes")));
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
    }
    output.flush()?;
    Ok(Ok((Sha256::from_bytes(hasher.finalize().into()), total)))
}

fn check_against_pin(expected: Option<Pin>, digest: Sha256, size: u64) -> Result<(), String> {
    let Some(pin) = expected else { return Ok(()) };
    if size != pin.size {
        return Err(format!("size mismatch: expected {} bytes, got {size}", pin.size));
    }
    if digest != pin.sha256 {
        return Err(format!("sha256 mismatch: expected {}, actual {digest}", pin.sha256));
    }
    Ok(())
}

/// Streaming download state for one URL, kept across attempts so a retry can resume.
struct Download {
    file: tokio::fs::File,
    hasher: sha2::Sha256,
    count: u64,
    validator: Option<String>,
    ranges: bool,
}

impl Download {
    async fn restart(&mut self) -> std::io::Result<()> {
        self.file.set_len(0).await?;
        use tokio::io::AsyncSeekExt;
        self.file.seek(std::io::SeekFrom::Start(0)).await?;
        self.hasher = sha2::Sha256::new();
        self.count = 0;
        self.validator = None;
        self.ranges = false;
        Ok(())
    }
}

struct Ctx {
    config: FetchConfig,
    cache: Cache,
    client: reqwest::Client,
    progress: Arc<dyn Progress>,
}

/// Fetches every pinned artifact into the cache (mirrors, then URLs), at most
/// `config.parallelism` at a time. Results are in input order.
pub async fn fetch_pinned(
    config: &FetchConfig,
    items: &[(Artifact, Pin)],
    progress: Arc<dyn Progress>,
) -> Result<Vec<Fetched>, FetchErrors> {
    let ctx = context(config, progress).map_err(|e| FetchErrors(vec![e]))?;
    let jobs = items.iter().map(|(a, pin)| fetch_one(&ctx, a, Some(*pin)));
    collect(jobs, config.parallelism).await
}

/// Fetches artifacts that have no pin yet (trust on first use, for the lock command): the
/// digest and size are whatever the first source that answers delivers.
pub async fn fetch_unpinned(
    config: &FetchConfig,
    artifacts: &[Artifact],
    progress: Arc<dyn Progress>,
) -> Result<Vec<Fetched>, FetchErrors> {
    let ctx = context(config, progress).map_err(|e| FetchErrors(vec![e]))?;
    let jobs = artifacts.iter().map(|a| fetch_one(&ctx, a, None));
    collect(jobs, config.parallelism).await
}

fn context(config: &FetchConfig, progress: Arc<dyn Progress>) -> Result<Ctx, FetchError> {
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .user_agent(concat!("scaleio-packaging/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(FetchError::Client)?;
    Ok(Ctx { config: config.clone(), cache: Cache::new(&config.cache_dir), client, progress })
}

async fn collect<F>(
    jobs: impl Iterator<Item = F>,
    parallelism: usize,
) -> Result<Vec<Fetched>, FetchErrors>
where
    F: std::future::Future<Output = Result<Fetched, FetchError>>,
{
    let results: Vec<Result<Fetched, FetchError>> =
        futures_util::stream::iter(jobs).buffered(parallelism.max(1)).collect().await;
    let mut ok = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(f) => ok.push(f),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(ok) } else { Err(FetchErrors(errors)) }
}

async fn fetch_one(
    ctx: &Ctx,
    artifact: &Artifact,
    pin: Option<Pin>,
) -> Result<Fetched, FetchError> {
    let cache_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Cache { path, source }
    };
    let cache_dir = ctx.cache.dir().to_path_buf();
    let mut failures = Vec::new();
    if let Some(pin) = pin {
        let cache = ctx.cache.clone();
        let found = tokio::task::spawn_blocking(move || cache.lookup(pin))
            .await
            .map_err(|e| FetchError::Cache {
                path: cache_dir.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(cache_err(&ctx.cache.path(&pin.sha256)))?;
        match found {
            CacheLookup::Hit(path) => {
                return Ok(Fetched {
                    name: artifact.name.clone(),
                    path,
                    pin,
                    source: "cache".into(),
                });
            }
            CacheLookup::Miss => {}
            CacheLookup::Evicted { path, reason } => failures.push(SourceFailure {
                source: format!("cache {}", path.display()),
                reason: format!("tampered entry evicted ({reason})"),
            }),
        }
    }
    std::fs::create_dir_all(&cache_dir).map_err(cache_err(&cache_dir))?;
    let limit = pin.map_or(UNPINNED_LIMIT, |p| p.size);

    // Mirrors first: DIR/<file>, then DIR/sha256/<hex>.
    for mirror in &ctx.config.mirrors {
        let mut candidates = vec![mirror.join(&artifact.file)];
        if let Some(pin) = pin {
            candidates.push(mirror.join("sha256").join(pin.sha256.to_string()));
        }
        for src in candidates {
            if !src.is_file() {
                continue;
            }
            let part = PartFile::new(&cache_dir, &artifact.name);
            ctx.progress.started(&artifact.name, pin.map(|p| p.size));
            let (src2, part2) = (src.clone(), part.path.clone());
            let copied = tokio::task::spawn_blocking(move || copy_local(&src2, &part2, limit))
                .await
                .map_err(|e| FetchError::Cache {
                    path: part.path.clone(),
                    source: std::io::Error::other(e),
                })?;
            let outcome = match copied {
                Ok(Ok((digest, size))) => match check_against_pin(pin, digest, size) {
                    Ok(()) => Outcome::Complete(digest, size),
                    Err(reason) => Outcome::Failed(reason),
                },
                Ok(Err(reason)) => Outcome::Failed(reason),
                Err(err) => Outcome::Failed(format!("cannot copy: {err}")),
            };
            ctx.progress.advanced(&artifact.name, limit.min(src.metadata().map_or(0, |m| m.len())));
            match outcome {
                Outcome::Complete(digest, size) => {
                    return publish(ctx, artifact, part, digest, size, src.display().to_string());
                }
                Outcome::Failed(reason) => {
                    failures.push(SourceFailure { source: src.display().to_string(), reason })
                }
            }
        }
    }

    if !ctx.config.offline {
        for url in &artifact.urls {
            let part = PartFile::new(&cache_dir, &artifact.name);
            match download(ctx, artifact, url, &part.path, pin).await {
                Outcome::Complete(digest, size) => {
                    return publish(ctx, artifact, part, digest, size, url.clone());
                }
                Outcome::Failed(reason) => {
                    failures.push(SourceFailure { source: url.clone(), reason })
                }
            }
        }
    }
    Err(FetchError::AllSourcesFailed {
        name: artifact.name.clone(),
        file: artifact.file.clone(),
        failures,
        offline: ctx.config.offline && !artifact.urls.is_empty(),
    })
}

fn publish(
    ctx: &Ctx,
    artifact: &Artifact,
    part: PartFile,
    digest: Sha256,
    size: u64,
    source: String,
) -> Result<Fetched, FetchError> {
    let dest = ctx.cache.path(&digest);
    part.publish(&dest).map_err(|source| FetchError::Cache { path: dest.clone(), source })?;
    ctx.progress.finished(&artifact.name);
    Ok(Fetched {
        name: artifact.name.clone(),
        path: dest,
        pin: Pin { sha256: digest, size },
        source,
    })
}

/// Downloads `url` into `part`, retrying transient failures and resuming when the server allows.
async fn download(
    ctx: &Ctx,
    artifact: &Artifact,
    url: &str,
    part: &Path,
    pin: Option<Pin>,
) -> Outcome {
    let file = match tokio::fs::File::create(part).await {
        Ok(f) => f,
        Err(err) => return Outcome::Failed(format!("cannot create {}: {err}", part.display())),
    };
    let mut state =
        Download { file, hasher: sha2::Sha256::new(), count: 0, validator: None, ranges: false };
    let policy = ctx.config.retry;
    let attempts = policy.attempts.max(1);
    let mut last = String::new();
    for n in 0..attempts {
        if n > 0 {
            let delay = policy.delay(n - 1);
            tracing::info!(artifact = %artifact.name, %url, reason = %last, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
        match attempt(ctx, artifact, url, &mut state, pin).await {
            Attempt::Complete => {
                if let Err(err) = state.file.flush().await {
                    return Outcome::Failed(format!("cannot write {}: {err}", part.display()));
                }
                let digest = Sha256::from_bytes(state.hasher.clone().finalize().into());
                return match check_against_pin(pin, digest, state.count) {
                    Ok(()) => Outcome::Complete(digest, state.count),
                    Err(reason) => Outcome::Failed(reason),
                };
            }
            Attempt::Permanent(reason) => return Outcome::Failed(reason),
            Attempt::Transient(reason) => last = reason,
        }
    }
    Outcome::Failed(format!("{last} (gave up after {attempts} attempts)"))
}

fn is_transient_status(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

/// `bytes <start>-<end>/<total>` → start.
fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

async fn attempt(
    ctx: &Ctx,
    artifact: &Artifact,
    url: &str,
    st: &mut Download,
    pin: Option<Pin>,
) -> Attempt {
    use reqwest::header;
    let limit = pin.map_or(UNPINNED_LIMIT, |p| p.size);
    let resuming = st.count > 0 && st.ranges;
    if st.count > 0 && !resuming {
        if let Err(err) = st.restart().await {
            return Attempt::Permanent(format!("cannot rewrite the part file: {err}"));
        }
    }
    let mut request = ctx.client.get(url);
    if resuming {
        request = request.header(header::RANGE, format!("bytes={}-", st.count));
        if let Some(v) = &st.validator {
            request = request.header(header::IF_RANGE, v.clone());
        }
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(err) if err.is_builder() => {
            return Attempt::Permanent(format!("invalid request: {err}"));
        }
        Err(err) => return Attempt::Transient(format!("request failed: {}", error_chain(&err))),
    };
    let status = response.status();
    if is_transient_status(status) {
        return Attempt::Transient(format!("HTTP {status}"));
    }
    let headers = response.headers();
    match status {
        reqwest::StatusCode::PARTIAL_CONTENT if resuming => {
            let start = headers
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(content_range_start);
            if start != Some(st.count) {
                // A range we did not ask for: start over on the next attempt.
                st.ranges = false;
                return Attempt::Transient(format!(
                    "unexpected Content-Range {start:?} for offset {}",
                    st.count
                ));
            }
            tracing::info!(artifact = %artifact.name, %url, offset = st.count, "resuming");
        }
        reqwest::StatusCode::OK => {
            if st.count > 0 {
                // The server ignored the Range (or the validator changed): start from zero.
                if let Err(err) = st.restart().await {
                    return Attempt::Permanent(format!("cannot rewrite the part file: {err}"));
                }
            }
            ctx.progress.started(&artifact.name, pin.map(|p| p.size));
            if let (Some(pin), Some(len)) = (pin, response.content_length()) {
                if len != pin.size {
                    return Attempt::Permanent(format!(
                        "size mismatch: server announces {len} bytes, expected {}",
                        pin.size
                    ));
                }
            }
            st.ranges =
                headers.get(header::ACCEPT_RANGES).is_some_and(|v| v.as_bytes() == b"bytes");
            st.validator = headers
                .get(header::ETAG)
                .filter(|v| !v.as_bytes().starts_with(b"W/"))
                .or_else(|| headers.get(header::LAST_MODIFIED))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        other => return Attempt::Permanent(format!("HTTP {other}")),
    }
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(err) => {
                return Attempt::Transient(format!(
                    "connection lost after {} bytes: {}",
                    st.count,
                    error_chain(&err)
                ));
            }
        };
        if st.count + chunk.len() as u64 > limit {
            return Attempt::Permanent(format!("body exceeds the pinned size of {limit} bytes"));
        }
        if let Err(err) = st.file.write_all(&chunk).await {
            return Attempt::Permanent(format!("cannot write the part file: {err}"));
        }
        st.hasher.update(&chunk);
        st.count += chunk.len() as u64;
        ctx.progress.advanced(&artifact.name, chunk.len() as u64);
    }
    Attempt::Complete
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(350),
        };
        for _ in 0..50 {
            let d0 = p.delay(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100), "{d0:?}");
            let d5 = p.delay(5);
            assert!(d5 >= Duration::from_millis(175) && d5 <= Duration::from_millis(350), "{d5:?}");
        }
    }

    #[test]
    fn content_range_parses_start() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("items 1-2/3"), None);
    }
}
