//! Who is what in the ScaleIO cluster: personas, the two deployment modes, deterministic MDM
//! selection, and imperative placement parsed from agent attributes (plain name/value pairs).
//!
//! Fixes over the original framework (scaleio-provisioning.md §1): `scaleio-sdc-*` attributes are
//! consumer placement (not providers); every choice is ordered (never map order); attributes that
//! nothing references, duplicates, reserved names and pools claimed by two domains are errors that
//! name the agent and the attribute.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{DevicePath, NameError, ObjectName};

/// Attribute choosing a persona in full-provisioning mode: `primary|secondary|tiebreaker|data`.
pub const PERSONA_ATTRIBUTE: &str = "scaleio-persona";
/// Attribute listing the protection domains an agent provides storage to.
pub const SDS_DOMAINS_ATTRIBUTE: &str = "scaleio-sds-domains";
/// Attribute listing the protection domains an agent consumes (REX-Ray target).
pub const SDC_DOMAINS_ATTRIBUTE: &str = "scaleio-sdc-domains";
const SDS_PREFIX: &str = "scaleio-sds-";
const SDC_PREFIX: &str = "scaleio-sdc-";

/// The role of a node in the ScaleIO cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persona {
    /// Primary (master) MDM: creates the cluster; also SDS, SDC, LIA and gateway.
    Primary,
    /// Secondary (slave) MDM, manager role; also SDS, SDC, LIA and gateway.
    Secondary,
    /// Tiebreaker MDM (`MDM_ROLE_IS_MANAGER=0`); also SDS, SDC, LIA and gateway.
    Tiebreaker,
    /// Data node: SDS and SDC only.
    Data,
}

impl Persona {
    /// The three MDM personas in selection order.
    pub const MDMS: [Persona; 3] = [Persona::Primary, Persona::Secondary, Persona::Tiebreaker];

    /// The attribute/JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Persona::Primary => "primary",
            Persona::Secondary => "secondary",
            Persona::Tiebreaker => "tiebreaker",
            Persona::Data => "data",
        }
    }

    /// Whether this persona runs an MDM (and therefore LIA and the gateway).
    pub fn is_mdm(self) -> bool {
        self != Persona::Data
    }

    /// The MDM role the MDM package is installed with, if this persona runs an MDM.
    pub fn mdm_role(self) -> Option<MdmRole> {
        match self {
            Persona::Primary | Persona::Secondary => Some(MdmRole::Manager),
            Persona::Tiebreaker => Some(MdmRole::Tiebreaker),
            Persona::Data => None,
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "primary" => Some(Persona::Primary),
            "secondary" => Some(Persona::Secondary),
            "tiebreaker" => Some(Persona::Tiebreaker),
            "data" => Some(Persona::Data),
            _ => None,
        }
    }
}

