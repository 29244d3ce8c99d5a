//! The isolator step's two variants on simulated Ubuntu 14.04 and RHEL 7 agents: the native
//! `docker/volume` isolator on Mesos >= 1.0 (no module, `docker/volume` added to the agent's
//! `isolation` keeping the defaults, DVDCLI still installed) and the dvdi module, `auto` choosing
//! by the agent's `mesos-agent --version`, `containerizers` kept, switching between the two
//! leaving exactly the chosen one, and refusals an operator can act on.

use scaleio::render;
use scaleio::step::{
    InstallDvdcli, InstallIsolator, Outcome, RestartService, Step, VolumeIsolator,
};
use testkit::fixtures::packages::{Fixture, ISOLATOR_FILE};
use testkit::standins::host::MESOS_VERSION_FILE;

use crate::executor_support::{Os, Sim, write};

fn isolator(choice: VolumeIsolator) -> Step {
    Step::InstallIsolator(InstallIsolator {
        artifact: ISOLATOR_FILE.into(),
        version: "0.4.6".into(),
        mesos_version: "1.0.1".into(),
        restart: RestartService { service: "mesos-slave".into(), wait_seconds: 5 },
        volume_isolator: choice,
    })
}

/// A host `h1` whose agent reports `mesos` (None: no Mesos binary answers).
fn host(os: Os, mesos: Option<&str>) -> Sim {
    let sim = Sim::new(os);
    let root = sim.add_host("h1", "10.0.0.1");
    if let Some(v) = mesos {
        write(&root, MESOS_VERSION_FILE, &format!("{v}\n"));
    }
    sim
}

fn read(sim: &Sim, path: &str) -> Option<String> {
    std::fs::read_to_string(sim.root("h1").join(path.trim_start_matches('/'))).ok()
}

async fn docker_volume(os: Os, snapshot: expect_test::ExpectFile) {
    let sim = host(os, Some("1.0.1"));
    write(&sim.root("h1"), "etc/mesos-slave/containerizers", "mesos\n");
    let dvdcli = Step::InstallDvdcli(InstallDvdcli {
        artifact: Fixture::Dvdcli.file_name(os.format()),
        version: Fixture::Dvdcli.wanted_version().into(),
    });
    let mut text = String::new();
    for step in [dvdcli.clone(), isolator(VolumeIsolator::Auto)] {
        let kind = step.kind();
        let (r, transcript) = sim.step("h1", step).await;
        let r = r.unwrap_or_else(|f| panic!("{kind}: {}\n{transcript}", f.message));
        text.push_str(&format!("== {kind} (changed: {})\n{transcript}", r.changed));
        if let Outcome::InstallIsolator { module_file, agent_restarted } = &r.outcome {
            assert_eq!(module_file, "", "no module with docker/volume");
            assert!(agent_restarted, "the new isolation flag needs an agent restart");
        }
    }
    snapshot.assert_eq(&text);

    assert!(sim.root("h1").join("usr/bin/dvdcli").is_file(), "docker/volume calls dvdcli");
    assert_eq!(
        read(&sim, render::AGENT_ISOLATION_FLAG).as_deref(),
        Some("posix/cpu,posix/mem,filesystem/linux,docker/volume\n"),
        "the defaults are kept"
    );
    assert_eq!(read(&sim, render::AGENT_MODULES_FLAG), None, "no module is loaded");
    assert_eq!(read(&sim, render::DVDI_MODULES_JSON), None);
    assert!(!sim.root("h1").join("usr/lib").join(ISOLATOR_FILE).exists(), "no .so installed");
    assert_eq!(read(&sim, render::AGENT_CONTAINERIZERS_FLAG).as_deref(), Some("mesos\n"));

    // Again: nothing to do, the agent keeps running.
    let (r, transcript) = sim.step("h1", isolator(VolumeIsolator::Auto)).await;
    let r = r.expect("second run");
    assert!(!r.changed, "{transcript}");
    let commands: Vec<&str> = transcript.lines().filter(|l| l.starts_with("$ ")).collect();
    assert_eq!(commands, ["$ mesos-agent --version"], "only the probe runs:\n{transcript}");
}

#[tokio::test]
async fn ubuntu14_docker_volume_on_mesos_1_0() {
    docker_volume(
        Os::Ubuntu14,
        expect_test::expect_file!["executor_snapshots/isolator_docker_volume_ubuntu14.txt"],
    )
    .await;
}

