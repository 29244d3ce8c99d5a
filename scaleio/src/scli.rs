//! `scli` (and `drv_cfg`) for ScaleIO 2.0: argv builders, the outcome of a run read from its exit
//! code and output, and parsers for the idempotency probes (`--query_cluster`, `--query_all_sds`,
//! `--query_all`, `drv_cfg --query_mdms|--query_guid`).
//!
//! Passwords: ScaleIO 2.0 `scli --login` and `--set_password` take the password as an argument
//! (there is no stdin/file option that is not interactive). A [`ScliCommand`] therefore holds
//! secret arguments as [`Secret`]s: [`ScliCommand::redacted`] and `Display`/`Debug` print `***`
//! in their place and are what transcripts, logs and `StepFailure.command` use; only
//! [`ScliCommand::argv`] exposes them, for the one process constructor. The password is still
//! visible to root in `/proc/<pid>/cmdline` for the few milliseconds `scli` runs — a ScaleIO limit.
//!
//! Idempotency rests on probes (`--query_cluster` before creating or adding MDMs, `--query_all`
//! before adding domains and pools, `--query_all_sds` before SDSs). Output markers are secondary
//! evidence: a command whose exit code is 0 but whose output lacks the success marker is reported
//! as [`ScliError::Unexpected`], and an "already exists" answer is [`ScliDone::AlreadyDone`].

use std::fmt;

use crate::names::{DevicePath, ObjectName};
use crate::secret::Secret;
use crate::step::{ClusterFacts, MdmFacts};
use crate::topology::MdmRole;

/// The `scli` binary name (resolved through `PATH`).
pub const SCLI: &str = "scli";
/// The SDC configuration tool.
pub const DRV_CFG: &str = "/opt/emc/scaleio/sdc/bin/drv_cfg";
/// The SDC's persistent configuration file.
pub const DRV_CFG_FILE: &str = "/bin/emc/scaleio/drv_cfg.txt";
/// Where LIA reads the installation id from.
pub const LIA_INSTALLATION_ID_FILE: &str = "/opt/emc/scaleio/lia/cfg/installation_id.txt";
/// The initial admin password of a new cluster.
pub const INITIAL_ADMIN_PASSWORD: &str = "admin";

/// One argument: plain, or a secret printed as `***`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Plain text.
    Plain(String),
    /// A secret.
    Secret(Secret),
}

/// What a command is, so its output can be judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `--create_mdm_cluster`.
    CreateMdmCluster,
    /// `--login`.
    Login,
    /// `--set_password`.
    SetPassword,
    /// `--add_standby_mdm`.
    AddStandbyMdm,
    /// `--switch_cluster_mode`.
    SwitchClusterMode,
    /// `--rename_system`.
    RenameSystem,
    /// `--add_protection_domain`.
    AddProtectionDomain,
    /// `--add_storage_pool`.
    AddStoragePool,
    /// `--add_sds`.
    AddSds,
    /// `--add_sds_device`.
    AddSdsDevice,
    /// `--query_cluster`.
    QueryCluster,
    /// `--query_all_sds`.
    QueryAllSds,
    /// `--query_sds`.
    QuerySds,
    /// `--query_all`.
    QueryAll,
    /// `drv_cfg --add_mdm`.
    DrvCfgAddMdm,
    /// `drv_cfg --query_mdms`.
    DrvCfgQueryMdms,
    /// `drv_cfg --query_guid`.
    DrvCfgQueryGuid,
}

