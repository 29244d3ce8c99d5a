//! Strict free-device discovery from `lsblk -J` output: which block devices may become SDS devices,
//! and why every other one was refused (scaleio-provisioning.md §3.6, fixing the fdisk/blkid heuristic).

use serde::{Deserialize, Deserializer, Serialize};

use crate::names::DevicePath;

/// The `lsblk` argv whose output [`parse_lsblk`] reads.
pub fn lsblk_argv() -> Vec<String> {
    ["lsblk", "-J", "-b", "-o", "NAME,PATH,TYPE,SIZE,RO,RM,FSTYPE,MOUNTPOINT,PKNAME"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// Rules a free device must meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRules {
    /// Smallest accepted device, bytes (default 90 GiB, the ScaleIO 2.0 minimum, as the stand-in
    /// enforces it; tests may use less).
    pub min_size_bytes: u64,
    /// If set, only these paths are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<DevicePath>>,
}

impl Default for DeviceRules {
    fn default() -> Self {
        Self { min_size_bytes: 90 * 1024 * 1024 * 1024, allow: None }
    }
}

/// One node of `lsblk -J` output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LsblkDevice {
    /// Kernel name (`xvdf`).
    pub name: String,
    /// Device path (`/dev/xvdf`); derived from the name if lsblk did not print it.
    #[serde(default)]
    pub path: Option<String>,
    /// `disk`, `part`, `loop`, `rom`, `lvm`, `raid1`, `crypt`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Size in bytes (number or string depending on the lsblk version).
    #[serde(deserialize_with = "de_u64")]
    pub size: u64,
    /// Read-only.
    #[serde(deserialize_with = "de_bool")]
    pub ro: bool,
    /// Removable.
    #[serde(default, deserialize_with = "de_bool")]
    pub rm: bool,
    /// Filesystem or signature type (`ext4`, `swap`, `LVM2_member`, `linux_raid_member`).
    #[serde(default)]
    pub fstype: Option<String>,
    /// Mount point.
    #[serde(default)]
    pub mountpoint: Option<String>,
    /// Children (partitions, holders).
    #[serde(default)]
    pub children: Vec<LsblkDevice>,
}

#[derive(Deserialize)]
struct LsblkOutput {
    blockdevices: Vec<LsblkDevice>,
}

fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Text(String),
    }
    match N::deserialize(d)? {
        N::Num(n) => Ok(n),
        N::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
        Null(()),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Text(s) => match s.trim() {
            "1" | "true" => Ok(true),
            "0" | "false" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!("expected 0/1, found `{other}`"))),
        },
        B::Null(()) => Ok(false),
    }
}

/// `lsblk` output that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot parse `lsblk -J` output")]
pub struct LsblkError(#[source] serde_json::Error);

/// Parses `lsblk -J -b -o ...` output.
pub fn parse_lsblk(json: &str) -> Result<Vec<LsblkDevice>, LsblkError> {
    serde_json::from_str::<LsblkOutput>(json).map(|o| o.blockdevices).map_err(LsblkError)
}

/// A device found free.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreeDevice {
    /// Device path.
    pub path: DevicePath,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// A device refused, with the reason (shown to the operator).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedDevice {
    /// Device path as lsblk printed it.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The outcome of device discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSurvey {
    /// Devices that may be given to an SDS, sorted by path.
    pub free: Vec<FreeDevice>,
    /// Every other top-level device, sorted by path.
    pub refused: Vec<RefusedDevice>,
}

