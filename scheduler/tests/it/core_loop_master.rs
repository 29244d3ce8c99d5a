//! A loopback Mesos master with agents and executors that answer every step at once, for the
//! loop tests. As strict as the real master where the loop could go wrong: Content-Type, the
//! `Mesos-Stream-Id`, framework ids, offers used once, tasks with resources, an identical
//! `ExecutorInfo` for a running executor, and acknowledgements of exactly the uuids it sent
//! (one update per task in flight until acknowledged, re-sent on a new subscription).

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mesos::recordio;
use mesos::scheduler::{CallKind, Event, Offers, Subscribed, Update};
use mesos::v1::{ExecutorInfo, FrameworkID, TaskState, TaskStatus};
use scaleio::step::{Outcome, ResultEnvelope, StepEnvelope};
use tokio::sync::mpsc;

use crate::core_support::{Agent, offer, result_for, status};

/// What the master saw and did.
#[derive(Debug, Default)]
pub struct Master {
    pub agents: Vec<Agent>,
    pub framework_id: Option<String>,
    pub subscribes: Vec<Option<String>>,
    pub stream_id: Option<String>,
    stream: Option<mpsc::UnboundedSender<Bytes>>,
    streams: u32,
    next_offer: u32,
    next_uuid: u8,
    offers: BTreeMap<String, String>,
    pub executors: BTreeMap<String, ExecutorInfo>,
    /// Launched (step id, task id, host) in order.
    pub launches: Vec<(String, String, String)>,
    /// Per task: the update in flight (sent, not acked) and those queued behind it.
    updates: BTreeMap<String, VecDeque<TaskStatus>>,
    task_states: BTreeMap<String, TaskState>,
    reboot_after_ack: BTreeMap<String, String>,
    /// Acknowledged uuids in order.
    pub acks: Vec<Vec<u8>>,
    /// Every accept's raw JSON body (to look for secrets).
    pub accept_bodies: Vec<String>,
    /// Anything the real master would have refused or a scheduler must not do.
    pub violations: Vec<String>,
    /// Framework ids torn down (TEARDOWN), in order.
    pub teardowns: Vec<String>,
}

impl Master {
    fn send(&mut self, event: Event) {
        if let Some(tx) = &self.stream {
            let _ = tx.send(Bytes::from(recordio::encode(&event.to_json())));
        }
    }

    /// Another instance subscribed with the same framework id: ERROR, then the stream ends.
    pub fn fail_over(&mut self) {
        self.send(Event::Error(mesos::scheduler::Error {
            message: "Framework failed over".into(),
        }));
        self.stream = None;
    }

    fn offer_agents(&mut self, hosts: &[String]) {
        let mut offers = Vec::new();
        for host in hosts {
            if self.offers.values().any(|h| h == host) {
                continue;
            }
            let Some(agent) = self.agents.iter().find(|a| &a.host == host) else { continue };
            self.next_offer += 1;
            let id = format!("O{}", self.next_offer);
            let mut o = offer(&id, agent);
            o.framework_id = FrameworkID::new(self.framework_id.clone().unwrap_or_default());
            self.offers.insert(id, host.clone());
            offers.push(o);
        }
        if !offers.is_empty() {
            self.send(Event::Offers(Offers { offers }));
        }
    }

