//! A deterministic, plain-data cluster for driving the core without IO: agents that make offers,
//! executors that answer every step the way the real executor reports it, and a clock moved by
//! hand. The core tests and `cargo xtask bench core` both use it. Nothing here reads the clock
//! or a random source: the same calls give the same decisions.
//!
//! It panics when driven against its own rules (an update for a task it never launched, a launch
//! without a step envelope): it is a test and bench harness, not part of the running scheduler.

use std::collections::HashMap;

use super::{BundleRef, Decision, Input, Settings, State, Time, decide};
use mesos::v1::{
    Address, AgentID, Attribute, Bytes, ExecutorID, FrameworkID, Offer, OfferID, Resource,
    TaskSource, TaskState, TaskStatus, Url,
};
use packaging::bundle::IndexArtifact;
use packaging::catalog::{Component, Platform, Sha256};
use scaleio::DevicePath;
use scaleio::devices::{DeviceSurvey, FreeDevice};
use scaleio::step::{
    ClusterFacts, InitSystem, ObjectOutcome, OsFacts, OsFamily, Outcome, PreflightFacts,
    ResultEnvelope, Step, StepEnvelope, StepFailure, StepResult,
};
use scaleio::topology::{Mode, PreconfiguredCluster};

/// The core settings the tests use: two bundles, the scheduler on `agent-1`.
pub fn settings(mode: Mode) -> Settings {
    let art = |component: Component, file: &str, version: &str| IndexArtifact {
        name: file.to_owned(),
        component,
        version: version.to_owned(),
        file: file.to_owned(),
        sha256: Sha256::of(file.as_bytes()),
        size: 1,
    };
    let bundle = |platform: Platform, uri: &str| BundleRef {
        platform,
        uri: uri.to_owned(),
        immutable: true,
        artifacts: vec![
            art(Component::Mdm, "EMC-ScaleIO-mdm-2.0-10000.2072.deb", "2.0-10000.2072"),
            art(Component::Sds, "EMC-ScaleIO-sds-2.0-10000.2072.deb", "2.0-10000.2072"),
            art(Component::Sdc, "EMC-ScaleIO-sdc-2.0-10000.2072.deb", "2.0-10000.2072"),
            art(Component::Lia, "EMC-ScaleIO-lia-2.0-10000.2072.deb", "2.0-10000.2072"),
            art(
                Component::Gateway,
                "emc-scaleio-gateway_2.0-10000.2072_amd64.deb",
                "2.0-10000.2072",
            ),
            art(Component::Rexray, "rexray_0.9.2_amd64.deb", "0.9.2"),
            art(Component::Dvdcli, "dvdcli_0.2.0_amd64.deb", "0.2.0"),
            art(Component::DvdiIsolator, "libmesos_dvdi_isolator-1.0.1.so", "0.4.6"),
        ],
    };
    Settings {
        mode,
        scheduler_host: "agent-1".to_owned(),
        executor_uri: "http://sched:35000/artifacts/scaleio-executor".to_owned(),
        bundles: vec![
            bundle(
                Platform::Ubuntu14,
                "http://sched:35000/artifacts/scaleio-bundle-2.0.1-2072-ubuntu14-0123abcd.tar.gz",
            ),
            bundle(
                Platform::Rhel7,
                "http://sched:35000/artifacts/scaleio-bundle-2.0.1-2072-rhel7-89abcdef.tar.gz",
            ),
        ],
        ..Settings::defaults()
    }
}

/// A pre-configured cluster at 10.9.0.1-3.
pub fn preconfigured() -> Mode {
    Mode::Preconfigured(PreconfiguredCluster {
        primary: "10.9.0.1".into(),
        secondary: "10.9.0.2".into(),
        tiebreaker: "10.9.0.3".into(),
        gateway: None,
    })
}

/// One simulated agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Hostname.
    pub host: String,
    /// Current agent id (changes when the agent re-registers).
    pub agent_id: String,
    /// Advertised IP.
    pub ip: String,
    /// CPUs it has.
    pub cpus: f64,
    /// Memory it has, in MB.
    pub mem: f64,
    /// Text attributes it offers.
    pub attributes: Vec<(String, String)>,
    /// Whether our executor runs there.
    pub executor_running: bool,
    /// Boot counter (part of the boot id).
    pub boot: u32,
    /// Devices preflight reports free.
    pub free_devices: Vec<&'static str>,
    /// Executor earmark currently held.
    pub held: (f64, f64),
}

