//! Renderer snapshots: REX-Ray config and scini dependency, dvdi modules JSON, agent flag files,
//! gateway properties — each also checked to be idempotent.

use expect_test::expect;
use scaleio::render;
use scaleio::step::{RexraySettings, SystemSelector};
use scaleio::topology::PoolRef;
use scaleio::{ObjectName, Secret, SecretRef};

fn settings(system: SystemSelector) -> RexraySettings {
    RexraySettings {
        gateway_endpoint: "https://10.0.0.1/api".into(),
        insecure: true,
        username: "admin".into(),
        password: SecretRef::default(),
        system,
        pool: PoolRef {
            protection_domain: ObjectName::new("pd1").expect("n"),
            storage_pool: ObjectName::new("sp1").expect("n"),
        },
        thin_or_thick: "ThinProvisioned".into(),
        log_level: "warn".into(),
    }
}

#[test]
fn rexray_config_yml() {
    let text = render::rexray_config(
        &settings(SystemSelector::Name("scaleio".into())),
        &Secret::new("pa\"ss: #1"),
    );
    expect![[r##"
        # Written by scaleio-executor; do not edit (rewritten on every install_rexray step).
        rexray:
          logLevel: "warn"
          modules:
            default-docker:
              type: docker
              host: "unix:///run/docker/plugins/docker.sock"
              libstorage:
                service: scaleio
            mesos:
              type: docker
              host: "unix:///run/docker/plugins/mesos.sock"
              libstorage:
                service: scaleio
                integration:
                  volume:
                    operations:
                      unmount:
                        ignoreUsedCount: true
            rexray:
              type: docker
              host: "unix:///run/docker/plugins/rexray.sock"
              libstorage:
                service: scaleio
        libstorage:
          service: scaleio
          integration:
            volume:
              operations:
                mount:
                  preempt: true
        scaleio:
          endpoint: "https://10.0.0.1/api"
          insecure: true
          version: "2.0"
          thinOrThick: "ThinProvisioned"
          userName: "admin"
          password: "pa\"ss: #1"
          systemName: "scaleio"
          protectionDomainName: "pd1"
          storagePoolName: "sp1"
    "##]]
    .assert_eq(&text);
    let by_id = render::rexray_config(
        &settings(SystemSelector::Id("1b2c3d4e5f607182".into())),
        &Secret::new("x"),
    );
    assert!(by_id.contains("  systemID: \"1b2c3d4e5f607182\"\n") && !by_id.contains("systemName"));
    // Every key appears once per map (the original duplicated `libstorage:` in the mesos module).
    let mesos = text
        .split("    mesos:\n")
        .nth(1)
        .and_then(|t| t.split("    rexray:\n").next())
        .expect("mesos module");
    assert_eq!(mesos.matches("libstorage:").count(), 1);
    assert_eq!(render::SECRET_FILE_MODE, 0o600);
}

#[test]
fn rexray_scini_dependency() {
    expect![[r#"
        [Unit]
        After=scini.service
        Wants=scini.service
    "#]]
    .assert_eq(&render::rexray_scini_dropin());
    let script = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides:          rexray\n# Required-Start:    $remote_fs $syslog\n### END INIT INFO\n\ncase \"$1\" in\n  start)\n    /usr/bin/rexray start\n    ;;\nesac\n";
    let patched = render::rexray_init_with_scini(script);
    expect![[r#"
        #!/bin/sh
        ### BEGIN INIT INFO
        # Provides:          rexray
        # Required-Start:    $remote_fs $syslog scini
        ### END INIT INFO

        case "$1" in
          start)
            if [ -e /etc/init.d/scini ]; then /etc/init.d/scini start; fi
            /usr/bin/rexray start
            ;;
        esac
    "#]]
    .assert_eq(&patched);
    assert_eq!(render::rexray_init_with_scini(&patched), patched, "idempotent");
}

#[test]
fn dvdi_modules_json() {
    let text = render::dvdi_modules_json("/usr/lib/libmesos_dvdi_isolator-1.0.1.so");
    expect![[r#"
        {
          "libraries": [
            {
              "file": "/usr/lib/libmesos_dvdi_isolator-1.0.1.so",
              "modules": [
                {
                  "name": "com_emccode_mesos_DockerVolumeDriverIsolator"
                }
              ]
            }
          ]
        }
    "#]]
    .assert_eq(&text);
}

#[test]
fn agent_flag_files_keep_defaults_and_do_not_clobber() {
    expect!["posix/cpu,posix/mem,com_emccode_mesos_DockerVolumeDriverIsolator\n"]
        .assert_eq(&render::agent_isolation_flag(None));
    expect!["posix/cpu,posix/mem,com_emccode_mesos_DockerVolumeDriverIsolator\n"]
        .assert_eq(&render::agent_isolation_flag(Some("\n")));
    let with_existing =
        render::agent_isolation_flag(Some("cgroups/cpu,cgroups/mem,filesystem/linux\n"));
    expect![
        "cgroups/cpu,cgroups/mem,filesystem/linux,com_emccode_mesos_DockerVolumeDriverIsolator\n"
    ]
    .assert_eq(&with_existing);
    assert_eq!(render::agent_isolation_flag(Some(&with_existing)), with_existing, "idempotent");

    expect!["file:///usr/lib/dvdi-mod.json\n"]
        .assert_eq(&render::agent_modules_flag(None, render::DVDI_MODULES_JSON).expect("free"));
    assert!(
        render::agent_modules_flag(
            Some("file:///usr/lib/dvdi-mod.json\n"),
            render::DVDI_MODULES_JSON
        )
        .is_ok()
    );
    let err =
        render::agent_modules_flag(Some("file:///etc/mesos/other.json"), render::DVDI_MODULES_JSON)
            .expect_err("taken");
    assert!(
        err.to_string()
            .starts_with("/etc/mesos-slave/modules already names `file:///etc/mesos/other.json`"),
        "{err}"
    );
}

#[test]
fn gateway_properties_rewrite_is_idempotent() {
    let shipped = "# gateway users\nmdm.ip.addresses=\nsystem.id=\nsecurity.bypass_certificate_check=false\n#mdm.ip.addresses=commented\nvmware.mode=false\n";
    let ips = vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()];
    let once = render::gateway_user_properties(shipped, &ips, true);
    expect![[r#"
        # gateway users
        mdm.ip.addresses=10.0.0.1,10.0.0.2
        system.id=
        security.bypass_certificate_check=true
        #mdm.ip.addresses=commented
        vmware.mode=false
    "#]]
    .assert_eq(&once);
    assert_eq!(
        render::gateway_user_properties(&once, &ips, true),
        once,
        "running twice changes nothing"
    );
    let missing = render::gateway_user_properties("a=b", &ips, false);
    expect![[r#"
        a=b
        mdm.ip.addresses=10.0.0.1,10.0.0.2
        security.bypass_certificate_check=false
    "#]]
    .assert_eq(&missing);
}

#[test]
fn docker_volume_isolation_keeps_defaults_and_what_is_there() {
    expect!["posix/cpu,posix/mem,filesystem/linux,docker/volume\n"]
        .assert_eq(&render::agent_isolation_flag_docker_volume(None));
    let with_existing =
        render::agent_isolation_flag_docker_volume(Some("cgroups/cpu,filesystem/linux\n"));
    expect!["cgroups/cpu,filesystem/linux,docker/volume\n"].assert_eq(&with_existing);
    assert_eq!(
        render::agent_isolation_flag_docker_volume(Some(&with_existing)),
        with_existing,
        "idempotent"
    );
}

#[test]
fn containerizers_keep_what_is_there_and_add_docker_only_where_it_runs() {
    expect!["mesos\n"].assert_eq(&render::agent_containerizers_flag(None, false));
    expect!["docker,mesos\n"].assert_eq(&render::agent_containerizers_flag(None, true));
    expect!["mesos,docker\n"].assert_eq(&render::agent_containerizers_flag(Some("mesos\n"), true));
    let kept = render::agent_containerizers_flag(Some("docker\n"), false);
    expect!["docker,mesos\n"].assert_eq(&kept);
    assert_eq!(render::agent_containerizers_flag(Some(&kept), true), kept, "idempotent");
}

#[test]
fn checkpoint_dir_goes_under_a_persistent_work_dir() {
    assert_eq!(render::agent_work_dir(Some("/var/lib/mesos\n")).as_deref(), Ok("/var/lib/mesos"));
    assert_eq!(render::agent_work_dir(Some(" /data/mesos/ \n")).as_deref(), Ok("/data/mesos"));
    assert_eq!(
        render::docker_volume_checkpoint_dir("/var/lib/mesos"),
        "/var/lib/mesos/isolators/docker/volume"
    );
    assert_eq!(render::docker_volume_checkpoint_dir("/"), "/isolators/docker/volume");
    let refused = |flag: Option<&str>| render::agent_work_dir(flag).expect_err("unusable");
    expect!["/etc/mesos-slave/work_dir is missing"].assert_eq(&refused(None));
    expect!["/etc/mesos-slave/work_dir is empty"].assert_eq(&refused(Some("\n")));
    expect!["/etc/mesos-slave/work_dir holds `mesos`, not one absolute path"]
        .assert_eq(&refused(Some("mesos\n")));
    expect!["/etc/mesos-slave/work_dir holds `/var/lib/../run/m`, not one absolute path"]
        .assert_eq(&refused(Some("/var/lib/../run/m")));
    expect!["/etc/mesos-slave/work_dir holds `/a\n/b`, not one absolute path"]
        .assert_eq(&refused(Some("/a\n/b\n")));
    expect!["/etc/mesos-slave/work_dir names /var/run/mesos, under /var/run, emptied at boot"]
        .assert_eq(&refused(Some("/var/run/mesos\n")));
}

#[test]
fn boot_emptied_directories_are_recognised_by_whole_components() {
    assert_eq!(render::volatile_dir("/run"), Some("/run"));
    assert_eq!(render::volatile_dir("/run/mesos/"), Some("/run"));
    assert_eq!(render::volatile_dir(render::MESOS_DOCKER_VOLUME_CHECKPOINT_DIR), Some("/var/run"));
    assert_eq!(render::volatile_dir("/tmp/mesos"), Some("/tmp"));
    assert_eq!(render::volatile_dir("/dev/shm/x"), Some("/dev/shm"));
    assert_eq!(render::volatile_dir("/runtime/mesos"), None);
    assert_eq!(render::volatile_dir("/var/lib/mesos/isolators/docker/volume"), None);
}

#[test]
fn checkpoint_dir_flag_is_written_only_where_nothing_is_set() {
    use render::CheckpointDirFlag::{Operator, Ours, Write};
    let ours = "/var/lib/mesos/isolators/docker/volume";
    let decide =
        |current: Option<&str>| render::agent_docker_volume_checkpoint_dir_flag(current, ours);
    let Write(content) = decide(None) else { panic!("a missing file is written") };
    assert_eq!(content, format!("{ours}\n"));
    assert_eq!(decide(Some(&content)), Ours, "idempotent");
    assert_eq!(decide(Some(" \n")), Write(content.clone()), "an empty file sets nothing");
    assert_eq!(decide(Some(&format!("{ours}/"))), Ours);
    assert_eq!(
        decide(Some("/data/volumes\n")),
        Operator { value: "/data/volumes".into(), volatile: None }
    );
    assert_eq!(
        decide(Some("/var/run/mesos/isolators/docker/volume\n")),
        Operator {
            value: "/var/run/mesos/isolators/docker/volume".into(),
            volatile: Some("/var/run")
        }
    );
}
