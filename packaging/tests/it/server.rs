//! A loopback HTTP file server for fetcher tests that can 404, 503, truncate, overrun, drop
//! mid-stream, honour or ignore Range, and records what it was asked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

/// How one path answers.
#[derive(Clone, Debug, Default)]
pub struct Route {
    /// The body a good answer carries.
    pub data: Vec<u8>,
    /// Answer 404 always.
    pub not_found: bool,
    /// Answer 503 to this many requests first.
    pub unavailable_first: u32,
    /// Declare the full length but close the connection after half the body, this many times.
    pub drop_first: u32,
    /// Advertise `Accept-Ranges: bytes` and an ETag.
    pub advertise_ranges: bool,
    /// Honour `Range` (else answer 200 with the whole body).
    pub honour_ranges: bool,
    /// Send only this many bytes, with a matching `Content-Length`.
    pub truncate_to: Option<usize>,
    /// Send this many extra bytes, chunked (no `Content-Length`).
    pub overrun_by: usize,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Route>,
    seen: Vec<Seen>,
    answered: HashMap<String, u32>,
}

/// A running server; stops when dropped with the test's runtime.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

const ETAG: &str = "\"v1\"";

impl Server {
    pub async fn start() -> Server {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Server { addr, inner }
    }

    pub fn route(&self, path: &str, route: Route) -> String {
        self.inner.lock().unwrap().routes.insert(path.to_owned(), route);
        self.url(path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }
}

async fn serve(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let text =
        |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (route, n) = {
        let mut inner = inner.lock().unwrap();
        inner.seen.push(Seen {
            path: path.clone(),
            range: text(header::RANGE),
            if_range: text(header::IF_RANGE),
        });
        let n = *inner.answered.entry(path.clone()).and_modify(|n| *n += 1).or_insert(0);
        (inner.routes.get(&path).cloned(), n)
    };
    let Some(route) = route else { return status(StatusCode::NOT_FOUND) };
    if route.not_found {
        return status(StatusCode::NOT_FOUND);
    }
    if n < route.unavailable_first {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    let mut builder = Response::builder();
    if route.advertise_ranges {
        builder = builder.header(header::ACCEPT_RANGES, "bytes").header(header::ETAG, ETAG);
    }
    let len = route.data.len();
    if let Some(cut) = route.truncate_to {
        let body = route.data[..cut].to_vec();
        return builder.header(header::CONTENT_LENGTH, cut).body(Body::from(body)).unwrap();
    }
    if route.overrun_by > 0 {
        let mut body = route.data.clone();
        body.extend(std::iter::repeat_n(0x5a, route.overrun_by));
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(4096).map(|c| Ok(c.to_vec())).collect();
        return builder.body(Body::from_stream(futures_util::stream::iter(chunks))).unwrap();
    }
    let start = match (route.honour_ranges, text(header::RANGE), text(header::IF_RANGE)) {
        (true, Some(range), if_range) if if_range.as_deref().is_none_or(|v| v == ETAG) => range
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|r| r.parse::<usize>().ok()),
        _ => None,
    };
    let (code, body) = match start {
        Some(start) => {
            builder =
                builder.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{len}", len - 1));
            (StatusCode::PARTIAL_CONTENT, route.data[start..].to_vec())
        }
        None => (StatusCode::OK, route.data.clone()),
    };
    builder = builder.status(code).header(header::CONTENT_LENGTH, body.len());
    if n < route.unavailable_first + route.drop_first {
        // Half the body, then a broken connection.
        let half = body[..body.len() / 2].to_vec();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            vec![Ok(half), Err(std::io::Error::other("dropped mid-stream"))];
        // A pause lets the first half reach the client before the connection breaks.
        let stream =
            futures_util::StreamExt::then(futures_util::stream::iter(chunks), |c| async move {
                if c.is_err() {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                c
            });
        return builder.body(Body::from_stream(stream)).unwrap();
    }
    builder.body(Body::from(body)).unwrap()
}

fn status(code: StatusCode) -> Response {
    Response::builder().status(code).body(Body::from(code.to_string())).unwrap()
}
