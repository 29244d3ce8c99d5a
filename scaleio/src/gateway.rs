//! ScaleIO 2.0 REST gateway client: login with basic auth → token, re-login once on 401,
//! `Accept: application/json;version=2.0`; system, protection domains, storage pools, SDSs,
//! devices, SDCs, volumes and statistics; `ensure_*` operations that find before they create and
//! treat "already exists" as success.
//!
//! TLS: the gateway's certificate is self-signed. Trust it with a CA file ([`GatewayTls::CaFile`])
//! or, explicitly, [`GatewayTls::Insecure`], which logs a warning whenever a client is built.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::secret::Secret;
use crate::step::{GatewayTls, ObjectOutcome};

/// API version sent in `Accept` and `Content-Type` (the 2.0.1 gateway refuses `2.0.1`).
pub const API_VERSION: &str = "2.0";
const MEDIA_TYPE: &str = "application/json;version=2.0";

/// How to reach and trust the gateway.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// `https://<host>[:port]` (no `/api`).
    pub endpoint: String,
    /// User (`admin`).
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Trust.
    pub tls: GatewayTls,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl GatewayConfig {
    /// The client configuration a [`ClusterAccess::Gateway`](crate::step::ClusterAccess) step
    /// asks for. The caller resolves the step's [`SecretRef`](crate::SecretRef) where it runs (an
    /// executor reads a password file on its host), so the value arrives here already resolved.
    pub fn from_step(endpoint: &str, username: &str, password: Secret, tls: &GatewayTls) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            username: username.to_owned(),
            password,
            tls: tls.clone(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Errors talking to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot read the gateway CA file {path}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("gateway CA file {path} holds no usable PEM certificate")]
    BadCa {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot build the HTTPS client for the gateway")]
    Client(#[source] reqwest::Error),
    #[error(
        "gateway request {what} failed\nhint: is the gateway at the endpoint up, and is its certificate trusted (CA file)?"
    )]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "gateway login as `{user}` was refused ({status})\nhint: check the admin password the scheduler was given"
    )]
    LoginRefused { user: String, status: StatusCode },
    #[error("gateway answered {what} with {status}: {message}")]
    Status { what: String, status: StatusCode, message: String, error_code: Option<i64> },
    #[error("gateway answer to {what} is not what ScaleIO 2.0 sends")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("no {kind} named `{name}` on the gateway")]
    NotFound { kind: &'static str, name: String },
}

impl GatewayError {
    /// Whether the gateway said the object already exists.
    pub fn is_already_exists(&self) -> bool {
        match self {
            GatewayError::Status { message, .. } => {
                let m = message.to_ascii_lowercase();
                m.contains("already exists") || m.contains("already in use")
            }
            _ => false,
        }
    }
}

/// A gateway error body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_code: Option<i64>,
}

/// A relationship link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Relation.
    pub rel: String,
    /// Href.
    pub href: String,
}

/// `System`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct System {
    /// Id.
    pub id: String,
    /// Name (may be absent when unnamed).
    #[serde(default)]
    pub name: Option<String>,
    /// Installation id.
    #[serde(default)]
    pub install_id: Option<String>,
    /// Version name.
    #[serde(default)]
    pub system_version_name: Option<String>,
    /// `Cluster` / `SingleNode`.
    #[serde(default)]
    pub mdm_mode: Option<String>,
    /// `ClusteredNormal`, ...
    #[serde(default)]
    pub mdm_cluster_state: Option<String>,
    /// MDM management IPs.
    #[serde(default, rename = "mdmManagementIPList")]
    pub mdm_management_ip_list: Vec<String>,
    /// Links.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// `ProtectionDomain`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtectionDomain {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owning system.
    #[serde(default)]
    pub system_id: Option<String>,
    /// `ACTIVE` / `INACTIVE`.
    #[serde(default)]
    pub protection_domain_state: Option<String>,
    /// Links.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// `StoragePool`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoragePool {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Protection domain.
    pub protection_domain_id: String,
    /// Links.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// An SDS IP entry: `{"SdsIp":{"ip":"..","role":"all"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdsIpEntry {
    /// The IP.
    #[serde(rename = "SdsIp")]
    pub sds_ip: SdsIp,
}

