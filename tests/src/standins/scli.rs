//! The `scli` stand-in: ScaleIO 2.0's CLI over the shared cluster model, run on a simulated host.
//!
//! Enforced like the real MDM: the license must be accepted; every command but
//! `--create_mdm_cluster`, `--login` and `--query_cluster` needs a login, and after the first
//! login with the initial password only `--set_password` is allowed; `--set_password` ends the
//! session; standby MDMs must have the MDM package (with the matching role) installed on their
//! host; names are unique; SDS hosts need the SDS package; device paths must exist under the SDS
//! host's root and be at least 90 GB. Messages follow ScaleIO 2.0; exit code 0 on success, 7 when
//! the MDM refuses, 1 for usage errors (exit codes of the real scli are not documented; chosen
//! here and used consistently by `scaleio::scli`'s tests).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::{Mdm, Model, Refusal, System, check_new_sds, mdm_failed};
use super::{HOST_ROOT_ENV, STATE_ENV};

/// Exit code when the MDM refuses.
pub const EXIT_REFUSED: i32 = 7;
/// Exit code for usage errors.
pub const EXIT_USAGE: i32 = 1;

/// What the stand-in printed and its exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScliOutput {
    /// Combined output.
    pub output: String,
    /// Exit code.
    pub exit_code: i32,
}

fn ok(text: String) -> ScliOutput {
    ScliOutput { output: text, exit_code: 0 }
}

fn refused(r: Refusal) -> ScliOutput {
    ScliOutput { output: format!("{}\n", r.0), exit_code: EXIT_REFUSED }
}

fn usage(text: &str) -> ScliOutput {
    ScliOutput { output: format!("Error: {text}\n"), exit_code: EXIT_USAGE }
}

const COMMANDS: &[&str] = &[
    "create_mdm_cluster",
    "login",
    "logout",
    "set_password",
    "add_standby_mdm",
    "switch_cluster_mode",
    "rename_system",
    "add_protection_domain",
    "add_storage_pool",
    "add_sds",
    "add_sds_device",
    "query_cluster",
    "query_all_sds",
    "query_sds",
    "query_all",
];
const FLAGS: &[&str] = &["accept_license", "approve_certificate"];
const OPTIONS: &[&str] = &[
    "mdm_ip",
    "master_mdm_ip",
    "master_mdm_management_ip",
    "master_mdm_name",
    "username",
    "password",
    "old_password",
    "new_password",
    "new_mdm_ip",
    "new_mdm_management_ip",
    "new_mdm_name",
    "mdm_role",
    "cluster_mode",
    "add_slave_mdm_name",
    "add_tb_name",
    "new_name",
    "protection_domain_name",
    "storage_pool_name",
    "sds_id",
    "sds_ip",
    "sds_name",
    "device_path",
];

/// Runs with `SCALEIO_STANDIN_STATE` and `SCALEIO_HOST_ROOT` from the environment.
pub fn run_from_env(args: &[String]) -> ScliOutput {
    let (Some(state), Some(root)) = (std::env::var_os(STATE_ENV), std::env::var_os(HOST_ROOT_ENV))
    else {
        return usage(&format!(
            "scli stand-in needs {STATE_ENV} and {HOST_ROOT_ENV} in its environment"
        ));
    };
    run(args, Path::new(&state), Path::new(&root))
}

/// Runs one `scli` invocation on the host whose root is `root`.
pub fn run(args: &[String], state: &Path, root: &Path) -> ScliOutput {
    let mut command: Option<&str> = None;
    let mut opts: BTreeMap<&str, &str> = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let Some(key) = args[i].strip_prefix("--") else {
            return usage(&format!("unexpected argument '{}'", args[i]));
        };
        if COMMANDS.contains(&key) {
            if command.replace(key).is_some() {
                return usage("more than one command given");
            }
        } else if FLAGS.contains(&key) {
            opts.insert(key, "");
        } else if OPTIONS.contains(&key) {
            match args.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    opts.insert(key, v.as_str());
                    i += 1;
                }
                _ => return usage(&format!("option --{key} requires a value")),
            }
        } else {
            return usage(&format!("unknown option --{key}"));
        }
        i += 1;
    }
    let Some(command) = command else { return usage("no command given. Run scli --help") };
    let root: PathBuf = root.to_owned();
    let result = Model::update(state, |m| dispatch(m, command, &opts, &root));
    match result {
        Ok(out) => out,
        Err(e) => {
            ScliOutput { output: format!("Error: stand-in model: {e}\n"), exit_code: EXIT_USAGE }
        }
    }
}

