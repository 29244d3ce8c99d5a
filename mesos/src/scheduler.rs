//! The v1 scheduler API messages (`mesos/v1/scheduler/scheduler.proto`): [`Call`] and [`Event`].
//!
//! Both travel as `{"type":"NAME","<payload field>":{..}}`. [`CallKind`] and [`Event`] are
//! enums with one variant per type so a client builds calls and matches events, and a server
//! decodes calls and builds events. Decoding a [`Call`] is strict like the master (missing or
//! unknown `type`, or a missing required payload, is an error: answer 400); decoding an [`Event`]
//! is forward compatible (unknown types become [`Event::Unrecognized`]).

pub mod connection;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::json::tagged_union;
use crate::v1::{
    AgentID, Bytes, ExecutorID, Filters, FrameworkID, FrameworkInfo, InverseOffer, KillPolicy,
    MasterInfo, Offer, OfferID, Operation, OperationID, OperationStatus, Request,
    ResourceProviderID, TaskID, TaskStatus,
};

/// A scheduler call: the top-level `framework_id` (required on everything but a first
/// SUBSCRIBE) and the typed body.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub framework_id: Option<FrameworkID>,
    pub kind: CallKind,
}

impl Call {
    /// A call carrying `framework_id`.
    pub fn new(framework_id: Option<FrameworkID>, kind: CallKind) -> Self {
        Self { framework_id, kind }
    }

    /// The JSON body Mesos expects.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a call always serializes to JSON")
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        if let Some(id) = &self.framework_id {
            map.insert(
                "framework_id".to_owned(),
                serde_json::to_value(id).map_err(serde::ser::Error::custom)?,
            );
        }
        self.kind.write_into(&mut map).map_err(serde::ser::Error::custom)?;
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let framework_id = match map.remove("framework_id") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v)
                    .map_err(|e| D::Error::custom(format!("in 'framework_id': {e}")))?,
            ),
        };
        let kind = CallKind::read_from(&mut map, true).map_err(D::Error::custom)?;
        Ok(Self { framework_id, kind })
    }
}

tagged_union! {
    /// The body of a scheduler [`Call`]: one variant per `Call.Type`.
    pub enum CallKind {
        units {
            Teardown = "TEARDOWN",
        }
        required {
            Subscribe(Subscribe) = "SUBSCRIBE" / "subscribe",
            Accept(Accept) = "ACCEPT" / "accept",
            Decline(Decline) = "DECLINE" / "decline",
            AcceptInverseOffers(AcceptInverseOffers) = "ACCEPT_INVERSE_OFFERS" / "accept_inverse_offers",
            DeclineInverseOffers(DeclineInverseOffers) = "DECLINE_INVERSE_OFFERS" / "decline_inverse_offers",
            Kill(Kill) = "KILL" / "kill",
            Shutdown(Shutdown) = "SHUTDOWN" / "shutdown",
            Acknowledge(Acknowledge) = "ACKNOWLEDGE" / "acknowledge",
            AcknowledgeOperationStatus(AcknowledgeOperationStatus) = "ACKNOWLEDGE_OPERATION_STATUS" / "acknowledge_operation_status",
            Reconcile(Reconcile) = "RECONCILE" / "reconcile",
            ReconcileOperations(ReconcileOperations) = "RECONCILE_OPERATIONS" / "reconcile_operations",
            Message(Message) = "MESSAGE" / "message",
            Request(Requests) = "REQUEST" / "request",
            UpdateFramework(UpdateFramework) = "UPDATE_FRAMEWORK" / "update_framework",
        }
        optional {
            Revive(Revive) = "REVIVE" / "revive",
            Suppress(Suppress) = "SUPPRESS" / "suppress",
        }
    }
}

impl CallKind {
    /// DECLINE of `offer_ids` with optional filters.
    pub fn decline(offer_ids: Vec<OfferID>, filters: Option<Filters>) -> Self {
        Self::Decline(Decline { offer_ids, filters })
    }

    /// ACCEPT of `offer_ids` with `operations`.
    pub fn accept(
        offer_ids: Vec<OfferID>,
        operations: Vec<Operation>,
        filters: Option<Filters>,
    ) -> Self {
        Self::Accept(Accept { offer_ids, operations, filters })
    }

    /// ACKNOWLEDGE of the update `status`, or `None` if it carries no uuid (must not be acked)
    /// or no agent id.
    pub fn acknowledge(status: &TaskStatus) -> Option<Self> {
        Some(Self::Acknowledge(Acknowledge {
            agent_id: status.agent_id.clone()?,
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone()?,
        }))
    }

    /// Implicit RECONCILE (`"reconcile":{}`): the master answers with every task it knows.
    pub fn reconcile_all() -> Self {
        Self::Reconcile(Reconcile::default())
    }
}

