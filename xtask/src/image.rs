//! `cargo xtask image`: Build daemon-less OCI images of the scheduler and executor.

use xshell::Shell;

/// Build daemon-less OCI images of the scheduler and executor.
#[derive(Debug, clap::Args)]
pub struct Image {
    /// Arguments for the command (it is not yet available).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Image {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask image` is not yet available (arguments given: {:?})", self.args)
    }
}
