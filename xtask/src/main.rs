//! `cargo xtask`: project automation (bundle, image, demo, bench, test), one module per command.

mod bench;
mod bundle;
mod demo;
mod image;
mod test;
#[cfg(test)]
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use xshell::Shell;

/// Exit code for a failed command (usage errors exit with 2, as clap does).
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Automation for the ScaleIO framework for Apache Mesos")]
enum Command {
    /// Fetch, verify and pack third-party artifacts into reproducible bundles.
    Bundle(bundle::Bundle),
    /// Build daemon-less OCI images of the scheduler and executor.
    Image(image::Image),
    /// Run the whole deployment on this machine against an emulated Mesos cluster.
    Demo(demo::Demo),
    /// Run the benchmarks and print one line per figure: name, ours, baseline, ratio.
    Bench(bench::Bench),
    /// Install what the tests need (Debian and PyPI tools), then run every test.
    Test(test::Test),
}

fn main() -> ExitCode {
    let command = Command::parse();
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(project_root());
        match command {
            Command::Bundle(cmd) => cmd.run(&sh),
            Command::Image(cmd) => cmd.run(&sh),
            Command::Demo(cmd) => cmd.run(&sh),
            Command::Bench(cmd) => cmd.run(&sh),
            Command::Test(cmd) => cmd.run(&sh),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}
