//! Workspace end-to-end tests: one integration-test binary, one module per subject.

mod capacity_poller;
mod demo_assets;
mod deploy_agents;
mod deploy_faults;
mod deploy_full;
mod deploy_restart;
mod deploy_zk;
mod deploy_zk_faults;
mod emulator_events;
mod emulator_executor;
mod emulator_faults;
mod emulator_fetch;
mod emulator_scheduler;
mod emulator_support;
mod emulator_wire;
mod executor_binary;
mod executor_emulator;
mod executor_fixtures;
mod executor_isolator;
mod executor_packages;
mod executor_steps;
mod executor_support;
mod standins_gateway;
mod standins_host;
mod standins_scli;
