//! `cargo xtask bench overhead`: the framework's own overhead on a whole 5-node full deployment
//! (issue 10): wall time from the scheduler's start to the plan's completion, divided by the
//! plan's serial steps × the emulator's allocation interval (target ≤ 1.2).
//!
//! It runs `testkit::deployment` (mini-mesos in process with five simulated agents, three of
//! them chosen as MDMs, the gateway stand-in, demo bundles) and the real `scaleio-scheduler` in
//! full mode. Steps are executed by the real `scaleio-executor` against simulated hosts and the
//! ScaleIO stand-ins: they are quick but not free, so the run also reports how much of the wall
//! time some step was executing, and how the rest splits (start-up, waiting for offers, launch).
//!
//! "Serial steps" is the plan's critical path under its barriers, one step per node per
//! allocation round ([`super::scheduler_core::critical_path`], the `core` benchmark's `rounds`
//! baseline), read from the scheduler's own store once it stopped.
//!
//! The emulator's `--record` file is tailed while the deployment runs and every line stamped
//! with its arrival time (a few milliseconds late at most); the stamped copy is kept in
//! `target/bench/overhead/record-stamped.jsonl` as the run's evidence.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde_json::Value;
use testkit::deployment::{Deployment, DeploymentSpec};
use xshell::{Shell, cmd};

use super::scheduler_core::critical_path;
use super::{Bench, Figure, seconds};

/// Simulated agents: three MDMs (primary, secondary, tiebreaker) and two data nodes.
const AGENTS: usize = 5;
/// How long the deployment may take before the benchmark gives up.
const TIMEOUT: Duration = Duration::from_secs(900);
/// How often the record file is read.
const TAIL_EVERY: Duration = Duration::from_millis(2);

