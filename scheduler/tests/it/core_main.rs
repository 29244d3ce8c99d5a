//! The `scaleio-scheduler` binary end to end against the loopback master: it reads the bundle
//! index, serves the executor, deploys, stops on SIGTERM with exit code 0, and a second run
//! resumes from the file store without launching anything again. The password stays out of the
//! logs and the store.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use packaging::bundle::WrittenBundle;
use packaging::catalog::Sha256;

use crate::core_loop_master::LoopMaster;
use crate::core_support::{Agent, preconfigured, settings};
use crate::support::{command, scheduler_binary};

const PASSWORD: &str = "Bin4ry-Secret-9";

fn write_bundles(dir: &Path) {
    let index: Vec<WrittenBundle> = settings(preconfigured())
        .bundles
        .iter()
        .map(|b| {
            let file = b.uri.rsplit('/').next().expect("file").to_owned();
            WrittenBundle {
                platform: b.platform,
                sha256: Sha256::of(file.as_bytes()),
                tar_sha256: Sha256::of(file.as_bytes()),
                size: 1,
                file,
                artifacts: b.artifacts.clone(),
            }
        })
        .collect();
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(dir.join("bundles.json"), serde_json::to_vec(&index).expect("json"))
        .expect("index");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn start(dir: &Path, master: &LoopMaster, port: u16, log: &str) -> Child {
    let mut cmd = command(scheduler_binary(), dir);
    cmd.args(["--master", &format!("http://{}", master.addr)])
        .args(["--mode", "preconfigured"])
        .args([
            "--primary-mdm",
            "10.9.0.1",
            "--secondary-mdm",
            "10.9.0.2",
            "--tiebreaker-mdm",
            "10.9.0.3",
        ])
        .args(["--rest-address", "127.0.0.1", "--hostname", "127.0.0.1"])
        .args(["--rest-port", &port.to_string()])
        .args(["--store", "file:state", "--bundle-dir", "bundles"])
        .args(["--executor-binary", "scaleio-executor", "--password-file", "password"])
        .args(["--log-level", "debug"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).expect("log"));
    cmd.spawn().expect("start scaleio-scheduler")
}

async fn wait_healthy(client: &reqwest::Client, port: u16, child: &mut Child, log: &Path) {
    for _ in 0..300 {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!(
                "the scheduler exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/v1/health")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not healthy within 30 s:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

async fn terminate(dir: &Path, mut child: Child) -> Option<i32> {
    let status =
        command("kill", dir).args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    panic!("the scheduler did not stop within 10 s of SIGTERM");
}

fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        if entry.path().is_file() {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(entry.path()).expect("read")));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_deploys_stops_on_sigterm_and_resumes_from_the_file_store() {
    let master =
        LoopMaster::start(vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0)]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    write_bundles(&dir.join("bundles"));
    std::fs::write(dir.join("scaleio-executor"), b"#!/bin/true\nexecutor bytes").expect("exe");
    std::fs::write(dir.join("password"), format!("{PASSWORD}\n")).expect("password");
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");

    let port = free_port();
    let mut child = start(dir, &master, port, "first.log");
    wait_healthy(&client, port, &mut child, &dir.join("first.log")).await;
    let exe = client
        .get(format!("http://127.0.0.1:{port}/artifacts/scaleio-executor"))
        .send()
        .await
        .expect("artifact");
    assert_eq!(exe.status(), 200);
    assert_eq!(exe.bytes().await.expect("body").as_ref(), b"#!/bin/true\nexecutor bytes");
    assert_eq!(terminate(dir, child).await, Some(0), "SIGTERM is a clean stop");
    let launched = master.with(|m| {
        assert_eq!(m.violations, Vec::<String>::new());
        let uris: Vec<String> = m.executors["agent-1"]
            .command
            .as_ref()
            .expect("command")
            .uris
            .iter()
            .map(|u| u.value.clone())
            .collect();
        assert_eq!(
            uris,
            [
                format!("http://127.0.0.1:{port}/artifacts/scaleio-executor"),
                format!("http://127.0.0.1:{port}/artifacts/scaleio-bundle-2.0.1-2072-ubuntu14-0123abcd.tar.gz"),
            ]
        );
        assert!(
            m.accept_bodies.iter().all(|b| !b.contains(PASSWORD)),
            "the password never travels through Mesos: executors read it on the agent"
        );
        m.launches.len()
    });
    assert!(launched > 20);

    // Second run: same store, nothing to redo.
    let port = free_port();
    let mut child = start(dir, &master, port, "second.log");
    wait_healthy(&client, port, &mut child, &dir.join("second.log")).await;
    assert_eq!(terminate(dir, child).await, Some(0));
    master.with(|m| {
        assert_eq!(
            m.subscribes,
            [None, Some("F-loop-0000".to_owned())],
            "the stored framework id is reused"
        );
        assert_eq!(m.launches.len(), launched, "nothing ran again");
    });
    for text in [all_text(dir), all_text(&dir.join("state"))] {
        let without_password_file = text.replacen(&format!("{PASSWORD}\n"), "", 1);
        assert!(
            !without_password_file.contains(PASSWORD),
            "the password leaked into a log or the store"
        );
    }
    assert!(all_text(&dir.join("state")).contains("\"framework_id\""));
}
