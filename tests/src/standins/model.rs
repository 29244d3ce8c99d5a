//! The ScaleIO cluster model the `scli` and gateway stand-ins share: one JSON file, changed under
//! a lock file and replaced atomically, with the preconditions the real MDM enforces.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Smallest device ScaleIO 2.0 accepts.
pub const MIN_DEVICE_BYTES: u64 = 90 * 1024 * 1024 * 1024;
/// The initial admin password of a new cluster.
pub const INITIAL_PASSWORD: &str = "admin";

/// An MDM in the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mdm {
    pub id: String,
    pub name: String,
    pub ip: String,
    pub management_ip: Option<String>,
    /// `manager` or `tb`.
    pub role: String,
}

/// A named object with an id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pd {
    pub id: String,
    pub name: String,
}

/// A storage pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub id: String,
    pub name: String,
    pub pd_id: String,
}

/// An SDS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sds {
    pub id: String,
    pub name: String,
    pub pd_id: String,
    pub ip: String,
}

/// A device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub path: String,
    pub pool_id: String,
    pub sds_id: String,
    pub size_kb: u64,
}

/// A volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub pool_id: String,
    pub size_kb: u64,
}

/// An SDC known to the MDM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sdc {
    pub id: String,
    pub guid: String,
    pub ip: String,
}

/// The ScaleIO system, once the cluster is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    pub id: String,
    pub install_id: String,
    pub name: Option<String>,
    /// `1_node` or `3_node`.
    pub mode: String,
    /// The admin password (a test model: kept in clear).
    pub password: String,
    pub password_changed: bool,
    pub master: Mdm,
    pub slaves: Vec<Mdm>,
    pub tiebreakers: Vec<Mdm>,
    pub standbys: Vec<Mdm>,
    pub pds: Vec<Pd>,
    pub pools: Vec<Pool>,
    pub sds: Vec<Sds>,
    pub devices: Vec<Device>,
    pub sdcs: Vec<Sdc>,
    pub volumes: Vec<Volume>,
}

/// A gateway token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Unix seconds when it stops being valid.
    pub expires_unix: u64,
}

/// The whole model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// IP → simulated host root.
    pub hosts: BTreeMap<String, PathBuf>,
    /// The system, once created.
    pub system: Option<System>,
    /// Host roots with a logged-in `scli` session → user.
    pub sessions: BTreeMap<String, String>,
    /// Gateway tokens.
    pub tokens: BTreeMap<String, Token>,
    /// Id counter.
    pub next_id: u64,
}

/// A refusal, as the real tool words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// An MDM command failure, worded like ScaleIO 2.0 (`Error: MDM failed command.  Status: ...`).
pub fn mdm_failed(status: &str) -> Refusal {
    Refusal(format!("Error: MDM failed command.  Status: {status}"))
}

/// Errors loading or saving the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the stand-in cluster model {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stand-in cluster model {path} is not valid JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the stand-in cluster model {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "stand-in cluster model {0} stayed locked for 10 s (a crashed stand-in left the .lock file?)"
    )]
    Locked(PathBuf),
}

