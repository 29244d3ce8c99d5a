//! The scheduler's state and the one place it changes: [`State::apply`] over the closed [`Input`]
//! enum, and [`State::commit`] of the decisions the loop carried out. The durable part
//! ([`Persisted`]: framework id, MDM choice, nodes, plan) is saved by the loop after every change;
//! offers, pending acknowledgements and reconciliation requests are not (they die with the
//! subscription anyway).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use mesos::scheduler::{Acknowledge, Event, ReconcileTask};
use mesos::v1::{
    AgentID, ExecutorID, Offer, OfferID, TaskID, TaskSource, TaskState, TaskStatus, ValueType,
};
use scaleio::step::{Outcome, PreflightFacts, ResultEnvelope, StepFailure};
use scaleio::topology::{self, Capacity, MdmAssignment, Mode, Persona, Placement};
use serde::{Deserialize, Serialize};

use super::Time;
use super::decide::Decision;
use super::executor_info::is_ours;
use super::offer::{HeldOffer, Shapes, offered};
use super::plan::{Plan, StepPos, StepStatus};
use super::settings::{OS_ATTRIBUTE, Settings};

/// One node: an agent host, identified by its hostname.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Identity.
    pub hostname: String,
    /// Advertised IP (MDM/SDS/SDC address).
    pub ip: String,
    /// The agent's current incarnation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Text attributes as offered.
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
    /// Largest capacity offered (for MDM selection).
    pub capacity: Capacity,
    /// Decided persona.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<Persona>,
    /// Imperative placement from the attributes.
    #[serde(default)]
    pub placement: Placement,
    /// What preflight found (boxed: a node without facts yet, and the nodes map, stay small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Box<PreflightFacts>>,
    /// Latest boot id reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The agent was removed; no offer since.
    #[serde(default)]
    pub lost: bool,
    /// When the master reported the agent removed, or when the silence began that made the
    /// scheduler mark it lost itself (the start of `--agent-lost-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_since: Option<Time>,
    /// Marked lost by the scheduler itself: its steps waited for an offer for
    /// `--agent-lost-timeout` and none came, while the master never reported the agent removed
    /// (it was removed while the scheduler was down, and the master does not say so again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unheard: bool,
    /// Why this node cannot be provisioned (bad attributes, no bundle for its OS, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Everything that survives a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    /// Assigned by the master at the first SUBSCRIBED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<String>,
    /// The MDM hosts (full mode), once chosen; never re-chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdms: Option<MdmAssignment>,
    /// Nodes by hostname.
    pub nodes: BTreeMap<String, Node>,
    /// The plan.
    pub plan: Plan,
    /// Paused by an operator.
    #[serde(default)]
    pub paused: bool,
}

/// Version of the persisted layout.
pub const PERSISTED_VERSION: u32 = 1;

/// The persisted document: `{"version":1, "framework_id":…, "nodes":…, "plan":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    /// [`PERSISTED_VERSION`].
    pub version: u32,
    /// The state.
    #[serde(flatten)]
    pub state: Durable,
}

/// Why persisted bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the stored scheduler state is not valid JSON of the expected shape")]
    Json(#[source] serde_json::Error),
    #[error(
        "the stored scheduler state has layout version {found}, this scheduler reads {supported}\nhint: run the scheduler version that wrote it, or move the store aside to start over"
    )]
    Version { found: u32, supported: u32 },
}

impl Persisted {
    /// JSON bytes for the store (compact: the document is large and saved often).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the persisted state always serialises")
    }

    /// Reads bytes written by [`Persisted::to_json`].
    pub fn from_json(bytes: &[u8]) -> Result<Persisted, RestoreError> {
        #[derive(Deserialize)]
        struct V {
            version: u32,
        }
        let v: V = serde_json::from_slice(bytes).map_err(RestoreError::Json)?;
        if v.version != PERSISTED_VERSION {
            return Err(RestoreError::Version { found: v.version, supported: PERSISTED_VERSION });
        }
        serde_json::from_slice(bytes).map_err(RestoreError::Json)
    }
}

/// An operator's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Launch no new step.
    Pause,
    /// Launch again.
    Resume,
    /// Run a failed or errored step again with a fresh attempt budget.
    Retry(String),
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no step has the id `{0}`; GET /v1/plan lists the step ids")]
    UnknownStep(String),
    #[error("step `{id}` is {status}; only failed or error steps can be retried")]
    NotRetryable { id: String, status: &'static str },
}

/// The answer to a command: a one-line summary, or a refusal.
pub type Reply = Result<String, Refusal>;

/// Everything the scheduler reacts to.
#[derive(Debug, Clone, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "inputs are moved once into apply")]
pub enum Input {
    /// SUBSCRIBED: drop offers, reconcile.
    Subscribed {
        /// The framework id in use.
        framework_id: String,
    },
    /// The subscription is gone (offers are void).
    Disconnected,
    /// New offers.
    Offers(Vec<Offer>),
    /// An offer was withdrawn.
    Rescind(OfferID),
    /// A task status update.
    Update(TaskStatus),
    /// An executor exited.
    Failure {
        /// Agent.
        agent_id: AgentID,
        /// Executor.
        executor_id: ExecutorID,
        /// Raw wait status.
        status: Option<i32>,
    },
    /// An agent was removed.
    AgentLost(AgentID),
    /// ERROR event: the subscription ended.
    Error(String),
    /// From the HTTP API.
    ApiCommand(Command),
    /// Time passed.
    Tick,
}

