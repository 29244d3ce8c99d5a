//! The scheduler's state store: one opaque blob (the core serialises its state), versioned, written
//! only by compare-and-set. Backends: a file in a directory (the default) and a ZooKeeper znode
//! (for a scheduler Marathon may restart on another host). Entry point: [`Store::open`].

mod file;
pub mod parts;
mod zk;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::StoreSpec;

pub use file::FileStore;
pub use zk::{MAX_DATA as ZK_MAX_DATA, ZkStore};

/// The version of a stored blob. The first save makes version 1; each save adds one. Versions are
/// only compared for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A stored blob and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: Version,
    pub data: Vec<u8>,
}

/// The store, whichever backend `--store` chose.
#[derive(Debug)]
pub enum Store {
    File(FileStore),
    ZooKeeper(Box<ZkStore>),
}

/// Timeouts of the ZooKeeper store (the file store needs none).
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// ZooKeeper session timeout negotiated with the server.
    pub session_timeout: Duration,
    /// How long one operation keeps retrying through connection loss, session expiry and
    /// reconnects before it gives up with [`StoreError::Unavailable`].
    pub deadline: Duration,
}

/// How long one save of the scheduler's loop waits for ZooKeeper before it reports the store
/// unavailable (in `/v1/health`) and holds its calls back until a later save succeeds. Short,
/// because the loop waits with it; a write whose answer it missed is settled by the next save.
pub const LOOP_SAVE_WAIT: Duration = Duration::from_secs(3);

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions { session_timeout: Duration::from_secs(10), deadline: Duration::from_secs(60) }
    }
}

/// What went wrong with the store. Each names the store and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote first: reload, re-apply, save again (or stop: another scheduler runs).
    #[error(
        "store {store}: expected version {}, found {}; another scheduler may be writing the same store\nhint: only one scheduler may use a store at a time; stop the other one",
        show(.expected),
        show(.found)
    )]
    Conflict { store: String, expected: Option<Version>, found: Option<Version> },
    #[error("store {store}: {action} {}\nhint: check that the path exists and the scheduler's user may write it", .path.display())]
    Io {
        store: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store {store}: {} is damaged: {problem}\nhint: restore it from a backup, or move it away to start with an empty state (the framework then registers anew)", .path.display())]
    Corrupt { store: String, path: PathBuf, problem: String },
    /// ZooKeeper could not be reached, or refused the request; the cause is part of the message.
    #[error(
        "store {store}: {action} failed: {cause}\nhint: check that ZooKeeper is running and reachable from this host"
    )]
    Unavailable { store: String, action: &'static str, cause: zookeeper_client::Error },
    #[error("store {store}: {action} gave up after {}s without an answer from ZooKeeper\nhint: check that ZooKeeper is running and reachable from this host", .waited.as_secs())]
    Timeout { store: String, action: &'static str, waited: Duration },
    #[error(
        "store {store}: the state is {size} bytes, {compressed} compressed, above the {limit} compressed bytes this store writes\nhint: for a cluster this large use the file store (--store file:DIR) on a volume that follows the scheduler"
    )]
    TooLarge { store: String, size: usize, compressed: u64, limit: u64 },
}

fn show(version: &Option<Version>) -> String {
    match version {
        Some(v) => v.to_string(),
        None => "none (no state yet)".to_owned(),
    }
}

impl Store {
    /// Open the store `--store` names: the file store creates its directory (mode 0700); the
    /// ZooKeeper store connects and creates the parent znodes. Reads nothing yet.
    pub async fn open(spec: &StoreSpec) -> Result<Store, StoreError> {
        Store::open_with(spec, StoreOptions::default()).await
    }

    pub async fn open_with(spec: &StoreSpec, options: StoreOptions) -> Result<Store, StoreError> {
        match spec {
            StoreSpec::File { dir } => Ok(Store::File(FileStore::open(dir.clone()).await?)),
            StoreSpec::ZooKeeper { hosts, path } => {
                Ok(Store::ZooKeeper(Box::new(ZkStore::open(hosts, path, options).await?)))
            }
        }
    }

    /// The stored blob, or `None` before the first save.
    pub async fn load(&self) -> Result<Option<Versioned>, StoreError> {
        match self {
            Store::File(store) => store.load().await,
            Store::ZooKeeper(store) => store.load().await,
        }
    }

    /// Write `data` if the stored version is still `expected` (`None`: nothing stored yet) and
    /// return the new version; otherwise [`StoreError::Conflict`] and nothing is written.
    pub async fn save(
        &self,
        expected: Option<Version>,
        data: &[u8],
    ) -> Result<Version, StoreError> {
        match self {
            Store::File(store) => store.save(expected, data).await,
            Store::ZooKeeper(store) => store.save(expected, data).await,
        }
    }

    /// Why the store cannot be written right now, when it knows without trying (the ZooKeeper
    /// session is disconnected or expired, or the last operation could not reach it); `None`
    /// for the file store, whose failures show in the save itself.
    pub fn trouble(&self) -> Option<String> {
        match self {
            Store::File(_) => None,
            Store::ZooKeeper(store) => store.trouble(),
        }
    }
}

/// The loop's view of the store: compare-and-set saves; any failure other than a conflict is
/// reported with its whole cause chain. A ZooKeeper save waits at most [`LOOP_SAVE_WAIT`], so the
/// loop can show the outage in `/v1/health` and try again on its next turn.
impl crate::runtime::StateStore for Store {
    async fn save(
        &mut self,
        expected: Option<crate::runtime::StoreVersion>,
        data: Vec<u8>,
    ) -> Result<crate::runtime::StoreVersion, crate::runtime::SaveError> {
        let expected = expected.map(Version);
        let saved = match self {
            Store::File(store) => store.save(expected, &data).await,
            Store::ZooKeeper(store) => store.save_within(expected, &data, LOOP_SAVE_WAIT).await,
        };
        match saved {
            Ok(version) => Ok(version.0),
            Err(StoreError::Conflict { expected, found, .. }) => {
                Err(crate::runtime::SaveError::Conflict {
                    expected: expected.map(|v| v.0),
                    found: found.map(|v| v.0),
                })
            }
            Err(other) => Err(crate::runtime::SaveError::Other(mesos::http::error_chain(&other))),
        }
    }

    async fn version(
        &mut self,
    ) -> Result<Option<crate::runtime::StoreVersion>, crate::runtime::SaveError> {
        match Store::load(self).await {
            Ok(stored) => Ok(stored.map(|s| s.version.0)),
            Err(e) => Err(crate::runtime::SaveError::Other(mesos::http::error_chain(&e))),
        }
    }

    fn trouble(&self) -> Option<String> {
        Store::trouble(self)
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Store::File(store) => store.fmt(f),
            Store::ZooKeeper(store) => store.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The loop spawns store and server futures on the multi-threaded runtime: they must be
    /// `Send`. A compile-time check: `check` is type-checked, never run.
    #[test]
    fn store_and_server_futures_are_send() {
        fn check(
            store: &Store,
            spec: &StoreSpec,
            listener: tokio::net::TcpListener,
            ctx: crate::http::ApiContext,
        ) {
            assert_send(&Store::open(spec));
            assert_send(&store.load());
            assert_send(&store.save(Some(Version(1)), b""));
            assert_send(&crate::http::serve(listener, ctx, std::future::pending()));
        }
        let _ = check;
    }
}