impl Model {
    /// Reads the model (an absent file is an empty model).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| ModelError::Parse { path: path.into(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ModelError::Read { path: path.into(), source }),
        }
    }

    fn save(&self, path: &Path) -> Result<(), ModelError> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let werr = |source| ModelError::Write { path: path.into(), source };
        let mut f = fs::File::create(&tmp).map_err(werr)?;
        f.write_all(&serde_json::to_vec_pretty(self).expect("model serialises")).map_err(werr)?;
        f.sync_all().map_err(werr)?;
        fs::rename(&tmp, path).map_err(werr)
    }

    /// Runs `f` on the model under the lock and saves the result (also when `f` refuses, so
    /// side effects such as ids stay consistent — `f` only changes what it means to). Before and
    /// after `f`, SDCs waiting for their MDM connect ([`Model::connect_sdcs`]): a real SDC
    /// retries in the background, so whoever looks at the MDM next sees it.
    pub fn update<T>(path: &Path, f: impl FnOnce(&mut Model) -> T) -> Result<T, ModelError> {
        let lock = path.with_extension("lock");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() > deadline {
                        return Err(ModelError::Locked(path.into()));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(source) => return Err(ModelError::Write { path: lock, source }),
            }
        }
        let result = (|| {
            let mut model = Self::load(path)?;
            let before = model.clone();
            model.connect_sdcs();
            let out = f(&mut model);
            model.connect_sdcs();
            if model != before {
                model.save(path)?;
            }
            Ok(out)
        })();
        let _ = fs::remove_file(&lock);
        result
    }

    /// Records that the simulated host at `root` has address `ip`.
    pub fn register_host(path: &Path, ip: &str, root: &Path) -> Result<(), ModelError> {
        Self::update(path, |m| {
            m.hosts.insert(ip.to_owned(), root.to_owned());
        })
    }

    /// A fresh 16-hex-digit id.
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:016x}", 0x5c10_0000_0000_0000_u64 + self.next_id)
    }

    /// The IP of the host whose root is `root`.
    pub fn ip_of_root(&self, root: &Path) -> Option<String> {
        self.hosts.iter().find(|(_, r)| r.as_path() == root).map(|(ip, _)| ip.clone())
    }

    /// The root of the host with `ip`.
    pub fn root_of(&self, ip: &str) -> Option<&Path> {
        self.hosts.get(ip).map(PathBuf::as_path)
    }

    /// The MDM role installed on `root` (`manager`/`tb`), if the MDM package is installed.
    pub fn installed_mdm_role(root: &Path) -> Option<String> {
        let dir = root.join("opt/emc/scaleio/mdm");
        if !dir.is_dir() {
            return None;
        }
        let conf = fs::read_to_string(dir.join("cfg/conf.txt")).unwrap_or_default();
        Some(
            if conf.lines().any(|l| l.trim() == "actor_role_is_manager=0") {
                "tb"
            } else {
                "manager"
            }
            .to_owned(),
        )
    }

    /// The MDM side of SDCs connecting: every simulated host whose SDC driver runs and lists a
    /// manager MDM of the cluster (master or slave; tie-breakers and standbys serve no SDC) in
    /// its `drv_cfg.txt` is registered once, by GUID, with that host's IP. The driver reads the
    /// file when it starts and keeps trying until an MDM answers, so an SDC installed before
    /// the cluster exists connects once it does.
    pub fn connect_sdcs(&mut self) {
        let Some(sys) = self.system.as_ref() else { return };
        let managers: Vec<&str> =
            std::iter::once(&sys.master).chain(&sys.slaves).map(|m| m.ip.as_str()).collect();
        let mut joining = Vec::new();
        for (ip, root) in &self.hosts {
            let Some((guid, mdms)) = super::host::sdc_driver(root) else { continue };
            let known = sys.sdcs.iter().any(|c| c.guid.eq_ignore_ascii_case(&guid));
            if !known && mdms.iter().any(|m| managers.contains(&m.as_str())) {
                joining.push((ip.clone(), guid.to_ascii_uppercase()));
            }
        }
        for (ip, guid) in joining {
            let id = self.new_id();
            if let Some(sys) = self.system.as_mut() {
                sys.sdcs.push(Sdc { id, guid, ip });
            }
        }
    }

    /// Whether the SDS package is installed on `root`.
    pub fn sds_installed(root: &Path) -> bool {
        root.join("opt/emc/scaleio/sds").is_dir()
    }

    /// Checks a device path on the SDS host and returns its size in KB.
    pub fn device_size_kb(&self, sds_ip: &str, path: &str) -> Result<u64, Refusal> {
        let root = self
            .root_of(sds_ip)
            .ok_or_else(|| mdm_failed(&format!("Could not connect to the SDS at {sds_ip}")))?;
        if !path.starts_with("/dev/") || path.contains("..") {
            return Err(mdm_failed(&format!("Invalid device path {path}")));
        }
        let meta = fs::metadata(root.join(path.trim_start_matches('/'))).map_err(|_| {
            mdm_failed(&format!("SDS device {path} does not exist on SDS {sds_ip}"))
        })?;
        if meta.len() < MIN_DEVICE_BYTES {
            return Err(mdm_failed(&format!(
                "Device {path} is too small ({} bytes); the minimum device size is 90 GB",
                meta.len()
            )));
        }
        Ok(meta.len() / 1024)
    }
}

