//! Host tool stand-ins for a simulated host (`uname`, `mesos-agent`/`mesos-slave --version`, `lsblk`, `systemctl`, `service`, `reboot`,
//! `shutdown`, `apt-get`, `apt-mark`, `update-grub`, `yum`, and the SDC's `drv_cfg`): one multi-call binary dispatching on its invocation name. Each
//! appends its argv (one JSON array per line) to [`ARGV_LOG`] under the host root.
//!
//! Host state lives under the root: `etc/standin/kernel` (running kernel, `uname -r`),
//! `etc/standin/kernel.next` (kernel after the next reboot), `etc/hostname`, block devices as
//! files `dev/<name>` (size = file length; `dev/<name>.ro` marks read-only, a `<name>1` file
//! a partition), units as `etc/systemd/system/<u>.service` or `lib/systemd/system/<u>.service`,
//! init scripts as `etc/init.d/<s>`, service states in `run/standin/services/<u>`, the package
//! repository as `etc/standin/repo` (`name version` lines), and a pending reboot as
//! `run/standin/reboot-requested` (the emulator performs it with [`complete_reboot`]).
//! `apt-get install` writes installed entries into `var/lib/dpkg/status` so the real
//! `dpkg-query --admindir` sees them; `yum install` records into `var/lib/standin/yum-installed`
//! (the rpm database cannot be written without rpm; tests of RPM hosts use real `rpm`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::HOST_ROOT_ENV;

/// Where every host tool records its argv, relative to the host root.
pub const ARGV_LOG: &str = "var/log/standin-host-tools.log";

/// What a tool printed and its exit code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolOutput {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code.
    pub exit_code: i32,
}

fn out(stdout: impl Into<String>) -> ToolOutput {
    ToolOutput { stdout: stdout.into(), stderr: String::new(), exit_code: 0 }
}

fn fail(code: i32, stderr: impl Into<String>) -> ToolOutput {
    ToolOutput { stdout: String::new(), stderr: stderr.into(), exit_code: code }
}

/// Runs with the host root from `SCALEIO_HOST_ROOT`.
pub fn run_from_env(argv: &[String]) -> ToolOutput {
    match std::env::var_os(HOST_ROOT_ENV) {
        Some(root) => run(argv, Path::new(&root)),
        None => fail(2, format!("host stand-in: {HOST_ROOT_ENV} is not set\n")),
    }
}

/// Runs the tool named by `argv[0]` (its file name) on the host at `root`.
pub fn run(argv: &[String], root: &Path) -> ToolOutput {
    let name = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Err(e) = record(root, argv) {
        return fail(2, format!("host stand-in: cannot write {ARGV_LOG}: {e}\n"));
    }
    let args: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    match name.as_str() {
        "uname" => uname(root, &args),
        "mesos-agent" | "mesos-slave" => mesos_version(root, &name, &args),
        "lsblk" => lsblk(root, &args),
        "systemctl" => systemctl(root, &args),
        "service" => service(root, &args),
        "reboot" => request_reboot(root, ""),
        "shutdown" => {
            if args.first() == Some(&"-r") {
                request_reboot(root, "Shutdown scheduled, use 'shutdown -c' to cancel.\n")
            } else {
                fail(1, "host stand-in: only `shutdown -r now` is simulated\n")
            }
        }
        "apt-get" => apt_get(root, &args),
        "apt-mark" => match args.as_slice() {
            ["hold", pkgs @ ..] if !pkgs.is_empty() => {
                out(pkgs.iter().map(|p| format!("{p} set on hold.\n")).collect::<String>())
            }
            _ => fail(1, "apt-mark stand-in: only `apt-mark hold <packages>` is simulated\n"),
        },
        "update-grub" => out("Generating grub configuration file ...\ndone\n"),
        "yum" => yum(root, &args),
        "drv_cfg" => {
            drv_cfg(root, &args, std::env::var_os(super::STATE_ENV).map(PathBuf::from).as_deref())
        }
        other => fail(127, format!("host stand-in: unknown tool name `{other}`\n")),
    }
}

fn record(root: &Path, argv: &[String]) -> std::io::Result<()> {
    let path = root.join(ARGV_LOG);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut f = fs::OpenOptions::new().create(true).append(true).open(path)?;
    let line = serde_json::to_string(argv).expect("strings serialise");
    writeln!(f, "{line}")
}