/// IP and role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdsIp {
    /// IP.
    pub ip: String,
    /// `all`, `sdcOnly`, `sdsOnly`.
    pub role: String,
}

/// `Sds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sds {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Protection domain.
    pub protection_domain_id: String,
    /// IPs.
    #[serde(default)]
    pub ip_list: Vec<SdsIp>,
    /// `Normal`, ...
    #[serde(default)]
    pub sds_state: Option<String>,
    /// `Joined`, ...
    #[serde(default)]
    pub membership_state: Option<String>,
    /// `Connected`, ...
    #[serde(default)]
    pub mdm_connection_state: Option<String>,
}

/// `Device`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Path on the SDS (JSON `deviceCurrentPathname`).
    #[serde(rename = "deviceCurrentPathname")]
    pub device_current_path_name: String,
    /// Pool.
    pub storage_pool_id: String,
    /// SDS.
    pub sds_id: String,
    /// `Normal`, ...
    #[serde(default)]
    pub device_state: Option<String>,
    /// `None`, ...
    #[serde(default)]
    pub error_state: Option<String>,
    /// Capacity.
    #[serde(default)]
    pub capacity_limit_in_kb: Option<u64>,
}

/// `Sdc`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sdc {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// GUID (upper case).
    pub sdc_guid: String,
    /// IP.
    #[serde(default)]
    pub sdc_ip: Option<String>,
    /// `Connected`, ...
    #[serde(default)]
    pub mdm_connection_state: Option<String>,
}

/// A volume's mapping to an SDC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappedSdcInfo {
    /// SDC id.
    pub sdc_id: String,
    /// SDC IP.
    #[serde(default)]
    pub sdc_ip: Option<String>,
}

/// `Volume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Size.
    pub size_in_kb: u64,
    /// Pool.
    pub storage_pool_id: String,
    /// `ThinProvisioned` / `ThickProvisioned`.
    #[serde(default)]
    pub volume_type: Option<String>,
    /// Mappings.
    #[serde(default)]
    pub mapped_sdc_info: Vec<MappedSdcInfo>,
}

/// Capacity statistics (system or pool), the fields the framework reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    /// Usable capacity.
    #[serde(default)]
    pub capacity_limit_in_kb: u64,
    /// Raw capacity.
    #[serde(default)]
    pub max_capacity_in_kb: u64,
    /// In use.
    #[serde(default)]
    pub capacity_in_use_in_kb: u64,
    /// Free for volumes.
    #[serde(default)]
    pub capacity_available_for_volume_allocation_in_kb: u64,
    /// Spare.
    #[serde(default)]
    pub spare_capacity_in_kb: u64,
    /// Counts.
    #[serde(default)]
    pub num_of_sds: u64,
    /// SDCs.
    #[serde(default)]
    pub num_of_sdc: u64,
    /// Devices.
    #[serde(default)]
    pub num_of_devices: u64,
    /// Volumes.
    #[serde(default)]
    pub num_of_volumes: u64,
    /// Pools.
    #[serde(default)]
    pub num_of_storage_pools: u64,
    /// Protection domains.
    #[serde(default)]
    pub num_of_protection_domains: u64,
}

impl Statistics {
    /// Used percent of the usable capacity (0 when the limit is 0).
    pub fn used_percent(&self) -> f64 {
        if self.capacity_limit_in_kb == 0 {
            0.0
        } else {
            self.capacity_in_use_in_kb as f64 * 100.0 / self.capacity_limit_in_kb as f64
        }
    }
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
}

/// A logged-in (lazily) gateway client.
#[derive(Debug)]
pub struct Gateway {
    http: reqwest::Client,
    base: String,
    username: String,
    password: Secret,
    token: Mutex<Option<Secret>>,
}

