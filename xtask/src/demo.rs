//! `cargo xtask demo`: Run the whole deployment on this machine against an emulated Mesos cluster.

use xshell::Shell;

/// Run the whole deployment on this machine against an emulated Mesos cluster.
#[derive(Debug, clap::Args)]
pub struct Demo {
    /// Arguments for the command (it is not yet available).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Demo {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask demo` is not yet available (arguments given: {:?})", self.args)
    }
}
