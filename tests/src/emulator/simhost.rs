//! Simulated hosts: a root directory per agent laid out with the host stand-in's
//! `prepare_host`, an `etc/os-release` matching the agent's `os` attribute, the distribution's
//! package repository (what `apt-get`/`yum` can install: the prerequisites ScaleIO needs), the
//! Mesos agent's service (an init script on Ubuntu 14.04, a systemd unit on RHEL 7), an rpm
//! database on RHEL hosts (busybox as `/bin/sh`, `rpm --initdb`), spare block devices as sparse
//! files under `dev/`, and one shared tools directory (`host-tools` links and `scli`).

use std::path::{Path, PathBuf};

use super::spec::AgentSpec;
use crate::standins::host;

/// The platforms a simulated host can be (`os` attribute values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Ubuntu14,
    Rhel7,
}

impl Os {
    /// From the agent's `os` attribute; absent means `ubuntu14`.
    pub fn of(spec: &AgentSpec) -> Result<Self, String> {
        match spec.attribute("os") {
            None | Some("ubuntu14") => Ok(Self::Ubuntu14),
            Some("rhel7") | Some("centos7") => Ok(Self::Rhel7),
            Some(other) => Err(format!(
                "agent {:?} has os attribute {other:?}; simulated hosts exist for `os:ubuntu14` and `os:rhel7`",
                spec.hostname
            )),
        }
    }

    fn os_release(self) -> &'static str {
        match self {
            Self::Ubuntu14 => {
                "NAME=\"Ubuntu\"\nVERSION=\"14.04.5 LTS, Trusty Tahr\"\nID=ubuntu\nID_LIKE=debian\n\
                 PRETTY_NAME=\"Ubuntu 14.04.5 LTS\"\nVERSION_ID=\"14.04\"\nVERSION_CODENAME=trusty\n"
            }
            Self::Rhel7 => {
                "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\n\
                 VERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\nCPE_NAME=\"cpe:/o:centos:centos:7\"\n"
            }
        }
    }

    /// The distribution repository as the stand-in `apt-get`/`yum` read it (`name version`
    /// lines): what the ScaleIO prerequisites step installs, and the Ubuntu kernel it pins.
    fn repository(self) -> &'static str {
        match self {
            Self::Ubuntu14 => {
                "libaio1 0.3.109-4\nzip 3.0-8\nlinux-image-4.4.0-38-generic 4.4.0-38.57~14.04.1\n"
            }
            Self::Rhel7 => {
                "libaio 0.3.109-13.el7\nzip 3.0-11.el7\nunzip 6.0-16.el7\n\
                 java-1.8.0-openjdk 1.8.0.131-11.b12.el7\n"
            }
        }
    }

    /// Where the Mesos agent's service is defined, and its contents.
    fn agent_service(self) -> (&'static str, &'static str) {
        match self {
            Self::Ubuntu14 => ("etc/init.d/mesos-slave", "#!/bin/sh\n# Mesos agent (simulated)\n"),
            Self::Rhel7 => {
                ("lib/systemd/system/mesos-slave.service", "[Unit]\nDescription=Mesos agent\n")
            }
        }
    }

    /// The kernel a fresh host of this platform runs.
    pub fn default_kernel(self) -> &'static str {
        match self {
            Self::Ubuntu14 => "3.13.0-24-generic",
            Self::Rhel7 => "3.10.0-327.el7.x86_64",
        }
    }
}

/// Lays out the simulated host of `spec` at `root` with address `ip`, registered in the
/// cluster model `state`. Returns the boot id.
pub fn prepare(root: &Path, spec: &AgentSpec, ip: &str, state: &Path) -> Result<String, String> {
    let os = Os::of(spec)?;
    let io =
        |what: &str, e: std::io::Error| format!("simulated host {}: {what}: {e}", root.display());
    host::prepare_host(root, &spec.hostname, ip, os.default_kernel(), state)
        .map_err(|e| io("prepare", e))?;
    std::fs::write(root.join("etc/os-release"), os.os_release())
        .map_err(|e| io("os-release", e))?;
    std::fs::write(root.join("etc/standin/repo"), os.repository())
        .map_err(|e| io("package repository", e))?;
    let (service, unit) = os.agent_service();
    let service = root.join(service);
    std::fs::create_dir_all(service.parent().unwrap_or(root))
        .and_then(|()| std::fs::write(&service, unit))
        .map_err(|e| io("agent service", e))?;
    if os == Os::Rhel7 {
        crate::fixtures::packages::init_rpm_root(root)
            .map_err(|e| format!("simulated host {}: rpm database: {e}", root.display()))?;
    }
    if let Some(v) = &spec.mesos_version {
        std::fs::write(root.join(host::MESOS_VERSION_FILE), format!("{v}\n"))
            .map_err(|e| io("mesos version", e))?;
    }
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).map_err(|e| io("dev", e))?;
    for d in spec.devices_or_default() {
        let f = std::fs::File::create(dev.join(&d.name)).map_err(|e| io(&d.name, e))?;
        f.set_len(d.size_gib << 30).map_err(|e| io(&d.name, e))?;
    }
    std::fs::read_to_string(root.join("proc/sys/kernel/random/boot_id"))
        .map(|s| s.trim().to_owned())
        .map_err(|e| io("boot_id", e))
}

/// Where agent `hostname`'s simulated host lives under the work dir.
pub fn root_of(work_dir: &Path, hostname: &str) -> PathBuf {
    work_dir.join("hosts").join(hostname)
}

/// Fills `tools_dir` with links to the stand-ins in `bin_dir` (`host-tools`, `scli`).
pub fn install_tools(tools_dir: &Path, bin_dir: &Path) -> Result<(), String> {
    let host_tools = bin_dir.join("host-tools");
    let scli = bin_dir.join("scli");
    for b in [&host_tools, &scli] {
        if !b.is_file() {
            return Err(format!(
                "--host-tools {}: {} is missing\nhint: build the stand-ins with `cargo build -p testkit --bins`",
                bin_dir.display(),
                b.display()
            ));
        }
    }
    host::install_tools(tools_dir, &host_tools, &scli)
        .map_err(|e| format!("cannot link the host tools into {}: {e}", tools_dir.display()))
}
