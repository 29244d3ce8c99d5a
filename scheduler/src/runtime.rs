//! The one loop that owns all IO: it `select!`s over the master connection's notices, operator
//! commands from the HTTP side, capacity reports from the gateway poller, a timer tick and
//! shutdown; applies each to the core, commits and persists the decisions (compare-and-set:
//! losing means another scheduler is active, so this one stops driving), sends them as calls,
//! and publishes a fresh [`View`] for the HTTP side.
//!
//! **One save per turn.** A turn applies the input that woke the loop and every other input
//! already waiting (up to [`MAX_INPUTS_PER_TURN`]), lets the core decide until nothing internal
//! is left, then saves the persisted document at most once, and only then sends the calls of the
//! decisions it committed. The store is the write-ahead log: a call whose decision is not saved is
//! held back (also across turns while the store fails), so a crash never forgets a launch.
//!
//! **Claim before subscribing.** Before it talks to the master the loop writes the state it
//! loaded back to the store (compare-and-set on the version it read), waits
//! [`Wiring::claim_settle`] and reads the version again. A scheduler that loses the claim, or sees
//! that another claimed after it, stops without ever subscribing, so two schedulers started
//! together leave one framework on the master.
//!
//! **Teardown rule.** If a save is lost later, while subscribed, another scheduler took the store
//! over. This one then sends TEARDOWN only for a framework id that the master assigned to this
//! process and that no save of this process may have written (no save carrying it succeeded or
//! ended with an unknown outcome). Any other id may be the one the new owner read from the store
//! and subscribes with: tearing it down would kill the new owner's executors and tasks. That
//! framework is left to the new owner (it fails over to it) or to its failover timeout.
//!
//! Calls go out through one sender task, in order, so a slow master never blocks the loop. The
//! loop keeps them as decisions in an [`Outbox`] and renders one only when the sender has room
//! (at most [`SEND_AHEAD`] rendered calls wait), so a round of thousands of launches does not
//! hold thousands of rendered tasks; a wakeup for room only sends.
//! Shutdown closes the subscription and returns; it never tears the framework down.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos::scheduler::CallKind;
use mesos::scheduler::connection::{self, Handle, Notice};
use mesos::v1::{FrameworkCapability, FrameworkCapabilityType, FrameworkID, FrameworkInfo};
use tokio::sync::{mpsc, watch};

use crate::capacity;
use crate::config::Config;
use crate::core::state::{Command, Refusal};
use crate::core::{Decision, Input, State, Time, decide};
use crate::outbox::{Outbox, SEND_AHEAD};
use crate::snapshot::{self, LoopFacts};
use crate::view::{ApiCommand, ApiRefusal, ApiRequest, GatewayView, View};

