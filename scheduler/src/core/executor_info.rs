//! The one builder of the per-agent `ExecutorInfo` and of step `TaskInfo`s. A task naming a
//! running executor must carry an identical `ExecutorInfo`, so everything here is a pure function
//! of the node, its bundle and the settings.

use mesos::v1::{
    AgentID, Bytes, CommandInfo, ExecutorID, ExecutorInfo, ExecutorType, FrameworkID, Resource,
    TaskID, TaskInfo, Uri,
};
use scaleio::step::StepEnvelope;

use super::settings::{BundleRef, Resources, Settings};

/// The executor binary's file name in the sandbox.
pub const EXECUTOR_FILE: &str = "scaleio-executor";

/// The executor id of a node: one long-lived executor per hostname.
pub fn executor_id(hostname: &str) -> ExecutorID {
    ExecutorID::new(format!("scaleio-executor.{hostname}"))
}

/// The task id of a step's attempt: `scaleio.<step id>.<attempt>` (no `/`, which Mesos refuses).
pub fn task_id(step_id: &str, attempt: u32) -> TaskID {
    TaskID::new(format!("scaleio.{step_id}.{attempt}"))
}

/// Whether a task id is one this framework makes.
pub fn is_ours(task_id: &str) -> bool {
    task_id.starts_with("scaleio.")
}

/// A scalar resource of `amount`, shaped like the first one named `name` in `shape` (role,
/// allocation, reservations), so it matches what the master offered; a plain unreserved one if
/// `shape` has none.
fn reshaped(shape: &[Resource], name: &str, amount: f64) -> Resource {
    match shape.iter().find(|r| r.name == name) {
        Some(r) => Resource { scalar: Some(mesos::v1::Scalar { value: amount }), ..r.clone() },
        None => Resource::scalar(name, amount),
    }
}

/// A step task's own resources (the settings' task amounts, shaped like an offer's CPUs and
/// memory: see [`super::offer::Shape`]). They also shape the executor's: see [`executor_info`].
pub fn task_resources(settings: &Settings, shape: &[Resource]) -> Vec<Resource> {
    let t = settings.task;
    vec![reshaped(shape, "cpus", t.cpus), reshaped(shape, "mem", t.mem_mb)]
}

/// The executor's earmark for a node.
pub fn earmark(settings: &Settings, is_mdm: bool) -> Resources {
    if is_mdm { settings.executor_mdm } else { settings.executor_data }
}

/// The `ExecutorInfo` of the node `hostname`: the executor binary (executable, never cached: its
/// name carries no digest) and the platform bundle (extracted; cached only when digest-named),
/// run without a shell from the sandbox, with the persona's earmark, its resources shaped like
/// `shape` (the task's, themselves shaped like the offer's).
pub fn executor_info(
    settings: &Settings,
    hostname: &str,
    is_mdm: bool,
    bundle: &BundleRef,
    framework_id: Option<&FrameworkID>,
    shape: &[Resource],
) -> ExecutorInfo {
    let binary = Uri {
        executable: Some(true),
        extract: Some(false),
        cache: Some(false),
        ..Uri::new(settings.executor_uri.clone())
    };
    let bundle_uri =
        Uri { extract: Some(true), cache: Some(bundle.immutable), ..Uri::new(bundle.uri.clone()) };
    let program = format!("./{EXECUTOR_FILE}");
    let command = CommandInfo {
        uris: vec![binary, bundle_uri],
        shell: Some(false),
        value: Some(program.clone()),
        arguments: vec![program],
        ..CommandInfo::default()
    };
    let r = earmark(settings, is_mdm);
    ExecutorInfo {
        kind: Some(ExecutorType::Custom),
        framework_id: framework_id.cloned(),
        command: Some(command),
        resources: vec![reshaped(shape, "cpus", r.cpus), reshaped(shape, "mem", r.mem_mb)],
        name: Some(format!("ScaleIO executor on {hostname}")),
        ..ExecutorInfo::new(executor_id(hostname))
    }
}

/// The task of one step attempt: `resources` of its own (see [`task_resources`]) and the step
/// as JSON in `data`.
pub fn task_info(
    step_id: &str,
    task_id: TaskID,
    agent_id: AgentID,
    resources: Vec<Resource>,
    executor: ExecutorInfo,
    envelope: &StepEnvelope,
) -> TaskInfo {
    TaskInfo {
        executor: Some(executor),
        data: Some(Bytes(envelope.to_json())),
        ..TaskInfo::new(step_id, task_id, agent_id, resources)
    }
}
