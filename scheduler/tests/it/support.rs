//! Shared helpers for the integration tests: the one subprocess constructor and temp fixtures.

use std::path::Path;
use std::process::Command;

/// The one place these tests build a subprocess: argv only, a clean environment (plus `PATH`),
/// an explicit working directory.
#[expect(clippy::disallowed_methods, reason = "the one command constructor")]
pub fn command(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command.env_clear().current_dir(cwd).env("LC_ALL", "C");
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

/// The `scaleio-scheduler` binary cargo built for these tests.
pub fn scheduler_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_scaleio-scheduler"))
}
