//! `scaleio-executor`: runs provisioning steps on one Mesos agent (started by the agent; reads the
//! executor environment Mesos sets, verifies the sandbox bundle, then runs each step task).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use executor::bundle::BundleState;
use executor::host::{HOST_ROOT_ENV, Host, HostConfig};
use executor::runner::{self, Exit, RunnerConfig};
use mesos::executor::connection::{self, Config, StopReason};

/// Exit code: SHUTDOWN, or the connection closed by this executor.
const EXIT_OK: u8 = 0;
/// Exit code: the agent was lost (recovery timeout, not checkpointing) or refused us.
const EXIT_AGENT_LOST: u8 = 1;
/// Exit code: the environment or the flags are wrong.
const EXIT_CONFIG: u8 = 2;

/// Runs ScaleIO provisioning steps sent by scaleio-scheduler as tasks on this Mesos agent.
///
/// Started by the Mesos agent, which sets MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID,
/// MESOS_EXECUTOR_ID, MESOS_SANDBOX and the other executor variables. At start it verifies the
/// platform bundle the fetcher extracted into the sandbox (scaleio-bundle-*/); if it is missing
/// or fails verification, every step fails with the reason (naming the file). Secrets (the ScaleIO
/// admin password) are read from the environment variables or files the steps name, never from
/// flags.
///
/// Exit codes: 0 shutdown, 1 agent lost, 2 bad environment or flags.
#[derive(Debug, Parser)]
#[command(name = "scaleio-executor", version)]
struct Args {
    /// Root directory of the host the steps act on (`/` on a real agent; a simulated host's
    /// root in the emulator).
    #[arg(long, env = HOST_ROOT_ENV, default_value = "/")]
    host_root: PathBuf,
    /// Directory holding the extracted bundle (default: $MESOS_SANDBOX, else $MESOS_DIRECTORY).
    #[arg(long)]
    sandbox: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, env = "SCALEIO_LOG_FORMAT", value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("scaleio-executor: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if !args.host_root.is_dir() {
        eprintln!(
            "scaleio-executor: --host-root {} is not a directory\nhint: leave it unset on a real agent (it defaults to /)",
            args.host_root.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let sandbox = args
        .sandbox
        .clone()
        .or_else(|| config.sandbox.clone())
        .or_else(|| config.directory.clone());
    let bundle = match &sandbox {
        Some(dir) => BundleState::open(dir),
        None => BundleState::Unusable(
            "no sandbox: neither --sandbox nor MESOS_SANDBOX/MESOS_DIRECTORY is set".to_owned(),
        ),
    };
    match &bundle {
        BundleState::Verified { dir, manifest } => tracing::info!(
            bundle = %dir.display(),
            artifacts = manifest.artifacts.len(),
            "bundle verified"
        ),
        BundleState::Unusable(why) => {
            tracing::error!(reason = %why, "bundle unusable; every step will fail with this reason")
        }
    }
    let host = Host::new(HostConfig::for_root(args.host_root.clone(), |k| std::env::var_os(k)));
    let runner_config = RunnerConfig {
        host,
        bundle,
        secret_env: std::env::vars().collect::<HashMap<_, _>>(),
        transcripts: sandbox.map(|s| s.join("transcripts")),
    };
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("scaleio-executor: cannot start the async runtime: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    let exit = runtime.block_on(async move {
        let (handle, notices) = match connection::connect(config) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("scaleio-executor: {e}");
                return None;
            }
        };
        let sigterm = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                    tracing::info!("SIGTERM: stopping like SHUTDOWN");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        Some(runner::run(runner_config, handle, notices, sigterm).await)
    });
    match exit {
        None => ExitCode::from(EXIT_CONFIG),
        Some(Exit::Shutdown) | Some(Exit::Stopped(StopReason::Closed)) => {
            tracing::info!("exiting");
            ExitCode::from(EXIT_OK)
        }
        Some(Exit::Stopped(reason)) => {
            eprintln!("scaleio-executor: {reason}");
            ExitCode::from(EXIT_AGENT_LOST)
        }
    }
}
