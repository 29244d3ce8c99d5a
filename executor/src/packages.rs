//! Package managers behind one trait: Debian (`dpkg-query`, `dpkg -i`, `apt-get -y install`)
//! and RPM (`rpm -q`, `rpm -Uvh`, `yum -y install`). On a simulated host the real `dpkg`/`rpm`
//! work on the host root ([`PackageTool::Rooted`]); on a real host the plain commands run.

use std::path::{Path, PathBuf};

use scaleio::step::OsFamily;

use crate::error::StepError;
use crate::host::{Cmd, CmdOutput, Host, Value};

/// How the package tools are invoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageTool {
    /// `dpkg -i`, `rpm -Uvh`: the production commands.
    Plain,
    /// Against a root: `dpkg --root=<r> --admindir=<r>/var/lib/dpkg --force-script-chrootless
    /// --force-not-root`, `rpm --root <r> --nodeps` (a temporary root has no shell packages
    /// to satisfy dependencies).
    Rooted(PathBuf),
}

impl PackageTool {
    /// Plain for `/`, rooted otherwise.
    pub fn for_host(host: &Host) -> Self {
        if host.is_simulated() {
            PackageTool::Rooted(host.root().to_owned())
        } else {
            PackageTool::Plain
        }
    }
}

/// What a package manager does.
#[expect(async_fn_in_trait, reason = "used with concrete types inside this crate")]
pub trait PackageManager {
    /// The family.
    fn family(&self) -> OsFamily;
    /// The installed version of `name`, `None` if not installed.
    async fn installed(&self, host: &Host, name: &str) -> Result<Option<String>, StepError>;
    /// Installs (or upgrades to) a package file, with install-time environment variables.
    async fn install_file(
        &self,
        host: &Host,
        file: &Path,
        env: &[(String, Value)],
    ) -> Result<CmdOutput, StepError>;
    /// Installs distribution packages from the configured repositories.
    async fn install_from_repo(
        &self,
        host: &Host,
        names: &[String],
    ) -> Result<CmdOutput, StepError>;
}

/// dpkg / apt-get.
#[derive(Clone, Debug)]
pub struct Debian {
    /// Invocation.
    pub tool: PackageTool,
}

/// rpm / yum.
#[derive(Clone, Debug)]
pub struct Rpm {
    /// Invocation.
    pub tool: PackageTool,
}

/// The package manager of a family.
#[derive(Clone, Debug)]
pub enum Manager {
    /// Debian family.
    Debian(Debian),
    /// RPM family.
    Rpm(Rpm),
}

impl Manager {
    /// The manager for `family` on `host`.
    pub fn for_host(family: OsFamily, host: &Host) -> Self {
        let tool = PackageTool::for_host(host);
        match family {
            OsFamily::Debian => Manager::Debian(Debian { tool }),
            OsFamily::Rhel => Manager::Rpm(Rpm { tool }),
        }
    }
}

fn with_env(mut cmd: Cmd, env: &[(String, Value)]) -> Cmd {
    for (k, v) in env {
        cmd = cmd.env(k, v.clone());
    }
    cmd
}

