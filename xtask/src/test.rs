//! `cargo xtask test`: install what the tests need (idempotently), build the binaries, run every test.

use std::path::Path;

use anyhow::Context;
use xshell::{Shell, cmd};

/// Environment variable that selects the slow test tier (CI sets it through `--slow`).
pub const SLOW_TESTS_ENV: &str = "SCALEIO_SLOW_TESTS";

/// Install what the tests need (Debian and PyPI tools), build the binaries, then run every test.
///
/// Tools the tests use for real: ZooKeeper (store), dpkg and rpm into temporary roots (package
/// managers), GNU tar and bsdtar (bundle extraction), skopeo and umoci (images), cfn-lint
/// (CloudFormation templates) and headless Chromium (status page). Missing Debian packages are
/// installed with apt-get when running as root; otherwise the command stops and names them.
#[derive(Debug, clap::Args)]
pub struct Test {
    /// Do not install anything; fail with the list of missing tools instead.
    #[arg(long)]
    no_install: bool,
    /// Also run the slow tier (seeded fault runs, large inputs); CI runs it.
    #[arg(long)]
    slow: bool,
    /// Extra arguments passed to `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    cargo_test_args: Vec<String>,
}

/// One tool the test suite runs, how to tell it is present, and where it comes from.
struct Tool {
    name: &'static str,
    /// Files that must all exist (absolute), or program names looked up on `PATH`.
    needs: &'static [&'static str],
    source: Source,
}

enum Source {
    Debian(&'static [&'static str]),
    PyPi(&'static str),
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "ZooKeeper (with a Java runtime)",
        needs: &["java", "/usr/share/java/zookeeper.jar"],
        source: Source::Debian(&["zookeeper"]),
    },
    Tool { name: "dpkg-deb", needs: &["dpkg-deb", "dpkg"], source: Source::Debian(&["dpkg"]) },
    Tool {
        name: "rpm and rpmbuild",
        needs: &["rpm", "rpmbuild"],
        source: Source::Debian(&["rpm"]),
    },
    Tool {
        name: "static busybox (a shell inside rpm roots)",
        needs: &["/bin/busybox"],
        source: Source::Debian(&["busybox-static"]),
    },
    Tool { name: "GNU tar", needs: &["tar", "sha256sum"], source: Source::Debian(&["tar"]) },
    Tool {
        name: "bsdtar (libarchive)",
        needs: &["bsdtar"],
        source: Source::Debian(&["libarchive-tools"]),
    },
    Tool { name: "skopeo", needs: &["skopeo"], source: Source::Debian(&["skopeo"]) },
    Tool { name: "umoci", needs: &["umoci"], source: Source::Debian(&["umoci"]) },
    Tool {
        name: "headless Chromium",
        needs: &["chromium"],
        source: Source::Debian(&["chromium", "fonts-dejavu-core"]),
    },
    Tool { name: "cfn-lint", needs: &["cfn-lint"], source: Source::PyPi("cfn-lint>=1,<2") },
];

impl Test {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let missing: Vec<&Tool> = TOOLS.iter().filter(|tool| !tool_present(sh, tool)).collect();
        if !missing.is_empty() {
            if self.no_install {
                anyhow::bail!(
                    "missing test tools: {}\nhint: run `cargo xtask test` without --no-install (as root) to install them",
                    names(&missing)
                );
            }
            install(sh, &missing)?;
            let still: Vec<&Tool> = missing.into_iter().filter(|t| !tool_present(sh, t)).collect();
            if !still.is_empty() {
                anyhow::bail!("still missing after installing: {}", names(&still));
            }
        }
        eprintln!("xtask test: all test tools present");

        // End-to-end tests start the real binaries (executor under the emulator, the scheduler).
        cmd!(sh, "cargo build --workspace --bins").run().context("building the binaries")?;
        let _slow = self.slow.then(|| sh.push_env(SLOW_TESTS_ENV, "1"));
        let args = &self.cargo_test_args;
        cmd!(sh, "cargo test --workspace --all-targets -- {args...}")
            .run()
            .context("running the tests")?;
        Ok(())
    }
}

fn names(tools: &[&Tool]) -> String {
    tools.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

fn tool_present(sh: &Shell, tool: &Tool) -> bool {
    let found = tool
        .needs
        .iter()
        .all(|need| if need.starts_with('/') { Path::new(need).exists() } else { on_path(need) });
    match tool.source {
        // A pyenv shim can exist without the package behind it: ask the tool itself.
        Source::PyPi(_) if found => {
            let program = tool.needs[0];
            cmd!(sh, "{program} --version").quiet().ignore_stdout().ignore_stderr().run().is_ok()
        }
        _ => found,
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn install(sh: &Shell, missing: &[&Tool]) -> anyhow::Result<()> {
    let mut debs: Vec<&str> = Vec::new();
    let mut pips: Vec<&str> = Vec::new();
    for tool in missing {
        match tool.source {
            Source::Debian(pkgs) => debs.extend(pkgs),
            Source::PyPi(spec) => pips.push(spec),
        }
    }
    if !debs.is_empty() {
        if !is_root() {
            anyhow::bail!(
                "the tests need Debian packages that are not installed: {}\nhint: run as root, or install them: sudo apt-get install {}",
                debs.join(" "),
                debs.join(" ")
            );
        }
        eprintln!("xtask test: installing Debian packages: {}", debs.join(" "));
        let _frontend = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        cmd!(sh, "apt-get update -qq").run().context("apt-get update")?;
        cmd!(sh, "apt-get install -y -qq --no-install-recommends {debs...}")
            .run()
            .context("apt-get install")?;
    }
    if !pips.is_empty() {
        eprintln!("xtask test: installing from PyPI: {}", pips.join(" "));
        cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check {pips...}")
            .run()
            .context("pip install")?;
    }
    Ok(())
}
