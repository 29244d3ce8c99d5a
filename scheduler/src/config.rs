//! Configuration: command-line flags with environment fallbacks, validated into a [`Config`] before
//! any port is bound. Every environment variable the scheduler reads is named in [`env`].

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use reqwest::Url;

/// Exit code for a successful `--check-config` (and a clean shutdown).
pub const EXIT_OK: i32 = 0;
/// Exit code when the scheduler stops on a runtime error.
pub const EXIT_RUNTIME_ERROR: i32 = 1;
/// Exit code for an invalid configuration (the same code clap uses for usage errors).
pub const EXIT_INVALID_CONFIG: i32 = 2;

/// Every environment variable the scheduler reads, in one place.
/// Where executors read the ScaleIO admin password on each agent unless told otherwise.
pub const DEFAULT_AGENT_PASSWORD_FILE: &str = "/etc/scaleio/admin-password";

pub mod env {
    pub const MASTER: &str = "SCALEIO_MASTER";
    /// Marathon's first assigned port; preferred over [`PORT`].
    pub const PORT0: &str = "PORT0";
    /// Marathon's port when only one is assigned.
    pub const PORT: &str = "PORT";
    /// Marathon's name for the agent host the task runs on; the default advertised hostname.
    pub const HOST: &str = "HOST";
    pub const REST_ADDRESS: &str = "SCALEIO_REST_ADDRESS";
    pub const HOSTNAME: &str = "SCALEIO_HOSTNAME";
    pub const FRAMEWORK_NAME: &str = "SCALEIO_FRAMEWORK_NAME";
    pub const ROLE: &str = "SCALEIO_ROLE";
    pub const USER: &str = "SCALEIO_USER";
    pub const FAILOVER_TIMEOUT: &str = "SCALEIO_FAILOVER_TIMEOUT";
    pub const PRINCIPAL: &str = "SCALEIO_PRINCIPAL";
    pub const SECRET_FILE: &str = "SCALEIO_SECRET_FILE";
    pub const STORE: &str = "SCALEIO_STORE";
    pub const MODE: &str = "SCALEIO_MODE";
    pub const CLUSTER_NAME: &str = "SCALEIO_CLUSTER_NAME";
    pub const CLUSTER_ID: &str = "SCALEIO_CLUSTER_ID";
    pub const PROTECTION_DOMAIN: &str = "SCALEIO_PROTECTION_DOMAIN";
    pub const STORAGE_POOL: &str = "SCALEIO_STORAGE_POOL";
    pub const PRIMARY_MDM: &str = "SCALEIO_PRIMARY_MDM";
    pub const SECONDARY_MDM: &str = "SCALEIO_SECONDARY_MDM";
    pub const TIEBREAKER_MDM: &str = "SCALEIO_TIEBREAKER_MDM";
    pub const GATEWAY: &str = "SCALEIO_GATEWAY";
    pub const PASSWORD_FILE: &str = "SCALEIO_PASSWORD_FILE";
    pub const AGENT_PASSWORD_FILE: &str = "SCALEIO_AGENT_PASSWORD_FILE";
    /// The ScaleIO admin password itself (when no password file is given).
    pub const PASSWORD: &str = "SCALEIO_PASSWORD";
    pub const API_VERSION: &str = "SCALEIO_API_VERSION";
    pub const GATEWAY_CA_FILE: &str = "SCALEIO_GATEWAY_CA_FILE";
    pub const GATEWAY_INSECURE: &str = "SCALEIO_GATEWAY_INSECURE";
    pub const BUNDLE_DIR: &str = "SCALEIO_BUNDLE_DIR";
    pub const BUNDLE_URI: &str = "SCALEIO_BUNDLE_URI";
    pub const EXECUTOR_BINARY: &str = "SCALEIO_EXECUTOR_BINARY";
    pub const EXECUTOR_CPUS_MDM: &str = "SCALEIO_EXECUTOR_CPUS_MDM";
    pub const EXECUTOR_MEM_MDM: &str = "SCALEIO_EXECUTOR_MEM_MDM";
    pub const EXECUTOR_CPUS_DATA: &str = "SCALEIO_EXECUTOR_CPUS_DATA";
    pub const EXECUTOR_MEM_DATA: &str = "SCALEIO_EXECUTOR_MEM_DATA";
    pub const NO_REBOOT: &str = "SCALEIO_NO_REBOOT";
    pub const AGENT_LOST_TIMEOUT: &str = "SCALEIO_AGENT_LOST_TIMEOUT";
    pub const VOLUME_ISOLATOR: &str = "SCALEIO_VOLUME_ISOLATOR";
    pub const API_TOKEN_FILE: &str = "SCALEIO_API_TOKEN_FILE";
    pub const LOG_LEVEL: &str = "SCALEIO_LOG_LEVEL";
    pub const LOG_FORMAT: &str = "SCALEIO_LOG_FORMAT";
}

/// Default REST port (the original framework's).
pub const DEFAULT_REST_PORT: u16 = 35000;
/// Name of the executor binary looked up beside the scheduler binary.
pub const EXECUTOR_BINARY_NAME: &str = "scaleio-executor";
/// The smallest executor earmark the master's `min_allocatable_resources` lets us plan around.
const MIN_EXECUTOR_CPUS: f64 = 0.01;
const MIN_EXECUTOR_MEM_MB: f64 = 32.0;

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it (a login, a rendered 0600 file).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the ScaleIO cluster comes to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// An existing ScaleIO cluster (MDMs outside Mesos): every agent becomes a data node (SDS + SDC).
    Preconfigured,
    /// The scheduler picks three agents as primary, secondary and tiebreaker MDM and builds the cluster.
    Full,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Preconfigured => "preconfigured",
            Mode::Full => "full",
        })
    }
}

/// Which isolator agents get for ScaleIO volumes (`--volume-isolator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum VolumeIsolatorFlag {
    /// The mesos-module-dvdi `.so` from the bundle (must match the agent's Mesos version exactly).
    Dvdi,
    /// Mesos' native docker/volume isolator (Mesos >= 1.0); no module is installed.
    DockerVolume,
    /// docker-volume on agents reporting Mesos >= 1.0, dvdi on older or unknown ones.
    #[default]
    Auto,
}

impl VolumeIsolatorFlag {
    /// The step's setting.
    pub fn to_step(self) -> scaleio::step::VolumeIsolator {
        match self {
            VolumeIsolatorFlag::Dvdi => scaleio::step::VolumeIsolator::Dvdi,
            VolumeIsolatorFlag::DockerVolume => scaleio::step::VolumeIsolator::DockerVolume,
            VolumeIsolatorFlag::Auto => scaleio::step::VolumeIsolator::Auto,
        }
    }
}

impl fmt::Display for VolumeIsolatorFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_step().flag_value())
    }
}