impl Op {
    /// Text the output must contain on success (empty: exit code alone decides).
    pub fn success_marker(self) -> &'static str {
        match self {
            Op::CreateMdmCluster => "Successfully created the MDM Cluster",
            Op::Login => "Logged in",
            Op::SetPassword => "Password changed successfully",
            Op::AddStandbyMdm => "Successfully added a standby MDM",
            Op::SwitchClusterMode => "Successfully switched the cluster mode",
            Op::RenameSystem => "Successfully renamed system to",
            Op::AddProtectionDomain => "Successfully created protection domain",
            Op::AddStoragePool => "Successfully created storage pool",
            Op::AddSds => "Successfully created SDS",
            Op::AddSdsDevice => "Successfully added device",
            Op::QueryCluster | Op::QueryAllSds | Op::QuerySds | Op::QueryAll => "",
            Op::DrvCfgAddMdm | Op::DrvCfgQueryMdms | Op::DrvCfgQueryGuid => "",
        }
    }

    /// Failure texts that mean the wanted state already holds.
    pub fn already_done_markers(self) -> &'static [&'static str] {
        match self {
            Op::CreateMdmCluster => {
                &["MDM cluster is already configured", "already part of a cluster"]
            }
            // Only the same IP is "already done"; the same name on another IP is a real conflict.
            Op::AddStandbyMdm => &["already a member of the MDM cluster"],
            Op::SwitchClusterMode => &["Cluster is already in the requested mode"],
            Op::AddProtectionDomain | Op::AddStoragePool => {
                &["An object with the given name already exists"]
            }
            // Same for SDSs: the IP is the identity, a name clash is a conflict.
            Op::AddSds => &["An SDS with the same IP already exists"],
            Op::AddSdsDevice => &["device is already in use by this SDS", "already added"],
            Op::DrvCfgAddMdm => &["MDM already configured"],
            _ => &[],
        }
    }
}

/// A `scli`/`drv_cfg` invocation.
#[derive(Clone, PartialEq, Eq)]
pub struct ScliCommand {
    /// What it is.
    pub op: Op,
    program: &'static str,
    args: Vec<Arg>,
}

impl ScliCommand {
    fn of(op: Op, program: &'static str) -> Self {
        Self { op, program, args: Vec::new() }
    }

    fn arg(mut self, a: &str) -> Self {
        self.args.push(Arg::Plain(a.to_owned()));
        self
    }

    fn opt(self, name: &str, value: &str) -> Self {
        self.arg(name).arg(value)
    }

    fn secret(mut self, name: &str, value: &Secret) -> Self {
        self.args.push(Arg::Plain(name.to_owned()));
        self.args.push(Arg::Secret(value.clone()));
        self
    }

    fn mdm(self, mdm_ip: Option<&str>) -> Self {
        match mdm_ip {
            Some(ip) => self.opt("--mdm_ip", ip),
            None => self,
        }
    }

    /// The program (`scli` or the `drv_cfg` path).
    pub fn program(&self) -> &str {
        self.program
    }

    /// The real argv including secrets: only for the process constructor. Never log this.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.to_owned())
            .chain(self.args.iter().map(|a| match a {
                Arg::Plain(s) => s.clone(),
                Arg::Secret(s) => s.expose().to_owned(),
            }))
            .collect()
    }

    /// The argv with secrets as `***`: what transcripts and logs show.
    pub fn redacted(&self) -> Vec<String> {
        std::iter::once(self.program.to_owned())
            .chain(self.args.iter().map(|a| match a {
                Arg::Plain(s) => s.clone(),
                Arg::Secret(_) => "***".to_owned(),
            }))
            .collect()
    }

    /// Judges a finished run.
    pub fn outcome(&self, exit_code: i32, output: &str) -> Result<ScliDone, ScliError> {
        judge(self.op, &self.redacted(), exit_code, output)
    }
}

impl fmt::Display for ScliCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted().join(" "))
    }
}

impl fmt::Debug for ScliCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScliCommand").field("op", &self.op).field("argv", &self.redacted()).finish()
    }
}

/// A run that reached the wanted state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScliDone {
    /// The command did it; the object id if the output named one.
    Done {
        /// `Object ID <hex>` from the output.
        object_id: Option<String>,
    },
    /// It was already so.
    AlreadyDone,
}

/// A run that did not reach the wanted state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScliError {
    #[error("`{command}` failed with exit code {exit_code}: {message}")]
    Failed { command: String, exit_code: i32, message: String },
    #[error("`{command}` is not logged in to the MDM: {message}\nhint: run `scli --login` first")]
    NotLoggedIn { command: String, message: String },
    #[error(
        "`{command}` exited 0 but its output lacks `{marker}`; not retrying a possibly non-idempotent command"
    )]
    Unexpected { command: String, marker: &'static str },
    #[error("cannot read the output of `{command}`: {problem}")]
    Unparsable { command: String, problem: String },
}

