//! `/artifacts/{file}` over real HTTP: what the Mesos fetcher (and a resuming download) gets, and
//! what an attacker trying to read outside the artifacts directory does not.

use scheduler::view::View;

use crate::http_support::{Options, Server, artifacts};

struct Fixture {
    _tmp: tempfile::TempDir,
    bundle: Vec<u8>,
    executor: Vec<u8>,
    server: Server,
}

/// bundles/ holds a bundle, an empty file, a hidden `.part`, a symlink inside and one pointing
/// out; outside/ holds the secret; the executor binary lives elsewhere.
async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundles");
    std::fs::create_dir(&dir).unwrap();
    // 3 MiB + 17 bytes of varied content, so offsets are checkable.
    let bundle: Vec<u8> = (0..3 * 1024 * 1024 + 17u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("scaleio-ubuntu-14.04-2.0.1.tar.gz"), &bundle).unwrap();
    std::fs::write(dir.join("empty.txt"), b"").unwrap();
    std::fs::write(dir.join(".bundle.tar.gz.part"), b"half").unwrap();
    std::fs::create_dir(tmp.path().join("outside")).unwrap();
    std::fs::write(tmp.path().join("outside/secret"), b"TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside/secret"), dir.join("escape")).unwrap();
    std::os::unix::fs::symlink("scaleio-ubuntu-14.04-2.0.1.tar.gz", dir.join("latest.tar.gz"))
        .unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside"), dir.join("outdir")).unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();
    std::fs::write(dir.join("subdir/inner"), b"inner").unwrap();
    let executor = b"\x7fELF-executor-binary".to_vec();
    std::fs::write(tmp.path().join("scaleio-executor"), &executor).unwrap();
    let server = Server::start(
        View::default(),
        Options {
            artifacts: artifacts(dir, tmp.path().join("scaleio-executor")),
            ..Options::default()
        },
    )
    .await;
    Fixture { _tmp: tmp, bundle, executor, server }
}

const BUNDLE: &str = "/artifacts/scaleio-ubuntu-14.04-2.0.1.tar.gz";

async fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn whole_files_stream_with_length_type_and_etag() {
    let fx = fixture().await;
    let response = get_with(&fx.server, BUNDLE, &[]).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-length"], fx.bundle.len().to_string().as_str());
    assert_eq!(headers["content-type"], "application/gzip");
    assert_eq!(headers["accept-ranges"], "bytes");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(response.bytes().await.unwrap() == fx.bundle, "served bytes differ from the file");

    let response = get_with(&fx.server, "/artifacts/scaleio-executor", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), fx.executor);

    let response = get_with(&fx.server, "/artifacts/empty.txt", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "0");

    // A symlink that stays inside the directory is served as its target.
    let response = get_with(&fx.server, "/artifacts/latest.tar.gz", &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap() == fx.bundle);

    // Unchanged file, same tag: 304 without a body.
    let response = get_with(&fx.server, BUNDLE, &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), 304);
    assert!(response.bytes().await.unwrap().is_empty());
    fx.server.stop().await.unwrap();
}

#[tokio::test]
async fn head_gives_the_headers_without_the_body() {
    let fx = fixture().await;
    let response = reqwest::Client::new().head(fx.server.url(BUNDLE)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], fx.bundle.len().to_string().as_str());
    assert!(response.headers().contains_key("etag"));
    // Raw, to be sure no body bytes follow the headers.
    let raw = fx
        .server
        .raw(&format!("HEAD {BUNDLE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        .await;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains(&format!("content-length: {}", fx.bundle.len())),
        "{head}"
    );
    assert_eq!(body, "");

    let response = reqwest::Client::new()
        .head(fx.server.url(BUNDLE))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-length"], "10");
    fx.server.stop().await.unwrap();
}

#[tokio::test]
async fn single_ranges_give_206_and_out_of_range_gives_416() {
    let fx = fixture().await;
    let len = fx.bundle.len();
    let cases: &[(&str, usize, usize)] = &[
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=1048576-", 1_048_576, len - 1),
        ("bytes=-17", len - 17, len - 1),
        ("bytes=5-999999999", 5, len - 1),
    ];
    for (range, start, end) in cases {
        let response = get_with(&fx.server, BUNDLE, &[("range", range)]).await;
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {start}-{end}/{len}").as_str(),
            "{range}"
        );
        assert_eq!(response.headers()["content-length"], (end - start + 1).to_string().as_str());
        assert!(response.bytes().await.unwrap() == fx.bundle[*start..=*end], "{range}");
    }

    for range in
        [format!("bytes={len}-"), format!("bytes={}-{}", len + 10, len + 20), "bytes=-0".to_owned()]
    {
        let response = get_with(&fx.server, BUNDLE, &[("range", &range)]).await;
        assert_eq!(response.status(), 416, "{range}");
        assert_eq!(response.headers()["content-range"], format!("bytes */{len}").as_str());
    }
    let response = get_with(&fx.server, "/artifacts/empty.txt", &[("range", "bytes=0-")]).await;
    assert_eq!(response.status(), 416);

    // Several ranges, other units, malformed or backwards ranges: the whole file (RFC 9110
    // lets a server ignore them), never an error.
    for range in ["bytes=0-1,5-6", "items=0-1", "bytes=x-y", "bytes=9-3"] {
        let response = get_with(&fx.server, BUNDLE, &[("range", range)]).await;
        assert_eq!(response.status(), 200, "{range}");
        assert_eq!(response.headers()["content-length"], len.to_string().as_str());
    }

    // If-Range with a stale tag: the file changed, so the whole (new) file comes back.
    let response =
        get_with(&fx.server, BUNDLE, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")]).await;
    assert_eq!(response.status(), 200);
    let etag =
        get_with(&fx.server, BUNDLE, &[]).await.headers()["etag"].to_str().unwrap().to_owned();
    let response =
        get_with(&fx.server, BUNDLE, &[("range", "bytes=0-9"), ("if-range", &etag)]).await;
    assert_eq!(response.status(), 206);
    fx.server.stop().await.unwrap();
}