    fn all_hosts(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.host.clone()).collect()
    }

    fn send_head(&mut self, task: &str) {
        if let Some(head) = self.updates.get(task).and_then(|q| q.front()).cloned() {
            self.send(Event::Update(Update { status: head }));
        }
    }

    fn uuid(&mut self) -> u8 {
        self.next_uuid = self.next_uuid.wrapping_add(1).max(1);
        self.next_uuid
    }

    fn accept(&mut self, accept: mesos::scheduler::Accept) {
        for id in &accept.offer_ids {
            if self.offers.remove(&id.value).is_none() {
                self.violations.push(format!("ACCEPT of an offer not outstanding: {}", id.value));
                return;
            }
        }
        for op in accept.operations {
            for task in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                if task.resources.is_empty() {
                    self.violations.push(format!("Task uses no resources: {}", task.task_id));
                }
                let Some(executor) = task.executor.clone() else {
                    self.violations.push(format!("task {} has no executor", task.task_id));
                    continue;
                };
                let Some(agent_i) =
                    self.agents.iter().position(|a| a.agent_id == task.agent_id.value)
                else {
                    self.violations.push(format!("unknown agent {}", task.agent_id));
                    continue;
                };
                let host = self.agents[agent_i].host.clone();
                if let Some(running) = self.executors.get(&host) {
                    if running != &executor {
                        self.violations.push(format!(
                            "ExecutorInfo differs from the running executor on {host}"
                        ));
                    }
                } else {
                    self.executors.insert(host.clone(), executor.clone());
                    self.agents[agent_i].executor_running = true;
                }
                let envelope = match StepEnvelope::from_json(
                    task.data.as_ref().map(|d| d.as_slice()).unwrap_or(b""),
                ) {
                    Ok(e) => e,
                    Err(e) => {
                        self.violations.push(format!("bad step data: {e}"));
                        continue;
                    }
                };
                let task_id = task.task_id.value.clone();
                self.launches.push((task.name.clone(), task_id.clone(), host.clone()));
                let result = result_for(&envelope.step, &mut self.agents[agent_i]);
                if matches!(result.outcome, Outcome::Reboot { rebooting: true, .. }) {
                    self.reboot_after_ack.insert(task_id.clone(), host.clone());
                }
                let agent_id = task.agent_id.value.clone();
                let (u1, u2) = (self.uuid(), self.uuid());
                let running = status(&task_id, &agent_id, TaskState::Running, None, Some(u1));
                let data = ResultEnvelope::new(result).to_json();
                let finished =
                    status(&task_id, &agent_id, TaskState::Finished, Some(data), Some(u2));
                self.task_states.insert(task_id.clone(), TaskState::Running);
                self.updates.insert(task_id.clone(), VecDeque::from([running, finished]));
                self.send_head(&task_id);
            }
        }
    }

    fn acknowledge(&mut self, ack: mesos::scheduler::Acknowledge) {
        let task = ack.task_id.value.clone();
        let head = self.updates.get(&task).and_then(|q| q.front()).cloned();
        match head {
            Some(h) if h.uuid.as_ref() == Some(&ack.uuid) => {
                self.acks.push(ack.uuid.0.clone());
                self.task_states.insert(task.clone(), h.state.clone());
                if let Some(q) = self.updates.get_mut(&task) {
                    q.pop_front();
                }
                if h.state.is_terminal() {
                    if let Some(host) = self.reboot_after_ack.remove(&task) {
                        if let Some(a) = self.agents.iter_mut().find(|a| a.host == host) {
                            a.boot += 1;
                            a.executor_running = false;
                            a.held = (0.0, 0.0);
                        }
                        self.executors.remove(&host);
                        self.offers.retain(|_, h| h != &host);
                    }
                }
                self.send_head(&task);
            }
            _ => self.violations.push(format!("ACKNOWLEDGE of a uuid not in flight for {task}")),
        }
    }

    fn reconcile(&mut self, r: mesos::scheduler::Reconcile) {
        let tasks: Vec<String> = if r.tasks.is_empty() {
            self.task_states
                .iter()
                .filter(|(_, s)| !s.is_terminal())
                .map(|(t, _)| t.clone())
                .collect()
        } else {
            r.tasks.iter().map(|t| t.task_id.value.clone()).collect()
        };
        for t in tasks {
            let state = self.task_states.get(&t).cloned().unwrap_or(TaskState::Lost);
            let mut s = TaskStatus::new(mesos::v1::TaskID::new(t), state);
            s.source = Some(mesos::v1::TaskSource::Master);
            self.send(Event::Update(Update { status: s }));
        }
    }
}

/// The running fake.
#[derive(Clone, Debug)]
pub struct LoopMaster {
    pub addr: SocketAddr,
    pub inner: Arc<Mutex<Master>>,
}