fn error_message(output: &str) -> String {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Error"))
        .or_else(|| output.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("(no output)")
        .to_owned()
}

fn object_id(output: &str) -> Option<String> {
    let rest = &output[output.find("Object ID ")? + "Object ID ".len()..];
    let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (!id.is_empty()).then_some(id)
}

fn judge(op: Op, argv: &[String], exit_code: i32, output: &str) -> Result<ScliDone, ScliError> {
    let command = argv.join(" ");
    if exit_code != 0 {
        if op.already_done_markers().iter().any(|m| output.contains(m)) {
            return Ok(ScliDone::AlreadyDone);
        }
        let message = error_message(output);
        if output.contains("Invalid session") || output.contains("Please login") {
            return Err(ScliError::NotLoggedIn { command, message });
        }
        return Err(ScliError::Failed { command, exit_code, message });
    }
    let marker = op.success_marker();
    if !marker.is_empty() && !output.contains(marker) {
        return Err(ScliError::Unexpected { command, marker });
    }
    Ok(ScliDone::Done { object_id: object_id(output) })
}

// ------------------------------------------------------------------------------------------------
// Builders

/// `scli --create_mdm_cluster --master_mdm_ip <ip> --master_mdm_management_ip <ip> --master_mdm_name <n> --accept_license --approve_certificate`
pub fn create_mdm_cluster(ip: &str, management_ip: &str, name: &ObjectName) -> ScliCommand {
    ScliCommand::of(Op::CreateMdmCluster, SCLI)
        .arg("--create_mdm_cluster")
        .opt("--master_mdm_ip", ip)
        .opt("--master_mdm_management_ip", management_ip)
        .opt("--master_mdm_name", name.as_str())
        .arg("--accept_license")
        .arg("--approve_certificate")
}

/// `scli [--mdm_ip <ip>] --login --username <u> --password ***`
pub fn login(mdm_ip: Option<&str>, username: &str, password: &Secret) -> ScliCommand {
    ScliCommand::of(Op::Login, SCLI)
        .mdm(mdm_ip)
        .arg("--login")
        .opt("--username", username)
        .secret("--password", password)
}

/// `scli [--mdm_ip <ip>] --set_password --old_password *** --new_password ***`
pub fn set_password(mdm_ip: Option<&str>, old: &Secret, new: &Secret) -> ScliCommand {
    ScliCommand::of(Op::SetPassword, SCLI)
        .mdm(mdm_ip)
        .arg("--set_password")
        .secret("--old_password", old)
        .secret("--new_password", new)
}

/// `scli --add_standby_mdm --new_mdm_ip <ip> --mdm_role manager|tb [--new_mdm_management_ip <ip>] --new_mdm_name <n>`
pub fn add_standby_mdm(
    mdm_ip: Option<&str>,
    ip: &str,
    role: MdmRole,
    management_ip: Option<&str>,
    name: &ObjectName,
) -> ScliCommand {
    let mut c = ScliCommand::of(Op::AddStandbyMdm, SCLI)
        .mdm(mdm_ip)
        .arg("--add_standby_mdm")
        .opt("--new_mdm_ip", ip)
        .opt("--mdm_role", role.scli_role());
    if let Some(m) = management_ip {
        c = c.opt("--new_mdm_management_ip", m);
    }
    c.opt("--new_mdm_name", name.as_str())
}

fn names(list: &[ObjectName]) -> String {
    list.iter().map(ObjectName::as_str).collect::<Vec<_>>().join(",")
}

/// `scli --switch_cluster_mode --cluster_mode 3_node --add_slave_mdm_name <n> --add_tb_name <n>`
pub fn switch_to_3_node(
    mdm_ip: Option<&str>,
    slaves: &[ObjectName],
    tbs: &[ObjectName],
) -> ScliCommand {
    ScliCommand::of(Op::SwitchClusterMode, SCLI)
        .mdm(mdm_ip)
        .arg("--switch_cluster_mode")
        .opt("--cluster_mode", "3_node")
        .opt("--add_slave_mdm_name", &names(slaves))
        .opt("--add_tb_name", &names(tbs))
}

/// `scli --rename_system --new_name <n>`
pub fn rename_system(mdm_ip: Option<&str>, name: &ObjectName) -> ScliCommand {
    ScliCommand::of(Op::RenameSystem, SCLI)
        .mdm(mdm_ip)
        .arg("--rename_system")
        .opt("--new_name", name.as_str())
}

/// `scli --add_protection_domain --protection_domain_name <pd>`
pub fn add_protection_domain(mdm_ip: Option<&str>, pd: &ObjectName) -> ScliCommand {
    ScliCommand::of(Op::AddProtectionDomain, SCLI)
        .mdm(mdm_ip)
        .arg("--add_protection_domain")
        .opt("--protection_domain_name", pd.as_str())
}

/// `scli --add_storage_pool --protection_domain_name <pd> --storage_pool_name <sp>`
pub fn add_storage_pool(mdm_ip: Option<&str>, pd: &ObjectName, sp: &ObjectName) -> ScliCommand {
    ScliCommand::of(Op::AddStoragePool, SCLI)
        .mdm(mdm_ip)
        .arg("--add_storage_pool")
        .opt("--protection_domain_name", pd.as_str())
        .opt("--storage_pool_name", sp.as_str())
}

/// `scli --add_sds --sds_ip <ip> --protection_domain_name <pd> --sds_name <n> [--device_path a,b --storage_pool_name sp,sp]`
/// (`--storage_pool_name` lists one pool per device, in the same order).
pub fn add_sds(
    mdm_ip: Option<&str>,
    ip: &str,
    pd: &ObjectName,
    name: &ObjectName,
    devices: &[(DevicePath, ObjectName)],
) -> ScliCommand {
    let mut c = ScliCommand::of(Op::AddSds, SCLI)
        .mdm(mdm_ip)
        .arg("--add_sds")
        .opt("--sds_ip", ip)
        .opt("--protection_domain_name", pd.as_str())
        .opt("--sds_name", name.as_str());
    if !devices.is_empty() {
        let paths = devices.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(",");
        let pools = devices.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>().join(",");
        c = c.opt("--device_path", &paths).opt("--storage_pool_name", &pools);
    }
    c
}

/// `scli --add_sds_device --sds_ip <ip> --protection_domain_name <pd> --storage_pool_name <sp> --device_path <dev>`
pub fn add_sds_device(
    mdm_ip: Option<&str>,
    sds_ip: &str,
    pd: &ObjectName,
    sp: &ObjectName,
    device: &DevicePath,
) -> ScliCommand {
    ScliCommand::of(Op::AddSdsDevice, SCLI)
        .mdm(mdm_ip)
        .arg("--add_sds_device")
        .opt("--sds_ip", sds_ip)
        .opt("--protection_domain_name", pd.as_str())
        .opt("--storage_pool_name", sp.as_str())
        .opt("--device_path", device.as_str())
}

/// The first logins of a new cluster, in order: log in with the initial password `admin`, set
/// the admin password, log in again with it (`--set_password` ends the session). Run after
/// `--create_mdm_cluster`; when `--query_cluster` shows the cluster already existed, skip to a
/// plain [`login`] with the admin password instead (a failed login with it while the initial one
/// works means the sequence was interrupted after creation).
pub fn first_login_sequence(mdm_ip: Option<&str>, admin_password: &Secret) -> [ScliCommand; 3] {
    let initial = Secret::new(INITIAL_ADMIN_PASSWORD);
    [
        login(mdm_ip, "admin", &initial),
        set_password(mdm_ip, &initial, admin_password),
        login(mdm_ip, "admin", admin_password),
    ]
}

/// `scli --query_cluster` (works without login on the MDM host).
pub fn query_cluster(mdm_ip: Option<&str>) -> ScliCommand {
    ScliCommand::of(Op::QueryCluster, SCLI).mdm(mdm_ip).arg("--query_cluster")
}

/// `scli --query_all_sds`
pub fn query_all_sds(mdm_ip: Option<&str>) -> ScliCommand {
    ScliCommand::of(Op::QueryAllSds, SCLI).mdm(mdm_ip).arg("--query_all_sds")
}

/// `scli [--mdm_ip <ip>] --query_sds --sds_ip <ip>`: one SDS with its devices.
pub fn query_sds(mdm_ip: Option<&str>, sds_ip: &str) -> ScliCommand {
    ScliCommand::of(Op::QuerySds, SCLI).mdm(mdm_ip).arg("--query_sds").opt("--sds_ip", sds_ip)
}

/// `scli --query_all`
pub fn query_all(mdm_ip: Option<&str>) -> ScliCommand {
    ScliCommand::of(Op::QueryAll, SCLI).mdm(mdm_ip).arg("--query_all")
}

/// `drv_cfg --add_mdm --ip <a>,<b> --file /bin/emc/scaleio/drv_cfg.txt`
pub fn drv_cfg_add_mdm(mdm_ips: &[String]) -> ScliCommand {
    ScliCommand::of(Op::DrvCfgAddMdm, DRV_CFG)
        .arg("--add_mdm")
        .opt("--ip", &mdm_ips.join(","))
        .opt("--file", DRV_CFG_FILE)
}

/// `drv_cfg --query_mdms`
pub fn drv_cfg_query_mdms() -> ScliCommand {
    ScliCommand::of(Op::DrvCfgQueryMdms, DRV_CFG).arg("--query_mdms")
}

/// `drv_cfg --query_guid`
pub fn drv_cfg_query_guid() -> ScliCommand {
    ScliCommand::of(Op::DrvCfgQueryGuid, DRV_CFG).arg("--query_guid")
}

// ------------------------------------------------------------------------------------------------
// Probe parsers

/// Parses `scli --query_cluster`. `Ok(None)` when the output says no cluster exists
/// ("not part of a cluster" / "MDM cluster is not configured").
pub fn parse_query_cluster(output: &str) -> Result<Option<ClusterFacts>, ScliError> {
    let unparsable = |problem: &str| ScliError::Unparsable {
        command: "scli --query_cluster".into(),
        problem: problem.into(),
    };
    if output.contains("not part of a cluster") || output.contains("cluster is not configured") {
        return Ok(None);
    }
    let mut facts = ClusterFacts::default();
    #[derive(PartialEq)]
    enum Section {
        None,
        Cluster,
        Master,
        Slaves,
        Tbs,
        Standbys,
    }
    let mut section = Section::None;
    let mut saw_cluster = false;
    for raw in output.lines() {
        let line = raw.trim();
        match line {
            "Cluster:" => {
                section = Section::Cluster;
                saw_cluster = true;
                continue;
            }
            "Master MDM:" => {
                section = Section::Master;
                continue;
            }
            "Slave MDMs:" => {
                section = Section::Slaves;
                continue;
            }
            "Tie-Breakers:" => {
                section = Section::Tbs;
                continue;
            }
            "Standby MDMs:" => {
                section = Section::Standbys;
                continue;
            }
            _ => {}
        }
        let fields = split_fields(line);
        match section {
            Section::Cluster => {
                for (k, v) in &fields {
                    match *k {
                        "Mode" => facts.mode = (*v).to_owned(),
                        "State" => facts.state = (*v).to_owned(),
                        "Name" => facts.name = Some((*v).to_owned()),
                        _ => {}
                    }
                }
            }
            Section::Master | Section::Slaves | Section::Tbs | Section::Standbys => {
                let list = match section {
                    Section::Slaves => Some(&mut facts.slaves),
                    Section::Tbs => Some(&mut facts.tiebreakers),
                    Section::Standbys => Some(&mut facts.standbys),
                    _ => None,
                };
                if let Some(name) =
                    fields.iter().find(|(k, _)| *k == "Name").map(|(_, v)| (*v).to_owned())
                {
                    let mdm = MdmFacts { name, ips: Vec::new() };
                    match list {
                        Some(l) => l.push(mdm),
                        None => facts.master = Some(mdm),
                    }
                } else if let Some(ips) = line.strip_prefix("IPs:") {
                    let ips: Vec<String> = ips
                        .split(", Management IPs:")
                        .next()
                        .unwrap_or("")
                        .split(", Port:")
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect();
                    let last = match list {
                        Some(l) => l.last_mut(),
                        None => facts.master.as_mut(),
                    };
                    if let Some(m) = last {
                        m.ips = ips;
                    }
                }
            }
            Section::None => {}
        }
    }
    if !saw_cluster || facts.mode.is_empty() {
        return Err(unparsable("no `Cluster:` section with a `Mode:`"));
    }
    Ok(Some(facts))
}

fn split_fields(line: &str) -> Vec<(&str, &str)> {
    line.split(", ")
        .filter_map(|part| part.split_once(": ").map(|(k, v)| (k.trim(), v.trim())))
        .collect()
}

/// One SDS from `scli --query_all_sds`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdsSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// IP.
    pub ip: String,
    /// Protection domain id.
    pub protection_domain_id: String,
}

