//! Configuration files rendered from typed values: `/etc/rexray/config.yml`, the REX-Ray scini
//! dependency (systemd drop-in and SysV init script), the dvdi isolator `modules` JSON, the Mesos
//! agent flag files `isolation` (dvdi or native `docker/volume`), `modules`, `containerizers` and
//! `docker_volume_checkpoint_dir` (a persistent directory under the agent's `work_dir`), and the
//! `gatewayUser.properties` key rewrite.
//! Every renderer is pure and idempotent: rendering its own output again changes nothing.

use crate::secret::Secret;
use crate::step::{RexraySettings, SystemSelector};

/// REX-Ray configuration file; written mode [`SECRET_FILE_MODE`] (it holds the password).
pub const REXRAY_CONFIG: &str = "/etc/rexray/config.yml";
/// Mode of files that hold a secret.
pub const SECRET_FILE_MODE: u32 = 0o600;
/// systemd drop-in adding the scini dependency to REX-Ray.
pub const REXRAY_SCINI_DROPIN: &str = "/etc/systemd/system/rexray.service.d/scini.conf";
/// SysV init script of REX-Ray.
pub const REXRAY_INIT_SCRIPT: &str = "/etc/init.d/rexray";
/// The dvdi module JSON the `modules` flag points at.
pub const DVDI_MODULES_JSON: &str = "/usr/lib/dvdi-mod.json";
/// Mesos agent `--isolation` flag file.
pub const AGENT_ISOLATION_FLAG: &str = "/etc/mesos-slave/isolation";
/// Mesos agent `--modules` flag file.
pub const AGENT_MODULES_FLAG: &str = "/etc/mesos-slave/modules";
/// The gateway's user properties.
pub const GATEWAY_USER_PROPERTIES: &str =
    "/opt/emc/scaleio/gateway/webapps/ROOT/WEB-INF/classes/gatewayUser.properties";
/// The isolator module name.
pub const DVDI_ISOLATOR: &str = "com_emccode_mesos_DockerVolumeDriverIsolator";
/// Isolators Mesos uses when `--isolation` is not given; kept when adding ours.
pub const DEFAULT_ISOLATION: &str = "posix/cpu,posix/mem";

/// A YAML double-quoted scalar (JSON string escaping is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialise")
}

/// Renders `/etc/rexray/config.yml`: one map per module (the original emitted a duplicate
/// `libstorage:` key in the `mesos` module), `scaleio.version: "2.0"` (the 2.0.1 gateway refuses
/// `2.0.1`), and the one pool chosen by the topology.
pub fn rexray_config(s: &RexraySettings, password: &Secret) -> String {
    let mut out = String::new();
    out.push_str(
        "# Written by scaleio-executor; do not edit (rewritten on every install_rexray step).\n",
    );
    out.push_str("rexray:\n");
    out.push_str(&format!("  logLevel: {}\n", q(&s.log_level)));
    out.push_str("  modules:\n");
    for (module, socket, extra) in
        [("default-docker", "docker", false), ("mesos", "mesos", true), ("rexray", "rexray", false)]
    {
        out.push_str(&format!("    {module}:\n"));
        out.push_str("      type: docker\n");
        out.push_str(&format!(
            "      host: {}\n",
            q(&format!("unix:///run/docker/plugins/{socket}.sock"))
        ));
        out.push_str("      libstorage:\n");
        out.push_str("        service: scaleio\n");
        if extra {
            out.push_str("        integration:\n          volume:\n            operations:\n              unmount:\n                ignoreUsedCount: true\n");
        }
    }
    out.push_str("libstorage:\n");
    out.push_str("  service: scaleio\n");
    out.push_str(
        "  integration:\n    volume:\n      operations:\n        mount:\n          preempt: true\n",
    );
    out.push_str("scaleio:\n");
    out.push_str(&format!("  endpoint: {}\n", q(&s.gateway_endpoint)));
    out.push_str(&format!("  insecure: {}\n", s.insecure));
    out.push_str("  version: \"2.0\"\n");
    out.push_str(&format!("  thinOrThick: {}\n", q(&s.thin_or_thick)));
    out.push_str(&format!("  userName: {}\n", q(&s.username)));
    out.push_str(&format!("  password: {}\n", q(password.expose())));
    match &s.system {
        SystemSelector::Name(n) => out.push_str(&format!("  systemName: {}\n", q(n))),
        SystemSelector::Id(id) => out.push_str(&format!("  systemID: {}\n", q(id))),
    }
    out.push_str(&format!("  protectionDomainName: {}\n", q(s.pool.protection_domain.as_str())));
    out.push_str(&format!("  storagePoolName: {}\n", q(s.pool.storage_pool.as_str())));
    out
}