fn need<'a>(opts: &BTreeMap<&str, &'a str>, key: &str) -> Result<&'a str, ScliOutput> {
    opts.get(key).copied().ok_or_else(|| usage(&format!("missing required option --{key}")))
}

fn session_key(root: &Path) -> String {
    root.display().to_string()
}

/// The MDM this invocation talks to must be reachable: `--mdm_ip` names a cluster MDM, or the
/// local host has the MDM package.
fn reach_mdm(m: &Model, opts: &BTreeMap<&str, &str>, root: &Path) -> Result<(), Refusal> {
    match opts.get("mdm_ip") {
        Some(ip) => {
            let member = m.system.as_ref().is_some_and(|s| s.all_mdms().any(|x| x.ip == *ip));
            let installed = m.root_of(ip).is_some_and(|r| Model::installed_mdm_role(r).is_some());
            if member || installed {
                Ok(())
            } else {
                Err(Refusal(format!("Error: Failed to connect to MDM {ip}:6611")))
            }
        }
        None if Model::installed_mdm_role(root).is_some() => Ok(()),
        None => Err(Refusal("Error: Failed to connect to MDM 127.0.0.1:6611".to_owned())),
    }
}

fn logged_in<'m>(
    m: &'m mut Model,
    root: &Path,
    allow_initial: bool,
) -> Result<&'m mut System, Refusal> {
    if !m.sessions.contains_key(&session_key(root)) {
        return Err(mdm_failed("Invalid session. Please login and try again."));
    }
    let sys = m.system.as_mut().ok_or_else(|| mdm_failed("This MDM is not part of a cluster"))?;
    if !sys.password_changed && !allow_initial {
        return Err(mdm_failed(
            "The password must be changed before running this command. Use --set_password",
        ));
    }
    Ok(sys)
}

fn dispatch(m: &mut Model, command: &str, opts: &BTreeMap<&str, &str>, root: &Path) -> ScliOutput {
    if let Err(r) = reach_mdm(m, opts, root) {
        return refused(r);
    }
    match command_body(m, command, opts, root) {
        Ok(out) => out,
        Err(out) => out,
    }
}

