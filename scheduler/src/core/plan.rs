//! The deployment plan: phases in a fixed order, each serial or parallel, each made of steps that
//! target one node (by hostname). Step ids are stable and readable (`sds.agent-3`,
//! `mdm-cluster.create-cluster.agent-1`) and safe in URLs and Mesos task ids.
//!
//! Readiness rules (the barriers): a step may start when every step of an earlier phase on the
//! same node is complete; after `mdm-cluster`, only once the whole `mdm-cluster` phase is
//! complete; the `reboot` phase only once every node finished every earlier phase (so the
//! scheduler's own host stays up while others need it). Inside a serial phase steps run one at a
//! time in order; inside a parallel phase each node's steps run in order, nodes side by side.
//!
//! A step set to error because its node's agent is lost ([`StepRecord::lost_node`]) does not hold
//! up other nodes: the all-node barrier of the `reboot` phase and the order of the serial
//! `reboot` phase pass over it. The `mdm-cluster` phase never does (the cluster cannot be built
//! without its MDM hosts), so a lost MDM host keeps the plan blocked, with the reason on its steps.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;

use scaleio::ObjectName;
use scaleio::step::Component;
use scaleio::topology::{MdmAssignment, Persona, Placement};
use serde::{Deserialize, Serialize};

use super::Time;

/// The phases, in plan order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseName {
    /// Gather facts (OS, boot id, free devices).
    Preflight,
    /// OS packages and the pinned kernel.
    Prerequisites,
    /// MDM packages, cluster creation, LIA, gateway, default PD and pool (full mode); the default
    /// PD and pool on the existing cluster (pre-configured mode).
    MdmCluster,
    /// SDS packages and SDS objects with their devices.
    Sds,
    /// SDC pointed at the MDMs.
    Sdc,
    /// REX-Ray, DVDCLI, the dvdi isolator.
    VolumePlumbing,
    /// One node at a time, the scheduler's host last.
    Reboot,
    /// Check each node.
    Verify,
}

/// How a phase runs its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One step at a time, in order.
    Serial,
    /// Nodes side by side, each node's steps in order.
    Parallel,
}

impl PhaseName {
    /// Every phase in order.
    pub const ALL: [PhaseName; 8] = [
        PhaseName::Preflight,
        PhaseName::Prerequisites,
        PhaseName::MdmCluster,
        PhaseName::Sds,
        PhaseName::Sdc,
        PhaseName::VolumePlumbing,
        PhaseName::Reboot,
        PhaseName::Verify,
    ];

    /// The name shown to people and used in step ids.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Preflight => "preflight",
            PhaseName::Prerequisites => "prerequisites",
            PhaseName::MdmCluster => "mdm-cluster",
            PhaseName::Sds => "sds",
            PhaseName::Sdc => "sdc",
            PhaseName::VolumePlumbing => "volume-plumbing",
            PhaseName::Reboot => "reboot",
            PhaseName::Verify => "verify",
        }
    }

    /// Serial or parallel.
    pub fn strategy(self) -> Strategy {
        match self {
            PhaseName::MdmCluster | PhaseName::Reboot => Strategy::Serial,
            _ => Strategy::Parallel,
        }
    }
}

/// What a step does; rendered into a [`scaleio::step::Step`] at launch time, when the node's facts
/// (IP, OS family, free devices, boot id) are known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Facts.
    Preflight,
    /// OS prerequisites.
    Prerequisites,
    /// ScaleIO packages from the node's bundle, in this order.
    Packages {
        /// Components.
        components: Vec<Component>,
    },
    /// `scli --create_mdm_cluster` on the primary.
    CreateCluster,
    /// Add the secondary or the tiebreaker as a standby MDM (runs on the primary).
    AddStandby {
        /// Which MDM.
        persona: Persona,
    },
    /// Switch to 3-node mode (runs on the primary).
    ThreeNodeMode,
    /// Name the system (runs on the primary).
    RenameSystem,
    /// LIA installation id.
    ConfigureLia,
    /// Gateway properties and restart.
    ConfigureGateway,
    /// Find or create a protection domain through the gateway.
    ProtectionDomain {
        /// Name.
        name: ObjectName,
    },
    /// Find or create a storage pool through the gateway.
    StoragePool {
        /// Protection domain.
        protection_domain: ObjectName,
        /// Name.
        name: ObjectName,
    },
    /// This node's SDS in a protection domain, with its devices.
    Sds {
        /// Protection domain.
        protection_domain: ObjectName,
    },
    /// Point the SDC at the MDMs.
    Sdc,
    /// REX-Ray.
    Rexray,
    /// DVDCLI.
    Dvdcli,
    /// The dvdi isolator.
    Isolator,
    /// Reboot and wait for a new boot id.
    Reboot,
    /// Check the node.
    Verify,
}

