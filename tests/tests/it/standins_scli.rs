//! The `scli` stand-in against `scaleio::scli`'s builders and parsers: a whole cluster build, and
//! every precondition the real MDM enforces refused with the real wording.

use std::path::{Path, PathBuf};

use scaleio::scli::{self, ScliCommand, ScliDone, ScliError};
use scaleio::topology::MdmRole;
use scaleio::{DevicePath, ObjectName, Secret};
use testkit::standins::model::Model;
use testkit::standins::scli::{EXIT_USAGE, run};

pub(crate) struct Cluster {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
}

impl Cluster {
    pub fn root(&self, host: &str) -> PathBuf {
        self.dir.path().join(host)
    }
}

fn touch_device(root: &Path, name: &str, bytes: u64) {
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).expect("dev dir");
    std::fs::File::create(dev.join(name))
        .expect("device file")
        .set_len(bytes)
        .expect("sparse size");
}

/// Four simulated hosts: h1/h2 with a manager MDM, h3 with a tiebreaker MDM, h4 a data node with
/// a 100 GiB `/dev/xvdf` and a 1 GiB `/dev/xvdg`; every host has the SDS package.
pub(crate) fn four_hosts() -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("cluster.json");
    for (i, host) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
        let root = dir.path().join(host);
        std::fs::create_dir_all(root.join("opt/emc/scaleio/sds")).expect("sds");
        if i < 3 {
            std::fs::create_dir_all(root.join("opt/emc/scaleio/mdm/cfg")).expect("mdm");
            let role = if i == 2 { "0" } else { "1" };
            std::fs::write(
                root.join("opt/emc/scaleio/mdm/cfg/conf.txt"),
                format!("actor_role_is_manager={role}\n"),
            )
            .expect("conf");
        }
        Model::register_host(&state, &format!("10.0.0.{}", i + 1), &root).expect("register");
    }
    let h4 = dir.path().join("h4");
    touch_device(&h4, "xvdf", 100 * 1024 * 1024 * 1024);
    touch_device(&h4, "xvdg", 1024 * 1024 * 1024);
    Cluster { dir, state }
}

pub(crate) fn exec(c: &Cluster, host: &str, cmd: &ScliCommand) -> (i32, String) {
    let argv = cmd.argv();
    let out = run(&argv[1..], &c.state, &c.root(host));
    (out.exit_code, out.output)
}

pub(crate) fn judge(c: &Cluster, host: &str, cmd: &ScliCommand) -> Result<ScliDone, ScliError> {
    let (code, out) = exec(c, host, cmd);
    cmd.outcome(code, &out)
}

fn n(s: &str) -> ObjectName {
    ObjectName::new(s).expect("name")
}

pub(crate) const PASSWORD: &str = "Scaleio123";

