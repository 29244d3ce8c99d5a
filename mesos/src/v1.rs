//! Messages of `mesos/v1/mesos.proto` shared by the scheduler and executor APIs, with the JSON
//! shape Mesos reads and writes.
//!
//! Conventions: keys are proto field names; proto2 `required` fields (★ in the design notes) are
//! plain fields, so decoding JSON that lacks one fails (a Mesos master answers such a call with
//! 400); optional fields are `Option`, including those with a proto default (read them through
//! the accessor methods, e.g. [`CommandInfo::is_shell`]); repeated fields are `Vec`s omitted when
//! empty. Rarely used nested messages the framework never inspects (health checks, Docker info,
//! discovery, ...) are kept as raw [`serde_json::Value`]s so they round-trip untouched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::json::string_enum;
pub use crate::json::{Bytes, Empty};

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name {
            /// The opaque identifier; never parse it.
            pub value: String,
        }

        impl $name {
            /// Wraps an identifier.
            pub fn new(value: impl Into<String>) -> Self {
                Self { value: value.into() }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.value)
            }
        }

        impl From<&str> for $name {
            fn from(v: &str) -> Self {
                Self::new(v)
            }
        }

        impl From<String> for $name {
            fn from(v: String) -> Self {
                Self::new(v)
            }
        }
    )*};
}

id_type! {
    /// `FrameworkID`: assigned by the master on first SUBSCRIBE.
    FrameworkID;
    /// `OfferID`.
    OfferID;
    /// `AgentID`.
    AgentID;
    /// `TaskID`.
    TaskID;
    /// `ExecutorID`.
    ExecutorID;
    /// `OperationID`.
    OperationID;
    /// `ResourceProviderID`.
    ResourceProviderID;
}

/// `ContainerID`: `{"value":..,"parent":{..}}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerID {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<ContainerID>>,
}

/// `TimeInfo`: nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeInfo {
    #[serde(with = "crate::json::lenient")]
    pub nanoseconds: i64,
}

/// `DurationInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationInfo {
    #[serde(with = "crate::json::lenient")]
    pub nanoseconds: i64,
}

impl DurationInfo {
    /// A duration as a `DurationInfo` (saturating at `i64::MAX` nanoseconds).
    pub fn from_duration(d: std::time::Duration) -> Self {
        Self { nanoseconds: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX) }
    }
}

/// `Address`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(with = "crate::json::lenient")]
    pub port: i32,
}

/// `URL` (e.g. `Offer.url`; its scheme is always `http`, even with TLS).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Url {
    pub scheme: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
}

/// `Unavailability`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unavailability {
    pub start: TimeInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationInfo>,
}

/// `DomainInfo` (fault domain of a master or agent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_domain: Option<FaultDomain>,
}

/// `DomainInfo.FaultDomain`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultDomain {
    pub region: NamedDomain,
    pub zone: NamedDomain,
}

/// `DomainInfo.FaultDomain.RegionInfo` / `ZoneInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedDomain {
    pub name: String,
}

/// `Parameter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    pub key: String,
    pub value: String,
}

/// `Parameters`: `{"parameter":[..]}` (singular name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter: Vec<Parameter>,
}

/// `Label`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Labels`: `{"labels":[..]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
}

impl Labels {
    /// The value of the first label named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|l| l.key == key).and_then(|l| l.value.as_deref())
    }
}

// ------------------------------------------------------------------------------------------------
// Master, agent and framework descriptions

/// `MasterInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    pub id: String,
    /// IPv4 address as a uint32 in network byte order.
    #[serde(with = "crate::json::lenient")]
    pub ip: u32,
    #[serde(with = "crate::json::lenient")]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<MasterCapability>,
}

/// `MasterInfo.Capability`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MasterCapability {
    #[serde(rename = "type")]
    pub kind: MasterCapabilityType,
}

string_enum! {
    /// `MasterInfo.Capability.Type`.
    pub enum MasterCapabilityType {
        Unknown = "UNKNOWN",
        AgentUpdate = "AGENT_UPDATE",
        AgentDraining = "AGENT_DRAINING",
        QuotaV2 = "QUOTA_V2",
    }
}

/// `AgentInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub hostname: String,
    /// Default 5051.
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
}

