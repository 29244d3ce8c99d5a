//! The executor's connection to its agent: the environment the agent provides ([`Config`]),
//! the SUBSCRIBE stream with re-subscription, and reliable UPDATE bookkeeping.
//!
//! [`connect`] spawns a task that subscribes and forwards every event as a [`Notice`]. It keeps
//! every update the agent has not ACKNOWLEDGED and every launched task without an acknowledged
//! update, and replays both in SUBSCRIBE after a reconnection. On disconnection a
//! non-checkpointing executor stops at once ([`StopReason::NotCheckpointing`]); a checkpointing
//! one retries, waiting a random time in `[0, MESOS_SUBSCRIPTION_BACKOFF_MAX]`, until
//! `MESOS_RECOVERY_TIMEOUT` has passed since the disconnection ([`StopReason::RecoveryTimeout`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use rand::Rng as _;
use reqwest::StatusCode;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::executor::{Call, CallKind, Event, Message, Subscribe, Update};
use crate::http::{self, JSON, Secret, TlsConfig, error_chain};
use crate::recordio;
use crate::v1::{
    Bytes, ExecutorID, FrameworkID, TaskID, TaskInfo, TaskSource, TaskStatus, new_status_uuid,
};

/// Names of the environment variables the agent sets for an executor.
pub mod env {
    pub const AGENT_ENDPOINT: &str = "MESOS_AGENT_ENDPOINT";
    pub const FRAMEWORK_ID: &str = "MESOS_FRAMEWORK_ID";
    pub const EXECUTOR_ID: &str = "MESOS_EXECUTOR_ID";
    pub const CHECKPOINT: &str = "MESOS_CHECKPOINT";
    pub const RECOVERY_TIMEOUT: &str = "MESOS_RECOVERY_TIMEOUT";
    pub const SUBSCRIPTION_BACKOFF_MAX: &str = "MESOS_SUBSCRIPTION_BACKOFF_MAX";
    pub const SHUTDOWN_GRACE_PERIOD: &str = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD";
    pub const DIRECTORY: &str = "MESOS_DIRECTORY";
    pub const SANDBOX: &str = "MESOS_SANDBOX";
    pub const SSL_ENABLED: &str = "LIBPROCESS_SSL_ENABLED";
    pub const SSL_CA_FILE: &str = "LIBPROCESS_SSL_CA_FILE";
    pub const AUTHENTICATION_TOKEN: &str = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN";
}

/// The executor's view of its agent, read from the environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `http(s)://<MESOS_AGENT_ENDPOINT>/api/v1/executor`.
    pub agent: reqwest::Url,
    pub framework_id: FrameworkID,
    pub executor_id: ExecutorID,
    pub checkpoint: bool,
    /// How long to keep reconnecting after a disconnection (checkpointing only; Mesos' default
    /// is 15 minutes).
    pub recovery_timeout: Duration,
    /// Upper bound of the random wait between reconnection attempts.
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
    pub directory: Option<PathBuf>,
    pub sandbox: Option<PathBuf>,
    pub tls: TlsConfig,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub authentication_token: Option<Secret>,
    /// How long the first subscription may take before giving up (the agent destroys an
    /// executor that does not subscribe within `--executor_registration_timeout`, 1 min).
    pub registration_timeout: Duration,
    pub max_record_size: usize,
}

