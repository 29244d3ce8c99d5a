//! Harness for the HTTP tests: a real server on a loopback port, a view fed through the watch
//! channel, and a command consumer that answers like the loop (pause, resume, retry by id).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use scheduler::config::Secret;
use scheduler::http::{ApiContext, Artifacts, serve};
use scheduler::view::{
    ApiCommand, ApiRefusal, ApiRequest, CapacityView, GatewayView, HealthInputs, NodeStatus,
    NodeView, Persona, PhaseView, PlanStatus, PlanView, StepStatus, StepView, Strategy, UnixMillis,
    View,
};
use tokio::sync::{mpsc, oneshot, watch};

pub const TOKEN: &str = "tok-7f3a9c-very-secret";

pub struct Server {
    pub addr: SocketAddr,
    pub base: String,
    pub view: Arc<watch::Sender<Arc<View>>>,
    /// Every command the consumer received, in order.
    pub commands: Arc<std::sync::Mutex<Vec<ApiCommand>>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub struct Options {
    pub token: Option<&'static str>,
    pub artifacts: Artifacts,
    /// Whether a command consumer runs (false: the loop is gone).
    pub consumer: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { token: None, artifacts: Artifacts::default(), consumer: true }
    }
}

impl Server {
    pub async fn start(view: View, options: Options) -> Server {
        let (view_tx, view_rx) = watch::channel(Arc::new(view));
        let view_tx = Arc::new(view_tx);
        let (cmd_tx, cmd_rx) = mpsc::channel::<ApiRequest>(8);
        let commands = Arc::new(std::sync::Mutex::new(Vec::new()));
        if options.consumer {
            tokio::spawn(consume(cmd_rx, view_tx.clone(), commands.clone()));
        } else {
            drop(cmd_rx);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = ApiContext {
            view: view_rx,
            commands: cmd_tx,
            artifacts: options.artifacts,
            token: options.token.map(Secret::new),
            version: "9.8.7-test",
        };
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, ctx, async move {
            let _ = shutdown_rx.await;
        }));
        Server {
            addr,
            base: format!("http://{addr}"),
            view: view_tx,
            commands,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stop the server gracefully and return what `serve` returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.shutdown.take().expect("stopped once").send(());
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("serve returns within 10 s of shutdown")
            .expect("serve task")
    }

    /// Send raw bytes and return the raw response (for request targets clients would normalise).
    pub async fn raw(&self, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut out))
            .await
            .expect("response within 10 s")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Answers commands the way the loop does: pause/resume flip `plan.paused` and publish a new
/// view; retry puts an `error`/`failed` step back to pending, refuses others.
async fn consume(
    mut rx: mpsc::Receiver<ApiRequest>,
    view: Arc<watch::Sender<Arc<View>>>,
    seen: Arc<std::sync::Mutex<Vec<ApiCommand>>>,
) {
    while let Some(ApiRequest { command, reply }) = rx.recv().await {
        seen.lock().unwrap().push(command.clone());
        let mut next = (**view.borrow()).clone();
        let answer = match &command {
            ApiCommand::Pause => {
                next.plan.paused = true;
                Ok("plan paused".to_owned())
            }
            ApiCommand::Resume => {
                next.plan.paused = false;
                Ok("plan resumed".to_owned())
            }
            ApiCommand::Retry(id) => {
                let step = next
                    .plan
                    .phases
                    .iter_mut()
                    .flat_map(|p| p.steps.iter_mut())
                    .find(|s| &s.id == id);
                match step {
                    None => Err(ApiRefusal::UnknownStep(id.clone())),
                    Some(step) if matches!(step.status, StepStatus::Error | StepStatus::Failed) => {
                        step.status = StepStatus::Pending;
                        step.attempts = 0;
                        Ok(format!("step {id} will run again"))
                    }
                    Some(step) => Err(ApiRefusal::NotRetryable {
                        id: id.clone(),
                        status: step.status.as_str(),
                    }),
                }
            }
        };
        if answer.is_ok() {
            view.send_replace(Arc::new(next));
        }
        let _ = reply.send(answer);
    }
}

fn step(id: &str, node: &str, kind: &str, status: StepStatus, message: Option<&str>) -> StepView {
    let (started_at, finished_at) = match status {
        StepStatus::Pending => (None, None),
        StepStatus::Complete | StepStatus::Failed | StepStatus::Error => {
            (Some(UnixMillis(1_796_223_845_000)), Some(UnixMillis(1_796_223_857_500)))
        }
        _ => (Some(UnixMillis(1_796_223_845_000)), None),
    };
    StepView {
        id: id.to_owned(),
        node: Some(node.to_owned()),
        kind: kind.to_owned(),
        status,
        attempts: u32::from(status != StepStatus::Pending)
            + 2 * u32::from(status == StepStatus::Error),
        message: message.map(str::to_owned),
        started_at,
        finished_at,
    }
}

