//! The one loop that owns all IO: it `select!`s over the master connection's notices, operator
//! commands from the HTTP side, a timer tick and shutdown; applies each to the core, commits and
//! persists the decisions (compare-and-set: losing means another scheduler is active, so this one
//! stops driving), sends them as calls, and publishes a fresh [`View`] for the HTTP side.
//!
//! Calls go out through one sender task, in order, so a slow master never blocks the loop.
//! Shutdown closes the subscription and returns; it never tears the framework down.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos::scheduler::CallKind;
use mesos::scheduler::connection::{self, Handle, Notice};
use mesos::v1::{FrameworkCapability, FrameworkCapabilityType, FrameworkID, FrameworkInfo};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::core::state::{Command, Refusal};
use crate::core::{Decision, Input, State, Time, decide};
use crate::snapshot::{self, LoopFacts};
use crate::view::{ApiCommand, ApiRefusal, ApiRequest, View};

/// A version number of the stored state, for compare-and-set.
pub type StoreVersion = u64;

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Someone else wrote since we read: another scheduler is active.
    #[error("the stored state changed under us (expected version {expected:?}, found {found:?})")]
    Conflict { expected: Option<StoreVersion>, found: Option<StoreVersion> },
    /// The store failed.
    #[error("{0}")]
    Other(String),
}

/// What the loop needs from the store: versioned bytes with compare-and-set.
pub trait StateStore: Send {
    /// Saves `data` if the stored version is still `expected` (`None`: nothing stored yet).
    fn save(
        &mut self,
        expected: Option<StoreVersion>,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<StoreVersion, SaveError>> + Send;

    /// Why the store cannot be written right now, when it knows without trying (e.g. its
    /// ZooKeeper session is disconnected); shown in `/v1/health` until it recovers.
    fn trouble(&self) -> Option<String> {
        None
    }
}

/// What a [`MemoryStore`] holds: the version and the bytes, once saved.
pub type Saved = Option<(StoreVersion, Vec<u8>)>;

/// An in-memory store (tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// The saved bytes and their version, shared so a test can look and meddle.
    pub inner: Arc<std::sync::Mutex<Saved>>,
}

impl StateStore for MemoryStore {
    async fn save(
        &mut self,
        expected: Option<StoreVersion>,
        data: Vec<u8>,
    ) -> Result<StoreVersion, SaveError> {
        let mut inner = self.inner.lock().expect("memory store lock is never poisoned");
        let found = inner.as_ref().map(|(v, _)| *v);
        if found != expected {
            return Err(SaveError::Conflict { expected, found });
        }
        let next = found.map_or(1, |v| v + 1);
        *inner = Some((next, data));
        Ok(next)
    }
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Shutdown was requested.
    Shutdown,
    /// Another scheduler wrote the store: this one stopped driving.
    Superseded(String),
}

/// The framework as the scheduler subscribes: the configured user, name, role (MULTI_ROLE),
/// failover timeout, principal, hostname and web UI, and the stored framework id if any.
pub fn framework_info(config: &Config, framework_id: Option<String>) -> FrameworkInfo {
    FrameworkInfo {
        id: framework_id.map(FrameworkID::new),
        failover_timeout: Some(config.failover_timeout_secs as f64),
        checkpoint: Some(true),
        roles: vec![config.role.clone()],
        capabilities: vec![FrameworkCapability::from(FrameworkCapabilityType::MultiRole)],
        hostname: Some(config.hostname.clone()),
        principal: config.principal.clone(),
        webui_url: Some(format!("{}/", config.advertised_base())),
        ..FrameworkInfo::new(config.user.clone(), config.framework_name.clone())
    }
}

/// The loop's inputs and outputs besides the core.
#[derive(Debug)]
pub struct Wiring {
    /// The master connection's settings (its `framework_info.id` is replaced by the state's).
    pub connection: connection::Config,
    /// Operator commands from the HTTP side.
    pub commands: mpsc::Receiver<ApiRequest>,
    /// Where the snapshot goes.
    pub view: watch::Sender<Arc<View>>,
    /// Time between ticks (retries and timeouts are checked on ticks).
    pub tick: Duration,
    /// The store version the state was loaded at (`None`: nothing stored).
    pub store_version: Option<StoreVersion>,
}

fn now() -> Time {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Time(u64::try_from(ms).unwrap_or(u64::MAX))
}

fn api_command(c: ApiCommand) -> Command {
    match c {
        ApiCommand::Pause => Command::Pause,
        ApiCommand::Resume => Command::Resume,
        ApiCommand::Retry(id) => Command::Retry(id),
    }
}

fn api_refusal(r: Refusal) -> ApiRefusal {
    match r {
        Refusal::UnknownStep(id) => ApiRefusal::UnknownStep(id),
        Refusal::NotRetryable { id, status } => ApiRefusal::NotRetryable { id, status },
    }
}

/// Sends calls in order on its own task.
fn spawn_sender(handle: Handle) -> mpsc::UnboundedSender<CallKind> {
    let (tx, mut rx) = mpsc::unbounded_channel::<CallKind>();
    tokio::spawn(async move {
        while let Some(kind) = rx.recv().await {
            let name = kind.type_name().to_owned();
            if let Err(e) = handle.call(kind).await {
                tracing::warn!(call = %name, error = %mesos::http::error_chain(&e), "call to the master failed");
            }
        }
    });
    tx
}

struct Loop<S> {
    state: State,
    store: S,
    version: Option<StoreVersion>,
    facts: LoopFacts,
    view: watch::Sender<Arc<View>>,
    /// Calls of decisions committed while the store could not save them, in order: they go out
    /// after the next successful save (the store is the write-ahead log).
    held: Vec<CallKind>,
}

