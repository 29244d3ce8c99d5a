//! `cargo xtask bench core`: the scheduler's sans-IO core taking 1,000 and 10,000 agents from
//! first offers to a complete plan with instant steps (per-offer cost, rounds, peak RSS).
//!
//! Each cluster size runs in a child process (this binary, `bench core`, with
//! [`CHILD_AGENTS_ENV`] set) so its peak RSS (`VmHWM`) is its own. The child feeds SUBSCRIBED,
//! then every round: one offer from every agent, `decide`, `commit`, and for every launch the
//! executor's TASK_RUNNING then TASK_FINISHED with a valid `ResultEnvelope`, then one second
//! passes. It prints one `core-child:` JSON line that the parent turns into figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mesos::v1::{
    Address, AgentID, Attribute, Bytes, ExecutorID, FrameworkID, Offer, OfferID, Resource, TaskID,
    TaskSource, TaskState, TaskStatus, Url,
};
use packaging::bundle::IndexArtifact;
use packaging::catalog::{Component, Platform, Sha256};
use scaleio::DevicePath;
use scaleio::devices::{DeviceSurvey, FreeDevice};
use scaleio::step::{
    ClusterFacts, InitSystem, ObjectOutcome, OsFacts, OsFamily, Outcome, PreflightFacts,
    ResultEnvelope, Step, StepEnvelope, StepResult,
};
use scheduler::core::plan::Strategy;
use scheduler::core::{BundleRef, Decision, Input, PhaseName, Plan, Settings, State, Time, decide};
use xshell::{Shell, cmd};

use super::{Bench, Figure, seconds};

/// Set in the child: the number of agents to simulate.
pub const CHILD_AGENTS_ENV: &str = "SCALEIO_BENCH_CORE_AGENTS";
/// Set in the child: stop after this many seconds of simulation (the run is then incomplete).
pub const CHILD_BUDGET_ENV: &str = "SCALEIO_BENCH_CORE_BUDGET_SECS";
/// Default wall-clock budget of one child run.
const DEFAULT_BUDGET_SECS: u64 = 600;
/// Mesos' default `--allocation_interval`: the master makes offers at most this often.
const ALLOCATION_INTERVAL: Duration = Duration::from_secs(1);
/// Cluster sizes: the small one is the baseline of the large one (linear scaling gives ratio 1
/// on per-offer cost).
const SIZES: [usize; 2] = [1_000, 10_000];

/// What a child run measured.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ChildReport {
    agents: usize,
    steps: usize,
    complete: bool,
    /// Share of steps complete at the end (1.0 when complete).
    progress: f64,
    rounds: usize,
    /// Longest dependency chain of the final plan (one step per node per round).
    critical_path: usize,
    offers: u64,
    /// Core time on offers: `apply(Offers)` + `decide` + `commit`, in seconds.
    offer_secs: f64,
    updates: u64,
    /// Core time on `apply(Update)`, in seconds.
    update_secs: f64,
    /// Baseline: decoding the same offers from JSON (one OFFERS event's worth), µs per offer.
    decode_us_per_offer: f64,
    /// Slowest round's core time, in seconds.
    max_round_secs: f64,
    /// Core time of the whole run, in seconds.
    total_secs: f64,
    /// Size of the persisted document at the end, in bytes.
    persisted_bytes: usize,
    peak_rss_kib: u64,
}

