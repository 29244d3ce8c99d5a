//! Turns a plan [`Action`] into the [`scaleio::step::Step`] an executor runs, from the node's
//! facts (IP, OS family, free devices), its bundle and the cluster's MDM addresses. Pure.

use packaging::bundle::IndexArtifact;
use packaging::catalog::{Component as BundleComponent, Platform};
use scaleio::ObjectName;
use scaleio::step::{
    AddProtectionDomain, AddSds, AddStandbyMdm, AddStoragePool, Check, ClusterAccess, Component,
    ComponentSettings, ConfigureGateway, ConfigureLia, ConfigureSdc, CreateMdmCluster,
    DeviceAssignment, InstallDvdcli, InstallIsolator, InstallPackages, InstallPrerequisites,
    InstallRexray, KernelPin, MdmLogin, OsFamily, PackageInstall, Preflight, Reboot, RenameSystem,
    RestartService, RexraySettings, Step, SwitchClusterMode, SystemSelector, Verify,
};
use scaleio::topology::{Persona, PoolRef};

use super::Settings;
use super::plan::Action;
use super::settings::BundleRef;
use super::state::Node;

/// The cluster's MDM addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmIps {
    /// Primary.
    pub primary: String,
    /// Secondary.
    pub secondary: String,
    /// Tiebreaker.
    pub tiebreaker: String,
}

impl MdmIps {
    /// The SDC's MDM list: primary then secondary.
    pub fn sdc_list(&self) -> Vec<String> {
        vec![self.primary.clone(), self.secondary.clone()]
    }
}

/// What a step turns into.
#[derive(Debug, Clone, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "built once per launch and consumed at once")]
pub enum Rendered {
    /// Run this.
    Step(Step),
    /// Nothing to do on this node (the reason becomes the step's message).
    Skip(String),
}

/// What rendering needs besides the action.
#[derive(Debug)]
pub struct Context<'a> {
    /// Settings.
    pub settings: &'a Settings,
    /// The node.
    pub node: &'a Node,
    /// Its bundle.
    pub bundle: &'a BundleRef,
    /// MDM addresses, once known.
    pub mdms: Option<MdmIps>,
    /// Reboot steps: the boot id when the reboot was issued.
    pub reboot_from: Option<&'a str>,
}

fn family(platform: Platform) -> Option<OsFamily> {
    match platform {
        Platform::Ubuntu14 => Some(OsFamily::Debian),
        Platform::Rhel7 => Some(OsFamily::Rhel),
        Platform::Any => None,
    }
}

fn bundle_component(c: Component) -> BundleComponent {
    match c {
        Component::Mdm => BundleComponent::Mdm,
        Component::Sds => BundleComponent::Sds,
        Component::Sdc => BundleComponent::Sdc,
        Component::Lia => BundleComponent::Lia,
        Component::Gateway => BundleComponent::Gateway,
    }
}

impl Context<'_> {
    fn artifact(&self, component: BundleComponent) -> Result<&IndexArtifact, String> {
        self.bundle.artifacts.iter().find(|a| a.component == component).ok_or_else(|| {
            format!(
                "the {} bundle has no {component} artifact\nhint: rebuild the bundles with `cargo xtask bundle`",
                self.bundle.platform
            )
        })
    }

    fn mdms(&self) -> Result<&MdmIps, String> {
        self.mdms.as_ref().ok_or_else(|| "the MDM addresses are not known yet".to_owned())
    }

    fn family(&self) -> Result<OsFamily, String> {
        family(self.bundle.platform)
            .ok_or_else(|| format!("no OS family for platform {}", self.bundle.platform))
    }

    fn login(&self, on_primary: bool) -> Result<MdmLogin, String> {
        Ok(MdmLogin {
            mdm_ip: if on_primary { None } else { Some(self.mdms()?.primary.clone()) },
            username: self.settings.admin_user.clone(),
            password: self.settings.password.clone(),
        })
    }

    fn gateway_host(&self) -> Result<String, String> {
        match &self.settings.gateway {
            Some(g) => Ok(g.clone()),
            None => Ok(self.mdms()?.primary.clone()),
        }
    }

    fn access(&self) -> Result<ClusterAccess, String> {
        Ok(ClusterAccess::Gateway {
            endpoint: format!("https://{}", self.gateway_host()?),
            username: self.settings.admin_user.clone(),
            password: self.settings.password.clone(),
            tls: self.settings.gateway_tls.clone(),
        })
    }

    fn package(&self, component: Component) -> Result<PackageInstall, String> {
        let settings = match component {
            Component::Mdm => ComponentSettings::Mdm {
                role: self.node.persona.and_then(Persona::mdm_role).ok_or_else(|| {
                    format!(
                        "{} is not an MDM node but was asked for the MDM package",
                        self.node.hostname
                    )
                })?,
            },
            Component::Sds => ComponentSettings::Sds,
            Component::Sdc => ComponentSettings::Sdc { mdm_ips: self.mdms()?.sdc_list() },
            Component::Lia => ComponentSettings::Lia { token: self.settings.password.clone() },
            Component::Gateway => {
                ComponentSettings::Gateway { admin_password: self.settings.password.clone() }
            }
        };
        let artifact = self.artifact(bundle_component(component))?;
        Ok(PackageInstall {
            settings,
            artifact: artifact.file.clone(),
            version: artifact.version.clone(),
        })
    }

    fn sds_name(&self) -> Result<ObjectName, String> {
        ObjectName::new(&format!("sds_{}", self.node.ip))
            .map_err(|e| format!("cannot name the SDS of {}: {e}", self.node.hostname))
    }

    fn components(&self) -> Vec<Component> {
        let mut c = vec![Component::Sds, Component::Sdc];
        if self.node.persona.is_some_and(Persona::is_mdm) {
            c.extend([Component::Mdm, Component::Lia, Component::Gateway]);
        }
        c
    }
}

