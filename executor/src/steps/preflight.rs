//! `preflight`: host facts, changing nothing: OS (refusing unsupported ones), kernel, boot id,
//! init system, local IPv4 addresses (`/proc/net/fib_trie`), the strict `lsblk` device survey, requested package versions, Java and Mesos.

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
    let ips = ips(ctx).await?;
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

/// The kernel's routing trie: every local address of the host, under the host root like the
/// boot id (a simulated host has its own, so it reports its own address).
pub const FIB_TRIE: &str = "/proc/net/fib_trie";

/// The host's IPv4 addresses from [`FIB_TRIE`]; `hostname -I` only where that file is missing
/// on a real host (`/`), never on a simulated one (it would report this machine's addresses).
async fn ips(ctx: &Ctx) -> Result<Vec<String>, StepError> {
    if let Some(trie) = ctx.host.read(FIB_TRIE)? {
        return Ok(local_ipv4(&trie));
    }
    if ctx.host.is_simulated() {
        ctx.host.note(format!("{FIB_TRIE} is missing on this simulated host: no IPs reported"));
        return Ok(Vec::new());
    }
    Ok(match ctx.run(&Cmd::new("hostname").arg("-I")).await {
        Ok(out) if out.success() => out
            .stdout
            .split_whitespace()
            .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !is_loopback_interface(ip)))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    })
}

/// The loopback interface's own addresses (`127.0.0.0`, `127.0.0.1`). Other `127.x` addresses
/// are ones an operator added (the emulator's agents listen on `127.1.x.y`) and are reported.
fn is_loopback_interface(ip: std::net::Ipv4Addr) -> bool {
    ip.octets()[..3] == [127, 0, 0] && ip.octets()[3] <= 1
}

/// The local (`/32 host LOCAL`) IPv4 addresses in a `/proc/net/fib_trie` text, in order, once
/// each, without the loopback interface's.
pub fn local_ipv4(trie: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<std::net::Ipv4Addr> = None;
    for line in trie.lines().map(str::trim) {
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.take() {
                let text = ip.to_string();
                if !is_loopback_interface(ip) && !out.contains(&text) {
                    out.push(text);
                }
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_from_a_real_fib_trie() {
        // As a Linux 5.x/6.x kernel prints it (both tables), with a second interface.
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 host LOCAL\n           |-- 127.0.0.1\n              /32 host LOCAL\n        |-- 127.255.255.255\n           /32 link BROADCAST\n     +-- 10.0.0.0/24 2 0 2\n        |-- 10.0.0.0\n           /24 link UNICAST\n        |-- 10.0.0.4\n           /32 host LOCAL\n        |-- 10.0.0.255\n           /32 link BROADCAST\n     |-- 172.17.0.1\n        /32 host LOCAL\nLocal:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.0.4\n        /32 host LOCAL\n     |-- 172.17.0.1\n        /32 host LOCAL\n";
        assert_eq!(local_ipv4(trie), ["10.0.0.4", "172.17.0.1"]);
        assert_eq!(local_ipv4("|-- 127.1.0.7\n   /32 host LOCAL\n"), ["127.1.0.7"]);
        assert!(local_ipv4("").is_empty());
    }
}
