//! Helpers for the emulator tests: a raw scheduler client over real HTTP (reqwest + RecordIO)
//! that exposes status codes and every event, and bounded waits.

use std::time::Duration;

use futures_util::StreamExt as _;
use mesos::scheduler::{Call, CallKind, Event, Subscribe};
use mesos::{
    CommandInfo, ExecutorID, ExecutorInfo, FrameworkID, FrameworkInfo, Offer, Resource, TaskID,
    TaskInfo,
};
use testkit::emulator::{Emulator, EmulatorConfig};
use tokio::sync::mpsc;

/// The tiny executor the emulator tests launch (`tests/src/bin/test-executor.rs`).
pub const TEST_EXECUTOR: &str = env!("CARGO_BIN_EXE_test-executor");

/// Task `id` on its own test executor (`exec-<id>`, no shell) using `offer`'s agent; `data` tells
/// the test executor what to do.
pub fn executor_task(id: &str, offer: &Offer, data: &str) -> TaskInfo {
    let mut e = ExecutorInfo::new(ExecutorID::new(format!("exec-{id}")));
    e.command = Some(CommandInfo {
        value: Some(TEST_EXECUTOR.into()),
        shell: Some(false),
        arguments: vec!["test-executor".into()],
        ..CommandInfo::default()
    });
    let mut t = TaskInfo::new(
        id,
        TaskID::new(id),
        offer.agent_id.clone(),
        vec![Resource::scalar("cpus", 0.1)],
    );
    t.executor = Some(e);
    t.data = Some(data.into());
    t
}

/// Upper bound of every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// A config with fast timers for tests.
pub fn fast_config(agents: usize) -> EmulatorConfig {
    EmulatorConfig {
        heartbeat_interval: Duration::from_millis(300),
        allocation_interval: Duration::from_millis(50),
        update_retry_interval: Duration::from_millis(400),
        ..EmulatorConfig::default()
    }
    .with_agents(agents)
}

pub async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.expect("emulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A framework subscribed over real HTTP.
#[derive(Debug)]
pub struct Sched {
    pub client: reqwest::Client,
    pub endpoint: reqwest::Url,
    pub framework_id: String,
    pub stream_id: String,
    pub events: mpsc::UnboundedReceiver<Event>,
    reader: tokio::task::JoinHandle<()>,
    /// Offers seen while waiting for something else (still outstanding at the master).
    pub stash: Vec<mesos::Offer>,
}

impl Drop for Sched {
    /// Closes the subscription connection.
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub fn framework_info(name: &str) -> FrameworkInfo {
    let mut info = FrameworkInfo::new("root", name);
    info.failover_timeout = Some(3600.0);
    info
}

/// POSTs SUBSCRIBE and returns the response (stream not yet read).
pub async fn subscribe_raw(
    client: &reqwest::Client,
    master: &reqwest::Url,
    info: FrameworkInfo,
) -> reqwest::Response {
    let call = Call::new(
        info.id.clone(),
        CallKind::Subscribe(Subscribe {
            framework_info: info,
            suppressed_roles: Vec::new(),
            offer_constraints: None,
        }),
    );
    client
        .post(master.join("api/v1/scheduler").expect("url"))
        .header("Content-Type", "application/json")
        .body(call.to_json())
        .send()
        .await
        .expect("subscribe request")
}

/// Reads a RecordIO event stream into channels of decoded events and raw JSON.
pub fn pump(
    response: reqwest::Response,
) -> (mpsc::UnboundedReceiver<Event>, mpsc::UnboundedReceiver<serde_json::Value>) {
    let (events, raw, _reader) = pump_with_handle(response);
    (events, raw)
}

fn pump_with_handle(
    response: reqwest::Response,
) -> (
    mpsc::UnboundedReceiver<Event>,
    mpsc::UnboundedReceiver<serde_json::Value>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (rtx, rrx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut decoder = mesos::recordio::Decoder::default();
        let mut body = response.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            for record in decoder.decode(&chunk).expect("valid recordio") {
                let _ = rtx.send(serde_json::from_slice(&record).expect("event is JSON"));
                let _ = tx.send(Event::from_record(&record).expect("event decodes"));
            }
        }
    });
    (rx, rrx, reader)
}