/// `FrameworkInfo`. `user` and `name` are required (a master answers 400 without them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    pub user: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkID>,
    /// Seconds; default 0 (a disconnect tears the framework down at once).
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<f64>,
    /// Default false.
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    /// Deprecated single role (without MULTI_ROLE); default `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<FrameworkCapability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// `map<string, OfferFilters>`, kept raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offer_filters: BTreeMap<String, Json>,
}

impl FrameworkInfo {
    /// A framework description with only the required fields set.
    pub fn new(user: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            name: name.into(),
            id: None,
            failover_timeout: None,
            checkpoint: None,
            role: None,
            roles: Vec::new(),
            hostname: None,
            principal: None,
            webui_url: None,
            capabilities: Vec::new(),
            labels: None,
            offer_filters: BTreeMap::new(),
        }
    }

    /// Whether the framework declared `capability`.
    pub fn has_capability(&self, capability: &FrameworkCapabilityType) -> bool {
        self.capabilities.iter().any(|c| &c.kind == capability)
    }
}

/// `FrameworkInfo.Capability`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkCapability {
    #[serde(rename = "type")]
    pub kind: FrameworkCapabilityType,
}

impl From<FrameworkCapabilityType> for FrameworkCapability {
    fn from(kind: FrameworkCapabilityType) -> Self {
        Self { kind }
    }
}

string_enum! {
    /// `FrameworkInfo.Capability.Type`.
    pub enum FrameworkCapabilityType {
        Unknown = "UNKNOWN",
        RevocableResources = "REVOCABLE_RESOURCES",
        TaskKillingState = "TASK_KILLING_STATE",
        GpuResources = "GPU_RESOURCES",
        SharedResources = "SHARED_RESOURCES",
        PartitionAware = "PARTITION_AWARE",
        MultiRole = "MULTI_ROLE",
        ReservationRefinement = "RESERVATION_REFINEMENT",
        RegionAware = "REGION_AWARE",
    }
}

// ------------------------------------------------------------------------------------------------
// Values, attributes, resources

string_enum! {
    /// `Value.Type`.
    pub enum ValueType {
        Scalar = "SCALAR",
        Ranges = "RANGES",
        Set = "SET",
        Text = "TEXT",
    }
}

/// `Value.Scalar` (Mesos keeps three decimal digits; compare with a tolerance).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    #[serde(with = "crate::json::lenient")]
    pub value: f64,
}

/// `Value.Range` (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    #[serde(with = "crate::json::lenient")]
    pub begin: u64,
    #[serde(with = "crate::json::lenient")]
    pub end: u64,
}

/// `Value.Ranges`: `{"range":[..]}` (singular name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub range: Vec<Range>,
}

/// `Value.Set`: `{"item":[..]}` (singular name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Set {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<String>,
}

/// `Value.Text`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub value: String,
}

/// `Attribute` of an agent (`name`, `type` required).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

impl Attribute {
    /// A TEXT attribute.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: Some(Text { value: value.into() }),
        }
    }
}

/// `Resource` (`name`, `type` required; mem and disk in MB). The rarely present `reservation`
/// and `disk` are boxed: inline they made every resource 720 bytes (a 10,000-agent OFFERS event
/// decoded to ~23 MiB), boxed it is under a third of that; the JSON is the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<ResourceProviderID>,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// Deprecated pre-refinement role (`*` = unreserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Pre-refinement dynamic reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Box<ReservationInfo>>,
    /// Refinement-format reservation stack (empty = unreserved).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<ReservationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<Box<DiskInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<Empty>,
}

impl Resource {
    fn bare(name: &str, kind: ValueType) -> Self {
        Self {
            provider_id: None,
            name: name.to_owned(),
            kind,
            scalar: None,
            ranges: None,
            set: None,
            role: None,
            allocation_info: None,
            reservation: None,
            reservations: Vec::new(),
            disk: None,
            revocable: None,
            shared: None,
        }
    }

    /// A SCALAR resource such as `cpus` or `mem`.
    pub fn scalar(name: &str, value: f64) -> Self {
        Self { scalar: Some(Scalar { value }), ..Self::bare(name, ValueType::Scalar) }
    }

    /// A RANGES resource such as `ports`.
    pub fn ranges(name: &str, ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let range = ranges.into_iter().map(|(begin, end)| Range { begin, end }).collect();
        Self { ranges: Some(Ranges { range }), ..Self::bare(name, ValueType::Ranges) }
    }