/// The registry entry: both cluster sizes, each in its own child process.
pub fn core(sh: &Shell, opts: &Bench) -> anyhow::Result<Vec<Figure>> {
    if let Ok(agents) = std::env::var(CHILD_AGENTS_ENV) {
        let agents: usize = agents.parse().with_context(|| {
            format!("{CHILD_AGENTS_ENV}={agents:?}: expected a number of agents")
        })?;
        let budget = match std::env::var(CHILD_BUDGET_ENV) {
            Ok(v) => v.parse().with_context(|| {
                format!("{CHILD_BUDGET_ENV}={v:?}: expected a number of seconds")
            })?,
            Err(_) => DEFAULT_BUDGET_SECS,
        };
        let report = run_child(agents, Duration::from_secs(budget))?;
        println!("core-child: {}", serde_json::to_string(&report)?);
        return Ok(Vec::new());
    }
    let exe = std::env::current_exe().context("cannot locate the xtask binary")?;
    let debug = opts.debug.then_some("--debug");
    let budget =
        std::env::var(CHILD_BUDGET_ENV).unwrap_or_else(|_| DEFAULT_BUDGET_SECS.to_string());
    let mut reports = Vec::new();
    for agents in SIZES {
        eprintln!("bench core: {agents} agents (child process, budget {budget} s)");
        let output = cmd!(sh, "{exe} bench core {debug...}")
            .env(CHILD_AGENTS_ENV, agents.to_string())
            .env(CHILD_BUDGET_ENV, &budget)
            .quiet()
            .output()
            .with_context(|| format!("the {agents}-agent core run failed"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: ChildReport = stdout
            .lines()
            .find_map(|l| l.strip_prefix("core-child: "))
            .with_context(|| {
                format!("the {agents}-agent child printed no core-child line: {stdout}")
            })
            .and_then(|l| serde_json::from_str(l).context("the core-child line is not a report"))?;
        eprintln!("bench core: {report:?}");
        reports.push(report);
    }
    Ok(figures(&reports))
}

fn figures(reports: &[ChildReport]) -> Vec<Figure> {
    let mut out = Vec::new();
    let us_per_offer = |r: &ChildReport| r.offer_secs * 1e6 / r.offers.max(1) as f64;
    let mib = |k: u64| format!("{:.1}MiB", k as f64 / 1024.0);
    for r in reports {
        let n = r.agents;
        let done = if r.complete {
            String::new()
        } else {
            format!(" INCOMPLETE {:.0}%", r.progress * 100.0)
        };
        out.push(Figure {
            name: format!("core.us_per_offer ({n}){done}"),
            ours: format!("{:.1}us", us_per_offer(r)),
            baseline: format!("{:.1}us", r.decode_us_per_offer),
            ratio: Some(us_per_offer(r) / r.decode_us_per_offer),
        });
        out.push(Figure {
            name: format!("core.us_per_update ({n})"),
            ours: format!("{:.1}us", r.update_secs * 1e6 / r.updates.max(1) as f64),
            baseline: "-".into(),
            ratio: None,
        });
        // An incomplete run only says the plan needs more rounds than it got.
        out.push(Figure {
            name: format!("core.rounds ({n}){done}"),
            ours: if r.complete { r.rounds.to_string() } else { format!(">{}", r.rounds) },
            baseline: r.critical_path.to_string(),
            ratio: r.complete.then(|| r.rounds as f64 / r.critical_path.max(1) as f64),
        });
        out.push(Figure {
            name: format!("core.max_round_cpu ({n})"),
            ours: seconds(Duration::from_secs_f64(r.max_round_secs)),
            baseline: seconds(ALLOCATION_INTERVAL),
            ratio: Some(r.max_round_secs / ALLOCATION_INTERVAL.as_secs_f64()),
        });
        out.push(Figure {
            name: format!("core.peak_rss ({n})"),
            ours: mib(r.peak_rss_kib),
            baseline: "100.0MiB".into(),
            ratio: Some(r.peak_rss_kib as f64 / (100.0 * 1024.0)),
        });
        out.push(Figure {
            name: format!("core.persisted ({n})"),
            ours: format!("{:.1}MiB", r.persisted_bytes as f64 / f64::from(1u32 << 20)),
            baseline: "-".into(),
            ratio: None,
        });
    }
    if let [small, large] = reports {
        out.push(Figure {
            name: format!("core.us_per_offer {} vs {}", large.agents, small.agents),
            ours: format!("{:.1}us", us_per_offer(large)),
            baseline: format!("{:.1}us", us_per_offer(small)),
            ratio: Some(us_per_offer(large) / us_per_offer(small)),
        });
        out.push(Figure {
            name: format!("core.total_cpu {} vs {}", large.agents, small.agents),
            ours: seconds(Duration::from_secs_f64(large.total_secs)),
            baseline: seconds(Duration::from_secs_f64(small.total_secs)),
            ratio: Some(large.total_secs / small.total_secs),
        });
    }
    out
}

/// One simulated agent.
struct Agent {
    host: String,
    agent_id: String,
    ip: String,
    executor_running: bool,
    /// Executor earmark held (cpus, mem).
    held: (f64, f64),
}

const AGENT_CPUS: f64 = 4.0;
const AGENT_MEM: f64 = 8192.0;

fn agents(n: usize) -> Vec<Agent> {
    (0..n)
        .map(|i| Agent {
            host: format!("agent-{i:05}"),
            agent_id: format!("bench-S{i}"),
            ip: format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            executor_running: false,
            held: (0.0, 0.0),
        })
        .collect()
}

fn offer(id: u64, agent: &Agent) -> Offer {
    Offer {
        id: OfferID::new(format!("bench-O{id}")),
        framework_id: FrameworkID::new("bench-F-0000"),
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
                ..Resource::scalar("cpus", AGENT_CPUS - agent.held.0)
            },
            Resource {
                role: Some("*".into()),
                ..Resource::scalar("mem", AGENT_MEM - agent.held.1)
            },
            Resource { role: Some("*".into()), ..Resource::scalar("disk", 200_000.0) },
        ],
        attributes: vec![Attribute::text("os", "ubuntu14")],
        executor_ids: if agent.executor_running {
            vec![ExecutorID::new(format!("scaleio-executor.{}", agent.host))]
        } else {
            vec![]
        },
        unavailability: None,
        allocation_info: None,
    }
}

