//! `scaleio-scheduler`: the Mesos framework that deploys ScaleIO onto every agent (thin entry point).

use std::process::ExitCode;

use clap::Parser;
use scheduler::config::{self, Args, Config, ProcessEnvironment};

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_args(&args, &ProcessEnvironment) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: invalid configuration: {error}");
            return exit(config::EXIT_INVALID_CONFIG);
        }
    };
    if args.check_config {
        print!("{config}");
        return exit(config::EXIT_OK);
    }
    eprintln!(
        "error: the scheduler loop is not built yet; only --check-config works in this version"
    );
    exit(config::EXIT_RUNTIME_ERROR)
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
