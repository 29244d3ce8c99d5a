//! What each emulated agent offers and how its simulated host looks: [`AgentSpec`] (the
//! `--agents-file` JSON format) and Mesos' text forms for attributes and port ranges.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Bad agent description: names the field, what was expected and what was found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error(
        "attribute {found:?} is invalid: expected `name:value` (Mesos' `--attributes` form, \
         entries separated by `;`), e.g. `os:ubuntu14;rack:r1`"
    )]
    Attribute { found: String },
    #[error(
        "port range {found:?} is invalid: expected `[begin-end,...]` with begin <= end, \
         e.g. `[31000-32000]`"
    )]
    Ports { found: String },
    #[error("agent {hostname:?}: {field} is {found}, expected {expected}")]
    Field { hostname: String, field: &'static str, found: String, expected: &'static str },
}

/// One emulated agent. JSON (`--agents-file` holds a list of these):
/// `{"hostname":"a1","cpus":4,"mem":8192,"disk":100000,"ports":"[31000-32000]",
///   "attributes":"os:ubuntu14;scaleio-sds-domains:pd1","devices":[{"name":"xvdf","size_gib":100}]}`.
/// `ports` may also be a list of `[begin,end]` pairs and `attributes` an object or a list of
/// `[name,value]` pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub hostname: String,
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// MB.
    #[serde(default = "default_mem")]
    pub mem: f64,
    /// MB.
    #[serde(default = "default_disk")]
    pub disk: f64,
    #[serde(default = "default_ports", deserialize_with = "de_ports")]
    pub ports: Vec<(u64, u64)>,
    #[serde(default, deserialize_with = "de_attributes")]
    pub attributes: Vec<(String, String)>,
    /// The loopback address the agent listens on and reports as its IP; by default agent `i`
    /// gets `127.1.<i / 250>.<i % 250 + 1>` so every agent (and simulated host) has its own IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Spare block devices of the simulated host (sparse files under `dev/`). Default: one
    /// 100 GiB `xvdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceSpec>>,
    /// The Mesos version the simulated host's `mesos-agent --version` reports (e.g. `1.12.0`),
    /// which the executor's isolator step reads to choose native `docker/volume` (Mesos >= 1.0)
    /// over the dvdi module. Default: none, the host has no `mesos-agent` binary to ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos_version: Option<String>,
}

/// A spare block device of a simulated host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// Name under `/dev`, e.g. `xvdf`.
    pub name: String,
    /// Apparent size in GiB (ScaleIO needs at least 90).
    pub size_gib: u64,
}

fn default_cpus() -> f64 {
    4.0
}
fn default_mem() -> f64 {
    8192.0
}
fn default_disk() -> f64 {
    100_000.0
}
fn default_ports() -> Vec<(u64, u64)> {
    vec![(31000, 32000)]
}

