//! Running one step: the context every step gets (`Ctx`: host, platform, package manager, the
//! verified bundle, secrets), the dispatcher from `scaleio::step::Step` to the step modules, and
//! helpers they share (`scli` runs judged by `scaleio::scli`, service control).
//!
//! Every step is detect-then-act: it probes, does only what is missing, and says whether anything
//! changed. Secrets are resolved from their `SecretRef` only where they are used.

mod cluster;
mod install;
mod node;
mod preflight;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use scaleio::scli::{self, ScliCommand, ScliDone, ScliError};
use scaleio::step::{InitSystem, MdmLogin, OsFamily, Outcome, Step, StepResult};
use scaleio::{Secret, SecretRef};
use sha2::Digest as _;

use crate::bundle::BundleState;
use crate::error::StepError;
use crate::host::{Cmd, CmdOutput, Host};
use crate::packages::Manager;
use crate::platform::{self, Platform};

/// What a step needs.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The host (with this step's transcript).
    pub host: Host,
    /// The bundle found in the sandbox, verified or not.
    pub bundle: BundleState,
    /// Where `SecretRef::Env` values come from (the executor's environment).
    pub secret_env: HashMap<String, String>,
    /// Pause between polls of a service's state.
    pub poll: Duration,
}

/// What the runner must do after the step's final update is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAck {
    /// Nothing.
    Nothing,
    /// Reboot the host (`shutdown -r now`).
    Reboot,
}

/// A finished step.
#[derive(Clone, Debug)]
pub struct Done {
    /// The result for `TASK_FINISHED`.
    pub result: StepResult,
    /// Follow-up after acknowledgement.
    pub after_ack: AfterAck,
}

impl Ctx {
    /// Resolves a secret where it is used. A file is the host's file: under the host root on a
    /// simulated host, like every other file a step reads.
    pub fn secret(&self, r: &SecretRef) -> Result<Secret, StepError> {
        let on_host = match r {
            SecretRef::File(path) => SecretRef::File(self.host.path(&path.to_string_lossy())),
            other => other.clone(),
        };
        Ok(on_host.resolve(|k| self.secret_env.get(k).cloned())?)
    }

    /// The platform, or a clear error naming the OS.
    pub fn platform(&self) -> Result<Platform, StepError> {
        platform::detect(&self.host).map_err(|e| StepError::msg(e.to_string()))
    }

    fn manager(&self, family: OsFamily) -> Manager {
        Manager::for_host(family, &self.host)
    }

    /// A file of the verified bundle.
    pub fn artifact(&self, file: &str) -> Result<PathBuf, StepError> {
        self.bundle.artifact(file).map_err(StepError::msg)
    }

    /// Runs a command; an error if it cannot start.
    pub async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, StepError> {
        Ok(self.host.run(cmd).await?)
    }

    /// Runs a command that must succeed.
    pub async fn run_ok(&self, cmd: &Cmd, what: &str, hint: &str) -> Result<CmdOutput, StepError> {
        let out = self.run(cmd).await?;
        if !out.success() {
            return Err(StepError::command(what, &out, hint));
        }
        Ok(out)
    }

    /// Runs `scli`/`drv_cfg` and judges the outcome with `scaleio::scli`.
    pub async fn scli(&self, c: &ScliCommand) -> Result<(ScliDone, CmdOutput), StepError> {
        let out = self.run(&Cmd::scli(c)).await?;
        let code = out.exit_code.unwrap_or(-1);
        match c.outcome(code, &out.combined()) {
            Ok(done) => Ok((done, out)),
            Err(e) => {
                let hint = match &e {
                    ScliError::NotLoggedIn { .. } => {
                        "the step logs in first; check the admin password"
                    }
                    ScliError::Unexpected { .. } => {
                        "check the cluster with `scli --query_cluster` / `--query_all` before retrying"
                    }
                    _ => "",
                };
                let mut err = StepError::command("scli", &out, hint);
                err.message = match hint {
                    "" => e.to_string(),
                    h => format!("{e}\nhint: {h}"),
                };
                Err(err)
            }
        }
    }

    /// `scli --login` with the step's credentials.
    pub async fn login(&self, login: &MdmLogin) -> Result<(), StepError> {
        let pw = self.secret(&login.password)?;
        self.scli(&scli::login(login.mdm_ip.as_deref(), &login.username, &pw)).await?;
        Ok(())
    }

