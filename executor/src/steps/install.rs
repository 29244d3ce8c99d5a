//! Install steps: OS prerequisites (and the pinned Ubuntu 14.04 kernel), the ScaleIO packages from
//! the bundle, REX-Ray (package, 0600 config, scini ordering, restart and check), DVDCLI and the
//! volume isolator: the dvdi module or the native `docker/volume` isolator (agent flag files
//! keeping Mesos' defaults and what is there, a persistent `docker_volume_checkpoint_dir` for the
//! native one, the other volume isolator undone on a switch, `containerizers`, agent restart).

use std::time::Duration;

use scaleio::render;
use scaleio::step::{
    Component, EnvValue, InitSystem, InstallDvdcli, InstallIsolator, InstallPackages,
    InstallPrerequisites, InstallRexray, InstalledPackage, KernelPin, OsFamily, Outcome,
    PackageAction, PackageOutcome, VolumeIsolator, version_matches,
};

use super::Ctx;
use crate::error::StepError;
use crate::host::{Cmd, Value};
use crate::packages::{Manager, PackageManager as _};

/// GRUB drop-in that makes the pinned kernel the default (Ubuntu).
pub const GRUB_PIN: &str = "/etc/default/grub.d/50-scaleio-kernel.cfg";

/// `install_prerequisites`.
pub async fn prerequisites(
    ctx: &Ctx,
    step: &InstallPrerequisites,
) -> Result<(bool, Outcome), StepError> {
    let platform = ctx.platform()?;
    let m = ctx.manager(platform.family);
    let mut changed = false;
    let mut missing = Vec::new();
    for name in &step.packages {
        if m.installed(&ctx.host, name).await?.is_none() {
            missing.push(name.clone());
        }
    }
    if missing.is_empty() {
        ctx.host.note("all prerequisite packages are installed");
    } else {
        let out = m.install_from_repo(&ctx.host, &missing).await?;
        // yum says "Nothing to do" when everything was there after all.
        changed |= !out.combined().contains("Nothing to do")
            && !out.combined().contains(" 0 newly installed");
    }
    let mut reboot_required = false;
    if let Some(pin) = &step.kernel {
        if platform.family != OsFamily::Debian {
            return Err(StepError::msg(format!(
                "a kernel pin ({}) is only supported on Ubuntu; this host runs {} {}\nhint: the scheduler sent an Ubuntu step to another OS",
                pin.package, platform.os.id, platform.os.version_id
            )));
        }
        changed |= pin_kernel(ctx, &m, pin).await?;
        let running = super::preflight::kernel(ctx).await?;
        reboot_required = running != pin.release;
        if reboot_required {
            ctx.host.note(format!(
                "running kernel {running}, pinned {}: a reboot is required",
                pin.release
            ));
        }
    }
    let mut packages = Vec::new();
    for name in step.packages.iter().chain(step.kernel.as_ref().map(|k| &k.package)) {
        if let Some(version) = m.installed(&ctx.host, name).await? {
            packages.push(InstalledPackage { name: name.clone(), version });
        }
    }
    Ok((changed, Outcome::InstallPrerequisites { packages, reboot_required }))
}

async fn pin_kernel(ctx: &Ctx, m: &Manager, pin: &KernelPin) -> Result<bool, StepError> {
    let mut changed = false;
    if m.installed(&ctx.host, &pin.package).await?.is_none() {
        m.install_from_repo(&ctx.host, std::slice::from_ref(&pin.package)).await?;
        changed = true;
    }
    let grub = format!(
        "# Written by scaleio-executor: boot the kernel ScaleIO's SDC module is built for.\nGRUB_DEFAULT=\"Advanced options for Ubuntu>Ubuntu, with Linux {}\"\n",
        pin.release
    );
    if ctx.host.write_atomic(GRUB_PIN, grub.as_bytes(), 0o644)? || changed {
        ctx.run_ok(
            &Cmd::new("apt-mark").args(["hold", &pin.package]),
            "holding the pinned kernel failed",
            "",
        )
        .await?;
        ctx.run_ok(
            &Cmd::new("update-grub"),
            "updating GRUB failed",
            "run `update-grub` on the agent and read its error",
        )
        .await?;
        changed = true;
    }
    Ok(changed)
}

/// How an installed version is compared with the wanted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    /// ScaleIO: the release is part of the version (`2.0-10000.2072`).
    Full,
    /// REX-Ray, DVDCLI: the step names the upstream version (`0.11.4`); the Debian revision or
    /// RPM release after the last `-` (`0.11.4-1`) is packaging.
    Upstream,
}

