//! The ZooKeeper store: the blob is the data of one persistent znode and our version is the
//! znode's version plus one, so compare-and-set is ZooKeeper's own conditional `setData` (and
//! `create` for the first save). The client is rebuilt after session expiry; a write whose outcome
//! was lost with the connection is settled by reading the znode back — within the call, or at the
//! start of the next one when the call gave up first — so a write that did land is never taken
//! for another scheduler's.
//!
//! A state larger than one znode may hold (ZooKeeper's `jute.maxbuffer`, 1 MiB by default; a
//! plan of about 300 agents) is written gzip-compressed in parts under the sibling znode
//! `<path>.parts`, and the state's znode gets a head naming them (`parts.rs`): the parts first,
//! then the head by compare-and-set, then the parts no head names any more are deleted.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError, SessionState, StateWatcher};

use super::parts::{self, Head, Packed, Stored};
use super::{StoreError, StoreOptions, Version, Versioned};

/// ZooKeeper's default `jute.maxbuffer` is 1 MiB including the request; stay clearly below.
/// A larger state is written in parts of this size.
pub const MAX_DATA: usize = 1_000_000;

/// The most parts one state may take (64 MB compressed; a 10,000-agent plan takes 2).
pub const MAX_PARTS: usize = 64;

/// A store in one znode of a ZooKeeper ensemble.
#[derive(Debug)]
pub struct ZkStore {
    /// `host:port,host:port` as the client wants it.
    cluster: String,
    path: String,
    options: StoreOptions,
    client: Mutex<Option<Client>>,
    sessions: AtomicU64,
    /// The current session's state, readable without waiting (for [`ZkStore::trouble`]).
    state: std::sync::Mutex<Option<StateWatcher>>,
    /// Why the last operation could not reach ZooKeeper, and since when (cleared by a success).
    failing: std::sync::Mutex<Option<(Instant, String)>>,
    /// A write that was sent but whose answer was lost when its call gave up. The next write
    /// settles it by reading the znode back before writing.
    unsettled: std::sync::Mutex<Option<Unsettled>>,
    /// Parts that no head names may be left under `<path>.parts` (true until a write found none).
    stale_parts: AtomicBool,
}

/// A write whose answer was lost.
#[derive(Debug, Clone)]
struct Unsettled {
    expected: Option<Version>,
    /// The state it wrote.
    state: Vec<u8>,
    /// The head naming its parts, when it wrote the state in parts (else the state's znode got
    /// the state itself).
    head: Option<Vec<u8>>,
}

