//! `test-executor`: a tiny custom executor for the emulator's tests, built on the `mesos` crate's
//! executor connection. It writes its environment to `env.json` in its sandbox, and acts on each
//! task's `data` (UTF-8): `run` (TASK_RUNNING, then waits), `finish` (TASK_RUNNING then
//! TASK_FINISHED), `fail` (TASK_FAILED), `exit:N` (TASK_RUNNING, then the process exits with N),
//! `reboot` (TASK_RUNNING, then runs `reboot` from PATH). KILL answers TASK_KILLED, a MESSAGE is
//! echoed back as `echo:<data>`, SHUTDOWN kills every running task and exits 0.

use std::collections::BTreeSet;

use mesos::executor::Event;
use mesos::executor::connection::{Config, Notice, connect};
use mesos::{TaskState, TaskStatus};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let _ = std::fs::write("env.json", serde_json::to_vec_pretty(&env).unwrap_or_default());
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("test-executor: {e}");
            std::process::exit(2);
        }
    };
    let (handle, mut notices) = match connect(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("test-executor: {e}");
            std::process::exit(2);
        }
    };
    let mut running: BTreeSet<String> = BTreeSet::new();
    while let Some(notice) = notices.recv().await {
        let event = match notice {
            Notice::Event(e) => e,
            Notice::Disconnected { reason, .. } => {
                eprintln!("test-executor: disconnected: {reason}");
                continue;
            }
            Notice::Stopped(reason) => {
                eprintln!("test-executor: stopped: {reason}");
                std::process::exit(0);
            }
        };
        match event {
            Event::Launch(l) => {
                let task = l.task.task_id.clone();
                let data = l
                    .task
                    .data
                    .as_ref()
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .unwrap_or_default();
                let update = |state| TaskStatus::new(task.clone(), state);
                match data.as_str() {
                    "fail" => {
                        let _ = handle.update(update(TaskState::Failed)).await;
                    }
                    "finish" => {
                        let _ = handle.update(update(TaskState::Running)).await;
                        let _ = handle.update(update(TaskState::Finished)).await;
                    }
                    other => {
                        let _ = handle.update(update(TaskState::Running)).await;
                        running.insert(task.value.clone());
                        if let Some(code) = other.strip_prefix("exit:") {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            std::process::exit(code.parse().unwrap_or(1));
                        }
                        if other == "reboot" {
                            let _ = testkit::emulator::process::command("reboot").status().await;
                        }
                    }
                }
            }
            Event::Kill(k) => {
                running.remove(&k.task_id.value);
                let _ = handle.update(TaskStatus::new(k.task_id, TaskState::Killed)).await;
            }
            Event::Message(m) => {
                let mut data = b"echo:".to_vec();
                data.extend_from_slice(&m.data);
                let _ = handle.message(mesos::Bytes(data)).await;
            }
            Event::Shutdown => {
                for t in std::mem::take(&mut running) {
                    let _ = handle
                        .update(TaskStatus::new(mesos::TaskID::new(t), TaskState::Killed))
                        .await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                std::process::exit(0);
            }
            _ => {}
        }
    }
}
