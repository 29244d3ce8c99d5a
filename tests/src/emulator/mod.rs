//! mini-mesos: a strict Mesos 1.12 master and agents on loopback, for tests and the demo.
//!
//! The master serves the v1 scheduler API (`/api/v1/scheduler` and `/master/api/v1/scheduler`)
//! with the real master's checks, status codes and bodies (see `mesos-http-api.md` and the
//! fixtures); each agent listens on its own loopback address (`127.1.x.y` by default, so every
//! agent has its own IP) and serves the v1 executor API there, which is what
//! `MESOS_AGENT_ENDPOINT=<ip>:<port>` points executors at. Executors are real child processes
//! started in `<work dir>/agents/<agent id>/frameworks/<fw>/executors/<exec>/runs/<container>`
//! after the fetcher ([`fetcher`]) put their URIs there, with the environment a real agent
//! sets ([`launch::environment`]).
//!
//! # Simulated hosts
//!
//! With [`EmulatorConfig::hosts`] set, every agent gets a simulated host: a root directory
//! `<work dir>/hosts/<hostname>` laid out by `standins::host::prepare_host` plus
//! `etc/os-release` for its `os` attribute (`ubuntu14` → Ubuntu 14.04, `rhel7` → CentOS 7) and
//! spare block devices (sparse files under `dev/`, default one 100 GiB `xvdf`), and with
//! [`AgentSpec::mesos_version`] a `mesos-agent --version` answering that version (the
//! executor's `--volume-isolator auto` reads it). Its executors
//! get, in addition to the MESOS_* variables:
//! - `SCALEIO_HOST_ROOT=<host root>`: the executor treats this directory as `/`;
//! - `SCALEIO_STANDIN_STATE=<cluster model file>` ([`SimulatedHosts::standin_state`], default
//!   `<work dir>/scaleio-model.json`), where each host's IP (the agent's IP) is registered;
//! - `PATH=<tools dir>:<default PATH>`: `<work dir>/host-tools` holds `scli` and the
//!   `host-tools` links (uname, lsblk, systemctl, service, reboot, shutdown, apt-get, yum).
//!
//! When a host stand-in records a reboot request, the emulator performs it after
//! [`EmulatorConfig::reboot_delay`]: the agent's executors are killed, their tasks are reported
//! TASK_LOST (TASK_GONE for PARTITION_AWARE frameworks; source master, reason
//! REASON_AGENT_RESTARTED, message "Agent host rebooted"), the host gets a new boot id
//! (`proc/sys/kernel/random/boot_id`) and the agent re-registers **with the same agent id**, as
//! the real agent did in the recorded fixture (only a wiped work dir gives a new id).
//!
//! # Faults
//!
//! Library methods on [`Emulator`] and `POST` endpoints on every master address:
//! - `/__control/fail-over`: a new leader (new master id); every subscription stream closes and
//!   frameworks must re-subscribe with their id. With a standby master the roles swap, so the
//!   old address now answers 307 to the new leader.
//! - `/__control/leader?index=0|1|none`: choose the leader; `none` makes both answer 503.
//! - `/__control/agents/<id or hostname>/restart`: the agent restarts; executor streams close,
//!   executors of checkpointing frameworks must re-subscribe within the re-registration timeout
//!   (non-SUBSCRIBE calls get 503 meanwhile), others are killed (tasks TASK_LOST).
//! - `/__control/agents/<id or hostname>/reboot`: as above for a host reboot.
//! - `/__control/agents/<id or hostname>/reboot?new_id=true`: the host reboots and its agent
//!   comes back with a **new agent id**, as after a wiped work dir (`meta/slaves/latest` gone, or
//!   `--recover=cleanup` with a lost checkpoint): the master removes the old agent — its tasks
//!   not yet reported terminal get TASK_LOST (TASK_GONE for PARTITION_AWARE frameworks; source
//!   master, reason REASON_AGENT_REMOVED), every framework gets FAILURE with only the old agent
//!   id — and the new agent, same hostname and address, makes offers under its new id.
//! - `/__control/agents/<id or hostname>/remove`: the agent is removed for good (its host
//!   died): executors killed, tasks TASK_LOST and FAILURE as above; it never offers again and
//!   its executor API answers 503.
//! - `/__control/frameworks/<id>/drop-subscription`: closes the scheduler's stream.
//! - `/__control/frameworks/<id>/silence`: the master keeps the subscription's connection open
//!   but sends nothing more on it (no HEARTBEAT, no events), so only the scheduler's heartbeat
//!   watchdog (5 × the `heartbeat_interval_seconds` of SUBSCRIBED) can notice; a new SUBSCRIBE
//!   gets a working stream.
//! - `/__control/updates?delay_ms=N&duplicate=true|false`: delay the first delivery of every
//!   status update, or deliver each one twice.