/// The systemd drop-in making REX-Ray start after the scini driver (the original wrote `After=rexray`).
pub fn rexray_scini_dropin() -> String {
    "[Unit]\nAfter=scini.service\nWants=scini.service\n".to_owned()
}

/// Patches REX-Ray's SysV init script so scini starts first: `scini` is appended to the LSB
/// `Required-Start:` line, and `[ -e /etc/init.d/scini ] && /etc/init.d/scini start` is inserted
/// before the first line that starts REX-Ray. Blank lines are kept; a patched script is unchanged.
pub fn rexray_init_with_scini(script: &str) -> String {
    const START_SCINI: &str = "if [ -e /etc/init.d/scini ]; then /etc/init.d/scini start; fi";
    let already_started = script.lines().any(|l| l.trim() == START_SCINI);
    let mut out = String::with_capacity(script.len() + 80);
    let mut inserted = already_started;
    for line in script.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        if let Some(idx) = body.find("Required-Start:") {
            let deps = &body[idx + "Required-Start:".len()..];
            if !deps.split_whitespace().any(|d| d == "scini") {
                out.push_str(body);
                out.push_str(" scini");
                out.push_str(&line[body.len()..]);
                continue;
            }
        }
        if !inserted && body.contains("rexray start") && !body.trim_start().starts_with('#') {
            let indent: String = body.chars().take_while(|c| c.is_whitespace()).collect();
            out.push_str(&format!("{indent}{START_SCINI}\n"));
            inserted = true;
        }
        out.push_str(line);
    }
    out
}

/// The dvdi `modules` JSON for the isolator library at `so_path`. The `isolator_command`
/// parameter of the original is dropped: the module never reads it.
pub fn dvdi_modules_json(so_path: &str) -> String {
    let v = serde_json::json!({
        "libraries": [{
            "file": so_path,
            "modules": [{ "name": DVDI_ISOLATOR }]
        }]
    });
    let mut s = serde_json::to_string_pretty(&v).expect("json values serialise");
    s.push('\n');
    s
}

