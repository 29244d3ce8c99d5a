//! Stand-ins for what cannot run on our machines, as strict as the real things: ScaleIO's `scli`
//! and REST gateway over one on-disk cluster model, and host tools of a simulated host.
//!
//! Environment (set by the emulator for executors, or by a test):
//! - [`STATE_ENV`] (`SCALEIO_STANDIN_STATE`): path of the cluster model JSON file, shared by
//!   every simulated host's `scli` and the gateway stand-in.
//! - [`HOST_ROOT_ENV`] (`SCALEIO_HOST_ROOT`): the simulated host's root directory. Packages are
//!   "installed" when their directories exist under it (`opt/emc/scaleio/mdm`, `.../sds`), devices
//!   are files under `<root>/dev/`, and host tools log their argv to [`host::ARGV_LOG`] there.
//!
//! Which simulated host has which IP is recorded in the model ([`model::Model::register_host`]).

pub mod gateway;
pub mod host;
pub mod model;
pub mod scli;

/// Environment variable naming the cluster model file.
pub const STATE_ENV: &str = "SCALEIO_STANDIN_STATE";
/// Environment variable naming the simulated host's root.
pub const HOST_ROOT_ENV: &str = "SCALEIO_HOST_ROOT";