#[tokio::test]
async fn a_download_resumed_with_range_reassembles_the_file() {
    let fx = fixture().await;
    let mut assembled = Vec::new();
    let chunk = 1_000_000;
    while assembled.len() < fx.bundle.len() {
        let range = format!("bytes={}-{}", assembled.len(), assembled.len() + chunk - 1);
        let response = get_with(&fx.server, BUNDLE, &[("range", &range)]).await;
        assert_eq!(response.status(), 206);
        assembled.extend_from_slice(&response.bytes().await.unwrap());
    }
    assert!(assembled == fx.bundle);
    fx.server.stop().await.unwrap();
}

fn status_of(raw: &str) -> u16 {
    raw.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("{raw}"))
}

#[tokio::test]
async fn nothing_outside_the_directory_is_served() {
    let fx = fixture().await;
    let targets = [
        "/artifacts/../outside/secret",
        "/artifacts/..%2Foutside%2Fsecret",
        "/artifacts/%2e%2e%2foutside%2fsecret",
        "/artifacts/%2E%2E/outside/secret",
        "/artifacts/..%5Coutside%5Csecret",
        "/artifacts/%2Fetc%2Fpasswd",
        "/artifacts//etc/passwd",
        "/artifacts/escape",
        "/artifacts/outdir%2Fsecret",
        "/artifacts/outdir/secret",
        "/artifacts/subdir",
        "/artifacts/subdir%2Finner",
        "/artifacts/.bundle.tar.gz.part",
        "/artifacts/..",
        "/artifacts/%2e%2e",
        "/artifacts/.",
        "/artifacts/x%00y",
        "/artifacts/",
    ];
    for target in targets {
        let raw = fx
            .server
            .raw(&format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            .await;
        let status = status_of(&raw);
        assert!(matches!(status, 400 | 404), "{target} answered {status}:\n{raw}");
        assert!(!raw.contains("TOP-SECRET") && !raw.contains("root:"), "{target} leaked:\n{raw}");
        assert!(!raw.contains("inner"), "{target} served a subdirectory file");
    }
    // Absolute-form request target with a dot segment.
    let raw = fx
        .server
        .raw("GET http://x/artifacts/../outside/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert!(!raw.contains("TOP-SECRET"), "{raw}");

    // The error names the problem.
    let response = get_with(&fx.server, "/artifacts/..%2Fsecret", &[]).await;
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(body.contains("plain file names"), "{body}");
    let response = get_with(&fx.server, "/artifacts/missing.tar.gz", &[]).await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("no artifact named `missing.tar.gz`"));
    fx.server.stop().await.unwrap();
}

#[tokio::test]
async fn a_file_swapped_for_a_symlink_after_start_is_refused() {
    let fx = fixture().await;
    let dir = fx._tmp.path().join("bundles");
    let path = dir.join("scaleio-ubuntu-14.04-2.0.1.tar.gz");
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(fx._tmp.path().join("outside/secret"), &path).unwrap();
    let response = get_with(&fx.server, BUNDLE, &[]).await;
    assert_eq!(response.status(), 404);
    assert!(!response.text().await.unwrap().contains("TOP-SECRET"));
    fx.server.stop().await.unwrap();
}

#[tokio::test]
async fn a_missing_artifacts_directory_is_a_clear_start_error() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx_artifacts = artifacts(tmp.path().join("nope"), tmp.path().join("exe"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_view_tx, view) = tokio::sync::watch::channel(std::sync::Arc::new(View::default()));
    let (commands, _rx) = tokio::sync::mpsc::channel(1);
    let ctx = scheduler::http::ApiContext {
        view,
        commands,
        artifacts: ctx_artifacts,
        token: None,
        version: "test",
    };
    let error = scheduler::http::serve(listener, ctx, std::future::pending()).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&format!("artifacts directory {}", tmp.path().join("nope").display())),
        "{message}"
    );
    assert!(message.contains("--bundle-dir"), "{message}");
}