/// The environment is incomplete or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("{name} is not set: this program must be started by a Mesos agent as an executor")]
    Missing { name: &'static str },
    #[error("{name}={value:?} is invalid: expected {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let required = |name: &'static str| {
            lookup(name).filter(|v| !v.is_empty()).ok_or(EnvError::Missing { name })
        };
        let duration = |name: &'static str, value: String| {
            parse_duration(&value).map_err(|_| EnvError::Invalid {
                name,
                value,
                expected: "a duration such as 250ms, 2secs or 15mins",
            })
        };
        let endpoint = required(env::AGENT_ENDPOINT)?;
        let tls = match lookup(env::SSL_ENABLED).as_deref() {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(EnvError::Invalid {
                    name: env::SSL_ENABLED,
                    value: other.to_owned(),
                    expected: "1, 0, true or false",
                });
            }
        };
        let scheme = if tls { "https" } else { "http" };
        let agent = reqwest::Url::parse(&format!("{scheme}://{endpoint}/api/v1/executor"))
            .ok()
            .filter(|u| u.host().is_some() && u.port().is_some() && !endpoint.contains('/'))
            .ok_or_else(|| EnvError::Invalid {
                name: env::AGENT_ENDPOINT,
                value: endpoint.clone(),
                expected: "<ip>:<port> without scheme or path",
            })?;
        let checkpoint = match required(env::CHECKPOINT)?.as_str() {
            "1" => true,
            "0" => false,
            other => {
                return Err(EnvError::Invalid {
                    name: env::CHECKPOINT,
                    value: other.to_owned(),
                    expected: "1 or 0",
                });
            }
        };
        let (recovery_timeout, subscription_backoff_max) = if checkpoint {
            (
                duration(env::RECOVERY_TIMEOUT, required(env::RECOVERY_TIMEOUT)?)?,
                duration(env::SUBSCRIPTION_BACKOFF_MAX, required(env::SUBSCRIPTION_BACKOFF_MAX)?)?,
            )
        } else {
            (Duration::ZERO, Duration::from_secs(2))
        };
        Ok(Self {
            agent,
            framework_id: FrameworkID::new(required(env::FRAMEWORK_ID)?),
            executor_id: ExecutorID::new(required(env::EXECUTOR_ID)?),
            checkpoint,
            recovery_timeout,
            subscription_backoff_max,
            shutdown_grace_period: duration(
                env::SHUTDOWN_GRACE_PERIOD,
                required(env::SHUTDOWN_GRACE_PERIOD)?,
            )?,
            directory: lookup(env::DIRECTORY).filter(|v| !v.is_empty()).map(PathBuf::from),
            sandbox: lookup(env::SANDBOX).filter(|v| !v.is_empty()).map(PathBuf::from),
            tls: TlsConfig {
                ca_file: lookup(env::SSL_CA_FILE).filter(|v| !v.is_empty()).map(PathBuf::from),
            },
            authentication_token: lookup(env::AUTHENTICATION_TOKEN)
                .filter(|v| !v.is_empty())
                .map(Secret::new),
            registration_timeout: Duration::from_secs(60),
            max_record_size: recordio::DEFAULT_MAX_RECORD_SIZE,
        })
    }
}

/// A stout duration string could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid duration {0:?}: expected <number><unit> with unit ns, us, ms, secs, mins, hrs, days or weeks"
)]
pub struct DurationError(pub String);

/// Parses a stout duration such as `250ms`, `1.5secs`, `15mins`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_owned());
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| err())?;
    let nanos_per_unit: f64 = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "secs" => 1e9,
        "mins" => 60e9,
        "hrs" => 3600e9,
        "days" => 86400e9,
        "weeks" => 604800e9,
        _ => return Err(err()),
    };
    let nanos = value * nanos_per_unit;
    if !nanos.is_finite() || nanos < 0.0 || nanos > u64::MAX as f64 {
        return Err(err());
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// What the connection reports to the executor, in order.
#[derive(Clone, Debug, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "notices are moved once through a channel")]
pub enum Notice {
    /// An event from the agent (SUBSCRIBED first on every subscription).
    Event(Event),
    /// The subscription was lost; reconnecting after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// The connection ended; the executor should clean up and exit.
    Stopped(StopReason),
}

/// Why the connection ended.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StopReason {
    #[error("lost the agent and the framework does not checkpoint ({cause}); exiting")]
    NotCheckpointing { cause: String },
    #[error(
        "could not reconnect to the agent within the recovery timeout of {timeout:?} ({cause})"
    )]
    RecoveryTimeout { timeout: Duration, cause: String },
    #[error("could not subscribe to the agent within {timeout:?} ({cause})")]
    RegistrationTimeout { timeout: Duration, cause: String },
    #[error("the agent refused SUBSCRIBE with {status}: {body}")]
    Refused { status: StatusCode, body: String },
    #[error("the agent sent ERROR: {message}")]
    AgentError { message: String },
    #[error("closed by the executor")]
    Closed,
}

/// Why a call was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("not subscribed to the agent; the update is kept and replayed on re-subscription")]
    NotSubscribed,
    #[error("the agent refused the {call} call with {status}: {body}")]
    Refused { call: String, status: StatusCode, body: String },
    #[error(
        "the {call} call to the agent failed; an update is kept and replayed on re-subscription"
    )]
    Transport {
        call: String,
        #[source]
        source: reqwest::Error,
    },
}

#[derive(Debug, Default)]
struct Book {
    subscribed: bool,
    /// Updates not yet ACKNOWLEDGED by the agent, in the order sent.
    updates: Vec<Update>,
    /// Launched tasks without any acknowledged update.
    tasks: BTreeMap<TaskID, TaskInfo>,
}