/// Parses `scli --query_all_sds`: `SDS ID: <id> Name: <n> State: ... IP: <ip> ... Protection Domain: <pdid>` lines.
pub fn parse_query_all_sds(output: &str) -> Result<Vec<SdsSummary>, ScliError> {
    let mut out = Vec::new();
    let mut count: Option<usize> = None;
    for line in output.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Query-all-SDS returned ") {
            count = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            continue;
        }
        if let Some(rest) = line.strip_prefix("SDS ID: ") {
            let tok: Vec<&str> = rest.split_whitespace().collect();
            let after = |key: &str| {
                tok.iter()
                    .position(|t| *t == key)
                    .and_then(|i| tok.get(i + 1))
                    .map(|s| (*s).to_owned())
            };
            out.push(SdsSummary {
                id: tok.first().map(|s| (*s).to_owned()).unwrap_or_default(),
                name: after("Name:").unwrap_or_default(),
                ip: after("IP:").unwrap_or_default(),
                protection_domain_id: after("Domain:").unwrap_or_default(),
            });
        }
    }
    match count {
        Some(n) if n == out.len() => Ok(out),
        Some(n) => Err(ScliError::Unparsable {
            command: "scli --query_all_sds".into(),
            problem: format!("header says {n} SDS nodes, found {} lines", out.len()),
        }),
        None => Err(ScliError::Unparsable {
            command: "scli --query_all_sds".into(),
            problem: "no `Query-all-SDS returned N SDS nodes` line".into(),
        }),
    }
}