impl AgentSpec {
    /// An agent with the default resources (4 cpus, 8192 MB, 100000 MB disk, ports
    /// `[31000-32000]`) and no attributes.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            cpus: default_cpus(),
            mem: default_mem(),
            disk: default_disk(),
            ports: default_ports(),
            attributes: Vec::new(),
            ip: None,
            devices: None,
            mesos_version: None,
        }
    }

    /// Adds attributes in Mesos' text form (see [`AgentSpec::parse_attributes`]).
    pub fn with_attributes(mut self, text: &str) -> Result<Self, SpecError> {
        self.attributes.extend(Self::parse_attributes(text)?);
        Ok(self)
    }

    /// Parses Mesos' `--attributes` text form: `name:value` entries separated by `;`.
    pub fn parse_attributes(text: &str) -> Result<Vec<(String, String)>, SpecError> {
        text.split(';')
            .filter(|e| !e.trim().is_empty())
            .map(|entry| match entry.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
                    Ok((name.trim().to_owned(), value.trim().to_owned()))
                }
                _ => Err(SpecError::Attribute { found: entry.to_owned() }),
            })
            .collect()
    }

    /// Parses Mesos' range text form `[31000-32000,33000-33100]`.
    pub fn parse_ports(text: &str) -> Result<Vec<(u64, u64)>, SpecError> {
        let err = || SpecError::Ports { found: text.to_owned() };
        let inner =
            text.trim().strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or_else(err)?;
        inner
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                let (b, e) = r.split_once('-').ok_or_else(err)?;
                let (b, e): (u64, u64) =
                    (b.trim().parse().map_err(|_| err())?, e.trim().parse().map_err(|_| err())?);
                if b > e { Err(err()) } else { Ok((b, e)) }
            })
            .collect()
    }

    /// The attribute `name`, if set.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Checks the numbers make sense.
    pub fn validate(&self) -> Result<(), SpecError> {
        let field = |field, found: String, expected| SpecError::Field {
            hostname: self.hostname.clone(),
            field,
            found,
            expected,
        };
        if self.hostname.is_empty() || self.hostname.contains(char::is_whitespace) {
            return Err(field("hostname", format!("{:?}", self.hostname), "a host name"));
        }
        for (name, v) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
            if !v.is_finite() || v < 0.0 {
                return Err(field(name, v.to_string(), "a non-negative number"));
            }
        }
        if let Some(ip) = self.ip {
            if !ip.is_loopback() {
                return Err(field("ip", ip.to_string(), "a loopback address (127.x.y.z)"));
            }
        }
        for d in self.devices.iter().flatten() {
            if d.name.is_empty() || d.name.contains('/') || d.name.contains("..") {
                return Err(field("devices.name", format!("{:?}", d.name), "a plain device name"));
            }
        }
        if let Some(v) = &self.mesos_version {
            let parts: Vec<&str> = v.split('.').collect();
            if parts.len() != 3
                || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(field("mesos_version", format!("{v:?}"), "a version like 1.12.0"));
            }
        }
        Ok(())
    }

    /// The devices of its simulated host.
    pub fn devices_or_default(&self) -> Vec<DeviceSpec> {
        self.devices
            .clone()
            .unwrap_or_else(|| vec![DeviceSpec { name: "xvdf".into(), size_gib: 100 }])
    }
}

/// The default IP of agent number `index`.
pub fn default_agent_ip(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (index / 250) as u8, (index % 250 + 1) as u8)
}

fn de_ports<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(u64, u64)>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ports {
        Text(String),
        Pairs(Vec<(u64, u64)>),
    }
    match Ports::deserialize(d)? {
        Ports::Text(t) => AgentSpec::parse_ports(&t).map_err(serde::de::Error::custom),
        Ports::Pairs(p) if p.iter().all(|(b, e)| b <= e) => Ok(p),
        Ports::Pairs(p) => {
            Err(serde::de::Error::custom(SpecError::Ports { found: format!("{p:?}") }))
        }
    }
}

fn de_attributes<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Attrs {
        Text(String),
        Map(std::collections::BTreeMap<String, String>),
        Pairs(Vec<(String, String)>),
    }
    match Attrs::deserialize(d)? {
        Attrs::Text(t) => AgentSpec::parse_attributes(&t).map_err(serde::de::Error::custom),
        Attrs::Map(m) => Ok(m.into_iter().collect()),
        Attrs::Pairs(p) => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_in_mesos_text_form() {
        assert_eq!(
            AgentSpec::parse_attributes("os:ubuntu14;scaleio-sds-domains:pd1").unwrap(),
            vec![("os".into(), "ubuntu14".into()), ("scaleio-sds-domains".into(), "pd1".into())]
        );
        let e = AgentSpec::parse_attributes("os:ubuntu14;rack").unwrap_err();
        assert!(e.to_string().contains("\"rack\""), "{e}");
    }

    #[test]
    fn agents_file_entries() {
        let a: AgentSpec = serde_json::from_str(
            r#"{"hostname":"a1","cpus":2,"mem":1024,"disk":5000,"ports":"[31000-31009]",
                "attributes":"os:rhel7"}"#,
        )
        .unwrap();
        assert_eq!(a.ports, vec![(31000, 31009)]);
        assert_eq!(a.attribute("os"), Some("rhel7"));
        let e = serde_json::from_str::<AgentSpec>(r#"{"hostname":"a1","cpu":2}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `cpu`"), "{e}");
        let e =
            serde_json::from_str::<AgentSpec>(r#"{"hostname":"a","ports":"[5-1]"}"#).unwrap_err();
        assert!(e.to_string().contains("[5-1]"), "{e}");
    }
}
