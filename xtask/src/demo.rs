//! `cargo xtask demo`: Run the whole deployment on this machine against an emulated Mesos cluster.
//!
//! Builds the workspace binaries, packs demo bundles from fixture packages with the real bundle
//! writer (`testkit::fixtures::bundle`), starts the ScaleIO gateway stand-in, the `mini-mesos`
//! emulator with simulated hosts and `scaleio-scheduler`, prints the status page URL and live
//! progress, and runs until Ctrl-C — or, with `--exit-when-complete`, until `/v1/health` says
//! healthy (exit 0, with a summary per node) or the timeout passes or the plan fails (exit 1,
//! with the reasons). A piece that is missing or exits early is named, and the demo exits
//! non-zero: it never reports a success it did not see. At the end every output of the run is
//! searched for the generated ScaleIO password.
//!
//! Work files live under `--work-dir` (default `target/demo`), wiped at the start: `logs/` (one
//! log per process), `bundles/`, `mesos/` (emulator work dir and `record.jsonl`), `state/`
//! (scheduler store), `secrets/` (mode 0700, the password file 0600).

mod supervise;
mod watch;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use packaging::catalog::Platform;
use testkit::deployment::{
    EXISTING_MDMS, free_port, new_password, seed_existing_cluster, write_private,
};
use xshell::{Shell, cmd};

use self::supervise::Supervised;
use self::watch::Verdict;

/// Exit code for bad flags (as clap and `cargo xtask bundle` use).
const EXIT_USAGE: i32 = 2;
/// Binaries the demo runs, all built from this workspace.
const BINARIES: &[&str] =
    &["scaleio-scheduler", "scaleio-executor", "mini-mesos", "scli", "host-tools"];
/// How long stopping a child may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a child may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How the scheduler provisions ScaleIO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Install and configure the whole ScaleIO cluster (MDMs, SDS, SDC, gateway).
    Full,
    /// Join an existing cluster named by its MDM and gateway addresses.
    Preconfigured,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Preconfigured => "preconfigured",
        }
    }
}

/// Run the whole deployment on this machine against an emulated Mesos cluster.
#[derive(Debug, clap::Args)]
pub struct Demo {
    /// Number of emulated agents (simulated hosts). Full mode needs at least 3 (three MDMs).
    #[arg(long, default_value_t = 5, value_name = "N")]
    agents: u32,
    /// How the scheduler provisions ScaleIO.
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    mode: Mode,
    /// Exit 0 once the deployment is complete and healthy (with a summary per node), non-zero
    /// with the reasons if it fails or the timeout passes. Without it, run until Ctrl-C.
    #[arg(long)]
    exit_when_complete: bool,
    /// Seconds to wait for completion (with --exit-when-complete).
    #[arg(long, value_name = "SECS", default_value_t = 900, requires = "exit_when_complete")]
    timeout: u64,
    /// Work directory (wiped at the start).
    #[arg(long, value_name = "DIR", default_value = "target/demo")]
    work_dir: PathBuf,
    /// Port of the scheduler's HTTP API and status page (default: a free port).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Do not run `cargo build` first (use the binaries already built).
    #[arg(long)]
    no_build: bool,
}

/// A flag combination that cannot work; exits with [`EXIT_USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

impl Demo {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        if let Err(e) = self.validate() {
            eprintln!("error: {e}");
            std::process::exit(EXIT_USAGE);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(self.run_async(sh))
    }

    fn validate(&self) -> Result<(), UsageError> {
        if self.mode == Mode::Full && self.agents < 3 {
            return Err(UsageError(format!(
                "--agents {}: full provisioning needs at least 3 agents (primary MDM, secondary \
                 MDM, tiebreaker)\nhint: use --agents 3 or more, or --mode preconfigured",
                self.agents
            )));
        }
        if self.agents == 0 || self.agents > 100 {
            return Err(UsageError(format!(
                "--agents {}: expected 1 to 100 emulated agents",
                self.agents
            )));
        }
        if self.exit_when_complete && self.timeout == 0 {
            return Err(UsageError(
                "--timeout 0: expected a number of seconds greater than 0".to_owned(),
            ));
        }
        if self.port == Some(0) {
            return Err(UsageError("--port 0: leave --port out to use a free port".to_owned()));
        }
        Ok(())
    }