fn matches(compare: Compare, wanted: &str, installed: &str) -> bool {
    let installed = match compare {
        Compare::Full => installed,
        Compare::Upstream => installed.rsplit_once('-').map_or(installed, |(v, _)| v),
    };
    version_matches(wanted, installed)
}

/// Installs one package file from the bundle unless the wanted version is there.
async fn ensure_package(
    ctx: &Ctx,
    m: &Manager,
    (name, compare): (&str, Compare),
    artifact: &str,
    wanted: &str,
    env: &[(String, Value)],
) -> Result<(PackageAction, String), StepError> {
    let before = m.installed(&ctx.host, name).await?;
    if let Some(v) = &before {
        if matches(compare, wanted, v) {
            ctx.host.note(format!("{name} {v} is installed"));
            return Ok((PackageAction::AlreadyPresent, v.clone()));
        }
    }
    let file = ctx.artifact(artifact)?;
    m.install_file(&ctx.host, &file, env).await?;
    let after = m.installed(&ctx.host, name).await?;
    match after {
        Some(v) if matches(compare, wanted, &v) => Ok((
            if before.is_some() { PackageAction::Upgraded } else { PackageAction::Installed },
            v,
        )),
        other => Err(StepError::msg(format!(
            "installed {artifact} but the package manager reports {name} {}, wanted {wanted}\nhint: the bundle's file does not hold the version the step names; rebuild the bundle",
            other.as_deref().unwrap_or("not installed")
        ))),
    }
}

/// `install_packages`.
pub async fn packages(ctx: &Ctx, step: &InstallPackages) -> Result<(bool, Outcome), StepError> {
    let platform = ctx.platform()?;
    let m = ctx.manager(platform.family);
    let mut out = Vec::new();
    for p in &step.packages {
        let component = p.settings.component();
        let name = component.package_name(platform.family);
        let mut env = Vec::new();
        for (k, v) in p.settings.install_env() {
            env.push((
                k.to_owned(),
                match v {
                    EnvValue::Plain(s) => Value::Plain(s),
                    EnvValue::Secret(r) => Value::Secret(ctx.secret(&r)?),
                },
            ));
        }
        if component == Component::Gateway && platform.family == OsFamily::Debian {
            let installed = m.installed(&ctx.host, name).await?;
            if !installed.is_some_and(|v| matches(Compare::Full, &p.version, &v)) {
                require_java(ctx).await?;
            }
        }
        let (action, version) =
            ensure_package(ctx, &m, (name, Compare::Full), &p.artifact, &p.version, &env).await?;
        out.push(PackageOutcome { component, name: name.to_owned(), version, action });
    }
    let changed = out.iter().any(|p| p.action != PackageAction::AlreadyPresent);
    Ok((changed, Outcome::InstallPackages { packages: out }))
}

/// The Java major version in `java -version` output (`1.8.0_131` → 8, `17.0.15` → 17).
pub fn java_major(output: &str) -> Option<u32> {
    let line = output.lines().find(|l| l.contains(" version \""))?;
    let quoted = line.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 { parts.next()?.parse().ok() } else { Some(first) }
}

/// The Ubuntu gateway package needs a JRE 8+ that nothing installs (the original relied on its
/// AMI): refuse clearly before installing the gateway.
async fn require_java(ctx: &Ctx) -> Result<(), StepError> {
    let hint = "install a Java 8 (or newer) runtime on the agent first, e.g. openjdk-8-jre-headless (Ubuntu 14.04: from the openjdk-r PPA)";
    let found = match ctx.run(&Cmd::new("java").arg("-version")).await {
        Ok(out) if out.success() => java_major(&out.combined()),
        _ => None,
    };
    match found {
        Some(major) if major >= 8 => {
            ctx.host.note(format!("Java {major} is present for the gateway"));
            Ok(())
        }
        Some(major) => Err(StepError::msg(format!(
            "the ScaleIO gateway needs Java 8 or newer; `java -version` reports Java {major}\nhint: {hint}"
        ))),
        None => Err(StepError::msg(format!(
            "the ScaleIO gateway needs Java 8 or newer and `java -version` found none\nhint: {hint}"
        ))),
    }
}