fn settings() -> Settings {
    let art = |component: Component, file: &str, version: &str| IndexArtifact {
        name: file.to_owned(),
        component,
        version: version.to_owned(),
        file: file.to_owned(),
        sha256: Sha256::of(file.as_bytes()),
        size: 1,
    };
    let v = "2.0-10000.2072";
    Settings {
        // The reboot phase is serial, one node at a time: at 10,000 agents it alone needs
        // 20,000 rounds (hours of allocation intervals), whatever the core costs.
        no_reboot: true,
        scheduler_host: "agent-00000".to_owned(),
        executor_uri: "http://sched:35000/artifacts/scaleio-executor".to_owned(),
        bundles: vec![BundleRef {
            platform: Platform::Ubuntu14,
            uri: "http://sched:35000/artifacts/scaleio-bundle-2.0.1-2072-ubuntu14-0123abcd.tar.gz"
                .to_owned(),
            immutable: true,
            artifacts: vec![
                art(Component::Mdm, "EMC-ScaleIO-mdm-2.0-10000.2072.deb", v),
                art(Component::Sds, "EMC-ScaleIO-sds-2.0-10000.2072.deb", v),
                art(Component::Sdc, "EMC-ScaleIO-sdc-2.0-10000.2072.deb", v),
                art(Component::Lia, "EMC-ScaleIO-lia-2.0-10000.2072.deb", v),
                art(Component::Gateway, "emc-scaleio-gateway_2.0-10000.2072_amd64.deb", v),
                art(Component::Rexray, "rexray_0.9.2_amd64.deb", "0.9.2"),
                art(Component::Dvdcli, "dvdcli_0.2.0_amd64.deb", "0.2.0"),
                art(Component::DvdiIsolator, "libmesos_dvdi_isolator-1.0.1.so", "0.4.6"),
            ],
        }],
        ..Settings::defaults()
    }
}