/// The argv lines recorded on the host at `root`, oldest first.
pub fn recorded(root: &Path) -> Vec<Vec<String>> {
    fs::read_to_string(root.join(ARGV_LOG))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn read_trim(path: PathBuf) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn uname(root: &Path, args: &[&str]) -> ToolOutput {
    let kernel =
        read_trim(root.join("etc/standin/kernel")).unwrap_or_else(|| "4.4.0-38-generic".into());
    let host = read_trim(root.join("etc/hostname")).unwrap_or_else(|| "localhost".into());
    let field = |a: &str| match a {
        "-r" => Some(kernel.clone()),
        "-n" => Some(host.clone()),
        "-s" => Some("Linux".to_owned()),
        "-m" => Some("x86_64".to_owned()),
        _ => None,
    };
    match args {
        [] => out("Linux\n"),
        ["-a"] => out(format!("Linux {host} {kernel} #1 SMP x86_64 x86_64 x86_64 GNU/Linux\n")),
        [a] => match field(a) {
            Some(v) => out(format!("{v}\n")),
            None => fail(1, format!("uname: invalid option -- '{}'\n", a.trim_start_matches('-'))),
        },
        _ => fail(1, "uname: the stand-in takes one option\n"),
    }
}

fn lsblk(root: &Path, args: &[&str]) -> ToolOutput {
    if !args.contains(&"-J") || !args.contains(&"-b") {
        return fail(1, "lsblk stand-in: only `lsblk -J -b -o ...` is simulated\n");
    }
    let dev = root.join("dev");
    let mut names: Vec<String> = fs::read_dir(&dev)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".ro") && !n.ends_with(".fstype"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let is_part = |n: &str, all: &[String]| {
        n.chars().last().is_some_and(|c| c.is_ascii_digit())
            && all.iter().any(|p| {
                p != n
                    && n.starts_with(p.as_str())
                    && n[p.len()..].chars().all(|c| c.is_ascii_digit())
            })
    };
    let entry = |n: &str, kind: &str| {
        let size = fs::metadata(dev.join(n)).map(|m| m.len()).unwrap_or(0);
        let fstype = read_trim(dev.join(format!("{n}.fstype")));
        let kind = if n.starts_with("loop") { "loop" } else { kind };
        serde_json::json!({
            "name": n, "path": format!("/dev/{n}"), "type": kind, "size": size,
            "ro": dev.join(format!("{n}.ro")).exists(), "rm": false,
            "fstype": fstype, "mountpoint": null, "pkname": null
        })
    };
    let mut devices = Vec::new();
    for n in names.iter().filter(|n| !is_part(n, &names)) {
        let mut e = entry(n, "disk");
        let children: Vec<_> = names
            .iter()
            .filter(|c| {
                c.as_str() != n
                    && c.starts_with(n.as_str())
                    && c[n.len()..].chars().all(|x| x.is_ascii_digit())
            })
            .map(|c| entry(c, "part"))
            .collect();
        if !children.is_empty() {
            e["children"] = serde_json::Value::Array(children);
        }
        devices.push(e);
    }
    out(format!(
        "{}\n",
        serde_json::to_string_pretty(&serde_json::json!({ "blockdevices": devices }))
            .expect("json")
    ))
}

fn unit_known(root: &Path, unit: &str) -> bool {
    let base = unit.trim_end_matches(".service");
    root.join(format!("etc/systemd/system/{base}.service")).exists()
        || root.join(format!("lib/systemd/system/{base}.service")).exists()
        || init_script_known(root, base)
}

/// An init script `etc/init.d/<name>`; the SDC's [`SDC_SERVICE`] exists wherever the SDC package
/// is installed (the real package ships `/etc/init.d/scini`; the fixture package does not, so
/// the stand-in provides it).
fn init_script_known(root: &Path, name: &str) -> bool {
    root.join(format!("etc/init.d/{name}")).exists() || (name == SDC_SERVICE && sdc_installed(root))
}

/// The SDC's kernel driver service (`/etc/init.d/scini`).
pub const SDC_SERVICE: &str = "scini";

fn sdc_installed(root: &Path) -> bool {
    root.join("opt/emc/scaleio/sdc").is_dir()
}

/// Starting (or restarting) a service; starting the SDC's driver makes it connect to the MDMs
/// its configuration file lists, as the real driver does when it loads.
fn start_service(root: &Path, unit: &str) -> std::io::Result<()> {
    set_state(root, unit, "active")?;
    if unit.trim_end_matches(".service") == SDC_SERVICE {
        if let Some(state) = std::env::var_os(super::STATE_ENV) {
            super::model::Model::update(Path::new(&state), super::model::Model::connect_sdcs)
                .map_err(std::io::Error::other)?;
        }
    }
    Ok(())
}

fn set_state(root: &Path, unit: &str, state: &str) -> std::io::Result<()> {
    let dir = root.join("run/standin/services");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(unit.trim_end_matches(".service")), state)
}