fn mdm_name(persona: Persona) -> ObjectName {
    let name = match persona {
        Persona::Primary => "mdm1",
        Persona::Secondary => "mdm2",
        _ => "tb",
    };
    ObjectName::new(name).expect("fixed MDM names are valid")
}

/// The Mesos version a dvdi isolator file was built for: `libmesos_dvdi_isolator-1.0.1.so` → `1.0.1`.
pub fn isolator_mesos_version(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".so")?;
    let (_, version) = stem.rsplit_once('-')?;
    let ok = !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.');
    ok.then(|| version.to_owned())
}

/// Renders `action` for the node in `ctx`.
pub fn render(action: &Action, ctx: &Context<'_>) -> Result<Rendered, String> {
    let s = ctx.settings;
    let node = ctx.node;
    let step = match action {
        Action::Preflight => {
            let fam = ctx.family()?;
            Step::Preflight(Preflight {
                device_rules: s.device_rules.clone(),
                packages: ctx.components().iter().map(|c| c.package_name(fam).to_owned()).collect(),
            })
        }
        Action::Prerequisites => match ctx.family()? {
            OsFamily::Debian => Step::InstallPrerequisites(InstallPrerequisites {
                packages: vec!["libaio1".into(), "zip".into()],
                kernel: s
                    .ubuntu_kernel
                    .as_ref()
                    .map(|k| KernelPin { package: format!("linux-image-{k}"), release: k.clone() }),
            }),
            OsFamily::Rhel => Step::InstallPrerequisites(InstallPrerequisites {
                packages: ["zip", "unzip", "libaio", "java-1.8.0-openjdk"]
                    .map(str::to_owned)
                    .to_vec(),
                kernel: None,
            }),
        },
        Action::Packages { components } => Step::InstallPackages(InstallPackages {
            packages: components.iter().map(|c| ctx.package(*c)).collect::<Result<_, _>>()?,
        }),
        Action::CreateCluster => Step::CreateMdmCluster(CreateMdmCluster {
            master_ip: node.ip.clone(),
            master_management_ip: node.ip.clone(),
            master_name: mdm_name(Persona::Primary),
            admin_password: s.password.clone(),
        }),
        Action::AddStandby { persona } => {
            let mdms = ctx.mdms()?;
            let (ip, role) = match persona {
                Persona::Secondary => (&mdms.secondary, scaleio::topology::MdmRole::Manager),
                _ => (&mdms.tiebreaker, scaleio::topology::MdmRole::Tiebreaker),
            };
            Step::AddStandbyMdm(AddStandbyMdm {
                login: ctx.login(true)?,
                ip: ip.clone(),
                management_ip: (*persona == Persona::Secondary).then(|| ip.clone()),
                name: mdm_name(*persona),
                role,
            })
        }
        Action::ThreeNodeMode => Step::SwitchClusterMode(SwitchClusterMode {
            login: ctx.login(true)?,
            add_slave_names: vec![mdm_name(Persona::Secondary)],
            add_tb_names: vec![mdm_name(Persona::Tiebreaker)],
        }),
        Action::RenameSystem => Step::RenameSystem(RenameSystem {
            login: ctx.login(true)?,
            name: s.cluster_name.clone(),
        }),
        Action::ConfigureLia => Step::ConfigureLia(ConfigureLia {
            login: ctx.login(node.persona == Some(Persona::Primary))?,
        }),
        Action::ConfigureGateway => Step::ConfigureGateway(ConfigureGateway {
            mdm_ips: ctx.mdms()?.sdc_list(),
            bypass_certificate_check: true,
            restart: RestartService { service: "scaleio-gateway".into(), wait_seconds: 60 },
        }),
        Action::ProtectionDomain { name } => Step::AddProtectionDomain(AddProtectionDomain {
            access: ctx.access()?,
            name: name.clone(),
        }),
        Action::StoragePool { protection_domain, name } => Step::AddStoragePool(AddStoragePool {
            access: ctx.access()?,
            protection_domain: protection_domain.clone(),
            name: name.clone(),
        }),
        Action::Sds { protection_domain } => {
            let devices: Vec<DeviceAssignment> =
                match node.placement.provides.iter().find(|d| &d.name == protection_domain) {
                    Some(domain) => domain
                        .pools
                        .iter()
                        .flat_map(|pool| {
                            pool.devices.iter().map(|path| DeviceAssignment {
                                path: path.clone(),
                                storage_pool: pool.name.clone(),
                            })
                        })
                        .collect(),
                    None => node
                        .facts
                        .as_ref()
                        .map(|f| {
                            f.devices
                                .free
                                .iter()
                                .map(|d| DeviceAssignment {
                                    path: d.path.clone(),
                                    storage_pool: s.storage_pool.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                };
            if devices.is_empty() {
                return Ok(Rendered::Skip(format!(
                    "no free device on {}: it consumes storage only (SDC)",
                    node.hostname
                )));
            }
            Step::AddSds(AddSds {
                access: ctx.access()?,
                protection_domain: protection_domain.clone(),
                name: ctx.sds_name()?,
                ip: node.ip.clone(),
                devices,
            })
        }
        Action::Sdc => Step::ConfigureSdc(ConfigureSdc { mdm_ips: ctx.mdms()?.sdc_list() }),
        Action::Rexray => {
            let a = ctx.artifact(BundleComponent::Rexray)?;
            let default = PoolRef {
                protection_domain: s.protection_domain.clone(),
                storage_pool: s.storage_pool.clone(),
            };
            Step::InstallRexray(InstallRexray {
                artifact: a.file.clone(),
                version: a.version.clone(),
                settings: RexraySettings {
                    gateway_endpoint: format!("https://{}/api", ctx.gateway_host()?),
                    insecure: true,
                    username: s.admin_user.clone(),
                    password: s.password.clone(),
                    system: SystemSelector::Name(s.cluster_name.to_string()),
                    pool: node.placement.rexray_pool(&default),
                    thin_or_thick: "ThinProvisioned".into(),
                    log_level: "warn".into(),
                },
            })
        }
        Action::Dvdcli => {
            let a = ctx.artifact(BundleComponent::Dvdcli)?;
            Step::InstallDvdcli(InstallDvdcli {
                artifact: a.file.clone(),
                version: a.version.clone(),
            })
        }
        Action::Isolator => {
            let a = ctx.artifact(BundleComponent::DvdiIsolator)?;
            let mesos_version = isolator_mesos_version(&a.file).ok_or_else(|| {
                format!(
                    "cannot tell which Mesos version the isolator `{}` was built for (expected a name like libmesos_dvdi_isolator-1.0.1.so)",
                    a.file
                )
            })?;
            Step::InstallIsolator(InstallIsolator {
                artifact: a.file.clone(),
                version: a.version.clone(),
                mesos_version,
                restart: RestartService { service: "mesos-slave".into(), wait_seconds: 60 },
                volume_isolator: s.volume_isolator,
            })
        }
        Action::Reboot => {
            Step::Reboot(Reboot { previous_boot_id: ctx.reboot_from.map(str::to_owned) })
        }
        Action::Verify => {
            let fam = ctx.family()?;
            let mut checks = Vec::new();
            for c in ctx.components() {
                let a = ctx.artifact(bundle_component(c))?;
                checks.push(Check::Package {
                    name: c.package_name(fam).to_owned(),
                    version: a.version.clone(),
                });
            }
            checks.push(Check::SdcMdms { mdm_ips: ctx.mdms()?.sdc_list() });
            Step::Verify(Verify { checks })
        }
    };
    Ok(Rendered::Step(step))
}