/// `install_rexray`.
pub async fn rexray(ctx: &Ctx, step: &InstallRexray) -> Result<(bool, Outcome), StepError> {
    let platform = ctx.platform()?;
    let m = ctx.manager(platform.family);
    let (action, version) =
        ensure_package(ctx, &m, ("rexray", Compare::Upstream), &step.artifact, &step.version, &[])
            .await?;
    let mut changed = action != PackageAction::AlreadyPresent;
    let password = ctx.secret(&step.settings.password)?;
    let config = render::rexray_config(&step.settings, &password);
    changed |= ctx.host.write_atomic(
        render::REXRAY_CONFIG,
        config.as_bytes(),
        render::SECRET_FILE_MODE,
    )?;
    match platform.init {
        InitSystem::Systemd => {
            if ctx.host.write_atomic(
                render::REXRAY_SCINI_DROPIN,
                render::rexray_scini_dropin().as_bytes(),
                0o644,
            )? {
                ctx.run_ok(
                    &Cmd::new("systemctl").arg("daemon-reload"),
                    "systemctl daemon-reload failed",
                    "",
                )
                .await?;
                changed = true;
            }
        }
        InitSystem::Sysv => {
            let script = ctx.host.read(render::REXRAY_INIT_SCRIPT)?.ok_or_else(|| {
                StepError::msg(format!(
                    "{} is missing after installing {}\nhint: the REX-Ray package should ship its init script; check the bundle's package",
                    render::REXRAY_INIT_SCRIPT, step.artifact
                ))
            })?;
            let patched = render::rexray_init_with_scini(&script);
            changed |=
                ctx.host.write_atomic(render::REXRAY_INIT_SCRIPT, patched.as_bytes(), 0o755)?;
        }
    }
    if platform.init == InitSystem::Systemd {
        ctx.run_ok(&Cmd::new("systemctl").args(["enable", "rexray"]), "enabling rexray failed", "")
            .await?;
    }
    if changed || !ctx.service_active(platform.init, "rexray").await? {
        ctx.restart_service(platform.init, "rexray", Duration::from_secs(60)).await?;
    } else {
        ctx.host.note("rexray is active and its configuration unchanged");
    }
    Ok((changed, Outcome::InstallRexray { version }))
}

/// `install_dvdcli`.
pub async fn dvdcli(ctx: &Ctx, step: &InstallDvdcli) -> Result<(bool, Outcome), StepError> {
    let platform = ctx.platform()?;
    let m = ctx.manager(platform.family);
    let (action, version) =
        ensure_package(ctx, &m, ("dvdcli", Compare::Upstream), &step.artifact, &step.version, &[])
            .await?;
    if !ctx.host.exists("/usr/bin/dvdcli") {
        return Err(StepError::msg(
            "/usr/bin/dvdcli is missing after installing DVDCLI (the isolator runs that path)\nhint: check the bundle's DVDCLI package",
        ));
    }
    Ok((action != PackageAction::AlreadyPresent, Outcome::InstallDvdcli { version }))
}

