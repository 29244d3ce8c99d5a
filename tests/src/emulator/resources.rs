//! Resource arithmetic of an emulated agent: unreserved `cpus`, `mem`, `disk` scalars and `ports`
//! ranges, converted to and from Mesos `Resource` lists (Mesos keeps three decimals).

use mesos::{AllocationInfo, Resource, ValueType};

/// Scalars below this are treated as zero (Mesos' fixed-point precision is 0.001).
const EPSILON: f64 = 0.0005;

/// A bundle of unreserved resources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Res {
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    /// Inclusive, sorted, non-overlapping.
    pub ports: Vec<(u64, u64)>,
}

/// How resources are written into offers: without MULTI_ROLE the pre-refinement `role: "*"`,
/// with MULTI_ROLE an `allocation_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style<'a> {
    /// As in `AgentInfo.resources` (no role, no allocation).
    Agent,
    /// `role: "*"` (framework without MULTI_ROLE).
    LegacyRole,
    /// `allocation_info: {role}` (framework with MULTI_ROLE, and everything the agent sends).
    Allocated(&'a str),
}

impl Res {
    /// Parses resources a framework sent; anything but unreserved cpus/mem/disk/ports is an
    /// error naming the offending resource.
    pub fn from_resources(resources: &[Resource]) -> Result<Self, String> {
        let mut r = Self::default();
        for res in resources {
            if !res.reservations.is_empty()
                || res.reservation.is_some()
                || res.role.as_deref().is_some_and(|role| role != "*")
            {
                return Err(format!(
                    "resource '{}' is reserved; this cluster only has unreserved ('*') resources",
                    res.name
                ));
            }
            if res.disk.is_some() || res.revocable.is_some() || res.shared.is_some() {
                return Err(format!(
                    "resource '{}' asks for disk info, revocable or shared resources, which no agent offers",
                    res.name
                ));
            }
            match (res.name.as_str(), &res.kind) {
                ("cpus" | "mem" | "disk", ValueType::Scalar) => {
                    let v = res.scalar_value().ok_or_else(|| {
                        format!("scalar resource '{}' has no 'scalar' value", res.name)
                    })?;
                    if !v.is_finite() || v < 0.0 {
                        return Err(format!("resource '{}' has invalid value {v}", res.name));
                    }
                    match res.name.as_str() {
                        "cpus" => r.cpus += v,
                        "mem" => r.mem += v,
                        _ => r.disk += v,
                    }
                }
                ("ports", ValueType::Ranges) => {
                    for range in res.ranges.iter().flat_map(|r| &r.range) {
                        if range.begin > range.end {
                            return Err(format!(
                                "ports range [{}-{}] is empty",
                                range.begin, range.end
                            ));
                        }
                        r.ports.push((range.begin, range.end));
                    }
                }
                (name, kind) => {
                    return Err(format!(
                        "resource '{name}' of type {kind} is not offered by any agent (expected cpus, mem, disk as SCALAR or ports as RANGES)"
                    ));
                }
            }
        }
        r.ports = normalize(r.ports);
        Ok(r)
    }

    /// Whether nothing is left worth offering.
    pub fn is_empty(&self) -> bool {
        self.cpus < EPSILON && self.mem < EPSILON && self.disk < EPSILON && self.ports.is_empty()
    }

    /// Whether `other` fits into `self`.
    pub fn contains(&self, other: &Res) -> bool {
        other.cpus <= self.cpus + EPSILON
            && other.mem <= self.mem + EPSILON
            && other.disk <= self.disk + EPSILON
            && other
                .ports
                .iter()
                .all(|&(b, e)| self.ports.iter().any(|&(sb, se)| sb <= b && e <= se))
    }

    /// Adds `other`.
    pub fn add(&mut self, other: &Res) {
        self.cpus = round(self.cpus + other.cpus);
        self.mem = round(self.mem + other.mem);
        self.disk = round(self.disk + other.disk);
        let mut ports = std::mem::take(&mut self.ports);
        ports.extend_from_slice(&other.ports);
        self.ports = normalize(ports);
    }

    /// Removes `other` (clamping at zero).
    pub fn subtract(&mut self, other: &Res) {
        self.cpus = round((self.cpus - other.cpus).max(0.0));
        self.mem = round((self.mem - other.mem).max(0.0));
        self.disk = round((self.disk - other.disk).max(0.0));
        let mut out = Vec::new();
        for &(b, e) in &self.ports {
            let mut pieces = vec![(b, e)];
            for &(ob, oe) in &other.ports {
                pieces = pieces
                    .into_iter()
                    .flat_map(|(pb, pe)| {
                        if oe < pb || ob > pe {
                            vec![(pb, pe)]
                        } else {
                            let mut v = Vec::new();
                            if ob > pb {
                                v.push((pb, ob - 1));
                            }
                            if oe < pe {
                                v.push((oe + 1, pe));
                            }
                            v
                        }
                    })
                    .collect();
            }
            out.extend(pieces);
        }
        self.ports = normalize(out);
    }

    /// The Mesos resource list (scalars first, zero scalars omitted).
    pub fn to_resources(&self, style: Style<'_>) -> Vec<Resource> {
        let mut out = Vec::new();
        for (name, v) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
            if v >= EPSILON {
                out.push(Resource::scalar(name, round(v)));
            }
        }
        if !self.ports.is_empty() {
            out.push(Resource::ranges("ports", self.ports.iter().copied()));
        }
        for r in &mut out {
            match style {
                Style::Agent => {}
                Style::LegacyRole => r.role = Some("*".into()),
                Style::Allocated(role) => {
                    r.allocation_info = Some(AllocationInfo { role: Some(role.to_owned()) })
                }
            }
        }
        out
    }

    /// Human-readable form for error messages, like Mesos' `cpus:1; mem:128; ports:[31000-31000]`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (name, v) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
            if v >= EPSILON {
                parts.push(format!("{name}(allocated: *):{}", round(v)));
            }
        }
        if !self.ports.is_empty() {
            let ranges: Vec<String> = self.ports.iter().map(|(b, e)| format!("{b}-{e}")).collect();
            parts.push(format!("ports(allocated: *):[{}]", ranges.join(", ")));
        }
        if parts.is_empty() { "{}".to_owned() } else { parts.join("; ") }
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn normalize(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (b, e) in ranges {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_with_ports() {
        let mut total = Res { cpus: 2.0, mem: 1024.0, disk: 0.0, ports: vec![(31000, 31010)] };
        let task = Res { cpus: 0.1, mem: 32.0, disk: 0.0, ports: vec![(31005, 31005)] };
        assert!(total.contains(&task));
        total.subtract(&task);
        assert_eq!(total.ports, vec![(31000, 31004), (31006, 31010)]);
        assert_eq!(total.cpus, 1.9);
        assert!(!total.contains(&task), "port 31005 is taken");
        total.add(&task);
        assert_eq!(total.ports, vec![(31000, 31010)]);
        assert_eq!(total.cpus, 2.0);
    }
}
