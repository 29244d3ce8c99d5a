//! A small loopback Mesos master for connection tests: as strict as the real one about
//! Content-Type, Mesos-Stream-Id and framework ids, and scriptable (redirect, 503, silence, ERROR).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mesos::FrameworkID;
use mesos::recordio;
use mesos::scheduler::{Call, CallKind, Event, Subscribed};
use tokio::sync::mpsc;

/// One request the fake saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub call: Option<Call>,
}

#[derive(Default)]
pub struct Script {
    /// Answer everything with 307 to this port.
    pub redirect_to: Option<u16>,
    /// Answer this many requests with 503 first.
    pub unavailable: u32,
    /// Then this many with 404 (a master still starting its HTTP routes).
    pub not_found: u32,
    /// Send this ERROR message instead of SUBSCRIBED.
    pub error: Option<String>,
    /// Require this `Authorization` header value.
    pub authorization: Option<String>,
}

#[derive(Default)]
pub struct Inner {
    pub script: Script,
    pub seen: Vec<Seen>,
    pub stream_id: Option<String>,
    pub streams: u32,
    pub events: Option<mpsc::UnboundedSender<Bytes>>,
}

#[derive(Clone)]
pub struct FakeMaster {
    pub addr: SocketAddr,
    pub inner: Arc<Mutex<Inner>>,
}

impl FakeMaster {
    pub async fn start(script: Script) -> Self {
        let inner = Arc::new(Mutex::new(Inner { script, ..Inner::default() }));
        let app = axum::Router::new()
            .route("/api/v1/scheduler", axum::routing::any(handle))
            .route("/master/api/v1/scheduler", axum::routing::any(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self { addr, inner }
    }

    pub fn url(&self) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}/api/v1/scheduler", self.addr)).expect("url")
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().expect("lock").seen.clone()
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, body.to_owned()).into_response()
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call: Option<Call> = serde_json::from_slice(&body).ok();
    let mut st = inner.lock().expect("lock");
    st.seen.push(Seen {
        path: uri.path().to_owned(),
        headers: headers.clone(),
        call: call.clone(),
    });
    if let Some(expected) = &st.script.authorization {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [("WWW-Authenticate", "Basic realm=\"mesos-master-scheduler\"")],
            )
                .into_response();
        }
    }
    if let Some(port) = st.script.redirect_to {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [("Location", format!("//127.0.0.1:{port}/master/api/v1/scheduler"))],
        )
            .into_response();
    }
    if st.script.unavailable > 0 {
        st.script.unavailable -= 1;
        return text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected");
    }
    if st.script.not_found > 0 {
        st.script.not_found -= 1;
        return StatusCode::NOT_FOUND.into_response();
    }
    if method != axum::http::Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    match headers.get("content-type").map(|v| v.as_bytes()) {
        None => return text(StatusCode::BAD_REQUEST, "Expecting 'Content-Type' to be present"),
        Some(b"application/json") => {}
        Some(_) => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expecting 'Content-Type' of application/json or application/x-protobuf",
            );
        }
    }
    let Some(call) = call else {
        return text(StatusCode::BAD_REQUEST, "Failed to convert JSON into Call protobuf");
    };
    let stream_header =
        headers.get("mesos-stream-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match &call.kind {
        CallKind::Subscribe(s) => {
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
            if headers.get("accept").map(|v| v.as_bytes()) != Some(b"application/json") {
                return StatusCode::NOT_ACCEPTABLE.into_response();
            }
            st.streams += 1;
            let stream_id = format!("stream-{}", st.streams);
            st.stream_id = Some(stream_id.clone());
            let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
            let first = match &st.script.error {
                Some(message) => Event::Error(mesos::scheduler::Error { message: message.clone() }),
                None => Event::Subscribed(Subscribed {
                    framework_id: call
                        .framework_id
                        .clone()
                        .unwrap_or_else(|| FrameworkID::new("fw-1")),
                    heartbeat_interval_seconds: Some(15.0),
                    master_info: None,
                }),
            };
            let _ = tx.send(Bytes::from(recordio::encode(&first.to_json())));
            if st.script.error.is_none() {
                let _ = tx.send(Bytes::from(recordio::encode(&Event::Heartbeat.to_json())));
            }
            // Keep the sender so the stream stays open; an ERROR stream is closed at once.
            st.events = if st.script.error.is_some() { None } else { Some(tx) };
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("Content-Type", "application/json")
                .header("Mesos-Stream-Id", stream_id)
                .body(Body::from_stream(body))
                .expect("response")
        }
        _ => {
            if call.framework_id.is_none() {
                return text(StatusCode::BAD_REQUEST, "Expecting 'framework_id' to be present");
            }
            match (stream_header, &st.stream_id) {
                (None, _) => text(
                    StatusCode::BAD_REQUEST,
                    "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
                ),
                (Some(got), Some(current)) if &got == current => {
                    StatusCode::ACCEPTED.into_response()
                }
                (Some(got), _) => text(
                    StatusCode::BAD_REQUEST,
                    &format!("The stream ID '{got}' included in this request didn't match"),
                ),
            }
        }
    }
}
