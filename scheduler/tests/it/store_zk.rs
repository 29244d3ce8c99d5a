//! The ZooKeeper store (`--store zk://HOSTS/PATH`) against a real ZooKeeper started by the test
//! on a loopback port: compare-and-set, parents, racing schedulers, a ZooKeeper restart, and a
//! session that expires behind a network cut.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scheduler::config::StoreSpec;
use scheduler::store::{Store, StoreError, StoreOptions, Version, Versioned};

use crate::support::command;

/// A ZooKeeper server (Debian package `zookeeper`) in a temp dir; killed on drop.
struct ZooKeeper {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl ZooKeeper {
    fn start(dir: &Path) -> ZooKeeper {
        let port = free_port();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // tickTime 500 ms lets sessions be as short as 1 s.
        std::fs::write(
            dir.join("zoo.cfg"),
            format!(
                "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut zk = ZooKeeper { dir: dir.to_path_buf(), port, child: None };
        zk.restart();
        zk
    }

    fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.join("zookeeper.log")).unwrap();
        let child = command("java", &self.dir)
            .args([
                "-Xmx128m",
                "-XX:+UseSerialGC",
                "-cp",
                "/usr/share/java/zookeeper.jar:/usr/share/java/*",
                "org.apache.zookeeper.server.ZooKeeperServerMain",
            ])
            .arg(self.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start ZooKeeper (Debian package `zookeeper`, needs java)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "ZooKeeper did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: an outage, not a clean shutdown.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn hosts(&self) -> Vec<String> {
        vec![format!("127.0.0.1:{}", self.port)]
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const FAST: StoreOptions =
    StoreOptions { session_timeout: Duration::from_secs(2), deadline: Duration::from_secs(20) };

async fn open(hosts: Vec<String>, path: &str) -> Store {
    Store::open_with(&StoreSpec::ZooKeeper { hosts, path: path.to_owned() }, FAST).await.unwrap()
}

fn sessions(store: &Store) -> u64 {
    match store {
        Store::ZooKeeper(zk) => zk.sessions(),
        Store::File(_) => unreachable!("a ZooKeeper store"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_set_on_a_znode_with_parents_and_racing_schedulers() {
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(tmp.path());
    let store = open(zk.hosts(), "/scaleio/prod/state").await;
    assert_eq!(store.to_string(), format!("zk://127.0.0.1:{}/scaleio/prod/state", zk.port));
    assert_eq!(store.load().await.unwrap(), None);
    assert_eq!(store.save(None, b"first").await.unwrap(), Version(1));
    assert_eq!(store.save(Some(Version(1)), b"second").await.unwrap(), Version(2));
    let error = store.save(Some(Version(1)), b"stale").await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Conflict { expected: Some(Version(1)), found: Some(Version(2)), .. }
        ),
        "{error:?}"
    );
    let error = store.save(None, b"again").await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { expected: None, found: Some(Version(2)), .. }));
    let error =
        open(zk.hosts(), "/scaleio/other").await.save(Some(Version(3)), b"x").await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { found: None, .. }), "{error:?}");

    // ZooKeeper's request limit is refused up front, naming the sizes.
    let error = store.save(Some(Version(2)), &vec![0u8; 1_200_000]).await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("the state is 1200000 bytes, above ZooKeeper's limit of 1000000 bytes"),
        "{error}"
    );

    // A second scheduler (its own session) sees the same state.
    let other = Arc::new(open(zk.hosts(), "/scaleio/prod/state").await);
    assert_eq!(
        other.load().await.unwrap(),
        Some(Versioned { version: Version(2), data: b"second".to_vec() })
    );

