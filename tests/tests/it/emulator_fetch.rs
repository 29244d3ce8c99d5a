//! The emulator's fetcher over HTTP: the cache keeps archives out of the sandbox and downloads
//! once, query strings stay in file names (and block extraction) unless `output_file` names the
//! file, and non-200 answers fail the launch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, StatusCode};
use mesos::scheduler::CallKind;
use mesos::{
    CommandInfo, ExecutorID, ExecutorInfo, Filters, Operation, Resource, TaskID, TaskInfo,
    TaskReason, TaskState, Uri,
};

use crate::emulator_support::{Sched, fast_config, framework_info, start};

const TEST_EXECUTOR: &str = env!("CARGO_BIN_EXE_test-executor");

#[derive(Clone)]
struct Files {
    dir: std::path::PathBuf,
    gets: Arc<AtomicUsize>,
}

async fn serve_file(
    State(f): State<Files>,
    method: Method,
    UrlPath(name): UrlPath<String>,
) -> Result<Vec<u8>, StatusCode> {
    if method == Method::GET {
        f.gets.fetch_add(1, Ordering::SeqCst);
    }
    std::fs::read(f.dir.join(name)).map_err(|_| StatusCode::NOT_FOUND)
}

/// Serves `dir` at `http://127.0.0.1:<port>/files/<name>`, counting GETs.
async fn file_server(dir: &std::path::Path) -> (reqwest::Url, Arc<AtomicUsize>) {
    let gets = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/files/{name}", axum::routing::get(serve_file))
        .with_state(Files { dir: dir.to_owned(), gets: gets.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url =
        reqwest::Url::parse(&format!("http://{}/files/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, gets)
}

async fn bundle(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("src/bundle")).unwrap();
    std::fs::write(dir.join("src/bundle/hello.txt"), "hello\n").unwrap();
    let out = testkit::emulator::process::command("tar")
        .arg("-czf")
        .arg(dir.join("b.tar.gz"))
        .arg("-C")
        .arg(dir.join("src"))
        .arg("bundle")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
}

async fn run_with(sched: &mut Sched, n: usize, uris: Vec<Uri>) -> mesos::TaskStatus {
    let offer = sched.offers().await.remove(0);
    let mut e = ExecutorInfo::new(ExecutorID::new(format!("e{n}")));
    e.command = Some(CommandInfo {
        uris,
        value: Some(TEST_EXECUTOR.into()),
        shell: Some(false),
        arguments: vec!["test-executor".into()],
        ..CommandInfo::default()
    });
    let mut t = TaskInfo::new(
        "t",
        TaskID::new(format!("t{n}")),
        offer.agent_id.clone(),
        vec![Resource::scalar("cpus", 0.1)],
    );
    t.executor = Some(e);
    t.data = Some("run".into());
    let (code, _) = sched
        .call(CallKind::accept(
            vec![offer.id],
            vec![Operation::launch(vec![t])],
            Some(Filters::refuse(0.0)),
        ))
        .await;
    assert_eq!(code, 202);
    loop {
        let s = sched.update_for(&format!("t{n}")).await;
        if let Some(ack) = CallKind::acknowledge(&s) {
            sched.call(ack).await;
        }
        if s.state != TaskState::Starting {
            return s;
        }
    }
}

fn sandbox_of(emu: &testkit::emulator::Emulator, executor: &str) -> std::path::PathBuf {
    let state = emu.state();
    let e = state
        .slaves
        .iter()
        .flat_map(|a| &a.executors)
        .find(|e| e.executor_id == executor)
        .expect("executor listed");
    e.sandbox.clone().into()
}

#[tokio::test]
async fn http_fetching_follows_the_real_fetchers_rules() {
    let dir = tempfile::tempdir().unwrap();
    bundle(dir.path()).await;
    let (base, gets) = file_server(dir.path()).await;
    let emu = start(fast_config(1)).await;
    let mut sched = Sched::subscribe(&emu.master_url(), framework_info("fetch")).await;
    let url = base.join("b.tar.gz").unwrap().to_string();

    // cache: only the extracted tree lands in the sandbox; the second fetch is served from cache.
    let cached = Uri { cache: Some(true), ..Uri::new(url.clone()) };
    assert_eq!(run_with(&mut sched, 1, vec![cached.clone()]).await.state, TaskState::Running);
    let sb = sandbox_of(&emu, "e1");
    assert_eq!(std::fs::read_to_string(sb.join("bundle/hello.txt")).unwrap(), "hello\n");
    assert!(!sb.join("b.tar.gz").exists(), "with cache the archive stays in the cache");
    assert_eq!(run_with(&mut sched, 2, vec![cached]).await.state, TaskState::Running);
    assert!(sandbox_of(&emu, "e2").join("bundle/hello.txt").is_file());
    assert_eq!(gets.load(Ordering::SeqCst), 1, "the same URI is downloaded once");

    // A query string stays in the name and blocks extraction, unless output_file names it.
    let signed = format!("{url}?sig=1");
    assert_eq!(
        run_with(&mut sched, 3, vec![Uri::new(signed.clone())]).await.state,
        TaskState::Running
    );
    let sb = sandbox_of(&emu, "e3");
    assert!(sb.join("b.tar.gz?sig=1").is_file());
    assert!(!sb.join("bundle").exists(), "not extracted");
    let named = Uri { output_file: Some("b.tar.gz".into()), ..Uri::new(signed) };
    assert_eq!(run_with(&mut sched, 4, vec![named]).await.state, TaskState::Running);
    assert!(sandbox_of(&emu, "e4").join("bundle/hello.txt").is_file());

    // 404: the launch fails.
    let s =
        run_with(&mut sched, 5, vec![Uri::new(base.join("missing.tar.gz").unwrap().to_string())])
            .await;
    assert_eq!((s.state, s.reason), (TaskState::Failed, Some(TaskReason::ContainerLaunchFailed)));
}
