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

mod overhead;
mod scheduler_core;

/// Benchmarks reported as ratios against a baseline run in the same invocation.
#[derive(Debug, clap::Args)]
pub struct Bench {
    /// Benchmarks to run (default: all). Known: see `BENCHES`.
    names: Vec<String>,
    /// Size of the generated input of the bundle benchmark, in MiB.
    #[arg(long, default_value_t = 1024)]
    bundle_mib: u64,
    /// Size of the generated event stream of the events benchmark, in MiB.
    #[arg(long, default_value_t = 64)]
    events_mib: u64,
    /// The emulator's allocation interval in the overhead benchmark, in milliseconds (Mesos'
    /// default is 1 s; the ratio is computed with whatever is set here).
    #[arg(long, default_value_t = 1000)]
    overhead_interval_ms: u64,
    /// Measure this (unoptimised) build instead of re-running under `--release`.
    #[arg(long)]
    debug: bool,
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

/// Number of generated artifacts in the bundle benchmarks' catalogs.
const FILES: u64 = 8;

type BenchFn = fn(&Shell, &Bench) -> anyhow::Result<Vec<Figure>>;

/// The registry: add a benchmark by adding one function and one line here.
const BENCHES: &[(&str, BenchFn)] = &[
    ("bundle", bundle),
    ("bundle-memory", bundle_memory),
    ("events", events),
    ("emulator", emulator),
    ("core", scheduler_core::core),
    ("overhead", overhead::overhead),
];

impl Bench {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        for name in &self.names {
            if !BENCHES.iter().any(|(n, _)| n == name) {
                let known: Vec<&str> = BENCHES.iter().map(|(n, _)| *n).collect();
                anyhow::bail!("unknown benchmark {name:?}; known: {}", known.join(", "));
            }
        }
        if cfg!(debug_assertions) && !self.debug {
            // The code under test (decoders, writers) is a workspace member, compiled without
            // optimisation by `cargo run`: its figures would be those of a debug build.
            eprintln!("bench: re-running under --release (pass --debug to measure this build)");
            let args: Vec<String> = std::env::args().skip(1).collect();
            cmd!(sh, "cargo run --release --quiet --package xtask -- {args...}").run()?;
            return Ok(());
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
    let (catalog, lock) = bench_catalog(&dir, &mirror, opts.bundle_mib)?;
    let names: Vec<String> = (0..FILES).map(|i| format!("artifact-{i}.bin")).collect();

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
/// included) against the allocation interval, which they must stay well under. mini-mesos is
/// built with the same profile as this xtask.
fn emulator(sh: &Shell, _opts: &Bench) -> anyhow::Result<Vec<Figure>> {
    eprintln!("bench emulator: 1000 agents, 10000 tasks (about 30 s)");
    let profile: &[&str] = if cfg!(debug_assertions) { &[] } else { &["--release"] };
    let out = cmd!(
        sh,
        "cargo run --quiet {profile...} -p testkit --bin mini-mesos -- --agents 1000 --scale-check 10000"
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
/// Peak memory of `bundle` at two input sizes (a quarter of `--bundle-mib`, then all of it):
/// streaming keeps it flat, so the ratio stays near 1. Measured as the child's own VmHWM.
fn bundle_memory(sh: &Shell, opts: &Bench) -> anyhow::Result<Vec<Figure>> {
    let mut peaks = Vec::new();
    for mib in [opts.bundle_mib.div_ceil(4), opts.bundle_mib] {
        let dir = sh.current_dir().join(format!("target/bench/bundle-memory-{mib}"));
        let mirror = dir.join("mirror");
        std::fs::create_dir_all(&mirror)?;
        let (catalog, lock) = bench_catalog(&dir, &mirror, mib)?;
        let (cache, out) = (dir.join("cache"), dir.join("out"));
        let _ = std::fs::remove_dir_all(&cache);
        let _ = std::fs::remove_dir_all(&out);
        eprintln!("bench bundle-memory: packing {mib} MiB");
        let exe = std::env::current_exe().context("cannot locate the xtask binary")?;
        let output = cmd!(
            sh,
            "{exe} bundle --catalog {catalog} --lock {lock} --mirror {mirror} --cache {cache} --offline --out {out} --print-peak-rss"
        )
        .quiet()
        .ignore_stdout()
        .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let peak: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak-rss-kib: "))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("the bundle child printed no peak-rss-kib line: {stderr}"))?;
        let _ = std::fs::remove_dir_all(&cache);
        let _ = std::fs::remove_dir_all(&out);
        peaks.push((mib, peak));
    }
    let [(small, small_kib), (large, large_kib)] = peaks[..] else {
        anyhow::bail!("expected two measurements");
    };
    let mib = |k: u64| format!("{:.1}MiB", k as f64 / 1024.0);
    Ok(vec![Figure {
        name: format!("bundle.peak_rss {large}MiB vs {small}MiB"),
        ours: mib(large_kib),
        baseline: mib(small_kib),
        ratio: Some(large_kib as f64 / small_kib as f64),
    }])
}

/// Writes a catalog and lock of [`FILES`] generated artifacts totalling `mib` MiB; returns their paths.
fn bench_catalog(dir: &Path, mirror: &Path, mib: u64) -> anyhow::Result<(PathBuf, PathBuf)> {
    let each = (mib << 20).div_ceil(FILES);
    let mut catalog = String::from("release = \"bench\"\n");
    let mut lock = String::from(packaging::catalog::LOCK_HEADER);
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
    }
    let (c, l) = (dir.join("catalog.toml"), dir.join("catalog.lock"));
    std::fs::write(&c, catalog)?;
    std::fs::write(&l, lock)?;
    Ok((c, l))
}

/// One cycle of a scheduler's event stream, shaped like what a real Mesos 1.12 master sends
/// (see shared/fixtures/real-mesos-1.12): an OFFERS event with 8 agents' offers, 10 status
/// UPDATEs and 5 HEARTBEATs. Each record is the canonical JSON of the decoded event.
fn event_cycle(cycle: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    use mesos::scheduler::Event;
    let fw = "70da702a-87c2-4b68-9f7c-b00d256053ac-0000";
    let offers: Vec<serde_json::Value> = (0..8)
        .map(|i| {
            serde_json::json!({
                "id": {"value": format!("70da702a-O{cycle}-{i}")},
                "framework_id": {"value": fw},
                "agent_id": {"value": format!("70da702a-87c2-4b68-9f7c-b00d256053ac-S{i}")},
                "hostname": format!("agent-{i}.example.internal"),
                "url": {"scheme": "http", "address": {"hostname": format!("agent-{i}"),
                        "ip": format!("10.0.0.{i}"), "port": 5051}, "path": "/slave(1)"},
                "resources": [
                    {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}, "role": "*"},
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 3.9}, "role": "*"},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 14_848.0}, "role": "*"},
                    {"name": "disk", "type": "SCALAR", "scalar": {"value": 98_304.0}, "role": "*"}
                ],
                "attributes": [
                    {"name": "os", "type": "TEXT", "text": {"value": "ubuntu14"}},
                    {"name": "rack", "type": "TEXT", "text": {"value": format!("r{}", i % 3)}},
                    {"name": "scaleio-sds-devices", "type": "TEXT", "text": {"value": "/dev/xvdf,/dev/xvdg"}}
                ],
                "executor_ids": [{"value": format!("scaleio-executor-agent-{i}")}]
            })
        })
        .collect();
    let mut values = vec![serde_json::json!({"type": "OFFERS", "offers": {"offers": offers}})];
    for i in 0..10 {
        values.push(serde_json::json!({"type": "UPDATE", "update": {"status": {
            "task_id": {"value": format!("scaleio-step-{cycle}-{i}-install-sds")},
            "state": if i % 2 == 0 { "TASK_RUNNING" } else { "TASK_FINISHED" },
            "message": "step install-sds finished: 3 packages installed",
            "source": "SOURCE_EXECUTOR",
            "data": "eyJzdGVwIjoiaW5zdGFsbC1zZHMiLCJvayI6dHJ1ZX0=",
            "agent_id": {"value": format!("70da702a-87c2-4b68-9f7c-b00d256053ac-S{}", i % 8)},
            "executor_id": {"value": format!("scaleio-executor-agent-{}", i % 8)},
            "timestamp": 1_795_338_337.606_203_3,
            "uuid": "I+EMT9tbQRKjf8ZzcRN4eA==",
            "container_status": {"container_id": {"value": "01c5f838-78ed-43b9-aba4-8c35f7b71aaa"},
                "network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": "10.0.0.1"}]}],
                "executor_pid": 20234}
        }}}));
    }
    for _ in 0..5 {
        values.push(serde_json::json!({"type": "HEARTBEAT"}));
    }
    values
        .into_iter()
        .map(|v| {
            let event: Event = serde_json::from_value(v).context("bench event is valid")?;
            Ok(event.to_json())
        })
        .collect()
}