    /// A SET resource.
    pub fn set(name: &str, items: impl IntoIterator<Item = String>) -> Self {
        Self {
            set: Some(Set { item: items.into_iter().collect() }),
            ..Self::bare(name, ValueType::Set)
        }
    }

    /// The scalar value, if this is a scalar resource.
    pub fn scalar_value(&self) -> Option<f64> {
        self.scalar.map(|s| s.value)
    }
}

/// `Resource.AllocationInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `Resource.ReservationInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReservationInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ReservationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

string_enum! {
    /// `Resource.ReservationInfo.Type`.
    pub enum ReservationType {
        Unknown = "UNKNOWN",
        Static = "STATIC",
        Dynamic = "DYNAMIC",
    }
}

/// `Resource.DiskInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
    /// `DiskInfo.Source` (PATH, MOUNT, BLOCK, RAW), kept raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Json>,
}

/// `Resource.DiskInfo.Persistence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persistence {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

// ------------------------------------------------------------------------------------------------
// Offers and operations

/// `Offer`: one agent × one role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferID,
    pub framework_id: FrameworkID,
    pub agent_id: AgentID,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailability: Option<Unavailability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
}

/// `InverseOffer` (maintenance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InverseOffer {
    pub id: OfferID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    pub framework_id: FrameworkID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    pub unavailability: Unavailability,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `Offer.Operation`. Mirrors the proto: `type` plus the matching payload field. Build the common
/// ones with [`Operation::launch`] and [`Operation::launch_group`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<OperationType>,
    /// Must not be set for LAUNCH / LAUNCH_GROUP (the master answers TASK_ERROR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<OperationID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve: Option<Reserve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreserve: Option<Unreserve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<Create>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy: Option<Destroy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grow_volume: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink_volume: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_disk: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_disk: Option<Json>,
}

impl Operation {
    fn of(kind: OperationType) -> Self {
        Self {
            kind: Some(kind),
            id: None,
            launch: None,
            launch_group: None,
            reserve: None,
            unreserve: None,
            create: None,
            destroy: None,
            grow_volume: None,
            shrink_volume: None,
            create_disk: None,
            destroy_disk: None,
        }
    }

    /// A LAUNCH of `tasks`.
    pub fn launch(tasks: Vec<TaskInfo>) -> Self {
        Self { launch: Some(Launch { task_infos: tasks }), ..Self::of(OperationType::Launch) }
    }

    /// A LAUNCH_GROUP of `tasks` on `executor`.
    pub fn launch_group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> Self {
        Self {
            launch_group: Some(LaunchGroup { executor, task_group: TaskGroupInfo { tasks } }),
            ..Self::of(OperationType::LaunchGroup)
        }
    }

    /// A RESERVE of `resources`.
    pub fn reserve(resources: Vec<Resource>) -> Self {
        Self {
            reserve: Some(Reserve { source: Vec::new(), resources }),
            ..Self::of(OperationType::Reserve)
        }
    }
}

string_enum! {
    /// `Offer.Operation.Type`.
    pub enum OperationType {
        Unknown = "UNKNOWN",
        Launch = "LAUNCH",
        LaunchGroup = "LAUNCH_GROUP",
        Reserve = "RESERVE",
        Unreserve = "UNRESERVE",
        Create = "CREATE",
        Destroy = "DESTROY",
        GrowVolume = "GROW_VOLUME",
        ShrinkVolume = "SHRINK_VOLUME",
        CreateDisk = "CREATE_DISK",
        DestroyDisk = "DESTROY_DISK",
    }
}

/// `Offer.Operation.Launch`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_infos: Vec<TaskInfo>,
}

/// `Offer.Operation.LaunchGroup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    pub executor: ExecutorInfo,
    pub task_group: TaskGroupInfo,
}

/// `Offer.Operation.Reserve`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reserve {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `Offer.Operation.Unreserve`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Unreserve {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `Offer.Operation.Create`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Create {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Resource>,
}

/// `Offer.Operation.Destroy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Destroy {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Resource>,
}

/// `Filters`: `refuse_seconds` defaults to 5.0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub refuse_seconds: Option<f64>,
}

impl Filters {
    /// Filters refusing the declined resources for `seconds`.
    pub fn refuse(seconds: f64) -> Self {
        Self { refuse_seconds: Some(seconds) }
    }
}

