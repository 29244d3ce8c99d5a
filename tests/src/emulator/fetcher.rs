//! The Mesos fetcher's rules for `CommandInfo.uris`: http(s) and local sources, `output_file`,
//! `executable`, extraction by case-sensitive suffix (with the real libarchive `bsdtar`, which
//! refuses `..` entries like the fetcher), `.gz` decompression, and the `cache` (archive kept
//! out of the sandbox). Any failure fails the whole launch.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use mesos::Uri;

use super::Shared;
use super::process::command;

/// Suffixes the fetcher hands to the archive extractor (case-sensitive).
pub const ARCHIVE_SUFFIXES: &[&str] =
    &[".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"];

/// Fetches every URI in order into `sandbox`, logging to `log` (the sandbox `stderr`).
pub(crate) async fn fetch_all(
    shared: &Shared,
    uris: &[Uri],
    sandbox: &Path,
    log: &std::fs::File,
) -> Result<(), String> {
    for uri in uris {
        let _ = writeln!(&*log, "Fetching URI '{}'", uri.value);
        fetch_one(shared, uri, sandbox, log).await.map_err(|e| format!("'{}': {e}", uri.value))?;
    }
    Ok(())
}

/// Where a URI comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    Local(PathBuf),
    Http(String),
}

fn source_of(value: &str) -> Result<Source, String> {
    if value.contains('\\') || value.contains('\'') || value.contains('\0') {
        return Err(
            "URI contains a backslash, a single quote or NUL, which the fetcher refuses".into()
        );
    }
    if let Some(rest) = value.strip_prefix("file://") {
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        return if path.starts_with('/') {
            Ok(Source::Local(PathBuf::from(path)))
        } else {
            Err("file:// URIs must name an absolute path".into())
        };
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
        if path.is_empty() {
            return Err("Malformed URI (missing path)".into());
        }
        return match scheme {
            "http" | "https" => Ok(Source::Http(value.to_owned())),
            other => Err(format!(
                "scheme '{other}' needs the Hadoop client, which this agent does not have"
            )),
        };
    }
    if value.starts_with('/') {
        Ok(Source::Local(PathBuf::from(value)))
    } else {
        Err("relative paths are resolved against --frameworks_home, which this agent does not set"
            .into())
    }
}

fn basename(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

async fn fetch_one(
    shared: &Shared,
    uri: &Uri,
    sandbox: &Path,
    log: &std::fs::File,
) -> Result<(), String> {
    let value = uri.value.trim_start();
    let source = source_of(value)?;
    if let Some(out) = &uri.output_file {
        if out.is_empty() || out.starts_with('/') {
            return Err(format!("output_file {out:?} must be a non-empty relative path"));
        }
    }
    let base = basename(value).to_owned();
    if base.is_empty() {
        return Err("the URI has no file name".into());
    }
    let name = uri.output_file.clone().unwrap_or_else(|| base.clone());
    let dest = sandbox.join(&name);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    if uri.is_cache() {
        if let Some(cached) = cached_copy(shared, &source, value, &base).await? {
            let cache_name =
                cached.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if uri.is_executable() {
                copy(&cached, &dest, 0o755)?;
            } else if uri.is_extract() && is_archive(&cache_name) {
                extract(&cached, sandbox, log).await?;
            } else if uri.is_extract() && cache_name.ends_with(".gz") {
                copy(&cached, &dest, 0o644)?;
                gunzip(&dest, sandbox, log).await?;
            } else {
                copy(&cached, &dest, 0o644)?;
            }
            return Ok(());
        }
        let _ = writeln!(&*log, "Cache size probe failed; fetching '{value}' directly");
    }
    download(shared, &source, &dest).await?;
    if uri.is_executable() {
        set_mode(&dest, 0o755)?;
    } else if uri.is_extract() && is_archive(&name) {
        extract(&dest, sandbox, log).await?;
    } else if uri.is_extract() && name.ends_with(".gz") {
        gunzip(&dest, sandbox, log).await?;
    }
    let _ = writeln!(&*log, "Fetched '{value}' to '{}'", dest.display());
    Ok(())
}

fn is_archive(name: &str) -> bool {
    ARCHIVE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<(), String> {
    std::fs::copy(from, to)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    set_mode(to, mode)
}

/// The cache entry for `value` (downloaded once), or `None` when the size probe fails (the
/// real fetcher then silently fetches directly).
async fn cached_copy(
    shared: &Shared,
    source: &Source,
    value: &str,
    base: &str,
) -> Result<Option<PathBuf>, String> {
    let size = match source {
        Source::Local(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        Source::Http(url) => match shared.http.head(url).send().await {
            // The header itself: reqwest's `content_length()` is the body size, 0 for HEAD.
            Ok(r) if r.status().is_success() => r
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            _ => 0,
        },
    };
    if size == 0 {
        return Ok(None);
    }
    let cache_dir = shared.settings.work_dir.join("fetch-cache");
    let _guard = shared.fetch_cache_lock.lock().await;
    let serial = {
        let cache = shared.fetch_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = cache.get(value) {
            return Ok(Some(path.clone()));
        }
        cache.len()
    };
    let short = if base.chars().count() > 20 {
        let chars: Vec<char> = base.chars().collect();
        format!(
            "{}_{}",
            chars[..10].iter().collect::<String>(),
            chars[chars.len() - 10..].iter().collect::<String>()
        )
    } else {
        base.to_owned()
    };
    std::fs::create_dir_all(&cache_dir)
        .map_err(|e| format!("cannot create the fetcher cache: {e}"))?;
    let path = cache_dir.join(format!("c{serial}-{short}"));
    download(shared, source, &path).await?;
    shared
        .fetch_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(value.to_owned(), path.clone());
    Ok(Some(path))
}

async fn download(shared: &Shared, source: &Source, dest: &Path) -> Result<(), String> {
    match source {
        Source::Local(p) => {
            std::fs::copy(p, dest).map_err(|e| format!("cannot copy {}: {e}", p.display()))?;
            set_mode(dest, 0o644)
        }
        Source::Http(url) => {
            let response = shared
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| format!("download failed: {}", mesos::http::error_chain(&e)))?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(format!(
                    "download failed: HTTP {} (the fetcher needs 200)",
                    response.status()
                ));
            }
            let mut file = std::fs::File::create(dest)
                .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| format!("download interrupted: {e}"))?;
                file.write_all(&chunk)
                    .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
            }
            set_mode(dest, 0o644)
        }
    }
}

