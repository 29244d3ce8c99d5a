//! The ZooKeeper store: the blob is the data of one persistent znode and our version is the
//! znode's version plus one, so compare-and-set is ZooKeeper's own conditional `setData` (and
//! `create` for the first save). The client is rebuilt after session expiry; a write whose outcome
//! was lost with the connection is settled by reading the znode back.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError};

use super::{StoreError, StoreOptions, Version, Versioned};

/// ZooKeeper's default `jute.maxbuffer` is 1 MiB including the request; stay clearly below.
const MAX_DATA: usize = 1_000_000;

/// A store in one znode of a ZooKeeper ensemble.
#[derive(Debug)]
pub struct ZkStore {
    /// `host:port,host:port` as the client wants it.
    cluster: String,
    path: String,
    options: StoreOptions,
    client: Mutex<Option<Client>>,
    sessions: AtomicU64,
}

impl fmt::Display for ZkStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://{}{}", self.cluster, self.path)
    }
}

/// One attempt's outcome, before retry policy.
enum Attempt<T> {
    Done(T),
    /// The session is gone: rebuild the client and try again.
    Reconnect(ZkError),
    /// The connection dropped: the same client may recover; try again.
    Retry(ZkError),
    /// ZooKeeper refused the request for a reason retrying cannot fix (ACLs, bad path).
    Fail(ZkError),
}

impl ZkStore {
    /// Connect and make sure the parent znodes of `path` exist.
    pub async fn open(
        hosts: &[String],
        path: &str,
        options: StoreOptions,
    ) -> Result<ZkStore, StoreError> {
        let store = ZkStore {
            cluster: hosts.join(","),
            path: path.to_owned(),
            options,
            client: Mutex::new(None),
            sessions: AtomicU64::new(0),
        };
        // `/scaleio` has no parent to create; checking the root still proves the connection.
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        store
            .run("create the parent znodes", |client| async move {
                let result = if parent.is_empty() {
                    client.check_stat("/").await.map(drop)
                } else {
                    client
                        .mkdir(parent, &CreateMode::Persistent.with_acls(Acls::anyone_all()))
                        .await
                };
                match result {
                    Ok(()) => Attempt::Done(Ok(())),
                    Err(e) => classify(e),
                }
            })
            .await?;
        Ok(store)
    }

    pub async fn load(&self) -> Result<Option<Versioned>, StoreError> {
        self.run("read", |client| async move {
            match read(&client, &self.path).await {
                Ok((data, stat)) => {
                    Attempt::Done(Ok(Some(Versioned { version: from_zk(stat.version), data })))
                }
                Err(ZkError::NoNode) => Attempt::Done(Ok(None)),
                Err(e) => classify(e),
            }
        })
        .await
    }

    pub async fn save(
        &self,
        expected: Option<Version>,
        data: &[u8],
    ) -> Result<Version, StoreError> {
        if data.len() > MAX_DATA {
            return Err(StoreError::TooLarge {
                store: self.to_string(),
                size: data.len(),
                limit: MAX_DATA,
            });
        }
        let conflict = |found| StoreError::Conflict { store: self.to_string(), expected, found };
        // Set when an attempt's answer was lost: the next attempt first reads back what is there.
        let mut uncertain = false;
        self.run("write", |client| {
            let was_uncertain = std::mem::replace(&mut uncertain, true);
            let conflict = &conflict;
            async move {
                if was_uncertain {
                    match read(&client, &self.path).await {
                        Ok((stored, stat)) => {
                            let found = from_zk(stat.version);
                            let ours = Version(expected.map_or(1, |v| v.0 + 1));
                            if found == ours && stored == data {
                                return Attempt::Done(Ok(ours));
                            }
                            if Some(found) != expected {
                                return Attempt::Done(Err(conflict(Some(found))));
                            }
                        }
                        Err(ZkError::NoNode) if expected.is_some() => {
                            return Attempt::Done(Err(conflict(None)));
                        }
                        Err(ZkError::NoNode) => {}
                        Err(e) => return classify(e),
                    }
                }
                let result = match expected {
                    None => client
                        .create(
                            &self.path,
                            data,
                            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
                        )
                        .await
                        .map(|(stat, _)| stat),
                    Some(version) => client.set_data(&self.path, data, Some(to_zk(version))).await,
                };
                match result {
                    Ok(stat) => Attempt::Done(Ok(from_zk(stat.version))),
                    Err(ZkError::NodeExists) => {
                        Attempt::Done(Err(conflict(current_version(&client, &self.path).await)))
                    }
                    Err(ZkError::BadVersion) => {
                        Attempt::Done(Err(conflict(current_version(&client, &self.path).await)))
                    }
                    Err(ZkError::NoNode) if expected.is_some() => {
                        Attempt::Done(Err(conflict(None)))
                    }
                    Err(e) => classify(e),
                }
            }
        })
        .await
    }

