//! The emulator's state and rules: frameworks, agents, offers, executors, tasks and their
//! status-update streams, as the Mesos master and agent keep them. Every HTTP handler and timer
//! locks [`Core`], applies one input and pushes the resulting events into the subscribed
//! streams; nothing here awaits.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mesos::executor::Event as ExecEvent;
use mesos::scheduler::{self, Event};
use mesos::{
    AgentID, AgentInfo, Attribute, ContainerID, ContainerStatus, ExecutorID, ExecutorInfo,
    FrameworkCapabilityType, FrameworkID, FrameworkInfo, IpAddress, IpProtocol, MasterCapability,
    MasterCapabilityType, MasterInfo, NetworkInfo, Offer, OfferID, OperationType, TaskID, TaskInfo,
    TaskReason, TaskSource, TaskState, TaskStatus,
};
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Shared;
use super::record::{Api, Dir};
use super::resources::{Res, Style};
use super::spec::AgentSpec;

/// Mesos' cap on `refuse_seconds`: 365 days.
const MAX_REFUSE: f64 = 365.0 * 24.0 * 3600.0;
/// Cap of the status-update retry backoff.
const MAX_UPDATE_BACKOFF: Duration = Duration::from_secs(600);

pub(crate) type Tx = mpsc::UnboundedSender<Bytes>;

/// A framework's subscription stream.
#[derive(Debug)]
pub(crate) struct Sub {
    pub stream_id: String,
    tx: Tx,
    next_heartbeat: Instant,
    /// Fault: the connection stays open but nothing more is sent on it (no HEARTBEAT, no
    /// events), as when the master hangs or a middlebox swallows the stream.
    silent: bool,
}

#[derive(Debug)]
pub(crate) struct Framework {
    pub id: String,
    pub info: FrameworkInfo,
    pub sub: Option<Sub>,
    /// When the subscription dropped (failover timer running), unless the framework was
    /// recovered by a newly elected master (the timer is not persisted).
    pub disconnected_at: Option<Instant>,
    pub suppressed: BTreeSet<String>,
    /// agent id → refused until.
    pub filters: HashMap<String, Instant>,
}

impl Framework {
    fn roles(&self) -> Vec<String> {
        if self.info.has_capability(&FrameworkCapabilityType::MultiRole) {
            self.info.roles.clone()
        } else {
            vec![self.info.role.clone().unwrap_or_else(|| "*".into())]
        }
    }

    fn partition_aware(&self) -> bool {
        self.info.has_capability(&FrameworkCapabilityType::PartitionAware)
    }

    fn multi_role(&self) -> bool {
        self.info.has_capability(&FrameworkCapabilityType::MultiRole)
    }

    fn checkpoint(&self) -> bool {
        self.info.checkpoint.unwrap_or(false)
    }
}

#[derive(Debug)]
pub(crate) struct OfferRec {
    pub framework: String,
    pub agent: String,
    pub role: String,
    pub res: Res,
}

/// Agent lifecycle as the master sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AgentState {
    Registered,
    /// Restarted; executors may re-subscribe until the deadline, other calls get 503.
    Recovering {
        until: Instant,
    },
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: String,
    pub spec: AgentSpec,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub total: Res,
    /// Held by offers, tasks and executors.
    pub used: Res,
    pub state: AgentState,
    pub host_root: Option<PathBuf>,
    pub boot_id: String,
    pub executors: HashMap<(String, String), Executor>,
    pub reboot_at: Option<Instant>,
    pub reboots: u32,
    pub restarts: u32,
    /// Fault: reboots its host asks for bring the agent back under a new agent id.
    pub new_id_on_reboot: bool,
}

impl Agent {
    fn available(&self) -> Res {
        let mut a = self.total.clone();
        a.subtract(&self.used);
        a
    }

    pub fn info(&self) -> AgentInfo {
        AgentInfo {
            hostname: self.spec.hostname.clone(),
            port: Some(i32::from(self.port)),
            resources: self.total.to_resources(Style::Agent),
            attributes: attributes(&self.spec),
            id: Some(AgentID::new(self.id.clone())),
            domain: None,
        }
    }

    pub fn endpoint(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }
}

pub(crate) fn attributes(spec: &AgentSpec) -> Vec<Attribute> {
    spec.attributes.iter().map(|(n, v)| Attribute::text(n.clone(), v.clone())).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Fetching URIs / starting the process.
    Launching,
    Running,
    /// SHUTDOWN sent; killed at the deadline.
    Terminating {
        kill_at: Instant,
    },
}

#[derive(Debug)]
pub(crate) struct Executor {
    pub info: ExecutorInfo,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub res: Res,
    pub phase: Phase,
    pub sub: Option<(u64, Tx)>,
    pub next_heartbeat: Instant,
    pub ever_subscribed: bool,
    pub ever_delivered: bool,
    /// Tasks not yet delivered (LAUNCH sent after SUBSCRIBED).
    pub queued: Vec<TaskInfo>,
    pub tasks: BTreeSet<String>,
    pub pid: Option<u32>,
    pub kill: Option<oneshot::Sender<()>>,
    pub started: Instant,
    /// The command executor the agent plays itself for command tasks (no subscription).
    pub command_task: bool,
}

#[derive(Debug)]
pub(crate) struct Task {
    pub info: TaskInfo,
    pub framework: String,
    pub agent: String,
    pub executor: String,
    /// Latest state the agent knows.
    pub latest: TaskState,
    /// State of the last UPDATE delivered to the framework.
    pub sent_state: Option<TaskState>,
    pub container_status: Option<ContainerStatus>,
    /// The agent's ordered status-update stream; the head is in flight.
    pub stream: VecDeque<TaskStatus>,
    pub next_send: Option<Instant>,
    pub backoff: Duration,
    pub seen: HashSet<Vec<u8>>,
    pub res: Res,
    pub released: bool,
}

/// Fault switches that apply to status updates.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UpdateFaults {
    pub delay: Duration,
    pub duplicate: bool,
}

#[derive(Debug)]
pub(crate) struct Core {
    pub shared: Weak<Shared>,
    rng: rand::rngs::StdRng,
    pub master_id: String,
    /// Index into `masters` of the leader; `None` while no leader is elected.
    pub leader: Option<usize>,
    pub masters: Vec<SocketAddr>,
    pub frameworks: BTreeMap<String, Framework>,
    pub removed: HashSet<String>,
    next_framework: u64,
    pub agents: BTreeMap<String, Agent>,
    /// Hostname → the agent id registered for it now (a wiped agent comes back with a new id).
    hosts: HashMap<String, String>,
    next_agent: u64,
    pub offers: HashMap<String, OfferRec>,
    next_offer: u64,
    pub tasks: HashMap<(String, String), Task>,
    /// Tasks whose update stream is non-empty.
    pending: BTreeSet<(String, String)>,
    pub faults: UpdateFaults,
    next_allocation: Instant,
    allocation_cursor: usize,
    stream_gen: u64,
}

/// What a SUBSCRIBE produced: the stream to answer with.
pub(crate) struct Subscription {
    pub stream_id: String,
    pub rx: mpsc::UnboundedReceiver<Bytes>,
}

/// A synchronous refusal of a call: status code and plain-text body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub body: String,
}

