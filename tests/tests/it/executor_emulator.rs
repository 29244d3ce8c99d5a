//! The `scaleio-executor` binary under the emulator (`testkit::emulator`): launched by a real
//! agent process launch with the fetcher extracting the fixture bundle into the sandbox, on a
//! simulated Ubuntu 14.04 host: a data node's steps including the kernel reboot (the emulator
//! reboots the host after the executor asked, the step then completes on the new boot id), an
//! agent restart mid-step and a KILL, three RHEL 7 MDM agents building the MDM cluster through
//! `scli`, and a tampered bundle failing the step that needs it, naming the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mesos::scheduler::CallKind;
use mesos::{
    CommandInfo, Environment, ExecutorID, ExecutorInfo, Filters, Offer, Operation, Resource,
    TaskID, TaskInfo, TaskState, Uri, Variable,
};
use scaleio::step::{
    Check, ComponentSettings, ConfigureSdc, InstallDvdcli, InstallIsolator, InstallPackages,
    InstallPrerequisites, InstallRexray, KernelPin, Outcome, PackageInstall, Preflight, Reboot,
    RestartService, ResultEnvelope, RexraySettings, Step, StepEnvelope, SystemSelector, Verify,
    VolumeIsolator,
};
use scaleio::topology::PoolRef;
use scaleio::{ObjectName, SecretRef};
use testkit::emulator::{AgentSpec, Emulator, EmulatorConfig, SimulatedHosts};
use testkit::fixtures::packages::{
    Fixture, Format, ISOLATOR_FILE, command, extracted_bundle, run_checked,
};

use crate::emulator_support::{Sched, fast_config, framework_info, start};
use crate::executor_support::{PASSWORD, write};

const HOST: &str = "agent-1";

/// The fixture bundle as a `.tar.gz` the fetcher extracts (one top-level directory).
fn bundle_archive(dir: &Path, format: Format, tamper: bool) -> PathBuf {
    let staging = dir.join("staging");
    let top = extracted_bundle(&staging, format).expect("bundle");
    if tamper {
        let victim = top.join("artifacts").join(Fixture::Sds.file_name(format));
        let mut bytes = std::fs::read(&victim).expect("read");
        bytes[0] ^= 0x01;
        std::fs::write(&victim, bytes).expect("tamper");
    }
    let name = top.file_name().expect("name").to_string_lossy().into_owned();
    let archive = dir.join(format!("{name}.tar.gz"));
    let mut tar = command("tar");
    tar.arg("-czf").arg(&archive).arg("-C").arg(&staging).arg(&name);
    run_checked(tar, Duration::from_secs(60)).expect("tar");
    archive
}

fn executor_info(archive: &Path, host: &str) -> ExecutorInfo {
    let binary =
        testkit::bins::workspace_binary("scaleio-executor").expect("scaleio-executor is built");
    let mut e = ExecutorInfo::new(ExecutorID::new(format!("executor-scaleio-{host}")));
    e.command = Some(CommandInfo {
        uris: vec![Uri::new(archive.display().to_string())],
        environment: Some(Environment {
            variables: vec![Variable::new("SCALEIO_ADMIN_PASSWORD", PASSWORD)],
        }),
        shell: Some(false),
        value: Some(binary.display().to_string()),
        arguments: vec!["scaleio-executor".into()],
        ..CommandInfo::default()
    });
    e.resources = vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 64.0)];
    e
}

struct Cluster {
    emulator: Emulator,
    sched: Sched,
    archive: PathBuf,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

/// One Ubuntu agent running the Mesos the bundle's dvdi module is built for.
async fn cluster(tamper: bool) -> Cluster {
    cluster_of(&[(HOST, "os:ubuntu14", Some("1.0.1"))], Format::Deb, tamper).await
}

/// Agents `(hostname, attributes, Mesos version)` with simulated hosts (the emulator's own Mesos
/// version when `None`), the fixture bundle of `format`, and a checkpointing framework; `root` is
/// the first agent's host root.
async fn cluster_of(
    agents: &[(&str, &str, Option<&str>)],
    format: Format,
    tamper: bool,
) -> Cluster {
    let dir = tempfile::tempdir().expect("tmp");
    let archive = bundle_archive(dir.path(), format, tamper);
    let mut config: EmulatorConfig = fast_config(0);
    config.agents = agents
        .iter()
        .map(|(h, a, version)| {
            let mut spec = AgentSpec::new(*h).with_attributes(a).expect("attributes");
            spec.mesos_version = version.map(str::to_owned);
            spec
        })
        .collect();
    config.hosts = Some(SimulatedHosts {
        bin_dir: testkit::bins::target_profile_dir().expect("target dir"),
        standin_state: None,
    });
    config.reboot_delay = Duration::from_millis(200);
    let emulator = start(config).await;
    let root = testkit::emulator::simhost::root_of(emulator.work_dir(), agents[0].0);
    let mut info = framework_info("scaleio-test");
    info.checkpoint = Some(true);
    let sched = Sched::subscribe(&emulator.master_url(), info).await;
    Cluster { emulator, sched, archive, root, _dir: dir }
}

impl Cluster {
    /// Runs one step as a task on the agent's executor; its terminal update (acknowledged).
    async fn run(&mut self, id: &str, step: Step) -> mesos::TaskStatus {
        self.run_on(HOST, id, step).await
    }

