//! `decide(&State, now)`: what to do next, as data. Launch the next ready step of a node on its
//! offer (one task per node at a time, one at a time in a serial phase), decline every other
//! offer (long filters; REVIVE when a filtered node gets a ready step), acknowledge every update
//! that carried a uuid, reconcile after SUBSCRIBED and for silent launches, kill stray tasks.
//! [`Decision::call`] turns a decision into the Mesos call the loop sends; a launch carries only
//! what identifies it, and its `TaskInfo` is rendered from the committed state when the call is
//! made ([`State::launch_task`]), so a round's launches never hold all their tasks at once.

use std::collections::BTreeSet;
use std::sync::Arc;

use mesos::scheduler::{Acknowledge, CallKind, Kill, Reconcile, ReconcileTask, Revive, Suppress};
use mesos::v1::{AgentID, Filters, OfferID, Operation, TaskID, TaskInfo};
use scaleio::step::StepEnvelope;
use scaleio::topology::{Mode, Persona};

use super::Time;
use super::executor_info::{self, earmark, executor_id};
use super::offer::{HeldOffer, Shape};
use super::plan::{Action, StepPos, StepStatus};
use super::render::{self, Context, MdmIps, Rendered};
use super::settings::BundleRef;
use super::state::{Node, State};

/// `refuse_seconds` for an offer we may want soon (a node busy with another task).
pub const SHORT_REFUSE_SECS: f64 = 5.0;

/// `refuse_seconds` for an offer from a node whose reboot has not happened yet (its executor from
/// before the reboot is still listed). The agent is back moments after a fast reboot, and a longer
/// filter made every node of the serial reboot phase wait it out (5 s each with 5 s, most of the
/// overhead benchmark's time); Mesos re-offers at its next allocation after the filter, so one
/// second costs at most one decline per second from the one node rebooting.
pub const REBOOT_REFUSE_SECS: f64 = 1.0;

/// `refuse_seconds` for an offer too small for the next step (reported as a problem).
pub const TOO_SMALL_REFUSE_SECS: f64 = 30.0;

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// ACCEPT `offer_id` with a LAUNCH of the step's task (which carries the node's
    /// `ExecutorInfo`); [`State::launch_task`] renders that task.
    Launch {
        /// The offer.
        offer_id: OfferID,
        /// The step.
        step: String,
        /// The task of this attempt.
        task_id: TaskID,
        /// The offer's agent.
        agent_id: AgentID,
        /// How the offer's CPUs and memory are shaped: the task's own resources copy it (and
        /// they shape the executor's); see [`executor_info::task_resources`].
        shape: Shape,
        /// Filter for the offer's leftover.
        refuse_seconds: f64,
    },
    /// DECLINE.
    Decline {
        /// Offers.
        offer_ids: Vec<OfferID>,
        /// Filter.
        refuse_seconds: f64,
        /// Why, for the log.
        reason: String,
    },
    /// ACKNOWLEDGE an update that carried a uuid.
    Acknowledge(Acknowledge),
    /// KILL a task of an earlier attempt.
    Kill {
        /// Task.
        task_id: TaskID,
        /// Agent.
        agent_id: Option<AgentID>,
    },
    /// RECONCILE these tasks (empty: implicit, every task).
    Reconcile {
        /// Tasks.
        tasks: Vec<ReconcileTask>,
    },
    /// REVIVE: clear filters, un-suppress.
    Revive,
    /// SUPPRESS (only when onboarding is off and nothing is left to do).
    Suppress,
    /// Complete a step that has nothing to do on its node (no call).
    Skip {
        /// The step.
        step: String,
        /// Why.
        message: String,
    },
    /// A step that cannot be rendered (missing artifact, unknown OS): it waits for an operator.
    StepError {
        /// The step.
        step: String,
        /// Why.
        message: String,
    },
}

