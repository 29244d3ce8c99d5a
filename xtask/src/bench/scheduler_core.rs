//! `cargo xtask bench core`: the scheduler's sans-IO core taking 1,000 and 10,000 agents from
//! first offers to a complete plan with instant steps (per-offer cost, rounds, peak RSS).
//!
//! Each cluster size runs in a child process (this binary, `bench core`, with
//! [`CHILD_AGENTS_ENV`] set) so its peak RSS (`VmHWM`) is its own. The agents and their
//! executors are [`scheduler::core::sim`], the same simulation the core tests use. The child
//! feeds SUBSCRIBED,
//! then every round: one offer from every agent, `decide`, `commit`, and for every launch the
//! executor's TASK_RUNNING then TASK_FINISHED with a valid `ResultEnvelope`, then one second
//! passes. It prints one `core-child:` JSON line that the parent turns into figures.
//!
//! A second child per size ([`CHILD_HOLD_ENV`] set) does the same while sending each round's
//! calls the way the runtime loop does, through its [`Outbox`]: held as decisions, rendered as
//! the sender has room, at most [`SEND_AHEAD`] rendered at once. Its peak RSS is
//! `core.peak_rss_loop`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mesos::scheduler::CallKind;
use mesos::v1::Offer;
use scaleio::topology::Mode;
use scheduler::core::plan::Strategy;
use scheduler::core::sim::{self, Sim};
use scheduler::core::{Decision, Input, PhaseName, Plan, Settings, StepStatus, decide};
use scheduler::outbox::{Outbox, SEND_AHEAD};
use xshell::{Shell, cmd};

use super::{Bench, Figure, seconds};

