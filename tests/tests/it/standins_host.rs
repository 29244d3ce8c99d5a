//! Host tool stand-ins: what they print, what they refuse, what they record.

use std::path::Path;

use scaleio::devices::{DeviceRules, parse_lsblk, survey};
use testkit::standins::host::{
    TOOL_NAMES, ToolOutput, complete_reboot, install_tools, prepare_host, reboot_requested,
    recorded, run,
};
use testkit::standins::model::Model;

fn tool(root: &Path, argv: &[&str]) -> ToolOutput {
    run(&argv.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), root)
}

#[test]
fn uname_lsblk_and_the_argv_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    assert_eq!(tool(root, &["/usr/bin/uname", "-r"]).stdout, "4.4.0-38-generic\n");
    std::fs::create_dir_all(root.join("etc/standin")).expect("dir");
    std::fs::write(root.join("etc/standin/kernel"), "3.13.0-24-generic\n").expect("kernel");
    assert_eq!(tool(root, &["uname", "-r"]).stdout, "3.13.0-24-generic\n");
    assert_eq!(tool(root, &["uname", "-x"]).exit_code, 1);

    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).expect("dev");
    for (name, size) in [
        ("xvda", 8u64 << 30),
        ("xvda1", 8u64 << 30),
        ("xvdf", 100u64 << 30),
        ("xvdg", 100u64 << 30),
        ("loop0", 100u64 << 30),
    ] {
        std::fs::File::create(dev.join(name)).expect("f").set_len(size).expect("len");
    }
    std::fs::write(dev.join("xvdg.fstype"), "ext4").expect("fstype");
    let out = tool(
        root,
        &["lsblk", "-J", "-b", "-o", "NAME,PATH,TYPE,SIZE,RO,RM,FSTYPE,MOUNTPOINT,PKNAME"],
    );
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    let devices = parse_lsblk(&out.stdout).expect("lsblk json");
    let s = survey(&devices, &DeviceRules::default());
    assert_eq!(s.free.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["/dev/xvdf"]);
    assert_eq!(s.refused.len(), 3, "{:?}", s.refused);
    assert_eq!(tool(root, &["lsblk"]).exit_code, 1, "plain lsblk is not simulated");

    let log = recorded(root);
    assert_eq!(log.first().map(|a| a.join(" ")), Some("/usr/bin/uname -r".to_owned()));
    assert_eq!(log.len(), 5);
}

#[test]
fn services_need_their_units() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let out = tool(root, &["systemctl", "restart", "scaleio-gateway"]);
    assert_eq!(
        (out.exit_code, out.stderr.as_str()),
        (5, "Failed to restart scaleio-gateway.service: Unit scaleio-gateway.service not found.\n")
    );
    std::fs::create_dir_all(root.join("lib/systemd/system")).expect("dir");
    std::fs::write(root.join("lib/systemd/system/scaleio-gateway.service"), "[Unit]\n")
        .expect("unit");
    assert_eq!(tool(root, &["systemctl", "is-active", "scaleio-gateway"]).exit_code, 3);
    assert_eq!(tool(root, &["systemctl", "restart", "scaleio-gateway.service"]).exit_code, 0);
    let active = tool(root, &["systemctl", "is-active", "scaleio-gateway"]);
    assert_eq!((active.exit_code, active.stdout.as_str()), (0, "active\n"));

    let out = tool(root, &["service", "rexray", "restart"]);
    assert_eq!((out.exit_code, out.stderr.as_str()), (1, "rexray: unrecognized service\n"));
    std::fs::create_dir_all(root.join("etc/init.d")).expect("dir");
    std::fs::write(root.join("etc/init.d/rexray"), "#!/bin/sh\n").expect("script");
    assert_eq!(tool(root, &["service", "rexray", "restart"]).exit_code, 0);
    assert_eq!(tool(root, &["service", "rexray", "status"]).stdout, "rexray is running\n");
}

