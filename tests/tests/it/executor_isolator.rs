//! The isolator step's two variants on simulated Ubuntu 14.04 and RHEL 7 agents: the native
//! `docker/volume` isolator on Mesos >= 1.0 (no module, `docker/volume` added to the agent's
//! `isolation` keeping the defaults, a persistent `docker_volume_checkpoint_dir` under the
//! agent's work dir unless the operator set one, DVDCLI still installed) and the dvdi module,
//! `auto` choosing by the agent's `mesos-agent --version`, `containerizers` kept, switching
//! between the two leaving exactly the chosen one, and refusals an operator can act on.

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

/// A host `h1` whose agent reports `mesos` (None: no Mesos binary answers), with the
/// `work_dir` flag file Mesosphere's packages ship.
fn host(os: Os, mesos: Option<&str>) -> Sim {
    let sim = Sim::new(os);
    let root = sim.add_host("h1", "10.0.0.1");
    if let Some(v) = mesos {
        write(&root, MESOS_VERSION_FILE, &format!("{v}\n"));
    }
    write(&root, "etc/mesos-slave/work_dir", "/var/lib/mesos\n");
    sim
}

/// The checkpoint directory the step sets on a host with the packaged work dir.
const CHECKPOINT_DIR: &str = "/var/lib/mesos/isolators/docker/volume";

/// The mode of `path` on `h1`, if it is a directory.
fn dir_mode(sim: &Sim, path: &str) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(sim.root("h1").join(path.trim_start_matches('/'))).ok()?;
    meta.is_dir().then(|| meta.permissions().mode() & 0o7777)
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
    assert_eq!(
        read(&sim, render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG),
        Some(format!("{CHECKPOINT_DIR}\n")),
        "volume checkpoints survive a reboot"
    );
    assert_eq!(dir_mode(&sim, CHECKPOINT_DIR), Some(0o700), "created for the agent (root) only");

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
        assert_eq!(
            read(&sim, render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG),
            (!dvdi).then(|| format!("{CHECKPOINT_DIR}\n")),
            "{choice:?}: our checkpoint dir flag only with docker/volume"
        );
        assert_eq!(dir_mode(&sim, CHECKPOINT_DIR), Some(0o700), "{choice:?}: the directory stays");
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

/// An operator's own `docker_volume_checkpoint_dir` is theirs: kept with docker/volume (their
/// directory is not created, Mesos does that), kept again when switching to dvdi, and a rerun
/// changes nothing. One under `/run` is kept too, with a note saying what it costs.
#[tokio::test]
async fn an_operators_checkpoint_dir_is_kept() {
    for (value, warned) in [("/data/mesos-volumes", false), ("/run/mesos/volumes", true)] {
        let sim = host(Os::Rhel7, Some("1.0.1"));
        write(
            &sim.root("h1"),
            "etc/mesos-slave/isolation",
            "posix/cpu,posix/mem,filesystem/linux,docker/volume\n",
        );
        write(&sim.root("h1"), "etc/mesos-slave/containerizers", "mesos\n");
        write(
            &sim.root("h1"),
            "etc/mesos-slave/docker_volume_checkpoint_dir",
            &format!("{value}\n"),
        );
        let (r, t) = sim.step("h1", isolator(VolumeIsolator::DockerVolume)).await;
        let r = r.unwrap_or_else(|f| panic!("{value}: {}\n{t}", f.message));
        assert!(!r.changed, "{value}: everything was already set\n{t}");
        assert_eq!(
            read(&sim, render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG),
            Some(format!("{value}\n")),
            "{value}"
        );
        assert_eq!(dir_mode(&sim, CHECKPOINT_DIR), None, "{value}: ours is not created\n{t}");
        assert_eq!(dir_mode(&sim, value), None, "{value}: theirs is left to Mesos\n{t}");
        assert!(t.contains(&format!("names {value}")), "{value}: says so\n{t}");
        assert_eq!(
            t.contains("emptied at boot") && t.contains(&format!("e.g. {CHECKPOINT_DIR}")),
            warned,
            "{value}: the note says what a tmpfs directory costs and what to set\n{t}"
        );

        let (r, t) = sim.step("h1", isolator(VolumeIsolator::Dvdi)).await;
        assert!(r.expect("to dvdi").changed, "{t}");
        assert_eq!(
            read(&sim, render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG),
            Some(format!("{value}\n")),
            "{value}: not ours to remove\n{t}"
        );
    }
}