impl Agent {
    /// `agent-N` at 10.A.B.C (the three low bytes of N: 10.0.0.N for N up to 255) with
    /// `cpus`/`mem` and `os:ubuntu14`.
    pub fn new(n: u32, cpus: f64, mem: f64) -> Agent {
        Agent {
            host: format!("agent-{n}"),
            agent_id: format!("S{n}"),
            ip: format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
            cpus,
            mem,
            attributes: vec![("os".into(), "ubuntu14".into())],
            executor_running: false,
            boot: 1,
            free_devices: vec!["/dev/xvdf"],
            held: (0.0, 0.0),
        }
    }

    /// With an extra attribute.
    pub fn attr(mut self, name: &str, value: &str) -> Agent {
        self.attributes.push((name.into(), value.into()));
        self
    }

    fn boot_id(&self) -> String {
        format!("boot-{}-{}", self.host, self.boot)
    }
}

/// An offer as a master would make it.
pub fn offer(id: &str, agent: &Agent) -> Offer {
    Offer {
        id: OfferID::new(id),
        framework_id: FrameworkID::new("F-0000"),
        agent_id: AgentID::new(agent.agent_id.clone()),
        hostname: agent.host.clone(),
        url: Some(Url {
            scheme: "http".into(),
            address: Address {
                hostname: Some(agent.host.clone()),
                ip: Some(agent.ip.clone()),
                port: 5051,
            },
            path: Some("/slave(1)".into()),
            query: vec![],
            fragment: None,
        }),
        domain: None,
        resources: vec![
            Resource {
                role: Some("*".into()),
                ..Resource::scalar("cpus", agent.cpus - agent.held.0)
            },
            Resource {
                role: Some("*".into()),
                ..Resource::scalar("mem", agent.mem - agent.held.1)
            },
            Resource::scalar("disk", 200_000.0),
        ],
        attributes: agent
            .attributes
            .iter()
            .map(|(k, v)| Attribute::text(k.clone(), v.clone()))
            .collect(),
        executor_ids: if agent.executor_running {
            vec![ExecutorID::new(format!("scaleio-executor.{}", agent.host))]
        } else {
            vec![]
        },
        unavailability: None,
        allocation_info: None,
    }
}

/// A status update; `uuid` makes it one the agent wants acknowledged.
pub fn status(
    task: &str,
    agent: &str,
    state: TaskState,
    data: Option<Vec<u8>>,
    uuid: Option<u8>,
) -> TaskStatus {
    TaskStatus {
        source: Some(if uuid.is_some() { TaskSource::Executor } else { TaskSource::Master }),
        agent_id: Some(AgentID::new(agent)),
        data: data.map(Bytes),
        uuid: uuid.map(|b| Bytes(vec![b; 16])),
        ..TaskStatus::new(mesos::v1::TaskID::new(task), state)
    }
}