/// The new `/etc/mesos-slave/isolation` content given the current one (if the file exists):
/// our isolator appended to what is there, or to Mesos' defaults when nothing is set. Unchanged
/// if the isolator is already listed.
pub fn agent_isolation_flag(current: Option<&str>) -> String {
    let line = current.and_then(|c| c.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("");
    let list: Vec<&str> = line.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if list.contains(&DVDI_ISOLATOR) {
        return format!("{}\n", list.join(","));
    }
    let base = if list.is_empty() { DEFAULT_ISOLATION.to_owned() } else { list.join(",") };
    format!("{base},{DVDI_ISOLATOR}\n")
}

/// Isolators the native `docker/volume` path needs: Mesos refuses `docker/volume` without
/// `filesystem/linux`.
pub const DOCKER_VOLUME_ISOLATION: [&str; 2] = ["filesystem/linux", "docker/volume"];

/// The new `/etc/mesos-slave/isolation` content for the native `docker/volume` isolator: the
/// current list (Mesos' defaults when nothing is set) with [`DOCKER_VOLUME_ISOLATION`] appended
/// where missing. Unchanged if both are listed.
pub fn agent_isolation_flag_docker_volume(current: Option<&str>) -> String {
    let line = current.and_then(|c| c.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("");
    let mut list: Vec<&str> = line.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if list.is_empty() {
        list = DEFAULT_ISOLATION.split(',').collect();
    }
    for wanted in DOCKER_VOLUME_ISOLATION {
        if !list.contains(&wanted) {
            list.push(wanted);
        }
    }
    format!("{}\n", list.join(","))
}

/// Mesos agent `--containerizers` flag file.
pub const AGENT_CONTAINERIZERS_FLAG: &str = "/etc/mesos-slave/containerizers";

/// The new `/etc/mesos-slave/containerizers` content (the dvdi README asks for `docker,mesos`):
/// what is there (Mesos' default `mesos` when nothing is set), plus `mesos` (both volume
/// isolators live in the Mesos containerizer) and, when `docker_present`, `docker`. Docker is
/// only added on hosts that have it: an agent told to use a Docker it cannot find does not start.
pub fn agent_containerizers_flag(current: Option<&str>, docker_present: bool) -> String {
    let line = current.and_then(|c| c.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("");
    let mut list: Vec<&str> = line.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let wanted: &[&str] = if docker_present { &["docker", "mesos"] } else { &["mesos"] };
    for w in wanted {
        if !list.contains(w) {
            list.push(w);
        }
    }
    format!("{}\n", list.join(","))
}

/// Mesos agent `--work_dir` flag file (Mesosphere's packages ship it with `/var/lib/mesos`).
pub const AGENT_WORK_DIR_FLAG: &str = "/etc/mesos-slave/work_dir";
/// The agent work dir of Mesosphere's packages: where the checkpoint directory goes when
/// [`AGENT_WORK_DIR_FLAG`] is missing or names no persistent absolute path.
pub const DEFAULT_AGENT_WORK_DIR: &str = "/var/lib/mesos";
/// Mesos agent `--docker_volume_checkpoint_dir` flag file.
pub const AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG: &str =
    "/etc/mesos-slave/docker_volume_checkpoint_dir";
/// Mesos' own `--docker_volume_checkpoint_dir` default. `/var/run` is tmpfs: after a host reboot
/// the native isolator finds no record of the containers that died with the host and never
/// unmounts their volumes (REX-Ray keeps them mapped to that host).
pub const MESOS_DOCKER_VOLUME_CHECKPOINT_DIR: &str = "/var/run/mesos/isolators/docker/volume";
/// Mode of the checkpoint directory the executor creates: only root (the agent) reads it; Mesos
/// creates the per-container directories inside.
pub const DOCKER_VOLUME_CHECKPOINT_DIR_MODE: u32 = 0o700;

/// Directories whose content does not survive a reboot on our agents: `/run` and `/dev/shm`
/// are tmpfs (`/var/run` links to `/run`), Ubuntu 14.04 empties `/tmp` at boot.
const VOLATILE_DIRS: [&str; 4] = ["/run", "/var/run", "/tmp", "/dev/shm"];

/// The boot-emptied directory `path` lies in (itself or below), if any.
pub fn volatile_dir(path: &str) -> Option<&'static str> {
    let path = path.trim_end_matches('/');
    VOLATILE_DIRS
        .into_iter()
        .find(|d| path == *d || path.strip_prefix(d).is_some_and(|rest| rest.starts_with('/')))
}

/// The agent's work dir from the content of [`AGENT_WORK_DIR_FLAG`] (`None`: no such file).
/// `Err` says why it cannot hold the checkpoint directory (missing, empty, relative, with `..`,
/// or emptied at boot); the caller then uses [`DEFAULT_AGENT_WORK_DIR`].
pub fn agent_work_dir(flag: Option<&str>) -> Result<String, String> {
    let Some(flag) = flag else {
        return Err(format!("{AGENT_WORK_DIR_FLAG} is missing"));
    };
    let value = flag.trim();
    if value.is_empty() {
        return Err(format!("{AGENT_WORK_DIR_FLAG} is empty"));
    }
    if value.contains('\n') || !value.starts_with('/') || value.split('/').any(|c| c == "..") {
        return Err(format!("{AGENT_WORK_DIR_FLAG} holds `{value}`, not one absolute path"));
    }
    if let Some(dir) = volatile_dir(value) {
        return Err(format!("{AGENT_WORK_DIR_FLAG} names {value}, under {dir}, emptied at boot"));
    }
    let trimmed = value.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() })
}

