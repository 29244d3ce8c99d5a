//! `cargo xtask bundle`: Fetch, verify and pack third-party artifacts into reproducible bundles.

use xshell::Shell;

/// Fetch, verify and pack third-party artifacts into reproducible bundles.
#[derive(Debug, clap::Args)]
pub struct Bundle {
    /// Arguments for the command (it is not yet available).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Bundle {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!(
            "`cargo xtask bundle` is not yet available (arguments given: {:?})",
            self.args
        )
    }
}