impl Input {
    /// The input for a master event (`None` for heartbeats and events we do not use).
    pub fn from_event(event: Event) -> Option<Input> {
        Some(match event {
            Event::Subscribed(s) => Input::Subscribed { framework_id: s.framework_id.value },
            Event::Offers(o) => Input::Offers(o.offers),
            Event::Rescind(r) => Input::Rescind(r.offer_id),
            Event::Update(u) => Input::Update(u.status),
            Event::Failure(f) => match (f.agent_id, f.executor_id) {
                (Some(agent_id), Some(executor_id)) => {
                    Input::Failure { agent_id, executor_id, status: f.status }
                }
                (Some(agent_id), None) => Input::AgentLost(agent_id),
                _ => return None,
            },
            Event::Error(e) => Input::Error(e.message),
            _ => return None,
        })
    }
}

/// The longest attribute value kept; longer ones are cut (and then refused by whoever reads
/// them), so one agent cannot make the stored state too large for the store.
const MAX_ATTRIBUTE_BYTES: usize = 16 * 1024;

/// The attributes the scheduler reads (`os` and `scaleio-*`) as `(name, value)`, in offer order.
/// Sets and ranges are written as Mesos' `--attributes` syntax spells them (`{a,b}`, `[1-2]`),
/// so a `scaleio-persona:{primary}` is refused as what it is rather than silently dropped.
fn read_attributes(offer: &Offer) -> Vec<(String, String)> {
    offer
        .attributes
        .iter()
        .filter(|a| a.name == OS_ATTRIBUTE || a.name.starts_with("scaleio-"))
        .filter_map(|a| {
            let value = match a.kind {
                ValueType::Text => a.text.as_ref()?.value.clone(),
                ValueType::Scalar => a.scalar.as_ref()?.value.to_string(),
                ValueType::Set => format!("{{{}}}", a.set.as_ref()?.item.join(",")),
                ValueType::Ranges => {
                    let spans: Vec<String> = a
                        .ranges
                        .as_ref()?
                        .range
                        .iter()
                        .map(|r| format!("{}-{}", r.begin, r.end))
                        .collect();
                    format!("[{}]", spans.join(","))
                }
                _ => return None,
            };
            let value = if value.len() > MAX_ATTRIBUTE_BYTES {
                let head: String = value.chars().take(32).collect();
                format!("{head}… ({} bytes, too long)", value.len())
            } else {
                value
            };
            Some((a.name.clone(), value))
        })
        .collect()
}

/// The executor's `TASK_FAILED` data: `{"version":1,"failure":{…},"transcript":[…]}` (a bare
/// `StepFailure` is read too).
fn step_failure(data: &[u8]) -> Option<StepFailure> {
    #[derive(Deserialize)]
    struct Report {
        failure: StepFailure,
    }
    serde_json::from_slice::<Report>(data)
        .map(|r| r.failure)
        .or_else(|_| serde_json::from_slice::<StepFailure>(data))
        .ok()
}

/// The scheduler's state.
#[derive(Debug)]
pub struct State {
    pub(crate) settings: Settings,
    pub(crate) d: Durable,
    pub(crate) offers: Vec<HeldOffer>,
    /// The offers' shapes, each kept once.
    pub(crate) shapes: Shapes,
    /// Ids of `offers`, for the duplicate check and lookups.
    pub(crate) offer_ids: HashSet<OfferID>,
    pub(crate) acks: Vec<Acknowledge>,
    pub(crate) kills: Vec<(TaskID, Option<AgentID>)>,
    pub(crate) reconcile: Vec<Vec<ReconcileTask>>,
    pub(crate) reconcile_asked: BTreeMap<String, Time>,
    pub(crate) filtered: BTreeSet<String>,
    pub(crate) suppressed: bool,
    pub(crate) subscribed: bool,
    pub(crate) dirty: bool,
    /// A committed launch or acknowledgement is not saved yet: its call waits for the save.
    pub(crate) calls_wait: bool,
    pub(crate) offers_handled: u64,
    pub(crate) selection_problem: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) last_implicit: Option<Time>,
    pub(crate) too_small: BTreeMap<String, String>,
    /// Every node's problems and personas were assessed since the start (later OFFERS events
    /// assess only their own nodes: the rest cannot have changed).
    pub(crate) assessed: bool,
    /// Nodes waiting for an offer (a ready step, nothing in flight), by hostname, with the
    /// instant the silence that counts toward `--agent-lost-timeout` began: the later of when
    /// the waiting was first seen, SUBSCRIBED, the node's last offer or update, and the end of
    /// a short filter this scheduler set on its offers (nodes under such a filter are kept
    /// until it ends, waiting or not). Not persisted: after a restart the count starts again at
    /// SUBSCRIBED, which is later than anything a store could hold.
    pub(crate) silent: HashMap<Box<str>, Time>,
}

/// Implicit reconciliation runs again this often while subscribed.
pub const RECONCILE_EVERY_SECS: u64 = 15 * 60;

impl State {
    /// A fresh state.
    pub fn new(settings: Settings) -> State {
        let plan = Plan::new(!settings.no_reboot);
        State::restore(
            settings,
            Persisted {
                version: PERSISTED_VERSION,
                state: Durable {
                    framework_id: None,
                    mdms: None,
                    nodes: BTreeMap::new(),
                    plan,
                    paused: false,
                },
            },
        )
    }

    /// A state resumed from the store: complete steps stay complete; in-flight steps are
    /// reconciled after the next SUBSCRIBED.
    pub fn restore(settings: Settings, persisted: Persisted) -> State {
        State {
            settings,
            d: persisted.state,
            offers: Vec::new(),
            shapes: Shapes::default(),
            offer_ids: HashSet::new(),
            acks: Vec::new(),
            kills: Vec::new(),
            reconcile: Vec::new(),
            reconcile_asked: BTreeMap::new(),
            filtered: BTreeSet::new(),
            suppressed: false,
            subscribed: false,
            dirty: false,
            calls_wait: false,
            offers_handled: 0,
            selection_problem: None,
            last_error: None,
            last_implicit: None,
            too_small: BTreeMap::new(),
            assessed: false,
            silent: HashMap::new(),
        }
    }