impl Action {
    /// A short kebab-case name for people (`install-packages`, `create-cluster`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Preflight => "preflight",
            Action::Prerequisites => "install-prerequisites",
            Action::Packages { .. } => "install-packages",
            Action::CreateCluster => "create-cluster",
            Action::AddStandby { .. } => "add-standby-mdm",
            Action::ThreeNodeMode => "three-node-mode",
            Action::RenameSystem => "rename-system",
            Action::ConfigureLia => "configure-lia",
            Action::ConfigureGateway => "configure-gateway",
            Action::ProtectionDomain { .. } => "protection-domain",
            Action::StoragePool { .. } => "storage-pool",
            Action::Sds { .. } => "add-sds",
            Action::Sdc => "configure-sdc",
            Action::Rexray => "install-rexray",
            Action::Dvdcli => "install-dvdcli",
            Action::Isolator => "install-isolator",
            Action::Reboot => "reboot",
            Action::Verify => "verify",
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for earlier steps.
    Pending,
    /// Ready: waiting for an offer from its node.
    Prepared,
    /// Launched; no update yet.
    Starting,
    /// The executor reported `TASK_RUNNING`.
    Running,
    /// Done.
    Complete,
    /// Failed with attempts left; ready again at `next_attempt_at`.
    Failed {
        /// When the next attempt may start.
        next_attempt_at: Time,
    },
    /// Failed with no attempts left: waits for an operator's retry.
    Error,
}

impl StepStatus {
    /// Launched and not finished.
    pub fn in_flight(self) -> bool {
        matches!(self, StepStatus::Starting | StepStatus::Running)
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Prepared => "prepared",
            StepStatus::Starting => "starting",
            StepStatus::Running => "running",
            StepStatus::Complete => "complete",
            StepStatus::Failed { .. } => "failed",
            StepStatus::Error => "error",
        }
    }
}

/// One step and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Stable id, e.g. `sds.agent-3`.
    pub id: String,
    /// Hostname of the node it runs on (one copy per node, shared by its steps).
    pub node: Arc<str>,
    /// What it does.
    pub action: Action,
    /// Where it stands.
    pub status: StepStatus,
    /// Launches so far (a reboot's relaunch after the node came back counts too).
    pub attempts: u32,
    /// Progress, result summary or failure reason (the common ones, such as `done (changed)`,
    /// are not a copy per step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'static, str>>,
    /// Mesos task id of the latest launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Agent id the latest launch went to (shared with the node's other steps that went to
    /// the same agent: see [`Plan::agent_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Arc<str>>,
    /// First launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Latest launch or update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// Reboot steps: the boot id reported when the reboot was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_from: Option<Box<str>>,
    /// Set to error because its node's agent is lost (removed, no offer since): other nodes go
    /// on without it, and it goes back to pending by itself if the agent comes back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lost_node: bool,
}

impl StepRecord {
    fn new(id: String, node: Arc<str>, action: Action) -> StepRecord {
        StepRecord {
            id,
            node,
            action,
            status: StepStatus::Pending,
            attempts: 0,
            message: None,
            task_id: None,
            agent_id: None,
            started_at: None,
            finished_at: None,
            updated_at: None,
            reboot_from: None,
            lost_node: false,
        }
    }

    /// Whether this step lets later steps of `phase`'s barriers pass: it is complete, or it is
    /// held by a lost node outside the `mdm-cluster` phase.
    fn passes(&self, phase: PhaseName) -> bool {
        self.status == StepStatus::Complete || (self.lost_node && phase != PhaseName::MdmCluster)
    }
}

/// One phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// Which.
    pub name: PhaseName,
    /// Its steps in order.
    pub steps: Vec<StepRecord>,
}

/// The plan. Its phases are read through [`Plan::phases`] and changed only through its methods
/// (a step through the [`StepMut`] guard of [`Plan::at_mut`]), so the index it keeps beside them
/// (steps by id, by task id and by node; per-phase barrier sets; steps waiting on time or on a
/// change) always agrees with them. The index is not serialised: it is rebuilt on reading.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Phases in order (no `reboot` phase with `--no-reboot`).
    phases: Vec<Phase>,
    #[serde(skip)]
    index: PlanIndex,
}

impl PartialEq for Plan {
    fn eq(&self, other: &Plan) -> bool {
        self.phases == other.phases
    }
}

impl<'de> Deserialize<'de> for Plan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Plan, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            phases: Vec<Phase>,
        }
        Ok(Plan::from_phases(Raw::deserialize(deserializer)?.phases))
    }
}

/// Makes room for one more step in a phase's list, growing it by an eighth (at least 4) when
/// full: a step record is about 270 bytes and a phase holds a step per node, so doubling would
/// leave up to half of several MiB unused at 10,000 agents; an eighth keeps appends amortised.
fn make_room(steps: &mut Vec<StepRecord>) {
    if steps.len() == steps.capacity() {
        steps.reserve_exact((steps.len() / 8).max(4));
    }
}