impl Gateway {
    /// Builds the client (no request yet).
    pub fn new(config: GatewayConfig) -> Result<Self, GatewayError> {
        let mut builder = reqwest::Client::builder().timeout(config.timeout).http1_only();
        match &config.tls {
            GatewayTls::System => {}
            GatewayTls::CaFile { path } => {
                let pem = std::fs::read(path)
                    .map_err(|source| GatewayError::CaFile { path: path.clone(), source })?;
                let cert = reqwest::Certificate::from_pem(&pem)
                    .map_err(|source| GatewayError::BadCa { path: path.clone(), source })?;
                builder = builder.add_root_certificate(cert);
            }
            GatewayTls::Insecure => {
                tracing::warn!(
                    gateway = %config.endpoint,
                    "TLS verification of the ScaleIO gateway is OFF (insecure); give a CA file instead"
                );
                builder = builder.danger_accept_invalid_certs(true);
            }
        }
        let http = builder.build().map_err(GatewayError::Client)?;
        Ok(Self {
            http,
            base: config.endpoint.trim_end_matches('/').to_owned(),
            username: config.username,
            password: config.password,
            token: Mutex::new(None),
        })
    }

    /// `GET /api/login`: a fresh token.
    pub async fn login(&self) -> Result<(), GatewayError> {
        let what = "GET /api/login".to_owned();
        let resp = self
            .http
            .get(format!("{}/api/login", self.base))
            .header("Accept", MEDIA_TYPE)
            .basic_auth(&self.username, Some(self.password.expose()))
            .send()
            .await
            .map_err(|source| GatewayError::Transport { what: what.clone(), source })?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(GatewayError::LoginRefused { user: self.username.clone(), status });
        }
        let text = resp
            .text()
            .await
            .map_err(|source| GatewayError::Transport { what: what.clone(), source })?;
        if !status.is_success() {
            return Err(status_error(what, status, &text));
        }
        let token: String = serde_json::from_str(&text)
            .unwrap_or_else(|_| text.trim().trim_matches('"').to_owned());
        *self.token.lock().await = Some(Secret::new(token));
        Ok(())
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), GatewayError> {
        let what = format!("{method} {path}");
        let token = {
            let guard = self.token.lock().await;
            guard.clone()
        };
        let token = match token {
            Some(t) => t,
            None => {
                self.login().await?;
                self.token.lock().await.clone().expect("login stores a token")
            }
        };
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Accept", MEDIA_TYPE)
            .basic_auth("", Some(token.expose()));
        if let Some(b) = body {
            req = req.header("Content-Type", MEDIA_TYPE).body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|source| GatewayError::Transport { what: what.clone(), source })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|source| GatewayError::Transport { what, source })?;
        Ok((status, text))
    }

    /// One request with re-login once on 401; the body of a success.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, GatewayError> {
        let (mut status, mut text) = self.send(&method, path, body.as_ref()).await?;
        if status == StatusCode::UNAUTHORIZED {
            tracing::debug!(path, "gateway token refused; logging in again");
            self.login().await?;
            (status, text) = self.send(&method, path, body.as_ref()).await?;
        }
        if !status.is_success() {
            return Err(status_error(format!("{method} {path}"), status, &text));
        }
        Ok(text)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GatewayError> {
        let text = self.call(Method::GET, path, None).await?;
        serde_json::from_str(&text)
            .map_err(|source| GatewayError::Decode { what: format!("GET {path}"), source })
    }

    async fn post_id(&self, path: &str, body: Value) -> Result<String, GatewayError> {
        let text = self.call(Method::POST, path, Some(body)).await?;
        let id: IdBody = serde_json::from_str(&text)
            .map_err(|source| GatewayError::Decode { what: format!("POST {path}"), source })?;
        Ok(id.id)
    }

    /// `GET /api/version` (e.g. `2.0`).
    pub async fn version(&self) -> Result<String, GatewayError> {
        let text = self.call(Method::GET, "/api/version", None).await?;
        Ok(serde_json::from_str::<String>(&text)
            .unwrap_or_else(|_| text.trim().trim_matches('"').to_owned()))
    }

    /// All systems.
    pub async fn systems(&self) -> Result<Vec<System>, GatewayError> {
        self.get("/api/types/System/instances").await
    }

    /// The system with this id, else this name, else the only one.
    pub async fn find_system(
        &self,
        id: Option<&str>,
        name: Option<&str>,
    ) -> Result<System, GatewayError> {
        let systems = self.systems().await?;
        let wanted = id.or(name).unwrap_or("<the only system>").to_owned();
        let found = systems
            .iter()
            .find(|s| id.is_some_and(|i| s.id == i))
            .or_else(|| systems.iter().find(|s| name.is_some_and(|n| s.name.as_deref() == Some(n))))
            .or_else(|| {
                if id.is_none() && name.is_none() && systems.len() == 1 {
                    systems.first()
                } else {
                    None
                }
            });
        found.cloned().ok_or(GatewayError::NotFound { kind: "system", name: wanted })
    }

    /// Protection domains of a system.
    pub async fn protection_domains(
        &self,
        system_id: &str,
    ) -> Result<Vec<ProtectionDomain>, GatewayError> {
        self.get(&format!("/api/instances/System::{system_id}/relationships/ProtectionDomain"))
            .await
    }

    /// Finds or creates a protection domain.
    pub async fn ensure_protection_domain(
        &self,
        system_id: &str,
        name: &str,
    ) -> Result<ObjectOutcome, GatewayError> {
        let find = || async {
            Ok::<_, GatewayError>(
                self.protection_domains(system_id)
                    .await?
                    .into_iter()
                    .find(|p| p.name == name)
                    .map(|p| p.id),
            )
        };
        ensure(name, find, || {
            self.post_id("/api/types/ProtectionDomain/instances", json!({ "name": name }))
        })
        .await
    }

    /// Storage pools of a protection domain.
    pub async fn storage_pools(&self, pd_id: &str) -> Result<Vec<StoragePool>, GatewayError> {
        self.get(&format!("/api/instances/ProtectionDomain::{pd_id}/relationships/StoragePool"))
            .await
    }

    /// Finds or creates a storage pool.
    pub async fn ensure_storage_pool(
        &self,
        pd_id: &str,
        name: &str,
    ) -> Result<ObjectOutcome, GatewayError> {
        let find = || async {
            Ok::<_, GatewayError>(
                self.storage_pools(pd_id).await?.into_iter().find(|p| p.name == name).map(|p| p.id),
            )
        };
        ensure(name, find, || {
            self.post_id(
                "/api/types/StoragePool/instances",
                json!({ "name": name, "protectionDomainId": pd_id }),
            )
        })
        .await
    }

    /// SDSs of a protection domain.
    pub async fn sds_list(&self, pd_id: &str) -> Result<Vec<Sds>, GatewayError> {
        self.get(&format!("/api/instances/ProtectionDomain::{pd_id}/relationships/Sds")).await
    }

    /// Finds (by IP: the SDS's identity) or creates an SDS with role `all`. A name already used
    /// by an SDS on another IP is an error.
    pub async fn ensure_sds(
        &self,
        pd_id: &str,
        name: &str,
        ip: &str,
    ) -> Result<ObjectOutcome, GatewayError> {
        let find = || async {
            Ok::<_, GatewayError>(
                self.sds_list(pd_id)
                    .await?
                    .into_iter()
                    .find(|s| s.ip_list.iter().any(|i| i.ip == ip))
                    .map(|s| s.id),
            )
        };
        ensure(name, find, || {
            self.post_id(
                "/api/types/Sds/instances",
                json!({
                    "name": name,
                    "protectionDomainId": pd_id,
                    "sdsIpList": [{ "SdsIp": { "ip": ip, "role": "all" } }],
                }),
            )
        })
        .await
    }

    /// Devices of a storage pool.
    pub async fn devices(&self, pool_id: &str) -> Result<Vec<Device>, GatewayError> {
        self.get(&format!("/api/instances/StoragePool::{pool_id}/relationships/Device")).await
    }

    /// Finds or adds a device (`testAndActivate`) on an SDS in a pool.
    pub async fn ensure_device(
        &self,
        pool_id: &str,
        sds_id: &str,
        path: &str,
    ) -> Result<ObjectOutcome, GatewayError> {
        let find = || async {
            Ok::<_, GatewayError>(
                self.devices(pool_id)
                    .await?
                    .into_iter()
                    .find(|d| d.sds_id == sds_id && d.device_current_path_name == path)
                    .map(|d| d.id),
            )
        };
        ensure(path, find, || {
            self.post_id(
                "/api/types/Device/instances",
                json!({
                    "deviceCurrentPathname": path,
                    "storagePoolId": pool_id,
                    "sdsId": sds_id,
                    "testMode": "testAndActivate",
                }),
            )
        })
        .await
    }

    /// SDCs of a system.
    pub async fn sdcs(&self, system_id: &str) -> Result<Vec<Sdc>, GatewayError> {
        self.get(&format!("/api/instances/System::{system_id}/relationships/Sdc")).await
    }

    /// All volumes.
    pub async fn volumes(&self) -> Result<Vec<Volume>, GatewayError> {
        self.get("/api/types/Volume/instances").await
    }

    /// Creates a thin volume of `size_gb` GiB in a pool; its id.
    pub async fn create_volume(
        &self,
        pool_id: &str,
        name: &str,
        size_gb: u64,
    ) -> Result<String, GatewayError> {
        self.post_id(
            "/api/types/Volume/instances",
            json!({
                "name": name,
                "volumeSizeInKb": (size_gb * 1024 * 1024).to_string(),
                "volumeType": "ThinProvisioned",
                "storagePoolId": pool_id,
            }),
        )
        .await
    }

    /// System statistics.
    pub async fn system_statistics(&self, system_id: &str) -> Result<Statistics, GatewayError> {
        self.get(&format!("/api/instances/System::{system_id}/relationships/Statistics")).await
    }

    /// Storage pool statistics.
    pub async fn pool_statistics(&self, pool_id: &str) -> Result<Statistics, GatewayError> {
        self.get(&format!("/api/instances/StoragePool::{pool_id}/relationships/Statistics")).await
    }
}

