//! The provisioning step vocabulary shared by scheduler and executor: every step the scheduler can
//! ask an executor to run (carried as JSON in `TaskInfo.data`), and every result an executor
//! reports (JSON in the `TASK_FINISHED` / `TASK_FAILED` status `data`).
//!
//! Both travel in a versioned envelope, `{"version":1,"step":{"kind":"...", ...}}` and
//! `{"version":1,"result":{...}}`. [`StepEnvelope::from_json`] refuses a newer version or an
//! unknown step kind with a message that says to upgrade the executor. Steps never carry secret
//! values, only [`SecretRef`]s. Every step is idempotent: the executor probes first, then acts.

use serde::{Deserialize, Serialize};

use crate::devices::{DeviceRules, DeviceSurvey};
use crate::names::{DevicePath, ObjectName};
use crate::secret::SecretRef;
use crate::topology::MdmRole;

/// The step schema version this crate speaks. Bump it when a change is not backward compatible.
pub const STEP_SCHEMA_VERSION: u32 = 1;

/// A step as it travels: `{"version":1,"step":{...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepEnvelope {
    /// Schema version ([`STEP_SCHEMA_VERSION`] when written by this crate).
    pub version: u32,
    /// The step.
    pub step: Step,
}

/// A result as it travels: `{"version":1,"result":{...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultEnvelope {
    /// Schema version.
    pub version: u32,
    /// The result.
    pub result: StepResult,
}

/// Why a step or result could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum VocabularyError {
    #[error("step data is not a JSON object with a numeric `version`")]
    NotAnEnvelope(#[source] serde_json::Error),
    #[error(
        "step schema version {found} is newer than this executor understands ({supported})\nhint: upgrade the executor binary to the scheduler's version"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("step schema version 0 is invalid")]
    VersionZero,
    #[error(
        "step kind `{kind}` is unknown to this executor (step schema {supported})\nhint: upgrade the executor binary to the scheduler's version"
    )]
    UnknownKind { kind: String, supported: u32 },
    #[error("step `{kind}` is malformed")]
    Malformed {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct RawEnvelope {
    version: u32,
    #[serde(default)]
    step: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<serde_json::Value>,
}

fn check_version(version: u32) -> Result<(), VocabularyError> {
    if version == 0 {
        return Err(VocabularyError::VersionZero);
    }
    if version > STEP_SCHEMA_VERSION {
        return Err(VocabularyError::TooNew { found: version, supported: STEP_SCHEMA_VERSION });
    }
    Ok(())
}

fn kind_of(value: &serde_json::Value) -> String {
    value.get("kind").and_then(|k| k.as_str()).unwrap_or("<missing kind>").to_owned()
}

impl StepEnvelope {
    /// Wraps a step in the current version.
    pub fn new(step: Step) -> Self {
        Self { version: STEP_SCHEMA_VERSION, step }
    }

    /// Encodes to JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .expect("step types serialise infallibly (no maps with non-string keys)")
    }

    /// Decodes, checking the version before looking at the step.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VocabularyError> {
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(VocabularyError::NotAnEnvelope)?;
        check_version(raw.version)?;
        let value = raw.step.unwrap_or(serde_json::Value::Null);
        let kind = kind_of(&value);
        if !STEP_KINDS.contains(&kind.as_str()) {
            return Err(VocabularyError::UnknownKind { kind, supported: STEP_SCHEMA_VERSION });
        }
        let step = serde_json::from_value(value)
            .map_err(|source| VocabularyError::Malformed { kind, source })?;
        Ok(Self { version: raw.version, step })
    }
}

impl ResultEnvelope {
    /// Wraps a result in the current version.
    pub fn new(result: StepResult) -> Self {
        Self { version: STEP_SCHEMA_VERSION, result }
    }

    /// Encodes to JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("result types serialise infallibly")
    }

    /// Decodes, checking the version first.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VocabularyError> {
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(VocabularyError::NotAnEnvelope)?;
        check_version(raw.version)?;
        let value = raw.result.unwrap_or(serde_json::Value::Null);
        let result = serde_json::from_value(value)
            .map_err(|source| VocabularyError::Malformed { kind: "result".to_owned(), source })?;
        Ok(Self { version: raw.version, result })
    }
}

/// Every step kind this version knows, as spelled in JSON.
pub const STEP_KINDS: &[&str] = &[
    "preflight",
    "install_prerequisites",
    "install_packages",
    "create_mdm_cluster",
    "add_standby_mdm",
    "switch_cluster_mode",
    "rename_system",
    "add_protection_domain",
    "add_storage_pool",
    "add_sds",
    "add_device",
    "configure_sdc",
    "configure_lia",
    "configure_gateway",
    "install_rexray",
    "install_dvdcli",
    "install_isolator",
    "restart_service",
    "reboot",
    "verify",
];

