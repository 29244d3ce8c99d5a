//! `scaleio-scheduler --check-config`: what an operator (or a Marathon app definition) sees.

use std::process::Output;

use crate::support::{command, scheduler_binary};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(scheduler_binary(), dir);
    cmd.args(args).envs(env.iter().copied());
    let Output { status, stdout, stderr } = cmd.output().expect("run scaleio-scheduler");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bundles")).unwrap();
    std::fs::write(dir.path().join("scaleio-executor"), "#!").unwrap();
    std::fs::write(dir.path().join("password"), "Very-Secret-1\n").unwrap();
    dir
}

#[test]
fn environment_configures_everything_and_secrets_never_print() {
    let dir = fixture();
    let run = run(
        dir.path(),
        &["--check-config"],
        &[
            ("SCALEIO_MASTER", "https://leader.mesos:5050"),
            ("PORT0", "31001"),
            ("PORT", "31999"),
            ("HOST", "agent-3"),
            ("SCALEIO_STORE", "zk://zk1:2181,zk2:2181/scaleio"),
            ("SCALEIO_PRIMARY_MDM", "10.1.0.1"),
            ("SCALEIO_SECONDARY_MDM", "10.1.0.2"),
            ("SCALEIO_TIEBREAKER_MDM", "10.1.0.3"),
            ("SCALEIO_PASSWORD_FILE", "password"),
            ("SCALEIO_BUNDLE_DIR", "bundles"),
            ("SCALEIO_EXECUTOR_BINARY", "scaleio-executor"),
            ("SCALEIO_NO_REBOOT", "true"),
            ("SCALEIO_LOG_FORMAT", "json"),
            ("SCALEIO_VOLUME_ISOLATOR", "docker-volume"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for line in [
        "master = https://leader.mesos:5050/",
        "rest-port = 31001",
        "advertised-url = http://agent-3:31001",
        "store = zk://zk1:2181,zk2:2181/scaleio",
        "primary-mdm = 10.1.0.1",
        "gateway = 10.1.0.1",
        "password = ***",
        "no-reboot = true",
        "log-format = json",
        "volume-isolator = docker-volume",
    ] {
        assert!(run.stdout.lines().any(|l| l == line), "missing `{line}` in:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("Very-Secret-1") && !run.stderr.contains("Very-Secret-1"));
}

#[test]
fn password_in_the_environment_works_and_is_hidden() {
    let dir = fixture();
    let run = run(
        dir.path(),
        &["--check-config", "--mode", "full", "--bundle-uri", "https://mirror.example/scaleio"],
        &[("SCALEIO_PASSWORD", "Env-Secret-2"), ("SCALEIO_EXECUTOR_BINARY", "scaleio-executor")],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("password = ***\n"));
    assert!(run.stdout.contains("bundle-uri = https://mirror.example/scaleio/\n"));
    assert!(!run.stdout.contains("Env-Secret-2"));
}

#[test]
fn invalid_configuration_exits_2_with_the_flag_and_a_hint() {
    let dir = fixture();
    let run = run(
        dir.path(),
        &["--check-config", "--primary-mdm", "10.0.0.1", "--bundle-dir", "bundles"],
        &[("SCALEIO_PASSWORD", "x"), ("SCALEIO_EXECUTOR_BINARY", "scaleio-executor")],
    );
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty(), "nothing on stdout for an invalid configuration");
    assert!(run.stderr.contains("--secondary-mdm is required"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);

    // A password can never be given as a literal on the command line.
    let run = self::run(dir.path(), &["--check-config", "--password", "x"], &[]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("--password"), "{}", run.stderr);
}

#[test]
fn help_explains_flags_environment_and_exit_codes() {
    let dir = fixture();
    let run = run(dir.path(), &["--help"], &[]);
    assert_eq!(run.code, Some(0));
    for needle in [
        "--store <STORE>",
        "zk://HOST:PORT[,HOST:PORT]/PATH",
        "[env: SCALEIO_PASSWORD_FILE=]",
        "$SCALEIO_PASSWORD",
        "--check-config",
        "Exit codes: 0 success, 1 runtime error, 2 invalid configuration",
    ] {
        assert!(run.stdout.contains(needle), "--help lacks `{needle}`:\n{}", run.stdout);
    }
}

#[test]
fn the_agent_password_file_must_be_an_absolute_path_and_is_shown() {
    let dir = fixture();
    let base = [
        "--check-config",
        "--password-file",
        "password",
        "--bundle-dir",
        "bundles",
        "--executor-binary",
        "scaleio-executor",
        "--mode",
        "full",
    ];
    let mut args = base.to_vec();
    args.extend(["--agent-password-file", "secrets/pw"]);
    let bad = run(dir.path(), &args, &[]);
    assert_eq!(bad.code, Some(2), "{}", bad.stdout);
    assert!(
        bad.stderr.contains(
            "--agent-password-file: expected an absolute path on the agents, found `secrets/pw`"
        ),
        "{}",
        bad.stderr
    );
    let good =
        run(dir.path(), &base, &[("SCALEIO_AGENT_PASSWORD_FILE", "/etc/scaleio/admin-password")]);
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    assert!(
        good.stdout.contains("agent-password-file = /etc/scaleio/admin-password\n"),
        "{}",
        good.stdout
    );
}

#[test]
fn the_gateway_is_verified_unless_an_explicit_flag_says_otherwise() {
    let dir = fixture();
    let base = [
        "--check-config",
        "--password-file",
        "password",
        "--bundle-dir",
        "bundles",
        "--executor-binary",
        "scaleio-executor",
        "--mode",
        "full",
    ];
    let default = run(dir.path(), &base, &[]);
    assert_eq!(default.code, Some(0), "{}", default.stderr);
    assert!(default.stdout.contains("gateway-tls = system roots\n"), "{}", default.stdout);

    let ca = run(dir.path(), &base, &[("SCALEIO_GATEWAY_CA_FILE", "/etc/scaleio/gateway-ca.pem")]);
    assert_eq!(ca.code, Some(0), "{}", ca.stderr);
    assert!(ca.stdout.contains("gateway-tls = CA /etc/scaleio/gateway-ca.pem\n"), "{}", ca.stdout);

    let mut args = base.to_vec();
    args.push("--gateway-insecure");
    let insecure = run(dir.path(), &args, &[]);
    assert_eq!(insecure.code, Some(0), "{}", insecure.stderr);
    assert!(
        insecure.stdout.contains("gateway-tls = NOT VERIFIED (--gateway-insecure)\n"),
        "{}",
        insecure.stdout
    );

    args.extend(["--gateway-ca-file", "/etc/scaleio/gateway-ca.pem"]);
    let both = run(dir.path(), &args, &[]);
    assert_eq!(both.code, Some(2), "{}", both.stdout);
    assert!(both.stderr.contains("--gateway-insecure"), "{}", both.stderr);

    let mut relative = base.to_vec();
    relative.extend(["--gateway-ca-file", "ca.pem"]);
    let bad = run(dir.path(), &relative, &[]);
    assert_eq!(bad.code, Some(2), "{}", bad.stdout);
    assert!(
        bad.stderr
            .contains("--gateway-ca-file: expected an absolute path on the agents, found `ca.pem`"),
        "{}",
        bad.stderr
    );
}