impl LoopMaster {
    pub async fn start(agents: Vec<Agent>) -> LoopMaster {
        let inner = Arc::new(Mutex::new(Master { agents, ..Master::default() }));
        let app = axum::Router::new()
            .route("/api/v1/scheduler", axum::routing::post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        LoopMaster { addr, inner }
    }

    pub fn url(&self) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}/api/v1/scheduler", self.addr)).expect("url")
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Master) -> T) -> T {
        f(&mut self.inner.lock().expect("lock"))
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, body.to_owned()).into_response()
}

async fn handle(
    State(inner): State<Arc<Mutex<Master>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("content-type").map(|v| v.as_bytes()) != Some(b"application/json") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expecting 'Content-Type' of application/json or application/x-protobuf",
        );
    }
    let call: mesos::scheduler::Call = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Failed to convert JSON into Call protobuf: {e}"),
            );
        }
    };
    let mut m = inner.lock().expect("lock");
    let stream_header =
        headers.get("mesos-stream-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let CallKind::Subscribe(s) = &call.kind {
        if stream_header.is_some() {
            return text(
                StatusCode::BAD_REQUEST,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        if s.framework_info.id != call.framework_id {
            return text(
                StatusCode::BAD_REQUEST,
                "'framework_id' differs from 'subscribe.framework_info.id'",
            );
        }
        m.subscribes.push(call.framework_id.as_ref().map(|f| f.value.clone()));
        let fid = match (&call.framework_id, &m.framework_id) {
            (Some(f), Some(known)) if &f.value != known => {
                return text(StatusCode::BAD_REQUEST, "Framework cannot be found");
            }
            (_, Some(known)) => known.clone(),
            (Some(f), None) => f.value.clone(),
            (None, None) => "F-loop-0000".to_owned(),
        };
        m.framework_id = Some(fid.clone());
        m.streams += 1;
        let stream_id = format!("stream-{}", m.streams);
        m.stream_id = Some(stream_id.clone());
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        m.stream = Some(tx);
        m.offers.clear();
        m.send(Event::Subscribed(Subscribed {
            framework_id: FrameworkID::new(fid),
            heartbeat_interval_seconds: Some(15.0),
            master_info: None,
        }));
        m.send(Event::Heartbeat);
        let hosts = m.all_hosts();
        m.offer_agents(&hosts);
        let in_flight: Vec<String> =
            m.updates.iter().filter(|(_, q)| !q.is_empty()).map(|(t, _)| t.clone()).collect();
        for t in in_flight {
            m.send_head(&t);
        }
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
        });
        return Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", stream_id)
            .body(Body::from_stream(body))
            .expect("response");
    }
    if call.framework_id.as_ref().map(|f| &f.value) != m.framework_id.as_ref() {
        return text(StatusCode::BAD_REQUEST, "Framework cannot be found");
    }
    if stream_header.is_none() || stream_header != m.stream_id {
        return text(
            StatusCode::BAD_REQUEST,
            "The stream ID included in this request didn't match",
        );
    }
    match call.kind {
        CallKind::Accept(a) => {
            m.accept_bodies.push(String::from_utf8_lossy(&body).into_owned());
            m.accept(a);
        }
        CallKind::Decline(d) => {
            let short = d.filters.and_then(|f| f.refuse_seconds).is_some_and(|s| s < 10.0);
            let mut hosts = Vec::new();
            for id in d.offer_ids {
                if let Some(h) = m.offers.remove(&id.value) {
                    hosts.push(h);
                }
            }
            if short {
                let inner = inner.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    inner.lock().expect("lock").offer_agents(&hosts);
                });
            }
        }
        CallKind::Acknowledge(a) => m.acknowledge(a),
        CallKind::Reconcile(r) => m.reconcile(r),
        CallKind::Revive(_) => {
            let hosts = m.all_hosts();
            m.offer_agents(&hosts);
        }
        CallKind::Kill(k) => m.violations.push(format!("unexpected KILL of {}", k.task_id)),
        CallKind::Teardown => {
            // The framework is gone: its stream ends and its id is unknown from now on.
            let id = m.framework_id.take().unwrap_or_default();
            m.teardowns.push(id);
            m.stream = None;
            m.stream_id = None;
            m.offers.clear();
        }
        other => m.violations.push(format!("unexpected call {}", other.type_name())),
    }
    StatusCode::ACCEPTED.into_response()
}