    async fn run_async(self, sh: &Shell) -> anyhow::Result<()> {
        let root = sh.current_dir();
        let work = root.join(&self.work_dir);
        prepare_work_dir(&work)?;

        if !self.no_build {
            eprintln!("demo: building the workspace binaries");
            cmd!(sh, "cargo build --quiet --bins -p scheduler -p executor -p testkit")
                .run()
                .context("cargo build failed")?;
        }
        let bin_dir = target_dir(&root).join("debug");
        let bins = Binaries::find(&bin_dir)?;

        let password = new_password()?;
        let password_file = work.join("secrets/scaleio-password");
        write_private(&password_file, &password)?;

        eprintln!("demo: packing demo bundles from fixture packages");
        let catalog = testkit::fixtures::bundle::shipped_catalog()?;
        let bundles = testkit::fixtures::bundle::build_demo_bundles(
            &catalog,
            &[Platform::Ubuntu14, Platform::Rhel7],
            &work.join("artifacts"),
            packaging::archive::source_date_epoch()?,
        )
        .await
        .context("cannot build the demo bundles")?;
        for b in &bundles.bundles {
            eprintln!("demo:   {} ({} bytes)", b.file, b.size);
        }

        let state_file = work.join("standin-cluster.json");
        let gateway = testkit::standins::gateway::GatewayStandin::start(
            &state_file,
            &work,
            Duration::from_secs(600),
        )
        .await
        .context("cannot start the ScaleIO gateway stand-in")?;
        let gateway_addr = gateway.endpoint().trim_start_matches("https://").to_owned();
        eprintln!("demo: ScaleIO gateway stand-in at {}", gateway.endpoint());

        if self.mode == Mode::Preconfigured {
            seed_existing_cluster(&state_file, &password)?;
        }
        let agents_file = work.join("agents.json");
        std::fs::write(&agents_file, agents_json(self.agents))
            .with_context(|| format!("cannot write {}", agents_file.display()))?;

        let mut children: Vec<Supervised> = Vec::new();
        let outcome = self
            .drive(
                sh,
                &work,
                &bins,
                &bundles.dir,
                &agents_file,
                &state_file,
                &gateway_addr,
                gateway.ca_file(),
                &password_file,
                &mut children,
            )
            .await;
        for child in children.iter_mut().rev() {
            let status = child.stop(sh, STOP_GRACE).await;
            eprintln!(
                "demo: stopped {} ({})",
                child.name,
                status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string())
            );
        }
        drop(gateway);
        let hits = find_secret(&work, &password, &[&password_file, &state_file])?;
        let leaks =
            audit_secret_hits(&work.join("mesos/hosts"), &work.join("mesos/record.jsonl"), &hits);
        if !leaks.is_empty() {
            outcome?;
            anyhow::bail!(
                "the deployment completed, but the ScaleIO password leaked into {} place(s) of \
                 this run:\n  {}",
                leaks.len(),
                leaks.join("\n  ")
            );
        }
        outcome
    }

    /// Starts the emulator and the scheduler, then watches the deployment.
    #[expect(clippy::too_many_arguments, reason = "the pieces the demo prepared, passed once")]
    async fn drive(
        &self,
        sh: &Shell,
        work: &Path,
        bins: &Binaries,
        bundle_dir: &Path,
        agents_file: &Path,
        state_file: &Path,
        gateway: &str,
        gateway_ca: &Path,
        password_file: &Path,
        children: &mut Vec<Supervised>,
    ) -> anyhow::Result<()> {
        let logs = work.join("logs");
        let mesos_work = work.join("mesos");
        std::fs::create_dir_all(&mesos_work)?;
        let emulator_args: Vec<String> = [
            "--listen",
            "127.0.0.1:0",
            "--agents-file",
            &agents_file.display().to_string(),
            "--work-dir",
            &mesos_work.display().to_string(),
            "--record",
            &mesos_work.join("record.jsonl").display().to_string(),
            "--heartbeat",
            "5",
            "--allocation-interval",
            "1",
            "--host-tools",
            &bins.dir.display().to_string(),
            "--standin-state",
            &state_file.display().to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        eprintln!("demo: starting mini-mesos with {} agents", self.agents);
        let mut emulator = supervise::start(
            sh,
            "mini-mesos",
            &bins.get("mini-mesos"),
            &emulator_args,
            &[],
            &logs.join("mini-mesos.log"),
            true,
        )?;
        let master = emulator
            .wait_for_line(START_TIMEOUT, |line| {
                reqwest::Url::parse(line.trim()).ok().filter(|u| u.scheme() == "http")
            })
            .await;
        children.push(emulator);
        let master = master.context(
            "the Mesos emulator did not start; `cargo xtask demo` needs a working `mini-mesos`",
        )?;
        eprintln!("demo: Mesos master (emulated) at {master}");
        // As the CloudFormation stacks do on real hosts, every host carries the admin password in
        // a root-only file where the executors read it (the scheduler's --agent-password-file
        // default), so it never travels through Mesos.
        let password = std::fs::read_to_string(password_file)
            .with_context(|| format!("cannot read {}", password_file.display()))?;
        let hosts = mesos_work.join("hosts");
        for host in std::fs::read_dir(&hosts)
            .with_context(|| format!("cannot list the simulated hosts in {}", hosts.display()))?
        {
            let root = host?.path();
            let dir = root.join("etc/scaleio");
            std::fs::create_dir_all(&dir)?;
            write_private(&dir.join("admin-password"), &password)?;
            // The gateway's CA, which executors verify its certificate with
            // (--gateway-ca-file). It sits at the same path on every host, the scheduler's
            // included (the scheduler reads the capacity from the gateway): the stand-in's own CA
            // file, whose absolute path is repeated under each host's root.
            let ca = root.join(gateway_ca.strip_prefix("/").unwrap_or(gateway_ca));
            if let Some(parent) = ca.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(gateway_ca, &ca)
                .with_context(|| format!("cannot copy the gateway CA to {}", ca.display()))?;
        }

        let port = match self.port {
            Some(p) => p,
            None => free_port()?,
        };
        let mut scheduler_args: Vec<String> = [
            "--master",
            master.as_str(),
            "--mode",
            self.mode.as_str(),
            "--rest-address",
            "127.0.0.1",
            "--rest-port",
            &port.to_string(),
            "--hostname",
            "127.0.0.1",
            "--store",
            &format!("file:{}", work.join("state").display()),
            "--bundle-dir",
            &bundle_dir.display().to_string(),
            "--executor-binary",
            &bins.get("scaleio-executor").display().to_string(),
            "--gateway",
            gateway,
            "--password-file",
            &password_file.display().to_string(),
            "--gateway-ca-file",
            &gateway_ca.display().to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if self.mode == Mode::Preconfigured {
            for (flag, ip) in
                ["--primary-mdm", "--secondary-mdm", "--tiebreaker-mdm"].iter().zip(EXISTING_MDMS)
            {
                scheduler_args.extend([(*flag).to_owned(), ip.to_owned()]);
            }
        }
        // The scheduler trusts the stand-in gateway's per-run CA through the usual variable.
        let env = [("SSL_CERT_FILE".to_owned(), gateway_ca.display().to_string())];
        eprintln!("demo: starting scaleio-scheduler ({} mode)", self.mode.as_str());
        let scheduler = supervise::start(
            sh,
            "scaleio-scheduler",
            &bins.get("scaleio-scheduler"),
            &scheduler_args,
            &env,
            &logs.join("scaleio-scheduler.log"),
            false,
        )?;
        children.push(scheduler);
        let api = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        wait_for_api(&client, &api, children).await?;
        println!("status page: {api}/");
        let deadline =
            self.exit_when_complete.then(|| Instant::now() + Duration::from_secs(self.timeout));
        watch_deployment(&client, &api, children, deadline).await
    }
}

/// Polls the API until it answers, failing early if a child exits.
async fn wait_for_api(
    client: &reqwest::Client,
    api: &str,
    children: &mut [Supervised],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        check_children(children)?;
        if client.get(format!("{api}/v1/health")).send().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("the scheduler's API at {api} did not answer within {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Any child that exited is an error naming it, with its log.
fn check_children(children: &mut [Supervised]) -> anyhow::Result<()> {
    for child in children.iter_mut() {
        if let Some(status) = child.exited() {
            anyhow::bail!("{} exited ({status}) during the demo\n{}", child.name, child.tail());
        }
    }
    Ok(())
}

/// Prints progress until Ctrl-C, or with a `deadline`, until healthy (Ok) or failed/timed out.
async fn watch_deployment(
    client: &reqwest::Client,
    api: &str,
    children: &mut [Supervised],
    deadline: Option<Instant>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_line = String::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                eprintln!("demo: Ctrl-C: stopping");
                return if deadline.is_some() {
                    anyhow::bail!("interrupted before the deployment completed")
                } else {
                    Ok(())
                };
            }
            _ = ticker.tick() => {}
        }
        check_children(children)?;
        let (status, health) = get_json(client, &format!("{api}/v1/health")).await?;
        let (_, plan) = get_json(client, &format!("{api}/v1/plan")).await?;
        let line = watch::progress_line(&health, &plan);
        if line != last_line {
            println!("[{:>5.0}s] {line}", started.elapsed().as_secs_f64());
            last_line = line;
        }
        let Some(deadline) = deadline else { continue };
        match watch::verdict(status, &health) {
            Verdict::Healthy => {
                let (_, nodes) = get_json(client, &format!("{api}/v1/nodes")).await?;
                println!(
                    "deployment complete in {:.1}s\n{}",
                    started.elapsed().as_secs_f64(),
                    watch::summary(&nodes, &plan)
                );
                return Ok(());
            }
            Verdict::Unhealthy(reasons) if health["plan"] == "error" => {
                let mut all = reasons;
                all.extend(watch::failed_steps(&plan));
                anyhow::bail!("the deployment failed:\n  {}", all.join("\n  "));
            }
            Verdict::Deploying | Verdict::Unhealthy(_) => {}
        }
        if Instant::now() > deadline {
            let mut reasons = match watch::verdict(status, &health) {
                Verdict::Unhealthy(r) => r,
                _ => vec![format!("still deploying: {last_line}")],
            };
            reasons.extend(watch::failed_steps(&plan));
            anyhow::bail!(
                "the deployment did not complete within --timeout {}s:\n  {}",
                (deadline - started).as_secs(),
                reasons.join("\n  ")
            );
        }
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response.json().await.with_context(|| format!("GET {url}: the body is not JSON"))?;
    Ok((status, body))
}

/// The emulated agents: `agent-1` … `agent-N`, alternating Ubuntu 14.04 and RHEL 7 (so both
/// bundles are used), each with a 100 GiB spare device for its SDS and enough resources for an
/// MDM executor (1.5 CPUs, 3 GiB).
fn agents_json(n: u32) -> String {
    let agents: Vec<serde_json::Value> = (1..=n)
        .map(|i| {
            let os = if i % 2 == 1 { "ubuntu14" } else { "rhel7" };
            serde_json::json!({
                "hostname": format!("agent-{i}"),
                "cpus": 4.0,
                "mem": 8192.0,
                "disk": 100_000.0,
                "ports": "[31000-32000]",
                "attributes": format!("os:{os}"),
                "devices": [{"name": "xvdf", "size_gib": 100}],
            })
        })
        .collect();
    serde_json::to_string_pretty(&agents).expect("the agents list serialises")
}

/// The built binaries the demo needs.
#[derive(Debug)]
struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Checks every binary in [`BINARIES`] exists in `dir`, naming the missing ones.
    fn find(dir: &Path) -> anyhow::Result<Self> {
        let missing: Vec<&str> =
            BINARIES.iter().copied().filter(|b| !dir.join(b).is_file()).collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "binaries missing in {}: {}\nhint: run `cargo build --bins` (or drop --no-build)",
                dir.display(),
                missing.join(", ")
            );
        }
        Ok(Self { dir: dir.to_owned() })
    }

    fn get(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// `$CARGO_TARGET_DIR`, or `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d))
}