/// Log line format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// The command line, as clap parses it (environment fallbacks included). Turn it into a
/// [`Config`] with [`Config::from_args`].
#[derive(Debug, Clone, Parser)]
#[command(
    name = "scaleio-scheduler",
    version,
    about = "Mesos framework that turns every agent into a ScaleIO node with the volume plumbing containers need",
    long_about = "Mesos framework that turns every agent into a ScaleIO node with the volume plumbing \
containers need.\n\nIt subscribes to the Mesos master, launches one scaleio-executor per agent, runs \
the deployment plan (preflight, prerequisites, mdm-cluster, sds, sdc, volume-plumbing, reboot, verify) \
and keeps onboarding agents as they join. Its state lives in --store, so it can be restarted anywhere.\n\n\
Every flag can also be set through the environment variable shown with it. Secrets (the ScaleIO \
admin password, the Mesos secret, the API token) are read from files or the environment, never \
from the command line.",
    after_help = "Examples:\n  \
scaleio-scheduler --master http://mesos-master:5050 --primary-mdm 10.0.0.11 --secondary-mdm 10.0.0.12 \\\n      \
--tiebreaker-mdm 10.0.0.13 --password-file /etc/scaleio/password --bundle-dir /opt/scaleio/bundles\n  \
SCALEIO_PASSWORD=... scaleio-scheduler --mode full --store zk://zk1:2181,zk2:2181/scaleio --check-config\n\n\
Exit codes: 0 success, 1 runtime error, 2 invalid configuration."
)]
pub struct Args {
    /// Base URL of any Mesos master (http or https); a non-leading master redirects us to the leader.
    #[arg(long, env = env::MASTER, default_value = "http://127.0.0.1:5050", value_name = "URL", help_heading = "Mesos")]
    pub master: String,

    /// Name the framework registers under (shown in the Mesos UI).
    #[arg(long, env = env::FRAMEWORK_NAME, default_value = "scaleio", value_name = "NAME", help_heading = "Mesos")]
    pub framework_name: String,

    /// Mesos role whose offers the framework takes (`*` = unreserved resources).
    #[arg(long, env = env::ROLE, default_value = "*", value_name = "ROLE", help_heading = "Mesos")]
    pub role: String,

    /// Unix user the executors run as on the agents; provisioning needs root.
    #[arg(long, env = env::USER, default_value = "root", value_name = "USER", help_heading = "Mesos")]
    pub user: String,

    /// Seconds Mesos keeps the framework's executors alive while the scheduler is away (default one week).
    #[arg(long, env = env::FAILOVER_TIMEOUT, default_value_t = 604_800, value_name = "SECS", help_heading = "Mesos")]
    pub failover_timeout: u64,

    /// Principal to authenticate to the master with (HTTP basic authentication).
    #[arg(long, env = env::PRINCIPAL, value_name = "PRINCIPAL", help_heading = "Mesos")]
    pub principal: Option<String>,

    /// File holding the principal's secret (needs --principal).
    #[arg(long, env = env::SECRET_FILE, value_name = "FILE", help_heading = "Mesos")]
    pub secret_file: Option<PathBuf>,

    /// Port of the scheduler's HTTP server (API, status page, artifacts). Falls back to Marathon's $PORT0, then $PORT.
    #[arg(long, env = env::PORT0, value_name = "PORT", help_heading = "HTTP server")]
    pub rest_port: Option<u16>,

    /// Address the HTTP server listens on.
    #[arg(long, env = env::REST_ADDRESS, default_value = "0.0.0.0", value_name = "ADDR", help_heading = "HTTP server")]
    pub rest_address: String,

    /// Hostname agents use to download artifacts from this scheduler. Default: $HOST (set by Marathon), else this machine's hostname.
    #[arg(long, env = env::HOSTNAME, value_name = "NAME", help_heading = "HTTP server")]
    pub hostname: Option<String>,

    /// File holding the token that mutating API calls must present (`Authorization: Bearer <token>`).
    #[arg(long, env = env::API_TOKEN_FILE, value_name = "FILE", help_heading = "HTTP server")]
    pub api_token_file: Option<PathBuf>,

    /// Where the framework id and the plan are kept: `file:DIR` or `zk://HOST:PORT[,HOST:PORT]/PATH`.
    ///
    /// `file:DIR` keeps one file (mode 0600) in DIR: for a scheduler that always runs on the same
    /// host. `zk://` is for a scheduler Marathon may move: the state is plain JSON in the znode
    /// PATH, or, above ZooKeeper's 1 MB znode limit (about 300 agents), compressed in parts under
    /// `PATH.parts` with a small head in PATH. Writes are compare-and-set in both: two schedulers
    /// on one store never both drive the plan.
    #[arg(long, env = env::STORE, default_value = "file:./scaleio-state", value_name = "STORE", help_heading = "State")]
    pub store: String,

    /// `preconfigured`: join agents to an existing ScaleIO cluster; `full`: build the cluster on three agents.
    #[arg(long, env = env::MODE, value_enum, default_value_t = Mode::Preconfigured, value_name = "MODE", help_heading = "ScaleIO")]
    pub mode: Mode,

    /// ScaleIO cluster name.
    #[arg(long, env = env::CLUSTER_NAME, default_value = "scaleio", value_name = "NAME", help_heading = "ScaleIO")]
    pub cluster_name: String,

    /// ScaleIO cluster (system) id, when several systems share a gateway.
    #[arg(long, env = env::CLUSTER_ID, value_name = "ID", help_heading = "ScaleIO")]
    pub cluster_id: Option<String>,

    /// Protection domain the SDS nodes join.
    #[arg(long, env = env::PROTECTION_DOMAIN, default_value = "default", value_name = "NAME", help_heading = "ScaleIO")]
    pub protection_domain: String,

    /// Storage pool the devices are added to.
    #[arg(long, env = env::STORAGE_POOL, default_value = "default", value_name = "NAME", help_heading = "ScaleIO")]
    pub storage_pool: String,

    /// IP of the existing primary MDM (preconfigured mode: required).
    #[arg(long, env = env::PRIMARY_MDM, value_name = "IP", help_heading = "ScaleIO")]
    pub primary_mdm: Option<String>,

    /// IP of the existing secondary MDM (preconfigured mode: required).
    #[arg(long, env = env::SECONDARY_MDM, value_name = "IP", help_heading = "ScaleIO")]
    pub secondary_mdm: Option<String>,

    /// IP of the existing tiebreaker MDM (preconfigured mode: required).
    #[arg(long, env = env::TIEBREAKER_MDM, value_name = "IP", help_heading = "ScaleIO")]
    pub tiebreaker_mdm: Option<String>,

    /// ScaleIO REST gateway (port 443 unless given). Default: the primary MDM.
    #[arg(long, env = env::GATEWAY, value_name = "HOST[:PORT]", help_heading = "ScaleIO")]
    pub gateway: Option<String>,

    /// File holding the ScaleIO admin password. Alternatively set $SCALEIO_PASSWORD; there is no command-line form.
    #[arg(long, env = env::PASSWORD_FILE, value_name = "FILE", help_heading = "ScaleIO")]
    pub password_file: Option<PathBuf>,

    /// Absolute path of a file on every agent holding the admin password (mode 0600, root only).
    /// Executors read it there, so the password never travels through Mesos (anything in a task
    /// or executor definition is visible in the master's state). The CloudFormation stacks in
    /// demo/ write it at the default path.
    #[arg(long, env = env::AGENT_PASSWORD_FILE, value_name = "PATH", default_value = DEFAULT_AGENT_PASSWORD_FILE, help_heading = "ScaleIO")]
    pub agent_password_file: PathBuf,

