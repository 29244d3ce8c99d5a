//! The executor reaper: executors run in their own process groups, so when the process holding
//! the emulator is SIGKILLed (a test binary killed by a timeout, Ctrl-C on the demo's parent)
//! nothing would stop them until their recovery timeout (15 minutes). The emulator therefore
//! starts one small helper, `mini-mesos --reap-executors`, in a process group of its own, and
//! writes it `+<pgid>` when an executor starts and `-<pgid>` when it was reaped. The helper's
//! stdin is the only copy of that pipe's read end; when the emulator's process dies, however
//! it dies, the kernel closes the write end, the helper reads end-of-file and SIGKILLs every
//! group still listed. An orderly shutdown writes `exit` first, so nothing is killed twice.
//!
//! Why not `PR_SET_PDEATHSIG`: it fires when the *thread* that spawned the child exits, and
//! executors are spawned from tokio worker threads, which come and go (`block_in_place`, runtime
//! shutdown of one test while another runs); and it needs `unsafe` in `pre_exec`.

use std::collections::BTreeSet;
use std::io::{BufRead as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::Mutex;

/// The flag that turns `mini-mesos` into the reaper.
pub const REAPER_FLAG: &str = "--reap-executors";

/// The emulator's end: a pipe to the helper process.
#[derive(Debug)]
pub struct Reaper {
    pipe: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
}

impl Reaper {
    /// Starts the helper (the `mini-mesos` binary beside the current executable); `None`, with a
    /// warning, if it is not built: executors then outlive a killed emulator as before.
    pub fn start() -> Option<Reaper> {
        let bin = match crate::bins::workspace_binary("mini-mesos") {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no executor reaper: executors outlive a killed emulator until their recovery timeout");
                return None;
            }
        };
        let mut cmd = super::process::command(&bin);
        let std = cmd.as_std_mut();
        std.arg(REAPER_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0);
        match std.spawn() {
            Ok(mut child) => {
                let pipe = child.stdin.take();
                Some(Reaper { pipe: Mutex::new(pipe), child: Mutex::new(child) })
            }
            Err(e) => {
                tracing::warn!(error = %e, bin = %bin.display(), "cannot start the executor reaper");
                None
            }
        }
    }

    fn send(&self, line: &str) {
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pipe.as_mut()
            && p.write_all(line.as_bytes()).and_then(|()| p.flush()).is_err()
        {
            tracing::warn!("the executor reaper is gone");
            *pipe = None;
        }
    }

    /// An executor started as the leader of process group `pgid`.
    pub fn watch(&self, pgid: u32) {
        self.send(&format!("+{pgid}\n"));
    }

    /// The executor leading `pgid` was reaped: its group id may be reused.
    pub fn unwatch(&self, pgid: u32) {
        self.send(&format!("-{pgid}\n"));
    }

    /// Orderly shutdown: the helper exits without killing anything.
    pub fn finish(&self) {
        self.send("exit\n");
        self.pipe.lock().unwrap_or_else(|e| e.into_inner()).take();
        let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).wait();
    }
}

/// The helper's loop: reads `+pgid`/`-pgid` lines from stdin; at `exit` returns, at end of file
/// (the emulator died) SIGKILLs every group still listed.
pub fn run_reaper() {
    let mut groups: BTreeSet<u32> = BTreeSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line == "exit" {
            return;
        }
        let (op, pgid) = line.split_at(line.len().min(1));
        match (op, pgid.parse::<u32>()) {
            ("+", Ok(p)) if p > 1 => {
                groups.insert(p);
            }
            ("-", Ok(p)) => {
                groups.remove(&p);
            }
            _ => eprintln!("mini-mesos {REAPER_FLAG}: ignoring the line {line:?}"),
        }
    }
    let pids: Vec<u32> = groups.into_iter().collect();
    super::process::kill_groups(&pids);
}