/// `Request` (for the REQUEST call; ignored by Mesos' allocator).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

// ------------------------------------------------------------------------------------------------
// Tasks, executors, commands, containers

/// `TaskInfo` (`name`, `task_id`, `agent_id` required; exactly one of `command`/`executor`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub task_id: TaskID,
    pub agent_id: AgentID,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_time: Option<DurationInfo>,
    /// `map<string, Value.Scalar>`; values may be infinite.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Scalar>,
}

impl TaskInfo {
    /// A task with the required fields and `resources`; set `executor` or `command` next.
    pub fn new(
        name: impl Into<String>,
        task_id: TaskID,
        agent_id: AgentID,
        resources: Vec<Resource>,
    ) -> Self {
        Self {
            name: name.into(),
            task_id,
            agent_id,
            resources,
            executor: None,
            command: None,
            container: None,
            health_check: None,
            check: None,
            kill_policy: None,
            data: None,
            labels: None,
            discovery: None,
            max_completion_time: None,
            limits: BTreeMap::new(),
        }
    }
}

/// `TaskGroupInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskInfo>,
}

/// `KillPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

/// `ExecutorInfo` (`executor_id` required).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ExecutorType>,
    pub executor_id: ExecutorID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

impl ExecutorInfo {
    /// An executor with only `executor_id` set.
    pub fn new(executor_id: ExecutorID) -> Self {
        Self {
            kind: None,
            executor_id,
            framework_id: None,
            command: None,
            container: None,
            resources: Vec::new(),
            name: None,
            source: None,
            data: None,
            discovery: None,
            shutdown_grace_period: None,
            labels: None,
        }
    }
}

string_enum! {
    /// `ExecutorInfo.Type`.
    pub enum ExecutorType {
        Unknown = "UNKNOWN",
        Default = "DEFAULT",
        Custom = "CUSTOM",
    }
}

/// `CommandInfo`. With `shell` (the default) `value` runs under `/bin/sh -c`; otherwise `value` is
/// executed with argv = `arguments` (`arguments[0]` is argv[0]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Uri>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl CommandInfo {
    /// `shell`, defaulting to true.
    pub fn is_shell(&self) -> bool {
        self.shell.unwrap_or(true)
    }
}

/// `CommandInfo.URI`: something the fetcher puts into the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uri {
    pub value: String,
    /// Default false.
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// Default true.
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Default false.
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

impl Uri {
    /// A URI with every option at its default.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            executable: None,
            extract: None,
            cache: None,
            output_file: None,
        }
    }

    /// `executable`, default false.
    pub fn is_executable(&self) -> bool {
        self.executable.unwrap_or(false)
    }

    /// `extract`, default true.
    pub fn is_extract(&self) -> bool {
        self.extract.unwrap_or(true)
    }

    /// `cache`, default false.
    pub fn is_cache(&self) -> bool {
        self.cache.unwrap_or(false)
    }
}

/// `Environment`: `{"variables":[..]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
}

impl Environment {
    /// The value of the VALUE-type variable `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables.iter().find(|v| v.name == name).and_then(|v| v.value.as_deref())
    }
}

/// `Environment.Variable`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    /// Default VALUE.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VariableType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Json>,
}

impl Variable {
    /// A plain `name=value` variable.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), kind: None, value: Some(value.into()), secret: None }
    }
}

string_enum! {
    /// `Environment.Variable.Type`.
    pub enum VariableType {
        Unknown = "UNKNOWN",
        Value = "VALUE",
        Secret = "SECRET",
    }
}

/// `ContainerInfo` (`type` required).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    #[serde(rename = "type")]
    pub kind: ContainerType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos: Option<Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_info: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rlimit_info: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty_info: Option<Json>,
}

impl ContainerInfo {
    /// A MESOS container with `volumes`.
    pub fn mesos(volumes: Vec<Volume>) -> Self {
        Self {
            kind: ContainerType::Mesos,
            volumes,
            hostname: None,
            docker: None,
            mesos: None,
            network_infos: Vec::new(),
            linux_info: None,
            rlimit_info: None,
            tty_info: None,
        }
    }
}

string_enum! {
    /// `ContainerInfo.Type`.
    pub enum ContainerType {
        Docker = "DOCKER",
        Mesos = "MESOS",
    }
}