    /// Run `op` with a live client until it is done or the deadline passes, reconnecting after
    /// session expiry and retrying after connection loss.
    async fn run<T, F, Fut>(&self, action: &'static str, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Attempt<Result<T, StoreError>>>,
    {
        let started = Instant::now();
        let deadline = started + self.options.deadline;
        let mut pause = Duration::from_millis(100);
        let mut last_error: Option<ZkError> = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(match last_error {
                    Some(source) => {
                        StoreError::Unavailable { store: self.to_string(), action, source }
                    }
                    None => StoreError::Timeout {
                        store: self.to_string(),
                        action,
                        waited: started.elapsed(),
                    },
                });
            }
            let client = match tokio::time::timeout(remaining, self.client()).await {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => {
                    tracing::debug!(store = %self, error = %e, "cannot connect to ZooKeeper yet");
                    last_error = Some(e);
                    tokio::time::sleep(pause.min(remaining)).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
                Err(_) => continue,
            };
            let outcome = match tokio::time::timeout(remaining, op(client)).await {
                Ok(outcome) => outcome,
                Err(_) => Attempt::Retry(ZkError::Timeout),
            };
            match outcome {
                Attempt::Done(result) => return result,
                Attempt::Fail(source) => {
                    return Err(StoreError::Unavailable {
                        store: self.to_string(),
                        action,
                        source,
                    });
                }
                Attempt::Reconnect(e) => {
                    tracing::warn!(store = %self, error = %e, "ZooKeeper session lost; reconnecting");
                    *self.client.lock().await = None;
                    last_error = Some(e);
                }
                Attempt::Retry(e) => {
                    tracing::debug!(store = %self, error = %e, "ZooKeeper connection lost; retrying");
                    last_error = Some(e);
                    tokio::time::sleep(pause.min(remaining)).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// How many ZooKeeper sessions this store has established (more than one after a session
    /// expired or the ensemble lost it).
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// The current client, connecting a new session when there is none.
    async fn client(&self) -> Result<Client, ZkError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = Client::connector()
            .with_session_timeout(self.options.session_timeout)
            .with_connection_timeout(self.options.session_timeout / 3)
            .with_fail_eagerly()
            .connect(&self.cluster)
            .await?;
        let session = self.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(store = %self, session, "connected to ZooKeeper");
        *slot = Some(client.clone());
        Ok(client)
    }
}

fn classify<T>(error: ZkError) -> Attempt<T> {
    match error {
        ZkError::SessionExpired
        | ZkError::ClientClosed
        | ZkError::NoHosts
        | ZkError::AuthFailed => Attempt::Reconnect(error),
        ZkError::ConnectionLoss | ZkError::Timeout | ZkError::Throttled | ZkError::SessionMoved => {
            Attempt::Retry(error)
        }
        other => Attempt::Fail(other),
    }
}

/// Read the znode as the leader has it: `sync` first, because the server we are connected to
/// may lag behind (a stale read would turn the next save into a false conflict).
async fn read(client: &Client, path: &str) -> Result<(Vec<u8>, zookeeper_client::Stat), ZkError> {
    match client.sync(path).await {
        Ok(()) | Err(ZkError::NoNode) => {}
        Err(e) => return Err(e),
    }
    client.get_data(path).await
}

async fn current_version(client: &Client, path: &str) -> Option<Version> {
    client.check_stat(path).await.ok().flatten().map(|stat| from_zk(stat.version))
}

fn from_zk(version: i32) -> Version {
    Version(u64::try_from(version).unwrap_or(0) + 1)
}

fn to_zk(version: Version) -> i32 {
    i32::try_from(version.0.saturating_sub(1)).unwrap_or(i32::MAX)
}