impl Serialize for CallKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        self.write_into(&mut map).map_err(serde::ser::Error::custom)?;
        map.serialize(s)
    }
}

/// `Call.Subscribe`. When re-subscribing, set `framework_info.id` AND the call's `framework_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<serde_json::Value>,
}

/// `Call.Accept`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Decline`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.AcceptInverseOffers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AcceptInverseOffers {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.DeclineInverseOffers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeclineInverseOffers {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Revive` (no roles = all subscribed roles).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Revive {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// `Call.Suppress` (no roles = all subscribed roles).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Suppress {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// `Call.Kill`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Call.Shutdown`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    pub executor_id: ExecutorID,
    pub agent_id: AgentID,
}

/// `Call.Acknowledge`: `uuid` is the update's `status.uuid`, byte for byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acknowledge {
    pub agent_id: AgentID,
    pub task_id: TaskID,
    pub uuid: Bytes,
}

/// `Call.AcknowledgeOperationStatus`: `uuid` is the inner value of `OperationStatus.uuid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeOperationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderID>,
    pub uuid: Bytes,
    pub operation_id: OperationID,
}

/// `Call.Reconcile`; no tasks = implicit reconciliation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconcile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ReconcileTask>,
}

/// `Call.Reconcile.Task`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconcileTask {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
}

/// `Call.ReconcileOperations`; no operations = implicit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileOperations {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<ReconcileOperation>,
}

/// `Call.ReconcileOperations.Operation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconcileOperation {
    pub operation_id: OperationID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderID>,
}

/// `Call.Message` (scheduler → executor, best effort).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub agent_id: AgentID,
    pub executor_id: ExecutorID,
    pub data: Bytes,
}

/// `Call.Request`: `{"requests":[..]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<Request>,
}

/// `Call.UpdateFramework` (`framework_info.id` must equal the call's `framework_id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateFramework {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<serde_json::Value>,
}

tagged_union! {
    /// A scheduler event on the subscription stream: one variant per `Event.Type`.
    pub enum Event {
        units {
            Heartbeat = "HEARTBEAT",
        }
        required {
            Subscribed(Subscribed) = "SUBSCRIBED" / "subscribed",
            Offers(Offers) = "OFFERS" / "offers",
            InverseOffers(InverseOffers) = "INVERSE_OFFERS" / "inverse_offers",
            Rescind(Rescind) = "RESCIND" / "rescind",
            RescindInverseOffer(RescindInverseOffer) = "RESCIND_INVERSE_OFFER" / "rescind_inverse_offer",
            Update(Update) = "UPDATE" / "update",
            UpdateOperationStatus(UpdateOperationStatus) = "UPDATE_OPERATION_STATUS" / "update_operation_status",
            Message(Message) = "MESSAGE" / "message",
            Failure(Failure) = "FAILURE" / "failure",
            Error(Error) = "ERROR" / "error",
        }
        optional {}
    }
}

impl Event {
    /// Decodes one RecordIO record of a JSON event stream. Bare `Infinity`/`NaN` tokens written
    /// by Mesos' JSON writer are accepted.
    pub fn from_record(record: &[u8]) -> Result<Self, serde_json::Error> {
        crate::json::from_record(record)
    }

    /// The JSON record a master writes for this event.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serializes to JSON")
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        self.write_into(&mut map).map_err(serde::ser::Error::custom)?;
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        Self::read_from(&mut map, false).map_err(D::Error::custom)
    }
}

/// `Event.Subscribed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub framework_id: FrameworkID,
    /// 15.0 on a real master.
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

/// `Event.Offers`: `{"offers":[..]}` inside the event's `offers` field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Offers {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<Offer>,
}

/// `Event.InverseOffers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InverseOffers {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offers: Vec<InverseOffer>,
}

/// `Event.Rescind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescind {
    pub offer_id: OfferID,
}

/// `Event.RescindInverseOffer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RescindInverseOffer {
    pub inverse_offer_id: OfferID,
}

/// `Event.Update`: acknowledge it iff `status.uuid` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

/// `Event.UpdateOperationStatus`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateOperationStatus {
    pub status: OperationStatus,
}

/// `Event.Failure`: agent removed (`agent_id` only) or executor exited (`status` is the raw
/// `waitpid` status: exit code 3 arrives as 768).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
    #[serde(default, with = "crate::json::lenient", skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

impl Failure {
    /// The executor's exit code (WEXITSTATUS) if it exited normally.
    pub fn exit_code(&self) -> Option<i32> {
        let status = self.status?;
        (status & 0x7f == 0).then_some((status >> 8) & 0xff)
    }
}

/// `Event.Error`: fatal for this subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub message: String,
}
