//! The calls of committed decisions on their way to the master ([`Outbox`]): held as decisions
//! until a save holds them (the store is the write-ahead log), then rendered one at a time as
//! the sender has room, so a round of 10,000 launches never holds 10,000 rendered tasks (~50 MiB
//! at 10,000 agents when they were rendered right after `commit`; `cargo xtask bench core`'s
//! `core.peak_rss_loop`).
//!
//! Rendering later than `commit` is safe: a launch's task is a pure function of the decision and
//! what the state knows of its step and node (action, reboot boot id, facts, persona, the MDM
//! addresses, the framework id), and nothing applied in between takes any of that back: a step
//! in flight is not decided again, and facts only get newer (a new address of an MDM host goes
//! out with the task rather than the old one). A launch whose step no longer renders is not
//! sent; its step is then silent and reconciled after the launch timeout (120 s) like any lost launch.

use std::collections::VecDeque;

use mesos::scheduler::CallKind;

use crate::core::{Decision, State};

/// How many rendered calls may wait in the sender's queue: the loop renders no further ahead.
pub const SEND_AHEAD: usize = 32;

/// Decisions with a call, in commit order; the first `sendable` of them are saved.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Decision>,
    sendable: usize,
}

impl Outbox {
    /// Holds the calls of `decisions`, just committed (those without a call are left out).
    pub fn push(&mut self, decisions: impl IntoIterator<Item = Decision>) {
        self.queue.extend(
            decisions
                .into_iter()
                .filter(|d| !matches!(d, Decision::Skip { .. } | Decision::StepError { .. })),
        );
    }

    /// A save holds every decision pushed so far: their calls may go out.
    pub fn mark_saved(&mut self) {
        self.sendable = self.queue.len();
    }

    /// Whether a call may go out now.
    pub fn has_sendable(&self) -> bool {
        self.sendable > 0
    }

    /// Decisions held, saved or not.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next call that may go out, rendered from `state` now (`None` when none may).
    pub fn next_call(&mut self, state: &State) -> Option<CallKind> {
        while self.sendable > 0 {
            let decision = self.queue.pop_front()?;
            self.sendable -= 1;
            match decision.call(state) {
                Some(call) => return Some(call),
                None => {
                    if let Decision::Launch { step, task_id, .. } = &decision {
                        tracing::warn!(step = %step, task.id = %task_id, "the step no longer renders; its launch is not sent (it is reconciled as a silent launch)");
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sim::{self, Sim};

    /// A round of launches on five agents, committed.
    fn round() -> (Sim, Vec<Decision>) {
        let mut sim = Sim::new(sim::settings(scaleio::topology::Mode::Full), sim::five_agents());
        sim.offer_all();
        let decisions = sim.decide();
        assert!(decisions.iter().any(|d| matches!(d, Decision::Launch { .. })), "{decisions:?}");
        (sim, decisions)
    }

    #[test]
    fn nothing_goes_out_before_a_save_then_everything_in_commit_order() {
        let (sim, decisions) = round();
        let expected: Vec<CallKind> = decisions.iter().filter_map(|d| d.call(&sim.state)).collect();
        let mut outbox = Outbox::default();
        outbox.push(decisions.clone());
        assert!(!outbox.has_sendable());
        assert_eq!(outbox.next_call(&sim.state), None, "not saved yet");
        outbox.mark_saved();
        // Decisions pushed after the save wait for the next one.
        outbox.push([Decision::Decline {
            offer_ids: vec![mesos::v1::OfferID::new("late")],
            refuse_seconds: 5.0,
            reason: "after the save".into(),
        }]);
        let mut sent = Vec::new();
        while let Some(call) = outbox.next_call(&sim.state) {
            sent.push(call);
        }
        assert_eq!(sent, expected);
        assert!(!outbox.is_empty(), "the unsaved decline is still held");
        outbox.mark_saved();
        assert!(matches!(outbox.next_call(&sim.state), Some(CallKind::Decline(_))));
        assert!(outbox.is_empty());
    }

    #[test]
    fn decisions_without_a_call_are_not_held_and_an_unrenderable_launch_is_dropped() {
        let (sim, decisions) = round();
        let mut outbox = Outbox::default();
        let skip = Decision::Skip { step: "x".into(), message: "m".into() };
        let error = Decision::StepError { step: "y".into(), message: "m".into() };
        let Some(launch) = decisions.iter().find(|d| matches!(d, Decision::Launch { .. })) else {
            unreachable!()
        };
        let mut gone = launch.clone();
        if let Decision::Launch { step, .. } = &mut gone {
            *step = "no-such-step".into();
        }
        outbox.push([skip, error, gone, launch.clone()]);
        assert_eq!(outbox.len(), 2);
        outbox.mark_saved();
        assert_eq!(outbox.next_call(&sim.state), launch.call(&sim.state));
        assert_eq!(outbox.next_call(&sim.state), None);
    }
}