/// A unit's state. Without a recorded state a unit is inactive, except the SDC's driver
/// wherever the SDC package is installed: its install loads the driver and it starts at boot.
fn state_of(root: &Path, unit: &str) -> String {
    let base = unit.trim_end_matches(".service");
    read_trim(root.join("run/standin/services").join(base)).unwrap_or_else(|| {
        if base == SDC_SERVICE && sdc_installed(root) { "active" } else { "inactive" }.into()
    })
}

fn systemctl(root: &Path, args: &[&str]) -> ToolOutput {
    let args: Vec<&str> = args.iter().copied().filter(|a| !a.starts_with("--")).collect();
    match args.as_slice() {
        ["daemon-reload"] => out(""),
        [
            verb @ ("start" | "stop" | "restart" | "enable" | "disable" | "is-active" | "status"),
            units @ ..,
        ] if !units.is_empty() => {
            for unit in units {
                let base = unit.trim_end_matches(".service");
                if !unit_known(root, base) {
                    let code = if *verb == "is-active" || *verb == "status" { 4 } else { 5 };
                    let what = match *verb {
                        "is-active" => {
                            return ToolOutput {
                                stdout: "inactive\n".into(),
                                stderr: String::new(),
                                exit_code: 3,
                            };
                        }
                        v => v,
                    };
                    return fail(
                        code,
                        format!(
                            "Failed to {what} {base}.service: Unit {base}.service not found.\n"
                        ),
                    );
                }
                let res = match *verb {
                    "start" | "restart" => start_service(root, base),
                    "stop" => set_state(root, base, "inactive"),
                    "enable" | "disable" => Ok(()),
                    "is-active" | "status" => {
                        let s = state_of(root, base);
                        let code = if s == "active" { 0 } else { 3 };
                        let text = if *verb == "status" {
                            format!("● {base}.service\n   Active: {s}\n")
                        } else {
                            format!("{s}\n")
                        };
                        return ToolOutput { stdout: text, stderr: String::new(), exit_code: code };
                    }
                    _ => Ok(()),
                };
                if let Err(e) = res {
                    return fail(1, format!("systemctl stand-in: {e}\n"));
                }
            }
            out("")
        }
        _ => fail(1, format!("systemctl stand-in: unsupported arguments {args:?}\n")),
    }
}

fn service(root: &Path, args: &[&str]) -> ToolOutput {
    match args {
        [name, verb @ ("start" | "stop" | "restart" | "status")] => {
            if !init_script_known(root, name) {
                return fail(1, format!("{name}: unrecognized service\n"));
            }
            let res = match *verb {
                "start" | "restart" => start_service(root, name),
                "stop" => set_state(root, name, "inactive"),
                _ => {
                    let s = state_of(root, name);
                    let running = s == "active";
                    let text = if running {
                        format!("{name} is running\n")
                    } else {
                        format!("{name} is not running\n")
                    };
                    return ToolOutput {
                        stdout: text,
                        stderr: String::new(),
                        exit_code: if running { 0 } else { 3 },
                    };
                }
            };
            match res {
                Ok(()) => out(format!("{name} {verb}: ok\n")),
                Err(e) => fail(1, format!("service stand-in: {e}\n")),
            }
        }
        _ => fail(
            1,
            "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]\n",
        ),
    }
}

fn request_reboot(root: &Path, message: &str) -> ToolOutput {
    let dir = root.join("run/standin");
    match fs::create_dir_all(&dir).and_then(|()| fs::write(dir.join("reboot-requested"), "")) {
        Ok(()) => out(message),
        Err(e) => fail(1, format!("reboot stand-in: {e}\n")),
    }
}

/// Whether a reboot was requested on the host at `root`.
pub fn reboot_requested(root: &Path) -> bool {
    root.join("run/standin/reboot-requested").exists()
}