    /// Absolute path, on every agent, of the PEM file with the CA that signed the ScaleIO
    /// gateway's certificate (the gateway installs a self-signed one). The scheduler reads the
    /// same path on its own host (an agent) to read the ScaleIO capacity from the gateway; if it
    /// is missing there, the status page and /metrics say so. Default: the system roots.
    #[arg(long, env = env::GATEWAY_CA_FILE, value_name = "PATH", help_heading = "ScaleIO")]
    pub gateway_ca_file: Option<PathBuf>,

    /// Do not verify the ScaleIO gateway's TLS certificate. Anyone on the path can then read the
    /// admin password; logged as a warning at start. Prefer --gateway-ca-file.
    #[arg(long, env = env::GATEWAY_INSECURE, help_heading = "ScaleIO")]
    pub gateway_insecure: bool,

    /// Gateway REST API version (`major.minor`; the 2.0.1 gateway rejects `2.0.1`).
    #[arg(long, env = env::API_VERSION, default_value = "2.0", value_name = "VERSION", help_heading = "ScaleIO")]
    pub api_version: String,

    /// Directory of bundles (`.tar.gz`), served to agents at /artifacts.
    #[arg(long, env = env::BUNDLE_DIR, value_name = "DIR", help_heading = "Artifacts")]
    pub bundle_dir: Option<PathBuf>,

    /// Base URI where the bundles are served by someone else (instead of --bundle-dir).
    #[arg(long, env = env::BUNDLE_URI, value_name = "URI", help_heading = "Artifacts")]
    pub bundle_uri: Option<String>,

    /// The executor binary served to agents. Default: scaleio-executor beside this binary.
    #[arg(long, env = env::EXECUTOR_BINARY, value_name = "FILE", help_heading = "Artifacts")]
    pub executor_binary: Option<PathBuf>,

    /// CPUs earmarked by the executor on MDM nodes.
    #[arg(long, env = env::EXECUTOR_CPUS_MDM, default_value_t = 1.5, value_name = "CPUS", help_heading = "Executor resources")]
    pub executor_cpus_mdm: f64,

    /// Memory (MB) earmarked by the executor on MDM nodes.
    #[arg(long, env = env::EXECUTOR_MEM_MDM, default_value_t = 3072.0, value_name = "MB", help_heading = "Executor resources")]
    pub executor_mem_mdm: f64,

    /// CPUs earmarked by the executor on data nodes.
    #[arg(long, env = env::EXECUTOR_CPUS_DATA, default_value_t = 0.5, value_name = "CPUS", help_heading = "Executor resources")]
    pub executor_cpus_data: f64,

    /// Memory (MB) earmarked by the executor on data nodes.
    #[arg(long, env = env::EXECUTOR_MEM_DATA, default_value_t = 512.0, value_name = "MB", help_heading = "Executor resources")]
    pub executor_mem_data: f64,

    /// Never reboot agents; steps that need a reboot wait for the operator instead.
    #[arg(long, env = env::NO_REBOOT, help_heading = "Behaviour")]
    pub no_reboot: bool,

    /// Seconds before a node whose agent is gone is given up on: counted from the master's
    /// report that it removed the agent, or, when no report came (the agent was removed while
    /// the scheduler was down, which the master does not repeat), from when the node's ready
    /// steps began waiting for an offer, the last subscription or its last offer, whichever is
    /// latest (not while the plan is paused). Its unfinished steps are then set to error and the
    /// other nodes go on without it; they run again by themselves when the agent offers again.
    #[arg(long, env = env::AGENT_LOST_TIMEOUT, default_value_t = 600, value_name = "SECS", help_heading = "Behaviour")]
    pub agent_lost_timeout: u64,

    /// Isolator for ScaleIO volumes: `dvdi` (the module), `docker-volume` (native, Mesos >= 1.0)
    /// or `auto` (native where the agent reports Mesos >= 1.0, the module otherwise).
    #[arg(long, env = env::VOLUME_ISOLATOR, value_enum, default_value_t = VolumeIsolatorFlag::Auto, value_name = "ISOLATOR", help_heading = "Behaviour")]
    pub volume_isolator: VolumeIsolatorFlag,

    /// Log filter in RUST_LOG syntax (`info`, `scheduler=debug,info`).
    #[arg(long, env = env::LOG_LEVEL, default_value = "info", value_name = "FILTER", help_heading = "Behaviour")]
    pub log_level: String,

    /// Log line format on stderr.
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT", help_heading = "Behaviour")]
    pub log_format: LogFormat,

    /// Parse and validate the configuration, print it (secrets as ***) and exit: 0 valid, 2 invalid.
    #[arg(long, help_heading = "Behaviour")]
    pub check_config: bool,
}

/// Where the scheduler keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A directory on the local filesystem.
    File { dir: PathBuf },
    /// A ZooKeeper ensemble and the znode under which the state lives.
    ZooKeeper { hosts: Vec<String>, path: String },
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::File { dir } => write!(f, "file:{}", dir.display()),
            StoreSpec::ZooKeeper { hosts, path } => write!(f, "zk://{}{}", hosts.join(","), path),
        }
    }
}

/// The three MDMs of an existing cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconfiguredMdms {
    pub primary: IpAddr,
    pub secondary: IpAddr,
    pub tiebreaker: IpAddr,
}

/// Where the bundles come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleSource {
    /// Served by this scheduler at `/artifacts/<file>`.
    Dir(PathBuf),
    /// Served elsewhere; `<base>/<file>` (the base ends with `/`).
    Uri(Url),
}

/// CPU and memory (MB) earmarked by an executor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecutorResources {
    pub cpus: f64,
    pub mem_mb: f64,
}

/// The validated configuration the scheduler runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub master: Url,
    pub framework_name: String,
    pub role: String,
    pub user: String,
    pub failover_timeout_secs: u64,
    pub principal: Option<String>,
    pub secret: Option<Secret>,
    pub rest_address: IpAddr,
    pub rest_port: u16,
    pub hostname: String,
    pub api_token: Option<Secret>,
    pub store: StoreSpec,
    pub mode: Mode,
    pub cluster_name: String,
    pub cluster_id: Option<String>,
    pub protection_domain: String,
    pub storage_pool: String,
    /// Set in preconfigured mode, absent in full mode.
    pub mdms: Option<PreconfiguredMdms>,
    /// `host[:port]` as given; absent means "the primary MDM".
    pub gateway: Option<String>,
    pub password: Secret,
    /// Where executors read the password on the agents, if not from their environment.
    pub agent_password_file: PathBuf,
    /// How executors trust the gateway's certificate (`--gateway-ca-file`, `--gateway-insecure`).
    pub gateway_tls: scaleio::step::GatewayTls,
    pub api_version: String,
    pub bundles: BundleSource,
    pub executor_binary: PathBuf,
    pub executor_mdm: ExecutorResources,
    pub executor_data: ExecutorResources,
    pub no_reboot: bool,
    pub agent_lost_timeout_secs: u64,
    pub volume_isolator: VolumeIsolatorFlag,
    pub log_level: String,
    pub log_format: LogFormat,
}