/// One device from `scli --query_sds`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdsDevice {
    /// `Path:` (the path the device was added with).
    pub path: String,
    /// `ID:`.
    pub id: String,
    /// `Storage Pool:` name, when printed.
    pub storage_pool: Option<String>,
}

/// Parses the device section of `scli --query_sds`. ScaleIO 2.0 prints (layout of a real
/// 2.0.12000 output; values here made up):
///
/// ```text
/// SDS 6f1c2a9b00000001 Name: sds_10.0.0.4 Version: 2.0.10000
/// Protection Domain: 2d0e51c700000000, Name: pd1
/// ...                                      (DRL mode, IPs, port, RAM read cache)
/// Device information (total 2 devices):
///      1: Name: N/A  Path: /dev/xvdf  Original-path: /dev/xvdf  ID: 9a3e7c5d00000000
///         Storage Pool: sp1, Capacity: 99 GB Error-fixes: 0 scanned 0 MB, Compare errors: 0 State: Normal
///      2: ...
///
/// No devices use Rfcache                   (or `Rfcache device information (total N devices):`)
/// Membership-state: Joined; ...            (capacity summary and I/O counters follow)
/// ```
///
/// The section starts at the `Device information (total N device[s]):` line and ends at the
/// next line that is not indented (so the numbered lines of a later `Rfcache device
/// information` section are not taken for devices). A device is a numbered line with `Path:`
/// (`ID:` may be missing), and its pool is the name after `Storage Pool:` up to the comma on
/// a following indented line. Other fields and lines are ignored. The count in the header
/// must match the devices found.
pub fn parse_query_sds_devices(output: &str) -> Result<Vec<SdsDevice>, ScliError> {
    let unparsable =
        |problem: String| ScliError::Unparsable { command: "scli --query_sds".into(), problem };
    let mut count: Option<usize> = None;
    let mut in_section = false;
    let mut out: Vec<SdsDevice> = Vec::new();
    for raw in output.lines() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix("Device information (total ") {
            if count.is_some() {
                return Err(unparsable("two `Device information` sections".into()));
            }
            let n = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            count = Some(n.ok_or_else(|| unparsable(format!("no device count in `{line}`")))?);
            in_section = true;
            continue;
        }
        if !in_section || line.is_empty() {
            continue;
        }
        if !raw.starts_with([' ', '\t']) {
            in_section = false;
            continue;
        }
        let tok: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            tok.iter().position(|t| *t == key).and_then(|i| tok.get(i + 1)).map(|s| (*s).to_owned())
        };
        if tok.first().is_some_and(|t| t.ends_with(':') && t[..t.len() - 1].parse::<u32>().is_ok())
        {
            let path =
                after("Path:").ok_or_else(|| unparsable(format!("no `Path:` in `{line}`")))?;
            out.push(SdsDevice { path, id: after("ID:").unwrap_or_default(), storage_pool: None });
        } else if let Some(rest) = line.strip_prefix("Storage Pool:") {
            if let Some(d) = out.last_mut() {
                d.storage_pool = rest.split(',').next().map(|n| n.trim().to_owned());
            }
        }
    }
    match count {
        Some(n) if n == out.len() => Ok(out),
        Some(n) => Err(unparsable(format!("header says {n} devices, found {}", out.len()))),
        None => Err(unparsable("no `Device information (total N devices):` line".into())),
    }
}

