//! The scheduler's connection to the Mesos master: one dedicated streaming SUBSCRIBE request, and
//! a cloneable [`Handle`] that sends every other call with the current `Mesos-Stream-Id`.
//!
//! [`connect`] spawns a task that subscribes, follows `307` redirects to the leader by hand
//! (protocol-relative `Location`, same scheme), retries `503`, `404` and connection errors with
//! capped exponential backoff and jitter, watches heartbeats (any byte resets a deadline of
//! 5 × `heartbeat_interval_seconds`), and re-subscribes with the framework id it was given or
//! that the master assigned. Everything it sees arrives on the [`Notice`] channel. An `ERROR`
//! event, or a status that retrying cannot fix (400, 401, 403, 406, 415, ...), ends the task:
//! the scheduler decides what to do next (e.g. call [`connect`] again).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::http::{self, Backoff, Credentials, JSON, STREAM_ID_HEADER, TlsConfig, error_chain};
use crate::recordio;
use crate::scheduler::{Call, CallKind, Event, Subscribe};
use crate::v1::{FrameworkID, FrameworkInfo};

/// The heartbeat interval assumed until SUBSCRIBED says otherwise (Mesos' fixed value).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// How many heartbeat intervals of silence mean the master is gone.
pub const MISSED_HEARTBEATS: u32 = 5;

/// What the connection needs. `framework_info.id`, if set, is re-used on every subscription;
/// the caller persists the id it gets in SUBSCRIBED.
#[derive(Clone, Debug)]
pub struct Config {
    /// The master's scheduler endpoint, e.g. `http://m1:5050/api/v1/scheduler`. A URL without
    /// a path gets `/api/v1/scheduler`.
    pub master: reqwest::Url,
    pub framework_info: FrameworkInfo,
    pub suppressed_roles: Vec<String>,
    pub credentials: Option<Credentials>,
    pub tls: TlsConfig,
    pub backoff: Backoff,
    /// Total timeout of non-subscribe calls.
    pub call_timeout: Duration,
    /// Overrides 5 × `heartbeat_interval_seconds` as the silence after which the stream is
    /// dropped (tests use a short one).
    pub heartbeat_timeout: Option<Duration>,
    /// Redirects followed in a row before backing off.
    pub max_redirects: u32,
    pub max_record_size: usize,
}

impl Config {
    /// Defaults for everything but the master and the framework.
    pub fn new(master: reqwest::Url, framework_info: FrameworkInfo) -> Self {
        Self {
            master,
            framework_info,
            suppressed_roles: Vec::new(),
            credentials: None,
            tls: TlsConfig::default(),
            backoff: Backoff::default(),
            call_timeout: Duration::from_secs(75),
            heartbeat_timeout: None,
            max_redirects: 5,
            max_record_size: recordio::DEFAULT_MAX_RECORD_SIZE,
        }
    }
}

/// What the connection reports to the scheduler, in order.
#[derive(Clone, Debug, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "notices are moved once through a channel")]
pub enum Notice {
    /// An event from the master. `Event::Subscribed` starts every (re)subscription: drop cached
    /// offers and reconcile. `Event::Error` is followed by [`Notice::Stopped`].
    Event(Event),
    /// The subscription is gone (all offers are void); the connection retries after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// The connection gave up or was closed; no more notices follow.
    Stopped { reason: String },
}

