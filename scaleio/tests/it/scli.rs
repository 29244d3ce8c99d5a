//! `scli` builders (argv, redaction) and parsers (success, failure, already-done, probes).

use expect_test::expect;
use scaleio::scli::{self, ScliDone, ScliError};
use scaleio::topology::MdmRole;
use scaleio::{DevicePath, ObjectName, Secret};

fn n(s: &str) -> ObjectName {
    ObjectName::new(s).expect("valid name")
}

#[test]
fn builders_make_argv_and_never_show_the_password() {
    let pw = Secret::new("S3cret!");
    let login = scli::login(Some("10.0.0.1"), "admin", &pw);
    assert_eq!(
        login.argv(),
        ["scli", "--mdm_ip", "10.0.0.1", "--login", "--username", "admin", "--password", "S3cret!"]
    );
    assert_eq!(login.to_string(), "scli --mdm_ip 10.0.0.1 --login --username admin --password ***");
    assert!(!format!("{login:?}").contains("S3cret"));
    let setpw = scli::set_password(None, &Secret::new("admin"), &pw);
    assert_eq!(setpw.to_string(), "scli --set_password --old_password *** --new_password ***");

    let cmds = [
        scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1")),
        scli::add_standby_mdm(None, "10.0.0.2", MdmRole::Manager, Some("10.0.0.2"), &n("mdm2")),
        scli::add_standby_mdm(None, "10.0.0.3", MdmRole::Tiebreaker, None, &n("tb")),
        scli::switch_to_3_node(None, &[n("mdm2")], &[n("tb")]),
        scli::rename_system(Some("10.0.0.1"), &n("scaleio")),
        scli::add_protection_domain(None, &n("pd1")),
        scli::add_storage_pool(None, &n("pd1"), &n("sp1")),
        scli::add_sds(
            None,
            "10.0.0.4",
            &n("pd1"),
            &n("sds_10.0.0.4"),
            &[
                (DevicePath::new("/dev/xvdf").expect("p"), n("sp1")),
                (DevicePath::new("/dev/xvdg").expect("p"), n("sp2")),
            ],
        ),
        scli::add_sds_device(
            None,
            "10.0.0.4",
            &n("pd1"),
            &n("sp1"),
            &DevicePath::new("/dev/xvdh").expect("p"),
        ),
        scli::query_cluster(None),
        scli::query_all_sds(None),
        scli::query_all(None),
        scli::drv_cfg_add_mdm(&["10.0.0.1".into(), "10.0.0.2".into()]),
        scli::drv_cfg_query_mdms(),
        scli::drv_cfg_query_guid(),
    ];
    let text: Vec<String> = cmds.iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "scli --create_mdm_cluster --master_mdm_ip 10.0.0.1 --master_mdm_management_ip 10.0.0.1 --master_mdm_name mdm1 --accept_license --approve_certificate",
            "scli --add_standby_mdm --new_mdm_ip 10.0.0.2 --mdm_role manager --new_mdm_management_ip 10.0.0.2 --new_mdm_name mdm2",
            "scli --add_standby_mdm --new_mdm_ip 10.0.0.3 --mdm_role tb --new_mdm_name tb",
            "scli --switch_cluster_mode --cluster_mode 3_node --add_slave_mdm_name mdm2 --add_tb_name tb",
            "scli --mdm_ip 10.0.0.1 --rename_system --new_name scaleio",
            "scli --add_protection_domain --protection_domain_name pd1",
            "scli --add_storage_pool --protection_domain_name pd1 --storage_pool_name sp1",
            "scli --add_sds --sds_ip 10.0.0.4 --protection_domain_name pd1 --sds_name sds_10.0.0.4 --device_path /dev/xvdf,/dev/xvdg --storage_pool_name sp1,sp2",
            "scli --add_sds_device --sds_ip 10.0.0.4 --protection_domain_name pd1 --storage_pool_name sp1 --device_path /dev/xvdh",
            "scli --query_cluster",
            "scli --query_all_sds",
            "scli --query_all",
            "/opt/emc/scaleio/sdc/bin/drv_cfg --add_mdm --ip 10.0.0.1,10.0.0.2 --file /bin/emc/scaleio/drv_cfg.txt",
            "/opt/emc/scaleio/sdc/bin/drv_cfg --query_mdms",
            "/opt/emc/scaleio/sdc/bin/drv_cfg --query_guid",
        ]
    "#]]
    .assert_debug_eq(&text);
}