/// What the real executor reports for `step` on `agent`.
pub fn result_for(step: &Step, agent: &mut Agent) -> StepResult {
    let object = |name: &str| ObjectOutcome {
        name: name.into(),
        id: Some("id".into()),
        already_existed: false,
    };
    let outcome = match step {
        Step::Preflight(_) => Outcome::Preflight(PreflightFacts {
            hostname: agent.host.clone(),
            ips: vec![agent.ip.clone()],
            os: OsFacts {
                id: "ubuntu".into(),
                version_id: "14.04".into(),
                family: Some(OsFamily::Debian),
            },
            kernel: "4.4.0-38-generic".into(),
            boot_id: agent.boot_id(),
            init_system: InitSystem::Sysv,
            devices: DeviceSurvey {
                free: agent
                    .free_devices
                    .iter()
                    .map(|p| FreeDevice {
                        path: DevicePath::new(p).expect("path"),
                        size_bytes: 100 << 30,
                    })
                    .collect(),
                refused: vec![],
            },
            packages: vec![],
            java_version: None,
            mesos_version: Some("1.0.1".into()),
        }),
        Step::InstallPrerequisites(_) => {
            Outcome::InstallPrerequisites { packages: vec![], reboot_required: false }
        }
        Step::InstallPackages(_) => Outcome::InstallPackages { packages: vec![] },
        Step::CreateMdmCluster(_) => Outcome::CreateMdmCluster(ClusterFacts::default()),
        Step::AddStandbyMdm(_) => Outcome::AddStandbyMdm(ClusterFacts::default()),
        Step::SwitchClusterMode(_) => Outcome::SwitchClusterMode(ClusterFacts::default()),
        Step::RenameSystem(_) => Outcome::RenameSystem(ClusterFacts::default()),
        Step::AddProtectionDomain(s) => Outcome::AddProtectionDomain(object(s.name.as_str())),
        Step::AddStoragePool(s) => Outcome::AddStoragePool(object(s.name.as_str())),
        Step::AddSds(s) => Outcome::AddSds { sds: object(s.name.as_str()), devices: vec![] },
        Step::AddDevice(_) => Outcome::AddDevice(object("dev")),
        Step::ConfigureSdc(s) => Outcome::ConfigureSdc { mdm_ips: s.mdm_ips.clone(), guid: None },
        Step::ConfigureLia(_) => Outcome::ConfigureLia { installation_id: "1".into() },
        Step::ConfigureGateway(_) => Outcome::ConfigureGateway { api_version: "2.0".into() },
        Step::InstallRexray(s) => Outcome::InstallRexray { version: s.version.clone() },
        Step::InstallDvdcli(s) => Outcome::InstallDvdcli { version: s.version.clone() },
        Step::InstallIsolator(s) => {
            Outcome::InstallIsolator { module_file: s.artifact.clone(), agent_restarted: false }
        }
        Step::RestartService(s) => Outcome::RestartService { service: s.service.clone() },
        Step::Reboot(r) => match &r.previous_boot_id {
            None => Outcome::Reboot { boot_id: agent.boot_id(), rebooting: true },
            Some(_) => Outcome::Reboot { boot_id: agent.boot_id(), rebooting: false },
        },
        Step::Verify(_) => Outcome::Verify { checks: vec![] },
    };
    StepResult { changed: true, outcome, transcript_sha256: None }
}

/// A launched task not yet answered, as the simulated executor holds it: the task's data as sent
/// (the step envelope's JSON, read when the executor answers) and where it runs. The
/// `ExecutorInfo` is not kept: the agent's earmark is read from it at launch. A large benchmark
/// should count as little simulated-executor memory as it can as the scheduler's.
#[derive(Debug, Clone)]
pub struct Running {
    /// Step id.
    pub step: String,
    /// Mesos task id.
    pub task: String,
    /// Agent id it went to.
    pub agent: String,
    /// Hostname it went to.
    pub host: String,
    /// The task's data: the step envelope as JSON.
    pub data: Vec<u8>,
}

/// A launch as recorded in the history ([`Sim::launches`]): what [`Running`] holds and the
/// executor the task named.
#[derive(Debug, Clone)]
pub struct Launched {
    /// Step id.
    pub step: String,
    /// Mesos task id.
    pub task: String,
    /// Agent id it went to.
    pub agent: String,
    /// Hostname it went to.
    pub host: String,
    /// The step it carries.
    pub envelope: StepEnvelope,
    /// The executor it names.
    pub executor: mesos::v1::ExecutorInfo,
}

/// The step a running task carries, read from its data as the executor reads it.
fn envelope_of(l: &Running) -> StepEnvelope {
    StepEnvelope::from_json(&l.data).expect("a valid step envelope")
}

/// The simulated cluster.
#[derive(Debug)]
pub struct Sim {
    /// The core under test.
    pub state: State,
    /// The clock; moved by the caller.
    pub now: Time,
    /// The agents; the caller may add, change or replace them between calls.
    pub agents: Vec<Agent>,
    /// Every decision ever made, in order (kept only with `keep_history`).
    pub decisions: Vec<Decision>,
    /// Every launch, in order (kept only with `keep_history`).
    pub launches: Vec<Launched>,
    /// Launched tasks not yet answered.
    pub running: Vec<Running>,
    /// Reboot agents with a new agent id.
    pub new_agent_id_on_reboot: bool,
    /// Keep `decisions` and `launches` (on by default; a large benchmark turns it off).
    pub keep_history: bool,
    next_offer: u32,
    next_uuid: u8,
    /// Where each agent id and hostname was last seen in `agents` (checked before use).
    seen: HashMap<String, usize>,
}