/// RecordIO + JSON event decoding as the scheduler connection does it (the stream arrives in
/// 16 KiB chunks, records are framed out and decoded with `Event::from_record`) against
/// `serde_json` decoding the same records already split. The difference is the framing cost
/// (the target: under 10%). A third variant, `Event::from_record` on the pre-split
/// records, tells the framing from the decoder's own cost.
///
/// On a shared machine the load changes faster than a whole pass takes, so the variants are
/// interleaved batch by batch (about 1,000 events each, the order rotating) and each variant's
/// batch times are summed: every variant sees the same load.
fn events(_sh: &Shell, opts: &Bench) -> anyhow::Result<Vec<Figure>> {
    use mesos::recordio;
    use mesos::scheduler::Event;
    const CHUNK: usize = 16 << 10;
    const ROUNDS: usize = 3;
    const BATCH_CYCLES: usize = 64;
    let target = usize::try_from(opts.events_mib << 20).context("--events-mib is too large")?;
    // Each batch: its framed stream and its records.
    let mut batches: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    let (mut framed, mut payload, mut count, mut cycle) = (0usize, 0usize, 0usize, 0usize);
    while framed < target {
        let (mut stream, mut records) = (Vec::new(), Vec::new());
        for _ in 0..BATCH_CYCLES {
            for record in event_cycle(cycle)? {
                recordio::encode_into(&record, &mut stream);
                payload += record.len();
                records.push(record);
            }
            cycle += 1;
        }
        framed += stream.len();
        count += records.len();
        batches.push((stream, records));
    }
    eprintln!(
        "bench events: {count} events in {} batches, {:.1} MiB of JSON, {:.1} MiB framed",
        batches.len(),
        payload as f64 / f64::from(1u32 << 20),
        framed as f64 / f64::from(1u32 << 20)
    );

    let ours_batch = |stream: &[u8]| -> anyhow::Result<usize> {
        let mut decoder = recordio::Decoder::default();
        let mut n = 0;
        for chunk in stream.chunks(CHUNK) {
            decoder.feed(chunk);
            while let Some(record) = decoder.next_record()? {
                std::hint::black_box(Event::from_record(&record)?);
                n += 1;
            }
        }
        decoder.finish()?;
        Ok(n)
    };
    let baseline_batch = |records: &[Vec<u8>]| -> anyhow::Result<()> {
        for record in records {
            std::hint::black_box(serde_json::from_slice::<Event>(record)?);
        }
        Ok(())
    };
    let unframed_batch = |records: &[Vec<u8>]| -> anyhow::Result<()> {
        for record in records {
            std::hint::black_box(Event::from_record(record)?);
        }
        Ok(())
    };
    let (mut ours, mut baseline, mut unframed) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for round in 0..ROUNDS {
        let (mut o, mut b, mut u) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for (i, (stream, records)) in batches.iter().enumerate() {
            for variant in 0..3 {
                let start = Instant::now();
                match (i + variant + round) % 3 {
                    0 => {
                        let n = ours_batch(stream)?;
                        anyhow::ensure!(n == records.len(), "decoded {n} of {}", records.len());
                        o += start.elapsed();
                    }
                    1 => {
                        baseline_batch(records)?;
                        b += start.elapsed();
                    }
                    _ => {
                        unframed_batch(records)?;
                        u += start.elapsed();
                    }
                }
            }
        }
        eprintln!("bench events: round {round}: ours {o:?}, baseline {b:?}, unframed {u:?}");
        ours += o;
        baseline += b;
        unframed += u;
    }
    let rounds = ROUNDS as u32;
    let (ours, baseline, unframed) = (ours / rounds, baseline / rounds, unframed / rounds);
    let mb = framed as f64 / 1e6;
    let n = count as f64;
    let (o, b) = (ours.as_secs_f64(), baseline.as_secs_f64());
    Ok(vec![
        Figure {
            name: format!("events.wall ({:.0} MB)", mb),
            ours: seconds(ours),
            baseline: seconds(baseline),
            ratio: Some(o / b),
        },
        Figure {
            name: "events.throughput".into(),
            ours: format!("{:.1}MB/s", mb / o),
            baseline: format!("{:.1}MB/s", mb / b),
            ratio: Some(b / o),
        },
        Figure {
            name: "events.rate".into(),
            ours: format!("{:.0}ev/s", n / o),
            baseline: format!("{:.0}ev/s", n / b),
            ratio: Some(b / o),
        },
        Figure {
            name: "events.framing_overhead".into(),
            ours: format!("{:.1}%", (o / b - 1.0) * 100.0),
            baseline: "<10%".into(),
            ratio: None,
        },
        Figure {
            name: "events.unframed_wall".into(),
            ours: seconds(unframed),
            baseline: seconds(baseline),
            ratio: Some(unframed.as_secs_f64() / b),
        },
    ])
}