/// Why a call could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("not subscribed to a master yet: wait for SUBSCRIBED before sending {call} calls")]
    NotSubscribed { call: String },
    #[error("SUBSCRIBE is sent by the connection itself; use connect() to subscribe again")]
    SubscribeNotAllowed,
    #[error("the master at {url} refused the {call} call with {status}: {body}")]
    Refused { url: String, call: String, status: StatusCode, body: String },
    #[error("the {call} call to {url} failed")]
    Transport {
        url: String,
        call: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Why the connection could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot set up the HTTP client for the master connection")]
    Client(#[from] http::ClientError),
}

#[derive(Debug, Default)]
struct Session {
    endpoint: Option<reqwest::Url>,
    stream_id: Option<String>,
    framework_id: Option<FrameworkID>,
}

/// Cheap cloneable handle to send calls on the current subscription.
#[derive(Clone, Debug)]
pub struct Handle {
    session: Arc<Mutex<Session>>,
    client: reqwest::Client,
    credentials: Option<Credentials>,
    stop: Arc<watch::Sender<bool>>,
}

impl Handle {
    /// Sends `kind` with the current framework id and stream id. Resolves when the master
    /// answered `202`/`200`.
    pub async fn call(&self, kind: CallKind) -> Result<(), CallError> {
        if matches!(kind, CallKind::Subscribe(_)) {
            return Err(CallError::SubscribeNotAllowed);
        }
        let call_name = kind.type_name().to_owned();
        let (endpoint, stream_id, framework_id) = {
            let s = self.session.lock().expect("session lock is never poisoned");
            match (&s.endpoint, &s.stream_id, &s.framework_id) {
                (Some(e), Some(sid), Some(fid)) => (e.clone(), sid.clone(), fid.clone()),
                _ => return Err(CallError::NotSubscribed { call: call_name }),
            }
        };
        let body = Call::new(Some(framework_id), kind).to_json();
        let mut request = self
            .client
            .post(endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, JSON)
            .header(reqwest::header::ACCEPT, JSON)
            .header(STREAM_ID_HEADER, stream_id)
            .body(body);
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.principal, Some(c.secret.expose()));
        }
        let response = request.send().await.map_err(|source| CallError::Transport {
            url: endpoint.to_string(),
            call: call_name.clone(),
            source,
        })?;
        let status = response.status();
        if status == StatusCode::ACCEPTED || status == StatusCode::OK {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(CallError::Refused { url: endpoint.to_string(), call: call_name, status, body })
    }

    /// The framework id in use (given by the caller or assigned by the master).
    pub fn framework_id(&self) -> Option<FrameworkID> {
        self.session.lock().expect("session lock is never poisoned").framework_id.clone()
    }

    /// Whether a subscription is currently open.
    pub fn is_subscribed(&self) -> bool {
        self.session.lock().expect("session lock is never poisoned").stream_id.is_some()
    }

    /// Stops the connection: the subscription stream is closed and [`Notice::Stopped`] sent.
    pub fn close(&self) {
        self.stop.send_replace(true);
    }
}

/// Starts the connection task. Requires a tokio runtime.
pub fn connect(
    mut config: Config,
) -> Result<(Handle, mpsc::UnboundedReceiver<Notice>), ConnectError> {
    if config.master.path() == "/" || config.master.path().is_empty() {
        config.master.set_path("/api/v1/scheduler");
    }
    let stream_client = http::client(&config.tls, None)?;
    let call_client = http::client(&config.tls, Some(config.call_timeout))?;
    let session = Arc::new(Mutex::new(Session {
        endpoint: None,
        stream_id: None,
        framework_id: config.framework_info.id.clone(),
    }));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = Handle {
        session: session.clone(),
        client: call_client,
        credentials: config.credentials.clone(),
        stop: Arc::new(stop_tx),
    };
    tokio::spawn(run(config, stream_client, session, tx, stop_rx));
    Ok((handle, rx))
}

/// How one subscription attempt ended.
enum Outcome {
    /// Retry after backoff (attempt counter continues unless the stream had been subscribed).
    Retry { reason: String, was_subscribed: bool, unreachable: bool },
    /// Follow a redirect at once.
    Redirect(reqwest::Url),
    /// Give up.
    Stop(String),
}