/// One provisioning step for one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Gather facts; changes nothing.
    Preflight(Preflight),
    /// OS packages ScaleIO needs (libaio, zip, Java) and, on Ubuntu 14.04, the pinned kernel.
    InstallPrerequisites(InstallPrerequisites),
    /// ScaleIO packages (MDM, SDS, SDC, LIA, gateway) from the bundle, in the given order.
    InstallPackages(InstallPackages),
    /// `scli --create_mdm_cluster` on the primary, then first login and password change.
    CreateMdmCluster(CreateMdmCluster),
    /// `scli --add_standby_mdm` for one MDM.
    AddStandbyMdm(AddStandbyMdm),
    /// `scli --switch_cluster_mode`.
    SwitchClusterMode(SwitchClusterMode),
    /// `scli --rename_system`.
    RenameSystem(RenameSystem),
    /// Create a protection domain (already existing is success).
    AddProtectionDomain(AddProtectionDomain),
    /// Create a storage pool (already existing is success).
    AddStoragePool(AddStoragePool),
    /// Create this node's SDS in a protection domain, optionally with devices.
    AddSds(AddSds),
    /// Add one device to an SDS in a pool.
    AddDevice(AddDevice),
    /// Point the SDC at the MDMs (`drv_cfg --add_mdm`) and verify.
    ConfigureSdc(ConfigureSdc),
    /// Write the LIA installation id from `scli --query_all`.
    ConfigureLia(ConfigureLia),
    /// Rewrite `gatewayUser.properties` keys, restart the gateway, wait until it answers.
    ConfigureGateway(ConfigureGateway),
    /// Install REX-Ray from the bundle, write `/etc/rexray/config.yml` (0600), add the scini
    /// dependency, restart REX-Ray.
    InstallRexray(InstallRexray),
    /// Install DVDCLI to `/usr/bin/dvdcli`.
    InstallDvdcli(InstallDvdcli),
    /// Install the dvdi isolator `.so` and write the agent flag files.
    InstallIsolator(InstallIsolator),
    /// Restart a service and wait until it is active.
    RestartService(RestartService),
    /// Reboot the host; done when the boot id differs from `previous_boot_id`.
    Reboot(Reboot),
    /// Check the node is in the wanted state; changes nothing.
    Verify(Verify),
}

impl Step {
    /// The JSON `kind` of this step.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Preflight(_) => "preflight",
            Step::InstallPrerequisites(_) => "install_prerequisites",
            Step::InstallPackages(_) => "install_packages",
            Step::CreateMdmCluster(_) => "create_mdm_cluster",
            Step::AddStandbyMdm(_) => "add_standby_mdm",
            Step::SwitchClusterMode(_) => "switch_cluster_mode",
            Step::RenameSystem(_) => "rename_system",
            Step::AddProtectionDomain(_) => "add_protection_domain",
            Step::AddStoragePool(_) => "add_storage_pool",
            Step::AddSds(_) => "add_sds",
            Step::AddDevice(_) => "add_device",
            Step::ConfigureSdc(_) => "configure_sdc",
            Step::ConfigureLia(_) => "configure_lia",
            Step::ConfigureGateway(_) => "configure_gateway",
            Step::InstallRexray(_) => "install_rexray",
            Step::InstallDvdcli(_) => "install_dvdcli",
            Step::InstallIsolator(_) => "install_isolator",
            Step::RestartService(_) => "restart_service",
            Step::Reboot(_) => "reboot",
            Step::Verify(_) => "verify",
        }
    }
}

/// Gather host facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preflight {
    /// Rules for free-device discovery (`lsblk`).
    #[serde(default)]
    pub device_rules: DeviceRules,
    /// Package names whose installed versions to report.
    #[serde(default)]
    pub packages: Vec<String>,
}

/// OS prerequisites.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallPrerequisites {
    /// Distribution packages (`libaio1`, `zip` / `libaio`, `zip`, `unzip`, `java-1.8.0-openjdk`).
    pub packages: Vec<String>,
    /// Kernel to install, pin (GRUB default + hold) and require (Ubuntu 14.04 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelPin>,
}

/// A pinned kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelPin {
    /// Package name, e.g. `linux-image-4.4.0-38-generic`.
    pub package: String,
    /// `uname -r` wanted, e.g. `4.4.0-38-generic`.
    pub release: String,
}

/// A ScaleIO component package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// Meta Data Manager.
    Mdm,
    /// Storage Data Server.
    Sds,
    /// Storage Data Client (scini kernel module).
    Sdc,
    /// Light Installation Agent.
    Lia,
    /// REST gateway.
    Gateway,
}

/// OS family, for package names and managers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    /// Ubuntu 14.04 (dpkg/apt-get).
    Debian,
    /// RHEL/CentOS 7 (rpm/yum).
    Rhel,
}

impl Component {
    /// The installed package name: `emc-scaleio-mdm` (Debian) / `EMC-ScaleIO-mdm` (RHEL).
    pub fn package_name(self, family: OsFamily) -> &'static str {
        match (family, self) {
            (OsFamily::Debian, Component::Mdm) => "emc-scaleio-mdm",
            (OsFamily::Debian, Component::Sds) => "emc-scaleio-sds",
            (OsFamily::Debian, Component::Sdc) => "emc-scaleio-sdc",
            (OsFamily::Debian, Component::Lia) => "emc-scaleio-lia",
            (OsFamily::Debian, Component::Gateway) => "emc-scaleio-gateway",
            (OsFamily::Rhel, Component::Mdm) => "EMC-ScaleIO-mdm",
            (OsFamily::Rhel, Component::Sds) => "EMC-ScaleIO-sds",
            (OsFamily::Rhel, Component::Sdc) => "EMC-ScaleIO-sdc",
            (OsFamily::Rhel, Component::Lia) => "EMC-ScaleIO-lia",
            (OsFamily::Rhel, Component::Gateway) => "EMC-ScaleIO-gateway",
        }
    }
}

/// Install-time settings of one component (they become environment variables of `dpkg -i` /
/// `rpm -Uvh`; see [`ComponentSettings::install_env`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "component", rename_all = "snake_case")]
pub enum ComponentSettings {
    /// `MDM_ROLE_IS_MANAGER=1|0`.
    Mdm {
        /// Manager or tiebreaker.
        role: MdmRole,
    },
    /// No settings.
    Sds,
    /// `MDM_IP=<ip>,<ip>`.
    Sdc {
        /// MDM IPs (primary, secondary).
        mdm_ips: Vec<String>,
    },
    /// `TOKEN=<admin password>`.
    Lia {
        /// The admin password.
        token: SecretRef,
    },
    /// `GATEWAY_ADMIN_PASSWORD=<admin password>`.
    Gateway {
        /// The admin password.
        admin_password: SecretRef,
    },
}

