//! `cargo xtask bench`: Benchmarks reported as ratios against a baseline run in the same invocation.

use xshell::Shell;

/// Benchmarks reported as ratios against a baseline run in the same invocation.
#[derive(Debug, clap::Args)]
pub struct Bench {
    /// Arguments for the command (it is not yet available).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Bench {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask bench` is not yet available (arguments given: {:?})", self.args)
    }
}
