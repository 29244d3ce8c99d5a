//! The v1 executor API messages (`mesos/v1/executor/executor.proto`): [`Call`] and [`Event`].
//!
//! Same shape and decoding rules as [`crate::scheduler`]: calls decode strictly (what the agent
//! answers with 400), events decode forward compatibly.

pub mod connection;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::json::tagged_union;
use crate::v1::{
    AgentInfo, Bytes, ContainerID, ExecutorID, ExecutorInfo, FrameworkID, FrameworkInfo,
    KillPolicy, TaskGroupInfo, TaskID, TaskInfo, TaskStatus,
};

/// An executor call: `executor_id` and `framework_id` are required on every call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub executor_id: ExecutorID,
    pub framework_id: FrameworkID,
    pub kind: CallKind,
}

impl Call {
    /// The JSON body the agent expects.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a call always serializes to JSON")
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut map = serde_json::Map::new();
        map.insert(
            "executor_id".to_owned(),
            serde_json::to_value(&self.executor_id).map_err(S::Error::custom)?,
        );
        map.insert(
            "framework_id".to_owned(),
            serde_json::to_value(&self.framework_id).map_err(S::Error::custom)?,
        );
        self.kind.write_into(&mut map).map_err(S::Error::custom)?;
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        fn id<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            map: &mut serde_json::Map<String, serde_json::Value>,
            field: &str,
        ) -> Result<T, E> {
            match map.remove(field) {
                None | Some(serde_json::Value::Null) => {
                    Err(E::custom(format!("missing required field '{field}'")))
                }
                Some(v) => {
                    serde_json::from_value(v).map_err(|e| E::custom(format!("in '{field}': {e}")))
                }
            }
        }
        let executor_id = id(&mut map, "executor_id")?;
        let framework_id = id(&mut map, "framework_id")?;
        let kind = CallKind::read_from(&mut map, true).map_err(D::Error::custom)?;
        Ok(Self { executor_id, framework_id, kind })
    }
}

tagged_union! {
    /// The body of an executor [`Call`].
    #[expect(clippy::large_enum_variant, reason = "calls are built once and sent; boxing hurts matching")]
    pub enum CallKind {
        units {
            Heartbeat = "HEARTBEAT",
        }
        required {
            /// Required even when empty: `"subscribe":{}`.
            Subscribe(Subscribe) = "SUBSCRIBE" / "subscribe",
            Update(Update) = "UPDATE" / "update",
            Message(Message) = "MESSAGE" / "message",
        }
        optional {}
    }
}

impl Serialize for CallKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        self.write_into(&mut map).map_err(serde::ser::Error::custom)?;
        map.serialize(s)
    }
}

/// `Call.Subscribe`: on re-subscription, every task without an acknowledged update and every
/// update the agent has not acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unacknowledged_updates: Vec<Update>,
}

/// `Call.Update`: `status.source` must be SOURCE_EXECUTOR and `status.uuid` 16 bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

/// `Call.Message` / `Event.Message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub data: Bytes,
}

tagged_union! {
    /// An event on the executor's subscription stream.
    #[expect(clippy::large_enum_variant, reason = "events are decoded once and matched; boxing hurts matching")]
    pub enum Event {
        units {
            Shutdown = "SHUTDOWN",
            Heartbeat = "HEARTBEAT",
        }
        required {
            Subscribed(Subscribed) = "SUBSCRIBED" / "subscribed",
            Launch(Launch) = "LAUNCH" / "launch",
            LaunchGroup(LaunchGroup) = "LAUNCH_GROUP" / "launch_group",
            Kill(Kill) = "KILL" / "kill",
            Acknowledged(Acknowledged) = "ACKNOWLEDGED" / "acknowledged",
            Message(Message) = "MESSAGE" / "message",
            Error(Error) = "ERROR" / "error",
        }
        optional {}
    }
}

impl Event {
    /// Decodes one RecordIO record of a JSON event stream, accepting the bare
    /// `Infinity`/`NaN` tokens Mesos can write (e.g. in `TaskInfo.limits`).
    pub fn from_record(record: &[u8]) -> Result<Self, serde_json::Error> {
        crate::json::from_record(record)
    }

    /// The JSON record an agent writes for this event.
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
    pub executor_info: ExecutorInfo,
    pub framework_info: FrameworkInfo,
    pub agent_info: AgentInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerID>,
}

/// `Event.Launch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    pub task: TaskInfo,
}

/// `Event.LaunchGroup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    pub task_group: TaskGroupInfo,
}

/// `Event.Kill`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Event.Acknowledged`: the agent (not the scheduler) has durably accepted the update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acknowledged {
    pub task_id: TaskID,
    pub uuid: Bytes,
}

/// `Event.Error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub message: String,
}