/// An install-time environment value: plain text, or a secret to resolve (never logged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    /// Plain value.
    Plain(String),
    /// Secret reference.
    Secret(SecretRef),
}

impl ComponentSettings {
    /// Which component.
    pub fn component(&self) -> Component {
        match self {
            ComponentSettings::Mdm { .. } => Component::Mdm,
            ComponentSettings::Sds => Component::Sds,
            ComponentSettings::Sdc { .. } => Component::Sdc,
            ComponentSettings::Lia { .. } => Component::Lia,
            ComponentSettings::Gateway { .. } => Component::Gateway,
        }
    }

    /// The environment of the package installer.
    pub fn install_env(&self) -> Vec<(&'static str, EnvValue)> {
        match self {
            ComponentSettings::Mdm { role } => {
                vec![("MDM_ROLE_IS_MANAGER", EnvValue::Plain(role.is_manager_env().to_owned()))]
            }
            ComponentSettings::Sds => vec![],
            ComponentSettings::Sdc { mdm_ips } => {
                vec![("MDM_IP", EnvValue::Plain(mdm_ips.join(",")))]
            }
            ComponentSettings::Lia { token } => vec![("TOKEN", EnvValue::Secret(token.clone()))],
            ComponentSettings::Gateway { admin_password } => {
                vec![("GATEWAY_ADMIN_PASSWORD", EnvValue::Secret(admin_password.clone()))]
            }
        }
    }
}

/// Whether an installed package version satisfies the wanted one. ScaleIO versions come as
/// `2.0-10000.2072` (file name), `2.0.10000.2072.Ubuntu.14.04` (dpkg) or `2.0-10000.2072.el7`
/// (rpm `Version-Release`): `-` and `.` are treated alike, and the installed version may carry
/// trailing non-numeric components (distribution tags) but no further numbers.
pub fn version_matches(wanted: &str, installed: &str) -> bool {
    let parts = |v: &str| -> Vec<String> {
        v.trim().split(['-', '.', '~', '_']).filter(|p| !p.is_empty()).map(str::to_owned).collect()
    };
    let (w, i) = (parts(wanted), parts(installed));
    if w.is_empty() || i.len() < w.len() || i[..w.len()] != w[..] {
        return false;
    }
    // What follows must not be another number (2.0-10000.2072 must not match 2.0-10000.20721 or
    // 2.0-10000.2072.1), but distribution tags such as `Ubuntu.14.04` or `el7` are fine.
    match i.get(w.len()) {
        None => true,
        Some(next) => !next.chars().next().is_some_and(|c| c.is_ascii_digit()),
    }
}

/// One package to install. JSON: `{"component":"sdc","mdm_ips":[..],"artifact":"..","version":".."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageInstall {
    /// Component and its install settings.
    #[serde(flatten)]
    pub settings: ComponentSettings,
    /// File name inside the node's bundle (verified by the executor before use).
    pub artifact: String,
    /// Wanted version, e.g. `2.0-10000.2072`; compared after normalising `-` and `.`.
    pub version: String,
}

/// ScaleIO packages to install, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallPackages {
    /// Packages in install order (MDM, SDS, SDC, then LIA, gateway on MDMs).
    pub packages: Vec<PackageInstall>,
}

/// How the executor logs in to the MDM with `scli`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdmLogin {
    /// `--mdm_ip` to talk to; the local MDM when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_ip: Option<String>,
    /// Admin user (`admin`).
    pub username: String,
    /// Admin password.
    pub password: SecretRef,
}

/// TLS trust for the gateway (self-signed by default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "trust", rename_all = "snake_case", deny_unknown_fields)]
pub enum GatewayTls {
    /// The system roots.
    #[default]
    System,
    /// A CA certificate (PEM) file.
    CaFile {
        /// Path of the PEM file.
        path: String,
    },
    /// No verification (logs a warning on every client built).
    Insecure,
}

/// Where cluster objects are created: through `scli` on an MDM node, or the REST gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClusterAccess {
    /// `scli` on this node (an MDM).
    Scli {
        /// Login.
        login: MdmLogin,
    },
    /// The REST gateway.
    Gateway {
        /// `https://<gw>` (the client appends `/api`).
        endpoint: String,
        /// User (`admin`).
        username: String,
        /// Password.
        password: SecretRef,
        /// TLS trust.
        #[serde(default)]
        tls: GatewayTls,
    },
}

/// Create the MDM cluster on the primary (skipped when `--query_cluster` shows a cluster).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMdmCluster {
    /// Primary MDM IP.
    pub master_ip: String,
    /// Primary MDM management IP.
    pub master_management_ip: String,
    /// Primary MDM name (`mdm1`).
    pub master_name: ObjectName,
    /// The admin password to set (the initial one is `admin`).
    pub admin_password: SecretRef,
}

/// Add a standby MDM (skipped when already a member).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddStandbyMdm {
    /// Login on the primary.
    pub login: MdmLogin,
    /// The new MDM's IP.
    pub ip: String,
    /// Management IP (managers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_ip: Option<String>,
    /// Name (`mdm2`, `tb`).
    pub name: ObjectName,
    /// Role.
    pub role: MdmRole,
}