/// Wipes and recreates the work directory with its `logs/` and private `secrets/`.
fn prepare_work_dir(work: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if work.exists() {
        std::fs::remove_dir_all(work)
            .with_context(|| format!("cannot clear {}", work.display()))?;
    }
    std::fs::create_dir_all(work.join("logs"))
        .with_context(|| format!("cannot create {}", work.display()))?;
    let secrets = work.join("secrets");
    std::fs::create_dir_all(&secrets)?;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Judges the files that contain the password. A file on a simulated host (under `hosts`) may
/// hold it when only its owner can read it (the REX-Ray config needs it, as on a real host);
/// anything else is a leak, described for the report. `record` is the emulator's transcript of
/// every Mesos call and event: the password there travelled through Mesos, where a real master
/// shows it to anyone who reads `/master/state`.
fn audit_secret_hits(hosts: &Path, record: &Path, hits: &[PathBuf]) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut leaks = Vec::new();
    for path in hits {
        let mode = std::fs::metadata(path).map_or(0o777, |m| m.permissions().mode() & 0o777);
        if path == record {
            leaks.push(format!(
                "{}: it travelled in a Mesos call or event (e.g. an executor's environment), \
                 visible in the master's /master/state; hint: send a reference, not the value",
                path.display()
            ));
        } else if path.starts_with(hosts) {
            if mode & 0o077 != 0 {
                leaks.push(format!(
                    "{}: a host file with mode {mode:o}, readable by group or others; hint: \
                     write it 0600",
                    path.display()
                ));
            }
        } else {
            leaks.push(format!("{}: an output of the run (mode {mode:o})", path.display()));
        }
    }
    leaks
}