/// What was wrong with the configuration. Each names the flag, what was expected, what was found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--{flag}: expected {expected}, found `{found}`{}", hint_line(.hint))]
    Invalid { flag: &'static str, expected: &'static str, found: String, hint: Option<String> },
    #[error("--{flag} is required{}", hint_line(.hint))]
    Missing { flag: &'static str, hint: Option<String> },
    #[error("--{flag} cannot be used {reason}")]
    Conflict { flag: &'static str, reason: String },
    #[error("--{flag}: cannot read {}\nhint: check the path and its permissions", .path.display())]
    Unreadable {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--{flag}: {} is empty\nhint: write the value into the file (a trailing newline is ignored)", .path.display())]
    EmptyFile { flag: &'static str, path: PathBuf },
    #[error("--{flag}: {} does not exist{}", .path.display(), hint_line(.hint))]
    NotFound { flag: &'static str, path: PathBuf, hint: Option<String> },
}

fn hint_line(hint: &Option<String>) -> String {
    match hint {
        Some(hint) => format!("\nhint: {hint}"),
        None => String::new(),
    }
}

/// Environment lookups the validation needs beyond clap's (`$PORT`, `$HOST`, `$SCALEIO_PASSWORD`,
/// the machine hostname, the scheduler binary's directory). A trait so tests need not touch the
/// process environment.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    /// This machine's hostname.
    fn machine_hostname(&self) -> Option<String>;
    /// The directory holding the running scheduler binary.
    fn binary_dir(&self) -> Option<PathBuf>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }

    fn machine_hostname(&self) -> Option<String> {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .ok()?;
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }

    fn binary_dir(&self) -> Option<PathBuf> {
        std::env::current_exe().ok()?.parent().map(Path::to_path_buf)
    }
}

impl Config {
    /// Validate parsed flags into a configuration; reads the secret files. Binds nothing.
    pub fn from_args(args: &Args, environment: &dyn Environment) -> Result<Config, ConfigError> {
        let master = parse_master(&args.master)?;
        let framework_name = non_empty("framework-name", &args.framework_name)?;
        let role = parse_role(&args.role)?;
        let user = non_empty("user", &args.user)?;
        if args.failover_timeout == 0 {
            return Err(ConfigError::Invalid {
                flag: "failover-timeout",
                expected: "a number of seconds greater than 0",
                found: "0".to_owned(),
                hint: Some(
                    "with 0 Mesos kills every executor as soon as the scheduler disconnects; the default is one week (604800)"
                        .to_owned(),
                ),
            });
        }
        // Mesos needs a representable duration; cap at 100 years of seconds.
        if args.failover_timeout > 100 * 365 * 24 * 3600 {
            return Err(ConfigError::Invalid {
                flag: "failover-timeout",
                expected: "at most 100 years in seconds",
                found: args.failover_timeout.to_string(),
                hint: None,
            });
        }
        if args.agent_lost_timeout == 0 {
            return Err(ConfigError::Invalid {
                flag: "agent-lost-timeout",
                expected: "a number of seconds greater than 0",
                found: "0".to_owned(),
                hint: Some(
                    "the default is 600 (ten minutes, longer than a host takes to reboot)"
                        .to_owned(),
                ),
            });
        }
        let principal = args.principal.as_deref().map(|p| non_empty("principal", p)).transpose()?;
        let secret = match (&args.secret_file, &principal) {
            (Some(path), Some(_)) => Some(read_secret_file("secret-file", path)?),
            (Some(_), None) => {
                return Err(ConfigError::Conflict {
                    flag: "secret-file",
                    reason: "without --principal (the secret belongs to a principal)".to_owned(),
                });
            }
            (None, _) => None,
        };

        let rest_port = match args.rest_port {
            Some(port) => port,
            None => match environment.var(env::PORT) {
                Some(value) => value.trim().parse::<u16>().map_err(|_| ConfigError::Invalid {
                    flag: "rest-port",
                    expected: "a port number 0-65535 (from $PORT)",
                    found: value.clone(),
                    hint: None,
                })?,
                None => DEFAULT_REST_PORT,
            },
        };
        let rest_address: IpAddr =
            args.rest_address.trim().parse().map_err(|_| ConfigError::Invalid {
                flag: "rest-address",
                expected: "an IP address such as 0.0.0.0 or ::",
                found: args.rest_address.clone(),
                hint: None,
            })?;
        let hostname = match &args.hostname {
            Some(name) => name.clone(),
            None => environment
                .var(env::HOST)
                .or_else(|| environment.machine_hostname())
                .ok_or(ConfigError::Missing {
                    flag: "hostname",
                    hint: Some("neither $HOST nor the machine hostname is available; give the name agents can reach this scheduler at".to_owned()),
                })?,
        };
        let hostname = parse_hostname(&hostname)?;
        let api_token = args
            .api_token_file
            .as_deref()
            .map(|path| read_secret_file("api-token-file", path))
            .transpose()?;

        let store = parse_store(&args.store)?;

        let cluster_name = non_empty("cluster-name", &args.cluster_name)?;
        let cluster_id =
            args.cluster_id.as_deref().map(|id| non_empty("cluster-id", id)).transpose()?;
        let protection_domain = parse_scaleio_name("protection-domain", &args.protection_domain)?;
        let storage_pool = parse_scaleio_name("storage-pool", &args.storage_pool)?;

        let given_mdms = [
            ("primary-mdm", &args.primary_mdm),
            ("secondary-mdm", &args.secondary_mdm),
            ("tiebreaker-mdm", &args.tiebreaker_mdm),
        ];
        let mdms = match args.mode {
            Mode::Full => {
                if let Some((flag, _)) = given_mdms.iter().find(|(_, value)| value.is_some()) {
                    return Err(ConfigError::Conflict {
                        flag,
                        reason: "in --mode full (the scheduler chooses the MDM agents itself); drop it, or use --mode preconfigured for an existing cluster".to_owned(),
                    });
                }
                None
            }
            Mode::Preconfigured => {
                let mut ips = [None; 3];
                for (slot, (flag, value)) in ips.iter_mut().zip(given_mdms) {
                    let Some(value) = value else {
                        return Err(ConfigError::Missing {
                            flag,
                            hint: Some(
                                "--mode preconfigured (the default) joins an existing cluster and needs all three of --primary-mdm, --secondary-mdm and --tiebreaker-mdm; use --mode full to build a new cluster"
                                    .to_owned(),
                            ),
                        });
                    };
                    *slot = Some(parse_ip(flag, value)?);
                }
                let [Some(primary), Some(secondary), Some(tiebreaker)] = ips else {
                    return Err(ConfigError::Missing { flag: "primary-mdm", hint: None });
                };
                if primary == secondary || primary == tiebreaker || secondary == tiebreaker {
                    return Err(ConfigError::Invalid {
                        flag: "tiebreaker-mdm",
                        expected: "three different MDM addresses",
                        found: format!(
                            "primary {primary}, secondary {secondary}, tiebreaker {tiebreaker}"
                        ),
                        hint: None,
                    });
                }
                Some(PreconfiguredMdms { primary, secondary, tiebreaker })
            }
        };
        let gateway = args.gateway.as_deref().map(parse_gateway).transpose()?;

        let password = match (&args.password_file, environment.var(env::PASSWORD)) {
            (Some(path), _) => read_secret_file("password-file", path)?,
            (None, Some(value)) => Secret::new(value),
            (None, None) => {
                return Err(ConfigError::Missing {
                    flag: "password-file",
                    hint: Some(format!(
                        "the ScaleIO admin password is needed to log in to the gateway; put it in a file readable only by the scheduler and pass --password-file (or ${}), or set ${}",
                        env::PASSWORD_FILE,
                        env::PASSWORD
                    )),
                });
            }
        };
        let agent_password_file = match &args.agent_password_file {
            path if !path.is_absolute() => {
                return Err(ConfigError::Invalid {
                    flag: "agent-password-file",
                    expected: "an absolute path on the agents",
                    found: path.display().to_string(),
                    hint: Some("executors run in their sandbox; give the full path, e.g. /etc/scaleio/admin-password".to_owned()),
                });
            }
            other => other.clone(),
        };
        let gateway_tls = match (&args.gateway_ca_file, args.gateway_insecure) {
            (Some(_), true) => {
                return Err(ConfigError::Conflict {
                    flag: "gateway-insecure",
                    reason: "with --gateway-ca-file (verify with the CA, or not at all)".to_owned(),
                });
            }
            (Some(path), false) if !path.is_absolute() => {
                return Err(ConfigError::Invalid {
                    flag: "gateway-ca-file",
                    expected: "an absolute path on the agents",
                    found: path.display().to_string(),
                    hint: Some("executors run in their sandbox; give the full path, e.g. /etc/scaleio/gateway-ca.pem".to_owned()),
                });
            }
            (Some(path), false) => {
                scaleio::step::GatewayTls::CaFile { path: path.display().to_string() }
            }
            (None, true) => scaleio::step::GatewayTls::Insecure,
            (None, false) => scaleio::step::GatewayTls::System,
        };
        let api_version = parse_api_version(&args.api_version)?;

        let bundles = match (&args.bundle_dir, &args.bundle_uri) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    flag: "bundle-uri",
                    reason: "together with --bundle-dir (bundles are either served by this scheduler or by someone else)".to_owned(),
                });
            }
            (Some(dir), None) => {
                if !dir.is_dir() {
                    return Err(ConfigError::NotFound {
                        flag: "bundle-dir",
                        path: dir.clone(),
                        hint: Some("build the bundles with `cargo xtask bundle` and point --bundle-dir at their directory".to_owned()),
                    });
                }
                BundleSource::Dir(dir.clone())
            }
            (None, Some(uri)) => BundleSource::Uri(parse_bundle_uri(uri)?),
            (None, None) => {
                return Err(ConfigError::Missing {
                    flag: "bundle-dir",
                    hint: Some("agents need the ScaleIO bundles: give --bundle-dir DIR (served at /artifacts) or --bundle-uri URI".to_owned()),
                });
            }
        };
        let executor_binary = match &args.executor_binary {
            Some(path) => path.clone(),
            None => environment.binary_dir().map(|dir| dir.join(EXECUTOR_BINARY_NAME)).ok_or(
                ConfigError::Missing {
                    flag: "executor-binary",
                    hint: Some(
                        "cannot tell where this binary lives; give the executor's path".to_owned(),
                    ),
                },
            )?,
        };
        if !executor_binary.is_file() {
            return Err(ConfigError::NotFound {
                flag: "executor-binary",
                path: executor_binary,
                hint: Some(format!(
                    "install {EXECUTOR_BINARY_NAME} beside scaleio-scheduler or give its path"
                )),
            });
        }
        let executor_mdm = ExecutorResources {
            cpus: parse_cpus("executor-cpus-mdm", args.executor_cpus_mdm)?,
            mem_mb: parse_mem("executor-mem-mdm", args.executor_mem_mdm)?,
        };
        let executor_data = ExecutorResources {
            cpus: parse_cpus("executor-cpus-data", args.executor_cpus_data)?,
            mem_mb: parse_mem("executor-mem-data", args.executor_mem_data)?,
        };
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&args.log_level) {
            return Err(ConfigError::Invalid {
                flag: "log-level",
                expected: "a filter in RUST_LOG syntax such as `info` or `scheduler=debug,info`",
                found: args.log_level.clone(),
                hint: Some(error.to_string()),
            });
        }

        Ok(Config {
            master,
            framework_name,
            role,
            user,
            failover_timeout_secs: args.failover_timeout,
            principal,
            secret,
            rest_address,
            rest_port,
            hostname,
            api_token,
            store,
            mode: args.mode,
            cluster_name,
            cluster_id,
            protection_domain,
            storage_pool,
            mdms,
            gateway,
            password,
            agent_password_file,
            gateway_tls,
            api_version,
            bundles,
            executor_binary,
            executor_mdm,
            executor_data,
            no_reboot: args.no_reboot,
            agent_lost_timeout_secs: args.agent_lost_timeout,
            volume_isolator: args.volume_isolator,
            log_level: args.log_level.clone(),
            log_format: args.log_format,
        })
    }

    /// The base URL agents use to reach this scheduler's HTTP server.
    pub fn advertised_base(&self) -> String {
        let host = if self.hostname.contains(':') {
            format!("[{}]", self.hostname)
        } else {
            self.hostname.clone()
        };
        format!("http://{host}:{}", self.rest_port)
    }

    /// The gateway `host[:port]` everyone talks to: the flag, else the primary MDM (preconfigured mode).
    pub fn effective_gateway(&self) -> Option<String> {
        self.gateway.clone().or_else(|| self.mdms.as_ref().map(|mdms| mdms.primary.to_string()))
    }
}