#[tokio::test]
async fn rhel7_docker_volume_on_mesos_1_0() {
    docker_volume(
        Os::Rhel7,
        expect_test::expect_file!["executor_snapshots/isolator_docker_volume_rhel7.txt"],
    )
    .await;
}

#[tokio::test]
async fn dvdi_variant_installs_the_module_and_keeps_containerizers() {
    let sim = host(Os::Rhel7, Some("1.0.1"));
    write(&sim.root("h1"), "etc/mesos-slave/isolation", "cgroups/cpu,cgroups/mem\n");
    write(&sim.root("h1"), "etc/mesos-slave/containerizers", "docker\n");
    let (r, transcript) = sim.step("h1", isolator(VolumeIsolator::Dvdi)).await;
    let r = r.unwrap_or_else(|f| panic!("{}\n{transcript}", f.message));
    expect_test::expect_file!["executor_snapshots/isolator_dvdi_rhel7.txt"].assert_eq(&transcript);
    let Outcome::InstallIsolator { module_file, agent_restarted } = r.outcome else {
        panic!("outcome")
    };
    assert_eq!(module_file, format!("/usr/lib/{ISOLATOR_FILE}"));
    assert!(agent_restarted);
    assert_eq!(
        read(&sim, render::AGENT_ISOLATION_FLAG).as_deref(),
        Some("cgroups/cpu,cgroups/mem,com_emccode_mesos_DockerVolumeDriverIsolator\n")
    );
    // No Docker on this host: `docker` stays because the operator put it there; `mesos` is added.
    assert_eq!(read(&sim, render::AGENT_CONTAINERIZERS_FLAG).as_deref(), Some("docker,mesos\n"));
    let (r, transcript) = sim.step("h1", isolator(VolumeIsolator::Dvdi)).await;
    assert!(!r.expect("again").changed, "{transcript}");
}

#[tokio::test]
async fn auto_uses_the_module_where_mesos_is_older_or_unknown() {
    for mesos in [Some("0.28.2"), None] {
        let sim = host(Os::Ubuntu14, mesos);
        if mesos.is_some() {
            // Make the module's Mesos match, so only the choice is under test.
            let step = Step::InstallIsolator(InstallIsolator {
                mesos_version: "0.28.2".into(),
                ..match isolator(VolumeIsolator::Auto) {
                    Step::InstallIsolator(s) => s,
                    _ => unreachable!(),
                }
            });
            let (r, t) = sim.step("h1", step).await;
            r.unwrap_or_else(|f| panic!("{}\n{t}", f.message));
        } else {
            let (r, t) = sim.step("h1", isolator(VolumeIsolator::Auto)).await;
            r.unwrap_or_else(|f| panic!("{}\n{t}", f.message));
        }
        assert!(
            read(&sim, render::AGENT_ISOLATION_FLAG)
                .is_some_and(|i| i.contains(render::DVDI_ISOLATOR) && !i.contains("docker/volume")),
            "{mesos:?}"
        );
        assert!(read(&sim, render::AGENT_MODULES_FLAG).is_some(), "{mesos:?}");
    }
}

#[tokio::test]
async fn refusals_name_the_versions_and_the_flag_to_change() {
    let sim = host(Os::Ubuntu14, Some("0.28.2"));
    let (r, _) = sim.step("h1", isolator(VolumeIsolator::DockerVolume)).await;
    let f = r.expect_err("docker/volume needs Mesos 1.0");
    assert!(
        f.message.starts_with("the native docker/volume isolator needs Mesos 1.0 or newer but this agent runs Mesos 0.28.2\nhint: start the scheduler with --volume-isolator dvdi"),
        "{}",
        f.message
    );
    assert_eq!(read(&sim, render::AGENT_ISOLATION_FLAG), None, "nothing written");

    let sim = host(Os::Ubuntu14, Some("1.12.0"));
    let (r, _) = sim.step("h1", isolator(VolumeIsolator::Dvdi)).await;
    let f = r.expect_err("a 1.0.1 module on 1.12");
    assert!(
        f.message.contains("built for Mesos 1.0.1 but this agent runs Mesos 1.12.0"),
        "{}",
        f.message
    );
    assert!(f.message.contains("--volume-isolator docker-volume or auto"), "{}", f.message);
    assert_eq!(read(&sim, render::AGENT_MODULES_FLAG), None, "nothing written");
}