#[test]
fn packages_kernel_and_reboot() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/standin")).expect("dir");
    std::fs::write(
        root.join("etc/standin/repo"),
        "libaio1 0.3.109-4\nzip 3.0-8\nlinux-image-4.4.0-38-generic 4.4.0-38.57~14.04.1\n",
    )
    .expect("repo");
    let out = tool(root, &["apt-get", "install", "nosuch"]);
    assert_eq!(
        (out.exit_code, out.stderr.as_str()),
        (100, "E: the stand-in refuses to prompt: pass -y\n")
    );
    let out = tool(root, &["apt-get", "-y", "install", "nosuch"]);
    assert_eq!((out.exit_code, out.stderr.as_str()), (100, "E: Unable to locate package nosuch\n"));
    let out = tool(root, &["apt-get", "-y", "install", "libaio1", "zip"]);
    assert!(out.stdout.contains("0 upgraded, 2 newly installed"), "{}", out.stdout);
    let out = tool(root, &["apt-get", "-y", "install", "libaio1"]);
    assert!(out.stdout.contains("0 upgraded, 0 newly installed"), "{}", out.stdout);
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).expect("status");
    assert!(
        status.contains(
            "Package: zip\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0-8\n"
        ),
        "{status}"
    );

    tool(root, &["apt-get", "-y", "install", "linux-image-4.4.0-38-generic"]);
    std::fs::write(root.join("etc/standin/kernel"), "3.13.0-24-generic\n").expect("old kernel");
    assert!(!reboot_requested(root));
    assert_eq!(tool(root, &["shutdown", "-h", "now"]).exit_code, 1);
    assert_eq!(tool(root, &["shutdown", "-r", "now"]).exit_code, 0);
    assert!(reboot_requested(root));
    let boot = complete_reboot(root).expect("reboot");
    assert!(!reboot_requested(root));
    assert_eq!(tool(root, &["uname", "-r"]).stdout, "4.4.0-38-generic\n");
    let on_disk =
        std::fs::read_to_string(root.join("proc/sys/kernel/random/boot_id")).expect("boot id");
    assert_eq!(on_disk.trim(), boot);
    assert_ne!(complete_reboot(root).expect("again"), boot);

    let out = tool(root, &["yum", "-y", "install", "zip"]);
    assert!(out.stdout.ends_with("Complete!\n"), "{}", out.stdout);
    assert_eq!(tool(root, &["yum", "-y", "install", "zip"]).stdout, "Nothing to do\n");
}

#[test]
fn prepared_host_and_tool_links() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("h1");
    let state = dir.path().join("cluster.json");
    prepare_host(&root, "agent-1", "10.0.0.1", "3.13.0-24-generic", &state).expect("prepare");
    assert_eq!(tool(&root, &["uname", "-n"]).stdout, "agent-1\n");
    assert_eq!(tool(&root, &["uname", "-r"]).stdout, "3.13.0-24-generic\n");
    assert!(root.join("var/lib/dpkg/status").is_file());
    assert_eq!(Model::load(&state).expect("model").ip_of_root(&root).as_deref(), Some("10.0.0.1"));

    let bin = dir.path().join("bin");
    install_tools(&bin, Path::new("/opt/host-tools"), Path::new("/opt/scli")).expect("links");
    install_tools(&bin, Path::new("/opt/host-tools"), Path::new("/opt/scli")).expect("again");
    for name in TOOL_NAMES {
        assert_eq!(std::fs::read_link(bin.join(name)).expect("link"), Path::new("/opt/host-tools"));
    }
    assert_eq!(std::fs::read_link(bin.join("scli")).expect("link"), Path::new("/opt/scli"));
}

/// `drv_cfg` on a host, with the cluster model when `state` is given.
fn drv_cfg(root: &Path, argv: &[String], state: Option<&Path>) -> ToolOutput {
    testkit::standins::host::drv_cfg(
        root,
        &argv[1..].iter().map(String::as_str).collect::<Vec<_>>(),
        state,
    )
}

/// The SDCs the MDM knows, as `(guid, ip)`.
fn sdcs(state: &Path) -> Vec<(String, String)> {
    let sys = Model::load(state).expect("model").system.expect("system");
    sys.sdcs.iter().map(|s| (s.guid.clone(), s.ip.clone())).collect()
}

fn guid(root: &Path) -> String {
    let out = drv_cfg(root, &scaleio::scli::drv_cfg_query_guid().argv(), None);
    scaleio::scli::parse_drv_cfg_query_guid(&out.stdout).expect("guid")
}

