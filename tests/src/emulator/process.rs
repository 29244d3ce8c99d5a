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
