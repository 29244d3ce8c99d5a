//! The one builder of the per-agent `ExecutorInfo` and of step `TaskInfo`s. A task naming a
//! running executor must carry an identical `ExecutorInfo`, so everything here is a pure function
//! of the node, its bundle and the settings.

use mesos::v1::{
    AgentID, Bytes, CommandInfo, ExecutorID, ExecutorInfo, ExecutorType, FrameworkID, Offer,
    Resource, TaskID, TaskInfo, Uri,
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

/// Scalar amounts offered under `name` (summed over every offered resource of that name).
pub fn offered(offer: &Offer, name: &str) -> f64 {
    offer.resources.iter().filter(|r| r.name == name).filter_map(Resource::scalar_value).sum()
}

/// A scalar resource of `amount`, shaped like the offered one (role, allocation, reservations),
/// so it matches what the master offered; a plain unreserved one if the offer has none.
fn like_offered(offer: Option<&Offer>, name: &str, amount: f64) -> Resource {
    let template = offer.and_then(|o| o.resources.iter().find(|r| r.name == name));
    match template {
        Some(r) => Resource { scalar: Some(mesos::v1::Scalar { value: amount }), ..r.clone() },
        None => Resource::scalar(name, amount),
    }
}

/// The executor's earmark for a node.
pub fn earmark(settings: &Settings, is_mdm: bool) -> Resources {
    if is_mdm { settings.executor_mdm } else { settings.executor_data }
}

/// The `ExecutorInfo` of the node `hostname`: the executor binary (executable, never cached: its
/// name carries no digest) and the platform bundle (extracted; cached only when digest-named),
/// run without a shell from the sandbox, with the persona's earmark.
pub fn executor_info(
    settings: &Settings,
    hostname: &str,
    is_mdm: bool,
    bundle: &BundleRef,
    framework_id: Option<&FrameworkID>,
    offer: Option<&Offer>,
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
        resources: vec![like_offered(offer, "cpus", r.cpus), like_offered(offer, "mem", r.mem_mb)],
        name: Some(format!("ScaleIO executor on {hostname}")),
        ..ExecutorInfo::new(executor_id(hostname))
    }
}

/// The task of one step attempt: small resources of its own and the step as JSON in `data`.
pub fn task_info(
    settings: &Settings,
    step_id: &str,
    attempt: u32,
    agent_id: AgentID,
    executor: ExecutorInfo,
    envelope: &StepEnvelope,
    offer: Option<&Offer>,
) -> TaskInfo {
    let t = settings.task;
    let resources = vec![like_offered(offer, "cpus", t.cpus), like_offered(offer, "mem", t.mem_mb)];
    TaskInfo {
        executor: Some(executor),
        data: Some(Bytes(envelope.to_json())),
        ..TaskInfo::new(step_id, task_id(step_id, attempt), agent_id, resources)
    }
}