    /// Runs one step on `host`'s executor; its terminal update (acknowledged).
    async fn run_on(&mut self, host: &str, id: &str, step: Step) -> mesos::TaskStatus {
        self.launch_on(host, id, step).await;
        loop {
            let s = self.sched.update_for(id).await;
            if let Some(ack) = CallKind::acknowledge(&s) {
                assert_eq!(self.sched.call(ack).await.0, 202);
            }
            if s.state.is_terminal() {
                return s;
            }
        }
    }

    async fn launch(&mut self, id: &str, step: Step) {
        self.launch_on(HOST, id, step).await;
    }

    /// Launches one step as a task on `host`'s executor (other agents' offers stay outstanding).
    async fn launch_on(&mut self, host: &str, id: &str, step: Step) {
        let mut pool = std::mem::take(&mut self.sched.stash);
        let offer: Offer = loop {
            if let Some(i) = pool.iter().position(|o| o.hostname == host) {
                break pool.remove(i);
            }
            let more = self
                .sched
                .wait_for("OFFERS", |e| match e {
                    mesos::scheduler::Event::Offers(o) => Some(o.offers.clone()),
                    _ => None,
                })
                .await;
            pool.extend(more);
        };
        self.sched.stash.extend(pool);
        let mut t = TaskInfo::new(
            id,
            TaskID::new(id),
            offer.agent_id.clone(),
            vec![Resource::scalar("cpus", 0.01), Resource::scalar("mem", 16.0)],
        );
        t.executor = Some(executor_info(&self.archive, host));
        t.data = Some(mesos::Bytes(StepEnvelope::new(step).to_json()));
        let (code, body) = self
            .sched
            .call(CallKind::accept(
                vec![offer.id.clone()],
                vec![Operation::launch(vec![t])],
                Some(Filters::refuse(0.0)),
            ))
            .await;
        assert_eq!(code, 202, "{body}");
    }
    async fn finished(&mut self, id: &str, step: Step) -> ResultEnvelope {
        let s = self.run(id, step).await;
        assert_eq!(s.state, TaskState::Finished, "{id}: {:?}", s.message);
        ResultEnvelope::from_json(&s.data.expect("data").0).expect("result")
    }
}

fn n(s: &str) -> ObjectName {
    ObjectName::new(s).expect("name")
}

fn deb(f: Fixture, settings: ComponentSettings) -> PackageInstall {
    PackageInstall {
        settings,
        artifact: f.file_name(Format::Deb),
        version: f.wanted_version().into(),
    }
}

#[tokio::test]
async fn a_data_node_is_provisioned_through_a_reboot() {
    let mut c = cluster(false).await;
    let mdm_ips = vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()];
    let pre = c.finished("preflight", Step::Preflight(Preflight::default())).await;
    let Outcome::Preflight(facts) = pre.result.outcome else { panic!("preflight") };
    assert_eq!((facts.hostname.as_str(), facts.kernel.as_str()), (HOST, "3.13.0-24-generic"));
    let prereqs = c
        .finished(
            "prereqs",
            Step::InstallPrerequisites(InstallPrerequisites {
                packages: vec!["libaio1".into(), "zip".into()],
                kernel: Some(KernelPin {
                    package: "linux-image-4.4.0-38-generic".into(),
                    release: "4.4.0-38-generic".into(),
                }),
            }),
        )
        .await;
    assert!(matches!(
        prereqs.result.outcome,
        Outcome::InstallPrerequisites { reboot_required: true, .. }
    ));