#[test]
fn outcomes_success_failure_and_already_done() {
    let pd = scli::add_protection_domain(None, &n("pd1"));
    assert_eq!(
        pd.outcome(0, "Successfully created protection domain pd1. Object ID 9a7c2f1e00000000\n"),
        Ok(ScliDone::Done { object_id: Some("9a7c2f1e00000000".into()) })
    );
    assert_eq!(
        pd.outcome(
            7,
            "Error: MDM failed command.  Status: An object with the given name already exists\n"
        ),
        Ok(ScliDone::AlreadyDone)
    );
    let err = pd
        .outcome(
            7,
            "Error: MDM failed command.  Status: Invalid session. Please login and try again.\n",
        )
        .expect_err("login");
    assert!(matches!(err, ScliError::NotLoggedIn { .. }), "{err}");
    let err = pd.outcome(0, "something else\n").expect_err("no marker");
    assert_eq!(
        err.to_string(),
        "`scli --add_protection_domain --protection_domain_name pd1` exited 0 but its output lacks `Successfully created protection domain`; not retrying a possibly non-idempotent command"
    );

    let login = scli::login(None, "admin", &Secret::new("bad-pw"));
    let err = login
        .outcome(7, "Error: Failed to login. Status: Invalid username or password\n")
        .expect_err("bad pw");
    assert_eq!(
        err.to_string(),
        "`scli --login --username admin --password ***` failed with exit code 7: Error: Failed to login. Status: Invalid username or password"
    );
    assert_eq!(
        login.outcome(0, "Logged in. User role is SuperUser. System ID is 1b2c3d4e5f607182\n"),
        Ok(ScliDone::Done { object_id: None })
    );

    let create = scli::create_mdm_cluster("10.0.0.1", "10.0.0.1", &n("mdm1"));
    assert_eq!(
        create.outcome(
            0,
            "Successfully created the MDM Cluster. Master MDM ID: 0x4a1b2c3d4e5f6071\n"
        ),
        Ok(ScliDone::Done { object_id: None })
    );
    assert_eq!(
        create.outcome(
            7,
            "Error: MDM failed command.  Status: The MDM cluster is already configured\n"
        ),
        Ok(ScliDone::AlreadyDone)
    );

    let standby = scli::add_standby_mdm(None, "10.0.0.3", MdmRole::Tiebreaker, None, &n("tb"));
    assert_eq!(
        standby.outcome(0, "Successfully added a standby MDM. Object ID 5e6f708192a3b4c5\n"),
        Ok(ScliDone::Done { object_id: Some("5e6f708192a3b4c5".into()) })
    );
    let err = standby
        .outcome(7, "Error: MDM failed command.  Status: Could not connect to the new MDM. Verify that the MDM package is installed\n")
        .expect_err("not installed");
    assert!(err.to_string().contains("Could not connect to the new MDM"), "{err}");
    let switch = scli::switch_to_3_node(None, &[n("mdm2")], &[n("tb")]);
    assert_eq!(
        switch.outcome(0, "Successfully switched the cluster mode.\n"),
        Ok(ScliDone::Done { object_id: None })
    );
    assert_eq!(
        switch.outcome(
            7,
            "Error: MDM failed command.  Status: Cluster is already in the requested mode\n"
        ),
        Ok(ScliDone::AlreadyDone)
    );
}

const QUERY_CLUSTER_3: &str = "Cluster:
    Name: scaleio, ID: 1b2c3d4e5f607182, Mode: 3_node, State: Normal, Active: 3/3, Replicas: 2/2
    Virtual IPs: N/A
Master MDM:
    Name: mdm1, ID: 0x4a1b2c3d4e5f6071
        IPs: 10.0.0.1, Management IPs: 10.0.0.1, Port: 9011, Virtual IP interfaces: N/A
        Version: 2.0.10000
Slave MDMs:
    Name: mdm2, ID: 0x0a1b2c3d4e5f6072
        IPs: 10.0.0.2, Management IPs: 10.0.0.2, Port: 9011, Virtual IP interfaces: N/A
        Status: Normal, Version: 2.0.10000
Tie-Breakers:
    Name: tb, ID: 0x2a1b2c3d4e5f6073
        IPs: 10.0.0.3, Port: 9011
        Status: Normal, Version: 2.0.10000
";