/// Performs a requested reboot of the simulated host: the next kernel becomes the running one,
/// `proc/sys/kernel/random/boot_id` gets a new value (returned), the request and service states
/// are cleared (services come back as the emulator starts them; the SDC's driver starts at boot
/// and connects to its MDMs at the cluster model's next change).
pub fn complete_reboot(root: &Path) -> std::io::Result<String> {
    if let Some(next) = read_trim(root.join("etc/standin/kernel.next")) {
        fs::create_dir_all(root.join("etc/standin"))?;
        fs::write(root.join("etc/standin/kernel"), format!("{next}\n"))?;
        fs::remove_file(root.join("etc/standin/kernel.next"))?;
    }
    let boot_id = uuid::Uuid::new_v4().to_string();
    let dir = root.join("proc/sys/kernel/random");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("boot_id"), format!("{boot_id}\n"))?;
    let _ = fs::remove_file(root.join("run/standin/reboot-requested"));
    let _ = fs::remove_dir_all(root.join("run/standin/services"));
    Ok(boot_id)
}

fn repo_version(root: &Path, pkg: &str) -> Option<String> {
    fs::read_to_string(root.join("etc/standin/repo"))
        .ok()?
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .find(|(n, _)| *n == pkg)
        .map(|(_, v)| v.trim().to_owned())
}

fn install_args<'a>(args: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let rest: Vec<&str> = args.iter().copied().filter(|a| !a.starts_with('-')).collect();
    if !args.contains(&"-y") {
        return Err("the stand-in refuses to prompt: pass -y\n".into());
    }
    match rest.split_first() {
        Some((&"install", pkgs)) if !pkgs.is_empty() => Ok(pkgs.to_vec()),
        _ => Err("only `-y install <packages>` is simulated\n".into()),
    }
}

fn apt_get(root: &Path, args: &[&str]) -> ToolOutput {
    if args.first() == Some(&"update") || args.get(1) == Some(&"update") {
        return out("Reading package lists... Done\n");
    }
    let pkgs = match install_args(args) {
        Ok(p) => p,
        Err(e) => return fail(100, format!("E: {e}")),
    };
    let status_path = root.join("var/lib/dpkg/status");
    let mut status = fs::read_to_string(&status_path).unwrap_or_default();
    let mut newly = 0;
    for pkg in &pkgs {
        let Some(version) = repo_version(root, pkg) else {
            return fail(100, format!("E: Unable to locate package {pkg}\n"));
        };
        if status.contains(&format!("Package: {pkg}\nStatus: install ok installed\n")) {
            continue;
        }
        status.push_str(&format!(
            "Package: {pkg}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\nDescription: stand-in package\n\n"
        ));
        if let Some(release) = pkg.strip_prefix("linux-image-") {
            let _ = fs::create_dir_all(root.join("etc/standin"));
            let _ = fs::write(root.join("etc/standin/kernel.next"), format!("{release}\n"));
        }
        newly += 1;
    }
    if let Err(e) =
        fs::create_dir_all(root.join("var/lib/dpkg")).and_then(|()| fs::write(&status_path, status))
    {
        return fail(100, format!("E: {e}\n"));
    }
    out(format!(
        "Reading package lists... Done\n0 upgraded, {newly} newly installed, 0 to remove and 0 not upgraded.\n"
    ))
}

fn yum(root: &Path, args: &[&str]) -> ToolOutput {
    let pkgs = match install_args(args) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("Error: {e}")),
    };
    let path = root.join("var/lib/standin/yum-installed");
    let mut have = fs::read_to_string(&path).unwrap_or_default();
    let mut installed = Vec::new();
    for pkg in &pkgs {
        let Some(version) = repo_version(root, pkg) else {
            return fail(1, format!("No package {pkg} available.\nError: Nothing to do\n"));
        };
        if have.lines().any(|l| l.split_whitespace().next() == Some(*pkg)) {
            continue;
        }
        have.push_str(&format!("{pkg} {version}\n"));
        installed.push(format!("  {pkg}.x86_64 {version}"));
    }
    if installed.is_empty() {
        return out("Nothing to do\n");
    }
    if let Err(e) =
        fs::create_dir_all(root.join("var/lib/standin")).and_then(|()| fs::write(&path, have))
    {
        return fail(1, format!("Error: {e}\n"));
    }
    out(format!("Installed:\n{}\n\nComplete!\n", installed.join("\n")))
}

/// The names the multi-call `host-tools` binary answers to.
pub const TOOL_NAMES: &[&str] = &[
    "uname",
    "lsblk",
    "systemctl",
    "service",
    "reboot",
    "shutdown",
    "apt-get",
    "apt-mark",
    "update-grub",
    "yum",
    "drv_cfg",
    "mesos-agent",
    "mesos-slave",
];