pub(crate) fn refuse(status: u16, body: impl Into<String>) -> Refusal {
    Refusal { status, body: body.into() }
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn encode_sched(event: &Event) -> Vec<u8> {
    event.to_json()
}

impl Core {
    pub fn new(shared: Weak<Shared>, seed: u64) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let master_id = uuid_from(&mut rng);
        Self {
            shared,
            rng,
            master_id,
            leader: Some(0),
            masters: Vec::new(),
            frameworks: BTreeMap::new(),
            removed: HashSet::new(),
            next_framework: 0,
            agents: BTreeMap::new(),
            hosts: HashMap::new(),
            next_agent: 0,
            offers: HashMap::new(),
            next_offer: 0,
            tasks: HashMap::new(),
            pending: BTreeSet::new(),
            faults: UpdateFaults::default(),
            next_allocation: Instant::now(),
            allocation_cursor: 0,
            stream_gen: 0,
        }
    }

    fn shared(&self) -> Arc<Shared> {
        self.shared.upgrade().expect("the emulator outlives its core")
    }

    pub fn new_uuid(&mut self) -> String {
        uuid_from(&mut self.rng)
    }

    fn status_uuid(&mut self) -> mesos::Bytes {
        let mut b: [u8; 16] = self.rng.random();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        mesos::Bytes(b.to_vec())
    }

    fn new_agent_id(&mut self) -> String {
        let id = format!("{}-S{}", self.master_id, self.next_agent);
        self.next_agent += 1;
        id
    }

    /// Registers an agent listening on `ip:port`; returns its id.
    pub fn add_agent(
        &mut self,
        spec: AgentSpec,
        ip: Ipv4Addr,
        port: u16,
        host_root: Option<PathBuf>,
        boot_id: String,
    ) -> String {
        let id = self.new_agent_id();
        self.hosts.insert(spec.hostname.clone(), id.clone());
        let total =
            Res { cpus: spec.cpus, mem: spec.mem, disk: spec.disk, ports: spec.ports.clone() };
        self.agents.insert(
            id.clone(),
            Agent {
                id: id.clone(),
                spec,
                ip,
                port,
                total,
                used: Res::default(),
                state: AgentState::Registered,
                host_root,
                boot_id,
                executors: HashMap::new(),
                reboot_at: None,
                new_id_on_reboot: false,
                reboots: 0,
                restarts: 0,
            },
        );
        id
    }

    pub fn master_info(&self) -> MasterInfo {
        let addr = self
            .leader
            .and_then(|i| self.masters.get(i))
            .copied()
            .unwrap_or_else(|| ([127, 0, 0, 1], 5050).into());
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        let hostname = self.shared().settings.hostname.clone();
        MasterInfo {
            id: self.master_id.clone(),
            ip: u32::from_le_bytes(ip.octets()),
            port: u32::from(addr.port()),
            pid: Some(format!("master@{ip}:{}", addr.port())),
            hostname: Some(hostname.clone()),
            version: Some("1.12.0".into()),
            address: Some(mesos::Address {
                hostname: Some(hostname),
                ip: Some(ip.to_string()),
                port: i32::from(addr.port()),
            }),
            domain: None,
            capabilities: [
                MasterCapabilityType::AgentUpdate,
                MasterCapabilityType::AgentDraining,
                MasterCapabilityType::QuotaV2,
            ]
            .into_iter()
            .map(|kind| MasterCapability { kind })
            .collect(),
        }
    }

    // --------------------------------------------------------------------------------------
    // Event delivery

    fn record(&self, api: Api, dir: Dir, agent: Option<&str>, body: &[u8]) {
        if let Some(r) = &self.shared().recorder {
            r.record(api, dir, agent, body);
        }
    }

    /// Sends `event` on the framework's stream, if it is subscribed.
    fn send_to_framework(&mut self, fw: &str, event: &Event) -> bool {
        let Some(sub) = self.frameworks.get(fw).and_then(|f| f.sub.as_ref()) else { return false };
        if sub.silent {
            // Lost on the way: the master believes it sent it.
            return true;
        }
        let json = encode_sched(event);
        let ok = sub.tx.send(Bytes::from(mesos::recordio::encode(&json))).is_ok();
        if ok {
            self.record(Api::Scheduler, Dir::Event, None, &json);
        }
        ok
    }

    fn send_to_executor(&self, agent: &str, key: &(String, String), event: &ExecEvent) -> bool {
        let Some(tx) =
            self.agents.get(agent).and_then(|a| a.executors.get(key)).and_then(|e| e.sub.as_ref())
        else {
            return false;
        };
        let json = event.to_json();
        let ok = tx.1.send(Bytes::from(mesos::recordio::encode(&json))).is_ok();
        if ok {
            self.record(Api::Executor, Dir::Event, Some(agent), &json);
        }
        ok
    }

    // --------------------------------------------------------------------------------------
    // Scheduler API

    /// Checks a non-subscribe call's framework and stream id (400/403 as the master does).
    pub fn check_caller(&self, framework_id: &str, stream_id: Option<&str>) -> Result<(), Refusal> {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return Err(refuse(400, "Framework cannot be found"));
        };
        let Some(sub) = &fw.sub else {
            return Err(refuse(403, "Framework is not subscribed"));
        };
        match stream_id {
            None => Err(refuse(
                400,
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            )),
            Some(s) if s != sub.stream_id => Err(refuse(
                400,
                format!(
                    "The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID {framework_id}"
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// SUBSCRIBE: a new stream that starts with SUBSCRIBED + HEARTBEAT, or with ERROR (then
    /// closed) for the asynchronous refusals.
    pub fn subscribe(&mut self, call: &scheduler::Subscribe) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let stream_id = self.new_uuid();
        let mut info = call.framework_info.clone();
        let error = |core: &Core, message: String| {
            let event = Event::Error(scheduler::Error { message });
            let json = encode_sched(&event);
            core.record(Api::Scheduler, Dir::Event, None, &json);
            let _ = tx.send(Bytes::from(mesos::recordio::encode(&json)));
        };
        if let Some(msg) = validate_framework_info(&info, &call.suppressed_roles) {
            error(self, msg);
            return Subscription { stream_id, rx };
        }
        let id = match &info.id {
            Some(id) if self.removed.contains(&id.value) => {
                error(self, "Framework has been removed".into());
                return Subscription { stream_id, rx };
            }
            Some(id) => id.value.clone(),
            None => {
                let id = format!("{}-{:04}", self.master_id, self.next_framework);
                self.next_framework += 1;
                id
            }
        };
        info.id = Some(FrameworkID::new(id.clone()));
        let now = Instant::now();
        let sub = Sub {
            stream_id: stream_id.clone(),
            tx: tx.clone(),
            next_heartbeat: now + self.shared().settings.heartbeat,
            silent: false,
        };
        match self.frameworks.get_mut(&id) {
            Some(fw) => {
                if fw.info.principal.is_some()
                    && info.principal.is_some()
                    && fw.info.principal != info.principal
                {
                    error(self, "Changing framework's principal is not allowed".into());
                    return Subscription { stream_id, rx };
                }
                // user and checkpoint changes are ignored; the rest is updated.
                info.user = fw.info.user.clone();
                info.checkpoint = fw.info.checkpoint;
                if info.principal.is_none() {
                    info.principal = fw.info.principal.clone();
                }
                fw.info = info;
                fw.suppressed = call.suppressed_roles.iter().cloned().collect();
                fw.disconnected_at = None;
                if let Some(old) = fw.sub.take() {
                    let event =
                        Event::Error(scheduler::Error { message: "Framework failed over".into() });
                    let json = encode_sched(&event);
                    let _ = old.tx.send(Bytes::from(mesos::recordio::encode(&json)));
                    self.record(Api::Scheduler, Dir::Event, None, &json);
                }
                let fw = self.frameworks.get_mut(&id).expect("present");
                fw.sub = Some(sub);
            }
            None => {
                self.frameworks.insert(
                    id.clone(),
                    Framework {
                        id: id.clone(),
                        info,
                        sub: Some(sub),
                        disconnected_at: None,
                        suppressed: call.suppressed_roles.iter().cloned().collect(),
                        filters: HashMap::new(),
                    },
                );
            }
        }
        // Outstanding offers are discarded without RESCIND.
        self.remove_offers(|o| o.framework == id);
        let heartbeat = self.shared().settings.heartbeat.as_secs_f64();
        let subscribed = Event::Subscribed(scheduler::Subscribed {
            framework_id: FrameworkID::new(id.clone()),
            heartbeat_interval_seconds: Some(heartbeat),
            master_info: Some(self.master_info()),
        });
        self.send_to_framework(&id, &subscribed);
        self.send_to_framework(&id, &Event::Heartbeat);
        // Updates waiting for this framework go out again.
        let keys: Vec<_> = self.pending.iter().filter(|(f, _)| *f == id).cloned().collect();
        for key in keys {
            self.deliver_head(&key);
        }
        // As the real allocator's `addFramework`/`activateFramework`: an allocation runs now,
        // after SUBSCRIBED, not at the next interval.
        self.allocate(now);
        Subscription { stream_id, rx }
    }

    /// The subscription stream `stream_id` of `framework` was closed by the client.
    pub fn scheduler_stream_closed(&mut self, framework: &str, stream_id: &str) {
        let Some(fw) = self.frameworks.get_mut(framework) else { return };
        if fw.sub.as_ref().is_none_or(|s| s.stream_id != stream_id) {
            return;
        }
        tracing::info!(framework, "subscription closed; framework disconnected");
        self.disconnect_framework(framework);
    }

    fn disconnect_framework(&mut self, framework: &str) {
        let Some(fw) = self.frameworks.get_mut(framework) else { return };
        fw.sub = None;
        fw.disconnected_at = Some(Instant::now());
        let timeout = fw.info.failover_timeout.unwrap_or(0.0);
        self.remove_offers(|o| o.framework == framework);
        if timeout <= 0.0 {
            self.remove_framework(framework);
        }
    }

    /// Tears the framework down: executors shut down, tasks killed, id unusable.
    pub fn remove_framework(&mut self, framework: &str) {
        let Some(mut fw) = self.frameworks.remove(framework) else { return };
        tracing::info!(framework, "removing framework");
        fw.sub = None;
        self.removed.insert(framework.to_owned());
        self.remove_offers(|o| o.framework == framework);
        let grace = self.shared().settings.shutdown_grace;
        let agents: Vec<String> = self.agents.keys().cloned().collect();
        for agent in agents {
            let keys: Vec<_> = self.agents[&agent]
                .executors
                .keys()
                .filter(|(f, _)| f == framework)
                .cloned()
                .collect();
            for key in keys {
                self.shutdown_executor(&agent, &key, grace);
            }
        }
        let tasks: Vec<_> = self.tasks.keys().filter(|(f, _)| f == framework).cloned().collect();
        for key in tasks {
            self.forget_task(&key);
        }
    }

    pub fn teardown(&mut self, framework: &str) {
        self.remove_framework(framework);
    }

    pub fn suppress(&mut self, framework: &str, roles: &[String]) {
        let Some(fw) = self.frameworks.get_mut(framework) else { return };
        let all = fw.roles();
        if roles.iter().any(|r| !all.contains(r)) {
            return;
        }
        let roles = if roles.is_empty() { all } else { roles.to_vec() };
        fw.suppressed.extend(roles);
    }

    pub fn revive(&mut self, framework: &str, roles: &[String]) {
        let Some(fw) = self.frameworks.get_mut(framework) else { return };
        let all = fw.roles();
        if roles.iter().any(|r| !all.contains(r)) {
            return;
        }
        let roles = if roles.is_empty() { all } else { roles.to_vec() };
        for r in &roles {
            fw.suppressed.remove(r);
        }
        fw.filters.clear();
        // As the real allocator's `reviveOffers`: an allocation runs now, not at the next
        // interval (the periodic cycle keeps its own schedule).
        self.allocate(Instant::now());
    }

    fn refuse_until(filters: Option<&mesos::Filters>) -> Option<Instant> {
        let secs = filters
            .and_then(|f| f.refuse_seconds)
            .filter(|s| *s >= 0.0 && s.is_finite())
            .unwrap_or(5.0);
        let secs = secs.min(MAX_REFUSE);
        (secs > 0.0).then(|| Instant::now() + Duration::from_secs_f64(secs))
    }

    fn add_filter(&mut self, framework: &str, agent: &str, until: Option<Instant>) {
        if let (Some(until), Some(fw)) = (until, self.frameworks.get_mut(framework)) {
            let e = fw.filters.entry(agent.to_owned()).or_insert(until);
            *e = (*e).max(until);
        }
    }

    pub fn decline(
        &mut self,
        framework: &str,
        offer_ids: &[OfferID],
        filters: Option<&mesos::Filters>,
    ) {
        let until = Self::refuse_until(filters);
        for id in offer_ids {
            let owned = self.offers.get(&id.value).is_some_and(|o| o.framework == framework);
            if !owned {
                continue;
            }
            let offer = self.offers.remove(&id.value).expect("checked");
            if let Some(a) = self.agents.get_mut(&offer.agent) {
                a.used.subtract(&offer.res);
            }
            self.add_filter(framework, &offer.agent, until);
        }
    }

    fn remove_offers(&mut self, pred: impl Fn(&OfferRec) -> bool) -> Vec<(String, OfferRec)> {
        let ids: Vec<String> =
            self.offers.iter().filter(|(_, o)| pred(o)).map(|(id, _)| id.clone()).collect();
        let mut out = Vec::new();
        for id in ids {
            let o = self.offers.remove(&id).expect("listed");
            if let Some(a) = self.agents.get_mut(&o.agent) {
                a.used.subtract(&o.res);
            }
            out.push((id, o));
        }
        out
    }

    /// Rescinds (with RESCIND events) every offer of `agent`.
    fn rescind_agent_offers(&mut self, agent: &str) {
        for (id, o) in self.remove_offers(|o| o.agent == agent) {
            let event = Event::Rescind(scheduler::Rescind { offer_id: OfferID::new(id) });
            self.send_to_framework(&o.framework, &event);
        }
    }

    fn master_update(&mut self, framework: &str, mut status: TaskStatus) {
        status.source = Some(TaskSource::Master);
        status.timestamp = Some(now_secs());
        status.uuid = None;
        self.send_to_framework(framework, &Event::Update(scheduler::Update { status }));
    }

    fn lost_state(&self, framework: &str, partition_aware_state: TaskState) -> TaskState {
        if self.frameworks.get(framework).is_some_and(Framework::partition_aware) {
            partition_aware_state
        } else {
            TaskState::Lost
        }
    }

    /// ACCEPT: validates the offers and each LAUNCH, answers invalid ones with master-generated
    /// updates, and launches the rest.
    pub fn accept(&mut self, framework: &str, accept: &scheduler::Accept) {
        let launch_tasks = |accept: &scheduler::Accept| -> Vec<TaskInfo> {
            accept
                .operations
                .iter()
                .flat_map(|op| {
                    op.launch
                        .iter()
                        .flat_map(|l| l.task_infos.clone())
                        .chain(op.launch_group.iter().flat_map(|g| g.task_group.tasks.clone()))
                })
                .collect()
        };
        if let Err(why) = self.validate_offers(framework, &accept.offer_ids) {
            // Valid offers among them are recovered.
            for id in &accept.offer_ids {
                if self.offers.get(&id.value).is_some_and(|o| o.framework == framework) {
                    let o = self.offers.remove(&id.value).expect("checked");
                    if let Some(a) = self.agents.get_mut(&o.agent) {
                        a.used.subtract(&o.res);
                    }
                }
            }
            let state = self.lost_state(framework, TaskState::Dropped);
            for task in launch_tasks(accept) {
                let mut s = TaskStatus::new(task.task_id.clone(), state.clone());
                s.reason = Some(TaskReason::InvalidOffers);
                s.message = Some(format!("Task launched with invalid offers: {why}"));
                s.agent_id = Some(task.agent_id.clone());
                self.master_update(framework, s);
            }
            return;
        }
        let mut offered = Res::default();
        let mut agent = String::new();
        let mut role = String::new();
        for id in &accept.offer_ids {
            let o = self.offers.remove(&id.value).expect("validated");
            agent = o.agent.clone();
            role = o.role.clone();
            offered.add(&o.res);
            if let Some(a) = self.agents.get_mut(&o.agent) {
                a.used.subtract(&o.res);
            }
        }
        let mut remaining = offered;
        let mut seen_in_call: HashSet<String> = HashSet::new();
        for op in &accept.operations {
            let kind = op.kind.clone().unwrap_or(OperationType::Unknown);
            match kind {
                OperationType::Launch => {
                    for task in op.launch.iter().flat_map(|l| &l.task_infos) {
                        let result = if op.id.is_some() {
                            Err("Operation IDs are not supported for LAUNCH operations".to_owned())
                        } else {
                            self.validate_task(
                                framework,
                                &agent,
                                &role,
                                task,
                                &remaining,
                                &seen_in_call,
                            )
                        };
                        seen_in_call.insert(task.task_id.value.clone());
                        match result {
                            Ok((task, need)) => {
                                remaining.subtract(&need);
                                self.launch_task(framework, &agent, task, need);
                            }
                            Err(message) => {
                                let mut s = TaskStatus::new(task.task_id.clone(), TaskState::Error);
                                s.reason = Some(TaskReason::TaskInvalid);
                                s.message = Some(message);
                                s.agent_id = Some(task.agent_id.clone());
                                self.master_update(framework, s);
                            }
                        }
                    }
                }
                OperationType::LaunchGroup => {
                    for task in op.launch_group.iter().flat_map(|g| &g.task_group.tasks) {
                        let mut s = TaskStatus::new(task.task_id.clone(), TaskState::Error);
                        s.reason = Some(TaskReason::TaskGroupInvalid);
                        s.message = Some("LAUNCH_GROUP (the default executor) is not emulated by mini-mesos; launch tasks on a custom executor with LAUNCH".into());
                        s.agent_id = Some(task.agent_id.clone());
                        self.master_update(framework, s);
                    }
                }
                other => {
                    tracing::warn!(operation = %other, "offer operation not emulated; ignored");
                }
            }
        }
        let until = Self::refuse_until(accept.filters.as_ref());
        self.add_filter(framework, &agent, until);
    }

    fn validate_offers(&self, framework: &str, ids: &[OfferID]) -> Result<(), String> {
        if ids.is_empty() {
            return Err("No offers specified".into());
        }
        let mut seen = HashSet::new();
        let mut agent: Option<&str> = None;
        let mut role: Option<&str> = None;
        for id in ids {
            if !seen.insert(&id.value) {
                return Err(format!("Duplicate offer {} in the list", id.value));
            }
            let Some(o) = self.offers.get(&id.value) else {
                return Err(format!("Offer {} is no longer valid", id.value));
            };
            if o.framework != framework {
                return Err(format!(
                    "Offer {} has invalid framework {} while framework {framework} is expected",
                    id.value, o.framework
                ));
            }
            if agent.is_some_and(|a| a != o.agent) {
                return Err(format!(
                    "Aggregated offers must belong to one single agent. Offer {} uses agent {}",
                    id.value, o.agent
                ));
            }
            if role.is_some_and(|r| r != o.role) {
                return Err(format!(
                    "Aggregated offers must be allocated to the same role. Offer {} uses role {}",
                    id.value, o.role
                ));
            }
            agent = Some(&o.agent);
            role = Some(&o.role);
        }
        Ok(())
    }

    /// Checks one task of a LAUNCH like the master; returns the task (executor framework id
    /// filled in) and the resources it takes from the offer (its own plus a new executor's).
    fn validate_task(
        &self,
        framework: &str,
        agent: &str,
        role: &str,
        task: &TaskInfo,
        remaining: &Res,
        seen_in_call: &HashSet<String>,
    ) -> Result<(TaskInfo, Res), String> {
        let mut task = task.clone();
        validate_id("Task", &task.task_id.value)?;
        let key = (framework.to_owned(), task.task_id.value.clone());
        if self.tasks.contains_key(&key) || seen_in_call.contains(&task.task_id.value) {
            return Err(format!("Task has duplicate ID: {}", task.task_id.value));
        }
        if task.agent_id.value != agent {
            return Err(format!("Task uses invalid agent: {}", task.agent_id.value));
        }
        match (&task.executor, &task.command) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => return Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into()),
        }
        if task.resources.is_empty() {
            return Err("Task uses no resources".into());
        }
        check_allocation(&task.resources, role)?;
        let task_res = Res::from_resources(&task.resources)
            .map_err(|e| format!("Task uses invalid resources: {e}"))?;
        if let Some(limit) = task.limits.keys().find(|k| *k != "cpus" && *k != "mem") {
            return Err(format!("Task limits may only be set for cpus and mem, not '{limit}'"));
        }
        let mut need = task_res.clone();
        if let Some(exec) = &mut task.executor {
            validate_id("Executor", &exec.executor_id.value)?;
            match &exec.framework_id {
                Some(f) if f.value != framework => {
                    return Err(format!(
                        "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {framework})",
                        f.value
                    ));
                }
                Some(_) => {}
                None => exec.framework_id = Some(FrameworkID::new(framework.to_owned())),
            }
            if exec.command.is_none() && exec.kind != Some(mesos::ExecutorType::Default) {
                return Err("Executor of type CUSTOM must have a command".into());
            }
            check_allocation(&exec.resources, role)?;
            let exec_res = Res::from_resources(&exec.resources)
                .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
            let running = self.agents.get(agent).and_then(|a| {
                a.executors.get(&(framework.to_owned(), exec.executor_id.value.clone()))
            });
            match running {
                Some(existing) => {
                    if strip_allocation(&existing.info) != strip_allocation(exec) {
                        return Err(format!(
                            "ExecutorInfo is not compatible with existing ExecutorInfo: executor '{}' is already running on this agent with a different ExecutorInfo",
                            exec.executor_id.value
                        ));
                    }
                }
                None => need.add(&exec_res),
            }
        }
        if !remaining.contains(&need) {
            return Err(format!(
                "Total resources {} required by task and its executor is more than available {}",
                need.describe(),
                remaining.describe()
            ));
        }
        Ok((task, need))
    }

    fn launch_task(&mut self, framework: &str, agent_id: &str, task: TaskInfo, need: Res) {
        let shared = self.shared();
        let (exec_info, command_task) = match &task.executor {
            Some(e) => (e.clone(), false),
            None => {
                // The agent runs a command executor for command tasks (ExecutorID = TaskID).
                let mut e = ExecutorInfo::new(ExecutorID::new(task.task_id.value.clone()));
                e.framework_id = Some(FrameworkID::new(framework.to_owned()));
                e.command = task.command.clone();
                e.name = Some(format!("Command Executor (Task: {})", task.task_id.value));
                (e, true)
            }
        };
        let key = (framework.to_owned(), exec_info.executor_id.value.clone());
        let task_key = (framework.to_owned(), task.task_id.value.clone());
        let mut task_res = Res::from_resources(&task.resources).unwrap_or_default();
        if command_task {
            task_res = need.clone();
        }
        let mut exec_res = need.clone();
        exec_res.subtract(&task_res);
        let container_id = self.new_uuid();
        let Some(agent) = self.agents.get_mut(agent_id) else { return };
        agent.used.add(&need);
        let mut delivered_now = None;
        let mut spawn = None;
        match agent.executors.get_mut(&key) {
            Some(exec) => {
                exec.tasks.insert(task.task_id.value.clone());
                if exec.sub.is_some() && exec.phase == Phase::Running {
                    exec.ever_delivered = true;
                    delivered_now = Some(task.clone());
                } else {
                    exec.queued.push(task.clone());
                }
            }
            None => {
                let sandbox = shared
                    .settings
                    .work_dir
                    .join("agents")
                    .join(agent_id)
                    .join("frameworks")
                    .join(framework)
                    .join("executors")
                    .join(&exec_info.executor_id.value)
                    .join("runs")
                    .join(&container_id);
                let mut tasks = BTreeSet::new();
                tasks.insert(task.task_id.value.clone());
                agent.executors.insert(
                    key.clone(),
                    Executor {
                        info: exec_info.clone(),
                        container_id: container_id.clone(),
                        sandbox: sandbox.clone(),
                        res: exec_res,
                        phase: Phase::Launching,
                        sub: None,
                        next_heartbeat: Instant::now(),
                        ever_subscribed: false,
                        ever_delivered: false,
                        queued: vec![task.clone()],
                        tasks,
                        pid: None,
                        kill: None,
                        started: Instant::now(),
                        command_task,
                    },
                );
                spawn = Some(sandbox);
            }
        }
        self.tasks.insert(
            task_key,
            Task {
                info: task.clone(),
                framework: framework.to_owned(),
                agent: agent_id.to_owned(),
                executor: key.1.clone(),
                latest: TaskState::Staging,
                sent_state: None,
                container_status: None,
                stream: VecDeque::new(),
                next_send: None,
                backoff: shared.settings.update_retry,
                seen: HashSet::new(),
                res: task_res,
                released: false,
            },
        );
        if let Some(task) = delivered_now {
            self.send_to_executor(
                agent_id,
                &key,
                &ExecEvent::Launch(mesos::executor::Launch { task: with_allocation(task, "*") }),
            );
        }
        if let Some(sandbox) = spawn {
            let plan = self.launch_plan(agent_id, &key, sandbox);
            tokio::spawn(super::launch::run_executor(shared, plan));
        }
    }

    fn launch_plan(
        &self,
        agent_id: &str,
        key: &(String, String),
        sandbox: PathBuf,
    ) -> super::launch::Plan {
        let agent = &self.agents[agent_id];
        let exec = &agent.executors[key];
        let fw = self.frameworks.get(&key.0);
        let checkpoint = fw.is_some_and(Framework::checkpoint);
        let user = exec
            .info
            .command
            .as_ref()
            .and_then(|c| c.user.clone())
            .or_else(|| fw.map(|f| f.info.user.clone()));
        super::launch::Plan {
            agent: agent_id.to_owned(),
            agent_ip: agent.ip,
            agent_port: agent.port,
            framework: key.0.clone(),
            executor: key.1.clone(),
            container_id: exec.container_id.clone(),
            sandbox,
            command: exec.info.command.clone().unwrap_or_default(),
            checkpoint,
            shutdown_grace: exec
                .info
                .shutdown_grace_period
                .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64)),
            host_root: agent.host_root.clone(),
            user,
        }
    }

    pub fn kill(&mut self, framework: &str, kill: &scheduler::Kill) {
        let key = (framework.to_owned(), kill.task_id.value.clone());
        let Some(task) = self.tasks.get(&key) else {
            self.reconcile_unknown(framework, &kill.task_id, kill.agent_id.as_ref());
            return;
        };
        if kill.agent_id.as_ref().is_some_and(|a| a.value != task.agent) {
            return;
        }
        let agent = task.agent.clone();
        let exec_key = (framework.to_owned(), task.executor.clone());
        let Some(exec) = self.agents.get_mut(&agent).and_then(|a| a.executors.get_mut(&exec_key))
        else {
            return;
        };
        if let Some(pos) = exec.queued.iter().position(|t| t.task_id == kill.task_id) {
            // Not yet delivered: the agent answers TASK_KILLED itself.
            exec.queued.remove(pos);
            let mut s = TaskStatus::new(kill.task_id.clone(), TaskState::Killed);
            s.reason = Some(TaskReason::TaskKilledDuringLaunch);
            s.message = Some("Killed before delivery to the executor".into());
            s.executor_id = Some(ExecutorID::new(exec_key.1.clone()));
            self.agent_update(&agent, framework, s);
            return;
        }
        if exec.command_task {
            exec.kill.take().map(|k| k.send(()));
            return;
        }
        self.send_to_executor(
            &agent,
            &exec_key,
            &ExecEvent::Kill(mesos::executor::Kill {
                task_id: kill.task_id.clone(),
                kill_policy: kill.kill_policy,
            }),
        );
    }

    pub fn shutdown_call(&mut self, framework: &str, s: &scheduler::Shutdown) {
        let key = (framework.to_owned(), s.executor_id.value.clone());
        if self.agents.get(&s.agent_id.value).is_some_and(|a| a.executors.contains_key(&key)) {
            let grace = self.shared().settings.shutdown_grace;
            self.shutdown_executor(&s.agent_id.value, &key, grace);
        }
    }

    /// Sends SHUTDOWN and schedules the kill after `grace`.
    fn shutdown_executor(&mut self, agent: &str, key: &(String, String), grace: Duration) {
        let sent = self.send_to_executor(agent, key, &ExecEvent::Shutdown);
        let Some(exec) = self.agents.get_mut(agent).and_then(|a| a.executors.get_mut(key)) else {
            return;
        };
        let grace = exec
            .info
            .shutdown_grace_period
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(grace)
            .min(grace);
        let kill_at = if sent { Instant::now() + grace } else { Instant::now() };
        exec.phase = Phase::Terminating { kill_at };
    }

    pub fn acknowledge(&mut self, framework: &str, ack: &scheduler::Acknowledge) {
        let key = (framework.to_owned(), ack.task_id.value.clone());
        let Some(task) = self.tasks.get_mut(&key) else { return };
        if task.agent != ack.agent_id.value {
            return;
        }
        let matches = task.stream.front().is_some_and(|s| s.uuid.as_ref() == Some(&ack.uuid));
        if !matches {
            return;
        }
        let settings_retry = self.shared().settings.update_retry;
        let task = self.tasks.get_mut(&key).expect("present");
        task.stream.pop_front();
        task.backoff = settings_retry;
        task.next_send = None;
        if task.stream.is_empty() {
            self.pending.remove(&key);
            if task.latest.is_terminal() {
                self.forget_task(&key);
            }
        } else {
            self.deliver_head(&key);
        }
    }

    /// After its executor is gone: forgets a task whose updates were all acknowledged; one
    /// with updates in flight (its terminal update, or the TASK_LOST just queued) stays until
    /// the framework acknowledges them, as the master keeps a task until its terminal update is
    /// acknowledged — dropping it would lose e.g. a TASK_FINISHED sent just before a reboot.
    fn forget_unless_unacknowledged(&mut self, key: &(String, String)) {
        if self.tasks.get(key).is_none_or(|t| t.stream.is_empty()) {
            self.forget_task(key);
        }
    }

    /// Removes a task from the master and its executor's books.
    fn forget_task(&mut self, key: &(String, String)) {
        self.pending.remove(key);
        let Some(task) = self.tasks.remove(key) else { return };
        if let Some(agent) = self.agents.get_mut(&task.agent) {
            if !task.released {
                agent.used.subtract(&task.res);
            }
            if let Some(exec) =
                agent.executors.get_mut(&(task.framework.clone(), task.executor.clone()))
            {
                exec.tasks.remove(&task.info.task_id.value);
                exec.queued.retain(|t| t.task_id != task.info.task_id);
            }
        }
    }

    fn reconcile_status(task: &Task) -> TaskStatus {
        let mut s = TaskStatus::new(
            task.info.task_id.clone(),
            task.sent_state.clone().unwrap_or_else(|| task.latest.clone()),
        );
        s.message = Some("Reconciliation: Latest task state".into());
        s.reason = Some(TaskReason::Reconciliation);
        s.agent_id = Some(AgentID::new(task.agent.clone()));
        s.executor_id = task.info.executor.as_ref().map(|e| e.executor_id.clone());
        s.container_status = task.container_status.clone();
        s
    }

    fn reconcile_unknown(&mut self, framework: &str, task_id: &TaskID, agent_id: Option<&AgentID>) {
        let (pa_state, message) = match agent_id.map(|a| self.agents.get(&a.value)) {
            Some(Some(agent)) if matches!(agent.state, AgentState::Recovering { .. }) => return,
            Some(Some(_)) => (TaskState::Gone, "Reconciliation: Task is unknown to the agent"),
            _ => {
                if agent_id.is_none()
                    && self
                        .agents
                        .values()
                        .any(|a| matches!(a.state, AgentState::Recovering { .. }))
                {
                    return;
                }
                (TaskState::Unknown, "Reconciliation: Task is unknown")
            }
        };
        let mut s = TaskStatus::new(task_id.clone(), self.lost_state(framework, pa_state));
        s.message = Some(message.into());
        s.reason = Some(TaskReason::Reconciliation);
        s.agent_id = agent_id.cloned();
        self.master_update(framework, s);
    }

    pub fn reconcile(&mut self, framework: &str, r: &scheduler::Reconcile) {
        if r.tasks.is_empty() {
            let mut statuses: Vec<TaskStatus> = self
                .tasks
                .iter()
                .filter(|((f, _), _)| f == framework)
                .map(|(_, t)| Self::reconcile_status(t))
                .collect();
            statuses.sort_by(|a, b| a.task_id.value.cmp(&b.task_id.value));
            for s in statuses {
                self.master_update(framework, s);
            }
            return;
        }
        for t in &r.tasks {
            let key = (framework.to_owned(), t.task_id.value.clone());
            match self.tasks.get(&key) {
                Some(task) if t.agent_id.as_ref().is_none_or(|a| a.value == task.agent) => {
                    let s = Self::reconcile_status(task);
                    self.master_update(framework, s);
                }
                _ => self.reconcile_unknown(framework, &t.task_id, t.agent_id.as_ref()),
            }
        }
    }

    pub fn message(&mut self, framework: &str, m: &scheduler::Message) {
        let key = (framework.to_owned(), m.executor_id.value.clone());
        self.send_to_executor(
            &m.agent_id.value,
            &key,
            &ExecEvent::Message(mesos::executor::Message { data: m.data.clone() }),
        );
    }

    // --------------------------------------------------------------------------------------
    // Status-update streams (agent → master → framework)

    /// Queues an update generated by the agent itself (with a uuid, so it must be acked).
    fn agent_update(&mut self, agent: &str, framework: &str, mut status: TaskStatus) {
        status.source = Some(TaskSource::Agent);
        status.agent_id = Some(AgentID::new(agent.to_owned()));
        status.timestamp = Some(now_secs());
        status.uuid = Some(self.status_uuid());
        self.enqueue_update(framework, status);
    }

    /// Adds an update to its task's stream (de-duplicated by uuid) and releases resources at
    /// the first terminal state.
    fn enqueue_update(&mut self, framework: &str, status: TaskStatus) {
        let key = (framework.to_owned(), status.task_id.value.clone());
        let Some(task) = self.tasks.get_mut(&key) else { return };
        if let Some(uuid) = &status.uuid {
            if !task.seen.insert(uuid.0.clone()) {
                return;
            }
        }
        task.latest = status.state.clone();
        if status.container_status.is_some() {
            task.container_status = status.container_status.clone();
        }
        let release = status.state.is_terminal() && !task.released;
        if release {
            task.released = true;
        }
        let res = task.res.clone();
        let agent = task.agent.clone();
        task.stream.push_back(status);
        let first = task.stream.len() == 1;
        if release {
            if let Some(a) = self.agents.get_mut(&agent) {
                a.used.subtract(&res);
            }
        }
        self.pending.insert(key.clone());
        if first {
            self.deliver_head(&key);
        }
    }

    /// Sends the head of the task's stream now (or after the injected delay) and arms the retry.
    fn deliver_head(&mut self, key: &(String, String)) {
        let faults = self.faults;
        let Some(task) = self.tasks.get_mut(key) else { return };
        let Some(head) = task.stream.front().cloned() else { return };
        let now = Instant::now();
        if !faults.delay.is_zero() && task.next_send.is_none() {
            task.next_send = Some(now + faults.delay);
            return;
        }
        task.next_send = Some(now + task.backoff);
        let state = head.state.clone();
        let event = Event::Update(scheduler::Update { status: head });
        if self.send_to_framework(&key.0, &event) {
            if faults.duplicate {
                self.send_to_framework(&key.0, &event);
            }
            if let Some(task) = self.tasks.get_mut(key) {
                task.sent_state = Some(state);
            }
        }
    }

    // --------------------------------------------------------------------------------------
    // Executor API

    pub fn executor_refusal(
        &self,
        agent: &str,
        framework: &str,
        executor: &str,
        subscribing: bool,
    ) -> Result<(), Refusal> {
        let Some(a) = self.agents.get(agent) else {
            return Err(refuse(503, "Agent is not running"));
        };
        if !subscribing && matches!(a.state, AgentState::Recovering { .. }) {
            return Err(refuse(503, "Agent has not finished recovery"));
        }
        let known_fw = a.executors.keys().any(|(f, _)| f == framework);
        if !known_fw {
            return Err(refuse(400, "Framework cannot be found"));
        }
        let Some(exec) = a.executors.get(&(framework.to_owned(), executor.to_owned())) else {
            return Err(refuse(400, "Executor cannot be found"));
        };
        if !subscribing && exec.sub.is_none() {
            return Err(refuse(403, "Executor is not subscribed"));
        }
        Ok(())
    }

    /// Executor SUBSCRIBE: replays unacknowledged updates, sends SUBSCRIBED and queued tasks.
    pub fn executor_subscribe(
        &mut self,
        agent: &str,
        key: &(String, String),
        sub: &mesos::executor::Subscribe,
    ) -> (u64, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.stream_gen += 1;
        let generation = self.stream_gen;
        let framework_info = self.frameworks.get(&key.0).map(|f| f.info.clone());
        let partition_aware = self.frameworks.get(&key.0).is_some_and(Framework::partition_aware);
        let heartbeat = self.shared().settings.executor_heartbeat;
        let Some(a) = self.agents.get_mut(agent) else { return (generation, rx) };
        let agent_info = a.info();
        let Some(exec) = a.executors.get_mut(key) else { return (generation, rx) };
        let resubscribe = exec.ever_subscribed;
        exec.sub = Some((generation, tx));
        exec.next_heartbeat = Instant::now() + heartbeat;
        exec.ever_subscribed = true;
        if exec.phase == Phase::Launching {
            exec.phase = Phase::Running;
        }
        let terminating = matches!(exec.phase, Phase::Terminating { .. });
        let container_id = exec.container_id.clone();
        let info = exec.info.clone();
        let queued = std::mem::take(&mut exec.queued);
        let never_got_a_task = !exec.ever_delivered && queued.is_empty();
        if !queued.is_empty() {
            exec.ever_delivered = true;
        }
        let exec_tasks: Vec<String> = exec.tasks.iter().cloned().collect();
        for u in &sub.unacknowledged_updates {
            let mut status = u.status.clone();
            status.agent_id = Some(AgentID::new(agent.to_owned()));
            self.enqueue_update(&key.0, status);
        }
        if resubscribe {
            let listed: HashSet<&str> = sub
                .unacknowledged_tasks
                .iter()
                .map(|t| t.task_id.value.as_str())
                .chain(sub.unacknowledged_updates.iter().map(|u| u.status.task_id.value.as_str()))
                .collect();
            for t in exec_tasks {
                let staging = self
                    .tasks
                    .get(&(key.0.clone(), t.clone()))
                    .is_some_and(|t| t.latest == TaskState::Staging && t.stream.is_empty());
                if staging
                    && !listed.contains(t.as_str())
                    && !queued.iter().any(|q| q.task_id.value == t)
                {
                    let mut s = TaskStatus::new(
                        TaskID::new(t),
                        if partition_aware { TaskState::Dropped } else { TaskState::Lost },
                    );
                    s.reason = Some(TaskReason::AgentRestarted);
                    s.message = Some("Task launched during agent restart".into());
                    s.executor_id = Some(ExecutorID::new(key.1.clone()));
                    self.agent_update(agent, &key.0, s);
                }
            }
        }
        let Some(framework_info) = framework_info else {
            self.send_to_executor(agent, key, &ExecEvent::Shutdown);
            return (generation, rx);
        };
        let subscribed = ExecEvent::Subscribed(mesos::executor::Subscribed {
            executor_info: info,
            framework_info,
            agent_info,
            container_id: Some(ContainerID { value: container_id, parent: None }),
        });
        self.send_to_executor(agent, key, &subscribed);
        if terminating || (never_got_a_task && !resubscribe) {
            self.send_to_executor(agent, key, &ExecEvent::Shutdown);
            return (generation, rx);
        }
        for task in queued {
            self.send_to_executor(
                agent,
                key,
                &ExecEvent::Launch(mesos::executor::Launch { task: with_allocation(task, "*") }),
            );
        }
        (generation, rx)
    }

    pub fn executor_stream_closed(&mut self, agent: &str, key: &(String, String), generation: u64) {
        if let Some(exec) = self.agents.get_mut(agent).and_then(|a| a.executors.get_mut(key)) {
            if exec.sub.as_ref().is_some_and(|(g, _)| *g == generation) {
                exec.sub = None;
            }
        }
    }

    /// Executor UPDATE (already validated): ACKNOWLEDGED to the executor, then the stream.
    pub fn executor_update(&mut self, agent: &str, key: &(String, String), mut status: TaskStatus) {
        let ack = ExecEvent::Acknowledged(mesos::executor::Acknowledged {
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().unwrap_or_default(),
        });
        self.send_to_executor(agent, key, &ack);
        let Some(a) = self.agents.get(agent) else { return };
        let Some(exec) = a.executors.get(key) else { return };
        status.agent_id = Some(AgentID::new(agent.to_owned()));
        status.container_status = Some(ContainerStatus {
            container_id: Some(ContainerID { value: exec.container_id.clone(), parent: None }),
            network_infos: vec![NetworkInfo {
                ip_addresses: vec![IpAddress {
                    protocol: Some(IpProtocol::IPv4),
                    ip_address: Some(a.ip.to_string()),
                }],
                ..NetworkInfo::default()
            }],
            cgroup_info: None,
            executor_pid: exec.pid,
        });
        self.enqueue_update(&key.0, status);
    }

    pub fn executor_message(&mut self, agent: &str, key: &(String, String), data: mesos::Bytes) {
        let event = Event::Message(scheduler::Message {
            agent_id: AgentID::new(agent.to_owned()),
            executor_id: ExecutorID::new(key.1.clone()),
            data,
        });
        self.send_to_framework(&key.0, &event);
    }

    /// The launcher started the process (or found the executor gone: then it is killed).
    pub fn executor_started(
        &mut self,
        agent: &str,
        key: &(String, String),
        container_id: &str,
        pid: Option<u32>,
        kill: oneshot::Sender<()>,
    ) {
        let exec = self
            .agents
            .get_mut(agent)
            .and_then(|a| a.executors.get_mut(key))
            .filter(|e| e.container_id == container_id);
        match exec {
            Some(exec) => {
                exec.pid = pid;
                exec.kill = Some(kill);
                if exec.command_task {
                    exec.phase = Phase::Running;
                    let task_id = exec.queued.first().map(|t| t.task_id.clone());
                    exec.queued.clear();
                    exec.ever_delivered = true;
                    if let Some(task_id) = task_id {
                        let mut s = TaskStatus::new(task_id, TaskState::Running);
                        s.executor_id = Some(ExecutorID::new(key.1.clone()));
                        self.command_update(agent, key, s);
                    }
                }
            }
            None => {
                let _ = kill.send(());
            }
        }
    }

    /// An update the emulated command executor sends for a command task.
    fn command_update(&mut self, agent: &str, key: &(String, String), mut status: TaskStatus) {
        status.source = Some(TaskSource::Executor);
        status.timestamp = Some(now_secs());
        status.uuid = Some(self.status_uuid());
        self.executor_update(agent, key, status);
    }

    /// Fetching or spawning failed: TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED for its tasks.
    pub fn executor_launch_failed(
        &mut self,
        agent: &str,
        key: &(String, String),
        container_id: &str,
        message: String,
    ) {
        let matches = self
            .agents
            .get(agent)
            .and_then(|a| a.executors.get(key))
            .is_some_and(|e| e.container_id == container_id);
        if !matches {
            return;
        }
        self.terminate_executor(agent, key, |_| {
            (TaskState::Failed, TaskReason::ContainerLaunchFailed, message.clone())
        });
    }

    /// The executor process exited with the raw wait `status`.
    pub fn executor_exited(
        &mut self,
        agent: &str,
        key: &(String, String),
        container_id: &str,
        status: i32,
    ) {
        let Some(exec) = self
            .agents
            .get(agent)
            .and_then(|a| a.executors.get(key))
            .filter(|e| e.container_id == container_id)
        else {
            return;
        };
        if exec.command_task {
            // The command executor reports how the command ended.
            let killed = status & 0x7f != 0;
            let code = (status >> 8) & 0xff;
            let (state, message) = if killed {
                (TaskState::Killed, "Command terminated with signal".to_owned())
            } else if code == 0 {
                (TaskState::Finished, "Command exited with status 0".to_owned())
            } else {
                (TaskState::Failed, format!("Command exited with status {code}"))
            };
            let tasks: Vec<String> = exec.tasks.iter().cloned().collect();
            for t in tasks {
                let mut s = TaskStatus::new(TaskID::new(t), state.clone());
                s.message = Some(message.clone());
                s.executor_id = Some(ExecutorID::new(key.1.clone()));
                self.command_update(agent, key, s);
            }
        }
        let event = Event::Failure(scheduler::Failure {
            agent_id: Some(AgentID::new(agent.to_owned())),
            executor_id: Some(ExecutorID::new(key.1.clone())),
            status: Some(status),
        });
        self.terminate_executor(agent, key, |_| {
            (TaskState::Failed, TaskReason::ExecutorTerminated, "Executor terminated".into())
        });
        self.send_to_framework(&key.0, &event);
    }

    /// Removes the executor, giving each of its non-terminal tasks an agent-generated update.
    fn terminate_executor(
        &mut self,
        agent: &str,
        key: &(String, String),
        outcome: impl Fn(&str) -> (TaskState, TaskReason, String),
    ) {
        let Some(a) = self.agents.get_mut(agent) else { return };
        let Some(mut exec) = a.executors.remove(key) else { return };
        a.used.subtract(&exec.res);
        if let Some(k) = exec.kill.take() {
            let _ = k.send(());
        }
        for t in &exec.tasks {
            let tkey = (key.0.clone(), t.clone());
            let Some(task) = self.tasks.get(&tkey) else { continue };
            if task.latest.is_terminal() {
                continue;
            }
            let (state, reason, message) = outcome(t);
            let mut s = TaskStatus::new(TaskID::new(t.clone()), state);
            s.reason = Some(reason);
            s.message = Some(message);
            s.executor_id = Some(ExecutorID::new(key.1.clone()));
            self.agent_update(agent, &key.0, s);
        }
    }

    // --------------------------------------------------------------------------------------
    // Timers

    /// Runs everything that is due: heartbeats, update retries, failover timeouts, executor
    /// timeouts, agent recovery, reboots, and the allocation cycle.
    pub fn tick(&mut self) {
        let now = Instant::now();
        let settings_heartbeat = self.shared().settings.heartbeat;
        let hb: Vec<String> = self
            .frameworks
            .values_mut()
            .filter_map(|f| {
                let sub = f.sub.as_mut()?;
                (sub.next_heartbeat <= now).then(|| {
                    sub.next_heartbeat = now + settings_heartbeat;
                    f.id.clone()
                })
            })
            .collect();
        for f in hb {
            self.send_to_framework(&f, &Event::Heartbeat);
        }
        // Update retries (and delayed first deliveries).
        let due: Vec<(String, String)> = self
            .pending
            .iter()
            .filter(|k| self.tasks.get(*k).and_then(|t| t.next_send).is_some_and(|at| at <= now))
            .cloned()
            .collect();
        for key in due {
            if self.frameworks.get(&key.0).is_none_or(|f| f.sub.is_none()) {
                continue;
            }
            if let Some(task) = self.tasks.get_mut(&key) {
                if task.sent_state.is_some() || self.faults.delay.is_zero() {
                    task.backoff = (task.backoff * 2).min(MAX_UPDATE_BACKOFF);
                }
                task.next_send = Some(now);
            }
            let faults = std::mem::take(&mut self.faults.delay);
            self.deliver_head(&key);
            self.faults.delay = faults;
        }
        // Failover timeouts.
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| {
                f.sub.is_none()
                    && f.disconnected_at.is_some_and(|at| {
                        let t = f.info.failover_timeout.unwrap_or(0.0).clamp(0.0, 1e9);
                        now >= at + Duration::from_secs_f64(t)
                    })
            })
            .map(|f| f.id.clone())
            .collect();
        for f in expired {
            self.remove_framework(&f);
        }
        self.executor_timers(now);
        self.agent_timers(now);
        if now >= self.next_allocation {
            self.next_allocation = now + self.shared().settings.allocation;
            self.allocate(now);
        }
    }

    fn executor_timers(&mut self, now: Instant) {
        let registration = self.shared().settings.executor_registration_timeout;
        let heartbeat = self.shared().settings.executor_heartbeat;
        let mut beats = Vec::new();
        for (agent_id, a) in &mut self.agents {
            for (key, e) in &mut a.executors {
                if e.sub.is_some() && e.next_heartbeat <= now {
                    e.next_heartbeat = now + heartbeat;
                    beats.push((agent_id.clone(), key.clone()));
                }
            }
        }
        for (agent, key) in beats {
            self.send_to_executor(&agent, &key, &ExecEvent::Heartbeat);
        }
        let mut kill = Vec::new();
        let mut timed_out = Vec::new();
        for (agent_id, a) in &self.agents {
            for (key, e) in &a.executors {
                match e.phase {
                    Phase::Terminating { kill_at } if kill_at <= now => {
                        kill.push((agent_id.clone(), key.clone()))
                    }
                    Phase::Launching
                        if e.pid.is_some()
                            && !e.command_task
                            && now >= e.started + registration =>
                    {
                        timed_out.push((agent_id.clone(), key.clone()))
                    }
                    _ => {}
                }
            }
        }
        for (agent, key) in kill {
            if let Some(e) = self.agents.get_mut(&agent).and_then(|a| a.executors.get_mut(&key)) {
                if let Some(k) = e.kill.take() {
                    let _ = k.send(());
                } else if e.pid.is_none() {
                    self.terminate_executor(&agent, &key, |_| {
                        (
                            TaskState::Killed,
                            TaskReason::ExecutorTerminated,
                            "Executor shut down".into(),
                        )
                    });
                }
            }
        }
        for (agent, key) in timed_out {
            self.terminate_executor(&agent, &key, |_| {
                (
                    TaskState::Failed,
                    TaskReason::ExecutorRegistrationTimeout,
                    "Executor did not register within the registration timeout".into(),
                )
            });
        }
    }

    fn agent_timers(&mut self, now: Instant) {
        let recovered: Vec<String> = self
            .agents
            .values()
            .filter(|a| matches!(a.state, AgentState::Recovering { until } if until <= now))
            .map(|a| a.id.clone())
            .collect();
        for agent in recovered {
            let gone: Vec<(String, String)> = self.agents[&agent]
                .executors
                .iter()
                .filter(|(_, e)| e.sub.is_none() && !e.command_task)
                .map(|(k, _)| k.clone())
                .collect();
            for key in gone {
                let pa = self.frameworks.get(&key.0).is_some_and(Framework::partition_aware);
                self.terminate_executor(&agent, &key, |_| {
                    (
                        if pa { TaskState::Gone } else { TaskState::Lost },
                        TaskReason::ExecutorReregistrationTimeout,
                        "Executor did not re-register within the re-registration timeout".into(),
                    )
                });
            }
            if let Some(a) = self.agents.get_mut(&agent) {
                a.state = AgentState::Registered;
            }
        }
        // Reboots requested through the host stand-in (`reboot`/`shutdown -r`).
        let delay = self.shared().settings.reboot_delay;
        for a in self.agents.values_mut() {
            if a.reboot_at.is_none() {
                if let Some(root) = &a.host_root {
                    if crate::standins::host::reboot_requested(root) {
                        a.reboot_at = Some(now + delay);
                    }
                }
            }
        }
        let due: Vec<String> = self
            .agents
            .values()
            .filter(|a| a.reboot_at.is_some_and(|at| at <= now))
            .map(|a| a.id.clone())
            .collect();
        for agent in due {
            let result = if self.agents[&agent].new_id_on_reboot {
                self.reboot_agent_new_id(&agent).map(|_| ())
            } else {
                self.reboot_agent(&agent).map(|_| ())
            };
            if let Err(e) = result {
                tracing::warn!(agent, error = %e, "simulated reboot failed");
            }
        }
    }

    /// One allocation cycle: each registered agent's available resources go to one eligible
    /// framework (round robin), grouped into one OFFERS event per framework.
    pub fn allocate(&mut self, now: Instant) {
        let frameworks: Vec<String> =
            self.frameworks.values().filter(|f| f.sub.is_some()).map(|f| f.id.clone()).collect();
        if frameworks.is_empty() {
            return;
        }
        let mut batches: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        let mut held: HashSet<(String, String)> =
            self.offers.values().map(|o| (o.agent.clone(), o.framework.clone())).collect();
        let agent_ids: Vec<String> = self.agents.keys().cloned().collect();
        let n = frameworks.len();
        for agent_id in agent_ids {
            let a = &self.agents[&agent_id];
            if a.state != AgentState::Registered || a.reboot_at.is_some() {
                continue;
            }
            let avail = a.available();
            if avail.is_empty() {
                continue;
            }
            self.allocation_cursor = self.allocation_cursor.wrapping_add(1);
            let mut chosen = None;
            for i in 0..n {
                let f = &self.frameworks[&frameworks[(self.allocation_cursor + i) % n]];
                if f.filters.get(&agent_id).is_some_and(|until| *until > now) {
                    continue;
                }
                if held.contains(&(agent_id.clone(), f.id.clone())) {
                    continue;
                }
                if let Some(role) = f.roles().into_iter().find(|r| !f.suppressed.contains(r)) {
                    chosen = Some((f.id.clone(), role));
                    break;
                }
            }
            let Some((fw, role)) = chosen else { continue };
            held.insert((agent_id.clone(), fw.clone()));
            let offer_id = format!("{}-O{}", self.master_id, self.next_offer);
            self.next_offer += 1;
            let f = &self.frameworks[&fw];
            let style = if f.multi_role() { Style::Allocated(&role) } else { Style::LegacyRole };
            let a = &self.agents[&agent_id];
            let mut executor_ids: Vec<ExecutorID> = a
                .executors
                .keys()
                .filter(|(f, _)| *f == fw)
                .map(|(_, e)| ExecutorID::new(e.clone()))
                .collect();
            executor_ids.sort();
            let offer = Offer {
                id: OfferID::new(offer_id.clone()),
                framework_id: FrameworkID::new(fw.clone()),
                agent_id: AgentID::new(agent_id.clone()),
                hostname: a.spec.hostname.clone(),
                url: Some(mesos::Url {
                    scheme: "http".into(),
                    address: mesos::Address {
                        hostname: Some(a.spec.hostname.clone()),
                        ip: Some(a.ip.to_string()),
                        port: i32::from(a.port),
                    },
                    path: Some("/slave(1)".into()),
                    query: Vec::new(),
                    fragment: None,
                }),
                domain: None,
                resources: avail.to_resources(style),
                attributes: attributes(&a.spec),
                executor_ids,
                unavailability: None,
                allocation_info: f
                    .multi_role()
                    .then(|| mesos::AllocationInfo { role: Some(role.clone()) }),
            };
            self.agents.get_mut(&agent_id).expect("listed").used.add(&avail);
            self.offers.insert(
                offer_id,
                OfferRec { framework: fw.clone(), agent: agent_id.clone(), role, res: avail },
            );
            batches.entry(fw).or_default().push(offer);
        }
        for (fw, offers) in batches {
            self.send_to_framework(&fw, &Event::Offers(scheduler::Offers { offers }));
        }
    }

    // --------------------------------------------------------------------------------------
    // Faults

    /// Closes the framework's subscription stream as a network failure would.
    pub fn drop_subscription(&mut self, framework: &str) -> bool {
        if self.frameworks.get(framework).is_some_and(|f| f.sub.is_some()) {
            self.disconnect_framework(framework);
            true
        } else {
            false
        }
    }

    /// UPDATE_FRAMEWORK, all or nothing: 400 for a FrameworkInfo SUBSCRIBE would refuse (roles,
    /// suppressed roles not among them) or a changed user, checkpoint or principal; 409 if the
    /// framework is gone by the time the update is applied (the real master checks the caller,
    /// then applies asynchronously; here one lock makes that a can't-happen kept for fidelity).
    pub fn update_framework(
        &mut self,
        framework: &str,
        u: &scheduler::UpdateFramework,
    ) -> Result<(), Refusal> {
        let Some(f) = self.frameworks.get_mut(framework) else {
            return Err(refuse(409, format!("Framework {framework} disappeared")));
        };
        if let Some(msg) = validate_framework_info(&u.framework_info, &u.suppressed_roles) {
            return Err(refuse(400, msg));
        }
        if u.framework_info.user != f.info.user || u.framework_info.checkpoint != f.info.checkpoint
        {
            return Err(refuse(
                400,
                "Updating 'FrameworkInfo.user' or 'FrameworkInfo.checkpoint' is unsupported",
            ));
        }
        if u.framework_info.principal != f.info.principal {
            return Err(refuse(400, "Changing framework's principal is not allowed"));
        }
        f.info = u.framework_info.clone();
        f.suppressed = u.suppressed_roles.iter().cloned().collect();
        Ok(())
    }

    /// The master keeps the framework's subscription connection open but sends nothing more on
    /// it: no HEARTBEAT, no events (they are lost, as on a hung connection; status updates are
    /// retried by the agents as usual). A new SUBSCRIBE gets a working stream.
    pub fn silence_subscription(&mut self, framework: &str) -> bool {
        match self.frameworks.get_mut(framework).and_then(|f| f.sub.as_mut()) {
            Some(sub) => {
                sub.silent = true;
                true
            }
            None => false,
        }
    }

    /// The master removes `agent` from its registry: its offers are rescinded, its executors
    /// killed (the host is gone), its tasks not yet reported terminal to their framework get
    /// TASK_LOST (TASK_GONE for PARTITION_AWARE frameworks; source master, reason
    /// REASON_AGENT_REMOVED, no uuid) and are forgotten with the agent's update streams, then
    /// every subscribed framework gets FAILURE with only the agent id. Returns the agent.
    fn remove_agent_record(&mut self, agent: &str, message: &str) -> Result<Agent, String> {
        if !self.agents.contains_key(agent) {
            return Err(format!("no agent {agent}"));
        }
        self.rescind_agent_offers(agent);
        let keys: Vec<(String, String)> = self.agents[agent].executors.keys().cloned().collect();
        let mut pids = Vec::new();
        for key in &keys {
            let a = self.agents.get_mut(agent).expect("checked");
            let mut exec = a.executors.remove(key).expect("listed");
            a.used.subtract(&exec.res);
            if let Some(k) = exec.kill.take() {
                let _ = k.send(());
                pids.extend(exec.pid);
            }
        }
        super::process::kill_groups(&pids);
        let mut tasks: Vec<(String, String)> =
            self.tasks.iter().filter(|(_, t)| t.agent == agent).map(|(k, _)| k.clone()).collect();
        tasks.sort();
        for key in tasks {
            let task = &self.tasks[&key];
            if !task.sent_state.as_ref().is_some_and(TaskState::is_terminal) {
                let mut s = TaskStatus::new(
                    task.info.task_id.clone(),
                    self.lost_state(&key.0, TaskState::Gone),
                );
                s.reason = Some(TaskReason::AgentRemoved);
                s.message = Some(message.to_owned());
                s.agent_id = Some(AgentID::new(agent.to_owned()));
                s.executor_id = Some(ExecutorID::new(task.executor.clone()));
                self.master_update(&key.0, s);
            }
            self.forget_task(&key);
        }
        let mut a = self.agents.remove(agent).expect("checked");
        a.used = Res::default();
        if self.hosts.get(&a.spec.hostname).is_some_and(|id| id == agent) {
            self.hosts.remove(&a.spec.hostname);
        }
        let failure = Event::Failure(scheduler::Failure {
            agent_id: Some(AgentID::new(agent.to_owned())),
            executor_id: None,
            status: None,
        });
        let subscribed: Vec<String> =
            self.frameworks.values().filter(|f| f.sub.is_some()).map(|f| f.id.clone()).collect();
        for f in subscribed {
            self.send_to_framework(&f, &failure);
        }
        tracing::info!(agent, hostname = %a.spec.hostname, "agent removed: {message}");
        Ok(a)
    }

    /// The agent is removed for good (the host died): see [`Core::remove_agent_record`]. It
    /// never offers again; its executor API answers 503.
    pub fn remove_agent(&mut self, agent: &str) -> Result<(), String> {
        self.remove_agent_record(
            agent,
            "Agent removed: the host stopped responding to health checks",
        )?;
        Ok(())
    }

    /// The host reboots and its agent comes back **with a new agent id**, as an agent does when
    /// its work dir (`meta/slaves/latest`) did not survive: the master removes the old agent
    /// (see [`Core::remove_agent_record`]: its tasks TASK_LOST, FAILURE with the old id) and
    /// registers the new one at the same address. Returns the new agent id and boot id.
    pub fn reboot_agent_new_id(&mut self, agent: &str) -> Result<(String, String), String> {
        let mut a = self.remove_agent_record(
            agent,
            "Agent removed: a new agent registered at the same address (its host rebooted)",
        )?;
        let boot_id = match &a.host_root {
            Some(root) => crate::standins::host::complete_reboot(root)
                .map_err(|e| format!("cannot reboot the simulated host {}: {e}", root.display()))?,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let id = self.new_agent_id();
        a.id = id.clone();
        a.boot_id = boot_id.clone();
        a.reboot_at = None;
        a.reboots += 1;
        a.state = AgentState::Registered;
        self.hosts.insert(a.spec.hostname.clone(), id.clone());
        self.agents.insert(id.clone(), a);
        Ok((id, boot_id))
    }

    /// A new master takes over: streams closed, offers gone, a new master id; with a standby
    /// master, the roles swap so the old address answers 307.
    pub fn fail_over(&mut self) {
        self.master_id = self.new_uuid();
        self.remove_offers(|_| true);
        for f in self.frameworks.values_mut() {
            f.sub = None;
            // A new leader does not know failover timeouts: recovered frameworks wait.
            f.disconnected_at = None;
        }
        if self.masters.len() > 1 {
            self.leader = self.leader.map(|l| (l + 1) % self.masters.len());
        }
    }

    /// The agent process restarts: executor streams close; checkpointing frameworks' executors
    /// may re-subscribe within the re-registration timeout; others are killed.
    pub fn restart_agent(&mut self, agent: &str) -> Result<(), String> {
        let timeout = self.shared().settings.executor_reregistration_timeout;
        if !self.agents.contains_key(agent) {
            return Err(format!("no agent {agent}"));
        }
        self.rescind_agent_offers(agent);
        let keys: Vec<(String, String)> = self.agents[agent].executors.keys().cloned().collect();
        for key in keys {
            let checkpoint = self.frameworks.get(&key.0).is_some_and(Framework::checkpoint);
            let a = self.agents.get_mut(agent).expect("checked");
            let exec = a.executors.get_mut(&key).expect("listed");
            exec.sub = None;
            if !checkpoint || exec.command_task {
                let pa = self.frameworks.get(&key.0).is_some_and(Framework::partition_aware);
                let tasks: Vec<String> = exec.tasks.iter().cloned().collect();
                if let Some(k) = exec.kill.take() {
                    let _ = k.send(());
                }
                let exec = a.executors.remove(&key).expect("listed");
                a.used.subtract(&exec.res);
                for t in tasks {
                    let tkey = (key.0.clone(), t.clone());
                    if self.tasks.get(&tkey).is_some_and(|t| !t.latest.is_terminal()) {
                        let mut s = TaskStatus::new(
                            TaskID::new(t),
                            if pa { TaskState::Gone } else { TaskState::Lost },
                        );
                        s.reason = Some(TaskReason::AgentRestarted);
                        s.message = Some("Agent restarted; executors of frameworks that do not checkpoint are not recovered".into());
                        s.agent_id = Some(AgentID::new(agent.to_owned()));
                        s.executor_id = Some(ExecutorID::new(key.1.clone()));
                        self.master_update(&key.0, s);
                    }
                    self.forget_unless_unacknowledged(&tkey);
                }
            }
        }
        let a = self.agents.get_mut(agent).expect("checked");
        // One second of slack over the re-registration timeout: executors wait a random time up
        // to MESOS_SUBSCRIPTION_BACKOFF_MAX (= the timeout), so without it tests would race.
        a.state =
            AgentState::Recovering { until: Instant::now() + timeout + Duration::from_secs(1) };
        a.restarts += 1;
        Ok(())
    }

    /// The host reboots: executors are killed, the host gets a new boot id, and the agent comes
    /// back with the same agent id (as a real agent does when its work dir survives the reboot).
    /// Its tasks are reported lost (gone for PARTITION_AWARE frameworks) by the master.
    pub fn reboot_agent(&mut self, agent: &str) -> Result<String, String> {
        if !self.agents.contains_key(agent) {
            return Err(format!("no agent {agent}"));
        }
        self.rescind_agent_offers(agent);
        let keys: Vec<(String, String)> = self.agents[agent].executors.keys().cloned().collect();
        for key in keys {
            let pa = self.frameworks.get(&key.0).is_some_and(Framework::partition_aware);
            let a = self.agents.get_mut(agent).expect("checked");
            let mut exec = a.executors.remove(&key).expect("listed");
            a.used.subtract(&exec.res);
            if let Some(k) = exec.kill.take() {
                let _ = k.send(());
            }
            for t in exec.tasks {
                let tkey = (key.0.clone(), t.clone());
                if self.tasks.get(&tkey).is_some_and(|t| !t.latest.is_terminal()) {
                    let mut s = TaskStatus::new(
                        TaskID::new(t),
                        if pa { TaskState::Gone } else { TaskState::Lost },
                    );
                    s.reason = Some(TaskReason::AgentRestarted);
                    s.message = Some("Agent host rebooted".into());
                    s.agent_id = Some(AgentID::new(agent.to_owned()));
                    s.executor_id = Some(ExecutorID::new(key.1.clone()));
                    self.master_update(&key.0, s);
                }
                self.forget_unless_unacknowledged(&tkey);
            }
        }
        let a = self.agents.get_mut(agent).expect("checked");
        let boot_id = match &a.host_root {
            Some(root) => crate::standins::host::complete_reboot(root)
                .map_err(|e| format!("cannot reboot the simulated host {}: {e}", root.display()))?,
            None => uuid::Uuid::new_v4().to_string(),
        };
        a.boot_id = boot_id.clone();
        a.reboot_at = None;
        a.reboots += 1;
        a.state = AgentState::Registered;
        Ok(boot_id)
    }

    /// Kills every executor process group (emulator shutdown).
    pub fn kill_all(&mut self) {
        let mut pids = Vec::new();
        for a in self.agents.values_mut() {
            for e in a.executors.values_mut() {
                if let Some(k) = e.kill.take() {
                    let _ = k.send(());
                    pids.extend(e.pid);
                }
                e.sub = None;
            }
        }
        super::process::kill_groups(&pids);
        for f in self.frameworks.values_mut() {
            f.sub = None;
        }
    }

    pub fn agent_id_by_name(&self, name: &str) -> Option<String> {
        if self.agents.contains_key(name) {
            return Some(name.to_owned());
        }
        self.hosts.get(name).cloned()
    }

    /// The id of the agent registered for `hostname` now, if any.
    pub fn agent_id_of_host(&self, hostname: &str) -> Option<&str> {
        self.hosts.get(hostname).map(String::as_str)
    }
}