/// The persistent `--docker_volume_checkpoint_dir` the executor sets: `isolators/docker/volume`
/// under the agent's work dir, the layout of Mesos' own default under `/var/run/mesos`.
pub fn docker_volume_checkpoint_dir(work_dir: &str) -> String {
    format!("{}/isolators/docker/volume", work_dir.trim_end_matches('/'))
}

/// What to do with [`AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG`] for the native isolator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointDirFlag {
    /// The file is missing or empty: write this content (our directory).
    Write(String),
    /// The file already names our directory.
    Ours,
    /// The file names another directory, the operator's choice: kept. `volatile` is the
    /// boot-emptied directory it lies in, if any.
    Operator {
        /// The directory the file names.
        value: String,
        /// [`volatile_dir`] of it.
        volatile: Option<&'static str>,
    },
}

/// Decides [`AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG`] given its content (if the file exists)
/// and our directory `ours`. Only a missing or empty file is written: a value the operator set
/// is theirs, even one on tmpfs (the caller says why that loses mounts at a reboot).
pub fn agent_docker_volume_checkpoint_dir_flag(
    current: Option<&str>,
    ours: &str,
) -> CheckpointDirFlag {
    match current.map(str::trim).filter(|c| !c.is_empty()) {
        None => CheckpointDirFlag::Write(format!("{ours}\n")),
        Some(c) if c.trim_end_matches('/') == ours.trim_end_matches('/') => CheckpointDirFlag::Ours,
        Some(c) => CheckpointDirFlag::Operator { value: c.to_owned(), volatile: volatile_dir(c) },
    }
}

/// The agent `modules` flag file is already used for other modules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{AGENT_MODULES_FLAG} already names `{found}`; the agent takes one --modules value\nhint: merge the dvdi library from {DVDI_MODULES_JSON} into that file's JSON, then point {AGENT_MODULES_FLAG} at it"
)]
pub struct ModulesFlagTaken {
    /// What the file says.
    pub found: String,
}

/// The new `/etc/mesos-slave/modules` content: `file://<json>`. Refuses to clobber a flag that
/// points elsewhere (the original truncated it).
pub fn agent_modules_flag(
    current: Option<&str>,
    json_path: &str,
) -> Result<String, ModulesFlagTaken> {
    let ours = format!("file://{json_path}");
    match current.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(format!("{ours}\n")),
        Some(c) if c == ours || c == json_path => Ok(format!("{ours}\n")),
        Some(c) => Err(ModulesFlagTaken { found: c.to_owned() }),
    }
}

/// Rewrites `gatewayUser.properties`: `mdm.ip.addresses` and `security.bypass_certificate_check`
/// get exactly the given values (replaced in place, appended if missing); every other line is
/// kept. Running it again gives the same text (the original's sed prepended IPs each time).
pub fn gateway_user_properties(
    current: &str,
    mdm_ips: &[String],
    bypass_certificate_check: bool,
) -> String {
    let wanted = [
        ("mdm.ip.addresses", mdm_ips.join(",")),
        ("security.bypass_certificate_check", bypass_certificate_check.to_string()),
    ];
    let mut seen = [false; 2];
    let mut out = String::with_capacity(current.len() + 64);
    for line in current.lines() {
        let key = line.split_once('=').map(|(k, _)| k.trim());
        match key.and_then(|k| wanted.iter().position(|(w, _)| *w == k)) {
            Some(i) if !line.trim_start().starts_with('#') => {
                if !seen[i] {
                    out.push_str(&format!("{}={}\n", wanted[i].0, wanted[i].1));
                    seen[i] = true;
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (k, v)) in wanted.iter().enumerate() {
        if !seen[i] {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    out
}