/// What `scli --query_all` tells about the system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemSummary {
    /// `Installation ID:`.
    pub installation_id: Option<String>,
    /// System name, if named.
    pub name: Option<String>,
    /// `(protection domain, [pools])` in output order.
    pub protection_domains: Vec<(String, Vec<String>)>,
}

/// Parses `scli --query_all` (installation id, PD and pool names).
pub fn parse_query_all(output: &str) -> SystemSummary {
    let mut s = SystemSummary::default();
    for line in output.lines().map(str::trim) {
        if let Some(id) = line.strip_prefix("Installation ID:") {
            s.installation_id = Some(id.trim().to_owned()).filter(|v| !v.is_empty());
        } else if let Some(n) = line.strip_prefix("Name:") {
            if s.name.is_none() && s.protection_domains.is_empty() {
                s.name = Some(n.trim().to_owned()).filter(|v| !v.is_empty() && v != "N/A");
            }
        } else if let Some(rest) = line.strip_prefix("Protection Domain ") {
            if let Some(name) = paren_name(rest) {
                s.protection_domains.push((name, Vec::new()));
            }
        } else if let Some(rest) = line.strip_prefix("Storage Pool ") {
            if let (Some(name), Some(pd)) = (paren_name(rest), s.protection_domains.last_mut()) {
                pd.1.push(name);
            }
        }
    }
    s
}

fn paren_name(rest: &str) -> Option<String> {
    let start = rest.find("(Name: ")? + "(Name: ".len();
    let end = rest[start..].find(')')? + start;
    Some(rest[start..end].to_owned())
}

/// Parses `drv_cfg --query_mdms`: `MDM-ID <id> SDC ID <id> INSTALLATION ID <id> IPs [0]-<ip> [1]-<ip>` lines.
pub fn parse_drv_cfg_query_mdms(output: &str) -> Vec<String> {
    let mut ips = Vec::new();
    for line in output.lines() {
        for tok in line.split_whitespace() {
            if let Some((idx, ip)) = tok.split_once("]-") {
                if idx.starts_with('[') && !ip.is_empty() {
                    ips.push(ip.to_owned());
                }
            }
        }
    }
    ips
}

/// Parses `drv_cfg --query_guid` (one GUID line), upper-cased as REX-Ray compares it.
pub fn parse_drv_cfg_query_guid(output: &str) -> Option<String> {
    let line = output.lines().map(str::trim).find(|l| !l.is_empty())?;
    let ok = line.len() == 36 && line.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then(|| line.to_ascii_uppercase())
}