/// Every file under `dir` (except `allowed`) whose bytes contain `secret`.
fn find_secret(dir: &Path, secret: &str, allowed: &[&Path]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    let needle = secret.as_bytes();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && !allowed.iter().any(|a| *a == path) {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        demo: Demo,
    }

    fn parse(args: &[&str]) -> Result<Demo, String> {
        let argv = std::iter::once("demo").chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.demo.validate().map_err(|e| e.to_string())?;
        Ok(cli.demo)
    }

    #[test]
    fn flags_are_validated_before_anything_starts() {
        let demo = parse(&[]).expect("defaults");
        assert_eq!((demo.agents, demo.mode, demo.exit_when_complete), (5, Mode::Full, false));
        let err = parse(&["--agents", "2"]).unwrap_err();
        assert!(err.contains("full provisioning needs at least 3 agents"), "{err}");
        assert!(err.contains("hint: use --agents 3 or more, or --mode preconfigured"), "{err}");
        parse(&["--agents", "2", "--mode", "preconfigured"]).expect("preconfigured with 2");
        assert!(
            parse(&["--agents", "0", "--mode", "preconfigured"]).unwrap_err().contains("1 to 100")
        );
        assert!(parse(&["--agents", "101"]).unwrap_err().contains("1 to 100"));
        let err = parse(&["--timeout", "60"]).unwrap_err();
        assert!(err.contains("--exit-when-complete"), "--timeout alone: {err}");
        let err = parse(&["--exit-when-complete", "--timeout", "0"]).unwrap_err();
        assert!(err.contains("greater than 0"), "{err}");
        assert!(
            parse(&["--mode", "half"])
                .unwrap_err()
                .contains("possible values: full, preconfigured")
        );
        assert!(parse(&["--port", "0"]).unwrap_err().contains("leave --port out"));
        let demo =
            parse(&["--agents", "3", "--exit-when-complete", "--timeout", "120"]).expect("ok");
        assert_eq!(demo.timeout, 120);
    }

    #[test]
    fn the_password_file_is_private_and_the_secret_scan_finds_leaks() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("demo");
        prepare_work_dir(&work).expect("work dir");
        let password = new_password().expect("password");
        assert_eq!(password.len(), 32);
        assert_ne!(password, new_password().expect("another"), "fresh each run");
        let file = work.join("secrets/scaleio-password");
        write_private(&file, &password).expect("written");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let secrets = std::fs::metadata(work.join("secrets")).expect("meta").permissions().mode();
        assert_eq!(secrets & 0o777, 0o700);

        std::fs::write(work.join("logs/clean.log"), "nothing to see").expect("log");
        assert!(find_secret(&work, &password, &[&file]).expect("scan").is_empty());
        std::fs::create_dir_all(work.join("mesos/agent-1")).expect("dir");
        let leak = work.join("mesos/agent-1/stdout");
        std::fs::write(&leak, format!("scli --password {password} --login")).expect("leak");
        assert_eq!(find_secret(&work, &password, &[&file]).expect("scan"), vec![leak]);
    }

    #[tokio::test]
    async fn the_seeded_existing_cluster_is_what_the_gateway_stand_in_serves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("cluster.json");
        let password = new_password().expect("password");
        seed_existing_cluster(&state, &password).expect("seeded");
        let model = testkit::standins::model::Model::load(&state).expect("model");
        let system = model.system.expect("a cluster exists");
        assert_eq!(system.master.ip, EXISTING_MDMS[0]);
        assert_eq!(system.slaves[0].ip, EXISTING_MDMS[1]);
        assert_eq!(
            (system.tiebreakers[0].ip.as_str(), system.tiebreakers[0].role.as_str()),
            (EXISTING_MDMS[2], "tb")
        );
        assert_eq!(system.pools[0].pd_id, system.pds[0].id);

        let gateway = testkit::standins::gateway::GatewayStandin::start(
            &state,
            dir.path(),
            Duration::from_secs(60),
        )
        .await
        .expect("gateway");
        let ca = std::fs::read(gateway.ca_file()).expect("ca");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
            .build()
            .expect("client");
        let login = |pw: String| {
            client
                .get(format!("{}/api/login", gateway.endpoint()))
                .header("Accept", "application/json;version=2.0")
                .basic_auth("admin", Some(pw))
                .send()
        };
        assert_eq!(login(password.clone()).await.expect("login").status(), 200);
        assert_eq!(login("admin".to_owned()).await.expect("login").status(), 401);
    }

    #[test]
    fn the_agents_file_is_what_the_emulator_reads() {
        let agents: Vec<testkit::emulator::AgentSpec> =
            serde_json::from_str(&agents_json(5)).expect("the emulator's agents-file format");
        let hosts: Vec<&str> = agents.iter().map(|a| a.hostname.as_str()).collect();
        assert_eq!(hosts, ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"]);
        let os: Vec<&str> = agents
            .iter()
            .map(|a| a.attributes.iter().find(|(k, _)| k == "os").expect("os").1.as_str())
            .collect();
        assert_eq!(os, ["ubuntu14", "rhel7", "ubuntu14", "rhel7", "ubuntu14"]);
        assert!(agents.iter().all(|a| a.cpus >= 1.5 && a.mem >= 3072.0));
    }

    #[test]
    fn secret_hits_are_judged_by_place_and_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts = dir.path().join("mesos/hosts");
        let record = dir.path().join("mesos/record.jsonl");
        std::fs::create_dir_all(hosts.join("agent-1/etc/rexray")).expect("dirs");
        let private = hosts.join("agent-1/etc/rexray/config.yml");
        let public = hosts.join("agent-1/etc/profile");
        let log = dir.path().join("logs/scheduler.log");
        for (file, mode) in [(&private, 0o600), (&public, 0o644), (&record, 0o644)] {
            std::fs::write(file, "x").expect("write");
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        let hits = vec![private, public.clone(), record.clone(), log.clone()];
        let leaks = audit_secret_hits(&hosts, &record, &hits);
        assert_eq!(leaks.len(), 3, "{leaks:#?}");
        assert!(leaks[0].starts_with(&format!("{}: a host file with mode 644", public.display())));
        assert!(leaks[1].contains("travelled in a Mesos call or event"), "{}", leaks[1]);
        assert!(leaks[2].starts_with(&format!("{}: an output of the run", log.display())));
    }

    #[test]
    fn missing_binaries_are_named_with_a_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("scli"), "").expect("scli");
        let err = Binaries::find(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("scaleio-scheduler, scaleio-executor, mini-mesos, host-tools"),
            "{err}"
        );
        assert!(err.contains("hint: run `cargo build --bins`"), "{err}");
    }
}
