//! The `Host` steps run against: argv-only subprocesses built by one constructor (explicit
//! environment, timeout, captured output, the whole process group killed on timeout or when the
//! step is dropped), file reads and atomic writes under a root directory, and the transcript of
//! everything done (secrets as `***`).
//!
//! The root is `/` in production. A simulated host (the emulator's, or a test's) has another
//! root, the stand-in tools first on `PATH`, and gets [`SIMULATED_HOST_ENV`] passed to its
//! commands; there an absolute program path (`/opt/emc/scaleio/sdc/bin/drv_cfg`) runs the file
//! under the root if it exists, else the tool of that name on `PATH`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scaleio::Secret;
use scaleio::scli::ScliCommand;
use tokio::io::AsyncReadExt as _;

/// Environment variable naming the host root (also `--host-root`).
pub const HOST_ROOT_ENV: &str = "SCALEIO_HOST_ROOT";
/// Variables passed from the executor's environment to commands on a simulated host (the
/// stand-ins read them). Nothing else of the executor's environment reaches a command.
pub const SIMULATED_HOST_ENV: &[&str] = &[HOST_ROOT_ENV, "SCALEIO_STANDIN_STATE"];
/// `PATH` of commands on a real host.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Default command timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Lines of output kept as a command's tail.
pub const TAIL_LINES: usize = 20;

/// One argument or environment value: plain, or a secret shown as `***`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Shown as is.
    Plain(String),
    /// Shown as `***`.
    Secret(Secret),
}

impl Value {
    fn shown(&self) -> &str {
        match self {
            Value::Plain(s) => s,
            Value::Secret(_) => "***",
        }
    }

    fn real(&self) -> &str {
        match self {
            Value::Plain(s) => s,
            Value::Secret(s) => s.expose(),
        }
    }
}

/// A command to run: program, arguments and extra environment, never a shell string.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: String,
    args: Vec<Value>,
    env: Vec<(String, Value)>,
    timeout: Duration,
}

impl Cmd {
    /// `program` with no arguments.
    pub fn new(program: &str) -> Self {
        Self {
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds plain arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args.extend(args.into_iter().map(|a| Value::Plain(a.as_ref().to_owned())));
        self
    }

    /// Adds one plain argument.
    pub fn arg(self, a: impl AsRef<str>) -> Self {
        self.args([a])
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: &str, value: Value) -> Self {
        self.env.push((name.to_owned(), value));
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `scli`/`drv_cfg` invocation, its secret arguments kept secret.
    pub fn scli(c: &ScliCommand) -> Self {
        let (real, shown) = (c.argv(), c.redacted());
        let mut cmd = Cmd::new(&real[0]);
        for (r, s) in real.iter().zip(&shown).skip(1) {
            cmd.args.push(if r == s {
                Value::Plain(r.clone())
            } else {
                Value::Secret(Secret::new(r.clone()))
            });
        }
        cmd
    }

    /// The argv as transcripts show it (secrets as `***`).
    pub fn shown(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().map(|a| a.shown().to_owned()))
            .collect()
    }

    fn secrets(&self) -> Vec<&str> {
        self.args
            .iter()
            .chain(self.env.iter().map(|(_, v)| v))
            .filter_map(|v| match v {
                Value::Secret(s) if !s.expose().is_empty() => Some(s.expose()),
                _ => None,
            })
            .collect()
    }
}

/// What a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdOutput {
    /// The argv shown (secrets as `***`).
    pub argv: Vec<String>,
    /// Exit code; `None` when killed by a signal or timed out.
    pub exit_code: Option<i32>,
    /// Standard output (secrets scrubbed).
    pub stdout: String,
    /// Standard error (secrets scrubbed).
    pub stderr: String,
    /// Set when the command was killed after its timeout.
    pub timed_out: bool,
}

impl CmdOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// stdout then stderr.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The last [`TAIL_LINES`] lines of the combined output.
    pub fn tail(&self) -> String {
        tail(&self.combined(), TAIL_LINES)
    }
}

/// The last `n` non-empty lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One transcript entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A command ran.
    Command {
        /// Extra environment (`NAME=value`, secrets as `***`).
        env: Vec<String>,
        /// Argv (secrets as `***`).
        argv: Vec<String>,
        /// Exit code (`None`: killed).
        exit_code: Option<i32>,
        /// Output tail.
        output_tail: String,
    },
    /// A file was written.
    Write {
        /// Path on the host (as seen from the root).
        path: String,
        /// Mode.
        mode: u32,
    },
    /// A directory was created.
    Mkdir {
        /// Path on the host (as seen from the root).
        path: String,
        /// Mode.
        mode: u32,
    },
    /// A file was removed.
    Remove {
        /// Path on the host (as seen from the root).
        path: String,
    },
    /// A note (a probe's conclusion, a skipped action).
    Note {
        /// Text.
        text: String,
    },
}