/// What the real executor reports for `step` on `agent` when it succeeds.
fn result_for(step: &Step, agent: &Agent) -> StepResult {
    let object = |name: &str| ObjectOutcome {
        name: name.into(),
        id: Some("id".into()),
        already_existed: false,
    };
    let boot_id = format!("boot-{}", agent.host);
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
            boot_id,
            init_system: InitSystem::Sysv,
            devices: DeviceSurvey {
                free: vec![FreeDevice {
                    path: DevicePath::new("/dev/xvdf").expect("a valid device path"),
                    size_bytes: 100 << 30,
                }],
                refused: vec![],
            },
            packages: vec![],
            java_version: None,
            mesos_version: Some("1.12.0".into()),
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
        Step::Reboot(_) => Outcome::Reboot { boot_id, rebooting: false },
        Step::Verify(_) => Outcome::Verify { checks: vec![] },
    };
    StepResult { changed: true, outcome, transcript_sha256: None }
}

fn update(task: &str, agent_id: &str, state: TaskState, data: Option<Vec<u8>>, uuid: u64) -> Input {
    let mut uuid_bytes = [0u8; 16];
    uuid_bytes[..8].copy_from_slice(&uuid.to_le_bytes());
    Input::Update(TaskStatus {
        source: Some(TaskSource::Executor),
        agent_id: Some(AgentID::new(agent_id)),
        data: data.map(Bytes),
        uuid: Some(Bytes(uuid_bytes.to_vec())),
        ..TaskStatus::new(TaskID::new(task), state)
    })
}

/// Peak resident set of this process, from `/proc/self/status`.
fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("/proc/self/status has no VmHWM line")
}

/// The longest chain of steps under the plan's barriers (see `Plan::deps_complete`), each step
/// taking one round: no scheduler can finish in fewer rounds.
pub(super) fn critical_path(plan: &Plan) -> usize {
    // Per earlier phase: the deepest step of each node and of the whole phase.
    let mut done: Vec<(PhaseName, HashMap<&str, usize>, usize)> = Vec::new();
    for phase in &plan.phases {
        let mut by_node: HashMap<&str, usize> = HashMap::new();
        let mut deepest = 0;
        let mut previous = 0;
        for step in &phase.steps {
            let node = step.node.as_str();
            let mut before = 0;
            for (name, nodes, all) in &done {
                let all_nodes = *name == PhaseName::MdmCluster || phase.name == PhaseName::Reboot;
                before = before.max(if all_nodes {
                    *all
                } else {
                    nodes.get(node).copied().unwrap_or(0)
                });
            }
            let within = match phase.name.strategy() {
                Strategy::Serial => previous,
                Strategy::Parallel => by_node.get(node).copied().unwrap_or(0),
            };
            let depth = 1 + before.max(within);
            by_node.insert(node, depth);
            deepest = deepest.max(depth);
            previous = depth;
        }
        done.push((phase.name, by_node, deepest));
    }
    done.iter().map(|d| d.2).max().unwrap_or(0)
}

/// Baseline: decoding `agents`' offers from the JSON a master sends, best of 3, µs per offer.
fn decode_baseline(agents: &[Agent]) -> anyhow::Result<f64> {
    let offers: Vec<Offer> = agents.iter().enumerate().map(|(i, a)| offer(i as u64, a)).collect();
    let json = serde_json::to_vec(&offers)?;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let decoded: Vec<Offer> = serde_json::from_slice(&json)?;
        best = best.min(start.elapsed());
        anyhow::ensure!(decoded.len() == offers.len(), "decoded {} offers", decoded.len());
        std::hint::black_box(decoded);
    }
    Ok(best.as_secs_f64() * 1e6 / agents.len() as f64)
}

