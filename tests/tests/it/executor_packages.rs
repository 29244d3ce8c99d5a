//! The executor's package managers against the real `dpkg` and `rpm` on simulated host roots:
//! detection, the `.`/`-` version mismatch, upgrades, idempotent re-runs, install-time
//! variables (secrets never shown) and failure reports that name the file, the exit code and the
//! package's own complaint.

use executor::host::Value;
use executor::packages::{Manager, PackageManager as _};
use scaleio::Secret;
use scaleio::step::{
    ComponentSettings, InstallPackages, OsFamily, Outcome, PackageAction, PackageInstall, Step,
    version_matches,
};
use scaleio::topology::MdmRole;
use testkit::fixtures::packages::{Fixture, build};

use crate::executor_support::{Os, PASSWORD, Sim};

fn family(os: Os) -> OsFamily {
    match os {
        Os::Ubuntu14 => OsFamily::Debian,
        Os::Rhel7 => OsFamily::Rhel,
    }
}

async fn detection_install_and_failure(os: Os) {
    let sim = Sim::new(os);
    sim.add_host("h1", "10.0.0.1");
    let ctx = sim.ctx("h1");
    let m = Manager::for_host(family(os), &ctx.host);
    let name = Fixture::Lia.package_name(os.format());
    assert_eq!(m.installed(&ctx.host, &name).await.expect("query"), None);

    let lia = ctx.artifact(&Fixture::Lia.file_name(os.format())).expect("in the bundle");
    let err = m.install_file(&ctx.host, &lia, &[]).await.expect_err("LIA needs TOKEN");
    assert_eq!(err.exit_code, Some(1), "{err:?}");
    assert!(
        err.message
            .starts_with(&format!("installing {} failed: `", Fixture::Lia.file_name(os.format()))),
        "{}",
        err.message
    );
    assert!(err.output_tail.contains("TOKEN must be set"), "{}", err.output_tail);
    assert_eq!(m.installed(&ctx.host, &name).await.expect("query"), None, "nothing half-installed");

    let env = [("TOKEN".to_owned(), Value::Secret(Secret::new(PASSWORD)))];
    m.install_file(&ctx.host, &lia, &env).await.expect("install with TOKEN");
    let version = m.installed(&ctx.host, &name).await.expect("query").expect("installed");
    assert!(version_matches("2.0-10000.2072", &version), "{version}");
    let shown = ctx.host.transcript().render();
    assert!(shown.contains("TOKEN=*** "), "{shown}");
    assert!(!String::from_utf8_lossy(&ctx.host.transcript().to_json()).contains(PASSWORD));
}

#[tokio::test]
async fn dpkg_detects_installs_and_reports_failures() {
    detection_install_and_failure(Os::Ubuntu14).await;
}

#[tokio::test]
async fn rpm_detects_installs_and_reports_failures() {
    detection_install_and_failure(Os::Rhel7).await;
}

fn sds_step(os: Os) -> Step {
    Step::InstallPackages(InstallPackages {
        packages: vec![
            PackageInstall {
                settings: ComponentSettings::Mdm { role: MdmRole::Tiebreaker },
                artifact: Fixture::Mdm.file_name(os.format()),
                version: "2.0-10000.2072".into(),
            },
            PackageInstall {
                settings: ComponentSettings::Sds,
                artifact: Fixture::Sds.file_name(os.format()),
                version: "2.0-10000.2072".into(),
            },
        ],
    })
}

async fn upgrade_then_idempotent(os: Os) {
    let sim = Sim::new(os);
    let root = sim.add_host("h1", "10.0.0.1");
    // An older SDS is installed first, straight from a fixture built with another version.
    let mut old = Fixture::Sds.spec(os.format());
    match os {
        Os::Ubuntu14 => old.version = "2.0.10000.2071.Ubuntu.14.04".into(),
        Os::Rhel7 => old.release = Some("10000.2071.el7".into()),
    }
    old.file_name = "old-sds".into();
    let file = build(&old, os.format(), &sim.dir.path().join("old")).expect("old sds");
    let ctx = sim.ctx("h1");
    let m = Manager::for_host(family(os), &ctx.host);
    m.install_file(&ctx.host, &file, &[]).await.expect("old sds");

    let (first, transcript) = sim.step("h1", sds_step(os)).await;
    let Outcome::InstallPackages { packages } = first.expect("installs").outcome else {
        panic!("wrong outcome")
    };
    let actions: Vec<_> = packages.iter().map(|p| (p.name.as_str(), p.action)).collect();
    let (mdm, sds) =
        (Fixture::Mdm.package_name(os.format()), Fixture::Sds.package_name(os.format()));
    assert_eq!(
        actions,
        [(mdm.as_str(), PackageAction::Installed), (sds.as_str(), PackageAction::Upgraded)]
    );
    assert!(transcript.contains("MDM_ROLE_IS_MANAGER=0 "), "{transcript}");
    assert_eq!(
        std::fs::read_to_string(root.join("opt/emc/scaleio/mdm/cfg/conf.txt")).expect("conf"),
        "actor_role_is_manager=0\n"
    );

    let (again, transcript) = sim.step("h1", sds_step(os)).await;
    let again = again.expect("re-run");
    assert!(!again.changed, "{transcript}");
    assert!(!transcript.contains(" -i ") && !transcript.contains("-Uvh"), "{transcript}");
}

#[tokio::test]
async fn dpkg_upgrades_an_old_version_and_reruns_change_nothing() {
    upgrade_then_idempotent(Os::Ubuntu14).await;
}

#[tokio::test]
async fn rpm_upgrades_an_old_version_and_reruns_change_nothing() {
    upgrade_then_idempotent(Os::Rhel7).await;
}

#[tokio::test]
async fn a_step_naming_a_file_outside_the_bundle_fails_clearly() {
    let sim = Sim::new(Os::Ubuntu14);
    sim.add_host("h1", "10.0.0.1");
    let step = Step::InstallPackages(InstallPackages {
        packages: vec![PackageInstall {
            settings: ComponentSettings::Sds,
            artifact: "../../etc/passwd".into(),
            version: "2.0-10000.2072".into(),
        }],
    });
    let (r, _) = sim.step("h1", step).await;
    let f = r.expect_err("not in the bundle");
    assert!(f.message.contains("has no artifact `../../etc/passwd`"), "{}", f.message);
}