    // The reboot: reported with the old boot id; the emulator reboots the host once asked.
    let r = c.finished("reboot-1", Step::Reboot(Reboot::default())).await;
    let Outcome::Reboot { boot_id, rebooting: true } = r.result.outcome else { panic!("reboot") };
    let reboot_file = c.root.join("run/standin/reboot-requested");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = std::fs::read_to_string(c.root.join("proc/sys/kernel/random/boot_id"))
            .unwrap_or_default();
        if now.trim() != boot_id && !reboot_file.exists() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the host did not reboot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = c
        .finished("reboot-2", Step::Reboot(Reboot { previous_boot_id: Some(boot_id.clone()) }))
        .await;
    let Outcome::Reboot { boot_id: new_id, rebooting: false } = r.result.outcome else {
        panic!("rebooted")
    };
    assert_ne!(new_id, boot_id);

    let steps = vec![
        (
            "packages",
            Step::InstallPackages(InstallPackages {
                packages: vec![
                    deb(Fixture::Sds, ComponentSettings::Sds),
                    deb(Fixture::Sdc, ComponentSettings::Sdc { mdm_ips: mdm_ips.clone() }),
                ],
            }),
        ),
        ("sdc", Step::ConfigureSdc(ConfigureSdc { mdm_ips: mdm_ips.clone() })),
        (
            "rexray",
            Step::InstallRexray(InstallRexray {
                artifact: Fixture::Rexray.file_name(Format::Deb),
                version: Fixture::Rexray.wanted_version().into(),
                settings: RexraySettings {
                    gateway_endpoint: "https://10.0.0.1/api".into(),
                    insecure: true,
                    username: "admin".into(),
                    password: SecretRef::default(),
                    system: SystemSelector::Name("scaleio".into()),
                    pool: PoolRef { protection_domain: n("pd1"), storage_pool: n("sp1") },
                    thin_or_thick: "ThinProvisioned".into(),
                    log_level: "warn".into(),
                },
            }),
        ),
        (
            "dvdcli",
            Step::InstallDvdcli(InstallDvdcli {
                artifact: Fixture::Dvdcli.file_name(Format::Deb),
                version: Fixture::Dvdcli.wanted_version().into(),
            }),
        ),
        (
            "isolator",
            Step::InstallIsolator(InstallIsolator {
                artifact: ISOLATOR_FILE.into(),
                version: "0.4.6".into(),
                mesos_version: "1.0.1".into(),
                restart: RestartService { service: "mesos-slave".into(), wait_seconds: 10 },
                volume_isolator: VolumeIsolator::Dvdi,
            }),
        ),
        (
            "verify",
            Step::Verify(Verify {
                checks: vec![
                    Check::Kernel { release: "4.4.0-38-generic".into() },
                    Check::SdcMdms { mdm_ips },
                    Check::ServiceActive { service: "rexray".into() },
                ],
            }),
        ),
    ];
    for (id, step) in steps {
        let r = c.finished(id, step).await;
        if let Outcome::Verify { checks } = &r.result.outcome {
            assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        }
    }
    let config = c.root.join("etc/rexray/config.yml");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(config).expect("config").permissions().mode() & 0o777, 0o600);
    c.emulator.shutdown().await;
}

#[tokio::test]
async fn a_tampered_bundle_fails_the_step_with_the_file_named() {
    let mut c = cluster(true).await;
    let s = c
        .run(
            "packages",
            Step::InstallPackages(InstallPackages {
                packages: vec![deb(Fixture::Sds, ComponentSettings::Sds)],
            }),
        )
        .await;
    assert_eq!(s.state, TaskState::Failed);
    let message = s.message.expect("message");
    assert!(
        message.contains(&format!(
            "artifacts/{}: expected sha256",
            Fixture::Sds.file_name(Format::Deb)
        )),
        "{message}"
    );
    assert!(message.contains("hint: "), "{message}");
    assert!(!c.root.join("opt/emc/scaleio/sds").exists());
    c.emulator.shutdown().await;
}