/// Where a simulated host keeps the version of its Mesos agent (absent: no Mesos binary).
pub const MESOS_VERSION_FILE: &str = "etc/standin/mesos-version";

/// `mesos-agent --version` / `mesos-slave --version`: `mesos <version>` as the real binaries
/// print it, from [`MESOS_VERSION_FILE`]; without that file the host has no such binary and the
/// answer is a shell's "command not found" (127).
fn mesos_version(root: &Path, name: &str, args: &[&str]) -> ToolOutput {
    let Some(version) = read_trim(root.join(MESOS_VERSION_FILE)) else {
        return fail(127, format!("{name}: command not found\n"));
    };
    match args {
        ["--version"] => out(format!("mesos {version}\n")),
        _ => fail(1, format!("{name} stand-in: only `--version` is simulated\n")),
    }
}

/// Makes `bin_dir` a directory to put first on a simulated host's `PATH`: a symlink per tool name
/// to the `host-tools` binary, and `scli` to the `scli` stand-in. Existing links are replaced.
pub fn install_tools(bin_dir: &Path, host_tools: &Path, scli: &Path) -> std::io::Result<()> {
    fs::create_dir_all(bin_dir)?;
    let links = TOOL_NAMES.iter().map(|n| (*n, host_tools)).chain(std::iter::once(("scli", scli)));
    for (name, target) in links {
        let link = bin_dir.join(name);
        match fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::os::unix::fs::symlink(target, &link)?;
    }
    Ok(())
}

/// `/proc/net/fib_trie` of a host with the loopback interface and `ip` (both routing tables, as
/// the kernel prints them; preflight reads the local addresses from it).
pub fn fib_trie(ip: &str) -> String {
    let table = format!(
        "  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 host LOCAL\n           |-- 127.0.0.1\n              /32 host LOCAL\n        |-- 127.255.255.255\n           /32 link BROADCAST\n     |-- {ip}\n        /32 host LOCAL\n"
    );
    format!("Main:\n{table}Local:\n{table}")
}

/// Lays out a fresh simulated host: hostname, running kernel, a boot id, its address in
/// `proc/net/fib_trie`, an empty dpkg database
/// (`var/lib/dpkg/{status,available,info,updates}`, as the real `dpkg --root` needs), and
/// registers its IP in the cluster model at `state`.
pub fn prepare_host(
    root: &Path,
    hostname: &str,
    ip: &str,
    kernel: &str,
    state: &Path,
) -> std::io::Result<()> {
    fs::create_dir_all(root.join("etc/standin"))?;
    fs::write(root.join("etc/hostname"), format!("{hostname}\n"))?;
    fs::write(root.join("etc/standin/kernel"), format!("{kernel}\n"))?;
    let dir = root.join("proc/sys/kernel/random");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("boot_id"), format!("{}\n", uuid::Uuid::new_v4()))?;
    fs::create_dir_all(root.join("proc/net"))?;
    fs::write(root.join("proc/net/fib_trie"), fib_trie(ip))?;
    let dpkg = root.join("var/lib/dpkg");
    fs::create_dir_all(dpkg.join("info"))?;
    fs::create_dir_all(dpkg.join("updates"))?;
    for f in ["status", "available"] {
        if !dpkg.join(f).exists() {
            fs::write(dpkg.join(f), "")?;
        }
    }
    super::model::Model::register_host(state, ip, root).map_err(std::io::Error::other)
}

/// The SDC's GUID on `root`, made once (the real one is generated when the SDC is installed).
fn sdc_guid(root: &Path) -> std::io::Result<String> {
    let guid_file = root.join("etc/standin/sdc_guid");
    if let Some(g) = read_trim(guid_file.clone()) {
        return Ok(g);
    }
    let g = uuid::Uuid::new_v4().to_string();
    fs::create_dir_all(root.join("etc/standin"))?;
    fs::write(&guid_file, &g)?;
    Ok(g)
}

