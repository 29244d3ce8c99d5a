//! `preflight`: host facts, changing nothing: OS (refusing unsupported ones), kernel, boot id,
//! init system, the strict `lsblk` device survey, requested package versions, Java and Mesos.

use scaleio::devices::{lsblk_argv, parse_lsblk, survey};
use scaleio::step::{InstalledPackage, Preflight, PreflightFacts};

use super::Ctx;
use crate::error::StepError;
use crate::host::Cmd;
use crate::packages::PackageManager as _;

/// The boot id file.
pub const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// Reads the boot id.
pub fn boot_id(ctx: &Ctx) -> Result<String, StepError> {
    let id = ctx.host.read(BOOT_ID)?.map(|s| s.trim().to_owned()).unwrap_or_default();
    if id.is_empty() {
        return Err(StepError::msg(format!(
            "{BOOT_ID} is missing or empty; cannot tell reboots apart"
        )));
    }
    Ok(id)
}

/// `uname -r`.
pub async fn kernel(ctx: &Ctx) -> Result<String, StepError> {
    let out =
        ctx.run_ok(&Cmd::new("uname").arg("-r"), "cannot read the kernel release", "").await?;
    Ok(out.stdout.trim().to_owned())
}

/// Gathers the facts.
pub async fn run(ctx: &Ctx, step: &Preflight) -> Result<PreflightFacts, StepError> {
    let platform = ctx.platform()?;
    let hostname = match ctx.host.read("/etc/hostname")? {
        Some(h) if !h.trim().is_empty() => h.trim().to_owned(),
        _ => ctx
            .run_ok(&Cmd::new("uname").arg("-n"), "cannot read the hostname", "")
            .await?
            .stdout
            .trim()
            .to_owned(),
    };
    let ips = match ctx.run(&Cmd::new("hostname").arg("-I")).await {
        Ok(out) if out.success() => out
            .stdout
            .split_whitespace()
            .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback()))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let kernel = kernel(ctx).await?;
    let boot_id = boot_id(ctx)?;
    let lsblk = lsblk_argv();
    let out = ctx
        .run_ok(
            &Cmd::new(&lsblk[0]).args(&lsblk[1..]),
            "cannot list block devices",
            "is util-linux installed?",
        )
        .await?;
    let devices = parse_lsblk(&out.stdout).map_err(|e| {
        StepError::msg(format!(
            "{e}: {}",
            std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default()
        ))
    })?;
    let devices = survey(&devices, &step.device_rules);
    let manager = ctx.manager(platform.family);
    let mut packages = Vec::new();
    for name in &step.packages {
        if let Some(version) = manager.installed(&ctx.host, name).await? {
            packages.push(InstalledPackage { name: name.clone(), version });
        }
    }
    let java_version = match ctx.run(&Cmd::new("java").arg("-version")).await {
        Ok(out) if out.success() => out.combined().lines().next().map(|l| l.trim().to_owned()),
        _ => None,
    };
    let mesos_version = mesos_version(ctx).await;
    Ok(PreflightFacts {
        hostname,
        ips,
        os: platform.os,
        kernel,
        boot_id,
        init_system: platform.init,
        devices,
        packages,
        java_version,
        mesos_version,
    })
}

/// `mesos-slave --version` (`mesos 1.0.1`) → `1.0.1`, if the agent binary answers.
pub async fn mesos_version(ctx: &Ctx) -> Option<String> {
    for program in ["mesos-agent", "mesos-slave"] {
        if let Ok(out) = ctx.run(&Cmd::new(program).arg("--version")).await {
            if out.success() {
                return out.stdout.split_whitespace().nth(1).map(str::to_owned);
            }
        }
    }
    None
}