impl<S: StateStore> Loop<S> {
    /// decide → commit → persist → send, until nothing internal is left; then publish.
    async fn settle(&mut self, calls: &mpsc::UnboundedSender<CallKind>) -> Result<(), Exit> {
        for _ in 0..8 {
            let now = now();
            let decisions = decide(&self.state, now);
            self.state.commit(now, &decisions);
            if self.state.is_dirty() {
                let bytes = self.state.persisted().to_json();
                match self.store.save(self.version, bytes).await {
                    Ok(v) => {
                        self.version = Some(v);
                        self.state.mark_saved();
                        self.facts.store_error = None;
                        for kind in self.held.drain(..) {
                            let _ = calls.send(kind);
                        }
                    }
                    Err(SaveError::Conflict { expected, found }) => {
                        let why = format!(
                            "the stored state moved from version {expected:?} to {found:?}: another scheduler is active; this one stops driving"
                        );
                        return Err(Exit::Superseded(why));
                    }
                    Err(SaveError::Other(e)) => {
                        // Never send a launch the store does not know about.
                        tracing::error!(error = %e, "cannot save the scheduler state; holding calls back");
                        self.facts.store_error = Some(e);
                        self.held.extend(decisions.iter().filter_map(Decision::call));
                        self.publish();
                        return Ok(());
                    }
                }
            }
            let mut internal = false;
            for d in &decisions {
                match d {
                    Decision::Launch { step, task, .. } => {
                        tracing::info!(step = %step, task.id = %task.task_id, agent = %task.agent_id, "launching step")
                    }
                    Decision::Decline { offer_ids, reason, .. } => {
                        tracing::debug!(offers = offer_ids.len(), %reason, "declining offers")
                    }
                    Decision::Skip { step, message } => {
                        tracing::info!(step = %step, %message, "step skipped");
                        internal = true;
                    }
                    Decision::StepError { step, message } => {
                        tracing::error!(step = %step, %message, "step cannot run");
                        internal = true;
                    }
                    _ => {}
                }
                if let Some(kind) = d.call() {
                    let _ = calls.send(kind);
                }
            }
            if !internal {
                break;
            }
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        let mut facts = self.facts.clone();
        if facts.store_error.is_none() {
            facts.store_error = self.store.trouble();
        }
        self.view.send_replace(Arc::new(snapshot::view(&self.state, &facts)));
    }
}

/// Runs the scheduler until `shutdown` completes or another scheduler takes over.
pub async fn run<S: StateStore>(
    state: State,
    store: S,
    mut wiring: Wiring,
    shutdown: impl Future<Output = ()>,
) -> Result<Exit, connection::ConnectError> {
    let mut lp = Loop {
        state,
        store,
        version: wiring.store_version,
        facts: LoopFacts {
            subscribed: false,
            master: Some(wiring.connection.master.to_string()),
            store_error: None,
        },
        view: wiring.view,
        held: Vec::new(),
    };
    lp.publish();
    let mut conn = wiring.connection.clone();
    conn.framework_info.id = lp.state.durable().framework_id.clone().map(FrameworkID::new);
    let (mut handle, mut notices) = connection::connect(conn)?;
    let mut calls = spawn_sender(handle.clone());
    let mut tick = tokio::time::interval(wiring.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut reconnect_at: Option<tokio::time::Instant> = None;
    let mut commands_open = true;
    loop {
        let input = tokio::select! {
            _ = &mut shutdown => {
                handle.close();
                return Ok(Exit::Shutdown);
            }
            notice = notices.recv(), if reconnect_at.is_none() => match notice {
                Some(Notice::Event(event)) => {
                    match &event {
                        mesos::scheduler::Event::Subscribed(_) => lp.facts.subscribed = true,
                        mesos::scheduler::Event::Error(e) if e.message.contains("failed over") => {
                            // Another instance subscribed with our framework id: it drives now.
                            let why = format!("the master says: {}; another scheduler instance took over, this one stops", e.message);
                            handle.close();
                            return Ok(Exit::Superseded(why));
                        }
                        _ => {}
                    }
                    match Input::from_event(event) {
                        Some(input) => input,
                        None => continue,
                    }
                }
                Some(Notice::Disconnected { reason, .. }) => {
                    tracing::warn!(%reason, "disconnected from the master");
                    lp.facts.subscribed = false;
                    Input::Disconnected
                }
                Some(Notice::Stopped { reason }) => {
                    tracing::error!(%reason, "the master connection stopped; connecting again in 5 s");
                    lp.facts.subscribed = false;
                    reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                    Input::Disconnected
                }
                None => {
                    lp.facts.subscribed = false;
                    reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                    Input::Disconnected
                }
            },
            request = wiring.commands.recv(), if commands_open => match request {
                Some(ApiRequest { command, reply }) => {
                    let answer = lp.state.apply(now(), Input::ApiCommand(api_command(command)));
                    if let Some(answer) = answer {
                        let _ = reply.send(answer.map_err(api_refusal));
                    }
                    Input::Tick
                }
                None => {
                    commands_open = false;
                    Input::Tick
                }
            },
            _ = tick.tick() => {
                if let Some(at) = reconnect_at {
                    if tokio::time::Instant::now() >= at {
                        reconnect_at = None;
                        let mut conn = wiring.connection.clone();
                        conn.framework_info.id = lp.state.durable().framework_id.clone().map(FrameworkID::new);
                        let (h, n) = connection::connect(conn)?;
                        handle = h;
                        notices = n;
                        calls = spawn_sender(handle.clone());
                    }
                }
                Input::Tick
            }
        };
        lp.state.apply(now(), input);
        if let Err(exit) = lp.settle(&calls).await {
            tracing::error!("{exit:?}");
            handle.close();
            return Ok(exit);
        }
    }
}
