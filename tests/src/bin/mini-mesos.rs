//! `mini-mesos`: a strict Mesos master and agent emulator for tests and the local demo.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use testkit::emulator::{AgentSpec, Emulator, EmulatorConfig, SimulatedHosts};

/// A Mesos 1.12 master and agents on loopback that answer the v1 scheduler and executor APIs
/// like the real ones (status codes, bodies, RecordIO streams) and run executors as real
/// processes. Prints the master URL on stdout once it listens; logs go to stderr.
///
/// Fault injection: POST /__control/fail-over, /__control/leader?index=0|1|none,
/// /__control/agents/<id|hostname>/restart, /__control/agents/<id|hostname>/reboot[?new_id=true],
/// /__control/agents/<id|hostname>/remove, /__control/frameworks/<id>/drop-subscription,
/// /__control/frameworks/<id>/silence, /__control/updates?delay_ms=N&duplicate=true.
/// State: GET /master/state.
#[derive(Debug, Parser)]
#[command(name = "mini-mesos", version)]
struct Args {
    /// Master address.
    #[arg(long, default_value = "127.0.0.1:5050", env = "MINI_MESOS_LISTEN")]
    listen: SocketAddr,
    /// Also run a non-leading master on this address (answers 307 to the leader).
    #[arg(long)]
    standby: Option<SocketAddr>,
    /// Number of agents (agent-1 … agent-N, default resources, os:ubuntu14).
    #[arg(long, default_value_t = 3, conflicts_with = "agents_file")]
    agents: usize,
    /// JSON list of agents: [{"hostname":"a1","cpus":4,"mem":8192,"disk":100000,
    /// "ports":"[31000-32000]","attributes":"os:ubuntu14;scaleio-sds-domains:pd1",
    /// "devices":[{"name":"xvdf","size_gib":100}]}].
    #[arg(long, value_name = "FILE")]
    agents_file: Option<PathBuf>,
    /// Agent work dirs, sandboxes and simulated hosts (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Write every call and event as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Scheduler heartbeat interval in seconds (a real master uses 15).
    #[arg(long, default_value_t = 15.0, value_name = "SECS")]
    heartbeat: f64,
    /// Offer cycle in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    allocation_interval: f64,
    /// First status-update retry in seconds (doubling up to 10 min).
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    update_retry: f64,
    /// Seed for ids.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Give every agent a simulated host; DIR holds the built `host-tools` and `scli` stand-ins
    /// (e.g. target/debug).
    #[arg(long, value_name = "DIR")]
    host_tools: Option<PathBuf>,
    /// The ScaleIO stand-in cluster model (default: <work dir>/scaleio-model.json).
    #[arg(long, value_name = "FILE", requires = "host_tools")]
    standin_state: Option<PathBuf>,
    /// Hostname the master advertises (master_info, 307 Location).
    #[arg(long, default_value = "localhost")]
    hostname: String,
    /// Run the scale check instead of serving: --agents agents, this many tasks; prints
    /// `name  ours  baseline  ratio` lines (baseline: the allocation interval) and exits.
    #[arg(long, value_name = "TASKS")]
    scale_check: Option<usize>,
    /// Extra executor environment variable NAME=VALUE (repeatable).
    #[arg(long = "executor-env", value_name = "NAME=VALUE")]
    executor_env: Vec<String>,
}

fn seconds(flag: &str, v: f64) -> anyhow::Result<Duration> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        anyhow::bail!("--{flag} {v} is invalid: expected a positive number of seconds")
    }
}

async fn scale(agents: usize, tasks: usize) -> anyhow::Result<()> {
    let r = testkit::emulator::scale::scale_check(agents, tasks, Duration::from_secs(10)).await?;
    let ms = |d: Duration| format!("{:.2}ms", d.as_secs_f64() * 1000.0);
    let interval = r.allocation_interval;
    println!(
        "emulator.launch ({} agents, {} tasks)  {:.2}s  -  -",
        r.agents,
        r.tasks,
        r.launch.as_secs_f64()
    );
    println!(
        "emulator.tick_max  {}  {}  {:.4}",
        ms(r.max_tick),
        ms(interval),
        r.max_tick.as_secs_f64() / interval.as_secs_f64()
    );
    println!(
        "emulator.tick_mean ({} ticks)  {}  {}  {:.4}",
        r.ticks,
        ms(r.mean_tick),
        ms(interval),
        r.mean_tick.as_secs_f64() / interval.as_secs_f64()
    );
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(tasks) = args.scale_check {
        return scale(args.agents, tasks).await;
    }
    let mut config = EmulatorConfig {
        listen: Some(args.listen),
        standby: args.standby.is_some(),
        standby_listen: args.standby,
        hostname: args.hostname,
        work_dir: args.work_dir,
        record: args.record,
        heartbeat_interval: seconds("heartbeat", args.heartbeat)?,
        allocation_interval: seconds("allocation-interval", args.allocation_interval)?,
        update_retry_interval: seconds("update-retry", args.update_retry)?,
        seed: args.seed,
        hosts: args
            .host_tools
            .map(|bin_dir| SimulatedHosts { bin_dir, standin_state: args.standin_state }),
        ..EmulatorConfig::default()
    }
    .with_agents(args.agents);
    for kv in &args.executor_env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--executor-env {kv:?} is invalid: expected NAME=VALUE"))?;
        config.executor_env.push((k.to_owned(), v.to_owned()));
    }
    if let Some(file) = &args.agents_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read --agents-file {}", file.display()))?;
        config.agents = serde_json::from_str::<Vec<AgentSpec>>(&text).with_context(|| {
            format!("--agents-file {}: expected a JSON list of agents", file.display())
        })?;
    }
    let emulator = Emulator::start(config).await?;
    println!("{}", emulator.master_url());
    tracing::info!(work_dir = %emulator.work_dir().display(), agents = emulator.state().slaves.len(), "mini-mesos ready");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot wait for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot wait for Ctrl-C")?,
        _ = term.recv() => {}
    }
    // Executors are killed and servers stopped.
    emulator.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() {
    // The helper the emulator starts to kill its executors if it dies (see `emulator::reaper`).
    if std::env::args().nth(1).as_deref() == Some(testkit::emulator::reaper::REAPER_FLAG) {
        testkit::emulator::reaper::run_reaper();
        return;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("mini-mesos: {e:#}");
        std::process::exit(1);
    }
}
