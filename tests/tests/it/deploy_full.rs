//! End-to-end deployments with the real scheduler and executors on the emulator: full
//! provisioning and pre-configured mode on 5 mixed Ubuntu 14.04 / RHEL 7 agents complete, every
//! node gets its persona, the stand-ins' cluster holds what the plan built, REX-Ray's config is
//! private, and the password appears in no log, response, record or world-readable file.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use testkit::deployment::{
    Deployment, DeploymentSpec, EXISTING_MDMS, Mode, slow_tests_enabled, steps_of,
};
use testkit::standins::model::Model;

/// Upper bound of one deployment (a 5-agent full deployment takes about 20 s here).
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(180);

/// What every completed deployment must show.
pub async fn check_deployed(d: &Deployment) {
    let (status, health) = d.get("/v1/health").await.expect("health");
    assert_eq!(status, 200, "{health}");
    let (_, nodes) = d.get("/v1/nodes").await.expect("nodes");
    let nodes = nodes.as_array().expect("nodes array").clone();
    assert_eq!(nodes.len(), d.spec.agents.len(), "{nodes:?}");
    let mut personas: BTreeMap<String, usize> = BTreeMap::new();
    for n in &nodes {
        assert_eq!(n["status"], "ready", "{n}");
        let persona = n["persona"].as_str().unwrap_or_else(|| panic!("no persona: {n}"));
        *personas.entry(persona.to_owned()).or_default() += 1;
    }
    let model = Model::load(d.standin_state()).expect("model");
    let system = model.system.clone().expect("the ScaleIO cluster exists");
    let mdms: Vec<&str> = std::iter::once(&system.master)
        .chain(&system.slaves)
        .chain(&system.tiebreakers)
        .map(|m| m.ip.as_str())
        .collect();
    assert_eq!(mdms.len(), 3, "three MDMs: {mdms:?}");
    let agent_ips: Vec<String> =
        nodes.iter().map(|n| n["ip"].as_str().expect("node ip").to_owned()).collect();
    match d.spec.mode {
        Mode::Full => {
            let want = BTreeMap::from([
                ("data".to_owned(), d.spec.agents.len() - 3),
                ("primary".to_owned(), 1),
                ("secondary".to_owned(), 1),
                ("tiebreaker".to_owned(), 1),
            ]);
            assert_eq!(personas, want);
            for ip in &mdms {
                assert!(agent_ips.iter().any(|a| a == ip), "MDM {ip} is one of the agents");
            }
            let primary = nodes.iter().find(|n| n["persona"] == "primary").expect("primary");
            assert_eq!(system.master.ip, primary["ip"].as_str().expect("ip"));
        }
        Mode::Preconfigured => {
            assert_eq!(mdms, EXISTING_MDMS.to_vec(), "the existing cluster's MDMs");
        }
    }
    // Every agent is an SDS (with its device in the pool) and an SDC of this cluster.
    for ip in &agent_ips {
        let sds = system.sds.iter().find(|s| &s.ip == ip);
        let sds = sds.unwrap_or_else(|| panic!("no SDS at {ip}: {:?}", system.sds));
        assert!(
            system.devices.iter().any(|dev| dev.sds_id == sds.id),
            "SDS {ip} has no device: {:?}",
            system.devices
        );
    }
    assert_eq!(system.sds.len(), agent_ips.len(), "{:?}", system.sds);
    check_capacity(d, system.devices.iter().map(|dev| dev.size_kb).sum()).await;
    // Every node's SDC is connected to this cluster, as the gateway lists them to a user (the
    // MDM's own list): one SDC per agent, by its IP, with the GUID `drv_cfg --query_guid` prints
    // there. And each SDC is pointed at the cluster's manager MDMs (`drv_cfg --query_mdms`);
    // tiebreakers serve no SDC.
    let api = scaleio::gateway::Gateway::new(scaleio::gateway::GatewayConfig {
        endpoint: d.gateway.endpoint(),
        username: "admin".into(),
        password: scaleio::Secret::new(d.password()),
        tls: scaleio::step::GatewayTls::CaFile { path: d.gateway.ca_file().display().to_string() },
        timeout: Duration::from_secs(10),
    })
    .expect("gateway client");
    let sdcs = api.sdcs(&system.id).await.expect("the gateway lists the SDCs");
    let mut sdc_ips: Vec<&str> = sdcs.iter().filter_map(|c| c.sdc_ip.as_deref()).collect();
    sdc_ips.sort_unstable();
    let mut want_ips: Vec<&str> = agent_ips.iter().map(String::as_str).collect();
    want_ips.sort_unstable();
    assert_eq!(sdc_ips, want_ips, "one SDC per agent: {sdcs:?}");
    let mut want_mdms: Vec<&str> =
        std::iter::once(&system.master).chain(&system.slaves).map(|m| m.ip.as_str()).collect();
    want_mdms.sort_unstable();
    for (host, _) in &d.spec.agents {
        let root = d.host_root(host);
        let drv_cfg = |arg: &str| testkit::standins::host::drv_cfg(&root, &[arg], None).stdout;
        let guid = scaleio::scli::parse_drv_cfg_query_guid(&drv_cfg("--query_guid"))
            .unwrap_or_else(|| panic!("no SDC GUID on {host}"));
        let ip = &nodes.iter().find(|n| n["hostname"] == host.as_str()).expect("node")["ip"];
        assert!(
            sdcs.iter().any(|c| c.sdc_guid == guid && c.sdc_ip.as_deref() == ip.as_str()),
            "the SDC on {host} ({guid}, {ip}) is not connected: {sdcs:?}"
        );
        let mut got = scaleio::scli::parse_drv_cfg_query_mdms(&drv_cfg("--query_mdms"));
        got.sort_unstable();
        assert_eq!(got, want_mdms, "the SDC on {host}");
    }
    // REX-Ray's config holds the password: written owner-only on every node.
    for (host, _) in &d.spec.agents {
        let path = d.host_root(host).join("etc/rexray/config.yml");
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", path.display());
        let text = std::fs::read_to_string(&path).expect("rexray config");
        assert!(text.contains(d.password()), "REX-Ray gets the password: {}", path.display());
    }
    // No response carries the password, and no file but the allowed private ones holds it.
    for path in ["/v1/plan", "/v1/nodes", "/v1/health", "/metrics", "/", "/version"] {
        let (_, body) = d.get_text(path).await.expect(path);
        assert!(!body.contains(d.password()), "GET {path} shows the password");
    }
    let leaks = d.record_leaks().expect("record");
    assert!(leaks.is_empty(), "the password went over the Mesos APIs in:\n{}", leaks.join("\n"));
    let leaks = d.secret_leaks();
    assert!(leaks.is_empty(), "the password leaked into:\n{}", leaks.join("\n"));
}