/// Creates the 3-node cluster with the admin password set, logged in on h1.
pub(crate) fn build_cluster(c: &Cluster) {
    let pw = Secret::new(PASSWORD);
    judge(c, "h1", &scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1"))).expect("create");
    for cmd in scli::first_login_sequence(None, &pw) {
        judge(c, "h1", &cmd).unwrap_or_else(|e| panic!("{cmd}: {e}"));
    }
    judge(
        c,
        "h1",
        &scli::add_standby_mdm(None, "10.0.0.2", MdmRole::Manager, Some("10.0.0.2"), &n("mdm2")),
    )
    .expect("mdm2");
    judge(c, "h1", &scli::add_standby_mdm(None, "10.0.0.3", MdmRole::Tiebreaker, None, &n("tb")))
        .expect("tb");
    judge(c, "h1", &scli::switch_to_3_node(None, &[n("mdm2")], &[n("tb")])).expect("switch");
    judge(c, "h1", &scli::rename_system(None, &n("scaleio"))).expect("rename");
}

#[test]
fn cluster_creation_step_by_step_with_probes() {
    let c = four_hosts();
    let probe = scli::query_cluster(None);
    let (code, out) = exec(&c, "h1", &probe);
    assert_eq!(code, 7);
    assert_eq!(scli::parse_query_cluster(&out), Ok(None), "no cluster yet: {out}");

    // The real preconditions.
    let mut no_license = scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1")).argv();
    no_license.retain(|a| a != "--accept_license");
    let out = run(&no_license[1..], &c.state, &c.root("h1"));
    assert_eq!(
        (out.exit_code, out.output.as_str()),
        (EXIT_USAGE, "Error: the license must be accepted: add --accept_license\n")
    );
    let err = judge(&c, "h4", &scli::create_mdm_cluster("10.0.0.4", "10.0.0.4", &n("mdm1")))
        .expect_err("no mdm on h4");
    assert!(err.to_string().contains("Failed to connect to MDM 127.0.0.1:6611"), "{err}");
    let err = judge(&c, "h2", &scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1")))
        .expect_err("wrong host");
    assert!(err.to_string().contains("does not belong to this host"), "{err}");

    assert!(matches!(
        judge(&c, "h1", &scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1"))),
        Ok(ScliDone::Done { .. })
    ));
    assert_eq!(
        judge(&c, "h1", &scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1"))),
        Ok(ScliDone::AlreadyDone)
    );

    let pd = scli::add_protection_domain(None, &n("pd1"));
    assert!(matches!(judge(&c, "h1", &pd), Err(ScliError::NotLoggedIn { .. })));
    let err = judge(&c, "h1", &scli::login(None, "admin", &Secret::new("nope")))
        .expect_err("bad password");
    assert!(
        err.to_string().ends_with("Error: Failed to login. Status: Invalid username or password"),
        "{err}"
    );
    judge(&c, "h1", &scli::login(None, "admin", &Secret::new("admin"))).expect("initial login");
    let err = judge(&c, "h1", &pd).expect_err("password not changed");
    assert!(err.to_string().contains("The password must be changed"), "{err}");
    let pw = Secret::new(PASSWORD);
    judge(&c, "h1", &scli::set_password(None, &Secret::new("admin"), &pw)).expect("set password");
    assert!(
        matches!(judge(&c, "h1", &pd), Err(ScliError::NotLoggedIn { .. })),
        "set_password ends the session"
    );
    judge(&c, "h1", &scli::login(None, "admin", &pw)).expect("login");

    let err = judge(
        &c,
        "h1",
        &scli::add_standby_mdm(None, "10.0.0.9", MdmRole::Manager, None, &n("mdm9")),
    )
    .expect_err("no host");
    assert!(err.to_string().contains("Verify that the MDM package is installed"), "{err}");
    let err = judge(
        &c,
        "h1",
        &scli::add_standby_mdm(None, "10.0.0.4", MdmRole::Manager, None, &n("mdm4")),
    )
    .expect_err("no mdm pkg");
    assert!(err.to_string().contains("Verify that the MDM package is installed"), "{err}");
    let err =
        judge(&c, "h1", &scli::add_standby_mdm(None, "10.0.0.3", MdmRole::Manager, None, &n("tb")))
            .expect_err("role");
    assert!(err.to_string().contains("installed with role tb, not manager"), "{err}");
    let err = judge(&c, "h1", &scli::switch_to_3_node(None, &[n("mdm2")], &[n("tb")]))
        .expect_err("no standbys yet");
    assert!(err.to_string().contains("Could not find a standby MDM"), "{err}");

    let mdm2 =
        scli::add_standby_mdm(None, "10.0.0.2", MdmRole::Manager, Some("10.0.0.2"), &n("mdm2"));
    assert!(matches!(judge(&c, "h1", &mdm2), Ok(ScliDone::Done { object_id: Some(_) })));
    assert_eq!(judge(&c, "h1", &mdm2), Ok(ScliDone::AlreadyDone));
    let err = judge(
        &c,
        "h1",
        &scli::add_standby_mdm(None, "10.0.0.3", MdmRole::Tiebreaker, None, &n("mdm2")),
    )
    .expect_err("dup name");
    assert!(err.to_string().contains("An MDM with the same name already exists"), "{err}");
    judge(&c, "h1", &scli::add_standby_mdm(None, "10.0.0.3", MdmRole::Tiebreaker, None, &n("tb")))
        .expect("tb");

    let (_, out) = exec(&c, "h1", &probe);
    let facts = scli::parse_query_cluster(&out).expect("parse").expect("cluster");
    assert_eq!((facts.mode.as_str(), facts.standbys.len()), ("1_node", 2));

    let switch = scli::switch_to_3_node(None, &[n("mdm2")], &[n("tb")]);
    judge(&c, "h1", &switch).expect("switch");
    assert_eq!(judge(&c, "h1", &switch), Ok(ScliDone::AlreadyDone));
    judge(&c, "h1", &scli::rename_system(None, &n("scaleio"))).expect("rename");
    let (code, out) = exec(&c, "h1", &probe);
    assert_eq!(code, 0);
    let facts = scli::parse_query_cluster(&out).expect("parse").expect("cluster");
    assert_eq!(facts.mode, "3_node");
    assert_eq!(facts.name.as_deref(), Some("scaleio"));
    assert_eq!(
        facts.slaves.iter().map(|m| m.ips.clone()).collect::<Vec<_>>(),
        [vec!["10.0.0.2".to_owned()]]
    );
    assert_eq!(facts.tiebreakers[0].name, "tb");
    assert!(facts.standbys.is_empty());
}

#[test]
fn domains_pools_sds_and_devices() {
    let c = four_hosts();
    build_cluster(&c);
    let pd = scli::add_protection_domain(None, &n("pd1"));
    assert!(matches!(judge(&c, "h1", &pd), Ok(ScliDone::Done { object_id: Some(_) })));
    assert_eq!(judge(&c, "h1", &pd), Ok(ScliDone::AlreadyDone));
    let sp = scli::add_storage_pool(None, &n("pd1"), &n("sp1"));
    judge(&c, "h1", &sp).expect("pool");
    assert_eq!(judge(&c, "h1", &sp), Ok(ScliDone::AlreadyDone));
    let err =
        judge(&c, "h1", &scli::add_storage_pool(None, &n("nopd"), &n("sp1"))).expect_err("no pd");
    assert!(err.to_string().contains("Could not find the Protection Domain"), "{err}");

    let dev = |p: &str| DevicePath::new(p).expect("path");
    let err = judge(
        &c,
        "h1",
        &scli::add_sds(None, "10.0.0.4", &n("pd1"), &n("sds4"), &[(dev("/dev/xvdz"), n("sp1"))]),
    )
    .expect_err("missing");
    assert!(
        err.to_string().contains("SDS device /dev/xvdz does not exist on SDS 10.0.0.4"),
        "{err}"
    );
    let err = judge(
        &c,
        "h1",
        &scli::add_sds(None, "10.0.0.4", &n("pd1"), &n("sds4"), &[(dev("/dev/xvdg"), n("sp1"))]),
    )
    .expect_err("small");
    assert!(err.to_string().contains("the minimum device size is 90 GB"), "{err}");
    let err = judge(&c, "h1", &scli::add_sds(None, "10.0.0.9", &n("pd1"), &n("sds9"), &[]))
        .expect_err("no host");
    assert!(err.to_string().contains("Verify that the SDS package is installed"), "{err}");

    let sds =
        scli::add_sds(None, "10.0.0.4", &n("pd1"), &n("sds4"), &[(dev("/dev/xvdf"), n("sp1"))]);
    assert!(matches!(judge(&c, "h1", &sds), Ok(ScliDone::Done { object_id: Some(_) })));
    assert_eq!(judge(&c, "h1", &sds), Ok(ScliDone::AlreadyDone));
    let err = judge(&c, "h1", &scli::add_sds(None, "10.0.0.3", &n("pd1"), &n("sds4"), &[]))
        .expect_err("name taken");
    assert!(err.to_string().contains("An object with the given name already exists"), "{err}");
    let again = scli::add_sds_device(None, "10.0.0.4", &n("pd1"), &n("sp1"), &dev("/dev/xvdf"));
    assert_eq!(judge(&c, "h1", &again), Ok(ScliDone::AlreadyDone));

    let (code, out) = exec(&c, "h1", &scli::query_all_sds(None));
    assert_eq!(code, 0, "{out}");
    let all = scli::parse_query_all_sds(&out).expect("parse");
    assert_eq!(
        all.iter().map(|s| (s.name.as_str(), s.ip.as_str())).collect::<Vec<_>>(),
        [("sds4", "10.0.0.4")]
    );
    let (_, out) = exec(&c, "h1", &scli::query_all(None));
    let summary = scli::parse_query_all(&out);
    assert_eq!(summary.name.as_deref(), Some("scaleio"));
    assert!(summary.installation_id.is_some());
    assert_eq!(summary.protection_domains, vec![("pd1".to_owned(), vec!["sp1".to_owned()])]);
    let model = Model::load(&c.state).expect("model");
    let sys = model.system.expect("system");
    assert_eq!(sys.devices.len(), 1);
    assert_eq!(sys.devices[0].size_kb, 100 * 1024 * 1024);

    // `--query_sds` in ScaleIO 2.0's layout, by IP and by id, read by the executor's parser.
    let (code, out) = exec(&c, "h1", &scli::query_sds(None, "10.0.0.4"));
    assert_eq!(code, 0, "{out}");
    let sds_id = &sys.sds[0].id;
    assert!(out.starts_with(&format!("SDS {sds_id} Name: sds4 Version: 2.0.10000\n")), "{out}");
    for line in [
        "Protection Domain: ",
        "DRL mode: Volatile\n",
        "IP information (total 1 IPs):\n\t 1: 10.0.0.4\tRole: All (SDS and SDC)\n\tPort: 7072\n",
        "Device information (total 1 devices):\n",
        "\t\tStorage Pool: sp1, Capacity: 100 GB Error-fixes: 0 scanned 0 MB, Compare errors: 0 State: Normal\n",
        "\nNo devices use Rfcache\nMembership-state: Joined; Connection-state: Connected;",
        "\t100 GB (102400 MB) total capacity\n",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let devices = scli::parse_query_sds_devices(&out).expect("parses");
    assert_eq!(
        devices.iter().map(|d| (d.path.as_str(), d.storage_pool.as_deref())).collect::<Vec<_>>(),
        [("/dev/xvdf", Some("sp1"))]
    );
    assert_eq!(devices[0].id, sys.devices[0].id);
    let by_id =
        run(&["--query_sds".into(), "--sds_id".into(), sds_id.clone()], &c.state, &c.root("h1"));
    assert_eq!((by_id.exit_code, by_id.output), (0, out));
}

#[test]
fn usage_errors() {
    let c = four_hosts();
    let r = |args: &[&str]| {
        run(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), &c.state, &c.root("h1"))
    };
    assert_eq!(r(&["--bogus"]).output, "Error: unknown option --bogus\n");
    assert_eq!(r(&["--login", "--username"]).output, "Error: option --username requires a value\n");
    assert_eq!(r(&[]).exit_code, EXIT_USAGE);
    assert_eq!(r(&["--login", "--query_cluster"]).output, "Error: more than one command given\n");
}
