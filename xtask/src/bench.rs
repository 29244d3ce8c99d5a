//! `cargo xtask bench`: Benchmarks reported as ratios against a baseline run in the same invocation.
//!
//! Each benchmark is one function in [`BENCHES`] returning its figures; every figure prints as
//! one line `name  ours  baseline  ratio` on stdout (progress goes to stderr). Work files live
//! under `target/bench/`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use xshell::{Shell, cmd};

/// Benchmarks reported as ratios against a baseline run in the same invocation.
#[derive(Debug, clap::Args)]
pub struct Bench {
    /// Benchmarks to run (default: all). Known: see `BENCHES` (`bundle`, `emulator`).
    names: Vec<String>,
    /// Size of the generated input of the bundle benchmark, in MiB.
    #[arg(long, default_value_t = 1024)]
    bundle_mib: u64,
}

/// One measured figure.
#[derive(Debug)]
struct Figure {
    name: String,
    ours: String,
    baseline: String,
    /// ours / baseline, when both are comparable numbers.
    ratio: Option<f64>,
}

type BenchFn = fn(&Shell, &Bench) -> anyhow::Result<Vec<Figure>>;

/// The registry: add a benchmark by adding one function and one line here.
const BENCHES: &[(&str, BenchFn)] = &[("bundle", bundle), ("emulator", emulator)];

impl Bench {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        for name in &self.names {
            if !BENCHES.iter().any(|(n, _)| n == name) {
                let known: Vec<&str> = BENCHES.iter().map(|(n, _)| *n).collect();
                anyhow::bail!("unknown benchmark {name:?}; known: {}", known.join(", "));
            }
        }
        println!("{:<24}  {:>12}  {:>12}  {:>6}", "name", "ours", "baseline", "ratio");
        for (name, bench) in BENCHES {
            if !self.names.is_empty() && !self.names.iter().any(|n| n == name) {
                continue;
            }
            for f in bench(sh, &self).with_context(|| format!("benchmark {name} failed"))? {
                let ratio = f.ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
                println!("{:<24}  {:>12}  {:>12}  {:>6}", f.name, f.ours, f.baseline, ratio);
            }
        }
        Ok(())
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// Writes `size` bytes of incompressible pseudo-random data (like real packages) to `path`,
/// unless a file of that size is already there.
fn generate(path: &Path, seed: u64, size: u64) -> anyhow::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// `bundle` from a local mirror (fresh cache, so it copies, verifies and packs) against
/// `sha256sum` of the inputs followed by `tar -czf` of them; plus our peak memory.
fn bundle(sh: &Shell, opts: &Bench) -> anyhow::Result<Vec<Figure>> {
    const FILES: u64 = 8;
    let root = sh.current_dir();
    let dir = root.join("target/bench/bundle");
    let mirror = dir.join("mirror");
    std::fs::create_dir_all(&mirror)?;
    let each = (opts.bundle_mib << 20).div_ceil(FILES);
    eprintln!(
        "bench bundle: generating {FILES} files of {} MiB in {}",
        each >> 20,
        mirror.display()
    );
    let mut catalog = String::from("release = \"bench\"\n");
    let mut lock = String::from(packaging::catalog::LOCK_HEADER);
    let mut names = Vec::new();
    for i in 0..FILES {
        let file = format!("artifact-{i}.bin");
        let path = mirror.join(&file);
        generate(&path, i + 1, each)?;
        let (sha256, size) = packaging::fetch::hash_file(&path)?;
        catalog.push_str(&format!(
            "\n[[artifact]]\nname = \"artifact-{i}\"\ncomponent = \"sds\"\nplatform = \"ubuntu14\"\nversion = \"1\"\nfile = \"{file}\"\nurls = []\n"
        ));
        lock.push_str(&format!(
            "\n[[artifact]]\nname = \"artifact-{i}\"\nsha256 = \"{sha256}\"\nsize = {size}\n"
        ));
        names.push(file);
    }
    std::fs::write(dir.join("catalog.toml"), catalog)?;
    std::fs::write(dir.join("catalog.lock"), lock)?;

    // Baseline: read every byte to hash it, then read every byte again to tar and gzip it.
    let baseline_out = dir.join("baseline.tar.gz");
    let start = Instant::now();
    let paths: Vec<PathBuf> = names.iter().map(|n| mirror.join(n)).collect();
    cmd!(sh, "sha256sum {paths...}").quiet().ignore_stdout().run()?;
    cmd!(sh, "tar -czf {baseline_out} -C {mirror} {names...}").quiet().run()?;
    let baseline = start.elapsed();

    // Ours, as a child process so its peak memory is its own.
    let cache = dir.join("cache");
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&out);
    let exe = std::env::current_exe().context("cannot locate the xtask binary")?;
    let (catalog, lock) = (dir.join("catalog.toml"), dir.join("catalog.lock"));
    let start = Instant::now();
    let output = cmd!(
        sh,
        "{exe} bundle --catalog {catalog} --lock {lock} --mirror {mirror} --cache {cache} --offline --out {out} --print-peak-rss"
    )
    .quiet()
    .ignore_stdout()
    .output()?;
    let ours = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_kib: Option<u64> = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib: "))
        .and_then(|v| v.trim().parse().ok());
    let gz_ours: u64 = std::fs::read_dir(&out)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tar.gz"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    let gz_base = std::fs::metadata(&baseline_out)?.len();
    let _ = std::fs::remove_file(&baseline_out);
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&out);

    let mib = |b: u64| format!("{:.1}MiB", b as f64 / f64::from(1u32 << 20));
    Ok(vec![
        Figure {
            name: format!("bundle.wall ({} MiB)", (each * FILES) >> 20),
            ours: seconds(ours),
            baseline: seconds(baseline),
            ratio: Some(ours.as_secs_f64() / baseline.as_secs_f64()),
        },
        Figure {
            name: "bundle.peak_rss".into(),
            ours: peak_kib.map_or_else(|| "?".into(), |k| mib(k << 10)),
            baseline: "-".into(),
            ratio: None,
        },
        Figure {
            name: "bundle.output_size".into(),
            ours: mib(gz_ours),
            baseline: mib(gz_base),
            ratio: Some(gz_ours as f64 / gz_base as f64),
        },
    ])
}

/// mini-mesos at scale: 1,000 agents and 10,000 tasks (one executor process per agent), a
/// framework declining every offer; the figures are timer-tick times (allocation cycles
/// included) against the allocation interval, which they must stay well under. Runs the dev
/// profile build (dependencies are optimised there) so no second dependency build is needed.
fn emulator(sh: &Shell, _opts: &Bench) -> anyhow::Result<Vec<Figure>> {
    eprintln!("bench emulator: 1000 agents, 10000 tasks (about 30 s)");
    let out = cmd!(
        sh,
        "cargo run --quiet -p testkit --bin mini-mesos -- --agents 1000 --scale-check 10000"
    )
    .quiet()
    .ignore_stderr()
    .read()?;
    out.lines()
        .map(|line| {
            let cols: Vec<&str> =
                line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
            let [name, ours, baseline, ratio] = cols[..] else {
                anyhow::bail!("unexpected scale-check line {line:?}");
            };
            Ok(Figure {
                name: name.to_owned(),
                ours: ours.to_owned(),
                baseline: baseline.to_owned(),
                ratio: ratio.parse().ok(),
            })
        })
        .collect()
}