/// `NetworkInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<IpAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<Json>,
}

/// `NetworkInfo.IPAddress`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<IpProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

string_enum! {
    /// `NetworkInfo.Protocol`.
    pub enum IpProtocol {
        IPv4 = "IPv4",
        IPv6 = "IPv6",
    }
}

/// `Volume` (`container_path`, `mode` required).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub mode: VolumeMode,
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<VolumeSource>,
}

impl Volume {
    /// A DOCKER_VOLUME volume `name` of `driver` mounted at `container_path`.
    pub fn docker_volume(
        container_path: impl Into<String>,
        mode: VolumeMode,
        driver: impl Into<String>,
        name: impl Into<String>,
        driver_options: Vec<Parameter>,
    ) -> Self {
        Self {
            mode,
            container_path: container_path.into(),
            host_path: None,
            image: None,
            source: Some(VolumeSource {
                kind: Some(VolumeSourceType::DockerVolume),
                docker_volume: Some(DockerVolume {
                    driver: Some(driver.into()),
                    name: name.into(),
                    driver_options: (!driver_options.is_empty())
                        .then_some(Parameters { parameter: driver_options }),
                }),
                host_path: None,
                sandbox_path: None,
                secret: None,
                csi_volume: None,
            }),
        }
    }
}

string_enum! {
    /// `Volume.Mode`.
    pub enum VolumeMode {
        Rw = "RW",
        Ro = "RO",
    }
}

/// `Volume.Source`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeSource {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VolumeSourceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_volume: Option<DockerVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_path: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi_volume: Option<Json>,
}

string_enum! {
    /// `Volume.Source.Type`.
    pub enum VolumeSourceType {
        Unknown = "UNKNOWN",
        DockerVolume = "DOCKER_VOLUME",
        SandboxPath = "SANDBOX_PATH",
        Secret = "SECRET",
        HostPath = "HOST_PATH",
        CsiVolume = "CSI_VOLUME",
    }
}

/// `Volume.Source.DockerVolume` (`name` required; `driver` is required in practice).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerVolume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_options: Option<Parameters>,
}

// ------------------------------------------------------------------------------------------------
// Task status

/// `TaskStatus` (`task_id`, `state` required). `uuid` set ⇔ the update must be acknowledged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: TaskID,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Unset reads as SOURCE_MASTER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TaskSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<TaskReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
    /// Seconds since the epoch.
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// 16 raw bytes of an RFC-4122 UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Bytes>,
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<ContainerStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitation: Option<TaskResourceLimitation>,
}

impl TaskStatus {
    /// A status with only `task_id` and `state` set.
    pub fn new(task_id: TaskID, state: TaskState) -> Self {
        Self {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            check_status: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
            limitation: None,
        }
    }

    /// The source, reading unset as SOURCE_MASTER like Mesos does.
    pub fn source_or_default(&self) -> TaskSource {
        self.source.clone().unwrap_or(TaskSource::Master)
    }
}

/// `ContainerStatus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerID>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_info: Option<Json>,
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub executor_pid: Option<u32>,
}

/// `TaskResourceLimitation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskResourceLimitation {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

string_enum! {
    /// `TaskState`.
    pub enum TaskState {
        Staging = "TASK_STAGING",
        Starting = "TASK_STARTING",
        Running = "TASK_RUNNING",
        Killing = "TASK_KILLING",
        Finished = "TASK_FINISHED",
        Failed = "TASK_FAILED",
        Killed = "TASK_KILLED",
        Error = "TASK_ERROR",
        Lost = "TASK_LOST",
        Dropped = "TASK_DROPPED",
        Unreachable = "TASK_UNREACHABLE",
        Gone = "TASK_GONE",
        GoneByOperator = "TASK_GONE_BY_OPERATOR",
        Unknown = "TASK_UNKNOWN",
    }
}

impl TaskState {
    /// Whether Mesos treats the state as terminal (LOST and GONE_BY_OPERATOR may still be
    /// followed by an update if the agent comes back). Unrecognized states are not terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Finished
                | Self::Failed
                | Self::Killed
                | Self::Error
                | Self::Lost
                | Self::Dropped
                | Self::Gone
                | Self::GoneByOperator
        )
    }
}

string_enum! {
    /// `TaskStatus.Source`.
    pub enum TaskSource {
        Master = "SOURCE_MASTER",
        Agent = "SOURCE_AGENT",
        Executor = "SOURCE_EXECUTOR",
    }
}