fn run_child(n: usize, budget: Duration) -> anyhow::Result<ChildReport> {
    let mut agents = agents(n);
    let decode_us_per_offer = decode_baseline(&agents)?;
    let index: HashMap<String, usize> =
        agents.iter().enumerate().map(|(i, a)| (a.agent_id.clone(), i)).collect();
    let mut state = State::new(settings());
    let mut now = Time(1_800_000_000_000);
    let started = Instant::now();
    let (mut offer_time, mut update_time) = (Duration::ZERO, Duration::ZERO);
    let (mut offers, mut updates, mut next_offer, mut next_uuid) = (0u64, 0u64, 0u64, 0u64);
    let mut max_round = Duration::ZERO;
    let mut rounds = 0;
    let t = Instant::now();
    state.apply(now, Input::Subscribed { framework_id: "bench-F-0000".into() });
    let mut total = t.elapsed();
    while !state.plan().is_complete() && started.elapsed() < budget {
        rounds += 1;
        let batch: Vec<Offer> = agents
            .iter()
            .map(|a| {
                next_offer += 1;
                offer(next_offer, a)
            })
            .collect();
        offers += batch.len() as u64;
        let t = Instant::now();
        state.apply(now, Input::Offers(batch));
        let decisions = decide(&state, now);
        state.commit(now, &decisions);
        state.mark_saved();
        let offer_round = t.elapsed();
        offer_time += offer_round;

        let mut answers = Vec::new();
        for d in &decisions {
            match d {
                Decision::Launch { task, .. } => {
                    let data = task.data.as_ref().context("a launched task carries its step")?;
                    let envelope = StepEnvelope::from_json(data.as_slice())
                        .context("a launched task carries a valid step envelope")?;
                    let agent = &mut agents[index[&task.agent_id.value]];
                    if !agent.executor_running {
                        let executor = task.executor.as_ref().context("executor info")?;
                        let held = |name: &str| {
                            executor
                                .resources
                                .iter()
                                .find(|r| r.name == name)
                                .and_then(Resource::scalar_value)
                                .unwrap_or(0.0)
                        };
                        agent.held = (held("cpus"), held("mem"));
                        agent.executor_running = true;
                    }
                    let result = ResultEnvelope::new(result_for(&envelope.step, agent)).to_json();
                    answers.push((task.task_id.value.clone(), task.agent_id.value.clone(), result));
                }
                Decision::StepError { step, message } => {
                    anyhow::bail!("step {step} could not be rendered: {message}")
                }
                _ => {}
            }
        }
        let t = Instant::now();
        for (task, agent_id, result) in answers {
            next_uuid += 1;
            state.apply(now, update(&task, &agent_id, TaskState::Running, None, next_uuid));
            next_uuid += 1;
            state
                .apply(now, update(&task, &agent_id, TaskState::Finished, Some(result), next_uuid));
            updates += 2;
        }
        // The acknowledgements go out with the next decide; Tick as the loop does each second.
        now = now.plus_secs(1);
        state.apply(now, Input::Tick);
        let update_round = t.elapsed();
        update_time += update_round;
        max_round = max_round.max(offer_round + update_round);
        total += offer_round + update_round;
        if rounds % 5 == 0 {
            eprintln!(
                "bench core {n}: round {rounds}, {:.1}s, {:.1} us/offer so far",
                started.elapsed().as_secs_f64(),
                offer_time.as_secs_f64() * 1e6 / offers as f64
            );
        }
    }
    // Before the persisted document below allocates its own copy.
    let peak_rss_kib = peak_rss_kib()?;
    let plan = state.plan();
    let steps = plan.steps().count();
    let complete_steps =
        plan.steps().filter(|s| s.status == scheduler::core::StepStatus::Complete).count();
    Ok(ChildReport {
        agents: n,
        steps,
        complete: plan.is_complete(),
        progress: complete_steps as f64 / steps.max(1) as f64,
        rounds,
        critical_path: critical_path(plan),
        offers,
        offer_secs: offer_time.as_secs_f64(),
        updates,
        update_secs: update_time.as_secs_f64(),
        decode_us_per_offer,
        max_round_secs: max_round.as_secs_f64(),
        total_secs: total.as_secs_f64(),
        persisted_bytes: state.persisted().to_json().len(),
        peak_rss_kib,
    })
}
