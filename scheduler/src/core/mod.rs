//! The scheduler's sans-IO core: the plan, the state it applies inputs to, and the decisions it
//! derives. No IO, no clock reads, no randomness: time comes in as a [`Time`] argument.
//!
//! The loop ([`crate::runtime`]) drives it: `state.apply(now, input)` for every input, then
//! `decide(&state, now)`, then (after persisting [`State::persisted`]) executes the decisions and
//! records them with [`State::commit`].

pub mod decide;
pub mod executor_info;
pub mod offer;
pub mod plan;
pub mod render;
pub mod settings;
pub mod sim;
pub mod state;

pub use decide::{Decision, decide};
pub use plan::{Action, Phase, PhaseName, Plan, StepRecord, StepStatus};
pub use settings::{BundleRef, Settings};
pub use state::{Input, Node, Persisted, State};

use serde::{Deserialize, Serialize};

/// An instant in milliseconds since the Unix epoch. The loop reads the clock; the core only
/// compares and adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// `self` plus `secs` seconds.
    pub fn plus_secs(self, secs: u64) -> Time {
        Time(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// Whole seconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn secs_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0) / 1000
    }
}
