//! `testkit::deployment`: a whole deployment on this machine for end-to-end tests — the
//! emulator with simulated agents, the gateway stand-in, demo bundles, and the real
//! `scaleio-scheduler` as a child process that can be SIGKILLed and restarted on the same store.
//!
//! Layout of the deployment's directory (a temporary directory removed on drop):
//! `secrets/` (0700; the password file 0600), `bundles/` (the demo bundles), `mesos/` (the
//! emulator's work dir with the simulated hosts and `record.jsonl`), `state/` (the file store),
//! `logs/scheduler-<n>.log` (one log per scheduler process), `standin-cluster.json` (the
//! stand-ins' cluster model, which keeps the password in clear as the real MDM does).
//!
//! Dropping a [`Deployment`] SIGKILLs the scheduler, then the emulator kills every executor.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use packaging::catalog::Platform;
use serde_json::Value;

use crate::emulator::{AgentSpec, Emulator, EmulatorConfig, SimulatedHosts};
use crate::standins::gateway::GatewayStandin;

/// How the scheduler provisions ScaleIO (its `--mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Install and configure the whole cluster (three MDMs chosen among the agents).
    Full,
    /// Join the existing cluster seeded at [`EXISTING_MDMS`].
    Preconfigured,
}

impl Mode {
    fn flag(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Preconfigured => "preconfigured",
        }
    }
}

/// Where the scheduler keeps its state (its `--store`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `file:<deployment dir>/state`.
    File,
    /// `zk://<hosts>/<path>`, e.g. `zk://127.0.0.1:2181/scaleio`.
    Zk(String),
}

/// What to deploy.
#[derive(Clone, Debug)]
pub struct DeploymentSpec {
    /// `(hostname, os attribute)`: `ubuntu14` or `rhel7`.
    pub agents: Vec<(String, String)>,
    pub mode: Mode,
    pub store: StoreKind,
    /// The emulator's id seed.
    pub seed: u64,
    /// The master's heartbeat interval (the scheduler's watchdog fires after 5 missed ones).
    pub heartbeat: Duration,
    /// The master's allocation interval.
    pub allocation: Duration,
    /// Also run a standby master answering 307 to the leader.
    pub standby: bool,
    /// Build the `os:rhel7` bundle too (needs `rpmbuild`); on by default.
    pub rhel: bool,
    /// More scheduler flags, after the ones the deployment sets (e.g. `--agent-lost-timeout 5`).
    pub extra_scheduler_args: Vec<String>,
}

