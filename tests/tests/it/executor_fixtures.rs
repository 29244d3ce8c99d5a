//! The fixture packages of `testkit::fixtures::packages` through the real `dpkg` and `rpm`: named
//! like the real ScaleIO packages, installed into temporary roots, their scripts honouring (and
//! insisting on) the install-time variables.

use std::path::Path;
use std::time::Duration;

use testkit::fixtures::packages::{
    Fixture, Format, build, build_isolator, command, init_dpkg_root, init_rpm_root, run_checked,
};

const T: Duration = Duration::from_secs(60);

fn dpkg_install(root: &Path, file: &Path, env: &[(&str, &str)]) -> Result<String, String> {
    let mut cmd = command("dpkg");
    cmd.arg(format!("--root={}", root.display()))
        .arg(format!("--admindir={}", root.join("var/lib/dpkg").display()))
        .args(["--force-script-chrootless", "--force-not-root", "-i"])
        .arg(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_checked(cmd, T)
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .map_err(|e| e.to_string())
}

fn rpm_install(root: &Path, file: &Path, env: &[(&str, &str)]) -> Result<String, String> {
    let mut cmd = command("rpm");
    cmd.arg("--root").arg(root).args(["--nodeps", "-Uvh"]).arg(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_checked(cmd, T)
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .map_err(|e| e.to_string())
}

#[test]
fn deb_fixtures_install_with_real_dpkg_and_need_their_variables() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("debs");
    let root = dir.path().join("root");
    init_dpkg_root(&root).expect("dpkg root");
    let mdm = build(&Fixture::Mdm.spec(Format::Deb), Format::Deb, &out).expect("build mdm");
    assert_eq!(
        mdm.file_name().and_then(|n| n.to_str()),
        Some("EMC-ScaleIO-mdm-2.0-10000.2072.Ubuntu.14.04.x86_64.deb")
    );
    let err = dpkg_install(&root, &mdm, &[]).expect_err("no MDM_ROLE_IS_MANAGER");
    assert!(err.contains("MDM_ROLE_IS_MANAGER must be set"), "{err}");
    let said = dpkg_install(&root, &mdm, &[("MDM_ROLE_IS_MANAGER", "0")]).expect("install");
    assert!(said.contains("mdm start/running"), "{said}");
    assert_eq!(
        std::fs::read_to_string(root.join("opt/emc/scaleio/mdm/cfg/conf.txt")).expect("conf"),
        "actor_role_is_manager=0\n"
    );
    let sdc = build(&Fixture::Sdc.spec(Format::Deb), Format::Deb, &out).expect("build sdc");
    dpkg_install(&root, &sdc, &[("MDM_IP", "10.0.0.1,10.0.0.2")]).expect("sdc");
    assert_eq!(
        std::fs::read_to_string(root.join("bin/emc/scaleio/drv_cfg.txt")).expect("drv_cfg"),
        "mdm 10.0.0.1,10.0.0.2\n"
    );
    let gw = build(&Fixture::Gateway.spec(Format::Deb), Format::Deb, &out).expect("gw");
    assert_eq!(
        gw.file_name().and_then(|n| n.to_str()),
        Some("emc-scaleio-gateway_2.0-10000.2072_amd64.deb")
    );
    let err = dpkg_install(&root, &gw, &[]).expect_err("no password");
    assert!(err.contains("GATEWAY_ADMIN_PASSWORD must be set"), "{err}");

    let mut q = command("dpkg-query");
    q.arg(format!("--admindir={}", root.join("var/lib/dpkg").display())).args([
        "-W",
        "-f=${Package} ${Version} ${Status}\n",
        "emc-scaleio-mdm",
        "emc-scaleio-sdc",
    ]);
    let listed = String::from_utf8(run_checked(q, T).expect("query").stdout).expect("utf8");
    assert_eq!(
        listed,
        "emc-scaleio-mdm 2.0.10000.2072.Ubuntu.14.04 install ok installed\nemc-scaleio-sdc 2.0.10000.2072.Ubuntu.14.04 install ok installed\n"
    );
    let so = build_isolator(&out).expect("so");
    assert!(std::fs::read(so).expect("read").starts_with(b"\x7fELF"));
}

#[test]
fn rpm_fixtures_install_with_real_rpm_into_a_root() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("rpms");
    let root = dir.path().join("root");
    init_rpm_root(&root).expect("rpm root");
    let mdm = build(&Fixture::Mdm.spec(Format::Rpm), Format::Rpm, &out).expect("build mdm");
    assert_eq!(
        mdm.file_name().and_then(|n| n.to_str()),
        Some("EMC-ScaleIO-mdm-2.0-10000.2072.el7.x86_64.rpm")
    );
    let said = rpm_install(&root, &mdm, &[("MDM_ROLE_IS_MANAGER", "1")]).expect("install");
    assert!(said.contains("Created symlink from"), "{said}");
    assert_eq!(
        std::fs::read_to_string(root.join("opt/emc/scaleio/mdm/cfg/conf.txt")).expect("conf"),
        "actor_role_is_manager=1\n"
    );
    let lia = build(&Fixture::Lia.spec(Format::Rpm), Format::Rpm, &out).expect("lia");
    let err = rpm_install(&root, &lia, &[]).expect_err("no TOKEN");
    assert!(err.contains("TOKEN must be set"), "{err}");
    let rexray = build(&Fixture::Rexray.spec(Format::Rpm), Format::Rpm, &out).expect("rexray");
    assert_eq!(rexray.file_name().and_then(|n| n.to_str()), Some("rexray-0.11.4-1.x86_64.rpm"));
    rpm_install(&root, &rexray, &[]).expect("rexray");
    assert!(root.join("lib/systemd/system/rexray.service").is_file());

    let mut q = command("rpm");
    q.arg("--root").arg(&root).args(["-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\n"]);
    q.args(["EMC-ScaleIO-mdm", "rexray"]);
    let listed = String::from_utf8(run_checked(q, T).expect("query").stdout).expect("utf8");
    assert_eq!(listed, "EMC-ScaleIO-mdm 2.0-10000.2072.el7\nrexray 0.11.4-1\n");
}