/// The directory follows the agent's `work_dir` flag; without a usable one (missing, or on a
/// directory emptied at boot) it goes under Mesosphere's `/var/lib/mesos`, and the note says why.
#[tokio::test]
async fn the_checkpoint_dir_follows_the_agents_work_dir() {
    let cases = [
        (Some("/data/mesos/\n"), "/data/mesos/isolators/docker/volume", None),
        (None, CHECKPOINT_DIR, Some("/etc/mesos-slave/work_dir is missing")),
        (
            Some("/tmp/mesos\n"),
            CHECKPOINT_DIR,
            Some("names /tmp/mesos, under /tmp, emptied at boot"),
        ),
    ];
    for (work_dir, want, note) in cases {
        let sim = host(Os::Ubuntu14, Some("1.0.1"));
        let flag = sim.root("h1").join("etc/mesos-slave/work_dir");
        match work_dir {
            Some(w) => write(&sim.root("h1"), "etc/mesos-slave/work_dir", w),
            None => std::fs::remove_file(&flag).expect("remove work_dir"),
        }
        let (r, t) = sim.step("h1", isolator(VolumeIsolator::DockerVolume)).await;
        r.unwrap_or_else(|f| panic!("{work_dir:?}: {}\n{t}", f.message));
        assert_eq!(
            read(&sim, render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG),
            Some(format!("{want}\n")),
            "{work_dir:?}\n{t}"
        );
        assert_eq!(dir_mode(&sim, want), Some(0o700), "{work_dir:?}\n{t}");
        match note {
            Some(n) => assert!(t.contains(&format!("{n}: volume checkpoints go to {want}")), "{t}"),
            None => assert!(!t.contains("volume checkpoints go to"), "{t}"),
        }
        let (r, t) = sim.step("h1", isolator(VolumeIsolator::DockerVolume)).await;
        assert!(!r.expect("again").changed, "{work_dir:?}: a rerun changes nothing\n{t}");
        // Switching away removes the flag this step wrote, whatever the work dir.
        let (r, t) = sim.step("h1", isolator(VolumeIsolator::Dvdi)).await;
        r.unwrap_or_else(|f| panic!("{work_dir:?} to dvdi: {}\n{t}", f.message));
        assert_eq!(read(&sim, render::AGENT_DOCKER_VOLUME_CHECKPOINT_DIR_FLAG), None, "{t}");
    }
}

/// An agent already running docker/volume with Mesos' default checkpoint dir: the checkpoints of
/// its running containers are copied into the new directory before the agent restarts onto it,
/// so it still unmounts their volumes when they end. Once done, a rerun copies nothing.
#[tokio::test]
async fn running_containers_checkpoints_move_with_the_flag() {
    let sim = host(Os::Ubuntu14, Some("1.0.1"));
    let root = sim.root("h1");
    write(
        &root,
        "etc/mesos-slave/isolation",
        "posix/cpu,posix/mem,filesystem/linux,docker/volume\n",
    );
    write(&root, "etc/mesos-slave/containerizers", "mesos\n");
    let old = render::MESOS_DOCKER_VOLUME_CHECKPOINT_DIR.trim_start_matches('/');
    let volumes = r#"{"volumes":[{"driver":"rexray","name":"pgdata"}]}"#;
    write(&root, &format!("{old}/c1-uuid/volumes"), volumes);
    // A container the isolator made a directory for but never checkpointed: nothing to copy.
    std::fs::create_dir_all(root.join(old).join("c2-uuid")).expect("dir");

    let (r, t) = sim.step("h1", isolator(VolumeIsolator::DockerVolume)).await;
    let r = r.unwrap_or_else(|f| panic!("{}\n{t}", f.message));
    let Outcome::InstallIsolator { agent_restarted, .. } = r.outcome else { panic!("outcome") };
    assert!(agent_restarted, "the new flag needs an agent restart\n{t}");
    assert_eq!(read(&sim, &format!("{CHECKPOINT_DIR}/c1-uuid/volumes")).as_deref(), Some(volumes));
    assert!(!root.join(CHECKPOINT_DIR.trim_start_matches('/')).join("c2-uuid").exists(), "{t}");
    assert!(
        t.contains("copied the volume checkpoints of 1 running container(s) from /var/run/mesos/isolators/docker/volume to /var/lib/mesos/isolators/docker/volume: c1-uuid"),
        "{t}"
    );
    // The copy is made before the flag that points the agent at it, and before the restart.
    let at = |what: &str| t.find(what).unwrap_or_else(|| panic!("{what} in\n{t}"));
    assert!(at("c1-uuid/volumes") < at("docker_volume_checkpoint_dir (0644)"), "{t}");
    assert!(at("docker_volume_checkpoint_dir (0644)") < at("mesos-slave restart"), "{t}");
    assert!(root.join(old).join("c1-uuid/volumes").is_file(), "the old copy is left alone");

    let (r, t) = sim.step("h1", isolator(VolumeIsolator::DockerVolume)).await;
    assert!(!r.expect("again").changed, "{t}");
}
