//! The core tests' simulated cluster: [`scheduler::core::sim`], shared with `cargo xtask bench core`.

pub use scheduler::core::sim::*;

use scheduler::core::{State, StepRecord};

/// Three small agents (2 CPUs, 4 GiB each): the data nodes of a pre-configured cluster.
pub fn three_small() -> Vec<Agent> {
    (1..=3).map(|n| Agent::new(n, 2.0, 4096.0)).collect()
}

/// A node's steps, in plan order.
pub fn node_steps<'a>(state: &'a State, host: &'a str) -> impl Iterator<Item = &'a StepRecord> {
    state.plan().steps().filter(move |s| &*s.node == host)
}