fn command_body(
    m: &mut Model,
    command: &str,
    opts: &BTreeMap<&str, &str>,
    root: &Path,
) -> Result<ScliOutput, ScliOutput> {
    let r = |x: Refusal| refused(x);
    match command {
        "create_mdm_cluster" => {
            let ip = need(opts, "master_mdm_ip")?;
            let mgmt = need(opts, "master_mdm_management_ip")?;
            let name = opts.get("master_mdm_name").copied().unwrap_or("mdm1");
            if !opts.contains_key("accept_license") {
                return Err(usage("the license must be accepted: add --accept_license"));
            }
            if m.system.is_some() {
                return Err(r(mdm_failed("The MDM cluster is already configured")));
            }
            if m.ip_of_root(root).as_deref() != Some(ip) {
                return Err(r(mdm_failed(&format!(
                    "The master MDM IP {ip} does not belong to this host"
                ))));
            }
            if Model::installed_mdm_role(root).as_deref() != Some("manager") {
                return Err(r(mdm_failed("The local MDM is not installed with the manager role")));
            }
            let mdm_id = m.new_id();
            let sys_id = m.new_id();
            let install_id = m.new_id();
            m.system = Some(System {
                id: sys_id,
                install_id,
                name: None,
                mode: "1_node".into(),
                password: super::model::INITIAL_PASSWORD.into(),
                password_changed: false,
                master: Mdm {
                    id: mdm_id.clone(),
                    name: name.into(),
                    ip: ip.into(),
                    management_ip: Some(mgmt.into()),
                    role: "manager".into(),
                },
                slaves: vec![],
                tiebreakers: vec![],
                standbys: vec![],
                pds: vec![],
                pools: vec![],
                sds: vec![],
                devices: vec![],
                sdcs: vec![],
                volumes: vec![],
            });
            Ok(ok(format!("Successfully created the MDM Cluster. Master MDM ID: 0x{mdm_id}\n")))
        }
        "login" => {
            let user = need(opts, "username")?;
            let pw = need(opts, "password")?;
            let sys = m
                .system
                .as_ref()
                .ok_or_else(|| r(mdm_failed("This MDM is not part of a cluster")))?;
            if user != "admin" || pw != sys.password {
                return Err(ScliOutput {
                    output: "Error: Failed to login. Status: Invalid username or password\n".into(),
                    exit_code: super::scli::EXIT_REFUSED,
                });
            }
            let mut text = format!("Logged in. User role is SuperUser. System ID is {}\n", sys.id);
            if !sys.password_changed {
                text.push_str("You must change the password before running any other command\n");
            }
            m.sessions.insert(session_key(root), user.to_owned());
            Ok(ok(text))
        }
        "logout" => {
            m.sessions.remove(&session_key(root));
            Ok(ok("Logged out\n".into()))
        }
        "set_password" => {
            let old = need(opts, "old_password")?;
            let new = need(opts, "new_password")?;
            let sys = logged_in(m, root, true).map_err(r)?;
            if old != sys.password {
                return Err(r(mdm_failed("The old password is incorrect")));
            }
            if new == old || new.len() < 6 {
                return Err(r(mdm_failed("The new password does not meet the password policy")));
            }
            sys.password = new.to_owned();
            sys.password_changed = true;
            m.sessions.remove(&session_key(root));
            Ok(ok("Password changed successfully\n".into()))
        }
        "add_standby_mdm" => {
            let ip = need(opts, "new_mdm_ip")?.to_owned();
            let role = need(opts, "mdm_role")?;
            let name = need(opts, "new_mdm_name")?.to_owned();
            if role != "manager" && role != "tb" {
                return Err(usage("--mdm_role must be manager or tb"));
            }
            let installed = m.root_of(&ip).and_then(Model::installed_mdm_role);
            let id = m.new_id();
            let sys = logged_in(m, root, false).map_err(r)?;
            if sys.all_mdms().any(|x| x.ip == ip) {
                return Err(r(mdm_failed(&format!(
                    "The MDM with IP {ip} is already a member of the MDM cluster"
                ))));
            }
            if sys.all_mdms().any(|x| x.name == name) {
                return Err(r(mdm_failed("An MDM with the same name already exists")));
            }
            match installed {
                None => {
                    return Err(r(mdm_failed(&format!(
                        "Could not connect to the new MDM at {ip}. Verify that the MDM package is installed"
                    ))));
                }
                Some(inst) if inst != role => {
                    return Err(r(mdm_failed(&format!(
                        "The MDM at {ip} was installed with role {inst}, not {role}"
                    ))));
                }
                Some(_) => {}
            }
            sys.standbys.push(Mdm {
                id: id.clone(),
                name,
                ip,
                management_ip: opts.get("new_mdm_management_ip").map(|s| (*s).to_owned()),
                role: role.to_owned(),
            });
            Ok(ok(format!("Successfully added a standby MDM. Object ID {id}\n")))
        }
        "switch_cluster_mode" => {
            let mode = need(opts, "cluster_mode")?;
            if mode != "3_node" {
                return Err(usage("this stand-in supports --cluster_mode 3_node only"));
            }
            let slaves: Vec<&str> =
                opts.get("add_slave_mdm_name").map(|s| s.split(',').collect()).unwrap_or_default();
            let tbs: Vec<&str> =
                opts.get("add_tb_name").map(|s| s.split(',').collect()).unwrap_or_default();
            let sys = logged_in(m, root, false).map_err(r)?;
            if sys.mode == "3_node" {
                return Err(r(mdm_failed("Cluster is already in the requested mode")));
            }
            if slaves.len() != 1 || tbs.len() != 1 {
                return Err(r(mdm_failed(
                    "3_node mode needs exactly one slave MDM and one tie-breaker",
                )));
            }
            let find = |name: &str, role: &str| {
                sys.standbys.iter().position(|s| s.name == name && s.role == role)
            };
            let (Some(si), Some(ti)) = (find(slaves[0], "manager"), find(tbs[0], "tb")) else {
                return Err(r(mdm_failed(
                    "Could not find a standby MDM with the given name and role",
                )));
            };
            let slave = sys.standbys[si].clone();
            let tb = sys.standbys[ti].clone();
            sys.standbys.retain(|s| s.id != slave.id && s.id != tb.id);
            sys.slaves.push(slave);
            sys.tiebreakers.push(tb);
            sys.mode = "3_node".into();
            Ok(ok("Successfully switched the cluster mode.\n".into()))
        }
        "rename_system" => {
            let name = need(opts, "new_name")?;
            let sys = logged_in(m, root, false).map_err(r)?;
            sys.name = Some(name.to_owned());
            Ok(ok(format!("Successfully renamed system to {name}\n")))
        }
        "add_protection_domain" => {
            let name = need(opts, "protection_domain_name")?;
            let id = m.new_id();
            let sys = logged_in(m, root, false).map_err(r)?;
            let id = sys.add_pd(id, name).map_err(r)?;
            Ok(ok(format!("Successfully created protection domain {name}. Object ID {id}\n")))
        }
        "add_storage_pool" => {
            let pd = need(opts, "protection_domain_name")?;
            let name = need(opts, "storage_pool_name")?;
            let id = m.new_id();
            let sys = logged_in(m, root, false).map_err(r)?;
            let pd_id = sys.pd(pd).map_err(r)?.id.clone();
            let id = sys.add_pool(id, &pd_id, name).map_err(r)?;
            Ok(ok(format!("Successfully created storage pool {name}. Object ID {id}\n")))
        }
        "add_sds" => {
            let ip = need(opts, "sds_ip")?;
            let pd = need(opts, "protection_domain_name")?;
            let name = opts
                .get("sds_name")
                .map(|s| (*s).to_owned())
                .unwrap_or_else(|| format!("SDS_{ip}"));
            let devices: Vec<&str> =
                opts.get("device_path").map(|s| s.split(',').collect()).unwrap_or_default();
            let pools: Vec<&str> =
                opts.get("storage_pool_name").map(|s| s.split(',').collect()).unwrap_or_default();
            if !devices.is_empty() && pools.len() != devices.len() && pools.len() != 1 {
                return Err(usage(
                    "--storage_pool_name must list one pool, or one pool per --device_path entry",
                ));
            }
            logged_in(m, root, false).map_err(r)?;
            let pd_id = m
                .system
                .as_ref()
                .map(|s| s.pd(pd).map(|p| p.id.clone()))
                .transpose()
                .map_err(r)?
                .unwrap_or_default();
            check_new_sds(m, &pd_id, &name, ip).map_err(r)?;
            let mut planned = Vec::new();
            for (k, dev) in devices.iter().enumerate() {
                let size = m.device_size_kb(ip, dev).map_err(r)?;
                let pool_name = pools.get(k).or(pools.first()).copied().unwrap_or_default();
                let sys = m.system.as_ref().expect("logged in implies a system");
                let pool_id = sys.pool(&pd_id, pool_name).map_err(r)?.id.clone();
                planned.push((dev.to_string(), pool_id, size));
            }
            let sds_id = m.new_id();
            let dev_ids: Vec<String> = planned.iter().map(|_| m.new_id()).collect();
            let sys = m.system.as_mut().expect("logged in implies a system");
            sys.sds.push(super::model::Sds {
                id: sds_id.clone(),
                name: name.clone(),
                pd_id,
                ip: ip.to_owned(),
            });
            for ((dev, pool_id, size), id) in planned.into_iter().zip(dev_ids) {
                sys.add_device(id, &sds_id, &pool_id, &dev, size).map_err(r)?;
            }
            Ok(ok(format!("Successfully created SDS {name}. Object ID {sds_id}\n")))
        }
        "add_sds_device" => {
            let path = need(opts, "device_path")?;
            let pd = need(opts, "protection_domain_name")?;
            let pool = need(opts, "storage_pool_name")?;
            logged_in(m, root, false).map_err(r)?;
            let sys = m.system.as_ref().expect("logged in implies a system");
            let sds = match (opts.get("sds_ip"), opts.get("sds_name")) {
                (Some(ip), _) => sys.sds.iter().find(|s| s.ip == *ip),
                (None, Some(n)) => sys.sds.iter().find(|s| s.name == *n),
                (None, None) => return Err(usage("give --sds_ip or --sds_name")),
            }
            .cloned()
            .ok_or_else(|| r(mdm_failed("Could not find the SDS")))?;
            let pd_id = sys.pd(pd).map_err(r)?.id.clone();
            let pool_id = sys.pool(&pd_id, pool).map_err(r)?.id.clone();
            if sys.devices.iter().any(|d| d.sds_id == sds.id && d.path == path) {
                return Err(r(mdm_failed("The device is already in use by this SDS")));
            }
            let size = m.device_size_kb(&sds.ip, path).map_err(r)?;
            let id = m.new_id();
            let sys = m.system.as_mut().expect("logged in implies a system");
            sys.add_device(id.clone(), &sds.id, &pool_id, path, size).map_err(r)?;
            Ok(ok(format!(
                "Successfully added device {path} to SDS {}. Object ID {id}\n",
                sds.name
            )))
        }
        "query_cluster" => {
            let sys = m
                .system
                .as_ref()
                .ok_or_else(|| r(mdm_failed("This MDM is not part of a cluster")))?;
            Ok(ok(render_query_cluster(sys)))
        }
        "query_all_sds" => {
            let sys = logged_in(m, root, false).map_err(r)?;
            let mut text = format!("Query-all-SDS returned {} SDS nodes.\n", sys.sds.len());
            for pd in &sys.pds {
                let in_pd: Vec<_> = sys.sds.iter().filter(|s| s.pd_id == pd.id).collect();
                if in_pd.is_empty() {
                    continue;
                }
                text.push_str(&format!("\nProtection Domain {} (Name: {})\n", pd.id, pd.name));
                for s in in_pd {
                    text.push_str(&format!(
                        "SDS ID: {} Name: {} State: Connected, Joined IP: {} Port: 7072 Version: 2.0.10000 Protection Domain: {}\n",
                        s.id, s.name, s.ip, s.pd_id
                    ));
                }
            }
            Ok(ok(text))
        }
        "query_sds" => {
            let sys = logged_in(m, root, false).map_err(r)?;
            let sds = match (opts.get("sds_id"), opts.get("sds_ip"), opts.get("sds_name")) {
                (Some(id), _, _) => sys.sds.iter().find(|s| s.id == *id),
                (None, Some(ip), _) => sys.sds.iter().find(|s| s.ip == *ip),
                (None, None, Some(n)) => sys.sds.iter().find(|s| s.name == *n),
                (None, None, None) => return Err(usage("give --sds_id, --sds_ip or --sds_name")),
            }
            .ok_or_else(|| r(mdm_failed("Could not find the SDS")))?;
            Ok(ok(render_query_sds(sys, sds)))
        }
        "query_all" => {
            let sys = logged_in(m, root, false).map_err(r)?;
            let mut text = format!(
                "System Info:\n\tProduct:  EMC ScaleIO Version: R2_0.10000.2072\n\tID:      {}\n\tName:    {}\n\tInstallation ID: {}\n\n",
                sys.id,
                sys.name.as_deref().unwrap_or("N/A"),
                sys.install_id
            );
            for pd in &sys.pds {
                text.push_str(&format!("Protection Domain {} (Name: {})\n", pd.id, pd.name));
                for p in sys.pools.iter().filter(|p| p.pd_id == pd.id) {
                    text.push_str(&format!("Storage Pool {} (Name: {})\n", p.id, p.name));
                }
            }
            Ok(ok(text))
        }
        other => Err(usage(&format!("unknown command --{other}"))),
    }
}