impl fmt::Display for Config {
    /// The effective configuration, one `key = value` line each; secrets print as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opt<T: fmt::Display>(value: &Option<T>) -> String {
            value.as_ref().map_or_else(|| "(none)".to_owned(), ToString::to_string)
        }
        writeln!(f, "master = {}", self.master)?;
        writeln!(f, "framework-name = {}", self.framework_name)?;
        writeln!(f, "role = {}", self.role)?;
        writeln!(f, "user = {}", self.user)?;
        writeln!(f, "failover-timeout = {}", self.failover_timeout_secs)?;
        writeln!(f, "principal = {}", opt(&self.principal))?;
        writeln!(f, "secret = {}", opt(&self.secret))?;
        writeln!(f, "rest-address = {}", self.rest_address)?;
        writeln!(f, "rest-port = {}", self.rest_port)?;
        writeln!(f, "hostname = {}", self.hostname)?;
        writeln!(f, "advertised-url = {}", self.advertised_base())?;
        writeln!(f, "api-token = {}", opt(&self.api_token))?;
        writeln!(f, "store = {}", self.store)?;
        writeln!(f, "mode = {}", self.mode)?;
        writeln!(f, "cluster-name = {}", self.cluster_name)?;
        writeln!(f, "cluster-id = {}", opt(&self.cluster_id))?;
        writeln!(f, "protection-domain = {}", self.protection_domain)?;
        writeln!(f, "storage-pool = {}", self.storage_pool)?;
        let (primary, secondary, tiebreaker) = match &self.mdms {
            Some(m) => (m.primary.to_string(), m.secondary.to_string(), m.tiebreaker.to_string()),
            None => {
                let chosen = "(chosen from the agents)".to_owned();
                (chosen.clone(), chosen.clone(), chosen)
            }
        };
        writeln!(f, "primary-mdm = {primary}")?;
        writeln!(f, "secondary-mdm = {secondary}")?;
        writeln!(f, "tiebreaker-mdm = {tiebreaker}")?;
        writeln!(
            f,
            "gateway = {}",
            self.effective_gateway().unwrap_or_else(|| "(the primary MDM agent)".to_owned())
        )?;
        writeln!(f, "password = {}", self.password)?;
        writeln!(f, "agent-password-file = {}", self.agent_password_file.display())?;
        match &self.gateway_tls {
            scaleio::step::GatewayTls::System => writeln!(f, "gateway-tls = system roots")?,
            scaleio::step::GatewayTls::CaFile { path } => writeln!(f, "gateway-tls = CA {path}")?,
            scaleio::step::GatewayTls::Insecure => {
                writeln!(f, "gateway-tls = NOT VERIFIED (--gateway-insecure)")?
            }
        }
        writeln!(f, "api-version = {}", self.api_version)?;
        match &self.bundles {
            BundleSource::Dir(dir) => writeln!(f, "bundle-dir = {}", dir.display())?,
            BundleSource::Uri(uri) => writeln!(f, "bundle-uri = {uri}")?,
        }
        writeln!(f, "executor-binary = {}", self.executor_binary.display())?;
        writeln!(f, "executor-cpus-mdm = {}", self.executor_mdm.cpus)?;
        writeln!(f, "executor-mem-mdm = {}", self.executor_mdm.mem_mb)?;
        writeln!(f, "executor-cpus-data = {}", self.executor_data.cpus)?;
        writeln!(f, "executor-mem-data = {}", self.executor_data.mem_mb)?;
        writeln!(f, "no-reboot = {}", self.no_reboot)?;
        writeln!(f, "agent-lost-timeout = {}", self.agent_lost_timeout_secs)?;
        writeln!(f, "volume-isolator = {}", self.volume_isolator)?;
        writeln!(f, "log-level = {}", self.log_level)?;
        writeln!(f, "log-format = {}", self.log_format)
    }
}