fn node(hostname: &str, ip: &str, persona: Option<Persona>, status: NodeStatus) -> NodeView {
    NodeView {
        hostname: hostname.to_owned(),
        ip: Some(ip.to_owned()),
        agent_id: Some(format!("5e5f-{hostname}-S0")),
        persona,
        status,
        platform: Some("ubuntu-14.04".to_owned()),
    }
}

/// A deployment half-way through: preflight done, one prerequisites step in error (with a message
/// carrying HTML), one running, one pending.
pub fn deploying_view() -> View {
    use StepStatus::*;
    let preflight = vec![
        step("preflight-agent-1", "agent-1", "preflight", Complete, None),
        step("preflight-agent-2", "agent-2", "preflight", Complete, None),
        step("preflight-agent-3", "agent-3", "preflight", Complete, None),
    ];
    let prerequisites = vec![
        step("prerequisites-agent-1", "agent-1", "install-prerequisites", Complete, None),
        step(
            "prerequisites-agent-2",
            "agent-2",
            "install-prerequisites",
            Error,
            Some("apt-get install libaio1 failed: E: Unable to locate package <libaio1> & friends"),
        ),
        step(
            "prerequisites-agent-3",
            "agent-3",
            "install-prerequisites",
            Running,
            Some("installing 3 packages"),
        ),
    ];
    let mdm = vec![step("mdm-cluster-create", "agent-1", "create-mdm-cluster", Pending, None)];
    let phase = |name: &str, strategy, steps: Vec<StepView>| PhaseView {
        name: name.to_owned(),
        strategy,
        status: PlanStatus::of_steps(steps.iter().map(|s| &s.status)),
        steps,
    };
    let phases = vec![
        phase("preflight", Strategy::Parallel, preflight),
        phase("prerequisites", Strategy::Parallel, prerequisites),
        phase("mdm-cluster", Strategy::Serial, mdm),
    ];
    View {
        plan: PlanView {
            status: PlanStatus::of_phases(phases.iter().map(|p| &p.status)),
            paused: false,
            phases,
        },
        nodes: vec![
            node("agent-1", "10.0.0.11", Some(Persona::Primary), NodeStatus::Deploying),
            node("agent-2", "10.0.0.12", Some(Persona::Secondary), NodeStatus::Failed),
            node("agent-3", "10.0.0.13", None, NodeStatus::Deploying),
        ],
        framework_id: Some("4f5e-framework-0001".to_owned()),
        health: HealthInputs {
            subscribed: true,
            master: Some("http://10.0.0.1:5050".to_owned()),
            store_error: None,
            problems: vec![],
        },
        offers_handled: 42,
        capacity: None,
        gateway: None,
    }
}

/// The same plan with every step complete and capacity known.
pub fn complete_view() -> View {
    let mut view = deploying_view();
    for phase in &mut view.plan.phases {
        for step in &mut phase.steps {
            step.status = StepStatus::Complete;
            step.message = None;
            step.started_at = Some(UnixMillis(1_796_223_845_000));
            step.finished_at = Some(UnixMillis(1_796_223_857_500));
        }
        phase.status = PlanStatus::Complete;
    }
    view.plan.status = PlanStatus::Complete;
    for node in &mut view.nodes {
        node.status = NodeStatus::Ready;
    }
    view.capacity = Some(CapacityView {
        limit_kb: 100 * 1024 * 1024,
        max_kb: 300 * 1024 * 1024,
        in_use_kb: 8 * 1024 * 1024,
        available_for_volumes_kb: 40 * 1024 * 1024,
        spare_kb: 10 * 1024 * 1024,
    });
    view.gateway = Some(GatewayView {
        endpoint: "https://10.0.0.11".to_owned(),
        up: true,
        checked_at: Some(UnixMillis(1_796_223_860_000)),
        capacity_at: Some(UnixMillis(1_796_223_860_000)),
        error: None,
    });
    view
}

/// Artifacts served from `dir` plus an executor binary elsewhere.
pub fn artifacts(dir: PathBuf, executor: PathBuf) -> Artifacts {
    Artifacts { dir: Some(dir), files: BTreeMap::from([("scaleio-executor".to_owned(), executor)]) }
}