impl Unsettled {
    /// What it wrote into the state's znode.
    fn written(&self) -> &[u8] {
        self.head.as_deref().unwrap_or(&self.state)
    }
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

/// What reading the znode back says about an unsettled write.
enum Settled {
    /// It landed: the znode holds its data at the version it made.
    Landed(Version),
    /// It did not land, or someone wrote after it: it no longer matters.
    Gone,
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
            state: std::sync::Mutex::new(None),
            failing: std::sync::Mutex::new(None),
            unsettled: std::sync::Mutex::new(None),
            stale_parts: AtomicBool::new(true),
        };
        // `/scaleio` has no parent to create; checking the root still proves the connection.
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        store
            .run("create the parent znodes", options.deadline, |client| async move {
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
        self.run("read", self.options.deadline, |client| async move {
            // A head may be replaced, and its parts deleted, while we read them: read again.
            let mut missing_at: Option<Version> = None;
            loop {
                let (data, stat) = match read(&client, &self.path).await {
                    Ok(read) => read,
                    Err(ZkError::NoNode) => return Attempt::Done(Ok(None)),
                    Err(e) => return classify(e),
                };
                let version = from_zk(stat.version);
                let head = match parts::classify(&data) {
                    Ok(Stored::Whole(_)) => {
                        return Attempt::Done(Ok(Some(Versioned { version, data })));
                    }
                    Ok(Stored::Parts(head)) => head,
                    Err(problem) => return Attempt::Done(Err(self.corrupt(problem))),
                };
                self.stale_parts.store(true, Ordering::Relaxed);
                match self.read_parts(&client, &head).await {
                    Ok(Ok(parts)) => {
                        return Attempt::Done(
                            parts::join(&head, &parts)
                                .map(|data| Some(Versioned { version, data }))
                                .map_err(|problem| self.corrupt(problem)),
                        );
                    }
                    // Missing twice under the same head: not a head replaced while we read.
                    Ok(Err(name)) if missing_at == Some(version) => {
                        return Attempt::Done(Err(self.corrupt(format!(
                            "its head (version {version}) names the part {}/{name}, which does not exist",
                            self.parts_dir()
                        ))));
                    }
                    Ok(Err(_)) => missing_at = Some(version),
                    Err(e) => return classify(e),
                }
            }
        })
        .await
    }

    /// The parts `head` names, or the name of the first one that does not exist.
    async fn read_parts(
        &self,
        client: &Client,
        head: &Head,
    ) -> Result<Result<Vec<Vec<u8>>, String>, ZkError> {
        let dir = self.parts_dir();
        let mut parts = Vec::with_capacity(head.parts as usize);
        for index in 0..head.parts {
            let name = head.part_name(index);
            match client.get_data(&format!("{dir}/{name}")).await {
                Ok((part, _)) => parts.push(part),
                Err(ZkError::NoNode) => return Ok(Err(name)),
                Err(e) => return Err(e),
            }
        }
        Ok(Ok(parts))
    }

    /// Where the parts of a large state live: a sibling of the state's znode.
    fn parts_dir(&self) -> String {
        format!("{}.parts", self.path)
    }

    fn corrupt(&self, problem: String) -> StoreError {
        StoreError::Corrupt { store: self.to_string(), path: PathBuf::from(&self.path), problem }
    }

    /// Compare-and-set, retrying through connection loss and session expiry for up to the
    /// configured deadline.
    pub async fn save(
        &self,
        expected: Option<Version>,
        data: &[u8],
    ) -> Result<Version, StoreError> {
        self.save_within(expected, data, self.options.deadline).await
    }

    /// [`ZkStore::save`] that gives up after `wait` (at most the configured deadline). A write
    /// whose answer it did not get is remembered and settled by the next call.
    pub async fn save_within(
        &self,
        expected: Option<Version>,
        data: &[u8],
        wait: Duration,
    ) -> Result<Version, StoreError> {
        // Compressed once per call; each attempt names its own generation.
        let packed = (data.len() > MAX_DATA).then(|| parts::pack(data, MAX_DATA));
        if let Some(packed) = &packed
            && packed.parts().len() > MAX_PARTS
        {
            return Err(StoreError::TooLarge {
                store: self.to_string(),
                size: data.len(),
                compressed: packed.compressed(),
                limit: (MAX_PARTS * MAX_DATA) as u64,
            });
        }
        let conflict = |found| StoreError::Conflict { store: self.to_string(), expected, found };
        let wait = wait.min(self.options.deadline);
        self.run("write", wait, |client| {
            let conflict = &conflict;
            let packed = &packed;
            async move {
                // Settle an earlier write whose answer was lost: if it landed, the version the
                // caller expects is the one it made.
                let mut expected = expected;
                let pending = self.unsettled.lock().expect("never poisoned").clone();
                if let Some(was) = pending {
                    match settle(&client, &self.path, was.expected, was.written()).await {
                        Ok(Settled::Landed(made)) => {
                            if expected == was.expected {
                                if was.state == data {
                                    self.set_unsettled(None);
                                    return Attempt::Done(Ok(made));
                                }
                                expected = Some(made);
                            }
                        }
                        Ok(Settled::Gone) => {}
                        Err(e) => return classify(e),
                    }
                    self.set_unsettled(None);
                }
                let made = Version(expected.map_or(1, |v| v.0 + 1));
                let (generation, head) = match packed {
                    None => (None, None),
                    Some(packed) => match self.write_parts(&client, packed, made).await {
                        Ok((head, bytes)) => (Some(head.generation), Some(bytes)),
                        Err(e) => return classify(e),
                    },
                };
                let written = head.as_deref().unwrap_or(data);
                // From here on a lost answer leaves this write unsettled.
                self.set_unsettled(Some(Unsettled {
                    expected,
                    state: data.to_vec(),
                    head: head.clone(),
                }));
                let result = match expected {
                    None => client
                        .create(
                            &self.path,
                            written,
                            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
                        )
                        .await
                        .map(|(stat, _)| stat),
                    Some(version) => {
                        client.set_data(&self.path, written, Some(to_zk(version))).await
                    }
                };
                let outcome = match result {
                    Ok(stat) => {
                        let made = from_zk(stat.version);
                        self.delete_stale_parts(&client, made, generation.as_deref()).await;
                        Attempt::Done(Ok(made))
                    }
                    Err(ZkError::NodeExists) | Err(ZkError::BadVersion) => {
                        self.delete_generation(&client, generation.as_deref()).await;
                        Attempt::Done(Err(conflict(current_version(&client, &self.path).await)))
                    }
                    Err(ZkError::NoNode) if expected.is_some() => {
                        self.delete_generation(&client, generation.as_deref()).await;
                        Attempt::Done(Err(conflict(None)))
                    }
                    Err(e) => return classify(e),
                };
                self.set_unsettled(None);
                outcome
            }
        })
        .await
    }

    /// Create the parts of a new generation for a write that makes `made`; returns its head.
    async fn write_parts(
        &self,
        client: &Client,
        packed: &Packed,
        made: Version,
    ) -> Result<(Head, Vec<u8>), ZkError> {
        let dir = self.parts_dir();
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        client.mkdir(&dir, &options).await?;
        let (head, bytes) = packed.head(parts::generation(made.0));
        self.stale_parts.store(true, Ordering::Relaxed);
        for (index, part) in (0..).zip(packed.parts()) {
            client.create(&format!("{dir}/{}", head.part_name(index)), part, &options).await?;
        }
        Ok((head, bytes))
    }

    /// After a write made `made` (its parts `generation`, if any): delete the parts of older
    /// versions and of other generations of the same version (attempts that lost or were
    /// retried). A rival's parts for a later version are left alone. Best effort: what is left is
    /// deleted after a later write.
    async fn delete_stale_parts(&self, client: &Client, made: Version, generation: Option<&str>) {
        if !self.stale_parts.load(Ordering::Relaxed) {
            return;
        }
        let dir = self.parts_dir();
        let children = match client.list_children(&dir).await {
            Ok(children) => children,
            Err(ZkError::NoNode) => {
                self.stale_parts.store(false, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::debug!(store = %self, error = %e, "cannot list old state parts; later");
                return;
            }
        };
        let mut left = false;
        for child in children {
            let stale = match parts::version_of(&child) {
                Some(v) => {
                    v < made.0 || (v == made.0 && Some(parts::generation_of(&child)) != generation)
                }
                None => false,
            };
            if !stale {
                left = true;
                continue;
            }
            match client.delete(&format!("{dir}/{child}"), None).await {
                Ok(()) | Err(ZkError::NoNode) => {}
                Err(e) => {
                    left = true;
                    tracing::debug!(store = %self, error = %e, part = %child, "cannot delete an old state part; later");
                }
            }
        }
        self.stale_parts.store(left, Ordering::Relaxed);
    }

    /// Delete the parts of `generation` (a write that lost its compare-and-set). Best effort.
    async fn delete_generation(&self, client: &Client, generation: Option<&str>) {
        let Some(generation) = generation else { return };
        let dir = self.parts_dir();
        if let Ok(children) = client.list_children(&dir).await {
            for child in children.iter().filter(|c| parts::generation_of(c) == generation) {
                let _ = client.delete(&format!("{dir}/{child}"), None).await;
            }
        }
    }

    fn set_unsettled(&self, value: Option<Unsettled>) {
        *self.unsettled.lock().expect("never poisoned") = value;
    }

    /// Why the store cannot be written right now, if it knows without trying: the last
    /// operation failed to reach ZooKeeper, or the session is disconnected or expired. `None`
    /// when the last operation succeeded and the session is connected.
    pub fn trouble(&self) -> Option<String> {
        if let Some((since, why)) = self.failing.lock().expect("never poisoned").as_ref() {
            return Some(format!(
                "store {self}: ZooKeeper unreachable for {} s: {why}; nothing is launched until the state is saved again\nhint: check that ZooKeeper is running and reachable from this host",
                since.elapsed().as_secs()
            ));
        }
        let state = self.state.lock().expect("never poisoned").as_ref().map(|w| w.peek_state());
        let why = match state? {
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => return None,
            SessionState::Disconnected => "the connection to ZooKeeper is lost; reconnecting",
            SessionState::Expired => {
                "the ZooKeeper session expired; the next write opens a new session"
            }
            SessionState::AuthFailed => "ZooKeeper refused the credentials",
            SessionState::Closed => "the ZooKeeper session is closed",
        };
        Some(format!("store {self}: {why}"))
    }

    /// Run `op` with a live client until it is done or `wait` passes, reconnecting after
    /// session expiry and retrying after connection loss.
    async fn run<T, F, Fut>(
        &self,
        action: &'static str,
        wait: Duration,
        mut op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Attempt<Result<T, StoreError>>>,
    {
        let started = Instant::now();
        let deadline = started + wait;
        let mut pause = Duration::from_millis(100);
        let mut last_error: Option<ZkError> = None;
        let mut warned = false;
        loop {
            if let Some(e) = &last_error {
                self.failing(e);
                // Say once, visibly, that this call waits for ZooKeeper (start-up waits long).
                if !warned && wait >= Duration::from_secs(10) {
                    warned = true;
                    tracing::warn!(store = %self, error = %e, "waiting up to {} s for ZooKeeper to {action}", wait.as_secs());
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(match last_error {
                    Some(cause) if cause != ZkError::Timeout => {
                        StoreError::Unavailable { store: self.to_string(), action, cause }
                    }
                    _ => StoreError::Timeout {
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
                Err(_) => {
                    last_error.get_or_insert(ZkError::Timeout);
                    continue;
                }
            };
            let outcome = match tokio::time::timeout(remaining, op(client)).await {
                Ok(outcome) => outcome,
                Err(_) => Attempt::Retry(ZkError::Timeout),
            };
            match outcome {
                Attempt::Done(result) => {
                    *self.failing.lock().expect("never poisoned") = None;
                    return result;
                }
                Attempt::Fail(cause) => {
                    return Err(StoreError::Unavailable { store: self.to_string(), action, cause });
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

    fn failing(&self, error: &ZkError) {
        let mut failing = self.failing.lock().expect("never poisoned");
        let since = failing.as_ref().map_or_else(Instant::now, |(since, _)| *since);
        *failing = Some((since, error.to_string()));
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
        tracing::info!(
            store = %self,
            session,
            timeout_ms = client.session_timeout().as_millis() as u64,
            "connected to ZooKeeper"
        );
        *self.state.lock().expect("never poisoned") = Some(client.state_watcher());
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
        // `Custom` is how the client fails requests in flight when the connection breaks (an IO
        // error, or no answer within the connection timeout): as transient as `ConnectionLoss`.
        ZkError::ConnectionLoss
        | ZkError::Timeout
        | ZkError::Throttled
        | ZkError::SessionMoved
        | ZkError::Custom(_) => Attempt::Retry(error),
        other => Attempt::Fail(other),
    }
}

/// Whether the write of `data` into the state's znode, expecting `expected`, whose answer was
/// lost, made the znode what it is now.
/// On the client that sent it, the read is queued behind the write, so it sees its outcome; on a
/// new session the old one's queued requests were dropped with it.
async fn settle(
    client: &Client,
    path: &str,
    expected: Option<Version>,
    data: &[u8],
) -> Result<Settled, ZkError> {
    match read(client, path).await {
        Ok((stored, stat)) => {
            let made = Version(expected.map_or(1, |v| v.0 + 1));
            let found = from_zk(stat.version);
            Ok(if found == made && stored == data { Settled::Landed(made) } else { Settled::Gone })
        }
        Err(ZkError::NoNode) => Ok(Settled::Gone),
        Err(e) => Err(e),
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