string_enum! {
    /// `TaskStatus.Reason`.
    pub enum TaskReason {
        CommandExecutorFailed = "REASON_COMMAND_EXECUTOR_FAILED",
        ContainerLaunchFailed = "REASON_CONTAINER_LAUNCH_FAILED",
        ContainerLimitation = "REASON_CONTAINER_LIMITATION",
        ContainerLimitationDisk = "REASON_CONTAINER_LIMITATION_DISK",
        ContainerLimitationMemory = "REASON_CONTAINER_LIMITATION_MEMORY",
        ContainerPreempted = "REASON_CONTAINER_PREEMPTED",
        ContainerUpdateFailed = "REASON_CONTAINER_UPDATE_FAILED",
        MaxCompletionTimeReached = "REASON_MAX_COMPLETION_TIME_REACHED",
        ExecutorRegistrationTimeout = "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        ExecutorReregistrationTimeout = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
        ExecutorTerminated = "REASON_EXECUTOR_TERMINATED",
        ExecutorUnregistered = "REASON_EXECUTOR_UNREGISTERED",
        FrameworkRemoved = "REASON_FRAMEWORK_REMOVED",
        GcError = "REASON_GC_ERROR",
        InvalidFrameworkid = "REASON_INVALID_FRAMEWORKID",
        InvalidOffers = "REASON_INVALID_OFFERS",
        IoSwitchboardExited = "REASON_IO_SWITCHBOARD_EXITED",
        MasterDisconnected = "REASON_MASTER_DISCONNECTED",
        Reconciliation = "REASON_RECONCILIATION",
        ResourcesUnknown = "REASON_RESOURCES_UNKNOWN",
        AgentDisconnected = "REASON_AGENT_DISCONNECTED",
        AgentDraining = "REASON_AGENT_DRAINING",
        AgentRemoved = "REASON_AGENT_REMOVED",
        AgentRemovedByOperator = "REASON_AGENT_REMOVED_BY_OPERATOR",
        AgentReregistered = "REASON_AGENT_REREGISTERED",
        AgentRestarted = "REASON_AGENT_RESTARTED",
        AgentUnknown = "REASON_AGENT_UNKNOWN",
        TaskCheckStatusUpdated = "REASON_TASK_CHECK_STATUS_UPDATED",
        TaskHealthCheckStatusUpdated = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
        TaskGroupInvalid = "REASON_TASK_GROUP_INVALID",
        TaskGroupUnauthorized = "REASON_TASK_GROUP_UNAUTHORIZED",
        TaskInvalid = "REASON_TASK_INVALID",
        TaskKilledDuringLaunch = "REASON_TASK_KILLED_DURING_LAUNCH",
        TaskUnauthorized = "REASON_TASK_UNAUTHORIZED",
        TaskUnknown = "REASON_TASK_UNKNOWN",
    }
}

/// `OperationStatus` (`state` required). Its `uuid` is a message `{"value":"<b64>"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<OperationID>,
    pub state: OperationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub converted_resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderID>,
}

/// `UUID` message: `{"value":"<b64>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uuid {
    pub value: Bytes,
}

string_enum! {
    /// `OperationState`.
    pub enum OperationState {
        Unsupported = "OPERATION_UNSUPPORTED",
        Pending = "OPERATION_PENDING",
        Finished = "OPERATION_FINISHED",
        Failed = "OPERATION_FAILED",
        Error = "OPERATION_ERROR",
        Dropped = "OPERATION_DROPPED",
        Unreachable = "OPERATION_UNREACHABLE",
        GoneByOperator = "OPERATION_GONE_BY_OPERATOR",
        Recovering = "OPERATION_RECOVERING",
        Unknown = "OPERATION_UNKNOWN",
    }
}

/// A fresh RFC-4122 v4 UUID as the 16 raw bytes Mesos expects in `TaskStatus.uuid`.
pub fn new_status_uuid() -> Bytes {
    Bytes(uuid::Uuid::new_v4().as_bytes().to_vec())
}

/// Whether `bytes` is what Mesos accepts as a status-update uuid: 16 bytes, RFC-4122 version 1–5.
pub fn is_valid_status_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 16 && (1..=5).contains(&(bytes[6] >> 4))
}