    /// Restarts a service and waits until it is active.
    pub async fn restart_service(
        &self,
        init: InitSystem,
        service: &str,
        wait: Duration,
    ) -> Result<(), StepError> {
        let cmd = match init {
            InitSystem::Systemd => Cmd::new("systemctl").args(["restart", service]),
            InitSystem::Sysv => Cmd::new("service").args([service, "restart"]),
        };
        self.run_ok(
            &cmd,
            &format!("restarting {service} failed"),
            &format!("look at the {service} logs on the agent"),
        )
        .await?;
        self.wait_active(init, service, wait).await
    }

    /// Whether a service is active now.
    pub async fn service_active(&self, init: InitSystem, service: &str) -> Result<bool, StepError> {
        let cmd = match init {
            InitSystem::Systemd => Cmd::new("systemctl").args(["is-active", service]),
            InitSystem::Sysv => Cmd::new("service").args([service, "status"]),
        };
        Ok(self.run(&cmd).await?.success())
    }

    /// Polls until the service is active or `wait` has passed.
    pub async fn wait_active(
        &self,
        init: InitSystem,
        service: &str,
        wait: Duration,
    ) -> Result<(), StepError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.service_active(init, service).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepError::msg(format!(
                    "{service} is not active {}s after its restart\nhint: look at its logs on the agent (`journalctl -u {service}` or /var/log)",
                    wait.as_secs()
                ))
                .retryable());
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// Runs `step` and returns its result, or the failure for `TASK_FAILED`. The transcript is in
/// `ctx.host.transcript()` either way. Every step fails, before touching the host, when the
/// bundle is unusable.
pub async fn run(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    // A bundle that failed verification (or is missing) means this node was not given what the
    // scheduler built: no step runs, each says why.
    if let BundleState::Unusable(why) = &ctx.bundle {
        return Err(StepError::msg(why.clone()));
    }
    let mut after_ack = AfterAck::Nothing;
    let (changed, outcome) = match step {
        Step::Preflight(s) => (false, Outcome::Preflight(preflight::run(ctx, s).await?)),
        Step::InstallPrerequisites(s) => install::prerequisites(ctx, s).await?,
        Step::InstallPackages(s) => install::packages(ctx, s).await?,
        Step::CreateMdmCluster(s) => cluster::create(ctx, s).await?,
        Step::AddStandbyMdm(s) => cluster::add_standby(ctx, s).await?,
        Step::SwitchClusterMode(s) => cluster::switch_mode(ctx, s).await?,
        Step::RenameSystem(s) => cluster::rename(ctx, s).await?,
        Step::AddProtectionDomain(s) => cluster::add_pd(ctx, s).await?,
        Step::AddStoragePool(s) => cluster::add_pool(ctx, s).await?,
        Step::AddSds(s) => cluster::add_sds(ctx, s).await?,
        Step::AddDevice(s) => cluster::add_device(ctx, s).await?,
        Step::ConfigureSdc(s) => node::configure_sdc(ctx, s).await?,
        Step::ConfigureLia(s) => cluster::configure_lia(ctx, s).await?,
        Step::ConfigureGateway(s) => node::configure_gateway(ctx, s).await?,
        Step::InstallRexray(s) => install::rexray(ctx, s).await?,
        Step::InstallDvdcli(s) => install::dvdcli(ctx, s).await?,
        Step::InstallIsolator(s) => install::isolator(ctx, s).await?,
        Step::RestartService(s) => node::restart(ctx, s).await?,
        Step::Reboot(s) => {
            let (changed, outcome, reboot) = node::reboot(ctx, s)?;
            if reboot {
                after_ack = AfterAck::Reboot;
            }
            (changed, outcome)
        }
        Step::Verify(s) => (false, node::verify(ctx, s).await?),
    };
    let digest = sha2::Sha256::digest(ctx.host.transcript().to_json());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Done { result: StepResult { changed, outcome, transcript_sha256: Some(hex) }, after_ack })
}

/// Issues the reboot (after the reboot step's update was acknowledged).
pub async fn reboot_now(host: &Host) -> Result<CmdOutput, StepError> {
    let out = host.run(&Cmd::new("shutdown").args(["-r", "now"])).await?;
    if !out.success() {
        return Err(StepError::command("rebooting failed", &out, "reboot the agent by hand"));
    }
    Ok(out)
}
