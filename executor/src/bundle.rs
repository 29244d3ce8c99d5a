//! The platform bundle in the sandbox: found as `$MESOS_SANDBOX/scaleio-bundle-*/`, verified
//! once at start with `packaging::verify_extracted` (every file's size and SHA-256 against the
//! manifest) before any step may use a file of it. A bundle that is missing, ambiguous or fails
//! verification makes every step fail with that reason (`steps::run`).

use std::path::{Path, PathBuf};

use packaging::bundle::{ARTIFACTS_DIR, Manifest};

/// The prefix of the bundle's directory name.
pub const BUNDLE_PREFIX: &str = "scaleio-bundle-";

/// The bundle as found at start.
#[derive(Clone, Debug)]
pub enum BundleState {
    /// Verified; its files may be used.
    Verified {
        /// The bundle directory.
        dir: PathBuf,
        /// Its manifest.
        manifest: Manifest,
    },
    /// Not usable; why (names the file or the problem, and what to do).
    Unusable(String),
}

impl BundleState {
    /// Finds and verifies the bundle in `sandbox`.
    pub fn open(sandbox: &Path) -> Self {
        let entries = match std::fs::read_dir(sandbox) {
            Ok(rd) => rd,
            Err(e) => {
                return BundleState::Unusable(format!(
                    "cannot read the sandbox {}: {e}",
                    sandbox.display()
                ));
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| e.file_name().to_string_lossy().starts_with(BUNDLE_PREFIX))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        match dirs.as_slice() {
            [] => BundleState::Unusable(format!(
                "no {BUNDLE_PREFIX}*/ directory in the sandbox {}\nhint: the scheduler must pass the platform bundle as a URI with extract=true",
                sandbox.display()
            )),
            [dir] => Self::verify(dir),
            many => BundleState::Unusable(format!(
                "more than one bundle in the sandbox {}: {}\nhint: the scheduler must pass exactly one platform bundle",
                sandbox.display(),
                many.iter()
                    .filter_map(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Verifies one extracted bundle directory.
    pub fn verify(dir: &Path) -> Self {
        match packaging::reader::verify_extracted(dir) {
            Ok(manifest) => BundleState::Verified { dir: dir.to_owned(), manifest },
            Err(e) => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                BundleState::Unusable(format!(
                    "the bundle {} failed verification: {text}\nhint: the bundle was altered or damaged after it was built; have the scheduler serve a freshly built bundle (`cargo xtask bundle`) and relaunch the executor",
                    dir.display()
                ))
            }
        }
    }

    /// The path of artifact `file`, if the bundle is verified and lists it.
    pub fn artifact(&self, file: &str) -> Result<PathBuf, String> {
        match self {
            BundleState::Unusable(why) => Err(why.clone()),
            BundleState::Verified { dir, manifest } => {
                if manifest.artifacts.iter().any(|a| a.file == file) {
                    Ok(dir.join(ARTIFACTS_DIR).join(file))
                } else {
                    Err(format!(
                        "the bundle {} has no artifact `{file}` (it holds: {})\nhint: the step and the bundle come from different releases; rebuild the bundle from the scheduler's catalog",
                        dir.display(),
                        manifest
                            .artifacts
                            .iter()
                            .map(|a| a.file.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        }
    }
}