    /// The document to save.
    pub fn persisted(&self) -> Persisted {
        Persisted { version: PERSISTED_VERSION, state: self.d.clone() }
    }

    /// The bytes of [`State::persisted`]`().to_json()`, without copying the state first.
    pub fn persisted_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            version: u32,
            #[serde(flatten)]
            state: &'a Durable,
        }
        serde_json::to_vec(&Borrowed { version: PERSISTED_VERSION, state: &self.d })
            .expect("the persisted state always serialises")
    }

    /// Whether the durable part changed since [`State::mark_saved`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The loop saved [`State::persisted`].
    pub fn mark_saved(&mut self) {
        self.dirty = false;
        self.calls_wait = false;
    }

    /// Whether a decision committed since the last save has a call that must wait for a save: a
    /// launch (the store is the write-ahead log) or an acknowledgement (once acknowledged, the
    /// master never resends the update, so what it changed must be stored first). Other changes
    /// ([`State::is_dirty`] alone: offers seen, retries coming due, skipped steps) are derived
    /// again after a restart, so a loop may put their save off and coalesce it with later ones.
    pub fn calls_wait_for_save(&self) -> bool {
        self.calls_wait
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The durable state.
    pub fn durable(&self) -> &Durable {
        &self.d
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.d.plan
    }

    /// Offers held (not yet accepted or declined).
    pub fn offers(&self) -> &[HeldOffer] {
        &self.offers
    }

    /// Whether subscribed right now.
    pub fn subscribed(&self) -> bool {
        self.subscribed
    }

    /// Offers accepted or declined since start.
    pub fn offers_handled(&self) -> u64 {
        self.offers_handled
    }

    /// Problems an operator should see (MDM selection, the last ERROR event, node problems).
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self.selection_problem.iter().cloned().collect();
        out.extend(
            self.last_error.iter().map(|e| format!("the master ended the subscription: {e}")),
        );
        out.extend(self.too_small.values().cloned());
        for node in self.d.nodes.values() {
            if let Some(p) = &node.problem {
                out.push(format!("{}: {p}", node.hostname));
            }
        }
        out
    }

    /// Applies one input. Commands get a reply; other inputs `None`.
    pub fn apply(&mut self, now: Time, input: Input) -> Option<Reply> {
        let mut reply = None;
        match input {
            Input::Subscribed { framework_id } => self.on_subscribed(framework_id),
            Input::Disconnected => {
                self.subscribed = false;
                self.silent.clear();
                self.clear_offers();
            }
            Input::Offers(offers) => self.offered(now, offers),
            Input::Rescind(id) => {
                if self.offer_ids.remove(&id) {
                    self.offers.retain(|o| o.id != id);
                }
            }
            Input::Update(status) => self.update(now, status),
            Input::Failure { agent_id, executor_id, status } => {
                let code = status.map(|s| {
                    if s & 0x7f == 0 {
                        format!("exit code {}", (s >> 8) & 0xff)
                    } else {
                        format!("signal {}", s & 0x7f)
                    }
                });
                if let Some(node) = self.node_by_agent_mut(&agent_id) {
                    tracing::info!(node = %node.hostname, executor = %executor_id, "executor exited ({})", code.as_deref().unwrap_or("unknown status"));
                }
            }
            Input::AgentLost(agent_id) => {
                self.retain_offers(|o| o.agent_id != agent_id);
                if let Some(node) = self.node_by_agent_mut(&agent_id) {
                    tracing::warn!(node = %node.hostname, agent = %agent_id, "the master removed the agent");
                    node.lost = true;
                    node.lost_since.get_or_insert(now);
                    // The master's word is the better reason (the clock keeps its start).
                    node.unheard = false;
                    self.dirty = true;
                }
                self.expire_lost_nodes(now);
            }
            Input::Error(message) => self.error(now, message),
            Input::ApiCommand(command) => reply = Some(self.command(command)),
            Input::Tick => {
                let due =
                    self.last_implicit.is_some_and(|t| now.secs_since(t) >= RECONCILE_EVERY_SECS);
                if self.subscribed && due && !self.reconcile.iter().any(Vec::is_empty) {
                    self.reconcile.push(Vec::new());
                }
                self.mark_silent_nodes(now);
                self.expire_lost_nodes(now);
            }
        }
        self.refresh(now);
        reply
    }

    /// Nodes whose agent has been lost for `--agent-lost-timeout`: their unfinished steps go to
    /// error (marked [`super::plan::StepRecord::lost_node`], so the plan's barriers let the other
    /// nodes go on) with a message naming the agent and how long it has been gone (or silent).
    fn expire_lost_nodes(&mut self, now: Time) {
        let timeout = self.settings.agent_lost_timeout_secs;
        let mut expired: BTreeMap<&str, String> = BTreeMap::new();
        for node in self.d.nodes.values_mut().filter(|n| n.lost) {
            // A state saved before `lost_since` existed: the clock starts now.
            let since = *node.lost_since.get_or_insert(now);
            let gone = now.secs_since(since);
            if gone >= timeout {
                let agent = node.agent_id.as_deref().unwrap_or("unknown id");
                let host = &node.hostname;
                let message = if node.unheard {
                    format!(
                        "the agent on {host} ({agent}) has made no offer for {gone} s while this node's steps waited for one (--agent-lost-timeout {timeout} s): the master may have removed it while the scheduler was not subscribed (it does not report that again), or the agent has no free resources; this step runs again by itself when the agent offers again, other nodes go on without it"
                    )
                } else {
                    format!(
                        "the agent on {host} ({agent}) has been gone for {gone} s: the master removed it and it has not offered since (--agent-lost-timeout {timeout} s); this step runs again by itself if the agent comes back, other nodes go on without it"
                    )
                };
                expired.insert(host.as_str(), message);
            }
        }
        if expired.is_empty() {
            return;
        }
        let mut positions: Vec<StepPos> =
            expired.keys().flat_map(|host| self.d.plan.node_positions(host)).copied().collect();
        positions.sort_unstable();
        for pos in positions {
            let mut step = self.d.plan.at_mut(pos);
            if step.status == StepStatus::Complete || step.lost_node {
                continue;
            }
            if let Some(message) = expired.get(step.node.as_ref()) {
                tracing::warn!(step = %step.id, "{message}");
                step.status = StepStatus::Error;
                step.lost_node = true;
                step.message = Some(Cow::from(message.clone()));
                step.updated_at = Some(now);
                self.dirty = true;
            }
        }
    }

    /// Whether the node waits for an offer right now: it has a step that is ready (`prepared`)
    /// and would launch on its next offer (nothing of it in flight, its phase's turn), and it
    /// is provisionable and not already lost. A node whose steps all wait behind a barrier, or
    /// whose only ready step waits for a serial phase's other step, does not.
    fn waits_for_offer(&self, node: &Node, now: Time) -> bool {
        let plan = &self.d.plan;
        !node.lost
            && node.problem.is_none()
            && plan
                .node_positions(&node.hostname)
                .iter()
                .any(|&pos| plan.at(pos).status == StepStatus::Prepared)
            && self.next_step(&node.hostname, now).is_some()
    }

    /// The master does not repeat an agent's removal to a scheduler that was not subscribed
    /// when it happened, so a node can wait for an offer that never comes. A node that waited
    /// (see [`State::waits_for_offer`]) for `--agent-lost-timeout` with no offer or update from
    /// its agent is marked lost here, as if the master had said so, and
    /// [`State::expire_lost_nodes`] gives up on its steps. A healthy agent cannot be silent that
    /// long: a ready step makes `decide` REVIVE (which clears the filters this scheduler set),
    /// and the short filters it sets while a node waits push the count's start past their end.
    /// Nothing counts while the plan is paused or the scheduler is not subscribed.
    fn mark_silent_nodes(&mut self, now: Time) {
        if !self.subscribed || self.d.paused {
            // Nothing counts; only the ends of short filters still in force are kept.
            self.silent.retain(|_, since| *since > now);
            return;
        }
        let mut silent = std::mem::take(&mut self.silent);
        // A node that stopped waiting leaves, unless a filter of ours still holds its offers.
        silent.retain(|host, since| {
            *since > now || self.d.nodes.get(&**host).is_some_and(|n| self.waits_for_offer(n, now))
        });
        for node in self.d.nodes.values() {
            if !silent.contains_key(node.hostname.as_str()) && self.waits_for_offer(node, now) {
                silent.insert(node.hostname.as_str().into(), now);
            }
        }
        // An offer held (not yet answered) is no silence.
        for offer in &self.offers {
            if let Some(since) = silent.get_mut(offer.hostname.as_str()) {
                *since = now;
            }
        }
        let timeout = self.settings.agent_lost_timeout_secs;
        let mut expired: Vec<(Box<str>, Time)> = silent
            .iter()
            .filter(|(_, since)| **since <= now && now.secs_since(**since) >= timeout)
            .map(|(host, since)| (host.clone(), *since))
            .collect();
        expired.sort_unstable();
        for (host, since) in expired {
            silent.remove(&host);
            if let Some(node) = self.d.nodes.get_mut(&*host) {
                let agent = node.agent_id.as_deref().unwrap_or("unknown id");
                tracing::warn!(node = %host, agent, silent_secs = now.secs_since(since), "the agent made no offer while its steps waited: marking it lost");
                node.lost = true;
                node.lost_since = Some(since);
                node.unheard = true;
                self.dirty = true;
            }
        }
        self.silent = silent;
    }

    /// Something came from the node's agent (an offer, a status update): its silence ends.
    fn heard(&mut self, now: Time, host: &str) {
        if let Some(since) = self.silent.get_mut(host) {
            *since = (*since).max(now);
        }
    }

    /// The node's agent is back: steps set to error while it was lost go back to pending.
    fn node_back(&mut self, now: Time, host: &str) {
        for pos in self.d.plan.node_positions(host).to_vec() {
            let mut step = self.d.plan.at_mut(pos);
            if step.lost_node {
                step.lost_node = false;
                if step.status == StepStatus::Error {
                    step.status = StepStatus::Pending;
                    step.message = Some(Cow::from(format!(
                        "the agent on {host} is back; the step runs again"
                    )));
                    step.updated_at = Some(now);
                }
                self.dirty = true;
            }
        }
    }

    fn node_by_agent_mut(&mut self, agent_id: &AgentID) -> Option<&mut Node> {
        self.d.nodes.values_mut().find(|n| n.agent_id.as_deref() == Some(agent_id.value.as_str()))
    }

    fn on_subscribed(&mut self, framework_id: String) {
        if self.d.framework_id.as_deref() != Some(framework_id.as_str()) {
            self.d.framework_id = Some(framework_id);
            self.dirty = true;
        }
        self.subscribed = true;
        self.last_error = None;
        // The silence of a waiting node counts from now.
        self.silent.clear();
        self.clear_offers();
        self.suppressed = false;
        // Filters may survive on the master: assume every node is filtered, so a ready step
        // triggers a REVIVE.
        self.filtered = self.d.nodes.keys().cloned().collect();
        let tasks: Vec<ReconcileTask> = self
            .d
            .plan
            .steps()
            .filter(|s| s.status.in_flight())
            .filter_map(|s| {
                Some(ReconcileTask {
                    task_id: TaskID::new(s.task_id.clone()?),
                    agent_id: s.agent_id.as_deref().map(AgentID::new),
                })
            })
            .collect();
        self.reconcile.clear();
        if !tasks.is_empty() {
            self.reconcile.push(tasks);
        }
        self.reconcile.push(Vec::new());
    }

    fn error(&mut self, now: Time, message: String) {
        self.subscribed = false;
        self.silent.clear();
        self.clear_offers();
        if message.contains("Framework has been removed") {
            // The id is dead and so are its executors: start over as a new framework.
            self.d.framework_id = None;
            self.dirty = true;
            for pos in self.d.plan.positions() {
                if self.d.plan.at(pos).status.in_flight() {
                    self.fail(now, pos, "the framework was removed by the master".into(), true);
                }
            }
        }
        self.last_error = Some(message);
    }

    fn clear_offers(&mut self) {
        self.offers.clear();
        self.offer_ids.clear();
    }

    fn retain_offers(&mut self, mut keep: impl FnMut(&HeldOffer) -> bool) {
        let ids = &mut self.offer_ids;
        self.offers.retain(|o| {
            let k = keep(o);
            if !k {
                ids.remove(&o.id);
            }
            k
        });
    }

    fn offered(&mut self, now: Time, offers: Vec<Offer>) {
        let mut hosts: BTreeSet<String> = BTreeSet::new();
        for offer in offers {
            self.see_agent(now, &offer);
            self.heard(now, &offer.hostname);
            if !hosts.contains(&offer.hostname) {
                hosts.insert(offer.hostname.clone());
            }
            if self.offer_ids.insert(offer.id.clone()) {
                self.offers.push(self.shapes.hold(offer));
            }
        }
        self.assign(&hosts);
    }

    /// Records the agent behind an offer: identity, address, capacity, attributes; handles a new
    /// agent id for a known hostname (the agent restarted or the host rebooted).
    fn see_agent(&mut self, now: Time, offer: &Offer) {
        let ip = offer
            .url
            .as_ref()
            .and_then(|u| u.address.ip.clone())
            .unwrap_or_else(|| offer.hostname.clone());
        let capacity = Capacity {
            cpus: offered(offer, "cpus"),
            mem_mb: offered(offer, "mem"),
            disk_mb: offered(offer, "disk"),
        };
        let attributes = read_attributes(offer);
        let agent_id = offer.agent_id.value.clone();
        let host = offer.hostname.clone();
        let mut changed_from = None;
        let mut back = false;
        match self.d.nodes.get_mut(&host) {
            Some(node) => {
                if node.agent_id.as_deref() != Some(agent_id.as_str()) {
                    changed_from = node.agent_id.replace(agent_id.clone());
                    self.dirty = true;
                }
                if node.lost || node.ip != ip {
                    back = node.lost;
                    node.lost = false;
                    node.lost_since = None;
                    node.unheard = false;
                    node.ip = ip;
                    self.dirty = true;
                }
                if capacity.cpus > node.capacity.cpus || capacity.mem_mb > node.capacity.mem_mb {
                    node.capacity = capacity;
                }
                // Corrected attributes (an agent restarted with them) count until the node is
                // planned; after that its steps were built from the old ones.
                if node.attributes != attributes && !self.d.plan.has_node(&host) {
                    node.attributes = attributes;
                    self.dirty = true;
                }
            }
            None => {
                self.d.nodes.insert(
                    host.clone(),
                    Node {
                        hostname: host.clone(),
                        ip,
                        agent_id: Some(agent_id.clone()),
                        attributes,
                        capacity,
                        persona: None,
                        placement: Placement::default(),
                        facts: None,
                        boot_id: None,
                        lost: false,
                        lost_since: None,
                        unheard: false,
                        problem: None,
                    },
                );
                self.dirty = true;
            }
        }
        if back {
            tracing::info!(node = %host, agent = %agent_id, "the lost agent is back");
            self.node_back(now, &host);
        }
        if let Some(old) = changed_from {
            tracing::info!(node = %host, old = %old, new = %agent_id, "agent id changed");
            // The old incarnation's tasks are gone with it.
            for pos in self.d.plan.node_positions(&host).to_vec() {
                let s = self.d.plan.at(pos);
                if s.status.in_flight() && s.agent_id.as_deref() == Some(&old) {
                    // Reconciliation will answer for the old task too; make the step retry now.
                    self.fail(
                        now,
                        pos,
                        format!(
                            "agent {host} came back as a new agent ({agent_id}): its task is gone"
                        ),
                        true,
                    );
                }
            }
        }
    }

    /// Decides personas and grows the plan: the MDM choice in full mode (once, only when all
    /// three can be chosen), then every provisionable node's steps. `offered` names the nodes of
    /// this OFFERS event: only they can have changed since the last call, unless the cluster's
    /// steps still wait (then every node counts) or this is the first call.
    fn assign(&mut self, offered: &BTreeSet<String>) {
        let cluster_waits = match &self.settings.mode {
            Mode::Full => self.d.mdms.is_none(),
            Mode::Preconfigured(_) => !self
                .d
                .plan
                .phases()
                .iter()
                .any(|p| p.name == super::plan::PhaseName::MdmCluster && !p.steps.is_empty()),
        };
        let hosts: Vec<String> = if !self.assessed || cluster_waits {
            self.d.nodes.keys().cloned().collect()
        } else {
            offered.iter().filter(|h| self.d.nodes.contains_key(*h)).cloned().collect()
        };
        self.assessed = true;
        // Node problems that keep a node out of the plan.
        let mut usable: Vec<String> = Vec::new();
        for host in &hosts {
            let node = self.d.nodes.get_mut(host).expect("hosts are known nodes");
            let agent = topology::Agent {
                hostname: node.hostname.clone(),
                ip: node.ip.clone(),
                capacity: node.capacity,
                attributes: node.attributes.clone(),
            };
            let oses: Vec<&str> = node
                .attributes
                .iter()
                .filter(|(k, _)| k == OS_ATTRIBUTE)
                .map(|(_, v)| v.as_str())
                .collect();
            let os = oses.first().copied();
            let claim = agent.persona_claim();
            let taken = match (&claim, &self.d.mdms) {
                (Ok(Some(p)), Some(m)) if p.is_mdm() && m.persona_of(&node.hostname) != *p => {
                    let holder = match p {
                        Persona::Primary => &m.primary,
                        Persona::Secondary => &m.secondary,
                        _ => &m.tiebreaker,
                    };
                    Some(format!(
                        "attribute `{}` asks for the {p} MDM, but {holder} already is (the MDMs are chosen once)\nhint: remove the attribute to make this agent a data node, and restart the agent",
                        topology::PERSONA_ATTRIBUTE
                    ))
                }
                _ => None,
            };
            let problem = match (os, agent.placement(), claim) {
                (None, _, _) => Some(format!(
                    "the agent has no `{OS_ATTRIBUTE}` attribute (expected one of: {})\nhint: set it, e.g. `echo ubuntu14 > /etc/mesos-slave/attributes/{OS_ATTRIBUTE}`, and restart the agent",
                    self.settings.platforms()
                )),
                _ if oses.len() > 1 => Some(format!(
                    "attribute `{OS_ATTRIBUTE}` is given more than once ({}); expected one of: {}\nhint: keep one `{OS_ATTRIBUTE}` attribute on the agent and restart the agent",
                    oses.iter()
                        .map(|v| format!("`{}`", topology::shown(v)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.settings.platforms()
                )),
                (Some(os), _, _) if self.settings.bundle_for(os).is_none() => Some(format!(
                    "no bundle for its `{OS_ATTRIBUTE}` attribute `{}` (bundles exist for: {})\nhint: set `{OS_ATTRIBUTE}` to one of them on the agent and restart it, or build a bundle for its OS with `cargo xtask bundle`",
                    topology::shown(os),
                    self.settings.platforms()
                )),
                (_, Err(e), _) | (_, _, Err(e)) => Some(e.to_string()),
                _ if taken.is_some() => taken,
                (_, Ok(placement), Ok(_)) => {
                    node.placement = placement;
                    None
                }
            };
            if node.problem != problem {
                node.problem = problem;
                self.dirty = true;
            }
            if node.problem.is_none() {
                usable.push(node.hostname.clone());
            }
        }
        let s = &self.settings;
        match &s.mode {
            Mode::Full => {
                if self.d.mdms.is_none() {
                    let agents: Vec<topology::Agent> = usable
                        .iter()
                        .map(|h| {
                            let n = &self.d.nodes[h];
                            topology::Agent {
                                hostname: n.hostname.clone(),
                                ip: n.ip.clone(),
                                capacity: n.capacity,
                                attributes: n.attributes.clone(),
                            }
                        })
                        .collect();
                    match topology::choose_mdms(&BTreeMap::new(), &agents, s.mdm_requirements()) {
                        Ok(mdms) => {
                            tracing::info!(primary = %mdms.primary, secondary = %mdms.secondary, tiebreaker = %mdms.tiebreaker, "MDM hosts chosen");
                            self.d.plan.add_full_cluster(
                                &mdms,
                                &s.protection_domain,
                                &s.storage_pool,
                            );
                            self.d.mdms = Some(mdms);
                            self.selection_problem = None;
                            self.dirty = true;
                        }
                        Err(e) => {
                            self.selection_problem =
                                Some(format!("full provisioning waits for three MDM hosts: {e}"));
                            return;
                        }
                    }
                }
            }
            Mode::Preconfigured(_) => {
                let has_cluster_steps =
                    self.d.plan.phases().iter().any(|p| {
                        p.name == super::plan::PhaseName::MdmCluster && !p.steps.is_empty()
                    });
                if let (false, Some(anchor)) = (has_cluster_steps, usable.first()) {
                    self.d.plan.add_preconfigured_cluster(
                        anchor,
                        &s.protection_domain,
                        &s.storage_pool,
                    );
                    self.dirty = true;
                }
            }
        }
        let mdms = self.d.mdms.clone();
        // The scheduler's own host (rebooted last), named by hostname or by IP.
        let own = &self.settings.scheduler_host;
        let mut own_host: Option<String> = None;
        let new = usable.iter().filter(|h| !self.d.plan.has_node(h)).count();
        if new > 1 {
            self.d.plan.reserve_nodes(new);
        }
        for host in usable {
            let node = self.d.nodes.get_mut(&host).expect("usable hosts are known nodes");
            if node.persona.is_none() {
                node.persona = Some(mdms.as_ref().map_or(Persona::Data, |m| m.persona_of(&host)));
            }
            if !self.d.plan.has_node(&host) || self.d.plan.find(&format!("verify.{host}")).is_none()
            {
                let own_host = own_host.get_or_insert_with(|| {
                    self.d
                        .nodes
                        .values()
                        .find(|n| &n.hostname == own || &n.ip == own)
                        .map_or_else(|| own.clone(), |n| n.hostname.clone())
                });
                let node = &self.d.nodes[&host];
                let persona = node.persona.unwrap_or(Persona::Data);
                self.d.plan.add_node(
                    &host,
                    persona,
                    &node.placement,
                    &self.settings.protection_domain,
                    own_host,
                );
                self.dirty = true;
            }
        }
    }

    fn update(&mut self, now: Time, status: TaskStatus) {
        if let (Some(agent_id), Some(uuid)) = (&status.agent_id, &status.uuid) {
            self.acks.push(Acknowledge {
                agent_id: agent_id.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            });
        }
        let task = status.task_id.value.clone();
        let Some(pos) = self.d.plan.find_task(&task) else {
            if is_ours(&task) && !status.state.is_terminal() {
                // A task of an earlier attempt still runs: stop it.
                self.kills.push((status.task_id.clone(), status.agent_id.clone()));
            }
            return;
        };
        // The agent's own updates end its silence; the master's (a reconciliation answer, a
        // TASK_LOST for a removed agent) say nothing of whether the agent is there.
        if !self.silent.is_empty() && status.source != Some(TaskSource::Master) {
            let host = self.d.plan.at(pos).node.clone();
            self.heard(now, &host);
        }
        let step = self.d.plan.at(pos);
        if !step.status.in_flight() {
            return; // A late or duplicate update for a finished attempt.
        }
        self.reconcile_asked.remove(&task);
        self.dirty = true;
        match status.state {
            TaskState::Staging | TaskState::Starting => {
                self.d.plan.at_mut(pos).updated_at = Some(now);
            }
            TaskState::Running => {
                let mut step = self.d.plan.at_mut(pos);
                step.status = StepStatus::Running;
                step.updated_at = Some(now);
                if let Some(m) = status.message.filter(|m| !m.is_empty()) {
                    step.message = Some(Cow::from(m));
                }
            }
            TaskState::Finished if status.data.is_none() && status.uuid.is_none() => {
                // A reconciliation answer: the executor's own update (with the result) was not
                // acknowledged yet, so the agent sends it again.
                let mut step = self.d.plan.at_mut(pos);
                step.message =
                    Some(Cow::from("finished; waiting for the executor's result".to_owned()));
                step.updated_at = Some(now);
            }
            TaskState::Finished => self.finished(now, pos, &status),
            TaskState::Killing | TaskState::Unreachable => {
                self.d.plan.at_mut(pos).message =
                    Some(Cow::from(format!("task is {}", status.state.as_str())));
            }
            _ => {
                let failure = status.data.as_ref().and_then(|d| step_failure(d.as_slice()));
                let (message, retryable) = match failure {
                    Some(f) => {
                        let mut m = f.message;
                        if let Some(code) = f.exit_code {
                            m.push_str(&format!(" (exit code {code})"));
                        }
                        if !f.output_tail.is_empty() {
                            m.push_str(&format!("\n{}", f.output_tail));
                        }
                        (m, f.retryable)
                    }
                    None => (
                        format!(
                            "{}: {}",
                            status.state.as_str(),
                            status.message.as_deref().unwrap_or("no message")
                        ),
                        true,
                    ),
                };
                self.fail(now, pos, message, retryable);
            }
        }
    }

    fn finished(&mut self, now: Time, pos: StepPos, status: &TaskStatus) {
        let host = self.d.plan.at(pos).node.clone();
        let result = match status.data.as_ref().map(|d| ResultEnvelope::from_json(d.as_slice())) {
            Some(Ok(r)) => r.result,
            Some(Err(e)) => {
                let m = format!("the executor's result could not be read: {e}");
                return self.fail(now, pos, m, false);
            }
            None => {
                let m = "the executor finished the step without a result\nhint: the executor and scheduler versions must match".to_owned();
                return self.fail(now, pos, m, false);
            }
        };
        let mut message: Cow<'static, str> =
            if result.changed { "done (changed)" } else { "done (already so)" }.into();
        match result.outcome {
            Outcome::Preflight(facts) => {
                if facts.os.family.is_none() {
                    let m = format!(
                        "unsupported OS {} {} on {host}: ScaleIO 2.0.1 runs on Ubuntu 14.04 and RHEL/CentOS 7",
                        facts.os.id, facts.os.version_id
                    );
                    return self.fail(now, pos, m, false);
                }
                message = format!(
                    "{} {}, kernel {}, {} free device(s)",
                    facts.os.id,
                    facts.os.version_id,
                    facts.kernel,
                    facts.devices.free.len()
                )
                .into();
                if let Some(node) = self.d.nodes.get_mut(&*host) {
                    node.boot_id = Some(facts.boot_id.clone());
                    node.facts = Some(Box::new(facts));
                }
            }
            Outcome::InstallPrerequisites { reboot_required: true, .. } => {
                message = "done; the pinned kernel runs after the reboot phase".into();
            }
            Outcome::Reboot { boot_id, rebooting: true } => {
                let mut step = self.d.plan.at_mut(pos);
                step.reboot_from = Some(boot_id.into());
                step.status = StepStatus::Prepared;
                step.updated_at = Some(now);
                step.message =
                    Some(Cow::from(format!("reboot issued; waiting for {host} to come back")));
                return;
            }
            Outcome::Reboot { boot_id, rebooting: false } => {
                message = format!("rebooted (boot id {boot_id})").into();
                if let Some(node) = self.d.nodes.get_mut(&*host) {
                    node.boot_id = Some(boot_id);
                }
            }
            _ => {}
        }
        let mut step = self.d.plan.at_mut(pos);
        step.status = StepStatus::Complete;
        step.finished_at = Some(now);
        step.updated_at = Some(now);
        step.message = Some(message);
    }

    /// A failed attempt: retry after a backoff while attempts remain, else wait for an operator.
    fn fail(&mut self, now: Time, pos: StepPos, message: String, retryable: bool) {
        let max = self.settings.max_attempts;
        let delay = self.settings.retry_delay_secs(self.d.plan.at(pos).attempts);
        let mut step = self.d.plan.at_mut(pos);
        step.updated_at = Some(now);
        self.dirty = true;
        if retryable && step.attempts < max {
            let next = now.plus_secs(delay);
            step.status = StepStatus::Failed { next_attempt_at: next };
            step.message = Some(Cow::from(format!(
                "attempt {} of {max} failed, retrying in {delay} s: {message}",
                step.attempts
            )));
        } else {
            step.status = StepStatus::Error;
            let why = if retryable {
                format!("{max} attempts failed")
            } else {
                "cannot be retried automatically".to_owned()
            };
            step.message = Some(Cow::from(format!(
                "{why}; waiting for an operator (POST /v1/steps/{}/retry): {message}",
                step.id
            )));
        }
    }

    fn command(&mut self, command: Command) -> Reply {
        match command {
            Command::Pause => {
                self.d.paused = true;
                self.dirty = true;
                Ok("plan paused: no new step starts until resumed".to_owned())
            }
            Command::Resume => {
                self.d.paused = false;
                self.dirty = true;
                Ok("plan resumed".to_owned())
            }
            Command::Retry(id) => {
                let pos = self.d.plan.find(&id).ok_or_else(|| Refusal::UnknownStep(id.clone()))?;
                let mut step = self.d.plan.at_mut(pos);
                match step.status {
                    StepStatus::Failed { .. } | StepStatus::Error => {
                        step.status = StepStatus::Pending;
                        step.lost_node = false;
                        step.attempts = 0;
                        step.message = Some(Cow::from("retry requested by an operator".to_owned()));
                        self.dirty = true;
                        Ok(format!("step {id} will run again"))
                    }
                    other => Err(Refusal::NotRetryable { id, status: other.as_str() }),
                }
            }
        }
    }

    /// Moves steps whose barriers are met to `prepared`, and due retries back to `prepared`.
    /// It runs after every input, so it looks only where something changed (the plan's index
    /// marks the nodes whose steps changed, every node when a phase's barrier opened).
    fn refresh(&mut self, now: Time) {
        let ready = self.d.plan.take_ready(now);
        for pos in ready {
            self.d.plan.at_mut(pos).status = StepStatus::Prepared;
            self.dirty = true;
        }
    }

    /// Records decisions the loop is about to carry out. Call before persisting and before
    /// sending the calls, so a crash never forgets a launch (the store is the write-ahead log).
    pub fn commit(&mut self, now: Time, decisions: &[Decision]) {
        // Offers and acknowledgements used up, removed in one pass at the end.
        let mut offers = std::mem::take(&mut self.offers);
        let offer_at: HashMap<&OfferID, usize> =
            offers.iter().enumerate().map(|(i, o)| (&o.id, i)).collect();
        let mut used: Vec<bool> = vec![false; offers.len()];
        let mut acked: HashSet<(&str, &str, &[u8])> = HashSet::new();
        for decision in decisions {
            match decision {
                Decision::Launch { offer_id, step, task_id, agent_id, .. } => {
                    if let Some(&i) = offer_at.get(offer_id)
                        && !used[i]
                    {
                        self.too_small.remove(&offers[i].hostname);
                        used[i] = true;
                    }
                    self.offers_handled += 1;
                    if let Some(pos) = self.d.plan.find(step) {
                        let agent = self.d.plan.agent_id(pos, &agent_id.value);
                        let mut record = self.d.plan.at_mut(pos);
                        record.attempts += 1;
                        record.status = StepStatus::Starting;
                        record.task_id = Some(task_id.value.clone());
                        record.agent_id = Some(agent);
                        record.started_at.get_or_insert(now);
                        record.updated_at = Some(now);
                        let node = record.node.to_string();
                        self.filtered.insert(node);
                        self.dirty = true;
                        self.calls_wait = true;
                    }
                }
                Decision::Decline { offer_ids, refuse_seconds, reason } => {
                    for id in offer_ids {
                        if let Some(&i) = offer_at.get(id)
                            && !used[i]
                        {
                            used[i] = true;
                            let host = &offers[i].hostname;
                            if *refuse_seconds == super::decide::TOO_SMALL_REFUSE_SECS {
                                self.too_small.insert(host.clone(), reason.clone());
                            }
                            if *refuse_seconds >= self.settings.decline_secs
                                && !self.filtered.contains(host)
                            {
                                self.filtered.insert(host.clone());
                            }
                            // No offer can come from the node before a short filter ends
                            // (a long one puts it in `filtered`: REVIVE lifts it once the
                            // node waits). Kept even if the node does not wait yet: it may
                            // before the next tick.
                            if *refuse_seconds < self.settings.decline_secs {
                                let ends = now.plus_secs(refuse_seconds.max(0.0).ceil() as u64);
                                let since = self.silent.entry(host.as_str().into()).or_insert(ends);
                                *since = (*since).max(ends);
                            }
                            self.offers_handled += 1;
                        }
                    }
                }
                Decision::Acknowledge(ack) => {
                    self.calls_wait = true;
                    acked.insert((
                        ack.agent_id.value.as_str(),
                        ack.task_id.value.as_str(),
                        ack.uuid.0.as_slice(),
                    ));
                }
                Decision::Kill { task_id, .. } => self.kills.retain(|(t, _)| t != task_id),
                Decision::Reconcile { tasks } => {
                    if tasks.is_empty() {
                        self.last_implicit = Some(now);
                    }
                    if let Some(i) = self.reconcile.iter().position(|r| r == tasks) {
                        self.reconcile.remove(i);
                    }
                    for t in tasks {
                        self.reconcile_asked.insert(t.task_id.value.clone(), now);
                    }
                }
                Decision::Revive => {
                    self.filtered.clear();
                    self.suppressed = false;
                }
                Decision::Suppress => self.suppressed = true,
                Decision::Skip { step, message } => {
                    if let Some(pos) = self.d.plan.find(step) {
                        let mut record = self.d.plan.at_mut(pos);
                        record.status = StepStatus::Complete;
                        record.message = Some(Cow::from(format!("skipped: {message}")));
                        record.finished_at = Some(now);
                        self.dirty = true;
                    }
                }
                Decision::StepError { step, message } => {
                    if let Some(pos) = self.d.plan.find(step) {
                        self.fail(now, pos, message.clone(), false);
                    }
                }
            }
        }
        drop(offer_at);
        if used.contains(&true) {
            let mut i = 0;
            let ids = &mut self.offer_ids;
            offers.retain(|o| {
                let keep = !used[i];
                i += 1;
                if !keep {
                    ids.remove(&o.id);
                }
                keep
            });
        }
        self.offers = offers;
        if !acked.is_empty() {
            self.acks.retain(|a| {
                !acked.contains(&(
                    a.agent_id.value.as_str(),
                    a.task_id.value.as_str(),
                    a.uuid.0.as_slice(),
                ))
            });
        }
        self.refresh(now);
    }
}
