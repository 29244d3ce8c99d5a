//! Locating the workspace's built binaries (`scaleio-executor`, `scaleio-scheduler`, `mini-mesos`, stand-ins) from tests.

use std::path::PathBuf;

/// Errors finding a workspace binary.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("cannot tell where the test binary lives")]
    NoCurrentExe(#[source] std::io::Error),
    #[error(
        "binary `{name}` is not built at {path}\nhint: run `cargo build --workspace --bins` (cargo xtask test does it first)"
    )]
    NotBuilt { name: String, path: PathBuf },
}

/// The target profile directory this test binary was built into (`target/debug`).
pub fn target_profile_dir() -> Result<PathBuf, BinaryError> {
    let exe = std::env::current_exe().map_err(BinaryError::NoCurrentExe)?;
    // Test executables live in `target/<profile>/deps/`; binaries in `target/<profile>/`.
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// Path of a workspace binary such as `scaleio-executor`, checked to exist.
pub fn workspace_binary(name: &str) -> Result<PathBuf, BinaryError> {
    let path = target_profile_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BinaryError::NotBuilt { name: name.to_owned(), path })
    }
}