/// Position of a step: (phase index, step index).
pub type StepPos = (usize, usize);

fn step_at(phases: &[Phase], pos: StepPos) -> &StepRecord {
    &phases[pos.0].steps[pos.1]
}

fn task_of(phases: &[Phase], pos: StepPos) -> Option<&str> {
    step_at(phases, pos).task_id.as_deref()
}

/// Indexes the step at `pos` under `task`, its current task id; an older step indexed under the
/// same task id gives way (the latest launch wins, as a map insert would).
fn index_task(
    by_task: &mut HashTable<StepPos>,
    hasher: &RandomState,
    phases: &[Phase],
    task: &str,
    pos: StepPos,
) {
    let hash = hasher.hash_one(task);
    match by_task.find_mut(hash, |&p| p != pos && task_of(phases, p) == Some(task)) {
        Some(other) => *other = pos,
        None => {
            by_task
                .insert_unique(hash, pos, |&p| hasher.hash_one(task_of(phases, p).unwrap_or("")));
        }
    }
}

/// Takes the step at `pos` out of the task index, where it is filed under `task`.
fn unindex_task(by_task: &mut HashTable<StepPos>, hasher: &RandomState, task: &str, pos: StepPos) {
    if let Ok(entry) = by_task.find_entry(hasher.hash_one(task), |&p| p == pos) {
        entry.remove();
    }
}

/// What the index remembers of a step between two looks, to undo its part.
#[derive(Debug, Clone)]
struct Seen {
    status: StepStatus,
    passes: bool,
    task_id: Option<String>,
}

impl Seen {
    fn of(step: &StepRecord, phase: PhaseName) -> Seen {
        Seen { status: step.status, passes: step.passes(phase), task_id: step.task_id.clone() }
    }
}

/// One phase's part of the index.
#[derive(Debug, Clone, Default)]
struct PhaseIndex {
    /// Steps that hold up the phase's all-node barrier and serial order (see
    /// [`StepRecord::passes`]), by step index.
    blocking: BTreeSet<usize>,
    /// Steps in flight.
    in_flight: usize,
}

/// One node's part of the index.
#[derive(Debug, Clone)]
struct NodeIndex {
    /// Its hostname: the one copy its steps share.
    name: Arc<str>,
    /// The agent id its latest launch went to: the one copy its steps share.
    agent: Option<Arc<str>>,
    /// Its steps, in plan order.
    steps: Vec<StepPos>,
    /// Marked for a readiness check at the next [`Plan::take_ready`].
    dirty: bool,
}

/// The plan's index (see [`Plan`]). Everything in it is derived from the phases.
#[derive(Debug, Clone, Default)]
struct PlanIndex {
    hasher: RandomState,
    /// Steps by id: positions only, hashed and compared through the step's own id, so no id is
    /// copied (at 10,000 agents the copies of ids and task ids were ~10 MiB).
    by_id: HashTable<StepPos>,
    /// Steps by the task id of their latest launch, the same way. An entry is always hashed by
    /// its step's current task id: [`Plan::resync`] takes the old one out before the new one
    /// goes in (a growing table rehashes every entry).
    by_task: HashTable<StepPos>,
    node_slot: HashMap<Arc<str>, usize>,
    nodes: Vec<NodeIndex>,
    phases: Vec<PhaseIndex>,
    /// Failed steps by the time of their next attempt.
    failed: BTreeSet<(Time, StepPos)>,
    /// Steps launched without an update yet, in plan order.
    starting: BTreeSet<StepPos>,
    complete: usize,
    error: usize,
    total: usize,
    /// Nodes marked for a readiness check.
    dirty: Vec<usize>,
    /// Every node needs a readiness check (a phase's barrier opened, or the plan was just read).
    all_dirty: bool,
}

/// Mutable access to one step (from [`Plan::at_mut`]); when dropped it brings the plan's index
/// up to date with what changed. A step's `id` and `node` never change.
#[derive(Debug)]
pub struct StepMut<'a> {
    plan: &'a mut Plan,
    pos: StepPos,
    seen: Seen,
}

impl std::ops::Deref for StepMut<'_> {
    type Target = StepRecord;
    fn deref(&self) -> &StepRecord {
        self.plan.at(self.pos)
    }
}

impl std::ops::DerefMut for StepMut<'_> {
    fn deref_mut(&mut self) -> &mut StepRecord {
        &mut self.plan.phases[self.pos.0].steps[self.pos.1]
    }
}

