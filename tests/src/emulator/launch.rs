//! Starting an executor as a real child process: sandbox, fetcher, the environment a real agent
//! sets, the simulated host's variables, and waiting for the process to exit.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesos::CommandInfo;
use tokio::sync::oneshot;

use super::Shared;
use super::process::command;

/// Everything needed to start one executor container.
#[derive(Debug)]
pub(crate) struct Plan {
    pub agent: String,
    pub agent_ip: Ipv4Addr,
    pub agent_port: u16,
    pub framework: String,
    pub executor: String,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub command: CommandInfo,
    pub checkpoint: bool,
    pub shutdown_grace: Option<Duration>,
    pub host_root: Option<PathBuf>,
    pub user: Option<String>,
}

/// The PATH a real agent gives when nobody set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A stout duration string (`5secs`, `250ms`, `15mins`).
pub fn stout_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms > 0 {
        format!("{}mins", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}secs", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The executor environment (variable names as the real agent sets them, see the fixtures).
pub(crate) fn environment(shared: &Shared, plan: &Plan) -> Vec<(String, String)> {
    let s = &shared.settings;
    let endpoint = format!("{}:{}", plan.agent_ip, plan.agent_port);
    let sandbox = plan.sandbox.display().to_string();
    let mut env: Vec<(String, String)> = vec![
        ("LIBPROCESS_IP".into(), plan.agent_ip.to_string()),
        ("LIBPROCESS_PORT".into(), "0".into()),
        ("MESOS_AGENT_ENDPOINT".into(), endpoint.clone()),
        ("MESOS_CHECKPOINT".into(), if plan.checkpoint { "1" } else { "0" }.into()),
        ("MESOS_DIRECTORY".into(), sandbox.clone()),
        ("MESOS_SANDBOX".into(), sandbox),
        ("MESOS_EXECUTOR_ID".into(), plan.executor.clone()),
        (
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            stout_duration(plan.shutdown_grace.unwrap_or(s.shutdown_grace)),
        ),
        ("MESOS_FRAMEWORK_ID".into(), plan.framework.clone()),
        ("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into()),
        ("MESOS_SLAVE_ID".into(), plan.agent.clone()),
        ("MESOS_SLAVE_PID".into(), format!("slave(1)@{endpoint}")),
    ];
    if plan.checkpoint {
        env.push(("MESOS_RECOVERY_TIMEOUT".into(), stout_duration(s.recovery_timeout)));
        env.push((
            "MESOS_SUBSCRIPTION_BACKOFF_MAX".into(),
            stout_duration(s.executor_reregistration_timeout),
        ));
    }
    env.extend(s.executor_env.iter().cloned());
    let mut path = DEFAULT_PATH.to_owned();
    if let (Some(root), Some(hosts)) = (&plan.host_root, &s.hosts) {
        env.push((crate::standins::HOST_ROOT_ENV.into(), root.display().to_string()));
        env.push((crate::standins::STATE_ENV.into(), hosts.state.display().to_string()));
        path = format!("{}:{path}", hosts.tools_dir.display());
    }
    let mut path_set = false;
    for v in plan.command.environment.iter().flat_map(|e| &e.variables) {
        if matches!(v.kind, None | Some(mesos::VariableType::Value)) {
            if v.name == "PATH" {
                path_set = true;
            }
            env.retain(|(n, _)| n != &v.name);
            env.push((v.name.clone(), v.value.clone().unwrap_or_default()));
        }
    }
    if !path_set && !env.iter().any(|(n, _)| n == "PATH") {
        env.push(("PATH".into(), path));
    }
    env
}

/// Creates the sandbox, fetches, spawns and supervises one executor.
pub(crate) async fn run_executor(shared: Arc<Shared>, plan: Plan) {
    let key = (plan.framework.clone(), plan.executor.clone());
    let fail = |shared: &Shared, message: String| {
        shared.lock().executor_launch_failed(&plan.agent, &key, &plan.container_id, message);
    };
    if let Err(e) = std::fs::create_dir_all(&plan.sandbox) {
        fail(
            &shared,
            format!(
                "Failed to launch container: cannot create sandbox {}: {e}",
                plan.sandbox.display()
            ),
        );
        return;
    }
    if let Some(runs) = plan.sandbox.parent() {
        let latest = runs.join("latest");
        let _ = std::fs::remove_file(&latest);
        let _ = std::os::unix::fs::symlink(&plan.container_id, &latest);
    }
    let open = |name: &str| {
        std::fs::OpenOptions::new().create(true).append(true).open(plan.sandbox.join(name))
    };
    let (stdout, stderr) = match (open("stdout"), open("stderr")) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            fail(&shared, format!("Failed to launch container: cannot open sandbox logs: {e}"));
            return;
        }
    };
    if let Err(e) =
        super::fetcher::fetch_all(&shared, &plan.command.uris, &plan.sandbox, &stderr).await
    {
        use std::io::Write as _;
        let _ = writeln!(&stderr, "Failed to fetch URIs: {e}");
        fail(
            &shared,
            format!(
                "Failed to launch container: Failed to fetch all URIs for container '{}': exited with status 1",
                plan.container_id
            ),
        );
        return;
    }
    let env = environment(&shared, &plan);
    let mut cmd = if plan.command.is_shell() {
        let mut c = command("/bin/sh");
        c.arg("-c").arg(plan.command.value.clone().unwrap_or_default());
        c
    } else {
        let value = plan.command.value.clone().unwrap_or_default();
        let program = if value.contains('/') && !value.starts_with('/') {
            plan.sandbox.join(&value).display().to_string()
        } else {
            value.clone()
        };
        let mut c = command(&program);
        let mut args = plan.command.arguments.iter();
        c.arg0(args.next().cloned().unwrap_or(value));
        c.args(args);
        c
    };
    cmd.env_clear().envs(env).current_dir(&plan.sandbox).stdout(stdout).stderr(stderr);
    // A fresh process group, so a SIGKILL to the executor does not reach the test runner.
    cmd.process_group(0);
    let _ = &plan.user;
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            fail(
                &shared,
                format!("Failed to launch container: cannot start the executor command: {e}"),
            );
            return;
        }
    };
    let pgid = child.id();
    if let (Some(r), Some(pgid)) = (&shared.reaper, pgid) {
        r.watch(pgid);
    }
    let (kill_tx, kill_rx) = oneshot::channel();
    shared.lock().executor_started(&plan.agent, &key, &plan.container_id, child.id(), kill_tx);
    let status = tokio::select! {
        s = child.wait() => s,
        _ = kill_rx => {
            if let Some(pid) = child.id() {
                super::process::kill_groups(&[pid]);
            }
            let _ = child.start_kill();
            child.wait().await
        }
    };
    let raw = match status {
        Ok(s) => std::os::unix::process::ExitStatusExt::into_raw(s),
        Err(_) => 9,
    };
    if let (Some(r), Some(pgid)) = (&shared.reaper, pgid) {
        r.unwatch(pgid);
    }
    shared.lock().executor_exited(&plan.agent, &key, &plan.container_id, raw);
}