fn status_error(what: String, status: StatusCode, text: &str) -> GatewayError {
    let body: Option<ErrorBody> = serde_json::from_str(text).ok();
    let (message, error_code) = match body {
        Some(b) if !b.message.is_empty() => (b.message, b.error_code),
        _ => (text.chars().take(200).collect(), None),
    };
    GatewayError::Status { what, status, message, error_code }
}

/// Find, else create; a create that races with another creator ("already exists") finds again.
async fn ensure<F, FF, C, CF>(name: &str, find: F, create: C) -> Result<ObjectOutcome, GatewayError>
where
    F: Fn() -> FF,
    FF: std::future::Future<Output = Result<Option<String>, GatewayError>>,
    C: FnOnce() -> CF,
    CF: std::future::Future<Output = Result<String, GatewayError>>,
{
    if let Some(id) = find().await? {
        return Ok(ObjectOutcome { name: name.to_owned(), id: Some(id), already_existed: true });
    }
    match create().await {
        Ok(id) => Ok(ObjectOutcome { name: name.to_owned(), id: Some(id), already_existed: false }),
        // A racing creator made it: find it again. If it still cannot be found, the name is
        // taken by something else (e.g. an SDS name on another IP): a real conflict.
        Err(e) if e.is_already_exists() => match find().await? {
            Some(id) => {
                Ok(ObjectOutcome { name: name.to_owned(), id: Some(id), already_existed: true })
            }
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}