mod core;
pub mod fetcher;
mod http;
pub mod launch;
pub mod process;
pub mod reaper;
pub mod record;
pub mod resources;
pub mod scale;
pub mod simhost;
pub mod spec;
pub mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;

pub use spec::{AgentSpec, DeviceSpec, SpecError};
pub use state::State;

/// Simulated hosts for the agents (see the module docs).
#[derive(Clone, Debug)]
pub struct SimulatedHosts {
    /// Directory holding the built `host-tools` and `scli` stand-ins (e.g. `target/debug`).
    pub bin_dir: PathBuf,
    /// The ScaleIO stand-in cluster model; default `<work dir>/scaleio-model.json`.
    pub standin_state: Option<PathBuf>,
}

/// How to run the emulator. `Default` is what a real cluster does (15 s heartbeats, 10 s
/// update retries) except the allocation interval (1 s) and the listen address (127.0.0.1:0).
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Master address; `None` binds 127.0.0.1 on a free port.
    pub listen: Option<SocketAddr>,
    /// Also run a non-leading master (answers 307 to the leader) on this address or a free port.
    pub standby: bool,
    pub standby_listen: Option<SocketAddr>,
    /// Hostname the master advertises (in `master_info` and 307 `Location`s).
    pub hostname: String,
    pub agents: Vec<AgentSpec>,
    /// Agent work dirs, sandboxes, fetch cache, simulated hosts. `None`: a temporary directory
    /// removed with the emulator.
    pub work_dir: Option<PathBuf>,
    /// `--record FILE`.
    pub record: Option<PathBuf>,
    pub heartbeat_interval: Duration,
    pub allocation_interval: Duration,
    /// First status-update retry (doubling up to 10 min).
    pub update_retry_interval: Duration,
    pub executor_registration_timeout: Duration,
    pub executor_reregistration_timeout: Duration,
    pub recovery_timeout: Duration,
    pub shutdown_grace_period: Duration,
    pub reboot_delay: Duration,
    /// Seed for master, framework, stream, container ids and status uuids.
    pub seed: u64,
    pub hosts: Option<SimulatedHosts>,
    /// Extra executor environment (the agent's `--executor_environment_variables`).
    pub executor_env: Vec<(String, String)>,
    /// Agent → executor HEARTBEAT interval (a real agent: 30 minutes).
    pub executor_heartbeat_interval: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: None,
            standby: false,
            standby_listen: None,
            hostname: "localhost".into(),
            agents: Vec::new(),
            work_dir: None,
            record: None,
            heartbeat_interval: Duration::from_secs(15),
            allocation_interval: Duration::from_secs(1),
            update_retry_interval: Duration::from_secs(10),
            executor_registration_timeout: Duration::from_secs(60),
            executor_reregistration_timeout: Duration::from_secs(2),
            recovery_timeout: Duration::from_secs(15 * 60),
            shutdown_grace_period: Duration::from_secs(5),
            reboot_delay: Duration::from_millis(500),
            seed: 0,
            hosts: None,
            executor_env: Vec::new(),
            executor_heartbeat_interval: Duration::from_secs(30 * 60),
        }
    }
}

impl EmulatorConfig {
    /// `n` agents `agent-1` … `agent-n` with default resources and `os:ubuntu14`.
    pub fn with_agents(mut self, n: usize) -> Self {
        self.agents = (1..=n)
            .map(|i| {
                let mut a = AgentSpec::new(format!("agent-{i}"));
                a.attributes.push(("os".into(), "ubuntu14".into()));
                a
            })
            .collect();
        self
    }
}