/// Replaces the emulator's `apt-get` with one that records its pid and waits for `release`.
fn slow_apt_get(c: &Cluster, release: &Path) {
    let tools = c.emulator.work_dir().join("host-tools");
    let real = c.emulator.work_dir().join("real-apt-get");
    std::fs::create_dir_all(&real).expect("dir");
    std::os::unix::fs::symlink(
        std::fs::read_link(tools.join("apt-get")).expect("link"),
        real.join("apt-get"),
    )
    .expect("link");
    std::fs::remove_file(tools.join("apt-get")).expect("unlink");
    let script = format!(
        "#!/bin/sh\necho $$ > \"$SCALEIO_HOST_ROOT/apt-get.pid\"\nwhile [ ! -e {} ]; do sleep 0.05; done\nexec {} \"$@\"\n",
        release.display(),
        real.join("apt-get").display()
    );
    write(&tools, "apt-get", &script);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(tools.join("apt-get"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

async fn pid_of_apt_get(root: &Path) -> String {
    let pid_file = root.join("apt-get.pid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !pid_file.exists() {
        assert!(tokio::time::Instant::now() < deadline, "apt-get did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
    std::fs::remove_file(&pid_file).expect("rm pid");
    pid
}

#[tokio::test]
async fn an_agent_restart_mid_step_and_a_kill_under_the_emulator() {
    let mut c = cluster(false).await;
    let release = c.emulator.work_dir().join("release-apt-get");
    slow_apt_get(&c, &release);
    let prereqs = |p: &str| {
        Step::InstallPrerequisites(InstallPrerequisites { packages: vec![p.into()], kernel: None })
    };

    // The agent restarts while apt-get runs; the step's result still reaches the scheduler.
    c.launch("zip", prereqs("zip")).await;
    let running = c.sched.await_state("zip", TaskState::Running).await;
    assert_eq!(running.message.as_deref(), Some("install_prerequisites: running"));
    pid_of_apt_get(&c.root).await;
    c.emulator.restart_agent(HOST).expect("restart");
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&release, "").expect("release apt-get");
    let done = c.sched.await_state("zip", TaskState::Finished).await;
    let result = ResultEnvelope::from_json(&done.data.expect("data").0).expect("result");
    assert!(result.result.changed);

    // KILL while apt-get hangs: TASK_KILLED and the command is gone.
    std::fs::remove_file(&release).expect("hold apt-get again");
    c.launch("libaio", prereqs("libaio1")).await;
    c.sched.await_state("libaio", TaskState::Running).await;
    let pid = pid_of_apt_get(&c.root).await;
    assert!(alive(&pid));
    let kill = mesos::scheduler::Kill {
        task_id: TaskID::new("libaio"),
        agent_id: None,
        kill_policy: None,
    };
    assert_eq!(c.sched.call(CallKind::Kill(kill)).await.0, 202);
    let killed = c.sched.await_state("libaio", TaskState::Killed).await;
    assert!(killed.message.is_some_and(|m| m.contains("killed while running")));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while alive(&pid) {
        assert!(tokio::time::Instant::now() < deadline, "apt-get {pid} survived the KILL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.emulator.shutdown().await;
}

fn rpm(f: Fixture, settings: ComponentSettings) -> PackageInstall {
    PackageInstall {
        settings,
        artifact: f.file_name(Format::Rpm),
        version: f.wanted_version().into(),
    }
}

#[tokio::test]
async fn three_mdm_agents_build_the_cluster_through_their_executors() {
    let hosts = ["mdm-1", "mdm-2", "mdm-3"];
    let agents: Vec<(&str, &str, Option<&str>)> =
        hosts.iter().map(|h| (*h, "os:rhel7", None)).collect();
    let mut c = cluster_of(&agents, Format::Rpm, false).await;
    // The agents' IPs as the cluster model knows them (the emulator registers each host).
    let model =
        testkit::standins::model::Model::load(&c.emulator.work_dir().join("scaleio-model.json"))
            .expect("model");
    let ip = |h: &str| {
        model
            .ip_of_root(&testkit::emulator::simhost::root_of(c.emulator.work_dir(), h))
            .expect("registered")
    };
    let ips: Vec<String> = hosts.iter().map(|h| ip(h)).collect();
    let sdc = vec![ips[0].clone(), ips[1].clone()];
    let login = || scaleio::step::MdmLogin {
        mdm_ip: None,
        username: "admin".into(),
        password: SecretRef::default(),
    };
    for (i, h) in hosts.iter().enumerate() {
        let role = if i == 2 {
            scaleio::topology::MdmRole::Tiebreaker
        } else {
            scaleio::topology::MdmRole::Manager
        };
        let r = c
            .run_on(
                h,
                &format!("packages-{h}"),
                Step::InstallPackages(InstallPackages {
                    packages: vec![
                        rpm(Fixture::Mdm, ComponentSettings::Mdm { role }),
                        rpm(Fixture::Sds, ComponentSettings::Sds),
                        rpm(Fixture::Sdc, ComponentSettings::Sdc { mdm_ips: sdc.clone() }),
                    ],
                }),
            )
            .await;
        assert_eq!(r.state, TaskState::Finished, "{h}: {:?}", r.message);
    }
    let steps = vec![
        Step::CreateMdmCluster(scaleio::step::CreateMdmCluster {
            master_ip: ips[0].clone(),
            master_management_ip: ips[0].clone(),
            master_name: n("mdm1"),
            admin_password: SecretRef::default(),
        }),
        Step::AddStandbyMdm(scaleio::step::AddStandbyMdm {
            login: login(),
            ip: ips[1].clone(),
            management_ip: Some(ips[1].clone()),
            name: n("mdm2"),
            role: scaleio::topology::MdmRole::Manager,
        }),
        Step::AddStandbyMdm(scaleio::step::AddStandbyMdm {
            login: login(),
            ip: ips[2].clone(),
            management_ip: None,
            name: n("tb"),
            role: scaleio::topology::MdmRole::Tiebreaker,
        }),
        Step::SwitchClusterMode(scaleio::step::SwitchClusterMode {
            login: login(),
            add_slave_names: vec![n("mdm2")],
            add_tb_names: vec![n("tb")],
        }),
        Step::RenameSystem(scaleio::step::RenameSystem { login: login(), name: n("scaleio") }),
    ];
    let mut last = None;
    for (i, step) in steps.into_iter().enumerate() {
        let s = c.run_on("mdm-1", &format!("cluster-{i}"), step).await;
        assert_eq!(s.state, TaskState::Finished, "cluster step {i}: {:?}", s.message);
        last = Some(ResultEnvelope::from_json(&s.data.expect("data").0).expect("result"));
    }
    let Some(Outcome::RenameSystem(facts)) = last.map(|r| r.result.outcome) else {
        panic!("rename")
    };
    assert_eq!((facts.mode.as_str(), facts.name.as_deref()), ("3_node", Some("scaleio")));
    assert_eq!(facts.slaves.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["mdm2"]);
    assert_eq!(facts.tiebreakers.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["tb"]);
    let verify = c
        .run_on(
            "mdm-2",
            "verify-mdm-2",
            Step::Verify(Verify {
                checks: vec![
                    Check::ClusterMode { login: login() },
                    Check::SdcMdms { mdm_ips: sdc },
                ],
            }),
        )
        .await;
    let Outcome::Verify { checks } =
        ResultEnvelope::from_json(&verify.data.expect("data").0).expect("result").result.outcome
    else {
        panic!("verify")
    };
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    c.emulator.shutdown().await;
}

/// `--volume-isolator auto` on emulated agents picks by the Mesos each host runs: the native
/// isolator (with a persistent `docker_volume_checkpoint_dir`) on the emulator's default Mesos
/// (1.12.0, reported by preflight), the dvdi module on an agent declared to run 0.28.2.
#[tokio::test]
async fn auto_picks_the_isolator_by_each_agents_mesos_version() {
    let agents = [("new", "os:ubuntu14", None), ("old", "os:ubuntu14", Some("0.28.2"))];
    let mut c = cluster_of(&agents, Format::Deb, false).await;
    let isolator = |module_for: &str| {
        Step::InstallIsolator(InstallIsolator {
            artifact: ISOLATOR_FILE.into(),
            version: "0.4.6".into(),
            mesos_version: module_for.into(),
            restart: RestartService { service: "mesos-slave".into(), wait_seconds: 10 },
            volume_isolator: VolumeIsolator::Auto,
        })
    };
    for (host, module_for, want_version, want_module) in
        [("new", "1.0.1", "1.12.0", false), ("old", "0.28.2", "0.28.2", true)]
    {
        let s = c
            .run_on(host, &format!("preflight-{host}"), Step::Preflight(Preflight::default()))
            .await;
        let r = ResultEnvelope::from_json(&s.data.expect("data").0).expect("result");
        let Outcome::Preflight(facts) = r.result.outcome else { panic!("preflight") };
        assert_eq!(facts.mesos_version.as_deref(), Some(want_version), "{host}");

        let s = c.run_on(host, &format!("isolator-{host}"), isolator(module_for)).await;
        assert_eq!(s.state, TaskState::Finished, "{host}: {:?}", s.message);
        let root = testkit::emulator::simhost::root_of(c.emulator.work_dir(), host);
        let isolation =
            std::fs::read_to_string(root.join("etc/mesos-slave/isolation")).expect("isolation");
        assert_eq!(isolation.contains("docker/volume"), !want_module, "{host}: {isolation}");
        assert_eq!(
            isolation.contains(scaleio::render::DVDI_ISOLATOR),
            want_module,
            "{host}: {isolation}"
        );
        assert_eq!(root.join("etc/mesos-slave/modules").exists(), want_module, "{host}");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/mesos-slave/docker_volume_checkpoint_dir")).ok(),
            (!want_module).then(|| "/var/lib/mesos/isolators/docker/volume\n".to_owned()),
            "{host}: a persistent checkpoint dir with docker/volume only"
        );
    }
    c.emulator.shutdown().await;
}