async fn run(
    config: Config,
    client: reqwest::Client,
    session: Arc<Mutex<Session>>,
    tx: mpsc::UnboundedSender<Notice>,
    mut stop: watch::Receiver<bool>,
) {
    let mut endpoint = config.master.clone();
    let mut attempt: u32 = 0;
    let mut redirects: u32 = 0;
    let mut ever_subscribed = false;
    loop {
        let outcome = tokio::select! {
            outcome = subscribe_once(&config, &client, &endpoint, &session, &tx, &mut ever_subscribed) => outcome,
            _ = stopped(&mut stop) => Outcome::Stop("closed by the scheduler".to_owned()),
        };
        {
            let mut s = session.lock().expect("session lock is never poisoned");
            s.stream_id = None;
        }
        match outcome {
            Outcome::Redirect(to) if redirects < config.max_redirects => {
                tracing::info!(from = %endpoint, to = %to, "following redirect to the leading master");
                redirects += 1;
                endpoint = to;
                continue;
            }
            Outcome::Redirect(to) => {
                let reason = format!("{} redirects in a row (last to {to})", redirects + 1);
                redirects = 0;
                endpoint = to;
                if !retry(&config, &mut attempt, reason, &tx, &mut stop).await {
                    return;
                }
            }
            Outcome::Retry { reason, was_subscribed, unreachable } => {
                redirects = 0;
                if was_subscribed {
                    attempt = 0;
                }
                if unreachable {
                    // The leader we followed may be dead: ask the configured master again.
                    endpoint = config.master.clone();
                }
                if !retry(&config, &mut attempt, reason, &tx, &mut stop).await {
                    return;
                }
            }
            Outcome::Stop(reason) => {
                let _ = tx.send(Notice::Stopped { reason });
                return;
            }
        }
    }
}

async fn retry(
    config: &Config,
    attempt: &mut u32,
    reason: String,
    tx: &mpsc::UnboundedSender<Notice>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let retry_in = config.backoff.delay(*attempt);
    *attempt = attempt.saturating_add(1);
    tracing::warn!(%reason, retry_in = ?retry_in, "mesos subscription lost; retrying");
    if tx.send(Notice::Disconnected { reason, retry_in }).is_err() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(retry_in) => true,
        _ = stopped(stop) => {
            let _ = tx.send(Notice::Stopped { reason: "closed by the scheduler".to_owned() });
            false
        }
    }
}

async fn subscribe_once(
    config: &Config,
    client: &reqwest::Client,
    endpoint: &reqwest::Url,
    session: &Mutex<Session>,
    tx: &mpsc::UnboundedSender<Notice>,
    ever_subscribed: &mut bool,
) -> Outcome {
    let framework_id = session.lock().expect("session lock is never poisoned").framework_id.clone();
    let mut framework_info = config.framework_info.clone();
    framework_info.id = framework_id.clone();
    let call = Call::new(
        framework_id,
        CallKind::Subscribe(Subscribe {
            framework_info,
            suppressed_roles: config.suppressed_roles.clone(),
            offer_constraints: None,
        }),
    );
    let mut request = client
        .post(endpoint.clone())
        .header(reqwest::header::CONTENT_TYPE, JSON)
        .header(reqwest::header::ACCEPT, JSON)
        .body(call.to_json());
    if let Some(c) = &config.credentials {
        request = request.basic_auth(&c.principal, Some(c.secret.expose()));
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                reason: format!("cannot reach the master at {endpoint}: {}", error_chain(&e)),
                was_subscribed: false,
                unreachable: true,
            };
        }
    };
    let status = response.status();
    if status == StatusCode::TEMPORARY_REDIRECT || status == StatusCode::PERMANENT_REDIRECT {
        let location =
            response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
        return match location.and_then(|l| http::resolve_location(endpoint, l)) {
            Some(to) => Outcome::Redirect(to),
            None => Outcome::Retry {
                reason: format!(
                    "the master at {endpoint} redirected without a usable Location ({location:?})"
                ),
                was_subscribed: false,
                unreachable: false,
            },
        };
    }
    if status == StatusCode::SERVICE_UNAVAILABLE
        || (status == StatusCode::NOT_FOUND && !*ever_subscribed)
    {
        let body = response.text().await.unwrap_or_default();
        return Outcome::Retry {
            reason: format!("the master at {endpoint} is not ready ({status}: {})", body.trim()),
            was_subscribed: false,
            unreachable: false,
        };
    }
    if status != StatusCode::OK {
        let body = response.text().await.unwrap_or_default();
        return Outcome::Stop(format!(
            "the master at {endpoint} refused SUBSCRIBE with {status}: {}",
            body.trim()
        ));
    }
    let Some(stream_id) =
        response.headers().get(STREAM_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned)
    else {
        return Outcome::Stop(format!(
            "the master at {endpoint} answered SUBSCRIBE without a {STREAM_ID_HEADER} header"
        ));
    };
    read_stream(config, endpoint, response, stream_id, session, tx, ever_subscribed).await
}