/// `install_isolator`: the isolator the step names (`auto` resolved against the agent's Mesos
/// version), the agent flag files keeping what is there but converging to exactly that volume
/// isolator (a switch removes the other one: `docker/volume` from `isolation` and our
/// `docker_volume_checkpoint_dir`, or the dvdi entry, our `modules` flag, its JSON and `.so`),
/// for `docker/volume` a persistent `docker_volume_checkpoint_dir` under the agent's work dir
/// (an operator's own value kept), `containerizers` with `mesos` (and `docker` where Docker is
/// installed), and an agent restart when anything changed.
pub async fn isolator(ctx: &Ctx, step: &InstallIsolator) -> Result<(bool, Outcome), StepError> {
    let platform = ctx.platform()?;
    let running = super::preflight::mesos_version(ctx).await;
    let chosen = step.volume_isolator.resolve(running.as_deref()).map_err(|old| {
        StepError::msg(format!(
            "the native docker/volume isolator needs Mesos 1.0 or newer but this agent runs Mesos {old}\nhint: start the scheduler with --volume-isolator dvdi (or auto), or upgrade the agent"
        ))
    })?;
    let (module_file, mut changed) = match chosen {
        VolumeIsolator::DockerVolume => {
            ctx.host.note(match &running {
                Some(v) => {
                    format!("agent runs Mesos {v}: the native docker/volume isolator, no module")
                }
                None => {
                    "the agent's Mesos version is unknown; docker/volume as configured, no module"
                        .to_owned()
                }
            });
            let current = ctx.host.read(render::AGENT_ISOLATION_FLAG)?;
            let isolation = render::agent_isolation_flag_docker_volume(
                without_isolators(current.as_deref(), &[render::DVDI_ISOLATOR]).as_deref(),
            );
            let mut changed =
                ctx.host.write_atomic(render::AGENT_ISOLATION_FLAG, isolation.as_bytes(), 0o644)?;
            changed |= docker_volume_checkpoint_dir(ctx)?;
            changed |= remove_dvdi_module(ctx)?;
            (String::new(), changed)
        }
        _ => {
            let (module_file, mut changed) = dvdi_module(ctx, step, running.as_deref())?;
            changed |= remove_our_checkpoint_dir_flag(ctx)?;
            (module_file, changed)
        }
    };
    let docker = ctx.host.exists("/usr/bin/docker");
    let containerizers = render::agent_containerizers_flag(
        ctx.host.read(render::AGENT_CONTAINERIZERS_FLAG)?.as_deref(),
        docker,
    );
    if !docker && !containerizers.split(',').any(|c| c.trim() == "docker") {
        ctx.host.note("no /usr/bin/docker: the docker containerizer is not added");
    }
    changed |= ctx.host.write_atomic(
        render::AGENT_CONTAINERIZERS_FLAG,
        containerizers.as_bytes(),
        0o644,
    )?;
    let agent_restarted = changed;
    if agent_restarted {
        ctx.restart_service(
            platform.init,
            &step.restart.service,
            Duration::from_secs(step.restart.wait_seconds.into()),
        )
        .await?;
    } else {
        ctx.host.note("isolator and agent flags unchanged; the agent is not restarted");
    }
    Ok((changed, Outcome::InstallIsolator { module_file, agent_restarted }))
}

/// The dvdi `.so` (refused when built for another Mesos than the agent runs), its modules JSON,
/// and the `isolation`/`modules` flags. Returns the module path and whether anything changed.
fn dvdi_module(
    ctx: &Ctx,
    step: &InstallIsolator,
    running: Option<&str>,
) -> Result<(String, bool), StepError> {
    match running {
        Some(running) if running != step.mesos_version => {
            return Err(StepError::msg(format!(
                "the dvdi isolator {} is built for Mesos {} but this agent runs Mesos {running}; loading it would crash the agent\nhint: put a module built for Mesos {running} in the bundle, or use the native isolator (--volume-isolator docker-volume or auto) on Mesos 1.0 or newer",
                step.artifact, step.mesos_version
            )));
        }
        Some(running) => ctx.host.note(format!("agent runs Mesos {running}, as the module needs")),
        None => ctx
            .host
            .note("the agent's Mesos version is unknown (no mesos-agent/mesos-slave --version)"),
    }
    let file = ctx.artifact(&step.artifact)?;
    let so_path = format!("/usr/lib/{}", step.artifact);
    let mut changed = ctx.host.install_file(&file, &so_path, 0o644)?;
    let json = render::dvdi_modules_json(&so_path);
    changed |= ctx.host.write_atomic(render::DVDI_MODULES_JSON, json.as_bytes(), 0o644)?;
    let current = ctx.host.read(render::AGENT_ISOLATION_FLAG)?;
    let isolation = render::agent_isolation_flag(
        without_isolators(current.as_deref(), &[DOCKER_VOLUME]).as_deref(),
    );
    changed |= ctx.host.write_atomic(render::AGENT_ISOLATION_FLAG, isolation.as_bytes(), 0o644)?;
    let modules = render::agent_modules_flag(
        ctx.host.read(render::AGENT_MODULES_FLAG)?.as_deref(),
        render::DVDI_MODULES_JSON,
    )
    .map_err(|e| StepError::msg(e.to_string()))?;
    changed |= ctx.host.write_atomic(render::AGENT_MODULES_FLAG, modules.as_bytes(), 0o644)?;
    Ok((so_path, changed))
}

/// Our checkpoint directory for the native isolator: under the agent's work dir (from its
/// flag file), or under [`render::DEFAULT_AGENT_WORK_DIR`] with the reason when that file is
/// missing or unusable.
fn our_checkpoint_dir(ctx: &Ctx) -> Result<(String, Option<String>), StepError> {
    let flag = ctx.host.read(render::AGENT_WORK_DIR_FLAG)?;
    Ok(match render::agent_work_dir(flag.as_deref()) {
        Ok(work_dir) => (render::docker_volume_checkpoint_dir(&work_dir), None),
        Err(why) => {
            (render::docker_volume_checkpoint_dir(render::DEFAULT_AGENT_WORK_DIR), Some(why))
        }
    })
}