impl Decision {
    /// The Mesos call carrying this decision, if it needs one. `state` is the state the decision
    /// was committed to (call this right after [`State::commit`], before anything else is
    /// applied): a launch's task is rendered from it. A launch whose step no longer renders
    /// (which a state it was committed to cannot give) has no call.
    pub fn call(&self, state: &State) -> Option<CallKind> {
        Some(match self {
            Decision::Launch { offer_id, refuse_seconds, .. } => CallKind::accept(
                vec![offer_id.clone()],
                vec![Operation::launch(vec![state.launch_task(self)?])],
                Some(Filters::refuse(*refuse_seconds)),
            ),
            Decision::Decline { offer_ids, refuse_seconds, .. } => {
                CallKind::decline(offer_ids.clone(), Some(Filters::refuse(*refuse_seconds)))
            }
            Decision::Acknowledge(ack) => CallKind::Acknowledge(ack.clone()),
            Decision::Kill { task_id, agent_id } => CallKind::Kill(Kill {
                task_id: task_id.clone(),
                agent_id: agent_id.clone(),
                kill_policy: None,
            }),
            Decision::Reconcile { tasks } => {
                CallKind::Reconcile(Reconcile { tasks: tasks.clone() })
            }
            Decision::Revive => CallKind::Revive(Revive::default()),
            Decision::Suppress => CallKind::Suppress(Suppress::default()),
            Decision::Skip { .. } | Decision::StepError { .. } => return None,
        })
    }
}

impl State {
    /// The MDM addresses, once known.
    pub fn mdm_ips(&self) -> Option<MdmIps> {
        match &self.settings.mode {
            Mode::Preconfigured(c) => Some(MdmIps {
                primary: c.primary.clone(),
                secondary: c.secondary.clone(),
                tiebreaker: c.tiebreaker.clone(),
            }),
            Mode::Full => {
                let m = self.d.mdms.as_ref()?;
                let ip = |h: &str| self.d.nodes.get(h).map(|n| n.ip.clone());
                Some(MdmIps {
                    primary: ip(&m.primary)?,
                    secondary: ip(&m.secondary)?,
                    tiebreaker: ip(&m.tiebreaker)?,
                })
            }
        }
    }

    /// The step a node should run next, if any: none while one of its steps is in flight.
    pub fn next_step(&self, host: &str, now: Time) -> Option<StepPos> {
        let plan = &self.d.plan;
        let own = plan.node_positions(host);
        if own.iter().any(|&pos| plan.at(pos).status.in_flight()) {
            return None;
        }
        own.iter().copied().find(|&pos| {
            let due = match plan.at(pos).status {
                StepStatus::Prepared => true,
                StepStatus::Pending => true,
                StepStatus::Failed { next_attempt_at } => next_attempt_at <= now,
                _ => false,
            };
            due && plan.ready(pos) && !plan.serial_busy(pos.0)
        })
    }

    /// The `TaskInfo` of a [`Decision::Launch`] (`None` for any other decision, or if its step
    /// or node is gone or no longer renders): the step rendered for its node, with the node's
    /// `ExecutorInfo`. A pure function of the decision and the state, which `commit` does not
    /// change in anything it reads, so it gives the same task before and after the commit.
    pub fn launch_task(&self, decision: &Decision) -> Option<TaskInfo> {
        let Decision::Launch { step, task_id, agent_id, shape, .. } = decision else {
            return None;
        };
        let record = self.d.plan.at(self.d.plan.find(step)?);
        let host = record.node.as_ref();
        let node = self.d.nodes.get(host)?;
        let bundle = self.bundle_of(node)?;
        let ctx = Context {
            settings: &self.settings,
            node,
            bundle,
            mdms: self.mdm_ips(),
            reboot_from: record.reboot_from.as_deref(),
        };
        let Ok(Rendered::Step(s)) = render::render(&record.action, &ctx) else { return None };
        let is_mdm = node.persona.is_some_and(Persona::is_mdm);
        let framework_id = self.d.framework_id.clone().map(mesos::v1::FrameworkID::new);
        let resources = executor_info::task_resources(&self.settings, shape);
        let executor = executor_info::executor_info(
            &self.settings,
            host,
            is_mdm,
            bundle,
            framework_id.as_ref(),
            &resources,
        );
        Some(executor_info::task_info(
            &record.id,
            task_id.clone(),
            agent_id.clone(),
            resources,
            executor,
            &StepEnvelope::new(s),
        ))
    }