fn non_empty(flag: &'static str, value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Invalid {
            flag,
            expected: "a non-empty value",
            found: value.to_owned(),
            hint: None,
        });
    }
    Ok(trimmed.to_owned())
}

fn parse_master(value: &str) -> Result<Url, ConfigError> {
    let invalid = |hint: Option<String>| ConfigError::Invalid {
        flag: "master",
        expected: "the base URL of a Mesos master, such as http://mesos-master:5050",
        found: value.to_owned(),
        hint,
    };
    let url = Url::parse(value.trim()).map_err(|error| {
        invalid(Some(if value.contains("://") {
            error.to_string()
        } else {
            format!("add the scheme: http://{}", value.trim())
        }))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(Some("the scheme must be http or https".to_owned())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(None));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(Some(
            "no user, query or fragment: credentials go in --principal and --secret-file"
                .to_owned(),
        )));
    }
    if url.path().trim_end_matches('/').ends_with("api/v1/scheduler") {
        return Err(invalid(Some(format!(
            "give only the base URL; the scheduler adds /api/v1/scheduler itself: {}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|port| format!(":{port}")).unwrap_or_default()
        ))));
    }
    Ok(url)
}

fn parse_role(value: &str) -> Result<String, ConfigError> {
    let role = value.trim();
    // Mesos role rules: not empty, not `.`/`..`, no leading `-`, no `/`-separated empty parts, no whitespace.
    let valid = role == "*"
        || (!role.is_empty()
            && !role.starts_with('-')
            && role.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
            && !role.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\' || c == '*'));
    if !valid {
        return Err(ConfigError::Invalid {
            flag: "role",
            expected: "`*` or a Mesos role name (no spaces, no leading `-`, no `.`/`..` parts)",
            found: value.to_owned(),
            hint: None,
        });
    }
    Ok(role.to_owned())
}

fn parse_hostname(value: &str) -> Result<String, ConfigError> {
    let name = value.trim();
    let valid = !name.is_empty()
        && name.len() <= 253
        && (name.parse::<IpAddr>().is_ok()
            || name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'));
    if !valid {
        return Err(ConfigError::Invalid {
            flag: "hostname",
            expected: "a hostname or IP address agents can reach",
            found: value.to_owned(),
            hint: None,
        });
    }
    Ok(name.to_owned())
}

fn parse_store(value: &str) -> Result<StoreSpec, ConfigError> {
    let invalid = |hint: &str| ConfigError::Invalid {
        flag: "store",
        expected: "`file:DIR` or `zk://HOST:PORT[,HOST:PORT]/PATH`",
        found: value.to_owned(),
        hint: Some(hint.to_owned()),
    };
    let value = value.trim();
    if let Some(dir) = value.strip_prefix("file:") {
        let dir = dir.strip_prefix("//").unwrap_or(dir);
        if dir.is_empty() {
            return Err(invalid("name the directory, e.g. file:/var/lib/scaleio-scheduler"));
        }
        return Ok(StoreSpec::File { dir: PathBuf::from(dir) });
    }
    if let Some(rest) = value.strip_prefix("zk://") {
        let (hosts, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => return Err(invalid("add the znode path, e.g. zk://zk1:2181/scaleio")),
        };
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err(invalid("the znode path cannot be the root; use e.g. /scaleio"));
        }
        if path.split('/').skip(1).any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(invalid("znode paths have no empty, `.` or `..` parts"));
        }
        let mut list = Vec::new();
        for host in hosts.split(',') {
            let Some((name, port)) = host.rsplit_once(':') else {
                return Err(invalid("every ZooKeeper host needs its port, e.g. zk1:2181"));
            };
            if name.is_empty() || port.parse::<u16>().map_or(true, |port| port == 0) {
                return Err(invalid(
                    "every ZooKeeper host needs a name and a port 1-65535, e.g. zk1:2181",
                ));
            }
            list.push(host.to_owned());
        }
        return Ok(StoreSpec::ZooKeeper { hosts: list, path: path.to_owned() });
    }
    if value.starts_with("zk:") {
        return Err(invalid("write zk://HOST:PORT/PATH (two slashes)"));
    }
    Err(invalid("the store is a local directory (file:) or a ZooKeeper ensemble (zk://)"))
}

fn parse_scaleio_name(flag: &'static str, value: &str) -> Result<String, ConfigError> {
    let name = value.trim();
    // ScaleIO object names: at most 31 characters, no spaces.
    if name.is_empty()
        || name.len() > 31
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::Invalid {
            flag,
            expected: "a ScaleIO name of 1-31 characters without spaces",
            found: value.to_owned(),
            hint: None,
        });
    }
    Ok(name.to_owned())
}

fn parse_ip(flag: &'static str, value: &str) -> Result<IpAddr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        flag,
        expected: "an IP address (ScaleIO addresses MDMs by IP)",
        found: value.to_owned(),
        hint: None,
    })
}

