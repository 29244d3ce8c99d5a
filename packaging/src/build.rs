//! Building the bundles of a catalog: pins checked, artifacts fetched and verified, one bundle
//! per platform written, `bundles.json` last. Nothing is written before every artifact verified.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::bundle::{BundleError, WrittenBundle, write_bundle, write_index};
use crate::catalog::{Artifact, Catalog, Lock, Pin, Platform};
use crate::fetch::{FetchConfig, FetchErrors, Fetched, Progress, fetch_pinned};

/// Why bundles could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Some needed artifacts have no pin.
    #[error(
        "{} artifact(s) not pinned in {lock}: {}\nhint: run `cargo xtask bundle lock {}` (add --mirror DIR if you hold the files)",
        names.len(),
        names.join(", "),
        names.iter().map(|n| format!("--update {n}")).collect::<Vec<_>>().join(" ")
    )]
    Unpinned {
        /// The lock file.
        lock: String,
        /// Artifacts without a pin.
        names: Vec<String>,
    },
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchErrors),
    /// Writing a bundle failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The output directory could not be created.
    #[error("cannot create the output directory {}", path.display())]
    OutDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A packing thread panicked.
    #[error("the {0} bundle writer stopped unexpectedly")]
    Panicked(Platform),
}

/// Receives packing progress (per platform) in addition to download progress.
pub trait BuildProgress: Progress {
    /// Packing of `platform` starts.
    fn packing(&self, _platform: Platform) {}
    /// Packing of `platform` ended.
    fn packed(&self, _platform: Platform) {}
}

impl BuildProgress for crate::fetch::NoProgress {}

/// Builds one bundle per platform into `out` (created only once every artifact verified);
/// bundles of several platforms are packed in parallel threads. Returns them sorted by platform.
pub async fn build_bundles<P: BuildProgress + 'static>(
    catalog: &Catalog,
    lock: &Lock,
    platforms: &[Platform],
    config: &FetchConfig,
    out: &Path,
    mtime: u64,
    progress: Arc<P>,
) -> Result<Vec<WrittenBundle>, BuildError> {
    let mut needed: BTreeMap<&str, &Artifact> = BTreeMap::new();
    for p in platforms {
        for a in catalog.artifacts_for(*p) {
            needed.insert(&a.name, a);
        }
    }
    let unpinned: Vec<String> =
        needed.keys().filter(|n| lock.pin(n).is_none()).map(|n| n.to_string()).collect();
    if !unpinned.is_empty() {
        return Err(BuildError::Unpinned {
            lock: lock.path.display().to_string(),
            names: unpinned,
        });
    }
    let items: Vec<(Artifact, Pin)> = needed
        .values()
        .map(|a| ((*a).clone(), lock.pin(&a.name).expect("unpinned ones returned above")))
        .collect();
    let dyn_progress: Arc<dyn Progress> = progress.clone();
    let fetched = fetch_pinned(config, &items, dyn_progress).await?;
    let by_name: BTreeMap<String, Fetched> =
        fetched.into_iter().map(|f| (f.name.clone(), f)).collect();

    let jobs: Vec<(Platform, Vec<(Artifact, Fetched)>)> = platforms
        .iter()
        .map(|p| {
            let items = catalog
                .artifacts_for(*p)
                .into_iter()
                .map(|a| (a.clone(), by_name[a.name.as_str()].clone()))
                .collect();
            (*p, items)
        })
        .collect();
    let release = catalog.release.clone();
    let out = out.to_path_buf();
    let written = tokio::task::spawn_blocking(move || -> Result<Vec<WrittenBundle>, BuildError> {
        std::fs::create_dir_all(&out)
            .map_err(|source| BuildError::OutDir { path: out.clone(), source })?;
        let results: Vec<Result<WrittenBundle, BuildError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|(p, items)| {
                    let (release, out, progress) = (&release, &out, &progress);
                    let handle = scope.spawn(move || {
                        progress.packing(*p);
                        let bundle = write_bundle(out, release, *p, items, mtime);
                        progress.packed(*p);
                        bundle
                    });
                    (*p, handle)
                })
                .collect();
            handles
                .into_iter()
                .map(|(p, h)| {
                    h.join()
                        .map_err(|_| BuildError::Panicked(p))
                        .and_then(|r| r.map_err(BuildError::from))
                })
                .collect()
        });
        let mut bundles = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        bundles.sort_by_key(|b| b.platform);
        write_index(&out, &bundles)?;
        Ok(bundles)
    })
    .await
    .map_err(|_| BuildError::Panicked(platforms.first().copied().unwrap_or(Platform::Any)))??;
    Ok(written)
}
