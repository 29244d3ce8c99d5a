//! `GET|HEAD /artifacts/{file}`: the executor binary and bundles, streamed from disk with
//! Content-Length, ETag and single byte ranges. Only plain names are served: no traversal, no
//! hidden files, and no symlink that leads out of the artifacts directory.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{State as AppState, error};

/// Where `/artifacts/{file}` finds its files.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    /// Every regular file directly in this directory is served under its own name (bundles).
    pub dir: Option<PathBuf>,
    /// Single files served under a chosen name (the executor binary), looked up first.
    pub files: BTreeMap<String, PathBuf>,
}

/// [`Artifacts`] checked at start: the directory canonical, the names plain.
#[derive(Debug)]
pub(super) struct Resolved {
    dir: Option<PathBuf>,
    files: BTreeMap<String, PathBuf>,
}

impl Artifacts {
    pub(super) fn resolve(&self) -> std::io::Result<Resolved> {
        let dir = match &self.dir {
            Some(dir) => Some(std::fs::canonicalize(dir).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("artifacts directory {}: {e}; check --bundle-dir", dir.display()),
                )
            })?),
            None => None,
        };
        for name in self.files.keys() {
            if !plain_name(name) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("artifact name `{name}` is not a plain file name"),
                ));
            }
        }
        Ok(Resolved { dir, files: self.files.clone() })
    }
}

impl Resolved {
    /// Every servable name and its file, for listings.
    pub(super) fn names(&self) -> BTreeMap<String, PathBuf> {
        let mut names = BTreeMap::new();
        if let Some(dir) = &self.dir {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(path) = self.lookup(&name) {
                        names.insert(name, path);
                    }
                }
            }
        }
        for (name, path) in &self.files {
            names.insert(name.clone(), path.clone());
        }
        names
    }

    /// The file behind `name`, when it may be served.
    fn lookup(&self, name: &str) -> Option<PathBuf> {
        if !plain_name(name) {
            return None;
        }
        if let Some(path) = self.files.get(name) {
            return Some(path.clone());
        }
        let dir = self.dir.as_ref()?;
        // Symlinks are followed only while they stay inside the directory.
        let path = std::fs::canonicalize(dir.join(name)).ok()?;
        if !path.starts_with(dir) || !std::fs::metadata(&path).ok()?.is_file() {
            return None;
        }
        Some(path)
    }
}

/// A name with no path in it: not empty, no separators or NUL, not hidden (`.part` files and
/// `.`/`..` included).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

pub(super) async fn get_artifact(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if !plain_name(&name) {
        return error(
            StatusCode::BAD_REQUEST,
            "artifact names are plain file names (no `/`, `..` or leading `.`)",
        );
    }
    let Some(path) = state.artifacts.lookup(&name) else {
        return not_found(&name);
    };
    match serve_file(&path, method == Method::HEAD, &headers).await {
        Ok(response) => response,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(&name),
        Err(e) => {
            tracing::warn!(artifact = %name, error = %e, "cannot read artifact");
            error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read artifact `{name}`"))
        }
    }
}

fn not_found(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no artifact named `{name}` is served here"))
}

async fn serve_file(path: &Path, head: bool, headers: &HeaderMap) -> std::io::Result<Response> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    let len = meta.len();
    // Inode, size and modification time: a replaced or rewritten file gets a new tag.
    let etag = format!("\"{:x}-{len:x}-{:x}.{:x}\"", meta.ino(), meta.mtime(), meta.mtime_nsec());
    let mut builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag)
        .header(header::CONTENT_TYPE, content_type(path));

    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if if_none_match
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok(builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .expect("valid response"));
    }

    let range_applies = headers
        .get(header::IF_RANGE)
        .is_none_or(|value| value.to_str().is_ok_and(|v| v.trim() == etag));
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) if range_applies => parse_range(value, len),
        _ => RangeOutcome::Full,
    };
    let (status, start, count) = match range {
        RangeOutcome::Full => (StatusCode::OK, 0, len),
        RangeOutcome::Partial { start, end } => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeOutcome::Unsatisfiable => {
            return Ok(builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .header(header::CONTENT_LENGTH, "0")
                .body(Body::empty())
                .expect("valid response"));
        }
    };
    builder = builder.status(status).header(header::CONTENT_LENGTH, HeaderValue::from(count));
    if head {
        return Ok(builder.body(Body::empty()).expect("valid response"));
    }
    let mut file = tokio::fs::File::from_std(file);
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let stream = ReaderStream::with_capacity(file.take(count), 64 * 1024);
    Ok(builder.body(Body::from_stream(stream)).expect("valid response"))
}

fn content_type(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".txt") || name.ends_with("SUMS") {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RangeOutcome {
    /// Serve the whole file: no range, a unit other than bytes, several ranges, or a malformed
    /// header (RFC 9110 lets a server ignore those).
    Full,
    /// Serve bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416: the range starts at or beyond the end.
    Unsatisfiable,
}

pub(super) fn parse_range(value: &str, len: u64) -> RangeOutcome {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeOutcome::Full;
    };
    if spec.contains(',') {
        return RangeOutcome::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeOutcome::Full;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => RangeOutcome::Full,
            Some(0) => RangeOutcome::Unsatisfiable,
            Some(_) if len == 0 => RangeOutcome::Unsatisfiable,
            Some(n) => RangeOutcome::Partial { start: len - n.min(len), end: len - 1 },
        },
        (first, "") => match number(first) {
            None => RangeOutcome::Full,
            Some(start) if start >= len => RangeOutcome::Unsatisfiable,
            Some(start) => RangeOutcome::Partial { start, end: len - 1 },
        },
        (first, last) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= len {
                    RangeOutcome::Unsatisfiable
                } else {
                    RangeOutcome::Partial { start, end: end.min(len - 1) }
                }
            }
            _ => RangeOutcome::Full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeOutcome::*, parse_range, plain_name};

    #[test]
    fn ranges_follow_rfc_9110() {
        let cases: &[(&str, u64, super::RangeOutcome)] = &[
            ("bytes=0-0", 10, Partial { start: 0, end: 0 }),
            ("bytes=2-5", 10, Partial { start: 2, end: 5 }),
            ("bytes=5-", 10, Partial { start: 5, end: 9 }),
            ("bytes=5-100", 10, Partial { start: 5, end: 9 }),
            ("bytes=-3", 10, Partial { start: 7, end: 9 }),
            ("bytes=-30", 10, Partial { start: 0, end: 9 }),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-1", 0, Unsatisfiable),
            ("bytes=5-2", 10, Full),
            ("bytes=0-1,3-4", 10, Full),
            ("items=0-1", 10, Full),
            ("bytes=a-b", 10, Full),
            ("bytes=+1-2", 10, Full),
            ("bytes=-", 10, Full),
        ];
        for (header, len, expected) in cases {
            assert_eq!(parse_range(header, *len), *expected, "{header} of {len}");
        }
    }

    #[test]
    fn only_plain_names_are_servable() {
        for good in ["scaleio-executor", "bundle-ubuntu-14.04-1.0.tar.gz", "SHA256SUMS"] {
            assert!(plain_name(good), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "x.part\0", "/etc/passwd"] {
            assert!(!plain_name(bad), "{bad:?}");
        }
    }
}