impl Book {
    fn record_event(&mut self, event: &Event) {
        match event {
            Event::Launch(l) => {
                self.tasks.insert(l.task.task_id.clone(), l.task.clone());
            }
            Event::LaunchGroup(g) => {
                for t in &g.task_group.tasks {
                    self.tasks.insert(t.task_id.clone(), t.clone());
                }
            }
            Event::Acknowledged(a) => {
                self.updates.retain(|u| u.status.uuid.as_ref() != Some(&a.uuid));
                self.tasks.remove(&a.task_id);
            }
            _ => {}
        }
    }
}

/// Cheap cloneable handle to send calls to the agent.
#[derive(Clone, Debug)]
pub struct Handle {
    config: Arc<Config>,
    book: Arc<Mutex<Book>>,
    client: reqwest::Client,
    stop: Arc<watch::Sender<bool>>,
}

impl Handle {
    /// Sends a status update reliably: sets `source: SOURCE_EXECUTOR`, `executor_id`, a fresh
    /// 16-byte v4 `uuid` and `timestamp` (if unset), and keeps the update until the agent
    /// ACKNOWLEDGES it, replaying it on re-subscription. Returns the uuid.
    pub async fn update(&self, mut status: TaskStatus) -> Result<Bytes, CallError> {
        status.source = Some(TaskSource::Executor);
        status.executor_id = Some(self.config.executor_id.clone());
        let uuid = new_status_uuid();
        status.uuid = Some(uuid.clone());
        if status.timestamp.is_none() {
            status.timestamp = Some(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            );
        }
        let update = Update { status };
        let subscribed = {
            let mut book = self.book.lock().expect("book lock is never poisoned");
            book.updates.push(update.clone());
            book.subscribed
        };
        if !subscribed {
            return Err(CallError::NotSubscribed);
        }
        match self.send(CallKind::Update(update)).await {
            // A 4xx: the agent will never take this update, and replaying it would fail
            // SUBSCRIBE. A 5xx (an agent still recovering after a restart) says nothing about
            // the update: it stays in the book and is replayed on re-subscription.
            Err(CallError::Refused { call, status, body }) if status.is_client_error() => {
                self.book
                    .lock()
                    .expect("book lock is never poisoned")
                    .updates
                    .retain(|u| u.status.uuid.as_ref() != Some(&uuid));
                Err(CallError::Refused { call, status, body })
            }
            other => other.map(|()| uuid),
        }
    }

    /// Sends a best-effort MESSAGE to the scheduler.
    pub async fn message(&self, data: Bytes) -> Result<(), CallError> {
        if !self.book.lock().expect("book lock is never poisoned").subscribed {
            return Err(CallError::NotSubscribed);
        }
        self.send(CallKind::Message(Message { data })).await
    }

    async fn send(&self, kind: CallKind) -> Result<(), CallError> {
        let call_name = kind.type_name().to_owned();
        let call = Call {
            executor_id: self.config.executor_id.clone(),
            framework_id: self.config.framework_id.clone(),
            kind,
        };
        let response = request(&self.client, &self.config, &call)
            .send()
            .await
            .map_err(|source| CallError::Transport { call: call_name.clone(), source })?;
        let status = response.status();
        if status == StatusCode::ACCEPTED || status == StatusCode::OK {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(CallError::Refused { call: call_name, status, body })
    }

    /// Updates not yet acknowledged by the agent.
    pub fn unacknowledged_updates(&self) -> Vec<Update> {
        self.book.lock().expect("book lock is never poisoned").updates.clone()
    }

    /// Launched tasks without an acknowledged update.
    pub fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        self.book.lock().expect("book lock is never poisoned").tasks.values().cloned().collect()
    }

    /// Stops the connection ([`StopReason::Closed`]).
    pub fn close(&self) {
        self.stop.send_replace(true);
    }
}

fn request(client: &reqwest::Client, config: &Config, call: &Call) -> reqwest::RequestBuilder {
    let mut r = client
        .post(config.agent.clone())
        .header(reqwest::header::CONTENT_TYPE, JSON)
        .header(reqwest::header::ACCEPT, JSON)
        .body(call.to_json());
    if let Some(token) = &config.authentication_token {
        r = r.bearer_auth(token.expose());
    }
    r
}

