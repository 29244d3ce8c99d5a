//! The demo assets under `demo/` (CloudFormation templates, Marathon apps, the operator guide) stay valid, agree with each other, and agree with the real `scaleio-scheduler`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TEMPLATES: &[(&str, &str)] = &[
    ("demo/cloudformation/scaleio-mesos-ubuntu14.json", "ubuntu14"),
    ("demo/cloudformation/scaleio-mesos-rhel7.json", "rhel7"),
];
const SCHEDULER_APPS: &[&str] =
    &["demo/marathon/scaleio-scheduler.json", "demo/marathon/scaleio-scheduler-full.json"];
const EXAMPLE_NATIVE: &str = "demo/marathon/example-stateful-app.json";
const EXAMPLE_DVDI_ENV: &str = "demo/marathon/example-stateful-app-dvdi-env.json";
const GUIDE: &str = "demo/README.md";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().expect("the tests crate lives inside the workspace").to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|err| panic!("{rel} is not valid JSON: {err}"))
}

fn demo_files(ext: &str) -> Vec<String> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("demo/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if ext.is_empty() || path.extension() == Some(OsStr::new(ext)) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("demo"), ext, &mut out);
    let mut rel: Vec<String> = out
        .iter()
        .map(|p| p.strip_prefix(root()).expect("under the root").display().to_string())
        .collect();
    rel.sort();
    rel
}

/// The one subprocess constructor of this module: argv only, C locale.
#[expect(clippy::disallowed_methods, reason = "the one command constructor")]
fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to completion or kills it after `timeout`, keeping both output streams.
fn run(mut cmd: Command, timeout: Duration) -> std::io::Result<Output> {
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting on a child works") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    })
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

fn resources_of_type<'a>(template: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources is an object")
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

/// All `{{NAME}}` placeholders in a text.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.insert(format!("{{{{{}}}}}", &after[..end]));
        rest = &after[end + 2..];
    }
    out
}

/// The first-column names of every Markdown table whose header's first cell is `header`.
fn table_names(markdown: &str, header: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_table = false;
    for line in markdown.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let first = line.trim_matches('|').split('|').next().unwrap_or("").trim();
        if first.starts_with("---") || first.starts_with(":--") {
            continue;
        }
        if !in_table && first == header {
            in_table = true;
            continue;
        }
        if in_table {
            names.insert(first.trim_matches('`').to_owned());
        }
    }
    names
}

