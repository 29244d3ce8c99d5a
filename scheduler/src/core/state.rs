//! The scheduler's state and the one place it changes: [`State::apply`] over the closed [`Input`]
//! enum, and [`State::commit`] of the decisions the loop carried out. The durable part
//! ([`Persisted`]: framework id, MDM choice, nodes, plan) is saved by the loop after every change;
//! offers, pending acknowledgements and reconciliation requests are not (they die with the
//! subscription anyway).

use std::collections::{BTreeMap, BTreeSet};

use mesos::scheduler::{Acknowledge, Event, ReconcileTask};
use mesos::v1::{AgentID, ExecutorID, Offer, OfferID, TaskID, TaskState, TaskStatus, ValueType};
use scaleio::step::{Outcome, PreflightFacts, ResultEnvelope, StepFailure};
use scaleio::topology::{self, Capacity, MdmAssignment, Mode, Persona, Placement};
use serde::{Deserialize, Serialize};

use super::Time;
use super::decide::Decision;
use super::executor_info::is_ours;
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
    /// What preflight found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<PreflightFacts>,
    /// Latest boot id reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The agent was removed; no offer since.
    #[serde(default)]
    pub lost: bool,
    /// When the master reported the agent removed (the start of `--agent-lost-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_since: Option<Time>,
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
    /// JSON bytes for the store.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("the persisted state always serialises")
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
    pub(crate) offers: Vec<Offer>,
    pub(crate) acks: Vec<Acknowledge>,
    pub(crate) kills: Vec<(TaskID, Option<AgentID>)>,
    pub(crate) reconcile: Vec<Vec<ReconcileTask>>,
    pub(crate) reconcile_asked: BTreeMap<String, Time>,
    pub(crate) filtered: BTreeSet<String>,
    pub(crate) suppressed: bool,
    pub(crate) subscribed: bool,
    pub(crate) dirty: bool,
    pub(crate) offers_handled: u64,
    pub(crate) selection_problem: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) last_implicit: Option<Time>,
    pub(crate) too_small: BTreeMap<String, String>,
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
            acks: Vec::new(),
            kills: Vec::new(),
            reconcile: Vec::new(),
            reconcile_asked: BTreeMap::new(),
            filtered: BTreeSet::new(),
            suppressed: false,
            subscribed: false,
            dirty: false,
            offers_handled: 0,
            selection_problem: None,
            last_error: None,
            last_implicit: None,
            too_small: BTreeMap::new(),
        }
    }

    /// The document to save.
    pub fn persisted(&self) -> Persisted {
        Persisted { version: PERSISTED_VERSION, state: self.d.clone() }
    }

    /// Whether the durable part changed since [`State::mark_saved`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The loop saved [`State::persisted`].
    pub fn mark_saved(&mut self) {
        self.dirty = false;
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
    pub fn offers(&self) -> &[Offer] {
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
                self.offers.clear();
            }
            Input::Offers(offers) => self.offered(now, offers),
            Input::Rescind(id) => self.offers.retain(|o| o.id != id),
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
                self.offers.retain(|o| o.agent_id != agent_id);
                if let Some(node) = self.node_by_agent_mut(&agent_id) {
                    tracing::warn!(node = %node.hostname, agent = %agent_id, "the master removed the agent");
                    node.lost = true;
                    node.lost_since.get_or_insert(now);
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
                self.expire_lost_nodes(now);
            }
        }
        self.refresh(now);
        reply
    }

    /// Nodes whose agent has been lost for `--agent-lost-timeout`: their unfinished steps go to
    /// error (marked [`super::plan::StepRecord::lost_node`], so the plan's barriers let the other
    /// nodes go on) with a message naming the agent and how long it has been gone.
    fn expire_lost_nodes(&mut self, now: Time) {
        let timeout = self.settings.agent_lost_timeout_secs;
        let mut expired: BTreeMap<&str, String> = BTreeMap::new();
        for node in self.d.nodes.values_mut().filter(|n| n.lost) {
            // A state saved before `lost_since` existed: the clock starts now.
            let since = *node.lost_since.get_or_insert(now);
            let gone = now.secs_since(since);
            if gone >= timeout {
                let agent = node.agent_id.as_deref().unwrap_or("unknown id");
                expired.insert(
                    node.hostname.as_str(),
                    format!(
                        "the agent on {host} ({agent}) has been gone for {gone} s: the master removed it and it has not offered since (--agent-lost-timeout {timeout} s); this step runs again by itself if the agent comes back, other nodes go on without it",
                        host = node.hostname
                    ),
                );
            }
        }
        if expired.is_empty() {
            return;
        }
        for step in self.d.plan.phases.iter_mut().flat_map(|p| p.steps.iter_mut()) {
            if step.status == StepStatus::Complete || step.lost_node {
                continue;
            }
            if let Some(message) = expired.get(step.node.as_str()) {
                tracing::warn!(step = %step.id, "{message}");
                step.status = StepStatus::Error;
                step.lost_node = true;
                step.message = Some(message.clone());
                step.updated_at = Some(now);
                self.dirty = true;
            }
        }
    }

    /// The node's agent is back: steps set to error while it was lost go back to pending.
    fn node_back(&mut self, now: Time, host: &str) {
        for step in self.d.plan.phases.iter_mut().flat_map(|p| p.steps.iter_mut()) {
            if step.lost_node && step.node == host {
                step.lost_node = false;
                if step.status == StepStatus::Error {
                    step.status = StepStatus::Pending;
                    step.message =
                        Some(format!("the agent on {host} is back; the step runs again"));
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
        self.offers.clear();
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
                    agent_id: s.agent_id.clone().map(AgentID::new),
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
        self.offers.clear();
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

    fn offered(&mut self, now: Time, offers: Vec<Offer>) {
        for offer in offers {
            self.see_agent(now, &offer);
            if !self.offers.iter().any(|o| o.id == offer.id) {
                self.offers.push(offer);
            }
        }
        self.assign();
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
            cpus: super::executor_info::offered(offer, "cpus"),
            mem_mb: super::executor_info::offered(offer, "mem"),
            disk_mb: super::executor_info::offered(offer, "disk"),
        };
        let attributes: Vec<(String, String)> = offer
            .attributes
            .iter()
            .filter_map(|a| {
                let value = match a.kind {
                    ValueType::Text => a.text.as_ref()?.value.clone(),
                    ValueType::Scalar => a.scalar.as_ref()?.value.to_string(),
                    _ => return None,
                };
                Some((a.name.clone(), value))
            })
            .collect();
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
                    node.ip = ip;
                    self.dirty = true;
                }
                if capacity.cpus > node.capacity.cpus || capacity.mem_mb > node.capacity.mem_mb {
                    node.capacity = capacity;
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
            for pos in self.d.plan.positions() {
                let s = self.d.plan.at(pos);
                if s.node == host && s.status.in_flight() && s.agent_id.as_deref() == Some(&old) {
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
    /// three can be chosen), then every provisionable node's steps.
    fn assign(&mut self) {
        // Node problems that keep a node out of the plan.
        let mut usable: Vec<String> = Vec::new();
        for node in self.d.nodes.values_mut() {
            let agent = topology::Agent {
                hostname: node.hostname.clone(),
                ip: node.ip.clone(),
                capacity: node.capacity,
                attributes: node.attributes.clone(),
            };
            let os =
                node.attributes.iter().find(|(k, _)| k == OS_ATTRIBUTE).map(|(_, v)| v.as_str());
            let problem = match (os, agent.placement(), agent.persona_claim()) {
                (None, _, _) => Some(format!(
                    "the agent has no `{OS_ATTRIBUTE}` attribute (expected one of: {})\nhint: set it, e.g. `echo ubuntu14 > /etc/mesos-slave/attributes/{OS_ATTRIBUTE}`, and restart the agent",
                    self.settings.platforms()
                )),
                (Some(os), _, _) if self.settings.bundle_for(os).is_none() => Some(format!(
                    "no bundle for its `{OS_ATTRIBUTE}` attribute `{os}` (bundles exist for: {})",
                    self.settings.platforms()
                )),
                (_, Err(e), _) | (_, _, Err(e)) => Some(e.to_string()),
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
                    match topology::choose_mdms(&BTreeMap::new(), &agents, s.mdm_requirements) {
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
                    self.d.plan.phases.iter().any(|p| {
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
        let own_host = self
            .d
            .nodes
            .values()
            .find(|n| &n.hostname == own || &n.ip == own)
            .map_or_else(|| own.clone(), |n| n.hostname.clone());
        for host in usable {
            let node = self.d.nodes.get_mut(&host).expect("usable hosts are known nodes");
            if node.persona.is_none() {
                node.persona = Some(mdms.as_ref().map_or(Persona::Data, |m| m.persona_of(&host)));
            }
            if !self.d.plan.has_node(&host) || self.d.plan.find(&format!("verify.{host}")).is_none()
            {
                let persona = node.persona.unwrap_or(Persona::Data);
                self.d.plan.add_node(
                    &host,
                    persona,
                    &node.placement,
                    &self.settings.protection_domain,
                    &own_host,
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
                let step = self.d.plan.at_mut(pos);
                step.status = StepStatus::Running;
                step.updated_at = Some(now);
                if let Some(m) = status.message.filter(|m| !m.is_empty()) {
                    step.message = Some(m);
                }
            }
            TaskState::Finished if status.data.is_none() && status.uuid.is_none() => {
                // A reconciliation answer: the executor's own update (with the result) was not
                // acknowledged yet, so the agent sends it again.
                let step = self.d.plan.at_mut(pos);
                step.message = Some("finished; waiting for the executor's result".to_owned());
                step.updated_at = Some(now);
            }
            TaskState::Finished => self.finished(now, pos, &status),
            TaskState::Killing | TaskState::Unreachable => {
                self.d.plan.at_mut(pos).message =
                    Some(format!("task is {}", status.state.as_str()));
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
        let mut message =
            if result.changed { "done (changed)" } else { "done (already so)" }.to_owned();
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
                );
                if let Some(node) = self.d.nodes.get_mut(&host) {
                    node.boot_id = Some(facts.boot_id.clone());
                    node.facts = Some(facts);
                }
            }
            Outcome::InstallPrerequisites { reboot_required: true, .. } => {
                message = "done; the pinned kernel runs after the reboot phase".to_owned();
            }
            Outcome::Reboot { boot_id, rebooting: true } => {
                let step = self.d.plan.at_mut(pos);
                step.reboot_from = Some(boot_id);
                step.status = StepStatus::Prepared;
                step.updated_at = Some(now);
                step.message = Some(format!("reboot issued; waiting for {host} to come back"));
                return;
            }
            Outcome::Reboot { boot_id, rebooting: false } => {
                message = format!("rebooted (boot id {boot_id})");
                if let Some(node) = self.d.nodes.get_mut(&host) {
                    node.boot_id = Some(boot_id);
                }
            }
            _ => {}
        }
        let step = self.d.plan.at_mut(pos);
        step.status = StepStatus::Complete;
        step.finished_at = Some(now);
        step.updated_at = Some(now);
        step.message = Some(message);
    }

    /// A failed attempt: retry after a backoff while attempts remain, else wait for an operator.
    fn fail(&mut self, now: Time, pos: StepPos, message: String, retryable: bool) {
        let max = self.settings.max_attempts;
        let delay = self.settings.retry_delay_secs(self.d.plan.at(pos).attempts);
        let step = self.d.plan.at_mut(pos);
        step.updated_at = Some(now);
        self.dirty = true;
        if retryable && step.attempts < max {
            let next = now.plus_secs(delay);
            step.status = StepStatus::Failed { next_attempt_at: next };
            step.message = Some(format!(
                "attempt {} of {max} failed, retrying in {delay} s: {message}",
                step.attempts
            ));
        } else {
            step.status = StepStatus::Error;
            let why = if retryable {
                format!("{max} attempts failed")
            } else {
                "cannot be retried automatically".to_owned()
            };
            step.message = Some(format!(
                "{why}; waiting for an operator (POST /v1/steps/{}/retry): {message}",
                step.id
            ));
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
                let step = self.d.plan.at_mut(pos);
                match step.status {
                    StepStatus::Failed { .. } | StepStatus::Error => {
                        step.status = StepStatus::Pending;
                        step.lost_node = false;
                        step.attempts = 0;
                        step.message = Some("retry requested by an operator".to_owned());
                        self.dirty = true;
                        Ok(format!("step {id} will run again"))
                    }
                    other => Err(Refusal::NotRetryable { id, status: other.as_str() }),
                }
            }
        }
    }

    /// Moves steps whose barriers are met to `prepared`, and due retries back to `prepared`.
    /// It runs after every input, so it reads the barriers once (a per-step
    /// `deps_complete` scan made each input quadratic in the plan's size).
    fn refresh(&mut self, now: Time) {
        let ready: Vec<StepPos> = {
            let plan = &self.d.plan;
            let barriers = plan.barriers();
            plan.positions()
                .into_iter()
                .filter(|&pos| match plan.at(pos).status {
                    StepStatus::Pending => barriers.deps_complete(pos),
                    StepStatus::Failed { next_attempt_at } => next_attempt_at <= now,
                    _ => false,
                })
                .collect()
        };
        for pos in ready {
            self.d.plan.at_mut(pos).status = StepStatus::Prepared;
            self.dirty = true;
        }
    }

    /// Records decisions the loop is about to carry out. Call before persisting and before
    /// sending the calls, so a crash never forgets a launch (the store is the write-ahead log).
    pub fn commit(&mut self, now: Time, decisions: &[Decision]) {
        for decision in decisions {
            match decision {
                Decision::Launch { offer_id, step, task, .. } => {
                    if let Some(o) = self.offers.iter().find(|o| &o.id == offer_id) {
                        self.too_small.remove(&o.hostname);
                    }
                    self.offers.retain(|o| &o.id != offer_id);
                    self.offers_handled += 1;
                    if let Some(pos) = self.d.plan.find(step) {
                        let record = self.d.plan.at_mut(pos);
                        record.attempts += 1;
                        record.status = StepStatus::Starting;
                        record.task_id = Some(task.task_id.value.clone());
                        record.agent_id = Some(task.agent_id.value.clone());
                        record.started_at.get_or_insert(now);
                        record.updated_at = Some(now);
                        let node = record.node.clone();
                        self.filtered.insert(node);
                        self.dirty = true;
                    }
                }
                Decision::Decline { offer_ids, refuse_seconds, reason } => {
                    for id in offer_ids {
                        if let Some(i) = self.offers.iter().position(|o| &o.id == id) {
                            let offer = self.offers.remove(i);
                            if *refuse_seconds == super::decide::TOO_SMALL_REFUSE_SECS {
                                self.too_small.insert(offer.hostname.clone(), reason.clone());
                            }
                            if *refuse_seconds >= self.settings.decline_secs {
                                self.filtered.insert(offer.hostname);
                            }
                            self.offers_handled += 1;
                        }
                    }
                }
                Decision::Acknowledge(ack) => self.acks.retain(|a| a != ack),
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
                        let record = self.d.plan.at_mut(pos);
                        record.status = StepStatus::Complete;
                        record.message = Some(format!("skipped: {message}"));
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
        self.refresh(now);
    }
}