impl Drop for StepMut<'_> {
    fn drop(&mut self) {
        let seen = std::mem::replace(
            &mut self.seen,
            Seen { status: StepStatus::Pending, passes: false, task_id: None },
        );
        self.plan.resync(self.pos, seen);
    }
}

impl Plan {
    /// An empty plan with every phase (the reboot phase only if reboots are on).
    pub fn new(reboot: bool) -> Plan {
        let phases = PhaseName::ALL
            .iter()
            .filter(|p| reboot || **p != PhaseName::Reboot)
            .map(|&name| Phase { name, steps: Vec::new() })
            .collect();
        Plan::from_phases(phases)
    }

    /// A plan of these phases, as read from the store.
    pub fn from_phases(mut phases: Vec<Phase>) -> Plan {
        // Read from JSON, the step lists grew by doubling: up to half their room is unused.
        for phase in &mut phases {
            phase.steps.shrink_to_fit();
        }
        let mut plan = Plan { phases, index: PlanIndex::default() };
        plan.index.phases = vec![PhaseIndex::default(); plan.phases.len()];
        for pi in 0..plan.phases.len() {
            for si in 0..plan.phases[pi].steps.len() {
                plan.track((pi, si));
            }
        }
        plan.index.all_dirty = true;
        plan
    }