/// `--query_sds` as ScaleIO 2.0 prints it (the layout of a real 2.0.12000 sample, values from
/// the model): the SDS line, its protection domain, DRL mode, IPs and port, the RAM read cache,
/// the devices (a numbered line with `Path:`/`ID:`, then the pool, capacity and state), the
/// Rfcache section, the membership states and capacity summary, then the I/O counters.
fn render_query_sds(sys: &System, sds: &super::model::Sds) -> String {
    let gb = |kb: u64| kb / (1024 * 1024);
    let mb = |kb: u64| kb / 1024;
    let pd = sys.pds.iter().find(|p| p.id == sds.pd_id).map_or("N/A", |p| p.name.as_str());
    let devices: Vec<_> = sys.devices.iter().filter(|d| d.sds_id == sds.id).collect();
    let mut t = format!("SDS {} Name: {} Version: 2.0.10000\n", sds.id, sds.name);
    t.push_str(&format!("Protection Domain: {}, Name: {pd}\n", sds.pd_id));
    t.push_str("DRL mode: Volatile\nAuthentication error: None\n");
    t.push_str(&format!(
        "IP information (total 1 IPs):\n\t 1: {}\tRole: All (SDS and SDC)\n\tPort: 7072\n",
        sds.ip
    ));
    t.push_str("RAM Read Cache information:\n\t128.0 MB (131072 KB) total size\n\tCache is enabled\n\tRAM Read Cache memory allocation state is SUCCESSFUL\n\n");
    t.push_str("Rfcache enabled\n\n");
    t.push_str(&format!("Device information (total {} devices):\n", devices.len()));
    for (i, d) in devices.iter().enumerate() {
        let pool = sys.pools.iter().find(|p| p.id == d.pool_id).map_or("N/A", |p| p.name.as_str());
        t.push_str(&format!(
            "\t {}: Name: N/A  Path: {}  Original-path: {}  ID: {}\n\t\tStorage Pool: {pool}, Capacity: {} GB Error-fixes: 0 scanned 0 MB, Compare errors: 0 State: Normal\n",
            i + 1,
            d.path,
            d.path,
            d.id,
            gb(d.size_kb)
        ));
    }
    let total: u64 = devices.iter().map(|d| d.size_kb).sum();
    t.push_str("\nNo devices use Rfcache\n");
    t.push_str("Membership-state: Joined; Connection-state: Connected; SDS-state: Normal; 0 devices with error; 0 Rfcache devices with errors\n");
    for (kb, what) in [
        (total, "total capacity"),
        (total, "unused capacity"),
        (0, "snapshots capacity"),
        (0, "in-use capacity"),
        (0, "thin capacity"),
        (0, "unreachable-unused capacity"),
    ] {
        if kb == 0 {
            t.push_str(&format!("\t0 Bytes {what}\n"));
        } else {
            t.push_str(&format!("\t{} GB ({} MB) {what}\n", gb(kb), mb(kb)));
        }
    }
    for dir in ["moving-in", "moving-out"] {
        for job in ["forward-rebuild", "backward-rebuild", "rebalance"] {
            t.push_str(&format!("\t0 active {dir} {job} jobs\n"));
        }
    }
    t.push_str("\t0 Bytes decreased capacity\n\n\n");
    for io in [
        "Primary-reads",
        "Primary-writes",
        "Secondary-reads",
        "Secondary-writes",
        "Backward-rebuild-reads",
        "Backward-rebuild-writes",
        "Forward-rebuild-reads",
        "Forward-rebuild-writes",
        "Rebalance-reads",
        "Rebalance-writes",
    ] {
        t.push_str(&format!("\t{io:<40} 0 IOPS 0 Bytes per-second\n"));
    }
    t
}

