//! `--record FILE`: every call and event on both APIs as one JSON object per line,
//! `{"api":"scheduler"|"executor","dir":"call"|"event","body":{..}}` (+ `"agent"` for executor
//! traffic), with the body exactly as it went over the wire.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

/// Which API a recorded message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Scheduler,
    Executor,
}

/// Which way it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Call,
    Event,
}

/// Appends records to a file; each line is written and flushed whole.
#[derive(Debug)]
pub struct Recorder {
    file: Mutex<std::fs::File>,
}

impl Recorder {
    /// Creates (truncates) `path`, readable by its owner only: the bodies carry what the
    /// frameworks send, secrets in executor environments included.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(Self { file: Mutex::new(file) })
    }

    /// Records `body` (JSON bytes as sent or received; non-JSON bodies are kept as a string).
    pub fn record(&self, api: Api, dir: Dir, agent: Option<&str>, body: &[u8]) {
        let body: serde_json::Value = serde_json::from_slice(&mesos::quote_non_finite(body))
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into()));
        let mut line = serde_json::json!({
            "api": match api { Api::Scheduler => "scheduler", Api::Executor => "executor" },
            "dir": match dir { Dir::Call => "call", Dir::Event => "event" },
            "body": body,
        });
        if let Some(agent) = agent {
            line["agent"] = serde_json::Value::String(agent.to_owned());
        }
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(text.as_bytes()) {
            tracing::warn!(error = %e, "cannot write the record file");
        }
    }
}
