//! `scaleio-scheduler`: the Mesos framework that deploys ScaleIO onto every agent (thin entry point).

use std::process::ExitCode;

use clap::Parser;
use scheduler::app;
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
    app::init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return exit(config::EXIT_RUNTIME_ERROR);
        }
    };
    match runtime.block_on(app::run(&config)) {
        Ok(code) => exit(code),
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            exit(config::EXIT_RUNTIME_ERROR)
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