fn file_name(file: &Path) -> String {
    file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

impl PackageManager for Debian {
    fn family(&self) -> OsFamily {
        OsFamily::Debian
    }

    async fn installed(&self, host: &Host, name: &str) -> Result<Option<String>, StepError> {
        let mut cmd = Cmd::new("dpkg-query");
        if let PackageTool::Rooted(r) = &self.tool {
            cmd = cmd.arg(format!("--admindir={}", r.join("var/lib/dpkg").display()));
        }
        let cmd = cmd.args(["-W", "-f=${Version}\\t${Status}\\n", name]);
        let out = host.run(&cmd).await?;
        if out.exit_code == Some(1) && out.stderr.contains("no packages found matching") {
            return Ok(None);
        }
        if !out.success() {
            return Err(StepError::command(
                &format!("cannot query package `{name}`"),
                &out,
                "check that dpkg works on this host (`dpkg --audit`)",
            ));
        }
        Ok(out.stdout.lines().find_map(|l| {
            let (version, status) = l.split_once('\t')?;
            (status.trim() == "install ok installed").then(|| version.trim().to_owned())
        }))
    }

    async fn install_file(
        &self,
        host: &Host,
        file: &Path,
        env: &[(String, Value)],
    ) -> Result<CmdOutput, StepError> {
        let mut cmd = Cmd::new("dpkg");
        if let PackageTool::Rooted(r) = &self.tool {
            cmd = cmd.args([
                format!("--root={}", r.display()),
                format!("--admindir={}", r.join("var/lib/dpkg").display()),
                "--force-script-chrootless".to_owned(),
                "--force-not-root".to_owned(),
            ]);
        }
        let cmd = with_env(cmd.arg("-i").arg(file.display().to_string()), env);
        let out = host.run(&cmd).await?;
        if !out.success() {
            return Err(StepError::command(
                &format!("installing {} failed", file_name(file)),
                &out,
                "read the package's error above; `dpkg --configure -a` may be needed after an interrupted install",
            ));
        }
        Ok(out)
    }

    async fn install_from_repo(
        &self,
        host: &Host,
        names: &[String],
    ) -> Result<CmdOutput, StepError> {
        let out = host.run(&Cmd::new("apt-get").args(["-y", "install"]).args(names)).await?;
        if !out.success() {
            return Err(StepError::command(
                &format!("installing {} failed", names.join(", ")),
                &out,
                "run `apt-get update` on the agent and check its package sources",
            )
            .retryable());
        }
        Ok(out)
    }
}

impl PackageManager for Rpm {
    fn family(&self) -> OsFamily {
        OsFamily::Rhel
    }

    async fn installed(&self, host: &Host, name: &str) -> Result<Option<String>, StepError> {
        let mut cmd = Cmd::new("rpm");
        if let PackageTool::Rooted(r) = &self.tool {
            cmd = cmd.arg("--root").arg(r.display().to_string());
        }
        let cmd = cmd.args(["-q", "--qf", "%{VERSION}-%{RELEASE}\\n", name]);
        let out = host.run(&cmd).await?;
        if out.exit_code == Some(1) && out.stdout.contains("is not installed") {
            return Ok(None);
        }
        if !out.success() {
            return Err(StepError::command(
                &format!("cannot query package `{name}`"),
                &out,
                "check that rpm works on this host (`rpm --rebuilddb`)",
            ));
        }
        Ok(out.stdout.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned))
    }

    async fn install_file(
        &self,
        host: &Host,
        file: &Path,
        env: &[(String, Value)],
    ) -> Result<CmdOutput, StepError> {
        let mut cmd = Cmd::new("rpm");
        if let PackageTool::Rooted(r) = &self.tool {
            cmd = cmd.arg("--root").arg(r.display().to_string()).arg("--nodeps");
        }
        let cmd = with_env(cmd.arg("-Uvh").arg(file.display().to_string()), env);
        let out = host.run(&cmd).await?;
        if !out.success() {
            return Err(StepError::command(
                &format!("installing {} failed", file_name(file)),
                &out,
                "read the package's error above",
            ));
        }
        // rpm exits 0 when %post fails; the package is then installed but not configured.
        if out.combined().contains("scriptlet failed") {
            return Err(StepError::command(
                &format!(
                    "installing {} left it half-configured (a scriptlet failed)",
                    file_name(file)
                ),
                &out,
                "fix the cause shown, then `rpm -e` the package and run this step again",
            ));
        }
        Ok(out)
    }

    async fn install_from_repo(
        &self,
        host: &Host,
        names: &[String],
    ) -> Result<CmdOutput, StepError> {
        let out = host.run(&Cmd::new("yum").args(["-y", "install"]).args(names)).await?;
        if !out.success() {
            return Err(StepError::command(
                &format!("installing {} failed", names.join(", ")),
                &out,
                "check the agent's yum repositories (`yum repolist`)",
            )
            .retryable());
        }
        Ok(out)
    }
}

impl PackageManager for Manager {
    fn family(&self) -> OsFamily {
        match self {
            Manager::Debian(m) => m.family(),
            Manager::Rpm(m) => m.family(),
        }
    }

    async fn installed(&self, host: &Host, name: &str) -> Result<Option<String>, StepError> {
        match self {
            Manager::Debian(m) => m.installed(host, name).await,
            Manager::Rpm(m) => m.installed(host, name).await,
        }
    }

    async fn install_file(
        &self,
        host: &Host,
        file: &Path,
        env: &[(String, Value)],
    ) -> Result<CmdOutput, StepError> {
        match self {
            Manager::Debian(m) => m.install_file(host, file, env).await,
            Manager::Rpm(m) => m.install_file(host, file, env).await,
        }
    }

    async fn install_from_repo(
        &self,
        host: &Host,
        names: &[String],
    ) -> Result<CmdOutput, StepError> {
        match self {
            Manager::Debian(m) => m.install_from_repo(host, names).await,
            Manager::Rpm(m) => m.install_from_repo(host, names).await,
        }
    }
}