    /// The bundle for a node's OS attribute.
    fn bundle_of(&self, node: &Node) -> Option<&BundleRef> {
        let os = node.attributes.iter().find(|(k, _)| k == "os").map(|(_, v)| v.as_str());
        os.and_then(|os| self.settings.bundle_for(os))
    }

    fn wants_offer(&self, host: &str, now: Time) -> bool {
        !self.d.paused
            && self.d.nodes.get(host).is_some_and(|n| n.problem.is_none())
            && self.next_step(host, now).is_some()
    }
}

enum ForOffer {
    Use(Decision),
    Keep(Decision),
    Decline { refuse_seconds: f64, reason: String },
}

fn for_offer(state: &State, offer: &HeldOffer, now: Time) -> ForOffer {
    let long = state.settings.decline_secs;
    let host = offer.hostname.as_str();
    let idle = |reason: &str| ForOffer::Decline { refuse_seconds: long, reason: reason.to_owned() };
    if state.d.paused {
        return idle("the plan is paused");
    }
    let Some(node) = state.d.nodes.get(host) else { return idle("unknown host") };
    if node.problem.is_some() {
        return idle("the node cannot be provisioned");
    }
    if node.agent_id.as_deref() != Some(offer.agent_id.value.as_str()) {
        return idle("offer from an old agent incarnation");
    }
    let Some(pos) = state.next_step(host, now) else { return idle("nothing to do on this node") };
    let step = state.d.plan.at(pos);
    let executor_running = offer.executor_ids.contains(&executor_id(host));
    if step.action == Action::Reboot && step.reboot_from.is_some() && executor_running {
        return ForOffer::Decline {
            refuse_seconds: REBOOT_REFUSE_SECS,
            reason: format!("waiting for {host} to reboot"),
        };
    }
    let Some(bundle) = state.bundle_of(node) else {
        return idle("no bundle for the node's OS");
    };
    let ctx = Context {
        settings: &state.settings,
        node,
        bundle,
        mdms: state.mdm_ips(),
        reboot_from: step.reboot_from.as_deref(),
    };
    // Rendered here to tell a launch from a skip or an error; the launch's call renders it again.
    match render::render(&step.action, &ctx) {
        Ok(Rendered::Step(_)) => {}
        Ok(Rendered::Skip(message)) => {
            return ForOffer::Keep(Decision::Skip { step: step.id.clone(), message });
        }
        Err(message) => {
            return ForOffer::Keep(Decision::StepError { step: step.id.clone(), message });
        }
    }
    let is_mdm = node.persona.is_some_and(Persona::is_mdm);
    let task = state.settings.task;
    let (mut cpus, mut mem) = (task.cpus, task.mem_mb);
    if !executor_running {
        let e = earmark(&state.settings, is_mdm);
        cpus += e.cpus;
        mem += e.mem_mb;
    }
    let (have_cpus, have_mem) = (offer.cpus, offer.mem);
    if have_cpus + 1e-9 < cpus || have_mem + 1e-9 < mem {
        return ForOffer::Decline {
            refuse_seconds: TOO_SMALL_REFUSE_SECS,
            reason: format!(
                "{host} offers {have_cpus} CPUs and {have_mem} MB; step {} needs {cpus} CPUs and {mem} MB{}",
                step.id,
                if executor_running { "" } else { " (including the executor)" }
            ),
        };
    }
    ForOffer::Use(Decision::Launch {
        offer_id: offer.id.clone(),
        step: step.id.clone(),
        task_id: executor_info::task_id(&step.id, step.attempts + 1),
        agent_id: offer.agent_id.clone(),
        shape: Arc::clone(&offer.shape),
        refuse_seconds: long,
    })
}