async fn read_stream(
    config: &Config,
    endpoint: &reqwest::Url,
    response: reqwest::Response,
    stream_id: String,
    session: &Mutex<Session>,
    tx: &mpsc::UnboundedSender<Notice>,
    ever_subscribed: &mut bool,
) -> Outcome {
    let mut decoder = recordio::Decoder::new(config.max_record_size);
    let mut body = response.bytes_stream();
    let mut silence_limit =
        config.heartbeat_timeout.unwrap_or(DEFAULT_HEARTBEAT_INTERVAL * MISSED_HEARTBEATS);
    let mut deadline = Instant::now() + silence_limit;
    let mut subscribed = false;
    loop {
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            _ = tokio::time::sleep_until(deadline) => {
                return Outcome::Retry {
                    reason: format!("no heartbeat from the master at {endpoint} for {silence_limit:?}"),
                    was_subscribed: subscribed,
                    unreachable: false,
                };
            }
        };
        let chunk = match chunk {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                return Outcome::Retry {
                    reason: format!("the event stream from {endpoint} broke: {}", error_chain(&e)),
                    was_subscribed: subscribed,
                    unreachable: false,
                };
            }
            None => {
                let detail = match decoder.finish() {
                    Ok(()) => String::new(),
                    Err(e) => format!(" ({e})"),
                };
                return Outcome::Retry {
                    reason: format!("the master at {endpoint} closed the event stream{detail}"),
                    was_subscribed: subscribed,
                    unreachable: false,
                };
            }
        };
        deadline = Instant::now() + silence_limit;
        decoder.feed(&chunk);
        loop {
            let record = match decoder.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    return Outcome::Retry {
                        reason: format!("the event stream from {endpoint} is corrupt: {e}"),
                        was_subscribed: subscribed,
                        unreachable: false,
                    };
                }
            };
            let event = match Event::from_record(&record) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an event that does not decode");
                    continue;
                }
            };
            match &event {
                Event::Subscribed(s) => {
                    subscribed = true;
                    *ever_subscribed = true;
                    if config.heartbeat_timeout.is_none() {
                        let interval = s
                            .heartbeat_interval_seconds
                            .filter(|i| i.is_finite() && *i > 0.0)
                            .map_or(DEFAULT_HEARTBEAT_INTERVAL, Duration::from_secs_f64);
                        silence_limit = interval * MISSED_HEARTBEATS;
                        deadline = Instant::now() + silence_limit;
                    }
                    let mut session = session.lock().expect("session lock is never poisoned");
                    session.framework_id = Some(s.framework_id.clone());
                    session.stream_id = Some(stream_id.clone());
                    session.endpoint = Some(endpoint.clone());
                    tracing::info!(framework_id = %s.framework_id, master = %endpoint, "subscribed");
                }
                Event::Error(e) => {
                    let reason = format!("the master at {endpoint} sent ERROR: {}", e.message);
                    let _ = tx.send(Notice::Event(event));
                    return Outcome::Stop(reason);
                }
                _ => {}
            }
            if tx.send(Notice::Event(event)).is_err() {
                return Outcome::Stop("the scheduler dropped the notice receiver".to_owned());
            }
        }
    }
}

/// Resolves once the scheduler asked to stop; never if every [`Handle`] is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