/// Switch the cluster to 3-node mode (skipped when `Mode: 3_node`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchClusterMode {
    /// Login on the primary.
    pub login: MdmLogin,
    /// Slave (secondary) MDM names to add.
    pub add_slave_names: Vec<ObjectName>,
    /// Tiebreaker names to add.
    pub add_tb_names: Vec<ObjectName>,
}

/// Rename the system (skipped when already so named).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameSystem {
    /// Login on the primary.
    pub login: MdmLogin,
    /// New system name (the cluster name REX-Ray looks up).
    pub name: ObjectName,
}

/// Create a protection domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddProtectionDomain {
    /// How.
    pub access: ClusterAccess,
    /// Name.
    pub name: ObjectName,
}

/// Create a storage pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddStoragePool {
    /// How.
    pub access: ClusterAccess,
    /// Protection domain.
    pub protection_domain: ObjectName,
    /// Pool name.
    pub name: ObjectName,
}

/// A device and the pool it goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAssignment {
    /// Device path on the SDS host.
    pub path: DevicePath,
    /// Pool in the SDS's protection domain.
    pub storage_pool: ObjectName,
}

/// Create an SDS (one per node per protection domain, named `sds_<ip>` by default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSds {
    /// How.
    pub access: ClusterAccess,
    /// Protection domain.
    pub protection_domain: ObjectName,
    /// SDS name.
    pub name: ObjectName,
    /// SDS IP (role `all`).
    pub ip: String,
    /// Devices to add at creation (may be empty; add later with [`AddDevice`]).
    #[serde(default)]
    pub devices: Vec<DeviceAssignment>,
}

/// Add one device to an SDS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDevice {
    /// How.
    pub access: ClusterAccess,
    /// Protection domain of the SDS.
    pub protection_domain: ObjectName,
    /// SDS name.
    pub sds_name: ObjectName,
    /// SDS IP.
    pub sds_ip: String,
    /// Device.
    pub device: DeviceAssignment,
}

/// Point the SDC at the MDMs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigureSdc {
    /// MDM IPs (primary, secondary).
    pub mdm_ips: Vec<String>,
}

/// Write the LIA installation id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigureLia {
    /// Login used for `scli --query_all`.
    pub login: MdmLogin,
}

/// A service and how to restart it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartService {
    /// Unit / init script name (`scaleio-gateway`, `rexray`, `mesos-slave`).
    pub service: String,
    /// Seconds to wait for it to become active.
    #[serde(default = "default_wait")]
    pub wait_seconds: u32,
}

fn default_wait() -> u32 {
    60
}

/// Configure the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigureGateway {
    /// `mdm.ip.addresses`.
    pub mdm_ips: Vec<String>,
    /// `security.bypass_certificate_check` (the MDM certificate is self-signed; `true` as ORIG).
    pub bypass_certificate_check: bool,
    /// Restart afterwards (service `scaleio-gateway`) and wait for `https://<ip>/api/version`.
    pub restart: RestartService,
}

/// What REX-Ray is configured with (rendered to `/etc/rexray/config.yml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RexraySettings {
    /// `https://<gw>/api`.
    pub gateway_endpoint: String,
    /// Skip TLS verification of the gateway (`scaleio.insecure`).
    pub insecure: bool,
    /// User.
    pub username: String,
    /// Password (rendered into a 0600 file).
    pub password: SecretRef,
    /// System by name or id.
    pub system: SystemSelector,
    /// The one pool volumes are created in.
    pub pool: crate::topology::PoolRef,
    /// `ThinProvisioned` or `ThickProvisioned`.
    pub thin_or_thick: String,
    /// REX-Ray log level.
    pub log_level: String,
}

/// A ScaleIO system by name or id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SystemSelector {
    /// `scaleio.systemName`.
    Name(String),
    /// `scaleio.systemID`.
    Id(String),
}

/// Install and configure REX-Ray.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRexray {
    /// Package file inside the bundle.
    pub artifact: String,
    /// Wanted version (e.g. `0.9.2`).
    pub version: String,
    /// Configuration.
    pub settings: RexraySettings,
}

/// Install DVDCLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallDvdcli {
    /// Package file inside the bundle.
    pub artifact: String,
    /// Wanted version.
    pub version: String,
}

/// Install the dvdi isolator and the agent flags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallIsolator {
    /// `.so` file inside the bundle.
    pub artifact: String,
    /// Module version (e.g. `0.4.6`).
    pub version: String,
    /// The Mesos version the module was built for; the executor refuses if the agent runs another.
    pub mesos_version: String,
    /// Restart the agent service when a flag file changed.
    pub restart: RestartService,
    /// Which isolator gives tasks their volumes. Absent in the JSON of schedulers that predate
    /// the choice, which meant [`VolumeIsolator::Dvdi`]; not written when it is `dvdi`, so an
    /// older executor still reads this step.
    #[serde(default, skip_serializing_if = "VolumeIsolator::is_dvdi")]
    pub volume_isolator: VolumeIsolator,
}

/// The isolator that mounts ScaleIO volumes into tasks (`dvdcli` does the mounting either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeIsolator {
    /// The `mesos-module-dvdi` `.so`, loaded through the agent's `modules` flag; it must be built
    /// for exactly the agent's Mesos version. Tasks ask through `DVDI_VOLUME_*` variables.
    #[default]
    Dvdi,
    /// Mesos' native `docker/volume` isolator (Mesos >= 1.0, Mesos containerizer): no module,
    /// `filesystem/linux,docker/volume` added to the agent's `isolation` flag. Tasks ask through
    /// `DOCKER_VOLUME` volume sources. Refused on an agent that reports Mesos < 1.0.
    DockerVolume,
    /// `docker_volume` when the agent reports Mesos >= 1.0, `dvdi` when it reports an older
    /// version or none.
    Auto,
}

