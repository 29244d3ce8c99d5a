//! `cargo xtask bundle`: Fetch, verify and pack third-party artifacts into reproducible bundles.
//!
//! Data (bundle paths and digests, new pins) goes to stdout, progress and errors to stderr.
//! Exit codes: 0 ok, 1 failure, 2 usage (including a malformed catalog or lock; nothing is
//! fetched then).

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use packaging::build::{BuildProgress, build_bundles};
use packaging::catalog::{Artifact, Catalog, InputError, Lock, Platform};
use packaging::fetch::{FetchConfig, Progress, fetch_unpinned};
use xshell::Shell;

/// Exit code for usage errors, malformed catalogs and locks (as clap uses for bad flags).
pub const EXIT_USAGE: i32 = 2;

/// Fetch, verify and pack third-party artifacts into reproducible bundles.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = false)]
pub struct Bundle {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    sources: Sources,
    /// Build only this platform's bundle (repeatable; default: every platform in the catalog).
    #[arg(long = "platform", value_name = "P")]
    platforms: Vec<String>,
    /// Directory for bundles, sidecars and bundles.json.
    #[arg(long, value_name = "DIR", default_value = "target/bundles")]
    out: PathBuf,
    /// Print this process's peak resident memory (VmHWM) on stderr at the end (for benchmarks).
    #[arg(long, hide = true)]
    print_peak_rss: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Download (or take from a mirror) unpinned artifacts and pin their sha256 and size in the
    /// lock: the only place where trust on first use happens.
    Lock {
        /// Re-pin this artifact even if it is pinned (repeatable).
        #[arg(long = "update", value_name = "NAME")]
        update: Vec<String>,
    },
    /// Check bundle files: layout rules and every digest.
    Verify {
        /// Bundle `.tar.gz` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Where artifacts come from; shared by `bundle` and `bundle lock`.
#[derive(Debug, clap::Args)]
struct Sources {
    /// The artifact catalog.
    #[arg(long, global = true, value_name = "F", default_value = "packaging/catalog.toml")]
    catalog: PathBuf,
    /// The lock with pinned digests and sizes.
    #[arg(long, global = true, value_name = "F", default_value = "packaging/catalog.lock")]
    lock: PathBuf,
    /// A directory holding artifacts as DIR/<file> or DIR/sha256/<hex>; searched before URLs (repeatable).
    #[arg(long = "mirror", global = true, value_name = "DIR")]
    mirrors: Vec<PathBuf>,
    /// The artifact cache (entries in DIR/artifacts-v1/sha256/<hex>).
    #[arg(long, global = true, value_name = "DIR", default_value = "target/artifact-cache")]
    cache: PathBuf,
    /// Never use the network: cache and mirrors only.
    #[arg(long, global = true)]
    offline: bool,
}

impl Sources {
    fn fetch_config(&self, root: &Path) -> FetchConfig {
        let mut config = FetchConfig::new(root.join(&self.cache));
        config.mirrors = self.mirrors.iter().map(|m| root.join(m)).collect();
        config.offline = self.offline;
        config
    }
}

impl Bundle {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let root = sh.current_dir();
        let print_peak = self.print_peak_rss;
        let result = match self.command {
            None => build(&root, &self.sources, &self.platforms, &root.join(&self.out)),
            Some(Sub::Lock { update }) => lock(&root, &self.sources, &update),
            Some(Sub::Verify { files }) => verify(&root, &files),
        };
        if print_peak {
            if let Some(kib) = peak_rss_kib() {
                eprintln!("peak-rss-kib: {kib}");
            }
        }
        if let Err(err) = &result {
            if is_usage(err) {
                eprintln!("error: {err:#}");
                std::process::exit(EXIT_USAGE);
            }
        }
        result
    }
}

/// Whether `err` is a usage error (exit code 2): a bad flag, catalog or lock.
fn is_usage(err: &anyhow::Error) -> bool {
    err.downcast_ref::<InputError>().is_some() || err.downcast_ref::<UsageError>().is_some()
}

/// A bad flag value found after parsing (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

/// Peak resident set size of this process, from `/proc/self/status`.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn load(root: &Path, sources: &Sources) -> anyhow::Result<(Catalog, Lock)> {
    let catalog = Catalog::load(&root.join(&sources.catalog))?;
    let lock = Lock::load(&root.join(&sources.lock))?;
    Ok((catalog, lock))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn build(
    root: &Path,
    sources: &Sources,
    platform_flags: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let (catalog, lock) = load(root, sources)?;
    lock.check_against(&catalog)?;
    let available = catalog.platforms();
    let platforms: Vec<Platform> = if platform_flags.is_empty() {
        available.clone()
    } else {
        let mut chosen = BTreeSet::new();
        for flag in platform_flags {
            let p: Platform =
                flag.parse().map_err(|msg| UsageError(format!("--platform: {msg}")))?;
            if !available.contains(&p) {
                let names: Vec<&str> = available.iter().map(|p| p.as_str()).collect();
                return Err(UsageError(format!(
                    "--platform {p}: the catalog has no artifact for it; its platforms are: {}",
                    names.join(", ")
                ))
                .into());
            }
            chosen.insert(p);
        }
        chosen.into_iter().collect()
    };
    if platforms.is_empty() {
        return Err(
            UsageError(format!("{} names no platform to bundle", catalog.path.display())).into()
        );
    }

    let mtime = packaging::archive::source_date_epoch()?;
    let progress = progress();
    let config = sources.fetch_config(root);
    let bundles = runtime()?.block_on(build_bundles(
        &catalog,
        &lock,
        &platforms,
        &config,
        out,
        mtime,
        progress.clone(),
    ));
    progress.clear();
    let bundles = bundles?;
    for b in &bundles {
        println!("{}  {}", b.sha256, out.join(&b.file).display());
    }
    Ok(())
}

fn lock(root: &Path, sources: &Sources, update: &[String]) -> anyhow::Result<()> {
    let (catalog, mut lock) = load(root, sources)?;
    for name in update {
        if catalog.get(name).is_none() {
            return Err(UsageError(format!(
                "--update {name}: no artifact of that name in {}",
                catalog.path.display()
            ))
            .into());
        }
    }
    lock.retain_catalog(&catalog);
    let targets: Vec<Artifact> = catalog
        .artifacts
        .iter()
        .filter(|a| lock.pin(&a.name).is_none() || update.contains(&a.name))
        .cloned()
        .collect();
    if !targets.is_empty() {
        let progress = progress();
        let fetched = runtime()?.block_on(fetch_unpinned(
            &sources.fetch_config(root),
            &targets,
            progress.clone(),
        ))?;
        progress.clear();
        for f in &fetched {
            let old = lock.pin(&f.name);
            lock.set(&f.name, f.pin);
            let note = match old {
                Some(old) if old != f.pin => format!(" (was {} {})", old.sha256, old.size),
                _ => String::new(),
            };
            println!("{}  {}  {} bytes  from {}{note}", f.pin.sha256, f.name, f.pin.size, f.source);
        }
    } else {
        eprintln!("every artifact is pinned; use --update NAME to re-pin one");
    }
    let path = root.join(&sources.lock);
    packaging::bundle::write_atomic(&path, lock.render(&catalog).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn verify(root: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
    let mut failed = 0;
    for file in files {
        let path = root.join(file);
        match packaging::reader::verify_bundle_file(&path) {
            Ok(m) => println!(
                "ok  {}  {} {}: {} artifacts",
                file.display(),
                m.release,
                m.platform,
                m.artifacts.len()
            ),
            Err(err) => {
                failed += 1;
                eprintln!("FAILED  {}: {:#}", file.display(), anyhow::Error::from(err));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} bundle(s) failed verification", files.len());
    }
    Ok(())
}

/// Progress bars on a terminal, nothing otherwise.
struct Bars {
    multi: Option<indicatif::MultiProgress>,
    bars: Mutex<BTreeMap<String, indicatif::ProgressBar>>,
}

fn progress() -> Arc<Bars> {
    let multi = std::io::stderr().is_terminal().then(indicatif::MultiProgress::new);
    Arc::new(Bars { multi, bars: Mutex::new(BTreeMap::new()) })
}

impl Bars {
    fn bar(
        &self,
        key: &str,
        make: impl FnOnce() -> indicatif::ProgressBar,
    ) -> Option<indicatif::ProgressBar> {
        let multi = self.multi.as_ref()?;
        let mut bars = self.bars.lock().ok()?;
        Some(bars.entry(key.to_owned()).or_insert_with(|| multi.add(make())).clone())
    }
}

impl BuildProgress for Bars {
    fn packing(&self, p: Platform) {
        if let Some(bar) = self.bar(&format!("pack {p}"), indicatif::ProgressBar::new_spinner) {
            bar.set_message(format!("packing {p} bundle"));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
    }

    fn packed(&self, p: Platform) {
        if let Some(bar) = self.bar(&format!("pack {p}"), indicatif::ProgressBar::new_spinner) {
            bar.finish_with_message(format!("packed {p} bundle"));
        }
    }
}

impl Bars {
    fn clear(&self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

impl Progress for Bars {
    fn started(&self, artifact: &str, size: Option<u64>) {
        let style = indicatif::ProgressStyle::with_template(
            "{msg:30} {bytes:>10}/{total_bytes:10} {wide_bar}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        if let Some(bar) = self.bar(artifact, || indicatif::ProgressBar::new(0).with_style(style)) {
            bar.set_message(artifact.to_owned());
            bar.set_length(size.unwrap_or(0));
            bar.set_position(0);
        }
    }

    fn advanced(&self, artifact: &str, bytes: u64) {
        if let Some(bar) = self.bar(artifact, indicatif::ProgressBar::hidden) {
            bar.inc(bytes);
        }
    }

    fn finished(&self, artifact: &str) {
        if let Some(bar) = self.bar(artifact, indicatif::ProgressBar::hidden) {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path) -> Sources {
        Sources {
            catalog: dir.join("catalog.toml"),
            lock: dir.join("catalog.lock"),
            mirrors: Vec::new(),
            cache: dir.join("cache"),
            offline: false,
        }
    }

    fn catalog_text(url: &str) -> String {
        format!(
            "release = \"1\"\n\n[[artifact]]\nname = \"pkg\"\ncomponent = \"sdc\"\nplatform = \"rhel7\"\nversion = \"1\"\nfile = \"pkg.rpm\"\nurls = [\"{url}\"]\n"
        )
    }

    #[test]
    fn a_malformed_lock_or_catalog_is_a_usage_error_and_touches_no_network() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}/pkg.rpm", listener.local_addr().expect("addr"));
        std::fs::write(dir.path().join("catalog.toml"), catalog_text(&url)).expect("write");
        let bad_lock = "[[artifact]]\nname = \"pkg\"\nsha256 = \"abc\"\nsize = 3\n";
        std::fs::write(dir.path().join("catalog.lock"), bad_lock).expect("write");
        let out = dir.path().join("out");
        let err = build(dir.path(), &sources(dir.path()), &[], &out).expect_err("bad hex");
        assert!(is_usage(&err), "{err:#}");
        let lock_path = dir.path().join("catalog.lock");
        assert!(
            format!("{err:#}").starts_with(&format!("{}:3: bad sha256", lock_path.display())),
            "{err:#}"
        );
        let err = lock(dir.path(), &sources(dir.path()), &[]).expect_err("lock refuses it too");
        assert!(is_usage(&err), "{err:#}");

        let dup = format!(
            "{}{}",
            catalog_text(&url),
            catalog_text(&url).replace("release = \"1\"\n", "")
        );
        std::fs::write(dir.path().join("catalog.toml"), dup).expect("write");
        std::fs::remove_file(&lock_path).expect("rm");
        let err = build(dir.path(), &sources(dir.path()), &[], &out).expect_err("duplicate");
        assert!(
            is_usage(&err) && format!("{err:#}").contains(":12: duplicate artifact name"),
            "{err:#}"
        );

        let err = build(dir.path(), &sources(dir.path()), &["sles12".into()], &out)
            .expect_err("platform");
        assert!(is_usage(&err), "{err:#}");
        assert!(
            matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "nothing may connect"
        );
        assert!(!out.exists());
    }

    #[test]
    fn lock_from_a_mirror_then_an_offline_build_that_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("catalog.toml"),
            catalog_text("https://example.invalid/pkg.rpm"),
        )
        .expect("write");
        let mirror = dir.path().join("mirror");
        std::fs::create_dir_all(&mirror).expect("mkdir");
        std::fs::write(mirror.join("pkg.rpm"), b"rpm bytes").expect("write");
        let mut src = sources(dir.path());
        src.mirrors = vec![mirror.clone()];
        src.offline = true;

        let out = dir.path().join("out");
        let err = build(dir.path(), &src, &[], &out).expect_err("unpinned");
        assert!(format!("{err:#}").contains("cargo xtask bundle lock --update pkg"), "{err:#}");

        lock(dir.path(), &src, &[]).expect("lock from the mirror");
        let written = Lock::load(&dir.path().join("catalog.lock")).expect("lock parses");
        let pin = written.pin("pkg").expect("pinned");
        assert_eq!(pin.size, 9);
        assert_eq!(pin.sha256, packaging::Sha256::of(b"rpm bytes"));

        std::fs::remove_dir_all(&mirror).expect("rm mirror");
        build(dir.path(), &src, &[], &out).expect("the cache makes the second run offline");
        let bundles: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("out")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .collect();
        assert_eq!(bundles.len(), 1);
        verify(dir.path(), &bundles).expect("the bundle verifies");
    }
}
