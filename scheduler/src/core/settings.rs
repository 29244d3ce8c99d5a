//! What the core is configured with: the deployment mode, ScaleIO names, executor earmarks, the
//! artifacts agents fetch, and the retry and offer policy. Built from [`crate::config::Config`]
//! plus the bundle index the loop read at start-up; plain data, so tests write it out.

use std::str::FromStr;

use packaging::bundle::IndexArtifact;
use packaging::catalog::Platform;
use scaleio::devices::DeviceRules;
use scaleio::topology::{MdmRequirements, Mode, PreconfiguredCluster};
use scaleio::{ObjectName, SecretRef};

use crate::config::{self, Config};

/// CPU and memory (MB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem_mb: f64,
}

/// One platform bundle as agents fetch it.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleRef {
    /// The platform (the agent's `os` attribute names it).
    pub platform: Platform,
    /// Where the fetcher downloads it.
    pub uri: String,
    /// The file name carries its digest, so the fetcher may cache it.
    pub immutable: bool,
    /// What it holds (component, version, file).
    pub artifacts: Vec<IndexArtifact>,
}

/// The core's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Pre-configured cluster or full provisioning.
    pub mode: Mode,
    /// The ScaleIO system name (`--rename_system`, REX-Ray's `systemName`).
    pub cluster_name: ObjectName,
    /// The default protection domain.
    pub protection_domain: ObjectName,
    /// The default storage pool.
    pub storage_pool: ObjectName,
    /// The gateway `host[:port]`; in full mode `None` means the primary MDM.
    pub gateway: Option<String>,
    /// The ScaleIO admin user.
    pub admin_user: String,
    /// Where executors read the admin password (steps carry this reference, never the value).
    pub password: SecretRef,
    /// Executor earmark on MDM nodes.
    pub executor_mdm: Resources,
    /// Executor earmark on data nodes.
    pub executor_data: Resources,
    /// Resources of each step task (the master refuses tasks without resources).
    pub task: Resources,
    /// Skip the reboot phase.
    pub no_reboot: bool,
    /// The host the scheduler runs on: rebooted last.
    pub scheduler_host: String,
    /// The Mesos role resources are offered under.
    pub role: String,
    /// URI of the executor binary.
    pub executor_uri: String,
    /// One bundle per platform.
    pub bundles: Vec<BundleRef>,
    /// New agents may join: never SUPPRESS (offers are the only way to see a new agent).
    pub onboarding: bool,
    /// Attempts of a step before it waits for an operator.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
    /// `refuse_seconds` for offers we do not need (long: REVIVE clears it when a step is ready).
    pub decline_secs: f64,
    /// A launched task without any update for this long is reconciled explicitly.
    pub launch_timeout_secs: u64,
    /// A node whose agent the master removed, with no offer since, for this long (or whose ready
    /// steps waited this long for an offer that did not come): its unfinished steps go to error
    /// and the other nodes go on without it (`--agent-lost-timeout`).
    pub agent_lost_timeout_secs: u64,
    /// Free-device discovery rules for preflight.
    pub device_rules: DeviceRules,
    /// Kernel pinned on Ubuntu 14.04 nodes.
    pub ubuntu_kernel: Option<String>,
    /// Which isolator the isolator step asks for (`--volume-isolator`).
    pub volume_isolator: scaleio::step::VolumeIsolator,
    /// How executors trust the gateway (`--gateway-ca-file`, `--gateway-insecure`).
    pub gateway_tls: scaleio::step::GatewayTls,
}

/// `--agent-lost-timeout`'s default: ten minutes, longer than a host takes to reboot.
pub const DEFAULT_AGENT_LOST_TIMEOUT_SECS: u64 = 600;

/// The platform named by an agent's `os` attribute.
pub const OS_ATTRIBUTE: &str = "os";

/// Why the settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("--{flag}: `{value}` is not a valid ScaleIO name: {source}")]
    Name {
        flag: &'static str,
        value: String,
        #[source]
        source: scaleio::NameError,
    },
    #[error(
        "no bundle found{where_}: the agents need one per platform (ubuntu14, rhel7)\nhint: run `cargo xtask bundle` and point --bundle-dir at its output"
    )]
    NoBundles { where_: String },
}