impl VolumeIsolator {
    /// Every choice, in the order flags list them.
    pub const ALL: [VolumeIsolator; 3] =
        [VolumeIsolator::Dvdi, VolumeIsolator::DockerVolume, VolumeIsolator::Auto];

    /// True for [`VolumeIsolator::Dvdi`] (the JSON default).
    pub fn is_dvdi(&self) -> bool {
        *self == VolumeIsolator::Dvdi
    }

    /// The name operators write (`dvdi`, `docker-volume`, `auto`).
    pub fn flag_value(self) -> &'static str {
        match self {
            VolumeIsolator::Dvdi => "dvdi",
            VolumeIsolator::DockerVolume => "docker-volume",
            VolumeIsolator::Auto => "auto",
        }
    }

    /// Parses [`VolumeIsolator::flag_value`] (`docker_volume` is accepted too).
    pub fn from_flag_value(s: &str) -> Option<VolumeIsolator> {
        match s.trim() {
            "dvdi" => Some(VolumeIsolator::Dvdi),
            "docker-volume" | "docker_volume" | "docker/volume" => {
                Some(VolumeIsolator::DockerVolume)
            }
            "auto" => Some(VolumeIsolator::Auto),
            _ => None,
        }
    }

    /// What runs on an agent reporting `mesos_version` (`None`: unknown): never `Auto`.
    /// `Err` names the agent's version when `DockerVolume` was asked of a Mesos older than 1.0.
    pub fn resolve(self, mesos_version: Option<&str>) -> Result<VolumeIsolator, String> {
        let native = mesos_version.map(mesos_at_least_1_0);
        match (self, native) {
            (VolumeIsolator::Dvdi, _) => Ok(VolumeIsolator::Dvdi),
            (VolumeIsolator::DockerVolume, Some(false)) => {
                Err(mesos_version.unwrap_or_default().to_owned())
            }
            (VolumeIsolator::DockerVolume, _) => Ok(VolumeIsolator::DockerVolume),
            (VolumeIsolator::Auto, Some(true)) => Ok(VolumeIsolator::DockerVolume),
            (VolumeIsolator::Auto, _) => Ok(VolumeIsolator::Dvdi),
        }
    }
}

/// Whether a Mesos version (`1.0.1`, `0.28.2`, `1.12.0`) is 1.0 or newer; an unreadable major
/// counts as older.
fn mesos_at_least_1_0(version: &str) -> bool {
    version.trim().split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 1)
}

/// Reboot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reboot {
    /// Boot id seen before the reboot was asked for; when the current one differs the step is done.
    /// Absent on the first attempt: the executor reports the current boot id and reboots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_boot_id: Option<String>,
}

/// Checks for [`Verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// `uname -r` equals.
    Kernel {
        /// Release.
        release: String,
    },
    /// A package is installed at a version.
    Package {
        /// Name.
        name: String,
        /// Version (normalised compare).
        version: String,
    },
    /// A service is active.
    ServiceActive {
        /// Name.
        service: String,
    },
    /// The SDC knows these MDMs (`drv_cfg --query_mdms`).
    SdcMdms {
        /// IPs.
        mdm_ips: Vec<String>,
    },
    /// The MDM cluster is in 3-node mode (`scli --query_cluster`).
    ClusterMode {
        /// Login.
        login: MdmLogin,
    },
    /// `rexray volume ls` succeeds.
    RexrayVolumes,
}

/// Verify.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// Checks to run.
    pub checks: Vec<Check>,
}

// ------------------------------------------------------------------------------------------------
// Results

/// What an executor reports for a finished step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepResult {
    /// Whether the host or the cluster changed (false: it was already so).
    pub changed: bool,
    /// Step-specific facts.
    pub outcome: Outcome,
    /// SHA-256 (hex) of the full command transcript, kept on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_sha256: Option<String>,
}

/// A failed step (sent with `TASK_FAILED`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFailure {
    /// The step kind.
    pub kind: String,
    /// One-line reason a person can act on.
    pub message: String,
    /// The argv that failed, secrets replaced by `***`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Its exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Last lines of its output.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output_tail: String,
    /// Whether retrying may help.
    pub retryable: bool,
}

/// Step-specific result facts; `kind` matches the step's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Host facts.
    Preflight(PreflightFacts),
    /// Prerequisites.
    InstallPrerequisites {
        /// Packages now installed with versions.
        packages: Vec<InstalledPackage>,
        /// The running kernel is not the pinned one: a reboot step must follow.
        reboot_required: bool,
    },
    /// Packages.
    InstallPackages {
        /// One per requested package.
        packages: Vec<PackageOutcome>,
    },
    /// Cluster as `scli --query_cluster` shows it after the step.
    CreateMdmCluster(ClusterFacts),
    /// Cluster after the step.
    AddStandbyMdm(ClusterFacts),
    /// Cluster after the step.
    SwitchClusterMode(ClusterFacts),
    /// Cluster after the step.
    RenameSystem(ClusterFacts),
    /// Object created or found.
    AddProtectionDomain(ObjectOutcome),
    /// Object created or found.
    AddStoragePool(ObjectOutcome),
    /// SDS created or found, devices attached.
    AddSds {
        /// The SDS.
        sds: ObjectOutcome,
        /// Its devices.
        devices: Vec<ObjectOutcome>,
    },
    /// Device attached or found.
    AddDevice(ObjectOutcome),
    /// SDC MDM list now.
    ConfigureSdc {
        /// MDM IPs the SDC knows.
        mdm_ips: Vec<String>,
        /// SDC GUID (`drv_cfg --query_guid`).
        guid: Option<String>,
    },
    /// LIA installation id written.
    ConfigureLia {
        /// The id.
        installation_id: String,
    },
    /// Gateway configured and answering.
    ConfigureGateway {
        /// `/api/version` answer.
        api_version: String,
    },
    /// REX-Ray.
    InstallRexray {
        /// Installed version.
        version: String,
    },
    /// DVDCLI.
    InstallDvdcli {
        /// Installed version.
        version: String,
    },
    /// Isolator.
    InstallIsolator {
        /// Installed module file.
        module_file: String,
        /// Whether the agent service was restarted.
        agent_restarted: bool,
    },
    /// Service restarted.
    RestartService {
        /// Service.
        service: String,
    },
    /// Reboot: `rebooting` with the current boot id, or done with the new one.
    Reboot {
        /// Boot id now.
        boot_id: String,
        /// True: a reboot was issued and the executor will go away; the scheduler re-sends the
        /// step with `previous_boot_id` when the executor is back.
        rebooting: bool,
    },
    /// Checks.
    Verify {
        /// One per check, in order.
        checks: Vec<CheckOutcome>,
    },
}