impl fmt::Display for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role an MDM package is installed with (`MDM_ROLE_IS_MANAGER=1|0`, scli `--mdm_role manager|tb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MdmRole {
    /// Manager (primary or secondary).
    Manager,
    /// Tiebreaker.
    Tiebreaker,
}

impl MdmRole {
    /// Value of `MDM_ROLE_IS_MANAGER` at package install.
    pub fn is_manager_env(self) -> &'static str {
        match self {
            MdmRole::Manager => "1",
            MdmRole::Tiebreaker => "0",
        }
    }

    /// Value of scli `--mdm_role`.
    pub fn scli_role(self) -> &'static str {
        match self {
            MdmRole::Manager => "manager",
            MdmRole::Tiebreaker => "tb",
        }
    }
}

/// The addresses of an existing, not Mesos-managed MDM cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreconfiguredCluster {
    /// Primary MDM IP.
    pub primary: String,
    /// Secondary MDM IP.
    pub secondary: String,
    /// Tiebreaker IP.
    pub tiebreaker: String,
    /// Gateway address; the primary MDM when absent.
    pub gateway: Option<String>,
}

impl PreconfiguredCluster {
    /// The gateway everybody uses: the configured one, else the primary MDM.
    pub fn gateway(&self) -> &str {
        self.gateway.as_deref().unwrap_or(&self.primary)
    }

    /// The SDC MDM list: primary then secondary.
    pub fn mdm_ips(&self) -> Vec<String> {
        vec![self.primary.clone(), self.secondary.clone()]
    }
}

/// How the cluster comes to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// An existing MDM cluster: every agent is a data node.
    Preconfigured(PreconfiguredCluster),
    /// Full provisioning: three agents become MDMs, the rest data nodes.
    Full,
}

/// Resources an agent offers, as the scheduler sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem_mb: f64,
    /// Disk in MB.
    pub disk_mb: f64,
}

/// One agent as the topology sees it: identity, capacity and its text attributes as plain pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Hostname: the node identity.
    pub hostname: String,
    /// Advertised IP (used as MDM/SDS/SDC IP).
    pub ip: String,
    /// Offered capacity.
    pub capacity: Capacity,
    /// Text attributes `(name, value)` in the order the agent reported them.
    pub attributes: Vec<(String, String)>,
}

/// Which attribute of which agent is wrong, how, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent {agent}: attribute `{attribute}` {problem}\nhint: {}", .problem.hint(.attribute))]
pub struct AttributeError {
    /// Agent hostname.
    pub agent: String,
    /// Attribute name.
    pub attribute: String,
    /// What is wrong.
    #[source]
    pub problem: AttributeProblem,
}

/// What is wrong with an attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeProblem {
    #[error("has value `{0}`; expected one of primary, secondary, tiebreaker, data")]
    UnknownPersona(String),
    #[error("is given more than once")]
    Repeated,
    #[error("lists `{0}` twice")]
    DuplicateEntry(String),
    #[error("has an empty entry in `{0}` (stray comma?)")]
    EmptyEntry(String),
    #[error("names an invalid ScaleIO name: {0}")]
    BadName(#[source] NameError),
    #[error("names an invalid device: {0}")]
    BadDevice(#[source] NameError),
    #[error("names `{0}`, which collides with the attribute `{1}`; choose another name")]
    ReservedName(String, String),
    #[error("lists `{entry}`, but attribute `{missing}` is missing")]
    Missing { entry: String, missing: String },
    #[error(
        "lists pool `{pool}`, which protection domain `{other}` on this agent already lists (pool attributes are per agent, so a pool name must be unique across its domains)"
    )]
    PoolInTwoDomains { pool: String, other: String },
    #[error(
        "is not referenced by `{0}` or any domain/pool it lists (typo in a domain or pool name?)"
    )]
    Unreferenced(String),
    #[error(
        "has an entry of {len} bytes (`{shown}`); expected names of at most 31 characters and device paths"
    )]
    LongEntry { shown: String, len: usize },
}

impl AttributeProblem {
    /// What the operator does about it.
    fn hint(&self, attribute: &str) -> String {
        let restart = "and restart the agent (Mesos reads attributes when the agent starts)";
        match self {
            AttributeProblem::UnknownPersona(_) => format!(
                "set `{attribute}` to one of them, or remove it to let the scheduler choose, {restart}"
            ),
            AttributeProblem::Repeated => {
                format!("keep one `{attribute}` attribute on the agent {restart}")
            }
            AttributeProblem::Missing { missing, .. } => {
                format!("add `{missing}` to the agent's attributes {restart}")
            }
            _ => format!(
                "correct `{attribute}` in the agent's attributes (--attributes or /etc/mesos-slave/attributes/{attribute}) {restart}"
            ),
        }
    }
}

/// `value` as an error message shows it: control characters escaped, and cut to its first 64
/// characters with its length in bytes when longer (an attribute can be megabytes long).
pub fn shown(value: &str) -> String {
    let mut escaped = String::new();
    for (chars, c) in value.chars().enumerate() {
        if chars > 80 {
            let head: String = escaped.chars().take(64).collect();
            return format!("{head}… ({} bytes)", value.len());
        }
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// Longer entries are neither names nor device paths; they are refused without echoing them.
const MAX_ENTRY: usize = 1024;

/// A storage pool this agent contributes devices to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidedPool {
    /// Pool name.
    pub name: ObjectName,
    /// Device paths, in attribute order.
    pub devices: Vec<DevicePath>,
}

/// A protection domain this agent contributes an SDS to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidedDomain {
    /// Protection domain name.
    pub name: ObjectName,
    /// Pools, in attribute order.
    pub pools: Vec<ProvidedPool>,
}

/// A protection domain (and its pools) this agent consumes through REX-Ray.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumedDomain {
    /// Protection domain name.
    pub name: ObjectName,
    /// Pools, in attribute order.
    pub pools: Vec<ObjectName>,
}

/// A protection domain and storage pool pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PoolRef {
    /// Protection domain name.
    pub protection_domain: ObjectName,
    /// Storage pool name.
    pub storage_pool: ObjectName,
}

/// Imperative placement of one agent from its attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Storage provided (SDS side), in attribute order.
    pub provides: Vec<ProvidedDomain>,
    /// Storage consumed (SDC/REX-Ray side), in attribute order.
    pub consumes: Vec<ConsumedDomain>,
}

impl Placement {
    /// Whether the operator placed this agent by attributes (which turns off device discovery).
    pub fn is_imperative(&self) -> bool {
        !self.provides.is_empty() || !self.consumes.is_empty()
    }

    /// The single pool REX-Ray uses on this agent, chosen deterministically: the first pool of the
    /// first consumed domain, else the first pool of the first provided domain (attribute order),
    /// else `default`.
    pub fn rexray_pool(&self, default: &PoolRef) -> PoolRef {
        if let Some((d, p)) = self.consumes.iter().find_map(|d| d.pools.first().map(|p| (d, p))) {
            return PoolRef { protection_domain: d.name.clone(), storage_pool: p.clone() };
        }
        if let Some((d, p)) = self.provides.iter().find_map(|d| d.pools.first().map(|p| (d, p))) {
            return PoolRef { protection_domain: d.name.clone(), storage_pool: p.name.clone() };
        }
        default.clone()
    }
}

impl Agent {
    fn err(&self, attribute: &str, problem: AttributeProblem) -> AttributeError {
        AttributeError { agent: self.hostname.clone(), attribute: attribute.to_owned(), problem }
    }

    /// The `scaleio-*` attributes as a map, refusing repeated ones.
    fn scaleio_attributes(&self) -> Result<BTreeMap<&str, &str>, AttributeError> {
        let mut map = BTreeMap::new();
        for (name, value) in &self.attributes {
            if !name.starts_with("scaleio-") {
                continue;
            }
            if map.insert(name.as_str(), value.as_str()).is_some() {
                return Err(self.err(name, AttributeProblem::Repeated));
            }
        }
        Ok(map)
    }

    /// The persona the operator asked for with `scaleio-persona`, if any.
    pub fn persona_claim(&self) -> Result<Option<Persona>, AttributeError> {
        let attrs = self.scaleio_attributes()?;
        match attrs.get(PERSONA_ATTRIBUTE) {
            None => Ok(None),
            Some(v) => Persona::parse(v).map(Some).ok_or_else(|| {
                self.err(PERSONA_ATTRIBUTE, AttributeProblem::UnknownPersona(shown(v)))
            }),
        }
    }

    /// Parses the imperative placement attributes. See the module docs for the rules.
    pub fn placement(&self) -> Result<Placement, AttributeError> {
        let attrs = self.scaleio_attributes()?;
        let mut used: BTreeSet<&str> = BTreeSet::new();
        used.insert(PERSONA_ATTRIBUTE);
        let mut placement = Placement::default();

        // Provider side.
        if let Some(value) = attrs.get(SDS_DOMAINS_ATTRIBUTE) {
            used.insert(SDS_DOMAINS_ATTRIBUTE);
            let mut pool_owner: BTreeMap<String, String> = BTreeMap::new();
            let pds = self.names(SDS_DOMAINS_ATTRIBUTE, value)?;
            let pd_names: BTreeSet<String> = pds.iter().map(ToString::to_string).collect();
            for pd in pds {
                let pd_key = format!("{SDS_PREFIX}{pd}");
                self.not_reserved(SDS_DOMAINS_ATTRIBUTE, &pd_key, pd.as_str())?;
                let Some((pd_key, pools_value)) = attrs.get_key_value(pd_key.as_str()) else {
                    return Err(self.err(
                        SDS_DOMAINS_ATTRIBUTE,
                        AttributeProblem::Missing { entry: pd.to_string(), missing: pd_key },
                    ));
                };
                used.insert(pd_key);
                let mut pools = Vec::new();
                for pool in self.names(pd_key, pools_value)? {
                    let pool_key = format!("{SDS_PREFIX}{pool}");
                    self.not_reserved(pd_key, &pool_key, pool.as_str())?;
                    if pd_names.contains(pool.as_str()) {
                        return Err(self.err(
                            pd_key,
                            AttributeProblem::ReservedName(pool.to_string(), pool_key),
                        ));
                    }
                    if let Some(other) = pool_owner.get(pool.as_str()) {
                        return Err(self.err(
                            pd_key,
                            AttributeProblem::PoolInTwoDomains {
                                pool: pool.to_string(),
                                other: other.clone(),
                            },
                        ));
                    }
                    pool_owner.insert(pool.to_string(), pd.to_string());
                    let Some((pool_key, devices_value)) = attrs.get_key_value(pool_key.as_str())
                    else {
                        return Err(self.err(
                            pd_key,
                            AttributeProblem::Missing {
                                entry: pool.to_string(),
                                missing: pool_key,
                            },
                        ));
                    };
                    used.insert(pool_key);
                    let devices = self.devices(pool_key, devices_value)?;
                    pools.push(ProvidedPool { name: pool, devices });
                }
                placement.provides.push(ProvidedDomain { name: pd, pools });
            }
        }

        // Consumer side (the original parsed these as providers).
        if let Some(value) = attrs.get(SDC_DOMAINS_ATTRIBUTE) {
            used.insert(SDC_DOMAINS_ATTRIBUTE);
            for pd in self.names(SDC_DOMAINS_ATTRIBUTE, value)? {
                let pd_key = format!("{SDC_PREFIX}{pd}");
                self.not_reserved(SDC_DOMAINS_ATTRIBUTE, &pd_key, pd.as_str())?;
                let Some((pd_key, pools_value)) = attrs.get_key_value(pd_key.as_str()) else {
                    return Err(self.err(
                        SDC_DOMAINS_ATTRIBUTE,
                        AttributeProblem::Missing { entry: pd.to_string(), missing: pd_key },
                    ));
                };
                used.insert(pd_key);
                let pools = self.names(pd_key, pools_value)?;
                placement.consumes.push(ConsumedDomain { name: pd, pools });
            }
        }

        // Anything else under our prefixes is a typo the original silently ignored.
        for name in attrs.keys() {
            if used.contains(name) {
                continue;
            }
            if name.starts_with(SDS_PREFIX) {
                return Err(self
                    .err(name, AttributeProblem::Unreferenced(SDS_DOMAINS_ATTRIBUTE.to_owned())));
            }
            if name.starts_with(SDC_PREFIX) {
                return Err(self
                    .err(name, AttributeProblem::Unreferenced(SDC_DOMAINS_ATTRIBUTE.to_owned())));
            }
        }
        Ok(placement)
    }

    fn not_reserved(&self, attribute: &str, key: &str, name: &str) -> Result<(), AttributeError> {
        if name == "domains" {
            return Err(self
                .err(attribute, AttributeProblem::ReservedName(name.to_owned(), key.to_owned())));
        }
        Ok(())
    }

    fn entries<'v>(&self, attribute: &str, value: &'v str) -> Result<Vec<&'v str>, AttributeError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for entry in value.split(',').map(str::trim) {
            if entry.is_empty() {
                return Err(self.err(attribute, AttributeProblem::EmptyEntry(shown(value))));
            }
            if entry.len() > MAX_ENTRY {
                return Err(self.err(
                    attribute,
                    AttributeProblem::LongEntry { shown: shown(entry), len: entry.len() },
                ));
            }
            if !seen.insert(entry) {
                return Err(self.err(attribute, AttributeProblem::DuplicateEntry(shown(entry))));
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn names(&self, attribute: &str, value: &str) -> Result<Vec<ObjectName>, AttributeError> {
        self.entries(attribute, value)?
            .into_iter()
            .map(|e| {
                ObjectName::new(e).map_err(|e| self.err(attribute, AttributeProblem::BadName(e)))
            })
            .collect()
    }

    fn devices(&self, attribute: &str, value: &str) -> Result<Vec<DevicePath>, AttributeError> {
        self.entries(attribute, value)?
            .into_iter()
            .map(|e| {
                DevicePath::new(e).map_err(|e| self.err(attribute, AttributeProblem::BadDevice(e)))
            })
            .collect()
    }
}

/// What an MDM agent needs free (full-provisioning mode; the original's docs: 1.5 CPU, 4 GB RAM).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MdmRequirements {
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem_mb: f64,
    /// Disk in MB.
    pub disk_mb: f64,
}

impl Default for MdmRequirements {
    fn default() -> Self {
        Self { cpus: 1.5, mem_mb: 3072.0, disk_mb: 0.0 }
    }
}

/// Hostnames of the three MDMs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdmAssignment {
    /// Primary MDM hostname.
    pub primary: String,
    /// Secondary MDM hostname.
    pub secondary: String,
    /// Tiebreaker hostname.
    pub tiebreaker: String,
}

impl MdmAssignment {
    /// The persona of `hostname`.
    pub fn persona_of(&self, hostname: &str) -> Persona {
        if hostname == self.primary {
            Persona::Primary
        } else if hostname == self.secondary {
            Persona::Secondary
        } else if hostname == self.tiebreaker {
            Persona::Tiebreaker
        } else {
            Persona::Data
        }
    }
}

/// Why the MDMs could not (yet) be chosen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectionError {
    #[error(transparent)]
    Attribute(#[from] AttributeError),
    #[error(
        "agents {first} and {second} both ask to be the {persona} MDM (attribute `scaleio-persona`); keep it on one"
    )]
    ConflictingClaims { persona: Persona, first: String, second: String },
    #[error(
        "no agent can be the {persona} MDM yet: need {cpus} CPUs and {mem_mb} MB free, candidates were [{candidates}]\nhint: add an agent with enough free resources, or set `scaleio-persona={persona}` on one"
    )]
    NotEnoughAgents { persona: Persona, cpus: f64, mem_mb: f64, candidates: String },
    #[error(
        "agent {host} asks to be the {persona} MDM (attribute `scaleio-persona`) but offers {cpus} CPUs and {mem_mb} MB; an MDM host needs {need_cpus} CPUs and {need_mem_mb} MB free\nhint: free or add resources on {host}, or remove the attribute (or set it on a larger agent) and restart the agent"
    )]
    ClaimantTooSmall {
        persona: Persona,
        host: String,
        cpus: f64,
        mem_mb: f64,
        need_cpus: f64,
        need_mem_mb: f64,
    },
}

/// Completes the MDM assignment. `fixed` holds personas already chosen earlier (from the store);
/// they are kept. Missing personas come first from `scaleio-persona` attributes, then from the
/// agents with the most capacity: sorted by CPUs, then memory, then disk (descending), then
/// hostname — never by arrival or map order. Agents claiming `data` are never chosen.
///
/// Returns an error until all three can be assigned; the scheduler launches nothing before that.
pub fn choose_mdms(
    fixed: &BTreeMap<Persona, String>,
    agents: &[Agent],
    needs: MdmRequirements,
) -> Result<MdmAssignment, SelectionError> {
    let mut chosen: BTreeMap<Persona, String> =
        fixed.iter().filter(|(p, _)| p.is_mdm()).map(|(p, h)| (*p, h.clone())).collect();
    let mut sorted: Vec<&Agent> = agents.iter().collect();
    sorted.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    let mut claims: BTreeMap<&str, Option<Persona>> = BTreeMap::new();
    for agent in &sorted {
        claims.insert(agent.hostname.as_str(), agent.persona_claim()?);
    }
    let taken = |chosen: &BTreeMap<Persona, String>, host: &str| chosen.values().any(|h| h == host);

    for persona in Persona::MDMS {
        if chosen.contains_key(&persona) {
            continue;
        }
        let claimants: Vec<&str> = sorted
            .iter()
            .map(|a| a.hostname.as_str())
            .filter(|h| claims.get(h).copied().flatten() == Some(persona) && !taken(&chosen, h))
            .collect();
        if let [first, second, ..] = claimants.as_slice() {
            return Err(SelectionError::ConflictingClaims {
                persona,
                first: (*first).to_owned(),
                second: (*second).to_owned(),
            });
        }
        if let Some(host) = claimants.first() {
            // An MDM is chosen once: a claimant that cannot run one would hold the cluster
            // back for good, so the choice waits until it can (or the claim moves).
            let agent =
                sorted.iter().find(|a| a.hostname == *host).expect("a claimant is an agent");
            if agent.capacity.cpus < needs.cpus || agent.capacity.mem_mb < needs.mem_mb {
                return Err(SelectionError::ClaimantTooSmall {
                    persona,
                    host: (*host).to_owned(),
                    cpus: agent.capacity.cpus,
                    mem_mb: agent.capacity.mem_mb,
                    need_cpus: needs.cpus,
                    need_mem_mb: needs.mem_mb,
                });
            }
            chosen.insert(persona, (*host).to_owned());
        }
    }

    let mut by_capacity: Vec<&Agent> = sorted
        .iter()
        .copied()
        .filter(|a| claims.get(a.hostname.as_str()).copied().flatten().is_none())
        .collect();
    by_capacity.sort_by(|a, b| {
        b.capacity
            .cpus
            .total_cmp(&a.capacity.cpus)
            .then(b.capacity.mem_mb.total_cmp(&a.capacity.mem_mb))
            .then(b.capacity.disk_mb.total_cmp(&a.capacity.disk_mb))
            .then(a.hostname.cmp(&b.hostname))
    });
    for persona in Persona::MDMS {
        if chosen.contains_key(&persona) {
            continue;
        }
        let pick = by_capacity.iter().find(|a| {
            !taken(&chosen, &a.hostname)
                && a.capacity.cpus >= needs.cpus
                && a.capacity.mem_mb >= needs.mem_mb
                && a.capacity.disk_mb >= needs.disk_mb
        });
        match pick {
            Some(agent) => {
                chosen.insert(persona, agent.hostname.clone());
            }
            None => {
                let candidates = by_capacity
                    .iter()
                    .filter(|a| !taken(&chosen, &a.hostname))
                    .map(|a| {
                        format!(
                            "{} ({} CPUs, {} MB)",
                            a.hostname, a.capacity.cpus, a.capacity.mem_mb
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(SelectionError::NotEnoughAgents {
                    persona,
                    cpus: needs.cpus,
                    mem_mb: needs.mem_mb,
                    candidates,
                });
            }
        }
    }
    let get = |p: Persona| chosen.get(&p).cloned().expect("every MDM persona was assigned above");
    Ok(MdmAssignment {
        primary: get(Persona::Primary),
        secondary: get(Persona::Secondary),
        tiebreaker: get(Persona::Tiebreaker),
    })
}

/// The persona of every agent: all data nodes in pre-configured mode; the MDM assignment plus
/// data nodes in full mode. Keyed by hostname, so iteration order is stable.
pub fn assign_personas(
    mode: &Mode,
    fixed: &BTreeMap<Persona, String>,
    agents: &[Agent],
    needs: MdmRequirements,
) -> Result<BTreeMap<String, Persona>, SelectionError> {
    match mode {
        Mode::Preconfigured(_) => {
            Ok(agents.iter().map(|a| (a.hostname.clone(), Persona::Data)).collect())
        }
        Mode::Full => {
            let mdms = choose_mdms(fixed, agents, needs)?;
            Ok(agents.iter().map(|a| (a.hostname.clone(), mdms.persona_of(&a.hostname))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(host: &str, cpus: f64, mem: f64, attrs: &[(&str, &str)]) -> Agent {
        Agent {
            hostname: host.into(),
            ip: format!("10.0.0.{}", host.trim_start_matches(|c: char| !c.is_ascii_digit())),
            capacity: Capacity { cpus, mem_mb: mem, disk_mb: 200_000.0 },
            attributes: attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    fn placement(attrs: &[(&str, &str)]) -> Result<Placement, AttributeError> {
        agent("a1", 4.0, 8192.0, attrs).placement()
    }

    #[test]
    fn provider_and_consumer_attributes_parse_in_order() {
        let p = placement(&[
            ("rack", "r1"),
            ("scaleio-sds-domains", "pd2, pd1"),
            ("scaleio-sds-pd2", "fast"),
            ("scaleio-sds-fast", "/dev/xvdf,/dev/xvdg"),
            ("scaleio-sds-pd1", "slow"),
            ("scaleio-sds-slow", "/dev/xvdh"),
            ("scaleio-sdc-domains", "pd1"),
            ("scaleio-sdc-pd1", "slow"),
        ])
        .expect("valid");
        assert!(p.is_imperative());
        let provides: Vec<String> = p
            .provides
            .iter()
            .flat_map(|d| {
                d.pools.iter().map(move |pl| {
                    format!(
                        "{}/{}={:?}",
                        d.name,
                        pl.name,
                        pl.devices.iter().map(|x| x.as_str()).collect::<Vec<_>>()
                    )
                })
            })
            .collect();
        assert_eq!(
            provides,
            ["pd2/fast=[\"/dev/xvdf\", \"/dev/xvdg\"]", "pd1/slow=[\"/dev/xvdh\"]"]
        );
        assert_eq!(p.consumes.len(), 1, "sdc attributes are consumers, not providers");
        assert_eq!(p.consumes[0].name.as_str(), "pd1");
        let default = PoolRef {
            protection_domain: ObjectName::new("default").expect("n"),
            storage_pool: ObjectName::new("default").expect("n"),
        };
        let target = p.rexray_pool(&default);
        assert_eq!(
            (target.protection_domain.as_str(), target.storage_pool.as_str()),
            ("pd1", "slow")
        );
        // Without consumers, the first provided pool in attribute order, every time.
        let p2 = placement(&[
            ("scaleio-sds-domains", "pd2"),
            ("scaleio-sds-pd2", "fast"),
            ("scaleio-sds-fast", "/dev/xvdf"),
        ])
        .expect("valid");
        assert_eq!(p2.rexray_pool(&default).storage_pool.as_str(), "fast");
        assert_eq!(placement(&[]).expect("none").rexray_pool(&default), default);
        assert!(!placement(&[("other", "x")]).expect("none").is_imperative());
    }

    #[test]
    fn bad_attributes_name_the_agent_and_attribute() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("scaleio-sds-domains", "pd1")],
                "agent a1: attribute `scaleio-sds-domains` lists `pd1`, but attribute `scaleio-sds-pd1` is missing",
            ),
            (
                &[("scaleio-sds-domains", "pd1"), ("scaleio-sds-pd1", "sp1")],
                "agent a1: attribute `scaleio-sds-pd1` lists `sp1`, but attribute `scaleio-sds-sp1` is missing",
            ),
            (
                &[("scaleio-sds-domains", "pd1,,pd2")],
                "agent a1: attribute `scaleio-sds-domains` has an empty entry in `pd1,,pd2` (stray comma?)",
            ),
            (
                &[("scaleio-sds-domains", "pd1,pd1")],
                "agent a1: attribute `scaleio-sds-domains` lists `pd1` twice",
            ),
            (
                &[("scaleio-sds-domains", "my pd")],
                "agent a1: attribute `scaleio-sds-domains` names an invalid ScaleIO name: `my pd` may only hold letters, digits, `_`, `-` and `.`, and must start with a letter or digit",
            ),
            (
                &[("scaleio-sds-domains", "domains")],
                "agent a1: attribute `scaleio-sds-domains` names `domains`, which collides with the attribute `scaleio-sds-domains`; choose another name",
            ),
            (
                &[
                    ("scaleio-sds-domains", "pd1,pd2"),
                    ("scaleio-sds-pd1", "sp"),
                    ("scaleio-sds-pd2", "sp"),
                    ("scaleio-sds-sp", "/dev/xvdf"),
                ],
                "agent a1: attribute `scaleio-sds-pd2` lists pool `sp`, which protection domain `pd1` on this agent already lists (pool attributes are per agent, so a pool name must be unique across its domains)",
            ),
            (
                &[
                    ("scaleio-sds-domains", "pd1,pd2"),
                    ("scaleio-sds-pd1", "pd2"),
                    ("scaleio-sds-pd2", "x"),
                    ("scaleio-sds-x", "/dev/xvdf"),
                ],
                "agent a1: attribute `scaleio-sds-pd1` names `pd2`, which collides with the attribute `scaleio-sds-pd2`; choose another name",
            ),
            (
                &[
                    ("scaleio-sds-domains", "pd1"),
                    ("scaleio-sds-pd1", "sp1"),
                    ("scaleio-sds-sp1", "xvdf"),
                ],
                "agent a1: attribute `scaleio-sds-sp1` names an invalid device: `xvdf` is not an absolute device path under /dev/ (like /dev/xvdf or /dev/disk/by-id/...)",
            ),
            (
                &[("scaleio-sdc-domains", "mydomain"), ("scaleio-sdc-mydomain1", "sp1")],
                "agent a1: attribute `scaleio-sdc-domains` lists `mydomain`, but attribute `scaleio-sdc-mydomain` is missing\nhint: add `scaleio-sdc-mydomain` to the agent's attributes",
            ),
            (
                &[("scaleio-sdc-mydomain1", "sp1")],
                "agent a1: attribute `scaleio-sdc-mydomain1` is not referenced by `scaleio-sdc-domains` or any domain/pool it lists (typo in a domain or pool name?)",
            ),
            (
                &[("scaleio-sds-domains", "a"), ("scaleio-sds-domains", "b")],
                "agent a1: attribute `scaleio-sds-domains` is given more than once",
            ),
        ];
        for (attrs, want) in cases {
            let err = placement(attrs).expect_err(want).to_string();
            assert!(err.starts_with(want), "got: {err}\nwant: {want}");
        }
        let err = agent("a9", 1.0, 1.0, &[("scaleio-persona", "master")])
            .persona_claim()
            .expect_err("bad");
        assert_eq!(
            err.to_string(),
            "agent a9: attribute `scaleio-persona` has value `master`; expected one of primary, secondary, tiebreaker, data\nhint: set `scaleio-persona` to one of them, or remove it to let the scheduler choose, and restart the agent (Mesos reads attributes when the agent starts)"
        );
        let huge = format!("x\u{7}{}", "y".repeat(100_000));
        let err = agent("a9", 1.0, 1.0, &[("scaleio-persona", &huge)]).persona_claim();
        let message = err.expect_err("bad").to_string();
        assert!(
            message.starts_with(&format!(
                "agent a9: attribute `scaleio-persona` has value `x\\u{{7}}{}… (100002 bytes)`; expected",
                "y".repeat(58)
            )),
            "{message}"
        );
        let err = placement(&[("scaleio-sds-domains", &huge)]).expect_err("bad").to_string();
        assert!(err.starts_with("agent a1: attribute `scaleio-sds-domains` has an entry of 100002 bytes (`x\\u{7}yyy"), "{err}");
        assert!(err.len() < 500, "{err}");
    }

    #[test]
    fn mdm_choice_is_by_claim_then_capacity_and_order_independent() {
        let agents = vec![
            agent("h1", 2.0, 4096.0, &[]),
            agent("h2", 8.0, 16384.0, &[("scaleio-persona", "data")]),
            agent("h3", 4.0, 8192.0, &[]),
            agent("h4", 4.0, 8192.0, &[("scaleio-persona", "tiebreaker")]),
            agent("h5", 1.0, 1024.0, &[]),
            agent("h6", 4.0, 16384.0, &[]),
        ];
        let need = MdmRequirements::default();
        let got = choose_mdms(&BTreeMap::new(), &agents, need).expect("enough");
        assert_eq!(
            got,
            MdmAssignment { primary: "h6".into(), secondary: "h3".into(), tiebreaker: "h4".into() }
        );
        let mut reversed = agents.clone();
        reversed.reverse();
        assert_eq!(choose_mdms(&BTreeMap::new(), &reversed, need).expect("enough"), got);
        // Earlier choices are kept.
        let fixed = BTreeMap::from([(Persona::Primary, "h1".to_owned())]);
        let kept = choose_mdms(&fixed, &agents, need).expect("enough");
        assert_eq!((kept.primary.as_str(), kept.secondary.as_str()), ("h1", "h6"));
        let personas = assign_personas(&Mode::Full, &BTreeMap::new(), &agents, need).expect("ok");
        assert_eq!(personas["h2"], Persona::Data);
        assert_eq!(personas["h5"], Persona::Data);
        assert_eq!(personas.values().filter(|p| p.is_mdm()).count(), 3);
    }

    #[test]
    fn mdm_choice_waits_for_enough_agents_and_refuses_double_claims() {
        let need = MdmRequirements::default();
        let err = choose_mdms(
            &BTreeMap::new(),
            &[agent("h1", 4.0, 8192.0, &[]), agent("h2", 1.0, 512.0, &[])],
            need,
        )
        .expect_err("short");
        assert!(err.to_string().starts_with("no agent can be the secondary MDM yet"), "{err}");
        assert!(err.to_string().contains("h2 (1 CPUs, 512 MB)"), "{err}");
        let claims = [
            agent("h1", 4.0, 8192.0, &[("scaleio-persona", "primary")]),
            agent("h2", 4.0, 8192.0, &[("scaleio-persona", "primary")]),
        ];
        let err = choose_mdms(&BTreeMap::new(), &claims, need).expect_err("conflict");
        assert!(
            matches!(err, SelectionError::ConflictingClaims { persona: Persona::Primary, .. }),
            "{err}"
        );
    }

    #[test]
    fn preconfigured_mode_makes_everyone_a_data_node() {
        let mode = Mode::Preconfigured(PreconfiguredCluster {
            primary: "10.1.0.1".into(),
            secondary: "10.1.0.2".into(),
            tiebreaker: "10.1.0.3".into(),
            gateway: None,
        });
        let agents = [
            agent("h1", 8.0, 16384.0, &[("scaleio-persona", "primary")]),
            agent("h2", 1.0, 1.0, &[]),
        ];
        let personas =
            assign_personas(&mode, &BTreeMap::new(), &agents, MdmRequirements::default())
                .expect("ok");
        assert!(personas.values().all(|p| *p == Persona::Data));
        let Mode::Preconfigured(c) = mode else { unreachable!() };
        assert_eq!(c.gateway(), "10.1.0.1");
        assert_eq!(c.mdm_ips(), ["10.1.0.1", "10.1.0.2"]);
    }
}