#[derive(Debug)]
pub(crate) struct HostSettings {
    pub tools_dir: PathBuf,
    pub state: PathBuf,
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub hostname: String,
    pub work_dir: PathBuf,
    pub heartbeat: Duration,
    pub allocation: Duration,
    pub update_retry: Duration,
    pub executor_registration_timeout: Duration,
    pub executor_reregistration_timeout: Duration,
    pub recovery_timeout: Duration,
    pub shutdown_grace: Duration,
    pub reboot_delay: Duration,
    pub hosts: Option<HostSettings>,
    pub executor_env: Vec<(String, String)>,
    pub executor_heartbeat: Duration,
}

/// What every handler and timer shares.
#[derive(Debug)]
pub(crate) struct Shared {
    core: Mutex<core::Core>,
    pub settings: Settings,
    pub recorder: Option<record::Recorder>,
    pub http: reqwest::Client,
    pub fetch_cache: Mutex<HashMap<String, PathBuf>>,
    pub fetch_cache_lock: tokio::sync::Mutex<()>,
    pub tick_stats: Mutex<TickStats>,
    /// Kills the executors if this process dies without stopping them ([`reaper`]).
    pub reaper: Option<reaper::Reaper>,
}

/// How long the timer ticks (heartbeats, retries, timeouts and allocation cycles) took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickStats {
    pub ticks: u64,
    pub total: Duration,
    pub max: Duration,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, core::Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, api: record::Api, dir: record::Dir, agent: Option<&str>, body: &[u8]) {
        if let Some(r) = &self.recorder {
            r.record(api, dir, agent, body);
        }
    }
}

/// A running emulator. Dropping it kills every executor process and stops the servers.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    masters: Vec<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))
}

fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "server stopped");
        }
    })
}