impl Sched {
    /// Subscribes `info` (re-subscribes if it carries an id) and waits for SUBSCRIBED.
    pub async fn subscribe(master: &reqwest::Url, info: FrameworkInfo) -> Self {
        let client = client();
        let response = subscribe_raw(&client, master, info).await;
        assert_eq!(response.status(), 200, "SUBSCRIBE is answered with a stream");
        let stream_id = response
            .headers()
            .get("Mesos-Stream-Id")
            .expect("Mesos-Stream-Id header")
            .to_str()
            .expect("ascii")
            .to_owned();
        let (mut events, _raw, reader) = pump_with_handle(response);
        let first = tokio::time::timeout(WAIT, events.recv()).await.expect("SUBSCRIBED in time");
        let Some(Event::Subscribed(s)) = first else {
            panic!("expected SUBSCRIBED, got {first:?}")
        };
        Self {
            client,
            endpoint: master.join("api/v1/scheduler").expect("url"),
            framework_id: s.framework_id.value,
            stream_id,
            events,
            reader,
            stash: Vec::new(),
        }
    }

    pub fn id(&self) -> Option<FrameworkID> {
        Some(FrameworkID::new(self.framework_id.clone()))
    }

    /// Sends a call with this framework's id and stream id; returns status and body.
    pub async fn call(&self, kind: CallKind) -> (u16, String) {
        self.call_with(Call::new(self.id(), kind), Some(&self.stream_id)).await
    }

    pub async fn call_with(&self, call: Call, stream_id: Option<&str>) -> (u16, String) {
        let mut r = self
            .client
            .post(self.endpoint.clone())
            .header("Content-Type", "application/json")
            .body(call.to_json());
        if let Some(s) = stream_id {
            r = r.header("Mesos-Stream-Id", s);
        }
        let response = r.send().await.expect("call");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The next event matching `pred`, skipping others (HEARTBEATs, offers, ...).
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => {
                    if let Some(t) = pred(&e) {
                        return t;
                    }
                    match e {
                        Event::Offers(o) => self.stash.extend(o.offers),
                        Event::Rescind(r) => self.stash.retain(|o| o.id != r.offer_id),
                        _ => {}
                    }
                }
                Ok(None) => panic!("stream ended while waiting for {what}"),
                Err(_) => panic!("no {what} within {WAIT:?}"),
            }
        }
    }

    /// Outstanding offers seen earlier, else the next OFFERS event's offers.
    pub async fn offers(&mut self) -> Vec<mesos::Offer> {
        if !self.stash.is_empty() {
            return std::mem::take(&mut self.stash);
        }
        self.wait_for("OFFERS", |e| match e {
            Event::Offers(o) => Some(o.offers.clone()),
            _ => None,
        })
        .await
    }

    /// The next UPDATE for `task`.
    pub async fn update_for(&mut self, task: &str) -> mesos::TaskStatus {
        self.wait_for(&format!("UPDATE for {task}"), |e| match e {
            Event::Update(u) if u.status.task_id.value == task => Some(u.status.clone()),
            _ => None,
        })
        .await
    }

    /// Waits for the UPDATE for `task` with `state`, acknowledging every update it sees for
    /// that task on the way.
    pub async fn await_state(&mut self, task: &str, state: mesos::TaskState) -> mesos::TaskStatus {
        loop {
            let s = self.update_for(task).await;
            if let Some(ack) = CallKind::acknowledge(&s) {
                assert_eq!(self.call(ack).await.0, 202);
            }
            if s.state == state {
                return s;
            }
        }
    }

    /// Declines every offer in `offers` with refuse 0 (so they come back next cycle).
    pub async fn decline_all(&self, offers: &[mesos::Offer]) {
        let ids = offers.iter().map(|o| o.id.clone()).collect();
        let (status, _) =
            self.call(CallKind::decline(ids, Some(mesos::Filters::refuse(0.0)))).await;
        assert_eq!(status, 202);
    }
}

/// Polls `cond` on the emulator's state until it holds.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads an executor event stream.
pub fn pump_executor(
    response: reqwest::Response,
) -> (mpsc::UnboundedReceiver<mesos::executor::Event>, mpsc::UnboundedReceiver<serde_json::Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (rtx, rrx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut decoder = mesos::recordio::Decoder::default();
        let mut body = response.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            for record in decoder.decode(&chunk).expect("valid recordio") {
                let _ = rtx.send(serde_json::from_slice(&record).expect("event is JSON"));
                let _ =
                    tx.send(mesos::executor::Event::from_record(&record).expect("event decodes"));
            }
        }
    });
    (rx, rrx)
}