fn uuid_from(rng: &mut rand::rngs::StdRng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Task and executor ids: what the master refuses.
fn validate_id(what: &str, id: &str) -> Result<(), String> {
    let problem = if id.is_empty() {
        Some("ID must not be empty")
    } else if id == "." || id == ".." {
        Some("'.' and '..' are disallowed")
    } else if id.contains('/') || id.contains('\\') {
        Some("'/' and '\\' are disallowed")
    } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("whitespace and control characters are disallowed")
    } else if id.len() > 255 {
        Some("ID must be at most 255 bytes")
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!("{what} ID '{id}' is invalid: {p}")),
        None => Ok(()),
    }
}

fn check_allocation(resources: &[mesos::Resource], role: &str) -> Result<(), String> {
    for r in resources {
        if let Some(a) = &r.allocation_info {
            if a.role.as_deref() != Some(role) {
                return Err(format!(
                    "Resource '{}' has allocation_info role {:?} but the offer is allocated to role '{role}'",
                    r.name, a.role
                ));
            }
        }
    }
    Ok(())
}

/// Executor infos compare without allocation info (the master copies it in).
fn strip_allocation(info: &ExecutorInfo) -> ExecutorInfo {
    let mut i = info.clone();
    for r in &mut i.resources {
        r.allocation_info = None;
    }
    i
}