const REFUSED_PREFIXES: &[&str] = &["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "scini"];

/// Applies the strict rules: whole disks only (`TYPE=disk`), writable, not removable, no
/// partitions or holders, no filesystem/LVM/RAID signature, not mounted, not a loop/ram/dm/md/scini
/// device, at least `min_size_bytes`, and in the allow-list if there is one.
pub fn survey(devices: &[LsblkDevice], rules: &DeviceRules) -> DeviceSurvey {
    let mut out = DeviceSurvey::default();
    for dev in devices {
        let path = dev.path.clone().unwrap_or_else(|| format!("/dev/{}", dev.name));
        let refuse = |reason: String| RefusedDevice { path: path.clone(), reason };
        let reason = if dev.kind != "disk" {
            Some(format!("type is {}, not disk", dev.kind))
        } else if REFUSED_PREFIXES.iter().any(|p| dev.name.starts_with(p)) {
            Some("virtual or special device".to_owned())
        } else if dev.ro {
            Some("read-only".to_owned())
        } else if dev.rm {
            Some("removable".to_owned())
        } else if !dev.children.is_empty() {
            Some(format!(
                "in use by {}",
                dev.children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        } else if let Some(fs) = dev.fstype.as_deref().filter(|s| !s.is_empty()) {
            Some(format!("carries a {fs} signature"))
        } else if let Some(mp) = dev.mountpoint.as_deref().filter(|s| !s.is_empty()) {
            Some(format!("mounted on {mp}"))
        } else if dev.size < rules.min_size_bytes {
            Some(format!("{} bytes, smaller than the minimum {}", dev.size, rules.min_size_bytes))
        } else {
            None
        };
        if let Some(reason) = reason {
            out.refused.push(refuse(reason));
            continue;
        }
        match DevicePath::new(&path) {
            Err(e) => out.refused.push(refuse(e.to_string())),
            Ok(p) => {
                if rules.allow.as_ref().is_some_and(|allow| !allow.contains(&p)) {
                    out.refused.push(refuse("not in the allow-list".to_owned()));
                } else {
                    out.free.push(FreeDevice { path: p, size_bytes: dev.size });
                }
            }
        }
    }
    out.free.sort_by(|a, b| a.path.cmp(&b.path));
    out.refused.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"blockdevices":[
      {"name":"xvda","path":"/dev/xvda","type":"disk","size":8589934592,"ro":false,"rm":false,"fstype":null,"mountpoint":null,"pkname":null,
       "children":[{"name":"xvda1","path":"/dev/xvda1","type":"part","size":8588886016,"ro":false,"rm":false,"fstype":"ext4","mountpoint":"/","pkname":"xvda"}]},
      {"name":"xvdf","path":"/dev/xvdf","type":"disk","size":"107374182400","ro":"0","rm":"0","fstype":null,"mountpoint":null,"pkname":null},
      {"name":"xvdg","path":"/dev/xvdg","type":"disk","size":107374182400,"ro":false,"rm":false,"fstype":"LVM2_member","mountpoint":null,"pkname":null},
      {"name":"xvdh","path":"/dev/xvdh","type":"disk","size":1073741824,"ro":false,"rm":false,"fstype":null,"mountpoint":null,"pkname":null},
      {"name":"loop0","path":"/dev/loop0","type":"loop","size":107374182400,"ro":false,"rm":false,"fstype":null,"mountpoint":null,"pkname":null},
      {"name":"sr0","path":"/dev/sr0","type":"rom","size":107374182400,"ro":true,"rm":true,"fstype":null,"mountpoint":null,"pkname":null},
      {"name":"xvdi","path":"/dev/xvdi","type":"disk","size":107374182400,"ro":true,"rm":false,"fstype":null,"mountpoint":null,"pkname":null},
      {"name":"xvdj","type":"disk","size":107374182400,"ro":false,"rm":false,"fstype":null,"mountpoint":"/mnt"}
    ]}"#;

    #[test]
    fn only_clean_big_whole_disks_are_free() {
        let devs = parse_lsblk(SAMPLE).expect("parse");
        let s = survey(&devs, &DeviceRules { min_size_bytes: 90_000_000_000, allow: None });
        let free: Vec<&str> = s.free.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(free, ["/dev/xvdf"]);
        let refused: Vec<String> =
            s.refused.iter().map(|r| format!("{}: {}", r.path, r.reason)).collect();
        expect_test::expect![[r#"
            [
                "/dev/loop0: type is loop, not disk",
                "/dev/sr0: type is rom, not disk",
                "/dev/xvda: in use by xvda1",
                "/dev/xvdg: carries a LVM2_member signature",
                "/dev/xvdh: 1073741824 bytes, smaller than the minimum 90000000000",
                "/dev/xvdi: read-only",
                "/dev/xvdj: mounted on /mnt",
            ]
        "#]]
        .assert_debug_eq(&refused);
    }

    #[test]
    fn allow_list_restricts() {
        let devs = parse_lsblk(SAMPLE).expect("parse");
        let rules = DeviceRules {
            min_size_bytes: 0,
            allow: Some(vec![DevicePath::new("/dev/xvdh").expect("path")]),
        };
        let s = survey(&devs, &rules);
        assert_eq!(s.free.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["/dev/xvdh"]);
        assert!(
            s.refused.iter().any(|r| r.path == "/dev/xvdf" && r.reason == "not in the allow-list")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_lsblk("lsblk: unknown column").is_err());
    }
}