/// Host facts from preflight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightFacts {
    /// `hostname`.
    pub hostname: String,
    /// Non-loopback IPv4 addresses.
    pub ips: Vec<String>,
    /// From `/etc/os-release`.
    pub os: OsFacts,
    /// `uname -r`.
    pub kernel: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// `systemd` or `sysv` (upstart/update-rc.d).
    pub init_system: InitSystem,
    /// Devices found free or refused.
    pub devices: DeviceSurvey,
    /// Requested packages that are installed.
    pub packages: Vec<InstalledPackage>,
    /// `java -version` if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_version: Option<String>,
    /// `mesos-slave --version` if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos_version: Option<String>,
}

/// OS identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsFacts {
    /// `ID` (`ubuntu`, `rhel`, `centos`).
    pub id: String,
    /// `VERSION_ID` (`14.04`, `7`).
    pub version_id: String,
    /// Family, if supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<OsFamily>,
}

/// Init system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitSystem {
    /// systemd (`systemctl`).
    Systemd,
    /// SysV/upstart (`service`, `update-rc.d`).
    Sysv,
}

/// An installed package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledPackage {
    /// Name.
    pub name: String,
    /// Version as the package manager reports it.
    pub version: String,
}

/// What happened to one package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageOutcome {
    /// Component.
    pub component: Component,
    /// Package name.
    pub name: String,
    /// Version now installed.
    pub version: String,
    /// `installed`, `upgraded` or `already_present`.
    pub action: PackageAction,
}

/// Package action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageAction {
    /// Newly installed.
    Installed,
    /// Another version was replaced.
    Upgraded,
    /// Wanted version was there.
    AlreadyPresent,
}

/// A cluster object created or found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectOutcome {
    /// Name or device path.
    pub name: String,
    /// ScaleIO id when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// True if it existed before this step.
    pub already_existed: bool,
}

/// One MDM in the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdmFacts {
    /// Name.
    pub name: String,
    /// IPs.
    pub ips: Vec<String>,
}

/// The MDM cluster as `scli --query_cluster` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFacts {
    /// `1_node` or `3_node`.
    pub mode: String,
    /// `Normal`, `Degraded`, ...
    pub state: String,
    /// System name, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Master MDM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<MdmFacts>,
    /// Slave MDMs.
    #[serde(default)]
    pub slaves: Vec<MdmFacts>,
    /// Tiebreakers.
    #[serde(default)]
    pub tiebreakers: Vec<MdmFacts>,
    /// Standby MDMs (added, not yet in the cluster).
    #[serde(default)]
    pub standbys: Vec<MdmFacts>,
}