impl Sim {
    /// A subscribed scheduler with these agents.
    pub fn new(settings: Settings, agents: Vec<Agent>) -> Sim {
        Sim::resume(State::new(settings), agents)
    }

    /// A scheduler resumed from `state`, subscribing.
    pub fn resume(state: State, agents: Vec<Agent>) -> Sim {
        let mut sim = Sim {
            state,
            now: Time(1_000_000),
            agents,
            decisions: vec![],
            launches: vec![],
            running: vec![],
            new_agent_id_on_reboot: false,
            keep_history: true,
            next_offer: 0,
            next_uuid: 1,
            seen: HashMap::new(),
        };
        sim.apply(Input::Subscribed { framework_id: "F-0000".into() });
        sim
    }

    /// Applies an input.
    pub fn apply(&mut self, input: Input) -> Option<super::state::Reply> {
        self.state.apply(self.now, input)
    }

    /// One offer from every agent, with fresh offer ids.
    pub fn offers(&mut self) -> Vec<Offer> {
        self.agents
            .iter()
            .map(|a| {
                self.next_offer += 1;
                offer(&format!("O{}", self.next_offer), a)
            })
            .collect()
    }

    /// Every agent makes one offer.
    pub fn offer_all(&mut self) {
        let offers = self.offers();
        self.apply(Input::Offers(offers));
    }

    /// The index in `agents` of the agent with this agent id (`by_host` false) or hostname.
    fn agent_index(&mut self, key: &str, by_host: bool) -> usize {
        let matches = |a: &Agent| if by_host { a.host == key } else { a.agent_id == key };
        let cache_key = format!("{}{key}", if by_host { "h:" } else { "a:" });
        if let Some(&i) = self.seen.get(&cache_key)
            && self.agents.get(i).is_some_and(matches)
        {
            return i;
        }
        let i = self.agents.iter().position(matches).expect("a launch on a simulated agent");
        self.seen.insert(cache_key, i);
        i
    }

    /// decide + commit; records launches and marks their executors running.
    pub fn decide(&mut self) -> Vec<Decision> {
        let decisions = decide(&self.state, self.now);
        self.state.commit(self.now, &decisions);
        self.state.mark_saved();
        self.record(&decisions);
        decisions
    }

    /// What the agents make of decisions the core committed: launched tasks start running (and
    /// their executors with them, holding the earmark).
    pub fn record(&mut self, decisions: &[Decision]) {
        for d in decisions {
            if let Decision::Launch { step, .. } = d {
                // Rendered one at a time, as the loop makes each call.
                let mut task =
                    self.state.launch_task(d).expect("a committed launch renders its task");
                let data = task.data.take().expect("data").0;
                let executor = task.executor.as_ref().expect("executor info");
                let i = self.agent_index(&task.agent_id.value, false);
                let agent = &mut self.agents[i];
                if !agent.executor_running {
                    let cpus = executor
                        .resources
                        .iter()
                        .find(|r| r.name == "cpus")
                        .and_then(|r| r.scalar_value())
                        .unwrap_or(0.0);
                    let mem = executor
                        .resources
                        .iter()
                        .find(|r| r.name == "mem")
                        .and_then(|r| r.scalar_value())
                        .unwrap_or(0.0);
                    agent.held = (cpus, mem);
                }
                agent.executor_running = true;
                let l = Running {
                    step: step.clone(),
                    task: task.task_id.value.clone(),
                    agent: task.agent_id.value.clone(),
                    host: agent.host.clone(),
                    data,
                };
                if self.keep_history {
                    self.launches.push(Launched {
                        step: l.step.clone(),
                        task: l.task.clone(),
                        agent: l.agent.clone(),
                        host: l.host.clone(),
                        envelope: envelope_of(&l),
                        executor: executor.clone(),
                    });
                }
                self.running.push(l);
            }
        }
        if self.keep_history {
            self.decisions.extend(decisions.iter().cloned());
        }
    }

