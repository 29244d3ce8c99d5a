//! HTTP plumbing shared by both connections: clients, headers, secrets, backoff, redirects.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng as _;

/// The only request and response media type this crate speaks; Mesos compares it exactly.
pub const JSON: &str = "application/json";
/// Header carrying the scheduler subscription's stream id.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// A secret (e.g. the framework's HTTP basic-auth secret) that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret from `path`, dropping one trailing newline.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SecretError { path: path.to_owned(), source })?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        Ok(Self(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned()))
    }

    /// The secret itself; only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A secret file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the secret file {}", path.display())]
pub struct SecretError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// HTTP basic-auth credentials of a framework (`principal` must not contain `:`).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub principal: String,
    pub secret: Secret,
}

/// Capped exponential backoff with jitter: attempt `n` waits a random time in
/// `[d/2, d]` where `d = min(max, initial × 2ⁿ)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_millis(500), max: Duration::from_secs(15) }
    }
}

impl Backoff {
    /// The upper bound of the wait before retry number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// A jittered wait before retry number `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

/// Resolves a `Location` header against the URL that was redirected: a protocol-relative
/// `//host:port/path` keeps the original scheme.
pub fn resolve_location(from: &reqwest::Url, location: &str) -> Option<reqwest::Url> {
    from.join(location).ok()
}

/// Options for building the HTTP clients.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// Extra PEM CA certificate to trust (e.g. `LIBPROCESS_SSL_CA_FILE`).
    pub ca_file: Option<PathBuf>,
}

/// Why an HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA certificate file {}", path.display())]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA certificate file {} is not valid PEM", path.display())]
    ParseCa {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// An HTTP/1.1-only client with rustls, no automatic redirects, and an optional total timeout.
pub fn client(tls: &TlsConfig, timeout: Option<Duration>) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        // Streams can be silent for long (agents heartbeat every 30 min): let the kernel notice
        // a dead peer.
        .tcp_keepalive(Duration::from_secs(30));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(path) = &tls.ca_file {
        let pem = std::fs::read(path)
            .map_err(|source| ClientError::ReadCa { path: path.clone(), source })?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|source| ClientError::ParseCa { path: path.clone(), source })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(ClientError::Build)
}

/// An error and its causes on one line (reqwest hides the interesting part in the sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let b = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(15) };
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(10), Duration::from_secs(15));
        assert_eq!(b.ceiling(500), Duration::from_secs(15));
        for attempt in 0..20 {
            let d = b.delay(attempt);
            assert!(d >= b.ceiling(attempt) / 2 && d <= b.ceiling(attempt), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn protocol_relative_location_keeps_scheme() {
        let from = reqwest::Url::parse("https://m1:5050/api/v1/scheduler").expect("url");
        let to = resolve_location(&from, "//m2:5050/master/api/v1/scheduler").expect("resolves");
        assert_eq!(to.as_str(), "https://m2:5050/master/api/v1/scheduler");
    }
}