impl System {
    /// The PD named `name`.
    pub fn pd(&self, name: &str) -> Result<&Pd, Refusal> {
        self.pds
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| mdm_failed("Could not find the Protection Domain"))
    }

    /// The pool `name` in PD `pd_id`.
    pub fn pool(&self, pd_id: &str, name: &str) -> Result<&Pool, Refusal> {
        self.pools
            .iter()
            .find(|p| p.pd_id == pd_id && p.name == name)
            .ok_or_else(|| mdm_failed("Could not find the Storage Pool"))
    }

    /// Every MDM IP in the cluster (including standbys).
    pub fn all_mdms(&self) -> impl Iterator<Item = &Mdm> {
        std::iter::once(&self.master)
            .chain(&self.slaves)
            .chain(&self.tiebreakers)
            .chain(&self.standbys)
    }

    /// Adds a PD (unique name).
    pub fn add_pd(&mut self, id: String, name: &str) -> Result<String, Refusal> {
        if self.pds.iter().any(|p| p.name == name) {
            return Err(mdm_failed("An object with the given name already exists"));
        }
        self.pds.push(Pd { id: id.clone(), name: name.to_owned() });
        Ok(id)
    }

    /// Adds a pool (unique within its PD).
    pub fn add_pool(&mut self, id: String, pd_id: &str, name: &str) -> Result<String, Refusal> {
        if !self.pds.iter().any(|p| p.id == pd_id) {
            return Err(mdm_failed("Could not find the Protection Domain"));
        }
        if self.pools.iter().any(|p| p.pd_id == pd_id && p.name == name) {
            return Err(mdm_failed("An object with the given name already exists"));
        }
        self.pools.push(Pool { id: id.clone(), name: name.to_owned(), pd_id: pd_id.to_owned() });
        Ok(id)
    }

    /// Adds a device to an SDS in a pool (pool in the SDS's PD; not already added).
    pub fn add_device(
        &mut self,
        id: String,
        sds_id: &str,
        pool_id: &str,
        path: &str,
        size_kb: u64,
    ) -> Result<String, Refusal> {
        let sds = self
            .sds
            .iter()
            .find(|s| s.id == sds_id)
            .ok_or_else(|| mdm_failed("Could not find the SDS"))?;
        let pool = self
            .pools
            .iter()
            .find(|p| p.id == pool_id)
            .ok_or_else(|| mdm_failed("Could not find the Storage Pool"))?;
        if pool.pd_id != sds.pd_id {
            return Err(mdm_failed(
                "The Storage Pool and the SDS are in different Protection Domains",
            ));
        }
        if self.devices.iter().any(|d| d.sds_id == sds_id && d.path == path) {
            return Err(mdm_failed("The device is already in use by this SDS"));
        }
        self.devices.push(Device {
            id: id.clone(),
            path: path.to_owned(),
            pool_id: pool_id.to_owned(),
            sds_id: sds_id.to_owned(),
            size_kb,
        });
        Ok(id)
    }
}

/// Validates an SDS creation against the model and the simulated SDS host.
pub fn check_new_sds(model: &Model, pd_id: &str, name: &str, ip: &str) -> Result<(), Refusal> {
    let sys =
        model.system.as_ref().ok_or_else(|| mdm_failed("This MDM is not part of a cluster"))?;
    if !sys.pds.iter().any(|p| p.id == pd_id) {
        return Err(mdm_failed("Could not find the Protection Domain"));
    }
    if sys.sds.iter().any(|s| s.ip == ip) {
        return Err(mdm_failed(&format!("An SDS with the same IP already exists ({ip})")));
    }
    if sys.sds.iter().any(|s| s.name == name) {
        return Err(mdm_failed("An object with the given name already exists"));
    }
    match model.root_of(ip) {
        Some(root) if Model::sds_installed(root) => Ok(()),
        _ => Err(mdm_failed(&format!(
            "Could not connect to the SDS at {ip}. Verify that the SDS package is installed"
        ))),
    }
}
