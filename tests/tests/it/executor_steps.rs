//! Every step of the vocabulary on simulated Ubuntu 14.04 and RHEL 7 hosts (three MDMs and a data
//! node), against the `scli`/host-tool stand-ins and the real `dpkg`/`rpm`: the command
//! transcript of each persona's steps as a snapshot (reviewed against scaleio-provisioning.md),
//! then the same plan again changing nothing, and failures an operator can act on.

use scaleio::render;
use scaleio::step::{
    AddDevice, AddProtectionDomain, AddSds, AddStandbyMdm, AddStoragePool, Check, ClusterAccess,
    ComponentSettings, ConfigureGateway, ConfigureLia, ConfigureSdc, CreateMdmCluster,
    DeviceAssignment, InstallDvdcli, InstallIsolator, InstallPackages, InstallPrerequisites,
    InstallRexray, KernelPin, MdmLogin, Outcome, PackageInstall, Preflight, Reboot, RenameSystem,
    RestartService, RexraySettings, Step, SwitchClusterMode, SystemSelector, Verify,
    VolumeIsolator,
};
use scaleio::topology::{MdmRole, PoolRef};
use scaleio::{DevicePath, ObjectName, SecretRef};
use testkit::fixtures::packages::{Fixture, ISOLATOR_FILE};
use testkit::standins::host::complete_reboot;

use crate::executor_support::{Os, PASSWORD, Sim};

fn n(s: &str) -> ObjectName {
    ObjectName::new(s).expect("name")
}

fn login() -> MdmLogin {
    MdmLogin { mdm_ip: None, username: "admin".into(), password: SecretRef::default() }
}

fn scli_access() -> ClusterAccess {
    ClusterAccess::Scli { login: login() }
}

const IPS: [(&str, &str); 4] =
    [("h1", "10.0.0.1"), ("h2", "10.0.0.2"), ("h3", "10.0.0.3"), ("h4", "10.0.0.4")];

fn package(os: Os, f: Fixture, settings: ComponentSettings) -> PackageInstall {
    PackageInstall {
        settings,
        artifact: f.file_name(os.format()),
        version: f.wanted_version().into(),
    }
}

fn service(name: &str) -> RestartService {
    RestartService { service: name.into(), wait_seconds: 5 }
}

