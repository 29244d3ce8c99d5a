//! The ZooKeeper store (`--store zk://HOSTS/PATH`) against a real ZooKeeper started by the test
//! on a loopback port: compare-and-set, parents, racing schedulers, a ZooKeeper restart, a
//! session that expires behind a network cut, and states larger than a znode (written in parts).

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
    settled_by_the_next_save(b"two".to_vec(), b"three".to_vec(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_parts_whose_call_gave_up_is_settled_by_the_next_save() {
    // The parts are written one after another before the head, so the write gives up before it
    // sends its head: it does not land, and what it left is deleted by the next save.
    let (two, three) = (incompressible(2_200_000, 31), incompressible(2_300_000, 32));
    settled_by_the_next_save(two, three, false).await;
}

/// The loop's short save of `two` gives up behind a network cut; once the connection is back the
/// next save, of `three` from the same expected version, builds on it if it landed (`landed`)
/// and is not taken for a rival's either way.
async fn settled_by_the_next_save(two: Vec<u8>, three: Vec<u8>, landed: bool) {
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
    let error = zk_store.save_within(Some(Version(1)), &two, Duration::from_secs(1)).await;
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
    let made = Version(if landed { 3 } else { 2 });
    assert_eq!(store.save(Some(Version(1)), &three).await.unwrap(), made);
    if three.len() > 1_000_000 {
        // Only the state's own parts are left: not those of the write that gave up.
        let parts = raw(&zk).await.list_children("/scaleio/state.parts").await.unwrap();
        let generations: std::collections::BTreeSet<_> =
            parts.iter().map(|p| p.rsplit_once('.').unwrap().0).collect();
        assert_eq!(generations.len(), 1, "{parts:?}");
        assert!(parts[0].starts_with(&format!("{:010}-", made.0)), "{parts:?}");
    }
    assert!(
        store.load().await.unwrap() == Some(Versioned { version: made, data: three }),
        "the third state reads back"
    );
    assert_eq!(sessions(&store), 1, "the session survived the short cut");
    assert_eq!(store.trouble(), None);
    // A real rival still loses, and is told so.
    let direct = open(zk.hosts(), "/scaleio/state").await;
    let rival = Version(made.0 + 1);
    assert_eq!(direct.save(Some(made), b"rival").await.unwrap(), rival);
    let error = store.save(Some(made), b"mine").await;
    assert!(matches!(error, Err(StoreError::Conflict { found: Some(v), .. }) if v == rival));
}

/// A raw ZooKeeper client, to look at and damage what the store wrote.
async fn raw(zk: &ZooKeeper) -> zookeeper_client::Client {
    zookeeper_client::Client::connect(&zk.hosts().join(",")).await.unwrap()
}

/// Bytes that gzip cannot shrink much: hex of a xorshift stream, in a JSON string.
fn incompressible(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = b"{\"noise\":\"".to_vec();
    while out.len() < len - 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(format!("{x:016x}").as_bytes());
    }
    out.truncate(len - 2);
    out.extend_from_slice(b"\"}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1000_agent_plan_survives_zookeeper_in_parts() {
    use scheduler::core::State;
    use scheduler::core::sim::{self, Sim};

    // A full deployment of 1,000 agents: its persisted document is about 3 MiB, three times what
    // one znode may hold.
    let settings = scheduler::core::Settings {
        no_reboot: true,
        ..sim::settings(scaleio::topology::Mode::Full)
    };
    let agents = (1..=1000).map(|i| sim::Agent::new(i, 4.0, 8192.0)).collect();
    let mut cluster = Sim::new(settings.clone(), agents);
    cluster.keep_history = false;
    assert!(cluster.run(100), "the plan completes");
    let document = cluster.state.persisted_json();
    assert!(document.len() > 2_500_000, "{} bytes", document.len());

    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(tmp.path());
    let store = open(zk.hosts(), "/scaleio/state").await;
    assert_eq!(store.save(None, &document).await.unwrap(), Version(1));

    // A scheduler started elsewhere reads it back and resumes the same state.
    let other = open(zk.hosts(), "/scaleio/state").await;
    let loaded = other.load().await.unwrap().expect("a state");
    assert_eq!(loaded.version, Version(1));
    assert!(loaded.data == document, "the document read back is the one written");
    let resumed = State::restore(settings, serde_json::from_slice(&loaded.data).unwrap());
    assert!(resumed.plan().is_complete());
    assert!(resumed.persisted_json() == document);

    // What ZooKeeper holds: a small head in the state's znode, the compressed parts beside it.
    let client = raw(&zk).await;
    let (head, _) = client.get_data("/scaleio/state").await.unwrap();
    assert!(head.starts_with(b"scaleio-store-parts/1\n"), "{}", String::from_utf8_lossy(&head));
    assert!(head.len() < 1000, "{} bytes", head.len());
    let parts = client.list_children("/scaleio/state.parts").await.unwrap();
    assert!(!parts.is_empty() && parts.iter().all(|p| p.starts_with("0000000001-")), "{parts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_in_parts_keep_compare_and_set_and_leave_no_stale_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(tmp.path());
    let client = raw(&zk).await;
    let store = open(zk.hosts(), "/scaleio/state").await;
    let rival = open(zk.hosts(), "/scaleio/state").await;
    let generations = || async {
        let mut names: Vec<String> = client
            .list_children("/scaleio/state.parts")
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.rsplit_once('.').unwrap().0.to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    };

    // Small states stay plain JSON in the state's znode (readable with zkCli.sh get).
    assert_eq!(store.save(None, b"{\"small\":1}").await.unwrap(), Version(1));
    assert_eq!(client.get_data("/scaleio/state").await.unwrap().0, b"{\"small\":1}");

    // 2.5 MB that compresses to more than one part.
    let big = incompressible(2_500_000, 1);
    assert_eq!(store.save(Some(Version(1)), &big).await.unwrap(), Version(2));
    let parts = client.list_children("/scaleio/state.parts").await.unwrap();
    assert!(parts.len() >= 2, "{parts:?}");
    assert_eq!(rival.load().await.unwrap(), Some(Versioned { version: Version(2), data: big }));

    // A rival behind by one version loses, and its parts go with its write.
    let before = generations().await;
    let error = rival.save(Some(Version(1)), &incompressible(2_500_000, 2)).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { found: Some(Version(2)), .. }), "{error:?}");
    assert_eq!(generations().await, before, "the loser's parts are deleted");

    // The next big state replaces the parts of the one before.
    let bigger = incompressible(3_500_000, 3);
    assert_eq!(store.save(Some(Version(2)), &bigger).await.unwrap(), Version(3));
    let now = generations().await;
    assert!(now.len() == 1 && now[0].starts_with("0000000003-"), "{now:?}");
    assert_eq!(rival.load().await.unwrap().unwrap().data, bigger);

    // Back to small: the state is plain again and no part is left.
    assert_eq!(store.save(Some(Version(3)), b"{\"small\":2}").await.unwrap(), Version(4));
    assert_eq!(generations().await, Vec::<String>::new());
    assert_eq!(rival.load().await.unwrap().unwrap().data, b"{\"small\":2}");

    // Racing big writes from the same version: exactly one wins, and its state reads back whole.
    let (store, rival) = (Arc::new(store), Arc::new(rival));
    for round in 0..3u64 {
        let base = store.load().await.unwrap().unwrap().version;
        let race = |s: Arc<Store>, seed: u64| {
            tokio::spawn(async move {
                let data = incompressible(1_500_000, seed);
                s.save(Some(base), &data).await.map(|v| (v, data))
            })
        };
        let (a, b) = (race(store.clone(), 10 + round), race(rival.clone(), 20 + round));
        let results = [a.await.unwrap(), b.await.unwrap()];
        let wins: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins.len(), 1, "round {round}");
        assert_eq!(wins[0].0, Version(base.0 + 1));
        assert!(store.load().await.unwrap().unwrap().data == wins[0].1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_parts_are_reported_not_taken_for_a_state() {
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(tmp.path());
    let client = raw(&zk).await;
    let store = open(zk.hosts(), "/scaleio/state").await;
    assert_eq!(store.save(None, &incompressible(2_200_000, 5)).await.unwrap(), Version(1));

    // A part missing under the head that names it.
    let parts = client.list_children("/scaleio/state.parts").await.unwrap();
    let victim = parts.iter().find(|p| p.ends_with(".1")).expect("a second part");
    let (kept, _) = client.get_data(&format!("/scaleio/state.parts/{victim}")).await.unwrap();
    client.delete(&format!("/scaleio/state.parts/{victim}"), None).await.unwrap();
    let error = store.load().await.unwrap_err().to_string();
    assert!(error.starts_with("store zk://"), "{error}");
    assert!(
        error.contains(&format!("/scaleio/state is damaged: its head (version 1) names the part /scaleio/state.parts/{victim}, which does not exist")),
        "{error}"
    );
    assert!(error.contains("hint: restore it from a backup"), "{error}");

    // A part with other bytes than were written.
    let mut changed = kept.clone();
    changed[100] ^= 0x55;
    client
        .create(
            &format!("/scaleio/state.parts/{victim}"),
            &changed,
            &zookeeper_client::CreateMode::Persistent
                .with_acls(zookeeper_client::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let error = store.load().await.unwrap_err().to_string();
    assert!(error.contains("is damaged: the parts of generation 0000000001-"), "{error}");

    // A head that does not parse.
    client.set_data("/scaleio/state", b"scaleio-store-parts/1\n{oops", None).await.unwrap();
    let error = store.load().await.unwrap_err().to_string();
    assert!(error.contains("is damaged: its head does not parse"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_beyond_64_parts_is_refused_up_front_naming_the_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(tmp.path());
    let store = open(zk.hosts(), "/scaleio/state").await;
    // Noise repeated farther apart than gzip's 32 KiB window still does not compress.
    let huge: Vec<u8> = incompressible(2_000_000, 9).repeat(75);
    let error = store.save(None, &huge).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::TooLarge { size: 150_000_000, .. }), "{message}");
    assert!(message.contains("above the 64000000 compressed bytes this store writes"), "{message}");
    assert!(message.contains("hint: "), "{message}");
    assert_eq!(store.load().await.unwrap(), None, "nothing written");
    let client = raw(&zk).await;
    assert_eq!(
        client.list_children("/scaleio/state.parts").await.unwrap_or_default(),
        Vec::<String>::new()
    );
}