/// Resources sent to the agent carry `allocation_info`, as in the real LAUNCH event.
fn with_allocation(mut task: TaskInfo, role: &str) -> TaskInfo {
    let set = |rs: &mut Vec<mesos::Resource>| {
        for r in rs {
            if r.allocation_info.is_none() {
                r.allocation_info = Some(mesos::AllocationInfo { role: Some(role.to_owned()) });
            }
            r.role = None;
        }
    };
    set(&mut task.resources);
    if let Some(e) = &mut task.executor {
        set(&mut e.resources);
    }
    task
}

/// SUBSCRIBE checks that end in an ERROR event.
fn validate_framework_info(info: &FrameworkInfo, suppressed: &[String]) -> Option<String> {
    let multi = info.has_capability(&FrameworkCapabilityType::MultiRole);
    if multi && info.role.is_some() {
        return Some(
            "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable".into(),
        );
    }
    if !multi && !info.roles.is_empty() {
        return Some(
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                .into(),
        );
    }
    let roles: Vec<String> = if multi {
        info.roles.clone()
    } else {
        vec![info.role.clone().unwrap_or_else(|| "*".into())]
    };
    let mut seen = HashSet::new();
    for r in &roles {
        if !seen.insert(r) {
            return Some(format!("'FrameworkInfo.roles' contains duplicate items: role '{r}'"));
        }
        if r.is_empty()
            || r.starts_with('.')
            || r.starts_with('-')
            || r.contains('/')
            || r.chars().any(char::is_whitespace)
        {
            return Some(format!("Role '{r}' is invalid"));
        }
    }
    if let Some(r) = suppressed.iter().find(|r| !roles.contains(r)) {
        return Some(format!("Suppressed role '{r}' is not contained in the list of roles"));
    }
    if let Some(t) = info.failover_timeout {
        if !t.is_finite() || !(0.0..=1e11).contains(&t) {
            return Some(format!(
                "Invalid failover_timeout {t}: it must be a non-negative duration"
            ));
        }
    }
    if let Some(id) = &info.id {
        if validate_id("Framework", &id.value).is_err() {
            return Some(format!("'FrameworkInfo.id' {:?} contains invalid characters", id.value));
        }
    }
    None
}
