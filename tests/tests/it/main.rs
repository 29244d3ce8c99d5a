//! Workspace end-to-end tests: one integration-test binary, one module per subject.

mod demo_assets;
mod executor_binary;
mod executor_fixtures;
mod executor_packages;
mod executor_steps;
mod executor_support;
mod standins_gateway;
mod standins_host;
mod standins_scli;