    /// The phases, in order.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// Every step in plan order.
    pub fn steps(&self) -> impl Iterator<Item = &StepRecord> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.index.total
    }

    /// Whether the plan has no step.
    pub fn is_empty(&self) -> bool {
        self.index.total == 0
    }

    /// Positions of every step in plan order.
    pub fn positions(&self) -> Vec<StepPos> {
        let mut out = Vec::new();
        for (pi, phase) in self.phases.iter().enumerate() {
            for si in 0..phase.steps.len() {
                out.push((pi, si));
            }
        }
        out
    }

    /// Positions of a node's steps in plan order (empty for a node without steps).
    pub fn node_positions(&self, hostname: &str) -> &[StepPos] {
        match self.index.node_slot.get(hostname) {
            Some(&slot) => &self.index.nodes[slot].steps,
            None => &[],
        }
    }

    /// Positions of the steps launched without an update yet, in plan order.
    pub fn starting(&self) -> impl Iterator<Item = StepPos> + '_ {
        self.index.starting.iter().copied()
    }

    /// The step at `pos`.
    pub fn at(&self, pos: StepPos) -> &StepRecord {
        &self.phases[pos.0].steps[pos.1]
    }

    /// The step at `pos`, mutably; the index follows when the guard is dropped.
    pub fn at_mut(&mut self, pos: StepPos) -> StepMut<'_> {
        let seen = Seen::of(self.at(pos), self.phases[pos.0].name);
        StepMut { plan: self, pos, seen }
    }

    /// The position of the step with this id.
    pub fn find(&self, id: &str) -> Option<StepPos> {
        let hash = self.index.hasher.hash_one(id);
        self.index.by_id.find(hash, |&p| step_at(&self.phases, p).id == id).copied()
    }

    /// The position of the step whose latest launch is `task_id`.
    pub fn find_task(&self, task_id: &str) -> Option<StepPos> {
        let hash = self.index.hasher.hash_one(task_id);
        self.index.by_task.find(hash, |&p| task_of(&self.phases, p) == Some(task_id)).copied()
    }

    /// Whether the plan has steps for this node.
    pub fn has_node(&self, hostname: &str) -> bool {
        !self.node_positions(hostname).is_empty()
    }

    /// Whether every step is complete (and there is at least one).
    pub fn is_complete(&self) -> bool {
        self.index.total > 0 && self.index.complete == self.index.total
    }

    /// Whether every step is complete or in error (and there is at least one): nothing is left
    /// to do without an operator.
    pub fn is_settled(&self) -> bool {
        self.index.total > 0 && self.index.complete + self.index.error == self.index.total
    }

    fn phase_index(&self, name: PhaseName) -> Option<usize> {
        self.phases.iter().position(|p| p.name == name)
    }

    fn push(&mut self, phase: PhaseName, id: String, node: &str, action: Action) {
        if self.find(&id).is_some() {
            return;
        }
        if let Some(pi) = self.phase_index(phase) {
            make_room(&mut self.phases[pi].steps);
            let node = self.node_name(node);
            self.phases[pi].steps.push(StepRecord::new(id, node, action));
            self.track((pi, self.phases[pi].steps.len() - 1));
        }
    }

    /// The shared copy of a node's hostname (a new node gets its slot in the index).
    fn node_name(&mut self, host: &str) -> Arc<str> {
        let ix = &mut self.index;
        match ix.node_slot.get(host) {
            Some(&slot) => Arc::clone(&ix.nodes[slot].name),
            None => {
                let name: Arc<str> = host.into();
                ix.nodes.push(NodeIndex {
                    name: Arc::clone(&name),
                    agent: None,
                    steps: Vec::new(),
                    dirty: false,
                });
                ix.node_slot.insert(Arc::clone(&name), ix.nodes.len() - 1);
                name
            }
        }
    }

    /// The agent id `agent` for the step at `pos`, shared with the other steps of its node that
    /// went to that agent: at 10,000 agents a copy per step was ~4 MiB.
    pub fn agent_id(&mut self, pos: StepPos, agent: &str) -> Arc<str> {
        let node = &self.phases[pos.0].steps[pos.1].node;
        let slot = self.index.node_slot[node];
        let cached = &mut self.index.nodes[slot].agent;
        match cached {
            Some(a) if &**a == agent => Arc::clone(a),
            _ => Arc::clone(cached.insert(agent.into())),
        }
    }

    /// Inserts `step` at `pos`, moving the phase's later steps down by one.
    fn insert(&mut self, pos: StepPos, step: StepRecord) {
        let (pi, si) = pos;
        let len = self.phases[pi].steps.len();
        for i in (si..len).rev() {
            self.untrack((pi, i));
        }
        make_room(&mut self.phases[pi].steps);
        self.phases[pi].steps.insert(si, step);
        for i in si..=len {
            self.track((pi, i));
        }
    }

    /// Adds the step at `pos` to the index.
    fn track(&mut self, pos: StepPos) {
        let phase = self.phases[pos.0].name;
        // Steps read from the store come with copies of their node's hostname and agent id: they
        // take the shared ones.
        let name = Arc::clone(&self.phases[pos.0].steps[pos.1].node);
        let name = self.node_name(&name);
        let agent = self.phases[pos.0].steps[pos.1].agent_id.clone();
        let agent = agent.map(|a| self.agent_id(pos, &a));
        let step = &mut self.phases[pos.0].steps[pos.1];
        step.node = name;
        step.agent_id = agent;
        let step = &self.phases[pos.0].steps[pos.1];
        let ix = &mut self.index;
        let phases = &self.phases;
        let hasher = &ix.hasher;
        let hash = hasher.hash_one(step.id.as_str());
        if ix.by_id.find(hash, |&p| step_at(phases, p).id == step.id).is_none() {
            ix.by_id.insert_unique(hash, pos, |&p| hasher.hash_one(step_at(phases, p).id.as_str()));
        }
        if let Some(task) = &step.task_id {
            index_task(&mut ix.by_task, hasher, phases, task, pos);
        }
        let slot = ix.node_slot[&step.node];
        let steps = &mut ix.nodes[slot].steps;
        let at = steps.partition_point(|&p| p < pos);
        steps.insert(at, pos);
        ix.total += 1;
        let seen = Seen::of(step, phase);
        self.add_status(pos, &seen);
        self.mark_node(pos);
    }

    /// Removes the step at `pos` from the index.
    fn untrack(&mut self, pos: StepPos) {
        let phase = self.phases[pos.0].name;
        let seen = Seen::of(self.at(pos), phase);
        self.remove_status(pos, &seen);
        let step = &self.phases[pos.0].steps[pos.1];
        let ix = &mut self.index;
        if let Ok(entry) = ix.by_id.find_entry(ix.hasher.hash_one(step.id.as_str()), |&p| p == pos)
        {
            entry.remove();
        }
        if let Some(task) = &step.task_id {
            unindex_task(&mut ix.by_task, &ix.hasher, task, pos);
        }
        if let Some(&slot) = ix.node_slot.get(step.node.as_ref()) {
            ix.nodes[slot].steps.retain(|&p| p != pos);
        }
        ix.total -= 1;
    }

    fn add_status(&mut self, pos: StepPos, seen: &Seen) {
        let ix = &mut self.index;
        match seen.status {
            StepStatus::Complete => ix.complete += 1,
            StepStatus::Error => ix.error += 1,
            StepStatus::Failed { next_attempt_at } => {
                ix.failed.insert((next_attempt_at, pos));
            }
            StepStatus::Starting => {
                ix.starting.insert(pos);
            }
            _ => {}
        }
        if seen.status.in_flight() {
            ix.phases[pos.0].in_flight += 1;
        }
        if !seen.passes {
            ix.phases[pos.0].blocking.insert(pos.1);
        }
    }

    fn remove_status(&mut self, pos: StepPos, seen: &Seen) {
        let ix = &mut self.index;
        match seen.status {
            StepStatus::Complete => ix.complete -= 1,
            StepStatus::Error => ix.error -= 1,
            StepStatus::Failed { next_attempt_at } => {
                ix.failed.remove(&(next_attempt_at, pos));
            }
            StepStatus::Starting => {
                ix.starting.remove(&pos);
            }
            _ => {}
        }
        if seen.status.in_flight() {
            ix.phases[pos.0].in_flight -= 1;
        }
        if !seen.passes {
            ix.phases[pos.0].blocking.remove(&pos.1);
        }
    }

    /// Marks the node of the step at `pos` for a readiness check.
    fn mark_node(&mut self, pos: StepPos) {
        let node = self.phases[pos.0].steps[pos.1].node.as_ref();
        if let Some(&slot) = self.index.node_slot.get(node)
            && !self.index.nodes[slot].dirty
        {
            self.index.nodes[slot].dirty = true;
            self.index.dirty.push(slot);
        }
    }

    /// Brings the index up to date after the step at `pos` changed from `seen`.
    fn resync(&mut self, pos: StepPos, seen: Seen) {
        let phase = self.phases[pos.0].name;
        let now = Seen::of(self.at(pos), phase);
        if now.task_id != seen.task_id {
            let ix = &mut self.index;
            if let Some(old) = &seen.task_id {
                unindex_task(&mut ix.by_task, &ix.hasher, old, pos);
            }
            if let Some(new) = &now.task_id {
                index_task(&mut ix.by_task, &ix.hasher, &self.phases, new, pos);
            }
        }
        if now.status == seen.status && now.passes == seen.passes {
            return;
        }
        self.remove_status(pos, &seen);
        self.add_status(pos, &now);
        // What can make a pending step ready: the step itself became pending, or a step it
        // waits for began to pass.
        if now.status == StepStatus::Pending || now.passes != seen.passes {
            self.mark_node(pos);
        }
        if now.passes != seen.passes {
            let blocking = &self.index.phases[pos.0].blocking;
            if blocking.is_empty() {
                // An all-node barrier may have opened.
                self.index.all_dirty = true;
            } else if phase.strategy() == Strategy::Serial {
                // The serial phase's next step may have come up.
                let first = *blocking.first().expect("not empty");
                self.mark_node((pos.0, first));
            }
        }
    }

    /// Whether the barriers let the step at `pos` start (its own status is not looked at): the
    /// indexed equal of [`Plan::deps_complete`], costing a look at the node's own steps and one
    /// per phase.
    pub fn ready(&self, pos: StepPos) -> bool {
        let (pi, si) = pos;
        let phase = &self.phases[pi];
        let own = self.node_positions(&phase.steps[si].node);
        let complete = |p: &StepPos| self.at(*p).status == StepStatus::Complete;
        for (ei, earlier) in self.phases[..pi].iter().enumerate() {
            let all_nodes =
                earlier.name == PhaseName::MdmCluster || phase.name == PhaseName::Reboot;
            let open = if all_nodes {
                !self.index.phases[ei].blocking.is_empty()
            } else {
                !own.iter().filter(|p| p.0 == ei).all(complete)
            };
            if open {
                return false;
            }
        }
        match phase.name.strategy() {
            Strategy::Serial => self.index.phases[pi].blocking.first().is_none_or(|&f| f >= si),
            Strategy::Parallel => own.iter().filter(|p| p.0 == pi && p.1 < si).all(complete),
        }
    }

    /// Steps to move to `prepared` now: failed steps whose retry is due, and pending steps whose
    /// barriers are met among the nodes marked since the last call (every node after a barrier
    /// opened). Clears the marks. In plan order.
    pub fn take_ready(&mut self, now: Time) -> Vec<StepPos> {
        let mut out: Vec<StepPos> = self
            .index
            .failed
            .range(..=(now, (usize::MAX, usize::MAX)))
            .map(|&(_, pos)| pos)
            .collect();
        let ix = &self.index;
        let slots: Vec<usize> =
            if ix.all_dirty { (0..ix.nodes.len()).collect() } else { ix.dirty.clone() };
        for slot in slots {
            for &pos in &self.index.nodes[slot].steps {
                if self.at(pos).status == StepStatus::Pending && self.ready(pos) {
                    out.push(pos);
                }
            }
        }
        let ix = &mut self.index;
        for slot in ix.dirty.drain(..) {
            ix.nodes[slot].dirty = false;
        }
        ix.all_dirty = false;
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Adds the cluster steps of full provisioning (the serial `mdm-cluster` phase).
    pub fn add_full_cluster(&mut self, mdms: &MdmAssignment, pd: &ObjectName, pool: &ObjectName) {
        use Component::*;
        let p = PhaseName::MdmCluster;
        let hosts = [&mdms.primary, &mdms.secondary, &mdms.tiebreaker];
        for h in hosts {
            self.push(
                p,
                format!("mdm-cluster.packages.{h}"),
                h,
                Action::Packages { components: vec![Mdm, Sds, Sdc] },
            );
        }
        let primary = &mdms.primary;
        self.push(
            p,
            format!("mdm-cluster.create-cluster.{primary}"),
            primary,
            Action::CreateCluster,
        );
        self.push(
            p,
            format!("mdm-cluster.add-secondary.{primary}"),
            primary,
            Action::AddStandby { persona: Persona::Secondary },
        );
        self.push(
            p,
            format!("mdm-cluster.add-tiebreaker.{primary}"),
            primary,
            Action::AddStandby { persona: Persona::Tiebreaker },
        );
        self.push(
            p,
            format!("mdm-cluster.three-node-mode.{primary}"),
            primary,
            Action::ThreeNodeMode,
        );
        self.push(p, format!("mdm-cluster.rename-system.{primary}"), primary, Action::RenameSystem);
        for h in hosts {
            self.push(
                p,
                format!("mdm-cluster.lia-gateway-packages.{h}"),
                h,
                Action::Packages { components: vec![Lia, Gateway] },
            );
            self.push(p, format!("mdm-cluster.configure-lia.{h}"), h, Action::ConfigureLia);
            self.push(p, format!("mdm-cluster.configure-gateway.{h}"), h, Action::ConfigureGateway);
        }
        self.add_default_pool(primary, pd, pool);
    }

    /// Adds the cluster steps against a pre-configured cluster: the default protection domain and
    /// storage pool, found or created through the gateway from `anchor`.
    pub fn add_preconfigured_cluster(&mut self, anchor: &str, pd: &ObjectName, pool: &ObjectName) {
        self.add_default_pool(anchor, pd, pool);
    }

    fn add_default_pool(&mut self, host: &str, pd: &ObjectName, pool: &ObjectName) {
        let p = PhaseName::MdmCluster;
        self.push(
            p,
            format!("mdm-cluster.protection-domain.{host}"),
            host,
            Action::ProtectionDomain { name: pd.clone() },
        );
        self.push(
            p,
            format!("mdm-cluster.storage-pool.{host}"),
            host,
            Action::StoragePool { protection_domain: pd.clone(), name: pool.clone() },
        );
    }

    /// Makes room at once for `nodes` more nodes' own steps (a data node's count in each phase)
    /// in the step lists and the id index, so the first OFFERS event of thousands of agents does
    /// not grow every list an eighth at a time.
    pub fn reserve_nodes(&mut self, nodes: usize) {
        let mut steps = 0;
        for phase in &mut self.phases {
            let per_node = match phase.name {
                PhaseName::MdmCluster => 0,
                PhaseName::Sds => 2,
                PhaseName::VolumePlumbing => 3,
                _ => 1,
            };
            phase.steps.reserve_exact(nodes * per_node);
            steps += nodes * per_node;
        }
        let (phases, ix) = (&self.phases, &mut self.index);
        let hasher = &ix.hasher;
        ix.by_id.reserve(steps, |&p| hasher.hash_one(step_at(phases, p).id.as_str()));
        // Every step launches: the task index ends as large, without doubling on the way.
        ix.by_task.reserve(steps, |&p| hasher.hash_one(task_of(phases, p).unwrap_or("")));
    }

    /// Appends a node's own steps to every phase. `default_pd` is where a node without imperative
    /// placement puts its SDS. The scheduler's own host stays last in the reboot phase.
    pub fn add_node(
        &mut self,
        host: &str,
        persona: Persona,
        placement: &Placement,
        default_pd: &ObjectName,
        scheduler_host: &str,
    ) {
        use Component::*;
        self.push(PhaseName::Preflight, format!("preflight.{host}"), host, Action::Preflight);
        self.push(
            PhaseName::Prerequisites,
            format!("prerequisites.{host}"),
            host,
            Action::Prerequisites,
        );
        if persona == Persona::Data {
            self.push(
                PhaseName::Sds,
                format!("sds.packages.{host}"),
                host,
                Action::Packages { components: vec![Sds, Sdc] },
            );
        }
        if placement.provides.is_empty() {
            self.push(
                PhaseName::Sds,
                format!("sds.{host}"),
                host,
                Action::Sds { protection_domain: default_pd.clone() },
            );
        } else {
            for domain in &placement.provides {
                let pd = &domain.name;
                self.push(
                    PhaseName::Sds,
                    format!("sds.protection-domain-{pd}.{host}"),
                    host,
                    Action::ProtectionDomain { name: pd.clone() },
                );
                for pool in &domain.pools {
                    let name = &pool.name;
                    self.push(
                        PhaseName::Sds,
                        format!("sds.storage-pool-{pd}-{name}.{host}"),
                        host,
                        Action::StoragePool { protection_domain: pd.clone(), name: name.clone() },
                    );
                }
                self.push(
                    PhaseName::Sds,
                    format!("sds.sds-{pd}.{host}"),
                    host,
                    Action::Sds { protection_domain: pd.clone() },
                );
            }
        }
        self.push(PhaseName::Sdc, format!("sdc.{host}"), host, Action::Sdc);
        let v = PhaseName::VolumePlumbing;
        self.push(v, format!("volume-plumbing.rexray.{host}"), host, Action::Rexray);
        self.push(v, format!("volume-plumbing.dvdcli.{host}"), host, Action::Dvdcli);
        self.push(v, format!("volume-plumbing.isolator.{host}"), host, Action::Isolator);
        let id = format!("reboot.{host}");
        let exists = self.find(&id).is_some();
        if let (false, Some(pi)) = (exists, self.phase_index(PhaseName::Reboot)) {
            let step = StepRecord::new(id, self.node_name(host), Action::Reboot);
            let own = self.node_positions(scheduler_host).iter().find(|p| p.0 == pi).copied();
            match own {
                Some(pos) if host != scheduler_host => self.insert(pos, step),
                _ => {
                    make_room(&mut self.phases[pi].steps);
                    self.phases[pi].steps.push(step);
                    self.track((pi, self.phases[pi].steps.len() - 1));
                }
            }
        }
        self.push(PhaseName::Verify, format!("verify.{host}"), host, Action::Verify);
    }

    /// Whether the barriers let the step at `pos` start (its own status is not looked at), by a
    /// scan of the plan: the reference that [`Plan::ready`] and [`Barriers`] answer like.
    pub fn deps_complete(&self, pos: StepPos) -> bool {
        let (pi, si) = pos;
        let phase = &self.phases[pi];
        let node = &phase.steps[si].node;
        let done = |s: &StepRecord| s.status == StepStatus::Complete;
        for earlier in &self.phases[..pi] {
            let all_nodes =
                earlier.name == PhaseName::MdmCluster || phase.name == PhaseName::Reboot;
            let ok = if all_nodes {
                earlier.steps.iter().all(|s| s.passes(earlier.name))
            } else {
                earlier.steps.iter().filter(|s| &s.node == node).all(done)
            };
            if !ok {
                return false;
            }
        }
        let before = &phase.steps[..si];
        match phase.name.strategy() {
            Strategy::Serial => before.iter().all(|s| s.passes(phase.name)),
            Strategy::Parallel => before.iter().filter(|s| &s.node == node).all(done),
        }
    }

    /// The barriers of the whole plan, gathered in one pass, to ask [`Barriers::deps_complete`]
    /// of many steps: each answer then costs one look per phase instead of a scan of the plan.
    pub fn barriers(&self) -> Barriers<'_> {
        let phases = self
            .phases
            .iter()
            .map(|phase| {
                let mut first = None;
                let mut by_node: HashMap<&str, usize> = HashMap::new();
                for (si, step) in phase.steps.iter().enumerate() {
                    if step.status != StepStatus::Complete {
                        by_node.entry(step.node.as_ref()).or_insert(si);
                    }
                    if !step.passes(phase.name) {
                        first.get_or_insert(si);
                    }
                }
                PhaseBarrier { first, by_node }
            })
            .collect();
        Barriers { plan: self, phases }
    }

    /// Whether a serial phase already has a step in flight (only one at a time).
    pub fn serial_busy(&self, phase: usize) -> bool {
        self.phases[phase].name.strategy() == Strategy::Serial
            && self.index.phases[phase].in_flight > 0
    }
}

