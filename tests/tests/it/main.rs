//! Workspace end-to-end tests: one integration-test binary, one module per subject.

mod demo_assets;
mod executor_fixtures;
mod standins_gateway;
mod standins_host;
mod standins_scli;