/// Words that follow `marker` in `text`, made of `[A-Za-z0-9]`.
fn words_after(text: &str, marker: &str) -> BTreeSet<String> {
    text.match_indices(marker)
        .map(|(i, _)| {
            text[i + marker.len()..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
        })
        .filter(|w: &String| !w.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Every file
// ---------------------------------------------------------------------------------------------

#[test]
fn every_demo_json_file_parses_and_the_expected_ones_exist() {
    let files = demo_files("json");
    for (template, _) in TEMPLATES {
        assert!(files.contains(&template.to_string()), "missing {template}; found {files:?}");
    }
    for app in SCHEDULER_APPS.iter().chain([&EXAMPLE_NATIVE, &EXAMPLE_DVDI_ENV]) {
        assert!(files.contains(&app.to_string()), "missing {app}; found {files:?}");
    }
    for file in &files {
        json(file);
    }
}

// ---------------------------------------------------------------------------------------------
// CloudFormation
// ---------------------------------------------------------------------------------------------

#[test]
fn cloudformation_templates_pass_cfn_lint() {
    // One cfn-lint per template, side by side: most of its time is start-up and CPU.
    let outputs: Vec<(&str, std::io::Result<Output>)> = std::thread::scope(|scope| {
        let runs: Vec<_> = TEMPLATES
            .iter()
            .map(|(template, _)| {
                scope.spawn(move || {
                    let mut cmd = command("cfn-lint");
                    cmd.current_dir(root()).arg("--format").arg("parseable").arg(template);
                    (*template, run(cmd, Duration::from_secs(180)))
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("cfn-lint runner")).collect()
    });
    for (template, output) in outputs {
        let output = output.unwrap_or_else(|err| {
            panic!("cannot run cfn-lint: {err}\nhint: `cargo xtask test` installs it (or `pip install cfn-lint`)")
        });
        let code = output.status.code().unwrap_or(-1);
        // cfn-lint exit code: bit 1 = fatal, bit 2 = errors, bit 4 = warnings, bit 8 = informational.
        assert!(
            code >= 0 && code & 0b11 == 0,
            "cfn-lint reports errors in {template} (exit {code}):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn both_templates_offer_the_same_parameters_outputs_and_ports() {
    let [(a_path, _), (b_path, _)] = TEMPLATES else { unreachable!("two templates") };
    let (a, b) = (json(a_path), json(b_path));
    assert_eq!(keys(&a["Parameters"]), keys(&b["Parameters"]), "parameters differ");
    assert_eq!(keys(&a["Outputs"]), keys(&b["Outputs"]), "outputs differ");
    assert_eq!(keys(&a["Resources"]), keys(&b["Resources"]), "resources differ");
    assert_eq!(a["Resources"]["ClusterSecurityGroup"], b["Resources"]["ClusterSecurityGroup"]);
    for template in [&a, &b] {
        let params = keys(&template["Parameters"]);
        for required in [
            "KeyName",
            "AllowedCIDR",
            "MasterInstanceType",
            "AgentInstanceType",
            "AgentCount",
            "DataVolumeSize",
            "CreateScaleIOCluster",
            "ScaleIOPlacement",
        ] {
            assert!(params.contains(required), "parameter {required} missing");
        }
        assert_eq!(template["Parameters"]["AgentCount"]["Default"], "3");
        assert_eq!(template["Parameters"]["KeyName"]["Type"], "AWS::EC2::KeyPair::KeyName");
        assert!(
            template["Parameters"]["AllowedCIDR"].get("Default").is_none(),
            "AllowedCIDR must be chosen by the operator, never default to the world"
        );
        let outputs = keys(&template["Outputs"]);
        for required in ["MesosUrl", "MarathonUrl", "SchedulerUrl"] {
            assert!(outputs.contains(required), "output {required} missing");
        }
        for param in params {
            assert!(
                !param.to_ascii_lowercase().contains("password"),
                "parameter {param}: the admin password is generated into Secrets Manager, never a parameter"
            );
        }
    }
}

fn port_range(rule: &Value) -> (u64, u64) {
    let port = |v: &Value| v.as_u64().unwrap_or(0);
    (port(&rule["FromPort"]), port(&rule["ToPort"]))
}

#[test]
fn security_group_opens_only_what_the_cluster_needs() {
    for (path, _) in TEMPLATES {
        let template = json(path);
        let group = &template["Resources"]["ClusterSecurityGroup"]["Properties"];
        let mut external = BTreeSet::new();
        for rule in group["SecurityGroupIngress"].as_array().expect("ingress list") {
            assert_eq!(rule["CidrIp"], serde_json::json!({"Ref": "AllowedCIDR"}), "{path}: {rule}");
            if rule["FromPort"] == serde_json::json!({"Ref": "SchedulerPort"}) {
                assert_eq!(rule["ToPort"], rule["FromPort"]);
                external.insert("scheduler".to_owned());
            } else {
                let (from, to) = port_range(rule);
                assert_eq!(from, to, "{path}: external rules open single ports: {rule}");
                external.insert(from.to_string());
            }
        }
        let expected: BTreeSet<String> =
            ["22", "5050", "5051", "8080", "scheduler"].iter().map(|s| s.to_string()).collect();
        assert_eq!(external, expected, "{path}: ports open to AllowedCIDR");

        let mut intra = BTreeSet::new();
        for (name, rule) in resources_of_type(&template, "AWS::EC2::SecurityGroupIngress") {
            let props = &rule["Properties"];
            assert_eq!(
                props["SourceSecurityGroupId"],
                serde_json::json!({"Ref": "ClusterSecurityGroup"}),
                "{path}: {name} must admit the cluster's own group only"
            );
            assert!(props.get("CidrIp").is_none(), "{path}: {name}");
            intra.insert(port_range(props));
        }
        let expected: BTreeSet<(u64, u64)> = [
            (80, 80),
            (443, 443),
            (2181, 2181),
            (5050, 5050),
            (5051, 5051),
            (6611, 6611),
            (7072, 7072),
            (8080, 8080),
            (9011, 9011),
            (9099, 9099),
            (31000, 32000),
        ]
        .into_iter()
        .collect();
        assert_eq!(intra, expected, "{path}: intra-cluster ports");
        assert!(
            !read(path).contains("\"CidrIp\": \"0.0.0.0/0\""),
            "{path}: nothing is open to the whole internet"
        );
    }
}

fn init_script(instance: &Value) -> String {
    let content = &instance["Metadata"]["AWS::CloudFormation::Init"]["setup"]["files"]["/usr/local/sbin/scaleio-demo-setup"]
        ["content"];
    content
        .get("Fn::Sub")
        .and_then(Value::as_str)
        .or_else(|| content.as_str())
        .expect("setup script is a string or Fn::Sub string")
        .to_owned()
}

#[test]
fn every_instance_signals_the_stack_and_agents_are_configured_for_scaleio() {
    for (path, os) in TEMPLATES {
        let template = json(path);
        let instances = resources_of_type(&template, "AWS::EC2::Instance");
        assert!(instances.len() >= 1 + 3 + 3, "{path}: master, agents, ScaleIO nodes");
        for (name, instance) in &instances {
            assert_eq!(instance["CreationPolicy"]["ResourceSignal"]["Count"], 1, "{path}: {name}");
            let user_data =
                instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"].as_str().unwrap_or("");
            assert!(
                user_data.contains("cfn-init") && user_data.contains("cfn-signal"),
                "{path}: {name} runs cfn-init and signals"
            );
            assert!(
                user_data.contains(&format!("--resource {name} ")),
                "{path}: {name} signals for itself"
            );
            assert!(!init_script(instance).contains("set -x"), "{path}: {name} traces secrets");
            assert!(!init_script(instance).contains("set -ex"), "{path}: {name} traces secrets");
        }
        let agents: Vec<_> = instances.iter().filter(|(n, _)| n.starts_with("Agent")).collect();
        assert_eq!(agents.len(), 6, "{path}: agents 1 to 6");
        for (name, agent) in agents {
            let index: u32 = name["Agent".len()..].parse().expect("AgentN");
            assert_eq!(
                agent.get("Condition").is_some(),
                index > 3,
                "{path}: agents 1-3 always exist, the others follow AgentCount"
            );
            let script = init_script(agent);
            assert!(
                script.contains(&format!("echo \"{os}\" > /etc/mesos-slave/attributes/os")),
                "{path}: {name} carries the os:{os} attribute"
            );
            assert!(script.contains("/etc/mesos/zk"), "{path}: {name} finds the master");
            assert!(script.contains("read_secret"), "{path}: {name} gets the password file");
            let volumes = agent["Properties"]["BlockDeviceMappings"].as_array().expect("bdm");
            assert!(
                volumes.iter().any(|v| v["DeviceName"] == "/dev/sdf"
                    && v["Ebs"]["VolumeSize"] == serde_json::json!({"Ref": "DataVolumeSize"})
                    && v["Ebs"]["DeleteOnTermination"] == true),
                "{path}: {name} has a spare EBS volume for SDS, deleted with the stack"
            );
        }
    }
}

#[test]
fn region_images_are_checked_ami_ids_or_marked_placeholders() {
    for (path, _) in TEMPLATES {
        let template = json(path);
        let mut placeholders_left = false;
        for (region, images) in
            template["Mappings"]["RegionImages"].as_object().expect("RegionImages")
        {
            for (os, ami) in images.as_object().expect("images") {
                let ami = ami.as_str().expect("AMI id string");
                let hex = ami.strip_prefix("ami-").unwrap_or("");
                assert!(
                    (hex.len() == 8 || hex.len() == 17)
                        && hex.chars().all(|c| c.is_ascii_hexdigit()),
                    "{path}: {region}/{os} = {ami} is not an AMI id"
                );
                placeholders_left |= hex.chars().all(|c| c == '0');
            }
        }
        if placeholders_left {
            assert!(
                template["Metadata"]["RegionImagesArePlaceholders"].is_string(),
                "{path}: placeholder AMIs must be marked as such"
            );
            assert!(
                read(GUIDE).contains("ami-00000000000000000"),
                "the guide explains the placeholders"
            );
        }
    }
}

#[test]
fn guide_and_templates_name_the_same_parameters_and_outputs() {
    let guide = read(GUIDE);
    let documented_params = table_names(&guide, "Parameter");
    let documented_outputs = table_names(&guide, "Output");
    assert!(!documented_params.is_empty(), "the guide has a Parameter table");
    assert!(!documented_outputs.is_empty(), "the guide has an Output table");
    for (path, _) in TEMPLATES {
        let template = json(path);
        let params = keys(&template["Parameters"]);
        let outputs = keys(&template["Outputs"]);
        assert_eq!(
            documented_params, params,
            "{path}: the guide's Parameter table vs the template"
        );
        assert_eq!(documented_outputs, outputs, "{path}: the guide's Output table vs the template");
        for used in words_after(&guide, "ParameterKey=") {
            assert!(
                params.contains(&used),
                "the guide passes ParameterKey={used}, unknown to {path}"
            );
        }
        for used in words_after(&guide, "$(out ") {
            assert!(outputs.contains(&used), "the guide reads output {used}, unknown to {path}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Marathon
// ---------------------------------------------------------------------------------------------

/// Marathon's app id rule: absolute path, each segment matching
/// `^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$`.
fn valid_marathon_id(id: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    match id.strip_prefix('/') {
        Some(path) => path.split('/').all(|segment| segment.split('.').all(label_ok)),
        None => false,
    }
}

#[test]
fn marathon_id_rule_matches_marathons_pattern() {
    for good in ["/scaleio/scheduler", "/a", "/a.b-c/d0", "/x1.y2"] {
        assert!(valid_marathon_id(good), "{good}");
    }
    for bad in ["scaleio", "/Scaleio", "/a//b", "/-a", "/a-", "/a..b", "/a_b", "/a/"] {
        assert!(!valid_marathon_id(bad), "{bad}");
    }
}

fn check_common_app_rules(path: &str, app: &Value) {
    let id = app["id"].as_str().unwrap_or("");
    assert!(valid_marathon_id(id), "{path}: id {id:?} breaks Marathon's id pattern");
    assert!(
        app.get("cmd").is_some() != app.get("args").is_some(),
        "{path}: exactly one of cmd and args"
    );
    for resource in ["cpus", "mem"] {
        let value = app[resource].as_f64().unwrap_or(0.0);
        assert!(
            value > 0.0,
            "{path}: {resource} must be present and positive, found {}",
            app[resource]
        );
    }
    for fetch in app["fetch"].as_array().into_iter().flatten() {
        let uri = fetch["uri"].as_str().unwrap_or("");
        assert!(!uri.is_empty(), "{path}: every fetch entry has a uri: {fetch}");
        let name = uri.rsplit('/').next().unwrap_or("");
        assert!(
            !name.contains('?') && !name.contains('\''),
            "{path}: the fetcher names the file after the URI's last segment: {uri}"
        );
        if fetch["executable"] == true {
            assert_ne!(fetch["extract"], true, "{path}: executable disables extraction: {uri}");
        }
    }
    for check in app["healthChecks"].as_array().into_iter().flatten() {
        if matches!(
            check["protocol"].as_str(),
            Some("HTTP" | "HTTPS" | "MESOS_HTTP" | "MESOS_HTTPS")
        ) {
            assert!(check["path"].as_str().is_some_and(|p| p.starts_with('/')), "{path}: {check}");
        }
    }
    for constraint in app["constraints"].as_array().into_iter().flatten() {
        let parts = constraint.as_array().expect("a constraint is an array");
        assert!((2..=3).contains(&parts.len()), "{path}: {constraint}");
        let operator = parts[1].as_str().unwrap_or("");
        assert!(
            ["UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"]
                .contains(&operator),
            "{path}: unknown constraint operator in {constraint}"
        );
    }
}

#[test]
fn scheduler_apps_follow_the_marathon_rules_we_rely_on() {
    let template_port = json(TEMPLATES[0].0)["Parameters"]["SchedulerPort"]["Default"].clone();
    for path in SCHEDULER_APPS {
        let app = json(path);
        check_common_app_rules(path, &app);
        let cmd = app["cmd"].as_str().expect("scheduler apps use cmd, so $PORT0 is expanded");
        assert!(cmd.contains("--rest-port $PORT0"), "{path}: REST port from Marathon");
        assert!(
            app["constraints"]
                .as_array()
                .is_some_and(|c| c.contains(&serde_json::json!(["hostname", "UNIQUE"]))),
            "{path}: constraints hostname UNIQUE"
        );
        let checks = app["healthChecks"].as_array().expect("health checks");
        assert!(checks.iter().any(|c| c["path"] == "/v1/health"), "{path}: health on /v1/health");
        assert_eq!(app["portDefinitions"][0]["port"], template_port, "{path}: SchedulerPort");
        assert_eq!(app["requirePorts"], true, "{path}: the port the stack opens");
        assert_eq!(
            app["upgradeStrategy"]["maximumOverCapacity"], 0,
            "{path}: one scheduler at a time"
        );

        let fetch = app["fetch"].as_array().expect("fetch entries");
        let names: Vec<&str> =
            fetch.iter().filter_map(|f| f["uri"].as_str()?.rsplit('/').next()).collect();
        for binary in ["scaleio-scheduler", "scaleio-executor"] {
            let entry =
                fetch.iter().find(|f| f["uri"].as_str().is_some_and(|u| u.ends_with(binary)));
            assert!(
                entry.is_some_and(|e| e["executable"] == true),
                "{path}: fetch {binary} as an executable; found {names:?}"
            );
        }
        for platform in ["ubuntu14", "rhel7"] {
            let prefix = format!("scaleio-bundle-2.0.1-2072-{platform}-");
            let entry = fetch
                .iter()
                .find(|f| {
                    f["uri"]
                        .as_str()
                        .is_some_and(|u| u.rsplit('/').next().unwrap_or("").starts_with(&prefix))
                })
                .unwrap_or_else(|| panic!("{path}: no {platform} bundle in {names:?}"));
            let uri = entry["uri"].as_str().unwrap_or("");
            assert!(uri.ends_with(".tar.gz"), "{path}: bundles are .tar.gz: {uri}");
            assert_eq!(
                entry["extract"], false,
                "{path}: the scheduler serves the bundle as is: {uri}"
            );
            assert_eq!(
                entry["cache"], true,
                "{path}: bundle names are immutable, so cacheable: {uri}"
            );
        }
    }
    let preconfigured = json(SCHEDULER_APPS[0]);
    let full = json(SCHEDULER_APPS[1]);
    let (pre_cmd, full_cmd) =
        (preconfigured["cmd"].as_str().unwrap(), full["cmd"].as_str().unwrap());
    assert!(pre_cmd.contains("--mode preconfigured"));
    assert!(full_cmd.contains("--mode full"));
    for mdm in ["--primary-mdm", "--secondary-mdm", "--tiebreaker-mdm"] {
        assert!(pre_cmd.contains(mdm), "pre-configured mode needs {mdm}");
        assert!(!full_cmd.contains(mdm), "full mode refuses {mdm}");
    }
}

/// Characters mesos-module-dvdi refuses in volume names, drivers and options.
const DVDI_FORBIDDEN: &str = "%/:;<>|`$'?^& {}[]\"\\\0\n\t\x0b\x08\r";

#[test]
fn example_apps_mount_a_scaleio_volume_through_rexray() {
    let native = json(EXAMPLE_NATIVE);
    check_common_app_rules(EXAMPLE_NATIVE, &native);
    assert_eq!(
        native["container"]["type"], "MESOS",
        "the docker/volume isolator serves MESOS containers"
    );
    let volumes = native["container"]["volumes"].as_array().expect("volumes");
    assert!(!volumes.is_empty());
    for volume in volumes {
        let external = &volume["external"];
        assert_eq!(external["provider"], "dvdi");
        assert_eq!(external["options"]["dvdi/driver"], "rexray");
        let name = external["name"].as_str().expect("volume name");
        assert!(!name.is_empty() && !name.contains(|c| DVDI_FORBIDDEN.contains(c)), "{name}");
        assert!(matches!(volume["mode"].as_str(), Some("RW" | "RO")));
        let container_path = volume["containerPath"].as_str().expect("containerPath");
        assert!(
            !container_path.starts_with('/'),
            "without an image an absolute containerPath must already exist on the host"
        );
    }
    assert_eq!(native["upgradeStrategy"]["maximumOverCapacity"], 0, "one task owns the volume");
    assert_eq!(native["upgradeStrategy"]["minimumHealthCapacity"], 0, "one task owns the volume");

    let env_app = json(EXAMPLE_DVDI_ENV);
    check_common_app_rules(EXAMPLE_DVDI_ENV, &env_app);
    let env = env_app["env"].as_object().expect("env");
    assert!(env.contains_key("DVDI_VOLUME_NAME"));
    assert_eq!(env["DVDI_VOLUME_DRIVER"], "rexray");
    assert!(env.contains_key("DVDI_VOLUME_OPTS"));
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("DVDI_VOLUME_") else { continue };
        let base = rest.trim_end_matches(|c: char| c.is_ascii_digit());
        let suffix = &rest[base.len()..];
        assert!(
            suffix.is_empty() || (suffix.len() == 1 && suffix != "0"),
            "{key}: suffix 1-9 only"
        );
        let value = value.as_str().expect("env values are strings");
        match base {
            "NAME" | "DRIVER" | "OPTS" => assert!(
                !value.is_empty() && !value.contains(|c| DVDI_FORBIDDEN.contains(c)),
                "{key}={value:?} has a character the isolator refuses"
            ),
            "CONTAINERPATH" => assert!(
                value.starts_with("/tmp/"),
                "{key}: must exist on the host unless under /tmp/"
            ),
            "DVDCLI" | "EXPLICITCREATE" => {}
            other => panic!("{key}: unknown dvdi variable {other}"),
        }
    }
    for opt in env["DVDI_VOLUME_OPTS"].as_str().unwrap_or("").split(',') {
        assert!(opt.split_once('=').is_some_and(|(k, v)| !k.is_empty() && !v.is_empty()), "{opt}");
    }
}

#[test]
fn marathon_placeholders_are_the_ones_the_guide_documents() {
    let documented = table_names(&read(GUIDE), "Placeholder");
    let mut used = BTreeSet::new();
    for file in demo_files("json").iter().filter(|f| f.starts_with("demo/marathon/")) {
        used.extend(placeholders(&read(file)));
    }
    assert!(!used.is_empty());
    assert_eq!(documented, used, "the guide's Placeholder table vs the Marathon JSON");
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// Lines of `text` that put a literal password somewhere a reader (or `ps`) would see it.
fn literal_passwords(text: &str) -> Vec<String> {
    // ScaleIO's factory password, changed by the very next command of the cluster bootstrap.
    const FACTORY_DEFAULT: &str = "admin";
    let is_reference = |value: &str| {
        let value = value.trim_start_matches(['"', '\'']);
        value.starts_with('$') || value.starts_with('<') || value.starts_with("{{")
    };
    let mut found = Vec::new();
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.contains("scaleio123") {
            found.push(line.to_owned());
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let flag = pair[0].trim_start_matches(['"', '\'']);
            if matches!(flag, "--password" | "--new_password" | "--old_password")
                && !is_reference(pair[1])
                && pair[1].trim_matches(['"', '\'']) != FACTORY_DEFAULT
            {
                found.push(line.to_owned());
            }
        }
        for word in &words {
            for marker in ["PASSWORD=", "TOKEN=", "password="] {
                if let Some(i) = word.find(marker) {
                    let value = &word[i + marker.len()..];
                    if !value.is_empty() && !is_reference(value) {
                        found.push(line.to_owned());
                    }
                }
            }
        }
        for marker in ["\"password\":", "\"SCALEIO_PASSWORD\":", "scaleio.password:"] {
            if let Some(i) = lower.find(&marker.to_ascii_lowercase()) {
                let value = line[i + marker.len()..].trim();
                if !value.is_empty() && !is_reference(value) {
                    found.push(line.to_owned());
                }
            }
        }
    }
    found
}

#[test]
fn password_scanner_catches_literal_passwords() {
    for bad in [
        "exec ./scaleio-scheduler --password Scaleio123",
        "scli --login --username admin --password s3cret",
        "SCALEIO_PASSWORD=hunter22 ./scaleio-scheduler",
        "  \"SCALEIO_PASSWORD\": \"hunter22\",",
        "GATEWAY_ADMIN_PASSWORD=hunter22 rpm -Uvh gw.rpm",
        "scli --set_password --old_password admin --new_password hunter22",
    ] {
        assert!(!literal_passwords(bad).is_empty(), "not caught: {bad}");
    }
    for fine in [
        "scli --login --username admin --password \"$PW\"",
        "scli --login --username admin --password admin",
        "GATEWAY_ADMIN_PASSWORD=\"$PW\" rpm -Uvh gw.rpm",
        "--password-file /etc/scaleio/admin-password",
        "SCALEIO_PASSWORD=$(cat /etc/scaleio/admin-password) ./scaleio-scheduler",
    ] {
        assert!(literal_passwords(fine).is_empty(), "false alarm: {fine}");
    }
}

#[test]
fn no_literal_password_in_any_demo_file() {
    let mut offenders = Vec::new();
    for file in demo_files("") {
        let text = read(&file);
        // Shell scripts inside templates are JSON strings: scan them decoded, line by line.
        let decoded = if file.ends_with(".json") {
            let mut strings = Vec::new();
            collect_strings(&json(&file), &mut strings);
            strings.join("\n")
        } else {
            text
        };
        offenders
            .extend(literal_passwords(&decoded).into_iter().map(|line| format!("{file}: {line}")));
    }
    assert!(offenders.is_empty(), "literal passwords: {offenders:#?}");
    for path in SCHEDULER_APPS {
        let app = json(path);
        assert!(app["cmd"].as_str().unwrap_or("").contains("--password-file "), "{path}");
        for key in keys(&app["env"]) {
            assert!(!key.contains("PASSWORD"), "{path}: no password in the app's env: {key}");
        }
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            collect_strings(v, out);
        }),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The real scheduler accepts the command lines
// ---------------------------------------------------------------------------------------------

/// The content of the test's password file; it must never show up in the scheduler's output.
const PASSWORD_IN_TEST: &str = "demo-test-password-7f3a";

/// Values for every placeholder, valid for `--check-config`.
const SUBSTITUTES: &[(&str, &str)] = &[
    ("{{MASTER_IP}}", "127.0.0.1"),
    ("{{ARTIFACT_BASE_URL}}", "http://127.0.0.1:8000/scaleio"),
    ("{{UBUNTU14_BUNDLE_DIGEST}}", "0123abcd"),
    ("{{RHEL7_BUNDLE_DIGEST}}", "89ef4567"),
    ("{{PRIMARY_MDM_IP}}", "10.20.1.11"),
    ("{{SECONDARY_MDM_IP}}", "10.20.1.12"),
    ("{{TIEBREAKER_MDM_IP}}", "10.20.1.13"),
    ("{{GATEWAY_HOST}}", "10.20.1.11"),
];

fn substitute(text: &str) -> String {
    let mut out = text.to_owned();
    for (placeholder, value) in SUBSTITUTES {
        out = out.replace(placeholder, value);
    }
    assert!(placeholders(&out).is_empty(), "no substitute for {:?}", placeholders(&out));
    out
}

/// Runs an app's `cmd` the way a Mesos agent does (`sh -c` in the sandbox, after the fetcher),
/// with `scaleio-scheduler` replaced by a wrapper that adds `--check-config`.
fn run_scheduler_cmd(path: &str, extra: &str) -> Output {
    run_scheduler_app(&json(path), extra)
}

fn run_scheduler_app(app: &Value, extra: &str) -> Output {
    let real = testkit::bins::workspace_binary("scaleio-scheduler")
        .unwrap_or_else(|err| panic!("{err}\nhint: cargo build -p scheduler"));
    let sandbox = tempfile::tempdir().expect("temp dir");
    let dir = sandbox.path();
    for fetch in app["fetch"].as_array().expect("fetch") {
        let uri = substitute(fetch["uri"].as_str().expect("uri"));
        let name = uri.rsplit('/').next().expect("file name");
        std::fs::write(dir.join(name), b"fetched by the test\n").expect("write fetched file");
    }
    let wrapper = format!("#!/bin/sh\nexec '{}' --check-config \"$@\"\n", real.display());
    std::fs::write(dir.join("scaleio-scheduler"), wrapper).expect("write wrapper");
    for executable in ["scaleio-scheduler", "scaleio-executor"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(executable), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    // The password file is a host path on the agents; here it lives in the sandbox.
    let password_file = dir.join("admin-password");
    std::fs::write(&password_file, PASSWORD_IN_TEST).expect("write password file");
    std::fs::set_permissions(&password_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod password file");
    let cmd_line = substitute(app["cmd"].as_str().expect("cmd"))
        .replace("/etc/scaleio/admin-password", &password_file.display().to_string())
        + extra;

    let mut cmd = command("sh");
    cmd.arg("-c").arg(&cmd_line).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SCALEIO_") {
            cmd.env_remove(&key);
        }
    }
    for (key, value) in app["env"].as_object().into_iter().flatten() {
        cmd.env(key, value.as_str().expect("env values are strings"));
    }
    cmd.env("PORT0", "31500")
        .env("PORT", "31500")
        .env("PORTS", "31500")
        .env("HOST", "127.0.0.1")
        .env("MESOS_SANDBOX", dir);
    let output = run(cmd, Duration::from_secs(60)).expect("sh runs");
    drop(sandbox);
    output
}

#[test]
fn scheduler_accepts_the_flags_in_every_marathon_app() {
    for (path, mode) in SCHEDULER_APPS.iter().zip(["preconfigured", "full"]) {
        let output = run_scheduler_cmd(path, "");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{path}: `scaleio-scheduler --check-config` refused the app's command line ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(&format!("mode = {mode}")), "{path}: mode {mode}:\n{stdout}");
        assert!(stdout.contains("rest-port = 31500"), "{path}: the port from $PORT0:\n{stdout}");
        assert!(!stdout.contains(PASSWORD_IN_TEST), "{path}: the password was printed");
    }
    // The same harness with a flag the scheduler does not know must fail, or it proves nothing.
    let output = run_scheduler_cmd(SCHEDULER_APPS[0], " --no-such-flag-for-the-demo-test");
    assert_eq!(output.status.code(), Some(2), "an unknown flag is a configuration error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-such-flag-for-the-demo-test"));
    // What the guide promises about the modes.
    let output = run_scheduler_cmd(SCHEDULER_APPS[1], " --primary-mdm 10.20.1.11");
    assert_eq!(output.status.code(), Some(2), "full mode refuses pre-configured MDM addresses");
}

/// The fenced `sh` blocks of a Markdown text.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_guides_fill_function_turns_the_apps_into_deployable_ones() {
    let guide = read(GUIDE);
    let functions = shell_blocks(&guide)
        .into_iter()
        .find(|block| block.contains("fill() {"))
        .expect("the guide defines fill() in a sh block");
    let work = tempfile::tempdir().expect("temp dir");
    let bundles = work.path().join("target/bundles");
    std::fs::create_dir_all(&bundles).expect("mkdir");
    for name in [
        "scaleio-bundle-2.0.1-2072-ubuntu14-0123abcd.tar.gz",
        "scaleio-bundle-2.0.1-2072-ubuntu14-0123abcd.tar.gz.sha256",
        "scaleio-bundle-2.0.1-2072-rhel7-89ef4567.tar.gz",
        "scaleio-bundle-2.0.1-2072-rhel7-89ef4567.tar.gz.sha256",
        "bundles.json",
    ] {
        std::fs::write(bundles.join(name), b"").expect("write");
    }
    // Stack outputs as `aws cloudformation describe-stacks` would print them.
    let outputs = "out() { case \"$1\" in \
        MasterIp) echo 10.20.1.10 ;; \
        ArtifactBaseUrl) echo http://10.20.1.10/scaleio ;; \
        PrimaryMdmIp) echo 10.20.1.11 ;; SecondaryMdmIp) echo 10.20.1.12 ;; \
        TiebreakerMdmIp) echo 10.20.1.13 ;; GatewayHost) echo 10.20.1.11 ;; \
        SchedulerHost) echo 10.20.1.21 ;; \
        *) echo \"UNKNOWN-OUTPUT-$1\" ;; esac; }\n";
    for (path, mode) in SCHEDULER_APPS.iter().zip(["preconfigured", "full"]) {
        let script = format!("{outputs}{functions}\nfill '{}'\n", root().join(path).display());
        let mut cmd = command("sh");
        cmd.arg("-c").arg(&script).current_dir(work.path());
        let output = run(cmd, Duration::from_secs(30)).expect("sh runs");
        let filled = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{path}: fill failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!filled.contains("{{") && !filled.contains("UNKNOWN-OUTPUT"), "{path}:\n{filled}");
        let app: Value = serde_json::from_str(&filled)
            .unwrap_or_else(|err| panic!("{path}: fill printed invalid JSON ({err}):\n{filled}"));
        assert_eq!(
            app["constraints"],
            serde_json::json!([["hostname", "UNIQUE"], ["hostname", "CLUSTER", "10.20.1.21"]]),
            "{path}: pinned to SchedulerHost"
        );
        let uris: Vec<&str> = app["fetch"]
            .as_array()
            .expect("fetch")
            .iter()
            .filter_map(|f| f["uri"].as_str())
            .collect();
        assert!(uris.iter().all(|u| u.starts_with("http://10.20.1.10/scaleio/")), "{uris:?}");
        assert!(uris.iter().any(|u| u.ends_with("-ubuntu14-0123abcd.tar.gz")), "{uris:?}");
        assert!(uris.iter().any(|u| u.ends_with("-rhel7-89ef4567.tar.gz")), "{uris:?}");

        let output = run_scheduler_app(&app, "");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{path}: the filled app does not pass --check-config:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(&format!("mode = {mode}")), "{stdout}");
        assert!(stdout.contains("store = zk://10.20.1.10:2181/scaleio-framework"), "{stdout}");
        if mode == "preconfigured" {
            assert!(stdout.contains("primary-mdm = 10.20.1.11"), "{stdout}");
            assert!(stdout.contains("gateway = 10.20.1.11"), "{stdout}");
        }
    }
}

/// A `Fn::Sub` string with every `${Name}` / `${Resource.Attribute}` replaced by a plain word and
/// `${!Literal}` unescaped, as CloudFormation renders it.
fn render_sub(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').expect("a closed ${...}");
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str("cfnvalue"),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_script_in_the_templates_is_valid_bash() {
    for (path, _) in TEMPLATES {
        let template = json(path);
        for (name, instance) in resources_of_type(&template, "AWS::EC2::Instance") {
            let mut scripts = vec![(
                "UserData".to_owned(),
                instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]
                    .as_str()
                    .expect("UserData")
                    .to_owned(),
            )];
            let files = instance["Metadata"]["AWS::CloudFormation::Init"]["setup"]["files"]
                .as_object()
                .expect("cfn-init files");
            for (file, spec) in files {
                let content = &spec["content"];
                let text = content.get("Fn::Sub").unwrap_or(content).as_str().expect("script text");
                scripts.push((file.clone(), text.to_owned()));
            }
            for (what, text) in scripts {
                let mut cmd = command("bash");
                cmd.arg("-n").arg("-c").arg(render_sub(&text));
                let output = run(cmd, Duration::from_secs(30)).expect("bash runs");
                assert!(
                    output.status.success(),
                    "{path}: {name} {what} is not valid bash:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

#[test]
fn render_sub_renders_like_cloudformation() {
    assert_eq!(
        render_sub("a ${AWS::Region} b ${Master.PrivateIp} ${!x} $y"),
        "a cfnvalue b cfnvalue ${x} $y"
    );
}

#[test]
fn templates_are_what_generate_py_writes() {
    let out = tempfile::tempdir().expect("temp dir");
    let mut cmd = command("python3");
    cmd.arg(root().join("demo/cloudformation/generate.py")).arg(out.path());
    let output = run(cmd, Duration::from_secs(60)).expect("python3 runs (cfn-lint needs it too)");
    assert!(
        output.status.success(),
        "generate.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (path, _) in TEMPLATES {
        let name = Path::new(path).file_name().expect("file name");
        let generated = std::fs::read_to_string(out.path().join(name)).expect("generated template");
        assert!(
            generated == read(path),
            "{path} differs from what demo/cloudformation/generate.py writes\n\
             hint: edit generate.py, then run `python3 demo/cloudformation/generate.py demo/cloudformation`"
        );
    }
}

/// A `curl` stand-in for the instance scripts: answers IMDSv2 and Secrets Manager like AWS and
/// records the Secrets Manager request's arguments, one per line, in `$RECORD`.
const FAKE_CURL: &str = r#"#!/bin/sh
url=
for arg; do case "$arg" in http://* | https://*) url="$arg" ;; esac; done
case "$url" in
  */latest/api/token) printf 'imds-session-token' ;;
  */iam/security-credentials/) printf 'scaleio-demo-role' ;;
  */iam/security-credentials/scaleio-demo-role)
    printf '{\n  "Code" : "Success",\n  "AccessKeyId" : "ASIAEXAMPLEKEY",\n  "SecretAccessKey" : "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",\n  "Token" : "IQoJb3JpZ2luX2VjEXAMPLETOKEN==",\n  "Expiration" : "2030-01-01T00:00:00Z"\n}\n' ;;
  https://secretsmanager.*)
    for arg; do printf '%s\n' "$arg"; done > "$RECORD"
    printf '{"ARN":"arn:aws:secretsmanager:demo","Name":"n","SecretString":"Gen3ratedPassw0rd","VersionId":"v"}' ;;
  *) echo "fake curl: unexpected $*" >&2; exit 22 ;;
esac
"#;

/// Recomputes the SigV4 signature of the recorded request with botocore (installed with
/// cfn-lint) and prints it.
const BOTOCORE_SIGNATURE: &str = r#"
import sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
args = open(sys.argv[1]).read().split("\n")
headers = dict(a.split(": ", 1) for prev, a in zip(args, args[1:]) if prev == "-H")
body = args[args.index("--data") + 1]
url = [a for a in args if a.startswith("https://")][0]
region = url.split(".")[1]
request = AWSRequest(method="POST", url=url, data=body.encode())
for name in ("Content-Type", "X-Amz-Target"):
    request.headers[name] = headers[name]
request.context["timestamp"] = headers["X-Amz-Date"]
auth = SigV4Auth(Credentials("ASIAEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "IQoJb3JpZ2luX2VjEXAMPLETOKEN=="), "secretsmanager", region)
auth._modify_request_before_signing(request)
canonical = auth.canonical_request(request)
print(auth.signature(auth.string_to_sign(request, canonical), request))
print(auth.signed_headers(auth.headers_to_sign(request)))
"#;

#[test]
fn instances_read_the_admin_password_with_a_valid_sigv4_request() {
    let template = json(TEMPLATES[0].0);
    let script = init_script(&template["Resources"]["Agent1"]);
    // The script opens with `imds`; `read_secret` follows. Take both definitions only.
    let rendered = render_sub(&script);
    let imds_end = rendered.find("\n}\n").expect("imds is defined first") + 3;
    let start = rendered.find("read_secret() {").expect("read_secret is defined");
    let end = start + rendered[start..].find("\n}\n").expect("read_secret ends") + 3;
    let functions = format!("{}\n{}", &rendered[..imds_end], &rendered[start..end]);
    let work = tempfile::tempdir().expect("temp dir");
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    std::fs::write(bin.join("curl"), FAKE_CURL).expect("write fake curl");
    std::fs::set_permissions(bin.join("curl"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let record = work.path().join("request.txt");
    let password_file = work.path().join("etc/scaleio/admin-password");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let mut cmd = command("bash");
    cmd.arg("-c")
        .arg(format!(
            "set -e\n{functions}\nread_secret arn:aws:secretsmanager:demo:1:secret:pw '{}'\n",
            password_file.display()
        ))
        .env("PATH", &path)
        .env("RECORD", &record);
    let output = run(cmd, Duration::from_secs(30)).expect("bash runs");
    assert!(
        output.status.success(),
        "read_secret failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&password_file).expect("password file"),
        "Gen3ratedPassw0rd"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&password_file).expect("metadata").permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the password file is private to root, found {mode:o}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("Gen3ratedPassw0rd")
            && !String::from_utf8_lossy(&output.stderr).contains("Gen3ratedPassw0rd"),
        "the password reached the log"
    );

    let recorded = std::fs::read_to_string(&record).expect("the Secrets Manager request");
    let authorization = recorded
        .lines()
        .find_map(|l| l.strip_prefix("Authorization: "))
        .expect("an Authorization header");
    let mut cmd = command("python3");
    cmd.arg("-c").arg(BOTOCORE_SIGNATURE).arg(&record);
    let output = run(cmd, Duration::from_secs(60)).expect("python3 runs");
    assert!(
        output.status.success(),
        "botocore (installed with cfn-lint) could not sign:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = String::from_utf8_lossy(&output.stdout);
    let mut lines = expected.lines();
    let (signature, signed_headers) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    assert!(
        authorization.contains(&format!("SignedHeaders={signed_headers},"))
            && authorization.ends_with(&format!("Signature={signature}")),
        "the script's SigV4 signature differs from botocore's\nscript:   {authorization}\nbotocore: SignedHeaders={signed_headers} Signature={signature}"
    );
}