/// Set in the child: the number of agents to simulate.
pub const CHILD_AGENTS_ENV: &str = "SCALEIO_BENCH_CORE_AGENTS";
/// Set in the child: stop after this many seconds of simulation (the run is then incomplete).
pub const CHILD_BUDGET_ENV: &str = "SCALEIO_BENCH_CORE_BUDGET_SECS";
/// Set in the child: send every call of a round through the loop's [`Outbox`] after `commit`.
pub const CHILD_HOLD_ENV: &str = "SCALEIO_BENCH_CORE_HOLD_CALLS";
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
    /// Time to serialise it, in seconds.
    persist_secs: f64,
    /// What the ZooKeeper store writes of it: compressed bytes, parts, and the time to pack it
    /// (gzip + SHA-256), in seconds.
    zk_compressed_bytes: u64,
    zk_parts: usize,
    zk_pack_secs: f64,
    /// Time to build the HTTP side's view of the state (the loop publishes one per turn), and
    /// to render the status page from it, in seconds.
    view_secs: f64,
    page_secs: f64,
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
        let hold = std::env::var_os(CHILD_HOLD_ENV).is_some();
        let report = run_child(agents, Duration::from_secs(budget), hold)?;
        println!("core-child: {}", serde_json::to_string(&report)?);
        return Ok(Vec::new());
    }
    let exe = std::env::current_exe().context("cannot locate the xtask binary")?;
    let debug = opts.debug.then_some("--debug");
    let budget =
        std::env::var(CHILD_BUDGET_ENV).unwrap_or_else(|_| DEFAULT_BUDGET_SECS.to_string());
    let child = |agents: usize, hold: bool| -> anyhow::Result<ChildReport> {
        let what = if hold { " holding each round's calls" } else { "" };
        eprintln!("bench core: {agents} agents{what} (child process, budget {budget} s)");
        let mut c = cmd!(sh, "{exe} bench core {debug...}")
            .env(CHILD_AGENTS_ENV, agents.to_string())
            .env(CHILD_BUDGET_ENV, &budget)
            .env_remove(CHILD_HOLD_ENV)
            .quiet();
        if hold {
            c = c.env(CHILD_HOLD_ENV, "1");
        }
        let output = c.output().with_context(|| format!("the {agents}-agent core run failed"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: ChildReport = stdout
            .lines()
            .find_map(|l| l.strip_prefix("core-child: "))
            .with_context(|| {
                format!("the {agents}-agent child printed no core-child line: {stdout}")
            })
            .and_then(|l| serde_json::from_str(l).context("the core-child line is not a report"))?;
        eprintln!("bench core: {report:?}");
        Ok(report)
    };
    let mut reports = Vec::new();
    let mut held = Vec::new();
    for agents in SIZES {
        reports.push(child(agents, false)?);
        held.push(child(agents, true)?);
    }
    let mut out = figures(&reports);
    for r in &held {
        out.push(Figure {
            name: format!("core.peak_rss_loop ({})", r.agents),
            ours: format!("{:.1}MiB", r.peak_rss_kib as f64 / 1024.0),
            baseline: "100.0MiB".into(),
            ratio: Some(r.peak_rss_kib as f64 / (100.0 * 1024.0)),
        });
    }
    Ok(out)
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
        // The loop saves after every change: this is what each save costs at the end.
        out.push(Figure {
            name: format!("core.persist_cpu ({n})"),
            ours: format!("{:.1}ms", r.persist_secs * 1e3),
            baseline: "-".into(),
            ratio: None,
        });
        // What else each loop turn costs, against serialising the document for its save: a
        // ZooKeeper store packs a state above one znode (gzip + SHA-256); the loop publishes a
        // fresh view; GET / renders the page from it.
        let per_turn = |name: &str, secs: f64| Figure {
            name: format!("core.{name} ({n})"),
            ours: format!("{:.1}ms", secs * 1e3),
            baseline: format!("{:.1}ms", r.persist_secs * 1e3),
            ratio: Some(secs / r.persist_secs),
        };
        out.push(per_turn("zk_pack_cpu", r.zk_pack_secs));
        out.push(per_turn("view_cpu", r.view_secs));
        out.push(per_turn("page_cpu", r.page_secs));
        out.push(Figure {
            name: format!("core.zk_compressed ({n}, {} parts)", r.zk_parts),
            ours: format!("{:.2}MiB", r.zk_compressed_bytes as f64 / f64::from(1u32 << 20)),
            baseline: format!("{:.1}MiB", r.persisted_bytes as f64 / f64::from(1u32 << 20)),
            ratio: Some(r.zk_compressed_bytes as f64 / r.persisted_bytes as f64),
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

/// The simulated cluster's settings: full provisioning, no reboot phase (it is serial, one node
/// at a time: at 10,000 agents it alone needs 20,000 rounds, hours of allocation intervals,
/// whatever the core costs).
fn settings() -> Settings {
    Settings { no_reboot: true, ..sim::settings(Mode::Full) }
}

/// `n` agents of 4 CPUs and 8 GiB.
fn agents(n: usize) -> Vec<sim::Agent> {
    (1..=n).map(|i| sim::Agent::new(i as u32, AGENT_CPUS, AGENT_MEM)).collect()
}

const AGENT_CPUS: f64 = 4.0;
const AGENT_MEM: f64 = 8192.0;

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
    for phase in plan.phases() {
        let mut by_node: HashMap<&str, usize> = HashMap::new();
        let mut deepest = 0;
        let mut previous = 0;
        for step in &phase.steps {
            let node = step.node.as_ref();
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
fn decode_baseline(agents: &[sim::Agent]) -> anyhow::Result<f64> {
    let offers: Vec<Offer> =
        agents.iter().enumerate().map(|(i, a)| sim::offer(&format!("D{i}"), a)).collect();
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

fn run_child(n: usize, budget: Duration, hold: bool) -> anyhow::Result<ChildReport> {
    let agents = agents(n);
    let t = Instant::now();
    let mut sim = Sim::new(settings(), agents);
    let mut total = t.elapsed();
    // The history of every decision would weigh more than the core itself.
    sim.keep_history = false;
    let started = Instant::now();
    let (mut offer_time, mut update_time) = (Duration::ZERO, Duration::ZERO);
    let (mut offers, mut updates) = (0u64, 0u64);
    let mut max_round = Duration::ZERO;
    let mut rounds = 0;
    while !sim.state.plan().is_complete() && started.elapsed() < budget {
        rounds += 1;
        let batch = sim.offers();
        offers += batch.len() as u64;
        let now = sim.now;
        let t = Instant::now();
        sim.state.apply(now, Input::Offers(batch));
        let decisions = decide(&sim.state, now);
        sim.state.commit(now, &decisions);
        sim.state.mark_saved();
        let offer_round = t.elapsed();
        offer_time += offer_round;
        if let Some(Decision::StepError { step, message }) =
            decisions.iter().find(|d| matches!(d, Decision::StepError { .. }))
        {
            anyhow::bail!("step {step} could not be rendered: {message}");
        }
        // As the loop does: the round's decisions held in its outbox, saved, then rendered as
        // the sender (its queue of SEND_AHEAD calls) has room.
        let mut sent = 0usize;
        if hold {
            let mut outbox = Outbox::default();
            outbox.push(decisions.iter().cloned());
            outbox.mark_saved();
            let mut queue: VecDeque<CallKind> = VecDeque::with_capacity(SEND_AHEAD);
            while let Some(call) = outbox.next_call(&sim.state) {
                if queue.len() == SEND_AHEAD {
                    queue.pop_front();
                    sent += 1;
                }
                queue.push_back(call);
            }
            sent += queue.len();
        }
        std::hint::black_box(sent);
        sim.record(&decisions);
        drop(decisions);
        // Each task's two updates are applied as they are made: the loop gets them one UPDATE
        // event at a time, so a round's updates are never all held at once.
        let mut update_round = Duration::ZERO;
        for task in std::mem::take(&mut sim.running) {
            let answers = sim.answer(task);
            updates += answers.len() as u64;
            let t = Instant::now();
            for input in answers {
                sim.state.apply(now, input);
            }
            update_round += t.elapsed();
        }
        // The acknowledgements go out with the next decide; Tick as the loop does each second.
        let t = Instant::now();
        sim.now = now.plus_secs(1);
        sim.state.apply(sim.now, Input::Tick);
        update_round += t.elapsed();
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
    // The baseline after the peak is read: its offers and JSON are not the core's memory.
    let decode_us_per_offer = decode_baseline(&sim.agents)?;
    let t = Instant::now();
    let persisted = sim.state.persisted_json();
    let persist_secs = t.elapsed().as_secs_f64();
    let persisted_bytes = persisted.len();
    let t = Instant::now();
    let packed = scheduler::store::parts::pack(&persisted, scheduler::store::ZK_MAX_DATA);
    let zk_pack_secs = t.elapsed().as_secs_f64();
    let (zk_compressed_bytes, zk_parts) = (packed.compressed(), packed.parts().len());
    drop((persisted, packed));
    let t = Instant::now();
    let view = scheduler::snapshot::view(&sim.state, &scheduler::snapshot::LoopFacts::default());
    let view_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let page = scheduler::http::page::render(&view, "bench", &[]);
    let page_secs = t.elapsed().as_secs_f64();
    drop((view, page));
    let plan = sim.state.plan();
    let steps = plan.len();
    let complete_steps = plan.steps().filter(|s| s.status == StepStatus::Complete).count();
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
        persisted_bytes,
        persist_secs,
        zk_compressed_bytes,
        zk_parts,
        zk_pack_secs,
        view_secs,
        page_secs,
        peak_rss_kib,
    })
}