#[test]
fn query_cluster_parses_modes_members_and_absence() {
    let facts = scli::parse_query_cluster(QUERY_CLUSTER_3).expect("parse").expect("cluster");
    assert_eq!(facts.mode, "3_node");
    assert_eq!(facts.state, "Normal");
    assert_eq!(facts.name.as_deref(), Some("scaleio"));
    assert_eq!(
        facts.master.as_ref().map(|m| (m.name.as_str(), m.ips.clone())),
        Some(("mdm1", vec!["10.0.0.1".to_owned()]))
    );
    assert_eq!(facts.slaves[0].name, "mdm2");
    assert_eq!(facts.tiebreakers[0].ips, ["10.0.0.3"]);

    let one = "Cluster:\n    ID: 1b2c3d4e5f607182, Mode: 1_node, State: Not clustered, Active: 1/1, Replicas: 1/1\nMaster MDM:\n    Name: mdm1, ID: 0x4a\n        IPs: 10.0.0.1, Management IPs: 10.0.0.1, Port: 9011\nStandby MDMs:\n    Name: tb, ID: 0x2a, Tie Breaker\n        IPs: 10.0.0.3, Port: 9011\n";
    let facts = scli::parse_query_cluster(one).expect("parse").expect("cluster");
    assert_eq!((facts.mode.as_str(), facts.name.clone()), ("1_node", None));
    assert_eq!(facts.standbys.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["tb"]);

    assert_eq!(
        scli::parse_query_cluster(
            "Error: MDM failed command.  Status: This MDM is not part of a cluster\n"
        ),
        Ok(None)
    );
    assert!(scli::parse_query_cluster("garbage").is_err());
}

#[test]
fn query_all_sds_and_query_all() {
    let none = "Query-all-SDS returned 0 SDS nodes.\n";
    assert_eq!(scli::parse_query_all_sds(none), Ok(vec![]));
    let two = "Query-all-SDS returned 2 SDS nodes.\n\nProtection Domain 8f1e2d3c00000000 (Name: pd1)\nSDS ID: 3c4d5e6f00000000 Name: sds_10.0.0.4 State: Connected, Joined IP: 10.0.0.4 Port: 7072 Version: 2.0.10000 Protection Domain: 8f1e2d3c00000000\nSDS ID: 3c4d5e6f00000001 Name: sds_10.0.0.5 State: Connected, Joined IP: 10.0.0.5 Port: 7072 Version: 2.0.10000 Protection Domain: 8f1e2d3c00000000\n";
    let sds = scli::parse_query_all_sds(two).expect("parse");
    assert_eq!(
        sds.iter().map(|s| (s.name.as_str(), s.ip.as_str())).collect::<Vec<_>>(),
        [("sds_10.0.0.4", "10.0.0.4"), ("sds_10.0.0.5", "10.0.0.5")]
    );
    assert_eq!(sds[0].protection_domain_id, "8f1e2d3c00000000");
    assert!(scli::parse_query_all_sds("Query-all-SDS returned 3 SDS nodes.\n").is_err());
    assert!(scli::parse_query_all_sds("").is_err());

    let all = "System Info:\n\tProduct:  EMC ScaleIO Version: R2_0.10000.2072\n\tID:      1b2c3d4e5f607182\n\tName:    scaleio\n\tInstallation ID: 6d5c4b3a29181706\n\nProtection Domain 8f1e2d3c00000000 (Name: pd1)\nStorage Pool 7a6b5c4d00000000 (Name: sp1)\nStorage Pool 7a6b5c4d00000001 (Name: sp2)\nProtection Domain 8f1e2d3c00000001 (Name: pd2)\n";
    let s = scli::parse_query_all(all);
    assert_eq!(s.installation_id.as_deref(), Some("6d5c4b3a29181706"));
    assert_eq!(s.name.as_deref(), Some("scaleio"));
    assert_eq!(
        s.protection_domains,
        vec![
            ("pd1".to_owned(), vec!["sp1".to_owned(), "sp2".to_owned()]),
            ("pd2".to_owned(), vec![])
        ]
    );
}

