//! What the core keeps of an offer between the OFFERS event and the `commit` that uses it up
//! ([`HeldOffer`]), and the resource shapes those offers share ([`Shapes`]).
//!
//! A decoded `mesos::v1::Offer` weighs about 2 KiB (every resource carries room for disk,
//! reservation and provider fields); at 10,000 agents one round's offers were a fifth of the
//! core's peak memory. The core reads only ids, the host, the running executors, the amounts of
//! CPUs and memory and how those two resources are shaped (role, allocation, reservations), and
//! the shapes are nearly always the same on every agent: they are kept once and shared.

use std::sync::Arc;

use mesos::v1::{AgentID, ExecutorID, Offer, OfferID, Resource};

/// The two resources a task and its executor take.
const SHAPED: [&str; 2] = ["cpus", "mem"];

/// How an offer's `cpus` and `mem` resources are shaped: the first resource of each name as
/// offered, without its amount. A launch's resources copy it (see
/// [`super::executor_info::task_resources`]), so they match what the master offered.
pub type Shape = Arc<[Resource]>;

/// An offer as the core keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOffer {
    /// The offer.
    pub id: OfferID,
    /// Its agent.
    pub agent_id: AgentID,
    /// Its agent's hostname (the node).
    pub hostname: String,
    /// Executors of this framework running on the agent.
    pub executor_ids: Vec<ExecutorID>,
    /// CPUs offered (summed over every `cpus` resource).
    pub cpus: f64,
    /// Memory offered in MB (summed over every `mem` resource).
    pub mem: f64,
    /// How its `cpus` and `mem` are shaped.
    pub shape: Shape,
}

/// Scalar amounts offered under `name` (summed over every offered resource of that name).
pub fn offered(offer: &Offer, name: &str) -> f64 {
    offer.resources.iter().filter(|r| r.name == name).filter_map(Resource::scalar_value).sum()
}

/// The shapes seen, each kept once. Agents of one cluster offer one or a few shapes (per role and
/// reservation); past [`Shapes::MAX`] distinct ones a shape is no longer shared, only kept.
#[derive(Debug, Default)]
pub struct Shapes {
    seen: Vec<Shape>,
}

impl Shapes {
    /// Distinct shapes kept for sharing.
    pub const MAX: usize = 32;

    /// Keeps what the core reads of `offer`.
    pub fn hold(&mut self, offer: Offer) -> HeldOffer {
        let shape: Vec<Resource> = SHAPED
            .iter()
            .filter_map(|name| offer.resources.iter().find(|r| r.name == *name))
            .map(|r| Resource { scalar: None, ..r.clone() })
            .collect();
        let shape = match self.seen.iter().find(|s| s[..] == shape[..]) {
            Some(s) => Arc::clone(s),
            None => {
                let s: Shape = shape.into();
                if self.seen.len() < Self::MAX {
                    self.seen.push(Arc::clone(&s));
                }
                s
            }
        };
        HeldOffer {
            cpus: offered(&offer, "cpus"),
            mem: offered(&offer, "mem"),
            id: offer.id,
            agent_id: offer.agent_id,
            hostname: offer.hostname,
            executor_ids: offer.executor_ids,
            shape,
        }
    }
}

#[cfg(test)]
mod tests {
    use mesos::v1::AllocationInfo;

    use super::*;

    fn offer(id: &str, role: &str, cpus: f64) -> Offer {
        let allocated = |mut r: Resource| {
            r.allocation_info = Some(AllocationInfo { role: Some(role.to_owned()) });
            r
        };
        Offer {
            id: OfferID::new(id),
            framework_id: mesos::v1::FrameworkID::new("F"),
            agent_id: AgentID::new("A"),
            hostname: "h".into(),
            url: None,
            domain: None,
            resources: vec![
                allocated(Resource::scalar("cpus", cpus)),
                allocated(Resource::scalar("cpus", 1.0)),
                allocated(Resource::scalar("mem", 512.0)),
                allocated(Resource::scalar("disk", 100.0)),
            ],
            attributes: Vec::new(),
            executor_ids: Vec::new(),
            unavailability: None,
            allocation_info: None,
        }
    }

    #[test]
    fn amounts_are_summed_and_the_shape_is_the_first_of_each_name_without_amount() {
        let held = Shapes::default().hold(offer("O1", "storage", 3.0));
        assert_eq!((held.cpus, held.mem), (4.0, 512.0));
        let names: Vec<&str> = held.shape.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["cpus", "mem"]);
        assert!(held.shape.iter().all(|r| r.scalar.is_none()));
        assert!(
            held.shape
                .iter()
                .all(|r| r.allocation_info.as_ref().unwrap().role.as_deref() == Some("storage"))
        );
    }

    #[test]
    fn equal_shapes_are_shared_and_different_ones_are_not() {
        let mut shapes = Shapes::default();
        let a = shapes.hold(offer("O1", "storage", 3.0));
        let b = shapes.hold(offer("O2", "storage", 7.0));
        let c = shapes.hold(offer("O3", "other", 3.0));
        assert!(Arc::ptr_eq(&a.shape, &b.shape));
        assert!(!Arc::ptr_eq(&a.shape, &c.shape));
        assert_ne!(a.shape, c.shape);
    }

    #[test]
    fn past_the_limit_shapes_are_kept_but_not_shared() {
        let mut shapes = Shapes::default();
        for i in 0..Shapes::MAX {
            shapes.hold(offer(&format!("O{i}"), &format!("role-{i}"), 1.0));
        }
        let a = shapes.hold(offer("X1", "late", 1.0));
        let b = shapes.hold(offer("X2", "late", 1.0));
        assert_eq!(a.shape, b.shape);
        assert!(!Arc::ptr_eq(&a.shape, &b.shape));
        assert_eq!(shapes.seen.len(), Shapes::MAX);
    }
}