impl Settings {
    /// Settings from the validated configuration, with defaults for the policy knobs.
    pub fn from_config(
        config: &Config,
        executor_uri: String,
        bundles: Vec<BundleRef>,
    ) -> Result<Settings, SettingsError> {
        let name = |flag: &'static str, value: &str| {
            ObjectName::new(value).map_err(|source| SettingsError::Name {
                flag,
                value: value.to_owned(),
                source,
            })
        };
        if bundles.is_empty() {
            return Err(SettingsError::NoBundles { where_: String::new() });
        }
        let mode = match (config.mode, &config.mdms) {
            (config::Mode::Preconfigured, Some(mdms)) => {
                Mode::Preconfigured(PreconfiguredCluster {
                    primary: mdms.primary.to_string(),
                    secondary: mdms.secondary.to_string(),
                    tiebreaker: mdms.tiebreaker.to_string(),
                    gateway: config.gateway.clone(),
                })
            }
            _ => Mode::Full,
        };
        Ok(Settings {
            mode,
            cluster_name: name("cluster-name", &config.cluster_name)?,
            protection_domain: name("protection-domain", &config.protection_domain)?,
            storage_pool: name("storage-pool", &config.storage_pool)?,
            gateway: config.effective_gateway(),
            admin_user: "admin".to_owned(),
            password: SecretRef::File(config.agent_password_file.clone()),
            executor_mdm: Resources {
                cpus: config.executor_mdm.cpus,
                mem_mb: config.executor_mdm.mem_mb,
            },
            executor_data: Resources {
                cpus: config.executor_data.cpus,
                mem_mb: config.executor_data.mem_mb,
            },
            no_reboot: config.no_reboot,
            agent_lost_timeout_secs: config.agent_lost_timeout_secs,
            volume_isolator: config.volume_isolator.to_step(),
            gateway_tls: config.gateway_tls.clone(),
            scheduler_host: config.hostname.clone(),
            role: config.role.clone(),
            executor_uri,
            bundles,
            ..Settings::defaults()
        })
    }

    /// What an agent must offer to be chosen as an MDM host (full mode): the MDM executor's
    /// earmark plus one step task, what its first launch takes.
    pub fn mdm_requirements(&self) -> MdmRequirements {
        MdmRequirements {
            cpus: self.executor_mdm.cpus + self.task.cpus,
            mem_mb: self.executor_mdm.mem_mb + self.task.mem_mb,
            disk_mb: 0.0,
        }
    }

    /// Defaults for everything; tests override what they need.
    pub fn defaults() -> Settings {
        let name = |n: &str| ObjectName::new(n).expect("the default names are valid");
        Settings {
            mode: Mode::Full,
            cluster_name: name("scaleio"),
            protection_domain: name("default"),
            storage_pool: name("default"),
            gateway: None,
            admin_user: "admin".to_owned(),
            password: SecretRef::default(),
            executor_mdm: Resources { cpus: 1.5, mem_mb: 3072.0 },
            executor_data: Resources { cpus: 0.5, mem_mb: 512.0 },
            task: Resources { cpus: 0.01, mem_mb: 16.0 },
            no_reboot: false,
            scheduler_host: String::new(),
            role: "*".to_owned(),
            executor_uri: String::new(),
            bundles: Vec::new(),
            onboarding: true,
            max_attempts: 3,
            retry_base_secs: 10,
            retry_max_secs: 300,
            decline_secs: 120.0,
            launch_timeout_secs: 120,
            agent_lost_timeout_secs: DEFAULT_AGENT_LOST_TIMEOUT_SECS,
            device_rules: DeviceRules::default(),
            ubuntu_kernel: Some("4.4.0-38-generic".to_owned()),
            volume_isolator: scaleio::step::VolumeIsolator::Auto,
            gateway_tls: scaleio::step::GatewayTls::System,
        }
    }

    /// The bundle for an agent's `os` attribute value.
    pub fn bundle_for(&self, os: &str) -> Option<&BundleRef> {
        let platform = Platform::from_str(os.trim()).ok()?;
        self.bundles.iter().find(|b| b.platform == platform)
    }

    /// The platforms there are bundles for, for error messages.
    pub fn platforms(&self) -> String {
        self.bundles.iter().map(|b| b.platform.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Retry delay after `attempts` failed attempts (10 s, 20 s, 40 s, … capped).
    pub fn retry_delay_secs(&self, attempts: u32) -> u64 {
        let factor = 1u64 << attempts.saturating_sub(1).min(20);
        self.retry_base_secs.saturating_mul(factor).min(self.retry_max_secs)
    }
}