#[test]
fn drv_cfg_parsers() {
    let out = "Retrieved 1 mdm(s)\nMDM-ID 1b2c3d4e5f607182 SDC ID 9a8b7c6d00000000 INSTALLATION ID 6d5c4b3a29181706 IPs [0]-10.0.0.1 [1]-10.0.0.2\n";
    assert_eq!(scli::parse_drv_cfg_query_mdms(out), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(scli::parse_drv_cfg_query_mdms("Retrieved 0 mdm(s)\n"), Vec::<String>::new());
    assert_eq!(
        scli::parse_drv_cfg_query_guid("5b6f4c1a-3d2e-4f10-9a8b-7c6d5e4f3a2b\n").as_deref(),
        Some("5B6F4C1A-3D2E-4F10-9A8B-7C6D5E4F3A2B")
    );
    assert_eq!(scli::parse_drv_cfg_query_guid("scini is not loaded\n"), None);
}

#[test]
fn query_sds_lists_the_devices_and_checks_the_count() {
    let c = scli::query_sds(Some("10.0.0.1"), "10.0.0.4");
    assert_eq!(
        c.redacted(),
        ["scli", "--mdm_ip", "10.0.0.1", "--query_sds", "--sds_ip", "10.0.0.4"]
    );
    // Shaped like a real ScaleIO 2.0 `--query_sds` (layout of a 2.0.12000 output; the values
    // are made up): devices followed by an Rfcache section whose numbered lines are not devices.
    let text = concat!(
        "SDS 8a51c2d900000003 Name: sds_10.0.0.4 Version: 2.0.10000\n",
        "Protection Domain: 5b0ee4a100000000, Name: pd1\n",
        "DRL mode: Volatile\n",
        "Authentication error: None\n",
        "IP information (total 1 IPs):\n",
        "\t 1: 10.0.0.4\tRole: All (SDS and SDC)\n",
        "\tPort: 7072\n",
        "RAM Read Cache information:\n",
        "\t128.0 MB (131072 KB) total size\n",
        "\tCache is enabled\n",
        "\tRAM Read Cache memory allocation state is SUCCESSFUL\n",
        "\n",
        "Rfcache enabled\n",
        "\n",
        "Device information (total 2 devices):\n",
        "\t 1: Name: N/A  Path: /dev/xvdf  Original-path: /dev/xvdf  ID: d1b7e3f200000000\n",
        "\t\tStorage Pool: sp1, Capacity: 99 GB Error-fixes: 0 scanned 0 MB, Compare errors: 0 State: Normal\n",
        "\t 2: Name: data2  Path: /dev/xvdg  Original-path: /dev/xvdg  ID: d1b7e3f300000001\n",
        "\t\tStorage Pool: sp2, Capacity: 49 GB Error-fixes: 0 scanned 1024 MB, Compare errors: 0 State: Normal\n",
        "\n",
        "Rfcache device information (total 1 devices):\n",
        "\t 1: Name: N/A  Path: /dev/nvme0n1  Original-path: /dev/nvme0n1  ID: e4c2a91000000000\n",
        "Membership-state: Joined; Connection-state: Connected; SDS-state: Normal; 0 devices with error; 0 Rfcache devices with errors\n",
        "\t148 GB (152576 MB) total capacity\n",
        "\t0 active moving-in rebalance jobs\n",
        "\tPrimary-reads                            0 IOPS 0 Bytes per-second\n",
    );
    let devices = scli::parse_query_sds_devices(text).expect("parses");
    assert_eq!(
        devices
            .iter()
            .map(|d| (d.path.as_str(), d.id.as_str(), d.storage_pool.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("/dev/xvdf", "d1b7e3f200000000", Some("sp1")),
            ("/dev/xvdg", "d1b7e3f300000001", Some("sp2"))
        ],
        "the Rfcache device is not a storage device"
    );
    let none = concat!(
        "SDS 8a51c2d900000003 Name: s Version: 2.0.10000\n",
        "Device information (total 0 devices):\n",
        "\n",
        "No devices use Rfcache\n",
        "Membership-state: Joined; Connection-state: Connected; SDS-state: Normal; 0 devices with error; 0 Rfcache devices with errors\n",
    );
    assert!(scli::parse_query_sds_devices(none).expect("parses").is_empty());
    let short = text.replace("(total 2 devices)", "(total 3 devices)");
    let err = scli::parse_query_sds_devices(&short).expect_err("count mismatch").to_string();
    assert!(err.contains("header says 3 devices, found 2"), "{err}");
    let no_path = text.replace("Path: /dev/xvdf  ", "");
    let err = scli::parse_query_sds_devices(&no_path).expect_err("no path").to_string();
    assert!(err.contains("no `Path:`"), "{err}");
    assert!(scli::parse_query_sds_devices("Error: something").is_err());
}