/// The MDM IPs of the `mdm <ip>,<ip>` lines of a `drv_cfg.txt`.
fn configured_mdms(cfg: &str) -> Vec<String> {
    cfg.lines()
        .filter_map(|l| l.trim().strip_prefix("mdm "))
        .flat_map(|ips| ips.split(',').map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .collect()
}

/// `cfg` with its `mdm` lines replaced by one listing `ips` (other lines kept, in place).
fn with_mdms(cfg: &str, ips: &[String]) -> String {
    let wanted = format!("mdm {}", ips.join(","));
    let mut out = String::new();
    let mut written = false;
    for line in cfg.lines() {
        if line.trim().starts_with("mdm ") {
            if !written {
                out.push_str(&wanted);
                out.push('\n');
                written = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !written {
        out.push_str(&wanted);
        out.push('\n');
    }
    out
}

/// What the SDC driver on `root` offers an MDM: its GUID and the MDM IPs of its configuration
/// file ([`DRV_CFG_FILE`]), read when it connects. `None` when the driver is not running (no SDC
/// package, or `scini` stopped). Used by [`super::model::Model::connect_sdcs`].
pub fn sdc_driver(root: &Path) -> Option<(String, Vec<String>)> {
    if !sdc_installed(root) || state_of(root, SDC_SERVICE) != "active" {
        return None;
    }
    let cfg = fs::read_to_string(root.join(DRV_CFG_FILE.trim_start_matches('/'))).ok()?;
    let mdms = configured_mdms(&cfg);
    if mdms.is_empty() {
        return None;
    }
    Some((sdc_guid(root).ok()?, mdms))
}

/// The SDC's `drv_cfg`: talks to the running driver (the SDC package installed under the root
/// and `scini` not stopped), like the real one through `/dev/scini`. `--add_mdm --file` points
/// the driver at the MDMs and rewrites the file's `mdm` line (other lines kept); with `state`
/// (the cluster model) the driver then connects, and the MDM registers this SDC.
pub fn drv_cfg(root: &Path, args: &[&str], state: Option<&Path>) -> ToolOutput {
    if !sdc_installed(root) || state_of(root, SDC_SERVICE) != "active" {
        return fail(1, "Failed to open kernel device /dev/scini: No such file or directory\n");
    }
    let cfg = root.join(DRV_CFG_FILE.trim_start_matches('/'));
    let guid = match sdc_guid(root) {
        Ok(g) => g,
        Err(e) => return fail(1, format!("drv_cfg stand-in: {e}\n")),
    };
    let cfg_text = fs::read_to_string(&cfg).unwrap_or_default();
    let configured = configured_mdms(&cfg_text);
    match args {
        ["--query_guid"] => out(format!("{guid}\n")),
        ["--query_mdms"] => {
            if configured.is_empty() {
                return out("Retrieved 0 mdm(s)\n");
            }
            let ips: Vec<String> =
                configured.iter().enumerate().map(|(i, ip)| format!("[{i}]-{ip}")).collect();
            out(format!(
                "Retrieved 1 mdm(s)\nMDM-ID 0000000000000000 SDC ID 0000000000000000 INSTALLATION ID 0000000000000000 IPs {}\n",
                ips.join(" ")
            ))
        }
        ["--add_mdm", "--ip", ips, "--file", file] | ["--add_mdm", "--file", file, "--ip", ips] => {
            if Path::new(file) != Path::new(DRV_CFG_FILE) {
                return fail(1, format!("drv_cfg stand-in: unexpected --file {file}\n"));
            }
            let wanted: Vec<String> = ips.split(',').map(|s| s.trim().to_owned()).collect();
            if wanted.iter().any(|ip| ip.parse::<std::net::Ipv4Addr>().is_err()) {
                return fail(1, format!("Invalid IP list {ips}\n"));
            }
            if wanted == configured {
                return fail(1, "MDM already configured\n");
            }
            if let Err(e) = fs::create_dir_all(root.join("bin/emc/scaleio"))
                .and_then(|()| fs::write(&cfg, with_mdms(&cfg_text, &wanted)))
            {
                return fail(1, format!("drv_cfg stand-in: {e}\n"));
            }
            if let Some(state) = state {
                if let Err(e) =
                    super::model::Model::update(state, super::model::Model::connect_sdcs)
                {
                    return fail(1, format!("drv_cfg stand-in: {e}\n"));
                }
            }
            out("Successfully configured MDM\n")
        }
        _ => fail(
            1,
            "drv_cfg stand-in: supported: --query_guid | --query_mdms | --add_mdm --ip <ips> --file <file>\n",
        ),
    }
}

/// Where `drv_cfg` keeps the MDM list.
pub const DRV_CFG_FILE: &str = "/bin/emc/scaleio/drv_cfg.txt";