/// Everything a step did, in order.
#[derive(Clone, Debug, Default)]
pub struct Transcript(Arc<Mutex<Vec<Entry>>>);

impl Transcript {
    fn push(&self, e: Entry) {
        self.0.lock().expect("transcript lock is never poisoned").push(e);
    }

    /// The entries so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.0.lock().expect("transcript lock is never poisoned").clone()
    }

    /// Human-readable text, one line per entry (commands prefixed with `$`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in self.entries() {
            match e {
                Entry::Command { env, argv, exit_code, .. } => {
                    out.push_str("$ ");
                    for v in env {
                        out.push_str(&v);
                        out.push(' ');
                    }
                    out.push_str(&argv.join(" "));
                    match exit_code {
                        Some(0) => {}
                        Some(c) => out.push_str(&format!("  => exit {c}")),
                        None => out.push_str("  => killed"),
                    }
                    out.push('\n');
                }
                Entry::Write { path, mode } => {
                    out.push_str(&format!("write {path} ({mode:04o})\n"))
                }
                Entry::Mkdir { path, mode } => {
                    out.push_str(&format!("mkdir {path} ({mode:04o})\n"))
                }
                Entry::Remove { path } => out.push_str(&format!("remove {path}\n")),
                Entry::Note { text } => out.push_str(&format!("# {text}\n")),
            }
        }
        out
    }

    /// The JSON of all entries.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.entries()).expect("transcript entries serialise")
    }
}

/// How a host is reached.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// `/` in production.
    pub root: PathBuf,
    /// `PATH` for commands.
    pub path: OsString,
    /// Variables passed through to commands (see [`SIMULATED_HOST_ENV`]).
    pub pass_env: Vec<(String, OsString)>,
}

impl HostConfig {
    /// The configuration for `root`, `PATH` and simulated-host variables taken from `lookup`
    /// (the executor's environment) when the root is not `/`.
    pub fn for_root(root: PathBuf, lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let simulated = root != Path::new("/");
        let path = if simulated {
            lookup("PATH").unwrap_or_else(|| DEFAULT_PATH.into())
        } else {
            DEFAULT_PATH.into()
        };
        let mut pass_env = Vec::new();
        if simulated {
            pass_env.push((HOST_ROOT_ENV.to_owned(), root.clone().into_os_string()));
            for name in SIMULATED_HOST_ENV.iter().filter(|n| **n != HOST_ROOT_ENV) {
                if let Some(v) = lookup(name) {
                    pass_env.push(((*name).to_owned(), v));
                }
            }
        }
        Self { root, path, pass_env }
    }
}

