//! Simulated hosts for the executor tests: roots laid out like Ubuntu 14.04 or RHEL 7 agents, the
//! `host-tools`/`scli` stand-ins first on `PATH`, the real `dpkg`/`rpm`, a verified fixture bundle,
//! and a step context (`executor::steps::Ctx`) per host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use executor::bundle::BundleState;
use executor::host::{Host, HostConfig};
use executor::steps::{self, Ctx};
use scaleio::step::{Step, StepEnvelope, StepFailure, StepResult};
use testkit::fixtures::packages::{Format, extracted_bundle, init_rpm_root};
use testkit::standins::host::{install_tools, prepare_host};

/// The admin password the tests use (must never appear in a transcript).
pub const PASSWORD: &str = "Sc4le-IO-test-pw";

/// The OS of the simulated hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Ubuntu14,
    Rhel7,
}

impl Os {
    pub fn format(self) -> Format {
        match self {
            Os::Ubuntu14 => Format::Deb,
            Os::Rhel7 => Format::Rpm,
        }
    }
}

/// A set of simulated hosts sharing one cluster model and one bundle.
pub struct Sim {
    pub dir: tempfile::TempDir,
    pub os: Os,
    pub state: PathBuf,
    pub bin: PathBuf,
    pub bundle_dir: PathBuf,
}

pub fn stand_in(name: &str) -> PathBuf {
    testkit::bins::workspace_binary(name).expect("stand-in binaries are built with the tests")
}

impl Sim {
    pub fn new(os: Os) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("cluster.json");
        let bin = dir.path().join("bin");
        install_tools(&bin, &stand_in("host-tools"), &stand_in("scli")).expect("tool links");
        let bundle_dir =
            extracted_bundle(&dir.path().join("sandbox"), os.format()).expect("fixture bundle");
        Self { dir, os, state, bin, bundle_dir }
    }

    pub fn root(&self, host: &str) -> PathBuf {
        self.dir.path().join("hosts").join(host)
    }

    /// A host with a 100 GiB `/dev/xvdf`, an 8 GiB partitioned `/dev/xvda`, the distribution
    /// repository the prerequisites come from, and a Mesos agent service.
    pub fn add_host(&self, host: &str, ip: &str) -> PathBuf {
        let root = self.root(host);
        let kernel = match self.os {
            Os::Ubuntu14 => "3.13.0-24-generic",
            Os::Rhel7 => "3.10.0-514.el7.x86_64",
        };
        prepare_host(&root, host, ip, kernel, &self.state).expect("prepare host");
        let (os_release, repo, agent) = match self.os {
            Os::Ubuntu14 => (
                "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"14.04\"\nPRETTY_NAME=\"Ubuntu 14.04.5 LTS\"\n",
                "libaio1 0.3.109-4\nzip 3.0-8\nlinux-image-4.4.0-38-generic 4.4.0-38.57~14.04.1\n",
                ("etc/init.d/mesos-slave", "#!/bin/sh\n"),
            ),
            Os::Rhel7 => (
                "NAME=\"CentOS Linux\"\nID=\"centos\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\n",
                "libaio 0.3.109-13.el7\nzip 3.0-11.el7\nunzip 6.0-16.el7\njava-1.8.0-openjdk 1.8.0.131-11.b12.el7\n",
                ("lib/systemd/system/mesos-slave.service", "[Unit]\nDescription=Mesos agent\n"),
            ),
        };
        write(&root, "etc/os-release", os_release);
        write(&root, "etc/standin/repo", repo);
        write(&root, agent.0, agent.1);
        let dev = root.join("dev");
        std::fs::create_dir_all(&dev).expect("dev");
        for (name, size) in [("xvda", 8u64 << 30), ("xvda1", 8u64 << 30), ("xvdf", 100u64 << 30)] {
            std::fs::File::create(dev.join(name)).expect("device").set_len(size).expect("size");
        }
        if self.os == Os::Rhel7 {
            init_rpm_root(&root).expect("rpm root");
        }
        root
    }

    pub fn ctx(&self, host: &str) -> Ctx {
        let root = self.root(host);
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.bin.display());
        let state = self.state.clone();
        let config = HostConfig::for_root(root, move |k| match k {
            "PATH" => Some(path.clone().into()),
            "SCALEIO_STANDIN_STATE" => Some(state.clone().into_os_string()),
            _ => None,
        });
        Ctx {
            host: Host::new(config),
            bundle: BundleState::verify(&self.bundle_dir),
            secret_env: HashMap::from([("SCALEIO_ADMIN_PASSWORD".to_owned(), PASSWORD.to_owned())]),
            poll: Duration::from_millis(20),
        }
    }

    /// Runs one step on `host` (through its JSON envelope, as the executor receives it) and
    /// returns the result and the transcript with paths made stable.
    pub async fn step(&self, host: &str, step: Step) -> (Result<StepResult, StepFailure>, String) {
        let json = StepEnvelope::new(step).to_json();
        let envelope = StepEnvelope::from_json(&json).expect("a step the executor can decode");
        let ctx = self.ctx(host);
        let kind = envelope.step.kind();
        let result = steps::run(&ctx, &envelope.step)
            .await
            .map(|d| d.result)
            .map_err(|e| e.into_failure(kind));
        let json = String::from_utf8(ctx.host.transcript().to_json()).expect("utf8");
        assert!(!json.contains(PASSWORD), "the password leaked into the transcript: {json}");
        if let Err(f) = &result {
            let f = serde_json::to_string(f).expect("json");
            assert!(!f.contains(PASSWORD), "the password leaked into the failure: {f}");
        }
        (result, self.stable(&ctx.host.transcript().render()))
    }

    /// Replaces the temporary paths with `<root>`, `<bundle>`, `<sim>`.
    pub fn stable(&self, text: &str) -> String {
        let mut t = text.replace(&self.bundle_dir.display().to_string(), "<bundle>");
        t = t.replace(&self.dir.path().join("hosts").display().to_string(), "<hosts>");
        t.replace(&self.dir.path().display().to_string(), "<sim>")
    }
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, text).expect("write");
}