fn render_query_cluster(sys: &System) -> String {
    let active = 1 + sys.slaves.len() + sys.tiebreakers.len();
    let mut t = String::from("Cluster:\n");
    let name = sys.name.as_ref().map(|n| format!("Name: {n}, ")).unwrap_or_default();
    let (state, replicas) =
        if sys.mode == "3_node" { ("Normal", "2/2") } else { ("Not clustered", "1/1") };
    t.push_str(&format!("    {name}ID: {}, Mode: {}, State: {state}, Active: {active}/{active}, Replicas: {replicas}\n", sys.id, sys.mode));
    t.push_str("    Virtual IPs: N/A\n");
    let mgmt = |m: &Mdm| {
        m.management_ip.as_ref().map(|x| format!(", Management IPs: {x}")).unwrap_or_default()
    };
    t.push_str("Master MDM:\n");
    t.push_str(&format!("    Name: {}, ID: 0x{}\n        IPs: {}{}, Port: 9011, Virtual IP interfaces: N/A\n        Version: 2.0.10000\n", sys.master.name, sys.master.id, sys.master.ip, mgmt(&sys.master)));
    if !sys.slaves.is_empty() {
        t.push_str("Slave MDMs:\n");
        for s in &sys.slaves {
            t.push_str(&format!("    Name: {}, ID: 0x{}\n        IPs: {}{}, Port: 9011, Virtual IP interfaces: N/A\n        Status: Normal, Version: 2.0.10000\n", s.name, s.id, s.ip, mgmt(s)));
        }
    }
    if !sys.tiebreakers.is_empty() {
        t.push_str("Tie-Breakers:\n");
        for s in &sys.tiebreakers {
            t.push_str(&format!("    Name: {}, ID: 0x{}\n        IPs: {}, Port: 9011\n        Status: Normal, Version: 2.0.10000\n", s.name, s.id, s.ip));
        }
    }
    if !sys.standbys.is_empty() {
        t.push_str("Standby MDMs:\n");
        for s in &sys.standbys {
            let role = if s.role == "tb" { "Tie Breaker" } else { "Manager" };
            t.push_str(&format!(
                "    Name: {}, ID: 0x{}, {role}\n        IPs: {}{}, Port: 9011\n",
                s.name,
                s.id,
                s.ip,
                mgmt(s)
            ));
        }
    }
    t
}