/// `--docker_volume_checkpoint_dir` for the native isolator. Mesos' default lies under
/// `/var/run` (tmpfs): after a host reboot the isolator has no record of the containers that
/// died with the host, so it never unmounts their volumes and REX-Ray keeps them mapped to this
/// host. A missing (or empty) flag file gets `<work_dir>/isolators/docker/volume`, created
/// 0700, and the checkpoints of containers running under the old default are copied there
/// first (the restarted agent reads only the new directory; without them it would never
/// unmount those containers' volumes). A value the operator set is kept, with a note when it
/// lies in a directory emptied at boot. Returns whether anything changed.
fn docker_volume_checkpoint_dir(ctx: &Ctx) -> Result<bool, StepError> {
    let (ours, why) = our_checkpoint_dir(ctx)?;
    let flag = render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG;
    let current = ctx.host.read(flag)?;
    let decision = render::agent_docker_volume_checkpoint_dir_flag(current.as_deref(), &ours);
    if let (Some(why), render::CheckpointDirFlag::Write(_) | render::CheckpointDirFlag::Ours) =
        (&why, &decision)
    {
        ctx.host.note(format!("{why}: volume checkpoints go to {ours}"));
    }
    match decision {
        render::CheckpointDirFlag::Write(content) => {
            let mut changed =
                ctx.host.ensure_dir(&ours, render::DOCKER_VOLUME_CHECKPOINT_DIR_MODE)?;
            changed |= copy_checkpoints(ctx, render::MESOS_DOCKER_VOLUME_CHECKPOINT_DIR, &ours)?;
            changed |= ctx.host.write_atomic(flag, content.as_bytes(), 0o644)?;
            Ok(changed)
        }
        render::CheckpointDirFlag::Ours => {
            Ok(ctx.host.ensure_dir(&ours, render::DOCKER_VOLUME_CHECKPOINT_DIR_MODE)?)
        }
        render::CheckpointDirFlag::Operator { value, volatile: Some(dir) } => {
            ctx.host.note(format!(
                "{flag} names {value}, under {dir}, which is emptied at boot: kept, as the operator's choice, but after a host reboot the agent cannot unmount the volumes of containers that died with the host and REX-Ray keeps them mapped to it; set a persistent directory (e.g. {ours}) and restart the agent"
            ));
            Ok(false)
        }
        render::CheckpointDirFlag::Operator { value, volatile: None } => {
            ctx.host.note(format!("{flag} names {value}: the operator's choice, kept"));
            Ok(false)
        }
    }
}

/// Copies `<from>/<container id>/volumes` to `<to>` where `<to>` has none for that container,
/// so the agent restarted onto `<to>` still unmounts the volumes of containers it launched
/// before. `<from>` is left as it is (the restarted agent no longer reads it). Returns whether
/// anything was copied.
fn copy_checkpoints(ctx: &Ctx, from: &str, to: &str) -> Result<bool, StepError> {
    let mut copied = Vec::new();
    for container in ctx.host.subdirectories(from)? {
        let Some(volumes) = ctx.host.read(&format!("{from}/{container}/volumes"))? else {
            continue;
        };
        let target = format!("{to}/{container}/volumes");
        if !ctx.host.exists(&target) {
            ctx.host.write_atomic(&target, volumes.as_bytes(), 0o600)?;
            copied.push(container);
        }
    }
    if !copied.is_empty() {
        ctx.host.note(format!(
            "copied the volume checkpoints of {} running container(s) from {from} to {to}: {}",
            copied.len(),
            copied.join(", ")
        ));
    }
    Ok(!copied.is_empty())
}

/// Undoes our `--docker_volume_checkpoint_dir` when the dvdi module is chosen: the flag file is
/// removed only when it names exactly the directory we would set (one naming another directory
/// is the operator's). The directory stays: it may hold the checkpoints of containers still
/// running under `docker/volume`. Returns whether the file was removed.
fn remove_our_checkpoint_dir_flag(ctx: &Ctx) -> Result<bool, StepError> {
    let (ours, _) = our_checkpoint_dir(ctx)?;
    let flag = render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG;
    let current = ctx.host.read(flag)?;
    match render::agent_docker_volume_checkpoint_dir_flag(current.as_deref(), &ours) {
        render::CheckpointDirFlag::Ours => {
            let removed = ctx.host.remove(flag)?;
            if removed {
                ctx.host.note(format!(
                    "{ours} is left in place: it may hold the checkpoints of containers started under docker/volume"
                ));
            }
            Ok(removed)
        }
        render::CheckpointDirFlag::Write(_) | render::CheckpointDirFlag::Operator { .. } => {
            Ok(false)
        }
    }
}