/// dvdi → docker/volume → dvdi on one agent: each switch leaves exactly the chosen isolator
/// (the flag files a person would read), restarts the agent once, and is idempotent.
async fn switching(os: Os, snapshot: expect_test::ExpectFile) {
    let sim = host(os, Some("1.0.1"));
    let so = format!("usr/lib/{ISOLATOR_FILE}");
    let (r, t) = sim.step("h1", isolator(VolumeIsolator::Dvdi)).await;
    r.unwrap_or_else(|f| panic!("dvdi: {}\n{t}", f.message));
    assert!(sim.root("h1").join(&so).is_file());

    let mut text = String::new();
    let expect_after = [
        (VolumeIsolator::DockerVolume, "posix/cpu,posix/mem,filesystem/linux,docker/volume\n"),
        (
            VolumeIsolator::Dvdi,
            "posix/cpu,posix/mem,filesystem/linux,com_emccode_mesos_DockerVolumeDriverIsolator\n",
        ),
    ];
    for (choice, isolation) in expect_after {
        let (r, t) = sim.step("h1", isolator(choice)).await;
        let r = r.unwrap_or_else(|f| panic!("{choice:?}: {}\n{t}", f.message));
        text.push_str(&format!("== to {} (changed: {})\n{t}", choice.flag_value(), r.changed));
        let Outcome::InstallIsolator { agent_restarted, .. } = r.outcome else { panic!("outcome") };
        assert!(agent_restarted, "{choice:?}: the agent must restart to switch\n{t}");
        assert_eq!(read(&sim, render::AGENT_ISOLATION_FLAG).as_deref(), Some(isolation));
        let dvdi = choice == VolumeIsolator::Dvdi;
        assert_eq!(read(&sim, render::AGENT_MODULES_FLAG).is_some(), dvdi, "{choice:?}");
        assert_eq!(read(&sim, render::DVDI_MODULES_JSON).is_some(), dvdi, "{choice:?}");
        assert_eq!(sim.root("h1").join(&so).is_file(), dvdi, "{choice:?}: the .so");
        let (r, again) = sim.step("h1", isolator(choice)).await;
        assert!(!r.expect("again").changed, "{choice:?} again:\n{again}");
    }
    snapshot.assert_eq(&text);
}

#[tokio::test]
async fn ubuntu14_switching_between_isolators_leaves_only_the_chosen_one() {
    switching(
        Os::Ubuntu14,
        expect_test::expect_file!["executor_snapshots/isolator_switch_ubuntu14.txt"],
    )
    .await;
}

#[tokio::test]
async fn rhel7_switching_between_isolators_leaves_only_the_chosen_one() {
    switching(Os::Rhel7, expect_test::expect_file!["executor_snapshots/isolator_switch_rhel7.txt"])
        .await;
}

/// A `modules` flag naming the operator's own file is not ours to remove: switching to
/// docker/volume drops dvdi from `isolation` and says why the rest stays.
#[tokio::test]
async fn switching_keeps_an_operators_modules_file() {
    let sim = host(Os::Ubuntu14, Some("1.0.1"));
    write(
        &sim.root("h1"),
        "etc/mesos-slave/isolation",
        &format!("posix/cpu,posix/mem,{}\n", render::DVDI_ISOLATOR),
    );
    write(&sim.root("h1"), "etc/mesos-slave/modules", "file:///etc/mesos/all-modules.json\n");
    write(&sim.root("h1"), "usr/lib/dvdi-mod.json", "{}\n");
    let (r, t) = sim.step("h1", isolator(VolumeIsolator::DockerVolume)).await;
    assert!(r.expect("switch").changed, "{t}");
    assert_eq!(
        read(&sim, render::AGENT_ISOLATION_FLAG).as_deref(),
        Some("posix/cpu,posix/mem,filesystem/linux,docker/volume\n")
    );
    assert_eq!(
        read(&sim, render::AGENT_MODULES_FLAG).as_deref(),
        Some("file:///etc/mesos/all-modules.json\n")
    );
    assert!(read(&sim, render::DVDI_MODULES_JSON).is_some(), "kept with the operator's flag");
    assert!(
        t.contains("names file:///etc/mesos/all-modules.json, not the dvdi module's JSON: kept"),
        "{t}"
    );
}
