//! `scaleio-executor` as a library: the `Host` steps run against, platform detection, the
//! package managers, one module per step kind, bundle verification and the task loop.

pub mod bundle;
pub mod error;
pub mod host;
pub mod packages;
pub mod platform;
pub mod runner;
pub mod steps;
