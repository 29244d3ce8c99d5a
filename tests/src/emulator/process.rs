//! The test kit's one subprocess constructor (argv only, never a shell string built by
//! interpolation; `clippy::disallowed_methods` and the tidy test ban the others).

use std::ffi::OsStr;

/// A command for `program` with stdin closed and the child killed when its handle is dropped.
/// Callers add arguments with `.arg`/`.args`, never by formatting a shell line.
#[expect(clippy::disallowed_methods, reason = "this is the test kit's one command constructor")]
pub fn command(program: impl AsRef<OsStr>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    cmd
}

/// SIGKILLs the process groups led by `pids` (executors run in their own group, so whatever
/// they started dies with them, as a container would). Synchronous, for use in `Drop`.
pub fn kill_groups(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let mut cmd = command("kill");
    cmd.arg("-KILL").arg("--");
    for pid in pids {
        cmd.arg(format!("-{pid}"));
    }
    let _ = cmd
        .as_std_mut()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