    fn uuid(&mut self) -> u8 {
        self.next_uuid = self.next_uuid.wrapping_add(1).max(1);
        self.next_uuid
    }

    /// The executor answers every running task: TASK_RUNNING, then TASK_FINISHED with its result.
    pub fn finish_all(&mut self) {
        for input in self.answers() {
            self.apply(input);
        }
    }

    /// What [`Sim::finish_all`] applies, in order, without applying it: each running task's
    /// TASK_RUNNING then TASK_FINISHED with its result. The agents move on as if it had been
    /// applied (a rebooting agent comes back with a new boot id).
    pub fn answers(&mut self) -> Vec<Input> {
        let running = std::mem::take(&mut self.running);
        let mut out = Vec::with_capacity(running.len() * 2);
        for l in running {
            out.extend(self.answer(l));
        }
        out
    }

    /// What the executor of one task taken from `running` reports: TASK_RUNNING, then
    /// TASK_FINISHED with its result; [`Sim::answers`] for one task (the agent moves on as if
    /// they had been applied). A caller that applies each pair at once holds two updates, not
    /// every update of a round, as the loop does with UPDATE events.
    pub fn answer(&mut self, l: Running) -> [Input; 2] {
        let u = self.uuid();
        let running = Input::Update(status(&l.task, &l.agent, TaskState::Running, None, Some(u)));
        let i = self.agent_index(&l.host, true);
        let result = result_for(&envelope_of(&l).step, &mut self.agents[i]);
        let rebooting = matches!(result.outcome, Outcome::Reboot { rebooting: true, .. });
        let data = ResultEnvelope::new(result).to_json();
        let u = self.uuid();
        let finished =
            Input::Update(status(&l.task, &l.agent, TaskState::Finished, Some(data), Some(u)));
        if rebooting {
            let new_id = self.new_agent_id_on_reboot;
            let agent = &mut self.agents[i];
            agent.executor_running = false;
            agent.held = (0.0, 0.0);
            agent.boot += 1;
            if new_id {
                agent.agent_id = format!("{}-r{}", agent.agent_id, agent.boot);
            }
        }
        [running, finished]
    }

    /// The executor fails the task of `step` with a step failure.
    pub fn fail(&mut self, step: &str, retryable: bool) {
        let i = self.running.iter().position(|l| l.step == step).expect("running step");
        let l = self.running.remove(i);
        let failure = StepFailure {
            kind: envelope_of(&l).step.kind().into(),
            message: "dpkg: error processing archive".into(),
            command: Some(vec!["dpkg".into(), "-i".into()]),
            exit_code: Some(1),
            output_tail: String::new(),
            retryable,
        };
        let u = self.uuid();
        // As the executor reports it: the failure and the transcript in a versioned report.
        let data = serde_json::to_vec(&serde_json::json!({
            "version": 1,
            "failure": failure,
            "transcript": [{"argv": ["dpkg", "-i"], "exit_code": 1}],
        }))
        .expect("json");
        self.apply(Input::Update(status(
            &l.task,
            &l.agent,
            TaskState::Failed,
            Some(data),
            Some(u),
        )));
    }

    /// Offer, decide, finish, tick; until the plan is complete or `rounds` run out.
    pub fn run(&mut self, rounds: usize) -> bool {
        for _ in 0..rounds {
            if self.state.plan().is_complete() {
                return true;
            }
            self.offer_all();
            self.decide();
            self.finish_all();
            self.now = self.now.plus_secs(1);
            self.apply(Input::Tick);
        }
        self.state.plan().is_complete()
    }

    /// Step ids of every launch, in order.
    pub fn launched_steps(&self) -> Vec<String> {
        self.launches.iter().map(|l| l.step.clone()).collect()
    }
}

/// Five agents: three large (MDM-capable), two small.
pub fn five_agents() -> Vec<Agent> {
    vec![
        Agent::new(1, 4.0, 8192.0),
        Agent::new(2, 4.0, 8192.0),
        Agent::new(3, 4.0, 8192.0),
        Agent::new(4, 1.0, 2048.0),
        Agent::new(5, 1.0, 2048.0),
    ]
}