/// Why the connection could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot set up the HTTP client for the agent connection")]
    Client(#[from] http::ClientError),
}

/// Starts the connection task. Requires a tokio runtime.
pub fn connect(config: Config) -> Result<(Handle, mpsc::UnboundedReceiver<Notice>), ConnectError> {
    let stream_client = http::client(&config.tls, None)?;
    let call_client = http::client(&config.tls, Some(Duration::from_secs(75)))?;
    let config = Arc::new(config);
    let book = Arc::new(Mutex::new(Book::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = Handle {
        config: config.clone(),
        book: book.clone(),
        client: call_client,
        stop: Arc::new(stop_tx),
    };
    tokio::spawn(run(config, stream_client, book, tx, stop_rx));
    Ok((handle, rx))
}

enum Outcome {
    Lost { reason: String, was_subscribed: bool },
    Stop(StopReason),
}

async fn run(
    config: Arc<Config>,
    client: reqwest::Client,
    book: Arc<Mutex<Book>>,
    tx: mpsc::UnboundedSender<Notice>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ever_subscribed = false;
    let mut lost_at = Instant::now();
    loop {
        let outcome = tokio::select! {
            o = subscribe_once(&config, &client, &book, &tx) => o,
            _ = stopped(&mut stop) => Outcome::Stop(StopReason::Closed),
        };
        book.lock().expect("book lock is never poisoned").subscribed = false;
        let (reason, was_subscribed) = match outcome {
            Outcome::Stop(reason) => {
                let _ = tx.send(Notice::Stopped(reason));
                return;
            }
            Outcome::Lost { reason, was_subscribed } => (reason, was_subscribed),
        };
        if was_subscribed {
            ever_subscribed = true;
            lost_at = Instant::now();
        }
        let (budget, give_up): (Duration, fn(Duration, String) -> StopReason) = if !ever_subscribed
        {
            (config.registration_timeout, |timeout, cause| StopReason::RegistrationTimeout {
                timeout,
                cause,
            })
        } else if config.checkpoint {
            (config.recovery_timeout, |timeout, cause| StopReason::RecoveryTimeout {
                timeout,
                cause,
            })
        } else {
            let _ = tx.send(Notice::Stopped(StopReason::NotCheckpointing { cause: reason }));
            return;
        };
        let deadline = lost_at + budget;
        let now = Instant::now();
        if now >= deadline {
            let _ = tx.send(Notice::Stopped(give_up(budget, reason)));
            return;
        }
        let max = config.subscription_backoff_max;
        let retry_in = rand::rng().random_range(Duration::ZERO..=max).min(deadline - now);
        tracing::warn!(%reason, retry_in = ?retry_in, "agent connection lost; retrying");
        if tx.send(Notice::Disconnected { reason, retry_in }).is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(retry_in) => {}
            _ = stopped(&mut stop) => {
                let _ = tx.send(Notice::Stopped(StopReason::Closed));
                return;
            }
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn subscribe_once(
    config: &Config,
    client: &reqwest::Client,
    book: &Mutex<Book>,
    tx: &mpsc::UnboundedSender<Notice>,
) -> Outcome {
    let subscribe = {
        let book = book.lock().expect("book lock is never poisoned");
        Subscribe {
            unacknowledged_tasks: book.tasks.values().cloned().collect(),
            unacknowledged_updates: book.updates.clone(),
        }
    };
    let call = Call {
        executor_id: config.executor_id.clone(),
        framework_id: config.framework_id.clone(),
        kind: CallKind::Subscribe(subscribe),
    };
    let response = match request(client, config, &call).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Lost {
                reason: format!("cannot reach the agent at {}: {}", config.agent, error_chain(&e)),
                was_subscribed: false,
            };
        }
    };
    let status = response.status();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return Outcome::Lost {
            reason: format!("the agent at {} is recovering (503)", config.agent),
            was_subscribed: false,
        };
    }
    if status != StatusCode::OK {
        let body = response.text().await.unwrap_or_default().trim().to_owned();
        return Outcome::Stop(StopReason::Refused { status, body });
    }
    let mut decoder = recordio::Decoder::new(config.max_record_size);
    let mut body = response.bytes_stream();
    let mut subscribed = false;
    loop {
        let chunk = match body.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                return Outcome::Lost {
                    reason: format!("the event stream from the agent broke: {}", error_chain(&e)),
                    was_subscribed: subscribed,
                };
            }
            None => {
                return Outcome::Lost {
                    reason: "the agent closed the event stream".to_owned(),
                    was_subscribed: subscribed,
                };
            }
        };
        decoder.feed(&chunk);
        loop {
            let record = match decoder.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    return Outcome::Lost {
                        reason: format!("the event stream from the agent is corrupt: {e}"),
                        was_subscribed: subscribed,
                    };
                }
            };
            let event = match Event::from_record(&record) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an agent event that does not decode");
                    continue;
                }
            };
            {
                let mut book = book.lock().expect("book lock is never poisoned");
                if matches!(event, Event::Subscribed(_)) {
                    subscribed = true;
                    book.subscribed = true;
                }
                book.record_event(&event);
            }
            if let Event::Error(e) = &event {
                let message = e.message.clone();
                let _ = tx.send(Notice::Event(event));
                return Outcome::Stop(StopReason::AgentError { message });
            }
            if tx.send(Notice::Event(event)).is_err() {
                return Outcome::Stop(StopReason::Closed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("MESOS_AGENT_ENDPOINT", "10.0.0.2:5051"),
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "ex-1"),
        ("MESOS_CHECKPOINT", "1"),
        ("MESOS_RECOVERY_TIMEOUT", "15mins"),
        ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
        ("MESOS_SANDBOX", "/sandbox"),
    ];

    #[test]
    fn stout_durations() {
        assert_eq!(parse_duration("15mins"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2secs"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5secs"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1weeks"), Ok(Duration::from_secs(604800)));
        for bad in ["", "5", "secs", "5s", "-1secs", "5 secs"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_a_checkpointing_environment() {
        let c = Config::from_lookup(vars(BASE)).expect("valid");
        assert_eq!(c.agent.as_str(), "http://10.0.0.2:5051/api/v1/executor");
        assert!(c.checkpoint);
        assert_eq!(c.recovery_timeout, Duration::from_secs(900));
        assert_eq!(c.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(c.shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(c.sandbox, Some(PathBuf::from("/sandbox")));
        assert!(c.authentication_token.is_none());
    }

    #[test]
    fn tls_and_token() {
        let mut pairs = BASE.to_vec();
        pairs.push(("LIBPROCESS_SSL_ENABLED", "true"));
        pairs.push(("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "jwt"));
        let c = Config::from_lookup(vars(&pairs)).expect("valid");
        assert_eq!(c.agent.scheme(), "https");
        assert_eq!(format!("{:?}", c.authentication_token), "Some(***)");
    }

    #[test]
    fn clear_errors_for_bad_environments() {
        let without =
            |name: &str| BASE.iter().copied().filter(|(k, _)| *k != name).collect::<Vec<_>>();
        let err =
            Config::from_lookup(vars(&without("MESOS_RECOVERY_TIMEOUT"))).expect_err("missing");
        assert_eq!(err, EnvError::Missing { name: "MESOS_RECOVERY_TIMEOUT" });
        assert!(err.to_string().contains("started by a Mesos agent"), "{err}");

        let mut pairs = without("MESOS_CHECKPOINT");
        pairs.push(("MESOS_CHECKPOINT", "true"));
        let err = Config::from_lookup(vars(&pairs)).expect_err("bad checkpoint");
        assert_eq!(err.to_string(), "MESOS_CHECKPOINT=\"true\" is invalid: expected 1 or 0");

        let mut pairs = without("MESOS_AGENT_ENDPOINT");
        pairs.push(("MESOS_AGENT_ENDPOINT", "http://10.0.0.2:5051"));
        assert!(matches!(Config::from_lookup(vars(&pairs)), Err(EnvError::Invalid { .. })));

        let mut pairs = without("MESOS_SUBSCRIPTION_BACKOFF_MAX");
        pairs.push(("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2 seconds"));
        assert!(matches!(
            Config::from_lookup(vars(&pairs)),
            Err(EnvError::Invalid { name: "MESOS_SUBSCRIPTION_BACKOFF_MAX", .. })
        ));
    }

    #[test]
    fn non_checkpointing_environment_needs_no_recovery_variables() {
        let pairs: Vec<_> = BASE
            .iter()
            .copied()
            .filter(|(k, _)| {
                !k.contains("RECOVERY") && !k.contains("BACKOFF") && *k != "MESOS_CHECKPOINT"
            })
            .chain([("MESOS_CHECKPOINT", "0")])
            .collect();
        let c = Config::from_lookup(vars(&pairs)).expect("valid");
        assert!(!c.checkpoint);
    }
}