/// The native volume isolator's name in `--isolation`.
const DOCKER_VOLUME: &str = "docker/volume";

/// The first line of an `isolation` flag file without the `drop` isolators: what the other
/// volume isolator's renderer starts from, so a switch leaves exactly the chosen one. `None`
/// when nothing is left (the renderer then starts from Mesos' defaults). `filesystem/linux`
/// stays: it is not a volume isolator and the operator may want it for other reasons.
fn without_isolators(current: Option<&str>, drop: &[&str]) -> Option<String> {
    let line = current?.lines().map(str::trim).find(|l| !l.is_empty())?;
    let kept: Vec<&str> =
        line.split(',').map(str::trim).filter(|s| !s.is_empty() && !drop.contains(s)).collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// Undoes the dvdi module when the native isolator is chosen: the `modules` flag when it is
/// ours (`file:///usr/lib/dvdi-mod.json`), then the modules JSON and the `.so` it names. A
/// `modules` flag naming another file is the operator's (perhaps with the dvdi library merged
/// in, as our refusal suggests): it, the JSON and the `.so` are kept, so the agent can still
/// load what that file names. Returns whether anything was removed.
fn remove_dvdi_module(ctx: &Ctx) -> Result<bool, StepError> {
    let ours = format!("file://{}", render::DVDI_MODULES_JSON);
    let flag = ctx.host.read(render::AGENT_MODULES_FLAG)?;
    let mut changed = false;
    match flag.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) if f == ours || f == render::DVDI_MODULES_JSON => {
            changed |= ctx.host.remove(render::AGENT_MODULES_FLAG)?;
        }
        Some(other) => {
            ctx.host.note(format!(
                "{} names {other}, not the dvdi module's JSON: kept, with {} and the module it names",
                render::AGENT_MODULES_FLAG,
                render::DVDI_MODULES_JSON
            ));
            return Ok(false);
        }
        None => {}
    }
    if let Some(json) = ctx.host.read(render::DVDI_MODULES_JSON)? {
        let libraries: Vec<String> = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v.get("libraries").and_then(|l| l.as_array()).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|l| l.get("file").and_then(|f| f.as_str()).map(str::to_owned))
            .filter(|f| {
                f.strip_prefix("/usr/lib/")
                    .is_some_and(|n| n.starts_with("libmesos_dvdi_isolator") && !n.contains('/'))
            })
            .collect();
        for so in libraries {
            changed |= ctx.host.remove(&so)?;
        }
        changed |= ctx.host.remove(render::DVDI_MODULES_JSON)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_isolators_drops_the_other_one_only() {
        let dvdi = render::DVDI_ISOLATOR;
        let line = format!("cgroups/cpu,{dvdi},filesystem/linux\n");
        assert_eq!(
            without_isolators(Some(&line), &[dvdi]).as_deref(),
            Some("cgroups/cpu,filesystem/linux")
        );
        assert_eq!(without_isolators(Some(&format!("{dvdi}\n")), &[dvdi]), None);
        assert_eq!(without_isolators(Some("\n"), &[dvdi]), None);
        assert_eq!(without_isolators(None, &[dvdi]), None);
    }

    #[test]
    fn java_versions() {
        assert_eq!(java_major("openjdk version \"1.8.0_131\"\nOpenJDK Runtime"), Some(8));
        assert_eq!(java_major("java version \"1.7.0_95\"\n"), Some(7));
        assert_eq!(java_major("openjdk version \"17.0.15\" 2025-04-15\n"), Some(17));
        assert_eq!(java_major("bash: java: command not found"), None);
    }

    #[test]
    fn upstream_versions_ignore_the_packaging_revision() {
        assert!(matches(Compare::Upstream, "0.11.4", "0.11.4-1"));
        assert!(!matches(Compare::Upstream, "0.11.4", "0.11.3-1"));
        assert!(!matches(Compare::Full, "2.0-10000.2072", "2.0-10000.2071"));
        assert!(matches(Compare::Full, "2.0-10000.2072", "2.0.10000.2072.Ubuntu.14.04"));
    }
}