/// Extracts with libarchive's `bsdtar` into the sandbox root: `..` entries refused (the whole
/// fetch fails), leading `/` stripped, owners not restored, setuid dropped.
async fn extract(archive: &Path, sandbox: &Path, log: &std::fs::File) -> Result<(), String> {
    let out = command("bsdtar")
        .arg("-x")
        .arg("--no-same-owner")
        .arg("--no-same-permissions")
        .arg("-f")
        .arg(archive)
        .arg("-C")
        .arg(sandbox)
        .output()
        .await
        .map_err(|e| format!("cannot run bsdtar: {e}"))?;
    let _ = log.try_clone().map(|mut f| f.write_all(&out.stderr));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "extracting {} failed ({}): {}",
            archive.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `gunzip -d -c` of a lone `.gz` into the sandbox root, named without `.gz`.
async fn gunzip(file: &Path, sandbox: &Path, log: &std::fs::File) -> Result<(), String> {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let target = sandbox.join(name.trim_end_matches(".gz"));
    let out = command("gunzip")
        .arg("-d")
        .arg("-c")
        .arg(file)
        .output()
        .await
        .map_err(|e| format!("cannot run gunzip: {e}"))?;
    let _ = log.try_clone().map(|mut f| f.write_all(&out.stderr));
    if !out.status.success() {
        return Err(format!("gunzip {} failed ({})", file.display(), out.status));
    }
    std::fs::write(&target, &out.stdout)
        .map_err(|e| format!("cannot write {}: {e}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_names() {
        assert_eq!(source_of("file:///tmp/x.tar.gz"), Ok(Source::Local("/tmp/x.tar.gz".into())));
        assert_eq!(source_of("file://localhost/tmp/x"), Ok(Source::Local("/tmp/x".into())));
        assert!(source_of("file://tmp/x").is_err());
        assert_eq!(source_of("http://h").unwrap_err(), "Malformed URI (missing path)");
        assert!(source_of("hdfs://h/x").unwrap_err().contains("Hadoop"));
        assert!(source_of("x.tar.gz").unwrap_err().contains("frameworks_home"));
        assert!(source_of("http://h/it's").is_err());
        assert_eq!(basename("http://h/app.tar.gz?sig=1"), "app.tar.gz?sig=1");
        assert!(!is_archive("app.tar.gz?sig=1"));
        assert!(is_archive("app.tgz"));
        assert!(!is_archive("app.TAR.GZ"));
    }
}