impl DeploymentSpec {
    /// `n` agents `agent-1` … `agent-n`, alternating `os:rhel7` (odd) and `os:ubuntu14` (even),
    /// full mode, file store, 2 s heartbeats and 200 ms allocation rounds.
    pub fn new(n: usize) -> Self {
        let agents = (1..=n)
            .map(|i| (format!("agent-{i}"), if i % 2 == 1 { "rhel7" } else { "ubuntu14" }.into()))
            .collect();
        Self {
            agents,
            mode: Mode::Full,
            store: StoreKind::File,
            seed: 0,
            heartbeat: Duration::from_secs(2),
            allocation: Duration::from_millis(200),
            standby: false,
            rhel: true,
            extra_scheduler_args: Vec::new(),
        }
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
}

/// MDM addresses of the cluster pre-configured mode joins (outside the emulated agents).
pub const EXISTING_MDMS: [&str; 3] = ["127.0.10.1", "127.0.10.2", "127.0.10.3"];

/// A running scheduler process.
#[derive(Debug)]
struct SchedulerProcess {
    child: tokio::process::Child,
    api: String,
    log: PathBuf,
}

/// A whole deployment (see the module docs).
#[derive(Debug)]
pub struct Deployment {
    pub spec: DeploymentSpec,
    /// The in-process emulator: faults through its methods, state through [`Emulator::state`].
    pub emulator: Emulator,
    pub gateway: GatewayStandin,
    password: String,
    password_file: PathBuf,
    standin_state: PathBuf,
    bundle_dir: PathBuf,
    record: PathBuf,
    scheduler: Option<SchedulerProcess>,
    /// How many scheduler processes were started (names the log files).
    starts: usize,
    /// The port the scheduler's API listens on (kept across restarts).
    port: u16,
    /// The most executors seen at once on each agent (hostname), sampled on every poll.
    max_executors: std::collections::BTreeMap<String, usize>,
    http: reqwest::Client,
    // Declared last: dropped after the emulator stopped writing into it.
    dir: tempfile::TempDir,
}

/// A fresh random password (hex of 16 bytes of the kernel's CSPRNG).
pub fn new_password() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `text` to `path` readable by the owner only (created 0600, never world-readable).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

/// Seeds the stand-ins' model with the existing cluster pre-configured mode joins: three MDMs
/// at [`EXISTING_MDMS`], the admin password, and the `default` protection domain and pool.
pub fn seed_existing_cluster(state_file: &Path, password: &str) -> anyhow::Result<()> {
    use crate::standins::model::{Mdm, Model, Pd, Pool, System};
    Model::update(state_file, |m| {
        let mut mdm = |ip: &str, role: &str, name: &str| Mdm {
            id: m.new_id(),
            name: name.to_owned(),
            ip: ip.to_owned(),
            management_ip: None,
            role: role.to_owned(),
        };
        let [primary, secondary, tiebreaker] = EXISTING_MDMS;
        let master = mdm(primary, "manager", "mdm-1");
        let slave = mdm(secondary, "manager", "mdm-2");
        let tb = mdm(tiebreaker, "tb", "tb-1");
        let pd = Pd { id: m.new_id(), name: "default".to_owned() };
        let pool = Pool { id: m.new_id(), name: "default".to_owned(), pd_id: pd.id.clone() };
        m.system = Some(System {
            id: m.new_id(),
            install_id: m.new_id(),
            name: Some("scaleio".to_owned()),
            mode: "3_node".to_owned(),
            password: password.to_owned(),
            password_changed: true,
            master,
            slaves: vec![slave],
            tiebreakers: vec![tb],
            standbys: Vec::new(),
            pds: vec![pd],
            pools: vec![pool],
            sds: Vec::new(),
            devices: Vec::new(),
            sdcs: Vec::new(),
            volumes: Vec::new(),
        });
    })
    .with_context(|| format!("cannot seed the existing cluster in {}", state_file.display()))
}

impl Deployment {
    /// Prepares everything and starts the emulator and the gateway stand-in; the scheduler is
    /// started by [`Deployment::start_scheduler`].
    pub async fn start(spec: DeploymentSpec) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let bin_dir = crate::bins::target_profile_dir()?;
        for b in ["scaleio-scheduler", "scaleio-executor", "scli", "host-tools"] {
            crate::bins::workspace_binary(b)?;
        }
        let dir = tempfile::Builder::new().prefix("deployment-").tempdir()?;
        let root = dir.path().to_owned();
        std::fs::create_dir_all(root.join("logs"))?;
        let secrets = root.join("secrets");
        std::fs::create_dir_all(&secrets)?;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))?;
        let password = new_password()?;
        let password_file = secrets.join("scaleio-password");
        write_private(&password_file, &password)?;

        let mut platforms = vec![Platform::Ubuntu14];
        if spec.rhel {
            platforms.push(Platform::Rhel7);
        }
        let catalog = crate::fixtures::bundle::shipped_catalog()?;
        let bundles = crate::fixtures::bundle::build_demo_bundles(
            &catalog,
            &platforms,
            &root.join("artifacts"),
            packaging::archive::source_date_epoch()?,
        )
        .await
        .context("cannot build the demo bundles")?;

        let standin_state = root.join("standin-cluster.json");
        let gateway = GatewayStandin::start(&standin_state, &root, Duration::from_secs(600))
            .await
            .context("cannot start the gateway stand-in")?;
        if spec.mode == Mode::Preconfigured {
            seed_existing_cluster(&standin_state, &password)?;
        }

        let record = root.join("mesos/record.jsonl");
        std::fs::create_dir_all(root.join("mesos"))?;
        let agents = spec
            .agents
            .iter()
            .map(|(host, os)| AgentSpec::new(host.clone()).with_attributes(&format!("os:{os}")))
            .collect::<Result<Vec<_>, _>>()?;
        let config = EmulatorConfig {
            agents,
            standby: spec.standby,
            work_dir: Some(root.join("mesos")),
            record: Some(record.clone()),
            heartbeat_interval: spec.heartbeat,
            allocation_interval: spec.allocation,
            update_retry_interval: Duration::from_secs(1),
            executor_reregistration_timeout: Duration::from_secs(5),
            reboot_delay: Duration::from_millis(200),
            seed: spec.seed,
            hosts: Some(SimulatedHosts { bin_dir, standin_state: Some(standin_state.clone()) }),
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::start(config).await.context("cannot start the emulator")?;
        // As on real agents, every host carries the admin password in a root-only file where
        // executors read it (the scheduler's --agent-password-file default), and the gateway's
        // CA they verify its certificate with (--gateway-ca-file). The CA sits at the same path
        // on every host, the scheduler's included (it reads the capacity from the gateway): here
        // the stand-in's own CA file, whose absolute path is repeated under each host's root.
        for (host, _) in &spec.agents {
            let root = crate::emulator::simhost::root_of(emulator.work_dir(), host);
            let etc = root.join("etc/scaleio");
            std::fs::create_dir_all(&etc)?;
            write_private(&etc.join("admin-password"), &password)?;
            let ca = root.join(gateway.ca_file().strip_prefix("/").unwrap_or(gateway.ca_file()));
            if let Some(dir) = ca.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::copy(gateway.ca_file(), &ca)
                .with_context(|| format!("cannot copy the gateway CA to {}", ca.display()))?;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            spec,
            emulator,
            gateway,
            password,
            password_file,
            standin_state,
            bundle_dir: bundles.dir,
            record,
            scheduler: None,
            starts: 0,
            port: free_port()?,
            max_executors: std::collections::BTreeMap::new(),
            http,
            dir,
        })
    }

    /// The deployment's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated ScaleIO admin password (to search outputs for it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The stand-ins' cluster model file.
    pub fn standin_state(&self) -> &Path {
        &self.standin_state
    }

    /// The simulated host root of agent `hostname`.
    pub fn host_root(&self, hostname: &str) -> PathBuf {
        crate::emulator::simhost::root_of(self.emulator.work_dir(), hostname)
    }

    /// The scheduler's API base URL, e.g. `http://127.0.0.1:1234`.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The scheduler's command line (without the program).
    pub fn scheduler_args(&self) -> Vec<String> {
        // A real scheduler knows one master URL; after a fail-over with a standby, that address
        // answers 307 to the new leader.
        let master = self.emulator.master_url().as_str().trim_end_matches('/').to_owned();
        let store = match &self.spec.store {
            StoreKind::File => format!("file:{}", self.dir().join("state").display()),
            StoreKind::Zk(s) => s.clone(),
        };
        let mut args: Vec<String> = [
            "--master",
            &master,
            "--mode",
            self.spec.mode.flag(),
            "--rest-address",
            "127.0.0.1",
            "--rest-port",
            &self.port.to_string(),
            "--hostname",
            "127.0.0.1",
            "--store",
            &store,
            "--bundle-dir",
            &self.bundle_dir.display().to_string(),
            "--executor-binary",
            &crate::bins::target_profile_dir()
                .map(|d| d.join("scaleio-executor"))
                .unwrap_or_default()
                .display()
                .to_string(),
            "--gateway",
            self.gateway.endpoint().trim_start_matches("https://"),
            "--password-file",
            &self.password_file.display().to_string(),
            "--gateway-ca-file",
            &self.gateway.ca_file().display().to_string(),
            "--failover-timeout",
            "3600",
            "--log-level",
            "info",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if self.spec.mode == Mode::Preconfigured {
            for (flag, ip) in
                ["--primary-mdm", "--secondary-mdm", "--tiebreaker-mdm"].iter().zip(EXISTING_MDMS)
            {
                args.extend([(*flag).to_owned(), ip.to_owned()]);
            }
        }
        args.extend(self.spec.extra_scheduler_args.iter().cloned());
        args
    }

    /// Starts a scheduler process (the first, or a restart on the same store and port) with a
    /// clean environment (`PATH` and the gateway CA only) and its output in
    /// `logs/scheduler-<n>.log`; returns once its API answers.
    pub async fn start_scheduler(&mut self) -> anyhow::Result<()> {
        if self.scheduler.is_some() {
            bail!("a scheduler is already running; kill it first");
        }
        self.starts += 1;
        let log = self.dir().join(format!("logs/scheduler-{}.log", self.starts));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let bin = crate::bins::workspace_binary("scaleio-scheduler")?;
        let mut cmd = crate::emulator::process::command(&bin);
        cmd.args(self.scheduler_args())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SSL_CERT_FILE", self.gateway.ca_file())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
        self.scheduler = Some(SchedulerProcess { child, api: self.api(), log });
        self.wait_for_api(Duration::from_secs(30)).await
    }

    /// Polls `/v1/health` until it answers; an error naming the log if the scheduler exits.
    pub async fn wait_for_api(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_scheduler()?;
            let api = self.scheduler.as_ref().map(|s| s.api.clone()).unwrap_or_default();
            if self.http.get(format!("{api}/v1/health")).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the scheduler's API did not answer within {timeout:?}\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Samples how many executors each agent runs now (see [`Deployment::max_executors`]).
    pub fn sample_executors(&mut self) {
        for a in self.emulator.state().slaves {
            let n = a.executors.len();
            let max = self.max_executors.entry(a.hostname).or_default();
            *max = (*max).max(n);
        }
    }

    /// The most executors seen at once on each agent, over every sample taken while waiting.
    pub fn max_executors(&self) -> &std::collections::BTreeMap<String, usize> {
        &self.max_executors
    }

    /// An error (with the log's tail) if the scheduler process exited.
    pub fn check_scheduler(&mut self) -> anyhow::Result<()> {
        self.sample_executors();
        if let Some(s) = &mut self.scheduler
            && let Ok(Some(status)) = s.child.try_wait()
        {
            bail!("scaleio-scheduler exited ({status})\n{}", self.log_tail());
        }
        Ok(())
    }

    /// The last 40 lines of the current (or last) scheduler log.
    pub fn log_tail(&self) -> String {
        let log = self.dir().join(format!("logs/scheduler-{}.log", self.starts));
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGKILLs the scheduler and reaps it.
    pub async fn kill_scheduler(&mut self) -> anyhow::Result<()> {
        let Some(mut s) = self.scheduler.take() else { bail!("no scheduler is running") };
        s.child.start_kill().context("cannot SIGKILL the scheduler")?;
        let _ = tokio::time::timeout(Duration::from_secs(10), s.child.wait()).await;
        let _ = s.log;
        Ok(())
    }

    /// SIGTERMs the scheduler and waits up to 10 s for it to exit (then SIGKILLs it).
    pub async fn stop_scheduler(&mut self) -> Option<std::process::ExitStatus> {
        let mut s = self.scheduler.take()?;
        if let Some(pid) = s.child.id() {
            let mut kill = crate::emulator::process::command("kill");
            kill.arg("-TERM").arg(pid.to_string());
            let _ = kill.status().await;
        }
        match tokio::time::timeout(Duration::from_secs(10), s.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = s.child.start_kill();
                s.child.wait().await.ok()
            }
        }
    }

    /// `GET <api><path>`: status and JSON body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.api());
        let r = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = r.status().as_u16();
        let body = r.json().await.with_context(|| format!("GET {url}: not JSON"))?;
        Ok((status, body))
    }

    /// `GET <api><path>`: status and body text.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let url = format!("{}{path}", self.api());
        let r = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    /// `/v1/plan`.
    pub async fn plan(&self) -> anyhow::Result<Value> {
        Ok(self.get("/v1/plan").await?.1)
    }

    /// Steps complete and in total, from `/v1/plan`.
    pub async fn progress(&self) -> anyhow::Result<(usize, usize)> {
        let plan = self.plan().await?;
        let steps = steps_of(&plan);
        Ok((steps.iter().filter(|s| s["status"] == "complete").count(), steps.len()))
    }

    /// Waits until `/v1/health` answers 200 and the plan is complete; an error with the health
    /// reasons, the failed steps and the scheduler log if the timeout passes or it exits.
    pub async fn wait_complete(&mut self, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_scheduler()?;
            if let (Ok((status, health)), Ok(plan)) =
                (self.get("/v1/health").await, self.plan().await)
            {
                if status == 200 && plan["status"] == "complete" {
                    return Ok(plan);
                }
                if Instant::now() > deadline {
                    bail!(
                        "the deployment did not complete within {timeout:?}: health {status} \
                         {health}\nsteps not complete:\n{}\nscheduler log:\n{}",
                        unfinished(&plan).join("\n"),
                        self.log_tail()
                    );
                }
            } else if Instant::now() > deadline {
                bail!("the scheduler's API stopped answering\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `pred(plan)` holds (polling `/v1/plan`).
    pub async fn wait_plan(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_scheduler()?;
            if let Ok(plan) = self.plan().await
                && pred(&plan)
            {
                return Ok(plan);
            }
            if Instant::now() > deadline {
                let plan = self.plan().await.unwrap_or_default();
                bail!(
                    "{what}: not within {timeout:?}\nsteps not complete:\n{}\nscheduler log:\n{}",
                    unfinished(&plan).join("\n"),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every line of the emulator's `--record` file.
    pub fn record(&self) -> anyhow::Result<Vec<Value>> {
        let text = std::fs::read_to_string(&self.record)
            .with_context(|| format!("cannot read {}", self.record.display()))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).with_context(|| format!("record line {l}")))
            .collect()
    }

    /// Every task the scheduler launched, in order: `(task id, agent id, executor id)`.
    pub fn launches(&self) -> anyhow::Result<Vec<Launch>> {
        let mut out = Vec::new();
        for r in self.record()? {
            if r["api"] != "scheduler" || r["dir"] != "call" || r["body"]["type"] != "ACCEPT" {
                continue;
            }
            let ops = r["body"]["accept"]["operations"].as_array().cloned().unwrap_or_default();
            for op in ops.iter().filter(|o| o["type"] == "LAUNCH") {
                for t in op["launch"]["task_infos"].as_array().into_iter().flatten() {
                    out.push(Launch {
                        task_id: t["task_id"]["value"].as_str().unwrap_or_default().to_owned(),
                        agent_id: t["agent_id"]["value"].as_str().unwrap_or_default().to_owned(),
                        executor_id: t["executor"]["executor_id"]["value"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        name: t["name"].as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Files under the deployment's directory that hold the password but may not: every file
    /// except the password file, each host's `/etc/scaleio/admin-password` and
    /// `/etc/rexray/config.yml` — those too if a group or other read bit is set — and the
    /// stand-ins' model (the MDM's own store, test infrastructure). The emulator's wire record
    /// is a leak like any other file: the password never travels through Mesos.
    pub fn secret_leaks(&self) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt as _;
        let needle = self.password.as_bytes();
        let mut found = Vec::new();
        let mut stack = vec![self.dir().to_owned()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let path = e.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                if !meta.is_file() {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap_or_default();
                if !bytes.windows(needle.len()).any(|w| w == needle) {
                    continue;
                }
                if path == self.standin_state {
                    continue;
                }
                let allowed = path == self.password_file
                    || path.ends_with("etc/scaleio/admin-password")
                    || path.ends_with("etc/rexray/config.yml");
                let mode = meta.permissions().mode() & 0o777;
                if !allowed || mode & 0o044 != 0 {
                    found.push(format!("{} (mode {mode:o})", path.display()));
                }
            }
        }
        found.sort();
        found
    }
}

impl Deployment {
    /// Record lines (calls and events of both APIs) holding the password, named by API,
    /// direction and type: there must be none, the password never travels through Mesos.
    pub fn record_leaks(&self) -> anyhow::Result<Vec<String>> {
        let mut leaks = Vec::new();
        for r in self.record()? {
            if r.to_string().contains(&self.password) {
                leaks.push(format!("{} {} {}", r["api"], r["dir"], r["body"]["type"]));
            }
        }
        Ok(leaks)
    }
}

/// One task launch the scheduler asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub task_id: String,
    pub agent_id: String,
    pub executor_id: String,
    pub name: String,
}

impl Deployment {
    /// Steps launched again after a task of theirs reached TASK_FINISHED at the scheduler, in
    /// record order: `step (task that finished → task launched later)`. Reboot steps
    /// (`reboot.*`) are left out: by design their first task asks for the reboot and a second
    /// one confirms the new boot id.
    pub fn relaunched_after_finish(&self) -> anyhow::Result<Vec<String>> {
        let mut name_of: std::collections::HashMap<String, String> = Default::default();
        let mut finished: std::collections::HashMap<String, String> = Default::default();
        let mut out = Vec::new();
        for r in self.record()? {
            if r["api"] != "scheduler" {
                continue;
            }
            let body = &r["body"];
            if r["dir"] == "call" && body["type"] == "ACCEPT" {
                for op in body["accept"]["operations"].as_array().into_iter().flatten() {
                    for t in op["launch"]["task_infos"].as_array().into_iter().flatten() {
                        let name = t["name"].as_str().unwrap_or_default().to_owned();
                        let task = t["task_id"]["value"].as_str().unwrap_or_default().to_owned();
                        if let Some(done) = finished.get(&name)
                            && !name.starts_with("reboot.")
                        {
                            out.push(format!("{name} ({done} finished → {task} launched)"));
                        }
                        name_of.insert(task, name);
                    }
                }
            } else if r["dir"] == "event"
                && body["type"] == "UPDATE"
                && body["update"]["status"]["state"] == "TASK_FINISHED"
            {
                let task = body["update"]["status"]["task_id"]["value"].as_str().unwrap_or("");
                if let Some(name) = name_of.get(task) {
                    finished.entry(name.clone()).or_insert_with(|| task.to_owned());
                }
            }
        }
        Ok(out)
    }
}

/// Every step of a `/v1/plan` body, in plan order.
pub fn steps_of(plan: &Value) -> Vec<Value> {
    plan["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["steps"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// `id (kind on node): status after n attempt(s): message` for every step not complete.
pub fn unfinished(plan: &Value) -> Vec<String> {
    steps_of(plan)
        .iter()
        .filter(|s| s["status"] != "complete")
        .map(|s| {
            format!(
                "  {} ({} on {}): {} after {} attempt(s): {}",
                s["id"].as_str().unwrap_or("?"),
                s["kind"].as_str().unwrap_or("?"),
                s["node"].as_str().unwrap_or("cluster"),
                s["status"].as_str().unwrap_or("?"),
                s["attempts"],
                s["message"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

impl Drop for Deployment {
    /// SIGKILLs the scheduler; with `SCALEIO_KEEP_DEPLOYMENT=1` keeps the directory for a look.
    fn drop(&mut self) {
        if let Some(s) = &mut self.scheduler {
            let _ = s.child.start_kill();
        }
        if std::env::var("SCALEIO_KEEP_DEPLOYMENT").is_ok_and(|v| v == "1") {
            let dir = std::mem::replace(
                &mut self.dir,
                match tempfile::tempdir() {
                    Ok(d) => d,
                    Err(_) => return,
                },
            );
            eprintln!("deployment kept in {}", dir.keep().display());
        }
    }
}

/// Whether the slow tier runs (`SCALEIO_SLOW_TESTS=1`, as `cargo xtask test --slow` and CI set);
/// when not, prints which test was skipped and how to run it.
pub fn slow_tests_enabled(test: &str) -> bool {
    let on = std::env::var("SCALEIO_SLOW_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("{test}: slow tier, skipped; run with SCALEIO_SLOW_TESTS=1");
    }
    on
}

/// A scheduler process started beside (or instead of) the main one, e.g. a second instance on
/// the same store; SIGKILLed on drop.
#[derive(Debug)]
pub struct ExtraScheduler {
    child: tokio::process::Child,
    /// Its API base URL.
    pub api: String,
    /// Its log file.
    pub log: PathBuf,
}

impl ExtraScheduler {
    /// Its exit status, once it exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Deployment {
    /// Starts another scheduler process with the same flags and store but its own API port and
    /// log (`logs/scheduler-<name>.log`); does not wait for its API.
    pub fn spawn_extra_scheduler(&self, name: &str) -> anyhow::Result<ExtraScheduler> {
        let port = free_port()?;
        let log = self.dir().join(format!("logs/scheduler-{name}.log"));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut args = self.scheduler_args();
        let at = args.iter().position(|a| a == "--rest-port").context("--rest-port")?;
        args[at + 1] = port.to_string();
        let bin = crate::bins::workspace_binary("scaleio-scheduler")?;
        let mut cmd = crate::emulator::process::command(&bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SSL_CERT_FILE", self.gateway.ca_file())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(ExtraScheduler { child, api: format!("http://127.0.0.1:{port}"), log })
    }
}

/// A real ZooKeeper server (Debian package `zookeeper`) on a free loopback port in its own
/// temporary directory; SIGKILLed on drop. It can be stopped and started again on the same port
/// and data directory (an outage and a restart), and its negotiated session timeout capped so a
/// test can make sessions expire quickly.
#[derive(Debug)]
pub struct ZooKeeper {
    child: Option<tokio::process::Child>,
    /// `127.0.0.1:<port>`.
    pub address: String,
    dir: tempfile::TempDir,
}

impl ZooKeeper {
    /// Starts it (`tickTime=500`, so sessions can be short) and waits until it accepts
    /// connections (30 s at most).
    pub async fn start() -> anyhow::Result<Self> {
        let mut zk = Self::configure(None)?;
        zk.run().await?;
        Ok(zk)
    }

    /// Writes the configuration on a free port without starting the server; with
    /// `max_session_timeout`, the server grants no client a longer session (`maxSessionTimeout`).
    pub fn configure(max_session_timeout: Option<Duration>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("zookeeper-").tempdir()?;
        let port = free_port()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        let mut cfg = format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            dir.path().join("data").display()
        );
        if let Some(max) = max_session_timeout {
            cfg.push_str(&format!("maxSessionTimeout={}\n", max.as_millis()));
        }
        std::fs::write(dir.path().join("zoo.cfg"), cfg)?;
        Ok(Self { child: None, address: format!("127.0.0.1:{port}"), dir })
    }

    /// Starts the server process on the configured port and data directory (again, after
    /// [`ZooKeeper::stop`]) and waits until it accepts connections (30 s at most).
    pub async fn run(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("ZooKeeper on {} is already running", self.address);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("zookeeper.log"))?;
        let mut cmd = crate::emulator::process::command("java");
        cmd.args(["-Xmx128m", "-XX:+UseSerialGC", "-cp"])
            .arg("/usr/share/java/zookeeper.jar:/usr/share/java/*")
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(self.dir.path().join("zoo.cfg"))
            .current_dir(self.dir.path())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .context("cannot start ZooKeeper (Debian package `zookeeper`, needs java)")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(&self.address).await.is_err() {
            if Instant::now() > deadline {
                bail!("ZooKeeper did not listen on {} within 30 s\n{}", self.address, self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// SIGKILLs the server and reaps it: an outage, not a clean shutdown. The data stays.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { bail!("ZooKeeper is not running") };
        child.start_kill().context("cannot SIGKILL ZooKeeper")?;
        child.wait().await.context("cannot reap ZooKeeper")?;
        Ok(())
    }

    /// The server's log so far (every run appends to it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("zookeeper.log")).unwrap_or_default()
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
    }
}

/// A TCP relay on a free loopback port to a ZooKeeper server that can cut every connection and
/// refuse new ones (a network partition while ZooKeeper keeps running, so it expires the
/// sessions it stops hearing from) and heal again. Stops relaying on drop.
#[derive(Debug)]
pub struct ZkPartition {
    /// `127.0.0.1:<port>`: give this to the scheduler instead of the server's address.
    pub address: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    relays: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl ZkPartition {
    /// Relays to `target` (`host:port`) until cut.
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let relays = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let target = target.to_owned();
        let accept = {
            let (cut, relays) = (cut.clone(), relays.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue;
                    }
                    let target = target.clone();
                    let relay = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    relays.lock().unwrap_or_else(|e| e.into_inner()).push(relay);
                }
            })
        };
        Ok(Self { address, cut, relays, accept })
    }

    /// Drops every relayed connection and refuses new ones until [`ZkPartition::heal`].
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for relay in self.relays.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            relay.abort();
        }
    }

    /// Relays new connections again.
    pub fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for ZkPartition {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