/// Where each phase's incomplete steps start: the first that holds up every node (not complete,
/// and not passed over as a lost node's) and the first incomplete one of each node.
#[derive(Debug)]
struct PhaseBarrier<'a> {
    first: Option<usize>,
    by_node: HashMap<&'a str, usize>,
}

/// A snapshot of the plan's barriers (see [`Plan::barriers`]); it answers exactly as
/// [`Plan::deps_complete`] would for the plan it was taken from.
#[derive(Debug)]
pub struct Barriers<'a> {
    plan: &'a Plan,
    phases: Vec<PhaseBarrier<'a>>,
}

impl Barriers<'_> {
    /// [`Plan::deps_complete`] for the plan this snapshot was taken from.
    pub fn deps_complete(&self, pos: StepPos) -> bool {
        let (pi, si) = pos;
        let phase = &self.plan.phases[pi];
        let node = phase.steps[si].node.as_ref();
        for (earlier, barrier) in self.plan.phases[..pi].iter().zip(&self.phases) {
            let all_nodes =
                earlier.name == PhaseName::MdmCluster || phase.name == PhaseName::Reboot;
            let open = if all_nodes {
                barrier.first.is_some()
            } else {
                barrier.by_node.contains_key(node)
            };
            if open {
                return false;
            }
        }
        let own = &self.phases[pi];
        let first = match phase.name.strategy() {
            Strategy::Serial => own.first,
            Strategy::Parallel => own.by_node.get(node).copied(),
        };
        first.is_none_or(|f| f >= si)
    }
}