/// The most inputs one turn applies before it saves and sends. Applying one costs microseconds;
/// a turn's save and view cost what the whole state costs (at 10,000 agents about 0.18 s to
/// serialise 31 MiB and 0.05 s for the view), so a burst of status updates is taken in few turns:
/// at 256 a round's 20,000 updates made some 80 saves, 20 s of them.
pub const MAX_INPUTS_PER_TURN: usize = 4096;

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

    /// The version stored now (`None`: nothing stored yet).
    fn version(&mut self) -> impl Future<Output = Result<Option<StoreVersion>, SaveError>> + Send;

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

    async fn version(&mut self) -> Result<Option<StoreVersion>, SaveError> {
        let inner = self.inner.lock().expect("memory store lock is never poisoned");
        Ok(inner.as_ref().map(|(v, _)| *v))
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

/// How the loop polls the ScaleIO gateway for capacity (see [`crate::capacity`]).
#[derive(Debug, Clone)]
pub struct CapacityPolling {
    /// Login and system.
    pub access: capacity::Access,
    /// Time between readings.
    pub interval: Duration,
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
    /// How long after its claim the loop looks whether another scheduler claimed the store after
    /// it, before it subscribes (see the module docs).
    pub claim_settle: Duration,
    /// Poll the gateway for capacity (`None`: never).
    pub capacity: Option<CapacityPolling>,
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

/// Sends calls in order on its own task; at most [`SEND_AHEAD`] rendered calls wait for it.
fn spawn_sender(handle: Handle) -> mpsc::Sender<CallKind> {
    let (tx, mut rx) = mpsc::channel::<CallKind>(SEND_AHEAD);
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

/// Aborts a spawned task when dropped (the poller ends with the loop).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What woke the loop, or what it found waiting.
#[expect(clippy::large_enum_variant, reason = "one lives at a time, moved once")]
enum Woken {
    Notice(Option<Notice>),
    Command(Option<ApiRequest>),
    Report(Option<capacity::Report>),
    Tick,
    /// The sender has room for another call.
    Room(mpsc::OwnedPermit<CallKind>),
}

struct Loop<S> {
    state: State,
    store: S,
    version: Option<StoreVersion>,
    facts: LoopFacts,
    view: watch::Sender<Arc<View>>,
    /// Calls of committed decisions, held until a save holds their decisions, rendered as the
    /// sender has room.
    outbox: Outbox,
    /// Framework ids a save of this process may have written (or that it read from the store):
    /// never torn down (see the module docs).
    maybe_persisted: BTreeSet<String>,
    /// Successful saves, for the tests' and the logs' sake.
    saves: u64,
}

impl<S: StateStore> Loop<S> {
    fn superseded(expected: Option<StoreVersion>, found: Option<StoreVersion>) -> Exit {
        Exit::Superseded(format!(
            "the stored state moved from version {expected:?} to {found:?}: another scheduler is active; this one stops driving"
        ))
    }

    /// Saves the persisted document at the current version. `Ok(false)`: the store failed (the
    /// reason is in the facts).
    async fn save(&mut self) -> Result<bool, Exit> {
        let bytes = self.state.persisted_json();
        let framework_id = self.state.durable().framework_id.clone();
        let result = self.store.save(self.version, bytes).await;
        if !matches!(result, Err(SaveError::Conflict { .. })) {
            // Written, or perhaps written: the id may be in the store now.
            self.maybe_persisted.extend(framework_id);
        }
        match result {
            Ok(v) => {
                self.version = Some(v);
                self.saves += 1;
                self.state.mark_saved();
                self.facts.store_error = None;
                Ok(true)
            }
            Err(SaveError::Conflict { expected, found }) => Err(Self::superseded(expected, found)),
            Err(SaveError::Other(e)) => {
                tracing::error!(error = %e, "cannot save the scheduler state; holding calls back");
                self.facts.store_error = Some(e);
                Ok(false)
            }
        }
    }

    /// Claims the store before subscribing (see the module docs): retries while the store fails.
    async fn claim(
        &mut self,
        settle: Duration,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<(), Exit> {
        loop {
            if self.save().await? {
                break;
            }
            self.publish();
            tokio::select! {
                _ = &mut *shutdown => return Err(Exit::Shutdown),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        tracing::info!(version = ?self.version, "claimed the store");
        tokio::select! {
            _ = &mut *shutdown => return Err(Exit::Shutdown),
            _ = tokio::time::sleep(settle) => {}
        }
        match self.store.version().await {
            Ok(found) if found != self.version => Err(Exit::Superseded(format!(
                "another scheduler claimed the store after this one (version {:?}, then {found:?}): it drives; this one stops before subscribing",
                self.version
            ))),
            Ok(_) => Ok(()),
            Err(e) => {
                // The next save's compare-and-set still protects the state.
                tracing::warn!(error = %e, "cannot read the store version after the claim; going on");
                Ok(())
            }
        }
    }

    /// A notice from the master connection: the input it makes, if any.
    fn notice(
        &mut self,
        notice: Option<Notice>,
        reconnect_at: &mut Option<tokio::time::Instant>,
    ) -> Result<Option<Input>, Exit> {
        Ok(match notice {
            Some(Notice::Event(event)) => {
                match &event {
                    mesos::scheduler::Event::Subscribed(_) => self.facts.subscribed = true,
                    mesos::scheduler::Event::Error(e) if e.message.contains("failed over") => {
                        // Another instance subscribed with our framework id: it drives now.
                        return Err(Exit::Superseded(format!(
                            "the master says: {}; another scheduler instance took over, this one stops",
                            e.message
                        )));
                    }
                    _ => {}
                }
                Input::from_event(event)
            }
            Some(Notice::Disconnected { reason, .. }) => {
                tracing::warn!(%reason, "disconnected from the master");
                self.facts.subscribed = false;
                Some(Input::Disconnected)
            }
            Some(Notice::Stopped { reason }) => {
                tracing::error!(%reason, "the master connection stopped; connecting again in 5 s");
                self.facts.subscribed = false;
                *reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                Some(Input::Disconnected)
            }
            None => {
                self.facts.subscribed = false;
                *reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                Some(Input::Disconnected)
            }
        })
    }

    fn command(&mut self, request: ApiRequest) {
        let ApiRequest { command, reply } = request;
        if let Some(answer) = self.state.apply(now(), Input::ApiCommand(api_command(command))) {
            let _ = reply.send(answer.map_err(api_refusal));
        }
    }

    fn report(&mut self, report: capacity::Report) {
        let gateway = self.facts.gateway.get_or_insert_with(GatewayView::default);
        gateway.endpoint = report.endpoint;
        gateway.checked_at = Some(report.at);
        match report.result {
            Ok(capacity) => {
                gateway.up = true;
                gateway.error = None;
                gateway.capacity_at = Some(report.at);
                self.facts.capacity = Some(capacity);
            }
            Err(error) => {
                gateway.up = false;
                gateway.error = Some(error);
            }
        }
    }

    /// decide → commit until nothing internal is left; then one save; then the calls (only once
    /// saved); then publish.
    async fn settle(&mut self, calls: &mpsc::Sender<CallKind>) -> Result<(), Exit> {
        for _ in 0..8 {
            let now = now();
            let decisions = decide(&self.state, now);
            self.state.commit(now, &decisions);
            let mut internal = false;
            for d in &decisions {
                match d {
                    Decision::Launch { step, task_id, agent_id, .. } => {
                        tracing::info!(step = %step, task.id = %task_id, agent = %agent_id, "launching step")
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
            }
            self.outbox.push(decisions);
            if !internal {
                break;
            }
        }
        if self.state.is_dirty() {
            self.save().await?;
        }
        // The store is the write-ahead log: nothing goes out before its decision is saved.
        if !self.state.is_dirty() {
            self.outbox.mark_saved();
        }
        self.send_ready(calls);
        self.publish();
        Ok(())
    }

    /// Renders and queues saved calls while the sender has room.
    fn send_ready(&mut self, calls: &mpsc::Sender<CallKind>) {
        while self.outbox.has_sendable() {
            let Ok(permit) = calls.try_reserve() else { return };
            match self.outbox.next_call(&self.state) {
                Some(call) => permit.send(call),
                None => return,
            }
        }
    }

    fn publish(&self) {
        let mut facts = self.facts.clone();
        if facts.store_error.is_none() {
            facts.store_error = self.store.trouble();
        }
        self.view.send_replace(Arc::new(snapshot::view(&self.state, &facts)));
    }

    /// TEARDOWN of the framework this process registered, when the rule of the module docs
    /// allows it; then the connection is closed.
    async fn leave(&self, handle: &Handle) {
        if let Some(id) = handle.framework_id().map(|f| f.value)
            && !self.maybe_persisted.contains(&id)
        {
            tracing::warn!(framework = %id, "tearing down the framework id this scheduler registered and never saved");
            match tokio::time::timeout(Duration::from_secs(10), handle.call(CallKind::Teardown))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %mesos::http::error_chain(&e), "TEARDOWN failed")
                }
                Err(_) => tracing::warn!("TEARDOWN got no answer within 10 s"),
            }
        }
        handle.close();
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
        maybe_persisted: state.durable().framework_id.iter().cloned().collect(),
        state,
        store,
        version: wiring.store_version,
        facts: LoopFacts {
            subscribed: false,
            master: Some(wiring.connection.master.to_string()),
            ..LoopFacts::default()
        },
        view: wiring.view,
        outbox: Outbox::default(),
        saves: 0,
    };
    lp.publish();
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    if let Err(exit) = lp.claim(wiring.claim_settle, &mut shutdown).await {
        if let Exit::Superseded(why) = &exit {
            tracing::error!("{why}");
        }
        return Ok(exit);
    }

    let (targets_tx, targets_rx) = watch::channel(None::<capacity::Target>);
    let (reports_tx, mut reports) = mpsc::channel(4);
    let _poller = wiring.capacity.clone().map(|c| {
        AbortOnDrop(tokio::spawn(capacity::run(c.access, targets_rx, reports_tx, c.interval)))
    });
    let mut reports_open = wiring.capacity.is_some();

    let mut conn = wiring.connection.clone();
    conn.framework_info.id = lp.state.durable().framework_id.clone().map(FrameworkID::new);
    let (mut handle, mut notices) = connection::connect(conn)?;
    let mut calls = spawn_sender(handle.clone());
    let mut tick = tokio::time::interval(wiring.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reconnect_at: Option<tokio::time::Instant> = None;
    let mut commands_open = true;
    loop {
        let first = tokio::select! {
            _ = &mut shutdown => {
                handle.close();
                return Ok(Exit::Shutdown);
            }
            notice = notices.recv(), if reconnect_at.is_none() => Woken::Notice(notice),
            request = wiring.commands.recv(), if commands_open => Woken::Command(request),
            report = reports.recv(), if reports_open => Woken::Report(report),
            _ = tick.tick() => Woken::Tick,
            permit = calls.clone().reserve_owned(), if lp.outbox.has_sendable() => match permit {
                Ok(permit) => Woken::Room(permit),
                // The sender task is gone (it only ends if it panicked): start another one,
                // rather than wake again at once for the same closed channel.
                Err(_) => {
                    tracing::error!("the call sender stopped; starting it again");
                    calls = spawn_sender(handle.clone());
                    continue;
                }
            },
        };
        if let Woken::Room(permit) = first {
            // Only the sender has room: no input to apply, nothing to decide or save.
            if let Some(call) = lp.outbox.next_call(&lp.state) {
                permit.send(call);
            }
            lp.send_ready(&calls);
            continue;
        }
        let mut woken = Some(first);
        let mut inputs = 0;
        while let Some(w) = woken.take() {
            inputs += 1;
            match w {
                Woken::Notice(notice) => match lp.notice(notice, &mut reconnect_at) {
                    Ok(Some(input)) => {
                        lp.state.apply(now(), input);
                    }
                    Ok(None) => {}
                    Err(exit) => {
                        tracing::error!("{exit:?}");
                        handle.close();
                        return Ok(exit);
                    }
                },
                Woken::Command(Some(request)) => lp.command(request),
                Woken::Command(None) => commands_open = false,
                Woken::Report(Some(report)) => lp.report(report),
                Woken::Report(None) => reports_open = false,
                Woken::Tick => {
                    if let Some(at) = reconnect_at
                        && tokio::time::Instant::now() >= at
                    {
                        reconnect_at = None;
                        let mut conn = wiring.connection.clone();
                        conn.framework_info.id =
                            lp.state.durable().framework_id.clone().map(FrameworkID::new);
                        let (h, n) = connection::connect(conn)?;
                        handle = h;
                        notices = n;
                        calls = spawn_sender(handle.clone());
                    }
                    lp.state.apply(now(), Input::Tick);
                }
                Woken::Room(_) => unreachable!("handled before the turn"),
            }
            if inputs >= MAX_INPUTS_PER_TURN {
                break;
            }
            // Whatever else is already waiting joins this turn.
            woken = if reconnect_at.is_none()
                && let Ok(n) = notices.try_recv()
            {
                Some(Woken::Notice(Some(n)))
            } else if let Ok(r) = wiring.commands.try_recv() {
                Some(Woken::Command(Some(r)))
            } else if let Ok(r) = reports.try_recv() {
                Some(Woken::Report(Some(r)))
            } else {
                None
            };
        }
        if let Err(exit) = lp.settle(&calls).await {
            tracing::error!("{exit:?}");
            lp.leave(&handle).await;
            return Ok(exit);
        }
        tracing::trace!(inputs, saves = lp.saves, "turn done");
        let target = capacity::target(&lp.state);
        targets_tx.send_if_modified(|t| {
            let changed = *t != target;
            if changed {
                (*t).clone_from(&target);
            }
            changed
        });
    }
}
