//! Child processes of `cargo xtask demo`: started from argv (xshell's `cmd!`) in their own
//! process group with stdout/stderr in log files, watched, and stopped gracefully (SIGTERM to
//! the whole group, then SIGKILL after a grace period), also when the demo itself fails.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use xshell::{Shell, cmd};

/// How many log lines an error about a child quotes.
const TAIL_LINES: usize = 15;

/// A supervised child process and its log file.
#[derive(Debug)]
pub struct Supervised {
    /// Short name used in messages (`mini-mesos`, `scaleio-scheduler`).
    pub name: String,
    /// Combined stdout (when not captured) and stderr of the child.
    pub log: PathBuf,
    child: tokio::process::Child,
    stopped: bool,
}

/// Starts `program args...` with extra environment `env`, its own process group, stdin closed,
/// stderr (and stdout unless `capture_stdout`) appended to `log`.
pub fn start(
    sh: &Shell,
    name: &str,
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    log: &Path,
    capture_stdout: bool,
) -> anyhow::Result<Supervised> {
    use std::os::unix::process::CommandExt as _;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open the log file {}", log.display()))?;
    let mut std_cmd = std::process::Command::from(cmd!(sh, "{program} {args...}"));
    for (k, v) in env {
        std_cmd.env(k, v);
    }
    std_cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stderr(file.try_clone().context("cannot share the log file")?)
        .stdout(if capture_stdout { Stdio::piped() } else { Stdio::from(file) });
    let child = tokio::process::Command::from(std_cmd)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name} ({})", program.display()))?;
    Ok(Supervised { name: name.to_owned(), log: log.to_owned(), child, stopped: false })
}

impl Supervised {
    /// The process id (also the process group id).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the first line on the captured stdout for which `accept` returns a value,
    /// copying every line to the log. Fails if the child exits or `timeout` passes first.
    pub async fn wait_for_line<T>(
        &mut self,
        timeout: Duration,
        accept: impl Fn(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let stdout = self.child.stdout.take().context("stdout is not captured")?;
        let mut lines = BufReader::new(stdout).lines();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = tokio::select! {
                line = lines.next_line() => line.context("cannot read the child's stdout")?,
                _ = tokio::time::sleep_until(deadline) => {
                    anyhow::bail!("{} printed nothing usable within {timeout:?}\n{}", self.name, self.tail());
                }
            };
            let Some(line) = line else {
                let status = self.child.wait().await.ok();
                anyhow::bail!(
                    "{} exited ({}) before it was ready\n{}",
                    self.name,
                    status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string()),
                    self.tail()
                );
            };
            append_log(&self.log, &line);
            if let Some(found) = accept(&line) {
                // Keep draining stdout into the log so the child never blocks on a full pipe.
                let log = self.log.clone();
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        append_log(&log, &line);
                    }
                });
                return Ok(found);
            }
        }
    }

    /// `Some(status)` once the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of the log, indented, for error messages.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        let mut out = format!("last lines of {}:", self.log.display());
        if lines.is_empty() {
            out.push_str(" (empty)");
        }
        for l in &lines[start..] {
            out.push_str("\n    ");
            out.push_str(l);
        }
        out
    }

    /// SIGTERM to the child's process group, then SIGKILL after `grace`. Returns how it ended.
    pub async fn stop(&mut self, sh: &Shell, grace: Duration) -> Option<ExitStatus> {
        self.stopped = true;
        if let Some(status) = self.exited() {
            kill_group(sh, self.pid(), "KILL");
            return Some(status);
        }
        let pid = self.pid();
        kill_group(sh, pid, "TERM");
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                // Grandchildren (executors) that ignored SIGTERM go too.
                kill_group(sh, pid, "KILL");
                status.ok()
            }
            Err(_) => {
                eprintln!("demo: {} did not stop within {grace:?}; killing it", self.name);
                kill_group(sh, pid, "KILL");
                self.child.wait().await.ok()
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // An early return (error, panic) must not leave the group running. `kill_on_drop` only
        // reaches the direct child; the group also holds the executors it started.
        if !self.stopped {
            if let (Ok(sh), Some(pid)) = (Shell::new(), self.child.id()) {
                kill_group(&sh, Some(pid), "KILL");
            }
        }
    }
}

/// `kill -SIG -- -PGID`: the whole process group (the child was started as its leader).
fn kill_group(sh: &Shell, pid: Option<u32>, signal: &str) {
    let Some(pid) = pid else { return };
    let group = format!("-{pid}");
    let signal = format!("-{signal}");
    let _ = cmd!(sh, "kill {signal} -- {group}").quiet().ignore_stderr().ignore_status().run();
}

fn append_log(log: &Path, line: &str) {
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh() -> Shell {
        Shell::new().expect("shell")
    }

    fn alive(pid: u32) -> bool {
        // A zombie still has a /proc entry; its state letter is Z.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn stop_ends_the_child_and_its_grandchildren() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("group.log");
        let pid_file = dir.path().join("grandchild.pid");
        // A child that starts a grandchild, records its pid, and ignores SIGTERM itself.
        let script =
            format!("trap '' TERM; sleep 300 & echo $! > {}; echo ready; wait", pid_file.display());
        let sh = sh();
        let mut child =
            start(&sh, "group", Path::new("/bin/sh"), &["-c".to_owned(), script], &[], &log, true)
                .expect("starts");
        child
            .wait_for_line(Duration::from_secs(10), |l| (l == "ready").then_some(()))
            .await
            .expect("ready");
        let grandchild: u32 =
            std::fs::read_to_string(&pid_file).expect("pid").trim().parse().expect("a pid");
        let pid = child.pid().expect("running");
        assert!(alive(pid) && alive(grandchild));
        let status = child.stop(&sh, Duration::from_millis(300)).await;
        assert!(status.is_some(), "the child was reaped");
        // The grandchild is not ours to reap: wait (bounded) until init has collected it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(grandchild), "the grandchild was killed with the group");
        assert!(std::fs::read_to_string(&log).expect("log").contains("ready"));
    }

    #[tokio::test]
    async fn a_child_that_exits_before_it_is_ready_is_reported_with_its_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("early.log");
        let sh = sh();
        let mut child = start(
            &sh,
            "mini-mesos",
            Path::new("/bin/sh"),
            &["-c".to_owned(), "echo 'mini-mesos: not yet available' >&2; exit 1".to_owned()],
            &[],
            &log,
            true,
        )
        .expect("starts");
        let err = child
            .wait_for_line(Duration::from_secs(10), |l| l.starts_with("http").then_some(()))
            .await
            .expect_err("it exits");
        let msg = err.to_string();
        assert!(msg.contains("mini-mesos exited (exit status: 1) before it was ready"), "{msg}");
        assert!(msg.contains("mini-mesos: not yet available"), "{msg}");
    }

    #[tokio::test]
    async fn dropping_a_supervised_child_kills_its_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sh = sh();
        let child = start(
            &sh,
            "sleeper",
            Path::new("/bin/sleep"),
            &["300".to_owned()],
            &[],
            &dir.path().join("s.log"),
            false,
        )
        .expect("starts");
        let pid = child.pid().expect("running");
        drop(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(pid), "an early return leaves nothing running");
    }
}