    // Both race from the same version: exactly one wins each round.
    let store = Arc::new(store);
    for round in 0..10u64 {
        let base = store.load().await.unwrap().unwrap().version;
        let race = |s: Arc<Store>, name: &'static str| {
            tokio::spawn(
                async move { s.save(Some(base), format!("{name}-{round}").as_bytes()).await },
            )
        };
        let (a, b) = (race(store.clone(), "a"), race(other.clone(), "b"));
        let results = [a.await.unwrap(), b.await.unwrap()];
        let wins: Vec<&Version> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins, [&Version(base.0 + 1)], "round {round}: {results:?}");
        let winner = if results[0].is_ok() { "a" } else { "b" };
        assert_eq!(
            store.load().await.unwrap().unwrap().data,
            format!("{winner}-{round}").as_bytes()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_during_a_zookeeper_outage_completes_after_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut zk = ZooKeeper::start(tmp.path());
    let store = Arc::new(open(zk.hosts(), "/scaleio").await);
    assert_eq!(store.save(None, b"before").await.unwrap(), Version(1));

    zk.kill();
    let pending = {
        let store = store.clone();
        tokio::spawn(async move { store.save(Some(Version(1)), b"during").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!pending.is_finished(), "the save waits for ZooKeeper instead of failing at once");
    zk.restart();
    assert_eq!(pending.await.unwrap().unwrap(), Version(2));

    // The data survived on disk; a fresh scheduler and a stale writer see the truth.
    let fresh = open(zk.hosts(), "/scaleio").await;
    assert_eq!(
        fresh.load().await.unwrap(),
        Some(Versioned { version: Version(2), data: b"during".to_vec() })
    );
    assert!(matches!(
        fresh.save(Some(Version(1)), b"stale").await,
        Err(StoreError::Conflict { found: Some(Version(2)), .. })
    ));
    assert_eq!(store.save(Some(Version(2)), b"after").await.unwrap(), Version(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_gives_up_with_a_clear_error_when_zookeeper_stays_away() {
    let port = free_port();
    let options =
        StoreOptions { session_timeout: Duration::from_secs(2), deadline: Duration::from_secs(2) };
    let spec = StoreSpec::ZooKeeper {
        hosts: vec![format!("127.0.0.1:{port}")],
        path: "/scaleio".to_owned(),
    };
    let error = Store::open_with(&spec, options).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message
            .starts_with(&format!("store zk://127.0.0.1:{port}/scaleio: create the parent znodes")),
        "{message}"
    );
    assert!(
        message.ends_with("create the parent znodes failed: no available hosts\nhint: check that ZooKeeper is running and reachable from this host"),
        "{message}"
    );
}

/// A TCP proxy that can cut every connection and refuse new ones: a network partition between the
/// scheduler and ZooKeeper while ZooKeeper keeps running (and expires the session).
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = {
            let (cut, connections) = (cut.clone(), connections.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else { return };
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                        {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().unwrap().push(task);
                }
            })
        };
        Proxy { addr, cut, connections, accept }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_session_expiry_the_store_reconnects_and_compare_and_set_stays_correct() {
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(tmp.path());
    let proxy = Proxy::start(zk.port).await;
    let behind = open(vec![proxy.addr.to_string()], "/scaleio/state").await;
    let direct = open(zk.hosts(), "/scaleio/state").await;
    assert_eq!(behind.save(None, b"one").await.unwrap(), Version(1));
    assert_eq!(sessions(&behind), 1);

    // Partition for three session timeouts: ZooKeeper expires the session meanwhile, and another
    // scheduler writes.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(direct.save(Some(Version(1)), b"two").await.unwrap(), Version(2));
    proxy.heal();

    // The old session is dead; the store starts a new one, and its stale CAS still loses.
    let error = behind.save(Some(Version(1)), b"stale").await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { found: Some(Version(2)), .. }), "{error:?}");
    assert_eq!(sessions(&behind), 2, "a new session after expiry");
    assert_eq!(
        behind.load().await.unwrap(),
        Some(Versioned { version: Version(2), data: b"two".to_vec() })
    );
    assert_eq!(behind.save(Some(Version(2)), b"three").await.unwrap(), Version(3));
    assert_eq!(direct.load().await.unwrap().unwrap().data, b"three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_call_gave_up_is_settled_by_the_next_save_not_taken_for_a_rival() {
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(tmp.path());
    let proxy = Proxy::start(zk.port).await;
    // A session long enough to outlive the cut: the client reconnects with the same session.
    let options =
        StoreOptions { session_timeout: Duration::from_secs(8), deadline: Duration::from_secs(20) };
    let spec = StoreSpec::ZooKeeper {
        hosts: vec![proxy.addr.to_string()],
        path: "/scaleio/state".to_owned(),
    };
    let store = Store::open_with(&spec, options).await.unwrap();
    let Store::ZooKeeper(zk_store) = &store else { unreachable!("a ZooKeeper store") };
    assert_eq!(store.save(None, b"one").await.unwrap(), Version(1));
    assert_eq!(store.trouble(), None, "connected and the last write succeeded");

    // The loop's short save gives up while the connection is cut; its request stays queued in
    // the session and reaches ZooKeeper once the connection is back. (Wait until the client
    // knows it is disconnected: a request written into the dying socket would be lost instead.)
    proxy.cut();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match store.trouble() {
            Some(t) if t.ends_with("the connection to ZooKeeper is lost; reconnecting") => break,
            other => assert!(std::time::Instant::now() < deadline, "still connected: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let error = zk_store.save_within(Some(Version(1)), b"two", Duration::from_secs(1)).await;
    assert!(
        matches!(error, Err(StoreError::Unavailable { .. } | StoreError::Timeout { .. })),
        "{error:?}"
    );
    let trouble = store.trouble().expect("the store knows it is cut off");
    assert!(trouble.starts_with(&format!("store {store}: ZooKeeper unreachable")), "{trouble}");
    assert!(trouble.contains("nothing is launched until the state is saved again"), "{trouble}");
    proxy.heal();

    // The next save (same expected version, newer data) finds the first write landed and builds
    // on it, instead of reporting another scheduler.
    assert_eq!(store.save(Some(Version(1)), b"three").await.unwrap(), Version(3));
    assert_eq!(
        store.load().await.unwrap(),
        Some(Versioned { version: Version(3), data: b"three".to_vec() })
    );
    assert_eq!(sessions(&store), 1, "the session survived the short cut");
    assert_eq!(store.trouble(), None);
    // A real rival still loses, and is told so.
    let direct = open(zk.hosts(), "/scaleio/state").await;
    assert_eq!(direct.save(Some(Version(3)), b"rival").await.unwrap(), Version(4));
    assert!(matches!(
        store.save(Some(Version(3)), b"mine").await,
        Err(StoreError::Conflict { found: Some(Version(4)), .. })
    ));
}