/// One verify check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckOutcome {
    /// The check.
    pub check: Check,
    /// Passed.
    pub ok: bool,
    /// What was found.
    pub found: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> MdmLogin {
        MdmLogin { mdm_ip: None, username: "admin".into(), password: SecretRef::default() }
    }

    #[test]
    fn an_older_schedulers_isolator_step_still_means_dvdi() {
        let json = r#"{"artifact":"libmesos_dvdi_isolator-1.0.1.so","version":"0.4.6","mesos_version":"1.0.1","restart":{"service":"mesos-slave","wait_seconds":60}}"#;
        let step: InstallIsolator = serde_json::from_str(json).expect("old JSON parses");
        assert_eq!(step.volume_isolator, VolumeIsolator::Dvdi);
        assert_eq!(serde_json::to_string(&step).expect("json"), json, "dvdi is not written");
        let native = InstallIsolator { volume_isolator: VolumeIsolator::DockerVolume, ..step };
        let json = serde_json::to_string(&native).expect("json");
        assert!(json.ends_with(r#","volume_isolator":"docker_volume"}"#), "{json}");
        let back: InstallIsolator = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, native);
    }

    #[test]
    fn volume_isolator_resolves_against_the_agents_mesos() {
        use VolumeIsolator::*;
        assert_eq!(Auto.resolve(Some("1.0.1")), Ok(DockerVolume));
        assert_eq!(Auto.resolve(Some("1.12.0")), Ok(DockerVolume));
        assert_eq!(Auto.resolve(Some("0.28.2")), Ok(Dvdi));
        assert_eq!(Auto.resolve(None), Ok(Dvdi), "unknown: the module the bundle carries");
        assert_eq!(Dvdi.resolve(Some("1.12.0")), Ok(Dvdi));
        assert_eq!(DockerVolume.resolve(None), Ok(DockerVolume), "the operator asked for it");
        assert_eq!(DockerVolume.resolve(Some("0.28.2")), Err("0.28.2".to_owned()));
        for v in VolumeIsolator::ALL {
            assert_eq!(VolumeIsolator::from_flag_value(v.flag_value()), Some(v));
        }
        assert_eq!(VolumeIsolator::from_flag_value("docker"), None);
    }

    #[test]
    fn example_steps_as_json() {
        let steps = vec![
            Step::InstallPackages(InstallPackages {
                packages: vec![
                    PackageInstall {
                        settings: ComponentSettings::Mdm { role: MdmRole::Manager },
                        artifact: "EMC-ScaleIO-mdm-2.0-10000.2072.Ubuntu.14.04.x86_64.deb".into(),
                        version: "2.0-10000.2072".into(),
                    },
                    PackageInstall {
                        settings: ComponentSettings::Sdc {
                            mdm_ips: vec!["10.0.0.1".into(), "10.0.0.2".into()],
                        },
                        artifact: "EMC-ScaleIO-sdc-2.0-10000.2072.Ubuntu.14.04.x86_64.deb".into(),
                        version: "2.0-10000.2072".into(),
                    },
                    PackageInstall {
                        settings: ComponentSettings::Gateway {
                            admin_password: SecretRef::default(),
                        },
                        artifact: "emc-scaleio-gateway_2.0-10000.2072_amd64.deb".into(),
                        version: "2.0-10000.2072".into(),
                    },
                ],
            }),
            Step::AddStandbyMdm(AddStandbyMdm {
                login: login(),
                ip: "10.0.0.3".into(),
                management_ip: None,
                name: ObjectName::new("tb").expect("name"),
                role: MdmRole::Tiebreaker,
            }),
            Step::AddSds(AddSds {
                access: ClusterAccess::Gateway {
                    endpoint: "https://10.0.0.1".into(),
                    username: "admin".into(),
                    password: SecretRef::File("/run/secrets/scaleio".into()),
                    tls: GatewayTls::CaFile { path: "/etc/scaleio/gateway-ca.pem".into() },
                },
                protection_domain: ObjectName::new("pd1").expect("name"),
                name: ObjectName::new("sds_10.0.0.4").expect("name"),
                ip: "10.0.0.4".into(),
                devices: vec![DeviceAssignment {
                    path: DevicePath::new("/dev/xvdf").expect("path"),
                    storage_pool: ObjectName::new("sp1").expect("name"),
                }],
            }),
            Step::Reboot(Reboot { previous_boot_id: Some("3f1c".into()) }),
        ];
        let text: Vec<String> = steps
            .into_iter()
            .map(|s| String::from_utf8(StepEnvelope::new(s).to_json()).expect("utf8"))
            .collect();
        expect_test::expect![[r#"
            [
                "{\"version\":1,\"step\":{\"kind\":\"install_packages\",\"packages\":[{\"component\":\"mdm\",\"role\":\"manager\",\"artifact\":\"EMC-ScaleIO-mdm-2.0-10000.2072.Ubuntu.14.04.x86_64.deb\",\"version\":\"2.0-10000.2072\"},{\"component\":\"sdc\",\"mdm_ips\":[\"10.0.0.1\",\"10.0.0.2\"],\"artifact\":\"EMC-ScaleIO-sdc-2.0-10000.2072.Ubuntu.14.04.x86_64.deb\",\"version\":\"2.0-10000.2072\"},{\"component\":\"gateway\",\"admin_password\":{\"env\":\"SCALEIO_ADMIN_PASSWORD\"},\"artifact\":\"emc-scaleio-gateway_2.0-10000.2072_amd64.deb\",\"version\":\"2.0-10000.2072\"}]}}",
                "{\"version\":1,\"step\":{\"kind\":\"add_standby_mdm\",\"login\":{\"username\":\"admin\",\"password\":{\"env\":\"SCALEIO_ADMIN_PASSWORD\"}},\"ip\":\"10.0.0.3\",\"name\":\"tb\",\"role\":\"tiebreaker\"}}",
                "{\"version\":1,\"step\":{\"kind\":\"add_sds\",\"access\":{\"via\":\"gateway\",\"endpoint\":\"https://10.0.0.1\",\"username\":\"admin\",\"password\":{\"file\":\"/run/secrets/scaleio\"},\"tls\":{\"trust\":\"ca_file\",\"path\":\"/etc/scaleio/gateway-ca.pem\"}},\"protection_domain\":\"pd1\",\"name\":\"sds_10.0.0.4\",\"ip\":\"10.0.0.4\",\"devices\":[{\"path\":\"/dev/xvdf\",\"storage_pool\":\"sp1\"}]}}",
                "{\"version\":1,\"step\":{\"kind\":\"reboot\",\"previous_boot_id\":\"3f1c\"}}",
            ]
        "#]]
        .assert_debug_eq(&text);
        for t in &text {
            let back = StepEnvelope::from_json(t.as_bytes()).expect("round trip");
            assert_eq!(String::from_utf8(back.to_json()).expect("utf8"), *t);
        }
    }

    #[test]
    fn package_versions_compare_across_dpkg_rpm_and_file_names() {
        for installed in [
            "2.0-10000.2072",
            "2.0.10000.2072.Ubuntu.14.04",
            "2.0-10000.2072.el7",
            " 2.0.10000.2072\n",
        ] {
            assert!(version_matches("2.0-10000.2072", installed), "{installed}");
        }
        for installed in ["2.0-10000.2071", "2.0-10000.20721", "2.0-10000.2072.1", "2.0-10000", ""]
        {
            assert!(!version_matches("2.0-10000.2072", installed), "{installed}");
        }
        assert!(!version_matches("", "1"));
    }

    #[test]
    fn example_preflight_result_as_json() {
        let r = ResultEnvelope::new(StepResult {
            changed: false,
            outcome: Outcome::Preflight(PreflightFacts {
                hostname: "agent-1".into(),
                ips: vec!["10.0.0.4".into()],
                os: OsFacts {
                    id: "ubuntu".into(),
                    version_id: "14.04".into(),
                    family: Some(OsFamily::Debian),
                },
                kernel: "4.4.0-38-generic".into(),
                boot_id: "5f0c1e2a-9d7b-4c1e-8a51-3b2f6d7e8c90".into(),
                init_system: InitSystem::Sysv,
                devices: DeviceSurvey {
                    free: vec![crate::devices::FreeDevice {
                        path: DevicePath::new("/dev/xvdf").expect("path"),
                        size_bytes: 107_374_182_400,
                    }],
                    refused: vec![crate::devices::RefusedDevice {
                        path: "/dev/xvda".into(),
                        reason: "in use by xvda1".into(),
                    }],
                },
                packages: vec![InstalledPackage {
                    name: "emc-scaleio-sds".into(),
                    version: "2.0.10000.2072.Ubuntu.14.04".into(),
                }],
                java_version: None,
                mesos_version: Some("1.0.1".into()),
            }),
            transcript_sha256: Some("9f2c".into()),
        });
        let json: serde_json::Value = serde_json::from_slice(&r.to_json()).expect("json");
        expect_test::expect![[r#"
            {
              "result": {
                "changed": false,
                "outcome": {
                  "boot_id": "5f0c1e2a-9d7b-4c1e-8a51-3b2f6d7e8c90",
                  "devices": {
                    "free": [
                      {
                        "path": "/dev/xvdf",
                        "size_bytes": 107374182400
                      }
                    ],
                    "refused": [
                      {
                        "path": "/dev/xvda",
                        "reason": "in use by xvda1"
                      }
                    ]
                  },
                  "hostname": "agent-1",
                  "init_system": "sysv",
                  "ips": [
                    "10.0.0.4"
                  ],
                  "kernel": "4.4.0-38-generic",
                  "kind": "preflight",
                  "mesos_version": "1.0.1",
                  "os": {
                    "family": "debian",
                    "id": "ubuntu",
                    "version_id": "14.04"
                  },
                  "packages": [
                    {
                      "name": "emc-scaleio-sds",
                      "version": "2.0.10000.2072.Ubuntu.14.04"
                    }
                  ]
                },
                "transcript_sha256": "9f2c"
              },
              "version": 1
            }"#]]
        .assert_eq(&serde_json::to_string_pretty(&json).expect("pretty"));
        assert_eq!(ResultEnvelope::from_json(&r.to_json()).expect("back"), r);
    }

    #[test]
    fn every_kind_is_listed() {
        let all = [
            Step::Preflight(Preflight::default()),
            Step::Reboot(Reboot::default()),
            Step::Verify(Verify::default()),
            Step::ConfigureSdc(ConfigureSdc { mdm_ips: vec![] }),
        ];
        for s in all {
            assert!(STEP_KINDS.contains(&s.kind()));
            let v = serde_json::to_value(&s).expect("json");
            assert_eq!(v["kind"], s.kind());
        }
        assert_eq!(STEP_KINDS.len(), 20);
    }

    #[test]
    fn newer_version_and_unknown_kind_are_refused_clearly() {
        let err = StepEnvelope::from_json(br#"{"version":2,"step":{"kind":"preflight"}}"#)
            .expect_err("too new");
        assert!(
            err.to_string().contains("version 2 is newer than this executor understands (1)"),
            "{err}"
        );
        let err = StepEnvelope::from_json(br#"{"version":1,"step":{"kind":"teleport"}}"#)
            .expect_err("unknown");
        assert!(err.to_string().starts_with("step kind `teleport` is unknown"), "{err}");
        let err = StepEnvelope::from_json(br#"{"version":1,"step":{"kind":"reboot","bogus":1}}"#)
            .expect_err("bad");
        assert!(
            matches!(err, VocabularyError::Malformed { ref kind, .. } if kind == "reboot"),
            "{err}"
        );
        assert!(StepEnvelope::from_json(b"[]").is_err());
        let err = StepEnvelope::from_json(br#"{"version":1,"step":{"kind":"add_protection_domain","access":{"via":"scli","login":{"username":"admin","password":{"env":"P"}}},"name":"a b"}}"#)
            .expect_err("bad name");
        assert!(matches!(err, VocabularyError::Malformed { .. }));
    }

    #[test]
    fn results_round_trip_and_secrets_are_references() {
        let r = ResultEnvelope::new(StepResult {
            changed: true,
            outcome: Outcome::Reboot { boot_id: "b2".into(), rebooting: false },
            transcript_sha256: None,
        });
        let json = String::from_utf8(r.to_json()).expect("utf8");
        assert_eq!(
            json,
            r#"{"version":1,"result":{"changed":true,"outcome":{"kind":"reboot","boot_id":"b2","rebooting":false}}}"#
        );
        assert_eq!(ResultEnvelope::from_json(json.as_bytes()).expect("back"), r);
        let env = ComponentSettings::Lia { token: SecretRef::default() }.install_env();
        assert_eq!(
            env,
            vec![("TOKEN", EnvValue::Secret(SecretRef::Env("SCALEIO_ADMIN_PASSWORD".into())))]
        );
    }
}