fn parse_gateway(value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    let invalid = |hint: Option<&str>| ConfigError::Invalid {
        flag: "gateway",
        expected: "HOST or HOST:PORT",
        found: value.to_owned(),
        hint: hint.map(str::to_owned),
    };
    if value.contains("://") || value.contains('/') {
        return Err(invalid(Some(
            "give only the host and port; the scheduler speaks https://HOST:PORT/api itself",
        )));
    }
    let url = Url::parse(&format!("https://{value}/")).map_err(|_| invalid(None))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(None));
    }
    Ok(value.to_owned())
}

fn parse_api_version(value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    let parts: Vec<&str> = value.split('.').collect();
    let valid = parts.len() == 2
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !valid {
        return Err(ConfigError::Invalid {
            flag: "api-version",
            expected: "MAJOR.MINOR such as 2.0",
            found: value.to_owned(),
            hint: (parts.len() > 2).then(|| {
                format!(
                    "the ScaleIO gateway rejects three-part versions; use {}.{}",
                    parts[0], parts[1]
                )
            }),
        });
    }
    Ok(value.to_owned())
}

fn parse_bundle_uri(value: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(value.trim()).map_err(|error| ConfigError::Invalid {
        flag: "bundle-uri",
        expected: "an http, https or file URI",
        found: value.to_owned(),
        hint: Some(error.to_string()),
    })?;
    if !matches!(url.scheme(), "http" | "https" | "file" | "hdfs" | "s3" | "s3a" | "ftp") {
        return Err(ConfigError::Invalid {
            flag: "bundle-uri",
            expected: "a URI the Mesos fetcher understands (http, https, ftp, hdfs, s3, file)",
            found: value.to_owned(),
            hint: None,
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn parse_cpus(flag: &'static str, value: f64) -> Result<f64, ConfigError> {
    if !value.is_finite() || value < MIN_EXECUTOR_CPUS {
        return Err(ConfigError::Invalid {
            flag,
            expected: "a number of CPUs of at least 0.01",
            found: value.to_string(),
            hint: None,
        });
    }
    Ok(value)
}

fn parse_mem(flag: &'static str, value: f64) -> Result<f64, ConfigError> {
    if !value.is_finite() || value < MIN_EXECUTOR_MEM_MB {
        return Err(ConfigError::Invalid {
            flag,
            expected: "megabytes of memory, at least 32",
            found: value.to_string(),
            hint: None,
        });
    }
    Ok(value)
}

fn read_secret_file(flag: &'static str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        flag,
        path: path.to_path_buf(),
        source,
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(ConfigError::EmptyFile { flag, path: path.to_path_buf() });
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    struct FakeEnv {
        vars: HashMap<&'static str, String>,
        binary_dir: PathBuf,
    }

    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn machine_hostname(&self) -> Option<String> {
            Some("machine".to_owned())
        }
        fn binary_dir(&self) -> Option<PathBuf> {
            Some(self.binary_dir.clone())
        }
    }

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(EXECUTOR_BINARY_NAME), b"#!").unwrap();
            std::fs::create_dir(dir.path().join("bundles")).unwrap();
            std::fs::write(dir.path().join("password"), "s3cret-pw\n").unwrap();
            Fixture { dir }
        }

        fn env(&self, vars: &[(&'static str, &str)]) -> FakeEnv {
            FakeEnv {
                vars: vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
                binary_dir: self.dir.path().to_path_buf(),
            }
        }

        /// A valid preconfigured command line plus `extra`.
        fn args(&self, extra: &[&str]) -> Vec<String> {
            let mut args: Vec<String> = vec!["scaleio-scheduler".into()];
            args.extend(
                [
                    "--password-file",
                    self.dir.path().join("password").to_str().unwrap(),
                    "--bundle-dir",
                    self.dir.path().join("bundles").to_str().unwrap(),
                ]
                .map(str::to_owned),
            );
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args
        }

        fn check(&self, extra: &[&str], vars: &[(&'static str, &str)]) -> Result<Config, String> {
            let args = Args::try_parse_from(self.args(extra)).map_err(|e| e.to_string())?;
            Config::from_args(&args, &self.env(vars)).map_err(|e| e.to_string())
        }
    }

    const MDMS: [&str; 6] = [
        "--primary-mdm",
        "10.0.0.1",
        "--secondary-mdm",
        "10.0.0.2",
        "--tiebreaker-mdm",
        "10.0.0.3",
    ];

    #[test]
    fn defaults_are_the_documented_ones() {
        let fx = Fixture::new();
        let config = fx.check(&MDMS, &[]).unwrap();
        assert_eq!(config.master.as_str(), "http://127.0.0.1:5050/");
        assert_eq!(config.rest_port, 35000);
        assert_eq!(config.rest_address.to_string(), "0.0.0.0");
        assert_eq!(config.hostname, "machine");
        assert_eq!(config.framework_name, "scaleio");
        assert_eq!(config.role, "*");
        assert_eq!(config.user, "root");
        assert_eq!(config.failover_timeout_secs, 604_800);
        assert_eq!(config.store, StoreSpec::File { dir: PathBuf::from("./scaleio-state") });
        assert_eq!(config.mode, Mode::Preconfigured);
        assert_eq!(config.protection_domain, "default");
        assert_eq!(config.storage_pool, "default");
        assert_eq!(config.api_version, "2.0");
        assert_eq!(config.password.expose(), "s3cret-pw");
        assert_eq!(config.effective_gateway().as_deref(), Some("10.0.0.1"));
        assert_eq!(config.executor_binary, fx.dir.path().join(EXECUTOR_BINARY_NAME));
        assert_eq!(config.executor_mdm, ExecutorResources { cpus: 1.5, mem_mb: 3072.0 });
        assert_eq!(config.executor_data, ExecutorResources { cpus: 0.5, mem_mb: 512.0 });
        assert!(!config.no_reboot);
        assert_eq!(config.volume_isolator, VolumeIsolatorFlag::Auto);
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn volume_isolator_flag_names_each_choice_and_refuses_others() {
        let fx = Fixture::new();
        for (value, want) in [
            ("dvdi", scaleio::step::VolumeIsolator::Dvdi),
            ("docker-volume", scaleio::step::VolumeIsolator::DockerVolume),
            ("auto", scaleio::step::VolumeIsolator::Auto),
        ] {
            let config =
                fx.check(&[&MDMS[..], &["--volume-isolator", value]].concat(), &[]).unwrap();
            assert_eq!(config.volume_isolator.to_step(), want);
            assert!(config.to_string().contains(&format!("volume-isolator = {value}\n")));
        }
        let error =
            fx.check(&[&MDMS[..], &["--volume-isolator", "docker"]].concat(), &[]).unwrap_err();
        assert!(error.contains("invalid value 'docker' for '--volume-isolator"), "{error}");
        assert!(error.contains("dvdi, docker-volume, auto"), "{error}");
    }

    #[test]
    fn marathon_ports_and_host_fill_in_when_flags_are_absent() {
        let fx = Fixture::new();
        let config =
            fx.check(&MDMS, &[(env::PORT, "31005"), (env::HOST, "agent-7.example")]).unwrap();
        assert_eq!(config.rest_port, 31005);
        assert_eq!(config.advertised_base(), "http://agent-7.example:31005");
        let config = fx
            .check(&[&MDMS[..], &["--rest-port", "8080"]].concat(), &[(env::PORT, "31005")])
            .unwrap();
        assert_eq!(config.rest_port, 8080);
        let error = fx.check(&MDMS, &[(env::PORT, "http")]).unwrap_err();
        assert!(error.contains("--rest-port: expected a port number"), "{error}");
    }

    #[test]
    fn password_comes_from_the_environment_when_no_file_is_given() {
        let fx = Fixture::new();
        let args = Args::try_parse_from([
            "scaleio-scheduler",
            "--mode",
            "full",
            "--bundle-uri",
            "http://mirror/bundles",
        ])
        .unwrap();
        let config = Config::from_args(&args, &fx.env(&[(env::PASSWORD, "from-env")])).unwrap();
        assert_eq!(config.password.expose(), "from-env");
        assert_eq!(
            config.bundles,
            BundleSource::Uri(Url::parse("http://mirror/bundles/").unwrap())
        );
        let error = Config::from_args(&args, &fx.env(&[])).unwrap_err().to_string();
        assert!(error.starts_with("--password-file is required\nhint:"), "{error}");
        assert!(Args::try_parse_from(["scaleio-scheduler", "--password", "x"]).is_err());
    }

    #[test]
    fn invalid_values_name_the_flag_and_what_was_expected() {
        let fx = Fixture::new();
        let cases: &[(&[&str], &str)] = &[
            (
                &["--mode", "full", "--primary-mdm", "10.0.0.1"],
                "--primary-mdm cannot be used in --mode full",
            ),
            (
                &["--primary-mdm", "10.0.0.1"],
                "--secondary-mdm is required\nhint: --mode preconfigured",
            ),
            (
                &[
                    "--primary-mdm",
                    "mdm1",
                    "--secondary-mdm",
                    "10.0.0.2",
                    "--tiebreaker-mdm",
                    "10.0.0.3",
                ],
                "--primary-mdm: expected an IP address",
            ),
            (
                &[&MDMS[..4], &["--tiebreaker-mdm", "10.0.0.2"]].concat(),
                "expected three different MDM addresses",
            ),
            (&[&MDMS[..], &["--master", "mesos:5050"]].concat(), "--master: expected the base URL"),
            (
                &[&MDMS[..], &["--master", "ftp://m:5050"]].concat(),
                "the scheme must be http or https",
            ),
            (
                &[&MDMS[..], &["--master", "http://m:5050/api/v1/scheduler"]].concat(),
                "hint: give only the base URL; the scheduler adds /api/v1/scheduler itself: http://m:5050",
            ),
            (&[&MDMS[..], &["--store", "zk:/zk1:2181/x"]].concat(), "write zk://HOST:PORT/PATH"),
            (
                &[&MDMS[..], &["--store", "zk://zk1/x"]].concat(),
                "every ZooKeeper host needs its port",
            ),
            (&[&MDMS[..], &["--store", "zk://zk1:2181"]].concat(), "add the znode path"),
            (&[&MDMS[..], &["--store", "/var/lib/x"]].concat(), "--store: expected `file:DIR` or"),
            (&[&MDMS[..], &["--api-version", "2.0.1"]].concat(), "use 2.0"),
            (
                &[&MDMS[..], &["--failover-timeout", "0"]].concat(),
                "--failover-timeout: expected a number of seconds greater than 0",
            ),
            (
                &[&MDMS[..], &["--executor-mem-data", "16"]].concat(),
                "--executor-mem-data: expected megabytes of memory, at least 32",
            ),
            (
                &[&MDMS[..], &["--executor-cpus-mdm", "0"]].concat(),
                "--executor-cpus-mdm: expected a number of CPUs",
            ),
            (
                &[&MDMS[..], &["--secret-file", "/x"]].concat(),
                "--secret-file cannot be used without --principal",
            ),
            (
                &[&MDMS[..], &["--bundle-uri", "http://x/"]].concat(),
                "--bundle-uri cannot be used together with --bundle-dir",
            ),
            (
                &[&MDMS[..], &["--gateway", "https://gw:443"]].concat(),
                "--gateway: expected HOST or HOST:PORT",
            ),
            (
                &[&MDMS[..], &["--log-level", "info,,=x=y"]].concat(),
                "--log-level: expected a filter",
            ),
            (
                &[&MDMS[..], &["--rest-address", "localhost"]].concat(),
                "--rest-address: expected an IP address",
            ),
            (
                &[&MDMS[..], &["--role", "a b"]].concat(),
                "--role: expected `*` or a Mesos role name",
            ),
            (
                &[&MDMS[..], &["--executor-binary", "/nonexistent/exe"]].concat(),
                "--executor-binary: /nonexistent/exe does not exist",
            ),
            (
                &[&MDMS[..], &["--api-token-file", "/nonexistent/token"]].concat(),
                "--api-token-file: cannot read /nonexistent/token",
            ),
        ];
        for (extra, expected) in cases {
            let error =
                fx.check(extra, &[]).err().unwrap_or_else(|| panic!("{extra:?} was accepted"));
            assert!(
                error.contains(expected),
                "{extra:?}\n  expected: {expected}\n  found: {error}"
            );
        }
    }

    #[test]
    fn zookeeper_store_and_full_mode_parse() {
        let fx = Fixture::new();
        let config = fx
            .check(
                &[
                    "--mode",
                    "full",
                    "--store",
                    "zk://zk1:2181,10.0.0.9:2182/scaleio/prod/",
                    "--gateway",
                    "gw:8443",
                ],
                &[],
            )
            .unwrap();
        assert_eq!(
            config.store,
            StoreSpec::ZooKeeper {
                hosts: vec!["zk1:2181".to_owned(), "10.0.0.9:2182".to_owned()],
                path: "/scaleio/prod".to_owned()
            }
        );
        assert_eq!(config.mdms, None);
        assert_eq!(config.effective_gateway().as_deref(), Some("gw:8443"));
    }

    #[test]
    fn the_printed_configuration_hides_every_secret() {
        let fx = Fixture::new();
        std::fs::write(fx.dir.path().join("token"), "tok-123\n").unwrap();
        std::fs::write(fx.dir.path().join("mesos-secret"), "mesos-pw").unwrap();
        let token = fx.dir.path().join("token");
        let secret = fx.dir.path().join("mesos-secret");
        let extra = [
            &MDMS[..],
            &[
                "--api-token-file",
                token.to_str().unwrap(),
                "--principal",
                "fw",
                "--secret-file",
                secret.to_str().unwrap(),
            ],
        ]
        .concat();
        let config = fx.check(&extra, &[]).unwrap();
        let printed = config.to_string();
        let debugged = format!("{config:?}");
        for secret in ["s3cret-pw", "tok-123", "mesos-pw"] {
            assert!(!printed.contains(secret), "{printed}");
            assert!(!debugged.contains(secret), "{debugged}");
        }
        assert!(printed.contains("password = ***\n"), "{printed}");
        assert!(printed.contains("api-token = ***\n"), "{printed}");
        assert!(printed.contains("secret = ***\n"), "{printed}");
        assert!(printed.contains("principal = fw\n"), "{printed}");
    }
}