impl Emulator {
    /// Binds the master(s) and agents, prepares simulated hosts, and starts the timers.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Self> {
        for a in &config.agents {
            a.validate()?;
        }
        let mut names = std::collections::HashSet::new();
        if let Some(dup) = config.agents.iter().find(|a| !names.insert(a.hostname.clone())) {
            anyhow::bail!(
                "agent hostname {:?} appears twice; hostnames must be unique",
                dup.hostname
            );
        }
        let (tmp, work_dir) = match &config.work_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("mini-mesos-")
                    .tempdir()
                    .context("cannot create a temporary work dir")?;
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&work_dir)
            .with_context(|| format!("cannot create the work dir {}", work_dir.display()))?;
        let work_dir = work_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", work_dir.display()))?;
        let hosts = match &config.hosts {
            None => None,
            Some(h) => {
                let tools_dir = work_dir.join("host-tools");
                simhost::install_tools(&tools_dir, &h.bin_dir).map_err(anyhow::Error::msg)?;
                let state =
                    h.standin_state.clone().unwrap_or_else(|| work_dir.join("scaleio-model.json"));
                Some(HostSettings { tools_dir, state })
            }
        };
        let recorder = match &config.record {
            Some(p) => Some(
                record::Recorder::create(p)
                    .with_context(|| format!("cannot create the record file {}", p.display()))?,
            ),
            None => None,
        };
        let settings = Settings {
            hostname: config.hostname.clone(),
            work_dir: work_dir.clone(),
            heartbeat: config.heartbeat_interval,
            allocation: config.allocation_interval,
            update_retry: config.update_retry_interval,
            executor_registration_timeout: config.executor_registration_timeout,
            executor_reregistration_timeout: config.executor_reregistration_timeout,
            recovery_timeout: config.recovery_timeout,
            shutdown_grace: config.shutdown_grace_period,
            reboot_delay: config.reboot_delay,
            hosts,
            executor_env: config.executor_env.clone(),
            executor_heartbeat: config.executor_heartbeat_interval,
        };
        let http = reqwest::Client::builder()
            .http1_only()
            .build()
            .context("cannot build the fetcher's HTTP client")?;
        let shared = Arc::new_cyclic(|weak| Shared {
            core: Mutex::new(core::Core::new(weak.clone(), config.seed)),
            settings,
            recorder,
            http,
            fetch_cache: Mutex::new(HashMap::new()),
            fetch_cache_lock: tokio::sync::Mutex::new(()),
            tick_stats: Mutex::new(TickStats::default()),
            reaper: reaper::Reaper::start(),
        });
        let mut tasks = Vec::new();
        let mut masters = Vec::new();
        let mut listeners =
            vec![bind(config.listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into())).await?];
        if config.standby {
            listeners.push(
                bind(config.standby_listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into())).await?,
            );
        }
        for l in &listeners {
            masters.push(l.local_addr()?);
        }
        shared.lock().masters = masters.clone();
        for (index, l) in listeners.into_iter().enumerate() {
            tasks.push(serve(
                l,
                http::master_router(http::MasterCtx { shared: shared.clone(), index }),
            ));
        }
        for (i, spec) in config.agents.iter().enumerate() {
            let ip = spec.ip.unwrap_or_else(|| spec::default_agent_ip(i));
            let listener = bind((ip, 0).into()).await?;
            let port = listener.local_addr()?.port();
            let (root, boot_id) = match &shared.settings.hosts {
                Some(h) => {
                    let root = simhost::root_of(&work_dir, &spec.hostname);
                    let boot = simhost::prepare(&root, spec, &ip.to_string(), &h.state)
                        .map_err(anyhow::Error::msg)?;
                    (Some(root), boot)
                }
                None => (None, shared.lock().new_uuid()),
            };
            shared.lock().add_agent(spec.clone(), ip, port, root, boot_id);
            tasks.push(serve(
                listener,
                http::agent_router(http::AgentCtx {
                    shared: shared.clone(),
                    host: spec.hostname.clone(),
                }),
            ));
        }
        let tick =
            [config.allocation_interval, config.heartbeat_interval, config.update_retry_interval]
                .into_iter()
                .min()
                .unwrap_or(Duration::from_secs(1))
                .div_f64(4.0)
                .clamp(Duration::from_millis(5), Duration::from_millis(50));
        let weak = Arc::downgrade(&shared);
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(shared) = weak.upgrade() else { return };
                let started = std::time::Instant::now();
                shared.lock().tick();
                let took = started.elapsed();
                let mut stats = shared.tick_stats.lock().unwrap_or_else(|e| e.into_inner());
                stats.ticks += 1;
                stats.total += took;
                stats.max = stats.max.max(took);
            }
        }));
        Ok(Self { shared, masters, tasks, _tmp: tmp })
    }

    /// The first master's base URL (`http://127.0.0.1:<port>/`): the leader at start.
    pub fn master_url(&self) -> reqwest::Url {
        url_of(self.masters[0])
    }

    /// Every master's base URL (leader first at start, then the standby).
    pub fn master_urls(&self) -> Vec<reqwest::Url> {
        self.masters.iter().copied().map(url_of).collect()
    }

    /// The current leader's base URL, if one is elected.
    pub fn leader_url(&self) -> Option<reqwest::Url> {
        let core = self.shared.lock();
        core.leader.map(|i| url_of(self.masters[i]))
    }

    /// Agent work dirs, sandboxes and simulated hosts live here.
    pub fn work_dir(&self) -> &Path {
        &self.shared.settings.work_dir
    }

    /// A snapshot of frameworks, agents and tasks (the same data as `GET /master/state`).
    pub fn state(&self) -> State {
        State::of(&self.shared.lock())
    }

    /// The executor API URL of agent `hostname`.
    pub fn agent_url(&self, hostname: &str) -> Option<reqwest::Url> {
        let core = self.shared.lock();
        core.agents.values().find(|a| a.spec.hostname == hostname).map(|a| url_of(a.endpoint()))
    }

    /// A new master takes over (see the module docs).
    pub fn fail_over(&self) {
        self.shared.lock().fail_over();
    }

    /// Chooses the leading master (`None`: no leader, every master answers 503).
    pub fn set_leader(&self, index: Option<usize>) {
        let mut core = self.shared.lock();
        core.leader = index.filter(|i| *i < self.masters.len());
    }

    /// Restarts an agent (by id or hostname).
    pub fn restart_agent(&self, agent: &str) -> anyhow::Result<()> {
        let mut core = self.shared.lock();
        let id = core
            .agent_id_by_name(agent)
            .with_context(|| format!("no agent with id or hostname {agent:?}"))?;
        core.restart_agent(&id).map_err(anyhow::Error::msg)
    }

    /// Reboots an agent's host (by id or hostname); returns the new boot id.
    pub fn reboot_agent(&self, agent: &str) -> anyhow::Result<String> {
        let mut core = self.shared.lock();
        let id = core
            .agent_id_by_name(agent)
            .with_context(|| format!("no agent with id or hostname {agent:?}"))?;
        core.reboot_agent(&id).map_err(anyhow::Error::msg)
    }

    /// Reboots an agent's host (by id or hostname) and brings its agent back with a new agent id
    /// (see the module docs); returns the new agent id and boot id.
    pub fn reboot_agent_new_id(&self, agent: &str) -> anyhow::Result<(String, String)> {
        let mut core = self.shared.lock();
        let id = core
            .agent_id_by_name(agent)
            .with_context(|| format!("no agent with id or hostname {agent:?}"))?;
        core.reboot_agent_new_id(&id).map_err(anyhow::Error::msg)
    }

    /// From now on, reboots the host of `agent` (id or hostname) asks for (a reboot step) bring
    /// its agent back under a new agent id, as [`Emulator::reboot_agent_new_id`] does.
    pub fn set_new_id_on_reboot(&self, agent: &str, on: bool) -> anyhow::Result<()> {
        let mut core = self.shared.lock();
        let id = core
            .agent_id_by_name(agent)
            .with_context(|| format!("no agent with id or hostname {agent:?}"))?;
        core.agents.get_mut(&id).expect("found").new_id_on_reboot = on;
        Ok(())
    }

    /// Removes an agent (by id or hostname) for good (see the module docs).
    pub fn remove_agent(&self, agent: &str) -> anyhow::Result<()> {
        let mut core = self.shared.lock();
        let id = core
            .agent_id_by_name(agent)
            .with_context(|| format!("no agent with id or hostname {agent:?}"))?;
        core.remove_agent(&id).map_err(anyhow::Error::msg)
    }

    /// The id of the agent registered for `hostname` now (`None` once removed).
    pub fn agent_id(&self, hostname: &str) -> Option<String> {
        self.shared.lock().agent_id_of_host(hostname).map(str::to_owned)
    }

    /// Stops sending anything (heartbeats, events) on a framework's subscription stream while
    /// keeping the connection open; false if it had none.
    pub fn silence_subscription(&self, framework_id: &str) -> bool {
        self.shared.lock().silence_subscription(framework_id)
    }

    /// Closes a framework's subscription stream; false if it had none.
    pub fn drop_subscription(&self, framework_id: &str) -> bool {
        self.shared.lock().drop_subscription(framework_id)
    }

    /// Delays the first delivery of every status update by `delay`.
    pub fn set_update_delay(&self, delay: Duration) {
        self.shared.lock().faults.delay = delay;
    }

    /// Delivers every status update twice (same uuid).
    pub fn set_duplicate_updates(&self, on: bool) {
        self.shared.lock().faults.duplicate = on;
    }

    /// Timer tick statistics since the start or the last reset.
    pub fn tick_stats(&self) -> TickStats {
        *self.shared.tick_stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restarts the tick statistics.
    pub fn reset_tick_stats(&self) {
        *self.shared.tick_stats.lock().unwrap_or_else(|e| e.into_inner()) = TickStats::default();
    }

    /// Stops the servers and kills every executor.
    pub async fn shutdown(mut self) {
        self.stop();
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }

    fn stop(&mut self) {
        self.shared.lock().kill_all();
        if let Some(r) = &self.shared.reaper {
            r.finish();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn url_of(addr: SocketAddr) -> reqwest::Url {
    reqwest::Url::parse(&format!("http://{addr}/")).expect("a socket address makes a valid URL")
}
