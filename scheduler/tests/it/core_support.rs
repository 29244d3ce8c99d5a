//! The core tests' simulated cluster: [`scheduler::core::sim`], shared with `cargo xtask bench core`.

pub use scheduler::core::sim::*;