#[test]
fn drv_cfg_points_the_sdc_and_registers_it() {
    use scaleio::scli;
    let c = crate::standins_scli::four_hosts();
    crate::standins_scli::build_cluster(&c);
    let root = c.root("h4");
    let cmd = scli::drv_cfg_add_mdm(&["10.0.0.1".into(), "10.0.0.2".into()]);
    let argv = cmd.argv();
    let out = drv_cfg(&root, &argv, Some(&c.state));
    assert_eq!(
        (out.exit_code, out.stderr.as_str()),
        (1, "Failed to open kernel device /dev/scini: No such file or directory\n")
    );
    // The SDC package without MDM_IP: the driver runs but knows no MDM, so nothing connects.
    std::fs::create_dir_all(root.join("opt/emc/scaleio/sdc")).expect("sdc");
    std::fs::create_dir_all(root.join("bin/emc/scaleio")).expect("cfg dir");
    std::fs::write(root.join("bin/emc/scaleio/drv_cfg.txt"), "# SDC configuration\n").expect("cfg");
    let q = drv_cfg(&root, &scli::drv_cfg_query_mdms().argv(), None);
    assert_eq!(q.stdout, "Retrieved 0 mdm(s)\n");
    crate::standins_scli::exec(&c, "h1", &scli::query_cluster(None));
    assert_eq!(sdcs(&c.state), [], "an SDC without MDMs connects to none");

    let out = drv_cfg(&root, &argv, Some(&c.state));
    assert_eq!(
        cmd.outcome(out.exit_code, &out.stdout),
        Ok(scli::ScliDone::Done { object_id: None })
    );
    let again = drv_cfg(&root, &argv, Some(&c.state));
    assert_eq!(cmd.outcome(again.exit_code, &again.stderr), Ok(scli::ScliDone::AlreadyDone));
    let q = drv_cfg(&root, &scli::drv_cfg_query_mdms().argv(), None);
    assert_eq!(scli::parse_drv_cfg_query_mdms(&q.stdout), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(
        std::fs::read_to_string(root.join("bin/emc/scaleio/drv_cfg.txt")).expect("cfg"),
        "# SDC configuration\nmdm 10.0.0.1,10.0.0.2\n",
        "--add_mdm --file writes the file, keeping its other lines"
    );
    assert_eq!(sdcs(&c.state), [(guid(&root), "10.0.0.4".to_owned())]);
}

/// An SDC installed with `MDM_IP` (the package writes `drv_cfg.txt`) before the cluster exists
/// connects once it does, without any `drv_cfg --add_mdm`; a stopped driver does not connect
/// until `scini` starts again; a file naming only the tiebreaker connects to nothing.
#[test]
fn sdc_connects_from_its_config_file_when_its_driver_runs() {
    use scaleio::scli;
    let c = crate::standins_scli::four_hosts();
    let sdc = |host: &str, mdms: &str| {
        let root = c.root(host);
        std::fs::create_dir_all(root.join("opt/emc/scaleio/sdc")).expect("sdc");
        std::fs::create_dir_all(root.join("bin/emc/scaleio")).expect("cfg dir");
        std::fs::write(root.join("bin/emc/scaleio/drv_cfg.txt"), format!("mdm {mdms}\n"))
            .expect("cfg");
        root
    };
    let h4 = sdc("h4", "10.0.0.1,10.0.0.2");
    let h2 = sdc("h2", "10.0.0.1,10.0.0.2");
    let h3 = sdc("h3", "10.0.0.3");
    assert_eq!(tool(&h2, &["service", "scini", "status"]).stdout, "scini is running\n");
    assert_eq!(tool(&h2, &["service", "scini", "stop"]).exit_code, 0);
    let out = drv_cfg(&h2, &scli::drv_cfg_query_guid().argv(), None);
    assert_eq!(out.stderr, "Failed to open kernel device /dev/scini: No such file or directory\n");
    assert_eq!(Model::load(&c.state).expect("model").system, None);

    crate::standins_scli::build_cluster(&c);
    assert_eq!(sdcs(&c.state), [(guid(&h4), "10.0.0.4".to_owned())], "h2 stopped, h3 tb only");

    assert_eq!(tool(&h2, &["systemctl", "start", "scini"]).exit_code, 0);
    crate::standins_scli::exec(&c, "h1", &scli::query_cluster(None));
    let mut want = vec![(guid(&h4), "10.0.0.4".to_owned()), (guid(&h2), "10.0.0.2".to_owned())];
    assert_eq!(sdcs(&c.state), want);

    // A reboot restarts the driver; the SDC stays one object.
    tool(&h4, &["service", "scini", "stop"]);
    complete_reboot(&h4).expect("reboot");
    assert_eq!(tool(&h4, &["systemctl", "is-active", "scini"]).stdout, "active\n");
    crate::standins_scli::exec(&c, "h1", &scli::query_cluster(None));
    assert_eq!(sdcs(&c.state), want);
    // Pointing h3 at the cluster's manager connects it too.
    let cmd = scli::drv_cfg_add_mdm(&["10.0.0.1".into(), "10.0.0.2".into()]);
    assert_eq!(drv_cfg(&h3, &cmd.argv(), Some(&c.state)).exit_code, 0);
    want.push((guid(&h3), "10.0.0.3".to_owned()));
    assert_eq!(sdcs(&c.state), want);
}