/// What to do now.
pub fn decide(state: &State, now: Time) -> Vec<Decision> {
    // At most one decision per offer, acknowledgement, kill and reconciliation, and two more:
    // sized once, a round of 10,000 offers does not double its way up (and leave half unused).
    let mut out = Vec::with_capacity(
        state.reconcile.len() + 1 + state.acks.len() + state.kills.len() + state.offers.len() + 1,
    );
    if !state.subscribed {
        return out;
    }
    for tasks in &state.reconcile {
        out.push(Decision::Reconcile { tasks: tasks.clone() });
    }
    let timeout = state.settings.launch_timeout_secs;
    let plan = &state.d.plan;
    let silent: Vec<ReconcileTask> = plan
        .starting()
        .map(|pos| plan.at(pos))
        .filter(|s| s.updated_at.is_some_and(|t| now.secs_since(t) >= timeout))
        .filter_map(|s| {
            let task = s.task_id.clone()?;
            let asked = state.reconcile_asked.get(&task);
            if asked.is_some_and(|t| now.secs_since(*t) < timeout) {
                return None;
            }
            Some(ReconcileTask {
                task_id: TaskID::new(task),
                agent_id: s.agent_id.as_deref().map(AgentID::new),
            })
        })
        .collect();
    if !silent.is_empty() {
        out.push(Decision::Reconcile { tasks: silent });
    }
    out.extend(state.acks.iter().cloned().map(Decision::Acknowledge));
    for (task_id, agent_id) in &state.kills {
        out.push(Decision::Kill { task_id: task_id.clone(), agent_id: agent_id.clone() });
    }

    let mut launched: BTreeSet<&str> = BTreeSet::new();
    let mut kept: Vec<Decision> = Vec::new();
    let mut declines: Vec<(f64, String, OfferID)> = Vec::new();
    for offer in &state.offers {
        if launched.contains(offer.hostname.as_str()) {
            declines.push((
                SHORT_REFUSE_SECS,
                "one task per node at a time".into(),
                offer.id.clone(),
            ));
            continue;
        }
        match for_offer(state, offer, now) {
            ForOffer::Use(d) => {
                launched.insert(offer.hostname.as_str());
                out.push(d);
            }
            ForOffer::Keep(d) => {
                launched.insert(offer.hostname.as_str());
                if !kept.contains(&d) {
                    kept.push(d);
                }
            }
            ForOffer::Decline { refuse_seconds, reason } => {
                declines.push((refuse_seconds, reason, offer.id.clone()))
            }
        }
    }
    out.extend(kept);
    // One DECLINE per filter length, in offer order.
    let mut lengths: Vec<f64> = Vec::new();
    for (secs, _, _) in &declines {
        if !lengths.contains(secs) {
            lengths.push(*secs);
        }
    }
    for secs in lengths {
        let group: Vec<&(f64, String, OfferID)> = declines.iter().filter(|d| d.0 == secs).collect();
        if secs == TOO_SMALL_REFUSE_SECS {
            // One per offer: each reason names its node.
            for (secs, reason, id) in group {
                out.push(Decision::Decline {
                    offer_ids: vec![id.clone()],
                    refuse_seconds: *secs,
                    reason: reason.clone(),
                });
            }
            continue;
        }
        let mut reasons: Vec<&str> = group.iter().map(|d| d.1.as_str()).collect();
        reasons.dedup();
        out.push(Decision::Decline {
            offer_ids: group.iter().map(|d| d.2.clone()).collect(),
            refuse_seconds: secs,
            reason: reasons.join("; "),
        });
    }

    let hosts_with_offers: BTreeSet<&str> =
        state.offers.iter().map(|o| o.hostname.as_str()).collect();
    // Only filtered nodes can starve unless offers are suppressed (then every node can).
    let wants = |h: &String| {
        !hosts_with_offers.contains(h.as_str())
            && (state.filtered.contains(h) || state.suppressed)
            && state.wants_offer(h, now)
    };
    let starved = if state.suppressed {
        state.d.nodes.keys().any(wants)
    } else {
        state.filtered.iter().filter(|h| state.d.nodes.contains_key(*h)).any(wants)
    };
    if starved {
        out.push(Decision::Revive);
    } else if !state.settings.onboarding && !state.suppressed && state.d.plan.is_settled() {
        out.push(Decision::Suppress);
    }
    out
}