/// The registry entry.
pub fn overhead(sh: &Shell, opts: &Bench) -> anyhow::Result<Vec<Figure>> {
    let interval = Duration::from_millis(opts.overhead_interval_ms);
    anyhow::ensure!(
        !interval.is_zero(),
        "--overhead-interval-ms 0: expected an allocation interval of at least 1 ms"
    );
    let profile: &[&str] = if cfg!(debug_assertions) { &[] } else { &["--release"] };
    eprintln!("bench overhead: building the scheduler, executor and stand-ins");
    cmd!(sh, "cargo build --quiet {profile...} --bins -p scheduler -p executor -p testkit")
        .run()
        .context("cargo build failed")?;
    let out_dir = sh.current_dir().join("target/bench/overhead");
    std::fs::create_dir_all(&out_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let run = runtime.block_on(run(interval, &out_dir))?;
    eprintln!("bench overhead: {run:#?}");
    Ok(figures(&run))
}

/// What one deployment measured.
#[derive(Debug)]
struct Run {
    interval: Duration,
    /// Scheduler spawned → last step finished (the scheduler's own `finished_at`).
    wall: Duration,
    /// The plan's critical path in allocation rounds.
    serial_steps: usize,
    /// Steps of the (serial) reboot phase: each needs a second launch once its host is back.
    reboot_steps: usize,
    steps: usize,
    analysis: Analysis,
}

async fn run(interval: Duration, out_dir: &Path) -> anyhow::Result<Run> {
    let mut spec = DeploymentSpec::new(AGENTS);
    spec.allocation = interval;
    eprintln!(
        "bench overhead: starting the emulator ({AGENTS} agents, allocation interval {interval:?})"
    );
    let mut d = Deployment::start(spec).await?;
    let record = d.dir().join("mesos/record.jsonl");
    let tail = Tail::start(record)?;
    let started_unix = unix_millis();
    tail.mark_origin();
    d.start_scheduler().await?;
    eprintln!("bench overhead: scheduler started; waiting for the plan to complete");
    let plan = d.wait_complete(TIMEOUT).await?;
    let steps = testkit::deployment::steps_of(&plan);
    let finished_unix = steps
        .iter()
        .filter_map(|s| s["finished_at"].as_u64())
        .max()
        .context("the complete plan has no finished_at")?;
    let wall = Duration::from_millis(finished_unix.saturating_sub(started_unix));
    d.stop_scheduler().await;
    let lines = tail.stop();
    let stamped = out_dir.join("record-stamped.jsonl");
    write_stamped(&stamped, &lines)?;
    eprintln!("bench overhead: stamped record in {}", stamped.display());

    let store = scheduler::store::Store::open(&scheduler::config::StoreSpec::File {
        dir: d.dir().join("state"),
    })
    .await
    .context("cannot open the scheduler's store")?;
    let saved = store.load().await?.context("the scheduler saved no state")?;
    let persisted = scheduler::core::Persisted::from_json(&saved.data)?;
    let plan = &persisted.state.plan;
    anyhow::ensure!(plan.is_complete(), "the stored plan is not complete");
    let analysis = analyse(&lines, wall)?;
    let reboot_steps = plan
        .phases()
        .iter()
        .filter(|p| p.name == scheduler::core::PhaseName::Reboot)
        .map(|p| p.steps.len())
        .sum();
    Ok(Run {
        interval,
        wall,
        serial_steps: critical_path(plan),
        reboot_steps,
        steps: steps.len(),
        analysis,
    })
}

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Reads the record file as the emulator appends to it and stamps each whole line with the
/// time since [`Tail::mark_origin`].
struct Tail {
    stop: Arc<AtomicBool>,
    origin: Arc<Mutex<Option<Instant>>>,
    thread: std::thread::JoinHandle<Vec<(Duration, Value)>>,
}

impl Tail {
    fn start(path: PathBuf) -> anyhow::Result<Self> {
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot open the record file {}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let origin: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let (stop2, origin2) = (stop.clone(), origin.clone());
        let thread = std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(file);
            let mut lines = Vec::new();
            let mut partial = String::new();
            loop {
                let stopping = stop2.load(Ordering::Relaxed);
                loop {
                    let mut buf = String::new();
                    match reader.read_line(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            partial.push_str(&buf);
                            if !partial.ends_with('\n') {
                                continue;
                            }
                            let at = origin2
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .map_or(Duration::ZERO, |o| o.elapsed());
                            if let Ok(v) = serde_json::from_str::<Value>(partial.trim()) {
                                lines.push((at, v));
                            }
                            partial.clear();
                        }
                    }
                }
                if stopping {
                    return lines;
                }
                std::thread::sleep(TAIL_EVERY);
            }
        });
        Ok(Self { stop, origin, thread })
    }

    fn mark_origin(&self) {
        *self.origin.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    fn stop(self) -> Vec<(Duration, Value)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn write_stamped(path: &Path, lines: &[(Duration, Value)]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (at, v) in lines {
        let mut v = v.clone();
        v["at_ms"] = serde_json::json!(at.as_secs_f64() * 1000.0);
        writeln!(out, "{v}")?;
    }
    out.flush()?;
    Ok(())
}

/// Where the wall time went, from the stamped record (scheduler API only).
#[derive(Debug, Default, PartialEq)]
struct Analysis {
    /// OFFERS events the scheduler received before the plan completed.
    offer_events: usize,
    /// OFFERS events at least one of whose offers was accepted with a launch.
    launch_rounds: usize,
    /// Tasks launched (a step launched twice counts twice).
    launches: usize,
    /// REVIVE calls.
    revives: usize,
    /// Scheduler start → first task launched.
    first_launch: Duration,
    /// Time at least one task was TASK_RUNNING (the executor working on a step).
    executing: Duration,
    /// Time at least one task was launched and not yet finished.
    in_flight: Duration,
    /// Mean ACCEPT → TASK_RUNNING (launch, executor start, fetch).
    mean_launch: Duration,
    /// Mean TASK_RUNNING → TASK_FINISHED (the step's own work).
    mean_exec: Duration,
    /// Mean time from a task finishing on a node to the next launch on that node.
    mean_finish_to_launch: Duration,
    /// Mean REVIVE → next OFFERS event.
    mean_revive_to_offers: Duration,
}

/// Per task: launch, running and finished stamps.
#[derive(Debug, Default, Clone)]
struct TaskTimes {
    agent: String,
    launched: Duration,
    running: Option<Duration>,
    finished: Option<Duration>,
}

fn analyse(lines: &[(Duration, Value)], wall: Duration) -> anyhow::Result<Analysis> {
    let mut offer_event_of: HashMap<String, usize> = HashMap::new();
    let mut offer_events: Vec<Duration> = Vec::new();
    let mut used_events: HashSet<usize> = HashSet::new();
    let mut tasks: BTreeMap<String, TaskTimes> = BTreeMap::new();
    let mut revives: Vec<Duration> = Vec::new();
    for (at, r) in lines {
        if r["api"] != "scheduler" || *at > wall {
            continue;
        }
        let body = &r["body"];
        match (r["dir"].as_str(), body["type"].as_str()) {
            (Some("event"), Some("OFFERS")) => {
                for o in body["offers"]["offers"].as_array().into_iter().flatten() {
                    if let Some(id) = o["id"]["value"].as_str() {
                        offer_event_of.insert(id.to_owned(), offer_events.len());
                    }
                }
                offer_events.push(*at);
            }
            (Some("call"), Some("ACCEPT")) => {
                let mut launched = false;
                for op in body["accept"]["operations"].as_array().into_iter().flatten() {
                    for t in op["launch"]["task_infos"].as_array().into_iter().flatten() {
                        let id = t["task_id"]["value"].as_str().unwrap_or_default().to_owned();
                        let agent = t["agent_id"]["value"].as_str().unwrap_or_default().to_owned();
                        tasks.insert(id, TaskTimes { agent, launched: *at, ..Default::default() });
                        launched = true;
                    }
                }
                if launched {
                    for id in body["accept"]["offer_ids"].as_array().into_iter().flatten() {
                        if let Some(e) = id["value"].as_str().and_then(|v| offer_event_of.get(v)) {
                            used_events.insert(*e);
                        }
                    }
                }
            }
            (Some("call"), Some("REVIVE")) => revives.push(*at),
            (Some("event"), Some("UPDATE")) => {
                let status = &body["update"]["status"];
                let id = status["task_id"]["value"].as_str().unwrap_or_default();
                let Some(t) = tasks.get_mut(id) else { continue };
                match status["state"].as_str() {
                    Some("TASK_RUNNING") => {
                        t.running.get_or_insert(*at);
                    }
                    Some("TASK_FINISHED" | "TASK_FAILED" | "TASK_LOST" | "TASK_GONE") => {
                        t.finished.get_or_insert(*at);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    anyhow::ensure!(!tasks.is_empty(), "the record shows no task launched");
    let first_launch = tasks.values().map(|t| t.launched).min().unwrap_or_default();
    let end = |t: &TaskTimes| t.finished.unwrap_or(wall);
    let executing =
        union(tasks.values().filter_map(|t| t.running.map(|r| (r, end(t)))).collect::<Vec<_>>());
    let in_flight = union(tasks.values().map(|t| (t.launched, end(t))).collect::<Vec<_>>());
    let mean = |xs: &[Duration]| {
        if xs.is_empty() { Duration::ZERO } else { xs.iter().sum::<Duration>() / xs.len() as u32 }
    };
    let launch: Vec<Duration> =
        tasks.values().filter_map(|t| Some(t.running? - t.launched)).collect();
    let exec: Vec<Duration> =
        tasks.values().filter_map(|t| Some(t.finished? - t.running?)).collect();
    // Per agent, in launch order: the gap between one task finishing and the next launch.
    let mut by_agent: BTreeMap<&str, Vec<&TaskTimes>> = BTreeMap::new();
    for t in tasks.values() {
        by_agent.entry(t.agent.as_str()).or_default().push(t);
    }
    let mut gaps = Vec::new();
    for list in by_agent.values_mut() {
        list.sort_by_key(|t| t.launched);
        for pair in list.windows(2) {
            if let Some(f) = pair[0].finished {
                gaps.push(pair[1].launched.saturating_sub(f));
            }
        }
    }
    let revive_to_offers: Vec<Duration> = revives
        .iter()
        .filter_map(|r| offer_events.iter().find(|o| *o >= r).map(|o| *o - *r))
        .collect();
    Ok(Analysis {
        offer_events: offer_events.len(),
        launch_rounds: used_events.len(),
        launches: tasks.len(),
        revives: revives.len(),
        first_launch,
        executing,
        in_flight,
        mean_launch: mean(&launch),
        mean_exec: mean(&exec),
        mean_finish_to_launch: mean(&gaps),
        mean_revive_to_offers: mean(&revive_to_offers),
    })
}

/// Total length of the union of `[start, end)` intervals.
fn union(mut spans: Vec<(Duration, Duration)>) -> Duration {
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Duration, Duration)> = None;
    for (s, e) in spans {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

fn figures(run: &Run) -> Vec<Figure> {
    let a = &run.analysis;
    let i = run.interval.as_secs_f64();
    let ms = |d: Duration| format!("{:.0}ms", d.as_secs_f64() * 1000.0);
    let budget = run.interval * run.serial_steps as u32;
    let with_reboots = run.interval * (run.serial_steps + run.reboot_steps) as u32;
    let wall = run.wall.as_secs_f64();
    let idle = run.wall.saturating_sub(a.executing);
    vec![
        Figure {
            name: format!("overhead.ratio ({}ms)", run.interval.as_millis()),
            ours: seconds(run.wall),
            baseline: seconds(budget),
            ratio: Some(wall / budget.as_secs_f64()),
        },
        Figure {
            name: "overhead.ratio +reboots".into(),
            ours: seconds(run.wall),
            baseline: seconds(with_reboots),
            ratio: Some(wall / with_reboots.as_secs_f64()),
        },
        Figure {
            name: "overhead.no_step_running".into(),
            ours: seconds(idle),
            baseline: seconds(budget),
            ratio: Some(idle.as_secs_f64() / budget.as_secs_f64()),
        },
        Figure {
            name: "overhead.step_exec_share".into(),
            ours: seconds(a.executing),
            baseline: seconds(run.wall),
            ratio: Some(a.executing.as_secs_f64() / wall),
        },
        Figure {
            name: "overhead.in_flight_share".into(),
            ours: seconds(a.in_flight),
            baseline: seconds(run.wall),
            ratio: Some(a.in_flight.as_secs_f64() / wall),
        },
        Figure {
            name: "overhead.launch_rounds".into(),
            ours: a.launch_rounds.to_string(),
            baseline: run.serial_steps.to_string(),
            ratio: Some(a.launch_rounds as f64 / run.serial_steps.max(1) as f64),
        },
        Figure {
            name: "overhead.offer_events".into(),
            ours: a.offer_events.to_string(),
            baseline: format!("{:.0}", wall / i),
            ratio: Some(a.offer_events as f64 / (wall / i)),
        },
        Figure {
            name: "overhead.tasks_launched".into(),
            ours: a.launches.to_string(),
            baseline: run.steps.to_string(),
            ratio: Some(a.launches as f64 / run.steps.max(1) as f64),
        },
        Figure {
            name: "overhead.first_launch".into(),
            ours: ms(a.first_launch),
            baseline: ms(run.interval),
            ratio: Some(a.first_launch.as_secs_f64() / i),
        },
        Figure {
            name: "overhead.done_to_launch".into(),
            ours: ms(a.mean_finish_to_launch),
            baseline: ms(run.interval),
            ratio: Some(a.mean_finish_to_launch.as_secs_f64() / i),
        },
        Figure {
            name: "overhead.revive_to_offer".into(),
            ours: ms(a.mean_revive_to_offers),
            baseline: ms(run.interval),
            ratio: Some(a.mean_revive_to_offers.as_secs_f64() / i),
        },
        Figure {
            name: "overhead.launch_to_run".into(),
            ours: ms(a.mean_launch),
            baseline: ms(run.interval),
            ratio: Some(a.mean_launch.as_secs_f64() / i),
        },
        Figure {
            name: "overhead.run_to_finish".into(),
            ours: ms(a.mean_exec),
            baseline: ms(run.interval),
            ratio: Some(a.mean_exec.as_secs_f64() / i),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn line(at: u64, dir: &str, body: Value) -> (Duration, Value) {
        (ms(at), serde_json::json!({"api": "scheduler", "dir": dir, "body": body}))
    }

    fn offers(ids: &[&str]) -> Value {
        let offers: Vec<Value> =
            ids.iter().map(|i| serde_json::json!({"id": {"value": i}})).collect();
        serde_json::json!({"type": "OFFERS", "offers": {"offers": offers}})
    }

    fn accept(offer: &str, task: &str, agent: &str) -> Value {
        serde_json::json!({"type": "ACCEPT", "accept": {
            "offer_ids": [{"value": offer}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
                {"task_id": {"value": task}, "agent_id": {"value": agent}}]}}]}})
    }

    fn update(task: &str, state: &str) -> Value {
        serde_json::json!({"type": "UPDATE", "update": {"status": {
            "task_id": {"value": task}, "state": state}}})
    }

    /// Two agents: round 1 launches a on S0 and b on S1, round 2 (after a REVIVE) launches c
    /// on S0; one OFFERS event is declined entirely. Every figure is known by hand.
    #[test]
    fn analysis_of_a_known_record() {
        let lines = vec![
            line(100, "event", offers(&["o1", "o2"])),
            line(110, "call", accept("o1", "a", "S0")),
            line(110, "call", accept("o2", "b", "S1")),
            line(150, "event", update("a", "TASK_RUNNING")),
            line(160, "event", update("b", "TASK_RUNNING")),
            line(300, "event", update("a", "TASK_FINISHED")),
            line(305, "call", serde_json::json!({"type": "REVIVE"})),
            line(500, "event", update("b", "TASK_FINISHED")),
            line(900, "event", offers(&["o3"])),
            line(1100, "event", offers(&["o4", "o5"])),
            line(1110, "call", accept("o4", "c", "S0")),
            line(1120, "event", update("c", "TASK_RUNNING")),
            line(1200, "event", update("c", "TASK_FINISHED")),
            // After the plan completed: ignored.
            line(2100, "event", offers(&["o6"])),
        ];
        let a = analyse(&lines, ms(1200)).expect("analysis");
        assert_eq!(
            a,
            Analysis {
                offer_events: 3,
                launch_rounds: 2,
                launches: 3,
                revives: 1,
                first_launch: ms(110),
                // [150, 500) and [1120, 1200).
                executing: ms(350 + 80),
                // [110, 500) and [1110, 1200).
                in_flight: ms(390 + 90),
                mean_launch: (ms(40) + ms(50) + ms(10)) / 3,
                mean_exec: (ms(150) + ms(340) + ms(80)) / 3,
                // S0: a finished at 300, c launched at 1110.
                mean_finish_to_launch: ms(810),
                mean_revive_to_offers: ms(595),
            }
        );
    }

    #[test]
    fn union_merges_overlaps_and_keeps_gaps() {
        assert_eq!(union(vec![]), Duration::ZERO);
        assert_eq!(union(vec![(ms(5), ms(10)), (ms(0), ms(6)), (ms(20), ms(25))]), ms(15));
        assert_eq!(union(vec![(ms(0), ms(10)), (ms(2), ms(3))]), ms(10));
    }
}