/// The plan a scheduler would send, host by host, in order.
fn plan(os: Os) -> Vec<(&'static str, Step)> {
    let mdm_ips = vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()];
    let prereqs = match os {
        Os::Ubuntu14 => InstallPrerequisites {
            packages: vec!["libaio1".into(), "zip".into()],
            kernel: Some(KernelPin {
                package: "linux-image-4.4.0-38-generic".into(),
                release: "4.4.0-38-generic".into(),
            }),
        },
        Os::Rhel7 => InstallPrerequisites {
            packages: vec![
                "libaio".into(),
                "zip".into(),
                "unzip".into(),
                "java-1.8.0-openjdk".into(),
            ],
            kernel: None,
        },
    };
    let mdm_packages = |role: MdmRole| InstallPackages {
        packages: vec![
            package(os, Fixture::Mdm, ComponentSettings::Mdm { role }),
            package(os, Fixture::Sds, ComponentSettings::Sds),
            package(os, Fixture::Sdc, ComponentSettings::Sdc { mdm_ips: mdm_ips.clone() }),
            package(os, Fixture::Lia, ComponentSettings::Lia { token: SecretRef::default() }),
            package(
                os,
                Fixture::Gateway,
                ComponentSettings::Gateway { admin_password: SecretRef::default() },
            ),
        ],
    };
    let data_packages = InstallPackages {
        packages: vec![
            package(os, Fixture::Sds, ComponentSettings::Sds),
            package(os, Fixture::Sdc, ComponentSettings::Sdc { mdm_ips: mdm_ips.clone() }),
        ],
    };
    let mut steps: Vec<(&'static str, Step)> = Vec::new();
    for (h, _) in IPS {
        steps.push((
            h,
            Step::Preflight(Preflight {
                device_rules: Default::default(),
                packages: vec![Fixture::Sds.package_name(os.format())],
            }),
        ));
        steps.push((h, Step::InstallPrerequisites(prereqs.clone())));
    }
    steps.push(("h1", Step::InstallPackages(mdm_packages(MdmRole::Manager))));
    steps.push(("h2", Step::InstallPackages(mdm_packages(MdmRole::Manager))));
    steps.push(("h3", Step::InstallPackages(mdm_packages(MdmRole::Tiebreaker))));
    steps.push(("h4", Step::InstallPackages(data_packages)));
    steps.push((
        "h1",
        Step::CreateMdmCluster(CreateMdmCluster {
            master_ip: "10.0.0.1".into(),
            master_management_ip: "10.0.0.1".into(),
            master_name: n("mdm1"),
            admin_password: SecretRef::default(),
        }),
    ));
    steps.push((
        "h1",
        Step::AddStandbyMdm(AddStandbyMdm {
            login: login(),
            ip: "10.0.0.2".into(),
            management_ip: Some("10.0.0.2".into()),
            name: n("mdm2"),
            role: MdmRole::Manager,
        }),
    ));
    steps.push((
        "h1",
        Step::AddStandbyMdm(AddStandbyMdm {
            login: login(),
            ip: "10.0.0.3".into(),
            management_ip: None,
            name: n("tb"),
            role: MdmRole::Tiebreaker,
        }),
    ));
    steps.push((
        "h1",
        Step::SwitchClusterMode(SwitchClusterMode {
            login: login(),
            add_slave_names: vec![n("mdm2")],
            add_tb_names: vec![n("tb")],
        }),
    ));
    steps.push(("h1", Step::RenameSystem(RenameSystem { login: login(), name: n("scaleio") })));
    for h in ["h1", "h2", "h3"] {
        steps.push((h, Step::ConfigureLia(ConfigureLia { login: login() })));
        steps.push((
            h,
            Step::ConfigureGateway(ConfigureGateway {
                mdm_ips: mdm_ips.clone(),
                bypass_certificate_check: true,
                restart: service("scaleio-gateway"),
            }),
        ));
    }
    steps.push((
        "h1",
        Step::AddProtectionDomain(AddProtectionDomain { access: scli_access(), name: n("pd1") }),
    ));
    steps.push((
        "h1",
        Step::AddStoragePool(AddStoragePool {
            access: scli_access(),
            protection_domain: n("pd1"),
            name: n("sp1"),
        }),
    ));
    steps.push((
        "h1",
        Step::AddSds(AddSds {
            access: scli_access(),
            protection_domain: n("pd1"),
            name: n("sds_10.0.0.4"),
            ip: "10.0.0.4".into(),
            devices: vec![DeviceAssignment {
                path: DevicePath::new("/dev/xvdf").expect("path"),
                storage_pool: n("sp1"),
            }],
        }),
    ));
    steps.push(("h4", Step::ConfigureSdc(ConfigureSdc { mdm_ips: mdm_ips.clone() })));
    steps.push((
        "h4",
        Step::InstallRexray(InstallRexray {
            artifact: Fixture::Rexray.file_name(os.format()),
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
    ));
    steps.push((
        "h4",
        Step::InstallDvdcli(InstallDvdcli {
            artifact: Fixture::Dvdcli.file_name(os.format()),
            version: Fixture::Dvdcli.wanted_version().into(),
        }),
    ));
    steps.push((
        "h4",
        Step::InstallIsolator(InstallIsolator {
            artifact: ISOLATOR_FILE.into(),
            version: "0.4.6".into(),
            mesos_version: "1.0.1".into(),
            restart: service("mesos-slave"),
            volume_isolator: VolumeIsolator::Dvdi,
        }),
    ));
    steps.push((
        "h4",
        Step::Verify(Verify {
            checks: vec![
                Check::Package {
                    name: Fixture::Sdc.package_name(os.format()),
                    version: "2.0-10000.2072".into(),
                },
                Check::ServiceActive { service: "rexray".into() },
                Check::SdcMdms { mdm_ips },
                Check::RexrayVolumes,
            ],
        }),
    ));
    steps
        .push(("h1", Step::Verify(Verify { checks: vec![Check::ClusterMode { login: login() }] })));
    steps
}

async fn whole_plan(os: Os, snapshot: expect_test::ExpectFile) {
    let sim = Sim::new(os);
    for (h, ip) in IPS {
        sim.add_host(h, ip);
    }
    let mut text = String::new();
    for (host, step) in plan(os) {
        let kind = step.kind();
        let (r, transcript) = sim.step(host, step).await;
        let r = r.unwrap_or_else(|f| panic!("{host} {kind}: {}\n{transcript}", f.message));
        if let Outcome::Verify { checks } = &r.outcome {
            for c in checks {
                assert!(c.ok, "{host}: {:?} found {}", c.check, c.found);
            }
        }
        text.push_str(&format!("== {host} {kind} (changed: {})\n{transcript}", r.changed));
    }
    snapshot.assert_eq(&text);

    // The files a person would look at.
    let h4 = sim.root("h4");
    let config = std::fs::read_to_string(h4.join("etc/rexray/config.yml")).expect("config");
    assert!(config.contains(&format!("password: \"{PASSWORD}\"")), "the config holds the password");
    use std::os::unix::fs::PermissionsExt as _;
    let mode =
        std::fs::metadata(h4.join("etc/rexray/config.yml")).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the REX-Ray config holds the password: 0600");
    assert_eq!(
        std::fs::read_to_string(h4.join("etc/mesos-slave/isolation")).expect("isolation"),
        format!("posix/cpu,posix/mem,{}\n", render::DVDI_ISOLATOR)
    );
    let props = std::fs::read_to_string(
        sim.root("h1").join(render::GATEWAY_USER_PROPERTIES.trim_start_matches('/')),
    )
    .expect("properties");
    assert!(props.contains("mdm.ip.addresses=10.0.0.1,10.0.0.2\n"), "{props}");
    assert!(props.contains("security.bypass_certificate_check=true\n"), "{props}");

    // The same plan again: every probe finds the work done.
    for (host, step) in plan(os) {
        let kind = step.kind();
        let (r, transcript) = sim.step(host, step).await;
        let r = r.unwrap_or_else(|f| panic!("again {host} {kind}: {}\n{transcript}", f.message));
        let ok_unchanged = !r.changed || (os == Os::Rhel7 && kind == "install_prerequisites");
        assert!(ok_unchanged, "re-running {kind} on {host} changed something:\n{transcript}");
        let commands: String = transcript.lines().filter(|l| l.starts_with("$ ")).collect();
        for forbidden in [
            " -i ",
            "-Uvh",
            "--create_mdm_cluster",
            "--add_standby_mdm",
            "--add_sds --sds_ip",
            "restart",
        ] {
            assert!(
                !commands.contains(forbidden),
                "re-running {kind} on {host} ran {forbidden}:\n{transcript}"
            );
        }
    }
}

#[tokio::test]
async fn ubuntu14_every_step_then_again_idempotently() {
    whole_plan(Os::Ubuntu14, expect_test::expect_file!["executor_snapshots/ubuntu14.txt"]).await;
}

#[tokio::test]
async fn rhel7_every_step_then_again_idempotently() {
    whole_plan(Os::Rhel7, expect_test::expect_file!["executor_snapshots/rhel7.txt"]).await;
}

#[tokio::test]
async fn kernel_pin_reboot_and_boot_id() {
    let sim = Sim::new(Os::Ubuntu14);
    let root = sim.add_host("h1", "10.0.0.1");
    let prereqs = Step::InstallPrerequisites(InstallPrerequisites {
        packages: vec!["libaio1".into()],
        kernel: Some(KernelPin {
            package: "linux-image-4.4.0-38-generic".into(),
            release: "4.4.0-38-generic".into(),
        }),
    });
    let (r, _) = sim.step("h1", prereqs.clone()).await;
    let Outcome::InstallPrerequisites { reboot_required, .. } = r.expect("prereqs").outcome else {
        panic!("outcome")
    };
    assert!(reboot_required, "3.13 runs, 4.4.0-38 is pinned");
    let grub = std::fs::read_to_string(root.join("etc/default/grub.d/50-scaleio-kernel.cfg"))
        .expect("grub");
    assert!(grub.contains(
        "GRUB_DEFAULT=\"Advanced options for Ubuntu>Ubuntu, with Linux 4.4.0-38-generic\""
    ));

    let ctx = sim.ctx("h1");
    let done = executor::steps::run(&ctx, &Step::Reboot(Reboot { previous_boot_id: None }))
        .await
        .expect("reboot step");
    let Outcome::Reboot { boot_id: before, rebooting } = done.result.outcome else {
        panic!("outcome")
    };
    assert!(rebooting);
    assert_eq!(done.after_ack, executor::steps::AfterAck::Reboot);
    assert!(
        !testkit::standins::host::reboot_requested(&root),
        "nothing before the acknowledgement"
    );
    executor::steps::reboot_now(&ctx.host).await.expect("shutdown -r now");
    assert!(testkit::standins::host::reboot_requested(&root));
    let after = complete_reboot(&root).expect("reboot");

    let (r, _) =
        sim.step("h1", Step::Reboot(Reboot { previous_boot_id: Some(before.clone()) })).await;
    assert_eq!(r.expect("done").outcome, Outcome::Reboot { boot_id: after, rebooting: false });
    let (r, transcript) = sim.step("h1", prereqs).await;
    let Outcome::InstallPrerequisites { reboot_required, .. } = r.expect("again").outcome else {
        panic!("outcome")
    };
    assert!(!reboot_required, "the pinned kernel runs after the reboot:\n{transcript}");
}

#[tokio::test]
async fn failures_say_what_to_do() {
    let sim = Sim::new(Os::Ubuntu14);
    let root = sim.add_host("h1", "10.0.0.1");
    // An unsupported OS is named.
    crate::executor_support::write(
        &root,
        "etc/os-release",
        "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    );
    let (r, _) = sim.step("h1", Step::Preflight(Preflight::default())).await;
    let f = r.expect_err("debian");
    assert!(
        f.message.starts_with("unsupported operating system `Debian GNU/Linux 12 (bookworm)`"),
        "{}",
        f.message
    );
    crate::executor_support::write(&root, "etc/os-release", "ID=ubuntu\nVERSION_ID=\"14.04\"\n");

    // A package the repository does not have: the command, its exit code, apt's complaint.
    let (r, _) = sim
        .step(
            "h1",
            Step::InstallPrerequisites(InstallPrerequisites {
                packages: vec!["nosuch".into()],
                kernel: None,
            }),
        )
        .await;
    let f = r.expect_err("missing package");
    assert_eq!(f.exit_code, Some(100));
    assert_eq!(
        f.command.as_deref().map(|c| c.join(" ")),
        Some("apt-get -y install nosuch".to_owned())
    );
    assert!(f.message.contains("E: Unable to locate package nosuch"), "{}", f.message);
    assert!(f.message.contains("hint: run `apt-get update`"), "{}", f.message);

    // scli before the MDM package is installed.
    let (r, _) = sim
        .step(
            "h1",
            Step::CreateMdmCluster(CreateMdmCluster {
                master_ip: "10.0.0.1".into(),
                master_management_ip: "10.0.0.1".into(),
                master_name: n("mdm1"),
                admin_password: SecretRef::default(),
            }),
        )
        .await;
    let f = r.expect_err("no MDM");
    assert!(f.output_tail.contains("Failed to connect to MDM 127.0.0.1:6611"), "{f:?}");

    // The Ubuntu gateway needs Java 8+, which nothing installs: refused before dpkg runs.
    crate::executor_support::write(
        &sim.bin,
        "java",
        "#!/bin/sh\necho 'java version \"1.7.0_95\"' >&2\n",
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(sim.bin.join("java"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let (r, transcript) = sim
        .step(
            "h1",
            Step::InstallPackages(InstallPackages {
                packages: vec![package(
                    Os::Ubuntu14,
                    Fixture::Gateway,
                    ComponentSettings::Gateway { admin_password: SecretRef::default() },
                )],
            }),
        )
        .await;
    let f = r.expect_err("java 7");
    assert!(
        f.message.starts_with(
            "the ScaleIO gateway needs Java 8 or newer; `java -version` reports Java 7"
        ),
        "{}",
        f.message
    );
    assert!(!transcript.contains(" -i "), "{transcript}");

    // A missing secret names the variable.
    let mut ctx = sim.ctx("h1");
    ctx.secret_env.clear();
    let step = Step::ConfigureLia(ConfigureLia { login: login() });
    std::fs::create_dir_all(root.join("opt/emc/scaleio/lia")).expect("lia");
    let e = executor::steps::run(&ctx, &step).await.expect_err("no secret");
    assert!(e.message.contains("`SCALEIO_ADMIN_PASSWORD` is not set"), "{}", e.message);

    // A password file is the host's file: read under the simulated host's root, never the
    // machine's own /etc.
    let file_login =
        MdmLogin { password: SecretRef::File("/etc/scaleio/admin-password".into()), ..login() };
    let step = Step::ConfigureLia(ConfigureLia { login: file_login });
    let e = executor::steps::run(&ctx, &step).await.expect_err("no password file yet");
    let expected = root.join("etc/scaleio/admin-password");
    assert!(e.message.contains(&expected.display().to_string()), "{}", e.message);
    std::fs::create_dir_all(root.join("etc/scaleio")).expect("etc/scaleio");
    std::fs::write(&expected, format!("{PASSWORD}\n")).expect("password file");
    // With the file there the step gets as far as logging in (no MDM runs on this host), the
    // password it read shown as `***`.
    let e = executor::steps::run(&ctx, &step).await.expect_err("no MDM to log in to");
    assert!(
        e.message.starts_with("`scli --login --username admin --password ***` failed"),
        "{}",
        e.message
    );
    assert!(!e.message.contains(PASSWORD));
}

#[tokio::test]
async fn cluster_objects_through_the_gateway_stand_in() {
    let sim = Sim::new(Os::Rhel7);
    for (h, ip) in IPS {
        sim.add_host(h, ip);
    }
    // The MDM cluster first, as the plan builds it.
    for (host, step) in plan(Os::Rhel7).into_iter().take_while(|(_, s)| s.kind() != "configure_lia")
    {
        let kind = step.kind();
        let (r, t) = sim.step(host, step).await;
        r.unwrap_or_else(|f| panic!("{host} {kind}: {}\n{t}", f.message));
    }
    let gw = testkit::standins::gateway::GatewayStandin::start(
        &sim.state,
        sim.dir.path(),
        std::time::Duration::from_secs(3600),
    )
    .await
    .expect("gateway stand-in");
    let access = ClusterAccess::Gateway {
        endpoint: gw.endpoint(),
        username: "admin".into(),
        password: SecretRef::default(),
        tls: scaleio::step::GatewayTls::CaFile { path: "/etc/scaleio/gateway-ca.pem".into() },
    };
    // The CA file is the host's file (the executor reads it under the host root), as an operator
    // would put it on the agent.
    let ca = std::fs::read_to_string(gw.ca_file()).expect("gateway CA");
    crate::executor_support::write(&sim.root("h1"), "etc/scaleio/gateway-ca.pem", &ca);
    let steps = vec![
        Step::AddProtectionDomain(AddProtectionDomain { access: access.clone(), name: n("pd1") }),
        Step::AddStoragePool(AddStoragePool {
            access: access.clone(),
            protection_domain: n("pd1"),
            name: n("sp1"),
        }),
        Step::AddSds(AddSds {
            access: access.clone(),
            protection_domain: n("pd1"),
            name: n("sds_10.0.0.4"),
            ip: "10.0.0.4".into(),
            devices: vec![DeviceAssignment {
                path: DevicePath::new("/dev/xvdf").expect("path"),
                storage_pool: n("sp1"),
            }],
        }),
    ];
    for round in ["first", "again"] {
        for step in steps.clone() {
            let kind = step.kind();
            let (r, t) = sim.step("h1", step).await;
            let r = r.unwrap_or_else(|f| panic!("{round} {kind}: {}\n{t}", f.message));
            assert_eq!(r.changed, round == "first", "{round} {kind}: {:?}", r.outcome);
            assert!(
                !t.lines().any(|l| l.starts_with("$ ")),
                "the gateway path runs no command:\n{t}"
            );
        }
    }
    let model = testkit::standins::model::Model::load(&sim.state).expect("model");
    let sys = model.system.expect("system");
    assert_eq!(sys.sds.len(), 1);
    let (r, _) = sim
        .step(
            "h1",
            Step::AddSds(AddSds {
                access,
                protection_domain: n("pd1"),
                name: n("sds_10.0.0.4"),
                ip: "10.0.0.9".into(),
                devices: vec![],
            }),
        )
        .await;
    let f = r.expect_err("same name on another IP is a conflict");
    assert!(f.message.contains("gateway"), "{}", f.message);
}

#[tokio::test]
async fn an_interrupted_cluster_creation_resumes() {
    let sim = Sim::new(Os::Ubuntu14);
    for (h, ip) in IPS {
        sim.add_host(h, ip);
    }
    for (host, step) in
        plan(Os::Ubuntu14).into_iter().take_while(|(_, s)| s.kind() != "create_mdm_cluster")
    {
        let (r, _) = sim.step(host, step).await;
        r.expect("setup step");
    }
    // Created, then the executor died before the first login and password change.
    let create = scaleio::scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1"));
    let out = testkit::standins::scli::run(&create.argv()[1..], &sim.state, &sim.root("h1"));
    assert_eq!(out.exit_code, 0, "{}", out.output);
    let step = Step::CreateMdmCluster(CreateMdmCluster {
        master_ip: "10.0.0.1".into(),
        master_management_ip: "10.0.0.1".into(),
        master_name: n("mdm1"),
        admin_password: SecretRef::default(),
    });
    let (r, transcript) = sim.step("h1", step.clone()).await;
    assert!(r.expect("resumed").changed, "{transcript}");
    expect_test::expect![[r#"
        $ scli --query_cluster
        # the MDM cluster exists; checking the admin password is set
        $ scli --login --username admin --password ***  => exit 7
        $ scli --login --username admin --password ***
        $ scli --set_password --old_password *** --new_password ***
        $ scli --login --username admin --password ***
        $ scli --query_cluster
    "#]]
    .assert_eq(&transcript);
    let (r, transcript) = sim.step("h1", step).await;
    assert!(!r.expect("done").changed, "{transcript}");
}

#[tokio::test]
async fn preflight_reports_each_simulated_hosts_own_address() {
    let sim = Sim::new(Os::Rhel7);
    for (h, ip) in &IPS[..2] {
        sim.add_host(h, ip);
    }
    for (h, ip) in &IPS[..2] {
        let (r, transcript) = sim.step(h, Step::Preflight(Preflight::default())).await;
        let r = r.unwrap_or_else(|f| panic!("{h}: {}\n{transcript}", f.message));
        let Outcome::Preflight(facts) = r.outcome else { panic!("outcome") };
        assert_eq!(facts.ips, [*ip], "{h} reports its own address, not this machine's");
        assert_eq!(facts.hostname, *h);
        assert!(!transcript.contains("hostname -I"), "{transcript}");
    }
}

#[tokio::test]
async fn adding_a_device_again_is_skipped_by_the_query_sds_probe() {
    let os = Os::Ubuntu14;
    let sim = Sim::new(os);
    for (h, ip) in IPS {
        sim.add_host(h, ip);
    }
    // The cluster, pools and the SDS on h4 with /dev/xvdf, as the plan builds them.
    for (host, step) in
        plan(os).into_iter().take_while(|(_, s)| !matches!(s, Step::ConfigureSdc(_)))
    {
        let kind = step.kind();
        let (r, t) = sim.step(host, step).await;
        r.unwrap_or_else(|f| panic!("{host} {kind}: {}\n{t}", f.message));
    }
    std::fs::File::create(sim.root("h4").join("dev/xvdg"))
        .expect("device")
        .set_len(100 << 30)
        .expect("size");
    let add = |path: &str, pool: &str| {
        Step::AddDevice(AddDevice {
            access: scli_access(),
            protection_domain: n("pd1"),
            sds_name: n("sds_10.0.0.4"),
            sds_ip: "10.0.0.4".into(),
            device: DeviceAssignment {
                path: DevicePath::new(path).expect("path"),
                storage_pool: n(pool),
            },
        })
    };
    let (r, first) = sim.step("h1", add("/dev/xvdg", "sp1")).await;
    let r = r.unwrap_or_else(|f| panic!("{}\n{first}", f.message));
    assert!(r.changed, "{first}");
    assert!(first.contains("--query_sds --sds_ip 10.0.0.4"), "{first}");
    assert!(first.contains("--add_sds_device"), "{first}");

    let (r, again) = sim.step("h1", add("/dev/xvdg", "sp1")).await;
    let r = r.unwrap_or_else(|f| panic!("{}\n{again}", f.message));
    assert!(!r.changed, "{again}");
    let Outcome::AddDevice(o) = r.outcome else { panic!("outcome") };
    assert!(o.already_existed && o.id.is_some(), "{o:?}");
    assert!(!again.contains("--add_sds_device"), "the probe skips the add:\n{again}");

    // The same device asked into another pool is a conflict an operator must settle.
    let (r, _) = sim
        .step(
            "h1",
            Step::AddStoragePool(AddStoragePool {
                access: scli_access(),
                protection_domain: n("pd1"),
                name: n("sp2"),
            }),
        )
        .await;
    r.expect("sp2");
    let (r, t) = sim.step("h1", add("/dev/xvdf", "sp2")).await;
    let f = r.expect_err("xvdf is in sp1");
    assert!(
        f.message.starts_with(
            "device /dev/xvdf of the SDS at 10.0.0.4 is in storage pool sp1, not sp2\nhint: "
        ),
        "{}",
        f.message
    );
    assert!(!t.contains("--add_sds_device"), "{t}");
}

/// The SDCs the stand-in MDM knows, as `(ip, guid)`, sorted.
fn connected_sdcs(sim: &Sim) -> Vec<(String, String)> {
    let model = testkit::standins::model::Model::load(&sim.state).expect("model");
    let mut v: Vec<(String, String)> =
        model.system.expect("system").sdcs.iter().map(|c| (c.ip.clone(), c.guid.clone())).collect();
    v.sort();
    v
}

/// Both ways an SDC reaches its MDMs end with it registered: the package installed with
/// `MDM_IP` (the driver reads `drv_cfg.txt` and connects once the cluster exists; the SDC step
/// only checks) and the package installed without it (the SDC step runs `drv_cfg --add_mdm`).
#[tokio::test]
async fn the_sdc_step_leaves_each_sdc_connected_both_ways() {
    for (os, with_mdm_ip) in [(Os::Ubuntu14, true), (Os::Rhel7, false)] {
        let sim = Sim::new(os);
        for (h, ip) in IPS {
            sim.add_host(h, ip);
        }
        let mut steps = plan(os);
        if !with_mdm_ip {
            for (host, step) in &mut steps {
                if let (&mut "h4", Step::InstallPackages(p)) = (host, step) {
                    for pkg in &mut p.packages {
                        if let ComponentSettings::Sdc { mdm_ips } = &mut pkg.settings {
                            mdm_ips.clear();
                        }
                    }
                }
            }
        }
        for (host, step) in steps.iter().take_while(|(_, s)| !matches!(s, Step::ConfigureSdc(_))) {
            let kind = step.kind();
            let (r, t) = sim.step(host, step.clone()).await;
            r.unwrap_or_else(|f| panic!("{host} {kind}: {}\n{t}", f.message));
        }
        let before: Vec<String> = connected_sdcs(&sim).into_iter().map(|(ip, _)| ip).collect();
        let mdms = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
        let mut want: Vec<&str> = mdms.to_vec();
        if with_mdm_ip {
            want.push("10.0.0.4");
        }
        assert_eq!(before, want, "{os:?}: SDCs installed with MDM_IP connect by themselves");

        let sdc = Step::ConfigureSdc(ConfigureSdc {
            mdm_ips: vec!["10.0.0.1".into(), "10.0.0.2".into()],
        });
        let (r, t) = sim.step("h4", sdc).await;
        let r = r.unwrap_or_else(|f| panic!("{os:?} configure_sdc: {}\n{t}", f.message));
        assert_eq!(r.changed, !with_mdm_ip, "{t}");
        assert_eq!(t.contains("--add_mdm"), !with_mdm_ip, "{t}");
        let Outcome::ConfigureSdc { guid, mdm_ips } = r.outcome else { panic!("outcome") };
        assert_eq!(mdm_ips, ["10.0.0.1", "10.0.0.2"]);
        let guid = guid.expect("the step reports the SDC's GUID");
        let now = connected_sdcs(&sim);
        assert!(
            now.contains(&("10.0.0.4".to_owned(), guid.clone())),
            "{os:?}: h4's SDC {guid} is registered: {now:?}"
        );
        assert_eq!(now.len(), 4, "{now:?}");
    }
}