/// Why a host operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot start `{program}`")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path}")]
    File {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The host: root, command environment, transcript, and the kill switch of the running step.
#[derive(Clone, Debug)]
pub struct Host {
    config: Arc<HostConfig>,
    transcript: Transcript,
}

impl Host {
    /// A host with an empty transcript.
    pub fn new(config: HostConfig) -> Self {
        Self { config: Arc::new(config), transcript: Transcript::default() }
    }

    /// The same host with a fresh transcript (one per step).
    pub fn fresh(&self) -> Self {
        Self { config: self.config.clone(), transcript: Transcript::default() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.config.root
    }

    /// Whether this is a simulated host (root other than `/`).
    pub fn is_simulated(&self) -> bool {
        self.config.root != Path::new("/")
    }

    /// The transcript.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Adds a note to the transcript.
    pub fn note(&self, text: impl Into<String>) {
        self.transcript.push(Entry::Note { text: text.into() });
    }

    /// `path` (absolute, as on the host) under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.config.root.join(path.trim_start_matches('/'))
    }

    fn program(&self, program: &str) -> String {
        if self.is_simulated() && program.starts_with('/') {
            let under = self.path(program);
            if under.is_file() {
                return under.display().to_string();
            }
            return Path::new(program)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| program.to_owned());
        }
        program.to_owned()
    }

    /// The one process constructor of this crate: argv only, environment cleared and set
    /// explicitly (`PATH`, `LC_ALL=C`, `DEBIAN_FRONTEND=noninteractive`, the simulated-host
    /// variables, then the command's own), working directory `/`, stdin closed, output piped,
    /// a process group of its own (so a kill reaches its children).
    #[expect(clippy::disallowed_methods, reason = "the executor's one subprocess constructor")]
    fn process(&self, program: &str) -> std::process::Command {
        use std::os::unix::process::CommandExt as _;
        let mut c = std::process::Command::new(program);
        c.env_clear()
            .env("PATH", &self.config.path)
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
        for (k, v) in &self.config.pass_env {
            c.env(k, v);
        }
        c
    }

    /// Runs `cmd` to completion, its timeout, or until this future is dropped (then its process
    /// group is killed). Records it in the transcript. Fails only if it cannot start.
    pub async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, HostError> {
        let program = self.program(&cmd.program);
        let mut std_cmd = self.process(&program);
        for a in &cmd.args {
            std_cmd.arg(a.real());
        }
        for (k, v) in &cmd.env {
            std_cmd.env(k, v.real());
        }
        let mut child = tokio::process::Command::from(std_cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HostError::Spawn { program: cmd.program.clone(), source })?;
        let guard = GroupGuard { pid: child.id(), host: self.clone() };
        let out_buf = Arc::new(Mutex::new(Vec::new()));
        let err_buf = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            tokio::spawn(pump(child.stdout.take().expect("stdout is piped"), out_buf.clone())),
            tokio::spawn(pump(child.stderr.take().expect("stderr is piped"), err_buf.clone())),
        ];
        let (exit_code, timed_out) = match tokio::time::timeout(cmd.timeout, child.wait()).await {
            Ok(status) => (status.ok().and_then(|s| s.code()), false),
            Err(_) => (None, true),
        };
        if timed_out {
            if let Some(pid) = guard.pid {
                self.kill_group(pid);
            }
        }
        guard.disarm();
        // A daemon started by the command may keep the pipes open: give the readers a moment
        // after the exit, then take what they have.
        let aborts: Vec<_> = readers.iter().map(|r| r.abort_handle()).collect();
        let [a, b] = readers;
        if tokio::time::timeout(PIPE_GRACE, async { tokio::join!(a, b) }).await.is_err() {
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
        let out = std::mem::take(&mut *out_buf.lock().expect("buffer lock is never poisoned"));
        let err = std::mem::take(&mut *err_buf.lock().expect("buffer lock is never poisoned"));
        let scrub = |bytes: Vec<u8>| {
            let mut s = String::from_utf8_lossy(&bytes).into_owned();
            for secret in cmd.secrets() {
                s = s.replace(secret, "***");
            }
            s
        };
        let mut stderr_text = scrub(err);
        if timed_out {
            stderr_text
                .push_str(&format!("killed after the timeout of {}s\n", cmd.timeout.as_secs()));
        }
        let output = CmdOutput {
            argv: cmd.shown(),
            exit_code,
            stdout: scrub(out),
            stderr: stderr_text,
            timed_out,
        };
        self.transcript.push(Entry::Command {
            env: cmd.env.iter().map(|(k, v)| format!("{k}={}", v.shown())).collect(),
            argv: output.argv.clone(),
            exit_code,
            output_tail: output.tail(),
        });
        Ok(output)
    }

    /// Kills a process group with `kill -KILL -- -<pgid>` (no unsafe code in this crate).
    fn kill_group(&self, pgid: u32) {
        let mut c = self.process("kill");
        c.env("PATH", DEFAULT_PATH).args(["-KILL", "--", &format!("-{pgid}")]);
        let _ = c.output();
    }

    /// Reads a file under the root; `None` if it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<String>, HostError> {
        match std::fs::read_to_string(self.path(path)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => {
                Err(HostError::File { what: "cannot read", path: path.to_owned(), source })
            }
        }
    }

    /// Whether `path` exists under the root.
    pub fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }

    /// Writes `bytes` to `path` under the root unless it already holds exactly that with `mode`:
    /// a temporary file in the same directory, fsync, chmod, rename, fsync of the directory.
    /// Parent directories are created 0755. Returns whether anything changed.
    pub fn write_atomic(&self, path: &str, bytes: &[u8], mode: u32) -> Result<bool, HostError> {
        use std::io::Write as _;
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let target = self.path(path);
        let err = |what: &'static str| {
            let path = path.to_owned();
            move |source| HostError::File { what, path, source }
        };
        if let Ok(meta) = std::fs::metadata(&target) {
            if meta.permissions().mode() & 0o7777 == mode
                && std::fs::read(&target).is_ok_and(|b| b == bytes)
            {
                return Ok(false);
            }
        }
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| self.path("/"));
        self.mkdirs(&dir).map_err(err("cannot create the directory of"))?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.scaleio-executor.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(err("cannot create a temporary file for"))?;
        f.write_all(bytes).map_err(err("cannot write"))?;
        f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(err("cannot chmod"))?;
        f.sync_all().map_err(err("cannot fsync"))?;
        drop(f);
        std::fs::rename(&tmp, &target).map_err(err("cannot rename into place"))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        self.transcript.push(Entry::Write { path: path.to_owned(), mode });
        Ok(true)
    }

    /// Removes the file `path` under the root. Returns whether it was there.
    pub fn remove(&self, path: &str) -> Result<bool, HostError> {
        match std::fs::remove_file(self.path(path)) {
            Ok(()) => {
                self.transcript.push(Entry::Remove { path: path.to_owned() });
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => {
                Err(HostError::File { what: "cannot remove", path: path.to_owned(), source })
            }
        }
    }

    /// Creates the directory `path` under the root with `mode` (missing parents 0755) unless a
    /// directory is there; an existing one keeps its mode and owner. Returns whether it was
    /// created. Something else at `path` is an error.
    pub fn ensure_dir(&self, path: &str, mode: u32) -> Result<bool, HostError> {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        let target = self.path(path);
        let err = |what: &'static str| {
            let path = path.to_owned();
            move |source| HostError::File { what, path, source }
        };
        match std::fs::metadata(&target) {
            Ok(meta) if meta.is_dir() => return Ok(false),
            Ok(_) => {
                return Err(HostError::File {
                    what: "cannot create the directory",
                    path: path.to_owned(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "something that is not a directory is in the way; move it aside",
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(HostError::File { what: "cannot stat", path: path.to_owned(), source });
            }
        }
        if let Some(parent) = target.parent() {
            self.mkdirs(parent).map_err(err("cannot create the parent directories of"))?;
        }
        match std::fs::DirBuilder::new().mode(mode).create(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && target.is_dir() => {
                return Ok(false);
            }
            Err(source) => return Err(err("cannot create the directory")(source)),
        }
        // The umask may have taken bits away.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
            .map_err(err("cannot chmod the directory"))?;
        self.transcript.push(Entry::Mkdir { path: path.to_owned(), mode });
        Ok(true)
    }

    /// Names of the directories directly in `path` under the root, sorted; none if `path` does
    /// not exist. Entries that are not directories (or not UTF-8) are left out.
    pub fn subdirectories(&self, path: &str) -> Result<Vec<String>, HostError> {
        let err = |source| HostError::File { what: "cannot list", path: path.to_owned(), source };
        let entries = match std::fs::read_dir(self.path(path)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(err(source)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(err)?;
            if entry.file_type().map_err(err)?.is_dir() {
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    fn mkdirs(&self, dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir)
    }

    /// Copies a file from outside the root (the bundle) to `path` under it, atomically.
    pub fn install_file(&self, from: &Path, path: &str, mode: u32) -> Result<bool, HostError> {
        let bytes = std::fs::read(from).map_err(|source| HostError::File {
            what: "cannot read",
            path: from.display().to_string(),
            source,
        })?;
        self.write_atomic(path, &bytes, mode)
    }

    /// Environment variables passed to every command (for tests and the transcript header).
    pub fn command_env(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("PATH".into(), self.config.path.to_string_lossy().into_owned());
        m.insert("LC_ALL".into(), "C".into());
        m.insert("DEBIAN_FRONTEND".into(), "noninteractive".into());
        for (k, v) in &self.config.pass_env {
            m.insert(k.clone(), v.to_string_lossy().into_owned());
        }
        m
    }
}

/// How long output is still read after a command exited.
const PIPE_GRACE: Duration = Duration::from_secs(2);

async fn pump(mut from: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                into.lock().expect("buffer lock is never poisoned").extend_from_slice(&buf[..n])
            }
        }
    }
}

/// Kills the process group of a command still running when dropped (timeout, or the step's
/// future dropped by KILL or SHUTDOWN).
struct GroupGuard {
    pid: Option<u32>,
    host: Host,
}

impl GroupGuard {
    fn disarm(mut self) {
        self.pid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            self.host.kill_group(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(root: &Path) -> Host {
        Host::new(HostConfig::for_root(root.to_owned(), |k| {
            (k == "PATH").then(|| OsString::from(DEFAULT_PATH))
        }))
    }

    #[tokio::test]
    async fn commands_get_only_the_explicit_environment_and_secrets_never_show() {
        let dir = std::env::temp_dir().join(format!("host-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let h = host(&dir);
        let cmd = Cmd::new("env").env("TOKEN", Value::Secret(Secret::new("s3cr3t-value")));
        let out = h.run(&cmd).await.expect("env runs");
        let mut names: Vec<&str> =
            out.stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["DEBIAN_FRONTEND", "LC_ALL", "PATH", "SCALEIO_HOST_ROOT", "TOKEN"],
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("TOKEN=***\n"), "output is scrubbed: {}", out.stdout);
        let json = String::from_utf8(h.transcript().to_json()).expect("utf8");
        assert!(!json.contains("s3cr3t-value"), "{json}");
        assert!(h.transcript().render().starts_with("$ TOKEN=*** env\n"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = std::env::temp_dir().join(format!("host-timeout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pid_file = dir.join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let cmd = Cmd::new("sh").args(["-c", &script]).timeout(Duration::from_millis(500));
        let out = host(&dir).run(&cmd).await.expect("runs");
        assert!(out.timed_out && out.exit_code.is_none(), "{out:?}");
        assert!(out.stderr.contains("killed after the timeout"), "{}", out.stderr);
        let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
        let mut gone = false;
        for _ in 0..100 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the background child {pid} of the timed-out command survived");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn atomic_writes_are_idempotent_and_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("host-write-{}", std::process::id()));
        let h = host(&dir);
        assert!(h.write_atomic("/etc/x/config.yml", b"a: 1\n", 0o600).expect("write"));
        assert!(!h.write_atomic("/etc/x/config.yml", b"a: 1\n", 0o600).expect("same"));
        let meta = std::fs::metadata(dir.join("etc/x/config.yml")).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(h.write_atomic("/etc/x/config.yml", b"a: 1\n", 0o644).expect("mode change"));
        assert_eq!(h.read("/etc/x/config.yml").expect("read").as_deref(), Some("a: 1\n"));
        assert_eq!(h.read("/etc/x/missing").expect("read"), None);
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("etc/x"))
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, ["config.yml"]);
        assert_eq!(
            h.transcript().render(),
            "write /etc/x/config.yml (0600)\nwrite /etc/x/config.yml (0644)\n"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn directories_are_created_once_with_their_mode_and_listed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("host-mkdir-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        let h = host(&dir);
        assert!(h.ensure_dir("/var/lib/m/isolators/v", 0o700).expect("create"));
        assert!(!h.ensure_dir("/var/lib/m/isolators/v", 0o700).expect("there"));
        let mode =
            |p: &str| std::fs::metadata(dir.join(p)).expect("meta").permissions().mode() & 0o7777;
        assert_eq!(mode("var/lib/m/isolators/v"), 0o700);
        assert_eq!(mode("var/lib/m/isolators"), 0o755, "parents as Mesos makes them");
        // An existing directory keeps the mode someone gave it.
        std::fs::set_permissions(
            dir.join("var/lib/m/isolators/v"),
            std::fs::Permissions::from_mode(0o750),
        )
        .expect("chmod");
        assert!(!h.ensure_dir("/var/lib/m/isolators/v", 0o700).expect("kept"));
        assert_eq!(mode("var/lib/m/isolators/v"), 0o750);
        assert!(h.write_atomic("/var/lib/m/file", b"x", 0o644).expect("file"));
        let e = h.ensure_dir("/var/lib/m/file", 0o700).expect_err("a file is in the way");
        let message = crate::error::StepError::from(e).message;
        assert_eq!(
            message,
            "cannot create the directory /var/lib/m/file: something that is not a directory is in the way; move it aside"
        );

        assert!(h.ensure_dir("/var/lib/m/b", 0o755).expect("b"));
        assert_eq!(h.subdirectories("/var/lib/m").expect("list"), ["b", "isolators"]);
        assert!(h.subdirectories("/var/lib/none").expect("missing").is_empty());
        assert_eq!(
            h.transcript().render(),
            "mkdir /var/lib/m/isolators/v (0700)\nwrite /var/lib/m/file (0644)\nmkdir /var/lib/m/b (0755)\n"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
