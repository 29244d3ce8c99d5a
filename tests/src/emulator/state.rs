//! The `GET /master/state` (and `/state`) subset and [`super::Emulator::state`]'s snapshot:
//! frameworks with their tasks, agents with resources and attributes, in Mesos' key names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::core::{AgentState as Lifecycle, Core};

/// A snapshot of the master.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Master id.
    pub id: String,
    pub version: String,
    /// `master@ip:port` of the leader, if one is elected.
    pub leader: Option<String>,
    pub frameworks: Vec<FrameworkState>,
    pub slaves: Vec<AgentState>,
}

/// A framework the master knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkState {
    pub id: String,
    pub name: String,
    pub user: String,
    pub roles: Vec<String>,
    /// Subscribed now.
    pub active: bool,
    pub connected: bool,
    pub failover_timeout: f64,
    pub checkpoint: bool,
    pub offers: usize,
    pub tasks: Vec<TaskState>,
}

/// A task the master knows (until its terminal update is acknowledged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub id: String,
    pub name: String,
    pub framework_id: String,
    pub executor_id: String,
    pub slave_id: String,
    /// Latest state, e.g. `TASK_RUNNING`.
    pub state: String,
    /// Updates waiting for acknowledgement (the head is in flight).
    pub pending_updates: usize,
}

/// An executor container on an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorState {
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
    /// `MESOS_SANDBOX` of the container.
    pub sandbox: String,
    /// Process id once started.
    pub pid: Option<u32>,
    /// Its executor subscription is open.
    pub subscribed: bool,
    pub tasks: Vec<String>,
}

/// An agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub id: String,
    pub hostname: String,
    pub pid: String,
    /// False while a restarted agent recovers.
    pub active: bool,
    pub resources: BTreeMap<String, serde_json::Value>,
    pub used_resources: BTreeMap<String, serde_json::Value>,
    pub attributes: BTreeMap<String, String>,
    /// Executors running (or starting) on it.
    pub executors: Vec<ExecutorState>,
    /// The simulated host's root, if it has one.
    pub host_root: Option<String>,
    pub boot_id: String,
    pub reboots: u32,
    pub restarts: u32,
}

fn resources(r: &super::resources::Res) -> BTreeMap<String, serde_json::Value> {
    let ports: Vec<String> = r.ports.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    BTreeMap::from([
        ("cpus".to_owned(), r.cpus.into()),
        ("mem".to_owned(), r.mem.into()),
        ("disk".to_owned(), r.disk.into()),
        ("ports".to_owned(), format!("[{}]", ports.join(", ")).into()),
    ])
}

impl State {
    pub(crate) fn of(core: &Core) -> Self {
        let mut frameworks: Vec<FrameworkState> = core
            .frameworks
            .values()
            .map(|f| FrameworkState {
                id: f.id.clone(),
                name: f.info.name.clone(),
                user: f.info.user.clone(),
                roles: if f.info.roles.is_empty() {
                    vec![f.info.role.clone().unwrap_or_else(|| "*".into())]
                } else {
                    f.info.roles.clone()
                },
                active: f.sub.is_some(),
                connected: f.sub.is_some(),
                failover_timeout: f.info.failover_timeout.unwrap_or(0.0),
                checkpoint: f.info.checkpoint.unwrap_or(false),
                offers: core.offers.values().filter(|o| o.framework == f.id).count(),
                tasks: Vec::new(),
            })
            .collect();
        let mut tasks: Vec<TaskState> = core
            .tasks
            .values()
            .map(|t| TaskState {
                id: t.info.task_id.value.clone(),
                name: t.info.name.clone(),
                framework_id: t.framework.clone(),
                executor_id: t.executor.clone(),
                slave_id: t.agent.clone(),
                state: t.latest.to_string(),
                pending_updates: t.stream.len(),
            })
            .collect();
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        for t in tasks {
            if let Some(f) = frameworks.iter_mut().find(|f| f.id == t.framework_id) {
                f.tasks.push(t);
            }
        }
        frameworks.sort_by(|a, b| a.id.cmp(&b.id));
        let slaves = core
            .agents
            .values()
            .map(|a| {
                let mut executors: Vec<ExecutorState> = a
                    .executors
                    .iter()
                    .map(|((f, e), x)| ExecutorState {
                        framework_id: f.clone(),
                        executor_id: e.clone(),
                        container_id: x.container_id.clone(),
                        sandbox: x.sandbox.display().to_string(),
                        pid: x.pid,
                        subscribed: x.sub.is_some(),
                        tasks: x.tasks.iter().cloned().collect(),
                    })
                    .collect();
                executors.sort_by(|a, b| {
                    (&a.framework_id, &a.executor_id).cmp(&(&b.framework_id, &b.executor_id))
                });
                AgentState {
                    id: a.id.clone(),
                    hostname: a.spec.hostname.clone(),
                    pid: format!("slave(1)@{}", a.endpoint()),
                    active: a.state == Lifecycle::Registered,
                    resources: resources(&a.total),
                    used_resources: resources(&a.used),
                    attributes: a.spec.attributes.iter().cloned().collect(),
                    executors,
                    host_root: a.host_root.as_ref().map(|p| p.display().to_string()),
                    boot_id: a.boot_id.clone(),
                    reboots: a.reboots,
                    restarts: a.restarts,
                }
            })
            .collect();
        let leader = core.leader.and_then(|i| core.masters.get(i)).map(|a| format!("master@{a}"));
        Self { id: core.master_id.clone(), version: "1.12.0".into(), leader, frameworks, slaves }
    }

    /// The framework with `id`.
    pub fn framework(&self, id: &str) -> Option<&FrameworkState> {
        self.frameworks.iter().find(|f| f.id == id)
    }

    /// Every task of every framework.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskState> {
        self.frameworks.iter().flat_map(|f| &f.tasks)
    }

    /// The agent with `hostname`.
    pub fn agent(&self, hostname: &str) -> Option<&AgentState> {
        self.slaves.iter().find(|a| a.hostname == hostname)
    }
}