/// The scheduler reads the ScaleIO capacity from the gateway (the stand-in, whose statistics add
/// up the devices the SDS steps put in its model): `/v1/capacity` and `/metrics` show `raw_kb`.
pub async fn check_capacity(d: &Deployment, raw_kb: u64) {
    assert!(raw_kb > 0, "the SDS steps added devices");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = d.get("/v1/capacity").await.expect("capacity");
        if body["gateway"]["up"] == true && body["capacity"]["max_kb"] == raw_kb {
            assert_eq!(body["gateway"]["endpoint"], d.gateway.endpoint(), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the capacity never showed {raw_kb} KiB raw from the gateway: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, metrics) = d.get_text("/metrics").await.expect("metrics");
    let sample = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
    };
    assert_eq!(sample("scaleio_gateway_up"), 1.0);
    assert_eq!(sample("scaleio_capacity_max_bytes"), raw_kb as f64 * 1024.0);
    assert_eq!(sample("scaleio_capacity_limit_bytes"), raw_kb as f64 * 1024.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_provisioning_on_five_agents_completes() {
    let mut d = Deployment::start(DeploymentSpec::new(5)).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    let plan = d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete");
    let kinds: Vec<String> =
        steps_of(&plan).iter().map(|s| s["kind"].as_str().unwrap_or("?").to_owned()).collect();
    for kind in ["preflight", "reboot", "verify"] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            5,
            "one {kind} per node: {kinds:?}"
        );
    }
    check_deployed(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconfigured_mode_on_five_agents_joins_the_existing_cluster() {
    if !slow_tests_enabled("preconfigured_mode_on_five_agents_joins_the_existing_cluster") {
        return;
    }
    let spec = DeploymentSpec::new(5).mode(Mode::Preconfigured);
    let mut d = Deployment::start(spec).await.expect("deployment");
    d.start_scheduler().await.expect("scheduler");
    d.wait_complete(DEPLOY_TIMEOUT).await.expect("complete");
    check_deployed(&d).await;
    let (_, nodes) = d.get("/v1/nodes").await.expect("nodes");
    for n in nodes.as_array().expect("nodes") {
        assert_eq!(n["persona"], "data", "pre-configured nodes are data nodes: {n}");
    }
}
